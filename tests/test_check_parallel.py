"""`sla check DIR` checks many files in several processes, with the same report and exit code."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from sla_lang.cli import cli
from sla_lang.compile import compile_paths

from .conftest import REPO

BROKEN = 'agreement "Broken" {\n  version "1"\n}\nstage a "A" owner nobody {\n  -> b when x >= 1\n}\n'


def _tree(tmp_path):
    examples = sorted((REPO / "policies").glob("*.sla"))
    for i in range(4):
        for example in examples:
            shutil.copy(example, tmp_path / f"{example.stem}_{i}.sla")
    (tmp_path / "broken.sla").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "日本語.sla").write_bytes(b"\xff\xfe binary \x00")
    return tmp_path


def test_parallel_report_and_exit_code_equal_the_sequential_ones(tmp_path):
    folder = _tree(tmp_path)
    runner = CliRunner()
    outputs = {}
    for jobs in ("1", "2", "3"):
        for fmt in ("text", "json"):
            result = runner.invoke(cli, ["check", "--isolated", "--today", "2026-11-23", "--format", fmt,
                                          "--jobs", jobs, str(folder)])
            assert result.exception is None or isinstance(result.exception, SystemExit), result.output
            outputs[jobs, fmt] = (result.exit_code, result.output)
    for fmt in ("text", "json"):
        assert outputs["2", fmt] == outputs["1", fmt] == outputs["3", fmt]
        assert outputs["1", fmt][0] == 1  # the broken files fail the run in every mode
    text = outputs["1", "text"][1]
    assert "broken.sla:" in text and "日本語.sla:" in text  # both bad files are reported
    assert "Found 2 errors, 0 warnings, 4 info in 14 files." in text  # info: a target to be agreed


def test_compile_paths_keeps_the_order_and_drops_the_ir_on_request(tmp_path):
    folder = _tree(tmp_path)
    paths = sorted(folder.glob("*.sla"))
    sequential = list(compile_paths(paths, jobs=1))
    parallel = list(compile_paths(paths, jobs=2, keep_policy=False))
    assert [r.path for r in parallel] == [r.path for r in sequential]
    assert [r.diagnostics for r in parallel] == [r.diagnostics for r in sequential]
    assert all(r.policy is None for r in parallel)
    assert any(r.policy is not None for r in sequential)


def test_jobs_must_be_positive():
    result = CliRunner().invoke(cli, ["check", "--jobs", "0", "policies"])
    assert result.exit_code == 2
    assert "--jobs" in result.output


def test_without_processes_every_file_is_checked_once_in_this_one(tmp_path, monkeypatch):
    import multiprocessing

    class NoProcesses:
        def Pool(self, jobs):  # noqa: N802 - multiprocessing's name
            raise OSError("no processes here")

    monkeypatch.setattr(multiprocessing, "get_context", lambda method: NoProcesses())
    folder = _tree(tmp_path)
    paths = sorted(folder.glob("*.sla"))
    results = list(compile_paths(paths, jobs=4))
    assert [r.path for r in results] == [r.path for r in compile_paths(paths, jobs=1)]


def test_an_explicit_job_count_is_used_for_few_files(tmp_path, monkeypatch):
    import multiprocessing

    used = []
    real = multiprocessing.get_context

    def spy(method):
        used.append(method)
        return real(method)

    monkeypatch.setattr(multiprocessing, "get_context", spy)
    folder = _tree(tmp_path)
    paths = sorted(folder.glob("*.sla"))[:3]
    assert len(list(compile_paths(paths))) == 3 and used == []  # default: too few files for workers
    assert len(list(compile_paths(paths, jobs=2))) == 3 and used == ["fork"]
