"""Limits and pathological input: clear diagnostics, and time that grows linearly."""

from __future__ import annotations

from sla_lang.compile import compile_text
from sla_lang.lower import MAX_NAME_CHARS, MAX_STAGES, MAX_STRING_CHARS

from .timing import growth

HEADER = 'agreement "x" {\n  version "1"\n  effective 2026-01-01\n  owner ops\n}\nteam ops {\n}\n'


def test_long_strings_and_names_are_refused_with_their_position():
    text = HEADER + f'stage {"s" * (MAX_NAME_CHARS + 1)} "{"x" * (MAX_STRING_CHARS + 1)}" {{\n  owner ops\n}}\n'
    codes = [(d.code, d.span.line, d.span.column) for d in compile_text(text).errors if d.code == "SLA011"]
    assert codes == [("SLA011", 8, 7), ("SLA011", 8, 7 + MAX_NAME_CHARS + 2)]


def test_too_many_stages():
    stages = "".join(f"stage s{i} {{\n  owner ops\n  terminal\n}}\n" for i in range(MAX_STAGES + 1))
    result = compile_text(HEADER + stages, config=__import__("sla_lang.config").config.Config(max_file_size=1 << 30),
                          checks=False)
    (d,) = [d for d in result.errors if d.code == "SLA010"]
    assert f"{MAX_STAGES + 1:,} stages" in d.message
    assert d.span.line == 8 + 4 * MAX_STAGES


def _ratio(make, small: int) -> tuple[float, float, float]:
    """(ratio, small, large) of the CPU time of compiling 4× the input (tests/timing.py)."""
    little, big = make(small), make(small * 4)
    return growth(lambda: compile_text(little), lambda: compile_text(big), bound=8)


def test_many_undefined_names_stay_linear():
    """Thousands of distinct misspelt stage names against thousands of stages."""

    def make(n: int) -> str:
        stages = "".join(f"stage s{i} {{\n  owner ops\n  -> t{i}x\n}}\n" for i in range(n))
        return HEADER + stages

    ratio, small, large = _ratio(make, 300)
    assert ratio < 8, (small, large)  # linear is 4; quadratic would be 16


def test_many_syntax_errors_and_long_lines_stay_linear():
    def make(n: int) -> str:
        return HEADER + "stage a {\n" + "  ownr b c d\n" * n + "}\n" + "# " + "x" * (n * 50) + "\n"

    ratio, small, large = _ratio(make, 400)
    assert ratio < 8, (small, large)


def test_wide_flat_conditions_stay_linear():
    def make(n: int) -> str:
        condition = " or ".join(f"x == {i}" for i in range(n))
        return HEADER + f"property x number\nstage a {{\n  owner ops\n  -> a when {condition}\n}}\n"

    ratio, small, large = _ratio(make, 500)
    assert ratio < 8, (small, large)


def test_look_alike_reference_gets_a_precise_hint():
    from sla_lang.compile import compile_text

    text = HEADER.replace("owner ops", "owner оps")  # Cyrillic о
    (d,) = [d for d in compile_text(text).errors if d.code == "SLA301"]
    assert "looks like `ops` but contains a look-alike letter" in d.message
