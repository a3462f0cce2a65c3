"""Simulation results as JSON data, terminal text (English or Japanese) and CSV.

`lead_to_json` is also the shape of a scenario's `expect` block: `sla test` compares the
expected and the simulated lead key by key.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import datetime
from typing import Any

from .. import ir
from .engine import Lead, Simulator, StepRecord
from .kpis import KpiResult
from .model import condition_text, value_to_json

# ------------------------------------------------------------------ JSON


def lead_to_json(sim: Simulator, lead: Lead) -> dict[str, Any]:
    t = sim.format_time
    stages = []
    for v in lead.visits:
        item: dict[str, Any] = {"stage": v.stage, "entered": t(v.entered), "how": v.how}
        if v.left is not None:
            item["left"] = t(v.left)
        if v.via is not None:
            item["via"] = v.via
        if v.owner is not None:
            item["owner"] = v.owner
        if v.by is not None:
            item["by"] = v.by
        if v.owner_changes:
            item["owner_changes"] = [{"at": t(at), "owner": owner} for at, owner in v.owner_changes]
        stages.append(item)
    deadlines = []
    for d in lead.deadlines:
        item = {"clause": d.clause, "stage": d.stage, "kind": d.kind, "entered": t(d.entered), "due": t(d.due),
                "status": d.status}
        if d.slo_due is not None:
            item["target_due"] = t(d.slo_due)
        if d.at is not None:
            item["at"] = t(d.at)
        if d.owner is not None:
            item["owner"] = d.owner
        if isinstance(d, StepRecord):  # a step of a sequence: `entered` is when its clock started
            item["step"] = d.step.number
            if d.step.required:
                item["attempts"] = d.count
                item["required"] = d.step.required
        deadlines.append(item)
    follow_ups = []
    for f in lead.follow_ups:
        steps = []
        for n, (opens, closes, status, at) in enumerate(f.steps, 1):
            step = {"step": n, "opens": t(opens), "closes": t(closes), "status": status}
            if at is not None:
                step["at"] = t(at)
            steps.append(step)
        item = {"clause": f.clause, "stage": f.stage, "entered": t(f.entered), "required": f.required or len(f.steps),
                "attempts": len(f.attempts), "steps": steps}
        if f.anchored and f.started is not None:  # `from first contact`: when the count started
            item["first_contact"] = t(f.started)
        follow_ups.append(item)
    out: dict[str, Any] = {
        "lead": lead.id,
        "created": t(lead.created),
        "final_stage": lead.stage,
        "owner": lead.owner,
        "stages": stages,
        "deadlines": deadlines,
        "follow_ups": follow_ups,
        "escalations": [dict(e, at=t(e["at"])) for e in lead.escalations],
        "records": [
            {k: v for k, v in dict(r, at=t(r["at"]), values={n: value_to_json(x) for n, x in r["values"].items()}).items()
             if v is not None}
            for r in lead.records
        ],
        "handoffs": [dict(h, at=t(h["at"]), fields={n: value_to_json(x) for n, x in h["fields"].items()})
                     for h in lead.handoffs],
    }
    cadences = sim.cadences(lead, sim.last_at)
    if cadences:  # only policies with a `cadence` (the other reports stay as they were)
        out["cadences"] = [dict(c, **{"from": t(c["from"]), "to": t(c["to"])}) for c in cadences]
    if sim.policy.scores:
        out["scores"] = sim.scores(lead).shown()  # totals, and the groups with points
    if sim.policy.priorities:
        out["priority"] = sim.priority(lead)
    return out


def _threshold(op: str, value: ir.Value) -> str:
    return f"{op} {ir.value_source(value)}"


def kpis_to_json(results: list[KpiResult]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        kpi = r.kpi
        out.append({
            "kpi": kpi.id,
            "clause": kpi.clause_id,
            "label": kpi.label,
            "measure": ir.measure_source(kpi),
            "unit": r.unit + (" (business)" if r.business else ""),
            "target": _threshold(kpi.target.op, kpi.target.value) if kpi.target else None,
            "alert": _threshold(kpi.alert.op, kpi.alert.value) if kpi.alert else None,
            "rows": [{"period": row.period, "value": row.value, "numerator": row.numerator,
                      "denominator": row.denominator, "status": row.status, "partial": row.partial,
                      **({"group": value_to_json(row.group)} if kpi.by is not None else {})}
                     for row in r.rows],
        })
    return out


def summary_to_json(sim: Simulator, feed, first: datetime | None, end: datetime | None,
                    kpis: list[KpiResult]) -> dict[str, Any]:
    finals = Counter(lead.stage for lead in sim.leads.values())
    statuses = Counter(d.status for lead in sim.leads.values() for d in lead.deadlines)
    return {
        "leads": len(sim.leads),
        "events": feed.events if feed else 0,
        "skipped": feed.skipped if feed else 0,
        "from": sim.format_time(first) if first else None,
        "until": sim.format_time(end) if end else None,
        "time_zone": str(sim.plan.zone.key),
        "final_stages": dict(sorted(finals.items())),
        "deadlines": {s: statuses.get(s, 0) for s in ("met", "at_risk", "breached", "cancelled", "open")},
        "escalations": sum(len(lead.escalations) for lead in sim.leads.values()),
        "missing_records": sum(1 for lead in sim.leads.values() for r in lead.records if r["missing"]),
        "kpis": kpis_to_json(kpis),
    }


# ------------------------------------------------------------------ text

WORDS = {
    "en": {
        "lead": "Lead {id} — now in {label} ({stage}), owner {owner}",
        "stages": "stages", "deadlines": "deadlines", "follow_ups": "follow-ups", "escalations": "escalations",
        "records": "recorded on moves", "handoffs": "hand-offs", "created": "created", "by_hand": "moved by hand",
        "off_policy": "moved by hand (not in the policy)", "timeout": "timeout", "owner": "owner",
        "due": "due", "target": "target", "attempts": "{n} of {required} attempts",
        "step": "step {n}", "missing": "missing", "score": "score", "priority": "priority",
        "cadences": "cadences", "count": "{n} of {required} {event}",
        "summary": "Summary — {leads} leads, {events} events ({skipped} skipped), {start} – {end} ({zone})",
        "final": "final stages", "deadline_counts": "deadlines", "escalation_count": "escalations",
        "missing_records": "moves without the required record", "kpis": "KPIs", "partial": "partial",
        "none": "—", "nobody": "nobody", "comma": ", ", "kpi_target": "; target {x}", "kpi_alert": "; alert {x}",
        "status": {"met": "met", "at_risk": "at risk (SLO missed)", "breached": "breached", "cancelled": "cancelled",
                   "open": "open", "missed": "missed"},
        "kpi_status": {"met": "on target", "missed": "below target", "alert": "ALERT", "no_data": "no data",
                       "none": ""},
    },
    "ja": {
        "lead": "リード {id} — 現在: {label}({stage})、担当: {owner}",
        "stages": "ステージ履歴", "deadlines": "期限", "follow_ups": "フォローアップ", "escalations": "エスカレーション",
        "records": "移動時の記録", "handoffs": "引き渡し", "created": "作成", "by_hand": "手動で移動",
        "off_policy": "手動で移動(SLA外)", "timeout": "期限切れ", "owner": "担当",
        "due": "期限", "target": "目標", "attempts": "{required}回中{n}回",
        "step": "{n}回目", "missing": "未記録", "score": "スコア", "priority": "優先度",
        "cadences": "回数の定め", "count": "{event} {required}回中{n}回",
        "summary": "集計 — リード{leads}件、イベント{events}件(スキップ{skipped}件)、{start} – {end}({zone})",
        "final": "最終ステージ", "deadline_counts": "期限", "escalation_count": "エスカレーション",
        "missing_records": "必要な記録のない移動", "kpis": "KPI", "partial": "期間途中",
        "none": "—", "nobody": "なし", "comma": "、", "kpi_target": "、目標 {x}", "kpi_alert": "、アラート {x}",
        "status": {"met": "遵守", "at_risk": "要注意(SLO超過)", "breached": "違反", "cancelled": "取消",
                   "open": "未確定", "missed": "未実施"},
        "kpi_status": {"met": "目標達成", "missed": "目標未達", "alert": "アラート", "no_data": "データなし", "none": ""},
    },
}


def short_time(text: str | None) -> str:
    """2026-04-01T10:00:00+09:00 → 2026-04-01 10:00 (seconds only when not zero)."""
    if not text:
        return ""
    date_part, _, rest = text.partition("T")
    clock = re.split(r"[+\-Z]", rest, maxsplit=1)[0]
    if clock.endswith(":00") and clock.count(":") == 2:
        clock = clock[:-3]
    return f"{date_part} {clock}"


def render_lead_text(sim: Simulator, data: dict[str, Any], lang: str) -> str:
    w = WORDS[lang]
    stages = sim.policy.stage_by_id
    final = data["final_stage"]
    lines = [w["lead"].format(id=data["lead"], label=stages[final].label if final in stages else final, stage=final,
                              owner=data["owner"] or w["nobody"])]
    lines.append(f"  {w['stages']}")
    for s in data["stages"]:
        how = {"created": w["created"], "manual": w["by_hand"], "off_policy": w["off_policy"]}.get(s["how"])
        via = s.get("via") or ""
        if s["how"] == "timeout":
            via += f" ({w['timeout']})"
        note = how if how and not via else (f"{via} — {how}" if how else via)
        owner = f"{w['owner']} {s['owner']}" if s.get("owner") else ""
        lines.append(f"    {short_time(s['entered'])}  {s['stage']:<14} {note:<34} {owner}".rstrip())
        for change in s.get("owner_changes", ()):
            lines.append(f"    {short_time(change['at'])}  {'':<14} {'':<34} {w['owner']} → {change['owner']}")
    if data["deadlines"]:
        lines.append(f"  {w['deadlines']}")
        for d in data["deadlines"]:
            due = f"{w['due']} {short_time(d['due'])}"
            if "target_due" in d:
                due += f" ({w['target']} {short_time(d['target_due'])})"
            status = w["status"][d["status"]]
            when = f" {short_time(d['at'])}" if "at" in d else ""
            lines.append(f"    {d['clause']:<22} {due:<46} {status}{when}")
    if data["follow_ups"]:
        lines.append(f"  {w['follow_ups']}")
        for f in data["follow_ups"]:
            steps = "; ".join(
                f"{w['step'].format(n=s['step'])} {w['status'][s['status']]}" + (f" {short_time(s['at'])}" if "at" in s else "")
                for s in f["steps"]
            )
            lines.append(f"    {f['clause']:<22} {w['attempts'].format(n=f['attempts'], required=f['required'])}: {steps}")
    if data.get("cadences"):
        lines.append(f"  {w['cadences']}")
        for c in data["cadences"]:
            count = w["count"].format(n=c["count"], required=c["required"], event=c["event"])
            lines.append(f"    {c['clause']:<22} {short_time(c['from'])} – {short_time(c['to'])}  {count}: "
                         f"{w['status'][c['status']]}")
    if data["escalations"]:
        lines.append(f"  {w['escalations']}")
        for e in data["escalations"]:
            via = f" ({', '.join(e['channels'])})" if e["channels"] else ""
            lines.append(f"    {short_time(e['at'])}  {e['clause']} → {e['to']}{via}")
    if data["records"]:
        lines.append(f"  {w['records']}")
        for r in data["records"]:
            values = ", ".join(f"{k} = {_show(v)}" for k, v in r["values"].items() if k not in r["missing"])
            missing = f"  {w['missing']}: {', '.join(r['missing'])}" if r["missing"] else ""
            lines.append(f"    {short_time(r['at'])}  {r['clause']}  {values}{missing}".rstrip())
    if data["handoffs"]:
        lines.append(f"  {w['handoffs']}")
        for h in data["handoffs"]:
            missing = f"; {w['missing']}: {', '.join(h['missing'])}" if h["missing"] else ""
            lines.append(f"    {short_time(h['at'])}  {h['clause']} {h['from']} → {h['to'] or w['nobody']}"
                         f" ({', '.join(h['channels'])}){missing}")
    tail = []
    if "scores" in data:
        for model in sim.policy.scores:
            parts = ", ".join(f"{g.id} {_num(data['scores'].get(f'{model.id}.{g.id}', 0))}" for g in model.groups)
            tail.append(f"{w['score']} {model.id} {_num(data['scores'].get(model.id))} ({parts})")
    if "priority" in data:
        tail.append(f"{w['priority']} {data['priority'] or w['none']}")
    if tail:
        lines.append("  " + " · ".join(tail))
    return "\n".join(lines) + "\n"


def _show(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def _num(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render_summary_text(sim: Simulator, summary: dict[str, Any], lang: str) -> str:
    w = WORDS[lang]
    lines = [w["summary"].format(leads=summary["leads"], events=summary["events"], skipped=summary["skipped"],
                                 start=short_time(summary["from"]) or w["none"], end=short_time(summary["until"]) or w["none"],
                                 zone=summary["time_zone"])]
    finals = w["comma"].join(f"{k} {v}" for k, v in summary["final_stages"].items()) or w["none"]
    lines.append(f"  {w['final']}: {finals}")
    counts = w["comma"].join(f"{w['status'][k]} {v}" for k, v in summary["deadlines"].items())
    lines.append(f"  {w['deadline_counts']}: {counts}")
    lines.append(f"  {w['escalation_count']}: {summary['escalations']}")
    if summary["missing_records"]:
        lines.append(f"  {w['missing_records']}: {summary['missing_records']}")
    if summary["kpis"]:
        lines.append(w["kpis"])
        for k in summary["kpis"]:
            head = f"  {k['kpi']} \"{k['label']}\" — {k['measure']}"
            if k["target"]:
                head += w["kpi_target"].format(x=k["target"])
            if k["alert"]:
                head += w["kpi_alert"].format(x=k["alert"])
            lines.append(head)
            for row in k["rows"]:
                period = row["period"] + (f" ({w['partial']})" if row["partial"] else "")
                if "group" in row:  # a breakdown: one line per owner or value
                    period += f" {row['group'] if row['group'] is not None else '—'}"
                value = format_kpi_value(row["value"], k["unit"], row)
                lines.append(f"    {period:<22} {value:<22} {w['kpi_status'][row['status']]}".rstrip())
    return "\n".join(lines) + "\n"


def format_kpi_value(value, unit: str, row: dict | None = None) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        text = f"{value * 100:.1f}%"
        if row and row.get("denominator"):
            text += f" ({_num(row['numerator'])}/{row['denominator']})"
        return text
    if unit.startswith("minutes"):
        minutes = float(value)
        business = "business" in unit
        if minutes >= 1440 and not business:
            return f"{minutes / 1440:.1f}d"
        return f"{minutes / 60:.1f}{'bh' if business else 'h'}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


# ------------------------------------------------------------------ CSV

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def csv_cell(value: Any) -> str:
    """A cell that a spreadsheet will not run as a formula.

    Text starting with = + - @ (or a tab or carriage return) gets a leading apostrophe, as OWASP
    recommends; plain numbers such as -10 are left alone so they import as numbers.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_cell(c) for c in row])
    return buffer.getvalue()


CSV_HEADER = ["lead", "record", "clause", "stage", "at", "due", "status", "detail"]


def lead_csv_rows(data: dict[str, Any]) -> list[list[Any]]:
    lead = data["lead"]
    rows: list[list[Any]] = []
    for s in data["stages"]:
        rows.append([lead, "stage", s.get("via", ""), s["stage"], s["entered"], "", s["how"], s.get("owner", "")])
    for d in data["deadlines"]:
        rows.append([lead, "deadline", d["clause"], d["stage"], d.get("at", ""), d["due"], d["status"],
                     f"target {d['target_due']}" if "target_due" in d else ""])
    for f in data["follow_ups"]:
        for s in f["steps"]:
            rows.append([lead, "follow_up", f["clause"], f["stage"], s.get("at", ""), s["closes"], s["status"],
                         f"step {s['step']} of {f['required']}; {f['attempts']} attempts"])
    for c in data.get("cadences", ()):
        rows.append([lead, "cadence", c["clause"], c["stage"], c["from"], c["to"], c["status"],
                     f"{c['count']} of {c['required']} {c['event']}"])
    for e in data["escalations"]:
        rows.append([lead, "escalation", e["clause"], e["stage"], e["at"], "", "fired", f"to {e['to']}"])
    for r in data["records"]:
        values = "; ".join(f"{k}={v}" for k, v in r["values"].items() if k not in r["missing"])
        rows.append([lead, "recycle" if r["recycle"] else "record", r["clause"], r["to"], r["at"], "",
                     "missing" if r["missing"] else "recorded",
                     values + (f"; missing {', '.join(r['missing'])}" if r["missing"] else "")])
    for h in data["handoffs"]:
        rows.append([lead, "handoff", h["clause"], h["stage"], h["at"], "", "sent",
                     f"{h['from']} -> {h['to']}" + (f"; missing {', '.join(h['missing'])}" if h["missing"] else "")])
    return rows


def kpi_csv_rows(summary: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for k in summary["kpis"]:
        for row in k["rows"]:
            period = row["period"] + (f" {row['group']}" if row.get("group") is not None else "")
            rows.append(["", "kpi", k["clause"], period, "", "", row["status"],
                         "" if row["value"] is None else row["value"]])
    return rows


__all__ = [
    "condition_text",
    "csv_cell",
    "lead_to_json",
    "render_lead_text",
    "render_summary_text",
    "summary_to_json",
    "write_csv",
]
