"""The agreement as a contract (issue 14 item 10): term and renewal, the amendment procedure,
KPI and deadline data sources, KPI targets to be agreed or absent, RACI accountability and
definitions for every stage — through lowering, the document, `sla diff` and the fingerprint."""

from __future__ import annotations

from sla_lang.agreement.content import prepare_document
from sla_lang.compile import compile_text
from sla_lang.irjson import canonical_bytes, fingerprint
from sla_lang.semdiff import diff_policies, required_approvals

from .conftest import REPO

HEADER = '''agreement "Contract" {{
  version "1"
  effective 2026-04-01
{extra}}}
party marketing "Marketing" {{
  role marketing
  reviewers "@mia"
}}
party sales "Sales" {{
  role sales
  reviewers "@sam"
}}
team ops "Operations" {{
  role operations
}}
stage lead "Lead" {{
  owner marketing
  entry
  -> won "Won" when deal
  -> lost after 30d
}}
stage won "Won" {{
  owner sales
  terminal
}}
stage lost "Lost" {{
  owner marketing
  terminal
  description "Given up."
}}
property deal "Deal" bool
review sla_review "SLA review" {{
  every 6 months
  owner ops
}}
'''


def policy(extra: str = "", tail: str = ""):
    return compile_text(HEADER.format(extra=extra) + tail)


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def test_term_counts_calendar_units_from_the_effective_date():
    result = policy("  term 1 month\n")
    term = result.policy.agreement.term
    assert term.last_day(result.policy.agreement.effective.value).isoformat() == "2026-04-30"
    assert policy("  term 12 months\n").policy.agreement.term.last_day(
        result.policy.agreement.effective.value).isoformat() == "2027-03-31"
    until = policy("  term until 2026-12-31\n").policy.agreement.term
    assert until.length is None and until.last_day(None).isoformat() == "2026-12-31"


def test_renewal_without_a_term_and_bad_terms_are_precise_errors():
    renews = policy("  renews automatically\n")
    (d,) = [d for d in renews.diagnostics if d.code == "SLA310"]
    assert "renews but has no `term`" in d.message and (d.span.line, d.span.column) == (4, 3)
    assert "SLA306" in codes(policy("  term 0 months\n"))
    unknown = [d for d in policy("  term 3 fortnights\n").diagnostics if d.code == "SLA307"]
    assert unknown and "unknown term unit 'fortnights'" in unknown[0].message
    assert "SLA304" in codes(policy("  term until 24h\n"))
    twice = policy("  amendment approved by marketing\n  amendment approved by sales\n")
    assert "SLA303" in codes(twice)
    assert "SLA301" in codes(policy("  amendment approved by legal\n"))
    assert "SLA301" in codes(policy("  term 1 year\n  renews after review whole_review\n"))


def test_an_expired_term_is_reported_only_when_it_does_not_renew():
    from datetime import date

    from sla_lang.checks import CheckOptions

    text = HEADER.format(extra="  term 6 months\n")
    late = CheckOptions(today=date(2026, 10, 1))  # the term ended on 2026-09-30
    assert "SLA724" in codes(compile_text(text, options=late))
    assert "SLA724" not in codes(compile_text(text, options=CheckOptions(today=date(2026, 9, 30))))
    renewing = HEADER.format(extra="  term 6 months\n  renews automatically\n")
    assert "SLA724" not in codes(compile_text(renewing, options=late))
    after_review = HEADER.format(extra="  term 6 months\n  renews after review sla_review\n")
    assert "SLA724" in codes(compile_text(after_review, options=late))  # not renewed by itself
    backwards = HEADER.format(extra="  term until 2026-01-01\n")
    (d,) = [d for d in compile_text(backwards).diagnostics if d.code == "SLA724"]
    assert "before the agreement takes effect" in d.message


def test_the_document_states_term_renewal_and_amendment_in_both_languages():
    result = policy('  term 12 months\n  renews after review sla_review\n  amendment approved by marketing, sales\n'
                    '  amendment "Pull requests to the policy repository."\n')
    en = prepare_document(result.policy, "en").section("cancellation")
    term, amendment = en.extra["terms"]
    assert term["text"] == ("This agreement applies for 12 months from 2026-04-01, until 2027-03-31. It is renewed for "
                            "a term of the same length when the SLA review confirms it.")
    assert amendment["text"] == ("This agreement is changed only through its policy source, with the approval of "
                                 "Marketing and Sales; each changed version is signed again. Pull requests to the "
                                 "policy repository.")
    assert [c["number"] for c in en.clauses] == ["15.1", "15.2"] and en.extra["conditions"] == []
    ja = prepare_document(result.policy, "ja").section("cancellation")
    assert ja.extra["terms"][0]["text"] == (
        "本合意は2026-04-01から12か月間、2027-03-31まで適用する。期間満了時にSLA reviewで確認したうえで、同じ期間ずつ更新する。")
    # Japanese sentences follow each other without a space
    assert "。Pull requests" in ja.extra["terms"][1]["text"]


def test_kpi_targets_sources_and_stage_definitions_in_the_document():
    result = policy(tail='''kpi wins "Wins" {
  owner sales
  measure count won per month
  target to be agreed
  source "CRM deal report"
}
kpi losses "Losses" {
  owner marketing
  measure count lost per month
}
''')
    doc = prepare_document(result.policy, "en")
    wins, losses = doc.section("kpis").clauses
    assert (wins["target"], losses["target"]) == ("to be agreed", "monitored, no target")
    assert wins["measure"] == "Leads entering Won (source: CRM deal report)"
    assert losses["measure"] == "Leads entering Lost"
    stages = {c["id"]: c["description"] for c in doc.section("stages").clauses}
    assert stages == {
        "stage.lead": "New leads start here.",
        "stage.won": "Final stage, reached from Lead (“Won”).",
        "stage.lost": "Given up.",
    }
    ja = {c["id"]: c["description"] for c in prepare_document(result.policy, "ja").section("stages").clauses}
    assert ja["stage.won"] == "最終ステージ。Lead\uff08「Won」\uff09から移行する。"
    assert [c["target"] for c in prepare_document(result.policy, "ja").section("kpis").clauses] == [
        "別途合意", "目標なし\uff08モニタリングのみ\uff09"]


def test_amendment_approvers_are_required_for_any_change_as_the_old_version_names_them():
    old = policy("  term 1 year\n  amendment approved by marketing, sales\n").policy
    new = policy("  term 2 years\n").policy  # drops the amendment procedure in the same change
    changes = diff_policies(old, new, "p.sla", "p.sla")
    kinds = {c.kind for c in changes.changes}
    assert {"agreement.term", "agreement.amendment"} <= kinds
    approvals = {a.team: a.reasons for a in required_approvals(changes, old, new)}
    assert approvals["marketing"] == ["amendment"] and approvals["sales"] == ["amendment"]
    unchanged = diff_policies(old, old, "p.sla", "p.sla")
    assert required_approvals(unchanged, old, old) == []


def test_source_and_target_changes_are_reported_by_diff():
    old = policy(tail='kpi wins "Wins" {\n  measure count won per month\n  target >= 3\n}\n'
                 'stage extra "Extra" {\n  owner sales\n  respond within 2h\n  -> won when deal\n}\n').policy
    new = policy(tail='kpi wins "Wins" {\n  measure count won per month\n  target to be agreed\n'
                 '  source "CRM"\n}\n'
                 'stage extra "Extra" {\n  owner sales\n  respond within 2h source "CRM log"\n  -> won when deal\n}\n'
                 ).policy
    kinds = sorted(c.kind for c in diff_policies(old, new, "p.sla", "p.sla").changes)
    assert kinds == ["deadline.source", "kpi.source", "kpi.target"]


def test_policies_that_do_not_use_the_new_constructs_keep_their_fingerprint():
    """The canonical form leaves out constructs a policy does not use (ir.later), so adding them
    to the language does not change the fingerprint of an agreement signed before."""
    path = REPO / "tests" / "fixtures" / "valid" / "minimal.sla"
    result = compile_text(path.read_text(encoding="utf-8"))
    data = canonical_bytes(result.policy).decode()
    for key in ('"term"', '"amendment"', '"source":{', '"target_pending"'):
        assert key not in data
    with_term = compile_text(path.read_text(encoding="utf-8").replace("effective", "term 1 year\n  effective", 1))
    assert '"term"' in canonical_bytes(with_term.policy).decode()
    assert fingerprint(with_term.policy) != fingerprint(result.policy)
