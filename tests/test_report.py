"""`sla report`: numbers worked out by hand, and the streamed replay against `sla simulate`."""

from __future__ import annotations

import io
import json
import random
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_lang.cli import cli
from sla_lang.report.document import parse_period
from sla_lang.report.replay import replay_history, scan_history
from sla_lang.simulate import simulate
from sla_lang.simulate.engine import Plan
from sla_lang.simulate.report import lead_to_json

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "hubspot_scoring.sla"
NOVEMBER = ROOT / "tests" / "fixtures" / "report" / "november.jsonl"


def run_report(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", str(POLICY), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def november() -> dict:
    code, out, err = run_report("--events", str(NOVEMBER), "--period", "2026-11", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def by(rows: list[dict], key: str, value: str) -> dict:
    return next(r for r in rows if r[key] == value)


# ------------------------------------------------------------------ hand-computed numbers
# The history (tests/fixtures/report/november.jsonl), read by hand with the policy:
#   A: MQL Nov 2 10:00, call 11:00 (1 h: SLA and SLO met), SQL 15:00, call Nov 4 09:00 (42 h
#      after SQL: SLA 48 h met, SLO 24 h missed), opportunity Nov 5 (sql decided in time).
#   B: MQL Nov 9 10:00, owner rep07 at 12:00, first call Nov 10 16:00 — 30 h, 6 h past the
#      24 h SLA; the escalation fires at 24 h; recycled Nov 11 09:00 with reason "budget".
#   C: MQL Nov 16 10:00, call 20:00 (10 h: met); never leaves MQL, so the 5bd decision falls
#      due Tue Nov 24 10:00 (Mon Nov 23 is a Japanese holiday) and is still open at the as-of
#      moment Dec 2 09:00: 7 d 23 h late; its escalation fires too.
#   E: lead Nov 20 (score 40), pricing page Nov 25 10:00 → MQL, call 10:30 (30 min), no buying
#      intent Nov 26 (disqualified, reason "competitor").
#   D: a subscriber on Dec 2 09:00: the latest event, so the history is judged as of then.
# A, B, C and E all viewed the pricing page before they became MQLs, so their first response must
# be a call (policy 3.3.0); every response is one. B and C were e-mailed before 3.3.0: that
# history is judged under the channel rule in test_an_email_does_not_answer_a_pricing_page_viewer.


def test_as_of_is_the_latest_event(november):
    assert november["as_of"] == "2026-12-02T09:00:00+09:00"
    assert november["period"] == {"label": "2026-11", "unit": "month", "start": "2026-11-01", "end": "2026-11-30"}
    assert november["history"]["leads"] == 5 and november["history"]["events"] == 16


def test_deadline_compliance_by_hand(november):
    mql_respond = by(november["compliance"], "clause", "mql.respond")
    assert (mql_respond["met"], mql_respond["at_risk"], mql_respond["breached"]) == (3, 0, 1)  # A, C, E met; B late
    assert mql_respond["sla_rate"] == 0.75 and mql_respond["slo_rate"] == 0.75
    mql_decide = by(november["compliance"], "clause", "mql.decide")
    assert (mql_decide["met"], mql_decide["breached"], mql_decide["slo_rate"]) == (3, 1, None)  # C never decided
    sql_respond = by(november["compliance"], "clause", "sql.respond")
    assert (sql_respond["met"], sql_respond["at_risk"], sql_respond["sla_rate"], sql_respond["slo_rate"]) == (0, 1, 1.0, 0.0)
    opportunity = by(november["compliance"], "clause", "opportunity.decide")
    assert (opportunity["open"], opportunity["settled"], opportunity["sla_rate"]) == (1, 0, None)  # due in February
    (sales,) = november["teams"]
    assert sales["team"] == "sales"
    assert (sales["settled"], sales["met"], sales["at_risk"], sales["breached"]) == (10, 7, 1, 2)
    assert sales["sla_rate"] == 0.8 and sales["escalations"] == 2


def test_breaches_say_who_and_how_late(november):
    b, c = sorted(november["breaches"], key=lambda x: x["lead"])
    assert (b["lead"], b["clause"], b["owner"], b["late_minutes"], b["still_open"]) == ("B", "mql.respond", "rep07", 360, False)
    assert b["due"] == "2026-11-10T10:00:00+09:00" and b["at"] == "2026-11-10T16:00:00+09:00"
    assert (c["lead"], c["clause"], c["still_open"], c["due"]) == ("C", "mql.decide", True, "2026-11-24T10:00:00+09:00")
    assert c["late_minutes"] == 7 * 1440 + 23 * 60


def test_escalations_follow_ups_and_recycling_by_hand(november):
    fired = {e["clause"]: e["fired"] for e in november["escalations"]}
    assert fired == {"mql.escalate.respond": 1, "mql.escalate.decide": 1, "sql.escalate.respond": 0, "sql.escalate.decide": 0,
                     "opportunity.escalate.decide": 0}
    (f,) = november["follow_ups"]
    # steps at 0d, 3d, 5bd: A met step 1 then moved on (cut short), B missed step 1, C met step 1
    # and missed 2 and 3, E met step 1 then was disqualified (cut short): none complete of 2 settled
    assert (f["leads"], f["complete"], f["incomplete"], f["cut_short"], f["in_progress"]) == (4, 0, 2, 2, 0)
    assert (f["steps_met"], f["steps_missed"], f["completion_rate"]) == (3, 3, 0.0)
    # the same cadences the KPI `rate mql.follow_up met … by owner` counts (simulate/kpis.py)
    per_owner = [k for k in november["kpis"] if k["kpi"] == "follow_up_rate"]
    assert sum(k["denominator"] for k in per_owner) == f["complete"] + f["incomplete"]
    assert sum(k["numerator"] for k in per_owner) == f["complete"]
    assert {k["group"] for k in per_owner} == {"rep07", "sales"}  # B was rep07's when it started; C the team's
    reasons = {(r["to"], r["reason"]): r["count"] for r in november["recycles"]}
    assert reasons == {("nurture", "Budget"): 1, ("disqualified", "Chose a competitor"): 1}  # the options' labels
    assert by(november["recycles"], "to", "nurture")["recycle"] is True


def test_funnel_by_hand(november):
    funnel = {f["stage"]: (f["entered"], f["converted"], f["rate"]) for f in november["funnel"]}
    assert list(funnel) == ["subscriber", "lead", "mql", "sql", "opportunity", "customer"]
    assert funnel["lead"] == (4, 4, 1.0)
    assert funnel["mql"] == (4, 1, 0.25)  # only A reached SQL
    assert funnel["sql"] == (1, 1, 1.0)
    assert funnel["opportunity"] == (1, 0, 0.0)
    assert funnel["customer"] == (0, None, None)


def test_time_to_first_touch_by_hand(november):
    touch = by(november["time_to_first_touch"], "clause", "mql.respond")
    # 30 min (E), 60 min (A), 600 min (C), 1800 min (B): nearest-rank median is the 2nd, p90 the 4th
    assert (touch["touched"], touch["untouched"], touch["within_sla"]) == (4, 0, 3)
    assert (touch["median_minutes"], touch["p90_minutes"], touch["mean_minutes"]) == (60, 1800, 622.5)
    counts = {b["from_minutes"]: b["count"] for b in touch["histogram"] if b["count"]}
    assert counts == {0: 2, 540: 1, 1800: 1}  # bins of 24 h / 8 = 180 min
    assert touch["within_minutes"] == 1440 and touch["target_minutes"] == 720


def test_kpis_by_hand(november):
    kpis = {k["kpi"]: k for k in november["kpis"]}
    assert (kpis["mql_count"]["value"], kpis["mql_count"]["status"]) == (4, "alert")  # alert < 90
    assert kpis["mql_count"]["alert_action"] == "Review lead-generation campaigns with Sales"
    assert (kpis["mql_to_sql"]["value"], kpis["mql_to_sql"]["status"]) == (0.25, "met")
    assert (kpis["follow_up_completion"]["value"], kpis["follow_up_completion"]["status"]) == (0.75, "alert")
    assert kpis["follow_up_completion"]["alert_fired"] and kpis["follow_up_completion"]["alert_notify"] == ["sales_managers"]
    assert kpis["average_mql_score"]["value"] == 55
    assert kpis["nurture_completion"]["value"] == 1
    assert (kpis["recycled_requalified"]["period"], kpis["recycled_requalified"]["value"]) == ("2026-Q4", 0)


def test_an_email_does_not_answer_a_pricing_page_viewer(tmp_path):
    """The history above with B and C e-mailed instead of called (as it was before the policy
    chose the channel), read by hand with `respond within 24h via call when pricing_page_view,
    email otherwise target 12h`: all four viewed the pricing page when they became MQLs, so only
    a call meets their first response. A (call after 1 h) and E (call after 30 min) meet it and
    its 12 h target. B's e-mail (Nov 10 16:00) and C's (Nov 16 20:00) are not calls, and neither
    is ever called: B's response is breached when due, Nov 10 10:00, and stays unanswered after
    B is recycled; C's is breached Nov 17 10:00 and still open at the as-of moment Dec 2 09:00,
    14 d 23 h later. The escalation after 24 h fires for both. The e-mails still count as
    follow-up attempts (`follow up … via call, email`), so the follow-ups are as above."""
    text = NOVEMBER.read_text(encoding="utf-8")
    for lead, moment in (("B", "2026-11-10T16:00"), ("C", "2026-11-16T20:00")):
        call = f'{{"at": "{moment}:00+09:00", "lead": "{lead}", "type": "activity_logged", "activity": "call"}}'
        assert text.count(call) == 1, call
        text = text.replace(call, call.replace('"call"', '"email"'))
    events = tmp_path / "emailed.jsonl"
    events.write_text(text, encoding="utf-8")
    code, out, err = run_report("--events", str(events), "--period", "2026-11", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    mql_respond = by(doc["compliance"], "clause", "mql.respond")
    assert (mql_respond["met"], mql_respond["at_risk"], mql_respond["breached"]) == (2, 0, 2)  # A, E met; B, C not
    assert mql_respond["sla_rate"] == 0.5 and mql_respond["slo_rate"] == 0.5
    responses = sorted((b["lead"], b["due"], b["at"], b["still_open"], b["late_minutes"])
                       for b in doc["breaches"] if b["clause"] == "mql.respond")
    assert [r[:3] for r in responses] == [("B", "2026-11-10T10:00:00+09:00", None),  # the e-mail is no late reply
                                         ("C", "2026-11-17T10:00:00+09:00", None)]
    assert responses[1][3:] == (True, 14 * 1440 + 23 * 60)
    fired = {e["clause"]: e["fired"] for e in doc["escalations"]}
    assert (fired["mql.escalate.respond"], fired["mql.escalate.decide"]) == (2, 1)
    touch = by(doc["time_to_first_touch"], "clause", "mql.respond")
    # only the calls touch: E 30 min, A 60 min; B and C never answered on their channel
    assert (touch["touched"], touch["untouched"], touch["within_sla"]) == (2, 2, 2)
    assert (touch["median_minutes"], touch["p90_minutes"], touch["mean_minutes"]) == (30, 60, 45)
    (f,) = doc["follow_ups"]
    assert (f["leads"], f["complete"], f["incomplete"], f["cut_short"], f["steps_met"], f["steps_missed"]) == (
        4, 0, 2, 2, 3, 3)
    kpis = {k["kpi"]: k for k in doc["kpis"]}
    assert (kpis["follow_up_completion"]["value"], kpis["follow_up_completion"]["status"]) == (0.5, "alert")
    (sales,) = doc["teams"]  # mql.respond 2 met + 2 breached instead of 3 + 1; the rest as above
    assert (sales["settled"], sales["met"], sales["at_risk"], sales["breached"]) == (10, 6, 1, 3)
    assert sales["sla_rate"] == 0.7 and sales["escalations"] == 3


def test_review_meetings_due_and_overdue():
    code, out, err = run_report("--events", str(NOVEMBER), "--period", "2026-11", "--format", "json",
                                "--as-of", "2027-01-10T09:00:00+09:00")
    assert code == 0, err
    reviews = {r["review"]: r for r in json.loads(out)["reviews"]}
    # criteria_review: last held 2026-10-06, every quarter → due 2027-01-06, 4 days before the as-of day
    assert (reviews["criteria_review"]["status"], reviews["criteria_review"]["days_overdue"]) == ("overdue", 4)
    assert reviews["sla_review"]["next_due"] == "2027-03-29" and reviews["sla_review"]["status"] == "scheduled"
    assert reviews["weekly_meeting"]["status"] == "not_recorded"


def test_a_kpi_alert_that_names_a_review_makes_it_due_now(tmp_path):
    # MQL → SQL at 0 % in November (no lead reaches SQL): the alert names criteria_review
    lines = [line for line in NOVEMBER.read_text(encoding="utf-8").splitlines()
             if '"buying_intent": "yes"' not in line and '"deal_created"' not in line]
    events = tmp_path / "no_sql.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, out, _ = run_report("--events", str(events), "--period", "2026-11", "--format", "json")
    doc = json.loads(out)
    assert by(doc["kpis"], "kpi", "mql_to_sql")["status"] == "alert"
    review = by(doc["reviews"], "review", "criteria_review")
    assert (review["status"], review["alerts"]) == ("due_now", ["mql_to_sql"])


# ------------------------------------------------------------------ outputs


def test_markdown_in_both_languages():
    code, en, _ = run_report("--events", str(NOVEMBER), "--period", "2026-11")
    assert code == 0
    assert en.startswith("# SLA review — 2026-11\n")
    assert "| B | mql.respond | rep07 | 2026-11-09 10:00 | 2026-11-10 10:00 | 6 h |" in en
    assert "Alert action: Escalate to the head of Sales" in en
    code, ja, _ = run_report("--events", str(NOVEMBER), "--period", "2026-11", "--lang", "ja")
    assert ja.startswith("# SLAレビュー — 2026-11\n")
    assert "7日 23時間（未判断）" in ja


def test_csv_is_long_format_and_deterministic():
    first = run_report("--events", str(NOVEMBER), "--period", "2026-11", "--format", "csv")[1]
    assert first == run_report("--events", str(NOVEMBER), "--period", "2026-11", "--format", "csv")[1]
    import csv

    rows = list(csv.DictReader(io.StringIO(first)))
    assert {"section", "period", "key", "metric", "value"} <= set(rows[0])
    breach = next(r for r in rows if r["section"] == "breach" and r["lead"] == "B")
    assert (breach["key"], breach["value"], breach["owner"]) == ("mql.respond", "360", "rep07")


def test_bad_lines_are_counted_not_fatal(tmp_path):
    events = tmp_path / "bad.jsonl"
    events.write_bytes(NOVEMBER.read_bytes() + b'{"at": "2026-11-30T10:00:00+09:00", "lead": "Z", "type": "activity_logged", '
                       b'"activity": "call"}\nnot json\n\xff\xfe\n')
    code, out, err = run_report("--events", str(events), "--period", "2026-11", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["history"]["skipped"] == 3
    assert doc["history"]["problems"] == {"SLA850": 2, "SLA852": 1}
    assert f"{events}:20:37: error SLA852" in err and "Traceback" not in err


def test_usage_errors():
    assert run_report("--period", "2026-11")[0] == 2
    assert run_report("--events", str(NOVEMBER), "--period", "November")[0] == 2
    assert run_report("--events", str(NOVEMBER), "--format", "pdf")[0] == 2


@pytest.mark.parametrize("text, expected", [
    ("2026-11", ("month", "2026-11-01", "2026-12-01")),
    ("2026-Q4", ("quarter", "2026-10-01", "2027-01-01")),
    ("2026-W47", ("week", "2026-11-16", "2026-11-23")),
    ("2026-11-30", ("day", "2026-11-30", "2026-12-01")),
    ("2026", ("year", "2026-01-01", "2027-01-01")),
    ("2026-13", None),
])
def test_periods(text, expected):
    got = parse_period(text)
    assert (None if got is None else (got[0], got[1].isoformat(), got[2].isoformat())) == expected


# ------------------------------------------------------------------ the streamed replay is the simulator


def _random_history(seed: int, leads: int) -> list[str]:
    """Interleaved histories of `leads` leads (not in time order across leads), with bad lines."""
    rng = random.Random(seed)
    policy_props = {"job_level": ["executive", "staff"], "industry": ["it", "retail"], "employees": [10, 120],
                    "region": ["tokyo_area", "other"]}
    per_lead = []
    for n in range(leads):
        clock = datetime.fromisoformat("2026-11-02T08:00:00+09:00").timestamp() + rng.randrange(0, 20 * 86400)
        lead = f"L{n}" if rng.random() < 0.8 else n  # integer ids too
        props = {k: rng.choice(v) for k, v in policy_props.items() if rng.random() < 0.8}
        events = [{"lead": lead, "type": "lead_created", "stage": rng.choice(["lead", "subscriber"]),
                   "properties": props, "events": {"pricing_page_view": rng.randrange(2)}}]
        for _ in range(rng.randrange(0, 12)):
            roll = rng.random()
            if roll < 0.35:
                events.append({"lead": lead, "type": "activity_logged", "activity": rng.choice(["call", "email", "meeting"])})
            elif roll < 0.6:
                events.append({"lead": lead, "type": "property_changed", "properties": rng.choice([
                    {"buying_intent": "yes"}, {"buying_intent": "not_now", "recycle_reason": "timing"},
                    {"buying_intent": "no"}, {"deal_created": True}, {"deal_outcome": rng.choice(["won", "lost"])},
                    {"form_submitted": True}])})
            elif roll < 0.8:
                events.append({"lead": lead, "type": "event_occurred", "event": rng.choice(
                    ["pricing_page_view", "case_study_view", "webinar_attended"])})
            elif roll < 0.9:
                events.append({"lead": lead, "type": "owner_changed", "owner": f"rep{rng.randrange(3)}"})
            else:
                events.append({"lead": lead, "type": "stage_set", "stage": rng.choice(["mql", "nurture", "sql"])})
        timed = []
        for event in events:
            clock += rng.choice([60, 3600, 6 * 3600, 30 * 3600, 4 * 86400])
            at = datetime.fromtimestamp(clock).astimezone(datetime.fromisoformat("2026-01-01T00:00:00+09:00").tzinfo)
            timed.append({"at": at.isoformat(), **event})
        per_lead.append(timed)
    lines = []
    while any(per_lead):  # interleave the leads at random, each lead's own events in order
        queue = rng.choice([q for q in per_lead if q])
        lines.append(json.dumps(queue.pop(0), ensure_ascii=False))
        if rng.random() < 0.03:
            lines.append(rng.choice([('{"at": "2026-11-05T10:00:00+09:00", "lead": "ghost", "type": "activity_logged", '
                                      '"activity": "call"}'), "{broken", '{"note": {"lead": "L1"}, "type": "x"}']))
    return lines


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), leads=st.integers(1, 40))
def test_streamed_verdicts_equal_the_simulators(seed, leads):
    """Every lead the report sees — deadlines with their status, moment and due time, follow-up
    steps, escalations, records, visits — is what `sla simulate --until AS_OF` says of it."""
    from sla_lang.compile import compile_path

    policy = compile_path(POLICY).policy
    lines = _random_history(seed, leads)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    plan = Plan(policy)
    seen: dict[str, object] = {}

    def keep(lead) -> None:
        assert lead.id not in seen  # each lead handed over once
        seen[lead.id] = lead

    replay = replay_history(policy, io.BytesIO(data), "h.jsonl", keep, plan=plan, shown_per_code=None)
    reference = simulate(policy, io.BytesIO(data), "h.jsonl", until=replay.as_of, binary=True, shown_per_code=None)
    expected = {row["lead"]: row for row in reference.leads_json()}
    got = {lead_id: lead_to_json(replay.sim, lead) for lead_id, lead in seen.items()}
    assert got == expected
    assert replay.as_of == reference.end
    assert replay.feed.counts == reference.feed.counts


def test_scan_reads_what_json_reads():
    lines = [
        b'{"at":"2026-11-01T10:00:00+09:00","lead":"A","type":"lead_created"}',
        b'{"lead": 7, "at": "2026-11-03T10:00:00Z", "type": "lead_created"}',
        b'{"at":"2026-11-02T10:00:00+09:00","lead":"B","type":"property_changed","properties":{"lead":"x"}}',
        b'{"at":"2026-11-02T10:00:00+09:00","lead":"C\\u0041","type":"lead_created"}',
        b'\xef\xbb\xbf{"at":"2026-11-01T10:00:00+09:00","lead":"A","type":"activity_logged","activity":"call"}',
        b'# a comment with "lead": "Q" and "at": "2030-01-01T00:00:00+09:00"',
        b'{"at":"not a time","lead":"D"}',
    ]
    from zoneinfo import ZoneInfo

    scan = scan_history(io.BytesIO(b"\n".join(lines) + b"\n"), ZoneInfo("Asia/Tokyo"))
    assert scan.last_line["A"] == 5 and scan.last_line["7"] == 2 and scan.last_line["B"] == 3
    assert scan.last_line["CA"] == 4 and scan.last_line["D"] == 7
    # the comment line is not an event: its lead and moment do not count; the latest is lead 7's (UTC)
    assert "Q" not in scan.last_line
    assert scan.latest == datetime.fromisoformat("2026-11-03T10:00:00+00:00")


# ------------------------------------------------------------------ HTML, PDF and charts


def test_html_has_the_charts_and_is_reproducible(tmp_path):
    pytest.importorskip("matplotlib")
    pages = []
    for run in range(2):
        out = tmp_path / f"r{run}.html"
        code, _, err = run_report("--events", str(NOVEMBER), "--period", "2026-11", "--format", "html", "--lang", "ja",
                                  "-o", str(out))
        assert code == 0, err
        pages.append(out.read_bytes())
    assert pages[0] == pages[1]
    html = pages[0].decode("utf-8")
    assert '<html lang="ja">' in html and "SLAレビュー — 2026-11" in html
    # funnel, trend and one histogram per respond deadline, as inline SVG without dates
    assert html.count("<svg") == 4 and "<?xml" not in html and "<dc:date>" not in html
    assert "アラート時の対応：Escalate to the head of Sales" in html


def test_pdf_in_japanese(tmp_path):
    pytest.importorskip("typst")
    pytest.importorskip("matplotlib")
    import shutil
    import subprocess

    out = tmp_path / "review.pdf"
    code, _, err = run_report("--events", str(NOVEMBER), "--period", "2026-11", "--format", "pdf", "--lang", "ja",
                              "-o", str(out))
    assert code == 0, err
    again = tmp_path / "again.pdf"
    run_report("--events", str(NOVEMBER), "--period", "2026-11", "--format", "pdf", "--lang", "ja", "-o", str(again))
    assert out.read_bytes() == again.read_bytes()
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils not installed")
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    squeezed = "".join(text.split())  # Typst spaces Latin letters from Japanese ones
    assert "SLAレビュー—2026-11" in squeezed
    assert "7日23時間（未判断）" in squeezed  # C's decision, still open
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=False).stdout
    assert "NotoSansCJK" in fonts


def test_charts_are_deterministic_and_mark_the_deadline(november):
    pytest.importorskip("matplotlib")
    from sla_lang.report.charts import draw_charts

    first, problem = draw_charts(november)
    assert problem is None
    assert first == draw_charts(november)[0]
    assert set(first) == {"funnel", "trend", "touch_mql_respond", "touch_sql_respond"}
    touch = first["touch_mql_respond"]
    assert touch.startswith("<svg") and "<text" not in touch  # text drawn as paths: no font needed to view it
    # matplotlib notes each drawn text in a comment: the deadline and the internal target are marked
    assert "<!--  SLA 24h -->" in touch and "<!--  SLO 12h -->" in touch


def test_every_message_has_both_languages():
    from sla_lang.agreement.catalogue import load_messages, placeholders

    for key, entries in load_messages("report").items():
        assert set(entries) == {"en", "ja"}, key
        assert placeholders(entries["en"]) == placeholders(entries["ja"]), key


def test_simulate_writes_into_a_fifo_without_replacing_it(tmp_path):
    """`sla simulate -o /dev/null` once replaced the device with a file (run as root); a FIFO
    stands in for the device here."""
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = CliRunner().invoke(cli, ["simulate", str(POLICY), "--events", str(NOVEMBER), "--summary", "-o", str(fifo)])
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert b"Summary" in received[0]


def test_labels_come_through_the_policys_translation(tmp_path):
    """A Japanese policy reported in English reads its labels from its `translation en` block."""
    events = tmp_path / "one.jsonl"
    events.write_text('{"at": "2026-11-02T10:00:00+09:00", "lead": "L1", "type": "lead_created", "stage": "lead"}\n',
                      encoding="utf-8")
    policy = ROOT / "policies" / "smarketing_ja.sla"
    runs = {}
    for lang in ("en", "ja"):
        result = CliRunner().invoke(cli, ["report", str(policy), "--events", str(events), "--period", "2026-11",
                                          "--format", "json", "--lang", lang])
        runs[lang] = json.loads(result.stdout)
    assert [f["stage_label"] for f in runs["ja"]["funnel"]][:2] == ["リード", "MQL（マーケティング・クオリファイド・リード）"]
    assert [f["stage_label"] for f in runs["en"]["funnel"]][:2] == ["Lead", "MQL (marketing qualified lead)"]
    assert runs["en"]["policy"]["title"] == "Service Level Agreement between Sales and Marketing"


def test_default_period(tmp_path):
    # the history reaches into December: the review is of November, the last whole month
    code, out, _ = run_report("--events", str(NOVEMBER), "--format", "json")
    assert code == 0 and json.loads(out)["period"]["label"] == "2026-11"
    # a history that starts in the current month: that month, so far
    events = tmp_path / "new.jsonl"
    events.write_text('{"at": "2026-12-02T09:00:00+09:00", "lead": "D", "type": "lead_created", "stage": "subscriber"}\n',
                      encoding="utf-8")
    code, out, _ = run_report("--events", str(events), "--format", "json")
    assert code == 0 and json.loads(out)["period"]["label"] == "2026-12"
