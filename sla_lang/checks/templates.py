"""Texts that HubSpot's template language would read as code (SLA836).

Policy texts reach HubSpot task and notification subjects and bodies, which HubSpot renders
with HubL. The HubSpot target neutralises the delimiters (targets/hubspot/texts.py), so nothing
is evaluated — but the text in HubSpot then differs from the agreement, which the author should
know while writing, not when building.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from functools import cache

from .. import ir
from ..diagnostics import Diagnostic, Listing, Message, Severity, define_rule
from ..source import Span
from . import CheckContext, check

TEMPLATE_SYNTAX = define_rule(
    "SLA836",
    "label-template-syntax",
    Severity.WARNING,
    "A text contains `{{`, `{%`, `{#` (or their closing pair), which HubSpot's template language HubL treats as code.",
    explanation="Labels, descriptions and other texts of the policy end up in HubSpot task and "
    "notification subjects and bodies, which HubSpot renders with HubL: `{{ … }}` is an expression, "
    "`{% … %}` a statement, `{# … #}` a comment. The HubSpot target neutralises such text (it puts a "
    "space inside the delimiter: `{ {`), so nothing is evaluated, but the text then differs from "
    "the agreement. Reword it unless the braces are really wanted.",
    bad='stage mql "MQL {{ hot }}" {',
    good='stage mql "MQL (hot)" {',
)

# HubL's delimiters: {{ }} expressions, {% %} statements, {# #} comments
DELIMITER = re.compile(r"\{[{%#]|[}%#]\}")


@cache
def _fields(cls: type) -> tuple[str, ...]:
    """The fields of an IR class that may hold texts (not positions or identifiers' spans)."""
    if not dataclasses.is_dataclass(cls):
        return ()
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("span", "name_span", "path", "extra"))


def _texts(policy: ir.Policy) -> Iterator[tuple[str, Span | None]]:
    """Every string of the IR with the span of the innermost node holding it."""
    stack: list[tuple[object, Span | None]] = [(policy, None)]
    while stack:
        value, span = stack.pop()
        if isinstance(value, str):
            yield value, span
        elif isinstance(value, (tuple, list)):
            stack.extend((item, span) for item in reversed(value))
        elif not isinstance(value, (int, float, type(None))):
            own = getattr(value, "span", None)
            here = own if isinstance(own, Span) else span
            stack.extend((getattr(value, name), here) for name in reversed(_fields(type(value))))


@check(TEMPLATE_SYNTAX)
def find_template_syntax(ctx: CheckContext) -> Iterator[Diagnostic]:
    if not ctx.policy.extra.get("template_syntax", True):
        return  # lowering found no delimiter anywhere in the file
    seen: set[tuple[str, Span]] = set()
    for text, span in _texts(ctx.policy):
        found = DELIMITER.search(text)
        if found is None or span is None or (text, span) in seen:
            continue
        seen.add((text, span))
        delimiter = found.group(0)
        yield Diagnostic(
            TEMPLATE_SYNTAX,
            Message("text {text!r} contains `{delimiter}`, which HubSpot's template language reads as code; the "
                    "HubSpot target writes it with a space inside (`{spaced}`)", text=text, delimiter=delimiter,
                    spaced=delimiter[0] + " " + delimiter[1]),
            span,
            help=Message("reword the text without the delimiters {delimiters}", delimiters=Listing(("{{", "{%", "{#"))),
        )
