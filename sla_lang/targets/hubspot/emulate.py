"""An executable model of HubSpot's Automation v4 workflow semantics, for contacts.

It runs *any* v4 flow body (the JSON of `POST /automation/v4/flows`) against contacts with
property values, property history and logged engagements, on a clock — pure Python, nothing
sent anywhere. It was written from HubSpot's documentation, not from what sla-lang's generator
emits: `targets/hubspot/SEMANTICS.md` lists every rule with the page it comes from, and the
code cites those rules as `[S<n>]`. Where HubSpot does not document what happens, the model
does not guess: it records an `UnknownSemantics` flag naming the rule that is missing, so a
workflow that relies on it fails the test (`sla test --against hubspot`).

    portal = Portal(settings, [Workflow.from_body(body, "workflows/x.json"), …])
    contact = portal.create_contact(at, {"lifecyclestage": "lead"})
    portal.advance(later)                      # run everything scheduled up to `later`
    portal.update(at, contact, {"buying_intent": "yes"}, source="CRM_UI")
    portal.log_engagement(at, contact, "CALL")
    portal.tasks, portal.notifications, portal.flags, contact.history

Property values are kept as HubSpot's API represents them: strings; numbers in decimal
notation, booleans "true"/"false", dates and datetimes as milliseconds since the epoch (a date
at midnight UTC) [S3]. A property without a value is absent.
"""

from __future__ import annotations

import ast
import builtins
import heapq
import itertools
import re
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# ------------------------------------------------------------------ constants [S10]

DELAY = "0-1"
CREATE_TASK = "0-3"
SET_PROPERTY = "0-5"
INTERNAL_EMAIL = "0-8"
IN_APP = "0-9"
ROTATE_OWNER = "0-11"
WAIT_FOR_EVENT = "0-29"
DELAY_UNTIL_DATE = "0-35"
PROPERTY_CHANGED_EVENT = "4-655002"  # [S7] the "property value changed" unified event (hs_name / hs_value)

RESCHEDULE_SPREAD = timedelta(minutes=15)  # [S13] rescheduled actions run within a 15-minute window
MAX_STEPS_PER_INSTANT = 2_000  # a GOTO loop without a delay would run forever

LIFECYCLE_ORDER = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
                   "evangelist", "other")  # [S21] HubSpot's default stages in their order

WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MONTHS = ("JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER",
          "NOVEMBER", "DECEMBER")
TIME_UNITS = {"MINUTES": timedelta(minutes=1), "HOURS": timedelta(hours=1), "DAYS": timedelta(days=1)}

# HubSpot's own contact properties the model maintains or knows the type of [S3][S20]
BUILTIN_PROPERTIES: dict[str, str] = {
    "lifecyclestage": "enumeration",
    "hubspot_owner_id": "enumeration",
    "hs_lead_status": "enumeration",
    "notes_last_contacted": "datetime",
    "num_contacted_notes": "number",
    "createdate": "datetime",
    "hs_object_id": "number",
    "firstname": "string",
    "lastname": "string",
    "email": "string",
}

# Personalisation tokens HubSpot documents for workflow text fields [S25]
_TOKEN = re.compile(r"\{\{\s*enrolled_object\.([a-z0-9_]+)\s*\}\}")
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")


class UnknownSemantics(Exception):
    """Something a flow does whose behaviour HubSpot does not document (or the model cannot run)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"[{rule}] {message}")
        self.rule = rule
        self.message = message


# ------------------------------------------------------------------ records of what happened


@dataclass(frozen=True)
class Moment:
    """When HubSpot does something: at `at` at the earliest, at most `spread` later [S13]."""

    at: datetime
    spread: timedelta = timedelta(0)

    @property
    def latest(self) -> datetime:
        return self.at + self.spread

    def __str__(self) -> str:
        text = self.at.isoformat()
        return text if not self.spread else f"{text} (+ up to {int(self.spread.total_seconds() // 60)} min)"


@dataclass(frozen=True)
class Change:
    moment: Moment
    property: str
    old: str | None
    new: str | None
    source: str  # IMPORT | CRM_UI | INTEGRATION | ENGAGEMENT | CALCULATED | WORKFLOW:<file>#<action>


@dataclass(frozen=True)
class Task:
    moment: Moment
    workflow: str
    action: str
    subject: str
    task_type: str
    owner: str | None  # a HubSpot user id; None: unassigned
    due: datetime | None


@dataclass(frozen=True)
class Notification:
    moment: Moment
    workflow: str
    action: str
    channel: str  # email | in_app
    subject: str
    users: frozenset[str]  # every user it reaches (owner properties, user ids, team members) [S23]
    teams: frozenset[str]


@dataclass(frozen=True)
class SlackMessage:
    """A message custom code posted through a Slack incoming webhook [S28]."""

    moment: Moment
    workflow: str
    action: str
    channel: str  # the channel the webhook was created for
    text: str


@dataclass(frozen=True)
class Flag:
    """The model met behaviour HubSpot does not document."""

    moment: Moment
    workflow: str
    action: str | None
    rule: str
    message: str


@dataclass(frozen=True)
class Enrollment:
    moment: Moment
    workflow: str
    event: str  # enrolled | re-enrolled | unenrolled | finished


# ------------------------------------------------------------------ the portal's settings


@dataclass
class PropertyDef:
    name: str
    type: str  # string | number | enumeration | bool | date | datetime
    options: tuple[str, ...] = ()


@dataclass
class PortalSettings:
    """What the emulated HubSpot account knows besides its workflows."""

    time_zone: ZoneInfo  # the account's time zone: time windows and date delays use it [S12]
    properties: dict[str, PropertyDef] = field(default_factory=dict)
    teams: dict[str, tuple[str, ...]] = field(default_factory=dict)  # team id → user ids
    users: frozenset[str] = frozenset()
    # Slack incoming webhooks a person stored as custom code secrets: secret name → channel [S28]
    slack_webhooks: dict[str, str] = field(default_factory=dict)

    def property_type(self, name: str) -> str | None:
        known = self.properties.get(name)
        if known is not None:
            return known.type
        return BUILTIN_PROPERTIES.get(name)


# ------------------------------------------------------------------ contacts


class Contact:
    __slots__ = ("created", "engagements", "history", "id", "values")

    def __init__(self, contact_id: str, created: datetime) -> None:
        self.id = contact_id
        self.created = created
        self.values: dict[str, str] = {}
        self.history: list[Change] = []
        self.engagements: list[tuple[datetime, str]] = []

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def history_of(self, name: str) -> list[Change]:
        return [c for c in self.history if c.property == name]


# ------------------------------------------------------------------ time helpers


def to_ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def from_ms(text: str) -> datetime:
    return datetime.fromtimestamp(int(text) / 1000, tz=UTC)


def date_ms(day: date) -> str:
    """A date property's value: midnight UTC of that day, in milliseconds [S3]."""
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------ workflows


@dataclass
class Action:
    id: str
    body: dict
    kind: str  # SINGLE_CONNECTION | LIST_BRANCH | STATIC_BRANCH | CUSTOM_CODE | WEBHOOK | AB_TEST_BRANCH
    type_id: str | None
    problems: list[tuple[str, str]] = field(default_factory=list)  # (rule, message): unknown semantics here
    standard_predecessors: int = 0

    @property
    def is_branch(self) -> bool:
        return self.kind in ("LIST_BRANCH", "STATIC_BRANCH", "AB_TEST_BRANCH")

    @property
    def is_delay(self) -> bool:
        return self.kind == "SINGLE_CONNECTION" and self.type_id in (DELAY, DELAY_UNTIL_DATE, WAIT_FOR_EVENT)


_KNOWN_FIELDS = {  # the fields each built-in action takes [S10]
    DELAY: {"delta", "time_unit"},
    DELAY_UNTIL_DATE: {"date", "delta", "time_unit", "time_of_day"},
    WAIT_FOR_EVENT: {"event_filter_branches", "expiration_minutes"},
    SET_PROPERTY: {"property_name", "value"},
    CREATE_TASK: {"task_type", "subject", "body", "priority", "due_time", "associations", "use_explicit_associations",
                  "owner_assignment"},
    INTERNAL_EMAIL: {"subject", "body", "owner_properties", "user_ids", "team_ids"},
    IN_APP: {"subject", "body", "owner_properties", "user_ids", "team_ids", "delivery_method"},
    ROTATE_OWNER: {"user_ids", "team_ids", "target_property", "overwrite_current_owner"},
}


class Workflow:
    """One flow body, parsed once; what cannot be run is kept as problems of its actions."""

    def __init__(self, body: dict, file: str) -> None:
        self.file = file
        self.body = body
        self.name = str(body.get("name", file))
        self.problems: list[tuple[str, str]] = []  # problems of the whole flow
        if body.get("type") != "CONTACT_FLOW" or body.get("objectTypeId") != "0-1":
            self.problems.append(("S1", "only contact workflows (CONTACT_FLOW, object 0-1) are modelled"))
        self.actions: dict[str, Action] = {}
        for raw in body.get("actions") or []:
            action = Action(str(raw.get("actionId")), raw, str(raw.get("type", "SINGLE_CONNECTION")),
                            raw.get("actionTypeId"))
            if action.id in self.actions:
                self.problems.append(("S9", f"two actions have id {action.id}"))
            self.actions[action.id] = action
            self._check_action(action)
        self.start = body.get("startActionId")
        if self.start is not None and str(self.start) not in self.actions:
            self.problems.append(("S9", f"startActionId {self.start!r} names no action"))
        self.start = str(self.start) if self.start is not None else None
        self._link()
        criteria = body.get("enrollmentCriteria") or {}
        self.criteria = criteria
        self.kind = criteria.get("type")
        if self.kind not in ("LIST_BASED", "EVENT_BASED"):
            self.problems.append(("S4", f"enrolment type {self.kind!r} is not modelled"))
        if self.kind == "EVENT_BASED":
            if criteria.get("listMembershipFilterBranches"):
                self.problems.append(("S6", "event-based enrolment with list memberships is not modelled"))
            if criteria.get("refinementCriteria"):
                self.problems.append(("S6", "event-based enrolment refinement criteria are not modelled"))
        self.properties = frozenset(referenced_properties(body))
        self.windows = self._windows(body.get("timeWindows") or [])
        self.blocked = self._blocked(body.get("blockedDates") or [])
        for key in ("suppressionListIds", "dataSources"):
            if body.get(key):
                self.problems.append(("S1", f"`{key}` is not modelled"))
        if body.get("unEnrollmentSetting"):
            self.problems.append(("S5", "`unEnrollmentSetting` (unenrolling from other workflows) is not modelled"))
        if body.get("eventAnchor") or body.get("enrollmentSchedule"):
            self.problems.append(("S4", "date-anchored and scheduled workflows are not modelled"))

    @classmethod
    def from_body(cls, body: dict, file: str) -> Workflow:
        return cls(body, file)

    # ------------------------------------------------------------------ parsing
    def _check_action(self, action: Action) -> None:
        raw = action.body
        if action.kind == "SINGLE_CONNECTION":
            if raw.get("actionTypeVersion", 0) != 0:
                action.problems.append(("S10", f"action type version {raw.get('actionTypeVersion')} is not modelled"))
            known = _KNOWN_FIELDS.get(action.type_id or "")
            if known is None:
                action.problems.append(("S10", f"action type {action.type_id!r} is not modelled"))
                return
            extra = sorted(set(raw.get("fields") or {}) - known)
            if extra:
                action.problems.append(("S10", (f"fields {', '.join(extra)} of action type {action.type_id} "
                                               "are not documented")))
        elif action.kind == "AB_TEST_BRANCH":
            action.problems.append(("S16", "A/B test branches split records at random"))
        elif action.kind not in ("LIST_BRANCH", "STATIC_BRANCH", "CUSTOM_CODE", "WEBHOOK"):
            action.problems.append(("S9", f"action type {action.kind!r} is not modelled"))

    def _edges(self, action: Action) -> list[tuple[str, dict]]:
        raw = action.body
        out = []
        if raw.get("connection"):
            out.append(("connection", raw["connection"]))
        for i, branch in enumerate(raw.get("listBranches") or []):
            if branch.get("connection"):
                out.append((f"branch {i + 1}", branch["connection"]))
        for i, branch in enumerate(raw.get("staticBranches") or []):
            if branch.get("connection"):
                out.append((f"value {branch.get('branchValue')!r}", branch["connection"]))
        for i, branch in enumerate(raw.get("abTestBranches") or []):
            if branch.get("connection"):
                out.append((f"split {i + 1}", branch["connection"]))
        if raw.get("defaultBranch"):
            out.append(("default", raw["defaultBranch"]))
        return out

    def _link(self) -> None:
        reachable = self._reachable()
        for action in self.actions.values():
            for slot, edge in self._edges(action):
                target = edge.get("nextActionId")
                edge_type = edge.get("edgeType")
                if target is None or str(target) not in self.actions:
                    action.problems.append(("S9", f"{slot} of action {action.id} leads to no action ({target!r})"))
                    continue
                if edge_type == "STANDARD":
                    if action.id in reachable:  # a path nobody can take joins nothing
                        self.actions[str(target)].standard_predecessors += 1
                elif edge_type != "GOTO":
                    action.problems.append(("S9", f"edge type {edge_type!r} is not documented"))
        for action in self.actions.values():
            if action.standard_predecessors > 1:
                # [S9] STANDARD goes to the next action; joining two paths is done with GO-TO
                action.problems.append(("S9", (f"action {action.id} is the STANDARD successor of "
                                              f"{action.standard_predecessors} actions; HubSpot documents GOTO "
                                              "for going to an action in another branch")))

    def _reachable(self) -> set[str]:
        seen: set[str] = set()
        todo = [self.start] if self.start in self.actions else []
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            for _slot, edge in self._edges(self.actions[current]):
                target = str(edge.get("nextActionId"))
                if target in self.actions:
                    todo.append(target)
        return seen

    @staticmethod
    def _windows(raw: list[dict]) -> dict[int, list[tuple[int, int]]]:
        out: dict[int, list[tuple[int, int]]] = {}
        for window in raw:
            day = WEEKDAYS.index(window["day"]) if window.get("day") in WEEKDAYS else None
            if day is None:
                continue
            start = window.get("startTime") or {"hour": 0, "minute": 0}
            end = window.get("endTime")
            start_minute = int(start.get("hour", 0)) * 60 + int(start.get("minute", 0))
            end_minute = 24 * 60 if end is None else int(end.get("hour", 0)) * 60 + int(end.get("minute", 0))
            out.setdefault(day, []).append((start_minute, end_minute))
        for periods in out.values():
            periods.sort()
        return out

    def _blocked(self, raw: list[dict]) -> tuple[set[date], set[tuple[int, int]]]:
        dated: set[date] = set()
        yearly: set[tuple[int, int]] = set()
        for item in raw:
            month = MONTHS.index(item["month"]) + 1 if item.get("month") in MONTHS else None
            if month is None:
                self.problems.append(("S12", f"blocked date {item!r} has no month HubSpot knows"))
                continue
            if item.get("year") is not None:
                try:
                    dated.add(date(int(item["year"]), month, int(item["dayOfMonth"])))
                except ValueError:
                    self.problems.append(("S12", f"blocked date {item!r} does not exist"))
            else:
                # A blocked date without a year: HubSpot does not say whether it repeats every year.
                self.problems.append(("S12", f"blocked date {item!r} has no year; whether it repeats is undocumented"))
                yearly.add((month, int(item["dayOfMonth"])))
        return dated, yearly

    # ------------------------------------------------------------------ execution times [S12][S13]
    def _is_blocked(self, day: date) -> bool:
        dated, yearly = self.blocked
        return day in dated or (day.month, day.day) in yearly

    def window_state(self, at: datetime, zone: ZoneInfo) -> tuple[str, datetime | None]:
        """("open", None) when actions may run at `at`; ("closed", next opening) when not; ("edge",
        None) when `at` is exactly the end of a window, where HubSpot does not say [S12][S13]."""
        dated, yearly = self.blocked
        if not self.windows and not dated and not yearly:
            return "open", None
        local = at.astimezone(zone)
        second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        day = local.date()
        if not self._is_blocked(day):
            for start, end in self._periods(day):
                if start * 60 <= second < end * 60:
                    return "open", None
                if second == end * 60 and end < 24 * 60:
                    return "edge", None
        # the earliest available time on the next available day (today's later windows included)
        for offset in range(3 * 366):
            candidate = day + timedelta(days=offset)
            if self._is_blocked(candidate):
                continue
            for start, _end in self._periods(candidate):
                opening = datetime(candidate.year, candidate.month, candidate.day, tzinfo=zone) + timedelta(minutes=start)
                if opening > at:
                    return "closed", opening.astimezone(UTC)
        return "closed", None

    def _periods(self, day: date) -> list[tuple[int, int]]:
        if not self.windows:
            return [(0, 24 * 60)]
        return self.windows.get(day.weekday(), [])


# ------------------------------------------------------------------ runs


class Run:
    """One enrolment of one contact in one workflow."""

    __slots__ = ("action", "contact", "finished", "moment", "outputs", "serial", "waiting", "workflow")

    def __init__(self, workflow: Workflow, contact: Contact, moment: Moment, serial: int) -> None:
        self.workflow = workflow
        self.contact = contact
        self.action: str | None = workflow.start
        self.moment = moment
        self.outputs: dict[str, dict[str, Any]] = {}
        self.finished = False
        self.serial = serial
        self.waiting: tuple[Action, datetime] | None = None  # a 0-29 wait: (action, expiry)


@dataclass
class _Membership:
    ever: bool = False
    run: Run | None = None


# ------------------------------------------------------------------ the portal


class Portal:
    """Contacts, the clock and the workflows that act on them."""

    def __init__(self, settings: PortalSettings, workflows: Iterable[Workflow],
                 calculated: Iterable[tuple[str, frozenset[str], Callable[[dict[str, str]], str | None]]] = ()) -> None:
        self.settings = settings
        self.workflows = sorted(workflows, key=lambda w: w.file)
        self.contacts: dict[str, Contact] = {}
        self.tasks: list[Task] = []
        self.notifications: list[Notification] = []
        self.flags: list[Flag] = []
        self._flagged: set[Flag] = set()
        self.enrollments: dict[str, list[Enrollment]] = {}  # contact id → what happened, in order
        self.webhooks: list[tuple[Moment, str, str]] = []
        self.slack_messages: list[SlackMessage] = []
        self.code_logs: list[tuple[Moment, str, str, str]] = []  # what custom code printed
        # Calculated properties (the score HubSpot's scoring tool keeps): name, what they read, how [S24]
        self.calculated = list(calculated)
        self._members: dict[tuple[str, str], _Membership] = {}
        self._queue: list[tuple[datetime, int, Run]] = []
        self._serial = itertools.count()
        self._rotation: dict[tuple[str, str], int] = {}
        self._reads: list[tuple[Moment, str, str, frozenset[str], str]] = []  # for spread_conflicts
        # what each workflow does wrong in this portal (on top of Workflow.problems)
        self.portal_problems: dict[str, list[tuple[str, str]]] = {}
        for workflow in self.workflows:
            missing = sorted(n for n in workflow.properties if settings.property_type(n) is None)
            if missing:
                # [S3] HubSpot refuses filters and actions on properties the account does not have
                self.portal_problems[workflow.file] = [
                    ("S3", "reads or writes properties this portal does not have: " + ", ".join(missing))]

    # ------------------------------------------------------------------ outside changes
    def create_contact(self, at: datetime, values: dict[str, str], contact_id: str | None = None,
                       source: str = "IMPORT") -> Contact:
        self.advance(at, inclusive=False)
        contact = Contact(contact_id or str(len(self.contacts) + 1), at)
        self.contacts[contact.id] = contact
        moment = Moment(at)
        initial: dict[str, str | None] = {"createdate": to_ms(at), "hs_object_id": contact.id, **values}
        changes = self._write(contact, moment, initial, source)
        self._settle(contact, moment, changes)
        return contact

    def update(self, at: datetime, contact: Contact, values: dict[str, str | None], source: str = "CRM_UI") -> None:
        """A person, an import or an integration changes properties; None or "" clears a value [S2]."""
        self.advance(at, inclusive=False)
        moment = Moment(at)
        changes = self._write(contact, moment, {k: (v if v not in (None, "") else None) for k, v in values.items()},
                              source)
        self._settle(contact, moment, changes)

    def log_engagement(self, at: datetime, contact: Contact, kind: str) -> None:
        """A call, email or meeting logged on the contact: `notes_last_contacted` and
        `num_contacted_notes` follow it [S20]."""
        self.advance(at, inclusive=False)
        contact.engagements.append((at, kind))
        moment = Moment(at)
        values: dict[str, str | None] = {}
        last = contact.get("notes_last_contacted")
        if last is None or int(last) < int(to_ms(at)):
            values["notes_last_contacted"] = to_ms(at)
        values["num_contacted_notes"] = _format_number((_number(contact.get("num_contacted_notes") or "0") or 0) + 1)
        changes = self._write(contact, moment, values, "ENGAGEMENT")
        self._settle(contact, moment, changes)

    # ------------------------------------------------------------------ the clock
    def advance(self, until: datetime, inclusive: bool = True) -> None:
        """Run every scheduled step due before `until` (or at it, when inclusive)."""
        while self._queue and (self._queue[0][0] < until or (inclusive and self._queue[0][0] == until)):
            due, _, run = heapq.heappop(self._queue)
            if run.finished:
                continue
            moment = Moment(due, run.moment.spread)
            contact = run.contact
            before = len(contact.history)
            if run.waiting is not None:  # a 0-29 wait that expired [S15]
                action, _expiry = run.waiting
                run.waiting = None
                run.outputs[action.id] = {"event_happened": False}
                self._continue(run, self._next_of(action), moment)
            else:
                self._continue(run, run.action, moment)
            produced = contact.history[before:]
            if produced:
                self._settle(contact, moment, produced)

    # ------------------------------------------------------------------ writing properties
    def _write(self, contact: Contact, moment: Moment, values: dict[str, str | None], source: str) -> list[Change]:
        changes = []
        for name, new in values.items():
            old = contact.values.get(name)
            if new == old:
                continue
            if new is None:
                contact.values.pop(name, None)
            else:
                contact.values[name] = new
            change = Change(moment, name, old, new, source)
            contact.history.append(change)
            changes.append(change)
        if changes and self.calculated:
            changes += self._recalculate(contact, moment, {c.property for c in changes})
        return changes

    def _recalculate(self, contact: Contact, moment: Moment, changed: set[str]) -> list[Change]:
        out: list[Change] = []
        for name, reads, compute in self.calculated:
            if reads.isdisjoint(changed):
                continue
            new = compute(contact.values)
            old = contact.values.get(name)
            if new == old:
                continue
            if new is None:
                contact.values.pop(name, None)
            else:
                contact.values[name] = new
            change = Change(moment, name, old, new, "CALCULATED")
            contact.history.append(change)
            out.append(change)
        return out

    # ------------------------------------------------------------------ enrolment [S4]–[S8]
    def _settle(self, contact: Contact, moment: Moment, changes: list[Change]) -> None:
        """React to a wave of changes: unenrol, enrol, re-enrol and wake waiting runs, then run them;
        their own changes are the next wave, all at this moment [S8]."""
        wave = list(changes)
        steps = 0
        while wave:
            started: list[tuple[Run, str | None]] = []
            for workflow in self.workflows:
                picked = self._consider(workflow, contact, moment, wave)
                if picked is not None:
                    started.append(picked)
            wave = []
            writes: dict[str, dict[str, str | None]] = {}
            for run, action_id in started:
                before = len(contact.history)
                self._continue(run, action_id, moment)
                steps += 1
                produced = contact.history[before:]
                for change in produced:
                    if change.source.startswith("WORKFLOW:"):
                        writes.setdefault(change.property, {})[run.workflow.file] = change.new
                wave.extend(produced)
                if steps > MAX_STEPS_PER_INSTANT:
                    self._flag(moment, run.workflow, None, "S9", "workflows keep enrolling each other at one moment")
                    return
            for prop, by_workflow in writes.items():
                if len(by_workflow) > 1 and len(set(by_workflow.values())) > 1:
                    names = ", ".join(f"{w} → {v!r}" for w, v in sorted(by_workflow.items()))
                    for run, _ in started:
                        if run.workflow.file in by_workflow:
                            # [S8] the order in which HubSpot runs workflows enrolled at the same
                            # moment is undocumented: the value left depends on it
                            self._flag(moment, run.workflow, None, "S8",
                                       f"workflows enrolled at the same moment set `{prop}` differently ({names}); "
                                       "the order in which HubSpot runs them is undocumented")

    def _consider(self, workflow: Workflow, contact: Contact, moment: Moment,
                  wave: list[Change]) -> tuple[Run, str | None] | None:
        """What this wave does to the contact in this workflow: (run, action to start at) or None."""
        key = (workflow.file, contact.id)
        member = self._members.get(key)
        if member is None:
            member = self._members[key] = _Membership()
        criteria = workflow.criteria
        active = member.run is not None and not member.run.finished
        if active:
            if workflow.kind == "LIST_BASED" and criteria.get("unEnrollObjectsNotMeetingCriteria"):
                try:
                    meets = self._matches(criteria.get("listFilterBranch"), contact, wave)
                except UnknownSemantics as exc:
                    self._flag(moment, workflow, None, exc.rule, f"enrolment criteria: {exc.message}")
                    return None
                if not meets:
                    # [S5] contacts that no longer meet the enrolment criteria are removed
                    member.run.finished = True
                    member.run = None
                    self._log(contact, moment, workflow, "unenrolled")
                    return None
            return self._wake(member, contact, moment, wave)
        if member.ever and not criteria.get("shouldReEnroll"):
            return None  # [S6] by default a record enrols only the first time
        try:
            if workflow.kind == "LIST_BASED":
                if not self._matches(criteria.get("listFilterBranch"), contact, wave):
                    return None
                if member.ever and not any(self._trigger_fired(branch, contact, wave)
                                           for branch in criteria.get("reEnrollmentTriggersFilterBranches") or []):
                    return None  # [S6] re-enrols when a re-enrolment trigger happens and the criteria hold
            elif workflow.kind == "EVENT_BASED":
                if not any(self._trigger_fired(branch, contact, wave)
                           for branch in criteria.get("eventFilterBranches") or []):
                    return None
            else:
                return None
        except UnknownSemantics as exc:
            self._flag(moment, workflow, None, exc.rule, f"enrolment: {exc.message}")
            return None
        event = "re-enrolled" if member.ever else "enrolled"
        member.ever = True
        run = Run(workflow, contact, moment, next(self._serial))
        member.run = run
        self._log(contact, moment, workflow, event)
        for rule, message in workflow.problems + self.portal_problems.get(workflow.file, []):
            self._flag(moment, workflow, None, rule, message)
        return run, workflow.start

    def _wake(self, member: _Membership, contact: Contact, moment: Moment,
              wave: list[Change]) -> tuple[Run, str | None] | None:
        """A 0-29 wait ends when its event happens [S15]."""
        run = member.run
        if run is None or run.waiting is None:
            return None
        action, _expiry = run.waiting
        try:
            happened = any(self._trigger_fired(b, contact, wave)
                           for b in (action.body.get("fields") or {}).get("event_filter_branches") or [])
        except UnknownSemantics as exc:
            self._flag(moment, run.workflow, action.id, exc.rule, exc.message)
            return None
        if not happened:
            return None
        # the queued expiry belongs to the old run object, which is finished; a new one goes on
        fresh = Run(run.workflow, contact, Moment(moment.at, run.moment.spread), next(self._serial))
        fresh.outputs = run.outputs
        fresh.outputs[action.id] = {"event_happened": True}
        run.finished = True
        member.run = fresh
        return fresh, self._next_of(action)

    def _log(self, contact: Contact, moment: Moment, workflow: Workflow, event: str) -> None:
        self.enrollments.setdefault(contact.id, []).append(Enrollment(moment, workflow.file, event))

    def _trigger_fired(self, branch: dict, contact: Contact, wave: list[Change]) -> bool:
        """Whether a re-enrolment or event trigger *happened* in this wave of changes [S6][S7]."""
        kind = branch.get("filterBranchType")
        if kind == "UNIFIED_EVENTS":
            if branch.get("eventTypeId") != PROPERTY_CHANGED_EVENT:
                raise UnknownSemantics("S7", f"event type {branch.get('eventTypeId')!r} is not modelled")
            if branch.get("operator", "HAS_COMPLETED") != "HAS_COMPLETED":
                raise UnknownSemantics("S7", f"event operator {branch.get('operator')!r} is not modelled")
            if branch.get("filterBranches"):
                raise UnknownSemantics("S7", "nested branches inside an event branch are not modelled")
            for change in wave:
                event = {"hs_name": change.property, "hs_value": change.new}
                if all(self._event_filter(f, event) for f in branch.get("filters") or []):
                    return True
            return False
        # a property trigger fires when the record goes from not matching to matching it, and an
        # `is known` trigger also when the value changes from one value to another [S6]
        touched = {c.property for c in wave}
        if touched.isdisjoint(_filter_properties(branch)):
            return False
        if not self._matches(branch, contact, wave):
            return False
        if not self._matches(branch, contact, wave, before=True):
            return True
        known = _known_filters(branch)
        return any(c.property in known and c.old is not None and c.new is not None for c in wave)

    def _event_filter(self, flt: dict, event: dict[str, str | None]) -> bool:
        if flt.get("filterType") != "PROPERTY" or flt.get("property") not in event:
            raise UnknownSemantics("S7", f"event filter {flt.get('property')!r} is not modelled "
                                         "(the property-change event has hs_name and hs_value)")
        return _operation(flt.get("operation") or {}, event[flt["property"]], None, flt["property"], None)

    def _matches(self, branch: dict | None, contact: Contact, wave: list[Change], before: bool = False) -> bool:
        if branch is None:
            return False
        values = contact.values
        if before:  # the values before this wave of changes
            values = dict(values)
            for change in reversed(wave):
                if change.old is None:
                    values.pop(change.property, None)
                else:
                    values[change.property] = change.old
        return _evaluate(branch, values)

    # ------------------------------------------------------------------ executing actions
    def _continue(self, run: Run, action_id: str | None, moment: Moment) -> None:
        """Run actions from `action_id` until the run waits or ends."""
        workflow = run.workflow
        steps = 0
        while action_id is not None and not run.finished:
            steps += 1
            if steps > MAX_STEPS_PER_INSTANT:
                self._flag(moment, workflow, action_id, "S9", "the workflow loops without a delay")
                break
            action = workflow.actions.get(action_id)
            if action is None:
                self._flag(moment, workflow, action_id, "S9", f"no action {action_id!r}")
                break
            for rule, message in action.problems:
                self._flag(moment, workflow, action.id, rule, message)
            if not action.is_branch and not action.is_delay:
                state, opening = workflow.window_state(moment.at, self.settings.time_zone)
                if state == "edge":
                    self._flag(moment, workflow, action.id, "S13",
                               "the action is reached exactly when a time window closes; whether it runs then or "
                               "at the next opening is undocumented")
                elif state == "closed":
                    # [S13] an action reached outside the windows waits for the next opening and
                    # then runs within a 15-minute window
                    if opening is None:
                        self._flag(moment, workflow, action.id, "S13", "no time window ever opens again")
                        break
                    run.action = action.id
                    run.moment = Moment(opening, moment.spread + RESCHEDULE_SPREAD)
                    self._schedule(run, opening)
                    return
            try:
                outcome, following = self._perform(run, action, moment)
            except UnknownSemantics as exc:
                self._flag(moment, workflow, action.id, exc.rule, exc.message)
                # Go on as if the action were done — except a wait whose end is unknown: the
                # run stops there, since resuming at any moment the model picked would invent
                # everything that follows (and flag it again as other workflows react).
                outcome, following = "next", None if action.is_delay else self._next_of(action)
            if outcome == "wait":
                resume: datetime = following
                run.moment = Moment(resume, moment.spread)
                if action.type_id == WAIT_FOR_EVENT:
                    run.action = action.id
                    run.waiting = (action, resume)
                else:
                    run.action = self._next_of(action)
                self._schedule(run, resume)
                return
            action_id = following
        run.finished = True
        self._log(run.contact, moment, workflow, "finished")

    def _schedule(self, run: Run, at: datetime) -> None:
        heapq.heappush(self._queue, (at, run.serial, run))

    @staticmethod
    def _next_of(action: Action) -> str | None:
        connection = action.body.get("connection")
        return str(connection["nextActionId"]) if connection and connection.get("nextActionId") is not None else None

    def _flag(self, moment: Moment, workflow: Workflow, action: str | None, rule: str, message: str) -> None:
        flag = Flag(moment, workflow.file, action, rule, message)
        if flag not in self._flagged:
            self._flagged.add(flag)
            self.flags.append(flag)

    # ------------------------------------------------------------------ each action type
    def _perform(self, run: Run, action: Action, moment: Moment) -> tuple[str, Any]:
        if action.kind == "LIST_BRANCH":
            return "next", self._list_branch(run, action, moment)
        if action.kind == "STATIC_BRANCH":
            return "next", self._static_branch(run, action, moment)
        if action.kind == "CUSTOM_CODE":
            self._custom_code(run, action, moment)
            return "next", self._next_of(action)
        if action.kind == "WEBHOOK":
            self.webhooks.append((moment, run.workflow.file, str(action.body.get("webhookUrl"))))
            return "next", self._next_of(action)
        if action.kind != "SINGLE_CONNECTION":
            raise UnknownSemantics("S9", f"{action.kind} actions are not modelled")
        fields = action.body.get("fields") or {}
        type_id = action.type_id
        if type_id == DELAY:
            return "wait", moment.at + self._delay(fields, moment.at)
        if type_id == DELAY_UNTIL_DATE:
            return "wait", self._delay_until(run, fields, moment)
        if type_id == WAIT_FOR_EVENT:
            minutes = _int_field(fields, "expiration_minutes", "S15")
            if not fields.get("event_filter_branches"):
                raise UnknownSemantics("S15", "a wait for an event without an event")
            return "wait", moment.at + timedelta(minutes=minutes)
        if type_id == SET_PROPERTY:
            self._set_property(run, action, fields, moment)
        elif type_id == CREATE_TASK:
            self._create_task(run, action, fields, moment)
        elif type_id in (INTERNAL_EMAIL, IN_APP):
            self._notify(run, action, fields, moment)
        elif type_id == ROTATE_OWNER:
            self._rotate(run, action, fields, moment)
        else:
            raise UnknownSemantics("S10", f"action type {type_id!r} is not modelled")
        return "next", self._next_of(action)

    def _delay(self, fields: dict, start: datetime) -> timedelta:
        """[S14] a delay for a set amount of time counts calendar time."""
        amount = _int_field(fields, "delta", "S14")
        unit = fields.get("time_unit")
        if unit not in TIME_UNITS:
            raise UnknownSemantics("S14", f"delay unit {unit!r} is not documented for delays")
        if amount < 0:
            raise UnknownSemantics("S14", "a negative delay")
        span = amount * TIME_UNITS[unit]
        if unit == "DAYS":
            zone = self.settings.time_zone
            if start.astimezone(zone).utcoffset() != (start + span).astimezone(zone).utcoffset():
                raise UnknownSemantics("S14", "a delay in days across a daylight-saving change: whether a day is "
                                              "24 hours or the same local time is undocumented")
        return span

    def _delay_until(self, run: Run, fields: dict, moment: Moment) -> datetime:
        """[S14] delay until the date in a date or datetime property (plus an offset)."""
        source = fields.get("date") or {}
        name = source.get("propertyName")
        if source.get("type") == "OBJECT_PROPERTY":
            kind = self.settings.property_type(name)
            raw = run.contact.get(name)
            self._read(moment, run, {name})
        elif source.get("type") == "STATIC_VALUE":
            kind, raw = "datetime", source.get("staticValue")
        else:
            raise UnknownSemantics("S14", f"delay-until-date source {source.get('type')!r} is not modelled")
        if raw is None:
            raise UnknownSemantics("S14", f"delay until `{name}`, which has no value: what HubSpot does then is "
                                          "undocumented")
        try:
            point = from_ms(raw)
        except (TypeError, ValueError):
            raise UnknownSemantics("S14", f"`{name}` holds {raw!r}, not a date") from None
        amount = _int_field({"delta": fields.get("delta", "0")}, "delta", "S14")
        unit = fields.get("time_unit", "DAYS")
        if unit not in TIME_UNITS:
            raise UnknownSemantics("S14", f"delay unit {unit!r} is not modelled")
        time_of_day = fields.get("time_of_day")
        if kind == "date":
            day = point.date()  # a date property is midnight UTC of its day [S3]
            local = datetime(day.year, day.month, day.day, tzinfo=self.settings.time_zone)
            if time_of_day:
                local += timedelta(hours=int(time_of_day.get("hour", 0)), minutes=int(time_of_day.get("minute", 0)))
            target = local.astimezone(UTC) + amount * TIME_UNITS[unit]
        elif kind == "datetime":
            if time_of_day:
                raise UnknownSemantics("S14", "a time of day with a datetime property: which one wins is undocumented")
            target = point + amount * TIME_UNITS[unit]
        else:
            raise UnknownSemantics("S14", f"delay until a {kind or 'unknown'} property is not documented")
        if target < moment.at:
            raise UnknownSemantics("S14", "the date has already passed when the contact reaches the delay: "
                                          "whether it waits or goes on is undocumented")
        if target == moment.at:
            raise UnknownSemantics("S14", "the date is the very moment the contact reaches the delay: whether "
                                          "HubSpot goes on at once is undocumented")
        return target

    def _list_branch(self, run: Run, action: Action, moment: Moment) -> str | None:
        """[S16] the first branch whose filters the record meets; otherwise the default branch."""
        for branch in action.body.get("listBranches") or []:
            tree = branch.get("filterBranch")
            self._read(moment, run, _filter_properties(tree))
            if tree is not None and _evaluate(tree, run.contact.values):
                edge = branch.get("connection")
                return str(edge["nextActionId"]) if edge else None
        edge = action.body.get("defaultBranch")
        return str(edge["nextActionId"]) if edge and edge.get("nextActionId") is not None else None

    def _static_branch(self, run: Run, action: Action, moment: Moment) -> str | None:
        """[S16] the branch whose value equals the input value; otherwise the default branch."""
        value = self._value(run, action.body.get("inputValue") or {}, moment, None)
        for branch in action.body.get("staticBranches") or []:
            if value is not None and str(branch.get("branchValue")) == value:
                edge = branch.get("connection")
                return str(edge["nextActionId"]) if edge else None
        edge = action.body.get("defaultBranch")
        return str(edge["nextActionId"]) if edge and edge.get("nextActionId") is not None else None

    def _value(self, run: Run, spec: dict, moment: Moment, target: str | None) -> str | None:
        """The value an action sets, branches on or passes to custom code [S19]."""
        kind = spec.get("type")
        if kind == "STATIC_VALUE":
            return str(spec.get("staticValue"))
        if kind == "TIMESTAMP":
            if spec.get("timestampType") != "EXECUTION_TIME":
                raise UnknownSemantics("S19", f"timestamp type {spec.get('timestampType')!r} is not modelled")
            return to_ms(moment.at)
        if kind == "OBJECT_PROPERTY":
            name = spec.get("propertyName")
            self._read(moment, run, {name})
            return run.contact.get(name)
        if kind == "FIELD_DATA":
            outputs = run.outputs.get(str(spec.get("actionId")))
            if outputs is None:
                raise UnknownSemantics("S22", f"action {spec.get('actionId')!r} gave no output (not run, or failed)")
            if spec.get("dataKey") not in outputs:
                raise UnknownSemantics("S22", f"action {spec.get('actionId')} has no output {spec.get('dataKey')!r}")
            value = outputs[spec["dataKey"]]
            return None if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        if kind == "INCREMENT":
            current = _number(run.contact.get(target or "") or "0") or 0
            return _format_number(current + float(spec.get("incrementAmount", 0)))
        raise UnknownSemantics("S19", f"value type {kind!r} is not modelled")

    def _set_property(self, run: Run, action: Action, fields: dict, moment: Moment) -> None:
        name = fields.get("property_name")
        if not name:
            raise UnknownSemantics("S19", "set property without `property_name`")
        value = self._value(run, fields.get("value") or {}, moment, name)
        kind = self.settings.property_type(name)
        if kind is None:
            raise UnknownSemantics("S19", f"`{name}` is not a property of this portal")
        if value in ("", None):
            # [S19] the CRM API clears a value with an empty string; in workflows HubSpot documents
            # a separate "Clear property value" action, not an empty set-property value
            self._flag(moment, run.workflow, action.id, "S19",
                       f"`{name}` is cleared by setting an empty value; HubSpot documents clearing in workflows "
                       "with the \"Clear property value\" action, not with an empty set-property value")
            self._apply(run, action, moment, {name: None})
            return
        problem = _invalid_value(kind, value, self.settings.properties.get(name))
        if problem:
            raise UnknownSemantics("S19", f"`{name}` ({kind}) cannot hold {value!r}: {problem}")
        if name == "lifecyclestage":
            current = run.contact.get(name)
            if current in LIFECYCLE_ORDER and value in LIFECYCLE_ORDER and \
                    LIFECYCLE_ORDER.index(value) < LIFECYCLE_ORDER.index(current):
                return  # [S21] a workflow moves the lifecycle stage only forward unless it is cleared first
        self._apply(run, action, moment, {name: value})

    def _apply(self, run: Run, action: Action, moment: Moment, values: dict[str, str | None]) -> None:
        # other workflows see these changes like any other: _settle hands them on as the next wave [S8]
        self._write(run.contact, moment, values, f"WORKFLOW:{run.workflow.file}#{action.id}")

    def _render(self, run: Run, action: Action, moment: Moment, text: Any) -> str:
        """Personalisation tokens `{{ enrolled_object.NAME }}` [S25]; any other template syntax would be
        interpreted by HubSpot in ways the model does not know."""
        text = "" if text is None else str(text)
        if _TEMPLATE_SYNTAX.search(_TOKEN.sub("", text)):
            self._flag(moment, run.workflow, action.id, "S25",
                       f"text contains template syntax besides personalisation tokens: {text[:120]!r}")
        return _TOKEN.sub(lambda m: run.contact.get(m.group(1)) or "", text)

    def _create_task(self, run: Run, action: Action, fields: dict, moment: Moment) -> None:
        """[S23] a task, assigned as `owner_assignment` says."""
        subject = self._render(run, action, moment, fields.get("subject"))
        self._render(run, action, moment, fields.get("body"))
        owner = None
        assignment = fields.get("owner_assignment")
        if assignment:
            value = assignment.get("value") or {}
            if assignment.get("type") == "CUSTOM" and value.get("type") == "STATIC_VALUE":
                # one named user (the editor's "Assign to: specific user")
                owner = str(value.get("staticValue") or "") or None
                if owner is not None and self.settings.users and owner not in self.settings.users:
                    raise UnknownSemantics("S23", f"user id {owner} does not exist in this portal")
            elif assignment.get("type") != "CUSTOM" or value.get("type") != "OBJECT_PROPERTY":
                raise UnknownSemantics("S23", f"task owner assignment {assignment!r} is not modelled")
            else:
                name = value.get("propertyName")
                self._read(moment, run, {name})
                owner = run.contact.get(name)
        due = None
        due_time = fields.get("due_time")
        if isinstance(due_time, dict) and due_time.get("timeUnit") in TIME_UNITS and \
                set(due_time.get("daysOfWeek") or WEEKDAYS) == set(WEEKDAYS) and not due_time.get("timeOfDay"):
            due = moment.at + int(due_time.get("delta", 0)) * TIME_UNITS[due_time["timeUnit"]]
        self.tasks.append(Task(moment, run.workflow.file, action.id, subject, str(fields.get("task_type", "TODO")),
                               owner, due))

    def _notify(self, run: Run, action: Action, fields: dict, moment: Moment) -> None:
        """[S23] internal email (0-8) and in-app notification (0-9) to owners, users and teams."""
        subject = self._render(run, action, moment, fields.get("subject"))
        self._render(run, action, moment, fields.get("body"))
        users: set[str] = set()
        for name in fields.get("owner_properties") or []:
            self._read(moment, run, {name})
            value = run.contact.get(name)
            if value:
                users.add(value)
        users |= {str(u) for u in fields.get("user_ids") or []}
        teams = {str(t) for t in fields.get("team_ids") or []}
        for team in teams:
            if team not in self.settings.teams:
                raise UnknownSemantics("S23", f"team {team!r} does not exist in this portal")
            users |= set(self.settings.teams[team])
        unknown = sorted(u for u in users if self.settings.users and u not in self.settings.users)
        if unknown:
            raise UnknownSemantics("S23", f"user ids {', '.join(unknown)} do not exist in this portal")
        channel = "in_app" if action.type_id == IN_APP else "email"
        self.notifications.append(Notification(moment, run.workflow.file, action.id, channel, subject,
                                               frozenset(users), frozenset(teams)))

    def _rotate(self, run: Run, action: Action, fields: dict, moment: Moment) -> None:
        """[S23] rotate the record to the next of the listed users (round robin)."""
        users = [str(u) for u in fields.get("user_ids") or []]
        for team in fields.get("team_ids") or []:
            if str(team) not in self.settings.teams:
                raise UnknownSemantics("S23", f"team {team!r} does not exist in this portal")
            users += [u for u in self.settings.teams[str(team)] if u not in users]
        if not users:
            raise UnknownSemantics("S23", "rotation among nobody")
        unknown = sorted(u for u in users if self.settings.users and u not in self.settings.users)
        if unknown:
            raise UnknownSemantics("S23", f"user ids {', '.join(unknown)} do not exist in this portal")
        target = fields.get("target_property", "hubspot_owner_id")
        overwrite = str(fields.get("overwrite_current_owner", "false")).lower() == "true"
        self._read(moment, run, {target})
        if run.contact.get(target) and not overwrite:
            return
        key = (run.workflow.file, action.id)
        index = self._rotation.get(key, 0)
        self._rotation[key] = index + 1
        self._apply(run, action, moment, {target: users[index % len(users)]})

    # ------------------------------------------------------------------ custom code [S22]
    def _custom_code(self, run: Run, action: Action, moment: Moment) -> None:
        body = action.body
        runtime = str(body.get("runtime", ""))
        if not runtime.upper().startswith("PYTHON"):
            raise UnknownSemantics("S22", f"runtime {runtime!r}: only Python custom code can be run by the model")
        inputs: dict[str, str] = {}
        for item in body.get("inputFields") or []:
            value = self._value(run, item.get("value") or {}, moment, None)
            inputs[str(item.get("name"))] = "" if value is None else value
        # [S22] secrets reach the code as environment variables; the model's are stand-ins that
        # its CRM API accepts as private-app tokens
        # [S28] a Slack secret holds its incoming webhook's URL
        secrets = {str(name): (f"{SLACK_WEBHOOKS}{name}" if name in self.settings.slack_webhooks
                               else f"emulated-token-{name}") for name in body.get("secretNames") or []}
        tokens = {value for value in secrets.values() if not value.startswith(SLACK_WEBHOOKS)}
        environment = CustomCodeEnvironment(
            secrets, lambda method, path, headers, data: self._crm_api(run, action, moment, tokens,
                                                                       method, path, headers, data),
            slack=lambda url, data: self._slack_post(run, action, moment, url, data))
        try:
            result = run_python_custom_code(str(body.get("sourceCode", "")), {
                "inputFields": inputs,
                "object": {"objectId": int(run.contact.id) if run.contact.id.isdigit() else run.contact.id,
                           "objectType": "CONTACT"},
            }, environment)
        finally:
            self.code_logs.extend((moment, run.workflow.file, action.id, line) for line in environment.log)
        declared = {str(o.get("name")) for o in body.get("outputFields") or []}
        outputs = result.get("outputFields")
        if not isinstance(outputs, dict):
            raise UnknownSemantics("S22", "main(event) did not return {\"outputFields\": {…}}")
        undeclared = sorted(set(outputs) - declared)
        if undeclared:
            raise UnknownSemantics("S22", f"outputs {', '.join(undeclared)} are not declared in outputFields")
        run.outputs[action.id] = dict(outputs)

    def _crm_api(self, run: Run, action: Action, moment: Moment, tokens: set[str], method: str, path: str,
                 headers: dict[str, str], data: bytes | None) -> tuple[int, bytes]:
        """HubSpot's CRM objects API v3 for contacts [S26]: GET reads properties, PATCH updates
        them (an empty string clears a value [S2]). Changes are the workflow's, at this moment."""
        import json
        from urllib.parse import parse_qs, urlsplit

        def answer(status: int, payload: dict) -> tuple[int, bytes]:
            return status, json.dumps(payload).encode("utf-8")

        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[len("Bearer "):] not in tokens:
            return answer(401, {"status": "error", "category": "INVALID_AUTHENTICATION"})
        parts = urlsplit(path)
        if _ASSOCIATIONS.fullmatch(parts.path) or _ENGAGEMENT_READ.fullmatch(parts.path):
            return self._engagement_api(method, parts.path, data, answer, moment)
        contact_id = parts.path.rsplit("/", 1)[-1]
        contact = self.contacts.get(contact_id)
        if contact is None:
            return answer(404, {"status": "error", "category": "OBJECT_NOT_FOUND"})
        if method == "GET":
            return answer(200, self._read_contact(contact, parse_qs(parts.query), moment))
        if method != "PATCH":
            raise UnknownSemantics("S26", f"{method} {parts.path}: the model's CRM API reads and updates contacts only")
        try:
            properties = json.loads((data or b"{}").decode("utf-8")).get("properties")
        except (ValueError, AttributeError):
            return answer(400, {"status": "error", "category": "VALIDATION_ERROR", "message": "not JSON"})
        if not isinstance(properties, dict):
            return answer(400, {"status": "error", "category": "VALIDATION_ERROR", "message": "no properties"})
        values: dict[str, str | None] = {}
        for name, raw in properties.items():
            kind = self.settings.property_type(name)
            if kind is None:
                return answer(400, {"status": "error", "category": "VALIDATION_ERROR",
                                    "message": f"Property \"{name}\" does not exist"})
            value = None if raw in ("", None) else str(raw)
            if value is not None:
                problem = _invalid_value(kind, value, self.settings.properties.get(name))
                if problem:
                    return answer(400, {"status": "error", "category": "VALIDATION_ERROR",
                                        "message": f"{name}: {problem}"})
            values[name] = value
        self._apply(run, action, moment, values)
        # `SimplePublicObject` (spec): the properties written, a cleared one as ""
        return answer(200, {"id": contact.id, "properties": {n: contact.get(n) or "" for n in properties},
                            "createdAt": _iso_ms(contact.created), "updatedAt": _iso_ms(moment.at), "archived": False})

    def _read_contact(self, contact: Contact, query: dict[str, list[str]], moment: Moment) -> dict:
        """`GET /crm/v3/objects/contacts/{id}` [S26][S29]: the `properties` asked for that have a
        value, and with `propertiesWithHistory` each asked property's values as they were
        written, newest first: `value` ("" for a cleared one), `timestamp` (the moment of the
        change that wrote it, ISO 8601 UTC with milliseconds: every value one change wrote carries
        the same one, the creation's included) and `sourceType`. Only changes up to the action's
        moment exist. `createdAt`, `updatedAt` and `archived` as the spec's
        `SimplePublicObjectWithAssociations` requires them."""
        wanted = [n for v in query.get("properties", []) for n in v.split(",") if n]
        historic = [n for v in query.get("propertiesWithHistory", []) for n in v.split(",") if n]
        written = [c for c in contact.history if c.moment.at <= moment.at]
        updated = max((c.moment.at for c in written), default=contact.created)
        payload: dict[str, Any] = {
            "id": contact.id,
            "properties": {n: contact.get(n) for n in wanted if contact.get(n) is not None},
            "createdAt": _iso_ms(contact.created), "updatedAt": _iso_ms(updated), "archived": False,
        }
        if historic:
            # a property the portal does not have is left out ("If any of the specified properties
            # are not present on the requested object(s), they will be ignored", spec)
            payload["propertiesWithHistory"] = {
                name: [{"value": c.new or "", "timestamp": _iso_ms(c.moment.at), "sourceType": _source_type(c.source)}
                       for c in reversed(written) if c.property == name]
                for name in historic if self.settings.property_type(name) is not None}
        return payload

    def _engagement_api(self, method: str, path: str, data: bytes | None, answer, moment: Moment
                        ) -> tuple[int, bytes]:
        """[S27] The contacts' calls, emails and meetings, as logged (`log_engagement`): the v4
        association batch read (contact → engagements of one type) and the v3 batch read of the
        engagements' `hs_timestamp` (ISO 8601, UTC, milliseconds). An engagement logged on a
        contact is associated with it."""
        import json

        if method != "POST":
            raise UnknownSemantics("S27", f"{method} {path}: the model answers batch reads (POST) only")
        try:
            body = json.loads((data or b"{}").decode("utf-8"))
            inputs = [str(item["id"]) for item in body["inputs"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            return answer(400, {"status": "error", "category": "VALIDATION_ERROR", "message": "inputs"})
        stamp = moment.at.astimezone(UTC).isoformat()
        associations = _ASSOCIATIONS.fullmatch(path)
        if associations:
            kind = _ENGAGEMENT_OBJECTS[associations.group(1)]
            results = []
            for contact_id in inputs:
                contact = self.contacts.get(contact_id)
                if contact is None:
                    continue
                results.append({"from": {"id": contact_id}, "to": [
                    {"toObjectId": engagement_id(contact_id, n),
                     "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": _CONTACT_TO[kind]}]}
                    for n, (_, logged) in enumerate(contact.engagements) if logged == kind]})
            return answer(200, {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp})
        kind = _ENGAGEMENT_OBJECTS[_ENGAGEMENT_READ.fullmatch(path).group(1)]
        wanted = set(body.get("properties") or [])
        results = []
        for contact in self.contacts.values():
            for n, (at, logged) in enumerate(contact.engagements):
                ident = engagement_id(contact.id, n)
                if logged == kind and ident in inputs:
                    iso = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
                    properties = {"hs_object_id": ident}
                    if "hs_timestamp" in wanted:
                        properties["hs_timestamp"] = iso
                    results.append({"id": ident, "properties": properties, "createdAt": iso, "updatedAt": iso,
                                    "archived": False})
        return answer(200, {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp})

    def _slack_post(self, run: Run, action: Action, moment: Moment, url: str, data: bytes | None) -> tuple[int, bytes]:
        """[S28] A POST to a Slack incoming webhook: `{"text": …}` is posted to the channel the
        webhook was created for; Slack answers 200 `ok`, or 400 `invalid_payload`."""
        import json

        channel = self.settings.slack_webhooks.get(url[len(SLACK_WEBHOOKS):])
        if channel is None:
            return 404, b"no_service"
        try:
            text = json.loads((data or b"").decode("utf-8")).get("text")
        except (ValueError, AttributeError):
            text = None
        if not isinstance(text, str) or not text:
            return 400, b"invalid_payload"
        self.slack_messages.append(SlackMessage(moment, run.workflow.file, action.id, channel, text))
        return 200, b"ok"

    # ------------------------------------------------------------------ reads under a spread [S13]
    def _read(self, moment: Moment, run: Run, names: Iterable[str]) -> None:
        if moment.spread:
            self._reads.append((moment, run.workflow.file, run.action or "", frozenset(n for n in names if n),
                                run.contact.id))

    def spread_conflicts(self) -> list[Flag]:
        """Reads by rescheduled actions (HubSpot runs them somewhere within 15 minutes) of properties
        that changed within that window: their outcome depends on exactly when HubSpot ran them."""
        out = []
        for moment, file, action, names, contact_id in self._reads:
            for change in self.contacts[contact_id].history:
                if change.property in names and moment.at < change.moment.at <= moment.latest \
                        and not change.source.startswith(f"WORKFLOW:{file}#"):
                    out.append(Flag(moment, file, action or None, "S13",
                                    f"reads `{change.property}`, which changed at {change.moment.at.isoformat()}, "
                                    "within the 15 minutes in which HubSpot runs a rescheduled action"))
                    break
        return out


# ------------------------------------------------------------------ what a flow refers to


def referenced_properties(body: dict) -> set[str]:
    """Every contact property a flow body filters on, reads or writes (not the attributes of the
    property-change event, `hs_name` and `hs_value`)."""
    out: set[str] = set()

    def branch(tree: dict | None) -> None:
        if not tree:
            return
        if tree.get("filterBranchType") == "UNIFIED_EVENTS":
            for flt in tree.get("filters") or []:
                operation = flt.get("operation") or {}
                if flt.get("property") == "hs_name" and operation.get("operator") == "IS_EQUAL_TO":
                    out.add(str(operation.get("value")))
            return
        out.update(_filter_properties({"filters": tree.get("filters") or []}))
        for sub in tree.get("filterBranches") or []:
            branch(sub)

    def value(spec: dict | None) -> None:
        if spec and spec.get("type") == "OBJECT_PROPERTY" and spec.get("propertyName"):
            out.add(str(spec["propertyName"]))

    criteria = body.get("enrollmentCriteria") or {}
    branch(criteria.get("listFilterBranch"))
    for tree in (criteria.get("reEnrollmentTriggersFilterBranches") or []) + (criteria.get("eventFilterBranches") or []):
        branch(tree)
    for action in body.get("actions") or []:
        for item in action.get("listBranches") or []:
            branch(item.get("filterBranch"))
        value(action.get("inputValue"))
        for item in action.get("inputFields") or []:
            value(item.get("value"))
        fields = action.get("fields") or {}
        if fields.get("property_name"):
            out.add(str(fields["property_name"]))
        value(fields.get("value"))
        value(fields.get("date"))
        out.update(str(n) for n in fields.get("owner_properties") or [])
        value((fields.get("owner_assignment") or {}).get("value"))
        if action.get("actionTypeId") == ROTATE_OWNER:
            out.add(str(fields.get("target_property", "hubspot_owner_id")))
        for tree in fields.get("event_filter_branches") or []:
            branch(tree)
    return out


# ------------------------------------------------------------------ filter evaluation [S17][S18]


def _filter_properties(branch: dict | None) -> frozenset[str]:
    if not branch:
        return frozenset()
    out = {f.get("property") for f in branch.get("filters") or [] if f.get("filterType") == "PROPERTY"}
    out |= {f["operation"].get("comparisonPropertyName") for f in branch.get("filters") or []
            if f.get("filterType") == "PROPERTY" and (f.get("operation") or {}).get("comparisonPropertyName")}
    for sub in branch.get("filterBranches") or []:
        out |= _filter_properties(sub)
    return frozenset(x for x in out if x)


def _known_filters(branch: dict) -> frozenset[str]:
    out = {f.get("property") for f in branch.get("filters") or []
           if (f.get("operation") or {}).get("operator") == "IS_KNOWN"}
    for sub in branch.get("filterBranches") or []:
        out |= _known_filters(sub)
    return frozenset(x for x in out if x)


def _evaluate(branch: dict, values: dict[str, str]) -> bool:
    kind = branch.get("filterBranchType")
    filters = branch.get("filters") or []
    subs = branch.get("filterBranches") or []
    results = [_filter(f, values) for f in filters] + [_evaluate(b, values) for b in subs]
    if kind == "OR":
        return any(results)
    if kind == "AND":
        return all(results)
    if kind == "NOT_ALL":
        return not all(results)
    if kind == "NOT_ANY":
        return not any(results)
    raise UnknownSemantics("S17", f"filter branch type {kind!r} is not modelled here")


def _filter(flt: dict, values: dict[str, str]) -> bool:
    kind = flt.get("filterType")
    if kind == "CONSTANT":
        return bool(flt.get("shouldAccept"))
    if kind != "PROPERTY":
        raise UnknownSemantics("S17", f"filter type {kind!r} is not modelled (only property filters)")
    name = flt.get("property")
    operation = flt.get("operation") or {}
    other = operation.get("comparisonPropertyName")
    return _operation(operation, values.get(name), values.get(other) if other else None, name, other)


def _operation(op: dict, value: str | None, other: str | None, name: str | None, other_name: str | None) -> bool:
    kind = op.get("operationType")
    operator = op.get("operator")
    if kind == "ALL_PROPERTY":
        if operator == "IS_KNOWN":
            return value is not None
        if operator == "IS_UNKNOWN":
            return value is None
        raise UnknownSemantics("S18", f"ALL_PROPERTY operator {operator!r} is not modelled")
    if value is None:
        # [S18] "whether objects without a value set should be included"
        return bool(op.get("includeObjectsWithNoValueSet"))
    if kind == "ENUMERATION":
        options = [str(v) for v in op.get("values") or []]
        if operator == "IS_ANY_OF":
            return value in options
        if operator == "IS_NONE_OF":
            return value not in options
        raise UnknownSemantics("S18", f"ENUMERATION operator {operator!r} is not modelled")
    if kind == "NUMBER":
        number = _number(value)
        target = op.get("value")
        if number is None or not isinstance(target, (int, float)) or isinstance(target, bool):
            raise UnknownSemantics("S18", f"NUMBER filter on {name!r}: {value!r} against {target!r}")
        comparisons = {
            "IS_EQUAL_TO": number == target, "IS_NOT_EQUAL_TO": number != target,
            "IS_GREATER_THAN": number > target, "IS_GREATER_THAN_OR_EQUAL_TO": number >= target,
            "IS_LESS_THAN": number < target, "IS_LESS_THAN_OR_EQUAL_TO": number <= target,
        }
        if operator not in comparisons:
            raise UnknownSemantics("S18", f"NUMBER operator {operator!r} is not modelled")
        return comparisons[operator]
    if kind == "NUMBER_RANGED":
        number = _number(value)
        low, high = op.get("lowerBound"), op.get("upperBound")
        if number is None or low is None or high is None:
            raise UnknownSemantics("S18", f"NUMBER_RANGED filter on {name!r} with {value!r}")
        if number in (low, high):
            raise UnknownSemantics("S18", "whether IS_BETWEEN includes its bounds is undocumented")
        inside = low < number < high
        if operator == "IS_BETWEEN":
            return inside
        if operator == "IS_NOT_BETWEEN":
            return not inside
        raise UnknownSemantics("S18", f"NUMBER_RANGED operator {operator!r} is not modelled")
    if kind == "BOOL":
        target = op.get("value")
        if not isinstance(target, bool) or value not in ("true", "false"):
            raise UnknownSemantics("S18", f"BOOL filter on {name!r}: {value!r} against {target!r}")
        if operator == "IS_EQUAL_TO":
            return (value == "true") == target
        if operator == "IS_NOT_EQUAL_TO":
            return (value == "true") != target
        raise UnknownSemantics("S18", f"BOOL operator {operator!r} is not modelled")
    if kind in ("STRING", "MULTISTRING"):
        targets = [str(op.get("value"))] if kind == "STRING" else [str(v) for v in op.get("values") or []]
        if operator in ("IS_EQUAL_TO", "IS_NOT_EQUAL_TO"):
            exact = value in targets
            folded = value.casefold() in [t.casefold() for t in targets]
            if exact != folded:
                raise UnknownSemantics("S18", "whether string filters ignore case is undocumented")
            return exact if operator == "IS_EQUAL_TO" else not exact
        if operator in ("CONTAINS", "DOES_NOT_CONTAIN"):
            found = any(t in value for t in targets)
            if found != any(t.casefold() in value.casefold() for t in targets):
                raise UnknownSemantics("S18", "whether string filters ignore case is undocumented")
            return found if operator == "CONTAINS" else not found
        raise UnknownSemantics("S18", f"{kind} operator {operator!r} is not modelled")
    if kind == "COMPARATIVE_DATE":
        if other is None:
            default = op.get("defaultComparisonValue")
            if default is None:
                raise UnknownSemantics("S18", f"`{other_name}` has no value and the filter gives no default: "
                                              "how HubSpot compares with nothing is undocumented")
            other = str(default)
        try:
            left, right = int(value), int(other)
        except ValueError:
            raise UnknownSemantics("S18", f"COMPARATIVE_DATE on non-dates {value!r}, {other!r}") from None
        if operator == "IS_AFTER":
            return left > right
        if operator == "IS_BEFORE":
            return left < right
        raise UnknownSemantics("S18", f"COMPARATIVE_DATE operator {operator!r} is not modelled")
    if kind == "DATETIME":
        try:
            left = int(value)
        except ValueError:
            raise UnknownSemantics("S18", f"DATETIME filter on a non-date {value!r}") from None
        target = int(op.get("timestamp"))
        if operator == "IS_AFTER":
            return left > target
        if operator == "IS_BEFORE":
            return left < target
        if operator == "IS_EQUAL_TO":
            return left == target
        raise UnknownSemantics("S18", f"DATETIME operator {operator!r} is not modelled")
    raise UnknownSemantics("S18", f"operation type {kind!r} is not modelled")


def _invalid_value(kind: str, value: str, prop: PropertyDef | None) -> str | None:
    if kind == "number":
        return None if _number(value) is not None else "not a number"
    if kind == "bool":
        return None if value in ("true", "false") else "not true/false"
    if kind in ("date", "datetime"):
        try:
            int(value)
        except ValueError:
            return "not a timestamp in milliseconds"
        if kind == "date" and int(value) % 86_400_000:
            return "a date property holds midnight UTC"
        return None
    if kind == "enumeration" and prop is not None and prop.options and value not in prop.options:
        return f"not one of its options ({', '.join(prop.options)})"
    return None


def _format_number(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(number)


def _int_field(fields: dict, name: str, rule: str) -> int:
    raw = fields.get(name)
    try:
        return int(str(raw))
    except ValueError:
        raise UnknownSemantics(rule, f"`{name}` is {raw!r}, not a whole number") from None


# ------------------------------------------------------------------ running custom code [S22]

# HubSpot runs Python custom code on AWS Lambda's Python 3.9 runtime with the standard library
# (and a few packages for API calls). The model runs it in this process with the standard
# library modules below only: no files, no network, no processes — what a due-date
# computation needs, nothing that could touch this machine.
_ALLOWED_MODULES = frozenset({
    "datetime", "zoneinfo", "json", "math", "re", "calendar", "decimal", "functools", "itertools", "collections",
    "typing", "dataclasses", "bisect", "enum", "string", "time", "fractions", "operator",
})
_BLOCKED_BUILTINS = frozenset({"open", "exec", "eval", "compile", "input", "breakpoint", "help", "exit", "quit",
                               "globals", "locals", "vars", "memoryview", "__loader__", "__spec__"})
API_BASE = "https://api.hubapi.com"
# the URLs the model gives the incoming webhooks of `PortalSettings.slack_webhooks` [S28]
SLACK_WEBHOOKS = "https://hooks.slack.com/services/EMULATED/"


class HTTPError(Exception):
    """`urllib.error.HTTPError` as custom code sees it from the emulated API."""

    def __init__(self, url: str, code: int, msg: str, hdrs=None, fp=None) -> None:
        super().__init__(f"HTTP Error {code}: {msg}")
        self.url, self.code, self.reason, self.headers = url, code, msg, hdrs or {}


class URLError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Request:
    """`urllib.request.Request`: what custom code sends."""

    def __init__(self, url, data=None, headers=None, origin_req_host=None, unverifiable=False, method=None):
        self.full_url = str(url)
        self.data = data
        self.headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
        self.method = method or ("POST" if data is not None else "GET")

    def add_header(self, key, value):
        self.headers[str(key).lower()] = str(value)

    def get_method(self):
        return self.method


class _Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._body = body

    def read(self, *args):
        return self._body

    def getcode(self):
        return self.status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_ENGAGEMENT_OBJECTS = {"calls": "CALL", "emails": "EMAIL", "meetings": "MEETING"}
# HubSpot-defined association types contact → call / email / meeting (associations v4 guide, "Association
# type ID values"); the generated code reads only `toObjectId`
_CONTACT_TO = {"CALL": 193, "EMAIL": 197, "MEETING": 199}
_ASSOCIATIONS = re.compile(r"/crm/v4/associations/contacts/(calls|emails|meetings)/batch/read")
_ENGAGEMENT_READ = re.compile(r"/crm/v3/objects/(calls|emails|meetings)/batch/read")


def _iso_ms(at: datetime) -> str:
    """A moment as HubSpot's API writes one: ISO 8601, UTC, milliseconds."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _source_type(source: str) -> str:
    """The history's `sourceType` for a change the model records (workflow changes are HubSpot's
    automation platform); nothing generated relies on it."""
    return "AUTOMATION_PLATFORM" if source.startswith("WORKFLOW:") else source


def _answered(path: str) -> bool:
    """The requests the model's CRM API answers [S26][S27]."""
    bare = path.split("?", 1)[0]
    return (bare.startswith("/crm/v3/objects/contacts/") or bool(_ASSOCIATIONS.fullmatch(bare))
            or bool(_ENGAGEMENT_READ.fullmatch(bare)))


def engagement_id(contact_id: str, index: int) -> str:
    """The id the model gives the `index`-th engagement logged on a contact."""
    return f"{contact_id}{index:04d}"


class CustomCodeEnvironment:
    """What custom code can reach [S22][S26]: its secrets as environment variables, and HubSpot's
    CRM API for contacts through `urllib.request` — answered by the emulated portal. Any other
    network use is something the model cannot run: it is recorded in `problems` (and the call
    fails), even when the code catches the failure."""

    def __init__(self, secrets: dict[str, str], api: Callable[[str, str, dict[str, str], bytes | None],
                                                               tuple[int, bytes]] | None = None,
                 slack: Callable[[str, bytes | None], tuple[int, bytes]] | None = None) -> None:
        self.secrets = dict(secrets)
        self.api = api
        self.slack = slack
        self.problems: list[str] = []
        self.log: list[str] = []

    def modules(self) -> dict[str, types.ModuleType]:
        os_module = types.ModuleType("os")
        os_module.environ = dict(self.secrets)
        os_module.getenv = lambda key, default=None: os_module.environ.get(key, default)
        request = types.ModuleType("urllib.request")
        request.Request = _Request
        request.urlopen = self.urlopen
        error = types.ModuleType("urllib.error")
        error.HTTPError, error.URLError = HTTPError, URLError
        package = types.ModuleType("urllib")
        package.request, package.error = request, error
        return {"os": os_module, "urllib": package, "urllib.request": request, "urllib.error": error}

    def urlopen(self, request, data=None, timeout=None, **_):
        if not isinstance(request, _Request):
            request = _Request(request, data=data)
        elif data is not None:
            request.data = data
        url = request.full_url
        if url.startswith(SLACK_WEBHOOKS) and self.slack is not None and request.get_method() == "POST":
            status, body = self.slack(url, request.data)
            if status >= 400:
                raise HTTPError(url, status, body.decode("utf-8", "replace"))
            return _Response(status, body)
        if not url.startswith(API_BASE) or not _answered(url[len(API_BASE):]) or self.api is None:
            self.problems.append(f"a request to {url!r}: the model answers only HubSpot's CRM API for contacts "
                                 "and the contacts' calls, emails and meetings")
            raise URLError("not reachable from the model")
        status, body = self.api(request.get_method(), url[len(API_BASE):], request.headers, request.data)
        if status >= 400:
            raise HTTPError(url, status, body.decode("utf-8", "replace"))
        return _Response(status, body)


def run_python_custom_code(source: str, event: dict[str, Any],
                           environment: CustomCodeEnvironment | None = None) -> dict[str, Any]:
    """Run HubSpot-style Python custom code: the source defines `main(event)`, which returns
    `{"outputFields": {…}}` [S22]. Raises UnknownSemantics when the code cannot run as HubSpot
    would run it (not Python 3.9, a module outside the standard-library subset, a network call
    other than the CRM API, an exception)."""
    environment = environment or CustomCodeEnvironment({})
    try:
        tree = ast.parse(source, feature_version=(3, 9))
    except SyntaxError as exc:
        raise UnknownSemantics("S22", f"the custom code is not Python 3.9: {exc.msg} (line {exc.lineno})") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr.endswith("__"):
            raise UnknownSemantics("S22", f"custom code reaches into `{node.attr}`; the model refuses to run it")
    fakes = environment.modules()

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name in fakes:
            return fakes[name] if fromlist else fakes[name.split(".")[0]]
        if level != 0 or name.split(".")[0] not in _ALLOWED_MODULES:
            raise ImportError(f"module {name!r} is not available to custom code in this model")
        return builtins.__import__(name, globals, locals, fromlist, level)

    def logged_print(*args, sep=" ", end="\n", **_):
        environment.log.append(sep.join(str(a) for a in args))

    safe = {k: v for k, v in vars(builtins).items() if k not in _BLOCKED_BUILTINS}
    safe["__import__"] = guarded_import
    safe["print"] = logged_print
    namespace: dict[str, Any] = {"__builtins__": safe, "__name__": "hubspot_custom_code"}
    try:
        exec(compile(tree, "<custom code>", "exec"), namespace)  # noqa: S102 - restricted, see above
        main = namespace.get("main")
        if not callable(main):
            raise UnknownSemantics("S22", "the custom code defines no main(event)")
        result = main(event)
    except UnknownSemantics:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of user code is reported, never raised
        raise UnknownSemantics("S22", f"the custom code failed: {type(exc).__name__}: {exc}") from None
    if environment.problems:
        raise UnknownSemantics("S26", "; ".join(environment.problems))
    if not isinstance(result, dict):
        raise UnknownSemantics("S22", "main(event) did not return a dict")
    return result
