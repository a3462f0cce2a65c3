"""The optional compiled modules (sla_lang/_compiled.py): the same diagnostics as the Python
ones on a corpus, and never used when their source has changed since they were built."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys

import pytest

from sla_lang._compiled import (
    _DIRECTIVES,
    MODULES,
    NATIVE,
    PURE_PYTHON_ENV,
    SUFFIX,
    current_compiled_path,
    source_digest,
)

from .conftest import REPO


def _run(args: list[str], *, pure: bool, cwd=REPO, pythonpath=REPO) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != PURE_PYTHON_ENV}
    env["PYTHONPATH"] = str(pythonpath)
    if pure:
        env[PURE_PYTHON_ENV] = "1"
    return subprocess.run([sys.executable, *args], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _package_copy(tmp_path):
    """sla_lang copied without bytecode and compiled copies (a folder to plant files in), with
    the grammar and templates beside it as in a checkout."""
    shutil.copytree(REPO / "sla_lang", tmp_path / "sla_lang",
                    ignore=shutil.ignore_patterns("__pycache__", f"*{SUFFIX}"))
    for data in ("grammar", "targets"):
        (tmp_path / data).symlink_to(REPO / data, target_is_directory=True)
    return tmp_path


_WHERE_LOWER = "import sla_lang.lower as m; print(m.__file__)"


def test_a_compiled_module_built_from_another_source_is_never_loaded(tmp_path):
    root = _package_copy(tmp_path)
    lower = root / "sla_lang" / "lower.py"
    before = lower.read_bytes()
    after = before + b"\n# an edit made after the build\n"
    lower.write_bytes(after)
    # a "compiled copy" of the source as it was: not an extension at all, so loading it would fail
    stale = root / "sla_lang" / f"lower.{source_digest(before)}{SUFFIX}"
    with open(stale, "wb") as handle:
        handle.write(b"not an extension module")
    result = _run(["-c", _WHERE_LOWER], pure=False, cwd=root, pythonpath=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(lower)  # the edited .py, not the stale build
    assert result.stderr == ""  # (not even tried)

    # the control: a file named after the current source *is* taken for the compiled copy; this
    # one cannot be loaded, so the .py is used instead, with a warning (sla keeps working)
    current = root / "sla_lang" / f"lower.{source_digest(after)}{SUFFIX}"
    shutil.copyfile(stale, current)
    result = _run(["-c", _WHERE_LOWER], pure=False, cwd=root, pythonpath=root)
    assert result.returncode == 0 and result.stdout.strip() == str(lower), result.stderr
    assert "warning: the compiled sla_lang.lower cannot be loaded" in result.stderr
    assert current.name in result.stderr
    # … and SLA_PURE_PYTHON=1 never looks at it
    result = _run(["-c", _WHERE_LOWER], pure=True, cwd=root, pythonpath=root)
    assert result.returncode == 0 and result.stdout.strip() == str(lower) and result.stderr == ""
    # a whole check runs on such a damaged build, and reports what the Python modules report
    policy = str(REPO / "policies" / "inside_sales_sal.sla")
    damaged = _run(["-m", "sla_lang", "check", "--isolated", policy], pure=False, cwd=root, pythonpath=root)
    clean = _run(["-m", "sla_lang", "check", "--isolated", policy], pure=True, cwd=root, pythonpath=root)
    assert (damaged.returncode, damaged.stdout) == (clean.returncode, clean.stdout)
    assert clean.returncode == 0 and "(1 file)" in clean.stdout, clean.stderr


_USES_TYPED_LOOP = "from sla_lang.fastparse import fast_parser; print(fast_parser().typed_loop is not None)"


def test_a_damaged_or_stale_cython_module_leaves_its_python_equivalent_in_use(tmp_path):
    # sla_lang.fastloop has no .py to fall back on: fastparse's own loop runs instead
    root = _package_copy(tmp_path)
    source = (root / "sla_lang" / "fastloop.pyx").read_bytes()
    stale = root / "sla_lang" / f"fastloop.{source_digest(source + b'# older')}{SUFFIX}"
    stale.write_bytes(b"not an extension module")
    result = _run(["-c", _USES_TYPED_LOOP], pure=False, cwd=root, pythonpath=root)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "False", "")  # (not even tried)
    current = root / "sla_lang" / f"fastloop.{source_digest(source)}{SUFFIX}"
    shutil.copyfile(stale, current)
    result = _run(["-c", _USES_TYPED_LOOP], pure=False, cwd=root, pythonpath=root)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr
    assert "warning: the compiled sla_lang.fastloop cannot be loaded" in result.stderr
    assert "using the Python code instead" in result.stderr and current.name in result.stderr
    policy = str(REPO / "policies" / "inside_sales_sal.sla")
    damaged = _run(["-m", "sla_lang", "check", "--isolated", policy], pure=False, cwd=root, pythonpath=root)
    clean = _run(["-m", "sla_lang", "check", "--isolated", policy], pure=True, cwd=root, pythonpath=root)
    assert (damaged.returncode, damaged.stdout) == (clean.returncode, clean.stdout)
    assert clean.returncode == 0 and "(1 file)" in clean.stdout, clean.stderr
    status = _run(["-m", "sla_lang.accelerate", "status"], pure=False, cwd=root, pythonpath=root).stdout
    assert "sla_lang.fastloop: not built (its Python equivalent is used)" not in status  # (a copy is there)
    current.unlink()
    stale.unlink()
    status = _run(["-m", "sla_lang.accelerate", "status"], pure=False, cwd=root, pythonpath=root).stdout
    assert "sla_lang.fastloop: not built (its Python equivalent is used)" in status


def test_a_copy_compiled_another_way_is_stale_too(tmp_path):
    # the name covers the compile directives as well as the source: a copy made with other
    # directives (an annotation read as a C type, say) is never taken for the current one
    source = (REPO / "sla_lang" / "lower.py").read_bytes()
    assert source_digest(source, {"language_level": 3, "annotation_typing": True}) != source_digest(source)
    assert source_digest(source) == source_digest(source, dict(reversed(list(_DIRECTIVES.items()))))
    root = _package_copy(tmp_path)
    other = root / "sla_lang" / f"lower.{source_digest(source, {'language_level': 3})}{SUFFIX}"
    other.write_bytes(b"not an extension module")
    result = _run(["-c", _WHERE_LOWER], pure=False, cwd=root, pythonpath=root)
    assert result.returncode == 0 and result.stdout.strip() == str(root / "sla_lang" / "lower.py")
    assert result.stderr == ""  # (not even tried)


def test_status_says_when_the_compiled_copies_are_ignored():
    pure = _run(["-m", "sla_lang.accelerate", "status"], pure=True)
    assert pure.returncode == 0 and pure.stdout.startswith(f"{PURE_PYTHON_ENV} is set")
    assert not _run(["-m", "sla_lang.accelerate", "status"], pure=False).stdout.startswith(PURE_PYTHON_ENV)


def _built() -> bool:
    return all(current_compiled_path(module) for module in MODULES + NATIVE)


needs_build = pytest.mark.skipif(
    not _built(), reason="no compiled modules for the current sources: run `python -m sla_lang.accelerate`")


@needs_build
def test_the_compiled_modules_are_the_ones_loaded_unless_pure_python_is_asked_for():
    probe = ("import sla_lang.compile, sla_lang.checks, sla_lang._compiled as c, sys; "
             "import importlib; [importlib.import_module(m) for m in c.MODULES]; "
             "print(len(c.compiled_modules()))")
    assert _run(["-c", probe], pure=False).stdout.strip() == str(len(MODULES))
    assert _run(["-c", probe], pure=True).stdout.strip() == "0"
    # and the Cython module, which has no Python module: the loop lowering runs
    assert _run(["-c", _USES_TYPED_LOOP], pure=False).stdout.strip() == "True"
    assert _run(["-c", _USES_TYPED_LOOP], pure=True).stdout.strip() == "False"


def _corpus(folder) -> list[str]:
    """Every policy in the repository, generated policies of 100 and 1,000 stages, and one of
    1,000 stages damaged in many ways (diagnostics of many codes), one with syntax errors."""
    names = []
    for pattern in ("policies/*.sla", "tests/fixtures/valid/*.sla", "tests/fixtures/invalid/*.sla",
                    "tests/fixtures/liveness/*.sla", "examples/**/*.sla"):
        for path in sorted(REPO.glob(pattern)):
            name = str(path.relative_to(REPO)).replace("/", "__")
            shutil.copyfile(path, folder / name)
            names.append(name)
    for stages in (100, 1000):
        result = _run([str(REPO / "bench" / "generate.py"), str(stages), "-o", str(folder / f"gen_{stages}.sla")],
                      pure=True)
        assert result.returncode == 0, result.stderr
        names.append(f"gen_{stages}.sla")
    lines = (folder / "gen_1000.sla").read_text(encoding="utf-8").split("\n")
    rng = random.Random(20)
    damaged = []
    for line in lines:
        draw = rng.random()
        if draw < 0.03:
            continue  # a statement dropped
        if draw < 0.06 and " when " in line:
            line = line.replace("==", "!=", 1).replace(">=", "<", 1)
        if draw < 0.08 and "->" in line:
            line = line.replace("-> ", "-> x", 1)  # a misspelt target
        if 0.08 < draw < 0.09 and "within" in line:
            line = line.replace("within ", "within 0", 1)
        damaged.append(line)
    (folder / "damaged_1000.sla").write_text("\n".join(damaged), encoding="utf-8")
    syntax = list(lines)
    for index in range(500, len(syntax), 97):
        syntax[index] += " {"
    (folder / "syntax_1000.sla").write_text("\n".join(syntax), encoding="utf-8")
    return [*names, "damaged_1000.sla", "syntax_1000.sla"]


@needs_build
def test_compiled_and_pure_python_report_byte_identical_diagnostics(tmp_path):
    names = _corpus(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.sla]\nmax-file-size = 67108864\n", encoding="utf-8")
    common = ["-m", "sla_lang", "check", "-j", "1", "--color", "never", "--today", "2026-11-23"]
    runs = [["--format", "text", "--lang", "en"], ["--format", "text", "--lang", "ja"],
            ["--format", "json"], ["--format", "sarif"], ["--stats", "gen_1000.sla", "damaged_1000.sla"]]
    for options in runs:
        paths = [] if "--stats" in options else names
        compiled = _run([*common, *options, *paths], pure=False, cwd=tmp_path)
        pure = _run([*common, *options, *paths], pure=True, cwd=tmp_path)
        assert (compiled.returncode, compiled.stdout, compiled.stderr) == (pure.returncode, pure.stdout, pure.stderr)
        assert pure.returncode == 1 and "Traceback" not in pure.stderr + pure.stdout
    # the corpus is worth comparing: it reports many codes, and the damaged policies many times
    report = _run([*common, "--format", "json", *names], pure=True, cwd=tmp_path).stdout
    codes = set(re.findall(r'"code": "(SLA\d+)"', report))
    assert len(codes) >= 90 and report.count('"code": ') >= 1000


def test_status_into_a_closed_pipe_is_no_traceback():
    # `python -m sla_lang.accelerate status | head -1`: the reader may be gone before the write
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        env = {key: value for key, value in os.environ.items() if key != PURE_PYTHON_ENV}
        env["PYTHONPATH"] = str(REPO)
        result = subprocess.run([sys.executable, "-m", "sla_lang.accelerate", "status"], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=REPO, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == ""
