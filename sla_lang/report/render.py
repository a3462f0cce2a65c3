"""The report document in each output format: Markdown, HTML, PDF (Typst), JSON and CSV.

Markdown, HTML and Typst are jinja2 templates in `targets/report/` over one *view*: the
document's numbers formatted as text in the report's language, with the words of
`targets/report/messages.toml`. The environments (escaping of every printed value) are the
agreement's (`agreement/render.py`), and the PDF goes through the agreement's Typst pipeline
(`agreement/pdf.typeset`: the same fonts, glyph checks and reproducible dates).
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from typing import Any

from ..agreement.catalogue import Catalogue

CSV_HEADER = ("section", "period", "key", "team", "owner", "lead", "metric", "value", "detail")
BREACHES_SHOWN = 25


# ------------------------------------------------------------------ formatting


def percent(value: float | None) -> str | None:
    return None if value is None else f"{value * 100:.1f}%"


def duration_text(minutes: float | None, t: Catalogue) -> str | None:
    if minutes is None:
        return None
    minutes = round(minutes)
    sign = "-" if minutes < 0 else ""
    minutes = abs(minutes)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(t("unit.day", n=days))
    if hours:
        parts.append(t("unit.hour", n=hours))
    if mins or not parts:
        parts.append(t("unit.minute", n=mins))
    return sign + " ".join(parts[:2])


def kpi_value(value: Any, unit: str, t: Catalogue) -> str | None:
    if value is None:
        return None
    if unit == "ratio":
        return percent(value)
    if unit.startswith("minutes"):
        return duration_text(value, t)
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def moment_text(iso: str | None) -> str | None:
    """`2026-11-04T10:00:00+09:00` → `2026-11-04 10:00` (the report states the zone once)."""
    if iso is None:
        return None
    return iso[:10] + " " + iso[11:16]


# ------------------------------------------------------------------ the view


def build_view(doc: dict[str, Any]) -> dict[str, Any]:
    """Every number of the document as the text the formats print (one language)."""
    t = Catalogue(doc["language"], "report")
    none = t("text.none")
    period = doc["period"]["label"]
    history = doc["history"]
    settled = sum(c["settled"] for c in doc["compliance"])
    kept = sum(c["met"] + c["at_risk"] for c in doc["compliance"])
    alerts = [k for k in doc["kpis"] if k["alert_fired"]]
    reviews_due = [r for r in doc["reviews"] if r["status"] in ("due", "overdue", "due_now")]
    summary = [
        t("summary.sla", rate=percent(kept / settled) if settled else none, settled=settled),
        t("summary.breaches", n=len(doc["breaches"])),
        t("summary.escalations", n=sum(e["fired"] for e in doc["escalations"])),
        t("summary.alerts", n=len(alerts)),
        t("summary.reviews", n=len(reviews_due)),
    ]
    if doc.get("cadences"):  # only a policy with a `cadence` (the other reports stay as they were)
        summary.append(t("summary.cadences", n=sum(c["missed"] for c in doc["cadences"]),
                         owed=sum(c["owed"] for c in doc["cadences"])))
    problems = ", ".join(f"{code} × {n}" for code, n in history["problems"].items())
    meta = [t("meta.as_of", as_of=moment_text(doc["as_of"]) or none, zone=doc["time_zone"],
              start=moment_text(history["from"]) or none, events=f"{history['events']:,}",
              leads=f"{history['leads']:,}", skipped=f"{history['skipped']:,}")]
    if problems:
        meta.append(t("meta.problems", list=problems))
    left_out = history.get("import_left_out")
    if left_out:
        meta.append(t("meta.left_out", n=sum(left_out.values()), reasons=len(left_out)))

    compliance = [{
        "clause": c["clause"], "stage": c["stage_label"], "kind": t(f"kind.{c['kind']}"),
        "deadline": c["within"] + (f" / {c['target']}" if c["target"] else ""),
        "team": c["team_label"] or none, "settled": c["settled"], "met": c["met"], "at_risk": c["at_risk"],
        "breached": c["breached"], "open": c["open"], "cancelled": c["cancelled"],
        "sla": percent(c["sla_rate"]) or none, "slo": percent(c["slo_rate"]) or none,
    } for c in doc["compliance"]]
    teams = [{"team": x["label"] or none, "settled": x["settled"], "met": x["met"], "at_risk": x["at_risk"],
              "breached": x["breached"], "sla": percent(x["sla_rate"]) or none, "escalations": x["escalations"]}
             for x in doc["teams"]]
    per_owner: dict[str, list[int]] = {}
    for o in doc["owners"]:
        total = per_owner.setdefault(o["owner"] or none, [0, 0, 0])
        total[0] += o["settled"]
        total[1] += o["met"] + o["at_risk"]
        total[2] += o["breached"]
    owners = [{"owner": name, "settled": n, "met": kept, "breached": late, "sla": percent(kept / n) if n else none}
              for name, (n, kept, late) in sorted(per_owner.items()) if n]
    ordered = sorted(doc["breaches"], key=lambda b: (-(b["late_minutes"] or 0), b["lead"], b["clause"]))
    breaches = []
    for b in ordered[:BREACHES_SHOWN]:
        late = duration_text(b["late_minutes"], t) or none
        breaches.append({"lead": b["lead"], "clause": b["clause"], "stage": b["stage_label"],
                         "owner": b["owner"] or none, "entered": moment_text(b["entered"]), "due": moment_text(b["due"]),
                         "late": t(f"text.still_open.{b['kind']}", late=late) if b["still_open"] else late})
    breaches_note = (t("text.breaches_shown", shown=len(breaches), n=len(ordered))
                     if len(ordered) > len(breaches) else None)
    escalations = [{"clause": e["clause"], "stage": e["stage_label"], "to": e["to_label"], "after": e["after"],
                    "fired": e["fired"]} for e in doc["escalations"]]
    follow_ups = [{"clause": f["clause"], "stage": f["stage_label"], "at": ", ".join(f["at"]), "leads": f["leads"],
                   "complete": f["complete"], "incomplete": f["incomplete"], "in_progress": f["in_progress"],
                   "cut_short": f["cut_short"],
                   "completion": percent(f["completion_rate"]) or none,
                   "steps": f"{f['steps_met']} / {f['steps_missed']}"} for f in doc["follow_ups"]]
    cadences = [{"clause": c["clause"], "stage": c["stage_label"],
                  "obligation": t(f"text.cadence.{c['per']}", n=c["minimum"], event=c["event_label"]),
                  "team": c["team_label"] or none, "owed": c["owed"], "met": c["met"], "missed": c["missed"],
                  "nothing_owed": c["nothing_owed"], "open": c["open"], "rate": percent(c["rate"]) or none}
                 for c in doc["cadences"]]
    cadence_misses = [{"lead": m["lead"], "clause": m["clause"], "team": m["team_label"] or none,
                       "period": f"{moment_text(m['from'])} – {moment_text(m['to'])}",
                       "count": t("text.cadence_count", n=m["count"], required=m["required"])}
                      for m in doc["cadence_misses"]]
    funnel = [{"stage": f["stage_label"], "entered": f"{f['entered']:,}",
               "converted": f"{f['converted']:,}" if f["converted"] is not None else none,
               "rate": percent(f["rate"]) or none} for f in doc["funnel"]]
    touch = []
    for x in doc["time_to_first_touch"]:
        touch.append({"clause": x["clause"], "stage": x["stage_label"], "deadline": x["within"],
                      "touched": x["touched"], "untouched": x["untouched"],
                      "median": duration_text(x["median_minutes"], t) or none,
                      "p90": duration_text(x["p90_minutes"], t) or none,
                      "within_sla": percent(x["within_sla"] / x["touched"]) if x["touched"] else none})
    recycles = [{"clause": r["clause"], "to": r["to_label"], "reason": r["reason"] or t("text.no_reason"),
                 "count": r["count"]} for r in doc["recycles"]]
    missing = [t("text.missing_records", n=m["count"], clause=m["clause"]) for m in doc["missing_records"]]
    kpis = []
    for k in doc["kpis"]:
        status = "pending" if k["target_pending"] and k["status"] in ("none", "met", "missed") else k["status"]
        notes = []
        if k["alert_fired"] and k["alert_action"]:
            notes.append(t("text.alert_action", action=k["alert_action"]))
        if k["alert_fired"] and k["alert_notify"]:
            notes.append(t("text.notify", teams=", ".join(k["alert_notify"])))
        if k["partial"]:
            notes.append(t("text.partial"))
        label = k["label"] + (f" — {k['group']}" if k.get("group") is not None else "")
        kpis.append({"kpi": label, "clause": k["clause"], "period": k["period"] or none,
                     "value": kpi_value(k["value"], k["unit"], t) or none,
                     "target": k["target"] or (t("status.pending") if k["target_pending"] else none),
                     "alert": k["alert"] or none, "status": t(f"status.{status}"), "status_key": status,
                     "notes": notes, "fired": k["alert_fired"]})
    reviews = []
    for r in doc["reviews"]:
        if r["status"] == "overdue":
            status = t("review.overdue", n=r["days_overdue"])
        elif r["status"] == "due_now":
            status = t("review.due_now", kpis=", ".join(r["alerts"]))
        else:
            status = t(f"review.{r['status']}")
        every = t(f"every.{r['unit']}", n=r["every"]) if r["every"] else none
        reviews.append({"review": r["label"], "clause": r["clause"], "every": every,
                        "last_held": r["last_held"] or none, "next_due": r["next_due"] or none, "status": status,
                        "status_key": r["status"]})
    return {
        "lang": doc["language"], "title": t("title", period=period),
        "subtitle": t("subtitle", title=doc["policy"]["title"] or "", version=doc["policy"]["version"] or "—"),
        "fingerprint": t("meta.fingerprint", fingerprint=doc["policy"]["fingerprint"]),
        "meta": meta, "summary": summary, "compliance": compliance, "teams": teams, "owners": owners,
        "breaches": breaches, "breaches_note": breaches_note, "escalations": escalations,
        "any_escalation": any(e["fired"] for e in doc["escalations"]), "follow_ups": follow_ups,
        "cadences": cadences, "cadence_misses": cadence_misses, "funnel": funnel,
        "touch": touch, "recycles": recycles, "missing": missing, "kpis": kpis, "reviews": reviews,
    }


# ------------------------------------------------------------------ formats


@cache
def _environment(fmt: str):
    from ..agreement.render import template_environment

    return template_environment("report", fmt)


def render_markdown(doc: dict[str, Any]) -> str:
    t = Catalogue(doc["language"], "report")
    return _environment("md").get_template("report.md.j2").render(v=build_view(doc), t=t)


def render_html(doc: dict[str, Any], charts: dict[str, str]) -> str:
    import markupsafe

    t = Catalogue(doc["language"], "report")
    return _environment("html").get_template("report.html.j2").render(
        v=build_view(doc), t=t, charts={k: markupsafe.Markup(svg) for k, svg in charts.items()})


def render_typst(doc: dict[str, Any], charts: dict[str, str], fonts: dict[str, list[str]]) -> str:
    t = Catalogue(doc["language"], "report")
    return _environment("typ").get_template("report.typ.j2").render(v=build_view(doc), t=t, fonts=fonts,
                                                                    charts=sorted(charts))


def render_pdf(policy, doc: dict[str, Any], charts: dict[str, str]) -> bytes:
    """The PDF (raises agreement.pdf.PdfProblem with the diagnostic when it cannot be made)."""
    from ..agreement.pdf import document_date, typeset

    files = {f"{name}.svg": svg.encode("utf-8") for name, svg in charts.items()}
    pdf, _ = typeset(policy, lambda fonts: render_typst(doc, charts, fonts), lang=doc["language"],
                     moment=document_date(policy), files=files)
    return pdf


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def csv_rows(doc: dict[str, Any]) -> list[tuple]:
    """One row per number: `section, period, key, team, owner, lead, metric, value, detail` (long
    format, so a BI tool can pivot any of them)."""
    period = doc["period"]["label"]
    rows: list[tuple] = []
    for c in doc["compliance"]:
        for metric in ("settled", "met", "at_risk", "breached", "cancelled", "open", "sla_rate", "slo_rate"):
            rows.append(("compliance", period, c["clause"], c["team"], None, None, metric, c[metric], c["within"]))
        for p in c["trend"]:
            rows.append(("compliance_trend", p["period"], c["clause"], c["team"], None, None, "sla_rate",
                         p["sla_rate"], p["settled"]))
    for x in doc["teams"]:
        for metric in ("settled", "met", "at_risk", "breached", "sla_rate", "escalations"):
            rows.append(("team", period, x["team"], x["team"], None, None, metric, x[metric], None))
    for o in doc["owners"]:
        for metric in ("settled", "breached", "sla_rate"):
            rows.append(("owner", period, o["clause"], None, o["owner"], None, metric, o[metric], None))
    for b in doc["breaches"]:
        rows.append(("breach", period, b["clause"], b["team"], b["owner"], b["lead"], "late_minutes",
                     b["late_minutes"], b["due"]))
    for e in doc["escalations"]:
        rows.append(("escalation", period, e["clause"], None, None, None, "fired", e["fired"], e["to"]))
    for f in doc["follow_ups"]:
        for metric in ("leads", "complete", "incomplete", "in_progress", "cut_short", "completion_rate", "steps_met",
                       "steps_missed"):
            rows.append(("follow_up", period, f["clause"], f["team"], None, None, metric, f[metric], None))
    for c in doc.get("cadences", ()):
        for metric in ("owed", "met", "missed", "nothing_owed", "open", "rate"):
            rows.append(("cadence", period, c["clause"], c["team"], None, None, metric, c[metric], c["per"]))
    for m in doc.get("cadence_misses", ()):
        rows.append(("cadence_miss", period, m["clause"], m["team"], None, m["lead"], "count", m["count"],
                     f"{m['from']}/{m['to']} {m['required']}"))
    for f in doc["funnel"]:
        for metric in ("entered", "converted", "rate"):
            rows.append(("funnel", period, f["stage"], None, None, None, metric, f[metric], f["next"]))
    for x in doc["time_to_first_touch"]:
        for metric in ("touched", "untouched", "median_minutes", "p90_minutes", "mean_minutes", "within_sla"):
            rows.append(("first_touch", period, x["clause"], None, None, None, metric, x[metric], None))
        for b in x["histogram"]:
            rows.append(("first_touch_histogram", period, x["clause"], None, None, None, "count", b["count"],
                         f"{b['from_minutes']}-{'' if b['to_minutes'] is None else b['to_minutes']}"))
    for r in doc["recycles"]:
        rows.append(("recycle", period, r["clause"], None, None, None, "count", r["count"], r["reason"]))
    for k in doc["kpis"]:
        rows.append(("kpi", k["period"] or period, k["kpi"], k["owner"], k.get("group"), None, "value", k["value"],
                     k["status"]))
    for r in doc["reviews"]:
        rows.append(("review", period, r["review"], r["owner"], None, None, "next_due", r["next_due"], r["status"]))
    return rows


def render_csv(doc: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in csv_rows(doc):
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()
