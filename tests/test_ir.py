"""The IR: lowering results, the shipped JSON Schema, canonical form and fingerprint."""

from __future__ import annotations

import json
from functools import cache

import jsonschema
import pytest

from sla_lang import ir
from sla_lang.compile import compile_path, compile_text
from sla_lang.irjson import canonical_bytes, fingerprint, policy_to_json
from sla_lang.resources import schema_path

from .conftest import POLICIES, VALID, rel


@cache
def validator():
    schema = json.loads(schema_path("ir.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", POLICIES + VALID, ids=lambda p: p.name)
def test_ir_validates_against_the_shipped_schema(path, in_repo):
    policy = compile_path(path, shown_as=rel(path)).policy
    for spans in (True, False):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(policy_to_json(policy, spans=spans))]
        assert errors == []


def test_schema_rejects_an_unknown_field(in_repo):
    data = policy_to_json(compile_path(POLICIES[0], shown_as=rel(POLICIES[0])).policy)
    data["stages"][0]["colour"] = "red"
    assert not validator().is_valid(data)


@pytest.mark.parametrize("path", POLICIES + VALID, ids=lambda p: p.name)
def test_ir_snapshot(path, in_repo, json_snapshot):
    policy = compile_path(path, shown_as=rel(path)).policy
    assert policy_to_json(policy, spans=False) == json_snapshot


def test_every_construct_lowers_as_written(in_repo):
    path = [p for p in VALID if p.name == "every_construct.sla"][0]
    policy = compile_path(path, shown_as=rel(path)).policy
    assert policy.agreement.version.value == "2"
    assert policy.agreement.purpose[1].value == 'Second paragraph with "quotes" and a backslash \\.'
    mql = policy.stage_by_id["mql"]
    assert (mql.deadline("respond").within.text, mql.deadline("respond").target.text) == ("8bh", "4bh")
    assert [e.clause_id for e in mql.escalations] == ["mql.escalate.respond", "mql.escalate.decide"]
    assert [t.clause_id for t in mql.transitions] == ["mql.to.done", "mql.to.nurture"]
    assert [c.kind for c in mql.handoff.channels] == ["slack", "email", "task", "in_app", "webhook"]
    assert mql.follow_up.owner.name == "sales" and [o.text for o in mql.follow_up.offsets] == ["0d", "2d"]
    office = policy.calendar_by_id["office"]
    assert [(h.start.text, h.end.text) for h in office.hours] == [("09:00", "12:00"), ("13:00", "18:00"), ("19:00", "20:00")]
    assert office.holidays.name == "JP" and len(office.closed) == 3
    fit = policy.scores[0].groups[0]
    assert [r.points for r in fit.rules] == [15, 10, 5, -5]
    assert [r.clause_id for r in fit.rules][-1] == "score.lead_score.fit.4"
    assert isinstance(fit.rules[0].condition, ir.AllOf)
    measures = [type(k.measure).__name__ for k in policy.kpis]
    assert measures[:5] == ["CountMeasure", "ConversionMeasure", "ComplianceMeasure", "AverageMeasure", "DurationMeasure"]
    assert policy.kpis[4].target.value.text == "2w"
    assert policy.kpis[0].source.value == "Lifecycle report" and policy.kpis[1].source is None
    assert policy.kpis[3].target is None and policy.kpis[3].target_pending
    monitored = policy.kpi_by_id["monitored"]
    assert monitored.target is None and not monitored.target_pending
    assert mql.deadline("respond").source.value == "CRM task log"
    term = policy.agreement.term
    assert (term.length.every, term.length.unit, term.renewal, term.review) == (1, "year", "automatic", None)
    assert term.last_day(policy.agreement.effective.value).isoformat() == "2027-01-31"
    amendment = policy.agreement.amendment
    assert [n.name for n in amendment.approvers] == ["marketing", "sales"]
    assert [t.value for t in amendment.text] == ["By pull request."]
    reason = policy.property_by_id["reason"]
    assert [(o.value, o.label) for o in reason.option_labels] == [("timing", "時期尚早")]
    assert policy.translation("en") == {"マーケティング": "Marketing", "時期尚早": "Too early"}
    assert policy.translation("ja") == {}
    assert mql.handoff.within.text == "2bh"
    sgl = policy.stage_by_id["sgl"]
    assert sgl.is_entry and ir.condition_source(sgl.entry_condition) == "consent and region is set"
    assert policy.stage_by_id["lead"].entry_condition is None
    outcome, feedback, rates, monthly, accepted = policy.information[0].items
    assert (outcome.anchor.event, outcome.anchor.stage.name, outcome.within.text) == ("leaving", "mql", "3bd")
    assert feedback.anchor is None and feedback.every is None
    assert (rates.every.every, rates.every.unit, rates.within) == (2, "week", None)
    assert (monthly.every.unit, monthly.within.text, monthly.anchor) == ("month", "5bd", None)
    assert (accepted.anchor.event, accepted.anchor.stage.name) == ("entering", "mql")
    follow_ups, handoffs, total, connects = (policy.kpi_by_id[k] for k in ("follow_ups", "handoffs", "employees_total",
                                                                             "connects"))
    assert (follow_ups.measure.deadline, follow_ups.by.name) == ("follow_up", "owner")
    assert (handoffs.measure.deadline, handoffs.by.name) == ("handoff", "industry")
    assert isinstance(total.measure, ir.SumMeasure) and total.measure.quantity.text == "employees"
    assert (connects.measure.activity, connects.measure.outcome, connects.measure.stage.name) == ("call", "connected", "mql")
    assert ir.measure_source(follow_ups) == "rate mql.follow_up met per month by owner"
    assert ir.measure_source(connects) == "rate call connected at mql per week"
    each = policy.scores[0].groups[1].rules[2]
    assert (each.per.name, each.cap.value, ir.condition_source(each.condition)) == ("visit", 5, "visit")
    assert policy.reviews[0].cadence == ir.Cadence(1, "week", policy.reviews[0].cadence.span)
    assert (policy.reviews[1].cadence.every, policy.reviews[1].cadence.unit) == (6, "month")
    assert [c.clause_id for c in policy.cancellations] == ["cancellation.1", "cancellation.2"]
    assert policy.property_by_id["industry"].options[2].value == "other"
    assert policy.responsibilities[1].informed[0].name == "ops"


def test_fingerprint_ignores_layout_and_comments_but_not_meaning():
    text = POLICIES[0].read_text(encoding="utf-8")
    base = fingerprint(compile_text(text).policy)
    relaid = text.replace("  owner", "      owner").replace("\n\n", "\n\n# a new comment\n\n")
    assert fingerprint(compile_text(relaid, path="elsewhere/other.sla").policy) == base
    for old, new in (("email otherwise target 12h", "email otherwise target 8h"),
                     ("via call when pricing_page_view, email otherwise", "via email when pricing_page_view, call otherwise")):
        assert text.count(old) == 1, old
        assert fingerprint(compile_text(text.replace(old, new)).policy) != base, new


def test_canonical_form_has_no_positions():
    data = canonical_bytes(compile_text(POLICIES[0].read_text(encoding="utf-8")).policy)
    assert b'"span"' not in data and b'"line"' not in data and b'"path"' not in data


def test_marker_and_deadline_order_does_not_change_the_ir():
    """`sla fmt` puts markers and deadlines in one order; lowering must not depend on theirs."""
    from sla_lang.compile import compile_text
    from sla_lang.irjson import canonical_bytes

    head = 'agreement "A" {\n  version "1"\n  effective 2026-01-01\n}\nteam t {\n}\n'
    a = compile_text(head + "stage s {\n  owner t\n  entry\n  terminal\n  respond within 1h\n  decide within 2h\n}\n")
    b = compile_text(head + "stage s {\n  owner t\n  decide within 2h\n  terminal\n  respond within 1h\n  entry\n}\n")
    assert a.policy is not None and b.policy is not None
    assert canonical_bytes(a.policy) == canonical_bytes(b.policy)
    assert [m.kind for m in b.policy.stages[0].markers] == ["entry", "terminal"]
    assert [d.kind for d in b.policy.stages[0].deadlines] == ["respond", "decide"]


def _node_classes() -> list[type]:
    return [c for c in vars(ir).values() if isinstance(c, type) and issubclass(c, ir.Node) and c is not ir.Node]


def test_node_classes_keep_the_docstring_dataclass_would_give_them():
    """`ir.node` writes the docstring of a class that has none itself (skipping dataclass's
    `inspect.signature`, which compiles tokenize's expressions at every start): it must be
    the one `dataclass` writes for such a class, made here by dataclass itself."""
    from dataclasses import dataclass

    undocumented = [c for c in _node_classes() if c.__doc__ == f"{c.__name__}()"]
    assert len(undocumented) > 10  # (the ones this is about: most small nodes have no docstring)
    for cls in undocumented:
        twin = type(cls.__name__, (ir.Node,), {"__annotations__": dict(cls.__annotations__), "__doc__": None})
        made = dataclass(slots=True, eq=False, repr=False, init=False)(twin)
        assert made.__doc__ == cls.__doc__
    documented = [c for c in _node_classes() if c not in undocumented]
    assert all(c.__doc__ and not c.__doc__.startswith(f"{c.__name__}(") for c in documented)


def test_defining_the_ir_never_asks_inspect_for_the_signature_of_object():
    """(dataclass does, for a node class without a docstring: `object.__init__`'s signature is
    parsed from its text, compiling tokenize's expressions, ~5 ms of every `sla` start.) A
    dataclass with its own `__init__` is cheap to ask. Checked in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import inspect\n"
        "calls = []\n"
        "signature = inspect.signature\n"
        "inspect.signature = lambda *a, **k: calls.append(a) or signature(*a, **k)\n"
        "import sla_lang.ir\n"
        "print(sum('__init__' not in vars(a[0]) for a in calls))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "0"


def test_nodes_are_frozen_and_pickle_back_equal():
    """Node's shared `__setattr__`/`__delattr__`/`__getstate__`/`__setstate__` stand for the
    ones `dataclass(frozen=True)` generated per class: assignment and deletion are refused with
    dataclass's own error, and a whole compiled policy survives pickling (the build cache)."""
    import pickle
    from dataclasses import FrozenInstanceError

    policy = compile_path(next(p for p in POLICIES if p.name == "inside_sales_sal.sla")).policy
    stage = policy.stages[0]
    for name in ("id", "span"):
        with pytest.raises(FrozenInstanceError, match=f"cannot assign to field '{name}'"):
            setattr(stage, name, "x")
        with pytest.raises(FrozenInstanceError, match=f"cannot delete field '{name}'"):
            delattr(stage, name)
    with pytest.raises(FrozenInstanceError):
        stage.not_a_field = "x"
    assert stage.id == policy.stages[0].id
    back = pickle.loads(pickle.dumps(policy, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == policy
    assert policy_to_json(back) == policy_to_json(policy)
    assert all(cls.__setattr__ is ir.Node.__setattr__ for cls in _node_classes())
