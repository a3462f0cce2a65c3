"""The graph rules (SLA201-208, SLA212) on random stage graphs, against a brute force.

Hypothesis draws small stage graphs (markers, transitions with or without a condition or a
timeout), writes them as a policy, checks it, and compares what the graph rules report with
an independent computation: a Warshall transitive closure on a boolean matrix and plain
loops — no networkx, no code shared with sla_lang.checks.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_lang.compile import compile_text
from sla_lang.config import Config

GRAPH_CODES = ("SLA201", "SLA202", "SLA203", "SLA204", "SLA205", "SLA206", "SLA207", "SLA208", "SLA212", "SLA213")

HEADER = '''agreement "Random graph" {
  version "1"
  effective 2026-01-01
  owner ops
}
team ops {
}
property flag "Flag" bool
'''


@st.composite
def stage_graphs(draw):
    n = draw(st.integers(min_value=1, max_value=7))
    stages = []
    for _ in range(n):
        markers = draw(st.sets(st.sampled_from(["entry", "terminal", "recycle"]), max_size=2))
        transitions = draw(st.lists(
            st.tuples(st.integers(min_value=0, max_value=n - 1), st.sampled_from(["when", "after", "bare"])),
            max_size=3,
        ))
        stages.append((sorted(markers), transitions))
    return stages


def policy_text(stages) -> str:
    out = [HEADER]
    for i, (markers, transitions) in enumerate(stages):
        out.append(f"stage s{i} {{\n  owner ops\n")
        out.extend(f"  {m}\n" for m in markers)
        for target, kind in transitions:
            suffix = {"when": " when flag", "after": " after 1d", "bare": ""}[kind]
            out.append(f"  -> s{target}{suffix}\n")
        out.append("}\n")
    return "".join(out)


# ------------------------------------------------------------------ the brute force


def closure(n: int, edges: set[tuple[int, int]]) -> list[list[bool]]:
    """reach[i][j]: j can be reached from i in zero or more steps (Warshall)."""
    reach = [[i == j or (i, j) in edges for j in range(n)] for i in range(n)]
    for k in range(n):
        for i in range(n):
            if reach[i][k]:
                for j in range(n):
                    if reach[k][j]:
                        reach[i][j] = True
    return reach


def expected(stages) -> dict[str, set]:
    n = len(stages)
    entry = [("entry" in m) for m, _ in stages]
    terminal = [("terminal" in m) for m, _ in stages]
    recycle = [("recycle" in m) for m, _ in stages]
    # a lead in a terminal stage is finished: its transitions lead nowhere
    edges = {(i, t) for i, (_, ts) in enumerate(stages) if not terminal[i] for t, _ in ts}
    reach = closure(n, edges)
    out: dict[str, set] = {code: set() for code in GRAPH_CODES}

    if not any(terminal):
        out["SLA212"].add("s0")
    if not any(entry):
        out["SLA201"].add("s0")
    else:
        for j in range(n):
            if not any(entry[i] and reach[i][j] for i in range(n)):
                out["SLA202"].add(f"s{j}")
    for i, (_, ts) in enumerate(stages):
        if not terminal[i] and not ts:
            out["SLA203"].add(f"s{i}")
    if any(terminal):
        stuck = [i for i in range(n) if not any(terminal[j] and reach[i][j] for j in range(n))]
        for i in stuck:
            closed = all(reach[j][i] for j in range(n) if reach[i][j])  # i's component has no way out
            first_of_component = all(not (reach[i][j] and reach[j][i]) for j in range(i))
            has_edge = any((i, t) in edges for t in range(n))
            members = [j for j in range(n) if reach[i][j] and reach[j][i]]
            if closed and first_of_component and (len(members) > 1 or has_edge):
                out["SLA204"].add(f"s{i}")

    # the funnel: reachable from entries through stages that are neither terminal nor recycle
    inside = [False] * n
    frontier = [i for i in range(n) if entry[i] and not terminal[i] and not recycle[i]]
    for i in frontier:
        inside[i] = True
    while frontier:
        i = frontier.pop()
        for j in range(n):
            if (i, j) in edges and not inside[j] and not terminal[j] and not recycle[j]:
                inside[j] = True
                frontier.append(j)
    if any(inside):
        for r in range(n):
            if not recycle[r] or terminal[r]:
                continue
            # every stage reachable from r without entering the funnel or a terminal stage
            region, todo = {r}, [r]
            while todo:
                i = todo.pop()
                for j in range(n):
                    if (i, j) in edges and j not in region and not inside[j] and not terminal[j]:
                        region.add(j)
                        todo.append(j)
            doors = [(i, t, kind) for i in region for t, kind in stages[i][1] if inside[t]]
            # straight back into the funnel (not to an entry stage), no condition, no delay
            bounce = [k for k, (t, kind) in enumerate(stages[r][1]) if kind == "bare" and inside[t] and not entry[t]]
            if not doors:
                out["SLA205"].add(f"s{r}")
            elif bounce:
                out["SLA213"].add((f"s{r}", bounce[0]))  # instead of SLA206: one finding per stage
            elif not any(kind == "when" or entry[t] for _, t, kind in doors):
                out["SLA206"].add(f"s{r}")

    for i, (_, ts) in enumerate(stages):
        for k, (t, kind) in enumerate(ts):
            if terminal[i]:
                out["SLA207"].add((f"s{i}", k))
            if t == i and kind != "when":
                out["SLA208"].add((f"s{i}", k))
    return out


# ------------------------------------------------------------------ the property


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stage_graphs())
def test_graph_rules_match_a_brute_force(stages):
    result = compile_text(policy_text(stages), config=Config(select=GRAPH_CODES))
    policy = result.policy
    assert policy is not None
    name_at = {(s.name_span.line, s.name_span.column): s.id for s in policy.stages}
    transition_at = {
        (t.span.line, t.span.column): (s.id, k) for s in policy.stages for k, t in enumerate(s.transitions)
    }
    got: dict[str, set] = {code: set() for code in GRAPH_CODES}
    for d in result.diagnostics:
        assert d.code in GRAPH_CODES, d
        where = (d.span.line, d.span.column)
        got[d.code].add(transition_at[where] if d.code in ("SLA207", "SLA208", "SLA213") else name_at[where])
        if d.code == "SLA204":
            check_printed_cycle(d.message, stages)
    assert got == expected(stages)


def check_printed_cycle(message: str, stages) -> None:
    """`… they go round s1 --> s2 --> s1`: a real cycle of transitions, starting where reported."""
    cycle = re.search(r"go round ((?:s\d+)(?: --> s\d+)+)", message).group(1).split(" --> ")
    assert cycle[0] == cycle[-1]
    for a, b in zip(cycle, cycle[1:]):
        source = int(a[1:])
        assert int(b[1:]) in [t for t, _ in stages[source][1]], (a, b, message)


def test_the_brute_force_itself_on_a_known_graph():
    # s0 entry -> s1 <-> s2 (trap), s3 unreachable terminal, s4 dead end reached from s0
    stages = [
        (["entry"], [(1, "when"), (4, "after")]),
        ([], [(2, "when")]),
        (["recycle"], [(1, "bare")]),
        (["terminal"], []),
        ([], []),
    ]
    want = expected(stages)
    assert want["SLA202"] == {"s3"}
    assert want["SLA203"] == {"s4"}
    assert want["SLA204"] == {"s1"}
    assert want["SLA205"] == set() and want["SLA206"] == set()
    assert want["SLA213"] == {("s2", 0)}  # straight back to s1: no criteria, no delay
    test_graph_rules_match_a_brute_force.hypothesis.inner_test(stages)
