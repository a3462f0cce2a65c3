"""One clause of the agreement as a sentence, in the words of the agreement document.

`sla diff` shows each changed obligation before and after in these sentences. They are built
from the same rows the document's sections are built from (`content.*_row`), so a deadline, a
follow-up cadence or a condition reads the same in the signed document and in the pull-request
comment; only the sentence frames (`clause.*` in messages.toml) are particular to one clause.
The result is plain text: each report format escapes it.
"""

from __future__ import annotations

from .. import ir
from .content import (
    cadence_row,
    capacity_words,
    deadline_row,
    escalation_row,
    follow_up_row,
    handoff_row,
    information_row,
    kpi_row,
    responsibility_row,
    review_row,
    stage_row,
    step_row,
    transition_row,
)
from .words import Words


def clause_sentence(kind: str, policy: ir.Policy, nodes: tuple, lang: str) -> str:
    """The clause `kind` made of `nodes` (e.g. "deadline", (stage, deadline)) as one sentence."""
    w = Words(policy, lang)
    return _with_extras(_sentence(kind, nodes, w), w)


def _with_extras(text: str, w: Words) -> str:
    """`… stage.\x00(by email)` → `… stage (by email).`: a parenthesis goes before the full stop."""
    body, _, extra = text.partition("\x00")
    extra = extra.replace("\x00", "")
    if extra and body.endswith((".", "。")):
        return body[:-1] + extra + body[-1]
    return body + extra


def _space(w: Words) -> str:
    return "" if w.lang == "ja" else " "  # Japanese sentences follow each other without a space


def _sentence(kind: str, nodes: tuple, w: Words) -> str:
    t = w.t
    paren = lambda text: "\x00" + t("doc.paren", text=text) if text else ""  # noqa: E731
    if kind == "stage":
        (stage,) = nodes
        row = stage_row(stage, w)
        return t("clause.stage", owner=row["owner"], stage=w.quote(row["label"])) + paren(row["kinds"])
    if kind == "deadline":
        stage, deadline = nodes
        row = deadline_row(stage, deadline, w)
        text = t("clause.deadline", stage=w.quote(row["stage"]), owner=row["owner"], kind=row["kind"], sla=row["sla"])
        return text + paren(t("clause.slo", slo=row["slo"]) if row["slo"] else "")
    if kind == "follow_up":
        stage, follow = nodes
        row = follow_up_row(stage, follow, w)
        text = t("clause.follow_up", stage=w.quote(row["stage"]), owner=row["owner"], attempts=row["attempts"],
                 when=row["when"])
        return text + paren(t("clause.by", channels=row["channels"]) if row["channels"] else "")
    if kind == "step":  # a step of a sequence: its time counts from the step before it being done
        stage, step = nodes
        row = step_row(stage, step, w)
        text = t("clause.step", stage=w.quote(row["stage"]), owner=row["owner"], what=row["what"], sla=row["sla"],
                 number=step.number, before=step.number - 1)
        return text + paren(t("clause.slo", slo=row["slo"]) if row["slo"] else "")
    if kind == "cadence":
        stage, cadence = nodes
        row = cadence_row(stage, cadence, w)
        return t("clause.cadence", stage=w.quote(row["stage"]), owner=row["owner"], attempts=row["attempts"],
                 event=row["channels"], when=row["when"])
    if kind == "escalation":
        stage, esc = nodes
        row = escalation_row(stage, esc, w)
        if esc.on is not None and esc.on.startswith("step"):  # counted from the step's start
            text = t("clause.escalation_step", stage=w.quote(row["stage"]), n=esc.on[4:], to=row["to"],
                     after=w.duration(esc.after))
            return text + paren(t("clause.by", channels=row["channels"]) if row["channels"] else "")
        text = t("clause.escalation", stage=w.quote(row["stage"]), on=row["on"] or t("clause.any_deadline"),
                 to=row["to"], after=row["after"])
        return text + paren(t("clause.by", channels=row["channels"]) if row["channels"] else "")
    if kind == "handoff":
        stage, handoff = nodes
        row = handoff_row(stage, handoff, w)
        quoted = {"stage": w.quote(row["stage"]), "sender": row["sender"], "receiver": row["receiver"]}
        text = (t("handoff.sentence", channels=row["channels"], **quoted) if row["channels"]
                else t("handoff.sentence_no_channel", **quoted))
        text += _space(w) + row["within"] if row["within"] else ""
        return text + (_space(w) + t("handoff.include", items=row["include"]) if row["include"] else "")
    if kind == "transition":
        _, transition = nodes
        row = transition_row(transition, w)
        names = {"source": w.quote(row["source"]), "target": w.quote(row["target"])}
        text = (t("clause.transition", when=row["when"], **names) if row["when"]
                else t("clause.transition_always", **names))
        if row["label"]:
            text = w.quote(row["label"]) + t("doc.colon") + text
        if row["record"]:
            items = w.join([t("transition.reasons", property=r["label"], reasons=r["reasons"]) if r["reasons"]
                            else r["label"] for r in row["record"]])
            text += _space(w) + t("clause.record", items=items)
        return text
    if kind == "kpi":
        (kpi,) = nodes
        row = kpi_row(kpi, w)
        measure = row["measure"] + (t("doc.clause_sep") + row["period"] if row["period"] else "")
        common = {"owner": row["owner"], "label": w.quote(row["label"]), "measure": measure}
        text = t("clause.kpi", target=row["target"], **common) if row["target"] else t("clause.kpi_no_target", **common)
        if row["alert"]:
            alert = t("kpis.alert_when", threshold=row["alert"]["when"])
            if row["alert"]["action"]:
                alert += t("doc.colon") + row["alert"]["action"]
            text += _space(w) + t("clause.kpi_alert", when=alert)
        return text
    if kind == "information":
        sender, receiver, item = nodes
        row = information_row(item, w)
        text = t("clause.information", sender=w.team(ir.Name(sender, item.span)), receiver=w.team(ir.Name(receiver, item.span)),
                 text=row["text"])
        if row["every"]:
            text += paren(row["every"])
        if row["within"]:
            text += paren(t("information.within", duration=row["within"]))
        if row["recorded_in"]:
            text += paren(t("information.recorded_in", property=row["recorded_in"]))
        return text
    if kind == "responsibility":
        (r,) = nodes
        row = responsibility_row(r, w)
        parts = [t(f"responsibilities.{role}") + t("doc.colon") + row[role]
                 for role in ("responsible", "accountable", "consulted", "informed") if row[role]]
        return w.quote(row["task"]) + t("doc.colon") + t("doc.clause_sep").join(parts)
    if kind == "review":
        (review,) = nodes
        row = review_row(review, w)
        parts = [t(f"reviews.{key}") + t("doc.colon") + row[key] for key in ("cadence", "owner", "attendees", "covers")
                 if row[key]]
        return w.quote(row["label"]) + t("doc.colon") + t("doc.clause_sep").join(parts)
    if kind == "capacity":
        (team,) = nodes
        return w.team(ir.Name(team.id, team.span)) + t("doc.colon") + (capacity_words(team, w) or t("doc.none"))
    raise ValueError(f"no sentence for clause kind {kind!r}")
