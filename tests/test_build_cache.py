"""`sla build`'s cache and `--jobs` (issue 20, many policies).

What is proved: a hit builds nothing and gives the bytes and messages a build without the
cache gives; anything a build depends on changes the key; a damaged entry is ignored and
replaced; builds sharing the cache at the same time all give the same whole outputs; policies
built in several processes give what one process gives.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_lang.build_cache import FORMAT, BuildCache
from sla_lang.cli import cli
from sla_lang.commands import build as build_command

from .conftest import POLICIES, REPO


def sla(*args: str):
    return CliRunner().invoke(cli, [*args, "--today", "2026-11-23"], catch_exceptions=False)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def entries() -> list[Path]:
    return sorted(p for p in (Path(os.environ["SLA_CACHE_DIR"]) / "build").rglob("*") if p.is_file())


@pytest.fixture
def policies(tmp_path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    for path in POLICIES:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture
def counted(monkeypatch) -> list[str]:
    """The policies this process compiles and builds (a hit compiles none)."""
    built: list[str] = []
    real = build_command.build_policy

    def counting(path, *args, **kwargs):
        built.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(build_command, "build_policy", counting)
    return built


def test_a_hit_builds_nothing_and_gives_the_same_bytes_and_messages(tmp_path, policies, counted):
    cold = sla("build", str(policies), "-o", str(tmp_path / "cold"), "--jobs", "1")
    assert cold.exit_code == 0, cold.output
    assert counted == sorted(p.name for p in POLICIES)
    assert len(entries()) == len(POLICIES)
    counted.clear()
    warm = sla("build", str(policies), "-o", str(tmp_path / "warm"))
    assert warm.exit_code == 0, warm.output
    assert counted == []
    fresh = sla("build", str(policies), "-o", str(tmp_path / "fresh"), "--no-cache", "--jobs", "1")
    assert counted == sorted(p.name for p in POLICIES)
    cold_files, warm_files, fresh_files = (tree(tmp_path / name) for name in ("cold", "warm", "fresh"))
    assert any(name.endswith(".pdf") for name in cold_files)
    assert warm_files == cold_files == fresh_files
    shown = [output.output.replace(str(tmp_path / name), "OUT") for output, name in
             ((cold, "cold"), (warm, "warm"), (fresh, "fresh"))]
    assert shown[0] == shown[1] == shown[2]  # the notes and warnings of every target are replayed


def test_no_cache_neither_reads_nor_writes(tmp_path, policies, counted):
    assert sla("build", str(policies), "-o", str(tmp_path / "a"), "--no-cache", "-t", "ir").exit_code == 0
    assert entries() == []


def test_what_a_build_depends_on_changes_the_key(tmp_path, policies, counted):
    one = policies / POLICIES[0].name
    out = str(tmp_path / "out")
    assert sla("build", str(one), "-o", out, "-t", "agreement", "--format", "md").exit_code == 0
    assert len(counted) == 1
    runs = [
        ("-t", "agreement", "--format", "md", "--lang", "ja"),  # another language
        ("-t", "agreement", "--format", "html"),  # another format
        ("-t", "ir",),  # another target
    ]
    for options in runs:
        counted.clear()
        assert sla("build", str(one), "-o", out, *options).exit_code == 0
        assert counted == [one.name], options
    counted.clear()
    one.write_bytes(one.read_bytes() + b"\n# one more line\n")  # other bytes
    assert sla("build", str(one), "-o", out, "-t", "ir").exit_code == 0
    assert counted == [one.name]
    counted.clear()
    assert sla("build", str(one), "-o", out, "-t", "ir").exit_code == 0
    assert counted == []


def test_the_tool_itself_is_part_of_the_key(policies):
    cache = BuildCache(Path(os.environ["SLA_CACHE_DIR"]))
    before = cache.key(b"policy", "a.sla", "{}")
    from sla_lang import build_cache

    build_cache.tool_digest.cache_clear()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(build_cache, "tool_digest", lambda: "another sla")
            assert cache.key(b"policy", "a.sla", "{}") != before
    finally:
        build_cache.tool_digest.cache_clear()
    assert cache.key(b"policy", "a.sla", "{}") == before
    assert cache.key(b"policy", "b.sla", "{}") != before
    assert cache.key(b"policy", "a.sla", '{"lang": "ja"}') != before


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty", "other format", "swapped"])
def test_a_damaged_entry_is_ignored_and_replaced(tmp_path, policies, counted, damage):
    out = str(tmp_path / "out")
    args = ("build", str(policies), "-o", out, "-t", "ir", "-t", "fixtures")
    assert sla(*args).exit_code == 0
    expected = tree(Path(out))
    files = entries()
    target = files[0]
    data = target.read_bytes()
    if damage == "truncated":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":
        middle = len(data) // 2
        target.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:])
    elif damage == "empty":
        target.write_bytes(b"")
    elif damage == "other format":
        target.write_bytes(data.replace(FORMAT, b"sla-build-cache/0\n", 1))
    else:  # a whole, valid entry, but of another key
        target.write_bytes(files[1].read_bytes())
    counted.clear()
    shutil.rmtree(out)
    result = sla(*args)
    assert result.exit_code == 0, result.output
    assert len(counted) == 1  # the damaged one was built again …
    assert tree(Path(out)) == expected  # … and nothing of the damage reached the outputs
    counted.clear()
    assert sla(*args).exit_code == 0
    assert counted == []  # … and its entry replaced by a good one


def test_check_reads_the_cache_and_still_finds_drift(tmp_path, policies, counted):
    out = tmp_path / "out"
    assert sla("build", str(policies), "-o", str(out)).exit_code == 0
    counted.clear()
    result = sla("build", str(policies), "-o", str(out), "--check")
    assert result.exit_code == 0, result.output
    assert counted == []  # no policy compiled, no PDF rendered again
    edited = next(out.rglob("*.md"))
    edited.write_text("edited by hand\n", encoding="utf-8")
    result = sla("build", str(policies), "-o", str(out), "--check")
    assert result.exit_code == 1
    assert f"{edited.as_posix()}: stale or hand-edited" in result.output
    assert counted == []


def test_a_policy_with_errors_is_reported_the_same_from_the_cache(tmp_path, counted):
    bad = tmp_path / "bad.sla"
    bad.write_text(POLICIES[0].read_text(encoding="utf-8") + "\nstage {\n", encoding="utf-8")
    first = sla("build", str(bad), "-o", str(tmp_path / "out"))
    second = sla("build", str(bad), "-o", str(tmp_path / "out"))
    assert first.exit_code == second.exit_code == 1
    assert first.output == second.output
    assert "not built because of the errors above" in second.output
    assert counted == ["bad.sla"]
    assert not (tmp_path / "out").exists()


def _sla_process(*args: str) -> subprocess.CompletedProcess:
    """`sla` in a process of its own (a fresh, single-threaded one: the one `--jobs` forks)."""
    return subprocess.run([sys.executable, "-m", "sla_lang", *args, "--today", "2026-11-23"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=900, check=False)


def test_jobs_give_what_one_process_gives(tmp_path, policies):
    for copy in range(3):  # more policies than CPUs
        for path in POLICIES:
            shutil.copy(path, policies / f"{path.stem}_{copy}.sla")
    one = _sla_process("build", str(policies), "-o", str(tmp_path / "one"), "--jobs", "1", "--no-cache", "-t", "ir",
                       "-t", "hubspot")
    many = _sla_process("build", str(policies), "-o", str(tmp_path / "many"), "--jobs", "3", "--no-cache", "-t", "ir",
                        "-t", "hubspot")
    assert one.returncode == many.returncode == 0, many.stderr
    assert tree(tmp_path / "one") == tree(tmp_path / "many")
    assert one.stdout.replace(str(tmp_path / "one"), "OUT") == many.stdout.replace(str(tmp_path / "many"), "OUT")
    assert one.stderr == many.stderr


def test_a_process_with_threads_builds_in_itself(tmp_path, policies, counted):
    """A process that holds other threads (Typst's, after a PDF) is never forked: a child would
    wait for locks those threads hold. Every policy is then built here, and built right."""
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        result = sla("build", str(policies), "-o", str(tmp_path / "out"), "--jobs", "2", "-t", "ir")
    finally:
        stop.set()
        other.join()
    assert result.exit_code == 0, result.output
    assert counted == sorted(p.name for p in POLICIES)  # counted here: no worker process built them


def test_concurrent_builds_share_the_cache_safely(tmp_path, policies):
    """Four processes build the same policies at once into four folders with one (empty) cache:
    every build succeeds with the same files, and every entry left is whole (a later build
    takes everything from the cache)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [subprocess.Popen([sys.executable, "-m", "sla_lang", "build", str(policies), "-o",
                                   str(tmp_path / f"out{i}"), "-t", "ir", "-t", "fixtures", "--today", "2026-11-23"],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(4)]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err.decode()
    trees = [tree(tmp_path / f"out{i}") for i in range(4)]
    assert all(t == trees[0] for t in trees)
    assert len(entries()) == len(POLICIES)
    assert not [p for p in (Path(os.environ["SLA_CACHE_DIR"]) / "build").rglob("*.tmp")]
    cache = BuildCache(Path(os.environ["SLA_CACHE_DIR"]))
    assert all(cache.load(p.parent.name + p.name) is not None for p in entries())


# the build in a fresh process, with `build_policy` replaced so that a worker (never the build's
# own process) SIGKILLs itself when it starts the named policy: what the OOM killer does
_DYING_WORKER = """
import os, signal, sys
from sla_lang.commands import build
from sla_lang.cli import main

real, parent, victim = build.build_policy, os.getpid(), sys.argv.pop(1)

def dying(path, *args, **kwargs):
    if os.getpid() != parent and path.name == victim:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(path, *args, **kwargs)

build.build_policy = dying
sys.argv[0] = "sla"
main()
"""


def _state(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every entry under `root`, hidden ones too: bytes (files), inode and mtime."""
    out = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        out[path.relative_to(root).as_posix()] = (path.read_bytes() if path.is_file() else b"", info.st_ino,
                                                  info.st_mtime_ns)
    return out


def test_a_killed_worker_stops_the_build_with_the_policy_named(tmp_path, policies):
    """A `--jobs` worker killed from outside (SIGKILL, the OOM killer) ends the build — it does
    not wait for ever — with a message naming the policy it was building, exit 1, and the
    output folder exactly as it was."""
    for copy in range(2):  # six policies for two workers: the victim is neither first nor last
        for path in POLICIES:
            shutil.copy(path, policies / f"{path.stem}_{copy}.sla")
    for path in POLICIES:
        (policies / path.name).unlink()
    out = tmp_path / "out"
    first = _sla_process("build", str(policies), "-o", str(out), "--jobs", "1", "-t", "ir", "--no-cache")
    assert first.returncode == 0, first.stderr
    for path in policies.glob("*.sla"):  # every policy changed: the build has everything to write
        path.write_bytes(path.read_bytes() + b"\n# edited\n")
    before = _state(out)
    victim = sorted(p.name for p in policies.glob("*.sla"))[3]
    try:
        result = subprocess.run([sys.executable, "-c", _DYING_WORKER, victim, "build", str(policies), "-o", str(out),
                                 "--jobs", "2", "-t", "ir", "--no-cache", "--today", "2026-11-23"],
                                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                                timeout=240, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("the build waited for the killed worker")
    assert result.returncode == 1, result.stderr
    shown = (policies / victim).as_posix()
    assert f"sla: the process building {shown} stopped before it finished (it was killed by SIGKILL" \
        in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert f"nothing was written to {out.as_posix()}" in result.stderr
    assert _state(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "policies"]  # no staging folder, no lock


def test_sizes_are_read_as_documented():
    from sla_lang.build_cache import parse_size

    assert parse_size("0") == 0
    assert parse_size("1048576") == 1 << 20
    assert parse_size("64K") == parse_size("64KiB") == 64 << 10
    assert parse_size("500M") == 500 << 20
    assert parse_size("5G") == parse_size(" 5gb ") == 5 << 30
    assert parse_size("1.5G") == 3 << 29
    for bad in ("", "five", "-1G", "5X", "inf", "nan"):
        with pytest.raises(ValueError):
            parse_size(bad)


def _cache_total() -> int:
    return sum(p.stat().st_size for p in entries())


def test_the_cache_keeps_under_its_limit_evicting_the_least_recently_used(tmp_path, policies, counted):
    """Three entries; the one used last by a hit survives a trim to a limit that holds two,
    and the least recently used is the one deleted (built again next time)."""
    import time

    names = sorted(p.name for p in POLICIES)
    paths = {name: policies / name for name in names}
    for name in names:  # one entry each, no limit
        assert sla("build", str(paths[name]), "-o", str(tmp_path / name), "-t", "ir", "--cache-size", "0").exit_code == 0
    assert len(entries()) == 3
    by_policy = {}
    for name in names:
        before = {p: p.stat().st_mtime_ns for p in entries()}
        counted.clear()
        assert sla("build", str(paths[name]), "-o", str(tmp_path / name), "-t", "ir", "--cache-size", "0").exit_code == 0
        assert counted == []
        by_policy[name] = next(p for p in entries() if p.stat().st_mtime_ns != before[p])  # the hit marked it
    now = time.time()
    for age, name in enumerate(names):  # names[0] used longest ago … names[2] most recently
        os.utime(by_policy[name], (now - 300 + age * 100, now - 300 + age * 100))
    total = _cache_total()
    limit = total - 1
    counted.clear()
    # a hit on the oldest marks it used; the trim after the build then deletes names[1] only
    result = sla("build", str(paths[names[0]]), "-o", str(tmp_path / names[0]), "-t", "ir", "--cache-size", str(limit))
    assert result.exit_code == 0, result.output
    assert counted == []
    assert set(entries()) == {by_policy[names[0]], by_policy[names[2]]}
    assert _cache_total() <= limit * 0.9
    counted.clear()
    assert sla("build", str(paths[names[1]]), "-o", str(tmp_path / "again"), "-t", "ir", "--cache-size", "0").exit_code == 0
    assert counted == [names[1]]  # evicted: built again


def test_an_entry_larger_than_the_cache_is_not_kept(tmp_path, policies, monkeypatch):
    monkeypatch.setenv("SLA_CACHE_SIZE", "1K")
    result = sla("build", str(policies), "-o", str(tmp_path / "out"), "-t", "ir")
    assert result.exit_code == 0, result.output
    assert entries() == []
    assert not list((Path(os.environ["SLA_CACHE_DIR"]) / "build").rglob(".*"))  # no temporary left


def test_a_bad_cache_size_is_a_usage_error(tmp_path, policies, monkeypatch):
    result = sla("build", str(policies), "-o", str(tmp_path / "out"), "--cache-size", "lots")
    assert result.exit_code == 2
    assert "'lots' is not a size" in result.output
    monkeypatch.setenv("SLA_CACHE_SIZE", "lots")
    result = sla("build", str(policies), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "SLA_CACHE_SIZE" in result.output
    assert not (tmp_path / "out").exists()


def test_concurrent_builds_trimming_one_small_cache_all_succeed(tmp_path, policies):
    """Four processes share a cache that holds about one and a half of their entries: each
    stores and trims while the others read and write. Every build succeeds with the same files,
    every entry left is whole, and the cache ends within its limit."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = _sla_process("build", str(policies), "-o", str(tmp_path / "sizes"), "-t", "ir", "-t", "fixtures",
                         "--cache-size", "0")
    assert first.returncode == 0, first.stderr
    sizes = sorted(p.stat().st_size for p in entries())
    limit = sizes[-1] + sizes[-1] // 2
    shutil.rmtree(Path(os.environ["SLA_CACHE_DIR"]) / "build")
    processes = [subprocess.Popen([sys.executable, "-m", "sla_lang", "build", str(policies), "-o",
                                   str(tmp_path / f"out{i}"), "-t", "ir", "-t", "fixtures", "--today", "2026-11-23",
                                   "--cache-size", str(limit)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(4)]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err.decode()
    trees = [tree(tmp_path / f"out{i}") for i in range(4)]
    assert all(t == trees[0] for t in trees)
    assert trees[0] == tree(tmp_path / "sizes")
    # (two builds trimming from listings made at the same moment may both delete: fewer entries
    # than the limit allows is the price of not locking the cache, never a broken one)
    assert len(entries()) < len(POLICIES)
    assert _cache_total() <= limit
    assert not [p for p in (Path(os.environ["SLA_CACHE_DIR"]) / "build").rglob("*.tmp")]
    cache = BuildCache(Path(os.environ["SLA_CACHE_DIR"]))
    assert all(cache.load(p.parent.name + p.name) is not None for p in entries())


def test_the_fonts_a_pdf_may_use_are_part_of_the_key(tmp_path, policies, counted, monkeypatch):
    """Another font installed, or a font file changed in place, is a new key for a build with a
    PDF (and only for one with a PDF)."""
    pytest.importorskip("typst")
    from sla_lang.agreement import fonts

    faces = fonts.installed_faces()
    if not faces:
        pytest.skip("fontconfig lists no fonts here")
    copy = tmp_path / "copy.ttf"
    shutil.copy(faces[0].path, copy)
    one = policies / POLICIES[0].name
    pdf = ("build", str(one), "-o", str(tmp_path / "pdf"), "-t", "agreement", "--format", "pdf")
    md = ("build", str(one), "-o", str(tmp_path / "md"), "-t", "agreement", "--format", "md")
    for args in (pdf, md):
        assert sla(*args).exit_code == 0
    counted.clear()
    for args in (pdf, md):
        assert sla(*args).exit_code == 0
    assert counted == []  # both from the cache
    extra = fonts.Face(str(copy), ("Extra Sans",), 80, 0, "20-7e")
    monkeypatch.setattr(fonts, "installed_faces", lambda: [*faces, extra])
    for args in (pdf, md):
        assert sla(*args).exit_code == 0
    assert counted == [one.name]  # a font more: the PDF is built again, the Markdown is not
    counted.clear()
    assert sla(*pdf).exit_code == 0
    assert counted == []
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 10**9))  # the file changed
    assert sla(*pdf).exit_code == 0
    assert counted == [one.name]
