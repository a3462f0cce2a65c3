"""Snapshots of the rendered diagnostics in every format."""

from __future__ import annotations

import pytest

from sla_lang.compile import compile_path
from sla_lang.config import Config
from sla_lang.render import github, sarif, text
from sla_lang.render import json as json_renderer

from .conftest import FIXTURES, expectations, rel

CASES = [
    "SLA101_unexpected_token.sla",
    "SLA103_unclosed_block.sla",
    "SLA301_undefined_reference.sla",
    "SLA302_duplicate_definition.sla",
    "SLA305_unknown_unit.sla",
]


def compiled(name: str):
    path = FIXTURES / "invalid" / name
    # only the fixture's own codes: snapshots must not change when unrelated rules are added
    codes = tuple(sorted({code for code, _, _ in expectations(path)}))
    return [compile_path(path, shown_as=rel(path), config=Config(select=codes))]


@pytest.mark.parametrize("name", CASES)
def test_text(name, in_repo, snapshot):
    assert text.render(compiled(name)) == snapshot


@pytest.mark.parametrize("name", CASES)
def test_json(name, in_repo, snapshot):
    assert json_renderer.render(compiled(name)) == snapshot


@pytest.mark.parametrize("name", CASES)
def test_github(name, in_repo, snapshot):
    assert github.render(compiled(name)) == snapshot


@pytest.mark.parametrize("name", CASES)
def test_sarif_results(name, in_repo, json_snapshot):
    import json

    data = json.loads(sarif.render(compiled(name)))
    results = data["runs"][0]["results"]
    for result in results:
        result.pop("ruleIndex")  # depends on how many rules exist
    assert results == json_snapshot


def test_text_carets_account_for_wide_characters():
    from sla_lang.compile import compile_text

    result = compile_text('agreement "営業" {\n  version "1"\n  effective 2026-01-01\n  owner 営業部\n}\n')
    out = text.render([result])
    lines = out.splitlines()
    source_line = next(i for i, l in enumerate(lines) if "owner 営業部" in l)
    caret = lines[source_line + 1]
    # "  owner " is 8 columns; 営業部 is 3 wide characters = 6 columns
    assert caret.endswith("|" + " " * 9 + "^" * 6)
