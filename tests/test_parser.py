"""Syntax errors: precise positions, helpful messages, recovery that reports every error once."""

from __future__ import annotations

import pytest

from sla_lang.compile import compile_text

HEADER = 'agreement "x" {\n  version "1"\n  effective 2026-01-01\n}\n'


def errors(text: str) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in compile_text(HEADER + text).errors]


def first(text: str):
    return compile_text(HEADER + text).errors[0]


def test_misspelt_keyword_suggests_the_keyword():
    d = first("stage mql {\n  ownr sales\n}\n")
    assert (d.code, d.span.line, d.span.column, d.span.end_column) == ("SLA101", 6, 3, 7)
    assert d.help == "did you mean 'owner'?"


def test_one_error_per_broken_line_and_recovery_continues():
    text = "stage a {\n  owner b c\n  -> x when >= 3\n  owner d\n}\nkpi k {\n  measure count a per month\n  target >=\n}\n"
    assert errors(text) == [("SLA101", 6, 11), ("SLA101", 7, 13), ("SLA101", 12, 12)]


def test_missing_closing_brace_points_at_the_open_brace():
    text = 'stage mql "MQL" {\n  owner a\n\nstage sql "SQL" {\n  owner b\n}\n'
    (d,) = compile_text(HEADER + text).errors
    assert (d.code, d.span.line, d.span.column) == ("SLA103", 5, 17)
    assert "before 'stage' on line 8" in d.message


def test_end_of_file_inside_a_block():
    (d,) = compile_text(HEADER + 'stage mql "MQL" {\n  owner a\n').errors
    assert (d.code, d.span.line, d.span.column) == ("SLA103", 5, 17)


def test_extra_closing_brace():
    d = first("stage a {\n  owner b\n}\n}\n")
    assert (d.span.line, d.span.column) == (8, 1) and "no block is open" in d.message


@pytest.mark.parametrize(
    "line, hint",
    [
        ("  owner: sales", "does not use ':'"),
        ("  owner\u3000sales", "full-width space"),
        ("  -> x when a = 1", "compare with `==`"),
        ("  -> x when a == 'yes'", "double quotes"),
        ("  -> x when a == \u300cyes\u300d", "「」"),
    ],
)
def test_common_typing_mistakes_get_a_hint(line, hint):
    d = first(f"stage a {{\n{line}\n}}\n")
    assert d.code == "SLA102" and d.span.line == 6 and hint in d.help


def test_unterminated_string_skips_its_block_without_cascading():
    assert errors('stage a "MQL {\n  owner b\n}\nstage c {\n  ownr d\n}\n') == [("SLA104", 5, 9), ("SLA101", 9, 3)]


def test_broken_block_header_skips_the_block():
    assert errors('stage a "X" owner b {\n  owner c\n}\nstage d {\n  ownr e\n}\n') == [
        ("SLA101", 5, 13), ("SLA101", 9, 3)]


def test_deep_not_chain_is_refused_without_recursion_error():
    d = first("stage a {\n  -> b when " + "not " * 1000 + "c\n}\n")
    assert d.code == "SLA105"


def test_thousand_nested_parentheses_are_fine():
    result = compile_text(HEADER + "property c bool\nstage a {\n  -> a when " + "(" * 1000 + "c" + ")" * 1000 + "\n}\n")
    assert [d.code for d in result.errors if d.code.startswith("SLA1")] == []


@pytest.mark.parametrize("garbage", ["", "\n\n", "}}}}", "{{{{", "@@@", "stage", "-> -> ->", "\"", "\\", "\t\t\t"])
def test_garbage_never_raises(garbage):
    result = compile_text(garbage)
    assert result.errors or garbage.strip() == ""
    for d in result.diagnostics:
        assert d.span.line >= 1 and d.span.column >= 1


def test_too_many_errors_stops_with_a_final_diagnostic():
    result = compile_text(HEADER + "@@@\n" * 80)
    codes = [d.code for d in result.errors]
    assert codes.count("SLA102") == 50 and codes[-1] == "SLA106"
