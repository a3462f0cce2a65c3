"""Version discipline: the `version` an agreement must take after a change, like
cargo-semver-checks for APIs.

- **major** when any obligation owed to another party gets looser (or is removed, or changes in
  a way that cannot be told): a party loses something it signed for;
- **minor** when obligations only get stricter or are added — a party takes on more, nothing is
  taken from anyone — or only obligations internal to one party (an SLO, a move between two
  of its own stages) get looser;
- **patch** for changes to the document that touch no obligation (wording, labels, HubSpot
  names, channels …);
- **none** when nothing changed (reordering declarations changes the fingerprint, not the version).

Versions are compared as dot-separated numbers (`1`, `1.2`, `3.2.0`, with an optional leading
`v`); any other text can only be checked for having changed at all.
"""

from __future__ import annotations

import re

from .model import LOOSER, UNCLEAR, PolicyChanges, VersionCheck

LEVELS = ("none", "patch", "minor", "major")
_NUMBERED = re.compile(r"^(v?)(\d+(?:\.\d+){0,2})$")


def required_level(changes: PolicyChanges) -> str:
    if not changes.changes:
        return "none"
    duties = [duty for change in changes.changes for duty in change.duties]
    if any(d.direction in (LOOSER, UNCLEAR) and set(d.beneficiaries) - {d.obligor} for d in duties):
        return "major"
    if duties:
        return "minor"
    return "patch"


def _numbers(version: str | None) -> tuple[str, list[int]] | None:
    match = _NUMBERED.match(version.strip()) if version else None
    if match is None:
        return None
    return match.group(1), [int(n) for n in match.group(2).split(".")]


def next_version(version: str | None, level: str) -> str | None:
    """`1.4.2` + minor → `1.5.0`; `1.4` + major → `2.0`; keeps the number of parts and a `v`."""
    parsed = _numbers(version)
    if parsed is None or level == "none":
        return None
    prefix, parts = parsed
    index = {"major": 0, "minor": 1, "patch": 2}[level]
    width = max(len(parts), index + 1)
    parts = parts + [0] * (width - len(parts))
    parts[index] += 1
    parts[index + 1:] = [0] * (width - index - 1)
    return prefix + ".".join(str(p) for p in parts)


def bump_level(old: str | None, new: str | None) -> str | None:
    """The level by which `new` moves past `old`: major|minor|patch, none (same), lower, or None."""
    if old == new:
        return "none"
    a, b = _numbers(old), _numbers(new)
    if a is None or b is None:
        return None
    x, y = a[1] + [0] * (3 - len(a[1])), b[1] + [0] * (3 - len(b[1]))
    if y <= x:
        return "none" if y == x else "lower"
    first = next(i for i in range(3) if x[i] != y[i])
    return ("major", "minor", "patch")[first]


def propose_version(changes: PolicyChanges, old: str | None, new: str | None) -> VersionCheck:
    level = required_level(changes) if changes.status == "modified" else "none"
    bumped = bump_level(old, new)
    if level == "none":
        ok = True
    elif bumped is None:
        ok = old != new  # text versions: changed is all that can be asked
    else:
        ok = bumped in LEVELS and LEVELS.index(bumped) >= LEVELS.index(level)
    return VersionCheck(level, old, new, next_version(old, level), bumped, ok)
