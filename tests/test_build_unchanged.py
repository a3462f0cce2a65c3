"""An unchanged rebuild leaves the output folder as it is (issue 20: 5,000 files rewritten and
swapped for nothing), and anything that differs takes the normal all-or-nothing write.

The folder is observed from outside `sla_lang.output`: every entry's bytes (or link target),
kind, permissions, inode and modification time, walked without following links; "what a build
writes" is a fresh build into another folder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli
from sla_lang.output import OutputError, OutputFolder

from .conftest import POLICIES, REPO

OUTPUT = "inside_sales_sal/ir.json"  # one output of the build below


def sla(*args: str):
    return CliRunner().invoke(cli, [*args, "-t", "ir", "--today", "2026-11-23"], catch_exceptions=False)


def state(root: Path) -> dict[str, tuple]:
    """Every entry under `root` and `root` itself, links not followed: kind, bytes or link
    target, permissions, inode, modification time."""
    out: dict[str, tuple] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            content = os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            content = path.read_bytes()
        else:
            content = None
        out[path.relative_to(root).as_posix()] = (stat.S_IFMT(info.st_mode), content, stat.S_IMODE(info.st_mode),
                                                  info.st_ino, info.st_mtime_ns)
    return out


def contents(root: Path) -> dict[str, tuple]:
    """What a build is judged by: kinds, bytes and permissions (not inodes or times)."""
    return {name: entry[:3] for name, entry in state(root).items() if name != "."}


@pytest.fixture
def built(tmp_path) -> tuple[Path, Path]:
    """The three example policies built into `out`, and the same build into `fresh` (what a
    build writes, for comparison)."""
    policies = tmp_path / "policies"
    policies.mkdir()
    for path in POLICIES:
        shutil.copy(path, policies / path.name)
    for name in ("out", "fresh"):
        result = sla("build", str(policies), "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    return policies, tmp_path / "out"


def leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in ("policies", "out", "fresh", "elsewhere"))


def test_a_rebuild_with_nothing_changed_leaves_the_folder_as_it_is(tmp_path, built):
    policies, out = built
    (out / ".gitkeep").write_text("")
    (out / "deploy-receipt.json").write_text("{}")
    before = state(out)
    result = sla("build", str(policies), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert state(out) == before  # bytes, kinds, permissions, inodes and mtimes, the folder's own too
    assert "already up to date" in result.output and "wrote" not in result.output
    fresh = contents(tmp_path / "fresh")
    assert {k: v for k, v in contents(out).items() if k not in (".gitkeep", "deploy-receipt.json")} == fresh
    assert leftovers(tmp_path) == []  # no staging folder, no lock


def _rebuilt(tmp_path: Path, policies: Path, out: Path) -> None:
    """The build wrote: the folder is a new tree holding exactly what a fresh build holds."""
    old_inode = os.lstat(out).st_ino
    result = sla("build", str(policies), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "already up to date" not in result.output
    assert contents(out) == contents(tmp_path / "fresh")
    assert os.lstat(out).st_ino != old_inode  # exchanged, as every write is
    assert leftovers(tmp_path) == []


def test_one_changed_byte_is_rewritten(tmp_path, built):
    policies, out = built
    data = bytearray((out / OUTPUT).read_bytes())
    data[len(data) // 2] ^= 1  # same size: only the bytes tell
    (out / OUTPUT).write_bytes(bytes(data))
    _rebuilt(tmp_path, policies, out)


def test_a_missing_output_is_written(tmp_path, built):
    policies, out = built
    (out / OUTPUT).unlink()
    _rebuilt(tmp_path, policies, out)


def test_a_stale_output_listed_in_the_record_is_removed(tmp_path, built):
    policies, out = built
    (out / "inside_sales_sal" / "old.json").write_text("{}")
    record = json.loads((out / ".sla-outputs").read_text())
    record["files"] = sorted([*record["files"], "inside_sales_sal/old.json"])
    (out / ".sla-outputs").write_text(json.dumps(record))
    _rebuilt(tmp_path, policies, out)


def test_a_record_that_differs_is_rewritten(tmp_path, built):
    policies, out = built
    (out / ".sla-outputs").write_bytes((out / ".sla-outputs").read_bytes() + b" ")
    _rebuilt(tmp_path, policies, out)


def test_a_symlink_at_an_output_path_is_replaced_not_followed(tmp_path, built):
    policies, out = built
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "ir.json"
    shutil.copy(out / OUTPUT, target)  # the same bytes behind the link
    (out / OUTPUT).unlink()
    (out / OUTPUT).symlink_to(target)
    _rebuilt(tmp_path, policies, out)
    assert target.read_bytes() == (tmp_path / "fresh" / OUTPUT).read_bytes() and not target.is_symlink()


def test_a_symlinked_folder_on_the_way_is_not_followed(tmp_path, built):
    """The same files behind a link to a folder are not "up to date": the build takes the
    normal write, which refuses a link where it would make a folder (not a file it wrote)."""
    policies, out = built
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(out / "inside_sales_sal", elsewhere)
    shutil.rmtree(out / "inside_sales_sal")
    (out / "inside_sales_sal").symlink_to(elsewhere, target_is_directory=True)
    before, behind = state(out), state(elsewhere)
    result = sla("build", str(policies), "-o", str(out))
    assert result.exit_code == 1
    assert "holds files no sla build wrote there (inside_sales_sal)" in result.output
    assert "already up to date" not in result.output
    assert state(out) == before and state(elsewhere) == behind and leftovers(tmp_path) == []


def test_a_fifo_at_an_output_path_is_never_opened(tmp_path, built):
    policies, out = built
    (out / OUTPUT).unlink()
    os.mkfifo(out / OUTPUT)
    # in a process of its own: opening the FIFO would wait for a writer for ever
    done = subprocess.run([sys.executable, "-m", "sla_lang", "build", str(policies), "-o", str(out), "-t", "ir",
                           "--today", "2026-11-23"], capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert contents(out) == contents(tmp_path / "fresh")


def test_changed_permissions_and_an_extra_folder_are_rewritten(tmp_path, built):
    policies, out = built
    os.chmod(out / OUTPUT, 0o600)
    _rebuilt(tmp_path, policies, out)
    (out / "inside_sales_sal" / "empty").mkdir()
    _rebuilt(tmp_path, policies, out)


def test_an_output_edited_while_the_build_runs_stops_the_build(tmp_path):
    """An output found equal is not kept in memory: when a later one differs it is staged from
    the folder, and if it was edited in between the build stops with nothing written."""
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        folder.add_files({"a.txt": b"a\n", "b.txt": b"b\n"})
        folder.commit()
    before = state(out)
    for step in ("add", "commit"):
        with OutputFolder(out) as folder:
            folder.add("a.txt", b"a\n")  # equal: compared, not staged
            (out / "a.txt").write_bytes(b"A\n")
            with pytest.raises(OutputError, match="a.txt changed while the build was running"):
                if step == "add":
                    folder.add("b.txt", b"new\n")  # differs: a.txt must be staged now
                else:
                    folder.add("b.txt", b"b\n")
                    folder.commit()  # a.txt is not the file that was compared
        assert (out / "a.txt").read_bytes() == b"A\n" and (out / "b.txt").read_bytes() == b"b\n"
        (out / "a.txt").write_bytes(b"a\n")
        os.utime(out / "a.txt", ns=(before["a.txt"][4], before["a.txt"][4]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_equal_outputs_before_a_difference_are_written_from_the_folder(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        folder.add_files({"a.txt": b"a\n", "sub/b.txt": b"b\n", "z.txt": b"z\n"})
        folder.commit()
    with OutputFolder(out) as folder:
        folder.add_files({"a.txt": b"a\n", "sub/b.txt": b"b\n", "z.txt": b"Z\n"})
        folder.commit()
        assert not folder.unchanged
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == {
        ".sla-outputs": (out / ".sla-outputs").read_bytes(), "a.txt": b"a\n", "sub/b.txt": b"b\n", "z.txt": b"Z\n"}
    assert json.loads((out / ".sla-outputs").read_text())["files"] == ["a.txt", "sub/b.txt", "z.txt"]
