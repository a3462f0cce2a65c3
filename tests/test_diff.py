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
S, L = "stricter", "looser"

# Edits of the bases used below; the classification of many more changes, read by hand as a
# contract, is the corpus of tests/test_diff_corpus.py.
CASES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "deadline_shorter": ("en", [("respond within 24h target 12h", "respond within 16h target 12h")]),
    "deadline_longer_ja": ("ja", [("respond within 1bd target 4bh", "respond within 2bd target 4bh")]),
    "mql_threshold_raised": ("en", [('-> mql "Qualified" when lead_score >= 50', '-> mql "Qualified" when lead_score >= 60')]),
    "priority_and_agreement_neutral": ("en", [("priority hot \"Hot\" when lead_score >= 80", "priority hot \"Hot\" when lead_score >= 70"),
                                              ('version "1.0"', 'version "1.1"'), ("owner revops\n  calendar", "owner marketing\n  calendar")]),
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


@pytest.mark.parametrize("name", ["issue1_meeting_stage", "issue2_fewer_follow_ups", "ja_recycle_path_removed",
                                  "capacity_grows", "escalation_to_revops", "review_attendee_dropped"])
def test_reports_read_like_the_agreement(name, snapshot):
    """Text and Markdown reports of corpus cases: obligations first, each clause before → after in words."""
    folder = FIXTURES / "diff" / name
    old, new = (policy((folder / f"{side}.sla").read_text(encoding="utf-8"), f"{side}.sla") for side in ("before", "after"))
    result = diff_policies(old, new, "before.sla", "after.sla")
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


def test_approvers_are_the_obligors_of_stricter_and_the_beneficiaries_of_looser_obligations():
    old, new, result = run_case("en", CASES["mql_threshold_raised"][1] + CASES["deadline_shorter"][1])
    approvals = required_approvals(result, old, new)
    assert [(a.team, a.reasons, a.reviewers) for a in approvals] == [
        ("revops", ["owner"], ("@revops",)),
        ("marketing", ["beneficiary"], ("@mkt-head",)),  # Sales takes fewer of its leads
        ("sales", ["obligor"], ("@sales-head", "@sales-ops")),  # Sales responds sooner
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
    assert added.status == "added"
    assert {d.obligor: d.direction for d in added.changes[0].duties} == {"marketing": S, "sales": S, "revops": S}
    deleted = diff_policies(base, None, "a.sla", None)
    assert deleted.status == "deleted"
    assert {d.obligor: d.direction for d in deleted.changes[0].duties} == {"marketing": L, "sales": L, "revops": L}
    assert {a.team for a in required_approvals(deleted, base, None)} == {"revops", "marketing", "sales"}


def test_json_report_lists_every_party_for_every_change():
    old, new, result = run_case("en", CASES["mql_threshold_raised"][1])
    data = json.loads(render_json([result], required_approvals(result, old, new), None))
    (change,) = data["policies"][0]["changes"]
    assert change["effects"] == {"marketing": "loses", "sales": L, "revops": "neutral"}
    assert change["obligations"] == [{"obligor": "sales", "beneficiaries": ["marketing"], "direction": L}]
    assert change["clause_id"] == "lead.to.mql" and change["kind"] == "transition.condition"
    assert change["before"] == "“Qualified”: A lead moves from “MQL”... " or change["before"].startswith("“Qualified”: ")
    assert "Lead score ≥ 60" in change["after"]
    assert [a["team"] for a in data["required_approvals"]] == ["revops", "marketing"]
    assert data["required_approvals"][1]["any_of"] == ["@mkt-head"]
    assert data["policies"][0]["version"] == {"old": "1.0", "new": "1.0", "required": "major", "proposed": "2.0",
                                              "ok": False}


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
    assert "mql.respond  The first-response deadline in stage “MQL” changed\n" in result.output
    assert "before: In “MQL”, Sales owes the first response within 24 hours (internal target: 12 hours)." in result.output
    assert "after: In “MQL”, Sales owes the first response within 16 hours (internal target: 12 hours)." in result.output
    ok = run("old.sla", "new.sla", "--approved-by", "@revops,@sales-ops")
    assert ok.exit_code == 1 and "SLA884" in ok.output  # the version is still 1.0
    (tmp_path / "new.sla").write_text(edit("en", CASES["deadline_shorter"][1]).replace('version "1.0"', 'version "1.1"'),
                                      encoding="utf-8")
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
    from .timing import cpu_seconds

    largest = max(POLICIES, key=lambda p: p.stat().st_size)
    outcome = []
    elapsed = cpu_seconds(lambda: outcome.append(run(str(largest.relative_to(in_repo)), str(largest.relative_to(in_repo)))))
    (result,) = outcome
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


HOSTILE = '## Required approvals — None\\n![x](https://evil.example/p.png) [click](https://evil.example) <img src=x> `code` **bold**'


def test_markdown_report_renders_every_policy_text_as_text():
    """Issue 15 item 9: a label cannot render a heading, an image, a link or HTML in the comment."""
    from markdown_it import MarkdownIt

    hostile = HOSTILE.replace("\\\\n", " ")
    old = policy(BASES["en"], "a.sla")
    new = policy(BASES["en"].replace('stage mql "MQL" {', f'stage mql "{hostile}" {{').replace(
        "respond within 24h target 12h", "respond within 16h target 12h"), "a.sla")
    result = diff_policies(old, new, "a.sla", "a.sla")
    html = MarkdownIt("commonmark").enable("table").render(render_markdown([result], required_approvals(result, old, new), None))
    for tag in ("<img", "<a ", "<strong>bold", "<code>code"):
        assert tag not in html, tag
    headings = [line for line in html.splitlines() if line.startswith(("<h1", "<h2", "<h3", "<h4"))]
    assert not any("Required approvals — None" in h for h in headings)
    assert "![x](https://evil.example/p.png)" in html  # shown as the text it is


def test_github_annotations_keep_policy_text_on_one_line_and_visible():
    """A text from the policy can neither start another workflow command nor hide text with
    control characters in `sla check --format github`."""
    import dataclasses

    from sla_lang.compile import compile_text as compile_checked
    from sla_lang.render.github import render

    result = compile_checked(BASES["en"], "a.sla")
    first = result.diagnostics[0]
    hostile = dataclasses.replace(first, message="label “x\n::error file=a.sla::forged %0A\u202e\u001b]8;;https://e\u0007”")
    out = render([dataclasses.replace(result, diagnostics=[hostile])])
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("::warning ") and not lines[1].startswith("::")
    assert "%0A::error file=a.sla::forged %250A" in lines[0]
    assert "[U+202E]" in out and "[U+001B]" in out and "\u202e" not in out and "\u001b" not in out
