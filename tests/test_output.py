"""Generated files are written all or nothing, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from sla_lang import output
from sla_lang.output import OutputError, compare_files, write_files


def test_files_get_the_umask_permissions_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        (path,) = write_files(tmp_path, {"a/b.json": b"{}"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failure_part_way_leaves_previous_outputs_untouched(tmp_path, monkeypatch):
    write_files(tmp_path, {"one.txt": b"old 1", "two.txt": b"old 2", "three.txt": b"old 3"})
    real_fdopen = os.fdopen
    calls = {"n": 0}

    def failing_fdopen(fd, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second of three files fails to write
            os.close(fd)
            raise OSError(28, "No space left on device")
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(output.os, "fdopen", failing_fdopen)
    with pytest.raises(OutputError, match="No space left on device"):
        write_files(tmp_path, {"one.txt": b"new 1", "two.txt": b"new 2", "three.txt": b"new 3"})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == {
        "one.txt": b"old 1", "two.txt": b"old 2", "three.txt": b"old 3"}


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b"])
def test_paths_outside_the_output_folder_are_refused(tmp_path, name):
    with pytest.raises(OutputError):
        write_files(tmp_path, {name: b"x"})


def test_compare_files_names_stale_missing_and_extra(tmp_path):
    write_files(tmp_path, {"keep.txt": b"same", "edit.txt": b"old", ".hidden": b"ignored"})
    (tmp_path / "extra.txt").write_bytes(b"left over")
    drift = compare_files(tmp_path, {"keep.txt": b"same", "edit.txt": b"new", "new.txt": b"n"})
    assert (drift.stale, drift.missing, drift.extra) == (("edit.txt",), ("new.txt",), ("extra.txt",))


def test_writing_to_dev_null_keeps_the_device(tmp_path):
    """`sla check --format sarif -o /dev/null` must not rename a file over /dev/null."""
    from pathlib import Path

    from sla_lang.output import write_file

    null = Path("/dev/null")
    if not null.is_char_device():
        pytest.skip("no /dev/null device here")
    write_file(null, b"report")
    assert null.is_char_device()


def test_a_fifo_named_by_the_user_is_written_to_not_replaced(tmp_path):
    import threading

    from sla_lang.output import write_file

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()), daemon=True)
    reader.start()
    write_file(fifo, b"through the pipe")
    reader.join(timeout=5)
    assert received == [b"through the pipe"] and stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_symlinked_output_keeps_its_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_bytes(b"old")
    (tmp_path / "link.json").symlink_to(real)
    write_files(tmp_path, {"link.json": b"new"})
    assert (tmp_path / "link.json").is_symlink() and real.read_bytes() == b"new"


def test_a_fifo_among_files_added_to_a_folder_is_refused_not_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(OutputError, match="not a regular file"):
        write_files(tmp_path, {"a.txt": b"a", "pipe": b"would block"})
    assert not (tmp_path / "a.txt").exists()


def test_files_added_to_a_folder_never_go_through_a_link_out_of_it(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("precious")
    root = tmp_path / "root"
    root.mkdir()
    (root / "out.txt").symlink_to(outside / "victim")
    (root / "sub").symlink_to(outside, target_is_directory=True)
    (root / "dangling").symlink_to(tmp_path / "nowhere" / "deep")
    for name in ("out.txt", "sub/new.txt", "dangling/x/y.txt"):
        with pytest.raises(OutputError, match="symbolic link"):
            write_files(root, {name: b"x"})
    assert (outside / "victim").read_text() == "precious" and sorted(os.listdir(outside)) == ["victim"]
    assert not (tmp_path / "nowhere").exists()


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    from sla_lang.output import write_file

    private = tmp_path / "private.sla"
    private.write_text("old")
    private.chmod(0o600)
    write_file(private, b"new")
    write_files(tmp_path, {"private.sla": b"newer"})
    assert private.read_bytes() == b"newer" and stat.S_IMODE(private.stat().st_mode) == 0o600


def test_a_dangling_link_named_by_the_user_is_refused(tmp_path):
    from sla_lang.output import write_file

    (tmp_path / "report.sarif").symlink_to(tmp_path / "nowhere" / "deep" / "report.sarif")
    with pytest.raises(OutputError, match="symbolic link to nothing"):
        write_file(tmp_path / "report.sarif", b"{}")
    assert not (tmp_path / "nowhere").exists()
