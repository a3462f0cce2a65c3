"""The build cache: what building a policy produced, kept by what it was made from.

`sla build` looks a policy up here before compiling it. The key is the SHA-256 of
- the policy's bytes and the path it is shown as (diagnostics and the IR carry it);
- the sla that builds it: the digest of every file of the `sla_lang` package and of the
  grammar and templates it ships (so an upgrade or a local edit of the tool is a new key,
  not only a new version number);
- everything else a build reads: the targets, formats and language asked for, the date review
  deadlines are judged by, the `[tool.sla]` configuration in force, and, when a PDF is made,
  the version of the Typst compiler and the fonts it may use (every face fontconfig lists that
  `agreement/fonts.py` could choose, with each file's size, mtime and inode: installing,
  removing or updating a font is a new key).
An entry holds the policy's report (its diagnostics and each target's) and every output file.
A hit replays that: the same messages, the same bytes — nothing is compiled or rendered.

An entry is streamed, in both directions: the build hands each file to the output folder and
to the entry being written as the target makes it (`PolicyReceiver`), and a hit hands the files
back one by one — a 10,000-stage HubSpot build (800 MB) is never held in memory by the cache.
An entry is a format line, a sequence of pickled records (the key; the compilation; each file;
each target's report; an end mark), and the SHA-256 of everything after the format line. A file
a target handed over in pieces (`output.Pieces`: scenarios.json, 500 MB at 10,000 stages) is a
record of its name and size followed by its bytes as they are, and is handed back in pieces. A hit
reads the entry twice through one descriptor: once to check the SHA-256, then to replay it; an
entry that is short, altered or of another format is ignored (and replaced by the next build of
that policy).

Entries live in `$SLA_CACHE_DIR`, else `$XDG_CACHE_HOME/sla-lang`, else `~/.cache/sla-lang`
(folder mode 0700), under `build/`. Each entry is one file, written to a temporary name and
renamed into place, so a reader sees a whole entry or none and concurrent builds may share
the cache (two builds of the same policy write the same bytes).

Size: the entries are kept under a limit (default 5 GiB, like ccache; `$SLA_CACHE_SIZE` or
`sla build --cache-size`, `0` for none). A hit marks its entry used (its mtime). After every
build that used the cache its folders are listed and, when they hold more than the limit, the
least recently used entries are deleted until the cache is at most 90 % of it; an entry larger
than the limit is not kept at all. Concurrent builds may trim at the same time: an entry
deleted under a reader is still read whole through its open descriptor (POSIX), one deleted
before it is opened is a miss (built again), a temporary being written is never deleted (only
one older than an hour: left by a killed build). The folder can be
deleted at any time; `sla build --no-cache` neither reads nor writes it.

The entries are pickles: the cache is trusted as the user's own files are (it is private to
the user, like the sources it is made from), and checked only against corruption.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path

from .compile import Compilation
from .diagnostics import Diagnostic
from .output import FileData, Pieces, as_bytes

FORMAT = b"sla-build-cache/3\n"
_DIGEST_BYTES = 32  # the SHA-256 of the records, after them
DEFAULT_SIZE = 5 << 30  # bytes, like ccache's default
_KEEP_FRACTION = 0.9  # a trim deletes down to this part of the limit, so not every build trims
_STALE_TEMPORARY = 3600  # seconds: a temporary entry older than this was left by a killed build
_CHUNK = 1 << 20


@dataclass
class TargetBuild:
    """One target's part of a policy's build: its raw diagnostics, whether it failed, its files
    (empty when the files were streamed: see PolicyReceiver)."""

    name: str
    diagnostics: list[Diagnostic]
    failed: bool
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class PolicyBuild:
    """Everything `sla build` shows and writes for one policy (the IR is not kept), in memory:
    what a `--jobs` worker sends back."""

    compilation: Compilation
    compiled: bool  # no errors: the targets were built
    targets: list[TargetBuild] = field(default_factory=list)

    def replay(self, receiver: PolicyReceiver) -> None:
        receiver.compiled(self.compilation, self.compiled)
        for target in self.targets:
            for name, data in target.files.items():
                receiver.file(target.name, name, data)
            receiver.target(TargetBuild(target.name, target.diagnostics, target.failed))


class PolicyReceiver:
    """What a policy's build produces, in order: `compiled` once (the compilation without its IR),
    then for each target its files (`file`, as they are made) and its report (`target`, whose
    `files` is empty). A target that failed may have handed over files first: they are not
    outputs. Subclasses take what they need; the base ignores everything."""

    def compiled(self, compilation: Compilation, compiled: bool) -> None:
        pass

    def file(self, target: str, name: str, data: bytes) -> None:
        pass

    def target(self, built: TargetBuild) -> None:
        pass


class Collecting(PolicyReceiver):
    """A PolicyBuild in memory (a `--jobs` worker's result; `BuildCache.load`)."""

    def __init__(self) -> None:
        self.build: PolicyBuild | None = None
        self._files: dict[str, bytes] = {}

    def compiled(self, compilation: Compilation, compiled: bool) -> None:
        self.build = PolicyBuild(compilation, compiled)

    def file(self, target: str, name: str, data: FileData) -> None:
        self._files[name] = as_bytes(data)  # kept after the call: `Pieces` are not

    def target(self, built: TargetBuild) -> None:
        files, self._files = self._files, {}
        self.build.targets.append(TargetBuild(built.name, built.diagnostics, built.failed,
                                              {} if built.failed else files))


class Both(PolicyReceiver):
    """Hands everything to two receivers (the build's display and output, and the cache)."""

    def __init__(self, first: PolicyReceiver, second: PolicyReceiver) -> None:
        self.first, self.second = first, second

    def compiled(self, compilation: Compilation, compiled: bool) -> None:
        self.first.compiled(compilation, compiled)
        self.second.compiled(compilation, compiled)

    def file(self, target: str, name: str, data: bytes) -> None:
        self.first.file(target, name, data)
        self.second.file(target, name, data)

    def target(self, built: TargetBuild) -> None:
        self.first.target(built)
        self.second.target(built)


def default_location() -> Path:
    explicit = os.environ.get("SLA_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base and os.path.isabs(base) else Path.home() / ".cache") / "sla-lang"


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """`5G`, `500M`, `64K`, `1048576` (binary units; an optional trailing `B`/`iB`) → bytes; `0`:
    no limit. Raises ValueError."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:] in _UNITS else ""
    number = value[: len(value) - len(unit)].strip()
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a size (such as 5G, 500M or 0 for no limit)") from None
    if not amount >= 0 or amount == float("inf"):
        raise ValueError(f"{text!r} is not a size (such as 5G, 500M or 0 for no limit)")
    return int(amount * _UNITS[unit])


def default_size() -> int:
    """The limit from `$SLA_CACHE_SIZE`, else DEFAULT_SIZE (ValueError when the variable is bad)."""
    text = os.environ.get("SLA_CACHE_SIZE", "").strip()
    return parse_size(text) if text else DEFAULT_SIZE


@lru_cache(maxsize=1)
def tool_digest() -> str:
    """The SHA-256 of the files the sla running now is made of (package, grammar, templates)."""
    from .resources import data_root

    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    # (in an installed wheel the grammar and templates are inside the package, under _data/)
    for base in dict.fromkeys((package, data_root() / "grammar", data_root() / "targets")):
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in sorted(files):
                if name.endswith((".pyc", ".pyo")):
                    continue
                path = Path(folder, name)
                digest.update(path.relative_to(base).as_posix().encode("utf-8", "surrogateescape") + b"\0")
                try:
                    digest.update(hashlib.sha256(path.read_bytes()).digest())
                except OSError:
                    digest.update(b"unreadable")
    return digest.hexdigest()


def typst_version() -> str:
    """The version of the Typst compiler the PDF would be typeset with ("" when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("typst")
    except PackageNotFoundError:
        return ""


def fonts_digest() -> str:
    """The SHA-256 of the fonts a PDF may be typeset with: every face fontconfig lists that the
    PDF could use (agreement/fonts.py picks among them, by the characters of the policy), with
    its file's size, mtime and inode. "none" when fontconfig is not installed."""
    from .agreement.fonts import installed_faces

    faces = installed_faces()
    if faces is None:
        return "none"
    digest = hashlib.sha256()
    for face in faces:
        try:
            info = os.stat(face.path)
            stamp = f"{info.st_size} {info.st_mtime_ns} {info.st_ino}"
        except OSError:
            stamp = "missing"
        digest.update(repr((face.path, face.families, face.weight, face.slant, face.charset, stamp)).encode(
            "utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()


class BuildCache:
    def __init__(self, location: Path | None = None, size: int | None = None) -> None:
        self.location = location if location is not None else default_location()
        self.folder = self.location / "build"
        self.size = DEFAULT_SIZE if size is None else size  # bytes; 0: no limit

    def key(self, source: bytes, shown_as: str, settings: str) -> str:
        digest = hashlib.sha256(FORMAT)
        for part in (tool_digest().encode(), settings.encode("utf-8", "surrogateescape"),
                     shown_as.encode("utf-8", "surrogateescape"), source):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key[2:]

    def open(self, key: str) -> CachedBuild | None:
        """The entry for `key`, checked whole, ready to replay; None when there is none or it is
        damaged. Marks the entry as used (for the size limit)."""
        try:
            fd = os.open(self._path(key), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        handle = os.fdopen(fd, "rb", buffering=_CHUNK)
        try:
            entry = CachedBuild.check(handle, key)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError):
            entry = None
        except Exception:  # noqa: BLE001 - an entry of an older sla (classes changed, moved): unusable
            entry = None
        if entry is None:
            handle.close()
            return None
        try:
            os.utime(fd)  # used now: the last to be evicted
        except OSError:
            pass
        return entry

    def load(self, key: str) -> PolicyBuild | None:
        """The entry for `key` in memory (small entries, tests), or None."""
        entry = self.open(key)
        if entry is None:
            return None
        collected = Collecting()
        try:
            entry.replay(collected)
        finally:
            entry.close()
        return collected.build

    def writer(self, key: str) -> EntryWriter:
        """A receiver writing the entry for `key` as the build goes (`finish()` keeps it)."""
        return EntryWriter(self, key)

    def store(self, key: str, entry: PolicyBuild) -> None:
        """Keep a build made in memory (a `--jobs` worker's) under `key`."""
        writer = self.writer(key)
        try:
            entry.replay(writer)
        except BaseException:
            writer.abandon()
            raise
        writer.finish()

    def trim(self) -> None:
        """Delete the least recently used entries until the cache is at most 90 % of its limit
        (and temporaries left by killed builds). Never fails a build."""
        if self.size <= 0:
            return
        found: list[tuple[int, int, str]] = []  # (last use, size, path)
        total = 0
        now = time.time()
        try:
            folders = os.listdir(self.folder)
        except OSError:
            return
        for name in folders:
            try:
                with os.scandir(self.folder / name) as entries:
                    listing = list(entries)
            except OSError:
                continue
            for entry in listing:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if not stat.S_ISREG(info.st_mode):
                    continue
                if entry.name.startswith("."):  # an entry being written (or left by a killed build)
                    if now - info.st_mtime > _STALE_TEMPORARY:
                        _unlink(entry.path)
                    else:
                        total += info.st_size
                    continue
                total += info.st_size
                found.append((info.st_mtime_ns, info.st_size, entry.path))
        if total <= self.size:
            return
        goal = self.size * _KEEP_FRACTION
        for _, size, path in sorted(found):
            if total <= goal:
                break
            if _unlink(path):
                total -= size


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return True  # another build trimmed it
    except OSError:
        return False


_END = ("end",)


class CachedBuild:
    """An entry whose SHA-256 was checked, open at its first record after the key."""

    def __init__(self, handle) -> None:
        self.handle = handle

    @classmethod
    def check(cls, handle, key: str) -> CachedBuild | None:
        size = os.fstat(handle.fileno()).st_size
        head = len(FORMAT)
        if size < head + _DIGEST_BYTES or handle.read(head) != FORMAT:
            return None
        digest = hashlib.sha256()
        left = size - head - _DIGEST_BYTES
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        while left > 0:
            n = handle.readinto(view[: min(left, _CHUNK)])
            if not n:
                return None
            digest.update(view[:n])
            left -= n
        if handle.read(_DIGEST_BYTES + 1) != digest.digest():
            return None
        handle.seek(head)
        if pickle.load(handle) != key:
            return None
        return cls(handle)

    def replay(self, receiver: PolicyReceiver) -> None:
        """Hand the recorded build to `receiver`, file by file, as the build did."""
        while True:
            record = pickle.load(self.handle)
            kind = record[0]
            if kind == "file":
                receiver.file(record[1], record[2], record[3])
            elif kind == "pieces":  # the file's bytes follow the record as they are
                start, size = self.handle.tell(), record[3]
                receiver.file(record[1], record[2], Pieces(size, partial(self._read, start, size)))
                self.handle.seek(start + size)
            elif kind == "target":
                receiver.target(record[1])
            elif kind == "compiled":
                receiver.compiled(record[1], record[2])
            elif record == _END:
                return
            else:
                raise ValueError(f"unknown record in a build cache entry: {kind!r}")

    def _read(self, start: int, size: int) -> Iterator[bytes]:
        self.handle.seek(start)
        while size > 0:
            piece = self.handle.read(min(size, _CHUNK))
            if not piece:
                raise EOFError("a build cache entry ends inside a file")
            size -= len(piece)
            yield piece

    def close(self) -> None:
        self.handle.close()


class EntryWriter(PolicyReceiver):
    """Writes an entry while the policy is built: to a temporary file, renamed into place by
    `finish()`; a cache that cannot be written (or an entry over the size limit) is dropped
    without failing the build."""

    def __init__(self, cache: BuildCache, key: str) -> None:
        self.cache = cache
        self.key = key
        self.path = cache._path(key)
        self.temporary: str | None = None
        self.handle = None
        self.written = 0
        self.digest = hashlib.sha256()
        try:
            cache.location.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, self.temporary = tempfile.mkstemp(prefix=f".{self.path.name[:16]}.", suffix=".tmp",
                                                  dir=self.path.parent)
            self.handle = os.fdopen(fd, "wb", buffering=_CHUNK)
            self.handle.write(FORMAT)
            self._record(key)
        except OSError:
            self.abandon()

    def _record(self, record: object) -> None:
        if self.handle is None:
            return
        try:  # (large bytes go to the file as they are: pickle does not copy them into a frame)
            pickle.dump(record, self, protocol=pickle.HIGHEST_PROTOCOL)
        except (OSError, pickle.PicklingError):
            self.abandon()

    def write(self, data) -> int:
        """For pickle: count, hash and write."""
        self.written += len(data)
        if self.cache.size and self.written > self.cache.size:
            raise OSError("the entry is larger than the whole cache may be")
        self.digest.update(data)
        return self.handle.write(data)

    def compiled(self, compilation: Compilation, compiled: bool) -> None:
        self._record(("compiled", compilation, compiled))  # (without its IR: see build_policy)

    def file(self, target: str, name: str, data: FileData) -> None:
        if not isinstance(data, Pieces):
            self._record(("file", target, name, data))
            return
        self._record(("pieces", target, name, len(data)))  # then the bytes, never held whole
        try:
            for piece in data:
                if self.handle is None:
                    return
                self.write(piece)
        except OSError:
            self.abandon()

    def target(self, built: TargetBuild) -> None:
        self._record(("target", TargetBuild(built.name, built.diagnostics, built.failed)))

    def finish(self) -> None:
        self._record(_END)
        if self.handle is None:
            return
        try:
            self.handle.write(self.digest.digest())
            self.handle.close()
            self.handle = None
            os.replace(self.temporary, self.path)  # a reader sees the whole entry or none
            self.temporary = None
        except OSError:
            self.abandon()

    def abandon(self) -> None:
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError:
                pass
            self.handle = None
        if self.temporary is not None:
            _unlink(self.temporary)
            self.temporary = None
