"""Reading lead events (JSON Lines) into the simulator, with a diagnostic for every bad line.

One JSON object per line:

    {"at": "2026-04-01T10:00:00+09:00", "lead": "L1", "type": "lead_created",
     "stage": "lead", "properties": {"employees": 120}, "events": {"pricing_page_view": 1}, "owner": "aiko"}
    {"at": "…", "lead": "L1", "type": "property_changed", "properties": {"buying_intent": "yes"}}
    {"at": "…", "lead": "L1", "type": "property_changed", "property": "buying_intent", "value": "yes"}
    {"at": "…", "lead": "L1", "type": "event_occurred", "event": "pricing_page_view", "count": 1}
    {"at": "…", "lead": "L1", "type": "activity_logged", "activity": "call"}
    {"at": "…", "lead": "L1", "type": "owner_changed", "owner": "kenji.sato"}
    {"at": "…", "lead": "L1", "type": "stage_set", "stage": "nurture", "by": "kenji.sato"}

Blank lines and lines starting with `#` or `//` are skipped. Other keys are ignored (a `note`
is fine). A problem skips the event (or, for one bad property, just that property) and the
simulation continues.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from ..diagnostics import Diagnostic, Rule, Severity, Listing, Message
from ..ir import ACTIVITY_OUTCOMES
from ..source import Span
from .engine import ACTIVITIES, Simulator, parse_timestamp
from .model import coerce_property_value
from .rules import (
    DUPLICATE_LEAD,
    INVALID_EVENT,
    INVALID_PROPERTY_VALUE,
    MALFORMED_EVENT,
    NO_ENTRY,
    OFF_POLICY_MOVE,
    OUT_OF_ORDER,
    UNKNOWN_EVENT_NAME,
    UNKNOWN_LEAD,
    UNKNOWN_PROPERTY,
    UNKNOWN_STAGE,
)

EVENT_TYPES = ("lead_created", "property_changed", "event_occurred", "activity_logged", "owner_changed", "stage_set")
_EVENT_TYPES = frozenset(EVENT_TYPES)
DEFAULT_SHOWN_PER_CODE = 20


class LineSource:
    """Just enough of a SourceFile for the text renderer: the lines that have diagnostics."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: dict[int, str] = {}
        self.line_count = 1 << 62

    def line_text(self, line: int) -> str:
        return self.lines.get(line, "")


class DiagnosticTally:
    """Diagnostics of an events file counted per code, the first `shown_per_code` of each kept:
    what `sla simulate` and `sla report` (one feed, or the shards' feeds merged) print."""

    counts: Counter[str]
    severities: dict[str, Severity]
    shown_per_code: int | None

    @property
    def hidden(self) -> dict[str, int]:
        """Diagnostics counted but not kept, per code."""
        if self.shown_per_code is None:
            return {}
        return {code: n - self.shown_per_code for code, n in sorted(self.counts.items()) if n > self.shown_per_code}

    @property
    def error_count(self) -> int:
        return sum(n for code, n in self.counts.items() if self.severities[code] is Severity.ERROR)


class EventFeed(DiagnosticTally):
    """Feeds events to a Simulator; collects diagnostics (the first few of each code)."""

    def __init__(self, simulator: Simulator, path: str, shown_per_code: int | None = DEFAULT_SHOWN_PER_CODE) -> None:
        self.sim = simulator
        self.path = path
        self.source = LineSource(path)
        self.diagnostics: list[Diagnostic] = []
        self.counts: Counter[str] = Counter()
        self.severities: dict[str, Severity] = {}
        self.shown_per_code = shown_per_code
        self.events = 0
        self.skipped = 0
        self.outside: set[str] = set()  # leads no entry stage admitted
        plan = simulator.plan
        self._zone = plan.zone
        self._properties = plan.model.properties
        self._events = plan.model.events
        self._stages = plan.stages

    # ------------------------------------------------------------------ diagnostics
    def _report(self, rule: Rule, message: str, line: int, text: str | Callable[[], str], needle: str | None = None,
                help: str | None = None) -> None:
        self.counts[rule.code] += 1
        self.severities[rule.code] = rule.severity
        if self.shown_per_code is not None and self.counts[rule.code] > self.shown_per_code:
            return
        if not isinstance(text, str):  # a scenario's event: its JSON is only written for a diagnostic
            text = text()
        column = 1
        width = 1
        if needle:
            found = text.find(needle)
            if found >= 0:
                column = found + 1
                width = len(needle)
        self.source.lines[line] = text
        self.diagnostics.append(
            Diagnostic(rule, message, Span(self.path, line, column, line, column + width), help=help)
        )

    # ------------------------------------------------------------------ input
    def feed_lines(self, lines: Iterable[str], first_line: int = 1) -> None:
        for number, text in enumerate(lines, first_line):
            self.feed_line(number, text)

    def feed_binary(self, lines: Iterable[bytes]) -> None:
        """Lines as bytes (a file opened in binary mode): a line that is not UTF-8 is reported.
        From a file, lines are read at most MAX_LINE_BYTES at a time: a line longer than that
        (a device such as /dev/zero, a file that is not JSON Lines) ends the reading."""
        self.feed_numbered(enumerate(_bounded_lines(lines), 1))

    def feed_numbered(self, numbered: Iterable[tuple[int, bytes | None]]) -> None:
        """(line number, bytes of the line) pairs, as `feed_binary` reads them (None: a line
        over MAX_LINE_BYTES, which ends the reading). `sla report` replays a share of a file's
        lines in each process, under their own numbers."""
        for number, raw in numbered:
            if raw is None:
                self.skipped += 1
                self._report(MALFORMED_EVENT, Message('the line is longer than {limit:,} bytes; reading stopped', limit=MAX_LINE_BYTES),
                             number, "", help=Message('an events file has one JSON object per line'))
                break
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.skipped += 1
                self._report(MALFORMED_EVENT, Message('not UTF-8 text (byte {value} of the line)', value=exc.start + 1), number,
                             raw.decode("utf-8", "replace").rstrip("\r\n"), help=Message('save the events file as UTF-8'))
                continue
            self.feed_line(number, text)

    def feed_line(self, number: int, text: str) -> None:
        text = text.rstrip("\r\n")
        stripped = text.strip()
        if not stripped or stripped.startswith(("#", "//")):
            return
        if number == 1 and stripped.startswith("\ufeff"):
            stripped = stripped.lstrip("\ufeff")
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            self.skipped += 1
            self._report(MALFORMED_EVENT, Message('not a JSON object: {lower}', lower=getattr(exc, 'msg', str(exc)).lower()), number, text,
                         help=Message('write one JSON object per line, e.g. {"at": "2026-04-01T10:00:00+09:00", "lead": "L1", "type": "lead_created"}'))
            return
        if not isinstance(data, dict):
            self.skipped += 1
            self._report(MALFORMED_EVENT, Message('a JSON {data} where an event object belongs', data=type(data).__name__), number, text,
                         help=Message('each line is one object with `at`, `lead` and `type`'))
            return
        self.apply(data, number, text)

    def apply(self, data: dict[str, Any], number: int, text: str) -> None:
        """Apply one event object (from a line of a file, or a scenario's timeline)."""
        self.events += 1
        if not self._apply(data, number, text):
            self.skipped += 1

    def _apply(self, data: dict[str, Any], number: int, text: str) -> bool:
        kind = data.get("type")
        if kind not in _EVENT_TYPES:
            if kind is None:
                self._report(INVALID_EVENT, Message('the event has no `type`'), number, text,
                             help=Message("type is one of {types}", types=Listing(EVENT_TYPES, limit=len(EVENT_TYPES), quote=False)))
            else:
                self._report(INVALID_EVENT, Message('unknown event type {kind}', kind=json.dumps(kind, ensure_ascii=False)), number, text,
                             needle=json.dumps(kind, ensure_ascii=False) if isinstance(kind, str) else '"type"',
                             help=_suggest_help(str(kind), EVENT_TYPES))
            return False
        lead_id = data.get("lead")
        if isinstance(lead_id, bool) or not isinstance(lead_id, (str, int)) or lead_id == "":
            self._report(INVALID_EVENT, Message('the event has no `lead` id'), number, text, needle='"lead"',
                         help=Message('name the lead it is about: "lead": "L1"'))
            return False
        lead_id = str(lead_id)
        raw_at = data.get("at")
        at = parse_timestamp(raw_at, self._zone) if isinstance(raw_at, str) else None
        if at is None:
            self._report(INVALID_EVENT, Message('`at` is not an ISO 8601 timestamp: {raw_at}', raw_at=json.dumps(raw_at, ensure_ascii=False)),
                         number, text, needle='"at"',
                         help=Message('write "at": "2026-04-01T10:00:00+09:00" (without an offset the agreement\'s time zone is used)'))
            return False
        sim = self.sim
        lead = sim.leads.get(lead_id)
        if kind == "lead_created":
            if lead is not None:
                self._report(DUPLICATE_LEAD, Message('lead `{lead_id}` already exists (created at {created})', lead_id=lead_id, created=sim.format_time(lead.created)),
                             number, text, needle='"lead"', help=Message('use property_changed to change an existing lead'))
                return False
            return self._create(data, lead_id, at, number, text)
        if lead is None and lead_id in self.outside:
            return False  # created outside the agreement (SLA862 said so once)
        if lead is None:
            self._report(UNKNOWN_LEAD, Message('no lead `{lead_id}` was created before this event', lead_id=lead_id), number, text, needle='"lead"',
                         help=Message('a lead exists from its lead_created event on; check the id and the order of the lines'))
            return False
        if at < lead.last_at:
            self._report(OUT_OF_ORDER,
                         Message('this event of lead `{lead_id}` is dated {at}, before its previous event ({last_at})', lead_id=lead_id, at=sim.format_time(at), last_at=sim.format_time(lead.last_at)), number, text, needle='"at"',
                         help=Message('sort the events by time; the simulator cannot go back in time'))
            return False
        if kind == "property_changed":
            updates = self._properties_of(data, number, text)
            if updates is None:
                return False
            sim.change(lead, at, updates, {})
            return True
        if kind == "event_occurred":
            name = data.get("event")
            if not isinstance(name, str):
                self._report(INVALID_EVENT, Message('event_occurred needs `event`: the name of a declared event'), number, text,
                             help=Message('e.g. "event": "pricing_page_view"'))
                return False
            if name not in self._events:
                self._report(UNKNOWN_EVENT_NAME, Message('the policy declares no event `{name}`', name=name), number, text,
                             needle=json.dumps(name, ensure_ascii=False), help=_suggest_help(name, self._events))
                return False
            count = data.get("count", 1)
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                self._report(INVALID_EVENT, Message('`count` must be a whole number of at least 1, not {count}', count=json.dumps(count)),
                             number, text, needle='"count"')
                return False
            sim.change(lead, at, {}, {self._events[name].id: count})
            return True
        if kind == "activity_logged":
            activity = data.get("activity")
            if activity not in ACTIVITIES:
                self._report(INVALID_EVENT, Message('`activity` must be call, email or meeting, not {activity}', activity=json.dumps(activity, ensure_ascii=False)), number, text, needle='"activity"',
                             help=Message('other channels (slack, task …) are how people are told, not follow-ups'))
                return False
            outcome = data.get("outcome")
            if outcome is not None and outcome not in ACTIVITY_OUTCOMES[activity]:
                self._report(INVALID_EVENT, Message("`outcome` of a {activity} must be one of {outcomes}, not {outcome}",
                                                    activity=activity, outcomes=Listing(ACTIVITY_OUTCOMES[activity],
                                                                                        limit=10, quote=False),
                                                    outcome=json.dumps(outcome, ensure_ascii=False)),
                             number, text, needle='"outcome"', help=Message("leave it out when the outcome is not known"))
                return False
            sim.activity(lead, at, activity, outcome)
            return True
        if kind == "owner_changed":
            owner = data.get("owner")
            if not isinstance(owner, str) or not owner:
                self._report(INVALID_EVENT, Message('owner_changed needs `owner`: a person or a team'), number, text,
                             needle='"owner"')
                return False
            sim.set_owner(lead, at, owner)
            return True
        # stage_set
        stage = data.get("stage")
        if not isinstance(stage, str) or stage not in self._stages:
            self._report_stage(stage, number, text)
            return False
        by = data.get("by") if isinstance(data.get("by"), str) else None
        source = lead.stage
        if not sim.set_stage(lead, at, stage, by):
            self._report(OFF_POLICY_MOVE, Message('lead `{lead_id}` moved by hand from `{source}` to `{stage}`, which no transition of `{source}` leads to', lead_id=lead_id, source=source, stage=stage), number, text, needle=json.dumps(stage, ensure_ascii=False),
                         help=Message('add `-> {stage} …` to stage `{source}` if this move is part of the agreement', stage=stage, source=source))
        return True

    def _report_stage(self, stage, number: int, text: str) -> None:
        if isinstance(stage, str):
            self._report(UNKNOWN_STAGE, Message('the policy declares no stage `{stage}`', stage=stage), number, text,
                         needle=json.dumps(stage, ensure_ascii=False), help=_suggest_help(stage, self._stages))
        else:
            self._report(INVALID_EVENT, Message('`stage` must name a stage of the policy'), number, text, needle='"stage"')

    def _create(self, data: dict, lead_id: str, at, number: int, text: str) -> bool:
        stage = data.get("stage")
        if stage is None:
            if self.sim.plan.default_entry is None:
                self._report(UNKNOWN_STAGE, Message('the policy has no stages to put the lead in'), number, text)
                return False
        elif not isinstance(stage, str) or stage not in self._stages:
            self._report_stage(stage, number, text)
            return False
        values = self._properties_of(data, number, text, required=False) or {}
        values = {k: v for k, v in values.items() if v is not None}
        counts = data.get("events", {})
        if not isinstance(counts, dict):
            self._report(INVALID_EVENT, Message('`events` must be an object of event name → count'), number, text,
                         needle='"events"')
            counts = {}
        for name, count in counts.items():
            if name not in self._events:
                self._report(UNKNOWN_EVENT_NAME, Message('the policy declares no event `{name}`', name=name), number, text,
                             needle=json.dumps(name, ensure_ascii=False), help=_suggest_help(name, self._events))
                continue
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                self._report(INVALID_EVENT, Message('the count of `{name}` must be a whole number, not {count}', name=name, count=json.dumps(count)),
                             number, text, needle=json.dumps(name, ensure_ascii=False))
                continue
            if count:
                values[self._events[name].id] = count
        owner = data.get("owner") if isinstance(data.get("owner"), str) else None
        if stage is None:
            stage = self.sim.plan.entry_for(values)
            if stage is None:  # every entry stage has a condition and this lead meets none
                self.outside.add(lead_id)
                self._report(NO_ENTRY, Message('lead `{lead_id}` meets the entry condition of no stage; it is not part of the agreement, and its later events are skipped', lead_id=lead_id), number, text, needle='"lead_created"',
                             help=Message('give it a `stage`, or add an entry stage without a condition for the other leads'))
                return False
        self.sim.create(lead_id, at, stage, values, owner)
        return True

    def _properties_of(self, data: dict, number: int, text: str, required: bool = True) -> dict[str, Any] | None:
        if "properties" in data:
            raw = data["properties"]
            if not isinstance(raw, dict):
                self._report(INVALID_EVENT, Message('`properties` must be an object of property → value'), number, text,
                             needle='"properties"')
                return None
        elif "property" in data:
            name = data["property"]
            if not isinstance(name, str):
                self._report(INVALID_EVENT, Message('`property` must be a property name'), number, text, needle='"property"')
                return None
            raw = {name: data.get("value")}
        elif required:
            self._report(INVALID_EVENT, Message('property_changed needs `properties` (or `property` and `value`)'), number, text,
                         help=Message('e.g. "properties": {"buying_intent": "yes"}'))
            return None
        else:
            return {}
        out: dict[str, Any] = {}
        for name, value in raw.items():
            prop = self._properties.get(name)
            if prop is None:
                needle = json.dumps(name, ensure_ascii=False)
                is_event = name in self._events
                self._report(UNKNOWN_PROPERTY,
                             Message("the policy declares no property `{name}`; it is an event (use event_occurred)", name=name)
                             if is_event else Message("the policy declares no property `{name}`", name=name),
                             number, text, needle=needle, help=None if is_event else _suggest_help(name, self._properties))
                continue
            coerced, problem = coerce_property_value(prop, value)
            if problem is not None:
                needle = json.dumps(name, ensure_ascii=False)
                self._report(INVALID_PROPERTY_VALUE,
                             Message('`{name}` is a {type} property; {value} is not {problem}', name=name, type=prop.type, value=json.dumps(value, ensure_ascii=False), problem=problem),
                             number, text, needle=needle)
                continue
            out[prop.id] = coerced  # the policy's own string: one copy shared by every lead
        return out


def _suggest_help(word: str, options: Iterable[str]) -> Message:
    import difflib

    options = sorted(options)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    listed = ", ".join(options[:12]) + (" …" if len(options) > 12 else "")
    if close:
        return Message("did you mean `{guess}`? known: {known}", guess=close[0], known=listed)
    return Message("known: {known}", known=listed)


MAX_LINE_BYTES = 1 << 20  # one event is a few hundred bytes


def _bounded_lines(lines):
    """The lines of a binary file (None for a line over MAX_LINE_BYTES, then nothing more);
    any other iterable as it is."""
    readline = getattr(lines, "readline", None)
    if readline is None:
        yield from lines
        return
    while True:
        raw = readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES:
            yield None
            return
        yield raw
