"""The `sla` command line: exit codes, formats, explain/rules, build, and a real install."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli

from .conftest import POLICIES, REPO, TODAY


def run(*args: str, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(cli, list(args), catch_exceptions=False)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def test_check_example_policies_exits_0(in_repo):
    result = run("check", "policies")
    assert result.exit_code == 0, result.output
    # the one note: hubspot_scoring's monthly MQL target is "to be agreed", as in its seed article
    assert result.output.strip().splitlines()[-1] == f"All checks passed ({len(POLICIES)} files), 1 info."
    assert "SLA723" in result.output


def test_check_defaults_to_the_policies_folder(in_repo):
    assert run("check").exit_code == 0


# Tests that count or order every diagnostic select the fixture's own rules, so that the
# completeness lint (which has plenty to say about these tiny policies) does not change them.


def test_errors_exit_1_with_located_diagnostics(in_repo):
    result = run("check", "--color", "never", "--select", "SLA3",
                 "tests/fixtures/invalid/SLA301_undefined_reference.sla")
    assert result.exit_code == 1
    assert "tests/fixtures/invalid/SLA301_undefined_reference.sla:7:9: error SLA301 (undefined-reference)" in result.output
    assert "= help: did you mean `revops`?" in result.output
    assert result.output.rstrip().endswith("Found 3 errors, 0 warnings in 1 file.")


def test_missing_path_exits_2(in_repo):
    result = run("check", "no/such/policy.sla")
    assert result.exit_code == 2
    assert "no/such/policy.sla:1:1: error SLA001 (unreadable-file) no such file or folder" in result.output


def test_folder_without_policies_is_a_usage_error(tmp_path):
    result = run("check", str(tmp_path))
    assert result.exit_code == 2 and "no .sla files found" in result.output


def test_unknown_option_is_a_usage_error(in_repo):
    assert run("check", "--formt", "json").exit_code == 2


def test_json_report_shape(in_repo):
    result = run("check", "--format", "json", "--select", "SLA3", "tests/fixtures/invalid/SLA309_unknown_enum_value.sla")
    data = json.loads(result.output)
    assert result.exit_code == 1
    assert data["summary"] == {"errors": 1, "warnings": 0, "info": 0, "files": 1}
    (d,) = data["diagnostics"]
    assert {k: d[k] for k in ("code", "name", "severity", "path", "line", "column", "end_line", "end_column")} == {
        "code": "SLA309", "name": "unknown-enum-value", "severity": "error",
        "path": "tests/fixtures/invalid/SLA309_unknown_enum_value.sla",
        "line": 12, "column": 26, "end_line": 12, "end_column": 31,
    }
    assert d["help"].startswith('did you mean "yes"?')


def test_github_annotations(in_repo):
    result = run("check", "--format", "github", "--select", "SLA3", "tests/fixtures/invalid/SLA305_unknown_unit.sla")
    lines = result.output.splitlines()
    assert lines[0].startswith(
        "::error file=tests/fixtures/invalid/SLA305_unknown_unit.sla,line=12,endLine=12,col=18,endColumn=23,"
        "title=SLA305 (unknown-unit)::unknown duration unit 'hrs' in 24hrs%0Ahelp: write 24h")


def test_sarif_report_carries_rules_and_results(in_repo):
    result = run("check", "--format", "sarif", "--select", "SLA3", "tests/fixtures/invalid/SLA303_duplicate_setting.sla")
    sarif = json.loads(result.output)
    assert sarif["version"] == "2.1.0"
    run_ = sarif["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= {"SLA101", "SLA303"}
    first = run_["results"][0]
    assert rules[first["ruleIndex"]]["id"] == first["ruleId"] == "SLA303"
    assert first["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 12, "startColumn": 3, "endLine": 12, "endColumn": 12}
    assert first["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 11


def test_output_file_gets_the_report_and_terminal_gets_text(in_repo, tmp_path):
    out = tmp_path / "report.sarif"
    result = run("check", "--format", "sarif", "-o", str(out), "tests/fixtures/invalid/SLA309_unknown_enum_value.sla")
    assert result.exit_code == 1
    assert json.loads(out.read_text())["version"] == "2.1.0"
    assert "SLA309 (unknown-enum-value)" in result.output


def test_select_and_ignore_options(in_repo):
    fixture = "tests/fixtures/invalid/SLA301_undefined_reference.sla"
    assert run("check", "--ignore", "SLA301", fixture).exit_code == 0
    assert run("check", "--select", "SLA302", fixture).exit_code == 0
    result = run("check", "--select", "SLA3O1", fixture)
    assert result.exit_code == 2 and "unknown rule code 'SLA3O1'" in result.output


def test_strict_fails_on_warnings(in_repo):
    fixture = "tests/fixtures/invalid/SLA009_unused_suppression.sla"
    assert run("check", fixture).exit_code == 0
    assert run("check", "--strict", fixture).exit_code == 1


@pytest.mark.parametrize("name", ["SLA301", "sla301", "undefined-reference"])
def test_explain_by_code_or_name(name):
    result = run("explain", name)
    assert result.exit_code == 0
    assert result.output.startswith("SLA301 (undefined-reference) — error, names")
    assert "Bad:\n    stage mql" in result.output and "Good:\n" in result.output


def test_explain_unknown_code_suggests():
    result = run("explain", "undefined-referense")
    assert result.exit_code == 2 and "Did you mean undefined-reference?" in result.output


def test_rules_lists_every_code():
    from sla_lang.diagnostics import all_rules

    result = run("rules", "--format", "json")
    assert [r["code"] for r in json.loads(result.output)] == [r.code for r in all_rules()]


def test_build_ir_then_check_for_drift(in_repo, tmp_path):
    policy = "policies/inside_sales_sal.sla"  # checks without even a note (hubspot_scoring has one)
    result = run("build", policy, "-t", "ir", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    fingerprint = (tmp_path / "fingerprint.txt").read_text().strip()
    import hashlib

    assert hashlib.sha256((tmp_path / "canonical.json").read_bytes()).hexdigest() == fingerprint
    assert run("build", policy, "-t", "ir", "-o", str(tmp_path), "--check").exit_code == 0
    (tmp_path / "ir.json").write_text("{}\n")
    (tmp_path / "left-over.json").write_text("{}\n")
    drift = run("build", policy, "-t", "ir", "-o", str(tmp_path), "--check")
    assert drift.exit_code == 1
    assert f"{tmp_path.as_posix()}/ir.json: stale or hand-edited" in drift.output
    assert f"{tmp_path.as_posix()}/left-over.json: no longer generated" in drift.output
    last = drift.output.strip().splitlines()[-1]
    assert "All checks passed" not in drift.output
    assert last == (f"Drift: 2 generated files under {tmp_path.as_posix()} do not match the policies "
                    "(1 stale or hand-edited, 1 no longer generated); the policies check clean (1 file). "
                    f"Regenerate with `sla build {policy} -o {tmp_path.as_posix()}`.")


def test_build_refuses_a_policy_with_errors(in_repo, tmp_path):
    result = run("build", "tests/fixtures/invalid/SLA301_undefined_reference.sla", "-t", "ir", "-o", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert not (tmp_path / "o").exists()


def test_build_is_byte_identical(in_repo, tmp_path):
    for out in ("a", "b"):
        assert run("build", "policies", "-t", "ir", "-o", str(tmp_path / out)).exit_code == 0
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files_a and files_a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for rel_path in files_a:
        assert (tmp_path / "a" / rel_path).read_bytes() == (tmp_path / "b" / rel_path).read_bytes()


def test_main_never_prints_a_traceback(tmp_path, monkeypatch, capsys):
    from sla_lang import cli as cli_module
    from sla_lang.commands import check as check_module

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(check_module, "compile_paths", explode)
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main(["check", "policies"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "sla: internal error: RuntimeError: boom" in err and "Traceback" not in err


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_wheel_installs_into_a_fresh_venv_and_runs_from_another_folder(tmp_path):
    """`pip install .` into a new environment, then `sla check` from elsewhere."""
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(REPO)],
                   check=True)
    (wheel,) = wheel_dir.glob("sla_lang-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sla_lang/_data/grammar/sla.lark" in names
    assert "sla_lang/schema/ir.schema.json" in names
    env_dir = tmp_path / "venv"
    # Not system_site_packages: run from inside a venv, that shows the *base* interpreter's
    # packages, not the venv's, and lark & co. are missing. The dependencies are lent instead
    # through a .pth file naming the site folders this interpreter imports them from; .pth
    # files inside those folders are not processed, so an editable checkout of sla_lang there
    # stays invisible and the installed wheel is what runs.
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    lent = sorted({str(Path(importlib.import_module(name).__file__).resolve().parent.parent)
                   for name in ("lark", "click", "networkx", "jinja2", "jsonschema", "holidays", "tzdata")})
    Path(purelib, "_lent_dependencies.pth").write_text("\n".join(lent) + "\n", encoding="utf-8")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(REPO / "policies", elsewhere / "policies")
    # --today: the examples' review dates are judged as of a fixed day (see conftest.TODAY)
    done = subprocess.run([str(env_dir / "bin" / "sla"), "check", "--today", TODAY.isoformat(), "policies"], cwd=elsewhere,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All checks passed" in done.stdout
    # the installed copy reads its own grammar, not this checkout's
    probe = subprocess.run([str(python), "-c", "import sla_lang.resources as r; print(r.grammar_path())"],
                           cwd=elsewhere, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": ""})
    assert "_data/grammar/sla.lark" in probe.stdout


def test_written_files_are_readable_by_others_as_the_umask_allows(tmp_path):
    import stat

    from sla_lang.output import write_files

    old = os.umask(0o022)
    try:
        (path,) = write_files(tmp_path, {"a.json": b"{}"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_target_diagnostics_follow_configuration_and_suppressions(tmp_path):
    """Warnings from `sla build` can be silenced like check diagnostics."""
    policy = (REPO / "policies" / "hubspot_scoring.sla").read_text(encoding="utf-8")
    src = tmp_path / "p.sla"
    src.write_text(policy, encoding="utf-8")
    noisy = run("build", str(src), "-t", "hubspot", "-o", str(tmp_path / "a"), "--isolated", "--color", "never")
    assert noisy.exit_code == 0 and "SLA822" in noisy.output
    (tmp_path / "pyproject.toml").write_text('[tool.sla]\nignore = ["SLA822"]\n', encoding="utf-8")
    quiet = run("build", str(src), "-t", "hubspot", "-o", str(tmp_path / "b"), "--config",
                str(tmp_path / "pyproject.toml"), "--color", "never")
    assert quiet.exit_code == 0 and "SLA822" not in quiet.output
    # a suppression of a target code is not "unused" when only the checks ran
    line = next(i for i, l in enumerate(policy.splitlines()) if "escalate to sales_managers after 5bd" in l)
    lines = policy.splitlines()
    lines[line] += "  # sla: ignore[SLA822]"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run("check", str(src), "--isolated").exit_code == 0


def test_the_command_exits_fast_but_says_everything_and_keeps_its_exit_code(tmp_path):
    """`sla` leaves with os._exit after flushing (no teardown of a large heap): the whole
    report must still arrive, through a pipe and into a file, with the right exit code."""
    bad = tmp_path / "bad.sla"
    bad.write_text("stage x {\n  owner: y\n}\n", encoding="utf-8")
    args = [sys.executable, "-m", "sla_lang", "check", "--format", "json", "--today", TODAY.isoformat()]
    piped = subprocess.run([*args, *map(str, POLICIES), str(bad)], capture_output=True, cwd=REPO, timeout=120)
    report = json.loads(piped.stdout)
    assert piped.returncode == 1
    assert report["summary"]["files"] == len(POLICIES) + 1 and report["summary"]["errors"] == 1
    out = tmp_path / "report.json"
    with out.open("wb") as handle:
        done = subprocess.run([*args, *map(str, POLICIES)], stdout=handle, cwd=REPO, timeout=120)
    assert done.returncode == 0
    assert json.loads(out.read_bytes())["summary"]["files"] == len(POLICIES)


class _FastExit(Exception):
    pass


def _record_fast_exit(code):
    raise _FastExit(code)


@pytest.mark.skipif(sys.gettrace() is not None, reason="running under a tracer (coverage, a debugger)")
def test_fast_exit_only_for_the_command_itself(monkeypatch):
    from sla_lang import cli as cli_module

    monkeypatch.setattr(cli_module, "_exit_now", _record_fast_exit)
    monkeypatch.setattr(sys, "argv", ["sla", "--version"])
    with pytest.raises(_FastExit) as fast:  # the `sla` command: argv comes from sys.argv
        cli_module.main()
    assert fast.value.args == (0,)
    with pytest.raises(SystemExit) as exit_info:  # a Python caller passes argv
        cli_module.main(["--version"])
    assert exit_info.value.code == 0
    sys.setprofile(lambda *args: None)  # under a profiler the profile must still be written
    try:
        with pytest.raises(SystemExit) as exit_info:
            cli_module.main()
    finally:
        sys.setprofile(None)
    assert exit_info.value.code == 0
