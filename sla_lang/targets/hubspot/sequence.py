"""The steps of a stage's sequence (`then …`) as HubSpot workflows.

A step's clock starts when the step before it is done — not when the lead enters the stage — so
its workflows cannot count from `sla_stage_entered_at` as the other monitors do. Per stage with
a sequence (`respond` is step 1, the `then` lines steps 2, 3, …) and per step N:

- `sla_<stage>_stepN_started_at` (datetime) holds the moment step N started, i.e. the moment
  step N-1 was done. For step 2 the *start* workflow copies HubSpot's *Last contacted* into it at
  the first call, email or meeting logged in the stay (the one that meets `respond`, on time or
  late). For a later step, the *attempts* workflow of the step before it does so when that
  step's last attempt is logged.
- `sla_<stage>_stepN_attempts` (number; `then follow up` and `then respond` steps) counts the
  calls, emails and meetings logged after step N started: the *attempts* workflow enrols on each
  change of *Last contacted* later than the start (a contact in the same minute as the one
  before it changes nothing in HubSpot, so it is not counted) and adds one. The activity that
  completed the step before is not counted: it is not later than the start.
- one *check* workflow per moment (the internal target, the deadline, each escalation on the
  step) enrols when `…_started_at` is set in the stay, computes its moment from it in custom code
  (the stage calendar's working time, as for the other monitors), waits until then and checks
  the step: done when `…_attempts` has reached the step's number (a `then decide` step: done
  by leaving the stage, which takes the lead out of the workflow). Not done: it sets the
  step's `…_slo_missed`, `…_breached` or `…_escalated` flag and notifies (the owner, or the
  escalation team). An escalation also fires for a step that was breached and done late
  after the deadline, as the agreement says.

Every stay starts afresh: the workflows compare `…_started_at` with `sla_stage_entered_at`
(a start before the stay's entry is a previous stay's). Leaving the stage takes the lead out
of the check workflows, which is what cancels a running step.

HubSpot does not tell a call from an e-mail in *Last contacted*: a step `via call` counts any
activity here (the manual step of `obligations.py` says so, as for `respond … via call`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ... import ir
from .catalog import LAST_CONTACTED, CustomProperty
from .filters import (
    before_property_filter,
    bool_filter,
    known_filter,
    or_branch,
    property_changed,
    property_filter,
)
from .flows import Flow, list_enrollment

if TYPE_CHECKING:
    from .generate import Generator


def sequence_flows(gen: Generator, stage: ir.Stage) -> None:
    """The start, attempts and check workflows of `stage`'s sequence (nothing without one)."""
    if not stage.steps or stage.deadline("respond") is None:
        return
    from .generate import ENTERED_AT, SLA_STAGE, Timer

    t = gen.t
    token = gen.stage_token(stage)
    steps = [s for s in stage.steps if not _after_decide(stage, s)]

    def name(step: ir.Step, what: str) -> str:
        return f"sla_{token}_step{step.number}_{what}"

    def started(step: ir.Step) -> str:
        return name(step, "started_at")

    def attempts(step: ir.Step) -> str:
        return name(step, "attempts")

    for step in steps:
        clause = step.clause_id
        gen.catalog.add_custom(CustomProperty(
            started(step), t("prop_step_started", stage=stage.label, n=step.number), "datetime",
            t("prop_step_started_desc", n=step.number, before=step.number - 1, clauses=clause),
            clauses={clause}, purpose="sla-lang"))
        if step.required:
            gen.catalog.add_custom(CustomProperty(
                attempts(step), t("prop_step_attempts", stage=stage.label, n=step.number), "number",
                t("prop_step_attempts_desc", n=step.number, total=step.required, clauses=clause),
                clauses={clause}, purpose="sla-lang"))
        gen.catalog.need_existing(LAST_CONTACTED, clause)
        gen.catalog.use(ENTERED_AT, clause)
        gen.catalog.use(SLA_STAGE, clause)

    # ---- step 2 starts at the first contact of the stay (step 1 done, on time or late)
    first = steps[0]
    flow = Flow(
        t("flow_step", clause=first.clause_id, stage=stage.label, n=first.number, what=t("step_what_start")), "",
        list_enrollment(or_branch([gen.in_stage(stage) + [known_filter(LAST_CONTACTED), known_filter(started(first),
                                                                                                  known=False)],
                                   gen.in_stage(stage) + [known_filter(LAST_CONTACTED),
                                                          before_property_filter(started(first), ENTERED_AT)]]),
                        reenroll=[property_changed(LAST_CONTACTED), property_changed(SLA_STAGE, stage.id)],
                        leave_when_unmatched=False),
        [first.clause_id], "monitor")
    check = flow.branch([(t("branch_before_entry"), or_branch([[before_property_filter(LAST_CONTACTED, ENTERED_AT)]]))],
                        t("branch_step_starts", n=first.number))
    flow.tail = [(check, "default")]
    _start(flow, first, attempts, started)
    flow.description = gen.flow_description(t("desc_step_start", stage=stage.label, n=first.number))
    gen.add_flow(f"{stage.id}.step{first.number}.start", flow)

    for index, step in enumerate(steps):
        following = steps[index + 1] if index + 1 < len(steps) else None
        if step.required:
            _attempts_flow(gen, stage, step, following, started, attempts)
        timers: list[Timer] = []
        if step.target is not None:
            timers.append(Timer("slo", step.target, step.clause_id, name(step, "slo_at"), step))
        timers.append(Timer("breach", step.within, step.clause_id, name(step, "due_at"), step))
        escalations = [e for e in stage.escalations if e.on == step.guard]
        for n, e in enumerate(escalations, 1):
            timers.append(Timer("escalate", e.after, e.clause_id, name(step, "escalate" + ("" if n == 1 else f"_{n}")
                                                                        + "_at"), e, n))
        flags = {"breach": name(step, "breached")}
        if step.target is not None:
            flags["slo"] = name(step, "slo_missed")
        if escalations:
            flags["escalate"] = name(step, "escalated")
        guard = t("guard_step", n=step.number)
        done = (t("guard_done_step_decide") if step.kind == "decide"
                else t("guard_done_step", total=step.required))
        labels = {"stage": stage.label, "guard": guard, "guard_done": done}
        gen.catalog.add_custom(CustomProperty(
            flags["breach"], t("prop_breached", **labels), "bool",
            t("prop_breached_desc", within=t.duration(step.within), guard_done=done, clauses=step.clause_id),
            options=[("true", t("yes")), ("false", t("no"))], clauses={step.clause_id}, purpose="sla-lang"))
        if "slo" in flags:
            gen.catalog.add_custom(CustomProperty(
                flags["slo"], t("prop_slo_missed", **labels), "bool",
                t("prop_slo_missed_desc", within_target=t.duration(step.target), guard_done=done,
                  clauses=step.clause_id),
                options=[("true", t("yes")), ("false", t("no"))], clauses={step.clause_id}, purpose="sla-lang"))
        if escalations:
            ids = ", ".join(e.clause_id for e in escalations)
            gen.catalog.add_custom(CustomProperty(
                flags["escalate"], t("prop_escalated", **labels), "bool",
                t("prop_escalated_desc", guard_done=done, clauses=ids),
                options=[("true", t("yes")), ("false", t("no"))], clauses={e.clause_id for e in escalations},
                purpose="sla-lang"))
        for timer in timers:
            _check_flow(gen, stage, step, timer, flags, started, attempts, guard, done)


def _after_decide(stage: ir.Stage, step: ir.Step) -> bool:
    """A step after `then decide` never starts (SLA515): no workflow waits for it."""
    return any(s.kind == "decide" and s.number < step.number for s in stage.steps)


def _start(flow: Flow, step: ir.Step, attempts, started) -> None:
    """Start `step` now: its count from zero, then its start moment (the contact just logged).
    In that order: the workflows enrolling on the start must see the count reset."""
    if step.required:
        flow.set_property(attempts(step), "0")
    flow.single("0-5", {"property_name": started(step),
                        "value": {"type": "OBJECT_PROPERTY", "propertyName": LAST_CONTACTED}})


def _attempts_flow(gen: Generator, stage: ir.Stage, step: ir.Step, following: ir.Step | None, started,
                   attempts) -> None:
    from .generate import ENTERED_AT

    t = gen.t
    flow = Flow(
        t("flow_step", clause=step.clause_id, stage=stage.label, n=step.number, what=t("step_what_attempts")), "",
        # "the start is before Last contacted" rather than "Last contacted is after the start": the
        # property compared with must have a value (S18), and Last contacted has one once a step started
        list_enrollment(or_branch([gen.in_stage(stage) + [known_filter(started(step)),
                                                          before_property_filter(started(step), LAST_CONTACTED)]]),
                        reenroll=[property_changed(LAST_CONTACTED)], leave_when_unmatched=False),
        [step.clause_id] + ([following.clause_id] if following is not None else []), "monitor")
    stale = flow.branch([(t("branch_step_stale", n=step.number),
                          or_branch([[before_property_filter(started(step), ENTERED_AT)]]))],
                        t("branch_step_running", n=step.number))
    flow.tail = [(stale, "default")]
    flow.single("0-5", {"property_name": attempts(step), "value": {"type": "INCREMENT", "incrementAmount": 1}})
    if following is not None:
        done = flow.branch([(t("branch_step_done", n=step.number), or_branch([[_count_reached(attempts(step), step)]]))],
                           t("branch_not_met"))
        flow.tail = [(done, "branch:0")]
        _start(flow, following, attempts, started)
    flow.description = gen.flow_description(t("desc_step_attempts", stage=stage.label, n=step.number,
                                               total=step.required))
    gen.add_flow(f"{stage.id}.step{step.number}.attempts", flow)


def _count_reached(prop: str, step: ir.Step) -> dict:
    # exactly the step's number: the count only grows, so the step is done once
    return property_filter(prop, {"operationType": "NUMBER", "operator": "IS_EQUAL_TO", "value": step.required,
                                  "includeObjectsWithNoValueSet": False})


def _count_done(prop: str, step: ir.Step) -> dict:
    return property_filter(prop, {"operationType": "NUMBER", "operator": "IS_GREATER_THAN_OR_EQUAL_TO",
                                  "value": step.required, "includeObjectsWithNoValueSet": False})


def _check_flow(gen: Generator, stage: ir.Stage, step: ir.Step, timer, flags: dict[str, str], started, attempts,
                guard: str, done: str) -> None:
    """One moment of `step` (its internal target, deadline or an escalation), counted from the
    step's start: wait for it, then act unless the step is done."""
    from .generate import ENTERED_AT, _html, _zero

    t = gen.t
    kind = timer.kind
    suffix = {"slo": "target", "breach": "due", "escalate": "escalate"}[kind] + (
        f"{timer.index}" if kind == "escalate" and timer.index > 1 else "")
    stem = f"{stage.id}.step{step.number}.{suffix}"
    file = f"workflows/{stem}.json"
    what = {"slo": t("step_what_target", target=t.duration(timer.duration)),
            "breach": t("step_what_due", within=t.duration(timer.duration)),
            "escalate": t("step_what_escalate", after=t.duration(timer.duration))}[kind]
    flow = Flow(
        t("flow_step", clause=timer.clause, stage=stage.label, n=step.number, what=what), "",
        list_enrollment(or_branch([gen.in_stage(stage) + [known_filter(started(step))]]),
                        reenroll=[property_changed(started(step))], leave_when_unmatched=True),
        [timer.clause], "monitor")
    gen.catalog.need_existing("hubspot_owner_id", timer.clause)
    flow.set_property(flags[kind], "false")
    stale = flow.branch([(t("branch_step_stale", n=step.number),
                          or_branch([[before_property_filter(started(step), ENTERED_AT)]]))],
                        t("branch_step_running", n=step.number))
    flow.tail = [(stale, "default")]

    def act(flow: Flow) -> None:
        """The check at the moment: done (end) or not (flag and tell)."""
        branches: list[tuple[str, dict, bool]] = []
        # `then decide` is done by leaving the stage, which takes the lead out of this workflow:
        # a lead still here at the moment has not done it
        if step.required:
            if kind == "escalate":  # a step already breached is escalated, even if done late since
                branches.append((t("branch_breached"), or_branch([[bool_filter(flags["breach"], True)]]), True))
            branches.append((t("branch_step_done", n=step.number), or_branch([[_count_done(attempts(step), step)]]),
                             False))
        if branches:
            check = flow.branch([(n, tree) for n, tree, _ in branches], t("branch_not_met"))
            flow.tail = [(check, "default")] + [(check, f"branch:{i}") for i, (_, _, fails) in enumerate(branches)
                                                 if fails]
        after = t.duration(timer.duration)
        if kind == "slo":
            flow.set_property(flags["slo"], "true")
            gen._deadline_notice(flow, file, step, t("slo_subject", stage=stage.label),
                                 t("slo_body", target=after, guard=guard, within=t.duration(step.within),
                                   clause=step.clause_id), in_app=True)
        elif kind == "breach":
            flow.set_property(flags["breach"], "true")
            gen._deadline_notice(flow, file, step, t("breach_subject", stage=stage.label),
                                 _html(t("breach_body", guard=guard, within=after, guard_done=done,
                                         clause=step.clause_id)))
        else:
            gen._escalate(flow, file, stage, timer.item, flags["escalate"], guard,
                          body=t("escalate_step_body", n=step.number, after=after, stage=stage.label,
                                 team=gen.team_label(timer.item.to), clause=timer.item.clause_id))

    data = gen.code_data(stage, [timer])
    if data is not None and not _zero(timer.duration):
        gen.moment_property(timer.prop, stage, what, timer.clause)
        decided = gen.add_code(flow, file, stage, data, [timer], anchor=started(step),
                               since=f"the start of step {step.number} ({step.clause_id})")
        flow.tail = [(decided, "static:0"), (decided, "static:1")]
        flow.delay_until(timer.prop)
        act(flow)
        flow.tail = [(decided, "default")]
        gen.wait(flow, timer, stage, 0, False)
        act(flow)
        exact = True
    else:
        gen.report_conservative(timer, stage, flow, file)
        gen.wait(flow, timer, stage, 0, False)
        act(flow)
        exact = False
    gen.record_timer(timer, stage, file, exact)
    flow.description = gen.flow_description(gen.join([
        t("desc_step_check", stage=stage.label, n=step.number, what=what),
        t("desc_exact" if exact else "desc_conservative")]))
    gen.add_flow(stem, flow)
