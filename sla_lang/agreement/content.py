"""The IR prepared for the agreement templates.

`prepare_document` turns a policy into plain data — numbered sections and clauses, each clause
with its stable id (`mql.respond`), every value already in words — so that the Markdown and HTML
templates only arrange it and add the fixed wording. The order of the sections and their
numbers are decided here, once, so that every format numbers clauses alike.

Every text taken from the policy goes through `escape.visible`; `invisible_text_warnings`
reports where that changed something.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .. import ir
from ..diagnostics import Diagnostic, Listing, Message
from ..irjson import fingerprint
from ..source import Span
from .escape import invisible_characters, visible
from .rules import INVISIBLE_CHARACTER, UNTRANSLATED_TEXT
from .words import Words

# The sections of the agreement, in order. Their titles are `section.<kind>` in the catalogue.
SECTIONS = (
    "purpose",
    "parties",
    "stages",
    "criteria",
    "handoff",
    "deadlines",
    "follow_up",
    "recycling",
    "escalation",
    "kpis",
    "information",
    "responsibilities",
    "reviews",
    "business_time",
    "cancellation",
    "signatures",
)


@dataclass
class Section:
    kind: str
    number: int
    clauses: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.clauses


@dataclass
class Document:
    lang: str
    title: str
    version: str
    effective: str
    owner: str
    fingerprint: str
    sections: list[Section]
    signatures: list[dict[str, Any]]
    diagram: Any  # diagram.StageDiagram
    # texts shown as written although the document's language needs another wording:
    # text → ("translation", None) when the policy has no translation of it into the document's
    # language, ("value", property id) for an enum option shown as its raw value (SLA809)
    untranslated: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def section(self, kind: str) -> Section:
        return next(s for s in self.sections if s.kind == kind)


def prepare_document(policy: ir.Policy, lang: str) -> Document:
    from .diagram import StageDiagram

    w = Words(policy, lang)
    a = policy.agreement
    sections = [Section(kind, n) for n, kind in enumerate(SECTIONS, 1)]
    by_kind = {s.kind: s for s in sections}
    builders = {
        "purpose": _purpose,
        "parties": _parties,
        "stages": _stages,
        "criteria": _criteria,
        "handoff": _handoffs,
        "deadlines": _deadlines,
        "follow_up": _follow_ups,
        "recycling": _recycling,
        "escalation": _escalations,
        "kpis": _kpis,
        "information": _information,
        "responsibilities": _responsibilities,
        "reviews": _reviews,
        "business_time": _calendars,
        "cancellation": _cancellations,
    }
    for kind, build in builders.items():
        build(by_kind[kind], policy, w)
    signatures = [
        {
            "field": party.id,
            "anchor": f"signature-field-{n}",
            "party": w.text(party.label),
            "name": visible(party.lead.name) if party.lead else "",
            "title": w.text(party.lead.title) if party.lead and party.lead.title else "",
            # who may sign the field: `sla verify --policy` checks the certificate against these
            "email": visible(party.lead.email) if party.lead and party.lead.email else "",
            "certificate": party.lead.certificate if party.lead and party.lead.certificate else "",
            "id": party.clause_id,
        }
        for n, party in enumerate(policy.parties, 1)
    ]
    return Document(
        lang=lang,
        title=w.text(a.title) if a else "",
        version=visible(a.version.value) if a and a.version else "",
        effective=a.effective.value.isoformat() if a and a.effective else "",
        owner=w.team(a.owner) if a else "",
        fingerprint=fingerprint(policy),
        sections=sections,
        signatures=signatures,
        diagram=StageDiagram.from_policy(policy, layout=False, text=w.text, t=w.t),  # laid out for HTML and PDF only
        untranslated=w.untranslated,
    )


def _number(section: Section, *parts: int) -> str:
    return ".".join(str(p) for p in (section.number, *parts))


# ------------------------------------------------------------------ the sections


def _purpose(section: Section, policy: ir.Policy, w: Words) -> None:
    a = policy.agreement
    if a is None:
        return
    section.extra["id"] = a.clause_id
    for n, paragraph in enumerate(a.purpose, 1):
        section.clauses.append({"number": _number(section, n), "text": w.text(paragraph.value)})


def _parties(section: Section, policy: ir.Policy, w: Words) -> None:
    # signing parties first, then the other teams, each in source order
    teams = [t for t in policy.teams if t.signs] + [t for t in policy.teams if not t.signs]
    for n, team in enumerate(teams, 1):
        capacity = capacity_words(team, w)
        section.clauses.append({
            "number": _number(section, n),
            "id": team.clause_id,
            "label": w.text(team.label),
            "signs": team.signs,
            "role": w.t(f"role.{team.role}") if team.role in ir.TEAM_ROLES else "",
            "lead": visible(team.lead.name) if team.lead else "",
            "lead_title": w.text(team.lead.title) if team.lead and team.lead.title else "",
            "capacity": capacity,
            "part_of": w.team(team.parent) if team.parent else "",
        })


# Each `*_row` below is one clause in words. The document's sections arrange them in tables;
# `sla diff` puts the same row into one sentence (agreement/clauses.py), so both say a clause
# with the same words.


def stage_row(stage: ir.Stage, w: Words, arrivals: dict[str, list[str]] | None = None) -> dict[str, Any]:
    description = w.text(stage.description) if stage.description else ""
    if not description and arrivals is not None:
        description = _definition(stage, arrivals, w)
    return {
        "id": stage.clause_id,
        "label": w.text(stage.label),
        "owner": w.team(stage.owner),
        "kinds": w.join([w.t("marker.entry_when", condition=w.condition(m.condition)) if m.condition is not None
                         else w.t(f"marker.{m.kind}") for m in stage.markers]),
        "hubspot": visible(stage.hubspot.name) if stage.hubspot else "",
        "description": description,
    }


def capacity_words(team: ir.Team, w: Words) -> str:
    if team.capacity is None:
        return ""
    c = team.capacity
    return w.t("party.capacity", people=c.people, leads=c.leads_per_person,
               period=w.t(f"period_unit.{c.period}") if c.period in ir.PERIODS else visible(c.period),
               total=c.leads_per_period)


def _stages(section: Section, policy: ir.Policy, w: Words) -> None:
    arrivals: dict[str, list[str]] = {}
    for stage in policy.stages:
        for t in stage.transitions:
            arrivals.setdefault(t.target.name, []).append(
                w.t("stages.arrival", source=w.stage(stage.id), label=w.text(t.label))
                if t.label else w.stage(stage.id))
    for n, stage in enumerate(policy.stages, 1):
        section.clauses.append({"number": _number(section, n), **stage_row(stage, w, arrivals)})


def _definition(stage: ir.Stage, arrivals: dict[str, list[str]], w: Words) -> str:
    """A stage without a `description` is defined by where its leads come from, so that no row of
    the stage table (typically a final stage such as "Closed lost") is left blank."""
    sources = list(dict.fromkeys(arrivals.get(stage.id, ())))
    if stage.is_terminal:
        key = "stages.final_from" if sources else "stages.final"
    elif stage.is_entry and not sources:
        return w.t("stages.new_leads")
    else:
        key = "stages.reached_from" if sources else ""
    return w.t(key, sources=w.join(sources, "or")) if key else ""


def _transition_when(t: ir.Transition, w: Words) -> str:
    parts = []
    if t.condition is not None:
        parts.append(w.condition(t.condition))
    if t.after is not None:
        parts.append(w.t("transition.after", duration=w.duration(t.after), stage=w.stage(t.source)))
    return w.t("transition.both", condition=parts[0], after=parts[1]) if len(parts) == 2 else "".join(parts)


def transition_row(t: ir.Transition, w: Words) -> dict[str, Any]:
    return {
        "id": t.clause_id,
        "source": w.stage(t.source),
        "target": w.stage(t.target),
        "label": w.text(t.label) if t.label else "",
        "when": _transition_when(t, w),
        "record": _recorded(t, w),
    }


def _recorded(t: ir.Transition, w: Words) -> list[dict[str, str]]:
    out = []
    for name in t.record:
        prop = policy_property(w.policy, name)
        reasons = w.join([w.quote_option(prop, o.value) for o in prop.options], "or") if prop is not None and prop.options else ""
        out.append({"label": w.property(name), "reasons": reasons})
    return out


def policy_property(policy: ir.Policy, name: ir.Name) -> ir.Property | None:
    return policy.property_by_id.get(name.name)


def _is_recycle(t: ir.Transition, policy: ir.Policy) -> bool:
    target = policy.stage_by_id.get(t.target.name)
    return target is not None and target.is_recycle


def _criteria(section: Section, policy: ir.Policy, w: Words) -> None:
    n = 0
    scores = []
    for model in policy.scores:
        n += 1
        rule_number = 0
        groups = []
        maximum = 0
        for group in model.groups:
            rules = []
            for rule in group.rules:
                rule_number += 1
                rules.append({
                    "number": _number(section, n, rule_number),
                    "id": rule.clause_id,
                    "label": w.text(rule.label),
                    "points": w.points(rule.points) + (w.t("doc.paren", text=w.t("score.cap", n=w.number(rule.cap.value)))
                                                       if rule.cap is not None else ""),
                    "when": (w.t("score.per", subject=w.ref(rule.per)) if rule.per is not None
                             else w.condition(rule.condition)),
                })
            positive = sum(r.highest for r in group.rules)
            cap = group.cap.value if group.cap is not None else None
            maximum += min(positive, cap) if cap is not None else positive
            groups.append({
                "id": group.clause_id,
                "label": w.text(group.label),
                "cap": w.t("score.cap", n=w.number(cap)) if cap is not None else "",
                "rules": rules,
            })
        scores.append({
            "number": _number(section, n),
            "id": model.clause_id,
            "label": w.text(model.label),
            "groups": groups,
            "maximum": (w.t("score.maximum", n=w.number(maximum)) if maximum != float("inf")
                        else w.t("score.unbounded")),
            "thresholds": _thresholds(model, policy, w),
        })
    section.extra["scores"] = scores
    transitions = []
    for stage in policy.stages:
        for t in stage.transitions:
            if _is_recycle(t, policy):
                continue
            n += 1
            transitions.append({"number": _number(section, n), **transition_row(t, w)})
    section.extra["transitions"] = transitions
    priorities = []
    for priority in policy.priorities:
        n += 1
        priorities.append({
            "number": _number(section, n),
            "id": priority.clause_id,
            "label": w.text(priority.label),
            "when": w.condition(priority.condition) if priority.condition else w.t("priority.otherwise"),
        })
    section.extra["priorities"] = priorities
    section.clauses = scores + transitions + priorities


def _thresholds(model: ir.ScoreModel, policy: ir.Policy, w: Words) -> list[dict[str, str]]:
    """Where the agreement compares this score with a number: the thresholds it sets."""
    out = []
    for stage in policy.stages:
        for t in stage.transitions:
            if t.condition is not None and _reads_score(t.condition, model.id):
                out.append({"id": t.clause_id, "what": w.t("score.threshold_transition", source=w.stage(t.source),
                                                            target=w.stage(t.target)),
                            "when": w.condition(t.condition)})
    for priority in policy.priorities:
        if priority.condition is not None and _reads_score(priority.condition, model.id):
            out.append({"id": priority.clause_id, "what": w.t("score.threshold_priority", priority=w.text(priority.label)),
                        "when": w.condition(priority.condition)})
    return out


def _reads_score(condition: ir.Condition, score_id: str) -> bool:
    return any(ref.name == score_id for ref in ir.condition_refs(condition))


def _handoffs(section: Section, policy: ir.Policy, w: Words) -> None:
    n = 0
    for stage in policy.stages:
        h = stage.handoff
        if h is None:
            continue
        n += 1
        section.clauses.append({"number": _number(section, n), **handoff_row(stage, h, w)})


def handoff_row(stage: ir.Stage, h: ir.Handoff, w: Words) -> dict[str, Any]:
    row = {
        "id": h.clause_id,
        "stage": w.stage(stage.id),
        "sender": w.team(h.sender),
        "receiver": w.team(stage.owner),
        "channels": w.channels(h.channels),
        "include": w.join([w.ref(ir.Ref(name.name, None, name.span)) for name in h.include]),
    }
    who = {"stage": row["stage"], "sender": row["sender"], "receiver": row["receiver"]}
    sentence = (w.t("handoff.sentence", channels=row["channels"], **who) if row["channels"]
                else w.t("handoff.sentence_no_channel", **who))
    row["within"] = (w.t("handoff.within", duration=w.duration(h.within), **who) if h.within is not None else "")
    row["text"] = w.sentences([sentence, row["within"],
                               w.t("handoff.include", items=row["include"]) if h.include else ""])
    return row


def _calendar_label(stage: ir.Stage | None, policy: ir.Policy, w: Words) -> str:
    calendar = policy.calendar_for(stage)
    return w.text(calendar.label) if calendar else ""


def _deadlines(section: Section, policy: ir.Policy, w: Words) -> None:
    n = 0
    business = False
    for stage in policy.stages:
        if stage.handoff is not None and stage.handoff.within is not None:
            n += 1  # the sender's deadline, next to the receiver's
            row = handoff_deadline_row(stage, stage.handoff, w)
            business = business or bool(row["calendar"])
            section.clauses.append({"number": _number(section, n), **row})
        for d in stage.deadlines:
            n += 1
            row = deadline_row(stage, d, w)
            business = business or bool(row["calendar"])
            section.clauses.append({"number": _number(section, n), **row})
            if d.kind != "respond" or not stage.steps:
                continue
            for step in stage.steps:  # the sequence, right after its step 1
                n += 1
                row = step_row(stage, step, w)
                business = business or bool(row["calendar"])
                section.clauses.append({"number": _number(section, n), **row})
    section.extra["business"] = business
    if any(stage.steps and stage.deadline("respond") for stage in policy.stages):
        section.extra["sequence"] = w.t("deadlines.sequence")


def handoff_deadline_row(stage: ir.Stage, h: ir.Handoff, w: Words) -> dict[str, Any]:
    assert h.within is not None
    return {
        "id": h.clause_id,
        "stage": w.stage(stage.id),
        "kind": w.t("deadline.handoff"),
        "owner": w.team(h.sender),
        "sla": w.duration(h.within),
        "slo": "",
        "calendar": _calendar_label(stage, w.policy, w) if h.within.business else "",
    }


def deadline_row(stage: ir.Stage, d: ir.Deadline, w: Words) -> dict[str, Any]:
    uses_business = d.within.business or (d.target is not None and d.target.business)
    return {
        "id": d.clause_id,
        "stage": w.stage(stage.id),
        "kind": _deadline_kind(d, w) + _source(d.source, w),
        "owner": w.team(d.owner or stage.owner),
        "sla": w.duration(d.within),
        "slo": w.duration(d.target) if d.target else "",
        "calendar": _calendar_label(stage, w.policy, w) if uses_business else "",
    }


def step_row(stage: ir.Stage, step: ir.Step, w: Words) -> dict[str, Any]:
    """`then follow up 3 times within 2bd via call, email` as a row of the deadlines table."""
    uses_business = step.within.business or (step.target is not None and step.target.business)
    channels = w.join([w.channel(c) for c in step.via], "or")
    if step.kind == "follow_up":
        what = w.t("step.follow_up_via" if channels else "step.follow_up",
                   attempts=w.t("followup.attempts", n=step.required), channels=channels)
    elif step.kind == "respond":
        what = w.t("step.respond_via" if channels else "step.respond", channels=channels)
    else:
        what = w.t("deadline.decide")
    return {
        "id": step.clause_id,
        "stage": w.stage(stage.id),
        "kind": w.t("step.kind", what=what, number=step.number, before=step.number - 1) + _source(step.source, w),
        "what": what,
        "owner": w.team(step.owner or stage.owner),
        "sla": w.duration(step.within),
        "slo": w.duration(step.target) if step.target else "",
        "calendar": _calendar_label(stage, w.policy, w) if uses_business else "",
    }


def _deadline_kind(d: ir.Deadline, w: Words) -> str:
    """"first response" — or, with `via call`, "first response, by phone call only"."""
    stage = w.policy.stage_by_id.get(d.stage) if d.kind == "respond" else None
    if stage is not None and stage.steps:  # step 1 of the stage's sequence
        return w.t("step.first", kind=_plain_deadline_kind(d, w))
    return _plain_deadline_kind(d, w)


def _plain_deadline_kind(d: ir.Deadline, w: Words) -> str:
    kind = w.t(f"deadline.{d.kind}")
    if d.through:  # `decide … through sal`: "decision (the lead leaves MQL and SAL)"
        stages = [w.stage(d.stage)] + [w.stage(n.name) for n in d.through]
        return w.t("deadline.through", kind=kind, stages=w.join(stages))
    if d.via_when:  # `via call when pricing_page_view, email otherwise`: the first branch that holds
        choices = [w.t("deadline.via_choice", channels=w.join([w.channel(c) for c in choice.channels], "or"),
                       condition=w.condition(choice.condition)) for choice in d.via_when]
        otherwise = w.join([w.channel(c) for c in d.via], "or")
        return w.t("deadline.via_when", kind=kind, choices=w.t("deadline.via_else").join(choices), otherwise=otherwise)
    if d.via:
        return w.t("deadline.via", kind=kind, channels=w.join([w.channel(c) for c in d.via], "or"))
    return kind


def _follow_ups(section: Section, policy: ir.Policy, w: Words) -> None:
    n = 0
    for stage in policy.stages:
        f = stage.follow_up
        if f is not None:
            n += 1
            section.clauses.append({"number": _number(section, n), **follow_up_row(stage, f, w)})
        for c in stage.cadences:  # recurring obligations: each period in the stage holds N events
            n += 1
            section.clauses.append({"number": _number(section, n), **cadence_row(stage, c, w)})
    if any(stage.cadences for stage in policy.stages):
        section.extra["cadence"] = w.t("cadence.meaning")


def cadence_row(stage: ir.Stage, c: ir.StageCadence, w: Words) -> dict[str, Any]:
    """`cadence at least 2 nurture_email per month` as a row of the follow-up table."""
    event = w.policy.event_by_id.get(c.event.name)
    return {
        "id": c.clause_id,
        "stage": w.stage(stage.id),
        "owner": w.team(c.owner or stage.owner),
        # the event goes in the channel column (what is sent or done), so that the narrow
        # attempts column holds only the number, as for the follow-ups above it
        "attempts": w.t("cadence.attempts", n=c.minimum.value),
        "when": w.t(f"cadence.per_{c.period}"),
        "channels": w.quote(w.text(event.label) if event is not None else c.event.name),
    }


def follow_up_row(stage: ir.Stage, f: ir.FollowUp, w: Words) -> dict[str, Any]:
    return {
        "id": f.clause_id,
        "stage": w.stage(stage.id),
        "owner": w.team(f.owner or stage.owner),
        "attempts": w.t("followup.attempts", n=f.attempts.value),
        "when": w.follow_up_offsets(f.offsets, f.from_first_contact),
        "channels": w.channels(f.channels),
    }


def _recycling(section: Section, policy: ir.Policy, w: Words) -> None:
    n = 0
    for stage in policy.stages:
        for t in stage.transitions:
            if not _is_recycle(t, policy):
                continue
            n += 1
            section.clauses.append({"number": _number(section, n), **transition_row(t, w)})


def _escalations(section: Section, policy: ir.Policy, w: Words) -> None:
    n = 0
    for stage in policy.stages:
        for e in stage.escalations:
            n += 1
            section.clauses.append({"number": _number(section, n), **escalation_row(stage, e, w)})


def escalation_row(stage: ir.Stage, e: ir.Escalation, w: Words) -> dict[str, Any]:
    return {
        "id": e.clause_id,
        "stage": w.stage(stage.id),
        "to": w.team(e.to),
        "after": (w.t("escalation.idle_after", duration=w.duration(e.after)) if e.idle
                  else w.t("escalation.step_after", duration=w.duration(e.after), n=e.on[4:]) if _on_step(e)
                  else w.duration(e.after)),
        "on": (w.t("escalation.idle") if e.idle else w.t(f"deadline.{e.on}") if e.on in ir.DEADLINE_KINDS
               else w.t("escalation.step", n=e.on[4:]) if _on_step(e) else ""),
        "channels": w.channels(e.channels),
    }


def _on_step(e: ir.Escalation) -> bool:
    """`escalate … on step 2`: guards a step of the stage's sequence (`on` is `step2`)."""
    return e.on is not None and e.on.startswith("step")


def _kpis(section: Section, policy: ir.Policy, w: Words) -> None:
    for n, kpi in enumerate(policy.kpis, 1):
        section.clauses.append({"number": _number(section, n), **kpi_row(kpi, w)})


def kpi_row(kpi: ir.Kpi, w: Words) -> dict[str, Any]:
    alert = None
    if kpi.alert is not None:
        a = kpi.alert
        alert = {
            "when": w.threshold(a.op, a.value),
            "action": w.text(a.action) if a.action else "",
            "review": w.review(a.review),
            "notify": w.teams(a.notify),
        }
    if kpi.target is not None:
        target = w.threshold(kpi.target.op, kpi.target.value)
    else:
        target = w.t("kpis.target_pending" if kpi.target_pending else "kpis.monitored")
    return {
        "id": kpi.clause_id,
        "label": w.text(kpi.label),
        "owner": w.team(kpi.owner),
        "measure": w.measure(kpi.measure) + (w.t("doc.paren", text=w.breakdown(kpi.by)) if kpi.by else "")
        + _source(kpi.source, w),
        "period": w.period(kpi.period),
        "target": target,
        "alert": alert,
    }


def _source(source: ir.Text | None, w: Words) -> str:
    """" (source: HubSpot funnel report)" after what it measures; empty without a source."""
    return w.t("doc.paren", text=w.t("measured.source", source=w.text(source.value))) if source else ""


def _information(section: Section, policy: ir.Policy, w: Words) -> None:
    groups = []
    for info in policy.information:
        items = []
        for item in info.items:
            items.append(information_row(item, w))
        groups.append({"id": info.clause_id, "sender": w.team(info.sender), "receiver": w.team(info.receiver),
                       "items": items})
    n = 0
    for group in groups:
        for item in group["items"]:
            n += 1
            item["number"] = _number(section, n)
            section.clauses.append(item)
    section.extra["groups"] = groups


def information_row(item: ir.InformationItem, w: Words) -> dict[str, Any]:
    within = ""
    if item.within is not None:
        duration = w.duration(item.within)
        if item.anchor is not None:
            within = w.t(f"information.after_{item.anchor.event}", duration=duration, stage=w.stage(item.anchor.stage))
        elif item.every is not None:
            within = w.t("information.after_period", duration=duration)
        else:
            within = duration
    return {
        "id": item.clause_id,
        "text": w.text(item.text),
        "within": within,
        "every": w.cadence(item.every) if item.every is not None else "",
        "recorded_in": w.property(item.recorded_in) if item.recorded_in else "",
    }


def _responsibilities(section: Section, policy: ir.Policy, w: Words) -> None:
    for n, r in enumerate(policy.responsibilities, 1):
        section.clauses.append({"number": _number(section, n), **responsibility_row(r, w)})


def responsibility_row(r: ir.Responsibility, w: Words) -> dict[str, Any]:
    return {
        "id": r.clause_id,
        "task": w.text(r.task),
        "responsible": w.teams(r.responsible),
        "accountable": w.teams(r.accountable),
        "consulted": w.teams(r.consulted),
        "informed": w.teams(r.informed),
    }


def _reviews(section: Section, policy: ir.Policy, w: Words) -> None:
    for n, review in enumerate(policy.reviews, 1):
        section.clauses.append({"number": _number(section, n), **review_row(review, w)})


def review_row(review: ir.Review, w: Words) -> dict[str, Any]:
    return {
        "id": review.clause_id,
        "label": w.text(review.label),
        "cadence": w.cadence(review.cadence),
        "owner": w.team(review.owner),
        "attendees": w.teams(review.attendees),
        "covers": w.join([w.t(f"topic.{c.name}") if c.name in ir.REVIEW_TOPICS else visible(c.name)
                          for c in review.covers]),
        "agenda": [w.text(a.value) for a in review.agenda],
        "last_held": review.last_held.value.isoformat() if review.last_held else "",
    }


def _calendars(section: Section, policy: ir.Policy, w: Words) -> None:
    default = policy.calendar_for(None)
    for n, cal in enumerate(policy.calendars, 1):
        section.clauses.append({
            "number": _number(section, n),
            "id": cal.clause_id,
            "label": w.text(cal.label),
            "default": cal is default,
            "timezone": visible(cal.timezone.value) if cal.timezone else "",
            "days": w.join([w.t(f"weekday.{d.name}") if d.name in ir.WEEKDAYS else visible(d.name) for d in cal.days]),
            "hours": w.join([w.t("calendar.hours", start=h.start.text, end=h.end.text) for h in cal.hours]),
            "holidays": w.t("calendar.holidays", country=visible(cal.holidays.name.upper())) if cal.holidays else "",
            "closed": w.join([d.value.isoformat() for d in cal.closed]),
        })


def _cancellations(section: Section, policy: ir.Policy, w: Words) -> None:
    """Term and renewal, how the agreement is amended, then when it must be rewritten."""
    a = policy.agreement
    terms: list[dict[str, Any]] = []
    if a is not None and a.term is not None:
        terms.append({"id": a.term.clause_id, "title": w.t("term.title"), "text": _term_text(a, w)})
    if a is not None and a.amendment is not None:
        m = a.amendment
        paragraphs = [w.t("amendment.approvers", parties=w.teams(m.approvers))] if m.approvers else []
        paragraphs += [w.text(t.value) for t in m.text]
        terms.append({"id": m.clause_id, "title": w.t("amendment.title"), "text": w.sentences(paragraphs)})
    for n, clause in enumerate(terms, 1):
        clause["number"] = _number(section, n)
    conditions = [
        {"number": _number(section, n), "id": c.clause_id, "text": w.text(c.text)}
        for n, c in enumerate(policy.cancellations, len(terms) + 1)
    ]
    section.extra["terms"] = terms
    section.extra["conditions"] = conditions
    section.clauses = terms + conditions


def _term_text(a: ir.Agreement, w: Words) -> str:
    term = a.term
    assert term is not None
    effective = a.effective.value if a.effective else None
    try:
        last = term.last_day(effective)
    except (OverflowError, ValueError):
        last = None
    values = {"effective": effective.isoformat() if effective else "", "until": last.isoformat() if last else ""}
    if term.length is not None:
        first = w.t("term.length", length=w.t(f"term_unit.{term.length.unit}", n=term.length.every), **values)
    else:
        first = w.t("term.until", **values)
    if term.renewal == "automatic":
        second = w.t("term.renews_automatically")
    elif term.renewal == "after_review":
        second = w.t("term.renews_after_review", review=w.review(term.review))
    else:
        second = w.t("term.expires")
    return w.sentences([first, second])


# ------------------------------------------------------------------ invisible characters


def invisible_text_warnings(policy: ir.Policy) -> list[Diagnostic]:
    """SLA803 for every policy text that holds an invisible control or direction mark.

    Walks the IR generically, so no text can be forgotten; points at the innermost node
    that has a span (the label's declaration, the condition value …).
    """
    out: list[Diagnostic] = []
    stack: list[tuple[Any, Span | None]] = [(policy, None)]
    while stack:
        node, span = stack.pop()
        if isinstance(node, str):
            found = invisible_characters(node)
            if found and span is not None:
                codes = Listing((f"U+{ord(ch):04X}" for ch in found), limit=len(found), quote=False)
                shown = Listing((f"[U+{ord(ch):04X}]" for ch in found), limit=len(found), quote=False)
                out.append(Diagnostic(
                    INVISIBLE_CHARACTER,
                    Message("text {text!r} contains the invisible characters {codes}; the agreement shows them as {shown}",
                            text=visible(node), codes=codes, shown=shown)
                    if len(found) > 1 else
                    Message("text {text!r} contains the invisible character {codes}; the agreement shows it as {shown}",
                            text=visible(node), codes=codes, shown=shown),
                    span,
                    help=Message('delete it from the policy unless it is really wanted (search for the code point)'),
                ))
        elif isinstance(node, (tuple, list)):
            stack.extend((item, span) for item in reversed(node))
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            own = getattr(node, "span", None)
            here = own if isinstance(own, Span) else span
            for f in reversed(dataclasses.fields(node)):
                if f.name in ("span", "name_span", "path", "extra"):
                    continue
                stack.append((getattr(node, f.name), here))
    return out
# ------------------------------------------------------------------ texts not in the document's language


def untranslated_text_warnings(policy: ir.Policy, doc: Document) -> list[Diagnostic]:
    """SLA809 for every text the document shows that is not in its language, where it is declared."""
    if not doc.untranslated:
        return []
    declared = _text_spans(policy)
    lang = doc.lang
    out = []
    for text, (why, prop_id) in doc.untranslated.items():
        if why == "value":
            prop = policy.property_by_id.get(prop_id or "")
            option = next((o for o in prop.options if o.value == text), None) if prop else None
            span = option.span if option is not None else (prop.name_span if prop else Span.point(policy.path))
            out.append(Diagnostic(
                UNTRANSLATED_TEXT,
                Message('enum option "{text}" of `{property}` is shown as its raw value in the {lang} document', text=visible(text), property=prop_id, lang=lang),
                span,
                help=Message('give it a label: enum [..., "{text}" "…", ...]', text=text),
            ))
            continue
        span = declared.get(text, Span.point(policy.path))
        out.append(Diagnostic(
            UNTRANSLATED_TEXT,
            Message('"{text}" has no {lang} translation; the {lang} document shows it as written', text=visible(text), lang=lang),
            span,
            help=Message('add it to a `translation {lang}` block: "{text}" "…"', lang=lang, text=text),
        ))
    return sorted(out, key=lambda d: (d.span.line, d.span.column, d.message))


def _text_spans(policy: ir.Policy) -> dict[str, Span]:
    """Every text of the policy → the innermost span around its first occurrence."""
    out: dict[str, Span] = {}
    stack: list[tuple[Any, Span | None]] = [(policy, None)]
    while stack:
        node, span = stack.pop()
        if isinstance(node, str):
            if span is not None:
                out.setdefault(node, span)
        elif isinstance(node, (tuple, list)):
            stack.extend((item, span) for item in reversed(node))
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            if isinstance(node, ir.Translation):
                continue  # a translation's own texts are not where a text is declared
            own = getattr(node, "span", None)
            here = own if isinstance(own, Span) else span
            for f in reversed(dataclasses.fields(node)):
                if f.name in ("span", "name_span", "path", "extra"):
                    continue
                stack.append((getattr(node, f.name), here))
    return out
