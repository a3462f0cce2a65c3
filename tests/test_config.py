"""[tool.sla] configuration and `# sla: ignore[...]` suppressions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sla_lang.compile import compile_text
from sla_lang.config import Config, find_config_file, load_config
from sla_lang.diagnostics import Severity

# Only the rules these tests are about: the completeness lint has plenty to say about BROKEN.
NAMES_ONLY = Config(select=("SLA3",))

BROKEN = '''agreement "x" {
  version "1"
  effective 2026-01-01
  owner opps
}
team ops {
}
'''


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text("[project]\nname = 'x'\n\n[tool.sla]\n" + body, encoding="utf-8")
    return path


def test_unknown_code_in_config_is_reported_at_its_position(tmp_path):
    config, diagnostics = load_config(write(tmp_path, 'ignore = ["SLA2O4", "SLA301"]\nfoo = 1\n'))
    assert sorted((d.code, d.span.line, d.span.column, d.message) for d in diagnostics) == [
        ("SLA007", 5, 12, "unknown rule code `SLA2O4` in `ignore`"),
        ("SLA007", 6, 1, "unknown key `foo` in [tool.sla]"),
    ]
    assert config.ignore == ("SLA301",)


def test_invalid_toml_is_a_diagnostic(tmp_path):
    _, (d,) = load_config(write(tmp_path, "select = [\n"))
    assert d.code == "SLA007" and d.span.line == 6 and "invalid TOML" in d.message


def test_select_and_ignore_more_specific_wins():
    config = Config(select=("SLA3",), ignore=("SLA30",))
    assert not config.is_selected("SLA301")
    config = Config(select=("SLA301",), ignore=("SLA3",))
    assert config.is_selected("SLA301") and not config.is_selected("SLA302")
    # syntax errors cannot be deselected
    assert Config(select=("SLA7",)).is_selected("SLA101")


def test_severity_override_accepts_codes_and_names(tmp_path):
    config, diagnostics = load_config(write(tmp_path, 'severity = { SLA301 = "warning", "duplicate-setting" = "info" }\n'))
    assert diagnostics == []
    (d,) = compile_text(BROKEN, config=replace(config, select=("SLA3",))).diagnostics
    assert (d.code, d.severity) == ("SLA301", Severity.WARNING)


def test_syntax_error_severity_cannot_be_changed(tmp_path):
    _, (d,) = load_config(write(tmp_path, 'severity = { SLA101 = "warning" }\n'))
    assert "cannot be changed" in d.message


def test_config_file_is_found_upwards_only_with_a_tool_sla_table(tmp_path):
    write(tmp_path, "select = ['SLA']\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (tmp_path / "a" / "pyproject.toml").write_text("[project]\nname='inner'\n", encoding="utf-8")
    assert find_config_file(nested) == tmp_path / "pyproject.toml"


def test_suppression_silences_only_the_named_code_on_its_line():
    silenced = BROKEN.replace("owner opps", "owner opps  # sla: ignore[SLA301]")
    assert compile_text(silenced, config=NAMES_ONLY).diagnostics == []
    by_name = BROKEN.replace("owner opps", "owner opps  # sla: ignore[undefined-reference]")
    assert compile_text(by_name, config=NAMES_ONLY).diagnostics == []
    wrong = BROKEN.replace("owner opps", "owner opps  # sla: ignore[SLA302]")
    assert sorted(d.code for d in compile_text(wrong, config=NAMES_ONLY).diagnostics) == ["SLA009", "SLA301"]


def test_suppression_inside_a_string_is_not_a_suppression():
    text = BROKEN.replace('  version "1"', '  version "1 # sla: ignore[SLA301]"')
    assert [d.code for d in compile_text(text, config=NAMES_ONLY).diagnostics] == ["SLA301"]


def test_syntax_errors_cannot_be_suppressed():
    text = BROKEN + "stage a {\n  ownr x  # sla: ignore[SLA101]\n}\n"
    assert "SLA101" in [d.code for d in compile_text(text).diagnostics]


def test_strict_turns_warnings_into_errors():
    text = BROKEN.replace("owner opps", "owner ops") + "stage a {\n  owner ops  # sla: ignore[SLA301]\n  entry\n  terminal\n}\n"
    (d,) = compile_text(text, config=NAMES_ONLY).diagnostics
    assert (d.code, d.severity) == ("SLA009", Severity.WARNING)
    (d,) = compile_text(text, config=NAMES_ONLY, strict=True).diagnostics
    assert d.severity is Severity.ERROR


def test_hubspot_portal_mapping_is_read(tmp_path):
    config, diagnostics = load_config(write(tmp_path, '''
[tool.sla.hubspot]
custom-code = false
timezone = "Asia/Tokyo"

[tool.sla.hubspot.teams.sales]
team-id = "4021"
user-ids = ["101", "102", "101"]

[tool.sla.hubspot.teams.managers]
user-ids = ["7"]
'''))
    assert diagnostics == []
    hubspot = config.hubspot
    assert (hubspot.custom_code, hubspot.timezone, hubspot.configured) == (False, "Asia/Tokyo", True)
    assert hubspot.team("sales").team_id == "4021" and hubspot.team("sales").user_ids == ("101", "102")
    assert hubspot.team("managers").team_id is None and hubspot.team("nobody") is None
    assert Config().hubspot.custom_code is True  # the default: exact deadlines


def test_hubspot_portal_mapping_problems_are_sla007_at_their_line(tmp_path):
    _, diagnostics = load_config(write(tmp_path, '''
[tool.sla.hubspot]
custom-code = "yes"
timezone = "Mars/Olympus"
colour = 1

[tool.sla.hubspot.teams.sales]
team-id = 4021
user-ids = ["101", "abc"]

[tool.sla.hubspot.teams.ops]
user-ids = ["7"]
junk = 2

[tool.sla.hubspot.teams.empty]
'''))
    assert sorted((d.code, d.span.line, d.message) for d in diagnostics) == sorted([
        ("SLA007", 7, "`custom-code` must be true or false"),
        ("SLA007", 8, '`timezone` must be an IANA time zone name such as "Asia/Tokyo", not \'Mars/Olympus\''),
        ("SLA007", 9, "unknown key `colour` in [tool.sla.hubspot]"),
        ("SLA007", 12, "`team-id` of team `sales` must be a HubSpot team id in quotes (digits), not 4021"),
        ("SLA007", 13, "`user-ids` of team `sales` must be a list of HubSpot user ids in quotes (digits)"),
        ("SLA007", 17, "unknown key `junk` in [tool.sla.hubspot.teams.ops]"),
        ("SLA007", 19, "team `empty` names neither a `team-id` nor `user-ids`"),
    ])
