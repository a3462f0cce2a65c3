"""Random policies: the fixtures target never crashes, and every scenario it writes replays exactly.

Hypothesis builds small policies from the language's parts (scores with caps, numeric, enum and
yes/no criteria, timeouts, `when … after`, records, deadlines with targets in calendar and
business time, follow-ups, escalations, recycle stages, loops, transitions without condition).
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_lang.compile import compile_text
from sla_lang.simulate.scenarios import compare, replay, simulated_lead
from sla_lang.targets import BuildOptions, load_target

from .simkit import HEADER

PROPERTIES = '''
property size "Size" number
property kind "Kind" enum ["a", "b", "c"]
property ok "OK" bool
property reason "Reason" enum ["x", "y"]
event visit "Visit"
score s "Score" {
  group g1 "G1" max 20 {
    +15 "Big" when size >= 50
    +10 "Kind" when kind in ["a", "b"]
  }
  group g2 "G2" {
    +5 "Visit" when visit
    +10 "Visits" when visit >= 3
    -5 "Not ok" when ok == false
  }
}
'''

conditions = st.sampled_from([
    "s >= 20", "s >= 25", "s < 10", "size >= 100", "size > 10 and ok", "kind == \"c\"", "ok",
    "visit >= 2", "not ok", "s.g2 >= 10", "kind not in [\"a\"] or visit", "size is set",
])
durations = st.sampled_from(["30m", "4h", "1d", "3d", "4bh", "1bd", "2bd"])


@st.composite
def policies(draw):
    n = draw(st.integers(min_value=2, max_value=5))
    names = [f"st{i}" for i in range(n)]
    lines = [HEADER, PROPERTIES]
    for i, name in enumerate(names):
        lines.append(f'stage {name} "Stage {i}" {{')
        lines.append("  owner " + draw(st.sampled_from(["marketing", "sales"])))
        if i == 0:
            lines.append("  entry")
        if i > 0 and draw(st.booleans()) and i == n - 2:
            lines.append("  recycle")
        if i == n - 1:
            lines += ["  terminal", "}"]
            continue
        if draw(st.booleans()):
            within = draw(durations)
            lines.append(f"  respond within {within}" + (f" target {draw(durations)}" if draw(st.booleans()) else ""))
            if draw(st.booleans()):
                lines.append(f"  escalate to managers after {within}")
        if draw(st.booleans()):
            lines.append(f"  decide within {draw(durations)}")
        if draw(st.booleans()):
            lines.append("  follow up 2 times at 0d, 1d via call")
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            target = draw(st.sampled_from(names))
            parts = [f"  -> {target}"]
            shape = draw(st.sampled_from(["when", "when", "after", "when_after", "plain"]))
            if shape in ("when", "when_after"):
                parts.append(f"when {draw(conditions)}")
            if shape in ("after", "when_after"):
                parts.append(f"after {draw(durations)}")
            if draw(st.booleans()):
                parts.append("record reason")
            lines.append(" ".join(parts))
        lines.append("}")
    return "\n".join(lines) + "\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_fixtures_never_crash_and_replay_exactly(text):
    result = compile_text(text, "random.sla", checks=False)
    assert result.policy is not None and not result.errors, [d.message for d in result.errors]
    built = load_target("fixtures").build(result.policy, BuildOptions())
    assert not any(d.code == "SLA999" for d in built.diagnostics), [d.message for d in built.diagnostics]
    scenarios = json.loads(built.files["scenarios.json"])["scenarios"]
    coverage = json.loads(built.files["coverage.json"])
    for scenario in scenarios:
        run = replay(result.policy, scenario)
        assert compare(scenario["expect"], simulated_lead(run, scenario["lead"]["id"])) == [], scenario["id"]
    # anything not covered says why
    for item in coverage["transitions"] + coverage["loops"]:
        assert item.get("covered_by") or item.get("reason")
    for boundary in coverage["boundaries"]:
        assert all(boundary["sides"].values()) or boundary.get("reason")
