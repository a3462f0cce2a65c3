"""The solver answers a search it has already made from memory (`Solver._answers`): by the
shapes of the constraints, not by the clauses they come from, so a policy of thousands of
stages written alike makes each distinct search once. That must change nothing: every answer
taken from memory is the answer a fresh search gives, at the same cost in the work budget
(SLA879 comes at the same point), and the fixtures are the same bytes. The same for the
generator's departures (`Generator.leave`), which a stage's deadline and escalation share."""

from __future__ import annotations

import importlib.util
from functools import partial

import pytest

from sla_lang import ir
from sla_lang.compile import compile_path, compile_text
from sla_lang.simulate import generate as generate_module
from sla_lang.simulate.report import lead_to_json
from sla_lang.simulate.solver import Frozen, Holds, QuantityIs, Solver
from sla_lang.targets.fixtures import generate_fixtures

from .conftest import FIXTURES, POLICIES, REPO
from .test_algorithm_budgets import HEADER, event_score_policy


def _bench_policy(stages: int) -> ir.Policy:
    spec = importlib.util.spec_from_file_location("sla_bench_generate", REPO / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return compile_text(module.generate_policy(stages), f"bench{stages}.sla", checks=False).policy


def _typed(values):
    """A search's answer with the type of every value (1, 1.0 and True are equal in Python)."""
    return None if values is None else [(name, value, type(value)) for name, value in values.items()]


def _searching_twice(monkeypatch, policy: ir.Policy) -> list[int]:
    """Make every search of the generator (`solve`, and `change`: the generator's searches for
    new data, several searches each) also on a solver without memory, in the same state (work
    done so far, budget used up or not), and compare answer, work and state after it.
    Returns [searches compared, of them answered from memory] (filled as the generator runs)."""
    fresh = Solver(policy, memoize=False)
    counts = [0, 0]

    def comparing(original):
        def both(self, *args, **options):
            if self is fresh:
                return original(self, *args, **options)
            fresh.work, fresh.exhausted, fresh.work_limit = self.work, self.exhausted, self.work_limit
            expected = original(fresh, *args, **options)
            reused = self.answers_reused
            got = original(self, *args, **options)
            assert _typed(got) == _typed(expected), args
            assert (self.work, self.exhausted) == (fresh.work, fresh.exhausted), args
            counts[0] += 1
            counts[1] += self.answers_reused > reused
            return got

        return both

    monkeypatch.setattr(Solver, "solve", comparing(Solver.solve))
    monkeypatch.setattr(Solver, "change", comparing(Solver.change))
    return counts


POLICY_FILES = [*POLICIES, FIXTURES / "valid" / "every_construct.sla"]


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_every_answer_from_memory_is_the_answer_of_a_fresh_search(monkeypatch, path):
    policy = compile_path(path).policy
    counts = _searching_twice(monkeypatch, policy)
    generate_fixtures(policy)
    assert counts[0] > 0


def test_a_bench_policy_is_mostly_answered_from_memory_with_the_same_answers(monkeypatch):
    policy = _bench_policy(51)  # 8 product lines written alike
    counts = _searching_twice(monkeypatch, policy)
    generate_fixtures(policy)
    searches, reused = counts
    assert reused * 2 > searches, counts


def test_a_search_stopped_by_the_work_budget_stops_at_the_same_point(monkeypatch):
    """A score the budget cannot cover (SLA879): an answer is taken from memory only when its
    cost fits in what is left of the budget, so the budget runs out at the same search."""
    policy = compile_text(event_score_policy(18), "score.sla").policy
    policy_solver = Solver(policy)
    counts = _searching_twice(monkeypatch, policy)
    monkeypatch.setattr(generate_module, "Solver", partial(Solver, work_limit=policy_solver.work_limit // 8))
    fixtures = generate_fixtures(policy)
    assert any(d.code == "SLA879" for d in fixtures.diagnostics)
    assert counts[0] > 0


@pytest.mark.parametrize("stages", [27, 51])
def test_the_fixtures_are_the_same_bytes_without_memory(monkeypatch, stages):
    policy = _bench_policy(stages)
    remembered = generate_fixtures(policy)
    monkeypatch.setattr(generate_module, "Solver", partial(Solver, memoize=False))
    afresh = generate_fixtures(policy)
    assert b"".join(remembered.scenarios_pieces()) == b"".join(afresh.scenarios_pieces())
    assert remembered.coverage == afresh.coverage
    assert remembered.contacts == afresh.contacts


# ------------------------------------------------------------------ what a search depends on

ALIKE = HEADER + """property x "X" bool
property y "Y" number
property note "Note" text
event e1 "E1"
event e2 "E2"
score s "S" {
  group g "G" max 100 {
    +30 "e1" when e1
    +30 "e2" when e2
    +20 "y" when y >= 10
  }
}
stage a "A" {
  owner ops
  entry
  -> b when s >= 50 and x
}
stage b "B" {
  owner ops
  -> c when s >= 50 and x
}
stage c "C" {
  owner ops
  -> d when s >= 60 and x
}
stage d "D" {
  owner ops
  -> done when x and s >= 50
}
stage done "Done" {
  owner ops
  terminal
}
"""


@pytest.fixture(scope="module")
def alike():
    policy = compile_text(ALIKE, "alike.sla", checks=False).policy
    return policy, {s.id: s.transitions[0].condition for s in policy.stages if s.transitions}


def _score(values) -> int:
    """`s` of ALIKE, by hand."""
    return 30 * (values.get("e1", 0) >= 1) + 30 * (values.get("e2", 0) >= 1) + 20 * ((values.get("y") or 0) >= 10)


def _answer(policy, base, constraints, solver=None):
    solver = solver or Solver(policy, memoize=False)
    return _typed(solver.solve(dict(base), constraints)), solver.work


def test_the_same_search_from_another_clause_is_answered_from_memory(alike):
    policy, conditions = alike
    solver = Solver(policy)
    first = solver.solve({}, [Holds(conditions["a"], True)])
    assert solver.answers_reused == 0 and _score(first) >= 50 and first["x"] is True
    work = solver.work
    second = solver.solve({"note": "n"}, [Holds(conditions["b"], True)])  # a name nothing reads
    assert solver.answers_reused == 1
    assert second == {"note": "n", **first}
    assert solver.work == 2 * work
    assert (_typed(second), solver.work - work) == _answer(policy, {"note": "n"}, [Holds(conditions["b"], True)])


@pytest.mark.parametrize("case", ["another constant", "the leaves in another order", "a value the score reads",
                                  "a value the condition reads", "the other way", "a quantity", "a variable held",
                                  "every event held but one", "the variables given", "a preferred value"])
def test_a_search_differing_in_what_it_reads_is_made_afresh(alike, case):
    policy, conditions = alike
    solver = Solver(policy)
    solver.solve({}, [Holds(conditions["a"], True)])
    base, constraints, options = {}, [Holds(conditions["b"], True)], {}
    if case == "another constant":
        constraints = [Holds(conditions["c"], True)]  # s >= 60
    elif case == "the leaves in another order":
        constraints = [Holds(conditions["d"], True)]  # x and s >= 50
    elif case == "a value the score reads":
        base = {"y": 10}
    elif case == "a value the condition reads":
        base = {"x": False}
    elif case == "the other way":
        constraints = [Holds(conditions["b"], False)]
    elif case == "a quantity":
        constraints += [QuantityIs(ir.Ref("s", None, conditions["a"].span), 60)]
    elif case == "a variable held":
        options = {"frozen": {"e1"}}
    elif case == "every event held but one":
        options = {"frozen": Frozen(policy, set(), events=True, properties=True, but="e2")}
    elif case == "the variables given":
        options = {"variables": ["y", "x", "e2"]}
    else:
        options = {"prefer": {"e1": 1}}
    got = solver.solve(dict(base), constraints, **options)
    assert solver.answers_reused == 0, case
    assert _typed(got) == _typed(Solver(policy, memoize=False).solve(dict(base), constraints, **options))


def test_a_forced_leaf_is_told_apart_by_its_place_in_the_condition(alike):
    policy, conditions = alike
    solver = Solver(policy)
    a, b = conditions["a"], conditions["b"]
    score_a, x_a = ir.condition_leaves(a)
    score_b, x_b = ir.condition_leaves(b)
    # `s >= 50` decides: false with it forced true, so x is false
    solver.solve({}, [Holds(a, False, forced=((id(score_a), True),))])
    solver.solve({}, [Holds(b, False, forced=((id(x_b), True),))])
    assert solver.answers_reused == 0
    got = solver.solve({}, [Holds(b, False, forced=((id(score_b), True),))])
    assert solver.answers_reused == 1
    assert _typed(got) == _answer(policy, {}, [Holds(b, False, forced=((id(score_b), True),))])[0]
    # a leaf of another condition is no place in this one: no memory
    solver.solve({}, [Holds(b, False, forced=((id(x_a), True),))])
    assert solver.answers_reused == 1


def test_an_answer_is_taken_from_memory_only_when_its_cost_fits_in_the_budget(alike):
    policy, conditions = alike
    solver = Solver(policy)
    solver.solve({}, [Holds(conditions["a"], True)])
    cost = solver.work
    solver.work = solver.work_limit - cost  # exactly enough left
    solver.solve({}, [Holds(conditions["b"], True)])
    assert solver.answers_reused == 1 and solver.work == solver.work_limit and solver.exhausted is None
    solver.work = solver.work_limit - cost + 1  # one evaluation short: searched afresh
    fresh = Solver(policy, memoize=False)
    fresh.work = solver.work
    got = solver.solve({}, [Holds(conditions["b"], True)])
    assert solver.answers_reused == 1
    assert (_typed(got), solver.work, solver.exhausted) == (
        _typed(fresh.solve({}, [Holds(conditions["b"], True)])), fresh.work, fresh.exhausted)


# ------------------------------------------------------------------ departures (Generator.leave)


def _leaving_twice(monkeypatch) -> list[int]:
    """Make every departure of the generator also afresh (`_leave` on a copy of the lead, the
    solver's work and budget state as they were), and compare the events, the clock, the answer
    and the work after it. Returns [departures compared, of them taken from memory]."""
    original = generate_module.Generator._leave
    counts = [0, 0]
    memory: list[bool] = []

    def fresh_leave(self, b, at, into, avoid):
        memory.append(False)
        return original(self, b, at, into, avoid)

    remembered = generate_module.Generator.leave

    def both(self, b, at, into=None, avoid=frozenset()):
        solver = self.solver
        twin = b.copy()
        work, exhausted = solver.work, solver.exhausted
        expected = original(self, twin, at, into, avoid)
        expected_state = (solver.work, solver.exhausted)
        solver.work, solver.exhausted = work, exhausted
        memory.clear()
        got = remembered(self, b, at, into, avoid)
        assert (got, b.events, b.clock) == (expected, twin.events, twin.clock)
        assert (solver.work, solver.exhausted) == expected_state
        assert lead_to_json(b.sim, b.lead()) == lead_to_json(twin.sim, twin.lead())
        counts[0] += 1
        counts[1] += not memory
        return got

    monkeypatch.setattr(generate_module.Generator, "_leave", fresh_leave)
    monkeypatch.setattr(generate_module.Generator, "leave", both)
    return counts


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_every_departure_from_memory_is_the_departure_made_afresh(monkeypatch, path):
    policy = compile_path(path).policy
    counts = _leaving_twice(monkeypatch)
    generate_fixtures(policy)
    assert counts[0] > 0


def test_a_bench_policy_leaves_from_memory_with_the_same_events(monkeypatch):
    counts = _leaving_twice(monkeypatch)
    generate_fixtures(_bench_policy(51))
    departures, remembered = counts
    assert remembered * 4 > departures, counts  # the escalations `on decide` (2 of 5 per segment)


def test_the_fixtures_are_the_same_bytes_without_remembered_departures(monkeypatch):
    policy = _bench_policy(51)
    remembered = generate_fixtures(policy)
    monkeypatch.setattr(generate_module.Generator, "leave",
                        lambda self, b, at, into=None, avoid=frozenset(): self._leave(b, at, into, avoid))
    afresh = generate_fixtures(policy)
    assert b"".join(remembered.scenarios_pieces()) == b"".join(afresh.scenarios_pieces())
    assert (remembered.coverage, remembered.contacts) == (afresh.coverage, afresh.contacts)


def test_new_data_with_a_value_held_is_not_the_new_data_without(alike):
    """`change` (the generator's search for new lead data) remembers by the names held too: the
    same starting values, once free and once fixed, are two searches."""
    policy, conditions = alike
    solver = Solver(policy)
    free = solver.change({"x": None}, [Holds(conditions["a"], True)], {})
    assert free["x"] is True and _score(free) >= 50
    held = solver.change({}, [Holds(conditions["b"], True)], {"x": None})
    assert held is None and solver.answers_reused == 0  # `x` must become true, and may not change
    again = solver.change({"note": "n", "x": None}, [Holds(conditions["b"], True)], {})
    assert solver.answers_reused == 1 and again == {"note": "n", **free}



def test_new_data_remembers_the_values_its_soft_constraints_read(alike):
    """`change` keys its answer by the starting values of what its hard *and* soft constraints
    read, even after a search with the same hard constraints alone (which reads less): the soft
    `y >= 10` is then met by keeping y = 20, not by the y = 10 an earlier lead was given."""
    policy, conditions = alike
    x_leaf = conditions["d"].items[0]  # x
    y_rule = policy.scores[0].groups[0].rules[2].condition  # y >= 10
    hard, soft = [Holds(x_leaf, True)], [Holds(y_rule, True)]
    solver = Solver(policy)
    solver.solve({}, hard)
    low = solver.change({"y": 5}, hard, {}, soft)
    assert (low["x"], low["y"]) == (True, 10)
    high = solver.change({"y": 20}, hard, {}, soft)
    assert high == Solver(policy, memoize=False).change({"y": 20}, hard, {}, soft)
    assert high["y"] == 20
