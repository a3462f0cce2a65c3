"""The README is part of the product: its example must print what it says, its snippets must
parse, and every command and option must be documented."""

from __future__ import annotations

import os
import re

import click
import pytest
from click.testing import CliRunner

from sla_lang.cli import COMMANDS, cli
from sla_lang.compile import compile_text

from .conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```sla\n(.*?)```", README, flags=re.DOTALL)
TOP_LEVEL = re.compile(r"^(agreement|party|team|property|event|score|calendar|stage|priority|kpi|information|"
                       r"responsibilities|review|cancellation|translation)\b")


def test_the_30_second_example_prints_what_the_readme_shows(tmp_path):
    section = README.split("## A 30-second example", 1)[1].split("## Language reference", 1)[0]
    policy, fix = re.findall(r"```sla\n(.*?)```", section, flags=re.DOTALL)
    console = re.search(r"```console\n\$ (sla [^\n]+)\n(.*?)```", section, flags=re.DOTALL)
    command, expected = console.group(1), console.group(2)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "acme.sla").write_text(policy, encoding="utf-8")
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(cli, command.split()[1:] + ["--color", "never", "--isolated"])
        assert result.exit_code == 1
        assert result.output == expected
        fixed = policy.replace("  -> closed \"No interest in a year\"", fix.rstrip("\n") + "\n  -> closed \"No interest in a year\"")
        (tmp_path / "policies" / "acme.sla").write_text(fixed, encoding="utf-8")
        again = CliRunner().invoke(cli, command.split()[1:] + ["--color", "never", "--isolated"])
        assert again.exit_code == 0 and again.output.strip() == "All checks passed (1 file)."
    finally:
        os.chdir(old)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.strip().splitlines()[0][:40])
def test_every_policy_snippet_parses(snippet):
    lines = [line for line in snippet.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    text = snippet if TOP_LEVEL.match(lines[0]) else f"stage example {{\n{snippet}}}\n"
    syntax = [f"{d.span.line}: {d.message}" for d in compile_text(text).diagnostics if d.code[3] in "01"]
    assert syntax == []


def _commands():
    for name in sorted(COMMANDS):
        yield name, cli.get_command(click.Context(cli), name)


@pytest.mark.parametrize("name, command", list(_commands()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_command_and_option_is_documented(name, command):
    assert f"sla {name}" in README, f"`sla {name}` is not in the README"
    commands = [command]
    if isinstance(command, click.Group):
        commands = list(command.commands.values())
    for cmd in commands:
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert any(opt in README for opt in param.opts), f"`sla {name}` option {param.opts} is not documented"
