"""Helpers for the simulator tests: a small policy, events as dicts, and runs."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sla_lang.compile import compile_text
from sla_lang.simulate import simulate_events
from sla_lang.simulate.engine import parse_timestamp

JST = ZoneInfo("Asia/Tokyo")

HEADER = '''agreement "Test SLA" {
  version "1"
  effective 2026-07-01
  calendar office
}
party marketing "Marketing" {
}
party sales "Sales" {
}
team managers "Managers" {
}
calendar office "Office" {
  timezone "Asia/Tokyo"
  days mon, tue, wed, thu, fri
  hours 09:00 to 18:00
  holidays JP
}
'''

# 2026-07-20 (Mon) is Marine Day; 2026-07-17 is the Friday before it.
POLICY = HEADER + '''
property intent "Intent" enum ["yes", "not_now", "no"]
property reason "Reason" enum ["timing", "budget"]
property employees "Employees" number
property note "Note" text
event pricing_view "Viewed pricing"

score s "Score" {
  group fit "Fit" max 20 {
    +15 "Big" when employees >= 50
    +10 "Keen" when intent == "yes"
  }
  group eng "Engagement" {
    +5 "Pricing" when pricing_view
    +10 "Pricing three times" when pricing_view >= 3
  }
}

priority hot "Hot" when s >= 30
priority cold "Cold"

stage lead "Lead" {
  owner marketing
  entry
  -> mql "Qualified" when s >= 20
  -> archived "Stale" after 30d
}

stage mql "MQL" {
  owner sales
  handoff from marketing {
    notify email
    include note, s
  }
  respond within 8bh target 4bh
  decide within 2bd
  follow up 2 times at 0d, 2d via call  # sla: ignore[SLA502] (the window tests need a late step)
  escalate to managers after 8bh on respond via email
  -> sql "Intent" when intent == "yes"
  -> nurture "Not now" when intent == "not_now" record reason
}

stage sql "SQL" {
  owner sales
  terminal
}

stage nurture "Nurture" {
  owner marketing
  recycle
  -> mql "Again" when s >= 20
  -> archived "Gone quiet" after 90d
}

stage archived "Archived" {
  owner marketing
  terminal
}
'''


def compile_policy(text: str = POLICY):
    result = compile_text(text, "test.sla", checks=False)
    errors = [f"{d.span.line}:{d.span.column} {d.message}" for d in result.diagnostics if d.severity.value == "error"]
    assert result.policy is not None and errors == []
    return result.policy


def at(day: int, hh: int, mm: int = 0, month: int = 7) -> str:
    return datetime(2026, month, day, hh, mm, tzinfo=JST).isoformat()


def ev(when: str, kind: str, lead: str = "L1", **fields) -> dict:
    return {"at": when, "lead": lead, "type": kind, **fields}


def run(events: list[dict], text: str = POLICY, until: str | None = None):
    policy = compile_policy(text)
    return simulate_events(policy, events, "events.jsonl", until=parse_timestamp(until, JST) if until else None)


def lead(run_, lead_id: str = "L1") -> dict:
    from sla_lang.simulate.report import lead_to_json

    return lead_to_json(run_.sim, run_.sim.leads[lead_id])


def stages(run_, lead_id: str = "L1") -> list[tuple[str, str, str | None]]:
    return [(s["stage"], s["entered"], s.get("via")) for s in lead(run_, lead_id)["stages"]]


def deadline(run_, clause: str, n: int = 0, lead_id: str = "L1") -> dict:
    return [d for d in lead(run_, lead_id)["deadlines"] if d["clause"] == clause][n]
