"""No text output lets policy text control the terminal (issue 15, item 10).

A label can hold raw ESC and C1 characters (only `"`, `\\` and line breaks end a quoted text),
an events file or a scenario file any JSON string, a file name almost anything. Every
command that prints them — check, build, simulate, test, diff, explain, fmt, and the usage
errors — must show them as `[U+XXXX]` codes. The assertion is independent of the escaping
code: the printed text may hold no character of the Unicode categories a terminal obeys or
that reorder a line (Cc but the line break, Cf, Zl, Zp).
"""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli
from sla_lang.commands.init import scaffold_files

STARTER = scaffold_files("en")["policies/sla.sla"].decode("utf-8")
# a window title, a hyperlink, clearing the screen, a C1 CSI (red), a bell and a backspace
HOSTILE = "\x1b]0;pwned\x07\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\\x1b[2J\x9b31m\x08!"


def obeyed(text: str) -> list[str]:
    """The characters of `text` a terminal would act on or that reorder what it shows."""
    return sorted({f"U+{ord(ch):04X}" for ch in text
                   if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs")})


def run(*args: str, cwd: Path, stdin: str | None = None):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, [*args], input=stdin)
    finally:
        os.chdir(old)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    return result, output


@pytest.fixture()
def hostile(tmp_path) -> Path:
    text = STARTER.replace('stage mql "Marketing qualified lead (MQL)"', f'stage mql "MQL {HOSTILE}"', 1)
    text = text.replace('"Reached the MQL score"', f'"Reached {HOSTILE}"', 1)
    assert HOSTILE in text
    policy = tmp_path / "hostile.sla"
    policy.write_text(text, encoding="utf-8")
    return policy


def assert_escaped(output: str) -> None:
    assert obeyed(output) == [], output[-3000:]
    assert "[U+001B]" in output or "[U+202E]" in output, output[-3000:]


def test_check_escapes_source_lines_and_messages(hostile):
    # a warning on the hostile line shows that line under it
    text = hostile.read_text(encoding="utf-8").replace("  respond within 24h target 12h\n", "", 1)
    text = text.replace("  escalate to sales_managers after 24h on respond via email\n", "", 1)
    hostile.write_text(text, encoding="utf-8")
    _, output = run("check", hostile.name, "--isolated", "--color", "always", "--stats", cwd=hostile.parent)
    assert "MQL [U+001B]]0;pwned[U+0007]" in output
    # the only escape sequences left are sla's own colours
    assert obeyed(output.replace("\x1b[", "")) == [] and "\x1b]" not in output


def test_check_escapes_a_trojan_source_line_it_reports(tmp_path):
    policy = tmp_path / "bidi.sla"
    policy.write_text(STARTER.replace('"Lead"', '"Lead\u202e"', 1), encoding="utf-8")
    _, output = run("check", policy.name, "--isolated", cwd=tmp_path)
    assert "SLA005" in output
    assert_escaped(output)


def test_build_verbose_escapes_target_diagnostics(hostile):
    result, output = run("build", hostile.name, "-t", "agreement", "-t", "hubspot", "--format", "md", "-o", "out",
                         "--isolated", "-v", cwd=hostile.parent)
    assert result.exit_code == 0, output
    assert "SLA803" in output  # the agreement says it shows the invisible characters as codes
    assert_escaped(output)
    result, output = run("build", hostile.name, "-t", "agreement", "--format", "md", "-o", "out2", "--isolated",
                         cwd=hostile.parent)
    assert result.exit_code == 0 and obeyed(output) == []


def test_simulate_escapes_labels_and_events_data(hostile):
    events = hostile.parent / "events.jsonl"
    lines = [
        {"at": "2026-04-06T10:00:00+09:00", "lead": f"L1{HOSTILE}", "type": "lead_created",
         "properties": {"employees": 120}, "events": {"pricing_page_view": 1, "document_download": 1}},
        {"at": "2026-04-06T11:00:00+09:00", "lead": f"L1{HOSTILE}", "type": "property_changed",
         "properties": {"firstname": HOSTILE}},
        {"at": "2026-04-06T12:00:00+09:00", "lead": "L2", "type": "bogus\u202e"},
    ]
    events.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    _, output = run("simulate", hostile.name, "--events", events.name, "--isolated", cwd=hostile.parent)
    assert "MQL [U+001B]]0;pwned" in output and "L1[U+001B]" in output
    assert_escaped(output)


def test_sla_test_escapes_scenario_ids_and_descriptions(hostile):
    built, output = run("build", hostile.name, "-t", "fixtures", "-o", "fx", "--isolated", cwd=hostile.parent)
    assert built.exit_code == 0, output
    scenarios = json.loads((hostile.parent / "fx" / "scenarios.json").read_text(encoding="utf-8"))
    scenarios["scenarios"][0]["id"] += HOSTILE
    scenarios["scenarios"][0]["expect"]["final_stage"] = "nowhere"  # a failure prints its details
    (hostile.parent / "fx" / "scenarios.json").write_text(json.dumps(scenarios), encoding="utf-8")
    result, output = run("test", hostile.name, "--fixtures", "fx", "--isolated", cwd=hostile.parent)
    assert result.exit_code == 1 and "FAIL" in output
    assert_escaped(output)


def test_diff_text_escapes_labels(hostile, tmp_path):
    old = tmp_path / "old.sla"
    old.write_text(STARTER, encoding="utf-8")
    _, output = run("diff", old.name, hostile.name, cwd=tmp_path)
    assert "pwned" in output
    assert_escaped(output)


def test_explain_shows_its_invisible_example_as_a_code(tmp_path):
    result, output = run("explain", "SLA005", cwd=tmp_path)
    assert result.exit_code == 0 and "[U+202E]" in output
    assert_escaped(output)


def test_fmt_diff_escapes_the_policy_lines(hostile):
    hostile.write_text(hostile.read_text(encoding="utf-8").replace("\n  owner sales\n", "\n    owner sales\n", 1),
                       encoding="utf-8")
    result, output = run("fmt", "--diff", hostile.name, "--isolated", cwd=hostile.parent)
    assert result.exit_code == 1 and "pwned" in output
    assert_escaped(output)
    # `fmt -` writes the policy itself, for an editor: its bytes must stay as they are
    result, output = run("fmt", "-", cwd=hostile.parent, stdin=hostile.read_text(encoding="utf-8"))
    assert HOSTILE in result.output


def test_usage_errors_escape_what_was_typed(tmp_path):
    import subprocess
    import sys

    from .conftest import REPO

    (tmp_path / "p.sla").write_text(STARTER, encoding="utf-8")
    in_name = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e"  # no `/` in a file name
    named = tmp_path / f"p{in_name}.sla"
    named.write_text("agreement {\n", encoding="utf-8")
    for args in (["simulate", "p.sla", "--events", f"e{HOSTILE}.jsonl"], ["check", named.name, "--isolated"],
                 ["build", "p.sla", "missing" + in_name, "-o", "out"]):
        done = subprocess.run(check=False, args=[sys.executable, "-m", "sla_lang", *args], cwd=tmp_path, capture_output=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
        output = done.stdout.decode("utf-8") + done.stderr.decode("utf-8")
        assert done.returncode in (1, 2), output
        assert_escaped(output)


def test_the_escaping_keeps_japanese_and_ordinary_text():
    from sla_lang.render.terminal import terminal_lines, terminal_safe

    for text in ("マーケティング・クオリファイド・リード（MQL）", "Café — 50 % ✓", "全角\u3000スペース"):
        assert terminal_safe(text) == text
    assert terminal_safe("a\nb\tc\u200f") == "a[U+000A]b[U+0009]c[U+200F]"
    assert terminal_lines("a\nb\x1b") == "a\nb[U+001B]"
