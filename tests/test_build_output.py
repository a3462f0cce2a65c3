"""The write phase of `sla build` (issue 15, items 1–3): where outputs go, links and special
files in the output folder, and a folder that is always wholly one build's.

Every test drives the real `sla build` command; the folder is compared with snapshots taken
by walking it without following links (`snapshot`), independently of `sla_lang.output`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli

from .conftest import FIXTURES, REPO

MINIMAL = (FIXTURES / "valid" / "minimal.sla").read_text(encoding="utf-8")


def policy_text(version: str = "0.1") -> str:
    return MINIMAL.replace('version "0.1"', f'version "{version}"')


def sla(*args: str, cwd: Path | None = None):
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [*args], catch_exceptions=False)
    finally:
        os.chdir(old)


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything under `root`, links not followed: path → (kind, content or link target, mode)."""
    out: dict[str, tuple] = {}
    if not os.path.lexists(root):
        return out
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                out[rel] = ("dir", None, stat.S_IMODE(info.st_mode))
            elif stat.S_ISREG(info.st_mode):
                out[rel] = ("file", path.read_bytes(), stat.S_IMODE(info.st_mode))
            else:
                out[rel] = ("special", stat.S_IFMT(info.st_mode))
        dirs[:] = [d for d in dirs if not os.path.islink(Path(folder) / d)]
    return out


def version(canonical: bytes | str) -> str:
    """The agreement version recorded in an `ir` target's canonical.json."""
    return json.loads(canonical)["agreement"]["version"]["value"]


def leftovers(parent: Path) -> list[str]:
    return sorted(n for n in os.listdir(parent) if ".sla-" in n)


# ---------------------------------------------------------------------------- item 1: sub-folders


def test_a_policy_named_dot_dot_cannot_write_beside_the_output_folder(tmp_path):
    """`...sla` has the stem `..`: its outputs went to build/.. and overwrote files there."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "...sla").write_text(policy_text(), encoding="utf-8")
    (tmp_path / "policies" / "main.sla").write_text(policy_text(), encoding="utf-8")
    (tmp_path / "fingerprint.txt").write_text("hand-written, beside the output folder\n")
    result = sla("build", "policies", "-t", "ir", "-o", "build", "--isolated", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fingerprint.txt").read_text() == "hand-written, beside the output folder\n"
    assert sorted(os.listdir(tmp_path)) == ["build", "fingerprint.txt", "policies"]
    built = snapshot(tmp_path / "build")
    assert {"%2E./fingerprint.txt", "main/fingerprint.txt"} <= set(built)


def test_two_policies_with_the_same_file_name_get_their_own_folders(tmp_path):
    for team, number in (("emea", "1.0"), ("apac", "2.0")):
        (tmp_path / "policies" / team).mkdir(parents=True)
        (tmp_path / "policies" / team / "policy.sla").write_text(policy_text(number), encoding="utf-8")
    result = sla("build", "policies", "-t", "ir", "-o", "build", "--isolated", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    for team, expected in (("emea", "1.0"), ("apac", "2.0")):
        assert version((tmp_path / "build" / team / "policy" / "canonical.json").read_text()) == expected
    # named one by one: relative to the folder they share
    result = sla("build", "policies/emea/policy.sla", "policies/apac/policy.sla", "-t", "ir", "-o", "named",
                 "--isolated", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "named")) == [".sla-outputs", "apac", "emea"]


@pytest.mark.parametrize("layout", [
    {"policies/a.sla": 1, "other/a.sla": 2},           # a folder and a file with the same name
    {"policies/Lead.sla": 1, "policies/lead.sla": 2},  # the same on a case-insensitive disk
    {"policies/emea.sla": 1, "policies/emea/de.sla": 2},  # one policy's folder inside another's
], ids=["same-name", "case", "nested"])
def test_policies_that_would_share_a_folder_are_refused(tmp_path, layout):
    for name, number in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(policy_text(f"{number}.0"), encoding="utf-8")
    if os.path.samefile(tmp_path / "policies", tmp_path / "policies") and len(os.listdir(tmp_path / "policies")) < \
            sum(1 for n in layout if n.startswith("policies/")):
        pytest.skip("case-insensitive file system")
    extra = [n for n in layout if not n.startswith("policies/")]
    result = sla("build", "policies", *extra, "-t", "ir", "-o", "build", "--isolated", cwd=tmp_path)
    assert result.exit_code == 2
    assert "would be built into the same sub-folder" in result.output
    assert not (tmp_path / "build").exists()


# ---------------------------------------------------------------------------- item 2: links


def test_a_link_at_an_output_path_is_replaced_not_written_through(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    out = tmp_path / "out"
    out.mkdir()
    (out / "fingerprint.txt").symlink_to("../outside/victim")
    (tmp_path / "p.sla").write_text(policy_text(), encoding="utf-8")
    result = sla("build", "p.sla", "-t", "ir", "-o", "out", "--isolated", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert snapshot(out)["fingerprint.txt"][0] == "file"


def test_a_dangling_link_creates_no_folder_elsewhere(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "canonical.json").symlink_to(tmp_path / "nowhere" / "deep" / "x.json")
    (out / "ir.json").symlink_to(tmp_path / "nowhere2")
    (tmp_path / "p.sla").write_text(policy_text(), encoding="utf-8")
    result = sla("build", "p.sla", "-t", "ir", "-o", "out", "--isolated", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path)) == ["out", "p.sla"]
    assert {snapshot(out)[n][0] for n in ("canonical.json", "ir.json")} == {"file"}


def test_a_linked_folder_where_outputs_go_is_not_written_through(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "manifest.json").write_text("theirs\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "hubspot").symlink_to(outside, target_is_directory=True)
    (tmp_path / "p.sla").write_text(policy_text(), encoding="utf-8")
    result = sla("build", "p.sla", "-t", "ir", "-t", "hubspot", "-o", "out", "--isolated", cwd=tmp_path)
    assert (outside / "manifest.json").read_text() == "theirs\n" and os.listdir(outside) == ["manifest.json"]
    assert result.exit_code == 1 and "hubspot" in result.output  # not a file the build wrote: refused
    assert (out / "hubspot").is_symlink()


def test_new_outputs_get_ordinary_modes_and_the_folder_keeps_its_own(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o750)
    (tmp_path / "p.sla").write_text(policy_text(), encoding="utf-8")
    old = os.umask(0o022)
    try:
        result = sla("build", "p.sla", "-t", "ir", "-t", "agreement", "--format", "md", "-o", "out", "--isolated",
                     cwd=tmp_path)
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    modes = {rel: entry[2] for rel, entry in snapshot(out).items()}
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert modes["ir/ir.json"] == 0o644 and modes["ir"] == 0o755


# ---------------------------------------------------------------------------- item 3: all or nothing


def test_an_output_no_longer_generated_is_removed(tmp_path, monkeypatch):
    """A PDF skipped on the second build must not stay beside the new Markdown and HTML."""
    from sla_lang.agreement import pdf

    (tmp_path / "p.sla").write_text(policy_text(), encoding="utf-8")
    monkeypatch.setattr(pdf, "render_pdf", lambda policy, doc, required: (b"%PDF-1.7 version one\n", []))
    assert sla("build", "p.sla", "-t", "agreement", "-o", "out", "--isolated", cwd=tmp_path).exit_code == 0
    assert (tmp_path / "out" / "agreement.pdf").read_bytes() == b"%PDF-1.7 version one\n"

    from sla_lang.agreement.rules import PDF_EXTRA_MISSING
    from sla_lang.diagnostics import Diagnostic, Severity
    from sla_lang.source import Span

    skipped = Diagnostic(PDF_EXTRA_MISSING, "cannot render the PDF here", Span.point("p.sla"))
    skipped = skipped.with_severity(Severity.WARNING)
    monkeypatch.setattr(pdf, "render_pdf", lambda policy, doc, required: (None, [skipped]))
    (tmp_path / "p.sla").write_text(policy_text("0.2"), encoding="utf-8")
    result = sla("build", "p.sla", "-t", "agreement", "-o", "out", "--isolated", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "out")) == [".sla-outputs", "agreement.html", "agreement.md"]


def test_files_no_build_wrote_are_never_deleted_and_hidden_ones_are_kept(tmp_path):
    (tmp_path / "p.sla").write_text(policy_text(), encoding="utf-8")
    assert sla("build", "p.sla", "-t", "ir", "-o", "out", "--isolated", cwd=tmp_path).exit_code == 0
    out = tmp_path / "out"
    (out / ".gitkeep").write_text("")
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / ".git" / "hooks").symlink_to("/nonexistent/hooks")
    (out / "README.md").write_text("what this folder is\n")
    (out / "deploy-receipt.json").write_text("{}\n")  # written by `sla deploy` beside the outputs
    before = snapshot(out)
    (tmp_path / "p.sla").write_text(policy_text("0.2"), encoding="utf-8")
    refused = sla("build", "p.sla", "-t", "ir", "-o", "out", "--isolated", cwd=tmp_path)
    assert refused.exit_code == 1 and "README.md" in refused.output and "nothing was written" in refused.output
    assert snapshot(out) == before and leftovers(tmp_path) == []
    (out / "README.md").unlink()
    assert sla("build", "p.sla", "-t", "ir", "-o", "out", "--isolated", cwd=tmp_path).exit_code == 0
    after = snapshot(out)
    assert version(after["canonical.json"][1]) == "0.2"
    for kept in (".gitkeep", ".git", ".git/HEAD", ".git/hooks", "deploy-receipt.json"):
        assert after[kept] == before[kept]


def test_a_policy_with_errors_leaves_the_whole_folder_as_it_was(tmp_path):
    (tmp_path / "policies").mkdir()
    for name in ("a", "b"):
        (tmp_path / "policies" / f"{name}.sla").write_text(policy_text(), encoding="utf-8")
    assert sla("build", "policies", "-t", "ir", "-o", "out", "--isolated", cwd=tmp_path).exit_code == 0
    before = snapshot(tmp_path / "out")
    (tmp_path / "policies" / "a.sla").write_text(policy_text("0.2"), encoding="utf-8")
    (tmp_path / "policies" / "b.sla").write_text(policy_text().replace("owner sales", "owner nobody"), encoding="utf-8")
    result = sla("build", "policies", "-t", "ir", "-o", "out", "--isolated", cwd=tmp_path)
    assert result.exit_code == 1 and "nothing was written to out" in result.output
    assert snapshot(tmp_path / "out") == before


def test_fifos_and_read_only_entries_neither_hang_nor_stop_a_build(tmp_path):
    (tmp_path / "p.sla").write_text(policy_text(), encoding="utf-8")
    assert sla("build", "p.sla", "-t", "ir", "-t", "agreement", "--format", "md", "-o", "out", "--isolated",
               cwd=tmp_path).exit_code == 0
    out = tmp_path / "out"
    (out / "ir" / "ir.json").unlink()
    os.mkfifo(out / "ir" / "ir.json")  # where an output goes
    os.mkfifo(out / ".pipe")  # hidden: kept
    (out / "agreement" / "agreement.md").chmod(0o444)
    (out / "agreement").chmod(0o555)
    (tmp_path / "p.sla").write_text(policy_text("0.2"), encoding="utf-8")
    check = subprocess.run(check=False, args=[sys.executable, "-m", "sla_lang", "build", "p.sla", "-t", "ir", "-t", "agreement",
                            "--format", "md", "-o", "out", "--isolated", "--check"], cwd=tmp_path, timeout=60,
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert check.returncode == 1 and "out/ir/ir.json: stale or hand-edited" in check.stdout
    built = subprocess.run(check=False, args=[sys.executable, "-m", "sla_lang", "build", "p.sla", "-t", "ir", "-t", "agreement",
                            "--format", "md", "-o", "out", "--isolated"], cwd=tmp_path, timeout=60,
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert built.returncode == 0, built.stderr
    after = snapshot(out)
    assert after["ir/ir.json"][0] == "file" and after[".pipe"] == ("special", stat.S_IFIFO)
    assert version(after["ir/canonical.json"][1]) == "0.2" and leftovers(tmp_path) == []


def test_a_second_build_into_the_same_folder_stops_at_once(tmp_path):
    from sla_lang.output import OutputFolder

    (tmp_path / "p.sla").write_text(policy_text(), encoding="utf-8")
    assert sla("build", "p.sla", "-t", "ir", "-o", "out", "--isolated", cwd=tmp_path).exit_code == 0
    before = snapshot(tmp_path / "out")
    with OutputFolder(tmp_path / "out"):  # a build in progress
        result = subprocess.run(check=False, args=[sys.executable, "-m", "sla_lang", "build", "p.sla", "-t", "ir", "-o", "out",
                                 "--isolated"], cwd=tmp_path, timeout=60, capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 1 and "another sla build is writing out" in result.stderr
    assert snapshot(tmp_path / "out") == before


def test_concurrent_builds_leave_one_whole_version(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for number in ("1.0", "2.0"):
        (tmp_path / f"v{number}.sla").write_text(policy_text(number), encoding="utf-8")
    versions = {}
    for number in ("1.0", "2.0"):
        sla("build", f"v{number}.sla", "-t", "ir", "-o", f"ref{number}", "--isolated", cwd=tmp_path)
        versions[number] = snapshot(tmp_path / f"ref{number}")
    for _ in range(3):
        runs = [subprocess.Popen([sys.executable, "-m", "sla_lang", "build", f"v{v}.sla", "-t", "ir", "-o", "out",
                                  "--isolated"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for v in ("1.0", "2.0")]
        outcomes = [(run.wait(timeout=60), run.stderr.read()) for run in runs]
        for code, err in outcomes:
            assert code == 0 or (code == 1 and "another sla build is writing out" in err), err
        assert snapshot(tmp_path / "out") in versions.values()
        assert leftovers(tmp_path) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_full_disk_at_any_write_leaves_the_old_folder(tmp_path, monkeypatch):
    from sla_lang import output

    (tmp_path / "policies").mkdir()
    for name in ("a", "b"):
        (tmp_path / "policies" / f"{name}.sla").write_text(policy_text(), encoding="utf-8")
    args = ("build", "policies", "-t", "ir", "-t", "agreement", "--format", "md", "-o", "out", "--isolated")
    assert sla(*args, cwd=tmp_path).exit_code == 0
    before = snapshot(tmp_path / "out")
    for name in ("a", "b"):
        (tmp_path / "policies" / f"{name}.sla").write_text(policy_text("0.2"), encoding="utf-8")
    real_write = os.write
    for fail_at in (1, 3, 6):  # 4 files per policy: the last two fail in the second policy
        calls = {"n": 0}

        def write(fd, data, fail_at=fail_at, calls=calls):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if ".sla-new-" in target or target.endswith(".tmp"):  # a file of the new build
                calls["n"] += 1
                if calls["n"] == fail_at:
                    raise OSError(28, "No space left on device")
            return real_write(fd, data)

        monkeypatch.setattr(output.os, "write", write)
        result = sla(*args, cwd=tmp_path)
        monkeypatch.setattr(output.os, "write", real_write)
        assert result.exit_code == 1 and "No space left on device" in result.output
        assert snapshot(tmp_path / "out") == before and leftovers(tmp_path) == []


def test_temporaries_of_killed_builds_are_cleaned(tmp_path):
    (tmp_path / "p.sla").write_text(policy_text(), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".fingerprint.txt.k2j4_x9a.tmp").write_text("orphan of an older sla")
    (out / "sub").mkdir()
    (out / "sub" / ".x.json.abcdefgh.tmp").write_text("orphan")
    (tmp_path / ".out.sla-new-12345678").mkdir()
    (tmp_path / ".out.sla-new-12345678" / "half.json").write_text("{")
    (tmp_path / ".out.sla-lock").write_text("999999\n")
    result = sla("build", "p.sla", "-t", "ir", "-o", "out", "--isolated", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path)) == ["out", "p.sla"]
    assert not [rel for rel in snapshot(out) if rel.endswith(".tmp")]


def test_the_output_folder_cannot_be_the_working_directory(tmp_path):
    (tmp_path / "p.sla").write_text(policy_text(), encoding="utf-8")
    result = sla("build", "p.sla", "-t", "ir", "-o", ".", "--isolated", cwd=tmp_path)
    assert result.exit_code == 1 and "working directory is inside it" in result.output
    assert sorted(os.listdir(tmp_path)) == ["p.sla"]


# ---------------------------------------------------------------------------- kill -9 at every step

# the calls through which sla_lang.output changes the file system; the child kills itself
# with SIGKILL at the n-th one
MUTATIONS = ("open", "write", "mkdir", "link", "symlink", "rename", "replace", "unlink", "rmdir", "chmod", "mkfifo",
             "ftruncate")


def _build_in_child(tmp_path: Path, args: list[str], kill_at: int | None, counter: Path) -> int:
    """Run `sla build` in a forked child that SIGKILLs itself at the kill_at-th mutating call."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            from sla_lang import output

            calls = [0]

            def wrap(function):
                def wrapped(*a, **k):
                    calls[0] += 1
                    if calls[0] == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return function(*a, **k)
                return wrapped

            for name in MUTATIONS:
                setattr(os, name, wrap(getattr(os, name)))
            output._exchange = wrap(output._exchange)
            os.chdir(tmp_path)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            result = CliRunner().invoke(cli, args)
            counter.write_text(str(calls[0]))
            os._exit(result.exit_code)
        except BaseException:  # noqa: BLE001  (the child must never return into pytest)
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kill_9_at_any_point_leaves_the_folder_wholly_old_or_wholly_new(tmp_path):
    (tmp_path / "policies" / "emea").mkdir(parents=True)
    (tmp_path / "policies" / "emea" / "p.sla").write_text(policy_text(), encoding="utf-8")
    (tmp_path / "policies" / "apac.sla").write_text(policy_text(), encoding="utf-8")
    # (without the build cache, whose hits change the number of calls counted, and in one
    # process: the calls counted are the write phase's, not those of workers talking to it)
    args = ["build", "policies", "-t", "ir", "-o", "out", "--isolated", "--no-cache", "--jobs", "1"]
    assert sla(*args, cwd=tmp_path).exit_code == 0
    out = tmp_path / "out"
    (out / ".keep").write_text("kept\n")
    (out / ".cache").mkdir()
    (out / ".cache" / "x").write_text("kept too\n")
    old = snapshot(out)
    pristine = tmp_path / "pristine"
    shutil.copytree(out, pristine, symlinks=True)
    (tmp_path / "policies" / "emea" / "p.sla").write_text(policy_text("0.2"), encoding="utf-8")
    (tmp_path / "policies" / "apac.sla").write_text(policy_text("0.3"), encoding="utf-8")
    counter = tmp_path / "calls"
    assert os.WEXITSTATUS(_build_in_child(tmp_path, args, None, counter)) == 0
    new = snapshot(out)
    total = int(counter.read_text())
    assert new != old and total > 20, total
    outcomes = {"old": 0, "new": 0}
    for kill_at in range(1, total + 1):
        shutil.rmtree(out)
        shutil.copytree(pristine, out, symlinks=True)
        status = _build_in_child(tmp_path, args, kill_at, counter)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, kill_at
        now = snapshot(out)
        assert now in (old, new), f"killed at mutation {kill_at} of {total}: a mix of two builds"
        outcomes["old" if now == old else "new"] += 1
        # the next build cleans what the killed one left and writes the new version
        assert sla(*args, cwd=tmp_path).exit_code == 0
        assert snapshot(out) == new and leftovers(tmp_path) == [], kill_at
    assert outcomes["old"] and outcomes["new"]


def test_a_build_killed_between_the_fallback_renames_is_repaired(tmp_path, monkeypatch):
    """Where the system has no atomic exchange, the old folder is moved aside first; a build
    killed right then leaves no output folder, and the next one puts the old folder back."""
    from sla_lang import output

    (tmp_path / "p.sla").write_text(policy_text(), encoding="utf-8")
    args = ["build", "p.sla", "-t", "ir", "-o", "out", "--isolated"]
    assert sla(*args, cwd=tmp_path).exit_code == 0
    old = snapshot(tmp_path / "out")
    monkeypatch.setattr(output, "_exchange", lambda a, b: False)
    real_rename = os.rename
    state = {"n": 0}

    def rename(a, b):
        state["n"] += 1
        if state["n"] == 2:
            raise KeyboardInterrupt  # stands in for the kill: nothing after this runs
        return real_rename(a, b)

    monkeypatch.setattr(output.os, "rename", rename)
    (tmp_path / "p.sla").write_text(policy_text("0.2"), encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        folder = output.OutputFolder(tmp_path / "out")
        folder.open()
        folder.add("canonical.json", b"{}")
        folder.commit()
    monkeypatch.setattr(output.os, "rename", real_rename)
    assert not (tmp_path / "out").exists()
    os.close(folder._lock_fd)  # the killed process's lock dies with it
    monkeypatch.chdir(tmp_path)
    with output.OutputFolder(tmp_path / "out"):
        assert snapshot(tmp_path / "out") == old  # put back before anything else
    assert sla(*args, cwd=tmp_path).exit_code == 0
    assert version((tmp_path / "out" / "canonical.json").read_text()) == "0.2"


def test_the_lock_is_released_for_the_next_build(tmp_path):
    """The lock file is removed when a build ends; a build that takes it while another is
    ending cannot be fooled by the removed file (see OutputFolder._lock)."""
    from sla_lang.output import OutputBusy, OutputFolder

    barrier = threading.Event()
    errors = []

    def hold():
        try:
            with OutputFolder(tmp_path / "out"):
                barrier.wait(5)
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    thread = threading.Thread(target=hold)
    first = OutputFolder(tmp_path / "out")
    first.open()
    thread.start()
    thread.join(5)
    assert errors and isinstance(errors[0], OutputBusy)
    first.close()
    assert leftovers(tmp_path) == []
    with OutputFolder(tmp_path / "out"):
        pass
