"""Workflows for information duties anchored on a lead entering or leaving a stage:

    information from inside_sales to marketing {
      "The qualification result of every MQL" within 2bd after leaving mql recorded in lead_quality
    }

What the reference simulator says (`simulate/engine.py`, `_start_duties`): when the lead leaves
(enters) the stage, the duty starts; it is due `within` later in that stage's calendar; it is met
when the property was recorded (set to a value) at or after the lead *entered* that stage and
no later than the due moment — a value recorded while the lead was still in the stage counts —
otherwise it is breached at the due moment. The duty outlives the stage: it is judged wherever
the lead is then.

HubSpot has no "previous value" of a property to enrol on, and no "when was this property last
set" in its workflow filters, so the workflows keep both as stamps:

- `<duty>.recorded` (one per property): enrols when the property is known and again each time it
  changes (re-enrolment on "property changed"), and stamps `sla_<property>_recorded_at` with the
  moment (set property, `EXECUTION_TIME`);
- `<duty>.arm` (leaving duties only): enrols when the lead enters the stage, stamps
  `…_since` (that moment) and sets `…_armed`;
- `<duty>` (the monitor): enrols when the lead is outside an armed stage (leaving) or enters the
  stage (entering), and again at each later stage change; disarms, stamps `…_started_at` and
  `…_from` (the moment recording starts to count), computes the due moment with the generated
  custom code from the stage's calendar (`customcode.py`, counted from `…_started_at`), waits
  until it, and flags `…_breached` (and tells the sender) unless `sla_<property>_recorded_at` is
  not before `…_from` and not after the due moment. Without custom code it waits the shortest
  wall-clock length of the duration (a check never after the due moment; the manifest's
  `timers` give the bound, SLA823).

One duty at a time per lead and clause: HubSpot does not re-enrol a contact that is still
enrolled (SEMANTICS.md S6), so a lead that leaves the stage again before the previous duty is
due starts no second check; the manifest's `timers` entry and the flow description say so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ... import ir
from ...diagnostics import Message
from . import customcode
from .catalog import CustomProperty, token_for
from .filters import (
    after_property_filter,
    before_property_filter,
    bool_filter,
    enum_filter,
    known_filter,
    or_branch,
    property_changed,
)
from .flows import Flow, Recipients, list_enrollment

if TYPE_CHECKING:
    from .generate import Generator

SLA_STAGE = "sla_stage"


def enforced(item: ir.InformationItem) -> bool:
    """Whether the workflows check this information item (else a manual step, obligations.py)."""
    return item.anchor is not None and item.within is not None and item.recorded_in is not None


def duty_token(item: ir.InformationItem) -> str:
    """`information.inside_sales.marketing.1` → `info_inside_sales_marketing_1`."""
    rest = item.clause_id.split(".", 1)[1] if "." in item.clause_id else item.clause_id
    # team ids that are no HubSpot name (Japanese) give a derived token, as stage ids do
    return "info_" + token_for(rest.replace(".", "_").replace("-", "_").lower())


def information_flows(gen: Generator) -> None:
    policy = gen.policy
    stamped: set[str] = set()
    for block in policy.information:
        for item in block.items:
            if not enforced(item):
                continue
            prop = policy.property_by_id.get(item.recorded_in.name)
            stage = policy.stage_by_id.get(item.anchor.stage.name)
            if prop is None or stage is None:
                continue
            name = gen.catalog.claim_property(prop, item.clause_id)
            recorded_at = _recorded_flow(gen, prop, name, item, stamped)
            _duty_flows(gen, block, item, stage, recorded_at)


def _recorded_flow(gen: Generator, prop: ir.Property, name: str, item: ir.InformationItem,
                   stamped: set[str]) -> str:
    """The workflow stamping when `name` was last recorded (once per property)."""
    t = gen.t
    stamp = f"sla_{name}_recorded_at"
    gen.catalog.add_custom(CustomProperty(
        stamp, t("prop_recorded_at", label=prop.label or prop.id),
        "datetime", t("prop_recorded_at_desc", label=prop.label or prop.id, clauses=item.clause_id),
        clauses={item.clause_id}, purpose="sla-lang"))
    if name in stamped:
        return stamp
    stamped.add(name)
    flow = Flow(t("flow_recorded", clause=item.clause_id, label=prop.label or prop.id), "",
                list_enrollment(or_branch([[known_filter(name)]]), reenroll=[property_changed(name)],
                                leave_when_unmatched=False),
                [item.clause_id], "information")
    flow.set_now(stamp)
    flow.description = gen.flow_description(t("desc_recorded", label=prop.label or prop.id, stamp=stamp))
    gen.add_flow(f"{item.clause_id}.recorded", flow)
    return stamp


def _duty_flows(gen: Generator, block: ir.Information, item: ir.InformationItem, stage: ir.Stage,
                recorded_at: str) -> None:
    from .generate import Timer, _html

    t = gen.t
    clause = item.clause_id
    token = duty_token(item)
    leaving = item.anchor.event == "leaving"
    event_word = t(f"duty_{item.anchor.event}", stage=stage.label)
    started = f"sla_{token}_started_at"
    since = f"sla_{token}_since"
    armed = f"sla_{token}_armed"
    start_from = f"sla_{token}_from"
    due_at = f"sla_{token}_due_at"
    breached = f"sla_{token}_breached"
    within = t.duration(item.within)
    text = item.text
    catalog = gen.catalog
    catalog.use(SLA_STAGE, clause)
    catalog.add_custom(CustomProperty(
        started, t("prop_duty_started", clause=clause), "datetime",
        t("prop_duty_started_desc", event=event_word, clauses=clause), clauses={clause}, purpose="sla-lang"))
    catalog.add_custom(CustomProperty(
        start_from, t("prop_duty_from", clause=clause), "datetime",
        t("prop_duty_from_desc", stage=stage.label, clauses=clause), clauses={clause}, purpose="sla-lang"))
    catalog.add_custom(CustomProperty(
        breached, t("prop_duty_breached", clause=clause), "bool",
        t("prop_duty_breached_desc", text=text, within=within, event=event_word, clauses=clause),
        options=[("true", t("yes")), ("false", t("no"))], clauses={clause}, purpose="sla-lang"))

    if leaving:
        catalog.add_custom(CustomProperty(
            since, t("prop_duty_since", clause=clause), "datetime",
            t("prop_duty_since_desc", stage=stage.label, clauses=clause), clauses={clause}, purpose="sla-lang"))
        catalog.add_custom(CustomProperty(
            armed, t("prop_duty_armed", clause=clause), "bool",
            t("prop_duty_armed_desc", stage=stage.label, clauses=clause),
            options=[("true", t("yes")), ("false", t("no"))], clauses={clause}, purpose="sla-lang"))
        arm = Flow(t("flow_duty_arm", clause=clause, stage=stage.label), "",
                   list_enrollment(or_branch([[enum_filter(SLA_STAGE, [stage.id])]]),
                                   reenroll=[property_changed(SLA_STAGE, stage.id)], leave_when_unmatched=False),
                   [clause], "information")
        arm.set_now(since)
        arm.set_property(armed, "true")
        arm.description = gen.flow_description(t("desc_duty_arm", stage=stage.label, since=since))
        gen.add_flow(f"{clause}.arm", arm)
        # outside the stage with an armed duty: the lead has just left it; any later stage change
        # re-enrols (a contact still enrolled is not re-enrolled, S6)
        enrollment = list_enrollment(
            or_branch([[enum_filter(SLA_STAGE, [stage.id], negated=True), bool_filter(armed, True)]]),
            reenroll=[property_changed(SLA_STAGE)], leave_when_unmatched=False)
    else:
        enrollment = list_enrollment(or_branch([[enum_filter(SLA_STAGE, [stage.id])]]),
                                     reenroll=[property_changed(SLA_STAGE, stage.id)], leave_when_unmatched=False)

    flow = Flow(t("flow_duty", clause=clause, text=text, within=within, event=event_word), "", enrollment,
                [clause], "information")
    if leaving:
        flow.set_property(armed, "false")
    flow.set_now(started)
    flow.copy_property(start_from, since if leaving else started)
    flow.set_property(breached, "false")
    timer = Timer("breach", item.within, clause, due_at, item)
    file = f"workflows/{clause}.json"
    data = gen.code_data(stage, [timer])
    exact = data is not None

    def check(late: bool) -> None:
        """Breach unless recorded not before `…_from` (and, exactly, not after the due moment)."""
        branches: list[tuple[str, dict, bool]] = []
        if late:
            branches.append((t("branch_recorded_late"), or_branch([[after_property_filter(recorded_at, due_at)]]),
                             True))
        branches += [(t("branch_recorded_before"), or_branch([[before_property_filter(recorded_at, start_from)]]),
                      True),
                     (t("branch_recorded"), or_branch([[known_filter(recorded_at)]]), False)]
        test = flow.branch([(name, tree) for name, tree, _ in branches], t("branch_not_recorded"))
        flow.tail = [(test, "default")] + [(test, f"branch:{n}") for n, (_, _, fails) in enumerate(branches)
                                          if fails]
        flow.set_property(breached, "true")
        sender = gen.team_recipients(block.sender, clause, block.sender.span,
                                     what=Message("the information notice of"), flow=flow, file=file)
        if isinstance(sender, Recipients):
            flow.notify(t("duty_subject", clause=clause),
                        _html(t("duty_body", text=text, within=within, event=event_word,
                                receiver=gen.team_label(block.receiver), clause=clause)), sender)

    if exact:
        catalog.add_custom(CustomProperty(
            due_at, t("prop_duty_due", clause=clause), "datetime",
            t("prop_moment_desc", what=t("what_duty_due", clause=clause), clauses=clause), clauses={clause},
            purpose="sla-lang"))
        minutes = gen.working_minutes(item.within, stage)
        moments = [(due_at, "working", minutes) if item.within.business else (due_at, "clock", item.within.minutes or 0)]
        code = flow.custom_code(
            customcode.source(data, moments, about=clause, anchor=started,
                              since=f"the start of the duty (the lead {item.anchor.event} {stage.id})"),
            runtime=customcode.RUNTIME,
            inputs=[(customcode.ENTERED_INPUT, started), (customcode.NOW_INPUT, None)], secrets=[customcode.SECRET],
            output=customcode.OUTPUT, options=[customcode.WRITTEN, customcode.PASSED, customcode.FAILED])
        gen._code_flows[file] = None
        decided = flow.static_branch({"type": "FIELD_DATA", "actionId": code["actionId"], "dataKey": customcode.OUTPUT},
                                     [customcode.WRITTEN, customcode.PASSED], t("branch_code_failed"))
        flow.tail = [(decided, "static:0"), (decided, "static:1")]
        flow.delay_until(due_at)
        check(late=True)
        flow.tail = [(decided, "default")]
    else:
        gen.report_conservative(timer, stage, flow, file)
    wait, _ = gen.conservative(timer, stage)
    flow.delay(wait)
    check(late=False)
    gen.record_timer(timer, stage, file, exact)
    notes = [t("desc_duty", text=text, event=event_word, within=within, stamp=recorded_at, stage=stage.label),
             t("desc_duty_once"), t("desc_exact" if exact else "desc_conservative")]
    flow.description = gen.flow_description(gen.join(notes))
    gen.add_flow(clause, flow)
