"""`sla simulate` on the command line: formats, exit codes, files, and safe CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli
from sla_lang.simulate.report import csv_cell, write_csv

from .simkit import POLICY, at


def invoke(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def files(tmp_path):
    policy = tmp_path / "test.sla"
    policy.write_text(POLICY, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in [
        {"at": at(17, 17, 30), "lead": "L1", "type": "lead_created",
         "properties": {"employees": 60, "note": "=HYPERLINK(\"http://x\")"}, "events": {"pricing_view": 1}},
        {"at": at(21, 12), "lead": "L1", "type": "activity_logged", "activity": "call"},
        {"at": at(21, 13), "lead": "L1", "type": "property_changed", "properties": {"intent": "yes"}},
        {"at": at(22, 9), "lead": "L2", "type": "lead_created"},
    ]) + "\n", encoding="utf-8")
    return policy, events


def test_text_report(files):
    policy, events = files
    result = invoke("simulate", str(policy), "--events", str(events), "--color", "never")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("Lead L1 — now in SQL (sql), owner sales\n")
    assert "mql.respond            due 2026-07-21 16:30 (target 2026-07-21 12:30) met 2026-07-21 12:00" in out
    assert "Summary — 2 leads, 4 events (0 skipped), 2026-07-17 17:30 – 2026-07-22 09:00 (Asia/Tokyo)" in out


def test_japanese_text_report(files):
    policy, events = files
    result = invoke("simulate", str(policy), "--events", str(events), "--lang", "ja", "--summary")
    assert result.exit_code == 0
    assert result.output.startswith("集計 — リード2件、イベント4件(スキップ0件)")


def test_json_report_is_one_document_and_deterministic(files, tmp_path):
    policy, events = files
    outputs = []
    for name in ("a.json", "b.json"):
        result = invoke("simulate", str(policy), "--events", str(events), "--format", "json", "-o", str(tmp_path / name))
        assert result.exit_code == 0
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    data = json.loads(outputs[0])
    assert list(data) == ["diagnostics", "format", "leads", "policy", "summary"]
    assert [lead["lead"] for lead in data["leads"]] == ["L1", "L2"]
    assert data["summary"]["kpis"] == []


def test_csv_report_escapes_formulas(files):
    policy, events = files
    result = invoke("simulate", str(policy), "--events", str(events), "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["lead", "record", "clause", "stage", "at", "due", "status", "detail"]
    handoff = next(r for r in rows if r[1] == "handoff")
    assert handoff[2] == "mql.handoff"
    assert ["L1", "deadline", "mql.respond", "mql", at(21, 12), at(21, 16, 30), "met", f"target {at(21, 12, 30)}"] in rows


def test_bad_events_exit_1_with_located_diagnostics(files, tmp_path):
    policy, _ = files
    events = tmp_path / "bad.jsonl"
    events.write_text('{"at": "2026-07-13T10:00:00+09:00", "lead": "L1", "type": "lead_created"}\nnot json\n')
    result = invoke("simulate", str(policy), "--events", str(events), "--color", "never")
    assert result.exit_code == 1
    assert f"{events}:2:1: error SLA850 (malformed-event-line)" in result.output
    assert "Summary — 1 leads, 1 events (1 skipped)" in result.output


def test_events_from_standard_input(files):
    policy, events = files
    result = invoke("simulate", str(policy), "--events", "-", "--summary", input=events.read_text())
    assert result.exit_code == 0 and "2 leads" in result.output


def test_policy_with_errors_is_not_simulated(tmp_path, files):
    _, events = files
    policy = tmp_path / "broken.sla"
    policy.write_text('agreement "x" {\n  version "1"\n  effective 2026-01-01\n}\nstage a {\n  owner nobody\n}\n')
    result = invoke("simulate", str(policy), "--events", str(events), "--color", "never")
    assert result.exit_code == 1 and "not simulated because of the errors above" in result.output


def test_missing_events_file_is_a_usage_error(files):
    policy, _ = files
    assert invoke("simulate", str(policy), "--events", "nope.jsonl").exit_code == 2


def test_until_settles_deadlines_later(files):
    policy, events = files
    result = invoke("simulate", str(policy), "--events", str(events), "--format", "json", "--until",
                    "2026-07-30T18:00:00+09:00")
    data = json.loads(result.output)
    assert data["summary"]["until"] == "2026-07-30T18:00:00+09:00"


@pytest.mark.parametrize("value, cell", [
    ("=1+2", "'=1+2"), ("+cmd", "'+cmd"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("-10", "-10"), ("-2.5", "-2.5"), ("plain", "plain"), ("a=b", "a=b"), (None, ""), (True, "true"), (42, "42"),
])
def test_csv_cells_never_start_a_formula(value, cell):
    assert csv_cell(value) == cell


def test_csv_quoting_survives_a_round_trip():
    text = write_csv(["a", "b"], [['=cmd|" /C calc"!A0', 'say "hi", then\nleave']])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ["'=cmd|\" /C calc\"!A0", 'say "hi", then\nleave']]
