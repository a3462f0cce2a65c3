"""Reading the two sides of a diff: files, `REV:path` from git, and policies changed since a revision."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..diagnostics import Diagnostic, Severity, define_rule, Message
from ..source import Span, display_path

MAX_SIDE_BYTES = 64 * 1024 * 1024

UNREADABLE_REVISION = define_rule(
    "SLA882",
    "unreadable-revision",
    Severity.ERROR,
    "`sla diff` cannot read a git revision or a file at a revision.",
    explanation="`sla diff OLD NEW` reads `REV:path` with `git show`, and `sla diff --base REV` "
    "asks git which policies changed since REV. The revision must exist in the local clone (in CI, "
    "fetch the base branch: actions/checkout with `fetch-depth: 0`) and the path is relative to "
    "the repository root (write `REV:./path` for a path relative to the current folder).",
    bad="$ sla diff main:policy/acme.sla policies/acme.sla    # no folder `policy` at main",
    good="$ sla diff main:policies/acme.sla policies/acme.sla",
)
UNCOMPARABLE_POLICY = define_rule(
    "SLA883",
    "uncomparable-policy",
    Severity.ERROR,
    "One side of `sla diff` has syntax errors, so its meaning cannot be compared.",
    explanation="`sla diff` compares what two versions of a policy mean, which needs both to "
    "parse. The syntax errors are listed above this diagnostic; `sla check` shows them too.",
    bad='stage mql "MQL" {\n  respond within 24 hours\n}',
    good='stage mql "MQL" {\n  respond within 24h\n}',
)


VERSION_NOT_BUMPED = define_rule(
    "SLA884",
    "version-not-bumped",
    Severity.ERROR,
    "A change to the agreement's obligations keeps the old `version` (or bumps it too little).",
    explanation="Each party signs a version of the agreement. `sla diff` works out the version a change "
    "calls for, as cargo-semver-checks does for APIs: **major** when an obligation gets looser, is removed "
    "or changes in a way that cannot be told (a party loses something it signed for); **minor** when "
    "obligations only get stricter or are added; **patch** when no obligation changes. With "
    "`--approved-by` (the CI gate) a version that does not move that far is an error; the report always "
    "shows the proposed version.",
    bad='# follow-ups cut from 5 to 3, and\nagreement "SLA" {\n  version "1.2.0"    # unchanged\n}',
    good='agreement "SLA" {\n  version "2.0.0"\n}',
)


@dataclass(frozen=True)
class Side:
    """One side of a comparison: what to call it and its bytes (None: it does not exist)."""

    name: str
    data: bytes | None


@dataclass(frozen=True)
class ChangedPolicy:
    status: str  # added | deleted | modified | renamed
    old: Side
    new: Side


class RevisionError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _git(args: list[str], cwd: Path | None = None) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError as exc:
        raise RevisionError(_error(Message('cannot run git: {value}', value=exc.strerror or exc), "git", help=Message('install git'))) from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        failed = Message("{error}", error=message[-1]) if message else Message("git {command} failed", command=" ".join(args))
        raise RevisionError(_error(failed, " ".join(args)))
    return done.stdout


def _error(message: str, where: str, help: str | None = None) -> Diagnostic:
    return Diagnostic(UNREADABLE_REVISION, message, Span.point(where), help=help or
                      Message("check the revision (`git log --oneline REV`) and the path (`git ls-tree -r REV --name-only`)"))


def read_side(spec: str) -> Side:
    """A file path, or `REV:path` read from git. Raises RevisionError; missing files are SLA001."""
    path = Path(spec)
    if path.exists() or ":" not in spec:
        from ..source import UNREADABLE_FILE

        from ..source import TooLarge, read_limited

        try:
            # bounded for devices and endless streams; compiling applies the configured limit
            return Side(display_path(path), read_limited(path, MAX_SIDE_BYTES))
        except TooLarge as exc:
            raise RevisionError(Diagnostic(UNREADABLE_FILE, Message('cannot read {spec}: {describe}', spec=spec, describe=exc.describe()),
                                           Span.point(spec))) from exc
        except OSError as exc:
            raise RevisionError(Diagnostic(UNREADABLE_FILE, Message('cannot read {spec}: {value}', spec=spec, value=exc.strerror or exc),
                                           Span.point(spec))) from exc
    rev, _, name = spec.partition(":")
    if not rev or not name:
        raise RevisionError(_error(Message('`{spec}` is neither a file nor REV:path', spec=spec), spec))
    commit = resolve_commit(rev)
    return Side(spec, _git(["show", "--end-of-options", f"{commit}:{name}"]))


def resolve_commit(rev: str) -> str:
    """The commit a revision names, as a full hash; never lets `rev` reach git as an option.

    `sla diff -- --output=FILE:x` once had git write FILE: a revision that starts with `-`
    (or holds control characters) is refused before git sees it, and git is told where its
    options end. Everything later is given the hash, not the user's text.
    """
    if not rev or rev.startswith("-") or any(ord(ch) < 32 or ord(ch) == 127 for ch in rev):
        raise RevisionError(_error(Message('`{rev}` is not a revision', rev=rev), rev,
                                   help=Message('give a branch, tag or commit (a revision cannot start with `-`)')))
    try:
        out = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"])
    except RevisionError as exc:
        if exc.diagnostic.code == UNREADABLE_REVISION.code and "cannot run git" in exc.diagnostic.message:
            raise
        raise RevisionError(_error(Message('unknown revision `{rev}`: no such branch, tag or commit here', rev=rev), rev)) from None
    commit = out.decode("ascii", errors="replace").strip()
    if not commit or not all(ch in "0123456789abcdef" for ch in commit):
        raise RevisionError(_error(Message('`{rev}` is not a commit', rev=rev), rev))
    return commit


def changed_policies(base: str, paths: list[str], is_excluded) -> tuple[str, list[ChangedPolicy]]:
    """Policies (`*.sla`) under `paths` that differ between `base` and the working tree.

    The comparison starts at the merge base of `base` and HEAD — what a pull request shows —
    falling back to `base` itself when there is none (a shallow clone). Returns the commit used
    and the changes, added and deleted files included.
    """
    root = Path(_git(["rev-parse", "--show-toplevel"]).decode().strip())
    commit = resolve_commit(base)
    try:
        start = _git(["merge-base", commit, "HEAD"]).decode().strip()
    except RevisionError:
        start = commit
    specs = [_root_relative(p, root) for p in (paths or ["."])]
    listing = _git(["diff", "--name-status", "-z", "--find-renames", start, "--", *specs], cwd=root)
    untracked = _git(["ls-files", "--others", "--exclude-standard", "-z", "--", *specs], cwd=root)
    fields = [f.decode("utf-8", errors="surrogateescape") for f in listing.split(b"\0") if f]
    entries: list[tuple[str, str | None, str | None]] = []
    i = 0
    while i < len(fields):
        code = fields[i]
        if code.startswith(("R", "C")):
            old, new = fields[i + 1], fields[i + 2]
            entries.append(("renamed" if code.startswith("R") else "added", old if code.startswith("R") else None, new))
            i += 3
            continue
        name = fields[i + 1]
        status = {"A": "added", "D": "deleted"}.get(code[0], "modified")
        entries.append((status, None if status == "added" else name, None if status == "deleted" else name))
        i += 2
    for name in (f.decode("utf-8", errors="surrogateescape") for f in untracked.split(b"\0") if f):
        entries.append(("added", None, name))

    out: list[ChangedPolicy] = []
    for status, old, new in sorted(entries, key=lambda e: e[2] or e[1] or ""):
        names = [n for n in (old, new) if n]
        if not any(n.endswith(".sla") for n in names):
            continue
        shown_new = display_path(root / new) if new else None
        if any(is_excluded(Path(display_path(root / n))) for n in names):
            continue
        old_side = (Side(f"{start[:12]}:{old}", _git(["show", "--end-of-options", f"{start}:{old}"], cwd=root))
                    if old else Side("", None))
        if new:
            try:
                data = (root / new).read_bytes()
            except OSError:
                data = None
            new_side = Side(shown_new, data)
        else:
            new_side = Side("", None)
        out.append(ChangedPolicy(status, old_side, new_side))
    return start, out


def _root_relative(path: str, root: Path) -> str:
    absolute = (Path.cwd() / path).resolve()
    try:
        return PurePosixPath(absolute.relative_to(root.resolve()).as_posix()).as_posix() or "."
    except ValueError as exc:
        raise RevisionError(_error(Message('{path} is outside the git repository at {root}', path=path, root=root), path)) from exc
