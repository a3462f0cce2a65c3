"""Lower the Lark parse tree to the IR (one transformer method per grammar rule, same name).

Lowering also checks what can be checked without looking elsewhere in the file: literal
types (a duration where a percentage belongs), units, dates, closed vocabularies (channels,
periods, roles …), settings given twice in one block, and settings a block cannot do without.
Cross-references (does this team exist?) are resolved later, in checks/names.py.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Iterable

from lark import Token, Tree

from . import ir
from .diagnostics import Diagnostic, Listing, Message, Related, Severity, define_rule
from .fastparse import SpanMeta
from .source import SourceFile, Span, new_span

DUPLICATE_SETTING = define_rule(
    "SLA303",
    "duplicate-setting",
    Severity.ERROR,
    "A setting that takes one value is given twice in the same block.",
    explanation="Blocks such as `stage`, `kpi` or `agreement` take one `owner`, one "
    "`respond` deadline, one `measure`… When a setting appears twice it is unclear which one "
    "the parties agreed to, so both lines are reported.",
    bad='stage mql "MQL" {\n  owner inside_sales\n  owner field_sales\n}',
    good='stage mql "MQL" {\n  owner inside_sales\n}',
)
WRONG_TYPE = define_rule(
    "SLA304",
    "wrong-type",
    Severity.ERROR,
    "A value of the wrong kind: e.g. a duration where a percentage belongs.",
    explanation="Each setting expects one kind of value: deadlines take durations (`24h`, "
    "`5bd`), a rate KPI takes a percentage (`20%`), a count KPI a number, dates are written "
    "`YYYY-MM-DD` and times `HH:MM`.",
    bad='kpi mql_to_sql "MQL to SQL" {\n  measure rate mql -> sql per month\n  target >= 24h\n}',
    good='kpi mql_to_sql "MQL to SQL" {\n  measure rate mql -> sql per month\n  target >= 20%\n}',
)
UNKNOWN_UNIT = define_rule(
    "SLA305",
    "unknown-unit",
    Severity.ERROR,
    "A duration has a unit sla does not know.",
    explanation="Durations are a whole number and a unit: `m` minutes, `h` hours, `d` days, "
    "`w` weeks, and the business units `bh` (business hours) and `bd` (business days), which "
    "count only the working hours of the stage's calendar.",
    bad="respond within 24hrs",
    good="respond within 24h",
)
INVALID_VALUE = define_rule(
    "SLA306",
    "invalid-value",
    Severity.ERROR,
    "A value of the right kind that cannot be right (a 30 February, 0 attempts, 25:00 …).",
    explanation="Dates must exist, times are between 00:00 and 24:00, counts are whole "
    "positive numbers, time zones are IANA names such as Asia/Tokyo, and a follow-up "
    "cadence lists one offset per attempt.",
    bad="follow up 3 times at 0d, 3d",
    good="follow up 3 times at 0d, 3d, 7d",
)
UNKNOWN_OPTION = define_rule(
    "SLA307",
    "unknown-option",
    Severity.ERROR,
    "A word from a fixed list (channel, period, role, lifecycle stage …) is not on the list.",
    explanation="Some settings take one of a fixed set of words: channels (email, slack, task, "
    "call, meeting, in_app, sms, webhook), periods (day, week, month, quarter, year), team "
    "roles, property types, weekdays (mon … sun), HubSpot lifecycle stages, review topics and "
    "document languages (en, ja). The message lists the allowed words and the nearest match.",
    bad="follow up 3 times at 0d, 3d, 7d via phone",
    good="follow up 3 times at 0d, 3d, 7d via call",
)
MISSING_REQUIRED = define_rule(
    "SLA310",
    "missing-required",
    Severity.ERROR,
    "A block lacks a setting it cannot do without.",
    explanation="The agreement needs a `version` and an `effective` date (they appear on every "
    "page of the signed document); a file needs an `agreement` block; a KPI needs a `measure` "
    "(its `target` may be left out for a KPI that is only monitored, or written `target to be "
    "agreed`); a calendar needs a `timezone`; `renews …` needs a `term`; a channel chosen by the "
    "lead's data (`via call when pricing_page_view, …`) needs a final `… otherwise`, so that every "
    "lead has one.",
    bad='kpi mql_count "Monthly MQLs" {\n  owner marketing\n}',
    good='kpi mql_count "Monthly MQLs" {\n  owner marketing\n  measure count mql per month\n  target >= 120\n}',
)


MAX_STAGES = 20_000
MAX_SCORE_RULES = 20_000
# transitions out of one stage: every pair of them is checked for ambiguity (SLA604)
MAX_TRANSITIONS_PER_STAGE = 200
MAX_STRING_CHARS = 4_000
MAX_NAME_CHARS = 120
_TEXTS_AND_COMMENTS = re.compile(r'"(?:[^"\\\n]|\\[^\n])*"|#[^\n]*')

TOO_MANY_DECLARATIONS = define_rule(
    "SLA010",
    "too-many-declarations",
    Severity.ERROR,
    f"More than {MAX_STAGES:,} stages or {MAX_SCORE_RULES:,} score rules in one policy, or more than "
    f"{MAX_TRANSITIONS_PER_STAGE} transitions out of one stage.",
    explanation="An agreement between teams has tens of stages and rules, not tens of "
    "thousands. A policy past these limits is almost certainly generated by mistake, and "
    "refusing it keeps every command fast and every output reviewable.",
    bad="(a generator loop that wrote 50,000 stages)",
    good="split the funnel into separate agreements, or fix the generator",
)
STRING_TOO_LONG = define_rule(
    "SLA011",
    "too-long",
    Severity.ERROR,
    f"A quoted text longer than {MAX_STRING_CHARS:,} characters or a name longer than {MAX_NAME_CHARS}.",
    explanation="Labels, descriptions and agenda items are read in a document and a pull "
    "request; names become CRM property names. Long ones are usually a pasted document or a "
    "missing closing quote on a very long line.",
    bad='description "…the whole SLA pasted into one line…"',
    good='description "Meets marketing\'s criteria; worth a sales follow-up."',
)

# Every duration, count and date an agreement can state is bounded, so that no check, target
# or simulation meets a number it cannot handle in time (a 39-digit `bh`, a capacity that
# overflows a float). The bounds are far beyond any real agreement.
MAX_DURATION_DAYS = 3_660  # ten years
MAX_DURATION = {"m": MAX_DURATION_DAYS * 1440, "h": MAX_DURATION_DAYS * 24, "d": MAX_DURATION_DAYS,
                "w": MAX_DURATION_DAYS // 7, "bh": MAX_DURATION_DAYS * 24, "bd": MAX_DURATION_DAYS}
MAX_NUMBER = 10**15  # thresholds, KPI targets, amounts: beyond this floats lose whole numbers
MAX_COUNT = 1_000_000  # people, leads per person, score points and caps
MAX_FOLLOW_UPS = 100
MAX_CADENCE = {"day": MAX_DURATION_DAYS, "week": MAX_DURATION_DAYS // 7, "month": 120, "quarter": 40, "year": 10}
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)

VALUE_OUT_OF_RANGE = define_rule(
    "SLA012",
    "value-out-of-range",
    Severity.ERROR,
    "A duration, number, count or date lies outside the range an agreement can use.",
    explanation="Durations are at most ten years (3,660 days; 87,840 hours or business hours; 3,660 "
    "business days; 522 weeks), numbers at most 10^15 in size, counts of people, leads, points "
    f"and follow-ups at most {MAX_COUNT:,} ({MAX_FOLLOW_UPS} follow-ups), review cadences at most "
    "ten years, and dates lie between 1900-01-01 and 2199-12-31. A value past these bounds is "
    "a typing mistake (a digit too many, a wrong unit); refusing it keeps every check, build and "
    "simulation fast.",
    bad="decide within 10000000000bd",
    good="decide within 10bd",
)


def suggest(word: str, options: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return close[0] if close else None


UNIT_SPELLINGS = {
    "hr": "h", "hrs": "h", "hour": "h", "hours": "h", "時間": "h",
    "min": "m", "mins": "m", "minute": "m", "minutes": "m", "分": "m",
    "day": "d", "days": "d", "日": "d",
    "wk": "w", "wks": "w", "week": "w", "weeks": "w", "週": "w", "週間": "w",
    "bday": "bd", "bdays": "bd", "businessday": "bd", "businessdays": "bd", "営業日": "bd",
    "bhr": "bh", "bhrs": "bh", "営業時間": "bh",
    "mo": None, "month": None, "months": None,
}
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(.+)$")
_PLURAL_UNITS = {u + "s": u for u in ir.CADENCE_UNITS}


class _Invalid:
    """A value that already produced a diagnostic; consumers skip it silently."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span


class _FirstContact:
    """`from first contact` on a follow-up (a marker `follow_up` picks up)."""


class _Idle:
    """`without activity` on an escalation (a marker `escalation` picks up)."""


@dataclass(slots=True)
class _StepNumber:
    """`on step 2` on an escalation (`escalation` picks it up)."""

    number: int | None  # None: not a whole number ≥ 2 (reported)


@dataclass(slots=True)
class _Item:
    key: str
    value: Any
    span: Span


_KIND_WORDS = {
    ir.Text: Message("quoted text"),
    ir.Number: Message("a number"),
    ir.Percent: Message("a percentage"),
    ir.Duration: Message("a duration"),
    ir.DateValue: Message("a date"),
    ir.TimeOfDay: Message("a time of day"),
    ir.Flag: Message("true or false"),
}


_STAGE_REPEATABLE = frozenset({"marker", "deadline", "unwritten deadline", "escalate", "transition", "cadence",
                                "step"})


# Words of diagnostics that handlers run for every construct of their kind pass on, made once
# (a Message without arguments is one shared object anyway; this spares the call for it).
_CONDITION_VALUES = Message('a number, quoted text, true/false or a date')
_IN_A_CONDITION = Message('a condition')
_CHANNEL = Message('channel')
_A_DURATION_24H = Message('a duration such as 24h')
_ESCALATE_AFTER = Message('`escalate … after`')
_A_TRANSITION = Message('a transition')
_A_DURATION_12H = Message('a duration such as 12h')
_TARGET = Message('`target`')
_A_DURATION_24H_5BD = Message('a duration such as 24h or 5bd')
_A_DURATION_30D = Message('a duration such as 30d')
_AFTER = Message('`after`')
_HUBSPOT_LIFECYCLE_STAGE = Message('HubSpot lifecycle stage')

# The rules whose handler never reads its `meta`: the fast parser makes no span for them (a
# fifth of the handler calls of a large policy: `value`, `channels`, `names` …). A handler that
# starts reading `meta` must leave this set (tests/test_fastparse.py checks it).
SPANLESS_RULES = frozenset({
    "value", "names", "strings", "start", "lead_email", "lead_certificate", "enum_option", "hubspot_name",
    "per_occurrence", "step_number", "first_contact", "idle", "channels", "responsibilities", "raci",
    "cancellation",
})


class Lowerer:
    """Parse tree → IR. Collects diagnostics instead of raising.

    One method per grammar rule, called as `method(meta, children)` with the children already
    lowered (tokens are passed as they are). The walk is iterative and dispatches through a
    table built once, which is 2–3× cheaper per node than lark.Transformer's generic dispatch
    and cannot hit Python's recursion limit.
    """

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.path = source.path
        self.diagnostics: list[Diagnostic] = []
        self.placeholders: set[Span] = set()  # spans of values replaced after a diagnostic
        # (stage, kind) of deadlines written with a duration already reported as wrong
        # (`respond within 24hr`): one mistake, so no check also says the deadline is missing
        self.unwritten_deadlines: set[tuple[str, str]] = set()
        # duration and number texts already read (`24h`, `50`): a large policy writes the same
        # few hundred of them tens of thousands of times, and reading one (a regular expression,
        # the bounds) costs more than making its node
        self.durations_read: dict[str, tuple[int, str]] = {}
        self.numbers_read: dict[str, int | float] = {}

    def handlers(self) -> dict[str, object]:
        """Rule name → this lowerer's method for it (for the fast parser's lowering)."""
        lowerer = self

        class Handlers(dict):
            def __missing__(self, name: str):
                handler = self[name] = getattr(lowerer, name)
                return handler

        return Handlers()

    def transform(self, tree: Tree):
        handlers: dict[str, object] = {}
        # post-order without recursion: (node, lowered children so far)
        stack: list[tuple[Tree, list]] = [(tree, [])]
        index = [0]
        while True:
            node, done = stack[-1]
            position = index[-1]
            children = node.children
            if position < len(children):
                index[-1] = position + 1
                child = children[position]
                if isinstance(child, Tree):
                    stack.append((child, []))
                    index.append(0)
                else:
                    done.append(child)
                continue
            handler = handlers.get(node.data)
            if handler is None:
                handler = handlers[node.data] = getattr(self, node.data)
            value = handler(node.meta, done)
            stack.pop()
            index.pop()
            if not stack:
                return value
            stack[-1][1].append(value)

    # ------------------------------------------------------------------ helpers
    def _span(self, meta) -> Span:
        if meta.__class__ is Span:  # the fast parser's lowering passes the rule's span as its meta
            return meta
        if meta.__class__ is SpanMeta:  # the fast parser's: read its two tokens' positions directly
            first = meta._first
            last = meta._last
            return new_span(self.path, first[0], first[1], last[2], last[3])
        return new_span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, token: Token) -> Span:
        return new_span(self.path, token.line, token.column, token.end_line, token.end_column)

    def _error(self, rule, message: str, span: Span, help: str | None = None, related=()) -> None:
        self.diagnostics.append(Diagnostic(rule, message, span, help, tuple(related)))

    def _name(self, token: Token) -> ir.Name:
        # (the commonest handler helper: _nfc and _tspan written out, a token's own text read)
        text = token.value
        return ir.Name(text if text.isascii() else unicodedata.normalize("NFC", text),
                       new_span(self.path, token.line, token.column, token.end_line, token.end_column))

    def _text(self, token: Token) -> str:
        return _unquote(token)  # (a slice of a token is a plain str)

    def _expect(self, value, kinds: tuple[type, ...], what: str, where: str):
        """`value` if it is one of `kinds`, else None after a wrong-type diagnostic."""
        if isinstance(value, _Invalid) or value is None:
            return None
        if isinstance(value, kinds):
            return value
        if callable(where):  # made only now, for the diagnostic
            where = where()
        self._error(
            WRONG_TYPE,
            Message('{where} takes {what}, not {value}', where=where, what=what, value=_KIND_WORDS.get(type(value), Message('this value'))),
            value.span,
            help=_type_help(value, kinds),
        )
        return None

    def _whole(self, value, where: str, minimum: int = 0, maximum: int = MAX_COUNT) -> int | None:
        number = self._expect(value, (ir.Number,), Message('a whole number'), where)
        if number is None:
            return None
        if not isinstance(number.value, int) or number.value < minimum:
            self._error(
                INVALID_VALUE,
                Message('{where} must be a whole number of at least {minimum}, not {number}', where=where, minimum=minimum, number=number.value),
                number.span,
            )
            return None
        if number.value > maximum:
            self._error(VALUE_OUT_OF_RANGE, Message('{where} is {number:,}; the most an agreement can use is {maximum:,}', where=where, number=number.value, maximum=maximum), number.span, help=Message('check for a digit too many'))
            return None
        return number.value

    def _out_of_range(self, text: str, span: Span, bound: Message, help: Message = Message("check for a digit too many")):
        self._error(VALUE_OUT_OF_RANGE, Message('{text} is {bound}', text=_shorten(text), bound=bound), span, help=help)
        return _Invalid(span)

    def _option(self, name: ir.Name, options: Iterable[str], what: str) -> str | None:
        options = tuple(options)
        if name.name in options:
            return name.name
        guess = suggest(name.name, options)
        self._error(
            UNKNOWN_OPTION,
            Message("unknown {what} '{name}'", what=what, name=name.name),
            name.span,
            help=(Message("did you mean '{guess}'? choose one of: {options}", guess=guess, options=_choices(options))
                  if guess else Message("choose one of: {options}", options=_choices(options))),
        )
        return None

    def _word(self, token: Token, options: Iterable[str], what: str) -> str | None:
        """`_option` of a name token; its Name (a span and a node) is made only for the diagnostic."""
        word = _nfc(token.value)
        if word in options:
            return word
        return self._option(self._name(token), options, what)

    def _settings(self, items: list, block, repeatable: Iterable[str] = frozenset()) -> dict[str, list[_Item]]:
        """Group block items by key, reporting single-valued keys given more than once. `block`
        names the block in that diagnostic: a Message, or a function making it."""
        if not isinstance(repeatable, frozenset):
            repeatable = frozenset(repeatable)
        grouped: dict[str, list[_Item]] = {}
        for item in items:
            if not isinstance(item, _Item):
                continue
            seen = grouped.setdefault(item.key, [])
            if seen and item.key not in repeatable:
                if callable(block):  # made only now, for the diagnostic
                    block = block()
                self._error(
                    DUPLICATE_SETTING,
                    Message('{block} has more than one `{key}`', block=block, key=item.key),
                    item.span,
                    help=Message('keep one of them'),
                    related=[Related(seen[0].span, Message('first given here'))],
                )
                continue
            seen.append(item)
        return grouped

    @staticmethod
    def _one(settings: dict[str, list[_Item]], key: str, default=None):
        items = settings.get(key)
        return items[0].value if items else default

    @staticmethod
    def _all(settings: dict[str, list[_Item]], key: str) -> list:
        return [i.value for i in settings.get(key, [])]

    def _require(self, settings, key: str, block: str, span: Span, example: str) -> None:
        if key not in settings:
            self._error(MISSING_REQUIRED, Message('{block} has no `{key}`', block=block, key=key), span, help=Message('add a line such as `{example}`', example=example))

    def _header(self, children: list) -> tuple[Token, Token | None, list]:
        """Split `NAME STRING? items…` (the common block header)."""
        name = children[0]
        rest = children[1:]
        label = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            label = rest[0]
            rest = rest[1:]
        return name, label, rest

    # ------------------------------------------------------------------ values
    def value(self, meta, children):
        (token,) = children
        span = new_span(self.path, token.line, token.column, token.end_line, token.end_column)
        kind = token.type
        text = token.value
        if kind == "DURATION":  # (the commonest value)
            read = self.durations_read.get(text)
            if read is not None:
                return ir.Duration(read[0], read[1], span)
            return self._duration(text, span)
        if kind == "STRING":
            return ir.Text(self._text(token), span)
        if kind == "NAME":
            return ir.Text(_nfc(text), span)
        if kind in ("TRUE", "FALSE"):
            return ir.Flag(kind == "TRUE", span)
        if kind == "NUMBER":
            number = self.numbers_read.get(text)
            if number is not None:
                return ir.Number(number, span)
            number = _bounded_number(text)
            if number is None:
                return self._out_of_range(text, span, Message("larger than the largest number an agreement can use "
                                                              "({limit:,})", limit=MAX_NUMBER))
            self.numbers_read[text] = number
            return ir.Number(number, span)
        if kind == "PERCENT":
            number = _bounded_number(text[:-1])
            if number is None or not 0 <= number <= 100:
                return self._out_of_range(text, span, Message("not a percentage between 0% and 100%"),
                                          help=Message("a rate is a share of leads: 0% to 100%"))
            return ir.Percent(number, span)
        if kind == "DATE":
            try:
                day = date.fromisoformat(text)
            except ValueError:
                self._error(INVALID_VALUE, Message('{text} is not a date in the calendar', text=text), span, help=Message('dates are YYYY-MM-DD'))
                return _Invalid(span)
            if not EARLIEST_DATE <= day <= LATEST_DATE:
                return self._out_of_range(text, span, Message("outside the dates an agreement can use ({earliest} to "
                                                              "{latest})", earliest=EARLIEST_DATE.isoformat(),
                                                              latest=LATEST_DATE.isoformat()),
                                          help=Message("check the year"))
            return ir.DateValue(day, span)
        if kind == "TIME":
            hour, minute = (int(p) for p in text.split(":"))
            if minute > 59 or hour > 24 or (hour == 24 and minute):
                self._error(INVALID_VALUE, Message('{text} is not a time of day', text=text), span, help=Message('times run from 00:00 to 24:00'))
                return _Invalid(span)
            return ir.TimeOfDay(hour, minute, span)
        raise AssertionError(f"unhandled value token {kind}")

    def _duration(self, text: str, span: Span):
        amount_text, unit = _DURATION_RE.match(text).groups()  # type: ignore[union-attr]
        if unit not in ir.DURATION_UNITS:
            amount = amount_text
            hint = UNIT_SPELLINGS.get(unit, "") if unit in UNIT_SPELLINGS else None
            if hint:
                help_text = Message("write {amount}{unit}", amount=amount, unit=hint)
            elif unit in UNIT_SPELLINGS:
                help_text = Message("months vary in length: write days (e.g. 30d) or weeks")
            else:
                guess = suggest(unit, ir.DURATION_UNITS)
                help_text = (Message("did you mean {amount}{unit}? units: m, h, d, w, bh, bd", amount=amount, unit=guess)
                             if guess else Message("units: m, h, d, w, bh, bd"))
            self._error(UNKNOWN_UNIT, Message("unknown duration unit '{unit}' in {text}", unit=unit, text=text), span, help=help_text)
            return _Invalid(span)
        if "." in amount_text:
            self._error(
                INVALID_VALUE,
                Message('durations are whole numbers: {text}', text=text),
                span,
                help=Message('use a smaller unit (e.g. 90m instead of 1.5h)'),
            )
            return _Invalid(span)
        limit = MAX_DURATION[unit]
        # compared as text first: converting a number of thousands of digits is itself slow
        if len(amount_text.lstrip("0")) > len(str(limit)) or int(amount_text) > limit:
            return self._out_of_range(text, span, Message("longer than the longest duration an agreement can use "
                                                          "({limit:,}{unit}, about ten years)", limit=limit, unit=unit),
                                      help=Message("check for a digit too many or a wrong unit"))
        amount = int(amount_text)
        self.durations_read[text] = (amount, unit)
        return ir.Duration(amount, unit, span)

    def names(self, meta, children):
        return [self._name(t) for t in children]

    def strings(self, meta, children):
        return [ir.Text(self._text(t), self._tspan(t)) for t in children]

    def owner(self, meta, children):
        return _Item("owner", self._name(children[0]), self._span(meta))

    # ------------------------------------------------------------------ agreement
    def start(self, meta, children) -> ir.Policy:
        buckets: dict[type, list] = {}
        for child in children:
            buckets.setdefault(type(child), []).append(child)
        agreements = buckets.get(ir.Agreement, [])
        for extra in agreements[1:]:
            self._error(
                DUPLICATE_SETTING,
                Message('a policy file holds one agreement; this is a second `agreement` block'),
                extra.span,
                help=Message('split the agreements into separate .sla files'),
                related=[Related(agreements[0].span, Message('first agreement'))],
            )
        if not children:
            from .source import EMPTY_POLICY

            self._error(EMPTY_POLICY, Message('the policy has no statements'), Span.point(self.path), help=Message('start with an `agreement` block'))
        elif not agreements:
            self._error(
                MISSING_REQUIRED,
                Message('the policy has no `agreement` block (title, version, effective date, owner)'),
                Span.point(self.path),
                help=Message('add `agreement "Title" { … }` at the top of the file'),
            )
        responsibilities = [r for block in buckets.get(_Responsibilities, []) for r in block.rows]
        cancellations = [c for block in buckets.get(_Cancellations, []) for c in block.rows]
        return ir.Policy(
            path=self.path,
            agreement=agreements[0] if agreements else None,
            teams=tuple(buckets.get(ir.Team, ())),
            properties=tuple(buckets.get(ir.Property, ())),
            events=tuple(buckets.get(ir.Event, ())),
            scores=tuple(buckets.get(ir.ScoreModel, ())),
            calendars=tuple(buckets.get(ir.Calendar, ())),
            stages=tuple(buckets.get(ir.Stage, ())),
            priorities=tuple(buckets.get(ir.Priority, ())),
            kpis=tuple(buckets.get(ir.Kpi, ())),
            information=tuple(buckets.get(ir.Information, ())),
            responsibilities=tuple(_renumber(responsibilities, "responsibilities")),
            reviews=tuple(buckets.get(ir.Review, ())),
            cancellations=tuple(_renumber(cancellations, "cancellation")),
            translations=tuple(buckets.get(ir.Translation, ())),
        )

    def agreement(self, meta, children):
        title_token, *items = children
        span = self._span(meta)
        settings = self._settings(items, Message('the agreement'), repeatable={"purpose", "amendment"})
        self._require(settings, "version", Message('the agreement'), span, 'version "1.0"')
        self._require(settings, "effective", Message('the agreement'), span, "effective 2026-04-01")
        language = self._one(settings, "language")
        return ir.Agreement(
            title=self._text(title_token),
            version=self._one(settings, "version"),
            effective=self._one(settings, "effective"),
            language=language or "en",
            owner=self._one(settings, "owner"),
            purpose=tuple(self._all(settings, "purpose")),
            calendar=self._one(settings, "calendar"),
            span=span,
            term=self._term(settings),
            amendment=self._amendment(settings),
        )

    def _term(self, settings) -> ir.Term | None:
        term = self._one(settings, "term")
        renewal_items = settings.get("renews", [])
        if term is None and not renewal_items:
            return None
        renewal, review = (renewal_items[0].value if renewal_items else (None, None))
        if term is None:
            self._error(
                MISSING_REQUIRED,
                Message('the agreement renews but has no `term` to renew'),
                renewal_items[0].span,
                help=Message('add `term 12 months` (or `term until 2027-03-31`) next to `renews …`'),
            )
            return None
        length, until, span = term
        if renewal_items:
            span = _cover(span, renewal_items[0].span)
        return ir.Term(length, until, renewal, review, span)

    def _amendment(self, settings) -> ir.Amendment | None:
        items = settings.get("amendment", [])
        if not items:
            return None
        approvers: list[ir.Name] = []
        texts: list[ir.Text] = []
        first_approvers: Span | None = None
        for item in items:
            if isinstance(item.value, ir.Text):
                texts.append(item.value)
            elif first_approvers is not None:
                self._error(
                    DUPLICATE_SETTING,
                    Message('the agreement has more than one `amendment approved by`'),
                    item.span,
                    help=Message('list every approving party after one `amendment approved by`, separated by commas'),
                    related=[Related(first_approvers, Message('first given here'))],
                )
            else:
                first_approvers = item.span
                approvers.extend(item.value)
        span = items[0].span
        for item in items[1:]:
            span = _cover(span, item.span)
        return ir.Amendment(tuple(approvers), tuple(texts), span)

    def term(self, meta, children):
        span = self._span(meta)
        if len(children) == 1:  # term until DATE
            until = self._expect(children[0], (ir.DateValue,), Message('a date (YYYY-MM-DD)'), Message('`term until`'))
            if until is None:
                return None
            return _Item("term", (None, until, span), span)
        count_token, unit_token = children
        count = _number(str(count_token))
        if not isinstance(count, int) or count < 1:
            self._error(INVALID_VALUE, Message('a term is a whole number of units, not {count_token}', count_token=count_token), self._tspan(count_token),
                        help=Message('e.g. `term 12 months` or `term 1 year`'))
            return None
        unit_name = self._name(unit_token)
        unit = _PLURAL_UNITS.get(unit_name.name, unit_name.name)
        if self._option(ir.Name(unit, unit_name.span), ir.CADENCE_UNITS, Message('term unit')) is None:
            return None
        return _Item("term", (ir.Cadence(count, unit, span), None, span), span)

    def renewal(self, meta, children):
        span = self._span(meta)
        (token,) = children
        if token.type == "AUTOMATICALLY":
            return _Item("renews", ("automatic", None), span)
        return _Item("renews", ("after_review", self._name(token)), span)

    def amendment(self, meta, children):
        span = self._span(meta)
        (part,) = children
        if isinstance(part, Token):
            return _Item("amendment", ir.Text(self._text(part), self._tspan(part)), span)
        return _Item("amendment", part, span)

    def data_source(self, meta, children):
        token = children[0]
        return _Item("source", ir.Text(self._text(token), self._tspan(token)), self._span(meta))

    def version(self, meta, children):
        (value,) = children
        checked = self._expect(value, (ir.Text, ir.Number), Message('a version such as "1.0"'), Message('`version`'))
        if checked is not None:
            text = checked.value if isinstance(checked, ir.Text) else _source_text(self.source, checked.span)
            checked = ir.Text(text, checked.span)
        return _Item("version", checked, self._span(meta))

    def effective(self, meta, children):
        return _Item("effective", self._expect(children[0], (ir.DateValue,), Message('a date (YYYY-MM-DD)'), Message('`effective`')), self._span(meta))

    def language(self, meta, children):
        return _Item("language", self._word(children[0], ir.LANGUAGES, Message('document language')), self._span(meta))

    def purpose(self, meta, children):
        return _Item("purpose", ir.Text(self._text(children[0]), self._tspan(children[0])), self._span(meta))

    def default_calendar(self, meta, children):
        return _Item("calendar", self._name(children[0]), self._span(meta))

    # ------------------------------------------------------------------ teams
    def team(self, meta, children):
        kind, *rest = children
        name, label, items = self._header(rest)
        block = Message('party `{name}`', name=name) if kind == "party" else Message('team `{name}`', name=name)
        settings = self._settings(items, block)
        role = self._one(settings, "role")
        return ir.Team(
            id=_nfc(str(name)),
            label=self._text(label) if label else _nfc(str(name)),
            signs=kind.type == "PARTY",
            role=role,
            lead=self._one(settings, "lead"),
            reviewers=tuple(self._one(settings, "reviewers", ())),
            capacity=self._one(settings, "capacity"),
            parent=self._one(settings, "part of"),
            span=self._span(meta),
            name_span=self._tspan(name),
            clause_id=f"party.{_nfc(str(name))}",
        )

    def team_lead(self, meta, children):
        texts = [c for c in children if isinstance(c, Token)]
        identity = dict(c for c in children if isinstance(c, tuple))
        name = self._text(texts[0])
        title = self._text(texts[1]) if len(texts) > 1 else None
        person = ir.Person(name, title, identity.get("email"), identity.get("certificate"), self._span(meta))
        return _Item("lead", person, self._span(meta))

    def lead_email(self, meta, children):
        token = children[0]
        email = self._text(token)
        if not _EMAIL.fullmatch(email):
            self._error(INVALID_VALUE, Message('{email!r} is not an e-mail address', email=email), self._tspan(token),
                        help=Message('write the address the signer\'s certificate carries, e.g. email "aiko@example.com"'))
            return ("email", None)
        return ("email", email)

    def lead_certificate(self, meta, children):
        token = children[0]
        text = self._text(token)
        digits = re.sub(r"[\s:]", "", text)
        if digits[:7].lower() == "sha256:":
            digits = digits[7:]
        if not re.fullmatch(r"[0-9A-Fa-f]{64}", digits):
            shape = (Message("{count} bytes, a SHA-1 fingerprint?", count=len(digits) // 2)
                     if re.fullmatch(r"[0-9A-Fa-f]{40}", digits) else Message("not 64 hexadecimal digits"))
            self._error(INVALID_VALUE, Message('{text!r} is not a SHA-256 certificate fingerprint ({shape})', text=text, shape=shape),
                        self._tspan(token),
                        help=Message("give the certificate's SHA-256 fingerprint: openssl x509 -in cert.pem -noout -fingerprint -sha256"))
            return ("certificate", None)
        return ("certificate", digits.lower())

    def role(self, meta, children):
        return _Item("role", self._word(children[0], ir.TEAM_ROLES, Message('team role')), self._span(meta))

    def reviewers(self, meta, children):
        return _Item("reviewers", children[0], self._span(meta))

    def capacity(self, meta, children):
        people_value, leads_value, period_token = children
        span = self._span(meta)
        people = self._whole(people_value, Message('the number of people'), 1)
        leads = self._whole(leads_value, Message('leads per person'), 1)
        period = self._word(period_token, ir.PERIODS, Message('period'))
        if people is None or leads is None or period is None:
            return _Item("capacity", None, span)
        return _Item("capacity", ir.Capacity(people, leads, period, span), span)

    def part_of(self, meta, children):
        return _Item("part of", self._name(children[0]), self._span(meta))

    # ------------------------------------------------------------------ properties and events
    def property(self, meta, children):
        name, label, rest = self._header(children)
        type_info = rest[0]
        hubspot = rest[1] if len(rest) > 1 else None
        type_name, options, labels = type_info
        return ir.Property(
            id=_nfc(str(name)),
            label=self._text(label) if label else _nfc(str(name)),
            type=type_name or "text",
            options=tuple(options),
            hubspot=hubspot,
            span=self._span(meta),
            name_span=self._tspan(name),
            option_labels=tuple(labels),
        )

    def enum_option(self, meta, children):
        value = children[0]
        label = children[1] if len(children) > 1 else None
        return value, (ir.Text(self._text(label), self._tspan(label)) if label is not None else None)

    def property_type(self, meta, children):
        type_token, *entries = children
        type_name = self._word(type_token, ir.PROPERTY_TYPES, Message('property type'))
        options: list[ir.Text] = []
        labels: list[ir.OptionLabel] = []
        bracketed = source_slice(self.source, meta) != str(type_token)
        if type_name == "enum":
            seen: dict[str, ir.Text] = {}
            for value, label in entries:
                text = self._expect(value, (ir.Text,), Message('quoted option values'), Message('an enum option'))
                if text is None:
                    continue
                if text.value in seen:
                    self._error(
                        INVALID_VALUE,
                        Message('enum option "{text}" is listed twice', text=text.value),
                        text.span,
                        related=[Related(seen[text.value].span, Message('first listed here'))],
                    )
                    continue
                seen[text.value] = text
                options.append(text)
                if label is not None:
                    labels.append(ir.OptionLabel(text.value, label.value, _cover(text.span, label.span)))
            if not bracketed:
                self._error(
                    MISSING_REQUIRED,
                    Message('an enum property needs its options'),
                    self._span(meta),
                    help=Message('list them: enum ["yes", "no"]'),
                )
        elif bracketed and type_name is not None:
            self._error(
                INVALID_VALUE,
                Message('only enum properties take a list of options, not {type_name}', type_name=type_name),
                self._span(meta),
                help=Message('write `enum [...]` or drop the list after `{type_name}`', type_name=type_name),
            )
        return type_name, options, labels

    def hubspot_name(self, meta, children):
        return _nfc(str(children[0]))

    def event(self, meta, children):
        name, label, rest = self._header(children)
        return ir.Event(
            id=_nfc(str(name)),
            label=self._text(label) if label else _nfc(str(name)),
            hubspot=rest[0] if rest else None,
            span=self._span(meta),
            name_span=self._tspan(name),
        )

    # ------------------------------------------------------------------ scoring
    def score_model(self, meta, children):
        name, label, items = self._header(children)
        model_id = _nfc(str(name))
        settings = self._settings(items, Message('score `{name}`', name=name), repeatable={"group"})
        groups = tuple(
            _with_ids_of_group(g, model_id) for g in self._all(settings, "group")
        )
        hubspot = self._one(settings, "hubspot")
        return ir.ScoreModel(
            id=model_id,
            label=self._text(label) if label else model_id,
            hubspot=hubspot.name if hubspot else None,
            groups=groups,
            span=self._span(meta),
            name_span=self._tspan(name),
            clause_id=f"score.{model_id}",
        )

    def hubspot_mapping(self, meta, children):
        return _Item("hubspot", self._name(children[0]), self._span(meta))

    def score_group(self, meta, children):
        name, label, rest = self._header(children)
        cap = None
        if rest and not isinstance(rest[0], ir.ScoreRule):
            cap_value = rest[0]
            rest = rest[1:]
            points = self._whole(cap_value, Message("a group's `max`"), 0)
            cap = ir.Number(points, cap_value.span) if points is not None else None
        group = ir.ScoreGroup(
            id=_nfc(str(name)),
            label=self._text(label) if label else _nfc(str(name)),
            cap=cap,
            rules=tuple(rest),
            span=self._span(meta),
            name_span=self._tspan(name),
            clause_id="",
        )
        return _Item("group", group, self._span(meta))

    def per_occurrence(self, meta, children):
        event_token, *cap_value = children
        name = self._name(event_token)
        ref = ir.Ref(name.name, None, name.span)
        cap = None
        if cap_value:
            points = self._whole(cap_value[0], Message("a rule's `max`"), 1)
            cap = ir.Number(points, cap_value[0].span) if points is not None else None
        return _PerOccurrence(ref, cap)

    def score_rule(self, meta, children):
        points_token, label_token, condition = children
        per = None
        if isinstance(condition, _PerOccurrence):
            per = condition
            condition = ir.Truthy(per.ref, per.ref.span)  # the rule applies once the event happened
        span = self._span(meta)
        points = _bounded_number(str(points_token), MAX_COUNT)
        if points is None:
            self._out_of_range(str(points_token), self._tspan(points_token),
                               Message("more points than an agreement can use (at most {limit:,} either way)",
                                       limit=MAX_COUNT))
            points = 0
        elif not isinstance(points, int):
            self._error(INVALID_VALUE, Message('points are whole numbers, not {points_token}', points_token=points_token), self._tspan(points_token))
            points = int(points)
        if per is not None:
            return ir.ScoreRule(points, self._text(label_token), condition, span, clause_id="", per=per.ref, cap=per.cap)
        return ir.ScoreRule(points, self._text(label_token), condition, span, clause_id="")

    # ------------------------------------------------------------------ calendars
    def calendar(self, meta, children):
        name, label, items = self._header(children)
        span = self._span(meta)
        cal_id = _nfc(str(name))
        settings = self._settings(items, Message('calendar `{name}`', name=name), repeatable={"closed", "hours"})
        self._require(settings, "timezone", Message('calendar `{name}`', name=name), span, 'timezone "Asia/Tokyo"')
        hours = [r for ranges in self._all(settings, "hours") for r in ranges]
        closed = [d for dates in self._all(settings, "closed") for d in dates]
        return ir.Calendar(
            id=cal_id,
            label=self._text(label) if label else cal_id,
            timezone=self._one(settings, "timezone"),
            days=tuple(self._one(settings, "days", ())),
            hours=tuple(hours),
            holidays=self._one(settings, "holidays"),
            closed=tuple(closed),
            span=span,
            name_span=self._tspan(name),
            clause_id=f"calendar.{cal_id}",
        )

    def timezone(self, meta, children):
        token = children[0]
        zone = ir.Text(self._text(token), self._tspan(token))
        if not _known_timezone(zone.value):
            guess = suggest(zone.value, _timezone_names())
            self._error(
                INVALID_VALUE,
                Message('unknown time zone "{zone}"', zone=zone.value),
                zone.span,
                help=(Message('did you mean "{guess}"? use an IANA name such as "Asia/Tokyo"', guess=guess) if guess
                      else Message('use an IANA name such as "Asia/Tokyo"')),
            )
            zone = None
        return _Item("timezone", zone, self._span(meta))

    def working_days(self, meta, children):
        days = [day for day in children[0] if self._option(day, ir.WEEKDAYS, Message('weekday')) is not None]
        return _Item("days", days, self._span(meta))

    def working_hours(self, meta, children):
        return _Item("hours", [c for c in children if c is not None], self._span(meta))

    def hour_range(self, meta, children):
        start = self._expect(children[0], (ir.TimeOfDay,), Message('a time (HH:MM)'), Message('working hours'))
        end = self._expect(children[1], (ir.TimeOfDay,), Message('a time (HH:MM)'), Message('working hours'))
        if start is None or end is None:
            return None
        return ir.HourRange(start, end, self._span(meta))

    def public_holidays(self, meta, children):
        name = self._name(children[0])
        if not re.fullmatch(r"[A-Za-z]{2}", name.name):
            self._error(
                INVALID_VALUE,
                Message("public holidays are named by a two-letter country code, not '{name}'", name=name.name),
                name.span,
                help=Message('e.g. `holidays JP` or `holidays US`'),
            )
            return _Item("holidays", None, self._span(meta))
        return _Item("holidays", ir.Name(name.name.upper(), name.span), self._span(meta))

    def closed_dates(self, meta, children):
        dates = [self._expect(v, (ir.DateValue,), Message('dates (YYYY-MM-DD)'), Message('`closed`')) for v in children]
        return _Item("closed", [d for d in dates if d is not None], self._span(meta))

    # ------------------------------------------------------------------ stages
    def stage(self, meta, children):
        name, label, items = self._header(children)
        stage_id = _nfc(str(name))
        span = self._span(meta)

        def block() -> Message:  # made only for a diagnostic
            return Message('stage `{stage}`', stage=stage_id)

        settings = self._settings(items, block, repeatable=_STAGE_REPEATABLE)
        if "unwritten deadline" in settings:
            self.unwritten_deadlines.update((stage_id, kind) for kind in self._all(settings, "unwritten deadline"))
        markers = []
        seen_markers: dict[str, ir.Marker] = {}
        for marker in self._all(settings, "marker"):
            if marker.kind in seen_markers:
                self._error(
                    DUPLICATE_SETTING,
                    Message('{block} is marked `{marker}` twice', block=block(), marker=marker.kind),
                    marker.span,
                    related=[Related(seen_markers[marker.kind].span, Message('first marked here'))],
                )
                continue
            seen_markers[marker.kind] = marker
            markers.append(marker)
        deadlines: list[ir.Deadline] = []
        by_kind: dict[str, ir.Deadline] = {}
        for d in self._all(settings, "deadline"):
            if d.kind in by_kind:
                self._error(
                    DUPLICATE_SETTING,
                    Message('{block} has more than one `{kind}` deadline', block=block(), kind=d.kind),
                    d.span,
                    help=Message('keep one; put the stricter internal target after `target`'),
                    related=[Related(by_kind[d.kind].span, Message('first given here'))],
                )
                continue
            if any(n.name == stage_id for n in d.through):
                self._error(
                    INVALID_VALUE,
                    Message('`through` names the stages after `{stage}` the decision spans, not `{stage}` itself', stage=stage_id),
                    next(n.span for n in d.through if n.name == stage_id),
                )
                d = ir.replaced(d, through=tuple(n for n in d.through if n.name != stage_id))
            ir.complete(d, stage=stage_id, clause_id=f"{stage_id}.{d.kind}")
            by_kind[d.kind] = d
            deadlines.append(d)
        # Markers and deadlines are sets of kinds: keep them in one order whatever the source
        # order, so that reordering those lines (as `sla fmt` does) leaves the IR unchanged.
        if len(markers) > 1:
            markers.sort(key=lambda m: _MARKER_ORDER.index(m.kind))
        if len(deadlines) > 1:
            deadlines.sort(key=lambda d: ir.DEADLINE_KINDS.index(d.kind))
        default_guard = "respond" if "respond" in by_kind else ("decide" if "decide" in by_kind else None)
        # the sequence: `respond` is step 1, the `then` lines steps 2, 3, … in source order (`sla fmt`
        # keeps them in that order, right after `respond`)
        steps = tuple(self._all(settings, "step")) if "step" in settings else ()
        for n, step in enumerate(steps, 2):
            ir.complete(step, stage=stage_id, number=n, clause_id=f"{stage_id}.step{n}")
        escalations = []
        used_ids: dict[str, int] = {}  # clause id → the next number to try after it
        for e in self._all(settings, "escalate"):
            on = None if e.idle else (e.on or default_guard)
            guard = "idle" if e.idle else (on or "stage")
            ir.complete(e, stage=stage_id, on=on, clause_id=_unique(f"{stage_id}.escalate.{guard}", used_ids))
            escalations.append(e)
        transitions = []
        for t in self._all(settings, "transition"):
            ir.complete(t, source=stage_id, clause_id=_unique(f"{stage_id}.to.{t.target.name}", used_ids))
            transitions.append(t)
        follow_up = self._one(settings, "follow up")
        if follow_up is not None:
            ir.complete(follow_up, stage=stage_id, clause_id=f"{stage_id}.follow_up")
        cadences: dict[str, ir.StageCadence] = {}  # event → its cadence (one per event and stage)
        for c in self._all(settings, "cadence"):
            first = cadences.get(c.event.name)
            if first is not None:
                self._error(
                    DUPLICATE_SETTING,
                    Message('{block} has more than one cadence of `{event}`', block=block(), event=c.event.name),
                    c.span,
                    help=Message('keep one; a cadence sets the least number per period'),
                    related=[Related(first.span, Message('first given here'))],
                )
                continue
            ir.complete(c, stage=stage_id, clause_id=f"{stage_id}.cadence.{c.event.name}")
            cadences[c.event.name] = c
        handoff = self._one(settings, "handoff")
        if handoff is not None:
            ir.complete(handoff, stage=stage_id, clause_id=f"{stage_id}.handoff")
        hubspot = self._one(settings, "hubspot")
        if hubspot is not None and self._option(hubspot, ir.HUBSPOT_LIFECYCLE_STAGES, _HUBSPOT_LIFECYCLE_STAGE) is None:
            hubspot = None
        return ir.Stage(
            id=stage_id,
            label=self._text(label) if label else stage_id,
            owner=self._one(settings, "owner"),
            markers=tuple(markers),
            hubspot=hubspot,
            description=self._one(settings, "description"),
            calendar=self._one(settings, "calendar"),
            deadlines=tuple(deadlines),
            follow_up=follow_up,
            escalations=tuple(escalations),
            handoff=handoff,
            transitions=tuple(transitions),
            span=span,
            name_span=self._tspan(name),
            clause_id=f"stage.{stage_id}",
            cadences=tuple(cadences.values()),
            steps=steps,
        )

    def marker(self, meta, children):
        token = children[0]
        condition = children[1] if len(children) > 1 else None
        return _Item("marker", ir.Marker(str(token), self._tspan(token), condition=condition), self._span(meta))

    def description(self, meta, children):
        return _Item("description", self._text(children[0]), self._span(meta))

    def stage_calendar(self, meta, children):
        return _Item("calendar", self._name(children[0]), self._span(meta))

    def deadline(self, meta, children):
        kind_token, within_value, *rest = children
        span = self._span(meta)
        kind = str(kind_token)
        within = self._expect(within_value, (ir.Duration,), _A_DURATION_24H_5BD,
                              lambda: Message('`{kind} within`', kind=kind))
        settings = self._settings(rest, lambda: Message('a `{kind}` deadline', kind=kind))
        target = self._one(settings, "target")
        via, via_when = self._deadline_via(kind, (settings.get("via") or [None])[0])
        through = self._deadline_through(kind, (settings.get("through") or [None])[0])
        if within is None:  # reported; the stage notes the deadline so no check says it is missing
            return _Item("unwritten deadline", kind, span)
        deadline = ir.Deadline("", kind, within, target, self._one(settings, "owner"), span, "",
                               source=self._one(settings, "source"), via=via, via_when=via_when, through=through)
        return _Item("deadline", deadline, span)

    def step(self, meta, children):
        """`then follow up 5 times within 10d via call, email`, `then decide within 5bd`."""
        span = self._span(meta)
        # (no starred target inside a tuple: Cython, which compiles this module, does not take it)
        if isinstance(children[0], Token) and children[0].type in ("RESPOND", "DECIDE"):
            kind, attempts_value = str(children[0]), None
            within_value, *rest = children[1:]
        else:
            kind = "follow_up"
            attempts_value, within_value, *rest = children
        where = Message('`then follow up … within`') if kind == "follow_up" else Message('`then {kind} within`', kind=kind)
        within = self._expect(within_value, (ir.Duration,), _A_DURATION_24H_5BD, where)
        attempts = None
        if attempts_value is not None:
            count = self._whole(attempts_value, Message('the number of follow-ups'), 1, MAX_FOLLOW_UPS)
            attempts = ir.Number(count, attempts_value.span) if count is not None else None
        settings = self._settings(rest, Message('a `then` step'))
        via: tuple[ir.Channel, ...] = ()
        via_item = (settings.get("via") or [None])[0]
        if via_item is not None:
            choices, channels, _ = via_item.value
            if choices:
                self._error(
                    INVALID_VALUE,
                    Message('the channels of a `then` step cannot be chosen by the lead\'s data'),
                    via_item.span,
                    help=Message('list the channels that count (`via call, email`), or choose them on the stage\'s `respond`'),
                )
            elif kind == "decide":
                self._error(
                    INVALID_VALUE,
                    Message('only a `respond` deadline names the activity that meets it; a `{kind}` deadline is met by leaving the stage', kind=kind),
                    via_item.span,
                    help=Message('delete `via …`'),
                )
            else:
                via = self._response_channels(channels)
        if within is None or (attempts_value is not None and attempts is None):
            return None
        step = ir.Step("", 0, kind, attempts, within, self._one(settings, "target"), self._one(settings, "owner"), via,
                       span, "", source=self._one(settings, "source"))
        return _Item("step", step, span)

    def step_number(self, meta, children):
        value = children[0]
        text = str(value)
        if not text.isdigit() or int(text) < 2 or int(text) > MAX_FOLLOW_UPS:
            self._error(
                INVALID_VALUE,
                Message('`on step {number}` names no step: the steps of a sequence are numbered from 2 (step 1 is `respond`)', number=text),
                self._tspan(value),
                help=Message('write `on respond` for step 1, `on step 2` for the first `then` line'),
            )
            return _StepNumber(None)
        return _StepNumber(int(text))

    def _deadline_through(self, kind: str, through: _Item | None) -> tuple[ir.Name, ...]:
        """`decide within 5bd through sal`: the later stages a decision deadline spans."""
        if through is None:
            return ()
        if kind != "decide":
            self._error(
                INVALID_VALUE,
                Message('only a `decide` deadline spans stages; a `{kind}` deadline ends when the lead leaves the stage', kind=kind),
                through.span,
                help=Message('delete `through …`, or put it on the stage\'s `decide` deadline'),
            )
            return ()
        kept: list[ir.Name] = []
        for name in through.value:
            if all(n.name != name.name for n in kept):
                kept.append(name)
        return tuple(kept)

    def deadline_through(self, meta, children):
        return _Item("through", children[0], self._span(meta))

    def _deadline_via(self, kind: str, via: _Item | None) -> tuple[tuple[ir.Channel, ...], tuple[ir.ChannelChoice, ...]]:
        """`respond within 4bh via call`: the activities that meet the deadline (a required channel);
        `via call when pricing_page_view, email otherwise`: chosen by the lead's data."""
        if via is None:
            return (), ()
        if kind != "respond":
            self._error(
                INVALID_VALUE,
                Message('only a `respond` deadline names the activity that meets it; a `{kind}` deadline is met by leaving the stage', kind=kind),
                via.span,
                help=Message('delete `via …`, or put it on the stage\'s `respond` deadline'),
            )
            return (), ()
        choices, otherwise, said = via.value
        if choices and not said:
            # every lead must have a channel: a lead meeting none of the conditions would have none
            self._error(
                MISSING_REQUIRED,
                Message('a channel chosen by the lead\'s data needs an `otherwise` for the leads that meet none of the conditions'),
                via.span,
                help=Message('end the choice with `, email otherwise` (the channels for every other lead)'),
            )
            return (), ()
        kept_choices = tuple(replace(c, channels=self._response_channels(c.channels)) for c in choices)
        return self._response_channels(otherwise), tuple(c for c in kept_choices if c.channels)

    def _response_channels(self, channels) -> tuple[ir.Channel, ...]:
        kept: list[ir.Channel] = []
        for channel in channels:
            if channel.kind not in ir.ACTIVITY_KINDS:
                self._error(
                    UNKNOWN_OPTION,
                    Message('a `{channel}` message is not a response: only an activity logged on the lead meets a `respond` deadline', channel=channel.kind),
                    channel.span,
                    help=Message("choose one of: {options}", options=_choices(ir.ACTIVITY_KINDS)),
                )
            elif channel.target is not None:
                self._error(
                    INVALID_VALUE,
                    Message('a response by `{channel}` has no destination', channel=channel.kind),
                    channel.span,
                    help=Message('write `via {channel}` without the text', channel=channel.kind),
                )
            elif all(c.kind != channel.kind for c in kept):
                kept.append(channel)
        return tuple(kept)

    def deadline_via(self, meta, children):
        choices = [c for c in children if isinstance(c, ir.ChannelChoice)]
        lists = [c for c in children if isinstance(c, list)]
        said = any(isinstance(c, Token) and c.type == "OTHERWISE" for c in children)
        if not choices:
            return _Item("via", ((), lists[0], True), self._span(meta))
        return _Item("via", (tuple(choices), lists[0] if lists else [], said), self._span(meta))

    def via_choice(self, meta, children):
        return ir.ChannelChoice(tuple(children[0]), children[1], self._span(meta))

    def deadline_target(self, meta, children):
        target = self._expect(children[0], (ir.Duration,), _A_DURATION_12H, _TARGET)
        return _Item("target", target, self._span(meta))

    def follow_up(self, meta, children):
        span = self._span(meta)
        attempts_value = children[0]
        # the optional parts sorted out in one pass (the first list and owner count, as written)
        from_first_contact = False
        offsets_values = []
        channels = owner_token = None
        for c in children[1:]:
            if isinstance(c, _FirstContact):
                from_first_contact = True
            elif isinstance(c, list):
                if channels is None:
                    channels = c
            elif isinstance(c, Token):
                if owner_token is None:
                    owner_token = c
            else:
                offsets_values.append(c)
        attempts = self._whole(attempts_value, Message('the number of follow-ups'), 1, MAX_FOLLOW_UPS)
        offsets = [self._expect(v, (ir.Duration,), Message('durations such as 0d, 3d, 7d'), Message('follow-up offsets')) for v in offsets_values]
        if attempts is None or any(o is None for o in offsets):
            return None
        if attempts != len(offsets):
            self._error(
                INVALID_VALUE,
                Message('{attempts} follow-ups but {offsets} offsets', attempts=attempts, offsets=len(offsets)),
                span,
                help=Message('give one offset (time after entering the stage) per follow-up'),
            )
            return None
        follow = ir.FollowUp(
            "", ir.Number(attempts, attempts_value.span), tuple(offsets), tuple(channels or ()),
            self._name(owner_token) if owner_token else None, span, "", from_first_contact=from_first_contact
        )
        return _Item("follow up", follow, span)

    def stage_cadence(self, meta, children):
        span = self._span(meta)
        minimum_value, event_token, period_token, *rest = children
        minimum = self._whole(minimum_value, Message('the least number of events per period'), 1, MAX_FOLLOW_UPS)
        period = self._word(period_token, ir.CADENCE_PERIODS, Message('cadence period'))
        if minimum is None or period is None:
            return None
        owner = self._name(rest[0]) if rest else None
        cadence = ir.StageCadence("", ir.Number(minimum, minimum_value.span), self._name(event_token), period, owner,
                                  span, "")
        return _Item("cadence", cadence, span)

    def first_contact(self, meta, children):
        return _FirstContact()

    def escalation(self, meta, children):
        span = self._span(meta)
        to_token = children[0]
        after_value = children[1]
        # the optional parts sorted out in one pass (the first of each kind counts, as written)
        on = step_ref = channels = None
        idle = False
        for c in children[2:]:
            if isinstance(c, Token):
                if on is None:
                    on = str(c)
            elif isinstance(c, _StepNumber):
                if step_ref is None:
                    step_ref = c
            elif isinstance(c, _Idle):
                idle = True
            elif isinstance(c, list) and channels is None:
                channels = c
        if step_ref is not None:
            if step_ref.number is None:
                return None
            on = f"step{step_ref.number}"
        after = self._expect(after_value, (ir.Duration,), _A_DURATION_24H, _ESCALATE_AFTER)
        if after is None:
            return None
        return _Item("escalate", ir.Escalation("", self._name(to_token), after, on, tuple(channels or ()), span, "",
                                               idle=idle), span)

    def idle(self, meta, children):
        return _Idle()

    def handoff(self, meta, children):
        span = self._span(meta)
        sender, *items = children
        within = None
        if items and not isinstance(items[0], _Item):  # `within D` on the header line
            within = self._expect(items[0], (ir.Duration,), Message('a duration such as 2h'), Message('`handoff … within`'))
            items = items[1:]
        settings = self._settings(items, Message('the handoff'))
        handoff = ir.Handoff(
            "",
            self._name(sender),
            tuple(self._one(settings, "notify", ())),
            tuple(self._one(settings, "include", ())),
            span,
            "",
            within=within,
        )
        return _Item("handoff", handoff, span)

    def notify(self, meta, children):
        return _Item("notify", children[0], self._span(meta))

    def include(self, meta, children):
        return _Item("include", children[0], self._span(meta))

    def channels(self, meta, children):
        return [c for c in children if c is not None]

    def channel(self, meta, children):
        kind = self._word(children[0], ir.CHANNELS, _CHANNEL)
        if kind is None:
            return None
        target = self._text(children[1]) if len(children) > 1 else None
        return ir.Channel(kind, target, self._span(meta))

    def transition(self, meta, children):
        span = self._span(meta)
        _arrow, target_token, *rest = children
        label = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            label = self._text(rest[0])
            rest = rest[1:]
        settings = self._settings(rest, _A_TRANSITION)
        condition = self._one(settings, "when")
        after = self._one(settings, "after")
        record = tuple(self._one(settings, "record", ()))
        return _Item(
            "transition",
            ir.Transition("", self._name(target_token), label, condition, after, record, span, ""),
            span,
        )

    def when(self, meta, children):
        return _Item("when", children[0], self._span(meta))

    def after(self, meta, children):
        after = self._expect(children[0], (ir.Duration,), _A_DURATION_30D, _AFTER)
        return _Item("after", after, self._span(meta))

    def record(self, meta, children):
        return _Item("record", children[0], self._span(meta))

    # ------------------------------------------------------------------ conditions
    def or_expr(self, meta, children):
        items = []
        for child in children:
            items.extend(child.items if isinstance(child, ir.AnyOf) else [child])
        return ir.AnyOf(tuple(items), self._span(meta))

    def and_expr(self, meta, children):
        items = []
        for child in children:
            items.extend(child.items if isinstance(child, ir.AllOf) else [child])
        return ir.AllOf(tuple(items), self._span(meta))

    def negation(self, meta, children):
        return ir.Negation(children[-1], self._span(meta))

    def ref(self, meta, children):
        member = _nfc(children[1].value) if len(children) > 1 else None
        return ir.Ref(_nfc(children[0].value), member, self._span(meta))

    def comparison(self, meta, children):
        ref, op, value = children
        checked = self._condition_value(value)
        if checked is None:
            checked = ir.Text("", value.span)  # keeps the tree whole; the error is reported
            self.placeholders.add(value.span)  # … and the checks do not report it again
        return ir.Comparison(ref, str(op), checked, self._span(meta))

    def membership(self, meta, children):
        ref, *rest = children
        negated = bool(rest and isinstance(rest[0], Token) and rest[0].type == "NOT")
        values = [self._condition_value(v) for v in rest if not isinstance(v, Token)]
        return ir.Membership(ref, tuple(v for v in values if v is not None), negated, self._span(meta))

    def presence(self, meta, children):
        negated = len(children) > 1
        return ir.Presence(children[0], negated, self._span(meta))

    def truthy(self, meta, children):
        return ir.Truthy(children[0], self._span(meta))

    def _condition_value(self, value):
        return self._expect(
            value,
            (ir.Text, ir.Number, ir.Flag, ir.DateValue),
            _CONDITION_VALUES,
            _IN_A_CONDITION,
        )

    # ------------------------------------------------------------------ priorities
    def priority(self, meta, children):
        name, label, rest = self._header(children)
        prio_id = _nfc(str(name))
        return ir.Priority(
            id=prio_id,
            label=self._text(label) if label else prio_id,
            condition=rest[0] if rest else None,
            span=self._span(meta),
            name_span=self._tspan(name),
            clause_id=f"priority.{prio_id}",
        )

    # ------------------------------------------------------------------ KPIs
    def kpi(self, meta, children):
        name, label, items = self._header(children)
        kpi_id = _nfc(str(name))
        span = self._span(meta)
        block = Message('KPI `{kpi}`', kpi=kpi_id)
        settings = self._settings(items, block)
        self._require(settings, "measure", block, span, "measure count mql per month")
        measure_item = self._one(settings, "measure")
        measure, period, by = measure_item if measure_item else (None, None, None)
        target = self._one(settings, "target")
        pending = target == _TO_BE_AGREED
        if pending:
            target = None
        alert = self._one(settings, "alert")
        if measure is None and measure_item is not None:
            target = alert = None  # the measure was reported; nothing to check the values against
        if measure is not None:
            expected = _MEASURE_VALUE[type(measure)]
            for what, item in (("target", target), ("alert", alert)):
                where = (Message("the target of a `{kind}` KPI", kind=expected[2]) if what == "target"
                         else Message("the alert of a `{kind}` KPI", kind=expected[2]))
                if item is not None and self._expect(item.value, expected[0], expected[1], where) is None:
                    if what == "target":
                        target = None
                    else:
                        alert = None
        return ir.Kpi(
            id=kpi_id,
            label=self._text(label) if label else kpi_id,
            owner=self._one(settings, "owner"),
            measure=measure,
            period=period,
            target=target,
            alert=alert,
            span=span,
            name_span=self._tspan(name),
            clause_id=f"kpi.{kpi_id}",
            target_pending=pending,
            source=self._one(settings, "source"),
            by=by,
        )

    def measure(self, meta, children):
        measure, period_token, *by = children
        period = self._name(period_token)
        if self._option(period, ir.PERIODS, Message('period')) is None:
            period = None
        return _Item("measure", (measure, period, self._name(by[0]) if by else None), self._span(meta))

    def sum_measure(self, meta, children):
        ref, stage = children
        return ir.SumMeasure(ref, self._name(stage), self._span(meta))

    def outcome_measure(self, meta, children):
        activity_token, outcome_token, stage = children
        activity = self._word(activity_token, ir.ACTIVITY_OUTCOMES, Message("activity"))
        if activity is None:
            return None
        outcome = self._word(outcome_token, ir.ACTIVITY_OUTCOMES[activity],
                               Message("outcome of a {activity}", activity=activity))
        if outcome is None:
            return None
        return ir.OutcomeMeasure(activity, outcome, self._name(stage), self._span(meta))

    def count_measure(self, meta, children):
        return ir.CountMeasure(self._name(children[0]), self._span(meta))

    def conversion_measure(self, meta, children):
        source, _arrow, targets = children
        return ir.ConversionMeasure(self._name(source), tuple(targets), self._span(meta))

    def compliance_measure(self, meta, children):
        stage, kind_token = children
        kind = self._word(kind_token, ir.COMPLIANCE_KINDS, Message("obligation to measure"))
        if kind is None:
            return None
        return ir.ComplianceMeasure(self._name(stage), kind, self._span(meta))

    def average_measure(self, meta, children):
        ref, stage = children
        return ir.AverageMeasure(ref, self._name(stage), self._span(meta))

    def duration_measure(self, meta, children):
        source, _arrow, target = children
        return ir.DurationMeasure(self._name(source), self._name(target), self._span(meta))

    def target(self, meta, children):
        if not children:  # target to be agreed
            return _Item("target", _TO_BE_AGREED, self._span(meta))
        op, value = children
        if isinstance(value, _Invalid):
            return _Item("target", None, self._span(meta))  # given, and already reported
        return _Item("target", ir.Threshold(str(op), value, self._span(meta)), self._span(meta))

    def alert(self, meta, children):
        op, value, *options = children
        span = self._span(meta)
        if isinstance(value, _Invalid):
            return None
        settings = self._settings(options, Message('an alert'))
        alert = ir.Alert(
            str(op),
            value,
            self._one(settings, "action"),
            tuple(self._one(settings, "notify", ())),
            self._one(settings, "review"),
            span,
        )
        return _Item("alert", alert, span)

    def alert_action(self, meta, children):
        return _Item("action", self._text(children[0]), self._span(meta))

    def alert_notify(self, meta, children):
        return _Item("notify", children[0], self._span(meta))

    def alert_review(self, meta, children):
        return _Item("review", self._name(children[0]), self._span(meta))

    # ------------------------------------------------------------------ information
    def information(self, meta, children):
        sender, receiver, *items = children
        sender_name, receiver_name = self._name(sender), self._name(receiver)
        base = f"information.{sender_name.name}.{receiver_name.name}"
        numbered = tuple(replace(i, clause_id=f"{base}.{n}") for n, i in enumerate(items, 1))
        return ir.Information(sender_name, receiver_name, numbered, self._span(meta), clause_id=base)

    def information_item(self, meta, children):
        text_token, *rest = children
        settings = self._settings(rest, Message('"{text}"', text=self._text(text_token)))
        within, anchor = self._one(settings, "within", (None, None))
        return ir.InformationItem(
            self._text(text_token), within, self._one(settings, "recorded in"), self._span(meta), "",
            anchor=anchor, every=self._one(settings, "every"),
        )

    def information_within(self, meta, children):
        value, *rest = children
        within = self._expect(value, (ir.Duration,), Message('a duration such as 3bd'), Message('`within`'))
        anchor = None
        if rest:
            event, stage = rest
            anchor = ir.InformationAnchor(str(event), self._name(stage), _cover(self._tspan(event), self._tspan(stage)))
        return _Item("within", (within, anchor), self._span(meta))

    def recorded_in(self, meta, children):
        return _Item("recorded in", self._name(children[0]), self._span(meta))

    # ------------------------------------------------------------------ responsibilities
    def responsibilities(self, meta, children):
        return _Responsibilities(children)

    def responsibility(self, meta, children):
        task, *roles = children
        span = self._span(meta)
        by_role: dict[str, list[ir.Name]] = {}
        first: dict[str, Span] = {}
        for role_token, names in roles:
            role = str(role_token)
            if role in by_role:
                self._error(
                    DUPLICATE_SETTING,
                    Message('`{role}` is given twice for "{task}"', role=role, task=self._text(task)),
                    self._tspan(role_token),
                    help=Message('list every team after one `{role}`, separated by commas', role=role),
                    related=[Related(first[role], Message('first given here'))],
                )
                continue
            by_role[role] = names
            first[role] = self._tspan(role_token)
        return ir.Responsibility(
            self._text(task),
            tuple(by_role.get("responsible", ())),
            tuple(by_role.get("accountable", ())),
            tuple(by_role.get("consulted", ())),
            tuple(by_role.get("informed", ())),
            span,
            clause_id="",
        )

    def raci(self, meta, children):
        return children[0], children[1]

    # ------------------------------------------------------------------ reviews
    def review(self, meta, children):
        name, label, items = self._header(children)
        review_id = _nfc(str(name))
        settings = self._settings(items, Message('review `{review}`', review=review_id), repeatable={"agenda"})
        return ir.Review(
            id=review_id,
            label=self._text(label) if label else review_id,
            cadence=self._one(settings, "every"),
            owner=self._one(settings, "owner"),
            attendees=tuple(self._one(settings, "attendees", ())),
            covers=tuple(self._one(settings, "covers", ())),
            agenda=tuple(self._all(settings, "agenda")),
            last_held=self._one(settings, "last held"),
            span=self._span(meta),
            name_span=self._tspan(name),
            clause_id=f"review.{review_id}",
        )

    def cadence(self, meta, children):
        span = self._span(meta)
        every = 1
        if len(children) == 2:
            every = _bounded_number(str(children[0]), MAX_COUNT)
            if every is not None and (not isinstance(every, int) or every < 1):
                self._error(INVALID_VALUE, Message('a cadence counts whole units, not {children}', children=children[0]), self._tspan(children[0]))
                return None
        unit_name = self._name(children[-1])
        unit = _PLURAL_UNITS.get(unit_name.name, unit_name.name)
        if self._option(ir.Name(unit, unit_name.span), ir.CADENCE_UNITS, Message('cadence unit')) is None:
            return None
        if every is None or every > MAX_CADENCE[unit]:
            self._out_of_range(f"every {children[0]} {unit_name.name}", self._tspan(children[0]),
                               Message("longer than the longest cadence an agreement can use (`every {count} {unit}s`, "
                                       "ten years)", count=MAX_CADENCE[unit], unit=unit))
            return None
        return _Item("every", ir.Cadence(every, unit, span), span)

    def attendees(self, meta, children):
        return _Item("attendees", children[0], self._span(meta))

    def covers(self, meta, children):
        topics = [t for t in children[0] if self._option(t, ir.REVIEW_TOPICS, Message('review topic')) is not None]
        return _Item("covers", topics, self._span(meta))

    def agenda(self, meta, children):
        return _Item("agenda", ir.Text(self._text(children[0]), self._tspan(children[0])), self._span(meta))

    def last_held(self, meta, children):
        held = self._expect(children[0], (ir.DateValue,), Message('a date (YYYY-MM-DD)'), Message('`last held`'))
        return _Item("last held", held, self._span(meta))

    # ------------------------------------------------------------------ translations
    def translation(self, meta, children):
        lang_token, *entries = children
        lang = self._name(lang_token)
        if self._option(lang, ir.LANGUAGES, Message('document language')) is None:
            return None
        kept: list[ir.TranslationEntry] = []
        first: dict[str, ir.TranslationEntry] = {}
        for entry in entries:
            if entry.source in first:
                self._error(
                    DUPLICATE_SETTING,
                    Message('`translation {lang}` translates "{source}" twice', lang=lang.name, source=entry.source),
                    entry.span,
                    help=Message('keep one translation of each text'),
                    related=[Related(first[entry.source].span, Message('first translated here'))],
                )
                continue
            first[entry.source] = entry
            kept.append(entry)
        return ir.Translation(lang.name, tuple(kept), self._span(meta), lang.span)

    def translation_entry(self, meta, children):
        source, text = children
        return ir.TranslationEntry(self._text(source), self._text(text), self._span(meta))

    # ------------------------------------------------------------------ cancellation
    def cancellation(self, meta, children):
        return _Cancellations(children)

    def cancellation_condition(self, meta, children):
        return ir.CancellationCondition(self._text(children[0]), self._span(meta), clause_id="")


# ---------------------------------------------------------------------- module helpers


@dataclass(slots=True)
class _PerOccurrence:
    ref: ir.Ref
    cap: ir.Number | None


@dataclass(slots=True)
class _Responsibilities:
    rows: list


@dataclass(slots=True)
class _Cancellations:
    rows: list


_MARKER_ORDER = ("entry", "terminal", "recycle")
_TO_BE_AGREED = "to be agreed"


def _cover(first: Span, last: Span) -> Span:
    """The span from the start of `first` to the end of `last`."""
    return Span(first.path, first.line, first.column, last.end_line, last.end_column)

_MEASURE_VALUE = {
    ir.CountMeasure: ((ir.Number,), Message("a number"), "count"),
    ir.ConversionMeasure: ((ir.Percent,), Message("a percentage such as 20%"), "rate"),
    ir.ComplianceMeasure: ((ir.Percent,), Message("a percentage such as 95%"), "rate"),
    ir.AverageMeasure: ((ir.Number,), Message("a number"), "average"),
    ir.DurationMeasure: ((ir.Duration,), Message("a duration such as 48h"), "time"),
    ir.SumMeasure: ((ir.Number,), Message("a number"), "sum"),
    ir.OutcomeMeasure: ((ir.Percent,), Message("a percentage such as 30%"), "rate"),
}


def _renumber(rows: list, prefix: str) -> list:
    from dataclasses import replace

    return [replace(row, clause_id=f"{prefix}.{n}") for n, row in enumerate(rows, 1)]


def _with_ids_of_group(group: ir.ScoreGroup, model_id: str) -> ir.ScoreGroup:
    base = f"score.{model_id}.{group.id}"
    for n, rule in enumerate(group.rules, 1):
        ir.complete(rule, clause_id=f"{base}.{n}")
    ir.complete(group, clause_id=base)
    return group


def _unique(base: str, used: dict[str, int]) -> str:
    """`base`, or `base.2`, `base.3` … if taken. The next number to try is kept per base, so
    thousands of transitions to one stage do not rescan every number taken before."""
    candidate = base
    n = used.get(base, 2)
    while candidate in used:
        candidate = f"{base}.{n}"
        n += 1
    used[base] = n
    used.setdefault(candidate, 2)
    return candidate


def _number(text: str) -> int | float:
    text = text.lstrip("+")
    return float(text) if "." in text else int(text)


def _bounded_number(text: str, limit: int = MAX_NUMBER) -> int | float | None:
    """The number written `text`, or None when its size is over `limit` (judged on the digits
    before converting: a number of thousands of digits cannot even be converted)."""
    whole = text.lstrip("+-").split(".")[0].lstrip("0")
    if len(whole) > len(str(limit)):
        return None
    number = _number(text)
    return number if abs(number) <= limit else None


def _shorten(text: str, limit: int = 40) -> str:
    """A value as it is quoted in a message: very long ones are cut in the middle."""
    return text if len(text) <= limit else f"{text[:20]}…{text[-12:]} ({len(text):,} characters)"


def _nfc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFC", text)


# An address as certificates carry it (RFC 5280 rfc822Name): one @, nothing blank or quoted.
_EMAIL = re.compile(r'[^\s@<>"(),;]+@[^\s@<>"(),;.][^\s@<>"(),;]*')

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def _unquote(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return _nfc(body)
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return _nfc("".join(out))


def _type_help(value, kinds: tuple[type, ...]) -> Message | None:
    if ir.Percent in kinds and isinstance(value, ir.Number):
        return Message("write it as a percentage: {value}%", value=value.value)
    if ir.Duration in kinds and isinstance(value, ir.Number):
        return Message("add a unit: {value}h (hours), {value}d (days) or {value}bd (business days)", value=value.value)
    if ir.Number in kinds and isinstance(value, ir.Percent):
        return Message("a count is a plain number: {value}", value=value.value)
    if ir.DateValue in kinds and isinstance(value, ir.Text):
        return Message("write dates without quotes: 2026-04-01")
    return None


def _choices(options: Iterable[str]) -> Listing:
    options = tuple(options)
    return Listing(options, limit=len(options), quote=False)


def _source_text(source: SourceFile, span: Span) -> str:
    return source.line_text(span.line)[span.column - 1 : span.end_column - 1]


def source_slice(source: SourceFile, meta) -> str:
    if meta.__class__ is Span:  # (the fast parser's lowering)
        return source.text[source.offset(meta.line, meta.column) : source.offset(meta.end_line, meta.end_column)]
    return source.text[meta.start_pos : meta.end_pos]


_TZ_CACHE: dict[str, bool] = {}


def _known_timezone(name: str) -> bool:
    if name not in _TZ_CACHE:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(name)
            _TZ_CACHE[name] = "/" in name or name == "UTC"
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            _TZ_CACHE[name] = False
    return _TZ_CACHE[name]


def _timezone_names() -> list[str]:
    import zoneinfo

    return sorted(zoneinfo.available_timezones())


def lower_policy(tree: Tree, source: SourceFile) -> tuple[ir.Policy, list[Diagnostic]]:
    lowerer = Lowerer(source)
    policy = lowerer.transform(tree)
    return policy, _finish_lowering(lowerer, policy, source, tree)


def _finish_lowering(lowerer: Lowerer, policy: ir.Policy, source: SourceFile, tree: Tree | None) -> list[Diagnostic]:
    # For the confusable-name check (SLA311/312): when no letter outside quoted texts and
    # comments is non-ASCII, no name can mix scripts or look like another, and the check
    # need not walk the whole IR for names.
    policy.extra["placeholder_values"] = frozenset(lowerer.placeholders)
    policy.extra["unwritten_deadlines"] = frozenset(lowerer.unwritten_deadlines)
    policy.extra["non_ascii_names"] = not source.text.isascii() and not _TEXTS_AND_COMMENTS.sub(
        "", source.text
    ).isascii()
    # For the template-syntax check (SLA836): only a file holding a HubL delimiter somewhere needs
    # its texts walked.
    policy.extra["template_syntax"] = _has_template_delimiter(source.text)
    return _check_limits(tree, policy, source) + lowerer.diagnostics


def parse_and_lower(source: SourceFile) -> tuple[list[Diagnostic], ir.Policy | None, list[Diagnostic]]:
    """Parse and lower a policy: (syntax diagnostics, the policy or None, lowering diagnostics).

    A clean text — almost every run — is lowered while it is parsed: the fast parser calls the
    Lowerer's method for each rule as it reduces it, so no parse tree is built or walked (a
    third of the front end's time on a large policy). A text with a syntax error, nested too
    deep, or with a line long enough to hold a name or text over its limit goes the long way,
    which reports those: the recovering parser's tree, then `lower_policy`."""
    from .fastparse import NotClean, TooDeep, fast_parser
    from .parser import MAX_TREE_DEPTH, parse_source

    if source.longest_line() <= MAX_NAME_CHARS:
        text = source.text if source.text.endswith("\n") else source.text + "\n"
        lowerer = Lowerer(source)
        try:
            policy = fast_parser().parse(text, lowerer.handlers(), MAX_TREE_DEPTH, source.path, SPANLESS_RULES)
        except (NotClean, TooDeep):
            pass
        else:
            return [], policy, _finish_lowering(lowerer, policy, source, None)
    parsed = parse_source(source)
    if parsed.tree is None or any(d.severity is Severity.ERROR for d in parsed.diagnostics):
        return parsed.diagnostics, None, []
    policy, lowering = lower_policy(parsed.tree, source)
    return parsed.diagnostics, policy, lowering


def _has_template_delimiter(text: str) -> bool:
    """Whether `text` holds `{{`, `{%`, `{#`, `}}`, `%}` or `#}`: the character next to each brace
    is looked at (a policy's braces are its blocks', a few per declaration), instead of six
    searches through the whole text for the six pairs."""
    find = text.find
    end = len(text) - 1
    at = find("{")
    while at != -1:
        if at < end and text[at + 1] in "{%#":
            return True
        at = find("{", at + 1)
    at = find("}", 1)
    while at != -1:
        if text[at - 1] in "}%#":
            return True
        at = find("}", at + 1)
    return False


# A statement is a line; strings never span lines. So lines that begin with `stage` or with
# `+N "…"` / `-N "…"` count the stages and score rules without parsing (a policy with a
# million stages must be refused before it is parsed, not after).
_STAGE_LINE = re.compile(r"^[ \t]*stage[ \t]", re.MULTILINE)
_SCORE_RULE_LINE = re.compile(r'^[ \t]*[+-][0-9][0-9.]*[ \t]+"', re.MULTILINE)


def limits_before_parsing(source: SourceFile) -> list[Diagnostic]:
    """SLA010 for a file with more stage or score-rule lines than the limits, found by a scan
    of the text (linear, in C) so that nothing is parsed; [] otherwise."""
    out = []
    for pattern, limit, what in ((_STAGE_LINE, MAX_STAGES, "stages"), (_SCORE_RULE_LINE, MAX_SCORE_RULES, "score rules")):
        text = source.text
        if text.count("stage" if what == "stages" else '"') <= limit:
            continue  # cannot hold that many: skip the scan
        matches = pattern.finditer(text)
        count = 0
        first_over = None
        for match in matches:
            count += 1
            if count == limit + 1:
                first_over = match
        if first_over is not None:
            start = first_over.start() + len(first_over.group()) - len(first_over.group().lstrip(" \t"))
            out.append(Diagnostic(
                TOO_MANY_DECLARATIONS,
                Message('the policy has {count:,} {what}; the limit is {limit:,} (nothing was parsed)', count=count, what=Message("stages") if what == "stages" else Message("score rules"), limit=limit),
                source.span(start, start + 1),
                help=Message('an agreement between teams needs far fewer; check the tool that wrote this file'),
            ))
    return out


def _check_limits(tree: Tree | None, policy: ir.Policy, source: SourceFile) -> list[Diagnostic]:
    out = []
    if tree is None or source.longest_line() <= MAX_NAME_CHARS:
        tokens = ()  # no line is long enough to hold a token over a limit: skip the walk
    else:
        tokens = tree.scan_values(lambda v: isinstance(v, Token) and v.type in ("STRING", "NAME"))
    for token in tokens:
        limit = MAX_STRING_CHARS + 2 if token.type == "STRING" else MAX_NAME_CHARS
        if len(token) > limit:
            quoted = token.type == "STRING"
            length, allowed = len(token) - (2 if quoted else 0), limit - (2 if quoted else 0)
            out.append(Diagnostic(
                STRING_TOO_LONG,
                Message("quoted text is {length:,} characters long; the limit is {limit:,}", length=length, limit=allowed)
                if quoted else
                Message("name is {length:,} characters long; the limit is {limit:,}", length=length, limit=allowed),
                Span(source.path, token.line, token.column, token.line, token.column + 1),
                help=Message("shorten it (or close the quote where the text should end)") if quoted else Message("shorten it"),
            ))
    rules = [r for model in policy.scores for group in model.groups for r in group.rules]
    for items, limit, what in ((policy.stages, MAX_STAGES, Message("stages")), (rules, MAX_SCORE_RULES, Message("score rules"))):
        if len(items) > limit:
            out.append(Diagnostic(
                TOO_MANY_DECLARATIONS,
                Message('the policy has {items_count:,} {what}; the limit is {limit:,}', items_count=len(items), what=what, limit=limit),
                items[limit].span if not hasattr(items[limit], "name_span") else items[limit].name_span,
                help=Message('an agreement between teams needs far fewer; check the tool that wrote this file'),
            ))
    for stage in policy.stages:
        if len(stage.transitions) > MAX_TRANSITIONS_PER_STAGE:
            out.append(Diagnostic(
                TOO_MANY_DECLARATIONS,
                Message("stage `{stage}` has {count:,} transitions; the limit is {limit} (every pair of them is "
                        "checked for ambiguity)", stage=stage.id, count=len(stage.transitions),
                        limit=MAX_TRANSITIONS_PER_STAGE),
                stage.transitions[MAX_TRANSITIONS_PER_STAGE].span,
                help=Message("split the routing over intermediate stages, or fix the tool that wrote this file"),
            ))
    return out
