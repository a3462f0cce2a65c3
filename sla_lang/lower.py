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
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable

from lark import Token, Transformer, Tree, v_args

from . import ir
from .diagnostics import Diagnostic, Related, Severity, define_rule
from .source import SourceFile, Span

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
    "and a `target`; a calendar needs a `timezone`.",
    bad='kpi mql_count "Monthly MQLs" {\n  owner marketing\n}',
    good='kpi mql_count "Monthly MQLs" {\n  owner marketing\n  measure count mql per month\n  target >= 120\n}',
)


def suggest(word: str, options: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return close[0] if close else None


_UNIT_HINTS = {
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


@dataclass(slots=True)
class _Item:
    key: str
    value: Any
    span: Span


_KIND_WORDS = {
    ir.Text: "quoted text",
    ir.Number: "a number",
    ir.Percent: "a percentage",
    ir.Duration: "a duration",
    ir.DateValue: "a date",
    ir.TimeOfDay: "a time of day",
    ir.Flag: "true or false",
}


@v_args(meta=True)
class Lowerer(Transformer):
    """Parse tree → IR. Collects diagnostics instead of raising."""

    def __init__(self, source: SourceFile) -> None:
        super().__init__(visit_tokens=False)
        self.source = source
        self.path = source.path
        self.diagnostics: list[Diagnostic] = []

    # ------------------------------------------------------------------ helpers
    def _span(self, meta) -> Span:
        return Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, token: Token) -> Span:
        return Span(self.path, token.line, token.column, token.end_line, token.end_column)

    def _error(self, rule, message: str, span: Span, help: str | None = None, related=()) -> None:
        self.diagnostics.append(Diagnostic(rule, message, span, help, tuple(related)))

    def _name(self, token: Token) -> ir.Name:
        return ir.Name(_nfc(str(token)), self._tspan(token))

    def _text(self, token: Token) -> str:
        return _unquote(str(token))

    def _expect(self, value, kinds: tuple[type, ...], what: str, where: str):
        """`value` if it is one of `kinds`, else None after a wrong-type diagnostic."""
        if isinstance(value, _Invalid) or value is None:
            return None
        if isinstance(value, kinds):
            return value
        self._error(
            WRONG_TYPE,
            f"{where} takes {what}, not {_KIND_WORDS.get(type(value), 'this value')}",
            value.span,
            help=_type_help(value, kinds),
        )
        return None

    def _whole(self, value, where: str, minimum: int = 0) -> int | None:
        number = self._expect(value, (ir.Number,), "a whole number", where)
        if number is None:
            return None
        if not isinstance(number.value, int) or number.value < minimum:
            self._error(
                INVALID_VALUE,
                f"{where} must be a whole number of at least {minimum}, not {number.value}",
                number.span,
            )
            return None
        return number.value

    def _option(self, name: ir.Name, options: Iterable[str], what: str) -> str | None:
        options = tuple(options)
        if name.name in options:
            return name.name
        guess = suggest(name.name, options)
        self._error(
            UNKNOWN_OPTION,
            f"unknown {what} '{name.name}'",
            name.span,
            help=(f"did you mean '{guess}'? " if guess else "") + "choose one of: " + ", ".join(options),
        )
        return None

    def _settings(self, items: list, block: str, repeatable: Iterable[str] = ()) -> dict[str, list[_Item]]:
        """Group block items by key, reporting single-valued keys given more than once."""
        repeatable = set(repeatable)
        grouped: dict[str, list[_Item]] = {}
        for item in items:
            if not isinstance(item, _Item):
                continue
            seen = grouped.setdefault(item.key, [])
            if seen and item.key not in repeatable:
                self._error(
                    DUPLICATE_SETTING,
                    f"{block} has more than one `{item.key}`",
                    item.span,
                    help="keep one of them",
                    related=[Related(seen[0].span, "first given here")],
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
            self._error(MISSING_REQUIRED, f"{block} has no `{key}`", span, help=f"add a line such as `{example}`")

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
        span = self._tspan(token)
        kind = token.type
        text = str(token)
        if kind == "STRING":
            return ir.Text(self._text(token), span)
        if kind == "NAME":
            return ir.Text(_nfc(text), span)
        if kind in ("TRUE", "FALSE"):
            return ir.Flag(kind == "TRUE", span)
        if kind == "NUMBER":
            return ir.Number(_number(text), span)
        if kind == "PERCENT":
            return ir.Percent(_number(text[:-1]), span)
        if kind == "DATE":
            try:
                return ir.DateValue(date.fromisoformat(text), span)
            except ValueError:
                self._error(INVALID_VALUE, f"{text} is not a date in the calendar", span, help="dates are YYYY-MM-DD")
                return _Invalid(span)
        if kind == "TIME":
            hour, minute = (int(p) for p in text.split(":"))
            if minute > 59 or hour > 24 or (hour == 24 and minute):
                self._error(INVALID_VALUE, f"{text} is not a time of day", span, help="times run from 00:00 to 24:00")
                return _Invalid(span)
            return ir.TimeOfDay(hour, minute, span)
        if kind == "DURATION":
            return self._duration(text, span)
        raise AssertionError(f"unhandled value token {kind}")

    def _duration(self, text: str, span: Span):
        amount_text, unit = _DURATION_RE.match(text).groups()  # type: ignore[union-attr]
        if unit not in ir.DURATION_UNITS:
            amount = amount_text
            hint = _UNIT_HINTS.get(unit, "") if unit in _UNIT_HINTS else None
            if hint:
                help_text = f"write {amount}{hint}"
            elif unit in _UNIT_HINTS:
                help_text = "months vary in length: write days (e.g. 30d) or weeks"
            else:
                guess = suggest(unit, ir.DURATION_UNITS)
                help_text = (f"did you mean {amount}{guess}? " if guess else "") + "units: m, h, d, w, bh, bd"
            self._error(UNKNOWN_UNIT, f"unknown duration unit '{unit}' in {text}", span, help=help_text)
            return _Invalid(span)
        if "." in amount_text:
            self._error(
                INVALID_VALUE,
                f"durations are whole numbers: {text}",
                span,
                help="use a smaller unit (e.g. 90m instead of 1.5h)",
            )
            return _Invalid(span)
        return ir.Duration(int(amount_text), unit, span)

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
                "a policy file holds one agreement; this is a second `agreement` block",
                extra.span,
                help="split the agreements into separate .sla files",
                related=[Related(agreements[0].span, "first agreement")],
            )
        if not children:
            from .source import EMPTY_POLICY

            self._error(EMPTY_POLICY, "the policy has no statements", Span.point(self.path), help="start with an `agreement` block")
        elif not agreements:
            self._error(
                MISSING_REQUIRED,
                "the policy has no `agreement` block (title, version, effective date, owner)",
                Span.point(self.path),
                help='add `agreement "Title" { … }` at the top of the file',
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
        )

    def agreement(self, meta, children):
        title_token, *items = children
        span = self._span(meta)
        settings = self._settings(items, "the agreement", repeatable={"purpose"})
        self._require(settings, "version", "the agreement", span, 'version "1.0"')
        self._require(settings, "effective", "the agreement", span, "effective 2026-04-01")
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
        )

    def version(self, meta, children):
        (value,) = children
        checked = self._expect(value, (ir.Text, ir.Number), 'a version such as "1.0"', "`version`")
        if checked is not None:
            text = checked.value if isinstance(checked, ir.Text) else _source_text(self.source, checked.span)
            checked = ir.Text(text, checked.span)
        return _Item("version", checked, self._span(meta))

    def effective(self, meta, children):
        return _Item("effective", self._expect(children[0], (ir.DateValue,), "a date (YYYY-MM-DD)", "`effective`"), self._span(meta))

    def language(self, meta, children):
        return _Item("language", self._option(self._name(children[0]), ir.LANGUAGES, "document language"), self._span(meta))

    def purpose(self, meta, children):
        return _Item("purpose", ir.Text(self._text(children[0]), self._tspan(children[0])), self._span(meta))

    def default_calendar(self, meta, children):
        return _Item("calendar", self._name(children[0]), self._span(meta))

    # ------------------------------------------------------------------ teams
    def team(self, meta, children):
        kind, *rest = children
        name, label, items = self._header(rest)
        block = f"{kind} `{name}`"
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
        name = self._text(children[0])
        title = self._text(children[1]) if len(children) > 1 else None
        return _Item("lead", ir.Person(name, title, self._span(meta)), self._span(meta))

    def role(self, meta, children):
        return _Item("role", self._option(self._name(children[0]), ir.TEAM_ROLES, "team role"), self._span(meta))

    def reviewers(self, meta, children):
        return _Item("reviewers", children[0], self._span(meta))

    def capacity(self, meta, children):
        people_value, leads_value, period_token = children
        span = self._span(meta)
        people = self._whole(people_value, "the number of people", 1)
        leads = self._whole(leads_value, "leads per person", 1)
        period = self._option(self._name(period_token), ir.PERIODS, "period")
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
        type_name, options = type_info
        return ir.Property(
            id=_nfc(str(name)),
            label=self._text(label) if label else _nfc(str(name)),
            type=type_name or "text",
            options=tuple(options),
            hubspot=hubspot,
            span=self._span(meta),
            name_span=self._tspan(name),
        )

    def property_type(self, meta, children):
        type_token, *values = children
        type_name = self._option(self._name(type_token), ir.PROPERTY_TYPES, "property type")
        options: list[ir.Text] = []
        bracketed = source_slice(self.source, meta) != str(type_token)
        if type_name == "enum":
            seen: dict[str, ir.Text] = {}
            for value in values:
                text = self._expect(value, (ir.Text,), "quoted option values", "an enum option")
                if text is None:
                    continue
                if text.value in seen:
                    self._error(
                        INVALID_VALUE,
                        f"enum option \"{text.value}\" is listed twice",
                        text.span,
                        related=[Related(seen[text.value].span, "first listed here")],
                    )
                    continue
                seen[text.value] = text
                options.append(text)
            if not bracketed:
                self._error(
                    MISSING_REQUIRED,
                    "an enum property needs its options",
                    self._span(meta),
                    help='list them: enum ["yes", "no"]',
                )
        elif bracketed and type_name is not None:
            self._error(
                INVALID_VALUE,
                f"only enum properties take a list of options, not {type_name}",
                self._span(meta),
                help=f"write `enum [...]` or drop the list after `{type_name}`",
            )
        return type_name, options

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
        settings = self._settings(items, f"score `{name}`", repeatable={"group"})
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
            points = self._whole(cap_value, "a group's `max`", 0)
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

    def score_rule(self, meta, children):
        points_token, label_token, condition = children
        span = self._span(meta)
        points = _number(str(points_token))
        if not isinstance(points, int):
            self._error(INVALID_VALUE, f"points are whole numbers, not {points_token}", self._tspan(points_token))
            points = int(points)
        return ir.ScoreRule(points, self._text(label_token), condition, span, clause_id="")

    # ------------------------------------------------------------------ calendars
    def calendar(self, meta, children):
        name, label, items = self._header(children)
        span = self._span(meta)
        cal_id = _nfc(str(name))
        settings = self._settings(items, f"calendar `{name}`", repeatable={"closed", "hours"})
        self._require(settings, "timezone", f"calendar `{name}`", span, 'timezone "Asia/Tokyo"')
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
                f"unknown time zone \"{zone.value}\"",
                zone.span,
                help=(f'did you mean "{guess}"? ' if guess else "") + 'use an IANA name such as "Asia/Tokyo"',
            )
            zone = None
        return _Item("timezone", zone, self._span(meta))

    def working_days(self, meta, children):
        days = [day for day in children[0] if self._option(day, ir.WEEKDAYS, "weekday") is not None]
        return _Item("days", days, self._span(meta))

    def working_hours(self, meta, children):
        return _Item("hours", [c for c in children if c is not None], self._span(meta))

    def hour_range(self, meta, children):
        start = self._expect(children[0], (ir.TimeOfDay,), "a time (HH:MM)", "working hours")
        end = self._expect(children[1], (ir.TimeOfDay,), "a time (HH:MM)", "working hours")
        if start is None or end is None:
            return None
        return ir.HourRange(start, end, self._span(meta))

    def public_holidays(self, meta, children):
        name = self._name(children[0])
        if not re.fullmatch(r"[A-Za-z]{2}", name.name):
            self._error(
                INVALID_VALUE,
                f"public holidays are named by a two-letter country code, not '{name.name}'",
                name.span,
                help="e.g. `holidays JP` or `holidays US`",
            )
            return _Item("holidays", None, self._span(meta))
        return _Item("holidays", ir.Name(name.name.upper(), name.span), self._span(meta))

    def closed_dates(self, meta, children):
        dates = [self._expect(v, (ir.DateValue,), "dates (YYYY-MM-DD)", "`closed`") for v in children]
        return _Item("closed", [d for d in dates if d is not None], self._span(meta))

    # ------------------------------------------------------------------ stages
    def stage(self, meta, children):
        name, label, items = self._header(children)
        stage_id = _nfc(str(name))
        span = self._span(meta)
        block = f"stage `{stage_id}`"
        settings = self._settings(
            items, block, repeatable={"marker", "deadline", "escalate", "transition"}
        )
        markers = []
        seen_markers: dict[str, ir.Marker] = {}
        for marker in self._all(settings, "marker"):
            if marker.kind in seen_markers:
                self._error(
                    DUPLICATE_SETTING,
                    f"{block} is marked `{marker.kind}` twice",
                    marker.span,
                    related=[Related(seen_markers[marker.kind].span, "first marked here")],
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
                    f"{block} has more than one `{d.kind}` deadline",
                    d.span,
                    help="keep one; put the stricter internal target after `target`",
                    related=[Related(by_kind[d.kind].span, "first given here")],
                )
                continue
            by_kind[d.kind] = ir.Deadline(
                stage_id, d.kind, d.within, d.target, d.owner, d.span, clause_id=f"{stage_id}.{d.kind}"
            )
            deadlines.append(by_kind[d.kind])
        # Markers and deadlines are sets of kinds: keep them in one order whatever the source
        # order, so that reordering those lines (as `sla fmt` does) leaves the IR unchanged.
        markers.sort(key=lambda m: _MARKER_ORDER.index(m.kind))
        deadlines.sort(key=lambda d: ir.DEADLINE_KINDS.index(d.kind))
        default_guard = "respond" if "respond" in by_kind else ("decide" if "decide" in by_kind else None)
        escalations = []
        used_ids: set[str] = set()
        for e in self._all(settings, "escalate"):
            on = e.on or default_guard
            escalations.append(
                ir.Escalation(stage_id, e.to, e.after, on, e.channels, e.span,
                              clause_id=_unique(f"{stage_id}.escalate.{on or 'stage'}", used_ids))
            )
        transitions = []
        for t in self._all(settings, "transition"):
            transitions.append(
                ir.Transition(
                    stage_id, t.target, t.label, t.condition, t.after, t.record, t.span,
                    clause_id=_unique(f"{stage_id}.to.{t.target.name}", used_ids),
                )
            )
        follow_up = self._one(settings, "follow up")
        if follow_up is not None:
            follow_up = ir.FollowUp(stage_id, follow_up.attempts, follow_up.offsets, follow_up.channels,
                                    follow_up.owner, follow_up.span, clause_id=f"{stage_id}.follow_up")
        handoff = self._one(settings, "handoff")
        if handoff is not None:
            handoff = ir.Handoff(stage_id, handoff.sender, handoff.channels, handoff.include, handoff.span,
                                 clause_id=f"{stage_id}.handoff")
        hubspot = self._one(settings, "hubspot")
        if hubspot is not None and self._option(hubspot, ir.HUBSPOT_LIFECYCLE_STAGES, "HubSpot lifecycle stage") is None:
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
        )

    def marker(self, meta, children):
        token = children[0]
        return _Item("marker", ir.Marker(str(token), self._tspan(token)), self._span(meta))

    def description(self, meta, children):
        return _Item("description", self._text(children[0]), self._span(meta))

    def stage_calendar(self, meta, children):
        return _Item("calendar", self._name(children[0]), self._span(meta))

    def deadline(self, meta, children):
        kind_token, within_value, *rest = children
        span = self._span(meta)
        kind = str(kind_token)
        within = self._expect(within_value, (ir.Duration,), "a duration such as 24h or 5bd", f"`{kind} within`")
        target = None
        owner = None
        for part in rest:
            if isinstance(part, Token):
                owner = self._name(part)
            else:
                target = self._expect(part, (ir.Duration,), "a duration such as 12h", "`target`")
        if within is None:
            return None
        return _Item("deadline", ir.Deadline("", kind, within, target, owner, span, ""), span)

    def follow_up(self, meta, children):
        span = self._span(meta)
        attempts_value, *rest = children
        offsets_values = [c for c in rest if not isinstance(c, (list, Token))]
        channels = next((c for c in rest if isinstance(c, list)), [])
        owner_token = next((c for c in rest if isinstance(c, Token)), None)
        attempts = self._whole(attempts_value, "the number of follow-ups", 1)
        offsets = [self._expect(v, (ir.Duration,), "durations such as 0d, 3d, 7d", "follow-up offsets") for v in offsets_values]
        if attempts is None or any(o is None for o in offsets):
            return None
        if attempts != len(offsets):
            self._error(
                INVALID_VALUE,
                f"{attempts} follow-ups but {len(offsets)} offset{'s' if len(offsets) != 1 else ''}",
                span,
                help="give one offset (time after entering the stage) per follow-up",
            )
            return None
        follow = ir.FollowUp(
            "", ir.Number(attempts, attempts_value.span), tuple(offsets), tuple(channels),
            self._name(owner_token) if owner_token else None, span, ""
        )
        return _Item("follow up", follow, span)

    def escalation(self, meta, children):
        span = self._span(meta)
        to_token, after_value, *rest = children
        on = next((str(c) for c in rest if isinstance(c, Token)), None)
        channels = next((c for c in rest if isinstance(c, list)), [])
        after = self._expect(after_value, (ir.Duration,), "a duration such as 24h", "`escalate … after`")
        if after is None:
            return None
        return _Item("escalate", ir.Escalation("", self._name(to_token), after, on, tuple(channels), span, ""), span)

    def handoff(self, meta, children):
        span = self._span(meta)
        sender, *items = children
        settings = self._settings(items, "the handoff")
        handoff = ir.Handoff(
            "",
            self._name(sender),
            tuple(self._one(settings, "notify", ())),
            tuple(self._one(settings, "include", ())),
            span,
            "",
        )
        return _Item("handoff", handoff, span)

    def notify(self, meta, children):
        return _Item("notify", children[0], self._span(meta))

    def include(self, meta, children):
        return _Item("include", children[0], self._span(meta))

    def channels(self, meta, children):
        return [c for c in children if c is not None]

    def channel(self, meta, children):
        name = self._name(children[0])
        kind = self._option(name, ir.CHANNELS, "channel")
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
        settings = self._settings(rest, "a transition")
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
        after = self._expect(children[0], (ir.Duration,), "a duration such as 30d", "`after`")
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
        member = _nfc(str(children[1])) if len(children) > 1 else None
        return ir.Ref(_nfc(str(children[0])), member, self._span(meta))

    def comparison(self, meta, children):
        ref, op, value = children
        checked = self._condition_value(value)
        if checked is None:
            checked = ir.Text("", value.span)  # keeps the tree whole; the error is reported
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
            "a number, quoted text, true/false or a date",
            "a condition",
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
        block = f"kpi `{kpi_id}`"
        settings = self._settings(items, block)
        self._require(settings, "measure", block, span, "measure count mql per month")
        self._require(settings, "target", block, span, "target >= 120")
        measure_item = self._one(settings, "measure")
        measure, period = measure_item if measure_item else (None, None)
        target = self._one(settings, "target")
        alert = self._one(settings, "alert")
        if measure is not None:
            expected = _MEASURE_VALUE[type(measure)]
            for what, item in (("target", target), ("alert", alert)):
                if item is not None and self._expect(item.value, expected[0], expected[1], f"the {what} of a {expected[2]} KPI") is None:
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
        )

    def measure(self, meta, children):
        measure, period_token = children
        period = self._name(period_token)
        if self._option(period, ir.PERIODS, "period") is None:
            period = None
        return _Item("measure", (measure, period), self._span(meta))

    def count_measure(self, meta, children):
        return ir.CountMeasure(self._name(children[0]), self._span(meta))

    def conversion_measure(self, meta, children):
        source, _arrow, targets = children
        return ir.ConversionMeasure(self._name(source), tuple(targets), self._span(meta))

    def compliance_measure(self, meta, children):
        stage, kind = children
        return ir.ComplianceMeasure(self._name(stage), str(kind), self._span(meta))

    def average_measure(self, meta, children):
        ref, stage = children
        return ir.AverageMeasure(ref, self._name(stage), self._span(meta))

    def duration_measure(self, meta, children):
        source, _arrow, target = children
        return ir.DurationMeasure(self._name(source), self._name(target), self._span(meta))

    def target(self, meta, children):
        op, value = children
        if isinstance(value, _Invalid):
            return None
        return _Item("target", ir.Threshold(str(op), value, self._span(meta)), self._span(meta))

    def alert(self, meta, children):
        op, value, *options = children
        span = self._span(meta)
        if isinstance(value, _Invalid):
            return None
        settings = self._settings(options, "an alert")
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
        numbered = tuple(
            ir.InformationItem(i.text, i.within, i.recorded_in, i.span, clause_id=f"{base}.{n}")
            for n, i in enumerate(items, 1)
        )
        return ir.Information(sender_name, receiver_name, numbered, self._span(meta), clause_id=base)

    def information_item(self, meta, children):
        text_token, *rest = children
        within = None
        recorded = None
        for part in rest:
            if isinstance(part, Token):
                recorded = self._name(part)
            else:
                within = self._expect(part, (ir.Duration,), "a duration such as 3bd", "`within`")
        return ir.InformationItem(self._text(text_token), within, recorded, self._span(meta), "")

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
                    f"`{role}` is given twice for \"{self._text(task)}\"",
                    self._tspan(role_token),
                    help=f"list every team after one `{role}`, separated by commas",
                    related=[Related(first[role], "first given here")],
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
        settings = self._settings(items, f"review `{review_id}`", repeatable={"agenda"})
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
            every = _number(str(children[0]))
            if not isinstance(every, int) or every < 1:
                self._error(INVALID_VALUE, f"a review cadence counts whole units, not {children[0]}", self._tspan(children[0]))
                return None
        unit_name = self._name(children[-1])
        unit = _PLURAL_UNITS.get(unit_name.name, unit_name.name)
        if self._option(ir.Name(unit, unit_name.span), ir.CADENCE_UNITS, "review cadence unit") is None:
            return None
        return _Item("every", ir.Cadence(every, unit, span), span)

    def attendees(self, meta, children):
        return _Item("attendees", children[0], self._span(meta))

    def covers(self, meta, children):
        topics = [t for t in children[0] if self._option(t, ir.REVIEW_TOPICS, "review topic") is not None]
        return _Item("covers", topics, self._span(meta))

    def agenda(self, meta, children):
        return _Item("agenda", ir.Text(self._text(children[0]), self._tspan(children[0])), self._span(meta))

    def last_held(self, meta, children):
        held = self._expect(children[0], (ir.DateValue,), "a date (YYYY-MM-DD)", "`last held`")
        return _Item("last held", held, self._span(meta))

    # ------------------------------------------------------------------ cancellation
    def cancellation(self, meta, children):
        return _Cancellations(children)

    def cancellation_condition(self, meta, children):
        return ir.CancellationCondition(self._text(children[0]), self._span(meta), clause_id="")


# ---------------------------------------------------------------------- module helpers


@dataclass(slots=True)
class _Responsibilities:
    rows: list


@dataclass(slots=True)
class _Cancellations:
    rows: list


_MARKER_ORDER = ("entry", "terminal", "recycle")

_MEASURE_VALUE = {
    ir.CountMeasure: ((ir.Number,), "a number", "count"),
    ir.ConversionMeasure: ((ir.Percent,), "a percentage such as 20%", "rate"),
    ir.ComplianceMeasure: ((ir.Percent,), "a percentage such as 95%", "rate"),
    ir.AverageMeasure: ((ir.Number,), "a number", "average"),
    ir.DurationMeasure: ((ir.Duration,), "a duration such as 48h", "time"),
}


def _renumber(rows: list, prefix: str) -> list:
    from dataclasses import replace

    return [replace(row, clause_id=f"{prefix}.{n}") for n, row in enumerate(rows, 1)]


def _with_ids_of_group(group: ir.ScoreGroup, model_id: str) -> ir.ScoreGroup:
    from dataclasses import replace

    base = f"score.{model_id}.{group.id}"
    rules = tuple(replace(r, clause_id=f"{base}.{n}") for n, r in enumerate(group.rules, 1))
    return replace(group, rules=rules, clause_id=base)


def _unique(base: str, used: set[str]) -> str:
    candidate = base
    n = 2
    while candidate in used:
        candidate = f"{base}.{n}"
        n += 1
    used.add(candidate)
    return candidate


def _number(text: str) -> int | float:
    text = text.lstrip("+")
    return float(text) if "." in text else int(text)


def _nfc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFC", text)


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


def _type_help(value, kinds: tuple[type, ...]) -> str | None:
    if ir.Percent in kinds and isinstance(value, ir.Number):
        return f"write it as a percentage: {value.value}%"
    if ir.Duration in kinds and isinstance(value, ir.Number):
        return f"add a unit: {value.value}h (hours), {value.value}d (days) or {value.value}bd (business days)"
    if ir.Number in kinds and isinstance(value, ir.Percent):
        return f"a count is a plain number: {value.value}"
    if ir.DateValue in kinds and isinstance(value, ir.Text):
        return "write dates without quotes: 2026-04-01"
    return None


def _source_text(source: SourceFile, span: Span) -> str:
    return source.line_text(span.line)[span.column - 1 : span.end_column - 1]


def source_slice(source: SourceFile, meta) -> str:
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
    return policy, lowerer.diagnostics
