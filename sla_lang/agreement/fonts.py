"""The fonts of the PDF, chosen by file and never by locale.

fontconfig only lists the installed font files (`fc-list`, which honours FONTCONFIG_FILE and
the user's own font folders); sla then picks the files itself, by the family names written in
each file, in a fixed order of preference. Typst is given exactly these files and nothing
else, and embeds each under its PostScript name (`NotoSansCJKjp-Bold`), so the PDF bytes do
not depend on the locale, on fontconfig's matching rules or on other fonts that happen to be
installed. (WeasyPrint took the family from Pango, whose choice followed the locale: under
`LC_ALL=ja_JP.UTF-8` the embedded name became `IPAexゴシック` and the bytes changed.)

Japanese needs a family with a real bold face: Noto Sans CJK JP (Debian's `fonts-noto-cjk`)
comes first; IPAex Gothic, which has one weight, is the fallback.
"""

from __future__ import annotations

import bisect
import itertools
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

# Families in order of preference. The first family of a group that is installed is used.
LATIN = ("DejaVu Sans",)
MONO = ("DejaVu Sans Mono",)
JAPANESE = ("Noto Sans CJK JP", "Noto Sans JP", "Source Han Sans JP", "IPAexGothic", "IPAGothic")
FONT_PACKAGES = "`fonts-noto-cjk` (or `fonts-ipaexfont`)"

# fontconfig's weights of the faces a document uses (regular, medium, bold), upright and of
# normal width only (condensed faces share the family name of DejaVu Sans; the document uses no
# italics, and an italic face installed on one machine and not on another must not change it).
_WEIGHTS = {80, 100, 200}
_NORMAL_WIDTH = 100
_UPRIGHT = 0


@dataclass(frozen=True)
class Face:
    path: str  # the real path (symbolic links resolved)
    families: tuple[str, ...]  # every family name fontconfig read from the file, localized ones too
    weight: int
    slant: int
    charset: str  # fontconfig's code point ranges: "20-7e a0-17f …"

    def ranges(self) -> tuple[tuple[int, int], ...]:
        """The code points the face has glyphs for, as inclusive (first, last) pairs."""
        return _parse_charset(self.charset)


@cache
def _parse_charset(charset: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in charset.split():
        lo, _, hi = part.partition("-")
        out.append((int(lo, 16), int(hi or lo, 16)))
    return tuple(out)


@dataclass
class FontSet:
    """The faces the PDF may use and the Typst family lists that name them."""

    faces: list[Face] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    mono: list[str] = field(default_factory=list)
    japanese: str | None = None

    def missing(self, characters: set[str]) -> list[str]:
        """The characters (other than white space and controls) no face has a glyph for."""
        return _uncovered(self.faces, characters)

    def add_fallbacks(self, installed: list[Face], characters: set[str]) -> None:
        """For each character the chosen families lack, the installed family that has it
        (the first by file path), appended after the chosen ones: Typst falls back to it for
        those characters only."""
        for ch in self.missing(characters):
            if not _uncovered(self.faces, {ch}):
                continue  # a fallback added for an earlier character has it too
            face = next((f for f in sorted(installed, key=lambda f: f.path) if not _uncovered([f], {ch})), None)
            if face is None:
                continue
            family = face.families[0]
            self.faces.extend(f for f in installed if family in f.families and f not in self.faces)
            self.body.append(family)
            self.mono.append(family)

    def link_into(self, folder: Path) -> None:
        """Symbolic links to the chosen files in `folder` (Typst reads fonts from folders), named
        in a fixed order; a copy where links cannot be made."""
        folder.mkdir(parents=True, exist_ok=True)
        for n, path in enumerate(sorted({face.path for face in self.faces})):
            target = folder / f"{n:02d}-{Path(path).name}"
            try:
                os.symlink(path, target)
            except OSError:
                shutil.copyfile(path, target)


def _uncovered(faces: list[Face], characters: set[str]) -> list[str]:
    ranges = sorted(r for face in faces for r in face.ranges())
    starts = [lo for lo, _ in ranges]
    # the furthest code point covered by any range starting at or before each start
    reach = list(itertools.accumulate((hi for _, hi in ranges), max))
    out = []
    for ch in sorted(characters):
        if ch.isspace() or not ch.isprintable():
            continue
        i = bisect.bisect_right(starts, ord(ch)) - 1
        if i < 0 or reach[i] < ord(ch):
            out.append(ch)
    return out


def installed_faces() -> list[Face] | None:
    """Every face fontconfig lists, sorted by path; None when `fc-list` is not available."""
    return _installed_faces(os.environ.get("FONTCONFIG_FILE"), os.environ.get("FONTCONFIG_PATH"))


@cache
def _installed_faces(config_file: str | None, config_path: str | None) -> list[Face] | None:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    fmt = "%{file}\\t%{family}\\t%{weight}\\t%{slant}\\t%{width}\\t%{charset}\\n"
    try:
        out = subprocess.run([fc_list, "--format", fmt], capture_output=True, timeout=60, check=False,
                             env={**os.environ, "LC_ALL": "C", "LANG": "C"})
    except (OSError, subprocess.SubprocessError):
        return None
    faces: dict[tuple, Face] = {}
    for line in out.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if len(parts) != 6:
            continue
        path, families, weight, slant, width, charset = parts
        try:
            w, s, wd = int(float(weight)), int(float(slant)), int(float(width))
        except ValueError:
            continue
        if wd != _NORMAL_WIDTH or w not in _WEIGHTS or s != _UPRIGHT or not os.path.isfile(path):
            continue
        face = Face(os.path.realpath(path), tuple(f.strip() for f in families.split(",")), w, s, charset)
        # one face per file, family and style: the same file listed twice (through a link) once
        faces.setdefault((face.path, face.families[0], w, s), face)
    return sorted(faces.values(), key=lambda f: (f.path, f.families, f.weight, f.slant))


def choose_fonts(faces: list[Face]) -> FontSet:
    """The first installed family of each group of preferences, with all its faces."""
    chosen = FontSet()

    def first_of(preferences: tuple[str, ...]) -> str | None:
        for family in preferences:
            found = [f for f in faces if family in f.families]
            if found:
                chosen.faces.extend(f for f in found if f not in chosen.faces)
                return family
        return None

    latin = first_of(LATIN)
    mono = first_of(MONO)
    chosen.japanese = first_of(JAPANESE)
    chosen.body = [f for f in (latin, chosen.japanese) if f]
    chosen.mono = [f for f in (mono, chosen.japanese) if f]
    return chosen
