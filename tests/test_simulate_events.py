"""Bad events files: every problem is a diagnostic at line:column, and the simulation goes on."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sla_lang.simulate import simulate

from .simkit import at, compile_policy


def lines(*events) -> list[str]:
    return [e if isinstance(e, str) else json.dumps(e) for e in events]


def created(lead="L1", when=None, **fields):
    return {"at": when or at(13, 10), "lead": lead, "type": "lead_created", **fields}


def simulate_lines(*events):
    return simulate(compile_policy(), lines(*events), "events.jsonl")


def found(run_):
    return [(d.code, d.span.line, d.span.column) for d in run_.diagnostics]


def test_malformed_lines_are_reported_and_skipped():
    r = simulate_lines(
        created(),
        '{"at": "2026-07-13T10:00:00+09:00", "lead": "L1",',
        "",
        "# a comment",
        "[1, 2]",
        {"at": at(13, 11), "lead": "L1", "type": "activity_logged", "activity": "call"},
    )
    assert found(r) == [("SLA850", 2, 1), ("SLA850", 5, 1)]
    assert r.feed.skipped == 2 and r.sim.leads["L1"].activities == 1


def test_invalid_events_point_at_the_field():
    text = '{"at": "yesterday", "lead": "L1", "type": "activity_logged", "activity": "call"}'
    r = simulate_lines(
        created(),
        text,
        {"at": at(13, 11), "lead": "L1", "type": "activity_logged", "activity": "fax"},
        {"at": at(13, 11), "lead": "L1", "type": "sent_flowers"},
        {"at": at(13, 11), "type": "activity_logged", "activity": "call"},
    )
    codes = found(r)
    assert codes[0] == ("SLA851", 2, text.index('"at"') + 1)
    assert [c[:2] for c in codes] == [("SLA851", 2), ("SLA851", 3), ("SLA851", 4), ("SLA851", 5)]
    assert "did you mean" not in r.diagnostics[2].message and "sent_flowers" in r.diagnostics[2].message


def test_unknown_lead_and_duplicate_lead():
    r = simulate_lines(
        created(),
        {"at": at(13, 11), "lead": "L2", "type": "activity_logged", "activity": "call"},
        created(when=at(13, 12)),
    )
    assert [c[:2] for c in found(r)] == [("SLA852", 2), ("SLA853", 3)]
    assert r.diagnostics[0].span.column == lines({"at": at(13, 11), "lead": "L2"})[0].index('"lead"') + 1


def test_out_of_order_event_is_skipped_and_processing_continues():
    r = simulate_lines(
        created(),
        {"at": at(14, 10), "lead": "L1", "type": "owner_changed", "owner": "a"},
        {"at": at(13, 12), "lead": "L1", "type": "owner_changed", "owner": "b"},
        created("L2", when=at(13, 12)),  # another lead may be earlier: fine
        {"at": at(14, 11), "lead": "L1", "type": "owner_changed", "owner": "c"},
    )
    assert [c[:2] for c in found(r)] == [("SLA854", 3)]
    assert r.sim.leads["L1"].owner == "c" and "L2" in r.sim.leads


def test_unknown_property_skips_only_that_property():
    r = simulate_lines(
        created(),
        {"at": at(13, 11), "lead": "L1", "type": "property_changed",
         "properties": {"employes": 60, "employees": 60}},
    )
    (d,) = r.diagnostics
    assert d.code == "SLA855" and "did you mean `employees`?" in d.help
    assert r.sim.leads["L1"].values["employees"] == 60


def test_invalid_property_values():
    r = simulate_lines(
        created(properties={"intent": "maybe", "employees": "120"}),
        {"at": at(13, 11), "lead": "L1", "type": "property_changed", "property": "employees", "value": True},
    )
    assert [c[:2] for c in found(r)] == [("SLA856", 1), ("SLA856", 2)]
    assert 'one of "yes", "not_now", "no"' in r.diagnostics[0].message
    assert r.sim.leads["L1"].values == {"employees": 120}  # "120" is read as a number


def test_unknown_event_and_stage():
    r = simulate_lines(
        created(stage="SQL"),
        created("L2", stage="lead"),
        {"at": at(13, 11), "lead": "L2", "type": "event_occurred", "event": "pricing"},
        {"at": at(13, 12), "lead": "L2", "type": "stage_set", "stage": "nuture"},
    )
    assert [c[:2] for c in found(r)] == [("SLA858", 1), ("SLA857", 3), ("SLA858", 4)]
    assert "did you mean `nurture`?" in r.diagnostics[2].help


def test_null_clears_a_property():
    r = simulate_lines(
        created(properties={"employees": 60}),
        {"at": at(13, 11), "lead": "L1", "type": "property_changed", "properties": {"employees": None}},
    )
    assert r.diagnostics == [] and "employees" not in r.sim.leads["L1"].values


def test_naive_timestamps_are_read_in_the_agreements_time_zone():
    r = simulate_lines(created(when="2026-07-13T10:00:00"))
    assert r.sim.format_time(r.sim.leads["L1"].created) == at(13, 10)


def test_only_the_first_diagnostics_of_a_kind_are_kept_but_all_are_counted():
    events = [created()] + [{"at": at(13, 11), "lead": "X", "type": "activity_logged", "activity": "call"}] * 30
    r = simulate(compile_policy(), lines(*events), "events.jsonl", shown_per_code=20)
    assert len(r.diagnostics) == 20 and r.feed.hidden == {"SLA852": 10} and r.feed.error_count == 30


def test_not_utf8_is_reported():
    r = simulate(compile_policy(), [json.dumps(created()).encode() + b"\n", b'{"lead": "\xff"}\n'], "e.jsonl",
                 binary=True)
    assert found(r) == [("SLA850", 2, 1)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 500) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["yes", "not_now", "timing", "lead", "mql", "call", "fax", "2026-07-13", "", "=cmd"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["employees", "intent", "reason", "note", "pricing_view", "nope"]), inner, max_size=3),
    max_leaves=6,
)
events = st.fixed_dictionaries(
    {},
    optional={
        "at": st.sampled_from([at(13, 10), at(13, 10, 30), at(14, 9), at(20, 12), "2026-07-13T10:00:00", "soon", 5]),
        "lead": st.sampled_from(["L1", "L2", 3, "", None]),
        "type": st.sampled_from(["lead_created", "property_changed", "event_occurred", "activity_logged",
                                 "owner_changed", "stage_set", "other"]),
        "stage": st.sampled_from(["lead", "mql", "nurture", "sql", "archived", "MQL", 1]),
        "properties": json_values,
        "property": st.sampled_from(["employees", "intent", "nope", 1]),
        "value": json_values,
        "event": st.sampled_from(["pricing_view", "nope", None]),
        "count": st.sampled_from([1, 3, 0, -1, "2", True]),
        "activity": st.sampled_from(["call", "email", "meeting", "fax", None]),
        "owner": st.sampled_from(["kenji", "", None, 4]),
        "events": json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(st.lists(events | st.text(max_size=30).map(lambda t: {"raw": t}), max_size=25))
def test_any_events_file_is_simulated_without_a_traceback(items):
    lines_ = [item["raw"] if set(item) == {"raw"} else json.dumps(item) for item in items]
    r = simulate(compile_policy(), lines_, "fuzz.jsonl", shown_per_code=None)
    for d in r.diagnostics:
        assert d.span.path in ("fuzz.jsonl", "test.sla") and d.span.line >= 1 and d.span.column >= 1
    ignored = sum(1 for t in lines_ if not t.strip() or t.strip().startswith(("#", "//")))
    assert r.feed.events + r.feed.counts["SLA850"] + ignored == len(lines_)  # every line is accounted for
    assert r.summary_json()["leads"] == len(r.leads_json())
