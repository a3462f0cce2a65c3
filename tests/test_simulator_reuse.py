"""What the simulator remembers to avoid doing work twice gives what doing it again gives:
the text of a moment (remembered per plan) and a lead's scores (computed once per data,
carried to a clone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sla_lang.simulate.engine import Simulator
from sla_lang.simulate.model import DataModel, View

from .simkit import JST, POLICY, compile_policy


def test_a_moment_is_written_in_the_policy_zone_however_it_was_given():
    sim = Simulator(compile_policy())
    moment = datetime(2026, 7, 17, 9, 30, tzinfo=JST)
    # the same instant in three zones, then a minute later: the first text is remembered
    same = [moment, moment.astimezone(UTC), moment.astimezone(timezone(timedelta(hours=-5)))]
    assert [sim.format_time(m) for m in same] == ["2026-07-17T09:30:00+09:00"] * 3
    assert sim.format_time(moment + timedelta(minutes=1)) == "2026-07-17T09:31:00+09:00"
    # a second simulator of the same plan reads what the first remembered
    other = Simulator(sim.policy, sim.plan)
    assert other.format_time(moment.astimezone(UTC)) == "2026-07-17T09:30:00+09:00"
    assert sim.plan.formatted  # (remembered)


def test_the_two_moments_of_a_repeated_hour_keep_their_own_text():
    """When the clocks go back, 01:30 happens twice; Python finds the two equal (same zone, same
    wall time), but they are an hour apart and are written with their own offsets."""
    from zoneinfo import ZoneInfo

    new_york = ZoneInfo("America/New_York")
    sim = Simulator(compile_policy(POLICY.replace('timezone "Asia/Tokyo"', 'timezone "America/New_York"')))
    assert sim.plan.zone == new_york
    first = datetime(2026, 11, 1, 1, 30, tzinfo=new_york)
    second = first.replace(fold=1)
    assert first == second and second - first == timedelta(0) and second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    assert [sim.format_time(first), sim.format_time(second)] == ["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00"]
    assert sim.format_time(second.astimezone(UTC)) == "2026-11-01T01:30:00-05:00"


def _scores(policy, values):
    """The scores of `values` computed afresh, without anything remembered."""
    return dict(DataModel(policy).compute_scores(View(dict(values), DataModel(policy))))


def test_a_lead_s_scores_follow_its_data_and_a_clone_s_own_data():
    policy = compile_policy()
    sim = Simulator(policy)
    start = datetime(2026, 7, 1, 10, 0, tzinfo=JST)
    lead = sim.create("L1", start, "lead", {"employees": 10}, None)
    assert dict(sim.scores(lead)) == _scores(policy, {"employees": 10}) and sim.scores(lead)["s"] == 0
    copy = lead.clone()
    assert dict(sim.scores(copy)) == dict(sim.scores(lead))
    # the clone changes: its scores are those of its new data; the original keeps its own
    sim.change(copy, start + timedelta(hours=1), {"employees": 80}, {})
    assert sim.scores(copy)["s.fit"] == 15 and dict(sim.scores(copy)) == _scores(policy, {"employees": 80})
    assert dict(sim.scores(lead)) == _scores(policy, {"employees": 10})
    # and the original changes too (an event this time)
    sim.change(lead, start + timedelta(hours=2), {}, {"pricing_view": 3})
    assert dict(sim.scores(lead)) == _scores(policy, {"employees": 10, "pricing_view": 3})
    assert sim.scores(lead)["s"] == 15 and sim.priority(lead) == "cold"
    assert sim.priority(copy) == "cold"  # 15 < 30
    sim.change(copy, start + timedelta(hours=3), {"intent": "yes"}, {"pricing_view": 3})
    assert sim.scores(copy)["s"] == 20 + 15 and sim.priority(copy) == "hot"  # fit capped at 20


def test_the_generator_is_freed_without_the_cyclic_collector():
    """`sla test` keeps the cyclic collector off from generation to the end of the replays: the
    generator's state (hundreds of MB at 10,000 stages) must go when `generate_fixtures` returns,
    not stay through the replays, and no scenario's simulation may leave a cycle behind."""
    import gc
    import weakref

    from sla_lang.simulate import generate
    from sla_lang.targets.fixtures import generate_fixtures

    made = []
    original = generate.Generator.__init__

    def remember(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(weakref.ref(self))

    policy = compile_policy()
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        generate.Generator.__init__ = remember
        fixtures = generate_fixtures(policy, scenarios_only=True)
        generate.Generator.__init__ = original
        assert len(fixtures) > 10 and len(made) == 1
        assert made[0]() is None
        # nothing of the generation is left for the collector (imports leave some garbage)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = {type(o).__name__ for o in gc.garbage if type(o).__module__.startswith("sla_lang.simulate")}
        assert left == set()
    finally:
        generate.Generator.__init__ = original
        gc.set_debug(0)
        gc.garbage.clear()
        if collecting:
            gc.enable()


def _example_scenarios():
    from pathlib import Path

    from sla_lang.compile import compile_path
    from sla_lang.targets.fixtures import generate_fixtures

    root = Path(__file__).parent.parent
    for path in [*sorted((root / "policies").glob("*.sla")), root / "tests/fixtures/valid/every_construct.sla"]:
        policy = compile_path(path).policy
        yield policy, list(generate_fixtures(policy, scenarios_only=True).scenario_data())


def test_a_clone_goes_on_as_the_lead_would_and_leaves_it_as_it_was():
    """A lead cloned after any event of a scenario, the rest of the events applied to the clone
    *and* to the lead: both end as a simulation of the scenario without cloning (what the clone
    shares with the lead must be what neither changes again)."""
    from sla_lang.simulate.engine import Plan, parse_timestamp
    from sla_lang.simulate.events import EventFeed
    from sla_lang.simulate.report import lead_to_json
    from sla_lang.simulate.scenarios import replay, scenario_events

    checked = 0
    for policy, scenarios in _example_scenarios():
        plan = Plan(policy)
        for scenario in scenarios:
            events = scenario_events(scenario)
            lead_id = events[0]["lead"]
            until = parse_timestamp(scenario["until"], plan.zone) if scenario.get("until") else None
            whole = replay(policy, scenario, plan=plan)
            expected = lead_to_json(whole.sim, whole.sim.leads[lead_id])
            for split in range(1, len(events) + 1):
                sims = [Simulator(policy, plan), Simulator(policy, plan)]
                feeds = [EventFeed(sim, "<scenario>", None) for sim in sims]
                for number, event in enumerate(events[:split], 1):
                    feeds[0].apply(event, number, "")
                sims[1].leads[lead_id] = sims[0].leads[lead_id].clone()
                sims[1].first_at, sims[1].last_at = sims[0].first_at, sims[0].last_at
                for sim, feed in zip(sims, feeds, strict=True):
                    for number, event in enumerate(events[split:], split + 1):
                        feed.apply(event, number, "")
                    sim.finish(until)
                    assert lead_to_json(sim, sim.leads[lead_id]) == expected, (scenario["id"], split)
                checked += 1
    assert checked > 300


def test_two_scenarios_are_one_when_their_events_write_the_same_json():
    """The generator keeps one scenario per distinct events (`register`): its key is the same
    exactly when the sorted JSON of the events is (the definition it replaced)."""
    import itertools
    import json
    import random

    from sla_lang.simulate.generate import _events_key

    rng = random.Random(7)
    atoms = [None, True, False, 0, 1, 1.0, -0.0, 0.0, 2**63, 2**64, 10**20, 0.1, 1e16, 1e-7, float("nan"),
             float("inf"), -float("inf"), "", "null", "a", "é", "日本", [], {}]

    def value(depth=0):
        roll = rng.random()
        if depth > 2 or roll < 0.5:
            return rng.choice(atoms)
        if roll < 0.7:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        keys = rng.sample(["at", "type", "b", "é", "null"], rng.randint(0, 3))
        return {k: value(depth + 1) for k in keys}

    pool = [value() for _ in range(400)]
    # the same data built in another key order, and as tuples
    pool += [dict(reversed(list(v.items()))) for v in pool if isinstance(v, dict)]
    pool += [tuple(v) for v in pool if isinstance(v, list)]
    texts = [json.dumps(v, sort_keys=True, ensure_ascii=False) for v in pool]
    keys = [_events_key(v) for v in pool]
    same = 0
    for i, j in itertools.combinations(range(len(pool)), 2):
        assert (keys[i] == keys[j]) == (texts[i] == texts[j]), (pool[i], pool[j])
        same += texts[i] == texts[j]
    assert same > 100
