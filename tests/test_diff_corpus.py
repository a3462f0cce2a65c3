"""The obligation corpus: tests/fixtures/diff/<case>/{before,after}.sla with expected.toml.

Each expected.toml was written by reading the pair as a contract — who must act, who relies
on it, which way it moved — not by running sla. The test runs `sla diff` over every pair and
compares the obligations, the required approvers, the version level and, where the case
gives `approved_by`, whether the approval gate passes.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli
from sla_lang.compile import compile_path, compile_text
from sla_lang.semdiff import diff_policies, parse_handles, required_approvals

from .conftest import FIXTURES

CORPUS = sorted(p for p in (FIXTURES / "diff").iterdir() if p.is_dir())


def load(case: Path):
    """Both sides as `sla diff` reads them: parsed and lowered, without the checks."""
    sides = []
    for side in ("before", "after"):
        result = compile_text((case / f"{side}.sla").read_text(encoding="utf-8"), f"{case.name}/{side}.sla", checks=False)
        assert result.policy is not None and not result.errors, [d.message for d in result.diagnostics]
        sides.append(result.policy)
    return sides


def test_the_corpus_is_large_and_holds_the_four_cases_of_issue_17():
    assert len(CORPUS) >= 30
    names = {c.name for c in CORPUS}
    assert {"issue1_meeting_stage", "issue2_fewer_follow_ups", "issue3_subteam_reviewer",
            "issue4_owner_deadlock"} <= names
    languages = {compile_path(c / "before.sla").policy.language for c in CORPUS}
    assert languages == {"en", "ja"}


@pytest.mark.parametrize("case", CORPUS, ids=lambda p: p.name)
def test_obligations_approvers_and_version_are_what_the_contract_says(case):
    expected = tomllib.loads((case / "expected.toml").read_text(encoding="utf-8"))
    old, new = load(case)
    result = diff_policies(old, new, "before.sla", "after.sla")
    found = {(c.clause_id, d.obligor, frozenset(d.beneficiaries), d.direction) for c in result.changes for d in c.duties}
    wanted = {(o["clause"], o["obligor"], frozenset(o["beneficiaries"]), o["direction"])
              for o in expected.get("obligation", [])}
    assert sorted(found, key=str) == sorted(wanted, key=str)
    author = expected.get("author")
    approvals = required_approvals(result, old, new, author=author)
    assert sorted(a.team for a in approvals) == sorted(expected["approvers"])
    owners = {o for o in (result.old_owner, result.owner) if o}
    assert {a.team for a in approvals if "owner" in a.reasons} == owners
    assert result.version.level == expected["version"]
    if "approved_by" in expected:
        approved = parse_handles(" ".join(expected["approved_by"]))
        assert all(a.satisfied_by(approved) for a in approvals) is expected["satisfied"]


def run(*args: str):
    return CliRunner().invoke(cli, ["diff", "--color", "never", *args], catch_exceptions=False)


def case_path(name: str, side: str) -> str:
    return str(FIXTURES / "diff" / name / f"{side}.sla")


def test_issue_1_a_new_stage_lists_every_obligation_and_asks_marketing():
    result = run(case_path("issue1_meeting_stage", "before"), case_path("issue1_meeting_stage", "after"),
                 "--format", "json", "--approvers")
    data = json.loads(result.output)
    clauses = [c["clause_id"] for c in data["policies"][0]["changes"]]
    for clause in ("stage.meeting", "meeting.decide", "meeting.escalate.decide", "meeting.to.nurture"):
        assert clause in clauses
    assert "marketing" in [a["team"] for a in data["required_approvals"]]


def test_issue_3_a_sub_team_reviewer_approves_for_its_party():
    before, after = case_path("issue3_subteam_reviewer", "before"), case_path("issue3_subteam_reviewer", "after")
    result = run(before, after, "--approved-by", "@rina-revops @mika-ito")
    assert result.exit_code == 1  # the version is still 1.0.0: see below
    assert "approval missing" not in result.output


def test_issue_4_the_author_cannot_approve_for_the_owner(tmp_path):
    before, after = case_path("issue4_owner_deadlock", "before"), case_path("issue4_owner_deadlock", "after")
    bumped = tmp_path / "after.sla"
    bumped.write_text(Path(after).read_text().replace('version "1.0.0"', 'version "1.0.1"'))
    result = run(before, str(bumped), "--author", "@rina-revops", "--approved-by", "@rina-revops,@kenji-sato")
    assert result.exit_code == 1
    assert "approval missing from revops (Revenue Operations): nobody but the author @rina-revops" in result.output
    without_author = run(before, str(bumped), "--approved-by", "@rina-revops")
    assert without_author.exit_code == 0, without_author.output


def test_unchanged_version_fails_the_approval_gate(tmp_path):
    """SLA884: obligation changes under the old version number fail CI; the report proposes one."""
    before, after = case_path("issue2_fewer_follow_ups", "before"), case_path("issue2_fewer_follow_ups", "after")
    result = run(before, after, "--approved-by", "@rina-revops,@aiko-tanaka")
    assert result.exit_code == 1
    assert "error SLA884 (version-not-bumped)" in result.output
    assert 'set `version "2.0.0"`' in result.output
    minor = tmp_path / "minor.sla"
    minor.write_text(Path(after).read_text().replace('version "1.0.0"', 'version "1.1.0"'))
    assert "moves from '1.0.0' to '1.1.0' only" in run(before, str(minor), "--approved-by", "@rina-revops,@aiko-tanaka").output
    major = tmp_path / "major.sla"
    major.write_text(Path(after).read_text().replace('version "1.0.0"', 'version "2.0.0"'))
    ok = run(before, str(major), "--approved-by", "@rina-revops,@aiko-tanaka")
    assert ok.exit_code == 0 and "All required approvals are present." in ok.output
    # without --approved-by the report still proposes the version, and the exit status is 0
    report = run(before, after)
    assert report.exit_code == 0 and "2.0.0" in report.output
