"""ruff-style text: `path:line:col: severity CODE (name) message`, the source line, carets, help.

Messages, labels and the summary are shown in the language `lang` names, or else the one
`message.choose_language` picks for the file (its policy's `language`, else the locale).
Codes, rule names, paths and the source stay as they are."""

from __future__ import annotations

import unicodedata
from typing import Iterable

import click

from ..compile import Compilation
from ..diagnostics import Diagnostic, Severity, count_by_severity
from ..message import Listing, Message, choose_language, localize, report_language
from ..source import SourceFile, Span
from .terminal import terminal_safe

_COLOURS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_SEVERITY_WORDS = {Severity.ERROR: Message("error"), Severity.WARNING: Message("warning"), Severity.INFO: Message("info")}


def display_width(text: str) -> int:
    """Terminal columns: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else (0 if unicodedata.combining(ch) else 1) for ch in text)


def render(results: Iterable[Compilation], *, color: bool = False, lang: str | None = None) -> str:
    results = list(results)
    sources = {r.path: r.source for r in results if r.source is not None}
    out: list[str] = []
    for result in results:
        shown_in = lang or result.language
        for d in result.diagnostics:
            out.append(render_diagnostic(d, sources.get(d.span.path), color=color, lang=shown_in))
    out.append(summary_line(results, color=color, lang=lang))
    return "\n".join(out) + "\n"


def render_diagnostic(d: Diagnostic, source: SourceFile | None, *, color: bool = False, lang: str | None = None) -> str:
    def style(text: str, **kw) -> str:
        return click.style(text, **kw) if color else text

    # everything that can quote a policy, a file name or an events file passes through
    # terminal_safe before sla adds its own colours and line breaks
    lang = lang or choose_language(None, getattr(source, "text", None))
    s = d.span
    header = (
        f"{style(f'{terminal_safe(s.path)}:{s.line}:{s.column}:', bold=True)} "
        f"{style(localize(_SEVERITY_WORDS[d.severity], lang), fg=_COLOURS[d.severity], bold=True)} "
        f"{style(d.code, fg=_COLOURS[d.severity], bold=True)} ({d.name}) {terminal_safe(localize(d.message, lang))}"
    )
    lines = [header]
    lines.extend(_snippet(s, source, style, _COLOURS[d.severity]))
    for related in d.related:
        r = related.span
        note = localize(Message("note:"), lang)
        where = localize(Message("{note} at {path}:{line}:{column}", note=related.message, path=r.path,
                                 line=r.line, column=r.column), lang)
        lines.append(f"  {style(note, bold=True)} {terminal_safe(where)}")
        lines.extend(_snippet(r, source if source and r.path == source.path else None, style, "blue"))
    if d.help:
        lines.append(f"  {style(localize(Message('= help:'), lang), bold=True)} {terminal_safe(localize(d.help, lang))}")
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


def summary_line(results: list[Compilation], *, color: bool = False, lang: str | None = None) -> str:
    counts = count_by_severity(d for r in results for d in r.diagnostics)
    files = len(results)
    errors, warnings, infos = counts[Severity.ERROR], counts[Severity.WARNING], counts[Severity.INFO]
    lang = report_language(lang, (r.language for r in results))
    if not errors and not warnings:
        if infos:
            message = Message("All checks passed ({files} files), {infos} info.", files=files, infos=infos) if files != 1 \
                else Message("All checks passed ({files} file), {infos} info.", files=files, infos=infos)
        else:
            message = Message("All checks passed ({files} files).", files=files) if files != 1 \
                else Message("All checks passed ({files} file).", files=files)
        text = localize(message, lang)
        return click.style(text, fg="green", bold=True) if color else text
    parts = [Message("1 error") if errors == 1 else Message("{count} errors", count=errors),
             Message("1 warning") if warnings == 1 else Message("{count} warnings", count=warnings)]
    if infos:
        parts.append(Message("{count} info", count=infos))
    found = Listing(parts, limit=len(parts), quote=False)
    message = Message("Found {found} in {files} files.", found=found, files=files) if files != 1 \
        else Message("Found {found} in {files} file.", found=found, files=files)
    text = localize(message, lang)
    return click.style(text, bold=True) if color else text
