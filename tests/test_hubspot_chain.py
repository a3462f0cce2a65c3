"""The creation chain: a lead whose data meets two successive transitions at once (created with
it, or changed by one update) moves through both in the agreement. HubSpot's filters read
current values, and the arming that keeps a recycled lead from bouncing straight back also stops
the second step. With custom code the workflow of the move reads the contact's property history
and arms the exit whose condition became true by the same change; without custom code the
HubSpot target reports SLA841 and a manual step — only where one lead's data can meet both
conditions, as decided by the checks' bounded condition model.

Each remaining SLA841 of the example policies is backed by a scenario the fixture generator
builds (`Generator.chained_scenario`), replayed through the reference simulator: the lead does
move through both transitions at one moment. A pair the model rules out gets no scenario either:
the generator's solver, which works on lead data with scores computed from their rules, finds no
such lead."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from sla_lang.compile import compile_path, compile_text
from sla_lang.simulate import simulate_events
from sla_lang.simulate.generate import Generator
from sla_lang.simulate.hubspot import build_bundle
from sla_lang.targets.fixtures import scenario_to_json

from .conftest import POLICIES, REPO, rel

EVERY_CONSTRUCT = REPO / "tests" / "fixtures" / "valid" / "every_construct.sla"

CHAIN_POLICY = '''agreement "Chains" {
  version "1"
  effective 2026-01-05
  owner ops
}
party marketing "Marketing" {
  role marketing
}
party sales "Sales" {
  role sales
}
team ops "Operations" {
  role operations
}
property size "Size" number
property intent "Intent" enum ["yes", "not_now", "no"]
property deal "Deal" bool
stage lead "Lead" {
  owner marketing
  entry
  -> mql when size >= 100
}
stage mql "MQL" {
  owner sales
  respond within 24h
  escalate to sales after 24h
  -> sql when intent == "yes"
  -> nurture when intent == "not_now"
}
stage sql "SQL" {
  owner sales
  respond within 24h
  escalate to sales after 24h
  -> nurture when intent == "not_now" and not deal
  -> lost when intent == "no"
}
stage nurture "Nurture" {
  owner marketing
  recycle
  -> mql when size >= 500 and intent != "no"
  -> lost after 30d
}
stage lost "Lost" {
  owner marketing
  terminal
}
'''


def _build(text_or_path):
    """Built for a portal without custom code: there the workflows cannot follow a chained move."""
    from sla_lang.config import HubSpotSettings
    from sla_lang.targets import BuildOptions

    result = compile_path(text_or_path, shown_as=rel(text_or_path)) if isinstance(text_or_path, Path) \
        else compile_text(text_or_path, "chains.sla")
    assert result.policy is not None and not result.errors, [d.message for d in result.errors]
    bundle, diagnostics = build_bundle(result.policy, BuildOptions(hubspot=HubSpotSettings(custom_code=False)))
    assert bundle is not None
    return result.policy, bundle, diagnostics


def chained_clauses(bundle) -> dict[str, list[str]]:
    """SLA841 manual steps: the armed exits the generator hands to a person, by stage."""
    out = {}
    for step in bundle.manifest["manualSteps"]:
        if step["code"] == "SLA841":
            out[step["clauses"][0].split(".to.")[0]] = sorted(step["clauses"])
    return out


def test_sla841_only_where_both_conditions_can_hold_at_once():
    """Into `sql` by `intent == "yes"`: its exits read `intent == "not_now"` and `intent == "no"`,
    so no lead meets both — no warning for `sql`. Into `mql` by `size >= 100` with `intent ==
    "yes"` (or "not_now") at once: both of mql's exits are chained moves. Into `nurture` by
    `intent == "not_now"` (from mql or sql), out by `size >= 500 and intent != "no"`: possible."""
    _, bundle, diagnostics = _build(CHAIN_POLICY)
    assert chained_clauses(bundle) == {"mql": ["mql.to.nurture", "mql.to.sql"], "nurture": ["nurture.to.mql"]}
    warnings = [d for d in diagnostics if d.code == "SLA841"]
    assert len(warnings) == 2
    assert all("sql.to." not in str(d.message) for d in warnings)
    # the help gives lead data meeting both (the model's witness, never relying on an unset value)
    helps = sorted(str(d.help) for d in warnings)
    assert 'size = 100, intent = "yes"' in helps[1] and "`lead.to.mql` and `mql.to.sql`" in helps[1]
    assert 'intent = "not_now", size = 500' in helps[0] and "`mql.to.nurture` and `nurture.to.mql`" in helps[0]


def test_a_stage_whose_exits_no_arriving_lead_can_meet_gets_no_warning():
    """Negative control for the decision: make `nurture`'s exit contradict every way in
    (`intent == "no"`; leads arrive with "not_now") — its SLA841 goes, nothing else changes."""
    text = CHAIN_POLICY.replace('-> mql when size >= 500 and intent != "no"', '-> mql when size >= 500 and intent == "no"')
    _, bundle, diagnostics = _build(text)
    assert chained_clauses(bundle) == {"mql": ["mql.to.nurture", "mql.to.sql"]}
    assert sum(d.code == "SLA841" for d in diagnostics) == 1


def test_a_condition_the_model_cannot_decide_still_warns(monkeypatch):
    """Where the model cannot analyse a condition it cannot prove the pair impossible: the warning
    stays (without an example lead)."""
    from sla_lang.checks import CheckContext
    from sla_lang.checks.liveness import can_hold_together

    result = compile_text(CHAIN_POLICY, "chains.sla")
    policy = result.policy
    ctx = CheckContext(policy)
    stage = {s.id: s for s in policy.stages}
    yes = stage["mql"].transitions[0].condition
    not_now_sql = stage["sql"].transitions[0].condition
    assert can_hold_together(ctx, yes, not_now_sql) == (False, None)
    possible, example = can_hold_together(ctx, stage["lead"].transitions[0].condition, yes)
    assert possible and example is not None
    # `!=` on a property that may be unset: leads relying on it are possible, not an example
    unset = compile_text(CHAIN_POLICY.replace('-> sql when intent == "yes"', '-> sql when intent != "no"'), "c.sla")
    ctx = CheckContext(unset.policy)
    stage = {s.id: s for s in unset.policy.stages}
    possible, _ = can_hold_together(ctx, stage["mql"].transitions[0].condition, stage["sql"].transitions[1].condition)
    assert possible is False  # `intent != "no"` and `intent == "no"`: never, set or not
    # a pair the model cannot analyse (it raises Unknown) is counted as possible, with no example
    from sla_lang.checks.conditions import ConditionModel, Unknown

    def cannot_tell(*args, **kwargs):
        raise Unknown("a condition the model does not analyse")

    monkeypatch.setattr(ConditionModel, "can_all_be_true", cannot_tell)
    assert can_hold_together(CheckContext(policy), yes, not_now_sql) == (True, None)


def chain_scenarios(policy, bundle):
    """For every SLA841 clause: each transition into its stage, and the generator's scenario
    (or the reason there is none)."""
    gen = Generator(policy)
    into = {}
    for stage in policy.stages:
        for t in stage.transitions:
            if t.condition is not None:
                into.setdefault(t.target.name, []).append(t.clause_id)
    made = {}
    for clauses in chained_clauses(bundle).values():
        for out in clauses:
            source = next(s for s in policy.stages if any(t.clause_id == out for t in s.transitions))
            for first in into.get(source.id, []):
                made[(first, out)] = gen.chained_scenario(first, out)
    gen.finish()
    return {pair: (scenario_to_json(gen, s) if not isinstance(s, str) else s) for pair, s in made.items()}


@pytest.mark.parametrize("path", [*POLICIES, EVERY_CONSTRUCT], ids=lambda p: p.name)
def test_every_chained_move_reported_is_one_a_lead_can_make(path):
    """Each SLA841 clause of the example policies has a lead — built by the fixture generator —
    that the reference simulator moves through the transition into the stage and that clause at
    one moment; the stages are the same five as before the decision, fewer clauses."""
    policy, bundle, _ = _build(path)
    scenarios = chain_scenarios(policy, bundle)
    for clauses in chained_clauses(bundle).values():
        for out in clauses:
            built = {first: s for (first, o), s in scenarios.items() if o == out and not isinstance(s, str)}
            assert built, f"{out}: no lead moves through it at once: {scenarios}"
            for first, scenario in built.items():
                events = [{"at": scenario["lead"]["created"], "lead": "L", "type": "lead_created",
                           "stage": scenario["lead"]["stage"], "properties": scenario["lead"].get("properties", {}),
                           **({"events": scenario["lead"]["events"]} if scenario["lead"].get("events") else {})}]
                events += [{**e, "lead": "L"} for e in scenario["timeline"]]
                run = simulate_events(policy, events, "<chain>", until=datetime.fromisoformat(scenario["until"]))
                visits = run.sim.leads["L"].visits
                pairs = [(a.via, b.via) for a, b in pairwise(visits) if a.entered == b.entered]
                assert (first, out) in pairs, (first, out, [(v.via, v.entered) for v in visits])


def test_the_example_policies_report_fewer_chained_clauses():
    """hubspot_scoring and inside_sales_sal: `sql` is entered with `buying_intent == "yes"` and left
    for nurture only with `buying_intent` "not_now"/"no" — not a chained move any more (9 → 8
    clauses each); smarketing_ja keeps its 9 (`sql.to.nurture` reads `continue_approach` and
    `meeting_held`, which a lead can have together with `opportunity_likely`)."""
    counts = {}
    for path in POLICIES:
        _, bundle, _ = _build(path)
        steps = chained_clauses(bundle)
        counts[path.name] = (len(steps), sum(len(c) for c in steps.values()))
    assert counts == {"hubspot_scoring.sla": (5, 8), "inside_sales_sal.sla": (5, 8), "smarketing_ja.sla": (5, 9)}
    for name in ("hubspot_scoring.sla", "inside_sales_sal.sla"):
        policy, bundle, _ = _build(next(p for p in POLICIES if p.name == name))
        assert chained_clauses(bundle)["sql"] == ["sql.to.opportunity"]
        gen = Generator(policy)
        into_sql = [t.clause_id for s in policy.stages for t in s.transitions if t.target.name == "sql"]
        # the solver (scores from their rules, not the model's independent variables) finds no lead either
        assert all(isinstance(gen.chained_scenario(first, "sql.to.nurture"), str) for first in into_sql)


# ------------------------------------------------------------------ with custom code: the chain is followed

def mapped(policy, custom_code: bool = True):
    import dataclasses

    from sla_lang.targets import BuildOptions

    from .test_hubspot_differential import mapped_settings

    settings = dataclasses.replace(mapped_settings(policy), custom_code=custom_code)
    bundle, diagnostics = build_bundle(policy, BuildOptions(hubspot=settings))
    assert bundle is not None, [d.message for d in diagnostics]
    return bundle, diagnostics


def all_chain_scenarios(policy) -> dict[tuple[str, str], dict]:
    """A chained-move scenario for every pair of transitions (into a stage, out of it) that the
    fixture generator can build one for — independent of what the HubSpot target decided."""
    gen = Generator(policy)
    made = {}
    for stage in policy.stages:
        for first in stage.transitions:
            if first.condition is None:
                continue
            target = next((s for s in policy.stages if s.id == first.target.name), None)
            for out in target.transitions if target else ():
                if out.condition is not None:
                    made[(first.clause_id, out.clause_id)] = gen.chained_scenario(first.clause_id, out.clause_id)
    gen.finish()
    return {pair: scenario_to_json(gen, s) for pair, s in made.items() if not isinstance(s, str)}


CHAINS = {"hubspot_scoring.sla": 12, "inside_sales_sal.sla": 12, "smarketing_ja.sla": 13, "every_construct.sla": 2}


@pytest.mark.parametrize("path", [*POLICIES, EVERY_CONSTRUCT], ids=lambda p: p.name)
def test_with_custom_code_every_chained_move_is_followed(path, monkeypatch):
    """With custom code the workflow of each move reads the contact's property history and arms
    the next stage's exit whose condition became true by the same change: every chained-move
    scenario the generator builds replays through the HubSpot model with 0 divergences, no SLA841
    is left, and every request the code sends and every answer the model gives are HubSpot's
    (vendored contacts spec). The same scenarios without custom code stop one step early — so
    they do exercise the chain."""
    from sla_lang.simulate.hubspot import HubSpotReplay
    from sla_lang.targets.hubspot import emulate

    from .hubspot_spec import CONTACTS_V3, load_spec, spec_errors

    policy = compile_path(path, shown_as=rel(path)).policy
    scenarios = all_chain_scenarios(policy)
    assert len(scenarios) == CHAINS[path.name]
    bundle, diagnostics = mapped(policy)
    assert not [d for d in diagnostics if d.code == "SLA841"]
    assert not [s for s in bundle.manifest["manualSteps"] if s["code"] == "SLA841"]
    assert any("crm.objects.contacts.read" in s["step"] for s in bundle.manifest["manualSteps"] if s["code"] == "SLA838")
    reads = []
    real = emulate.Portal._read_contact

    def recorded(self, contact, query, moment):
        answer = real(self, contact, query, moment)
        reads.append((query, answer))
        return answer

    monkeypatch.setattr(emulate.Portal, "_read_contact", recorded)
    replay = HubSpotReplay(policy, bundle)
    found = {pair: [f"{d.what} ({d.clause}): {d.message}" for d in replay.check(s).divergences]
             for pair, s in scenarios.items()}
    assert {pair: d for pair, d in found.items() if d} == {}
    assert reads, "no workflow read the property history"
    declared = {p["name"] for p in load_spec(CONTACTS_V3)["paths"]["/crm/v3/objects/contacts/{contactId}"]["get"]["parameters"]}
    for query, answer in reads:
        assert set(query) <= declared and "propertiesWithHistory" in query
        assert spec_errors(CONTACTS_V3, "SimplePublicObjectWithAssociations", answer) == []
    assert any(len(entries) > 1 for _, answer in reads for entries in answer["propertiesWithHistory"].values())

    conservative, _ = mapped(policy, custom_code=False)
    replay = HubSpotReplay(policy, conservative)
    stopped = {pair for pair, s in scenarios.items()
               if any(d.what == "stage path" and d.clause == pair[1] for d in replay.check(s).divergences)}
    assert stopped == set(scenarios), {p: [(d.what, d.clause) for d in replay.check(scenarios[p]).divergences] for p in set(scenarios) - stopped}


CHAIN_MUTATIONS = {
    # the creation is a change like any other (`before` all unset): `not consent` held "before"
    "creation not a change of everything": ("moment == created or ", ""),
    # arm every exit whose condition holds after the move, also one that held before it
    "held before counts": ("(moment == created or not holds(groups, before))", "True"),
    # no loop guard: a chain that comes back goes round for ever
    "no loop guard": ("and at >= moment for at, name, value in entries", "and at > moment + 10 ** 12 for at, name, value in entries"),
    # the latest change is not looked for: the first one that made the condition true is taken
    "first change, not the latest": ("range(len(states) - 1, -1, -1)", "range(len(states))"),
}


def _mutated(bundle, old: str, new: str, only: str = ""):
    import copy

    from sla_lang.simulate.hubspot import HubSpotBundle

    files = copy.deepcopy(bundle.files)
    changed = 0
    for name, body in files.items():
        if not name.startswith("workflows/"):
            continue
        for action in body["actions"]:
            if (action.get("type") == "CUSTOM_CODE" and "also meet an exit of the next stage" in action["sourceCode"]
                    and only in action["sourceCode"]):
                assert old in action["sourceCode"], name
                action["sourceCode"] = action["sourceCode"].replace(old, new)
                changed += 1
    assert changed
    return HubSpotBundle(files)


@pytest.mark.parametrize("mutation", list(CHAIN_MUTATIONS))
def test_a_wrong_chain_check_is_caught(mutation):
    """Each deliberately wrong variant of the generated history check diverges from the agreement
    on the fixture scenarios and chained-move scenarios of the example policies (with custom code)."""
    from sla_lang.simulate.hubspot import HubSpotReplay
    from sla_lang.targets.fixtures import generate_fixtures

    old, new = CHAIN_MUTATIONS[mutation]
    caught = []
    for path in [*POLICIES, EVERY_CONSTRUCT]:
        policy = compile_path(path, shown_as=rel(path)).policy
        bundle, _ = mapped(policy)
        scenarios = [*all_chain_scenarios(policy).values(), *generate_fixtures(policy, None).scenarios["scenarios"]]
        replay = HubSpotReplay(policy, _mutated(bundle, old, new))
        caught += [f"{path.name} {s['id']}: {d.what} ({d.clause})" for s in scenarios for d in replay.check(s).divergences]
        if caught:
            break
    assert caught, f"{mutation}: no scenario tells it from the generated check"


def _timed_scenario(at: str) -> dict:
    """every_construct: a lead in `nurture` (entered 10:00; `-> mql when lead_score >= 50 after 30m`)
    whose one update at `at` raises the score to 56 (industry "it") and gives consent, so that
    `mql.to.done` (`industry == "it" and consent`) becomes true by the same change."""
    return {"id": f"timed {at}", "lead": {"id": "L1", "created": "2026-02-02T09:45:00+09:00", "stage": "mql",
                                        "properties": {"consent": True, "employees": 50}, "events": {"click": 3}},
            "timeline": [{"at": "2026-02-02T09:50:00+09:00", "type": "activity_logged", "activity": "call"},
                         {"at": "2026-02-02T10:00:00+09:00", "type": "property_changed",
                          "properties": {"consent": None, "reason": "timing"}},
                         {"at": f"2026-02-02T{at}:00+09:00", "type": "property_changed",
                          "properties": {"consent": True, "industry": "it"}}],
            "until": "2026-02-02T12:00:00+09:00"}


@pytest.mark.parametrize("at, final", [("10:29", "mql"), ("10:30", "done"), ("10:40", "done")])
def test_a_move_when_the_timeout_passes_is_moved_by_no_change(at, final):
    """`when … after`: a condition that became true before the timeout moves the lead when the
    timeout passes — by no change, so the next stage's exit that became true with it earlier does
    not chain (the lead stays in `mql`); one that becomes true at or after the timeout's moment is a
    change, and chains (`done`). Final stages worked out by hand from the agreement's rules,
    confirmed by the reference simulator; the HubSpot model with the generated code agrees, and
    the code without its timeout test (it reads the due moment `sla_nurture_to_mql_at`) does not."""
    from sla_lang.simulate.hubspot import HubSpotReplay
    from sla_lang.simulate.scenarios import replay as reference_replay
    from sla_lang.simulate.scenarios import simulated_lead

    policy = compile_path(EVERY_CONSTRUCT, shown_as=rel(EVERY_CONSTRUCT)).policy
    scenario = _timed_scenario(at)
    lead = simulated_lead(reference_replay(policy, scenario, path=scenario["id"]), "L1")
    assert lead["final_stage"] == final
    bundle, _ = mapped(policy)
    assert HubSpotReplay(policy, bundle).check(scenario).divergences == []
    untimed = HubSpotReplay(policy, _mutated(bundle, "TIMED = True", "TIMED = False", only="TIMED = True"))
    assert bool(untimed.check(scenario).divergences) == (final == "mql")
