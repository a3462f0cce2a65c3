"""Writing generated files: all or nothing.

Every file is first written to a temporary name in its destination folder; only when all of
them are on disk are they renamed into place (a rename within a folder is atomic). A failure
while writing leaves the previous outputs untouched and removes the temporary files.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Mapping


# Files other commands write beside a build's outputs, which a build neither writes nor reports:
# `sla deploy`'s record of what it did in the portal.
WRITTEN_BESIDE_OUTPUTS = frozenset({"deploy-receipt.json"})


class OutputError(Exception):
    """Generated files could not be written; nothing was replaced."""


def check_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise OutputError(f"refusing to write outside the output folder: {name!r}")
    return path


def _file_mode() -> int:
    """What an ordinary `open(..., "w")` would give: 0666 minus the umask (mkstemp gives 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_files(root: Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write `files` (relative POSIX path → bytes) under `root` atomically. Returns the paths."""
    staged: list[tuple[str, Path]] = []
    mode = _file_mode()
    direct: list[tuple[str, Path]] = []
    try:
        for name in sorted(files):
            destination = root.joinpath(*check_relative(name).parts)
            if destination.is_symlink():
                destination = Path(os.path.realpath(destination))  # replace the file, keep the link
            if destination.exists() and not destination.is_file():
                if destination.is_dir():
                    raise IsADirectoryError(21, "is a folder", str(destination))
                direct.append((name, destination))  # /dev/null, a FIFO …: renaming over it would replace the device
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
            staged.append((temp, destination))
            with os.fdopen(fd, "wb") as handle:
                handle.write(files[name])
            os.chmod(temp, mode)
        for temp, destination in staged:
            os.replace(temp, destination)
        for name, destination in direct:
            with open(destination, "wb") as handle:
                handle.write(files[name])
    except OSError as exc:
        for temp, _ in staged:
            try:
                os.unlink(temp)
            except OSError:
                pass
        raise OutputError(f"cannot write {exc.filename or root}: {exc.strerror or exc}") from exc
    return [destination for _, destination in staged] + [destination for _, destination in direct]


def write_file(path: Path, data: bytes) -> None:
    write_files(path.parent, {path.name: data})


@dataclass(frozen=True)
class Drift:
    stale: tuple[str, ...]  # differs from what would be generated (hand-edited or out of date)
    missing: tuple[str, ...]  # would be generated but is not there
    extra: tuple[str, ...]  # there, but no longer generated

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def compare_files(root: Path, files: Mapping[str, bytes]) -> Drift:
    """Compare what would be written with what is in `root` (for `sla build --check`)."""
    stale, missing = [], []
    for name in sorted(files):
        path = root.joinpath(*check_relative(name).parts)
        try:
            if path.read_bytes() != files[name]:
                stale.append(name)
        except FileNotFoundError:
            missing.append(name)
        except OSError:
            stale.append(name)
    extra = []
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
                name = path.relative_to(root).as_posix()
                if name not in files and path.name not in WRITTEN_BESIDE_OUTPUTS:
                    extra.append(name)
    return Drift(tuple(stale), tuple(missing), tuple(extra))
