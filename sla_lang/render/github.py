"""GitHub Actions workflow commands: one `::error file=…,line=…::message` annotation per diagnostic."""

from __future__ import annotations

from typing import Iterable

from ..compile import Compilation
from ..agreement.escape import visible
from ..diagnostics import Severity
from ..message import Message, localize
from .text import summary_line

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(text: str) -> str:
    # control characters (terminal escapes, bidi controls) become visible codes first, so a policy
    # text cannot hide or reorder what the annotation says; line breaks cannot start a command
    return "\n".join(visible(line) for line in text.split("\n")).replace("%", "%25").replace("\r", "%0D") \
        .replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(results: Iterable[Compilation], lang: str | None = None) -> str:
    results = list(results)
    lines = []
    for result in results:
        shown_in = lang or result.language
        for d in result.diagnostics:
            s = d.span
            props = ",".join(
                f"{k}={_escape_property(str(v))}"
                for k, v in (
                    ("file", s.path),
                    ("line", s.line),
                    ("endLine", s.end_line),
                    ("col", s.column),
                    ("endColumn", s.end_column),
                    ("title", f"{d.code} ({d.name})"),
                )
            )
            message = localize(d.message, shown_in)
            if d.help:
                message += "\n" + localize(Message("help: {help}", help=d.help), shown_in)
            lines.append(f"::{_COMMANDS[d.severity]} {props}::{_escape_data(message)}")
    lines.append(summary_line(results, lang=lang))
    return "\n".join(lines) + "\n"
