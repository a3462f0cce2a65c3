"""Policy text inside the document: made visible, then escaped for each format.

Two steps, in this order:
1. `visible()` (all formats, while the document data is prepared): characters that are
   invisible but change what a reader sees — direction marks, bidirectional controls, other
   control characters — become their code, `[U+200F]`; line breaks and tabs inside a text
   become spaces. A signed agreement shows exactly what the policy says.
2. The format's escaping: HTML and SVG by jinja2's autoescape; Markdown by `markdown()` (applied
   to every `{{ … }}` of the Markdown templates by the environment's finalize hook); Typst
   markup (the PDF) likewise by `typst_markup()`; Mermaid labels by `mermaid()`.
"""

from __future__ import annotations

import re
import unicodedata

from ..source import BIDI_CONTROLS

# Invisible characters that reorder or hide text. Tabs and line breaks are handled apart.
_DIRECTION_MARKS = {"\u200e", "\u200f", "\u061c"}
_INVISIBLE = frozenset(BIDI_CONTROLS) | _DIRECTION_MARKS | {"\u2028", "\u2029", "\u00ad"}
_WHITESPACE_CONTROLS = {"\n": " ", "\r": " ", "\t": " "}


def is_invisible(ch: str) -> bool:
    if ch in _WHITESPACE_CONTROLS:
        return False
    return ch in _INVISIBLE or unicodedata.category(ch) == "Cc"


def invisible_characters(text: str) -> list[str]:
    """The invisible characters of `text`, in order of appearance, without repeats."""
    return list(dict.fromkeys(ch for ch in text if is_invisible(ch)))


def visible(text: str) -> str:
    if text.isprintable():  # fast path: nothing to do for ordinary text
        return text
    out = []
    for ch in text:
        if ch in _WHITESPACE_CONTROLS:
            out.append(" ")
        elif is_invisible(ch):
            out.append(f"[U+{ord(ch):04X}]")
        else:
            out.append(ch)
    return "".join(out)


# ------------------------------------------------------------------ Markdown

# Characters that are markup anywhere in a line (GitHub-flavoured Markdown, including `$` math
# and `~` strikethrough). Backslash escapes of ASCII punctuation are literal in CommonMark.
_MD_INLINE = re.compile(r"([\\`*\[\]<>|~$])")
# `_` cannot open or close emphasis between two letters or digits (snake_case stays readable).
_MD_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_MD_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# Markup only at the start of a line: headings, quotes, lists, thematic breaks, setext lines.
_MD_BLOCK_START = re.compile(r"(?:>|#(?=[#\s]|$)|[-+=](?=[-+=\s]|$)|\d{1,9}(?=[.)](?:\s|$)))")


def markdown(text: object) -> str:
    """Plain text → Markdown that renders as exactly that text (inline or as a paragraph)."""
    s = str(text)
    s = _MD_INLINE.sub(r"\\\1", s)
    s = _MD_UNDERSCORE.sub(r"\\_", s)
    s = _MD_ENTITY.sub(r"\\&", s)
    indent = len(s) - len(s.lstrip(" "))
    match = _MD_BLOCK_START.match(s, indent)
    if match:
        cut = match.end() if match.group(0).isdigit() else indent
        s = s[:cut] + "\\" + s[cut:]
    return s


def code_span(text: str) -> str:
    """A Markdown code span that holds `text` literally, whatever backticks it contains."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# ------------------------------------------------------------------ Mermaid


def mermaid(text: str) -> str:
    """Text for a quoted Mermaid label (`["…"]`): every ASCII sign becomes an entity code.

    Mermaid reads `#35;` as `#`; letters, digits, spaces and non-ASCII characters (Japanese)
    stay as they are, so nothing in a label can close the quote, the node, the diagram or the
    Markdown fence around it.
    """
    out = []
    for ch in text:
        if ch == " " or ch.isalnum() or (ord(ch) > 127 and ch.isprintable()):
            out.append(ch)
        else:
            out.append(f"#{ord(ch)};")
    return "".join(out)


# ------------------------------------------------------------------ Typst (the PDF)

_TYPST_SIGNS = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def typst_markup(text: object) -> str:
    """Plain text → Typst markup that typesets as exactly that text.

    Every ASCII sign is escaped with a backslash (Typst reads `\\X` as the character X for
    every ASCII sign), so no text can start markup, a comment, a function call, a smart quote
    or a list. Letters, digits, spaces and non-ASCII characters are plain text already; line
    breaks never reach here (`visible` turned them into spaces), and a space cannot follow a
    backslash, which would make a forced line break.
    """
    return "".join("\\" + ch if ch in _TYPST_SIGNS else ch for ch in str(text))


def typst_string(text: str) -> str:
    """A Typst string literal holding `text`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'
