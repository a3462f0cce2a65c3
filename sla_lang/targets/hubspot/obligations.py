"""Obligations of the language the generated workflows do not enforce (yet): each becomes a
diagnostic and a manual step in the manifest, never a silent drop.

Kept apart from `generate.py` so the generator can take them over one by one: when it builds a
workflow for one of them, the matching function here stops reporting it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import TYPE_CHECKING

from ... import ir
from ...message import Message
from ...resources import target_dir
from .duties import enforced as duty_enforced
from .rules import NOT_ENFORCED, OUTSIDE_CRM

if TYPE_CHECKING:
    from .generate import Generator

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@cache
def _messages() -> dict[str, dict[str, str]]:
    return json.loads((target_dir("hubspot") / "obligations.json").read_text(encoding="utf-8"))


def say(gen: Generator, key: str, **values: object) -> str:
    """A manual step's text (obligations.json) in the build's language."""
    lang = gen.t.lang if gen.t.lang in _messages() else "en"
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), _messages()[lang][key])


def report_manual_obligations(gen: Generator) -> None:
    policy = gen.policy
    t = gen.t
    for stage in policy.stages:
        respond = stage.deadline("respond")
        if respond is not None and respond.via_when and respond.clause_id not in gen.enforced:
            # `via call when …, email otherwise`: the workflows neither test the lead's data nor the kind
            def say_kinds(kinds):
                return say(gen, "or").join(say(gen, f"activity_{k}") for k in kinds)

            choices = say(gen, "choice_sep").join(
                say(gen, "respond_choice", kinds=say_kinds(k for k in kinds), condition=condition)
                for condition, kinds in respond.channel_choices[:-1])
            gen.report(
                NOT_ENFORCED, Message("the workflows of `{stage}` count any activity as the response and do not choose it by the lead's data",
                                      stage=stage.id), respond.via_when[0].span,
                help=Message("build the check the manual step describes"),
                step=say(gen, "respond_via_when", stage=stage.label, within=t.duration(respond.within), choices=choices,
                          kinds=say_kinds(respond.meets), owner=gen.team_label(respond.owner or stage.owner)),
                clauses=[respond.clause_id] + [e.clause_id for e in stage.escalations if e.on == "respond"],
            )
        elif (respond is not None and respond.via and len(respond.meets) < len(ir.ACTIVITY_KINDS)
              and not gen.settings.custom_code):  # with custom code the checks read the activities (generate.py)
            kinds = say(gen, "or").join(say(gen, f"activity_{k}") for k in respond.meets)
            gen.report(
                NOT_ENFORCED, Message("the workflows of `{stage}` count any activity as the response, not only `via {kinds}`",
                                      stage=stage.id, kinds=", ".join(respond.meets)), respond.via[0].span,
                help=Message("build the check the manual step describes"),
                step=say(gen, "respond_via", stage=stage.label, within=t.duration(respond.within), kinds=kinds,
                          owner=gen.team_label(respond.owner or stage.owner)),
                # the escalations guarding the response go by the same "Last contacted"
                clauses=[respond.clause_id] + [e.clause_id for e in stage.escalations if e.on == "respond"],
            )
        decide = stage.deadline("decide")
        if decide is not None and decide.through and decide.clause_id not in gen.enforced:
            # enforced with custom code only: the stages of the span wait for the moment it computes
            gen.report(
                NOT_ENFORCED, Message("the decision deadline of `{stage}` spans {stages} and has no workflow",
                                      stage=stage.id, stages=", ".join(n.name for n in decide.through)),
                decide.through[0].span, help=Message("build the check the manual step describes"),
                step=say(gen, "decide_through", stage=stage.label, within=t.duration(decide.within),
                          stages=", ".join(f"“{gen.stage_label(n.name)}”" for n in decide.through),
                          owner=gen.team_label(decide.owner or stage.owner)),
                clauses=[decide.clause_id],
            )
        for step in stage.steps if stage.deadline("respond") is not None else ():
            # the sequence's workflows (sequence.py) count any call, email or meeting as an attempt
            if step.required and len(step.meets) < len(ir.ACTIVITY_KINDS):
                kinds = say(gen, "or").join(say(gen, f"activity_{k}") for k in step.meets)
                gen.report(
                    NOT_ENFORCED, Message("the workflows of `{clause}` count any activity as an attempt, not only `via {kinds}`",
                                          clause=step.clause_id, kinds=", ".join(step.meets)), step.via[0].span,
                    help=Message("build the check the manual step describes"),
                    step=say(gen, "step_via", stage=stage.label, n=step.number, total=step.required,
                              within=t.duration(step.within), kinds=kinds,
                              owner=gen.team_label(step.owner or stage.owner)),
                    clauses=[step.clause_id] + [e.clause_id for e in stage.escalations if e.on == step.guard],
                )
        for cadence in stage.cadences:
            # the send counter is created by cadence.py; with custom code its workflows judge each
            # period there, and only the counting (Marketing's send adds 1) is left to a person.
            # Without custom code HubSpot cannot compute a calendar month's end in a time zone:
            # `sla report` measures the periods from the counter's history (README, "What remains
            # approximate")
            event = policy.event_by_id.get(cadence.event.name)
            counter = gen.catalog.event_name(event) if event is not None else cadence.event.name
            values = {"stage": stage.label, "n": cadence.minimum.value,
                      "event": event.label if event is not None else cadence.event.name,
                      "period": say(gen, f"period_{cadence.period}"), "property": counter,
                      "owner": gen.team_label(cadence.owner or stage.owner)}
            if cadence.clause_id in gen.enforced:
                gen.report(
                    OUTSIDE_CRM, Message("the sends counted by the cadence of `{event}` in `{stage}` are made outside "
                                         "the build: each must add 1 to `{counter}`",
                                         event=cadence.event.name, stage=stage.id, counter=counter), cadence.span,
                    help=Message("add the +1 to the send as the manual step says"),
                    step=say(gen, "cadence_count", flows=", ".join(
                        f"{cadence.clause_id}{suffix}" for suffix in (".period", "", ".exit")), **values),
                    clauses=[cadence.clause_id],
                )
                continue
            gen.report(
                NOT_ENFORCED, Message("the cadence of `{event}` in `{stage}` (at least {n} per {period}) has no workflow",
                                      event=cadence.event.name, stage=stage.id, n=cadence.minimum.value,
                                      period=cadence.period), cadence.span,
                help=Message("build the check the manual step describes"),
                step=say(gen, "cadence", **values),
                clauses=[cadence.clause_id],
            )
        if stage.entry_condition is not None and stage.id not in gen._entry_tested:  # not expressible as filters
            gen.report(
                NOT_ENFORCED, Message("the entry workflow of `{stage}` does not test its entry condition", stage=stage.id),
                stage.entry_condition.span,
                help=Message("add the condition to the workflow's enrolment as the manual step says"),
                step=say(gen, "entry_when", stage=stage.label, condition=ir.condition_source(stage.entry_condition),
                          flow=t("flow_entry", clause=stage.clause_id, stage=stage.label), value=stage.id),
                clauses=[stage.clause_id],
            )
    for block in policy.information:
        sender, receiver = gen.team_label(block.sender), gen.team_label(block.receiver)
        for item in block.items:
            if item.every is not None:
                within = (say(gen, "report_within", within=t.duration(item.within))
                          if item.within is not None and item.anchor is None else "")
                gen.report(
                    OUTSIDE_CRM, Message("information `{clause}` is a periodic report, not a workflow",
                                         clause=item.clause_id), item.span,
                    help=Message("schedule the report as the manual step says"),
                    step=say(gen, "report", text=item.text, sender=sender, receiver=receiver,
                              every=t.cadence(item.every), within=within),
                    clauses=[item.clause_id],
                )
            if item.anchor is not None and item.within is not None and not duty_enforced(item):
                prop = item.recorded_in.name if item.recorded_in is not None else "—"
                gen.report(
                    NOT_ENFORCED,
                    Message("information `{clause}`, due after a lead enters `{stage}`, has no workflow",
                            clause=item.clause_id, stage=item.anchor.stage.name)
                    if item.anchor.event == "entering" else
                    Message("information `{clause}`, due after a lead leaves `{stage}`, has no workflow",
                            clause=item.clause_id, stage=item.anchor.stage.name),
                    item.span,
                    help=Message("build the check the manual step describes"),
                    step=say(gen, "information_anchor", text=item.text, sender=sender, receiver=receiver,
                              within=t.duration(item.within), stage=gen.stage_label(item.anchor.stage.name),
                              event=say(gen, item.anchor.event), property=prop,
                              recorded=say(gen, "recorded", property=prop) if item.recorded_in else ""),
                    clauses=[item.clause_id],
                )
