"""Text for a terminal or a pipe: the one function every text output passes policy text through.

A policy, an events file, a scenario file or a file name can carry characters that a
terminal obeys instead of showing: ESC sequences (colours, cursor moves, clearing the
screen), OSC sequences (window titles, hyperlinks — even through a pipe into `less -R` or a
CI log viewer), other C0 and C1 controls (carriage return overwrites a line, backspace
erases), and bidirectional controls that reorder what a reviewer reads (Trojan Source).
`terminal_safe` shows each of them as its code point, `[U+001B]`, the notation the agreement
document uses for the same characters (README, SLA803). Text that holds none of them is
returned as it is (Japanese, emoji and accented text are untouched).

Renderers call it on every piece of text that did not come from sla itself — messages
(which quote labels and values), file names, source lines, labels, lead ids — *before*
adding their own colours and line breaks, which therefore stay the only control sequences
in the output.
"""

from __future__ import annotations

import unicodedata

# Characters of the categories Cc (C0, DEL, C1), Cf (format: bidirectional controls and marks,
# zero-width characters, the BOM), Cs (lone surrogates, which cannot even be encoded), Zl and
# Zp (line and paragraph separators).
_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_KEEP_NOTHING: frozenset[str] = frozenset()
_KEEP_LINE_BREAKS = frozenset("\n")


def terminal_safe(text: str, *, keep: frozenset[str] = _KEEP_NOTHING) -> str:
    """`text` with every control, format and separator character written as `[U+XXXX]`;
    characters in `keep` (the line breaks of a block of text sla laid out) stay."""
    if text.isprintable():  # none of those categories (checked in C): the common case
        return text
    out = []
    for ch in text:
        if ch in keep:
            out.append(ch)
        elif ch < " " or "\x7f" <= ch <= "\x9f" or (ch > "\x9f" and unicodedata.category(ch) in _CATEGORIES):
            out.append(f"[U+{ord(ch):04X}]")
        else:
            out.append(ch)
    return "".join(out)


def terminal_lines(text: str) -> str:
    """`terminal_safe` for a block of lines: its line breaks stay."""
    return terminal_safe(text, keep=_KEEP_LINE_BREAKS)
