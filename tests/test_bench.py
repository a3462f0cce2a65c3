"""bench/run.py's inputs: the YAML form of the example validates, and the mistakes it plants apply."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import run
    import yaml_check

    yield run, yaml_check
    for name in ("run", "yaml_check", "generate"):
        sys.modules.pop(name, None)


def test_yaml_form_validates_and_each_planted_mistake_applies(bench):
    run, yaml_check = bench
    schema = json.loads(run.YAML_SCHEMA.read_text(encoding="utf-8"))
    assert yaml_check.errors(schema, str(run.YAML_POLICY)) == []
    assert yaml_check.main([str(run.YAML_SCHEMA), str(run.YAML_POLICY)]) == 0
    sla_text = run.LARGEST_EXAMPLE.read_text(encoding="utf-8")
    yaml_text = run.YAML_POLICY.read_text(encoding="utf-8")
    for what, old, _, yaml_old, _ in run.MUTATIONS:
        assert old in sla_text, what
        assert yaml_old in yaml_text, what


def test_exponent_and_formatting(bench):
    run, _ = bench
    assert run.exponent(1.0, 10.0, 100, 1000) == pytest.approx(1.0)
    assert run.exponent(1.0, 100.0, 10, 100) == pytest.approx(2.0)
    assert run.seconds(0.0123) == "12.3 ms"
    assert run.seconds(2.5) == "2.50 s"
