"""The KPI summary of the fixtures (all scenarios replayed together), computed in bounded memory:
each lead simulated on its own (`simulate.replay_kpis`, and in the generator each scenario's own
simulation carried on to the end of the whole replay) must give exactly what one simulation of
every scenario's events together gives (`simulate_events`, the definition)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from sla_lang.compile import compile_path
from sla_lang.simulate import replay_kpis, simulate_events
from sla_lang.simulate.generate import Generator
from sla_lang.simulate.kpis import KpiTally
from sla_lang.simulate.report import kpis_to_json
from sla_lang.targets import fixtures as fx

from . import simkit
from .conftest import FIXTURES, POLICIES


def _generated(policy):
    gen = Generator(policy, None)
    texts = fx.ScenarioTexts()
    gen.finished = lambda scenario: fx._pack(gen, scenario, texts)
    gen.kpi_tally = KpiTally(policy, gen.plan)
    gen.generate()
    return gen


def _stream(gen):
    stream = []
    for order, scenario in enumerate(gen.scenarios):
        for index, event in enumerate(scenario.events):
            stream.append((datetime.fromisoformat(event["at"]), order, index, event))
    stream.sort(key=lambda item: item[:3])
    untils = [s.until for s in gen.scenarios if s.until is not None]
    return [e for *_, e in stream], (max(untils) if untils else None)


def _together(gen):
    """The definition: every scenario's events in one simulation."""
    events, until = _stream(gen)
    run = simulate_events(gen.policy, events, "<scenarios>", until=until, plan=gen.plan)
    return {"leads": len(run.sim.leads), "until": gen.iso(run.end) if run.end else None,
            "kpis": kpis_to_json(run.kpis())}


POLICY_FILES = [*POLICIES, FIXTURES / "valid" / "every_construct.sla"]


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_the_kept_summary_is_the_summary_of_one_simulation(path):
    gen = _generated(compile_path(path).policy)
    expected = _together(gen)
    assert expected["kpis"] and expected["leads"] == len(gen.scenarios)
    # every scenario carried on to the end of the replay: no replay at all
    assert all(s.kpi is not None for s in gen.scenarios)
    summary, _ = fx.replay_all(gen)
    assert json.dumps(summary, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_the_replay_lead_by_lead_is_the_summary_of_one_simulation(path):
    gen = _generated(compile_path(path).policy)
    expected = _together(gen)
    for scenario in gen.scenarios:  # as if a scenario could not be carried on: the replay path
        scenario.kpi = None
    assert gen.kpi_replay() is None
    summary, _ = fx.replay_all(gen)
    assert json.dumps(summary, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_the_replay_from_the_written_texts_when_the_events_were_not_kept(path):
    policy = compile_path(path).policy
    expected = _together(_generated(policy))
    gen = Generator(policy, None)
    texts = fx.ScenarioTexts()
    gen.finished = lambda scenario: fx._pack(gen, scenario, texts)
    gen.kpi_tally = KpiTally(policy, gen.plan)
    gen.keep_events = False  # as the fixtures target generates
    gen.generate()
    assert all(len(s.events) == 1 and s.events[0]["type"] == "lead_created" for s in gen.scenarios)
    for scenario in gen.scenarios:  # the replay path, which must read the events back from the texts
        scenario.kpi = None
    summary, _ = fx.replay_all(gen, texts)
    texts.close()
    assert json.dumps(summary, sort_keys=True) == json.dumps(expected, sort_keys=True)


KPI_POLICY = simkit.POLICY + """
kpi mqls "MQLs per month" {
  owner marketing
  measure count mql per month
}
kpi mql_to_sql "MQL to SQL" {
  owner sales
  measure rate mql -> sql per month
}
kpi answered "MQLs answered in time" {
  owner sales
  measure rate mql.respond met per month
}
"""


def _event(at, lead, kind, **fields):
    return {"at": at, "lead": lead, "type": kind, **fields}


def _compare(policy, events, until=None):
    run = simulate_events(policy, events, "<x>", until=until)
    want = (len(run.sim.leads), run.first, run.end, kpis_to_json(run.kpis()))
    got = replay_kpis(policy, events, until=until)
    assert (got.leads, got.first, got.end, kpis_to_json(got.kpis)) == want
    return got


def test_replay_kpis_matches_one_simulation_with_interleaved_leads_and_bad_events():
    policy = simkit.compile_policy(KPI_POLICY)
    events = [
        _event(simkit.at(6, 10), "B", "lead_created", stage="mql"),
        _event(simkit.at(6, 9), "A", "lead_created", stage="mql"),
        _event(simkit.at(6, 9, 30), "A", "activity_logged", activity="call"),
        _event(simkit.at(6, 11), 7, "lead_created", stage="mql"),
        _event(simkit.at(6, 12), "7", "property_changed", properties={"intent": "yes"}),
        _event(simkit.at(6, 10, 30), "B", "property_changed", properties={"intent": "yes"}),
        _event(simkit.at(30, 9), "C", "lead_created", stage="mql"),  # another month
        _event(simkit.at(30, 9, 5), "C", "activity_logged", activity="call"),
        _event(simkit.at(30, 9, 10), "C", "property_changed", properties={"intent": "not_now", "reason": "budget"}),
        _event(simkit.at(6, 13), "nobody", "activity_logged", activity="call"),
        _event(simkit.at(6, 13), "", "lead_created"),
        "not an event",
        _event(simkit.at(6, 9, 10), "A", "lead_created", stage="lead"),  # a duplicate: skipped
    ]
    got = _compare(policy, events)
    assert got.leads == 4
    rows = {k["clause"]: [r["value"] for r in k["rows"]] for k in kpis_to_json(got.kpis)}
    assert any(v is not None for v in rows["kpi.mql_to_sql"]), rows  # figures, not an empty summary
    _compare(policy, events, until=datetime.fromisoformat("2026-08-20T00:00:00+09:00"))


def test_replay_kpis_falls_back_when_the_latest_event_is_not_applied():
    policy = simkit.compile_policy(KPI_POLICY)
    events = [
        _event(simkit.at(6, 9), "A", "lead_created", stage="mql"),
        # the latest moment of all, but about a lead that does not exist: not applied, so the
        # simulation ends earlier than it
        _event(simkit.at(8, 9), "ghost", "activity_logged", activity="call"),
        _event(simkit.at(6, 12), "A", "activity_logged", activity="call"),
    ]
    got = _compare(policy, events)
    assert got.end == datetime.fromisoformat(simkit.at(6, 12))
