"""Snapshots of what the validation checks print: a few diagnostics in full (cycle, timing
example, witness, score range, capacity) and `sla check --stats` on the example policies."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli
from sla_lang.compile import compile_path
from sla_lang.config import Config
from sla_lang.render import text

from .conftest import FIXTURES, expectations, rel

CASES = [
    "SLA204_no_way_to_terminal.sla",
    "SLA205_recycled_leads_never_return.sla",
    "SLA502_follow_up_after_deadline.sla",
    "SLA601_threshold_unreachable.sla",
    "SLA604_ambiguous_transitions.sla",
    "SLA605_routing_gap.sla",
    "SLA719_target_exceeds_capacity.sla",
]


@pytest.mark.parametrize("name", CASES)
def test_rendered_diagnostics(name, in_repo, snapshot):
    path = FIXTURES / "invalid" / name
    codes = tuple(sorted({code for code, _, _ in expectations(path)}))
    result = compile_path(path, shown_as=rel(path), config=Config(select=codes))
    assert text.render([result]) == snapshot


def test_check_stats_on_the_examples(in_repo, snapshot):
    result = CliRunner().invoke(cli, ["check", "--stats", "policies"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output == snapshot
