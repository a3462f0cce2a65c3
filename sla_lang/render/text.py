"""ruff-style text: `path:line:col: severity CODE (name) message`, the source line, carets, help."""

from __future__ import annotations

import unicodedata
from typing import Iterable

import click

from ..compile import Compilation
from ..diagnostics import Diagnostic, Severity, count_by_severity
from ..source import SourceFile, Span
from .terminal import terminal_safe

_COLOURS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def display_width(text: str) -> int:
    """Terminal columns: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else (0 if unicodedata.combining(ch) else 1) for ch in text)


def render(results: Iterable[Compilation], *, color: bool = False) -> str:
    results = list(results)
    sources = {r.path: r.source for r in results if r.source is not None}
    out: list[str] = []
    for result in results:
        for d in result.diagnostics:
            out.append(render_diagnostic(d, sources.get(d.span.path), color=color))
    out.append(summary_line(results, color=color))
    return "\n".join(out) + "\n"


def render_diagnostic(d: Diagnostic, source: SourceFile | None, *, color: bool = False) -> str:
    def style(text: str, **kw) -> str:
        return click.style(text, **kw) if color else text

    # everything that can quote a policy, a file name or an events file passes through
    # terminal_safe before sla adds its own colours and line breaks
    s = d.span
    header = (
        f"{style(f'{terminal_safe(s.path)}:{s.line}:{s.column}:', bold=True)} "
        f"{style(d.severity.value, fg=_COLOURS[d.severity], bold=True)} "
        f"{style(d.code, fg=_COLOURS[d.severity], bold=True)} ({d.name}) {terminal_safe(d.message)}"
    )
    lines = [header]
    lines.extend(_snippet(s, source, style, _COLOURS[d.severity]))
    for related in d.related:
        r = related.span
        lines.append(f"  {style('note:', bold=True)} {terminal_safe(related.message)} at "
                     f"{terminal_safe(r.path)}:{r.line}:{r.column}")
        lines.extend(_snippet(r, source if source and r.path == source.path else None, style, "blue"))
    if d.help:
        lines.append(f"  {style('= help:', bold=True)} {terminal_safe(d.help)}")
    return "\n".join(lines) + "\n"


def _snippet(span: Span, source: SourceFile | None, style, colour: str) -> list[str]:
    if source is None or span.line > source.line_count:
        return []
    text = source.line_text(span.line).replace("\t", " ")
    number = str(span.line)
    gutter = " " * len(number)
    start = max(span.column - 1, 0)
    end = span.end_column - 1 if span.end_line == span.line else len(text)
    end = max(min(end, len(text)), start + 1)
    # the carets are measured on the line as shown: an escaped character takes its code's width
    pad = display_width(terminal_safe(text[:start]))
    width = max(display_width(terminal_safe(text[start:end])), 1)
    return [
        f"  {gutter} |",
        f"  {number} | {terminal_safe(text)}",
        f"  {gutter} | {' ' * pad}{style('^' * width, fg=colour, bold=True)}",
    ]


def summary_line(results: list[Compilation], *, color: bool = False) -> str:
    counts = count_by_severity(d for r in results for d in r.diagnostics)
    files = len(results)
    noun = "file" if files == 1 else "files"
    errors, warnings, infos = counts[Severity.ERROR], counts[Severity.WARNING], counts[Severity.INFO]
    if not errors and not warnings:
        text = f"All checks passed ({files} {noun})" + (f", {infos} info" if infos else "") + "."
        return click.style(text, fg="green", bold=True) if color else text
    parts = [f"{errors} error{'s' * (errors != 1)}", f"{warnings} warning{'s' * (warnings != 1)}"]
    if infos:
        parts.append(f"{infos} info")
    text = f"Found {', '.join(parts)} in {files} {noun}."
    return click.style(text, bold=True) if color else text
