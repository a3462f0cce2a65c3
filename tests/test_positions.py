"""The parser's own position propagation gives exactly the positions Lark's would."""

from __future__ import annotations

import pytest
from lark import Lark
from lark.parse_tree_builder import PropagatePositions

from sla_lang.parser import _share_one_scanner, get_parser, grammar_path

from .conftest import POLICIES, REPO

ATTRS = ("line", "column", "start_pos", "end_line", "end_column", "end_pos", "empty",
         "container_line", "container_column", "container_start_pos",
         "container_end_line", "container_end_column", "container_end_pos")


def _positions(tree):
    return [(t.data, None if t._meta is None else tuple(getattr(t._meta, a, None) for a in ATTRS))
            for t in tree.iter_subtrees()]


@pytest.fixture(scope="module")
def lark_own():
    parser = Lark.open(str(grammar_path()), parser="lalr", lexer="contextual", propagate_positions=True,
                       maybe_placeholders=False, cache=False)
    _share_one_scanner(parser)
    return parser


def _texts():
    files = list(POLICIES) + sorted((REPO / "tests").rglob("*.sla"))
    for path in files:
        try:
            yield path.name, path.read_text(encoding="utf-8").lstrip("\ufeff")
        except UnicodeDecodeError:
            continue
    bench = REPO / "bench" / "generate.py"
    namespace: dict = {}
    exec(compile(bench.read_text(encoding="utf-8"), str(bench), "exec"), namespace)  # noqa: S102
    yield "bench-60", namespace["generate_policy"](60)


def test_the_faster_propagation_is_in_use():
    callbacks = get_parser().parser.parser.parser.callbacks
    assert callbacks and not any(isinstance(c, PropagatePositions) for c in callbacks.values())


def test_positions_equal_larks_own(lark_own):
    compared = 0
    for name, text in _texts():
        try:
            expected = _positions(lark_own.parse(text))
        except Exception:  # noqa: BLE001 - files with syntax errors are compared elsewhere
            continue
        assert _positions(get_parser().parse(text)) == expected, name
        compared += 1
    assert compared >= 10
