"""Source files and spans.

A policy is read as bytes and decoded here, once, into a `SourceFile` whose text every later
stage shares: the BOM is dropped, CRLF and lone CR become LF (so line numbers match what an
editor shows), and anything that is not a UTF-8 text file becomes a diagnostic with a position
instead of an exception. Columns are 1-based and count characters (not bytes), like Lark's.
"""

from __future__ import annotations

import bisect
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic, Severity, define_rule, Message

DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024

# Trojan-source characters (CVE-2021-42574): they reorder how text is displayed, so a reviewer
# can read something different from what the compiler reads. rustc rejects them too.
BIDI_CONTROLS = {
    "\u202a": "LEFT-TO-RIGHT EMBEDDING",
    "\u202b": "RIGHT-TO-LEFT EMBEDDING",
    "\u202c": "POP DIRECTIONAL FORMATTING",
    "\u202d": "LEFT-TO-RIGHT OVERRIDE",
    "\u202e": "RIGHT-TO-LEFT OVERRIDE",
    "\u2066": "LEFT-TO-RIGHT ISOLATE",
    "\u2067": "RIGHT-TO-LEFT ISOLATE",
    "\u2068": "FIRST STRONG ISOLATE",
    "\u2069": "POP DIRECTIONAL ISOLATE",
}


@dataclass(frozen=True, slots=True)
class Span:
    """A range in a source file: 1-based lines and columns, `end_column` exclusive."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
        }

    @classmethod
    def point(cls, path: str, line: int = 1, column: int = 1) -> Span:
        return cls(path, line, column, line, column + 1)

    def through(self, other: Span) -> Span:
        """The span from the start of `self` to the end of `other`."""
        return Span(self.path, self.line, self.column, other.end_line, other.end_column)


def _span_init(self, path: str, line: int, column: int, end_line: int, end_column: int) -> None:
    # The slots set directly: half the cost of the dataclass's frozen __init__ (which calls
    # object.__setattr__ per field), for the object a large policy makes most of.
    _set_path(self, path)
    _set_line(self, line)
    _set_column(self, column)
    _set_end_line(self, end_line)
    _set_end_column(self, end_column)


# The slots' own setters, in field order (a frozen dataclass has no other way in).
SPAN_SETTERS = _set_path, _set_line, _set_column, _set_end_line, _set_end_column = tuple(
    Span.__dict__[name].__set__ for name in ("path", "line", "column", "end_line", "end_column"))
Span.__init__ = _span_init  # type: ignore[method-assign]


def new_span(path: str, line: int, column: int, end_line: int, end_column: int, _new=object.__new__) -> Span:
    """Span(path, line, column, end_line, end_column) without the call through the type (the
    lowering makes one for almost every node and token of a policy)."""
    span = _new(Span)
    _set_path(span, path)
    _set_line(span, line)
    _set_column(span, column)
    _set_end_line(span, end_line)
    _set_end_column(span, end_column)
    return span


class SourceFile:
    """Decoded policy text with a line index."""

    __slots__ = ("path", "text", "_line_starts")

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        starts = [0]
        find = text.find
        pos = find("\n")
        while pos != -1:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self._line_starts = starts

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def longest_line(self) -> int:
        """The length of the longest line, without its newline (read off the line index: no copy
        of the text split into lines)."""
        starts = self._line_starts
        longest = len(self.text) - starts[-1]  # the last line
        previous = 0
        for start in starts[1:]:
            longest = max(longest, start - previous - 1)
            previous = start
        return longest

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline ('' past the end)."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end == -1 else self.text[start:end]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a 0-based character offset."""
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def offset(self, line: int, column: int) -> int:
        return self._line_starts[line - 1] + column - 1

    def span(self, start: int, end: int) -> Span:
        line, column = self.position(start)
        end_line, end_column = self.position(max(end, start + 1))
        return Span(self.path, line, column, end_line, end_column)


UNREADABLE_FILE = define_rule(
    "SLA001",
    "unreadable-file",
    Severity.ERROR,
    "The policy file cannot be read (missing, a directory, or no permission).",
    explanation="sla reads every path you give it. A path that does not exist or cannot be "
    "opened is a usage error: `sla check` exits with status 2.",
    bad="$ sla check policies/acme.sla   # the file was renamed",
    good="$ sla check policies/           # check every *.sla file in the folder",
)
BINARY_FILE = define_rule(
    "SLA002",
    "binary-file",
    Severity.ERROR,
    "The file contains NUL bytes: it is not a text policy.",
    explanation="Policies are UTF-8 text. A NUL byte means the file is binary (a PDF, an "
    "image, a spreadsheet) or was corrupted.",
    bad="policies/acme.sla is a copy of the signed PDF",
    good="policies/acme.sla is the .sla text the PDF was built from",
)
INVALID_ENCODING = define_rule(
    "SLA003",
    "invalid-encoding",
    Severity.ERROR,
    "The file is not valid UTF-8.",
    explanation="Policies must be saved as UTF-8 (with or without a BOM). Files saved as "
    "Shift_JIS (cp932) or UTF-16 by older editors are reported at the first byte that is not "
    "UTF-8, with a hint for converting them.",
    bad="a policy saved as Shift_JIS: 営業 is stored as the bytes 0x89 0x63 0x8b 0xc6",
    good="iconv -f cp932 -t utf-8 old.sla > policies/acme.sla",
)
FILE_TOO_LARGE = define_rule(
    "SLA004",
    "file-too-large",
    Severity.ERROR,
    "The file is larger than the configured limit.",
    explanation="A policy describes one agreement and is a few kilobytes long. Files above "
    "`max-file-size` (default 4 MiB, settable under [tool.sla] in pyproject.toml) are refused "
    "before parsing so that a wrong path cannot stall CI.",
    bad="$ sla check exports/   # a folder of CRM exports renamed to .sla",
    good="[tool.sla]\nmax-file-size = 16777216   # if you really generate 16 MiB policies",
)
BIDI_CONTROL = define_rule(
    "SLA005",
    "bidi-control-character",
    Severity.ERROR,
    "A bidirectional control character can make the policy display differently from what it says.",
    explanation="Unicode bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) "
    "reorder how text is shown, so a reviewer can approve a line that means something else "
    "(the 'Trojan Source' attack). They are rejected anywhere in a policy, comments included. "
    "Right-to-left scripts themselves need no control characters.",
    bad='stage mql "MQL\u202e" {   # invisible RIGHT-TO-LEFT OVERRIDE inside the label',
    good='stage mql "MQL" {',
)
EMPTY_POLICY = define_rule(
    "SLA006",
    "empty-policy",
    Severity.ERROR,
    "The file contains no statements.",
    explanation="Every .sla file is one agreement and needs at least an `agreement` block.",
    bad="# TODO: write the SLA",
    good='agreement "Sales & Marketing SLA" {\n  version "1.0"\n  effective 2026-04-01\n  owner revops\n}',
)


def display_path(path: Path) -> str:
    """The path as the user will recognise it: relative to the working directory when possible."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path.as_posix()
    return Path(rel).as_posix() if not rel.startswith("..") else path.as_posix()


class TooLarge(OSError):
    """A file or stream holds more bytes than the limit (`size` is at least that many)."""

    def __init__(self, size: int, limit: int, exact: bool) -> None:
        super().__init__(f"more than {limit:,} bytes")
        self.size, self.limit, self.exact = size, limit, exact

    def describe(self) -> Message:
        if self.exact:
            return Message("file is {size:,} bytes, over the {max_bytes:,}-byte limit", size=self.size, max_bytes=self.limit)
        return Message("file holds more than {max_bytes:,} bytes (the limit); reading stopped there", max_bytes=self.limit)


def read_limited(path: Path | str, limit: int) -> bytes:
    """A file's bytes, reading at most `limit` + 1 of them: a device (`/dev/zero`), a FIFO or
    a stream that never ends stops at the limit with `TooLarge` instead of filling memory."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "is a directory", str(path))
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise TooLarge(info.st_size, limit, exact=True)
        return read_stream_limited(handle, limit)


def read_stream_limited(handle, limit: int) -> bytes:
    """At most `limit` bytes of an open binary stream (stdin, a pipe), else `TooLarge`."""
    chunks, total = [], 0
    while total <= limit:
        chunk = handle.read(min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise TooLarge(total, limit, exact=False)
    return b"".join(chunks)


def read_source(
    path: Path, *, shown_as: str | None = None, max_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> tuple[SourceFile | None, list[Diagnostic]]:
    """Read and decode a policy file. Never raises for bad input."""
    name = shown_as or display_path(path)
    try:
        data = read_limited(path, max_bytes)
    except TooLarge as exc:
        return None, [too_large(name, exc)]
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, IsADirectoryError):
            reason = f"{name} is a directory"
        return None, [Diagnostic(UNREADABLE_FILE, Message('cannot read {name}: {reason}', name=name, reason=reason), Span.point(name))]
    return decode_source(name, data, max_bytes=max_bytes)


def too_large(name: str, exc: TooLarge) -> Diagnostic:
    return Diagnostic(
        FILE_TOO_LARGE,
        exc.describe(),
        Span.point(name),
        help=Message('raise `max-file-size` under [tool.sla] in pyproject.toml if this is really a policy'),
    )


def decode_source(
    name: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> tuple[SourceFile | None, list[Diagnostic]]:
    """Turn raw bytes into a SourceFile, or explain why they are not a policy."""
    if len(data) > max_bytes:
        return None, [
            Diagnostic(
                FILE_TOO_LARGE,
                Message('file is {data_count:,} bytes, over the {max_bytes:,}-byte limit', data_count=len(data), max_bytes=max_bytes),
                Span.point(name),
                help=Message('raise `max-file-size` under [tool.sla] in pyproject.toml if this is really a policy'),
            )
        ]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [
            Diagnostic(
                INVALID_ENCODING,
                Message('file is UTF-16; policies must be UTF-8'),
                Span.point(name),
                help=Message("save the file as UTF-8 (in most editors: 'Save with encoding' → UTF-8)"),
            )
        ]
    nul = data.find(b"\x00")
    if nul != -1:
        line, column = _byte_position(data, nul)
        return None, [
            Diagnostic(
                BINARY_FILE,
                Message('file contains a NUL byte; it looks binary, not a text policy'),
                Span.point(name, line, column),
                help=Message('point sla at the .sla source, not at a generated or binary file'),
            )
        ]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _byte_position(data, exc.start)
        hint = Message("save the file as UTF-8")
        try:
            data.decode("cp932")
            hint = Message("the file looks like Shift_JIS (cp932); convert it with `iconv -f cp932 -t utf-8`")
        except UnicodeDecodeError:
            pass
        return None, [
            Diagnostic(
                INVALID_ENCODING,
                Message('invalid UTF-8 byte 0x{data:02x}', data=data[exc.start]),
                Span.point(name, line, column),
                help=hint,
            )
        ]
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    source = SourceFile(name, text)
    diagnostics = [
        Diagnostic(
            BIDI_CONTROL,
            Message('bidirectional control character U+{ch:04X} ({BIDI_CONTROLS})', ch=ord(ch), BIDI_CONTROLS=BIDI_CONTROLS[ch]),
            source.span(offset, offset + 1),
            help=Message('delete it; it is invisible in most editors (search for the code point)'),
        )
        for offset, ch in _find_bidi(text)
    ]
    return source, diagnostics


def _find_bidi(text: str) -> list[tuple[int, str]]:
    if not any(ch in text for ch in BIDI_CONTROLS):
        return []
    return [(i, ch) for i, ch in enumerate(text) if ch in BIDI_CONTROLS]


def invalid_utf8_position(path: Path) -> str:
    """`line:column` of the first byte of `path` that is not UTF-8 (after a BOM), for files read
    as text streams elsewhere (a CSV export): a stream decoder reports offsets within its chunk."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "{}:{}".format(*_byte_position(data, exc.start))
    return "1:1"


def _byte_position(data: bytes, index: int) -> tuple[int, int]:
    """1-based (line, column) of byte `index`, counting characters of the valid prefix. Lines
    end as `decode_source` ends them: at CRLF, a lone CR or LF."""
    prefix = data[:index]
    line = prefix.count(b"\n") + prefix.count(b"\r") - prefix.count(b"\r\n") + 1
    last = max(prefix.rfind(b"\n"), prefix.rfind(b"\r"))
    column_bytes = prefix[last + 1 :]
    return line, len(column_bytes.decode("utf-8", errors="replace")) + 1


def split_comment(line: str) -> tuple[str, str | None]:
    """Split a line into (code, comment) at the first `#` outside a quoted text."""
    in_string = False
    escaped = False
    for i, ch in enumerate(line):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "#":
            return line[:i], line[i:]
    return line, None
