"""The simulator's scores are computed sparsely (only the rules reading data the lead has): the
same numbers as adding up every rule, on random leads, and the work per lead independent of
how many rules the policy has."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sla_lang.compile import compile_text
from sla_lang.simulate.model import DataModel, View

from .simkit import HEADER

RULES = '''
property employees "Employees" number
property level "Level" enum ["exec", "manager", "staff"]
property partner "Partner" bool
event webinar "Webinar"
event visit "Visit"
score s "Score" {
  group fit "Fit" max 30 {
    +15 "Large" when employees >= 100
    +10 "Senior" when level in ["exec", "manager"]
    +10 "Not staff" when not (level == "staff")
    -5 "No size" when employees is not set
  }
  group eng "Engagement" max 25 {
    +10 "Webinars" when webinar >= 2
    +5 "Visited" when visit
    +20 "Partner who came" when partner and webinar
    -10 "Silent" when not visit and not webinar
  }
  group open "Uncapped" {
    +3 "Any visit" when visit >= 1
    +4 "Manager who visited" when level == "manager" and visit >= 3
  }
}
score t "Other" {
  group only "Only" max 5 {
    +7 "Many visits" when visit > 3
  }
}
'''


def dense_scores(policy, model: DataModel, values: dict) -> dict:
    """Every rule evaluated, as the README's simulation semantics say: a group is the sum of its
    true rules' points, capped at its maximum; a score the sum of its groups."""
    view = View(values, model)
    out = {}
    for score in policy.scores:
        total = 0
        for group in score.groups:
            points = sum(rule.points for rule in group.rules if model.compile(rule.condition)(view))
            if group.cap is not None:
                points = min(points, group.cap.value)
            out[f"{score.id}.{group.id}"] = points
            total += points
        out[score.id] = total
    return out


POLICY = compile_text(HEADER + RULES, "scores.sla", checks=False).policy

leads = st.fixed_dictionaries({}, optional={
    "employees": st.integers(0, 300),
    "level": st.sampled_from(["exec", "manager", "staff"]),
    "partner": st.booleans(),
    "webinar": st.integers(0, 4),
    "visit": st.integers(0, 5),
})


@settings(max_examples=300, deadline=None, derandomize=True)
@given(leads)
def test_sparse_scores_equal_every_rule_added_up(values):
    model = DataModel(POLICY)
    view = View(values, model)
    assert model.compute_scores(view) == dense_scores(POLICY, model, values)
    assert list(model.compute_scores(view)) == list(dense_scores(POLICY, model, values))  # same key order
    expected_rules = [rule.clause_id for score in POLICY.scores for group in score.groups for rule in group.rules
                      if model.compile(rule.condition)(view)]
    assert model.true_rules(view) == expected_rules


def test_a_lead_with_no_data_has_the_scores_of_its_default_rules():
    model = DataModel(POLICY)
    # -5 "No size" and -10 "Silent" hold for a lead with no data, +10 "Not staff" too (no level
    # is not "staff": `not (…)` of a comparison on a missing value is true)
    assert model.compute_scores(View({}, model)) == {"s.fit": 5, "s.eng": -10, "s.open": 0, "s": -5,
                                                     "t.only": 0, "t": 0}


def test_the_rules_evaluated_for_a_lead_do_not_grow_with_the_policy():
    """A lead's scores evaluate the rules reading its data: counted on a policy of 40 and of 400
    groups, with the same lead, the number of condition evaluations is the same."""
    def policy(groups: int):
        events = "".join(f'event e{i} "E{i}"\n' for i in range(groups))
        body = "".join(f'  group g{i} "G{i}" max 10 {{\n    +5 "r{i}" when e{i} >= 1\n  }}\n' for i in range(groups))
        return compile_text(HEADER + events + f'score s "S" {{\n{body}}}\n', "many.sla", checks=False).policy

    def evaluations(groups: int) -> int:
        model = DataModel(policy(groups))
        calls = 0
        for i, (g, points, fn, clause) in enumerate(model._rules):
            def counted(view, fn=fn):
                nonlocal calls
                calls += 1
                return fn(view)
            model._rules[i] = (g, points, counted, clause)
        scores = model.compute_scores(View({"e3": 2, "e7": 1}, model))
        assert scores["s"] == 10 and scores["s.g3"] == 5 and scores["s.g8"] == 0
        return calls

    assert evaluations(40) == evaluations(400) == 2
