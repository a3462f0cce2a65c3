"""The parser's fast path builds exactly the tree Lark builds, or gives up.

`sla_lang.fastparse` parses clean input with Lark's tables but its own loop; Lark's parser
(with `propagate_positions`) is the reference. Equal means: the same rule names, the same
children in the same order, the same token types and values, and the same line, column and
offset at both ends of every tree and token. On any input Lark rejects, the fast path must
give up (NotClean) so that the recovering parser reports the error.
"""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import given
from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from sla_lang.fastparse import NotClean, TooDeep, fast_parser
from sla_lang.parser import get_parser, parse_source
from sla_lang.source import SourceFile, decode_source

from .conftest import FIXTURES, POLICIES, REPO, rel
from .test_fuzz import FUZZ, generated_policy, mutated_policy

ALL_SLA = sorted(POLICIES + list(FIXTURES.rglob("*.sla")))
POSITIONS = ("line", "column", "start_pos", "end_line", "end_column", "end_pos")


def shape(tree) -> list:
    """A flat, comparable description of a tree: every node and token with its positions."""
    out = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Tree):
            meta = node.meta
            where = None if meta.empty else tuple(getattr(meta, p) for p in POSITIONS)
            out.append(("tree", node.data, len(node.children), where))
            stack.extend(reversed(node.children))
        else:
            assert isinstance(node, Token), node
            out.append(("token", node.type, node.value, tuple(getattr(node, p) for p in POSITIONS)))
    return out


def reference(text: str):
    """Lark's own tree, or None when Lark rejects the text."""
    try:
        return get_parser().parse(text)
    except UnexpectedInput:
        return None


def assert_same_as_lark(text: str) -> bool:
    """True when the text parsed (and both trees agree), False when both paths rejected it."""
    expected = reference(text)
    try:
        actual = fast_parser().parse(text)
    except NotClean:
        assert expected is None, "the fast path gave up on text Lark parses"
        return False
    assert expected is not None, "the fast path accepted text Lark rejects"
    assert shape(actual) == shape(expected)
    return True


def policy_text(data: bytes) -> str | None:
    source, _ = decode_source("fuzz.sla", data)
    if source is None:
        return None
    return source.text if source.text.endswith("\n") else source.text + "\n"


@pytest.mark.parametrize("path", ALL_SLA, ids=rel)
def test_every_policy_in_the_repository(path):
    text = policy_text(path.read_bytes())
    if text is not None:
        assert_same_as_lark(text)


def test_the_examples_and_the_valid_fixtures_take_the_fast_path():
    parsed = 0
    for path in POLICIES + sorted((FIXTURES / "valid").glob("*.sla")):
        parsed += assert_same_as_lark(policy_text(path.read_bytes()))
    assert parsed == len(POLICIES) + len(list((FIXTURES / "valid").glob("*.sla")))


@pytest.mark.parametrize("shape_name", ["chain", "ring"])
def test_generated_benchmark_policies(shape_name):
    spec = importlib.util.spec_from_file_location("sla_bench_generate", REPO / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert assert_same_as_lark(module.generate_policy(60, shape_name))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "# only a comment\n\n   # another\n",
        'stage lead "Lead" {\n  owner stage\n  -> kpi when owner == "x" and (not (a.b in ["x", 2]) or c is not set)\n}\n',
        'property p "P" enum []\nproperty q number hubspot q_prop\n',
        'stage s {\n  respond within 24h target 8h owner x\n  follow up 3 times at 1bd, 2bd via call "Call", email\n}\n',
        "stage s {\n  -> t when ((((a))))\n}\n",
        'kpi k {\n  measure rate mql.respond met per month\n  alert < 80% "Act" notify a, b review r\n}\n',
        'agreement "A" {\n  version "1"\n}\n\n\n',
    ],
    ids=["empty", "newline", "comments", "keywords-as-names", "empty-list", "options", "parentheses", "kpi", "blank-end"],
)
def test_edge_cases_parse_the_same(text):
    assert assert_same_as_lark(text)


@pytest.mark.parametrize(
    "text",
    [
        "stage s {\n  owner: x\n}\n",  # ':' matches no terminal
        "stage s {\n  owner x\n",  # unclosed block
        "stage s {\n  owner x y\n}\n",  # a token the state does not accept
        'stage s "unterminated {\n}\n',
        "stage s {\n  owner x\n}\n\u3000",  # a bad character at the very end
        "}\n",
    ],
    ids=["colon", "unclosed", "extra-token", "unterminated-string", "bad-last-character", "lone-brace"],
)
def test_syntax_errors_leave_the_fast_path(text):
    assert not assert_same_as_lark(text)


def test_parse_source_reports_errors_through_the_recovering_parser():
    result = parse_source(SourceFile("x.sla", "stage s {\n  ownr x\n}\n"))
    assert [d.code for d in result.diagnostics] == ["SLA101"]
    assert (result.diagnostics[0].span.line, result.diagnostics[0].span.column) == (2, 3)


def test_parse_source_does_not_run_the_recovering_parser_on_clean_input(monkeypatch):
    from sla_lang import parser

    def fail(*args, **kwargs):
        raise AssertionError("the recovering parser ran on clean input")

    monkeypatch.setattr(parser, "_RecoveringParse", fail)
    result = parse_source(SourceFile("x.sla", POLICIES[0].read_text(encoding="utf-8")))
    assert result.tree is not None and result.diagnostics == []


@FUZZ
@given(generated_policy())
def test_generated_policies_parse_the_same(text):
    assert_same_as_lark(policy_text(text.encode("utf-8")))


@FUZZ
@given(mutated_policy())
def test_mutated_policies_parse_the_same_or_leave_the_fast_path(data):
    text = policy_text(data)
    if text is not None:
        assert_same_as_lark(text)


# ---------------------------------------------------------------- the generated tables


def test_the_generated_tables_belong_to_the_grammar():
    import lark

    from sla_lang import _lalr_tables
    from sla_lang.fastparse import compile_tables, grammar_digest, installed_tables

    assert _lalr_tables.GRAMMAR_SHA256 == grammar_digest(), "run `python -m sla_lang.fastparse`"
    assert installed_tables() is _lalr_tables.TABLES
    if lark.__version__ == _lalr_tables.LARK_VERSION:  # another Lark may number things differently
        assert compile_tables(get_parser()) == _lalr_tables.TABLES, "run `python -m sla_lang.fastparse`"


def test_writing_the_tables_is_deterministic(tmp_path):
    from sla_lang.fastparse import write_tables_module

    write_tables_module(tmp_path / "a.py")
    write_tables_module(tmp_path / "b.py")
    assert (tmp_path / "a.py").read_bytes() == (tmp_path / "b.py").read_bytes()
    spec = importlib.util.spec_from_file_location("written_tables", tmp_path / "a.py")
    written = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(written)
    from sla_lang.fastparse import compile_tables

    assert written.TABLES == compile_tables(get_parser())


def test_a_changed_grammar_falls_back_to_tables_from_lark(monkeypatch):
    from sla_lang import fastparse

    monkeypatch.setattr(fastparse, "grammar_digest", lambda: "0" * 64)
    assert fastparse.installed_tables() is None
    fastparse.fast_parser.cache_clear()
    try:
        parser = fastparse.fast_parser()
        assert parser.table == fastparse.compile_tables(get_parser())["states"]
        assert assert_same_as_lark(policy_text(POLICIES[0].read_bytes()))
    finally:
        fastparse.fast_parser.cache_clear()


# ---------------------------------------------------------------- lowering while parsing


def assert_lowered_while_parsing_as_from_the_tree(text: str) -> bool:
    """`parse_and_lower` (each rule lowered the moment the fast loop reduces it) gives the IR and
    the diagnostics that lowering Lark's tree gives; True when the text took that fast path."""
    from sla_lang.compile import _cyclic_gc_paused
    from sla_lang.lower import lower_policy, parse_and_lower

    source = SourceFile("lowered.sla", text)
    with _cyclic_gc_paused():
        syntax, fused, lowering = parse_and_lower(source)
    parsed = parse_source(source)
    if fused is None or syntax:
        return False
    assert parsed.diagnostics == []
    policy, expected = lower_policy(parsed.tree, source)
    assert fused == policy
    assert fused.extra == policy.extra
    assert [(d.code, str(d.message), d.span, d.related, str(d.help)) for d in lowering] == [
        (d.code, str(d.message), d.span, d.related, str(d.help)) for d in expected]
    return True


@pytest.mark.parametrize("path", ALL_SLA, ids=rel)
def test_lowering_while_parsing_matches_lowering_the_tree(path):
    text = policy_text(path.read_bytes())
    if text is not None:
        assert_lowered_while_parsing_as_from_the_tree(text)


@pytest.mark.parametrize("shape_name", ["chain", "ring"])
def test_lowering_generated_benchmark_policies_while_parsing(shape_name):
    spec = importlib.util.spec_from_file_location("sla_bench_generate", REPO / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert assert_lowered_while_parsing_as_from_the_tree(module.generate_policy(60, shape_name))


@FUZZ
@given(mutated_policy())
def test_mutated_policies_lower_the_same_while_parsing(data):
    text = policy_text(data)
    if text is not None:
        assert_lowered_while_parsing_as_from_the_tree(text)


def _clause_nodes(stage) -> list:
    return [*stage.deadlines, *stage.steps, *stage.escalations, *stage.transitions, *stage.cadences,
            *(n for n in (stage.follow_up, stage.handoff) if n is not None)]


@pytest.mark.parametrize("path", sorted(POLICIES + list(FIXTURES.rglob("valid/*.sla"))), ids=rel)
def test_each_clause_of_a_stage_is_a_node_of_its_own_with_the_stage_id(path):
    """The lowering gives a stage's deadlines, steps, escalations, transitions … their stage id
    and clause id in place once the stage is reduced (`ir.complete`, no copy): so no node may
    be shared by two places, and each carries its own stage's id and a clause id of its own."""
    from sla_lang import ir
    from sla_lang.lower import parse_and_lower

    _, policy, _ = parse_and_lower(SourceFile(str(path), policy_text(path.read_bytes())))
    nodes = []
    for stage in policy.stages:
        for node in _clause_nodes(stage):
            assert (node.source if isinstance(node, ir.Transition) else node.stage) == stage.id
            assert node.clause_id.startswith(f"{stage.id}.")
            nodes.append(node)
        assert [s.number for s in stage.steps] == list(range(2, len(stage.steps) + 2))
    rules = [(group, rule) for model in policy.scores for group in model.groups for rule in group.rules]
    for group, rule in rules:
        assert rule.clause_id.rsplit(".", 1)[0] == group.clause_id
    nodes += [rule for _, rule in rules]
    assert len({id(n) for n in nodes}) == len(nodes)
    assert len({n.clause_id for n in nodes}) == len(nodes)


def test_complete_sets_fields_of_a_new_node_which_stays_frozen():
    from dataclasses import FrozenInstanceError

    from sla_lang import ir
    from sla_lang.source import Span

    span = Span("t.sla", 3, 3, 3, 12)
    target = ir.Name("sql", span)
    node = ir.Transition("", target, None, None, None, (), span, "")
    ir.complete(node, source="mql", clause_id="mql.to.sql")
    assert node == ir.Transition("mql", target, None, None, None, (), span, "mql.to.sql")
    with pytest.raises(FrozenInstanceError):
        node.source = "lead"
    with pytest.raises(AttributeError):
        ir.complete(node, origin="lead")


def test_durations_and_numbers_read_once_give_each_value_its_own_node():
    """The lowering reads a duration or number text once and reuses what it read: every later
    `24h` still gets a node with its own span, and a wrong one is reported wherever it is."""
    from sla_lang import ir
    from sla_lang.lower import parse_and_lower

    text = ('stage a "A" {\n  owner x\n  respond within 24h target 12h\n  decide within 24h\n'
            '  escalate to m after 24hr on respond via email\n  escalate to m after 24hr on decide via email\n'
            '  -> b "B" when score >= 50\n  -> c "C" when score >= 50 and n >= 050\n}\n')
    assert assert_lowered_while_parsing_as_from_the_tree(text)
    _, policy, lowering = parse_and_lower(SourceFile("t.sla", text))
    (stage,) = policy.stages
    respond, decide = stage.deadlines
    assert (respond.within.amount, respond.within.unit, respond.within.span.line) == (24, "h", 3)
    assert (decide.within.amount, decide.within.unit, decide.within.span.line) == (24, "h", 4)
    assert respond.within is not decide.within
    assert (respond.target.amount, respond.target.unit) == (12, "h")
    assert [(d.code, d.span.line) for d in lowering if d.code == "SLA305"] == [("SLA305", 5), ("SLA305", 6)]
    first, second = (t.condition for t in stage.transitions)
    fifty = [first.right, second.items[0].right, second.items[1].right]
    assert [(v.value, v.span.line, v.span.column) for v in fifty] == [(50, 7, 26), (50, 8, 26), (50, 8, 38)]
    assert all(type(v) is ir.Number and type(v.value) is int for v in fifty)


def test_the_handlers_given_no_span_never_read_their_meta():
    """The fast parser passes None as the meta of a rule in SPANLESS_RULES: each such handler of
    the Lowerer (read from its source) must not use its `meta` parameter; the set must name
    handlers that exist."""
    import ast

    from sla_lang.lower import SPANLESS_RULES

    tree = ast.parse((REPO / "sla_lang" / "lower.py").read_text(encoding="utf-8"))
    lowerer = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Lowerer")
    handlers = {f.name: f for f in lowerer.body if isinstance(f, ast.FunctionDef)}
    assert SPANLESS_RULES <= handlers.keys()
    for name in SPANLESS_RULES:
        function = handlers[name]
        assert [a.arg for a in function.args.args][:2] == ["self", "meta"], name
        assert not any(isinstance(n, ast.Name) and n.id == "meta" for n in ast.walk(function)), name


# ---------------------------------------------------------------- the scanner's guarded copies


def test_first_characters_of_a_terminal():
    from sla_lang.fastparse import _first_characters

    assert _first_characters(r"\d{4}-\d{2}") == set("0123456789")
    assert _first_characters(r"[+-]?\d+%") == set("+-0123456789")
    assert _first_characters(r"(\n[\t ]*)+") == {"\n"}
    assert _first_characters(r"[^\W\d]\w*") == set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
    assert _first_characters(r"(?:==|!=|>=|<)") == set("=!><")
    # unsure: a lookahead, a flag, a regexp that can match nothing at all
    assert _first_characters(r"(?=a)a") is None
    assert _first_characters(r"(?i:a)") is None
    assert _first_characters(r"(?i)a") is None
    assert _first_characters(r"a*") is None


def test_a_guarded_copy_never_takes_a_character_from_an_earlier_terminal():
    import re

    from sla_lang.fastparse import scanner_pattern

    # `x1` could be read as NAME, but the earlier HEX terminal wins it in Lark's order
    terminals = [("HEX", r"x[0-9]+"), ("NAME", r"[a-z_]\w*"), ("_NL", r"\n+"), ("ODD", r"(?=q)q")]
    pattern = scanner_pattern(terminals)
    assert "(?=[_abcdefghijklmnopqrstuvwyz])(?P<NAME__first>" in pattern  # no x
    assert "(?P<_NL__first>" in pattern
    scanner = re.compile(pattern)
    plain = re.compile("(?:" + "|".join(f"(?P<{n}>{r})" for n, r in terminals) + ")[ \t]*")
    text = "x1 xa abc\nq _x x9z\n\n"
    read = [(m.lastgroup.removesuffix("__first"), m.group(m.lastindex)) for m in scanner.finditer(text)]
    assert read == [(m.lastgroup, m.group(m.lastindex)) for m in plain.finditer(text)]
    assert ("HEX", "x1") in read and ("NAME", "xa") in read
    # an earlier terminal whose first characters are unknown: no copy after it
    assert "NAME__first" not in scanner_pattern([("ODD", r"(?=q)\w"), ("NAME", r"[a-z_]\w*")])


# ---------------------------------------------------------------- the loop with C types


def _loops():
    """A parser whose lowering runs the loop with C types (sla_lang/fastloop.pyx) and one on the
    same tables that runs the Python loop; skips when the compiled modules are not built."""
    from sla_lang.fastparse import FastParser, installed_tables

    typed = FastParser(installed_tables())
    if typed.typed_loop is None:
        pytest.skip("no compiled modules for the current sources: run `python -m sla_lang.accelerate`")
    python = FastParser(installed_tables())
    python.typed_loop = None
    return typed, python


def _lowered(parser, text: str, max_depth: int, **options):
    """What lowering `text` while parsing gives: the value and the Lowerer's diagnostics, or the
    class of the exception that made the fast path give up."""
    from sla_lang.lower import SPANLESS_RULES, Lowerer

    lowerer = Lowerer(SourceFile("loops.sla", text))
    try:
        if options:
            value = parser.typed_loop.parse(text, lowerer.handlers(), max_depth, "loops.sla", SPANLESS_RULES, **options)
        else:
            value = parser.parse(text, lowerer.handlers(), max_depth, "loops.sla", SPANLESS_RULES)
    except (NotClean, TooDeep) as exc:
        return type(exc)
    return value, [(d.code, str(d.message), d.span, d.related) for d in lowerer.diagnostics]


def assert_loops_agree(text: str, max_depth: int | None = None) -> None:
    from sla_lang.parser import MAX_TREE_DEPTH

    typed, python = _loops()
    depth = MAX_TREE_DEPTH if max_depth is None else max_depth
    expected = _lowered(python, text, depth)
    assert _lowered(typed, text, depth) == expected
    # a stack that starts with room for one entry grows through every reallocation on the way
    assert _lowered(typed, text, depth, capacity=1) == expected


def test_the_typed_loop_is_what_lowering_uses_when_built():
    _loops()  # (skips when it is not built)
    assert fast_parser().typed_loop is not None
    assert type(fast_parser().typed_loop).__module__ == "sla_lang.fastloop"


@pytest.mark.parametrize("path", ALL_SLA, ids=rel)
def test_the_typed_loop_lowers_every_policy_as_the_python_loop(path):
    text = policy_text(path.read_bytes())
    if text is not None:
        assert_loops_agree(text)


def test_the_typed_loop_lowers_a_generated_policy_as_the_python_loop():
    spec = importlib.util.spec_from_file_location("sla_bench_generate", REPO / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.generate_policy(300, "ring")
    assert_loops_agree(text)
    assert isinstance(_lowered(_loops()[0], text, 10_000), tuple)  # (it took the fast path)


@pytest.mark.parametrize(
    "text",
    ["stage s {\n  -> t when " + "(" * 30 + "a" + ")" * 30 + "\n}\n",
     "stage s {\n  -> t when " + " and ".join(f"(not a{i} or b)" for i in range(20)) + "\n}\n",
     POLICIES[0].read_text(encoding="utf-8")],
    ids=["parentheses", "long-and", "example"],
)
def test_the_typed_loop_gives_up_at_the_same_depth(text):
    # below some depth both loops raise TooDeep, from it on both lower the text: the same limit
    outcomes = []
    for max_depth in range(1, 45):
        assert_loops_agree(text, max_depth)
        outcomes.append(_lowered(_loops()[1], text, max_depth) is TooDeep)
    assert outcomes[0] and not outcomes[-1]  # (the range crosses the limit)


@FUZZ
@given(mutated_policy())
def test_the_typed_loop_lowers_mutated_policies_as_the_python_loop(data):
    text = policy_text(data)
    if text is not None:
        assert_loops_agree(text)
