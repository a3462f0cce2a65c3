"""Writing generated files: the write phase of every command, in one place.

Two situations, two APIs.

**A build's output folder** (`sla build -o DIR`) belongs to the build and is replaced as a
whole: `OutputFolder`. It never shows a mix of two builds, whatever happens (a full disk, a
`kill -9` at any instruction, two builds at once):

1. `open()` takes a lock beside the folder (`.DIR.sla-lock`; a second build into the same
   folder stops at once with `OutputBusy`, it does not wait), removes what killed builds left
   behind (staging folders beside it, `*.tmp` files of older versions inside it) and creates
   an empty *staging* folder beside the output folder (`.DIR.sla-new-XXXXXXXX`).
2. `add(name, data)` writes one new file into the staging folder. Nothing in it existed
   before, so no write can follow a symbolic link, open a FIFO or land outside the folder.
3. `commit()` decides what else the new folder keeps (below), records the build's files in
   `DIR/.sla-outputs`, then exchanges the staging folder and the output folder in one
   `renameat2(RENAME_EXCHANGE)` system call and deletes the old tree. Before that call the
   output folder is untouched (old); after it, it is wholly new. Where the system has no
   atomic exchange (not Linux, or a file system without it), the folder is moved aside and
   the new one moved in; a build killed between those two renames leaves no `DIR` and the
   old tree beside it, which the next `open()` puts back before doing anything else.
4. `close()` (or leaving the `with` block) without `commit()` removes the staging folder:
   the output folder is as it was.

When the build gives exactly what the folder already holds, nothing is staged or swapped
(issue 20: an unchanged rebuild of 5,000 files): while the folder is open and no output has
differed yet, `add()` compares each output with the file at its path instead of staging it —
read through descriptors opened beneath the output folder without following any link, a
link, FIFO or device there (or on the way to it) counting as different and never opened; only
a SHA-256 and the file's identity are kept. `commit()` then also checks that the folder holds
nothing else (no stale output, no folder the build would not create, no temporary of an older
version), that permissions and owner are what a rewrite would give, that no compared file was
touched since, and that `.sla-outputs` is byte for byte the record the build would write; the
folder is then left as it is (`unchanged` is true; mtimes and inodes are kept). At the first
difference the outputs found equal so far are staged from the folder (each checked against its
SHA-256: one edited during the build stops the build with nothing written) and the build goes
on as above. The lock is held throughout.

What the new folder keeps from the old one:
- the build's outputs, all new (a file or link at an output's path is replaced, the link
  itself, never what it points to);
- hidden entries (`.gitkeep`, `.gitignore`, `.git/` …) at any depth, and the files other
  commands write beside the outputs (`WRITTEN_BESIDE_OUTPUTS`: `sla deploy`'s receipt), carried
  over as they are (hard links where possible, so nothing is copied or opened; symbolic links
  stay links);
- nothing else: a file the previous build wrote (listed in `.sla-outputs`) and this one does
  not is gone — a skipped PDF does not leave last version's `agreement.pdf` behind.
A file the folder holds that no build wrote (a README, a signed PDF, a policy) is not
deleted: `commit()` refuses with `OutputError` naming it and nothing is written. A folder
written by an sla without `.sla-outputs` is treated the same way once, for the files the
new build does not write again.

The output folder's own permissions are kept; new files get the permissions an ordinary
`open()` gives (0666 minus the umask), new folders 0777 minus the umask. The folder's path
is resolved first: `-o link` builds into the folder the link points to. A folder that
holds the current working directory, and `/`, are refused.

For `sla build --jobs` and a build cache: `add()` is called from one thread (the comparison
above is not shared between threads); another process can write with `stage_file(staging,
name, data)` and the parent then declares the names with `adopt(names)`, which ends the
comparison.

**Files in a folder that holds other things** (`write_file`: a report, a formatted or signed
file; `write_files`: what `sla init` creates): each file is written to a temporary name
beside it and renamed into place; `write_files` renames only after every file is on disk.
A file that is replaced keeps its permissions. `write_files` never writes through a
symbolic link that leads out of its folder, nor creates folders through one. `write_file`
is given one path by the user: a link there is followed (the file it names is replaced),
and a device or FIFO is written to, not replaced (`-o /dev/stdout`).

`compare_files` (or `DriftCheck`, one file at a time) is `sla build --check`: it reads without
following links or opening FIFOs.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Self

# Files other commands write beside a build's outputs, which a build neither writes nor reports,
# and keeps like hidden files: `sla deploy`'s record of what it did in the portal.
WRITTEN_BESIDE_OUTPUTS = frozenset({"deploy-receipt.json"})

MANIFEST = ".sla-outputs"
MANIFEST_FORMAT = "sla-outputs/1"
# what `tempfile.mkstemp(prefix=".NAME.", suffix=".tmp")` of older versions left when killed
_OLD_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_PIECE = 1 << 20  # bytes read at a time from a large file


class OutputError(Exception):
    """Generated files could not be written; nothing was replaced."""


class OutputBusy(OutputError):
    """Another build is writing the same output folder."""


def check_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(part in ("..", ".", "") for part in path.parts) or "\\" in name:
        raise OutputError(f"refusing to write outside the output folder: {name!r}")
    return path


def _file_mode() -> int:
    """What an ordinary `open(..., "w")` would give: 0666 minus the umask (mkstemp gives 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


class Pieces:
    """A generated file handed over in pieces instead of as one `bytes`: scenarios.json of a
    10,000-stage policy is 500 MB, which the write phase then never holds whole. `len()` is
    its size; iterating gives its bytes in order, as often as asked, but only while the call
    that handed it over lasts (it reads from a file its maker closes afterwards). `bytes()`
    joins it, for whoever must keep the file (a `--jobs` worker sending it back)."""

    def __init__(self, size: int, pieces: Callable[[], Iterator[bytes]]) -> None:
        self.size = size
        self._pieces = pieces

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        return self._pieces()

    def __bytes__(self) -> bytes:
        data = b"".join(self._pieces())
        if len(data) != self.size:
            raise ValueError(f"{len(data)} bytes where {self.size} were announced")
        return data


FileData = bytes | Pieces  # what a target hands over for one file


def pieces_of(data: FileData) -> Iterable[bytes]:
    """A file's bytes in pieces (one piece: the bytes themselves)."""
    return data if isinstance(data, Pieces) else (data,)


def as_bytes(data: FileData) -> bytes:
    return bytes(data) if isinstance(data, Pieces) else data


def _read_pieces(handle, data: FileData) -> bool:
    """Whether the rest of `handle` (a binary file) is `data`, read a piece at a time."""
    for piece in pieces_of(data):
        if handle.read(len(piece)) != piece:
            return False
    return handle.read(1) == b""


def _sha256(data: FileData) -> bytes:
    digest = hashlib.sha256()
    for piece in pieces_of(data):
        digest.update(piece)
    return digest.digest()


# ---------------------------------------------------------------------------------------------
# the output folder of a build


def stage_file(staging: Path, name: str, data: FileData) -> None:
    """Write a new file `name` (relative POSIX path) under a staging folder. It must not exist."""
    path = staging.joinpath(*check_relative(name).parts)
    parent = path.parent
    if parent != staging:
        os.makedirs(parent, 0o777, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        for piece in pieces_of(data):
            view = memoryview(piece)
            while view:
                written = os.write(fd, view)
                view = view[written:]
    finally:
        os.close(fd)


def _temporary_tag(name: str) -> str:
    """The output folder's name as used in the names of its lock and staging folders."""
    if len(name.encode("utf-8")) <= 100:
        return name
    return name[:40] + "-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]


class OutputFolder:
    """An output folder replaced as a whole by one build (see the module documentation)."""

    def __init__(self, root: Path | str) -> None:
        self.requested = Path(root)
        self.root = Path(os.path.realpath(root))
        self.parent = self.root.parent
        tag = _temporary_tag(self.root.name)
        self.lock_path = self.parent / f".{tag}.sla-lock"
        self._new_prefix = f".{tag}.sla-new-"
        self._old_prefix = f".{tag}.sla-old-"
        self.staging: Path | None = None
        self.names: set[str] = set()
        self._lock_fd: int | None = None
        self.committed = False
        self.unchanged = False  # committed without writing: the folder already held this build
        self._same: _SameAsBefore | None = None  # while every output added equals the folder's

    # -------------------------------------------------------------- open and close
    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def open(self) -> None:
        shown = self.requested.as_posix()
        if self.root == self.parent:
            raise OutputError(f"refusing to replace {shown}: it is the root of the file system")
        if self.requested.is_symlink() and not self.requested.exists():
            raise OutputError(f"refusing to build into {shown}: it is a symbolic link to nothing")
        try:
            here = Path(os.path.realpath(os.getcwd()))
        except OSError:
            here = None
        if here is not None and (here == self.root or self.root in here.parents):
            raise OutputError(f"refusing to replace {shown}: the working directory is inside it; "
                              "choose an output folder such as build/")
        if os.path.lexists(self.root) and not self.root.is_dir():
            raise OutputError(f"cannot build into {shown}: it exists and is not a folder")
        try:
            os.makedirs(self.parent, 0o777, exist_ok=True)
            self._lock()
            self._recover()
            self._remove_leftovers()
            self.staging = Path(tempfile.mkdtemp(prefix=self._new_prefix, dir=self.parent))
            self._same = _SameAsBefore.open(self.root)
        except OSError as exc:
            self.close()
            raise OutputError(f"cannot prepare {shown}: {exc.filename or self.parent}: {_reason(exc)}") from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Remove the staging folder (unless committed) and release the lock."""
        if self._same is not None:
            self._same.close()
            self._same = None
        if self.staging is not None and not self.committed:
            _remove_tree(self.staging)
        self.staging = None
        if self._lock_fd is not None:
            try:
                os.unlink(self.lock_path)  # while still holding it: see _lock
            except OSError:
                pass
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def lock_fd(self) -> int | None:
        """The descriptor that holds the lock while the folder is open: a process forked to help
        the build (`sla build --jobs`) closes its copy, so that it never keeps the lock."""
        return self._lock_fd

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no protection against two builds at once
            return
        for _ in range(20):
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                    who = f" (process {holder})" if holder.isdigit() else ""
                    raise OutputBusy(f"another sla build is writing {self.requested.as_posix()}{who}; "
                                     "nothing was written: run this build again when it has finished") from None
                raise
            # the holder unlinks the file before releasing it, so a lock taken on a file
            # that is no longer (or not yet again) at the path protects nothing: try again
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd = fd
                try:  # who holds it, for the message another build prints
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode("ascii"))
                except OSError:
                    pass
                return
            os.close(fd)
        raise OutputBusy(f"could not lock {self.requested.as_posix()}: other builds keep replacing the lock")

    def _siblings(self, prefix: str) -> list[Path]:
        try:
            return sorted(self.parent / n for n in os.listdir(self.parent) if n.startswith(prefix))
        except FileNotFoundError:
            return []

    def _recover(self) -> None:
        """Put the old folder back if a build was killed between the two renames of the
        fallback swap (it then left no output folder and the old one beside it)."""
        if os.path.lexists(self.root):
            return
        old = self._siblings(self._old_prefix)
        if old:
            os.rename(old[-1], self.root)

    def _remove_leftovers(self) -> None:
        for path in self._siblings(self._new_prefix) + self._siblings(self._old_prefix):
            _remove_tree(path)

    # -------------------------------------------------------------- adding files
    def add(self, name: str, data: FileData) -> None:
        """Write the output `name` (a relative POSIX path) into the new folder."""
        if self.staging is None:
            raise OutputError("the output folder is not open")
        if any(part.startswith(".") for part in check_relative(name).parts):
            raise OutputError(f"an output cannot be hidden: {name!r}")
        if name in self.names:
            raise OutputError(f"{name} is generated twice")
        try:
            if self._same is not None and self._same.compare(name, data):
                self.names.add(name)  # the folder holds it already: staged only if another differs
                return
            self._stop_comparing()
            stage_file(self.staging, name, data)
        except OSError as exc:
            raise OutputError(f"cannot write {(self.requested / name).as_posix()}: {_reason(exc)}") from exc
        self.names.add(name)

    def add_files(self, files: Mapping[str, FileData], prefix: str = "") -> None:
        for name in sorted(files):
            self.add(prefix + name, files[name])

    def adopt(self, names: Iterable[str]) -> None:
        """Declare files another process wrote into `staging` with `stage_file`."""
        try:
            self._stop_comparing()
        except OSError as exc:
            raise OutputError(f"cannot write {self.requested.as_posix()}: {_reason(exc)}") from exc
        for name in names:
            check_relative(name)
            if not (self.staging / name).is_file():
                raise OutputError(f"{name} was not written")
            self.names.add(name)

    # -------------------------------------------------------------- commit
    def commit(self) -> None:
        """Replace the output folder by the new one (see the module documentation)."""
        if self.staging is None or self.committed:
            raise OutputError("the output folder is not open")
        shown = self.requested.as_posix()
        try:
            if self._same is not None and self._same.holds_exactly(self.names, _manifest_bytes(self.names)):
                self._same.close()
                self._same = None
                _remove_tree(self.staging)  # empty: nothing was staged
                self.staging = None
                self.committed = self.unchanged = True
                return
            self._stop_comparing()
            exists = self.root.is_dir()
            previous = _read_manifest(self.root) if exists else None
            if exists:
                foreign = self._carry_over(previous)
                if foreign:
                    listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
                    raise OutputError(
                        f"nothing was written to {shown}: it holds files no sla build wrote there ({listed}); "
                        "a build replaces the whole folder, so move them elsewhere (or delete them if they "
                        "are outputs of an older sla) and build again")
                os.chmod(self.staging, stat.S_IMODE(os.lstat(self.root).st_mode))
            else:
                os.chmod(self.staging, 0o777 & ~_umask())
            stage_file(self.staging, MANIFEST, _manifest_bytes(self.names))
            if exists:
                self._swap()
            else:
                os.rename(self.staging, self.root)
                self.staging = None
        except OSError as exc:
            raise OutputError(f"cannot write {shown}: {exc.filename or shown}: {_reason(exc)}") from exc
        self.committed = True
        if self.staging is not None:  # now the old tree
            _remove_tree(self.staging)
            self.staging = None

    def _swap(self) -> None:
        if _exchange(self.staging, self.root):
            return
        aside = Path(tempfile.mkdtemp(prefix=self._old_prefix, dir=self.parent))
        os.rename(self.root, aside)  # replaces the empty folder mkdtemp made
        try:
            os.rename(self.staging, self.root)
        except OSError:
            os.rename(aside, self.root)
            raise
        self.staging = aside

    def _carry_over(self, previous: set[str] | None) -> list[str]:
        """Link the old folder's hidden entries into the new one; return the files no build
        wrote (the caller refuses the build when there are any)."""
        assert self.staging is not None
        outputs = self.names
        foreign: list[str] = []
        stack = [""]
        while stack:
            rel = stack.pop()
            folder = self.root / rel if rel else self.root
            with os.scandir(folder) as entries:
                listing = sorted(entries, key=lambda e: e.name)
            for entry in listing:
                name = f"{rel}/{entry.name}" if rel else entry.name
                if entry.name.startswith(".") or entry.name in WRITTEN_BESIDE_OUTPUTS and name not in outputs:
                    if rel == "" and entry.name == MANIFEST or _OLD_TEMPORARY.fullmatch(entry.name):
                        continue
                    _keep(Path(entry.path), self.staging / name)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(name)
                elif name in outputs:
                    continue  # an output takes its place (a link there is replaced, not followed)
                elif previous is not None and name in previous:
                    continue  # written by the previous build and no longer generated
                else:
                    foreign.append(name)
        return sorted(foreign)

    def _stop_comparing(self) -> None:
        """An output differs: stage the ones found equal so far, from the folder."""
        same, self._same = self._same, None
        if same is None:
            return
        try:
            for name, digest in same.equal.items():
                data = same.read_pieces(name)
                # (a file edited meanwhile stops the build: the staging folder is then removed)
                if data is None or not same.copy_checked(self.staging, name, data, digest):
                    raise OutputError(f"{(self.requested / name).as_posix()} changed while the build was running; "
                                      "nothing was written: build again")
        finally:
            same.close()

    # -------------------------------------------------------------- reporting
    def files(self) -> list[str]:
        return sorted(self.names)


_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class _SameAsBefore:
    """The comparison of a build's outputs with what its output folder already holds (see the
    module documentation). Every file and folder is reached from a descriptor of the output
    folder, one component at a time with O_NOFOLLOW: no link is followed, and nothing but a
    regular file is opened."""

    def __init__(self, root_fd: int) -> None:
        self.folders: dict[str, int | None] = {"": root_fd}  # relative path → descriptor (None: not a folder)
        self.equal: dict[str, bytes] = {}  # output found equal → SHA-256 of its bytes
        self.identity: dict[str, tuple[int, int, int, int]] = {}  # … → inode, size, mtime, ctime
        self.uid = os.geteuid() if hasattr(os, "geteuid") else None
        mask = _umask()
        self.file_mode = 0o666 & ~mask
        self.folder_mode = 0o777 & ~mask

    @classmethod
    def open(cls, root: Path) -> _SameAsBefore | None:
        try:
            return cls(os.open(root, _DIRECTORY))
        except OSError:  # no output folder yet (or not one that can be read): nothing to compare
            return None

    def close(self) -> None:
        for fd in self.folders.values():
            if fd is not None:
                os.close(fd)
        self.folders = {}

    def _folder(self, rel: str) -> int | None:
        if rel in self.folders:
            return self.folders[rel]
        parent, _, name = rel.rpartition("/")
        parent_fd = self._folder(parent)
        fd = None
        if parent_fd is not None:
            try:
                fd = os.open(name, _DIRECTORY, dir_fd=parent_fd)
            except OSError:  # missing, a link (ELOOP), a file (ENOTDIR): not the folder a build makes
                fd = None
        if fd is not None and not self._as_built(os.fstat(fd), self.folder_mode):
            os.close(fd)
            fd = None
        self.folders[rel] = fd
        return fd

    def _as_built(self, info: os.stat_result, mode: int) -> bool:
        """Whether permissions and owner are what writing it anew would give."""
        return stat.S_IMODE(info.st_mode) == mode and (self.uid is None or info.st_uid == self.uid)

    def _open(self, name: str) -> tuple[int, os.stat_result] | None:
        """A descriptor of the regular file at `name`, or None (absent, a link, not a regular file)."""
        parent, _, leaf = name.rpartition("/")
        fd = self._folder(parent)
        if fd is None:
            return None
        try:
            if not stat.S_ISREG(os.stat(leaf, dir_fd=fd, follow_symlinks=False).st_mode):
                return None  # a FIFO or device is never opened
            file_fd = os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0),
                              dir_fd=fd)
        except OSError:
            return None
        info = os.fstat(file_fd)
        if not stat.S_ISREG(info.st_mode):  # replaced between the two calls
            os.close(file_fd)
            return None
        return file_fd, info

    def read(self, name: str) -> bytes | None:
        opened = self._open(name)
        if opened is None:
            return None
        fd, _ = opened
        try:
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return handle.read()
        finally:
            os.close(fd)

    def read_pieces(self, name: str) -> Pieces | None:
        """The file at `name` as `Pieces` (read when iterated; a file gone meanwhile: no pieces)."""
        opened = self._open(name)
        if opened is None:
            return None
        fd, info = opened
        os.close(fd)

        def pieces() -> Iterator[bytes]:
            again = self._open(name)
            if again is None:
                return
            with os.fdopen(again[0], "rb") as handle:
                while piece := handle.read(_PIECE):
                    yield piece

        return Pieces(info.st_size, pieces)

    @staticmethod
    def copy_checked(staging: Path, name: str, data: Pieces, digest: bytes) -> bool:
        """Stage `data` as `name`, if its SHA-256 (taken as it is copied) is `digest`."""
        hashed = hashlib.sha256()
        size = 0

        def hashing() -> Iterator[bytes]:
            nonlocal size
            for piece in data:
                hashed.update(piece)
                size += len(piece)
                yield piece

        stage_file(staging, name, Pieces(data.size, hashing))
        return size == data.size and hashed.digest() == digest

    def compare(self, name: str, data: FileData) -> bool:
        """Whether the folder holds `data` at `name`, as a rewrite would leave it."""
        opened = self._open(name)
        if opened is None:
            return False
        fd, info = opened
        try:
            if info.st_size != len(data) or not self._as_built(info, self.file_mode):
                return False
            with os.fdopen(fd, "rb", closefd=False) as handle:
                if not _read_pieces(handle, data):
                    return False
        except OSError:  # unreadable: the normal write replaces it
            return False
        finally:
            os.close(fd)
        self.equal[name] = _sha256(data)
        self.identity[name] = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        return True

    def holds_exactly(self, outputs: set[str], manifest: bytes) -> bool:
        """Whether the folder is what committing this build would make of it: every output
        compared equal and not touched since, `.sla-outputs` the same bytes, and nothing else
        that a commit would drop (a stale output, another folder, an older temporary)."""
        try:
            return self._holds_exactly(outputs, manifest)
        except OSError:  # a folder that cannot be listed: the normal write decides
            return False

    def _holds_exactly(self, outputs: set[str], manifest: bytes) -> bool:
        if set(self.equal) != outputs or self.read(MANIFEST) != manifest:
            return False
        needed = {""}
        for name in outputs:
            parts = name.split("/")[:-1]
            needed.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        found = 0
        stack = [""]
        while stack:
            rel = stack.pop()
            fd = self._folder(rel)
            if fd is None:
                return False
            with os.scandir(fd) as entries:
                listing = list(entries)
            for entry in listing:
                name = f"{rel}/{entry.name}" if rel else entry.name
                if entry.name.startswith("."):
                    if _OLD_TEMPORARY.fullmatch(entry.name):
                        return False  # a commit removes it
                    continue  # hidden entries (and the record, compared above) are kept as they are
                if entry.name in WRITTEN_BESIDE_OUTPUTS and name not in outputs:
                    continue
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    if name not in needed:
                        return False  # a folder a commit would not make
                    stack.append(name)
                elif name not in outputs or self.identity[name] != (
                        info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns):
                    return False  # stale, or changed since it was compared
                else:
                    found += 1
        return found == len(outputs)


def _keep(source: Path, destination: Path) -> None:
    """Carry a hidden entry into the new folder without opening it (hard links; a copy for
    a regular file that cannot be linked; folders are rebuilt with the same permissions)."""
    os.makedirs(destination.parent, 0o777, exist_ok=True)
    info = os.lstat(source)
    if stat.S_ISDIR(info.st_mode):
        os.mkdir(destination, 0o700)
        with os.scandir(source) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                _keep(Path(entry.path), destination / entry.name)
        os.chmod(destination, stat.S_IMODE(info.st_mode))
        return
    try:
        os.link(source, destination, follow_symlinks=False)
        return
    except OSError as exc:
        failure = exc
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(source), destination)
    elif stat.S_ISFIFO(info.st_mode):
        os.mkfifo(destination, stat.S_IMODE(info.st_mode))
    elif stat.S_ISREG(info.st_mode):
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            with os.fdopen(fd, "rb", closefd=False) as handle:
                stage_file(destination.parent, destination.name, handle.read())
        finally:
            os.close(fd)
        os.chmod(destination, stat.S_IMODE(info.st_mode))
    else:
        raise failure


def _manifest_bytes(names: Iterable[str]) -> bytes:
    document = {"format": MANIFEST_FORMAT, "files": sorted(names),
                "note": "written by sla build: the files it owns in this folder"}
    return (json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


def _read_manifest(root: Path) -> set[str] | None:
    """The files the previous build wrote, or None when it left no (readable) record."""
    try:
        fd = os.open(root / MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            document = json.loads(handle.read(8 << 20).decode("utf-8"))
        files = document.get("files") if isinstance(document, dict) else None
        if document.get("format") != MANIFEST_FORMAT or not isinstance(files, list):
            return None
        return {f for f in files if isinstance(f, str)}
    except (OSError, ValueError, AttributeError):
        return None
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_RENAME_EXCHANGE = 2
_libc = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2). False where the system cannot."""
    global _libc
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    import ctypes

    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_cwd = -100
    if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the file system cannot: fall back to two renames
    raise OSError(code, os.strerror(code), str(b))


def _remove_tree(path: Path) -> None:
    """Delete a tree sla made (a staging folder, an old output folder). Links are removed,
    not followed; read-only folders are made writable first (files are left as they are:
    some are hard links to the hidden files the new folder keeps). Failures are ignored:
    the next build removes what is left."""
    import shutil

    try:
        if not os.path.isdir(path) or os.path.islink(path):
            if os.path.lexists(path):
                os.unlink(path)
            return
        os.chmod(path, 0o700)
        for folder, dirs, _files in os.walk(path):  # a read-only folder cannot be emptied
            for d in dirs:
                full = os.path.join(folder, d)
                if not os.path.islink(full):
                    try:
                        os.chmod(full, 0o700)
                    except OSError:
                        pass
        shutil.rmtree(path, ignore_errors=True)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# single files and files added to a folder that holds other things


def write_files(root: Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write `files` (relative POSIX path → bytes) under `root`: every file is written beside
    its destination first, and only when all are on disk are they renamed into place. Refuses
    (nothing written) a destination reached through a symbolic link leading out of `root`."""
    root = Path(root)
    os.makedirs(root, 0o777, exist_ok=True)
    real_root = Path(os.path.realpath(root))
    plan: list[tuple[Path, bytes]] = []
    for name in sorted(files):
        destination = _inside(real_root, root, check_relative(name))
        plan.append((destination, files[name]))
    return _write_all(plan)


def write_file(path: Path, data: bytes) -> None:
    """Replace the one file the user named (a link there is followed; a device or FIFO is
    written to rather than replaced)."""
    path = Path(path)
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if not target.exists():
            raise OutputError(f"refusing to write {path}: it is a symbolic link to nothing")
        path = target
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}") from exc
    if info is not None and not stat.S_ISREG(info.st_mode):
        if stat.S_ISDIR(info.st_mode):
            raise OutputError(f"cannot write {path}: it is a folder")
        try:  # /dev/null, /dev/stdout, a FIFO: renaming over it would replace the device
            with open(path, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {_reason(exc)}") from exc
        return
    _write_all([(path, data)])


def _inside(real_root: Path, root: Path, relative: PurePosixPath) -> Path:
    """The destination of `relative` under `root`: links inside `root` are followed as long
    as they stay inside it; one that leads out of it (or nowhere) is refused."""
    current = real_root
    for i, part in enumerate(relative.parts):
        candidate = current / part
        if os.path.islink(candidate):
            target = Path(os.path.realpath(candidate))
            shown = (root / PurePosixPath(*relative.parts[: i + 1])).as_posix()
            if not os.path.exists(target):
                raise OutputError(f"refusing to write {shown}: it is a symbolic link to nothing")
            if target != real_root and real_root not in target.parents:
                raise OutputError(f"refusing to write {shown}: it is a symbolic link out of {root.as_posix()}")
            candidate = target
        current = candidate
    return current


def _write_all(plan: list[tuple[Path, bytes]]) -> list[Path]:
    staged: list[tuple[str, Path]] = []
    default_mode = _file_mode()
    try:
        for destination, data in plan:
            try:
                info = os.lstat(destination)
            except FileNotFoundError:
                info = None
            if info is not None and not stat.S_ISREG(info.st_mode):
                kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
                raise OutputError(f"cannot write {destination}: it is {kind}")
            mode = stat.S_IMODE(info.st_mode) if info is not None else default_mode
            os.makedirs(destination.parent, 0o777, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{destination.name[:100]}.", suffix=".tmp", dir=destination.parent)
            staged.append((temp, destination))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(temp, mode)
        for temp, destination in staged:
            os.replace(temp, destination)
    except (OSError, OutputError) as exc:
        for temp, _ in staged:
            try:
                os.unlink(temp)
            except OSError:
                pass
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write {exc.filename or plan[0][0]}: {_reason(exc)}") from exc
    return [destination for _, destination in staged]


# ---------------------------------------------------------------------------------------------
# sla build --check


@dataclass(frozen=True)
class Drift:
    stale: tuple[str, ...]  # differs from what would be generated (hand-edited or out of date)
    missing: tuple[str, ...]  # would be generated but is not there
    extra: tuple[str, ...]  # there, but no longer generated

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def _walk(root: Path) -> dict[str, int]:
    """Every entry under `root` that is not hidden (relative path → st_mode), links not followed."""
    found: dict[str, int] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(root / rel if rel else root) as entries:
                listing = list(entries)
        except OSError:
            continue
        for entry in listing:
            if entry.name.startswith("."):
                continue
            name = f"{rel}/{entry.name}" if rel else entry.name
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            found[name] = mode
            if stat.S_ISDIR(mode):
                stack.append(name)
    return found


class DriftCheck:
    """`compare_files` one file at a time, as a build makes them (nothing is kept but names)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.present = _walk(self.root) if self.root.is_dir() else {}
        self.seen: set[str] = set()
        self.stale: list[str] = []
        self.missing: list[str] = []

    def add(self, name: str, data: FileData) -> None:
        check_relative(name)
        self.seen.add(name)
        mode = self.present.get(name)
        if mode is None:
            self.missing.append(name)
        elif not stat.S_ISREG(mode) or not _holds(self.root / name, data):
            self.stale.append(name)

    def finish(self) -> Drift:
        extra = sorted(name for name, mode in self.present.items() if not stat.S_ISDIR(mode)
                       and name not in self.seen and PurePosixPath(name).name not in WRITTEN_BESIDE_OUTPUTS)
        return Drift(tuple(sorted(self.stale)), tuple(sorted(self.missing)), tuple(extra))


def compare_files(root: Path, files: Mapping[str, FileData]) -> Drift:
    """Compare what would be written with what is in `root` (for `sla build --check`).

    Only regular files count as present; a link, FIFO or device at an output's path is
    stale (a build replaces it), and none is opened."""
    check = DriftCheck(root)
    for name in sorted(files):
        check.add(name, files[name])
    return check.finish()


def _holds(path: Path, data: FileData) -> bool:
    """Whether the regular file at `path` (no link followed, nothing else opened) is `data`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return False
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return _read_pieces(handle, data)
    except OSError:
        return False
    finally:
        os.close(fd)

