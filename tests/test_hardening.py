"""Hostile input across every target, secrets, and all-or-nothing builds."""

from __future__ import annotations

import csv
import io
import json
import os
import re

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli
from sla_lang.commands.init import scaffold_files
from sla_lang.compile import compile_text

SCRIPT = "<script>alert(1)</script>"
TEMPLATE = "{{ 7*7 }}{% if true %}x{% endif %}"
MARKDOWN = "| pipe | *bold* _em_ [link](javascript:alert(1)) # heading `code`"
MERMAID = 'Lead"]-->x["evil"] ; click x call alert()'
FORMULA = "=cmd|' /C calc'!A0"
JSON_BREAK = '"}, {"injected": true, "x": "'


def quoted(text: str) -> str:
    """`text` as a policy string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def hostile_policy() -> str:
    """The starter policy (which checks clean) with hostile text in every kind of label."""
    text = scaffold_files("en")["policies/sla.sla"].decode("utf-8")
    replacements = {
        '"Sales & Marketing SLA"': quoted(f"{SCRIPT} {TEMPLATE}"),
        'party marketing "Marketing"': f"party marketing {quoted(MARKDOWN)}",
        'stage lead "Lead"': f"stage lead {quoted(MERMAID)}",
        '"Reached the MQL score"': quoted(JSON_BREAK),
        '"timing"': quoted(FORMULA),
        '"A sudden change in the market makes this SLA unrealistic"': quoted("+1+1 @SUM(1) -2 \u200f RLM"),
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    policy = root / "hostile.sla"
    policy.write_text(hostile_policy(), encoding="utf-8")
    assert compile_text(hostile_policy(), "hostile.sla").errors == []
    result = CliRunner().invoke(cli, ["build", str(policy), "-o", str(root / "out"), "--format", "md,html",
                                      "--isolated"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root / "out"


def test_the_hostile_labels_really_reach_the_outputs(built):
    ir = json.loads((built / "ir" / "ir.json").read_text(encoding="utf-8"))
    assert ir["agreement"]["title"] == f"{SCRIPT} {TEMPLATE}"
    assert FORMULA in json.dumps(ir, ensure_ascii=False)


def test_html_has_no_live_markup_and_templates_are_not_evaluated(built):
    html = (built / "agreement" / "agreement.html").read_text(encoding="utf-8")
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "49" not in re.sub(r"<[^>]+>", "", html).split("7*7")[0][-4:]
    assert "{{ 7*7 }}" in html or "{{ 7*7 }}".replace("{", "&#123;") in html
    assert "javascript:alert" not in re.findall(r'href="([^"]*)"', html).__str__()


def test_markdown_escapes_html_tables_and_mermaid(built):
    md = (built / "agreement" / "agreement.md").read_text(encoding="utf-8")
    assert SCRIPT not in md
    assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(javascript:", md)  # brackets escaped: not a link
    mermaid = md.split("```mermaid", 1)[1].split("```", 1)[0]
    assert "-->x[" not in mermaid and "click x" not in mermaid.replace("click x call", "")
    # every table row keeps its column count: a pipe in a label cannot add a column
    for table in re.findall(r"(?:^\|.*\|\n)+", md, flags=re.MULTILINE):
        rows = [r for r in table.splitlines() if not set(r) <= set("|-: ")]
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in rows}
        assert len(widths) == 1, table


def test_json_outputs_parse_and_keep_the_text_as_data(built):
    files = sorted(built.rglob("*.json"))
    assert files
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert "injected" not in (data if isinstance(data, dict) else {})


def formula_cells(text: str) -> list[str]:
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert cells
    return [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_csv_cells_cannot_start_a_formula(built, tmp_path):
    assert formula_cells((built / "fixtures" / "contacts.csv").read_text(encoding="utf-8")) == []
    # the simulator's CSV report carries recorded values: a recycle reason that is a formula
    policy = tmp_path / "hostile.sla"
    policy.write_text(hostile_policy(), encoding="utf-8")
    events = tmp_path / "events.jsonl"
    lines = [
        {"at": "2026-04-06T10:00:00+09:00", "lead": "L1", "type": "lead_created", "properties": {"employees": 120},
         "events": {"pricing_page_view": 1, "document_download": 1}},
        {"at": "2026-04-06T11:00:00+09:00", "lead": "L1", "type": "activity_logged", "activity": "call"},
        {"at": "2026-04-06T12:00:00+09:00", "lead": "L1", "type": "property_changed",
         "properties": {"buying_intent": "not_now", "recycle_reason": FORMULA}},
    ]
    events.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["simulate", str(policy), "--events", str(events), "--format", "csv"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert FORMULA[1:] in result.output, "the recorded reason should be in the report"
    assert formula_cells(result.output) == []


def test_no_environment_secret_reaches_an_output_or_a_log(tmp_path, monkeypatch):
    secret = "pat-na1-0000SECRET-TOKEN-DO-NOT-LEAK"
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", secret)
    monkeypatch.setenv("SLA_KEY_PASSPHRASE", secret + "-passphrase")
    policy = tmp_path / "p.sla"
    policy.write_text(scaffold_files("en")["policies/sla.sla"].decode(), encoding="utf-8")
    runner = CliRunner()
    logs = []
    for args in (["check", str(policy), "--isolated"],
                 ["check", str(policy), "--isolated", "--format", "sarif"],
                 ["build", str(policy), "-o", str(tmp_path / "out"), "--format", "md,html", "--isolated", "-v"],
                 ["diff", str(policy), str(policy), "--format", "json"]):
        result = runner.invoke(cli, args, catch_exceptions=False)
        logs.append(result.output)
    everything = "\n".join(logs) + "".join(
        p.read_bytes().decode("utf-8", "replace") for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "SECRET" not in everything and secret not in everything


def test_a_build_that_fails_part_way_leaves_the_previous_outputs(tmp_path, monkeypatch):
    from sla_lang import output

    policy = tmp_path / "p.sla"
    text = scaffold_files("en")["policies/sla.sla"].decode()
    policy.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    runner = CliRunner()
    first = runner.invoke(cli, ["build", str(policy), "-o", str(out), "--format", "md,html", "--isolated"])
    assert first.exit_code == 0, first.output
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert len(before) > 20
    # change the policy so that every output would change, then fail on the 7th file written
    policy.write_text(text.replace('version "0.1.0"', 'version "0.2.0"'), encoding="utf-8")
    real_write = os.write
    calls = {"n": 0}

    def failing(fd, data):
        calls["n"] += 1
        if calls["n"] == 7:
            raise OSError(5, "Input/output error")
        return real_write(fd, data)

    monkeypatch.setattr(output.os, "write", failing)
    second = runner.invoke(cli, ["build", str(policy), "-o", str(out), "--format", "md,html", "--isolated"])
    assert second.exit_code == 1 and "Input/output error" in second.output
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # nothing replaced, and no temporary file left behind
    assert sorted(os.listdir(tmp_path)) == ["out", "p.sla"]


LOOK_ALIKE_BASE = (
    '# 営業とマーケティングの合意 — コメントは日本語でもよい\n'
    'agreement "合意書 #1" {\n  version "1"\n  effective 2026-01-01\n  owner ops\n}\n'
    'team ops "運用チーム" {\n}\n'
    'stage {name} "リード" {{\n  owner ops\n  entry\n  terminal\n}}\n'
)


@pytest.mark.parametrize(
    ("name", "non_ascii", "codes"),
    [("lead", False, []), ("lеad", True, ["SLA311"]), ("リード", True, [])],
    ids=["ascii-name", "cyrillic-e", "japanese-name"],
)
def test_confusable_names_are_looked_for_only_when_a_name_is_not_ascii(name, non_ascii, codes):
    from sla_lang.compile import compile_text

    result = compile_text(LOOK_ALIKE_BASE.replace("{name}", name).replace("{{", "{").replace("}}", "}"))
    assert result.policy is not None
    assert result.policy.extra["non_ascii_names"] is non_ascii
    assert [d.code for d in result.diagnostics if d.code in ("SLA311", "SLA312")] == codes
