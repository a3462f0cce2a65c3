"""What the simulator remembers to avoid doing work twice gives what doing it again gives:
the text of a moment (remembered per plan) and a lead's scores (computed once per data,
carried to a clone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sla_lang.simulate.engine import Simulator
from sla_lang.simulate.model import DataModel, View

from .simkit import JST, compile_policy


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
