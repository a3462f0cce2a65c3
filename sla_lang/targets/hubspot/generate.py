"""The policy → HubSpot objects: workflows, properties, scoring notes, manual steps.

What each kind of clause becomes (README, "The HubSpot target", says the same for users):

- entry stage        → workflow `<stage>.entry`: new contacts at the stage's lifecycle stage get
                       the SLA stage (`sla_stage`) and its start time.
- transition         → workflow `<clause>`: LIST_BASED enrolment on "in the source stage and the
                       condition holds" (after a delay for `after`), then: a task if a `record`ed
                       property is missing, the lifecycle stage (cleared first when it moves
                       back), `sla_stage`, the start time; for a recycle path also: clear the
                       owner, record date and origin, clear the sales judgements; then the
                       target stage's hand-off (notification, task, webhook).
- deadline/escalation→ workflow `<stage>.<respond|decide|stage>`: delay to each checkpoint (SLO
                       first), if/then "done in time?", else warn / mark breached / escalate.
- follow-up cadence  → workflow `<stage>.follow_up`: a task at each offset.
- priorities         → workflow `priority`: if/then branches in priority order.
- scores             → scoring.json (the API cannot write score rules) + manual step.
- everything a workflow cannot do → a manual step in the manifest *and* a diagnostic.
"""

from __future__ import annotations

import copy
import html
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath

from ... import ir
from ...businesstime import BusinessCalendar, span_bounds
from ...diagnostics import Diagnostic, Rule, Message
from ...irjson import fingerprint
from ...source import Span
from .catalog import (
    LAST_CONTACTED,
    LIFECYCLE,
    LIFECYCLE_ORDER,
    OWNER,
    Catalog,
    CustomProperty,
    token_for,
)
from .filters import (
    FilterError,
    FilterTranslator,
    after_property_filter,
    enum_filter,
    known_filter,
    or_branch,
    property_changed,
)
from .flows import DAYS, MONTHS, Flow, due_in, list_enrollment
from .obligations import report_manual_obligations
from .rules import (
    BACKFILL,
    BLOCKED_DATES_EXPIRE,
    BUSINESS_TIME,
    CHANNEL_NOT_SUPPORTED,
    CONDITION_NOT_EXPRESSIBLE,
    ENTRY_AMBIGUOUS,
    EVENT_WITHOUT_PROPERTY,
    NAME_NOT_USABLE,
    OUTSIDE_CRM,
    SCORE_PROPERTY_MISSING,
    SCORING_MANUAL,
    SLACK_MANUAL,
    STAGE_WITHOUT_LIFECYCLE,
    TIME_WINDOW_SIMPLIFIED,
    USERS_NEEDED,
)
from .texts import Texts

SLA_STAGE = "sla_stage"
ENTERED_AT = "sla_stage_entered_at"
RECYCLED_AT = "sla_recycled_at"
RECYCLED_FROM = "sla_recycled_from"
PRIORITY = "sla_priority"
GUARDS = ("respond", "decide", "stage")
_WEEKDAY = {name: i for i, name in enumerate(ir.WEEKDAYS)}


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
class Output:
    flows: list[tuple[str, Flow]] = field(default_factory=list)  # (file, flow)
    properties: list[CustomProperty] = field(default_factory=list)
    existing: dict[str, list[str]] = field(default_factory=dict)
    scoring: dict = field(default_factory=dict)
    manual: list[ManualStep] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    stages: list[dict] = field(default_factory=list)
    document_only: list[str] = field(default_factory=list)
    group_label: str = ""


class Generator:
    def __init__(self, policy: ir.Policy, lang: str) -> None:
        self.policy = policy
        self.t = Texts(lang)
        self.catalog = Catalog(policy)
        self.filters = FilterTranslator(self.catalog)
        self.out = Output()
        self.file = PurePosixPath(policy.path.replace("\\", "/")).name
        self.fingerprint = fingerprint(policy)
        self._calendars: dict[str, tuple[list[dict], list[dict]]] = {}
        self._steps: dict[tuple[str, str], ManualStep] = {}  # reported once, extended by later uses
        self._stage_tokens: dict[str, str] = {}

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

    # ------------------------------------------------------------------ the run
    def run(self) -> Output:
        self.core_properties()
        self.policy_properties()
        self.entry_flows()
        for stage in self.policy.stages:
            for transition in stage.transitions:
                self.transition_flow(stage, transition)
            self.monitor_flows(stage)
            self.follow_up_flow(stage)
            if stage.hubspot is None:
                self.out.diagnostics.append(Diagnostic(
                    STAGE_WITHOUT_LIFECYCLE,
                    Message('stage `{stage}` has no HubSpot lifecycle stage; only `{SLA_STAGE}` records it', stage=stage.id, SLA_STAGE=SLA_STAGE),
                    stage.name_span,
                    help=Message("add `hubspot lead` (or another lifecycle stage) to also set HubSpot's lifecycle stage"),
                ))
        self.priority_flow()
        self.scoring()
        report_manual_obligations(self)
        self.outside_crm()
        self.finish_descriptions()
        self.out.properties = list(self.catalog.custom.values())
        self.out.existing = {name: sorted(why) for name, why in sorted(self.catalog.existing.items())}
        self.out.diagnostics.extend(self.catalog.diagnostics)
        self.out.group_label = self.t("group_label")
        self.out.stages = [
            {"id": s.id, "label": s.label, "slaStage": s.id, "lifecycleStage": self.lifecycle(s)}
            for s in self.policy.stages
        ]
        return self.out

    # ------------------------------------------------------------------ properties
    def core_properties(self) -> None:
        t = self.t
        stages = self.policy.stages
        if not stages:
            return
        all_stage_clauses = {s.clause_id for s in stages}
        self.catalog.add_custom(CustomProperty(
            SLA_STAGE, t("prop_stage"), "enumeration",
            t("prop_stage_desc", clauses=", ".join(s.clause_id for s in stages)),
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
                                          clauses=", ".join(sorted(prop.clauses)) or self.t("none"))

    def register_reads(self, refs: list[ir.Ref], clause: str) -> None:
        """Make sure every property a workflow reads exists, or is created, or is reported."""
        policy = self.policy
        for ref in refs:
            if ref.name in policy.property_by_id:
                prop = policy.property_by_id[ref.name]
                name = self.catalog.property_name(prop)
                if prop.hubspot:
                    self.catalog.need_existing(name, clause)
                else:
                    self.catalog.use(name, clause)
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
    def wait_minutes(self, duration: ir.Duration, stage: ir.Stage, flow: Flow, file: str, clause: str) -> int:
        """Wall-clock minutes to wait for `duration`; business time is approximated (reported)."""
        if not duration.business:
            return duration.minutes or 0
        calendar = self.calendar(stage)
        bounds = span_bounds(duration, BusinessCalendar(calendar)) if calendar else None
        t = self.t
        if bounds is None:
            per = 60 if duration.unit == "bh" else 1440
            minutes = duration.amount * per
            message = (Message("`{duration}` is business time but calendar `{calendar}` has no working time; HubSpot "
                               "waits {wait} of wall-clock time", duration=duration.text, calendar=calendar.id,
                               wait=t.minutes(minutes)) if calendar else
                       Message("`{duration}` is business time but no calendar applies; HubSpot waits {wait} of "
                               "wall-clock time", duration=duration.text, wait=t.minutes(minutes)))
            late = t.minutes(0)
        else:
            shortest, longest = bounds
            minutes = longest
            message = Message("`{duration}` in calendar `{calendar}` lasts {shortest} to {longest} of wall-clock time; "
                              "HubSpot waits {longest}, so this may happen up to {late} late", duration=duration.text,
                              calendar=calendar.id, shortest=_plain(shortest), longest=_plain(longest),
                              late=_plain(longest - shortest))
            late = t.minutes(longest - shortest)
        self.report(
            BUSINESS_TIME, message, duration.span,
            help=Message('HubSpot delays count wall-clock time; use calendar units (h, d) for exact timing'),
            step=t("manual_business_time", flow=flow.name, approx=t.minutes(minutes), duration=t.duration(duration),
                   clause=clause, late=late),
            clauses=[clause], workflow=file,
        )
        return minutes

    def due_for(self, duration: ir.Duration | None, stage: ir.Stage, clause: str, file: str, flow: Flow) -> dict:
        """A task due date for `duration` (None: one working day)."""
        calendar = self.calendar(stage)
        days = tuple(DAYS[_WEEKDAY[d.name]] for d in calendar.days if d.name in _WEEKDAY) if calendar else DAYS
        days = tuple(d for d in DAYS if d in days) or DAYS
        if duration is None:
            return due_in(business_days=1, days=days) if calendar else due_in(1440)
        if duration.unit == "bd":
            return due_in(business_days=duration.amount, days=days)
        if duration.unit == "bh":
            return due_in(self.wait_minutes(duration, stage, flow, file, clause))
        return due_in(duration.minutes)

    def schedule(self, stage: ir.Stage) -> tuple[list[dict], list[dict]]:
        """Execution windows and blocked dates of the stage's calendar (computed once each)."""
        calendar = self.calendar(stage)
        if calendar is None:
            return [], []
        if calendar.id in self._calendars:
            return copy.deepcopy(self._calendars[calendar.id])
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
            windows = [
                {"day": DAYS[day], "startTime": {"hour": start // 60, "minute": start % 60},
                 "endTime": {"hour": end // 60, "minute": end % 60}}
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
        blocked = self._blocked_dates(calendar)
        self._calendars[calendar.id] = (windows, blocked)
        return copy.deepcopy((windows, blocked))

    def _blocked_dates(self, calendar: ir.Calendar) -> list[dict]:
        agreement = self.policy.agreement
        if agreement and agreement.effective:
            first = agreement.effective.value.year
        elif calendar.closed:
            first = min(d.value.year for d in calendar.closed)
        else:
            first = None
        dates = {d.value for d in calendar.closed}
        if first is not None:
            business = BusinessCalendar(calendar)
            for year in (first, first + 1):
                dates |= business.holidays_in(year)
        if calendar.holidays is not None or calendar.closed:
            years = f"{first}–{first + 1}" if first is not None else "?"
            until = f"{first + 2}-01-01" if first is not None else "?"
            span = calendar.holidays.span if calendar.holidays else calendar.closed[0].span
            self.report(
                BLOCKED_DATES_EXPIRE,
                Message('calendar `{calendar}`: HubSpot blocked dates are fixed dates; holidays and closed days are listed for {years}', calendar=calendar.id, years=years),
                span, help=Message('rebuild and update the workflows before {until}', until=until),
                step=self.t("manual_blocked", calendar=calendar.label, date=until, years=years),
                clauses=[calendar.clause_id],
            )
        return [{"dayOfMonth": d.day, "month": MONTHS[d.month - 1], "year": d.year} for d in sorted(dates)]

    # ------------------------------------------------------------------ flows
    def add_flow(self, file: str, flow: Flow) -> None:
        self.out.flows.append((f"workflows/{file}.json", flow))

    def in_stage(self, stage: ir.Stage) -> list[dict]:
        self.catalog.use(SLA_STAGE, stage.clause_id)
        return [enum_filter(SLA_STAGE, [stage.id])]

    def entry_flows(self) -> None:
        t = self.t
        taken: dict[str | None, ir.Stage] = {}
        for stage in self.policy.stages:
            if not stage.is_entry:
                continue
            value = self.lifecycle(stage)
            if value in taken:
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
            taken[value] = stage
            lifecycle_filter = enum_filter(LIFECYCLE, [value]) if value else known_filter(LIFECYCLE, known=False)
            self.catalog.need_existing(LIFECYCLE, stage.clause_id)
            tree = or_branch([[known_filter(SLA_STAGE, known=False), lifecycle_filter]])
            flow = Flow(
                t("flow_entry", clause=stage.clause_id, stage=stage.label),
                self.flow_description(t("desc_entry", lifecycle=value or t("none"), stage=stage.label)),
                list_enrollment(tree, reenroll=[], leave_when_unmatched=False),
                [stage.clause_id], "entry",
            )
            flow.set_property(SLA_STAGE, stage.id)
            flow.set_now(ENTERED_AT)
            if stage.handoff is not None:
                notes = [t("desc_entry", lifecycle=value or t("none"), stage=stage.label)]
                self._handoff(flow, f"workflows/{stage.id}.entry.json", None, stage, notes)
                flow.description = self.flow_description(" ".join(notes) if t.lang != "ja" else "".join(notes))
            self.add_flow(f"{stage.id}.entry", flow)
        if taken:
            span = self.policy.agreement.span if self.policy.agreement else next(iter(taken.values())).span
            self.out.diagnostics.append(Diagnostic(
                BACKFILL,
                Message('contacts already past the entry stages get no SLA stage from the workflows; set it once when the workflows are turned on'),
                Span.point(span.path, span.line, span.column),
                help=Message('bulk-edit or import `sla_stage` for existing contacts'),
            ))
            self.out.manual.append(ManualStep(BACKFILL.code, t("manual_backfill"),
                                              [s.clause_id for s in taken.values()]))

    @cached_property
    def judgement_properties(self) -> tuple[str, ...]:
        """The sales side's decisions: custom properties read only by the transitions out of
        stages where sales decides (see `_sales_side`). Recycling clears them so that a lead
        that qualifies again is judged afresh instead of bouncing straight back. Properties
        anything else reads (scores, priorities, marketing's criteria, hand-off information)
        describe the contact and are kept. The same for every recycle transition."""
        policy = self.policy
        decided: list[str] = []
        elsewhere: set[str] = set()
        for stage in policy.stages:
            for transition in stage.transitions:
                if transition.condition is None:
                    continue
                refs = [r.name for r in ir.condition_refs(transition.condition)]
                if self._sales_side(stage):
                    decided += [r for r in refs if r not in decided]
                else:
                    elsewhere.update(refs)
            if stage.handoff is not None:
                elsewhere.update(n.name for n in stage.handoff.include)
        for score in policy.scores:
            for group in score.groups:
                for rule in group.rules:
                    elsewhere.update(r.name for r in ir.condition_refs(rule.condition))
        for priority in policy.priorities:
            if priority.condition is not None:
                elsewhere.update(r.name for r in ir.condition_refs(priority.condition))
        names = []
        for ref in decided:
            prop = policy.property_by_id.get(ref)
            if prop is None or prop.hubspot or ref in elsewhere:
                continue
            names.append(self.catalog.property_name(prop))
        return tuple(names)

    def _sales_side(self, stage: ir.Stage) -> bool:
        """A stage where sales decides: owned by a team whose role is not marketing (without a
        role: any stage that is not an entry stage), never the recycle pool."""
        if stage.is_recycle:
            return False
        team = self.policy.team_by_id.get(stage.owner.name) if stage.owner else None
        if team is not None and team.role is not None:
            return team.role != "marketing"
        return not stage.is_entry

    def transition_flow(self, stage: ir.Stage, transition: ir.Transition) -> None:
        t = self.t
        target = self.policy.stage_by_id.get(transition.target.name)
        if target is None:
            return
        clause = transition.clause_id
        file = f"workflows/{clause}.json"
        base = self.in_stage(stage)
        if transition.condition is not None:
            try:
                groups = self.filters.groups(transition.condition)
            except FilterError as exc:
                self._unexpressible(transition, stage, target, exc)
                return
            tree = or_branch([base + group for group in groups])
            reads = self.filters.properties_read(transition.condition)
            self.register_reads(ir.condition_refs(transition.condition), clause)
        elif transition.after is not None:
            tree = or_branch([base])
            reads = []
        else:
            self._unexpressible(transition, stage, target, None)
            return
        reenroll = [property_changed(SLA_STAGE, stage.id)] + [property_changed(p) for p in reads]
        if transition.condition is not None and transition.after is not None:
            how = t("desc_when_after", condition=ir.condition_source(transition.condition),
                    after=t.duration(transition.after))
        elif transition.condition is not None:
            how = t("desc_when", condition=ir.condition_source(transition.condition))
        else:
            how = t("desc_after", after=t.duration(transition.after), source=stage.label)
        notes = [t("desc_transition", source=stage.label, target=target.label, how=how)]
        flow = Flow(
            t("flow_transition", clause=clause, source=stage.label, target=target.label), "",
            list_enrollment(tree, reenroll=reenroll, leave_when_unmatched=transition.after is not None),
            [clause], "transition",
        )
        if transition.after is not None:
            flow.delay(self.wait_minutes(transition.after, stage, flow, file, clause))
            check = flow.branch([(t("branch_still_here", stage=stage.label), copy.deepcopy(tree))],
                                t("branch_moved_on"))
            flow.tail = [(check, "branch:0")]
        if transition.record:
            self._record(flow, stage, target, transition)
        source_value, target_value = self.lifecycle(stage), self.lifecycle(target)
        if target_value and target_value != source_value:
            self.catalog.need_existing(LIFECYCLE, clause)
            backwards = source_value is None or LIFECYCLE_ORDER[target_value] < LIFECYCLE_ORDER[source_value]
            if backwards or target.is_recycle:
                flow.clear_property(LIFECYCLE)
                notes.append(t("desc_clear_lifecycle", lifecycle=target_value))
            flow.set_property(LIFECYCLE, target_value)
        self.catalog.use(SLA_STAGE, clause)
        self.catalog.use(ENTERED_AT, clause)
        flow.set_property(SLA_STAGE, target.id)
        flow.set_now(ENTERED_AT)
        if target.is_recycle:
            self._recycle(flow, stage, clause, notes)
        if target.handoff is not None:
            self._handoff(flow, file, stage, target, notes)
        flow.description = self.flow_description(" ".join(notes) if t.lang != "ja" else "".join(notes))
        self.add_flow(clause, flow)

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
            name = self.catalog.property_name(prop)
            if prop.hubspot:
                self.catalog.need_existing(name, transition.clause_id)
            else:
                self.catalog.use(name, transition.clause_id)
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
            task_type="TODO", due=self.due_for(None, stage, transition.clause_id, "", flow),
        )
        self.catalog.need_existing(OWNER, transition.clause_id)
        flow.tail.append((check, "branch:0"))

    @cached_property
    def _recycling(self) -> tuple[str, list[tuple[str, str]]]:
        """The recycle clauses (joined) and the stage options of the recycle properties: the
        same for every recycle transition."""
        recycled_clauses = {tr.clause_id for s in self.policy.stages for tr in s.transitions
                            if (target := self.policy.stage_by_id.get(tr.target.name)) is not None
                            and target.is_recycle}
        return ", ".join(sorted(recycled_clauses)), [(s.id, _label(s.label, s.id)) for s in self.policy.stages]

    def _recycle(self, flow: Flow, stage: ir.Stage, clause: str, notes: list[str]) -> None:
        t = self.t
        self.catalog.need_existing(OWNER, clause)
        flow.clear_property(OWNER)
        joined, stage_options = self._recycling
        self.catalog.add_custom(CustomProperty(
            RECYCLED_AT, t("prop_recycled_at"), "datetime", t("prop_recycled_at_desc", clauses=joined),
            clauses={clause}, purpose="sla-lang"))
        self.catalog.add_custom(CustomProperty(
            RECYCLED_FROM, t("prop_recycled_from"), "enumeration", t("prop_recycled_from_desc", clauses=joined),
            options=stage_options, clauses={clause}, purpose="sla-lang"))
        flow.set_now(RECYCLED_AT)
        flow.set_property(RECYCLED_FROM, stage.id)
        reset = self.judgement_properties
        for name in reset:
            flow.clear_property(name)
            self.catalog.use(name, clause)
        if reset:
            notes.append(t("desc_recycle", reset=", ".join(reset)))
        else:
            notes.append(t("desc_recycle_no_reset"))

    def _handoff(self, flow: Flow, file: str, stage: ir.Stage | None, target: ir.Stage, notes: list[str]) -> None:
        """The hand-off into `target` (from `stage`; None for a contact entering the agreement)."""
        t = self.t
        handoff = target.handoff
        clause = handoff.clause_id
        flow.clauses.append(clause)
        self.catalog.need_existing(OWNER, clause)
        owner = self.team_label(target.owner)
        sender = self.team_label(handoff.sender)
        respond = target.deadline("respond")
        deadline = t("handoff_deadline", within=t.duration(respond.within)) if respond else ""
        if target.owner is not None and (stage is None or stage.owner is None or stage.owner.name != target.owner.name):
            first = str(len(flow.actions) + 1)
            self.report(
                USERS_NEEDED,
                Message('hand-off to `{target}`: HubSpot needs the users of team `{owner}` to assign the lead an owner; notifications and tasks go to the contact owner', target=target.id, owner=target.owner.name),
                handoff.span, help=Message("add an owner rotation among the team's users, as the manual step says"),
                step=t("manual_owner", stage=target.label, team=owner, people="",
                       flow=flow.name, action=first),
                clauses=[clause], workflow=file, action_id=None,
            )
        lines = self._include_lines(handoff, clause)
        channels = []
        for channel in handoff.channels:
            channels.append(t.channel(channel))
            kind = channel.kind
            if kind in ("email", "in_app"):
                body = t("handoff_body", sender=sender, owner=owner, deadline=deadline)
                if kind == "email":
                    flow.notify_owner(t("handoff_subject", stage=target.label), _html(body, *lines))
                else:
                    flow.notify_owner(t("handoff_subject", stage=target.label), "\n".join([body, *lines]),
                                      in_app=True)
            elif kind in ("task", "call"):
                subject = t("handoff_task_subject" if kind == "task" else "handoff_call_subject", stage=target.label)
                flow.task(subject, _html(t("handoff_task_body", sender=sender, deadline=deadline, clause=clause), *lines),
                          task_type="TODO" if kind == "task" else "CALL",
                          due=self.due_for(respond.within if respond else None, target, clause, file, flow))
            elif kind == "webhook":
                flow.webhook(channel.target or "")
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
            lines.append(self.t("include_line", label=label, token="{{ enrolled_object." + resolved.property + " }}"))
        return lines

    # ------------------------------------------------------------------ deadlines
    def monitor_flows(self, stage: ir.Stage) -> None:
        for guard in GUARDS:
            deadline = stage.deadline(guard) if guard != "stage" else None
            escalations = [e for e in stage.escalations if (e.on or "stage") == guard]
            if deadline is None and not escalations:
                continue
            self._monitor(stage, guard, deadline, escalations)

    def _monitor(self, stage: ir.Stage, guard: str, deadline: ir.Deadline | None,
                 escalations: list[ir.Escalation]) -> None:
        t = self.t
        token = self.stage_token(stage)
        guard_word = t(f"guard_{guard}")
        guard_done = t(f"guard_done_{guard}")
        clauses = ([deadline.clause_id] if deadline else []) + [e.clause_id for e in escalations]
        main = clauses[0]
        file = f"workflows/{stage.id}.{guard}.json"
        if deadline is not None:
            name = t("flow_monitor", clause=main, stage=stage.label, guard=guard_word,
                     within=t.duration(deadline.within))
        else:
            name = t("flow_monitor_stage", clause=main, stage=stage.label)
        tree = or_branch([self.in_stage(stage)])
        flow = Flow(name, "", list_enrollment(tree, reenroll=[property_changed(SLA_STAGE, stage.id)],
                                              leave_when_unmatched=True), clauses, "monitor")
        flow.time_windows, flow.blocked_dates = self.schedule(stage)
        flags: dict[str, str] = {}
        label_values = {"stage": stage.label, "guard": guard_word, "guard_done": guard_done}
        if deadline is not None and deadline.target is not None:
            flags["slo"] = f"sla_{token}_{guard}_slo_missed"
            self.catalog.add_custom(CustomProperty(
                flags["slo"], t("prop_slo_missed", **label_values), "bool",
                t("prop_slo_missed_desc", within_target=t.duration(deadline.target), guard_done=guard_done,
                  clauses=deadline.clause_id),
                options=[("true", t("yes")), ("false", t("no"))], clauses={deadline.clause_id}, purpose="sla-lang"))
        if deadline is not None:
            flags["breach"] = f"sla_{token}_{guard}_breached"
            self.catalog.add_custom(CustomProperty(
                flags["breach"], t("prop_breached", **label_values), "bool",
                t("prop_breached_desc", within=t.duration(deadline.within), guard_done=guard_done,
                  clauses=deadline.clause_id),
                options=[("true", t("yes")), ("false", t("no"))], clauses={deadline.clause_id}, purpose="sla-lang"))
        if escalations:
            flags["escalate"] = f"sla_{token}_{guard}_escalated"
            ids = ", ".join(e.clause_id for e in escalations)
            self.catalog.add_custom(CustomProperty(
                flags["escalate"], t("prop_escalated", **label_values), "bool",
                t("prop_escalated_desc", guard_done=guard_done, clauses=ids),
                options=[("true", t("yes")), ("false", t("no"))], clauses={e.clause_id for e in escalations},
                purpose="sla-lang"))
        for flag in flags.values():
            flow.set_property(flag, "false")
        if guard == "respond":
            met = or_branch([[after_property_filter(LAST_CONTACTED, ENTERED_AT)]])
            for c in clauses:
                self.catalog.need_existing(LAST_CONTACTED, c)
                self.catalog.use(ENTERED_AT, c)
        else:
            met = or_branch([[enum_filter(SLA_STAGE, [stage.id], negated=True)]])
        self.catalog.need_existing(OWNER, main)

        checkpoints: list[tuple[int, int, str, object, ir.Duration]] = []
        if deadline is not None:
            if deadline.target is not None:
                checkpoints.append((0, 0, "slo", deadline, deadline.target))
            checkpoints.append((0, 1, "breach", deadline, deadline.within))
        for e in escalations:
            checkpoints.append((0, 2, "escalate", e, e.after))
        # measure each once, in order of appearance, so diagnostics follow the source
        measured = []
        for _, order, kind, item, duration in checkpoints:
            clause = item.clause_id
            measured.append((self.wait_minutes(duration, stage, flow, file, clause), order, kind, item, duration))
        measured.sort(key=lambda c: (c[0], c[1]))
        checks: list[str] = []
        elapsed = 0
        position = 0
        while position < len(measured):
            at = measured[position][0]
            group = [c for c in measured[position:] if c[0] == at]
            position += len(group)
            flow.delay(at - elapsed)
            elapsed = at
            branch = flow.branch([(t("branch_met"), copy.deepcopy(met))], t("branch_not_met"))
            flow.tail = [(branch, "default")]
            for _, _, kind, item, duration in group:
                after = t.duration(duration)
                if kind == "slo":
                    flow.set_property(flags["slo"], "true")
                    flow.notify_owner(t("slo_subject", stage=stage.label),
                                      t("slo_body", target=after, guard=guard_word, within=t.duration(item.within),
                                        clause=item.clause_id), in_app=True)
                    checks.append(t("desc_check_slo", after=after, guard_done=guard_done))
                elif kind == "breach":
                    flow.set_property(flags["breach"], "true")
                    flow.notify_owner(t("breach_subject", stage=stage.label),
                                      _html(t("breach_body", guard=guard_word, within=after, guard_done=guard_done,
                                              clause=item.clause_id)))
                    checks.append(t("desc_check_breach", after=after, guard_done=guard_done))
                else:
                    self._escalate(flow, file, stage, item, flags["escalate"], guard_word)
                    checks.append(t("desc_check_escalate", after=after, guard_done=guard_done,
                                    team=self.team_label(item.to)))
        notes = [t("desc_monitor", stage=stage.label, checks="; ".join(checks) if t.lang != "ja" else "、".join(checks))]
        if guard == "respond":
            notes.append(t("desc_responded"))
        flow.description = self.flow_description(" ".join(notes) if t.lang != "ja" else "".join(notes))
        self.add_flow(f"{stage.id}.{guard}", flow)

    def _escalate(self, flow: Flow, file: str, stage: ir.Stage, escalation: ir.Escalation, flag: str,
                  guard_word: str) -> None:
        t = self.t
        team = self.team_label(escalation.to)
        flow.set_property(flag, "true")
        flow.notify_owner(t("escalate_subject", team=team, stage=stage.label),
                          t("escalate_body", guard=guard_word, after=t.duration(escalation.after), stage=stage.label,
                            team=team, clause=escalation.clause_id), in_app=True)
        channels = escalation.channels or (ir.Channel("email", None, escalation.span),)
        for channel in channels:
            kind = channel.kind
            if kind == "webhook":
                flow.webhook(channel.target or "")
                continue
            after = flow.last_action_id
            if kind == "slack":
                self.report(
                    SLACK_MANUAL,
                    Message('escalation `{clause_id}`: Slack {target} cannot be reached from a workflow created through the API', clause_id=escalation.clause_id, target=channel.target),
                    channel.span,
                    help=Message('use `webhook "https://hooks.slack.com/triggers/…"` (a Slack Workflow Builder trigger) for a workflow that posts by itself'),
                    step=t("manual_team_slack", channel=channel.target or "", team=team, flow=flow.name, action=after),
                    clauses=[escalation.clause_id], workflow=file, action_id=after,
                )
            elif kind in ("email", "in_app", "task", "call"):
                self.report(
                    USERS_NEEDED,
                    Message("escalation `{clause_id}` to team `{to}`: HubSpot needs the team's user or team ids to notify it", clause_id=escalation.clause_id, to=escalation.to.name),
                    escalation.to.span,
                    help=Message('add the recipients in HubSpot as the manual step says'),
                    step=t("manual_team_notify", team=team, people=self.team_people(escalation.to), flow=flow.name,
                           action=after),
                    clauses=[escalation.clause_id], workflow=file, action_id=after,
                )
            else:
                self.report(
                    CHANNEL_NOT_SUPPORTED,
                    Message('escalation `{clause_id}` by {kind}: HubSpot workflows have no action for it', clause_id=escalation.clause_id, kind=kind),
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
        file = f"workflows/{stage.id}.follow_up.json"
        total = len(follow_up.offsets)
        channels = [t.channel(c) for c in follow_up.channels]
        kinds = [c.kind for c in follow_up.channels]
        task_type = "CALL" if kinds[:1] == ["call"] else "EMAIL" if kinds[:1] == ["email"] else "TODO"
        flow = Flow(
            t("flow_follow_up", clause=clause, stage=stage.label, total=total), "",
            list_enrollment(or_branch([self.in_stage(stage)]), reenroll=[property_changed(SLA_STAGE, stage.id)],
                            leave_when_unmatched=True),
            [clause], "follow_up",
        )
        flow.time_windows, flow.blocked_dates = self.schedule(stage)
        attempt = f"sla_{self.stage_token(stage)}_follow_up_attempt"
        self.catalog.add_custom(CustomProperty(
            attempt, t("prop_follow_up", stage=stage.label), "number",
            t("prop_follow_up_desc", total=total, clauses=clause), clauses={clause}, purpose="sla-lang"))
        self.catalog.need_existing(OWNER, clause)
        elapsed = 0
        channel_text = t.join(channels, "or")
        for n, offset in enumerate(follow_up.offsets, 1):
            at = self.wait_minutes(offset, stage, flow, file, clause)
            if at > elapsed:
                flow.delay(at - elapsed)
                elapsed = at
            flow.set_property(attempt, str(n))
            flow.task(t("follow_up_subject", n=n, total=total, channels=channel_text),
                      _html(t("follow_up_body", n=n, total=total, stage=stage.label, clause=clause)),
                      task_type=task_type, due=self.due_for(None, stage, clause, file, flow))
        offsets = t.join([t.duration(o) for o in follow_up.offsets])
        flow.description = self.flow_description(
            t("desc_follow_up", total=total, stage=stage.label, offsets=offsets, channels=t.join(channels)))
        self.add_flow(f"{stage.id}.follow_up", flow)

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
            PRIORITY, t("prop_priority"), "enumeration", t("prop_priority_desc", clauses=", ".join(clauses)),
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
                        name = self.catalog.property_name(prop)
                        if prop.hubspot:
                            self.catalog.need_existing(name, item.clause_id)
                        else:
                            self.catalog.use(name, item.clause_id)
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


def _label(label: str | None, fallback: str) -> str:
    """HubSpot wants non-empty labels; an empty one in the policy falls back to the id."""
    return label.strip() if label and label.strip() else fallback


def _hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _plain(minutes: int) -> str:
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return " ".join(p for p in parts if p) or "0m"


def _html(*paragraphs: str) -> str:
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p)
