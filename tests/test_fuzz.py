"""Fuzzing: whatever the bytes, `sla check` reports diagnostics with valid positions and never crashes.

Two sources of input: grammar-shaped policies generated statement by statement, and the
example policies mutated at byte, token and line level (delete, duplicate, swap, insert random
Unicode, truncate). The fast profile runs in CI; `SLA_FUZZ_LONG=1` runs ≥ 10,000 examples
(2,000 builds into a folder of traps, with the fixtures target):

    SLA_FUZZ_LONG=1 python3 -m pytest tests/test_fuzz.py

`SLA_FUZZ_TRAP_EXAMPLES=N` sets the number of trapped builds alone, and `SLA_FUZZ_REPORT=FILE`
appends one line per trapped build (exit status, writes outside the folder) for counting.
"""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_lang.compile import Compilation, compile_bytes
from sla_lang.diagnostics import Severity

from .conftest import POLICIES

LONG = bool(os.environ.get("SLA_FUZZ_LONG"))
EXAMPLES = int(os.environ.get("SLA_FUZZ_EXAMPLES", 10_000 if LONG else 150))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,  # CI is reproducible; the long run explores
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SOURCES = [p.read_bytes() for p in POLICIES]


def assert_sound(result: Compilation, data: bytes) -> None:
    """No internal error, and every position lies inside the file."""
    internal = [d for d in result.diagnostics if d.code == "SLA999"]
    assert internal == [], internal[0].message
    if result.source is None:
        assert result.diagnostics and all(d.severity is Severity.ERROR for d in result.diagnostics)
        return
    lines = result.source.text.split("\n")
    for d in result.diagnostics:
        for span in (d.span, *(r.span for r in d.related)):
            if span.path != result.path:
                continue
            assert 1 <= span.line <= len(lines) + 1, (d.code, span)
            assert (span.end_line, span.end_column) >= (span.line, span.column), (d.code, span)
            width = len(lines[span.line - 1]) if span.line <= len(lines) else 0
            assert 1 <= span.column <= width + 2, (d.code, span, width)


# ---------------------------------------------------------------- mutations of real policies


@st.composite
def mutated_policy(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SOURCES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "duplicate", "swap_lines", "insert", "truncate", "byte", "token"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "delete":
            data[at : at + draw(st.integers(1, 40))] = b""
        elif kind == "duplicate":
            size = draw(st.integers(1, 80))
            data[at:at] = data[at : at + size]
        elif kind == "swap_lines":
            lines = bytes(data).split(b"\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
        elif kind == "insert":
            text = draw(st.text(min_size=1, max_size=8))
            data[at:at] = text.encode("utf-8", "surrogatepass")
        elif kind == "truncate":
            del data[at:]
        elif kind == "byte":
            data[at] = draw(st.integers(0, 255))
        else:  # replace a word with another word of the language
            words = [m for m in re.finditer(rb"[A-Za-z_]+|\d+[a-z%]*|->|[{}\[\](),.]|\"[^\"\n]*\"", bytes(data))]
            if words:
                victim = words[draw(st.integers(0, len(words) - 1))]
                donor = words[draw(st.integers(0, len(words) - 1))]
                data[victim.start() : victim.end()] = donor.group(0)
    return bytes(data)


@FUZZ
@given(mutated_policy())
def test_mutated_policies_never_crash(data):
    assert_sound(compile_bytes(data, "fuzz.sla"), data)


# ---------------------------------------------------------------- grammar-shaped policies

NAMES = st.sampled_from(["lead", "mql", "sql", "nurture", "won", "marketing", "sales", "x", "営業", "score", "intent"])
VALUES = st.sampled_from(['"yes"', "50", "20%", "24h", "5bd", "2026-04-01", "09:00", "true", "x", "-3", "1.5h", "0d"])
OPS = st.sampled_from(["==", "!=", ">=", "<=", ">", "<"])


@st.composite
def condition(draw, depth=0):
    if depth > 3 or draw(st.booleans()):
        form = draw(st.integers(0, 3))
        name = draw(NAMES)
        if form == 0:
            return f"{name} {draw(OPS)} {draw(VALUES)}"
        if form == 1:
            return f"{name} in [{', '.join(draw(st.lists(VALUES, max_size=3)))}]"
        if form == 2:
            return f"{name} is {'not ' if draw(st.booleans()) else ''}set"
        return name
    op = draw(st.sampled_from(["and", "or"]))
    left, right = draw(condition(depth + 1)), draw(condition(depth + 1))
    text = f"{left} {op} {right}"
    return f"not ({text})" if draw(st.booleans()) else f"({text})"


STAGE_LINES = st.one_of(
    st.builds(lambda n: f"owner {n}", NAMES),
    st.sampled_from(["entry", "terminal", "recycle", "hubspot lead", "description \"説明\""]),
    st.builds(lambda v, t: f"respond within {v}" + (f" target {t}" if t else ""), VALUES, st.one_of(st.none(), VALUES)),
    st.builds(lambda v: f"decide within {v}", VALUES),
    st.builds(lambda n, vs: f"follow up {n} times at {', '.join(vs)} via call, email", VALUES, st.lists(VALUES, min_size=1, max_size=3)),
    st.builds(lambda n, v: f"escalate to {n} after {v}", NAMES, VALUES),
    st.builds(lambda n, c, v: f"-> {n} when {c}" + (f" after {v}" if v else ""), NAMES, condition(), st.one_of(st.none(), VALUES)),
)


@st.composite
def generated_policy(draw) -> str:
    parts = ['agreement "Fuzz" {', f"  version {draw(VALUES)}", f"  effective {draw(VALUES)}", f"  owner {draw(NAMES)}", "}"]
    for _ in range(draw(st.integers(0, 3))):
        parts += [f"party {draw(NAMES)} \"P\" {{", f"  role {draw(NAMES)}", "}"]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["number", "text", "bool", 'enum ["yes", "no"]', "date", "bogus"]))
        parts.append(f"property {draw(NAMES)} {kind}")
    for _ in range(draw(st.integers(1, 5))):
        parts.append(f"stage {draw(NAMES)} {{")
        parts += ["  " + line for line in draw(st.lists(STAGE_LINES, max_size=6))]
        parts.append("}")
    if draw(st.booleans()):
        parts += [f"kpi {draw(NAMES)} {{", f"  measure rate {draw(NAMES)} -> {draw(NAMES)} per month",
                  f"  target {draw(OPS)} {draw(VALUES)}", "}"]
    if draw(st.booleans()):
        parts += ["score s {", f"  group g max {draw(VALUES)} {{", f"    +10 \"r\" when {draw(condition())}", "  }", "}"]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(parts) + newline


@FUZZ
@given(generated_policy())
def test_generated_policies_never_crash(text):
    data = text.encode("utf-8")
    assert_sound(compile_bytes(data, "gen.sla"), data)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(data):
    assert_sound(compile_bytes(data, "bytes.sla"), data)


# ---------------------------------------------------------------- fmt, diff and build on clean policies

CLEAN_SOURCES = [p.read_text(encoding="utf-8") for p in POLICIES]
LABEL_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters='"\\\u202a\u202b\u202c'
                           '\u202d\u202e\u2066\u2067\u2068\u2069'),
    max_size=30,
)


@st.composite
def clean_variant(draw) -> str:
    """An example policy with its texts and numbers changed, kept only when it checks clean."""
    text = draw(st.sampled_from(CLEAN_SOURCES))
    strings = list(re.finditer(r'"(?:[^"\\\n]|\\.)*"', text))
    for _ in range(draw(st.integers(0, 6))):
        if not strings:
            break
        victim = strings[draw(st.integers(0, len(strings) - 1))]
        replacement = '"' + draw(LABEL_TEXT) + '"'
        text = text[: victim.start()] + replacement + text[victim.end():]
        strings = list(re.finditer(r'"(?:[^"\\\n]|\\.)*"', text))
    for _ in range(draw(st.integers(0, 3))):
        numbers = list(re.finditer(r"(?<![\w.])(\d+)(h|d|bd|w|%)?(?![\w:.-])", text))
        if not numbers:
            break
        victim = numbers[draw(st.integers(0, len(numbers) - 1))]
        value = str(draw(st.integers(1, 400)))
        text = text[: victim.start(1)] + value + text[victim.end(1):]
    if draw(st.booleans()):
        text = text.replace("\n  ", "\n    ").replace("\n\n", "\n\n\n")  # layout only
    return text


@settings(FUZZ, max_examples=max(EXAMPLES // 5, 20))
@given(clean_variant(), st.sampled_from(CLEAN_SOURCES))
def test_fmt_diff_and_build_never_crash_on_clean_policies(variant, other):
    from hypothesis import assume

    from sla_lang.fmt import format_bytes
    from sla_lang.irjson import canonical_bytes
    from sla_lang.semdiff.compare import compare_policies
    from sla_lang.targets import BuildOptions, load_target

    result = compile_bytes(variant.encode("utf-8"), "variant.sla")
    assert_sound(result, variant.encode("utf-8"))
    assume(result.policy is not None and not result.errors)
    # fmt: meaning kept, idempotent
    formatted = format_bytes(variant.encode("utf-8"), "variant.sla")
    assert formatted.formatted is not None, [d.message for d in formatted.diagnostics]
    again = compile_bytes(formatted.formatted.encode("utf-8"), "variant.sla")
    assert canonical_bytes(again.policy) == canonical_bytes(result.policy)
    assert format_bytes(formatted.formatted.encode("utf-8"), "variant.sla").formatted == formatted.formatted
    # diff: against itself nothing, against another policy something, never a crash
    assert compare_policies(result.policy, again.policy) == []
    other_policy = compile_bytes(other.encode("utf-8"), "other.sla").policy
    compare_policies(other_policy, result.policy)
    # build: every fast target produces output without errors or internal failures
    for name, options in (("ir", BuildOptions()), ("hubspot", BuildOptions()),
                          ("agreement", BuildOptions(formats=("md", "html")))):
        built = load_target(name).build(result.policy, options)
        assert built.files and not [d for d in built.diagnostics if d.code.endswith("999") or d.code == "SLA820"]


# ---------------------------------------------------------------- builds into a folder full of traps

BUILD_ARGS = ["-t", "ir", "-t", "hubspot", "-t", "agreement", "--format", "md,html", *(["-t", "fixtures"] if LONG else []),
              "--isolated", "--color", "never"]
BUILD_SECONDS = 120  # a build that takes longer is a hang
REPORT = os.environ.get("SLA_FUZZ_REPORT")  # a file to append one line per example to (the long run's counts)


def tree(root) -> dict[str, tuple]:
    """Everything under `root`, links not followed: path → (kind, content or target, mode)."""
    import stat

    out: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                out[rel] = ("dir", None, stat.S_IMODE(info.st_mode))
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    out[rel] = ("file", handle.read(), stat.S_IMODE(info.st_mode))
            else:
                out[rel] = ("special", stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode))
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
    return out


def set_traps(root, out) -> None:
    """A previous build's folder, booby-trapped: links out (at an output's path, to a folder,
    dangling), FIFOs (at an output's path and hidden), read-only files and folders, and stale
    outputs of the earlier version."""
    outside = root / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "victim").write_bytes(b"victim")
    os.chmod(outside / "victim", 0o600)
    (out / "ir" / "fingerprint.txt").unlink()
    (out / "ir" / "fingerprint.txt").symlink_to(outside / "victim")
    (out / "ir" / "ir.json").unlink()
    os.mkfifo(out / "ir" / "ir.json")
    os.mkfifo(out / ".pipe")
    (out / ".outlink").symlink_to(outside / "dir", target_is_directory=True)
    (out / ".dangling").symlink_to(outside / "nowhere" / "deep")
    (out / ".keep").write_bytes(b"kept")
    os.chmod(out / ".keep", 0o444)
    os.chmod(out / "agreement" / "agreement.md", 0o444)
    os.chmod(out / "hubspot" / "workflows", 0o555)


def build_in_process(policy, out, seconds: float):
    """`sla build` as the command line runs it, in this process, stopped by SIGALRM if it hangs."""
    import signal

    from click.testing import CliRunner

    from sla_lang.cli import cli

    class Hang(Exception):
        pass

    def alarm(signum, frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return CliRunner().invoke(cli, ["build", str(policy), "-o", str(out), *BUILD_ARGS])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@settings(FUZZ, max_examples=int(os.environ.get("SLA_FUZZ_TRAP_EXAMPLES") or (2_000 if LONG else 6)))
@given(st.one_of(mutated_policy(), clean_variant().map(lambda text: text.encode("utf-8"))))
def test_builds_into_a_folder_full_of_traps_are_all_or_nothing(data):
    """Whatever the policy, `sla build` into a folder of traps writes nothing outside it, ends,
    prints no traceback, and leaves the folder wholly as it was or wholly the new build."""
    import shutil
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix="sla-fuzz-"))
    try:
        base = root / "base.sla"
        base.write_bytes(SOURCES[0])
        out = root / "out"
        first = build_in_process(base, out, BUILD_SECONDS)
        assert first.exit_code == 0, first.output
        set_traps(root, out)
        mutant = root / "mutant.sla"
        mutant.write_bytes(data)
        before_out, before_rest = tree(out), {k: v for k, v in tree(root).items() if not k.startswith("out")}
        result = build_in_process(mutant, out, BUILD_SECONDS)
        # no traceback and no hang (the alarm ends a hang with an exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        after_out, after_rest = tree(out), {k: v for k, v in tree(root).items() if not k.startswith("out")}
        outside_writes = sorted(set(after_rest.items()) ^ set(before_rest.items()))
        if result.exit_code == 0:
            # wholly new: exactly what a build into an empty folder writes, and the hidden entries
            reference = build_in_process(mutant, root / "reference", BUILD_SECONDS)
            assert reference.exit_code == 0, reference.output
            expected = {k: v for k, v in tree(root / "reference").items() if v[0] != "dir"}
            got = {k: v for k, v in after_out.items() if not Path(k).name.startswith(".") and v[0] != "dir"}
            hidden_before = {k: v for k, v in before_out.items() if Path(k).name.startswith(".") and k != ".sla-outputs"}
            hidden_after = {k: v for k, v in after_out.items() if Path(k).name.startswith(".") and k != ".sla-outputs"}
            assert {k: v[:2] for k, v in got.items()} == {k: v[:2] for k, v in expected.items()
                                                          if not k.startswith(".")}
            assert hidden_after == hidden_before
            outside_writes = [w for w in outside_writes if not w[0].startswith("reference")]
        else:
            assert after_out == before_out  # wholly old
        if REPORT:
            with open(REPORT, "a", encoding="utf-8") as handle:
                handle.write(f"{result.exit_code} outside={len(outside_writes)}\n")
        assert outside_writes == [], outside_writes[:3]
        assert not [n for n in os.listdir(root) if ".sla-" in n]  # no staging folder or lock left
    finally:
        for folder, dirs, _ in os.walk(root):
            for d in dirs:
                path = os.path.join(folder, d)
                if not os.path.islink(path):
                    os.chmod(path, 0o700)
        shutil.rmtree(root, ignore_errors=True)
