"""`sla diff`: a corpus of before/after pairs with the per-party classification asserted.

Each case edits a copy of tests/fixtures/diff/base_en.sla or base_ja.sla and states, for the
changes it expects, the effect on every party (parties not named: neutral). The rendered
reports are snapshotted as well, so wording changes are reviewed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli
from sla_lang.compile import compile_text
from sla_lang.semdiff import diff_policies, parse_handles, required_approvals
from sla_lang.semdiff.messages import EFFECT_WORDS, PHRASES, WHAT, WORDS
from sla_lang.semdiff.render import render_json, render_markdown, render_text

from .conftest import FIXTURES, POLICIES

BASES = {lang: (FIXTURES / "diff" / f"base_{lang}.sla").read_text(encoding="utf-8") for lang in ("en", "ja")}
S, L, M = "stricter", "looser", "mixed"

# name: (base, [(old text, new text)], {(kind, clause_id): {party: effect}}, exact)
# exact=True: these are all the changes there are.
CASES: dict[str, tuple[str, list[tuple[str, str]], dict[tuple[str, str], dict[str, str]], bool]] = {
    "deadline_shorter": ("en", [("respond within 24h target 12h", "respond within 12h target 12h")],
                         {("deadline.within", "mql.respond"): {"sales": S}}, True),
    "deadline_longer_ja": ("ja", [("respond within 1bd target 4bh", "respond within 2bd target 4bh")],
                           {("deadline.within", "mql.respond"): {"営業": L}}, True),
    "deadline_unit_change_business_to_hours": ("en", [("decide within 5bd", "decide within 48h")],
                                               {("deadline.within", "mql.decide"): {"sales": S}}, True),
    "slo_tighter_ja": ("ja", [("target 4bh", "target 2bh")], {("deadline.target", "mql.respond"): {"営業": S}}, True),
    "deadline_added_and_removed": ("en", [("  decide within 5bd\n", ""), ("  owner marketing\n  recycle\n",
                                   "  owner marketing\n  recycle\n  respond within 30d\n")],
                                   {("deadline", "mql.decide"): {"sales": L}, ("deadline", "nurture.respond"): {"marketing": S}},
                                   True),
    "mql_threshold_raised": ("en", [('-> mql "Qualified" when lead_score >= 50', '-> mql "Qualified" when lead_score >= 60')],
                             {("transition.condition", "lead.to.mql"): {"marketing": S, "sales": L}}, True),
    "mql_threshold_lowered_ja": ("ja", [('when 対象企業 and スコア >= 60', 'when 対象企業 and スコア >= 50')],
                                 {("transition.condition", "リード.to.mql"): {"マーケティング": L, "営業": S}}, True),
    "criteria_extra_and_clause": ("en", [("when lead_score >= 50\n  -> archived", "when lead_score >= 50 and pricing_view\n  -> archived")],
                                  {("transition.condition", "lead.to.mql"): {"marketing": S, "sales": L}}, True),
    "score_rule_added": ("en", [('    +30 "Viewed pricing" when pricing_view\n',
                                 '    +30 "Viewed pricing" when pricing_view\n    +10 "Manufacturing" when industry == "manufacturing"\n')],
                         {("score.rule", "score.lead_score.engagement.2"): {"marketing": L, "sales": S}}, True),
    "score_rule_removed_ja": ("ja", [('    +20 "ウェビナー参加" when ウェビナー\n', "")],
                              {("score.rule", "score.スコア.行動.1"): {"マーケティング": S, "営業": L}}, True),
    "score_rule_list_widened": ("en", [('industry in ["it"]', 'industry in ["it", "manufacturing"]')],
                                {("score.rule.condition", "score.lead_score.fit.1"): {"marketing": L, "sales": S}}, True),
    "score_cap_lowered": ("en", [('group fit "Fit" max 40', 'group fit "Fit" max 30')],
                          {("score.group.cap", "score.lead_score.fit"): {"marketing": S, "sales": L}}, True),
    "stage_owner_handed_over": ("en", [('stage mql "MQL" {\n  owner sales', 'stage mql "MQL" {\n  owner marketing')],
                                {("stage.owner", "stage.mql"): {"marketing": S, "sales": L}}, False),
    "stage_renamed_label": ("en", [('stage mql "MQL" {', 'stage mql "Marketing qualified lead" {')],
                            {("stage.label", "stage.mql"): {}}, True),
    "stage_id_renamed": ("en", [("mql", "qualified")],
                         {("stage.id", "stage.qualified"): {}}, False),
    "stage_added": ("en", [('-> won "Intent confirmed" when intent == "yes"', '-> sql "Intent confirmed" when intent == "yes"'),
                           ('stage won "Customer" {', 'stage sql "SQL" {\n  owner sales\n  respond within 48h\n  -> won when intent == "yes"\n}\n\nstage won "Customer" {')],
                    {("stage", "stage.sql"): {"sales": S}, ("transition", "mql.to.sql"): {}, ("transition", "mql.to.won"): {"sales": S}},
                    True),
    "stage_removed_ja": ("ja", [("stage 育成 \"ナーチャリング\" {\n  owner マーケティング\n  recycle\n  -> mql when スコア >= 60\n}\n", ""),
                                ('  -> 育成 "差し戻し" when 承認 == false record 返却理由\n', "")],
                         {("stage", "stage.育成"): {"マーケティング": L}, ("recycle", "mql.to.育成"): {"営業": S, "マーケティング": L}},
                         True),
    "follow_up_more_attempts": ("en", [("follow up 3 times at 0d, 3d, 7d", "follow up 4 times at 0d, 2d, 5d, 10d")],
                                {("follow_up.attempts", "mql.follow_up"): {"sales": S}}, True),
    "follow_up_sooner": ("en", [("at 0d, 3d, 7d", "at 0d, 2d, 5d")], {("follow_up.offsets", "mql.follow_up"): {"sales": S}}, True),
    "escalation_sooner": ("en", [("escalate to managers after 24h", "escalate to managers after 12h")],
                          {("escalation.after", "mql.escalate.respond"): {"sales": S}}, True),
    "handoff_more_information": ("en", [("include company", "include company, industry")],
                                 {("handoff.include", "mql.handoff"): {"marketing": S}}, True),
    "recycle_path_added": ("en", [('stage won "Customer" {\n  owner sales\n  terminal\n}',
                                   'stage won "Customer" {\n  owner sales\n  terminal\n}\n\nstage lost "Lost" {\n  owner sales\n  terminal\n}'),
                                  ('-> nurture "Not now"', '-> lost "No intent" when intent == "no"\n  -> nurture "Not now"')],
                           {("transition", "mql.to.lost"): {"sales": L}, ("stage", "stage.lost"): {"sales": S}}, False),
    "recycle_reason_required_ja": ("ja", [('-> 顧客 "承認" when 承認', '-> 顧客 "承認" when 承認 record 返却理由')],
                                   {("transition.record", "mql.to.顧客"): {"営業": S}}, True),
    "recycle_path_easier": ("en", [('when intent == "not_now" record', 'when intent in ["not_now", "no"] record')],
                            {("transition.condition", "mql.to.nurture"): {"sales": L, "marketing": S}}, True),
    "kpi_target_raised": ("en", [("target >= 100", "target >= 120")], {("kpi.target", "kpi.mql_count"): {"marketing": S}}, True),
    "kpi_target_lowered_ja": ("ja", [("target >= 100", "target >= 80")], {("kpi.target", "kpi.mql数"): {"マーケティング": L}}, True),
    "kpi_alert_fires_sooner": ("en", [("alert < 15%", "alert < 18%")], {("kpi.alert.threshold", "kpi.mql_to_won"): {"sales": S}}, True),
    "kpi_alert_added_ja": ("ja", [("  target >= 100\n", '  target >= 100\n  alert < 70 "施策を見直す" notify マーケティング\n')],
                           {("kpi.alert", "kpi.mql数"): {"マーケティング": S}}, True),
    "kpi_owner_changed": ("en", [("  owner sales\n  measure rate", "  owner marketing\n  measure rate")],
                          {("kpi.owner", "kpi.mql_to_won"): {"sales": L, "marketing": S}}, True),
    "review_more_often_ja": ("ja", [("every month", "every 2 weeks")],
                             {("review.cadence", "review.月次"): {"営業企画": S, "マーケティング": S, "営業": S}}, True),
    "review_attendee_added": ("en", [("  attendees marketing\n", "  attendees marketing, sales\n")],
                              {("review.attendees", "review.criteria"): {"sales": S}}, True),
    "information_sooner": ("en", [('"Outcome of every lead" within 2bd', '"Outcome of every lead" within 1bd')],
                           {("information.within", "information.sales.marketing.1"): {"sales": S}}, True),
    "responsibility_added_party": ("en", [('"Lead acquisition" responsible marketing', '"Lead acquisition" responsible marketing, sales')],
                                   {("responsibility.responsible", "responsibilities.1"): {"sales": S}}, True),
    "calendar_saturday_added": ("en", [("days mon, tue, wed, thu, fri", "days mon, tue, wed, thu, fri, sat")],
                                {("calendar.days", "calendar.office"): {"sales": S}}, True),
    "cancellation_added_and_reordered_ja": ("ja", [('  "組織の大幅な変更"\n', '  "新製品の導入"\n  "組織の大幅な変更"\n')],
                                            {("cancellation", "cancellation.1"): {}, ("clause.renumbered", "cancellation.2"): {}}, True),
    "party_reviewers_and_capacity": ("en", [('reviewers "@mkt-head"', 'reviewers "@mkt-head", "@mkt-ops"'),
                                            ("capacity 5 people", "capacity 6 people")],
                                     {("team.reviewers", "party.marketing"): {}, ("team.capacity", "party.sales"): {"sales": S}}, True),
    "transitions_reordered": ("en", [('  -> won "Intent confirmed" when intent == "yes"\n  -> nurture "Not now" when intent == "not_now" record recycle_reason\n',
                                      '  -> nurture "Not now" when intent == "not_now" record recycle_reason\n  -> won "Intent confirmed" when intent == "yes"\n')],
                              {("transition.order", "stage.mql"): {}}, True),
    "priority_and_agreement_neutral": ("en", [("priority hot \"Hot\" when lead_score >= 80", "priority hot \"Hot\" when lead_score >= 70"),
                                              ('version "1.0"', 'version "1.1"'), ("owner revops\n  calendar", "owner marketing\n  calendar")],
                                       {("priority.condition", "priority.hot"): {}, ("agreement.version", "agreement"): {},
                                        ("agreement.owner", "agreement"): {}}, True),
}

NO_CHANGE_CASES = {
    "declarations_reordered": ("en", [('property recycle_reason "Recycle reason" enum ["timing", "budget"]\nproperty company "Company" text\n',
                                        'property company "Company" text\nproperty recycle_reason "Recycle reason" enum ["timing", "budget"]\n')]),
    "formatting_only_ja": ("ja", [("  respond within 1bd target 4bh\n  decide within 5bd\n",
                                   "  decide   within 5bd   # 判断期限\n\trespond within 1bd target 4bh\n")]),
}


def edit(lang: str, edits: list[tuple[str, str]]) -> str:
    text = BASES[lang]
    for old, new in edits:
        assert old in text, f"edit target not found: {old!r}"
        text = text.replace(old, new)
    return text


def policy(text: str, path: str):
    result = compile_text(text, path, checks=False)
    assert result.policy is not None and not result.errors, [d.message for d in result.diagnostics]
    return result.policy


def run_case(lang: str, edits):
    old = policy(BASES[lang], f"base_{lang}.sla")
    new = policy(edit(lang, edits), f"base_{lang}.sla")
    return old, new, diff_policies(old, new, f"base_{lang}.sla", f"base_{lang}.sla")


def test_the_corpus_is_large_enough_and_covers_both_languages():
    assert len(CASES) + len(NO_CHANGE_CASES) >= 20
    assert {base for base, *_ in CASES.values()} == {"en", "ja"}
    kinds = {kind.split(".")[0] for _, _, expected, _ in CASES.values() for kind, _ in expected}
    assert kinds >= {"stage", "deadline", "follow_up", "escalation", "handoff", "transition", "recycle", "score",
                     "kpi", "review", "information", "responsibility", "cancellation", "team", "calendar", "priority",
                     "agreement"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_change_is_classified_for_each_party(name, snapshot):
    lang, edits, expected, exact = CASES[name]
    old, new, result = run_case(lang, edits)
    assert result.status == "modified"
    found = {(c.kind, c.clause_id): dict(c.effects) for c in result.changes}
    for key, effects in expected.items():
        assert key in found, f"{key} not reported; got {sorted(found)}"
        assert found[key] == effects, f"{key}: {found[key]} != {effects}"
    if exact:
        assert sorted(found) == sorted(expected)
    approvals = required_approvals(result, old, new)
    report = render_text([result], approvals, None) + "\n" + render_markdown([result], approvals, None)
    assert report == snapshot


@pytest.mark.parametrize("name", sorted(NO_CHANGE_CASES))
def test_reordering_and_formatting_are_no_semantic_change(name):
    lang, edits = NO_CHANGE_CASES[name]
    _, _, result = run_case(lang, edits)
    assert result.changes == [] and result.status == "unchanged"
    text = render_text([result], None, None)
    assert ("No semantic change" in text) if lang == "en" else ("意味の変更はありません" in text)


def test_formatting_keeps_the_fingerprint_but_reordering_declarations_does_not():
    _, _, formatted = run_case("ja", NO_CHANGE_CASES["formatting_only_ja"][1])
    assert formatted.old_fingerprint == formatted.new_fingerprint and not formatted.reordered_only
    _, _, reordered = run_case("en", NO_CHANGE_CASES["declarations_reordered"][1])
    assert reordered.reordered_only
    assert "must be signed again" in render_text([reordered], None, None)


def test_identical_policies_need_no_approval():
    old, new, result = run_case("en", [])
    assert result.changes == [] and required_approvals(result, old, new) == []


def test_approvers_are_the_stricter_parties_and_the_document_owner():
    old, new, result = run_case("en", CASES["mql_threshold_raised"][1] + CASES["deadline_shorter"][1])
    approvals = required_approvals(result, old, new)
    assert [(a.team, a.reasons, a.reviewers) for a in approvals] == [
        ("revops", ["owner"], ("@revops",)),
        ("marketing", ["stricter"], ("@mkt-head",)),
        ("sales", ["stricter"], ("@sales-head", "@sales-ops")),
    ]
    assert approvals[2].clauses == ["mql.respond"]
    assert approvals[2].satisfied_by(parse_handles("@Sales-Ops, someone"))
    assert not approvals[1].satisfied_by(parse_handles("sales-head"))


def test_reviewers_come_from_the_old_policy():
    """A pull request cannot pick who approves it by editing `reviewers`."""
    old, new, result = run_case("en", [('reviewers "@sales-head", "@sales-ops"', 'reviewers "@intern"'),
                                       ("respond within 24h", "respond within 8h")])
    sales = next(a for a in required_approvals(result, old, new) if a.team == "sales")
    assert sales.reviewers == ("@sales-head", "@sales-ops")


def test_owner_change_needs_both_owners():
    old, new, result = run_case("en", CASES["priority_and_agreement_neutral"][1])
    assert [a.team for a in required_approvals(result, old, new) if "owner" in a.reasons] == ["marketing", "revops"]


def test_added_and_deleted_policies():
    base = policy(BASES["en"], "a.sla")
    added = diff_policies(None, base, None, "a.sla")
    assert added.status == "added" and dict(added.changes[0].effects) == {"marketing": S, "sales": S, "revops": S}
    deleted = diff_policies(base, None, "a.sla", None)
    assert deleted.status == "deleted" and dict(deleted.changes[0].effects) == {"marketing": L, "sales": L, "revops": L}


def test_json_report_lists_every_party_for_every_change():
    old, new, result = run_case("en", CASES["mql_threshold_raised"][1])
    data = json.loads(render_json([result], required_approvals(result, old, new), None))
    (change,) = data["policies"][0]["changes"]
    assert change["effects"] == {"marketing": S, "sales": L, "revops": "neutral"}
    assert change["clause_id"] == "lead.to.mql" and change["kind"] == "transition.condition"
    assert [a["team"] for a in data["required_approvals"]] == ["revops", "marketing"]
    assert data["required_approvals"][1]["any_of"] == ["@mkt-head"]


def test_lang_option_overrides_the_policy_language():
    _, _, result = run_case("ja", CASES["deadline_longer_ja"][1])
    assert "first-response deadline" in render_text([result], None, "en")
    assert "初回対応期限" in render_text([result], None, None)


def test_both_languages_have_every_message():
    for table in (WHAT, WORDS, EFFECT_WORDS, PHRASES):
        for key, (en, ja) in table.items():
            assert en and ja, key
            assert sorted(_fields(en)) == sorted(_fields(ja)), key


def _fields(template: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def test_every_what_key_used_by_the_comparison_exists():
    import re

    source = (Path(__file__).parent.parent / "sla_lang" / "semdiff" / "compare.py").read_text()
    used = set(re.findall(r'What\.of\(\s*"([^"]+)"', source))
    used |= {f"deadline.{k}{suffix}" for k in ("respond", "decide") for suffix in ("", ".target", ".owner")}
    assert used - set(WHAT) == set()


# ---------------------------------------------------------------------- the command


def run(*args, cwd=None):
    return CliRunner().invoke(cli, ["diff", *args], catch_exceptions=False)


def test_cli_diff_of_two_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.sla").write_text(BASES["en"], encoding="utf-8")
    (tmp_path / "new.sla").write_text(edit("en", CASES["deadline_shorter"][1]), encoding="utf-8")
    result = run("old.sla", "new.sla", "--color", "never")
    assert result.exit_code == 0
    assert "mql.respond  The first-response deadline in stage “MQL” changed: 24h → 12h" in result.output
    ok = run("old.sla", "new.sla", "--approved-by", "@revops,@sales-ops")
    assert ok.exit_code == 0 and "All required approvals are present." in ok.output
    missing = run("old.sla", "new.sla", "--approved-by", "@revops")
    assert missing.exit_code == 1
    assert "approval missing from sales (Sales): one of @sales-head, @sales-ops" in missing.output


def test_cli_diff_side_with_syntax_errors_is_sla883(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.sla").write_text(BASES["en"], encoding="utf-8")
    (tmp_path / "new.sla").write_text(BASES["en"].replace("respond within", "respond wihtin"), encoding="utf-8")
    result = run("old.sla", "new.sla", "--color", "never")
    assert result.exit_code == 1
    assert "new.sla:66:11: error SLA101" in result.output
    assert "error SLA883 (uncomparable-policy) cannot compare new.sla: it does not parse" in result.output


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ci@example.invalid")
    git(repo, "config", "user.name", "CI")
    (repo / "policies" / "corpus.sla").write_text(BASES["en"], encoding="utf-8")
    (repo / "policies" / "old.sla").write_text(BASES["ja"], encoding="utf-8")
    (repo / "README.md").write_text("not a policy\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "change")
    return repo


@needs_git
def test_cli_diff_rev_path_and_base(tmp_path, monkeypatch):
    repo = make_repo(tmp_path)
    monkeypatch.chdir(repo)
    (repo / "policies" / "corpus.sla").write_text(edit("en", CASES["mql_threshold_raised"][1]), encoding="utf-8")
    (repo / "policies" / "old.sla").unlink()
    (repo / "policies" / "new.sla").write_text(BASES["en"], encoding="utf-8")
    (repo / "README.md").write_text("changed\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "change")
    (repo / "policies" / "untracked.sla").write_text(BASES["en"], encoding="utf-8")

    single = run("main:policies/corpus.sla", "policies/corpus.sla", "--format", "json")
    assert single.exit_code == 0, single.output
    data = json.loads(single.output[single.output.index("{"):])
    assert [c["clause_id"] for c in data["policies"][0]["changes"]] == ["lead.to.mql"]

    result = run("--base", "main", "--format", "json", "policies/")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert sorted((p["new_path"] or "", p["status"]) for p in data["policies"]) == sorted([
        ("policies/corpus.sla", "modified"), ("policies/new.sla", "added"),
        ("policies/untracked.sla", "added"), ("", "deleted"),
    ])
    deleted = next(p for p in data["policies"] if p["status"] == "deleted")
    assert deleted["old_path"].endswith(":policies/old.sla") and deleted["language"] == "ja"
    markdown = run("--base", "main", "--format", "markdown", "--approvers")
    assert markdown.output.count("<!-- sla-diff -->") == 1
    assert "| `lead.to.mql` |" in markdown.output and "### Required approvals" in markdown.output


@needs_git
def test_cli_diff_unreadable_revision_is_sla882(tmp_path, monkeypatch):
    repo = make_repo(tmp_path)
    monkeypatch.chdir(repo)
    result = run("no-such-branch:policies/corpus.sla", "policies/corpus.sla", "--color", "never")
    assert result.exit_code == 2 and "SLA882 (unreadable-revision)" in result.output
    result = run("--base", "no-such-branch", "--color", "never")
    assert result.exit_code == 2 and "SLA882 (unreadable-revision)" in result.output
    result = run("main:policies/missing.sla", "policies/corpus.sla", "--color", "never")
    assert result.exit_code == 2 and "SLA882" in result.output


def test_diff_of_the_largest_example_with_itself_is_fast_and_empty(in_repo):
    import time

    largest = max(POLICIES, key=lambda p: p.stat().st_size)
    started = time.perf_counter()
    result = run(str(largest.relative_to(in_repo)), str(largest.relative_to(in_repo)))
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0
    assert result.output.endswith(("No semantic change.\n", "意味の変更はありません。\n"))
    assert elapsed < 5


@needs_git
@pytest.mark.parametrize("args", [
    ["--output=v:policies/corpus.sla", "policies/corpus.sla"],
    ["--", "--output=v:policies/corpus.sla", "policies/corpus.sla"],
    ["--base", "--output=v:policies/corpus.sla"],
    ["--base=--output=v:policies/corpus.sla", "policies/"],
    ["--base", "main", "--", "--output=v:policies/corpus.sla"],
])
def test_revisions_and_paths_never_reach_git_as_options(tmp_path, monkeypatch, args):
    """Issue 15 item 4: `sla diff -- --output=FILE` had git overwrite FILE."""
    repo = make_repo(tmp_path)
    monkeypatch.chdir(repo)
    victim = repo / "v:policies" / "corpus.sla"  # where `git show --output=v:policies/corpus.sla` would write
    victim.parent.mkdir()
    victim.write_text("precious\n")
    result = run("--color", "never", *args)
    assert victim.read_text() == "precious\n"
    assert result.exit_code == (0 if "main" in args else 2), result.output  # a path is only ever a path
    if args[0] != "--output=v:policies/corpus.sla" and "main" not in args:  # (click refuses that one itself)
        assert "is not a revision" in result.output


@needs_git
def test_unknown_revision_names_itself(tmp_path, monkeypatch):
    make_repo(tmp_path)
    monkeypatch.chdir(tmp_path / "repo")
    result = run("nope:policies/corpus.sla", "policies/corpus.sla", "--color", "never")
    assert result.exit_code == 2 and "unknown revision `nope`" in result.output
