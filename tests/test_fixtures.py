"""Fixture folders: valid policies compile clean; each invalid one reports exactly what it says."""

from __future__ import annotations

import pytest

from sla_lang.compile import compile_path
from sla_lang.diagnostics import Severity, all_rules

from .conftest import INVALID, POLICIES, VALID, expectations, rel

# Codes whose trigger cannot be a policy file, with the test that covers each instead.
NOT_FIXTURE_TESTABLE = {
    "SLA001": "tests/test_cli.py::test_missing_path_exits_2",
    "SLA004": "tests/test_source.py::test_file_over_the_size_limit",
    "SLA010": "tests/test_limits.py::test_too_many_stages",
    "SLA879": "tests/test_algorithm_budgets.py::test_a_hard_scoring_policy_ends_with_a_diagnostic_naming_the_score",
    "SLA007": "tests/test_config.py::test_unknown_code_in_config_is_reported_at_its_position",
    "SLA880": "tests/test_fmt.py::test_file_with_syntax_errors_is_reported_not_formatted",
    "SLA881": "tests/test_fmt.py::test_a_formatter_bug_that_changes_meaning_leaves_the_file_alone",
    "SLA882": "tests/test_diff.py::test_cli_diff_unreadable_revision_is_sla882",
    "SLA883": "tests/test_diff.py::test_cli_diff_side_with_syntax_errors_is_sla883",
    "SLA884": "tests/test_diff_corpus.py::test_unchanged_version_fails_the_approval_gate",
    "SLA999": "tests/test_checks_framework.py::test_a_crashing_check_becomes_an_internal_error",
    # the agreement target and `sla sign` / `sla verify`: triggered by the machine or by a PDF
    "SLA800": "tests/test_agreement_pdf.py::test_missing_pdf_extra_is_a_warning_by_default_and_an_error_when_asked",
    "SLA801": "tests/test_agreement_pdf.py::test_no_japanese_font_is_an_error_naming_the_package",
    "SLA802": "tests/test_agreement_pdf.py::test_missing_glyph_outside_japanese_is_reported",
    "SLA803": "tests/test_agreement.py::test_invisible_characters_are_shown_and_reported",
    "SLA804": "tests/test_agreement_pdf.py::test_renderer_failure_becomes_a_diagnostic",
    "SLA805": "tests/test_agreement_pdf.py::test_a_policy_too_large_for_one_pdf_shows_each_tables_first_rows_and_says_so",
    "SLA809": "tests/test_agreement_language.py::test_conditions_and_reasons_show_option_labels_and_report_raw_machine_values",
    "SLA810": "tests/test_agreement_pdf.py::test_verify_unreadable_pdf_exits_2",
    "SLA811": "tests/test_agreement_pdf.py::test_sign_refuses_unknown_or_signed_field_and_wrong_key",
    "SLA812": "tests/test_agreement_pdf.py::test_sign_refuses_unknown_or_signed_field_and_wrong_key",
    "SLA813": "tests/test_agreement_pdf.py::test_sign_refuses_unknown_or_signed_field_and_wrong_key",
    "SLA814": "tests/test_agreement_pdf.py::test_sign_verify_tamper",
    "SLA815": "tests/test_agreement_pdf.py::test_verify_reports_untrusted_signer_and_wrong_policy",
    "SLA816": "tests/test_agreement_pdf.py::test_verify_reports_untrusted_signer_and_wrong_policy",
    "SLA817": "tests/test_agreement_pdf.py::test_verify_reports_untrusted_signer_and_wrong_policy",
    "SLA818": "tests/test_signatures.py::test_bytes_after_the_end_of_file_fail",
    "SLA819": "tests/test_signatures.py::test_one_certificate_cannot_sign_for_two_parties",
    # HubSpot target (SLA820–SLA849): reported by `sla build --target hubspot`, not by `sla check`;
    # each has tests/fixtures/hubspot/<CODE>_*.sla, built by the test named here.
    "SLA820": "tests/test_hubspot_target.py::test_invalid_output_is_an_internal_error",
    **{f"SLA{n}": "tests/test_hubspot_target.py::test_hubspot_fixture_reports_its_expectations"
       for n in range(821, 842) if n != 836},  # SLA836 is a check: tests/fixtures/invalid/
    "SLA849": "tests/test_hubspot_target.py::test_hubspot_fixture_reports_its_expectations",
    # simulator, `sla test` and fixtures target: triggered by events files, scenario files or a build
    "SLA850": "tests/test_simulate_events.py::test_malformed_lines_are_reported_and_skipped",
    "SLA851": "tests/test_simulate_events.py::test_invalid_events_point_at_the_field",
    "SLA852": "tests/test_simulate_events.py::test_unknown_lead_and_duplicate_lead",
    "SLA853": "tests/test_simulate_events.py::test_unknown_lead_and_duplicate_lead",
    "SLA854": "tests/test_simulate_events.py::test_out_of_order_event_is_skipped_and_processing_continues",
    "SLA855": "tests/test_simulate_events.py::test_unknown_property_skips_only_that_property",
    "SLA856": "tests/test_simulate_events.py::test_invalid_property_values",
    "SLA857": "tests/test_simulate_events.py::test_unknown_event_and_stage",
    "SLA858": "tests/test_simulate_events.py::test_unknown_event_and_stage",
    "SLA859": "tests/test_simulate.py::test_stage_set_by_hand_off_policy_is_applied_with_a_warning",
    "SLA860": "tests/test_simulate.py::test_a_loop_of_unconditional_moves_is_stopped_and_reported",
    "SLA862": "tests/test_language_obligations.py::test_a_lead_no_entry_stage_admits_is_left_out_once",
    "SLA861": "tests/test_simulate.py::test_business_deadline_without_a_calendar_is_reported",
    "SLA865": "tests/test_fixtures_target.py::test_example_policy_coverage_is_complete",
    "SLA866": "tests/test_fixtures_target.py::test_uncoverable_transition_is_reported_with_its_reason",
    "SLA867": "tests/test_sla_test_command.py::test_invalid_scenario_file_is_reported",
    "SLA868": "tests/test_sla_test_command.py::test_mutated_threshold_fails_a_previously_generated_scenario",
    "SLA869": "tests/test_hubspot_differential.py::test_a_build_from_another_policy_version_is_reported",
    "SLA870": "tests/test_history.py::test_csv_export_becomes_the_expected_events",
}


@pytest.mark.parametrize("path", POLICIES + VALID, ids=lambda p: p.name)
def test_valid_policy_has_no_errors(path, in_repo):
    result = compile_path(path, shown_as=rel(path))
    errors = [f"{d.span.line}:{d.span.column} {d.code} {d.message}" for d in result.diagnostics
              if d.severity is Severity.ERROR]
    assert result.policy is not None
    assert errors == []


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_example_policies_are_clean(path, in_repo):
    """The examples are the product's showcase: no warnings either. Notes (information) may
    remain where the seed article itself leaves something open (a target "to be agreed")."""
    result = compile_path(path, shown_as=rel(path))
    assert [f"{d.span.line}:{d.span.column} {d.code} {d.message}" for d in result.diagnostics
            if d.severity is not Severity.INFO] == []
    assert {d.code for d in result.diagnostics} <= {"SLA723"}


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_reports_exactly_its_expectations(path, in_repo):
    expected = expectations(path)
    assert expected, f"{path.name} has no `# expect:` comment"
    expected_codes = {code for code, _, _ in expected}
    assert path.name.split("_")[0] in expected_codes, "a fixture is named after the code it triggers"
    result = compile_path(path, shown_as=rel(path))
    # every error counts; warnings and info only when the fixture is about them
    got = sorted(
        (d.code, d.span.line, d.span.column)
        for d in result.diagnostics
        if d.severity is Severity.ERROR or d.code in expected_codes
    )
    assert got == sorted(expected)


def test_every_rule_has_an_invalid_fixture_and_an_explanation():
    fixture_codes = {p.name.split("_")[0] for p in INVALID}
    missing = []
    for rule in all_rules():
        assert rule.summary and rule.explanation and rule.bad and rule.good, rule.code
        assert rule.name == rule.name.lower() and " " not in rule.name, rule.name
        if rule.code not in fixture_codes and rule.code not in NOT_FIXTURE_TESTABLE:
            missing.append(rule.code)
    assert missing == [], f"rules without tests/fixtures/invalid/<code>_*.sla: {missing}"


def test_codes_covered_elsewhere_have_their_tests():
    import importlib

    for code, test in NOT_FIXTURE_TESTABLE.items():
        module_path, name = test.split("::")
        module = importlib.import_module(module_path.replace("/", ".").removesuffix(".py"))
        assert hasattr(module, name), f"{code} is said to be covered by {test}, which does not exist"
