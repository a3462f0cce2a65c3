"""Issue 19 §4: one mistake gives one diagnostic, and a misspelt duration gets the fix.

Every case edits one line of a policy that checks clean (`policies/inside_sales_sal.sla`), so
whatever is reported is caused by that edit alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from sla_lang.compile import compile_text
from sla_lang.message import localize

POLICY = (Path(__file__).resolve().parent.parent / "policies" / "inside_sales_sal.sla").read_text(encoding="utf-8")
RESPOND = "respond within 24h via call target 12h"  # the MQL stage's first-response deadline


def reported(text: str):
    """Errors and warnings of `text` (infos left out), as (code, line, message, help)."""
    result = compile_text(text, path="policy.sla")
    return [(d.code, d.span.line, str(d.message), str(d.help or ""))
            for d in result.diagnostics if d.severity.value in ("error", "warning")]


def edit(old: str, new: str) -> str:
    assert POLICY.count(old) == 1, old
    return POLICY.replace(old, new)


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def test_the_policy_used_here_checks_clean():
    assert reported(POLICY) == []


def test_a_misspelt_transition_target_is_one_error_naming_the_stage_it_meant():
    text = edit('-> sql "Buying intent confirmed on the call"', '-> slq "Buying intent confirmed on the call"')
    [(code, line, message, help_text)] = reported(text)
    assert (code, line, message) == ("SLA301", line_of(text, "-> slq"), "undefined stage `slq`")
    assert help_text.startswith("did you mean `sql`?")
    # before: sql, opportunity, customer and closed_lost unreachable (4 × SLA202), and SLA702
    # "no transition into `sql` says when a lead becomes an SQL"


def test_a_misspelt_target_does_not_hide_a_stage_nothing_leads_to():
    """The misspelling is read as the stage it meant, not as "could be anything"."""
    text = edit('-> sql "Buying intent confirmed on the call"',
                '-> slq "Buying intent confirmed on the call"')
    text += '\nstage orphan "Orphan" {\n  owner marketing\n  decide within 5d\n  -> closed_lost after 10d\n}\n'
    codes = [(code, message) for code, _, message, _ in reported(text)]
    assert ("SLA202", "stage `orphan` cannot be reached from the entry stage `lead`") in codes
    assert [c for c, _ in codes].count("SLA202") == 1


def test_an_undefined_target_with_no_likely_meaning_still_leaves_unreachable_stages_reported():
    text = edit('-> sql "Buying intent confirmed on the call"', '-> zzzzzz "Buying intent confirmed on the call"')
    codes = [code for code, *_ in reported(text)]
    assert codes.count("SLA301") == 1 and codes.count("SLA202") == 4


@pytest.mark.parametrize("written", ["24hr", "24hrs", "1.5h", "24hh"])
def test_a_deadline_with_a_wrong_duration_is_one_error(written):
    """Before: also SLA505 (the escalation guards a deadline the stage 'has none' of) and
    SLA301 (the KPI measuring the deadline) and SLA704 (the MQL stage 'has no follow-up deadline')."""
    text = edit(RESPOND, f"respond within {written}")
    [(code, line, _, _)] = reported(text)
    assert code in ("SLA305", "SLA306") and line == line_of(text, f"respond within {written}")


def test_a_sales_stage_whose_only_deadline_has_a_wrong_duration_gets_no_missing_deadline_error():
    text = edit("decide within 10bd target 7bd", "decide within 10bdd")
    assert [code for code, *_ in reported(text)] == ["SLA305"]


@pytest.mark.parametrize(("written", "fix"), [
    ("24 hr", "24h"), ("24 hours", "24h"), ("24 h", "24h"), ("4 business hours", "4bh"),
    ("5 business days", "5bd"), ("3 bd", "3bd"), ("2 days", "2d"), ("30 min", "30m"), ("2 weeks", "2w"),
    ("4 working days", "4bd"),
])
def test_a_duration_written_with_a_space_gets_the_fix(written, fix):
    text = edit(RESPOND, f"respond within {written}")
    [(code, line, message, help_text)] = reported(text)
    assert (code, line) == ("SLA101", line_of(text, "respond within"))
    assert message.startswith(f"`{written}` is not a duration")
    assert "expected" not in message  # no parser jargon
    assert help_text == f"write {fix}"


def test_months_are_not_a_unit():
    [(_, _, message, help_text)] = reported(edit(RESPOND, "respond within 2 months"))
    assert message.startswith("`2 months` is not a duration")
    assert help_text == "months vary in length: write days (e.g. 30d) or weeks"


def test_the_suggested_durations_are_valid():
    for written, fix in (("24 hr", "24h"), ("4 business hours", "4bh"), ("-1h", "1h")):
        fixed = edit(RESPOND, f"respond within {fix}")
        assert compile_text(fixed, path="policy.sla").errors == [], written


def test_a_negative_duration_is_said_to_be_negative():
    text = edit(RESPOND, "respond within -1h")
    [(code, line, message, help_text)] = reported(text)
    assert (code, line, message) == ("SLA102", line_of(text, "-1h"), "durations cannot be negative: -1h")
    assert help_text.startswith("write 1h without the minus sign")


def test_the_fix_is_suggested_in_japanese_too():
    result = compile_text(edit(RESPOND, "respond within 4 business hours"), path="policy.sla")
    [d] = result.errors
    assert localize(d.message, "ja").startswith("`4 business hours` は期間として読めません")
    assert localize(d.help, "ja") == "4bh と書いてください"


@pytest.mark.parametrize(("declaration", "misspelt", "used"), [
    ('party inside_sales "Inside Sales" {', 'party inside_sale "Inside Sales" {', 20),
    ('stage sql "Sales qualified lead (SQL)" {', 'stage slq "Sales qualified lead (SQL)" {', 6),
])
def test_a_misspelt_declaration_is_one_error_at_the_declaration(declaration, misspelt, used):
    """Before: one SLA301 per use (20 for the party, 6 for the stage) and, for the stage,
    SLA709/SLA710 "no KPI monitors the conversion" (the KPIs name the stage as it is used)."""
    text = edit(declaration, misspelt)
    [(code, line, message, help_text)] = reported(text)
    name, meant = misspelt.split()[1], declaration.split()[1]
    assert (code, line) == ("SLA301", line_of(text, misspelt))
    assert message.endswith(f"`{name}` is declared but never used, and `{meant}` is used {used} times but never "
                            "declared: one of them is misspelt")
    assert help_text == f"rename the declaration to `{meant}`, or correct the {used} uses to `{name}`"


def test_the_same_undeclared_name_used_twice_is_still_reported_at_each_use_when_no_declaration_is_unused():
    text = edit(("escalate to revops after 24h on respond"), "escalate to insde_sales after 24h on respond")
    text = text.replace("escalate to revops after 2bd on decide", "escalate to insde_sales after 2bd on decide")
    assert [code for code, *_ in reported(text)] == ["SLA301", "SLA301"]  # inside_sales is used elsewhere
