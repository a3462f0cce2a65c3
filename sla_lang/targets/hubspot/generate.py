"""The policy → HubSpot objects: workflows, properties, scoring notes, manual steps.

What each kind of clause becomes (README, "The HubSpot target", says the same for users):

- entry stage        → workflow `<stage>.entry`: new contacts at the stage's lifecycle stage get
                       the SLA stage (`sla_stage`), its start time and an owner of the stage's team.
- transition         → workflow `<clause>`: LIST_BASED enrolment on "in the source stage and the
                       condition holds" (for a timeout: until the moment `after` ends), then: a
                       task if a `record`ed property is missing, the lifecycle stage (cleared
                       first when it moves back), the start time and `sla_stage`, an owner of the
                       target's team, and the target stage's hand-off (notification, task, webhook).
                       A recycle path also records date and origin. A transition out of a recycle
                       stage (and, for recycled leads, out of any stage they come back to) enrols
                       only once its condition has been false after the lead arrived
                       (`<clause>.arm` sets `sla_<clause>_armed`): re-qualification means the
                       condition became true *again*, as in the reference simulator.
- deadline/escalation→ workflow `<stage>.<respond|decide|stage>`: waits until each checkpoint
                       (SLO first) and, when not done in time, flags it and notifies the owner or
                       the escalation team. With custom code (the default) a CUSTOM_CODE action
                       computes every checkpoint's moment from the stage's calendar and the
                       flow delays until it; without, fixed waits that never judge a lead met
                       that was late (the manifest states how early a flag can come).
- follow-up cadence  → workflow `<stage>.follow_up`: a task at each offset.
- priorities         → workflow `priority`: if/then branches in priority order.
- scores             → scoring.json (the API cannot write score rules) + manual step.
- everything a workflow cannot do → a manual step in the manifest *and* a diagnostic.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from itertools import pairwise
from pathlib import PurePosixPath

from ... import ir
from ...businesstime import BusinessCalendar, business_minutes
from ...checks import CheckContext
from ...checks.conditions import Witness
from ...config import HubSpotSettings, TeamMapping
from ...diagnostics import Diagnostic, Listing, Message, Rule
from ...irjson import fingerprint
from ...source import Span
from . import customcode
from .bundle import dumps_flow, stamp
from .catalog import (
    LAST_CONTACTED,
    LIFECYCLE,
    LIFECYCLE_ORDER,
    OWNER,
    Catalog,
    CustomProperty,
    token_for,
)
from .cadence import cadence_flows
from .duties import information_flows
from .filters import (
    FilterError,
    FilterTranslator,
    after_property_filter,
    before_property_filter,
    bool_filter,
    enum_filter,
    known_filter,
    not_before,
    or_branch,
    property_changed,
)
from .flows import CONTACT_OWNER, DAYS, MONTHS, Flow, Recipients, due_in, list_enrollment
from .obligations import report_manual_obligations
from .rules import (
    BACKFILL,
    BLOCKED_DATES_EXPIRE,
    BUSINESS_TIME,
    CHAINED_MOVE,
    CHANNEL_NOT_SUPPORTED,
    CLEAR_BY_HAND,
    CONDITION_NOT_EXPRESSIBLE,
    CUSTOM_CODE,
    ENTRY_AMBIGUOUS,
    EVENT_WITHOUT_PROPERTY,
    NAME_NOT_USABLE,
    OUTSIDE_CRM,
    SCORE_PROPERTY_MISSING,
    SCORING_MANUAL,
    SLACK_MANUAL,
    STAGE_WITHOUT_LIFECYCLE,
    TIME_WINDOW_SIMPLIFIED,
    TIMEZONE_MISMATCH,
    UNKNOWN_TEAM_MAPPING,
    USERS_NEEDED,
)
from .sequence import sequence_flows
from .texts import HubL, Texts, neutral
from .timing import YEARS_COVERED, CalendarSpans, calendar_years, constant_shift, days_off, duration_range

SLA_STAGE = "sla_stage"
ENTERED_AT = "sla_stage_entered_at"
# when the contact owner was last set (by anyone): a sender's hand-off is done when it is later
# than the stage's start (the reference simulator's `owner_changed` event)
OWNER_ASSIGNED_AT = "sla_owner_assigned_at"
RECYCLED_AT = "sla_recycled_at"
RECYCLED_FROM = "sla_recycled_from"
PRIORITY = "sla_priority"
GUARDS = ("respond", "decide", "stage")
_WEEKDAY = {name: i for i, name in enumerate(ir.WEEKDAYS)}
# timers at the same moment act in the simulator's order: deadlines, escalations, follow-ups, timeouts
_ORDER = {"slo": 0, "breach": 1, "escalate": 2, "follow_up": 3, "timeout": 4}


@dataclass
class ManualStep:
    code: str
    text: str
    clauses: list[str]
    workflow: str | None = None
    action_id: str | None = None

    def to_json(self) -> dict:
        out: dict = {"code": self.code, "step": self.text, "clauses": sorted(set(self.clauses))}
        if self.workflow:
            out["workflow"] = self.workflow
        if self.action_id:
            out["afterActionId"] = self.action_id
        return out


@dataclass
class Timer:
    """A moment a workflow waits for: `duration` after the lead entered the stage."""

    kind: str  # slo | breach | escalate | follow_up | timeout
    duration: ir.Duration
    clause: str
    prop: str  # the datetime property the custom code writes the moment into
    item: object = None  # the Deadline, Escalation, follow-up step number or Transition
    index: int = 0  # position among the flow's timers of the same kind


def _counts_from_condition(timer: Timer) -> bool:
    """A timeout of a transition that also has a condition: its workflow enrols when the
    condition becomes true, possibly long after the lead entered the stage."""
    return (timer.kind == "timeout" and isinstance(timer.item, ir.Transition)
            and timer.item.condition is not None)


@dataclass
class FlowFile:
    """A workflow as written out: its file, what the manifest says of it, its JSON."""

    path: str
    name: str
    kind: str
    clauses: list[str]
    actions: int
    content_hash: str
    data: bytes
    scheduled: bool  # has execution windows or blocked dates (in the portal's time zone)


@dataclass
class Output:
    flows: list[FlowFile] = field(default_factory=list)
    properties: list[CustomProperty] = field(default_factory=list)
    existing: dict[str, list[str]] = field(default_factory=dict)
    scoring: dict = field(default_factory=dict)
    manual: list[ManualStep] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    stages: list[dict] = field(default_factory=list)
    document_only: list[str] = field(default_factory=list)
    group_label: str = ""
    fingerprint: str = ""
    timers: list[dict] = field(default_factory=list)
    calendars: list[dict] = field(default_factory=list)
    portal: dict = field(default_factory=dict)
    window_zones: dict[str, str] = field(default_factory=dict)  # calendar → the zone its windows are written in


class Generator:
    def __init__(self, policy: ir.Policy, lang: str, settings: HubSpotSettings | None = None,
                 emit: Callable[[str, dict, bytes], None] | None = None, keep_workflows: bool = True) -> None:
        self.policy = policy
        self.emit = emit  # told of each workflow as it is written out (the build's checks and files)
        # False: `Output.flows` keeps what the manifest says of each workflow but not its JSON,
        # which only `emit` receives (a build streams it to the output folder)
        self.keep_workflows = keep_workflows
        self.settings = settings or HubSpotSettings()
        self.t = Texts(lang)
        self.catalog = Catalog(policy)
        self.filters = FilterTranslator(self.catalog)
        self.out = Output()
        self.file = PurePosixPath(policy.path.replace("\\", "/")).name
        self.fingerprint = fingerprint(policy)
        self.out.fingerprint = self.fingerprint
        self._calendars: dict[str, tuple[list[dict], list[dict]]] = {}
        self._steps: dict[tuple[str, str], ManualStep] = {}  # reported once, extended by later uses
        self._stage_tokens: dict[str, str] = {}
        self._spans: dict[str, CalendarSpans] = {}
        self._code_data: dict[str, customcode.CalendarData | None] = {}
        self._code_flows: dict[str, None] = {}  # files of the workflows with custom code, in order
        self._probes: dict[str, None] = {}  # respond clauses whose checks read the contact's activities
        self._slack: dict[str, str] = {}  # custom code secret → the Slack channel its webhook posts to
        self._armed: dict[str, str] = {}  # clause of an armed transition → its armed property (arm_exits)
        self._chains: dict[str, list[ir.Transition]] = {}  # transition → exits of its target it may chain into
        self._reads_history = False  # a workflow's custom code reads the property history (chain_code)
        self._entry_tested: set[str] = set()  # entry stages whose workflow tests `entry when` (entry_flows)
        self._choices: dict[str, tuple[str, list] | None] = {}  # respond clause → its channel choice (channel_choice)
        self.enforced: set[str] = set()  # clauses of issue-19 constructs a workflow enforces (obligations.py)

    # ------------------------------------------------------------------ reporting
    def report(self, rule: Rule, message: str, span: Span, *, help: str | None, step: str,
               clauses: list[str], workflow: str | None = None, action_id: str | None = None) -> ManualStep:
        self.out.diagnostics.append(Diagnostic(rule, message, span, help=help))
        manual = ManualStep(rule.code, step, list(clauses), workflow, action_id)
        self.out.manual.append(manual)
        return manual

    # ------------------------------------------------------------------ small lookups
    def stage_label(self, stage_id: str) -> str:
        stage = self.policy.stage_by_id.get(stage_id)
        return stage.label if stage else stage_id

    def team_label(self, name: ir.Name | None) -> str:
        if name is None:
            return "?"
        team = self.policy.team_by_id.get(name.name)
        return team.label if team else name.name

    def team_people(self, name: ir.Name | None) -> str:
        team = self.policy.team_by_id.get(name.name) if name else None
        if team is None or team.lead is None:
            return ""
        return f" ({team.lead.name})" if self.t.lang != "ja" else f"({team.lead.name})"

    def mapping(self, name: ir.Name | None) -> TeamMapping | None:
        """The portal's ids for a policy team (`[tool.sla.hubspot.teams.TEAM]`), if configured."""
        return self.settings.team(name.name) if name is not None else None

    @staticmethod
    def lifecycle(stage: ir.Stage) -> str | None:
        return stage.hubspot.name if stage.hubspot else None

    def stage_token(self, stage: ir.Stage) -> str:
        if stage.id not in self._stage_tokens:
            token = token_for(stage.id)
            if token != stage.id:
                self.out.diagnostics.append(Diagnostic(
                    NAME_NOT_USABLE,
                    Message('stage `{stage}` cannot be part of a HubSpot property name; its properties use `{token}`', stage=stage.id, token=token),
                    stage.name_span,
                    help=Message('name stages with lower-case ASCII letters, digits and `_` to recognise them in HubSpot'),
                ))
            self._stage_tokens[stage.id] = token
        return self._stage_tokens[stage.id]

    def calendar(self, stage: ir.Stage | None) -> ir.Calendar | None:
        return self.policy.calendar_for(stage)

    def flow_description(self, text: str) -> str:
        agreement = self.policy.agreement
        common = self.t(
            "desc_common",
            file=self.file,
            title=agreement.title if agreement else "",
            version=agreement.version.value if agreement and agreement.version else "",
            fingerprint=self.fingerprint[:12],
        )
        return f"{text} {common}" if self.t.lang != "ja" else f"{text}{common}"

    def clause_list(self, clauses: list[str], shown: int = 8) -> str:
        """Clause ids for a description HubSpot shows: the first few (the manifest has them all)."""
        if len(clauses) <= shown:
            return ", ".join(clauses)
        return self.t("more_clauses", shown=", ".join(clauses[:shown]), more=len(clauses) - shown)

    def join(self, notes: list[str]) -> str:
        return " ".join(notes) if self.t.lang != "ja" else "".join(notes)

    # ------------------------------------------------------------------ the run
    def run(self) -> Output:
        self.core_properties()
        self.policy_properties()
        self.arm_exits()
        self.entry_flows()
        self.import_flows()
        for stage in self.policy.stages:
            for transition in stage.transitions:
                self.transition_flow(stage, transition)
            self.monitor_flows(stage)
            self.handoff_monitor(stage)
            sequence_flows(self, stage)
            self.follow_up_flow(stage)
            if stage.hubspot is None:
                self.out.diagnostics.append(Diagnostic(
                    STAGE_WITHOUT_LIFECYCLE,
                    Message('stage `{stage}` has no HubSpot lifecycle stage; only `{SLA_STAGE}` records it', stage=stage.id, SLA_STAGE=SLA_STAGE),
                    stage.name_span,
                    help=Message("add `hubspot lead` (or another lifecycle stage) to also set HubSpot's lifecycle stage"),
                ))
        self.owner_assigned_flow()
        information_flows(self)
        cadence_flows(self)
        self.priority_flow()
        self.scoring()
        report_manual_obligations(self)
        self.outside_crm()
        self.portal()
        self.finish_descriptions()
        self.out.properties = list(self.catalog.custom.values())
        self.out.existing = {name: sorted(why) for name, why in sorted(self.catalog.existing.items())}
        self.out.diagnostics.extend(self.catalog.diagnostics)
        self.out.group_label = self.t("group_label")
        self.out.stages = [
            {"id": s.id, "label": s.label, "slaStage": s.id, "lifecycleStage": self.lifecycle(s),
             "owner": s.owner.name if s.owner else None}
            for s in self.policy.stages
        ]
        return self.out

    def core_properties(self) -> None:
        t = self.t
        stages = self.policy.stages
        if not stages:
            return
        all_stage_clauses = {s.clause_id for s in stages}
        self.catalog.add_custom(CustomProperty(
            SLA_STAGE, t("prop_stage"), "enumeration",
            t("prop_stage_desc", clauses=self.clause_list([s.clause_id for s in stages])),
            options=[(s.id, _label(s.label, s.id)) for s in stages], clauses=set(all_stage_clauses), purpose="sla-lang",
        ))
        self.catalog.add_custom(CustomProperty(
            ENTERED_AT, t("prop_stage_entered"), "datetime", t("prop_stage_entered_desc"),
            clauses=set(all_stage_clauses), purpose="sla-lang",
        ))

    def policy_properties(self) -> None:
        t = self.t
        for prop in self.policy.properties:
            if prop.hubspot:
                continue
            name = self.catalog.property_name(prop)
            kind = {"number": "number", "text": "string", "enum": "enumeration", "bool": "bool",
                    "date": "date", "datetime": "datetime"}[prop.type]
            options: list[tuple[str, str]] = []
            if kind == "enumeration":
                # the drop-down shows the option's label from the policy (`"won" "Won"`), stores its value
                options = list(dict.fromkeys((o.value, prop.option_label(o.value) or o.value)
                                             for o in prop.options if o.value))
                if not options:  # HubSpot needs at least one option; keep the value as text
                    kind = "string"
            elif kind == "bool":
                options = [("true", t("yes")), ("false", t("no"))]
            self.catalog.add_custom(CustomProperty(
                name, _label(prop.label, prop.id), kind, "", options=options, purpose="policy-property",
            ))

    def finish_descriptions(self) -> None:
        for prop in self.catalog.custom.values():
            if prop.purpose == "policy-property":
                prop.description = self.t("prop_policy_desc", label=prop.label,
                                          clauses=self.clause_list(sorted(prop.clauses)) or self.t("none"))

    def register_reads(self, refs: list[ir.Ref], clause: str) -> None:
        """Make sure every property a workflow reads exists, or is created, or is reported."""
        policy = self.policy
        for ref in refs:
            if ref.name in policy.property_by_id:
                prop = policy.property_by_id[ref.name]
                self.catalog.claim_property(prop, clause)
            elif ref.name in policy.event_by_id:
                event = policy.event_by_id[ref.name]
                name = self.catalog.event_name(event)
                if event.hubspot:
                    self.catalog.need_existing(name, clause)
                    continue
                self.catalog.add_custom(CustomProperty(
                    name, self.t("prop_event", label=_label(event.label, event.id)), "number", self.t("prop_event_desc"),
                    clauses={clause}, purpose="policy-event",
                ))
                if ("event", event.id) in self._steps:
                    self._steps["event", event.id].clauses.append(clause)
                else:
                    self._steps["event", event.id] = self.report(
                        EVENT_WITHOUT_PROPERTY,
                        Message('event `{event}` names no HubSpot property; the workflows read the number property `{name}`, which nothing in HubSpot fills in', event=event.id, name=name),
                        event.name_span,
                        help=Message('map it to a property HubSpot keeps up to date: `event {event} "{event2}" hubspot PROPERTY`', event=event.id, event2=event.label),
                        step=self.t("manual_event", property=name, event=event.label),
                        clauses=[clause],
                    )
            elif ref.name in policy.score_by_id:
                score = policy.score_by_id[ref.name]
                name = self.catalog.score_name(score)
                self.catalog.need_existing(name, clause)
                if score.hubspot:
                    continue
                if ("score", score.id) in self._steps:
                    self._steps["score", score.id].clauses.append(clause)
                else:
                    self._steps["score", score.id] = self.report(
                        SCORE_PROPERTY_MISSING,
                        Message("score `{score}` names no HubSpot score property; the workflows read `{name}`, which must be created in HubSpot's scoring tool", score=score.id, name=name),
                        score.name_span,
                        help=Message('add `hubspot PROPERTY` inside `score {score}` to name the HubSpot score property', score=score.id),
                        step=self.t("manual_score_property", score=score.label, property=name),
                        clauses=[score.clause_id, clause],
                    )

    # ------------------------------------------------------------------ time
    def spans(self, stage: ir.Stage) -> CalendarSpans | None:
        calendar = self.calendar(stage)
        if calendar is None:
            return None
        if calendar.id not in self._spans:
            self._spans[calendar.id] = CalendarSpans(BusinessCalendar(calendar), self.known_years(calendar))
        return self._spans[calendar.id]

    def known_years(self, calendar: ir.Calendar) -> tuple[int, int] | None:
        """The years whose days off the output lists (reported once per calendar: SLA833)."""
        years = calendar_years(self.policy, calendar)
        if ("years", calendar.id) not in self._steps and (calendar.holidays is not None or calendar.closed):
            shown = f"{years[0]}–{years[1]}" if years else "?"
            until = f"{years[1] + 1}-01-01" if years else "?"
            span = calendar.holidays.span if calendar.holidays else calendar.closed[0].span
            self._steps["years", calendar.id] = self.report(
                BLOCKED_DATES_EXPIRE,
                Message("calendar `{calendar}`: HubSpot output lists holidays and closed days as fixed dates, for "
                        "{years}", calendar=calendar.id, years=shown),
                span, help=Message("rebuild and update the workflows before {until}", until=until),
                step=self.t("manual_blocked", calendar=calendar.label, date=until, years=shown),
                clauses=[calendar.clause_id],
            )
        return years

    def working_minutes(self, duration: ir.Duration, stage: ir.Stage) -> int | None:
        calendar = self.calendar(stage)
        if not duration.business or calendar is None:
            return None
        business = BusinessCalendar(calendar)
        if not business.periods or not business.weekdays:
            return None
        return business_minutes(duration, business)

    def code_data(self, stage: ir.Stage, timers: list[Timer]) -> customcode.CalendarData | None:
        """What the custom code of a flow with `timers` needs, or None when the flow uses fixed
        waits: custom code is switched off, or a business duration cannot be computed (no
        calendar, no working time, holidays without an effective year to list them for)."""
        timers = [t for t in timers if not _zero(t.duration)]
        if not self.settings.custom_code or not timers:
            return None
        calendar = self.calendar(stage)
        business = any(t.duration.business for t in timers)
        if calendar is None:
            if business:
                return None
            return customcode.CalendarData("", "UTC", (), (), (), None, None, (), 0)
        if calendar.id not in self._code_data:
            bc = BusinessCalendar(calendar)
            years = self.known_years(calendar)
            if (calendar.holidays is not None or calendar.closed) and years is None:
                data = None
            else:
                zone = calendar.timezone.value if calendar.timezone else "UTC"
                # one more year than the build lists, so a deadline that starts late in the last
                # year can still end in the next
                known = (years[0], years[1] + 1) if years else None
                data = customcode.calendar_data(calendar.id, zone, bc.weekdays, bc.periods, days_off(bc, known), known)
            self._code_data[calendar.id] = data
        data = self._code_data[calendar.id]
        if data is None or (business and (not data.periods or not data.weekdays)):
            return None
        return data

    def shortest(self, timer: Timer, stage: ir.Stage) -> int:
        """A true lower bound of the timer's wall-clock length from any start."""
        if not timer.duration.business:
            return timer.duration.minutes or 0
        found = duration_range(timer.duration, self.spans(stage))
        if found is None:
            return 0
        calendar = self.calendar(stage)
        zone = calendar.timezone.value if calendar and calendar.timezone else "UTC"
        shift = 60 if customcode.zone_transitions(zone, 2026, 2026)[1] else 0  # a clock change can shorten it
        return max(found[0] - shift, 0)

    def lanes(self, stage: ir.Stage, timers: list[Timer], exact: bool) -> list[list[Timer]]:
        """The timers in the order one workflow can wait for them, split when that order depends
        on the start (a business deadline and a wall-clock escalation: `4bh` can end before or
        after `24h`). Each lane becomes a workflow; the first holds the breach checkpoint."""
        if not exact:
            return [sorted(timers, key=lambda t: (self.conservative(t, stage)[0], _ORDER[t.kind]))]

        def business_key(t: Timer) -> tuple[int, int]:
            return (self.working_minutes(t.duration, stage) or 0, _ORDER[t.kind])

        def clock_key(t: Timer) -> tuple[int, int]:
            return (t.duration.minutes or 0, _ORDER[t.kind])

        business = sorted((t for t in timers if t.duration.business), key=business_key)
        clock = sorted((t for t in timers if not t.duration.business), key=clock_key)
        if not business or not clock:
            return [business or clock]
        merged = sorted(timers, key=lambda t: (self.shortest(t, stage), _ORDER[t.kind]))
        # a wall-clock moment is surely no later than a business one when it is no later than the
        # business duration's shortest length; the other way round holidays can always interfere
        if all(not a.duration.business and (not b.duration.business or a.duration.minutes <= self.shortest(b, stage))
               or (a.duration.business and b.duration.business)
               for a, b in pairwise(merged)):
            return [merged]
        lanes = [business, clock]
        lanes.sort(key=lambda lane: not any(t.kind == "breach" for t in lane))
        return lanes

    def conservative(self, timer: Timer, stage: ir.Stage) -> tuple[int, dict | None]:
        """The fixed wait (wall-clock minutes from enrolment) for `timer` without custom code,
        and how far the resulting moment is from the agreement's (minutes, negative = early).
        Checks (deadlines, escalations) and follow-up tasks wait the shortest length the
        duration can take, so a check never runs after the due moment and never calls a late
        lead met; a timeout waits the longest, so it never moves a lead before its time."""
        duration = timer.duration
        # `-> X when C after D` enrols when C becomes true: a fixed wait then counts from that
        # moment, not from the stage entry, so the move may come up to the whole wait late
        from_condition = _counts_from_condition(timer)
        if not duration.business:
            minutes = duration.minutes or 0
            return minutes, {"earliest": 0, "latest": minutes if from_condition else 0}
        found = duration_range(duration, self.spans(stage))
        if found is None:
            minutes = duration.amount * (60 if duration.unit == "bh" else 1440)
            return minutes, None
        shortest, longest = found
        if timer.kind == "timeout":
            return longest, {"earliest": 0, "latest": longest if from_condition else longest - shortest}
        return shortest, {"earliest": shortest - longest, "latest": 0}

    def report_conservative(self, timer: Timer, stage: ir.Stage, flow: Flow, file: str) -> None:
        """SLA823 for a business duration judged by a fixed wait (custom code off or impossible)."""
        duration = timer.duration
        if ((not duration.business and not _counts_from_condition(timer))
                or ("conservative", file, timer.kind, timer.clause, timer.index) in self._steps):
            return
        t = self.t
        calendar = self.calendar(stage)
        wait, offset = self.conservative(timer, stage)
        years = calendar_years(self.policy, calendar) if calendar else None
        known = (Message("holidays of {first}–{last} included", first=years[0], last=years[1]) if years
                 else Message("no holidays listed"))
        mode = Message("as a fixed wait") if self.settings.custom_code else Message("without custom code")
        if offset is None:
            message = (Message("`{duration}` is business time but calendar `{calendar}` has no working time; HubSpot "
                               "waits {wait} of wall-clock time", duration=duration.text, calendar=calendar.id,
                               wait=_plain(wait)) if calendar else
                       Message("`{duration}` is business time but no calendar applies; HubSpot waits {wait} of "
                               "wall-clock time", duration=duration.text, wait=_plain(wait)))
            step = t("manual_business_time_unknown", flow=flow.name, approx=t.minutes(wait),
                     duration=t.duration(duration), clause=timer.clause)
        elif _counts_from_condition(timer):
            message = Message("`{duration}` of `{clause}` counts from the lead's entry into `{stage}`, but HubSpot "
                              "({mode}) starts waiting {wait} when the condition becomes true, so the move may happen "
                              "up to {late} late, never early", duration=duration.text, clause=timer.clause,
                              stage=stage.id, mode=mode, wait=_plain(wait), late=_plain(offset["latest"]))
            step = t("manual_business_time_late", flow=flow.name, approx=t.minutes(wait),
                     duration=t.duration(duration), clause=timer.clause, late=t.minutes(offset["latest"]))
        elif timer.kind == "timeout":
            message = Message("`{duration}` in calendar `{calendar}` lasts {shortest} to {longest} of wall-clock time "
                              "({known}); HubSpot waits {wait} ({mode}), so the move may happen up to {late} late, "
                              "never early", duration=duration.text, calendar=calendar.id,
                              shortest=_plain(wait - offset["latest"]), longest=_plain(wait), known=known,
                              wait=_plain(wait), mode=mode, late=_plain(offset["latest"]))
            step = t("manual_business_time_late", flow=flow.name, approx=t.minutes(wait),
                     duration=t.duration(duration), clause=timer.clause, late=t.minutes(offset["latest"]))
        else:
            message = Message("`{duration}` in calendar `{calendar}` lasts {shortest} to {longest} of wall-clock time "
                              "({known}); HubSpot waits {wait} ({mode}), so this is checked up to {early} before the "
                              "deadline, never after it: a lead is never judged in time when it was late, but one "
                              "that responds in that window is flagged", duration=duration.text,
                              calendar=calendar.id, shortest=_plain(wait), longest=_plain(wait - offset["earliest"]),
                              known=known, wait=_plain(wait), mode=mode, early=_plain(-offset["earliest"]))
            step = t("manual_business_time", flow=flow.name, approx=t.minutes(wait),
                     duration=t.duration(duration), clause=timer.clause, early=t.minutes(-offset["earliest"]))
        self._steps["conservative", file, timer.kind, timer.clause, timer.index] = self.report(
            BUSINESS_TIME, message, duration.span,
            help=Message("set `custom-code = true` under [tool.sla.hubspot] (Operations Hub Professional) for exact "
                         "business-time deadlines, or use calendar units (h, d)"),
            step=step, clauses=[timer.clause], workflow=file,
        )

    def record_timer(self, timer: Timer, stage: ir.Stage, file: str, exact: bool) -> None:
        wait, offset = self.conservative(timer, stage)
        calendar = self.calendar(stage)
        years = calendar_years(self.policy, calendar) if calendar and timer.duration.business else None
        entry = {
            "workflow": file,
            "clause": timer.clause,
            "event": timer.kind,
            "after": timer.duration.text,
            "calendar": calendar.id if calendar and timer.duration.business else None,
            "timing": "custom-code" if exact else "wall-clock",
            "conservative": {"waitMinutes": wait, "offsetMinutes": offset,
                             "holidaysKnownUntil": f"{years[1] + 1}-01-01" if years else None},
        }
        if exact and not _zero(timer.duration):
            entry["property"] = timer.prop
        self.out.timers.append(entry)

    def moment_property(self, prop: str, stage: ir.Stage, what: str, clause: str) -> str:
        self.catalog.add_custom(CustomProperty(
            prop, self.t("prop_moment", stage=stage.label, what=what), "datetime",
            self.t("prop_moment_desc", what=what, clauses=clause), clauses={clause}, purpose="sla-lang"))
        return prop

    def add_code(self, flow: Flow, file: str, stage: ir.Stage, data: customcode.CalendarData,
                 timers: list[Timer], anchor: str = ENTERED_AT, since: str | None = None) -> dict:
        """The custom code action computing `timers` (counted from the datetime property
        `anchor`, the stage's start time unless said otherwise) and the branch on its result:
        returns the STATIC_BRANCH; the caller continues from its `static:0` (written) and
        `default` slots."""
        moments = []
        timers = [t for t in timers if not _zero(t.duration)]
        for timer in timers:
            minutes = self.working_minutes(timer.duration, stage)
            moments.append((timer.prop, "working", minutes) if timer.duration.business
                           else (timer.prop, "clock", timer.duration.minutes or 0))
        self.catalog.use(anchor, *{t.clause for t in timers})
        about = ", ".join(dict.fromkeys(t.clause for t in timers))
        text = customcode.source(data, moments, about=about) if anchor == ENTERED_AT else \
            customcode.source(data, moments, about=about, anchor=anchor, since=since or anchor)
        code = flow.custom_code(
            text, runtime=customcode.RUNTIME,
            inputs=[(customcode.ENTERED_INPUT, anchor), (customcode.NOW_INPUT, None)], secrets=[customcode.SECRET],
            output=customcode.OUTPUT, options=[customcode.WRITTEN, customcode.PASSED, customcode.FAILED])
        self._code_flows[file] = None
        return flow.static_branch({"type": "FIELD_DATA", "actionId": code["actionId"], "dataKey": customcode.OUTPUT},
                                  [customcode.WRITTEN, customcode.PASSED], self.t("branch_code_failed"))

    def wait(self, flow: Flow, timer: Timer, stage: ir.Stage, elapsed: int, exact: bool) -> int:
        """Wait for `timer`: until its property (custom code) or a fixed time. Returns the
        minutes waited since enrolment (fixed waits). A zero duration (`follow up … at 0d`) needs
        no wait: a delay until a moment already reached is undocumented."""
        if _zero(timer.duration):
            return elapsed
        if exact:
            flow.delay_until(timer.prop)
            return elapsed
        wait, _ = self.conservative(timer, stage)
        if wait > elapsed:
            flow.delay(wait - elapsed)
            return wait
        return elapsed

    def due_for(self, duration: ir.Duration | None, stage: ir.Stage) -> dict:
        """A task due date for `duration` (None: one working day), in the calendar's zone."""
        calendar = self.calendar(stage)
        zone = calendar.timezone.value if calendar and calendar.timezone else None
        days = tuple(DAYS[_WEEKDAY[d.name]] for d in calendar.days if d.name in _WEEKDAY) if calendar else DAYS
        days = tuple(d for d in DAYS if d in days) or DAYS
        if duration is None:
            return due_in(business_days=1, days=days, zone=zone) if calendar else due_in(1440)
        if duration.unit == "bd":
            return due_in(business_days=duration.amount, days=days, zone=zone)
        if duration.unit == "bh":
            found = duration_range(duration, self.spans(stage))
            return due_in(found[1] if found else duration.amount * 60, zone=zone)
        return due_in(duration.minutes, zone=zone)

    def schedule(self, stage: ir.Stage) -> tuple[list[dict], list[dict]]:
        """Execution windows and blocked dates of the stage's calendar (computed once each; the
        lists are shared between flows, which never change them)."""
        calendar = self.calendar(stage)
        if calendar is None:
            return [], []
        if calendar.id in self._calendars:
            return self._calendars[calendar.id]
        t = self.t
        ranges = sorted((h.start.minutes, h.end.minutes, h) for h in calendar.hours if h.end.minutes > h.start.minutes)
        days = sorted({_WEEKDAY[d.name] for d in calendar.days if d.name in _WEEKDAY})
        windows: list[dict] = []
        if not ranges or not days:
            self.report(
                TIME_WINDOW_SIMPLIFIED,
                Message('calendar `{calendar}` has no working hours or days; its workflows get no execution window', calendar=calendar.id),
                calendar.name_span, help=Message('add `days` and `hours` to the calendar'),
                step=t("manual_no_window", calendar=calendar.label), clauses=[calendar.clause_id],
            )
        else:
            start, end = ranges[0][0], max(r[1] for r in ranges)
            # The window ends one minute after the calendar closes. A fixed business-time wait
            # from an opening (its shortest length) ends exactly at a closing time, and HubSpot
            # does not document whether an action reached exactly at a window's end runs then
            # or at the next opening (SEMANTICS.md S13). One minute later nothing the calendar
            # produces is a window boundary; the task may come up to a minute after the close.
            closing = end + 1 if end + 1 < 24 * 60 else end
            windows = [
                {"day": DAYS[day], "startTime": {"hour": start // 60, "minute": start % 60},
                 "endTime": {"hour": closing // 60, "minute": closing % 60}}
                for day in days
            ]
            breaks = []
            reach = ranges[0][1]
            for begin, finish, _ in ranges[1:]:
                if begin > reach:
                    breaks.append(f"{_hm(reach)}–{_hm(begin)}")
                reach = max(reach, finish)
            if breaks:
                self.report(
                    TIME_WINDOW_SIMPLIFIED,
                    Message("calendar `{calendar}` has a break ({breaks}); HubSpot's execution window is one range a day, so workflows run {start}–{end}", calendar=calendar.id, breaks=', '.join(breaks), start=_hm(start), end=_hm(end)),
                    ranges[1][2].span, help=Message('HubSpot allows one execution window per weekday'),
                    step=t("manual_window", calendar=calendar.label, start=_hm(start), end=_hm(end),
                           breaks=", ".join(breaks)),
                    clauses=[calendar.clause_id],
                )
        years = self.known_years(calendar)
        off = sorted(days_off(BusinessCalendar(calendar), years))
        zone = calendar.timezone.value if calendar.timezone else "UTC"
        portal = self.settings.timezone
        if portal and portal != zone and windows:
            windows, off, zone = self.in_portal_zone(calendar, windows, off, portal)
        blocked = [{"dayOfMonth": d.day, "month": MONTHS[d.month - 1], "year": d.year} for d in off]
        self._calendars[calendar.id] = (windows, blocked)
        if windows or blocked:
            self.out.window_zones[calendar.id] = zone
        return windows, blocked

    def in_portal_zone(self, calendar: ir.Calendar, windows: list[dict], off: list, portal: str
                       ) -> tuple[list[dict], list, str]:
        """HubSpot reads execution windows and blocked dates in the portal's time zone. When the
        configured portal zone differs from the calendar's by the same amount all through the
        years the build covers, and each shifted window stays within one day, the windows and
        blocked dates are rewritten in the portal's zone (same instants): the result and the zone
        it is written in. Otherwise they stay in the calendar's zone and SLA837 says so."""
        zone = calendar.timezone.value if calendar.timezone else "UTC"
        agreement = self.policy.agreement
        first = (calendar_years(self.policy, calendar)
                 or ((agreement.effective.value.year,) * 2 if agreement and agreement.effective else None))
        if first is None:
            return windows, off, zone
        years = (first[0], first[0] + YEARS_COVERED - 1)
        shift = constant_shift(zone, portal, years)
        if shift is None:
            return windows, off, zone
        start = windows[0]["startTime"]["hour"] * 60 + windows[0]["startTime"]["minute"] + shift
        end = windows[0]["endTime"]["hour"] * 60 + windows[0]["endTime"]["minute"] + shift
        days = start // 1440
        start, end = start - days * 1440, end - days * 1440
        if end >= 1440:  # the working day would span the portal's midnight: two windows a day
            return windows, off, zone
        converted = [{"day": DAYS[(DAYS.index(w["day"]) + days) % 7],
                      "startTime": {"hour": start // 60, "minute": start % 60},
                      "endTime": {"hour": end // 60, "minute": end % 60}} for w in windows]
        converted.sort(key=lambda w: DAYS.index(w["day"]))
        return converted, [d + timedelta(days=days) for d in off], portal

    # ------------------------------------------------------------------ flows
    def add_flow(self, file: str, flow: Flow) -> None:
        """Write the workflow out at once (stamped with its content marker and serialised), so
        that a large policy never holds every workflow's actions in memory."""
        path = f"workflows/{file}.json"
        body = flow.body()
        digest = stamp(path, body, self.file)
        data = dumps_flow(body)
        self.out.flows.append(FlowFile(path, flow.name, flow.kind, sorted(set(flow.clauses)), len(flow.actions),
                                       digest, data if self.keep_workflows else b"", bool(flow.time_windows or flow.blocked_dates)))
        if self.emit is not None:
            self.emit(path, body, data)

    def in_stage(self, stage: ir.Stage) -> list[dict]:
        self.catalog.use(SLA_STAGE, stage.clause_id)
        return [enum_filter(SLA_STAGE, [stage.id])]

    def enter(self, flow: Flow, stage: ir.Stage, clause: str) -> None:
        """Set the start time, then the SLA stage. In that order: workflows that enrol on the SLA
        stage (deadlines, the custom code reading the start time) must see the new start time."""
        self.catalog.use(SLA_STAGE, clause)
        self.catalog.use(ENTERED_AT, clause)
        flow.set_now(ENTERED_AT)
        flow.set_property(SLA_STAGE, stage.id)

    def assign_owner(self, flow: Flow, file: str, source: ir.Stage | None, target: ir.Stage, clause: str) -> None:
        """Give the lead an owner of the target stage's team when the team changes (the
        simulator's rule: "Entering a stage gives the lead the stage's owner team, unless the
        team is the same as before"): rotate among the team's HubSpot users, unless the current
        owner already is one of them."""
        if target.owner is None or (source is not None and source.owner is not None
                                    and source.owner.name == target.owner.name):
            return
        mapping = self.mapping(target.owner)
        if mapping is not None and mapping.user_ids:
            self.catalog.need_existing(OWNER, clause)
            check = flow.branch([(self.t("branch_owner_in_team", team=self.team_label(target.owner)),
                                  or_branch([[enum_filter(OWNER, list(mapping.user_ids))]]))],
                                self.t("branch_owner_elsewhere"))
            flow.tail = [(check, "default")]
            flow.rotate_owner(mapping.user_ids)
            flow.tail.append((check, "branch:0"))
            return
        key = ("owner", target.owner.name, target.id)
        step = self.t("manual_owner", stage=target.label, team=self.team_label(target.owner),
                      people=self.team_people(target.owner), flow=flow.name, action=str(len(flow.actions) + 1))
        if key in self._steps:  # reported once; a step for each workflow that moves leads into the stage
            self._steps[key].clauses.append(clause)
            self.out.manual.append(ManualStep(USERS_NEEDED.code, step, [clause], file, None))
            return
        team = target.owner.name
        message = (Message("leads entering `{stage}` are not given an owner of team `{team}`: "
                           "`[tool.sla.hubspot.teams.{team}]` gives no `user-ids`, so hand-offs, deadline warnings "
                           "and tasks reach the previous owner", stage=target.id, team=team)
                   if mapping is not None else
                   Message("leads entering `{stage}` are not given an owner of team `{team}`: "
                           "`[tool.sla.hubspot.teams.{team}]` is not configured, so hand-offs, deadline warnings "
                           "and tasks reach the previous owner", stage=target.id, team=team))
        self._steps[key] = self.report(
            USERS_NEEDED, message,
            (target.handoff.span if target.handoff else target.name_span),
            help=Message('add `[tool.sla.hubspot.teams.{team}]` with `user-ids = ["…"]` (HubSpot user ids) to the '
                         "pyproject.toml", team=team),
            step=step, clauses=[clause], workflow=file,
        )

    def team_recipients(self, team: ir.Name, clause: str, span: Span, *, what: Message, flow: Flow, file: str,
                        task: bool = False) -> Recipients | str | None:
        """Who a notification (or, with `task`, a task) for a policy team goes to: the team's
        HubSpot team (or users), or for a task its first user. None (reported once per clause)
        when the portal mapping does not say."""
        mapping = self.mapping(team)
        if mapping is not None:
            if task and mapping.user_ids:
                return mapping.user_ids[0]
            if not task and mapping.team_id:
                return Recipients(team_ids=(mapping.team_id,))
            if not task and mapping.user_ids:
                return Recipients(user_ids=mapping.user_ids)
        key = ("team", clause, team.name, task)
        if key not in self._steps:
            need = "`user-ids`" if task else Message("`team-id` or `user-ids`")
            self._steps[key] = self.report(
                USERS_NEEDED,
                Message("{what} `{clause}` for team `{team}` is not sent: `[tool.sla.hubspot.teams.{team}]` "
                        "gives no {need}", what=what, clause=clause, team=team.name, need=need),
                span,
                help=Message("add `[tool.sla.hubspot.teams.{team}]` with the HubSpot {need} to the pyproject.toml",
                             team=team.name, need=need),
                step=self.t("manual_team_notify", team=self.team_label(team), people=self.team_people(team),
                            flow=flow.name, action=flow.last_action_id or "1"),
                clauses=[clause], workflow=file, action_id=flow.last_action_id,
            )
        return None

    def entry_flows(self) -> None:
        """One workflow per entry stage, enrolling new contacts (no SLA stage yet). Without `entry
        when` the stages are told apart by the contact's lifecycle stage. With it, as in the
        reference simulator, a new lead starts in the first conditional entry stage whose
        condition its data meets, else in the first entry stage without a condition: the
        conditional workflows enrol on any entry lifecycle stage, their condition and the
        negation of the earlier ones; the default's enrolment adds the negation of them all."""
        t = self.t
        entries = [s for s in self.policy.stages if s.is_entry]
        conditional: list[ir.Stage] = []
        for stage in entries:
            if stage.entry_condition is None:
                continue
            try:
                self.filters.groups(stage.entry_condition)
                self.filters.groups(stage.entry_condition, negated=True)
            except FilterError:
                continue  # obligations.py reports it as a manual step
            conditional.append(stage)
        self._entry_tested = {s.id for s in conditional}
        fallback = next((s for s in entries if s.entry_condition is None), None)
        admitted = list(dict.fromkeys(self.lifecycle(s) for s in entries))
        taken: dict[str | None, ir.Stage] = {}
        made: list[ir.Stage] = []
        for stage in entries:
            value = self.lifecycle(stage)
            tested = stage in conditional
            if stage.entry_condition is not None and not tested:
                continue
            if not tested and value in taken:
                other = taken[value]
                self.report(
                    ENTRY_AMBIGUOUS,
                    Message('entry stage `{stage}` has the same HubSpot lifecycle stage as `{other}` ({value}); new contacts enter `{other}`', stage=stage.id, other=other.id, value=value or '-'),
                    stage.name_span,
                    help=Message('give it another lifecycle stage, or set its SLA stage by hand as the manual step says'),
                    step=t("manual_entry", stage=stage.label, value=stage.id, other=other.label,
                           lifecycle=value or t("none")),
                    clauses=[stage.clause_id],
                )
                continue
            if not tested:
                taken[value] = stage
            self.catalog.need_existing(LIFECYCLE, stage.clause_id)
            # which lifecycle stages a new contact of this stage can have
            if tested or stage is fallback:
                values = [v for v in admitted if tested or v == value
                          or not any(v == self.lifecycle(o) for o in entries
                                     if o is not stage and o.entry_condition is None)]
            else:
                values = [value]
            lifecycle_groups = [[enum_filter(LIFECYCLE, [v]) if v else known_filter(LIFECYCLE, known=False)]
                                for v in values]
            # the condition chain: this stage's condition and not the earlier ones' (the default: not any)
            earlier = conditional[:conditional.index(stage)] if tested else conditional
            chain = ([stage.entry_condition] if tested else []) + [ir.Negation(o.entry_condition, o.entry_condition.span)
                                                                     for o in earlier]
            condition_groups: list[list[dict]] = [[]]
            if chain:
                condition = chain[0] if len(chain) == 1 else ir.AllOf(tuple(chain), chain[0].span)
                try:
                    condition_groups = self.filters.groups(condition)
                except FilterError:  # each part alone is expressible, the conjunction too large
                    condition_groups = [[]] if not tested else self.filters.groups(stage.entry_condition)
                for other in [stage] * tested + earlier:
                    self.register_reads(ir.condition_refs(other.entry_condition), stage.clause_id)
            tree = or_branch([[known_filter(SLA_STAGE, known=False), *lc, *cg]
                              for lc in lifecycle_groups for cg in condition_groups])
            file = f"workflows/{stage.id}.entry.json"
            notes = [t("desc_entry", lifecycle=t.join([v or t("none") for v in values], "or"), stage=stage.label)]
            if tested:
                notes.append(t("desc_entry_when", condition=ir.condition_source(stage.entry_condition)))
            if earlier:
                notes.append(t("desc_entry_unless", stages=t.join([o.label for o in earlier], "or")))
            flow = Flow(
                t("flow_entry", clause=stage.clause_id, stage=stage.label), "",
                list_enrollment(tree, reenroll=[], leave_when_unmatched=False),
                [stage.clause_id], "entry",
            )
            if value and any(v != value for v in values):
                # a conditional stage with its own lifecycle stage: set it (cleared first when a
                # contact may arrive with a later one; HubSpot moves it only forward)
                if any(v is not None and LIFECYCLE_ORDER[v] > LIFECYCLE_ORDER[value] for v in values):
                    self.clear_lifecycle(flow, file, stage.clause_id, stage.name_span)
                flow.set_property(LIFECYCLE, value)
            self.set_armed(flow, stage, stage.clause_id, True)
            self.enter(flow, stage, stage.clause_id)
            if not _sender_deadline(stage):
                self.assign_owner(flow, file, None, stage, stage.clause_id)
            if stage.handoff is not None:
                self._handoff(flow, file, None, stage, notes)
            flow.description = self.flow_description(self.join(notes))
            self.add_flow(f"{stage.id}.entry", flow)
            made.append(stage)
        if made:
            span = self.policy.agreement.span if self.policy.agreement else made[0].span
            self.out.diagnostics.append(Diagnostic(
                BACKFILL,
                Message('contacts already past the entry stages get no SLA stage from the workflows; set it once when the workflows are turned on'),
                Span.point(span.path, span.line, span.column),
                help=Message('bulk-edit or import `sla_stage` for existing contacts'),
            ))
            self.out.manual.append(ManualStep(BACKFILL.code, t("manual_backfill"),
                                              [s.clause_id for s in made]))

    # ------------------------------------------------------------------ re-qualification
    def arm_exits(self) -> None:
        """A transition is taken when its condition *becomes* true while the lead is in the
        stage (README, "What a policy means"): a condition that already holds when the lead
        arrives does not move it. HubSpot's list-based enrolment would take such a lead at once —
        a lead recycled with a score of 105 would bounce straight back to MQL, a lead without
        consent would leave an MQL stage whose exit reads `not consent` the moment it arrives.
        So every transition with a condition out of a stage that leads enter by a transition is
        *armed*: `<clause>.arm` sets `sla_<clause>_armed` once the lead is in the stage and the
        condition is false, the transition enrols only when armed, and every workflow that moves a
        lead into the stage disarms its exits first. A new contact's entry workflow arms the
        exits of its entry stage (creating a lead counts as a change of everything, so a
        condition that holds then moves it at once). A transition with both `when` and `after`
        is not armed: it is taken at the first moment from `after` on at which its condition
        holds (rule 2 takes a condition that held all along), which enrolment on the condition,
        unenrolment when it stops holding and the wait until the timeout's moment give.

        What remains different (README, manifest, SLA841): a move whose condition became true by
        the very change that brought the lead into the stage (a chained move, e.g. a lead created
        with a score and a buying intent that qualify it twice) stops after the first move in
        HubSpot; the lead moves on when the next condition becomes true again. Workflows see the
        contact's data, not the change, so a condition that holds on arrival cannot be told
        apart from one that became true by the change that brought the lead: a manual step."""
        t = self.t
        policy = self.policy
        entered = {tr.target.name for s in policy.stages for tr in s.transitions}
        # the transitions that move a lead into each stage by a change of its data (a `when`): the
        # same change may meet an armed exit of that stage too, a chained move (SLA841)
        by_change: dict[str, list[ir.Transition]] = {}
        for source in policy.stages:
            for tr in source.transitions:
                if tr.condition is not None:
                    by_change.setdefault(tr.target.name, []).append(tr)
        chained: dict[str, list[tuple[ir.Transition, ir.Transition, Witness | None]]] = {}
        for stage in policy.stages:
            if stage.id not in entered:
                continue
            for transition in stage.transitions:
                if (transition.condition is None or transition.after is not None
                        or transition.target.name not in policy.stage_by_id):
                    continue
                clause = transition.clause_id
                try:
                    groups = self.filters.groups(transition.condition, negated=True)
                    self.filters.groups(transition.condition)
                except FilterError as exc:
                    reason = t(exc.reason.key, **dict(exc.reason.values))
                    self.report(
                        CONDITION_NOT_EXPRESSIBLE,
                        Message("transition `{clause}`: its condition cannot be watched for becoming true, so a "
                                "lead may move on at once on data from before it arrived", clause=clause),
                        transition.condition.span,
                        help=Message("rewrite the condition with properties, events and whole scores"),
                        step=t("manual_rearm", clause=clause, stage=stage.label, reason=reason),
                        clauses=[clause],
                    )
                    continue
                token = token_for(clause.replace(".", "_"))
                armed = f"sla_{token}_armed"
                self.catalog.add_custom(CustomProperty(
                    armed, t("prop_armed", clause=clause, stage=stage.label), "bool",
                    t("prop_armed_desc", clause=clause, stage=stage.label),
                    options=[("true", t("yes")), ("false", t("no"))], clauses={clause}, purpose="sla-lang"))
                self._armed[clause] = armed
                base = self.in_stage(stage)
                reads = self.filters.properties_read(transition.condition)
                self.register_reads(ir.condition_refs(transition.condition), clause)
                flow = Flow(
                    t("flow_arm", clause=f"{clause}.arm", stage=stage.label),
                    self.flow_description(t("desc_arm", stage=stage.label,
                                            condition=ir.condition_source(transition.condition))),
                    list_enrollment(or_branch([base + group for group in groups]),
                                    reenroll=[property_changed(SLA_STAGE, stage.id)] + [property_changed(p) for p in reads],
                                    leave_when_unmatched=False),
                    [clause], "arm",
                )
                flow.set_property(armed, "true")
                self.add_flow(f"{clause}.arm", flow)
                for into, example in self.chained_moves(by_change.get(stage.id, ()), transition):
                    if self.chain_code_possible(into):
                        # with custom code the move's workflow tells from the property history
                        # whether the change also met this exit (`chain_code`)
                        self._chains.setdefault(into.clause_id, []).append(transition)
                    elif not chained.get(stage.id) or chained[stage.id][-1][1] is not transition:
                        chained.setdefault(stage.id, []).append((into, transition, example))
        for stage_id, pairs in chained.items():
            clauses = [out.clause_id for _, out, _ in pairs]
            stage = policy.stage_by_id[stage_id]
            into, out, example = pairs[0]
            self.report(
                CHAINED_MOVE,
                Message("a change that moves a lead into `{stage}` and meets {clauses} at once moves it only into "
                        "`{stage}` in HubSpot: the workflows cannot tell that the condition became true by that "
                        "change", stage=stage_id, clauses=", ".join(f"`{c}`" for c in clauses)),
                out.span,
                help=Message("a lead with {example} takes `{into}` and `{out}` at once; check new leads that "
                             "already meet both conditions, as the manual step says",
                             example=example.describe(), into=into.clause_id, out=out.clause_id)
                if example is not None else
                Message("check new leads that already meet both conditions, as the manual step says"),
                step=t("manual_chain", stage=stage.label, clauses=t.join(clauses, "or")),
                clauses=clauses,
            )

    def chained_moves(self, into: Iterable[ir.Transition], out: ir.Transition
                      ) -> list[tuple[ir.Transition, Witness | None]]:
        """The transitions of `into` (moving a lead into `out`'s stage by a condition) whose
        condition can hold together with `out`'s, each with an example lead: the agreement moves a
        lead created (or changed by one update) with such data through both at once, HubSpot's
        armed exit only one step (SLA841) unless the move's workflow reads the property history
        (`chain_code`). Decided by the checks' bounded condition model (scores range over what
        their rules reach), the one SLA209 and the fixture generator use, so a pair such as
        `buying_intent == "yes"` into a stage left by `buying_intent == "no"` is no chained move."""
        from ...checks.liveness import can_hold_together

        out_pairs = []
        for transition in into:
            possible, example = can_hold_together(self.checks, transition.condition, out.condition)
            if possible:
                out_pairs.append((transition, example))
        return out_pairs

    def chain_code_possible(self, transition: ir.Transition) -> bool:
        """Whether the workflow of `transition` can carry `chain_code`: custom code is on, its
        condition has filters, and a `when … after` has the timeout's moment in a property."""
        if not self.settings.custom_code:
            return False
        try:
            self.filters.groups(transition.condition)
        except FilterError:
            return False
        if transition.after is None:
            return True
        source = self.policy.stage_by_id[transition.source]
        return self.code_data(source, [Timer("timeout", transition.after, transition.clause_id, "", transition)]) is not None

    def chain_code(self, flow: Flow, file: str, transition: ir.Transition) -> None:
        """The custom code that arms the exits of `transition`'s target whose condition became true
        by the very change that moved the lead (`customcode.chain_source`); their own workflows
        then move it on at that moment, as the agreement does. Right after the move (which disarmed
        them), before anything of the flow that may wait."""
        exits = self._chains.get(transition.clause_id)
        if not exits:
            return
        into = self.filters.groups(transition.condition)
        armed = [(self._armed[out.clause_id], self.filters.groups(out.condition), out.target.name) for out in exits]
        self.catalog.use(SLA_STAGE, transition.clause_id)
        for prop, _, _ in armed:
            self.catalog.use(prop, transition.clause_id)
        inputs: list[tuple[str, str | None]] = []
        if transition.after is not None:
            due = f"sla_{token_for(transition.clause_id.replace('.', '_'))}_at"
            self.catalog.use(due, transition.clause_id)
            inputs.append((customcode.DUE_INPUT, due))
        flow.custom_code(customcode.chain_source(into, armed, about=transition.clause_id, stage_property=SLA_STAGE,
                                                 timed=transition.after is not None),
                         runtime=customcode.RUNTIME, inputs=inputs, secrets=[customcode.SECRET],
                         output=customcode.OUTPUT, options=[customcode.ARMED, "none", customcode.FAILED])
        self._code_flows[file] = None
        self._reads_history = True

    @cached_property
    def checks(self) -> CheckContext:
        """The facts the checks derive from the policy (the bounded condition model), shared."""
        return CheckContext(self.policy)

    def armed_groups(self, clause: str, groups: list[list[dict]]) -> tuple[list[list[dict]], str | None]:
        """The enrolment groups of a transition, with its arming (see `arm_exits`)."""
        armed = self._armed.get(clause)
        if armed is None:
            return groups, None
        self.catalog.use(armed, clause)
        return [group + [bool_filter(armed, True)] for group in groups], armed

    def set_armed(self, flow: Flow, target: ir.Stage, clause: str, value: bool) -> None:
        """Moving a lead into `target`: its armed exits wait for their condition to become true
        (`value` False), or — a new contact entering the agreement — may fire at once (True)."""
        for transition in target.transitions:
            armed = self._armed.get(transition.clause_id)
            if armed is not None:
                self.catalog.use(armed, clause)
                flow.set_property(armed, "true" if value else "false")

    def transition_flow(self, stage: ir.Stage, transition: ir.Transition) -> None:
        t = self.t
        target = self.policy.stage_by_id.get(transition.target.name)
        if target is None:
            return
        clause = transition.clause_id
        file = f"workflows/{clause}.json"
        base = self.in_stage(stage)
        armed = None
        if transition.condition is not None:
            try:
                groups = self.filters.groups(transition.condition)
            except FilterError as exc:
                self._unexpressible(transition, stage, target, exc)
                return
            groups, armed = self.armed_groups(clause, groups)
            tree = or_branch([base + group for group in groups])
            reads = self.filters.properties_read(transition.condition)
            self.register_reads(ir.condition_refs(transition.condition), clause)
        elif transition.after is not None:
            tree = or_branch([base])
            reads = []
        else:
            self._unexpressible(transition, stage, target, None)
            return
        reenroll = ([property_changed(SLA_STAGE, stage.id)] + [property_changed(p) for p in reads]
                    + ([property_changed(armed)] if armed else []))
        if transition.condition is not None and transition.after is not None:
            how = t("desc_when_after", condition=ir.condition_source(transition.condition),
                    after=t.duration(transition.after))
        elif transition.condition is not None:
            how = t("desc_when", condition=ir.condition_source(transition.condition))
        else:
            how = t("desc_after", after=t.duration(transition.after), source=stage.label)
        notes = [t("desc_transition", source=stage.label, target=target.label, how=how)]
        if armed is not None:
            notes.append(t("desc_armed", condition=ir.condition_source(transition.condition)))
        flow = Flow(
            t("flow_transition", clause=clause, source=stage.label, target=target.label), "",
            list_enrollment(tree, reenroll=reenroll, leave_when_unmatched=transition.after is not None),
            [clause], "transition",
        )
        if transition.after is not None:
            self._timeout(flow, file, stage, transition, tree)
        if transition.record:
            self._record(flow, stage, target, transition)
        self.set_armed(flow, target, clause, False)
        self.carry_decisions(flow, stage, target, clause)
        source_value, target_value = self.lifecycle(stage), self.lifecycle(target)
        if target_value and target_value != source_value:
            self.catalog.need_existing(LIFECYCLE, clause)
            backwards = source_value is None or LIFECYCLE_ORDER[target_value] < LIFECYCLE_ORDER[source_value]
            if backwards or target.is_recycle:
                self.clear_lifecycle(flow, file, clause, transition.span)
                notes.append(t("desc_clear_lifecycle", lifecycle=target_value))
            flow.set_property(LIFECYCLE, target_value)
        if (_sender_deadline(stage) and not _sender_deadline(target) and target.owner is not None
                and stage.owner is not None and stage.owner.name == target.owner.name):
            self._hand_on(flow, file, stage, target, clause)
        self.enter(flow, target, clause)
        self.chain_code(flow, file, transition)
        if target.is_recycle:
            self._recycle(flow, stage, clause, notes)
        if not _sender_deadline(target):
            self.assign_owner(flow, file, stage, target, clause)
        if target.handoff is not None:
            self._handoff(flow, file, stage, target, notes)
        flow.description = self.flow_description(self.join(notes))
        self.add_flow(clause, flow)

    def clear_lifecycle(self, flow: Flow, file: str, clause: str, span: Span) -> None:
        """Clear the lifecycle stage before setting an earlier one (HubSpot moves it only
        forward). The documented ways: the CRM API with an empty value, which custom code can
        call; or the editor's "Clear property value" action, for which the v4 API documents no
        action type — without custom code the workflow sets an empty value and the admin replaces
        that action by hand (SLA840)."""
        if self.settings.custom_code:
            flow.custom_code(customcode.clear_source([LIFECYCLE], about=clause), runtime=customcode.RUNTIME,
                             inputs=[], secrets=[customcode.SECRET], output=customcode.OUTPUT,
                             options=[customcode.WRITTEN, customcode.FAILED])
            self._code_flows[file] = None
            return
        flow.clear_property(LIFECYCLE)
        self.report(
            CLEAR_BY_HAND,
            Message("`{clause}` moves the lifecycle stage back: without custom code the workflow clears it with an "
                    "empty value, which HubSpot documents for the API but not for workflows", clause=clause),
            span,
            help=Message("replace the action by HubSpot's \"Clear property value\" action as the manual step says, "
                         "or use custom code (`custom-code = true`)"),
            step=self.t("manual_clear", flow=flow.name, action=flow.last_action_id or "1"),
            clauses=[clause], workflow=file, action_id=flow.last_action_id,
        )

    def _timeout(self, flow: Flow, file: str, stage: ir.Stage, transition: ir.Transition, tree: dict) -> None:
        """Wait until `after` has passed since the lead entered the stage, then continue only if it
        is still there (and its condition holds). With custom code the moment is computed from the
        stage's start, so a condition that becomes true only after the timeout still moves the
        lead (the flow enrols then, and the moment has passed)."""
        t = self.t
        clause = transition.clause_id
        prop = f"sla_{token_for(clause.replace('.', '_'))}_at"
        timer = Timer("timeout", transition.after, clause, prop, transition)
        data = self.code_data(stage, [timer])
        still = (t("branch_still_here", stage=stage.label), tree)
        ends = []
        if data is not None:
            self.moment_property(prop, stage, t("what_timeout", target=self.stage_label(transition.target.name)), clause)
            decided = self.add_code(flow, file, stage, data, [timer])
            for exact, slots in ((True, ["static:0"]), (False, ["default"])):
                flow.tail = [(decided, slot) for slot in slots]
                self.wait(flow, timer, stage, 0, exact)
                if exact:  # the moment has passed already (the condition came true later): no wait
                    flow.tail.append((decided, "static:1"))
                check = flow.branch([still], t("branch_moved_on"))
                ends.append((check, "branch:0"))
        else:
            self.report_conservative(timer, stage, flow, file)
            self.wait(flow, timer, stage, 0, False)
            check = flow.branch([still], t("branch_moved_on"))
            ends.append((check, "branch:0"))
        self.record_timer(timer, stage, file, data is not None)
        flow.tail = ends

    def _unexpressible(self, transition: ir.Transition, stage: ir.Stage, target: ir.Stage,
                       exc: FilterError | None) -> None:
        if exc is None:
            reason_key, values = "reason_no_condition", {}
        else:
            reason_key, values = exc.reason.key, dict(exc.reason.values)
        reason = self.t(reason_key, **values)
        why = {
            "reason_score_group": Message("HubSpot has no property for a score group"),
            "reason_date": Message("dates cannot be compared in a HubSpot filter in the same way"),
            "reason_number_list": Message("a number cannot be matched against a list in one filter"),
            "reason_type": Message("this comparison has no HubSpot filter"),
            "reason_too_large": Message("it expands to more than {limit} filter groups", limit=values.get("limit")),
            "reason_no_condition": Message("it has neither a condition nor a time"),
            "reason_unknown": Message("it reads something that is not a property, event or score"),
        }[reason_key]
        span = transition.condition.span if transition.condition is not None else transition.span
        self.report(
            CONDITION_NOT_EXPRESSIBLE,
            Message('transition `{clause}` cannot become a HubSpot workflow: {why}', clause=transition.clause_id, why=why),
            span, help=Message('rewrite the condition with properties, events and whole scores, or build this workflow by hand'),
            step=self.t("manual_condition", clause=transition.clause_id, source=stage.label, target=target.label,
                        reason=reason),
            clauses=[transition.clause_id] + ([target.handoff.clause_id] if target.handoff else []),
        )

    def _record(self, flow: Flow, stage: ir.Stage, target: ir.Stage, transition: ir.Transition) -> None:
        t = self.t
        names, labels = [], []
        for ref in transition.record:
            prop = self.policy.property_by_id.get(ref.name)
            if prop is None:
                continue
            name = self.catalog.claim_property(prop, transition.clause_id)
            names.append(name)
            labels.append(prop.label)
        if not names:
            return
        fields = t.join([t.quote(label) for label in labels])
        check = flow.branch([(t("branch_recorded"), or_branch([[known_filter(n) for n in names]]))],
                            t("branch_not_recorded"))
        flow.tail = [(check, "default")]
        flow.task(
            t("record_subject", fields=fields),
            _html(t("record_body", source=stage.label, target=target.label, fields=fields,
                    clause=transition.clause_id)),
            task_type="TODO", due=self.due_for(None, stage),
        )
        self.catalog.need_existing(OWNER, transition.clause_id)
        flow.tail.append((check, "branch:0"))

    def import_flows(self) -> None:
        """A lead can also arrive in a stage without a workflow moving it there: imported with
        its SLA stage set (the fixtures' contacts.csv does that), or created by an integration.
        The agreement treats that as entering the stage — the owner team and the hand-off apply
        — so `<stage>.import` enrols a contact in the stage whose start time is not set (the
        workflows set it whenever they move a lead), sets it, and does what entering does."""
        t = self.t
        for stage in self.policy.stages:
            owner = self.mapping(stage.owner)
            if stage.handoff is None and not (owner is not None and owner.user_ids):
                continue
            self.catalog.use(ENTERED_AT, stage.clause_id)
            tree = or_branch([self.in_stage(stage) + [known_filter(ENTERED_AT, known=False)]])
            file = f"workflows/{stage.id}.import.json"
            flow = Flow(
                t("flow_import", clause=f"{stage.id}.import", stage=stage.label), "",
                list_enrollment(tree, reenroll=[], leave_when_unmatched=False), [stage.clause_id], "import",
            )
            notes = [t("desc_import_handoff" if _sender_deadline(stage) else "desc_import", stage=stage.label)]
            flow.set_now(ENTERED_AT)
            if not _sender_deadline(stage):
                self.assign_owner(flow, file, None, stage, stage.clause_id)
            if stage.handoff is not None:
                self._handoff(flow, file, None, stage, notes)
            flow.description = self.flow_description(self.join(notes))
            self.add_flow(f"{stage.id}.import", flow)

    @cached_property
    def _recycling(self) -> tuple[str, list[tuple[str, str]]]:
        """The recycle clauses (joined) and the stage options of the recycle properties: the
        same for every recycle transition."""
        recycled_clauses = {tr.clause_id for s in self.policy.stages for tr in s.transitions
                            if (target := self.policy.stage_by_id.get(tr.target.name)) is not None
                            and target.is_recycle}
        return self.clause_list(sorted(recycled_clauses)), [(s.id, _label(s.label, s.id)) for s in self.policy.stages]

    def _recycle(self, flow: Flow, stage: ir.Stage, clause: str, notes: list[str]) -> None:
        t = self.t
        joined, stage_options = self._recycling
        self.catalog.add_custom(CustomProperty(
            RECYCLED_AT, t("prop_recycled_at"), "datetime", t("prop_recycled_at_desc", clauses=joined),
            clauses={clause}, purpose="sla-lang"))
        self.catalog.add_custom(CustomProperty(
            RECYCLED_FROM, t("prop_recycled_from"), "enumeration", t("prop_recycled_from_desc", clauses=joined),
            options=stage_options, clauses={clause}, purpose="sla-lang"))
        flow.set_now(RECYCLED_AT)
        flow.set_property(RECYCLED_FROM, stage.id)
        notes.append(t("desc_recycle_no_reset"))

    def _handoff(self, flow: Flow, file: str, stage: ir.Stage | None, target: ir.Stage, notes: list[str]) -> None:
        """The hand-off into `target` (from `stage`; None for a contact entering the agreement),
        to the contact owner — who is then of the target's team (`assign_owner`)."""
        t = self.t
        handoff = target.handoff
        clause = handoff.clause_id
        flow.clauses.append(clause)
        self.catalog.need_existing(OWNER, clause)
        owner = self.team_label(target.owner)
        sender = self.team_label(handoff.sender)
        respond = target.deadline("respond")
        deadline = t("handoff_deadline", within=t.duration(respond.within)) if respond else ""
        lines = self._include_lines(handoff, clause)
        # with the sender's deadline nobody of the receiving team owns the lead yet: the notices
        # and the task go to the team itself (the person who takes it over becomes the owner)
        to_team = _sender_deadline(target) and target.owner is not None
        if to_team:
            deadline = t("handoff_assign_by", sender=sender, within=t.duration(handoff.within)) + deadline
        channels = []
        for channel in handoff.channels:
            channels.append(t.channel(channel))
            kind = channel.kind
            if kind in ("email", "in_app"):
                body = t("handoff_body", sender=sender, owner=owner, deadline=deadline)
                recipients = CONTACT_OWNER
                if to_team:
                    recipients = self.team_recipients(target.owner, clause, handoff.span, what=Message("hand-off"),
                                                      flow=flow, file=file)
                    if recipients is None:
                        continue
                if kind == "email":
                    flow.notify(t("handoff_subject", stage=target.label), _html(body, *lines), recipients)
                else:
                    flow.notify(t("handoff_subject", stage=target.label), "\n".join([body, *lines]), recipients,
                                in_app=True)
            elif kind in ("task", "call"):
                user = None
                if to_team:
                    user = self.team_recipients(target.owner, clause, handoff.span, what=Message("hand-off task"),
                                                flow=flow, file=file, task=True)
                    if user is None:
                        continue
                subject = t("handoff_task_subject" if kind == "task" else "handoff_call_subject", stage=target.label)
                flow.task(subject, _html(t("handoff_task_body", sender=sender, deadline=deadline, clause=clause), *lines),
                          task_type="TODO" if kind == "task" else "CALL",
                          due=self.due_for(respond.within if respond else None, target), user_id=user)
            elif kind == "webhook":
                flow.webhook(channel.target or "")
            elif kind == "slack" and self.settings.custom_code:
                self.slack_post(flow, file, channel.target or "", t("slack_handoff", stage=target.label, owner=owner,
                                                                     sender=sender, clause=clause), clause)
            elif kind == "slack":
                self.report(
                    SLACK_MANUAL,
                    Message('hand-off to `{target}`: Slack {target2} cannot be reached from a workflow created through the API', target=target.id, target2=channel.target),
                    channel.span,
                    help=Message('use `webhook "https://hooks.slack.com/triggers/…"` (a Slack Workflow Builder trigger) for a workflow that posts by itself'),
                    step=t("manual_slack", channel=channel.target or "", flow=flow.name,
                           action=flow.last_action_id or "1"),
                    clauses=[clause], workflow=file, action_id=flow.last_action_id,
                )
            else:
                self.report(
                    CHANNEL_NOT_SUPPORTED,
                    Message('hand-off to `{target}` by {kind}: HubSpot workflows have no action for it', target=target.id, kind=kind),
                    channel.span, help=Message('use email, in_app, task or webhook'),
                    step=t("manual_channel", who=owner, channel=t.channel(channel), flow=flow.name,
                           action=flow.last_action_id or "1"),
                    clauses=[clause], workflow=file, action_id=flow.last_action_id,
                )
        notes.append(t("desc_handoff", owner=owner, channels=t.join(channels)))

    def _include_lines(self, handoff: ir.Handoff, clause: str) -> list[str]:
        policy = self.policy
        lines = []
        for name in handoff.include:
            ref = ir.Ref(name.name, None, name.span)
            resolved = self.catalog.resolve(ref)
            if resolved is None:
                continue
            self.register_reads([ref], clause)
            if name.name in policy.property_by_id:
                label = policy.property_by_id[name.name].label
            elif name.name in policy.event_by_id:
                label = policy.event_by_id[name.name].label
            else:
                label = policy.score_by_id[name.name].label
            lines.append(self.t("include_line", label=label, token=HubL("{{ enrolled_object." + resolved.property + " }}")))
        return lines

    # ------------------------------------------------------------------ the sender's hand-off deadline
    def handoff_monitor(self, stage: ir.Stage) -> None:
        """`handoff from X within D`: done when a person is given the lead after it entered the
        stage and not after the due moment (the reference simulator: an owner assignment,
        `owner_changed`). HubSpot records every change of the contact owner in
        `sla_owner_assigned_at` (`owner_assigned_flow`); this workflow waits until the due moment
        (custom code, as for the other deadlines; a fixed wait of the shortest length without
        it) and compares. Not done: the hand-off is flagged as breached, the sender is told, and
        the lead is given to a user of the receiving team in turn so that it does not stay with
        the sender's person (the agreement makes the receiving team the stage's owner)."""
        if not _sender_deadline(stage):
            return
        t = self.t
        handoff = stage.handoff
        clause = handoff.clause_id
        token = self.stage_token(stage)
        guard_word, guard_done = t("guard_handoff"), t("guard_done_handoff")
        sender, receiver = self.team_label(handoff.sender), self.team_label(stage.owner)
        flag = f"sla_{token}_handoff_breached"
        self.catalog.add_custom(CustomProperty(
            flag, t("prop_breached", stage=stage.label, guard=guard_word), "bool",
            t("prop_breached_desc", within=t.duration(handoff.within), guard_done=guard_done, clauses=clause),
            options=[("true", t("yes")), ("false", t("no"))], clauses={clause}, purpose="sla-lang"))
        timer = Timer("breach", handoff.within, clause, f"sla_{token}_handoff_due_at", handoff)
        stem = f"{stage.id}.handoff"
        file = f"workflows/{stem}.json"
        flow = Flow(t("flow_monitor", clause=clause, stage=stage.label, guard=guard_word,
                      within=t.duration(handoff.within)), "",
                    list_enrollment(or_branch([self.in_stage(stage)]), reenroll=[property_changed(SLA_STAGE, stage.id)],
                                    leave_when_unmatched=True), [clause], "monitor")
        self.catalog.need_existing(OWNER, clause)
        self.catalog.use(ENTERED_AT, clause)
        self.catalog.use(OWNER_ASSIGNED_AT, clause)
        flow.set_property(flag, "false")
        data = self.code_data(stage, [timer])
        exact = data is not None
        if exact:
            if not _zero(timer.duration):
                self.moment_property(timer.prop, stage, t("what_due", guard=guard_word), clause)
            decided = self.add_code(flow, file, stage, data, [timer])
            flow.tail = [(decided, "static:0"), (decided, "static:1")]
            self._handoff_check(flow, file, stage, timer, flag, exact=True)
            flow.tail = [(decided, "default")]
            self._handoff_check(flow, file, stage, timer, flag, exact=False)
        else:
            self.report_conservative(timer, stage, flow, file)
            self._handoff_check(flow, file, stage, timer, flag, exact=False)
        self.record_timer(timer, stage, file, exact)
        flow.description = self.flow_description(self.join([
            t("desc_handoff_monitor", stage=stage.label, sender=sender, receiver=receiver,
              within=t.duration(handoff.within)),
            t("desc_exact" if exact else "desc_conservative")]))
        self.add_flow(stem, flow)

    def _handoff_check(self, flow: Flow, file: str, stage: ir.Stage, timer: Timer, flag: str, *, exact: bool) -> None:
        """Wait for the due moment, then: an owner set after the due moment (HubSpot ran the check
        late) is late; one set after the stage's start is in time; else nobody took the lead
        over. Strictly after the start: an owner the lead already had when it entered — set at
        that very moment when it was created with data that moved it on at once — is no hand-off."""
        t = self.t
        handoff = stage.handoff
        self.wait(flow, timer, stage, 0, exact)
        branches = []
        if exact:
            branches.append((t("branch_assigned_late"), after_property_filter(OWNER_ASSIGNED_AT, timer.prop), True))
        branches.append((t("branch_assigned"), after_property_filter(OWNER_ASSIGNED_AT, ENTERED_AT), False))
        check = flow.branch([(name, or_branch([[test]])) for name, test, _ in branches], t("branch_not_assigned"))
        flow.tail = [(check, "default")] + [(check, f"branch:{n}") for n, (_, _, fails) in enumerate(branches) if fails]
        flow.set_property(flag, "true")
        recipients = self.team_recipients(handoff.sender, handoff.clause_id, handoff.sender.span,
                                          what=Message("the hand-off deadline notice of"), flow=flow, file=file)
        if isinstance(recipients, Recipients):
            flow.notify(t("handoff_breach_subject", stage=stage.label),
                        _html(t("handoff_breach_body", sender=self.team_label(handoff.sender),
                                receiver=self.team_label(stage.owner), within=t.duration(handoff.within),
                                clause=handoff.clause_id)), recipients)
        self.assign_owner(flow, file, None, stage, handoff.clause_id)

    def _hand_on(self, flow: Flow, file: str, stage: ir.Stage, target: ir.Stage, clause: str) -> None:
        """Leaving a stage whose sender's hand-off is still pending for a stage of the same team:
        the team keeps the lead (the simulator gives no new owner), but nobody of it was assigned
        yet, so the lead goes to a user of the team — unless a person took it over after it
        entered `stage` (checked before the move restarts the stage's start time)."""
        t = self.t
        mapping = self.mapping(target.owner)
        if mapping is None or not mapping.user_ids:  # nobody to give it to: the manual step (SLA822) says so
            self.assign_owner(flow, file, None, target, clause)
            return
        check = flow.branch([(t("branch_assigned"), or_branch([[after_property_filter(OWNER_ASSIGNED_AT, ENTERED_AT)]]))],
                            t("branch_not_assigned"))
        flow.tail = [(check, "default")]
        self.assign_owner(flow, file, None, target, clause)
        flow.tail.append((check, "branch:0"))

    def owner_assigned_flow(self) -> None:
        """`sla_owner_assigned_at`: the moment the contact owner last changed, whoever changed it
        (a person, an import, an integration, a workflow's rotation). Enrols when the owner
        becomes known and again at every change of it (the property-change trigger with any
        value), and only stamps the time."""
        clauses = [s.handoff.clause_id for s in self.policy.stages if _sender_deadline(s)]
        if not clauses:
            return
        t = self.t
        self.catalog.add_custom(CustomProperty(
            OWNER_ASSIGNED_AT, t("prop_owner_assigned"), "datetime",
            t("prop_owner_assigned_desc", clauses=self.clause_list(clauses)), clauses=set(clauses), purpose="sla-lang"))
        for clause in clauses:
            self.catalog.need_existing(OWNER, clause)
        flow = Flow(t("flow_owner_assigned"), "",
                    list_enrollment(or_branch([[known_filter(OWNER)]]), reenroll=[property_changed(OWNER)],
                                    leave_when_unmatched=False), clauses, "monitor")
        flow.set_now(OWNER_ASSIGNED_AT)
        flow.description = self.flow_description(t("desc_owner_assigned"))
        self.add_flow("owner.assigned", flow)

    # ------------------------------------------------------------------ deadlines
    @cached_property
    def spanning(self) -> dict[str, tuple[ir.Deadline, frozenset[str]]]:
        """Stages whose `decide … through S` the workflows enforce → (the deadline, S). Only with
        custom code: the stages of the span wait for the due moment the stage's monitor wrote.
        Without it the clause is a manual step (targets/hubspot/obligations.py)."""
        out = {}
        for stage in self.policy.stages:
            decide = stage.deadline("decide")
            if decide is not None and decide.through and not _zero(decide.within) and self.code_data(
                    stage, [Timer("breach", decide.within, decide.clause_id, "", decide)]) is not None:
                out[stage.id] = (decide, frozenset(n.name for n in decide.through))
        return out

    def carried_property(self, stage: ir.Stage, *clauses: str) -> str:
        """`sla_<stage>_decide_carried`: whether the lead went on into the span of the stage's
        decision (set by each move out of the stage or its `through` stages)."""
        t = self.t
        decide, through = self.spanning[stage.id]
        prop = f"sla_{self.stage_token(stage)}_decide_carried"
        self.catalog.add_custom(CustomProperty(
            prop, t("prop_carried", stage=stage.label), "bool",
            t("prop_carried_desc", stage=stage.label, stages=", ".join(self.stage_label(s) for s in sorted(through)),
              clauses=decide.clause_id),
            options=[("true", t("yes")), ("false", t("no"))], clauses={decide.clause_id, *clauses}, purpose="sla-lang"))
        return prop

    def carry_decisions(self, flow: Flow, source: ir.Stage, target: ir.Stage, clause: str) -> None:
        """A move out of a spanning decision's stage or one of its `through` stages says whether the
        decision goes on in the target (`sla_<stage>_decide_carried`): only into a `through` stage.
        Set before the SLA stage, so the span's workflow sees it when it enrols."""
        for stage_id, (decide, through) in self.spanning.items():
            if source.id == stage_id or source.id in through:
                prop = self.carried_property(self.policy.stage_by_id[stage_id], clause)
                flow.set_property(prop, "true" if target.id in through else "false")

    def monitor_flows(self, stage: ir.Stage) -> None:
        for guard in GUARDS:
            deadline = stage.deadline(guard) if guard != "stage" else None
            if deadline is not None and deadline.through and stage.id not in self.spanning:
                # a decision spanning stages without custom code: a monitor that stops when the
                # lead leaves this stage would call it made; a manual step instead
                # (targets/hubspot/obligations.py)
                deadline = None
            escalations = [e for e in stage.escalations if e.guard == guard]
            if deadline is None and not escalations:
                continue
            self._monitor(stage, guard, deadline, escalations)
            if deadline is not None and deadline.through:
                self.span_flow(stage, deadline)
        self.idle_flows(stage)

    def idle_flows(self, stage: ir.Stage) -> None:
        """`escalate to T after D without activity`. Two workflows per stage:
        - `<stage>.idle.anchor` keeps the moment the inactivity counts from in
          `sla_<stage>_idle_from`: the lead's entry, then each call, email or meeting logged in the
          stay (HubSpot's "Last contacted" not before the entry). It enrols at the entry and at
          each change of "Last contacted", and finishes at once. At a new stay it also resets the
          escalation flags (the escalation happens once per stay).
        - `<stage>.idle` (one per escalation) enrols when that moment is set for this stay and no
          activity came after it, waits D from it and escalates. An activity makes "Last
          contacted" later than the moment: the lead leaves the workflow, the anchor workflow
          moves the moment, and the lead enrols again, counting D from the activity."""
        escalations = [e for e in stage.escalations if e.idle]
        if not escalations:
            return
        t = self.t
        token = self.stage_token(stage)
        clauses = [e.clause_id for e in escalations]
        idle_from = f"sla_{token}_idle_from"
        self.catalog.add_custom(CustomProperty(
            idle_from, t("prop_idle_from", stage=stage.label), "datetime",
            t("prop_idle_from_desc", stage=stage.label, after=t.join([t.duration(e.after) for e in escalations], "or"),
              clauses=", ".join(clauses)), clauses=set(clauses), purpose="sla-lang"))
        flag = f"sla_{token}_idle_escalated"
        guard_word = t("guard_idle")
        self.catalog.add_custom(CustomProperty(
            flag, t("prop_escalated", stage=stage.label, guard=guard_word), "bool",
            t("prop_escalated_desc", guard_done=t("guard_done_idle"), clauses=", ".join(clauses)),
            options=[("true", t("yes")), ("false", t("no"))], clauses=set(clauses), purpose="sla-lang"))
        for c in clauses:
            self.catalog.need_existing(LAST_CONTACTED, c)
            self.catalog.use(ENTERED_AT, c)
        flags = [flag] + [f"{flag}_{n}" for n in range(2, len(escalations) + 1)]
        for extra in flags[1:]:
            self.catalog.add_custom(CustomProperty(
                extra, t("prop_escalated", stage=stage.label, guard=guard_word), "bool",
                t("prop_escalated_desc", guard_done=t("guard_done_idle"), clauses=", ".join(clauses)),
                options=[("true", t("yes")), ("false", t("no"))], clauses=set(clauses), purpose="sla-lang"))
        # the anchor
        stem = f"{stage.id}.idle.anchor"
        # enrols once the stage's start time is known (a lead imported into the stage gets it from
        # the import workflow at the same moment)
        anchor = Flow(t("flow_idle_anchor", clause=clauses[0], stage=stage.label), "",
                      list_enrollment(or_branch([self.in_stage(stage) + [known_filter(ENTERED_AT)]]),
                                      reenroll=[property_changed(SLA_STAGE, stage.id), property_changed(ENTERED_AT),
                                                property_changed(LAST_CONTACTED)],
                                      leave_when_unmatched=True), clauses, "monitor")
        fresh = anchor.branch([(t("branch_new_stay"), or_branch([[known_filter(idle_from, known=False)],
                                                                  [before_property_filter(idle_from, ENTERED_AT)]]))],
                              t("branch_same_stay"))
        anchor.tail = [(fresh, "branch:0")]
        for name in flags:
            anchor.set_property(name, "false")
        anchor.tail.append((fresh, "default"))
        contacted = not_before(LAST_CONTACTED, ENTERED_AT)
        here = anchor.branch([(t("branch_contacted_here"), {
            "filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [],
            "filterBranches": [contacted]})], t("branch_not_contacted_here"))
        anchor.tail = [(here, "branch:0")]
        anchor.copy_property(idle_from, LAST_CONTACTED)
        anchor.tail = [(here, "default")]
        anchor.copy_property(idle_from, ENTERED_AT)
        anchor.description = self.flow_description(t("desc_idle_anchor", stage=stage.label))
        self.add_flow(stem, anchor)
        # one escalation workflow each
        since = not_before(idle_from, ENTERED_AT)
        for n, (escalation, name) in enumerate(zip(escalations, flags, strict=True), 1):
            clause = escalation.clause_id
            criteria = {**since, "filters": self.in_stage(stage) + since["filters"], "filterBranches": since["filterBranches"] + [
                {"filterBranchType": "NOT_ANY", "filterBranchOperator": "NOT_ANY", "filterBranches": [],
                 # the moment is unknown only before the anchor workflow first ran: then "0" makes
                 # any contact later than it, and the lead is not enrolled
                 "filters": [_with_default(after_property_filter(LAST_CONTACTED, idle_from), "0")]},
                {"filterBranchType": "NOT_ANY", "filterBranchOperator": "NOT_ANY", "filterBranches": [],
                 "filters": [bool_filter(name, True)]}]}
            stem = f"{stage.id}.idle" + ("" if n == 1 else f".{n}")
            file = f"workflows/{stem}.json"
            flow = Flow(t("flow_idle", clause=clause, stage=stage.label, after=t.duration(escalation.after)), "",
                        list_enrollment({"filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [],
                                         "filterBranches": [criteria]},
                                        reenroll=[property_changed(idle_from)], leave_when_unmatched=True),
                        [clause], "monitor")
            self.catalog.need_existing(OWNER, clause)
            timer = Timer("escalate", escalation.after, clause, f"sla_{token}_idle{'' if n == 1 else f'_{n}'}_at",
                          escalation, n)
            data = self.code_data(stage, [timer])
            exact = data is not None
            if exact:
                self.moment_property(timer.prop, stage, t("what_escalate", guard=guard_word, n=n), clause)
                decided = self.add_code(flow, file, stage, data, [timer], idle_from, t("since_idle"))
                flow.tail = [(decided, "static:0"), (decided, "static:1")]
                self.wait(flow, timer, stage, 0, True)
                self._escalate(flow, file, stage, escalation, name, guard_word)
                flow.tail = [(decided, "default")]
            else:
                self.report_conservative(timer, stage, flow, file)
            self.wait(flow, timer, stage, 0, False)
            self._escalate(flow, file, stage, escalation, name, guard_word)
            self.record_timer(timer, stage, file, exact)
            flow.description = self.flow_description(self.join([
                t("desc_idle", team=self.team_label(escalation.to), after=t.duration(escalation.after),
                  stage=stage.label), t("desc_exact" if exact else "desc_conservative")]))
            self.add_flow(stem, flow)
            self.enforced.add(clause)

    def span_flow(self, stage: ir.Stage, deadline: ir.Deadline) -> None:
        """`decide within D through S`: the stage's own monitor (`<stage>.decide`) computes the due
        moment at each entry and judges it while the lead is in the stage; this workflow judges it
        while the lead is in a stage of S it reached from the stage (or from another stage of S)
        before the due moment. Leaving the span unenrols it (the decision is made); going back to
        the stage unenrols it too, and the stage's monitor starts a new decision there."""
        t = self.t
        token = self.stage_token(stage)
        clause = deadline.clause_id
        through = [self.policy.stage_by_id[n.name] for n in deadline.through if n.name in self.policy.stage_by_id]
        carried = self.carried_property(stage)
        due = f"sla_{token}_decide_due_at"
        flag = f"sla_{token}_decide_breached"
        for s in through:
            self.catalog.use(SLA_STAGE, s.clause_id)
        self.catalog.use(ENTERED_AT, clause)
        self.catalog.use(due, clause)
        self.catalog.need_existing(OWNER, clause)
        # reached before the due moment, or at it (then breached at once, as in the agreement: moving
        # on into the span at the due moment does not make the decision)
        before_due = not_before(due, ENTERED_AT)
        tree = {"filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [], "filterBranches": [
            {**before_due, "filters": [enum_filter(SLA_STAGE, [s.id for s in through]), bool_filter(carried, True)]
             + before_due["filters"]}]}
        stem = f"{stage.id}.decide.through"
        file = f"workflows/{stem}.json"
        flow = Flow(t("flow_span", clause=clause, stage=stage.label, within=t.duration(deadline.within),
                      stages=", ".join(s.label for s in through)), "",
                    list_enrollment(tree, reenroll=[property_changed(SLA_STAGE, s.id) for s in through],
                                    leave_when_unmatched=True), [clause], "monitor")
        due_later = flow.branch([(t("branch_before_due"), or_branch([[after_property_filter(due, ENTERED_AT)]]))],
                                t("branch_at_due"))
        flow.tail = [(due_later, "branch:0")]
        flow.delay_until(due)  # a delay until a moment already reached is undocumented (S14): not at the due moment
        flow.tail.append((due_later, "default"))
        flow.set_property(flag, "true")
        guard_word = t("guard_decide")
        self._deadline_notice(flow, file, deadline, t("breach_subject", stage=stage.label),
                              _html(t("breach_body", guard=guard_word, within=t.duration(deadline.within),
                                      guard_done=t("guard_done_decide"), clause=clause)))
        # no entry in the manifest's `timers`: the moment is the one `<stage>.decide` computed and
        # recorded there; this workflow has no wall-clock path of its own
        self.enforced.add(clause)
        flow.description = self.flow_description(self.join([
            t("desc_span", stage=stage.label, stages=", ".join(f"“{s.label}”" if t.lang != "ja" else f"「{s.label}」"
                                                             for s in through)),
            t("desc_exact")]))
        self.add_flow(stem, flow)

    def _monitor(self, stage: ir.Stage, guard: str, deadline: ir.Deadline | None,
                 escalations: list[ir.Escalation]) -> None:
        """Deadline and escalation checkpoints of one guard.

        At each checkpoint the flow asks whether the obligation is done, and acts when it is not:
        - `respond` (with its deadline): done when the lead was contacted (HubSpot's *Last
          contacted*, `notes_last_contacted`) after entering the stage and not after the
          checkpoint's moment. A contact after the moment (HubSpot ran the check late) counts as
          late — never "met" for a lead that was late;
        - `decide`, time in stage, an escalation without a deadline: done when the lead left the
          stage (the flow also leaves it then).
        Once the breach checkpoint has passed, later escalations act without asking: the
        simulator escalates a breached deadline even if the lead is contacted after it."""
        t = self.t
        token = self.stage_token(stage)
        touch = guard == "respond" and deadline is not None
        # `respond … via call`: HubSpot's "Last contacted" counts any call, email or meeting, so
        # with custom code each check first reads the contact's calls (the kinds that meet it)
        # from the CRM API into `…_responded_at` and judges that instead
        probe = (touch and bool(deadline.via) and not deadline.via_when and self.settings.custom_code
                 and len(deadline.meets) < len(ir.ACTIVITY_KINDS))
        # `via call when …, email otherwise`: the workflow chooses the channel from the lead's data
        # as it enters (a branch at its start), and the probe reads the activities of that channel
        choice = self.channel_choice(stage, deadline) if touch and deadline.via_when else None
        probe = probe or choice is not None
        contacted = LAST_CONTACTED
        guard_word = t(f"guard_{guard}")
        guard_done = self._guard_done(guard, touch, deadline)
        label_values = {"stage": stage.label, "guard": guard_word, "guard_done": guard_done}
        timers: list[Timer] = []
        flags: dict[str, str] = {}
        if deadline is not None and deadline.target is not None:
            flags["slo"] = f"sla_{token}_{guard}_slo_missed"
            self.catalog.add_custom(CustomProperty(
                flags["slo"], t("prop_slo_missed", **label_values), "bool",
                t("prop_slo_missed_desc", within_target=t.duration(deadline.target), guard_done=guard_done,
                  clauses=deadline.clause_id),
                options=[("true", t("yes")), ("false", t("no"))], clauses={deadline.clause_id}, purpose="sla-lang"))
            timers.append(Timer("slo", deadline.target, deadline.clause_id, f"sla_{token}_{guard}_slo_at", deadline))
        if deadline is not None:
            flags["breach"] = f"sla_{token}_{guard}_breached"
            self.catalog.add_custom(CustomProperty(
                flags["breach"], t("prop_breached", **label_values), "bool",
                t("prop_breached_desc", within=t.duration(deadline.within), guard_done=guard_done,
                  clauses=deadline.clause_id),
                options=[("true", t("yes")), ("false", t("no"))], clauses={deadline.clause_id}, purpose="sla-lang"))
            timers.append(Timer("breach", deadline.within, deadline.clause_id, f"sla_{token}_{guard}_due_at", deadline))
        if escalations:
            flags["escalate"] = f"sla_{token}_{guard}_escalated"
            ids = ", ".join(e.clause_id for e in escalations)
            self.catalog.add_custom(CustomProperty(
                flags["escalate"], t("prop_escalated", **label_values), "bool",
                t("prop_escalated_desc", guard_done=guard_done, clauses=ids),
                options=[("true", t("yes")), ("false", t("no"))], clauses={e.clause_id for e in escalations},
                purpose="sla-lang"))
            for n, e in enumerate(escalations, 1):
                suffix = "" if n == 1 else f"_{n}"
                timers.append(Timer("escalate", e.after, e.clause_id, f"sla_{token}_{guard}_escalate{suffix}_at", e, n))
        if probe:
            contacted = f"sla_{token}_{guard}_responded_at"
            kinds = t.join([t(f"activity_{k}") for k in deadline.meets], "or")
            self.catalog.add_custom(CustomProperty(
                contacted, t("prop_responded", stage=stage.label, kinds=kinds), "datetime",
                t("prop_responded_desc", kinds=kinds, clauses=deadline.clause_id),
                clauses={tm.clause for tm in timers}, purpose="sla-lang"))
            self._probes[deadline.clause_id] = None
        if touch:
            for c in {tm.clause for tm in timers}:
                if not probe:
                    self.catalog.need_existing(LAST_CONTACTED, c)
                self.catalog.use(ENTERED_AT, c)
        data = self.code_data(stage, timers)
        exact = data is not None
        lanes = self.lanes(stage, timers, exact)
        for number, lane in enumerate(lanes):
            clauses = list(dict.fromkeys(tm.clause for tm in lane))
            main = clauses[0]
            stem = f"{stage.id}.{guard}"
            if number:
                stem += ".business" if lane[0].duration.business else ".clock"
            file = f"workflows/{stem}.json"
            breach = next((tm for tm in timers if tm.kind == "breach"), None)
            # the number follows the clause ID, which begins the name: names cut at HubSpot's
            # length limit stay distinct
            shown = f"{main} ({number + 1})" if number else main
            if deadline is not None:
                name = t("flow_monitor", clause=shown, stage=stage.label, guard=guard_word,
                         within=t.duration(deadline.within))
            else:
                name = t("flow_monitor_stage", clause=shown, stage=stage.label)
            flow = Flow(name, "", list_enrollment(or_branch([self.in_stage(stage)]),
                                                  reenroll=[property_changed(SLA_STAGE, stage.id)],
                                                  leave_when_unmatched=True), clauses, "monitor")
            self.catalog.need_existing(OWNER, main)
            for kind in ("slo", "breach", "escalate"):
                if kind in flags and any(tm.kind == kind for tm in lane):
                    flow.set_property(flags[kind], "false")
            if choice is not None:
                self._choose_channel(flow, *choice)
            checks: list[str] = []
            if exact:
                what = {"slo": "what_slo", "breach": "what_due", "escalate": "what_escalate"}
                # an escalation in a workflow of its own compares its moment with the deadline's
                computed = lane + ([breach] if touch and breach is not None and breach not in lane else [])
                for tm in computed:
                    if not _zero(tm.duration):
                        self.moment_property(tm.prop, stage, t(what[tm.kind], guard=guard_word, n=tm.index), tm.clause)
                decided = self.add_code(flow, file, stage, data, computed)
                flow.tail = [(decided, "static:0"), (decided, "static:1")]
                self._checkpoints(flow, file, stage, guard, lane, flags, exact=True, touch=touch, breach=breach,
                                  checks=checks, contacted=contacted, probe=probe)
                flow.tail = [(decided, "default")]
                self._checkpoints(flow, file, stage, guard, lane, flags, exact=False, touch=touch, breach=breach,
                                  checks=[], contacted=contacted, probe=probe)
            else:
                for tm in lane:
                    self.report_conservative(tm, stage, flow, file)
                self._checkpoints(flow, file, stage, guard, lane, flags, exact=False, touch=touch, breach=breach,
                                  checks=checks, contacted=contacted, probe=probe)
            for tm in lane:
                self.record_timer(tm, stage, file, exact)
            notes = [t("desc_monitor", stage=stage.label, checks="; ".join(checks) if t.lang != "ja" else "、".join(checks))]
            if choice is not None:
                notes.append(t("desc_responded_via_when"))
            elif probe:
                notes.append(t("desc_responded_via", kinds=t.join([t(f"activity_{k}") for k in deadline.meets], "or")))
            elif touch:
                notes.append(t("desc_responded"))
            notes.append(t("desc_exact" if exact else "desc_conservative"))
            flow.description = self.flow_description(self.join(notes))
            self.add_flow(stem, flow)

    def _checkpoints(self, flow: Flow, file: str, stage: ir.Stage, guard: str, lane: list[Timer],
                     flags: dict[str, str], *, exact: bool, touch: bool, breach: Timer | None,
                     checks: list[str], contacted: str = LAST_CONTACTED, probe: bool = False) -> None:
        t = self.t
        guard_word = t(f"guard_{guard}")
        guard_done = self._guard_done(guard, touch, breach.item if probe and breach is not None else None)
        groups: list[tuple[tuple, list[Timer]]] = []  # timers falling at the same moment
        for tm in lane:
            if exact:
                key = (tm.duration.business,
                       self.working_minutes(tm.duration, stage) if tm.duration.business else tm.duration.minutes)
            else:
                key = (self.conservative(tm, stage)[0],)
            if groups and groups[-1][0] == key:
                groups[-1][1].append(tm)
            else:
                groups.append((key, [tm]))
        elapsed = 0
        decided = False  # the breach checkpoint of this lane has passed
        in_lane = breach is not None and breach in lane
        for _, group in groups:
            elapsed = self.wait(flow, group[0], stage, elapsed, exact)
            kinds = {tm.kind for tm in group}
            if not touch:
                left = or_branch([[enum_filter(SLA_STAGE, [stage.id], negated=True)]])
                check = flow.branch([(t("branch_left"), left)], t("branch_still_here", stage=stage.label))
                flow.tail = [(check, "default")]
            elif decided:
                pass  # after the deadline: it was breached, or the flow would have ended
            elif in_lane or "escalate" not in kinds:
                branches = []
                if exact:
                    branches.append((t("branch_late"), after_property_filter(contacted, group[0].prop), True))
                self._contact_check(flow, branches, contacted, probe=self._activity_probe(flow, file, contacted, breach.item)
                                    if probe else None)
            else:
                # an escalation in a workflow of its own: the deadline's verdict is the breach flag
                # (set by the deadline's workflow); before the deadline, it is a contact so far
                branches = [(t("branch_breached"), bool_filter(flags["breach"], True), True)]
                if exact:
                    branches.append((t("branch_met_before"), before_property_filter(breach.prop, group[0].prop), False))
                    branches.append((t("branch_late"), after_property_filter(contacted, group[0].prop), True))
                self._contact_check(flow, branches, contacted, probe=self._activity_probe(flow, file, contacted, breach.item)
                                    if probe else None)
            for tm in group:
                after = t.duration(tm.duration)
                item = tm.item
                if tm.kind == "slo":
                    flow.set_property(flags["slo"], "true")
                    self._deadline_notice(flow, file, item, t("slo_subject", stage=stage.label),
                                          t("slo_body", target=after, guard=guard_word, within=t.duration(item.within),
                                            clause=item.clause_id), in_app=True)
                    checks.append(t("desc_check_slo", after=after, guard_done=guard_done))
                elif tm.kind == "breach":
                    flow.set_property(flags["breach"], "true")
                    self._deadline_notice(flow, file, item, t("breach_subject", stage=stage.label),
                                          _html(t("breach_body", guard=guard_word, within=after, guard_done=guard_done,
                                                  clause=item.clause_id)))
                    checks.append(t("desc_check_breach", after=after, guard_done=guard_done))
                    decided = True
                else:
                    self._escalate(flow, file, stage, item, flags["escalate"], guard_word)
                    checks.append(t("desc_check_escalate", after=after, guard_done=guard_done,
                                    team=self.team_label(item.to)))

    def slack_post(self, flow: Flow, file: str, channel: str, text: str, clause: str) -> None:
        """Post `text` to Slack `channel` from the workflow: custom code calling the channel's
        incoming webhook, whose URL a person stores as a custom code secret (one per channel: a
        webhook posts to the channel it was made for). The secret is a manual step, as the
        token is (SLA838), and the manifest's `portal.slackWebhooks` names it per channel."""
        secret = customcode.slack_secret(channel)
        if self._slack.get(secret, channel) != channel:
            secret = customcode.slack_secret(channel, distinct=True)
        flow.custom_code(customcode.slack_source(channel, secret, text, about=clause),
                         runtime=customcode.RUNTIME, inputs=[], secrets=[secret], output=customcode.OUTPUT,
                         options=[customcode.SENT, customcode.FAILED])
        self._code_flows[file] = None
        key = ("slack-webhook", secret)
        if key in self._steps:
            self._steps[key].clauses.append(clause)
            return
        self._slack[secret] = channel
        self._steps[key] = self.report(
            CUSTOM_CODE,
            Message("Slack {channel} is posted to by custom code through an incoming webhook: the portal needs the "
                    "secret {secret}", channel=channel, secret=secret),
            self._slack_span(clause),
            help=Message("create a Slack incoming webhook for {channel} and store its URL as the custom code secret "
                         "{secret}", channel=channel, secret=secret),
            step=self.t("manual_slack_webhook", channel=channel, secret=secret), clauses=[clause],
        )

    def _slack_span(self, clause: str) -> Span:
        for stage in self.policy.stages:
            for escalation in stage.escalations:
                if escalation.clause_id == clause:
                    for channel in escalation.channels:
                        if channel.kind == "slack":
                            return channel.span
            if stage.handoff is not None and stage.handoff.clause_id == clause:
                for channel in stage.handoff.channels:
                    if channel.kind == "slack":
                        return channel.span
        return _agreement_point(self.policy)

    def channel_choice(self, stage: ir.Stage, deadline: ir.Deadline) -> tuple[str, list] | None:
        """For `respond … via CHANNELS when C, …, CHANNELS otherwise` with custom code: the property
        that holds the channel chosen at entry (`sla_<stage>_respond_channel`: "1", "2", …, or
        "otherwise") and, per branch, (value, filter groups, kinds). None when custom code is off or
        a condition has no HubSpot filter: then the manual step stays (targets/hubspot/obligations.py)."""
        if not self.settings.custom_code:
            return None
        if deadline.clause_id in self._choices:
            return self._choices[deadline.clause_id]
        branches = []
        try:
            for n, option in enumerate(deadline.via_when, 1):
                kinds = tuple(dict.fromkeys(c.kind for c in option.channels if c.kind in ir.ACTIVITY_KINDS))
                branches.append((str(n), self.filters.groups(option.condition), kinds or ir.ACTIVITY_KINDS))
        except FilterError:
            self._choices[deadline.clause_id] = None
            return None
        for option in deadline.via_when:
            self.register_reads(ir.condition_refs(option.condition), deadline.clause_id)
        branches.append(("otherwise", [], tuple(deadline.meets)))
        t = self.t
        prop = f"sla_{self.stage_token(stage)}_respond_channel"
        self.catalog.add_custom(CustomProperty(
            prop, t("prop_channel", stage=stage.label), "enumeration",
            t("prop_channel_desc", clauses=deadline.clause_id),
            options=[(value, t.join([t(f"activity_{k}") for k in kinds], "or")) for value, _, kinds in branches],
            clauses={deadline.clause_id}, purpose="sla-lang"))
        self._choices[deadline.clause_id] = (prop, branches)
        self.enforced.add(deadline.clause_id)
        return self._choices[deadline.clause_id]

    def _choose_channel(self, flow: Flow, prop: str, branches: list) -> None:
        """The channel chosen from the lead's data as the workflow starts (it enrols as the lead
        enters the stage): the first branch whose condition holds, else `otherwise`."""
        t = self.t
        conditional = [b for b in branches if b[0] != "otherwise"]
        check = flow.branch([(t("branch_channel", kinds=t.join([t(f"activity_{k}") for k in kinds], "or")),
                              or_branch(groups)) for _, groups, kinds in conditional], t("branch_channel_otherwise"))
        ends = []
        for n, (value, _, _) in enumerate(conditional):
            flow.tail = [(check, f"branch:{n}")]
            flow.set_property(prop, value)
            ends += flow.tail
        flow.tail = [(check, "default")]
        flow.set_property(prop, "otherwise")
        flow.tail = ends + flow.tail

    def _guard_done(self, guard: str, touch: bool, deadline: ir.Deadline | None) -> str:
        """What meets the guard, in words: "a call" for a `respond … via call` the checks judge on
        calls (custom code), else what HubSpot's "Last contacted" counts."""
        t = self.t
        if touch and deadline is not None and deadline.via_when and self.channel_choice(
                self.policy.stage_by_id[deadline.stage], deadline) is not None:
            return t("guard_done_via_when")
        if (touch and deadline is not None and deadline.via and not deadline.via_when and self.settings.custom_code
                and len(deadline.meets) < len(ir.ACTIVITY_KINDS)):
            return t("guard_done_via", kinds=t.join([t(f"activity_{k}") for k in deadline.meets], "or"))
        return t(f"guard_done_{guard if touch or guard != 'respond' else 'stage'}")

    def _contact_check(self, flow: Flow, branches: list[tuple[str, dict, bool]], contacted: str = LAST_CONTACTED,
                       *, probe: dict | None = None) -> None:
        """An if/then branch on "contacted since the lead entered the stage": `branches` first
        (name, filter, whether the check fails there), then a contact before the entry (not
        one), then any contact (one: done in time), else none. A contact at the very moment of
        entry counts, as in the agreement: hence "not before" rather than "after". `contacted`
        is the moment of the contact (HubSpot's "Last contacted", or the first activity of the
        required kinds that `probe`, the branch after the custom code reading them, wrote); when
        the code could not read them, the check fails: never "met" on a response not seen."""
        t = self.t
        before = t("branch_before_entry_via" if probe is not None else "branch_before_entry")
        branches = branches + [(before, before_property_filter(contacted, ENTERED_AT), True),
                               (t("branch_met"), known_filter(contacted), False)]
        check = flow.branch([(name, or_branch([[test]])) for name, test, _ in branches], t("branch_not_met"))
        flow.tail = [(check, "default")] + [(check, f"branch:{n}") for n, (_, _, fails) in enumerate(branches) if fails]
        if probe is not None:
            flow.tail.append((probe, "default"))

    def _activity_probe(self, flow: Flow, file: str, prop: str, deadline: ir.Deadline) -> dict:
        """Custom code writing the first activity of the kinds that meet the respond `deadline`
        since the stage entry into `prop` (customcode.activity_source), and the branch on its
        result: found or none go on to the check, a failure fails it."""
        choice = self._choices.get(deadline.clause_id)
        choices = tuple((value, kinds) for value, _, kinds in choice[1]) if choice else ()
        inputs = [(customcode.ENTERED_INPUT, ENTERED_AT)] + ([(customcode.CHANNEL_INPUT, choice[0])] if choice else [])
        code = flow.custom_code(
            customcode.activity_source(tuple(deadline.meets), prop, about=deadline.clause_id, choices=choices),
            runtime=customcode.RUNTIME, inputs=inputs, secrets=[customcode.SECRET],
            output=customcode.OUTPUT, options=[customcode.FOUND, customcode.NONE_FOUND, customcode.FAILED])
        self._code_flows[file] = None
        branch = flow.static_branch({"type": "FIELD_DATA", "actionId": code["actionId"], "dataKey": customcode.OUTPUT},
                                    [customcode.FOUND, customcode.NONE_FOUND], self.t("branch_activity_failed"))
        flow.tail = [(branch, "static:0"), (branch, "static:1")]
        return branch

    def _deadline_notice(self, flow: Flow, file: str, deadline: ir.Deadline, subject: str, body: str, *,
                         in_app: bool = False) -> None:
        """Tell whoever owns the deadline: the contact owner, or the team `owner TEAM` names."""
        if deadline.owner is None:
            flow.notify(subject, body, CONTACT_OWNER, in_app=in_app)
            return
        recipients = self.team_recipients(deadline.owner, deadline.clause_id, deadline.span,
                                          what=Message("the deadline notice of"), flow=flow, file=file)
        if isinstance(recipients, Recipients):
            flow.notify(subject, body, recipients, in_app=in_app)

    def _escalate(self, flow: Flow, file: str, stage: ir.Stage, escalation: ir.Escalation, flag: str,
                  guard_word: str, body: str | None = None) -> None:
        """Flag the escalation and tell the escalation team (not the contact owner, who missed
        the deadline) by each channel. `body`: the message, when the time does not count from
        entering the stage (a step of a sequence)."""
        t = self.t
        team = self.team_label(escalation.to)
        flow.set_property(flag, "true")
        subject = t("escalate_subject", team=team, stage=stage.label)
        body = body or t("escalate_body", guard=guard_word, after=t.duration(escalation.after), stage=stage.label,
                         team=team, clause=escalation.clause_id)
        channels = escalation.channels or (ir.Channel("email", None, escalation.span),)
        for channel in channels:
            kind = channel.kind
            if kind == "webhook":
                flow.webhook(channel.target or "")
            elif kind in ("email", "in_app"):
                recipients = self.team_recipients(escalation.to, escalation.clause_id, escalation.to.span,
                                                  what=Message("escalation"), flow=flow, file=file)
                if isinstance(recipients, Recipients):
                    flow.notify(subject, _html(body) if kind == "email" else body, recipients, in_app=kind == "in_app")
            elif kind in ("task", "call"):
                user = self.team_recipients(escalation.to, escalation.clause_id, escalation.to.span,
                                            what=Message("escalation task"), flow=flow, file=file, task=True)
                if isinstance(user, str):
                    flow.task(subject, _html(body), task_type="CALL" if kind == "call" else "TODO",
                              due=self.due_for(None, stage), user_id=user)
            elif kind == "slack" and self.settings.custom_code:
                # the body: the subject's personalisation tokens are not rendered in custom code
                self.slack_post(flow, file, channel.target or "", body, escalation.clause_id)
            elif kind == "slack":
                key = ("slack", escalation.clause_id, channel.target)
                if key not in self._steps:
                    after = flow.last_action_id
                    self._steps[key] = self.report(
                        SLACK_MANUAL,
                        Message('escalation `{clause_id}`: Slack {target} cannot be reached from a workflow created '
                                'through the API', clause_id=escalation.clause_id, target=channel.target),
                        channel.span,
                        help=Message('use `webhook "https://hooks.slack.com/triggers/…"` (a Slack Workflow Builder '
                                     'trigger) for a workflow that posts by itself'),
                        step=t("manual_team_slack", channel=channel.target or "", team=team, flow=flow.name,
                               action=after),
                        clauses=[escalation.clause_id], workflow=file, action_id=after,
                    )
            else:
                key = ("channel", escalation.clause_id, kind)
                if key not in self._steps:
                    after = flow.last_action_id
                    self._steps[key] = self.report(
                        CHANNEL_NOT_SUPPORTED,
                        Message('escalation `{clause_id}` by {kind}: HubSpot workflows have no action for it',
                                clause_id=escalation.clause_id, kind=kind),
                        channel.span, help=Message('use email, in_app, task or webhook'),
                        step=t("manual_channel", who=team, channel=t.channel(channel), flow=flow.name, action=after),
                        clauses=[escalation.clause_id], workflow=file, action_id=after,
                    )

    # ------------------------------------------------------------------ follow-up cadence
    def follow_up_flow(self, stage: ir.Stage) -> None:
        follow_up = stage.follow_up
        if follow_up is None or not follow_up.offsets:
            return
        t = self.t
        clause = follow_up.clause_id
        token = self.stage_token(stage)
        total = len(follow_up.offsets)
        channels = [t.channel(c) for c in follow_up.channels]
        kinds = [c.kind for c in follow_up.channels]
        task_type = "CALL" if kinds[:1] == ["call"] else "EMAIL" if kinds[:1] == ["email"] else "TODO"
        attempt = f"sla_{token}_follow_up_attempt"
        self.catalog.add_custom(CustomProperty(
            attempt, t("prop_follow_up", stage=stage.label), "number",
            t("prop_follow_up_desc", total=total, clauses=clause), clauses={clause}, purpose="sla-lang"))
        self.catalog.need_existing(OWNER, clause)
        timers = [Timer("follow_up", offset, clause, f"sla_{token}_follow_up_{n}_at", n, n)
                  for n, offset in enumerate(follow_up.offsets, 1)]
        data = self.code_data(stage, timers)
        exact = data is not None
        channel_text = t.join(channels, "or")
        anchor = ENTERED_AT
        if follow_up.from_first_contact:
            # `from first contact`: enrol at the first call, email or meeting logged in this stay
            # (HubSpot's "Last contacted" not before the stage's start; it only grows, so the lead
            # stays enrolled until it leaves the stage or enters it again) and count from that
            # moment, copied at enrolment. Re-enrolment for a later stay: when "Last contacted"
            # enters that stay while the copied first contact belongs to an earlier one.
            anchor = f"sla_{token}_first_contact_at"
            self.catalog.add_custom(CustomProperty(
                anchor, t("prop_first_contact", stage=stage.label), "datetime",
                t("prop_first_contact_desc", stage=stage.label, clauses=clause), clauses={clause}, purpose="sla-lang"))
            self.catalog.need_existing(LAST_CONTACTED, clause)
            self.catalog.use(ENTERED_AT, clause)
            contacted = not_before(LAST_CONTACTED, ENTERED_AT)
            criteria = {**contacted, "filters": self.in_stage(stage) + contacted["filters"]}
            enrollment = list_enrollment(
                {"filterBranchType": "OR", "filterBranchOperator": "OR", "filterBranches": [criteria], "filters": []},
                reenroll=[{"filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [], "filterBranches": [
                    {**criteria, "filters": criteria["filters"] + [before_property_filter(anchor, ENTERED_AT)]}]}],
                leave_when_unmatched=True)
            self.enforced.add(clause)
        else:
            enrollment = list_enrollment(or_branch([self.in_stage(stage)]),
                                         reenroll=[property_changed(SLA_STAGE, stage.id)], leave_when_unmatched=True)
        for number, lane in enumerate(self.lanes(stage, timers, exact)):
            stem = f"{stage.id}.follow_up" + ("" if not number else ".business" if lane[0].duration.business else ".clock")
            file = f"workflows/{stem}.json"
            flow = Flow(
                t("flow_follow_up", clause=f"{clause} ({number + 1})" if number else clause, stage=stage.label, total=total),
                "", enrollment, [clause], "follow_up",
            )
            if not exact:  # fixed waits: keep the tasks in working hours
                flow.time_windows, flow.blocked_dates = self.schedule(stage)
            if anchor != ENTERED_AT:
                flow.copy_property(anchor, LAST_CONTACTED)

            def steps(exact_path: bool, flow: Flow = flow, lane: list[Timer] = lane, file: str = file) -> None:
                elapsed = 0
                for timer in lane:
                    elapsed = self.wait(flow, timer, stage, elapsed, exact_path)
                    n = timer.item
                    flow.set_property(attempt, str(n))
                    user = None
                    if _sender_deadline(stage) and stage.owner is not None:
                        # the lead may still wait for its hand-off (no owner of the team yet): the
                        # task goes to a user of the team that owns the follow-ups
                        user = self.team_recipients(follow_up.owner or stage.owner, clause, follow_up.span,
                                                    what=Message("follow-up task"), flow=flow, file=file, task=True)
                        if user is None:
                            continue
                    flow.task(t("follow_up_subject", n=n, total=total, channels=channel_text),
                              _html(t("follow_up_body", n=n, total=total, stage=stage.label, clause=clause)),
                              task_type=task_type, due=self.due_for(None, stage), user_id=user)

            if exact:
                for timer in lane:
                    if not _zero(timer.duration):
                        self.moment_property(timer.prop, stage, t("what_follow_up", n=timer.item), clause)
                decided = self.add_code(flow, file, stage, data, lane, anchor, t("since_first_contact"))
                flow.tail = [(decided, "static:0"), (decided, "static:1")]
                steps(True)
                flow.tail = [(decided, "default")]
                steps(False)
            else:
                for timer in lane:
                    self.report_conservative(timer, stage, flow, file)
                steps(False)
            for timer in lane:
                self.record_timer(timer, stage, file, exact)
            offsets = t.join([t.duration(tm.duration) for tm in lane])
            flow.description = self.flow_description(self.join([
                t("desc_follow_up_first" if anchor != ENTERED_AT else "desc_follow_up", total=total,
                  stage=stage.label, offsets=offsets, channels=t.join(channels)),
                t("desc_exact" if exact else "desc_conservative")]))
            self.add_flow(stem, flow)

    # ------------------------------------------------------------------ the portal
    def portal(self) -> None:
        """What the manifest says about the portal: the settings used, each calendar's time zone
        (for `sla deploy` to compare with the account's), and the custom code's requirements."""
        t = self.t
        settings = self.settings
        policy = self.policy
        teams = {}
        for team_id, mapping in settings.teams:
            if team_id not in policy.team_by_id:
                self.out.diagnostics.append(Diagnostic(
                    UNKNOWN_TEAM_MAPPING,
                    Message("`[tool.sla.hubspot.teams.{team}]` names no team or party of this policy; it is not "
                            "used", team=team_id),
                    _agreement_point(policy),
                    help=Message("use the id of a `team` or `party` of the policy: {ids}",
                                 ids=Listing(sorted(policy.team_by_id), limit=len(policy.team_by_id)))
                    if policy.team_by_id else Message("declare the team in the policy"),
                ))
                continue
            teams[team_id] = {"teamId": mapping.team_id, "userIds": list(mapping.user_ids)}
        used = []
        for calendar in policy.calendars:
            zone = calendar.timezone.value if calendar.timezone else "UTC"
            years = calendar_years(policy, calendar)
            written = self.out.window_zones.get(calendar.id)
            used.append({"id": calendar.id, "timezone": zone,
                         "holidaysKnownUntil": f"{years[1] + 1}-01-01" if years else None,
                         "windowsTimezone": written})
            # only execution windows and blocked dates depend on the portal's zone (due moments
            # are instants, task due dates carry the calendar's zone); schedule() rewrote them in
            # the portal's zone when that is exact
            if settings.timezone and written is not None and written != settings.timezone:
                self.report(
                    TIMEZONE_MISMATCH,
                    Message("calendar `{calendar}` is in {zone} but the portal's time zone is {portal}: HubSpot "
                            "runs execution windows and blocked dates in the portal's zone, and the two zones' "
                            "clock changes or the length of the working day keep them from being converted",
                            calendar=calendar.id, zone=zone, portal=settings.timezone),
                    calendar.timezone.span if calendar.timezone else calendar.name_span,
                    help=Message("set the portal's time zone to the calendar's (Settings → Account defaults), or "
                                 "correct `timezone` under [tool.sla.hubspot]"),
                    step=t("manual_timezone", calendar=calendar.label, zone=zone, portal=settings.timezone),
                    clauses=[calendar.clause_id],
                )
        self.out.calendars = used
        self.out.portal = {
            "customCode": settings.custom_code,
            "timezone": settings.timezone,
            "teams": teams,
            "customCodeWorkflows": list(self._code_flows),
        }
        if self._slack:
            self.out.portal["slackWebhooks"] = dict(sorted(self._slack.items()))
        if self._code_flows:
            clauses = sorted({c for flow in self.out.flows if flow.path in self._code_flows for c in flow.clauses})
            self.report(
                CUSTOM_CODE,
                Message("{count} workflows compute due moments with custom code: the portal needs Operations Hub "
                        "Professional and the secret {secret}", count=len(self._code_flows), secret=customcode.SECRET),
                _agreement_point(policy),
                help=Message("without Operations Hub set `custom-code = false` under [tool.sla.hubspot]; the "
                             "workflows then wait fixed times (the manifest gives the error bounds)"),
                step=t("manual_custom_code_read" if self._probes or self._reads_history else "manual_custom_code", secret=customcode.SECRET,
                       count=len(self._code_flows)),
                clauses=clauses,
            )

    # ------------------------------------------------------------------ priorities
    def priority_flow(self) -> None:
        priorities = self.policy.priorities
        if not priorities:
            return
        t = self.t
        clauses = [p.clause_id for p in priorities]
        branches: list[tuple[ir.Priority, dict]] = []
        default: ir.Priority | None = None
        reads: list[str] = []
        for priority in priorities:
            if priority.condition is None:
                default = priority
                break
            try:
                groups = self.filters.groups(priority.condition)
            except FilterError as exc:
                reason = t(exc.reason.key, **dict(exc.reason.values))
                self.report(
                    CONDITION_NOT_EXPRESSIBLE,
                    Message('priority `{priority}` cannot become a HubSpot filter; no priority workflow is generated', priority=priority.id),
                    priority.condition.span, help=Message('rewrite the condition with properties, events and whole scores'),
                    step=t("manual_priority_condition", reason=reason), clauses=clauses,
                )
                return
            branches.append((priority, or_branch(groups)))
            for name in self.filters.properties_read(priority.condition):
                if name not in reads:
                    reads.append(name)
            self.register_reads(ir.condition_refs(priority.condition), priority.clause_id)
        self.catalog.add_custom(CustomProperty(
            PRIORITY, t("prop_priority"), "enumeration", t("prop_priority_desc", clauses=self.clause_list(clauses)),
            options=[(p.id, _label(p.label, p.id)) for p in priorities], clauses=set(clauses), purpose="sla-lang"))
        if self.policy.stages:
            self.catalog.use(SLA_STAGE, *clauses)
            everyone = known_filter(SLA_STAGE)  # every contact in the agreement
        else:
            everyone = known_filter(self.catalog.need_existing("createdate", clauses[0]))
        rules = [f"{p.label} ({ir.condition_source(p.condition)})" for p, _ in branches]
        if default is not None:
            rules.append(f"{default.label} ({t('branch_other')})")
        flow = Flow(
            t("flow_priority"),
            self.flow_description(t("desc_priority", rules="; ".join(rules) if t.lang != "ja" else "、".join(rules))),
            list_enrollment(or_branch([[everyone]]),
                            reenroll=[property_changed(SLA_STAGE)] * bool(self.policy.stages)
                            + [property_changed(p) for p in reads],
                            leave_when_unmatched=False),
            clauses, "priority",
        )
        if not branches:  # only a catch-all priority: every lead gets it
            flow.set_property(PRIORITY, default.id)
            self.add_flow("priority", flow)
            return
        check = flow.branch([(_label(p.label, p.id), tree) for p, tree in branches],
                            _label(default.label, default.id) if default else t("branch_other"))
        for index, (priority, _) in enumerate(branches):
            flow.tail = [(check, f"branch:{index}")]
            flow.set_property(PRIORITY, priority.id)
        if default is not None:
            flow.tail = [(check, "default")]
            flow.set_property(PRIORITY, default.id)
        flow.tail = []
        self.add_flow("priority", flow)

    # ------------------------------------------------------------------ scoring
    def scoring(self) -> None:
        t = self.t
        scores = []
        for score in self.policy.scores:
            name = self.catalog.score_name(score)
            groups = []
            for group in score.groups:
                rules = []
                for rule in group.rules:
                    refs = []
                    for ref in ir.condition_refs(rule.condition):
                        resolved = self.catalog.resolve(ref)
                        refs.append({"name": ref.text, "hubspotProperty": resolved.property if resolved else None})
                    rules.append({
                        "clause": rule.clause_id,
                        "points": rule.points,
                        "label": rule.label,
                        "criteria": ir.condition_source(rule.condition),
                        "reads": refs,
                        # points for each occurrence: HubSpot's scoring tool takes a per-occurrence
                        # criterion with a limit of points
                        **({"perOccurrenceOf": rule.per.name} if rule.per is not None else {}),
                        **({"maxPoints": rule.cap.value} if rule.cap is not None else {}),
                    })
                groups.append({
                    "group": group.id,
                    "label": group.label,
                    "clause": group.clause_id,
                    "maxPoints": group.cap.value if group.cap else None,
                    "rules": rules,
                })
            scores.append({
                "score": score.id,
                "label": score.label,
                "clause": score.clause_id,
                "hubspotProperty": name,
                "propertyMappedInPolicy": score.hubspot is not None,
                "groups": groups,
            })
            self.report(
                SCORING_MANUAL,
                Message("score `{score}`: HubSpot's public API cannot write score rules; enter them from scoring.json", score=score.id),
                score.name_span, help=Message("set the score up in HubSpot's lead scoring tool"),
                step=t("manual_scoring", score=score.label, property=name),
                clauses=[score.clause_id] + [g.clause_id for g in score.groups]
                + [r.clause_id for g in score.groups for r in g.rules],
            )
        self.out.scoring = {
            "format": "sla-lang-hubspot-scoring/1",
            "note": "HubSpot's public API cannot create or change score rules. Enter each group and rule "
            "below in HubSpot's lead scoring tool (groups with maxPoints cap their points); the "
            "workflows read the score from hubspotProperty.",
            "scores": scores,
        }

    # ------------------------------------------------------------------ not automation
    def outside_crm(self) -> None:
        t = self.t
        policy = self.policy
        agreement = policy.agreement
        if agreement is not None and policy.parties:
            parties = t.join([p.label for p in policy.parties])
            self.report(
                OUTSIDE_CRM, Message("the agreement's signatures are not kept in HubSpot"), 
                Span.point(agreement.span.path, agreement.span.line, agreement.span.column),
                help=Message('sign the agreement document with `sla sign`'),
                step=t("manual_signature", parties=parties), clauses=[agreement.clause_id],
            )
        for review in policy.reviews:
            attendees = t.join([self.team_label(a) for a in review.attendees])
            cadence = t.cadence(review.cadence) if review.cadence else "?"
            self.report(
                OUTSIDE_CRM, Message('review `{review}` is a meeting, not a workflow', review=review.id), review.name_span,
                help=Message('schedule it; HubSpot workflows cannot hold meetings'),
                step=t("manual_review", review=review.label, cadence=cadence,
                       attendees=(f": {attendees}" if t.lang != "ja" else f"(出席:{attendees})") if review.attendees else ""),
                clauses=[review.clause_id],
            )
        for kpi in policy.kpis:
            target = ""
            if kpi.target is not None:
                value = ir.value_source(kpi.target.value)
                target = f" (target {kpi.target.op} {value})" if t.lang != "ja" else f"(目標 {kpi.target.op} {value})"
            elif kpi.target_pending:
                target = " (target to be agreed)" if t.lang != "ja" else "(目標は別途合意)"
            if kpi.source is not None:  # the report the parties agreed to read it from
                target += f" from “{kpi.source.value}”" if t.lang != "ja" else f"(測定方法:{kpi.source.value})"
            self.report(
                OUTSIDE_CRM, Message('KPI `{kpi}` is a report, not a workflow', kpi=kpi.id), kpi.name_span,
                help=Message('build it as a HubSpot report or dashboard'),
                step=t("manual_kpi", kpi=kpi.label, target=target), clauses=[kpi.clause_id],
            )
        for info in policy.information:
            for item in info.items:
                if item.recorded_in is not None:
                    prop = policy.property_by_id.get(item.recorded_in.name)
                    if prop is not None:
                        self.catalog.claim_property(prop, item.clause_id)
                if item.anchor is not None or item.every is not None:
                    continue  # reported by obligations.py
                if item.within is None:
                    if item.recorded_in is None:
                        self.out.document_only.append(item.clause_id)
                    continue
                self.report(
                    OUTSIDE_CRM, Message('information `{clause_id}` within {within} is kept by people', clause_id=item.clause_id, within=item.within.text),
                    item.span, help=Message('track it in the review meeting'),
                    step=t("manual_information", text=item.text, sender=self.team_label(info.sender),
                           receiver=self.team_label(info.receiver), within=t.duration(item.within)),
                    clauses=[item.clause_id],
                )
        if agreement is not None:  # the term and the amendment procedure are the document's alone
            self.out.document_only += [part.clause_id for part in (agreement.term, agreement.amendment) if part]
        self.out.document_only += [p.clause_id for p in policy.parties]
        self.out.document_only += [r.clause_id for r in policy.responsibilities]
        self.out.document_only += [c.clause_id for c in policy.cancellations]


def _with_default(date_filter: dict, default: str) -> dict:
    """A COMPARATIVE_DATE filter that compares with `default` when the other property has no
    value (`defaultComparisonValue`, PublicComparativeDatePropertyOperation)."""
    return {**date_filter, "operation": {**date_filter["operation"], "defaultComparisonValue": default}}


def _sender_deadline(stage: ir.Stage) -> bool:
    """`handoff from X within D`: the lead waits for a person to take it over, so entering the
    stage gives it to nobody yet (the hand-off monitor gives it to the team at the deadline)."""
    return stage.handoff is not None and stage.handoff.within is not None


def _zero(duration: ir.Duration) -> bool:
    return duration.amount == 0 if duration.business else not duration.minutes


def _label(label: str | None, fallback: str) -> str:
    """HubSpot wants non-empty labels; an empty one in the policy falls back to the id. Policy
    text is neutralised for HubL (texts.py)."""
    return neutral(label.strip()) if label and label.strip() else fallback


def _hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _plain(minutes: int) -> str:
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return " ".join(p for p in parts if p) or "0m"


def _html(*paragraphs: str) -> str:
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p)


def _agreement_point(policy: ir.Policy) -> Span:
    span = policy.agreement.span if policy.agreement else Span.point(policy.path)
    return Span.point(span.path, span.line, span.column)
