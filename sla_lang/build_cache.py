"""The build cache: what building a policy produced, kept by what it was made from.

`sla build` looks a policy up here before compiling it. The key is the SHA-256 of
- the policy's bytes and the path it is shown as (diagnostics and the IR carry it);
- the sla that builds it: the digest of every file of the `sla_lang` package and of the
  grammar and templates it ships (so an upgrade or a local edit of the tool is a new key,
  not only a new version number);
- everything else a build reads: the targets, formats and language asked for, the date review
  deadlines are judged by, the `[tool.sla]` configuration in force, and, when a PDF is made,
  the version of the Typst compiler.
An entry holds the policy's report (its diagnostics and each target's) and every output file.
A hit replays that: the same messages, the same bytes — nothing is compiled or rendered.

Entries live in `$SLA_CACHE_DIR`, else `$XDG_CACHE_HOME/sla-lang`, else `~/.cache/sla-lang`
(folder mode 0700), under `build/`. Each entry is one file, written to a temporary name and
renamed into place, so a reader sees a whole entry or none and concurrent builds may share
the cache (two builds of the same policy write the same bytes). An entry is a format line,
the payload, and the SHA-256 of the payload (streamed to the file as it is written: an entry
of a large build is never held twice in memory); an entry that is short, altered or of
another format is ignored (and replaced by the next build of that policy). The folder can be deleted
at any time; `sla build --no-cache` neither reads nor writes it.

The entries are pickles: the cache is trusted as the user's own files are (it is private to
the user, like the sources it is made from), and checked only against corruption.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .compile import Compilation
from .diagnostics import Diagnostic

FORMAT = b"sla-build-cache/2\n"
_DIGEST_BYTES = 32  # the SHA-256 of the payload, after it


@dataclass
class TargetBuild:
    """One target's part of a policy's build: its raw diagnostics, whether it failed, its files."""

    name: str
    diagnostics: list[Diagnostic]
    failed: bool
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class PolicyBuild:
    """Everything `sla build` shows and writes for one policy (the IR is not kept)."""

    compilation: Compilation
    compiled: bool  # no errors: the targets were built
    targets: list[TargetBuild] = field(default_factory=list)


def default_location() -> Path:
    explicit = os.environ.get("SLA_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base and os.path.isabs(base) else Path.home() / ".cache") / "sla-lang"


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


class BuildCache:
    def __init__(self, location: Path | None = None) -> None:
        self.location = location if location is not None else default_location()
        self.folder = self.location / "build"

    def key(self, source: bytes, shown_as: str, settings: str) -> str:
        digest = hashlib.sha256(FORMAT)
        for part in (tool_digest().encode(), settings.encode("utf-8", "surrogateescape"),
                     shown_as.encode("utf-8", "surrogateescape"), source):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key[2:]

    def load(self, key: str) -> PolicyBuild | None:
        """The entry for `key`, or None when there is none or it is damaged."""
        try:
            with open(self._path(key), "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        head = len(FORMAT)
        if not data.startswith(FORMAT) or len(data) < head + _DIGEST_BYTES:
            return None
        payload = memoryview(data)[head:len(data) - _DIGEST_BYTES]
        if hashlib.sha256(payload).digest() != data[len(data) - _DIGEST_BYTES:]:
            return None
        try:
            stored_key, entry = pickle.loads(payload)
        except Exception:  # noqa: BLE001 - an entry of an older sla (classes changed, moved): unusable
            return None
        if stored_key != key or not isinstance(entry, PolicyBuild):
            return None
        return entry

    def store(self, key: str, entry: PolicyBuild) -> None:
        """Keep `entry` under `key`; a cache that cannot be written is not an error of the build."""
        path = self._path(key)
        try:
            self.location.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=f".{path.name[:16]}.", suffix=".tmp", dir=path.parent)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(FORMAT)
                digest = hashlib.sha256()
                pickle.dump((key, entry), _Digesting(handle, digest), protocol=pickle.HIGHEST_PROTOCOL)
                handle.write(digest.digest())
            os.replace(temporary, path)  # a reader sees the whole entry or none
        except (OSError, pickle.PicklingError):
            try:
                os.unlink(temporary)
            except OSError:
                pass


class _Digesting:
    """A file that hashes what is written to it."""

    def __init__(self, handle, digest) -> None:
        self.handle = handle
        self.digest = digest

    def write(self, data) -> int:
        self.digest.update(data)
        return self.handle.write(data)
