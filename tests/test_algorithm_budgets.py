"""Algorithms on user input are near-linear or end with a diagnostic (issue 15, item 8).

The reproductions are small policies that used to take minutes, fail every build or crash:
a scoring policy of 1.5 KB whose fixtures never finished, a condition of 3,200 `and`-joined
terms (quadratic), a 4,000-character word in the stage diagram (cubic), two long adjacent
stage labels (a HubSpot workflow name over its limit), a huge capacity (float overflow), and
priorities without stages (a crash in the fixtures target).
"""

from __future__ import annotations

import unicodedata
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from sla_lang.commands.init import scaffold_files
from sla_lang.compile import compile_text
from sla_lang.targets import BuildOptions, load_target

from .timing import cpu_seconds, growth

STARTER = scaffold_files("en")["policies/sla.sla"].decode("utf-8")
HEADER = 'agreement "S" {\n  version "1"\n  effective 2026-01-01\n  owner ops\n}\nteam ops "Ops" {\n}\n'


def seconds(function) -> float:
    """The CPU time `function()` takes: waiting for a CPU on a loaded machine is not counted."""
    return cpu_seconds(function)


def event_score_policy(rules: int) -> str:
    """A score of `rules` event rules with uneven points: covering its thresholds exactly is a
    subset-sum search (the reproduction of the fixtures build that never ended)."""
    events = "".join(f'event e{i} "E{i}"\n' for i in range(rules))
    lines = "".join(f'    +{i % 9 + 1} "r{i}" when e{i} >= {i % 4 + 1}\n' for i in range(rules))
    return (HEADER + events + f'score s "S" {{\n  group g "G" max 100 {{\n{lines}  }}\n}}\n'
            'stage lead "Lead" {\n  owner ops\n  entry\n  -> mql when s >= 50\n  -> done after 30d\n}\n'
            'stage mql "MQL" {\n  owner ops\n  decide within 5d\n  -> done when s >= 80\n  -> lead when s < 20\n}\n'
            'stage done "Done" {\n  owner ops\n  terminal\n}\n')


def test_a_hard_scoring_policy_ends_with_a_diagnostic_naming_the_score():
    policy = compile_text(event_score_policy(18), "score.sla").policy
    assert policy is not None
    built = None

    def build():
        nonlocal built
        built = load_target("fixtures").build(policy, BuildOptions())

    elapsed = seconds(build)
    assert built.files and not built.failed
    (warning,) = [d for d in built.diagnostics if d.code == "SLA879"]
    assert "score `s` (18 rules)" in warning.message and (warning.span.line, warning.span.column) == (26, 7)
    assert elapsed < 60, f"{elapsed:.0f} s"  # it did not end in 5 minutes before


def test_the_search_budget_is_not_reached_by_the_example_policies():
    from sla_lang.simulate.generate import Generator

    from .conftest import POLICIES

    for path in POLICIES:
        policy = compile_text(path.read_text(encoding="utf-8"), path.name).policy
        generator = Generator(policy)
        generator.generate()
        assert generator.solver.exhausted is None, path.name
        assert generator.solver.work * 5 < generator.solver.work_limit, (path.name, generator.solver.work)


def test_priorities_without_stages_do_not_crash_the_fixtures_target():
    text = HEADER + 'property n "N" number\npriority hot "Hot" when n >= 5\npriority cold "Cold"\n'
    built = load_target("fixtures").build(compile_text(text).policy, BuildOptions())
    assert not built.failed and not [d for d in built.diagnostics if d.code == "SLA999"]
    assert b"the policy has no stage a lead can be in" in built.files["coverage.json"]


def test_a_condition_of_thousands_of_and_terms_is_checked_in_linear_time():
    def policy(n: int) -> str:
        terms = " and ".join(f"employees >= {i}" for i in range(n))
        return STARTER.replace('when buying_intent == "yes"', f'when buying_intent == "yes" and {terms}', 1)

    compile_text(STARTER)  # warm up
    little, big = policy(400), policy(3200)
    ratio, small, large = growth(lambda: compile_text(little), lambda: compile_text(big), bound=16, repeats=2)
    assert ratio < 16, (small, large)  # linear: 8; quadratic was 64
    result = compile_text(policy(3200))
    assert result.errors == []


def test_a_huge_capacity_is_a_diagnostic_not_an_overflow():
    text = STARTER.replace("capacity 5 people at 20 leads per month",
                           f"capacity {'9' * 400} people at {'9' * 400} leads per month")
    codes = [d.code for d in compile_text(text).diagnostics]
    assert "SLA999" not in codes and codes.count("SLA012") == 2
    # the largest capacity allowed goes through the capacity check
    text = STARTER.replace("capacity 5 people at 20 leads per month", "capacity 1000000 people at 1000000 leads per month")
    assert [d.code for d in compile_text(text).diagnostics if d.severity.value == "error"] == []


def test_long_adjacent_stage_labels_still_build_hubspot_workflows():
    text = STARTER.replace('"Marketing qualified lead (MQL)"', '"' + "M" * 300 + '"').replace(
        '"Sales qualified lead (SQL)"', '"' + "S" * 300 + '"')
    built = load_target("hubspot").build(compile_text(text).policy, BuildOptions())
    assert not built.failed, [d.message for d in built.diagnostics if d.severity.value == "error"]
    import json

    names = [json.loads(data)["name"] for path, data in built.files.items() if path.startswith("workflows/")]
    assert max(map(len, names)) == 255 and len(set(names)) == len(names)
    assert any(n.startswith("SLA mql.to.sql: " + "M" * 20) and n.endswith("…") for n in names)


# ---------------------------------------------------------------------------- line wrapping


def reference_wrap(text: str, width: float) -> list[str]:
    """The diagram's line breaking as it was written first (and as the README describes it),
    measured in exact fractions: the oracle for the linear implementation."""
    no_line_start = set("）)」』】、。，．・！？ー")

    def text_width(s: str) -> Fraction:
        return sum((Fraction(12) if unicodedata.east_asian_width(ch) in "WF" else Fraction(36, 5) for ch in s),
                   Fraction(0))

    tokens: list[str] = []
    word = ""
    for ch in text:
        if ch == " " or unicodedata.east_asian_width(ch) in "WF":
            if word:
                tokens.append(word)
            tokens.append(ch)
            word = ""
        else:
            word += ch
    if word:
        tokens.append(word)
    lines: list[str] = []
    line = ""
    for token in tokens:
        if token == " " and not line:
            continue
        candidate = line + token
        if text_width(candidate.rstrip()) <= width or not line.strip() or token in no_line_start:
            line = candidate
        else:
            lines.append(line.rstrip())
            line = "" if token == " " else token
        while text_width(line) > width and len(line) > 1 and line[-1] not in no_line_start:
            cut = len(line)
            while cut > 1 and text_width(line[:cut]) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(["a", "b", " ", "あ", "ー", "、", "\t", "\u3000", "W", "）", "xxxxx", "長", "\u00a0"]),
                max_size=60).map("".join),
       st.sampled_from([132, 30, 7.2, 50, 12]))
def test_wrapping_breaks_lines_as_the_reference_does(text, width):
    from sla_lang.agreement.diagram import wrap

    assert wrap(text, width) == reference_wrap(text, Fraction(width).limit_denominator(100))


def test_wrapping_a_very_long_word_is_linear():
    from sla_lang.agreement.diagram import NODE_PADDING, NODE_WIDTH, wrap

    width = NODE_WIDTH - 2 * NODE_PADDING
    for label in ("a" * 4000, "ー" * 4000, "長" * 4000):
        assert seconds(lambda label=label: wrap(label, width)) < 0.5  # "a" * 4000 took 300 s
    assert wrap("a" * 4000, width) == ["a" * 18] * 222 + ["a" * 4]


# ---------------------------------------------------------------------------- scaling of the checks

POLICY_HEAD = HEADER + 'property p0 "P" number\n'
ONE_STAGE = 'stage a "A" {\n  owner ops\n  entry\n  -> z when p0 >= 1\n  -> z after 5d\n}\nstage z "Z" {\n  owner ops\n  terminal\n}\n'
GROWING = {
    # count KPIs on a stage owned by a team with many sub-teams: each KPI walked every team per sub-team
    "sub-teams": lambda n: POLICY_HEAD + "".join(
        f'team t{i} "T" {{\n  part of ops\n  capacity 2 people at 3 leads per month\n}}\n' for i in range(n))
    + ONE_STAGE + "".join(f'kpi k{i} "K" {{\n  owner ops\n  measure count a per month\n  target >= 100000\n}}\n'
                          for i in range(20)),
    # each priority was checked against all the priorities above it, anew
    "priorities": lambda n: POLICY_HEAD + ONE_STAGE + "".join(f'priority q{i} "Q" when p0 >= {n - i}\n' for i in range(n)),
    # a list of values was built by one union per value
    "list values": lambda n: POLICY_HEAD + ONE_STAGE.replace("p0 >= 1", "p0 in [" + ", ".join(map(str, range(n))) + "]"),
}


def test_checks_grow_linearly_with_each_kind_of_declaration():
    from sla_lang.config import Config

    config = Config(max_file_size=1 << 26)
    compile_text(GROWING["priorities"](10), config=config)
    for kind, make in GROWING.items():
        little, big = make(300), make(1200)
        ratio, small, large = growth(lambda little=little: compile_text(little, config=config),
                                     lambda big=big: compile_text(big, config=config), bound=9, repeats=2)
        assert ratio < 9, (kind, small, large)  # linear: 4; quadratic: 16


def test_too_many_transitions_out_of_one_stage_are_refused_before_the_pairwise_checks():
    from sla_lang.lower import MAX_TRANSITIONS_PER_STAGE

    n = 5 * MAX_TRANSITIONS_PER_STAGE
    transitions = "".join(f'  -> z{i} when p0 >= {i} and p0 < {i + 1}\n' for i in range(n))
    stages = "".join(f'stage z{i} "Z" {{\n  owner ops\n  terminal\n}}\n' for i in range(n))
    text = POLICY_HEAD + 'stage a "A" {\n  owner ops\n  entry\n' + transitions + '  -> z0 after 5d\n}\n' + stages
    result = None

    def check():
        nonlocal result
        result = compile_text(text)

    assert seconds(check) < 10  # every pair of 1,000 transitions: minutes
    (d,) = result.errors
    assert d.code == "SLA010" and f"has {n + 1:,} transitions" in d.message
    assert d.span.line == 12 + MAX_TRANSITIONS_PER_STAGE
