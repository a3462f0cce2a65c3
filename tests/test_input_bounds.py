"""Bounded input (issue 15, items 5, 6, 7 and 13): values no agreement can use, files that never
end, too many stages, and positions in files with old Mac line endings.

Each case used to hang, fill memory or point at the wrong line; the commands run in
subprocesses with a time and memory limit, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from sla_lang.commands.init import scaffold_files
from sla_lang.compile import compile_bytes, compile_text
from sla_lang.lower import MAX_STAGES

from .conftest import REPO
from .timing import within

STARTER = scaffold_files("en")["policies/sla.sla"].decode("utf-8")
MEMORY = 1 << 30  # no command here may need more than 1 GiB


# Starts the command from a small, fresh process and prints the command's own resource usage:
# the peak memory of a process forked straight from the test process would count the test
# process's pages (the kernel keeps the highest RSS across fork and exec).
_LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as report:
    json.dump({"peak_kib": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime}, report)
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def run_sla(*args: str, cwd: Path | None = None, timeout: float = 60, stdin=None) -> tuple[subprocess.CompletedProcess, float]:
    """Run sla in a process of its own (at most `timeout` s, 1 GiB): (its result, with the
    command's own peak memory as `peak_kib`; its CPU seconds — a loaded machine makes it wait,
    not work longer)."""
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "usage.json"
        result = subprocess.run(check=False, args=[sys.executable, "-c", _LAUNCHER, str(report), sys.executable, "-m",
                                                   "sla_lang", *args], cwd=cwd, timeout=timeout, capture_output=True,
                                text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, preexec_fn=limit_memory,
                                stdin=stdin)
        usage = json.loads(report.read_text())
    result.peak_kib = usage["peak_kib"]
    return result, usage["cpu"]


def starter_with(old: str, new: str) -> str:
    assert old in STARTER, old
    return STARTER.replace(old, new, 1)


def position_of(text: str, needle: str) -> tuple[int, int]:
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


# ---------------------------------------------------------------------------- item 5: value bounds

OUT_OF_RANGE = [
    ("respond within 24h target 12h", "respond within 10000000bh target 12h", "10000000bh"),
    ("respond within 24h target 12h", "respond within 123456789012345678901234567890123456789bh target 12h",
     "123456789012345678901234567890123456789bh"),
    ("decide within 5bd", "decide within 10000000000bd", "10000000000bd"),
    ("after 180d", "after 3661d", "3661d"),
    ("follow up 3 times at 0d, 3d, 5bd", "follow up 101 times at 0d, 3d, 5bd", "101"),
    ("capacity 5 people at 20 leads per month", "capacity " + "9" * 400 + " people at 20 leads per month", "9" * 400),
    ("capacity 5 people at 20 leads per month", "capacity 5 people at 1000001 leads per month", "1000001"),
    ("every 6 months", "every 121 months", "121"),
    ("effective 2026-04-01", "effective 1899-12-31", "1899-12-31"),
    ("lead_score >= 70", "lead_score >= 1000000000000001", "1000000000000001"),
    ("target >= 20%", "target >= 101%", "101%"),
    ('+20 "50 or more', '+1000001 "50 or more', "+1000001"),
    ("group fit \"Fit\" max 40", "group fit \"Fit\" max 1000001", "1000001"),
    ("employees >= 50", "employees >= " + "7" * 5000, "7" * 5000),  # longer than int() converts
]


@pytest.mark.parametrize(("old", "new", "value"), OUT_OF_RANGE, ids=[case[2][:24] for case in OUT_OF_RANGE])
def test_values_out_of_range_are_reported_where_they_are_and_at_once(old, new, value):
    text = starter_with(old, new)
    elapsed = within(lambda: compile_text(text, "bounds.sla"), 5)  # CPU time (tests/timing.py)
    result = compile_text(text, "bounds.sla")
    found = [(d.span.line, d.span.column) for d in result.errors if d.code == "SLA012"]
    assert found == [position_of(text, value)], [d.message for d in result.errors]
    assert not [d for d in result.diagnostics if d.code == "SLA999"]
    assert elapsed < 5, f"{elapsed:.1f} s"


@pytest.mark.parametrize(("old", "new"), [
    ("decide within 5bd", "decide within 3660bd"),
    ("after 180d", "after 3660d"),
    ("follow up 3 times at 0d, 3d, 5bd", "follow up 3 times at 0d, 3d, 3660bd"),
    ("capacity 5 people at 20 leads per month", "capacity 1000000 people at 1000000 leads per month"),
    ("every 6 months", "every 120 months"),
])
def test_the_largest_values_are_accepted_and_checked_quickly(old, new):
    text = starter_with(old, new)
    assert within(lambda: compile_text(text, "bounds.sla"), 5) < 5  # CPU time (tests/timing.py)
    result = compile_text(text, "bounds.sla")
    assert not [d for d in result.diagnostics if d.code in ("SLA012", "SLA999")]


def test_a_business_deadline_of_ten_years_is_computed_not_given_up():
    """Business-time arithmetic used to stop after three years of calendar days, so any
    deadline longer than that could not be computed at all."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from sla_lang.businesstime import BusinessCalendar, add_duration

    policy = compile_text(starter_with("decide within 5bd", "decide within 3660bd"), "long.sla").policy
    calendar = BusinessCalendar(policy.calendar_by_id["office"])
    (deadline,) = [d for s in policy.stages if s.id == "mql" for d in s.deadlines if d.kind == "decide"]
    start = datetime(2026, 4, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    due = add_duration(start, deadline.within, calendar)
    assert calendar.working_minutes_between(start, due) == 3660 * 9 * 60
    assert 2040 <= due.year <= 2042  # 3,660 working days of a Japanese office: about 15 years


def test_building_a_policy_with_an_endless_deadline_ends(tmp_path):
    policy = tmp_path / "p.sla"
    policy.write_text(starter_with("decide within 5bd", "decide within 10000000000bd"), encoding="utf-8")
    result, elapsed = run_sla("build", str(policy), "-o", str(tmp_path / "out"), "--isolated", timeout=120)
    assert result.returncode == 1 and "SLA012" in result.stderr and elapsed < 60
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- item 6: endless input


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.parametrize(("command", "expected"), [
    (("check", "/dev/zero", "--isolated"), "SLA004"),
    (("fmt", "--check", "/dev/zero", "--isolated"), "SLA004"),
    (("fmt", "-"), "SLA004"),
    (("diff", "/dev/zero", "/dev/zero"), "SLA001"),
    (("check", "--config", "/dev/zero", "policies"), "SLA007"),
    (("verify", "/dev/zero"), "SLA810"),
], ids=["check", "fmt", "fmt-stdin", "diff", "config", "verify"])
def test_a_device_that_never_ends_is_read_only_up_to_the_limit(command, expected):
    if command[0] == "verify":
        pytest.importorskip("pyhanko")
    with open("/dev/zero", "rb") as zero:
        result, elapsed = run_sla(*command, cwd=REPO, stdin=zero if command == ("fmt", "-") else None)
    assert result.returncode in (1, 2) and expected in result.stderr + result.stdout, result.stderr[-2000:]
    assert ("more than" in result.stderr + result.stdout or "larger than" in result.stderr) and elapsed < 60


def test_an_endless_fifo_is_refused_at_the_limit(tmp_path):
    fifo = tmp_path / "endless.sla"
    os.mkfifo(fifo)
    stop = threading.Event()

    def feed():
        try:
            with open(fifo, "wb") as handle:
                chunk = b"# " + b"x" * 65_000 + b"\n"
                while not stop.is_set():
                    handle.write(chunk)
        except (BrokenPipeError, OSError):
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        result, elapsed = run_sla("check", str(fifo), "--isolated")
    finally:
        stop.set()
    assert result.returncode == 1 and "SLA004" in result.stdout and elapsed < 60


def test_an_events_file_without_line_ends_stops_at_the_line_limit(tmp_path):
    policy = tmp_path / "p.sla"
    policy.write_text(STARTER, encoding="utf-8")
    with open("/dev/zero", "rb") as zero:
        result, elapsed = run_sla("simulate", str(policy), "--events", "-", "--isolated", stdin=zero)
    assert "SLA850" in result.stderr and "longer than 1,048,576 bytes" in result.stderr and elapsed < 60


# ---------------------------------------------------------------------------- item 7: limits first


def test_too_many_stages_are_refused_before_parsing(tmp_path):
    """230,000 empty stages (3.8 MiB) took 22–76 s and 2.4 GB before the limit was reported."""
    header = 'agreement "x" {\n  version "1"\n  effective 2026-01-01\n  owner ops\n}\nteam ops {\n}\n'
    text = header + "".join(f"stage s{i} {{\n}}\n" for i in range(230_000))
    assert len(text.encode()) < 4 * 1024 * 1024
    policy = tmp_path / "many.sla"
    policy.write_text(text, encoding="utf-8")
    result, elapsed = run_sla("check", str(policy), "--isolated")
    assert result.returncode == 1 and "SLA010" in result.stdout and "230,000 stages" in result.stdout
    assert f"many.sla:{8 + 2 * MAX_STAGES}:1:" in result.stdout
    assert elapsed < 15
    assert result.peak_kib < 300 * 1024, f"{result.peak_kib} KiB"


def test_too_many_score_rules_are_refused_before_parsing():
    from sla_lang.lower import MAX_SCORE_RULES

    header = 'agreement "x" {\n  version "1"\n  effective 2026-01-01\n  owner ops\n}\nteam ops {\n}\n'
    rules = "".join(f'    +1 "r{i}" when x >= {i}\n' for i in range(MAX_SCORE_RULES + 5))
    text = header + f'property x number\nscore s {{\n  group g {{\n{rules}  }}\n}}\n'
    from sla_lang.config import Config

    result = compile_text(text, config=Config(max_file_size=1 << 26))
    (d,) = result.errors
    assert d.code == "SLA010" and f"{MAX_SCORE_RULES + 5:,} score rules" in d.message
    assert (d.span.line, d.span.column) == (11 + MAX_SCORE_RULES, 5)


# ---------------------------------------------------------------------------- item 13: CR-only lines


@pytest.mark.parametrize("newline", [b"\r", b"\r\n", b"\n"], ids=["cr", "crlf", "lf"])
def test_invalid_utf8_is_reported_on_its_line_whatever_the_line_ends(newline):
    lines = [b'agreement "x" {', b'  version "1"', b'  effective 2026-01-01', b'  owner "caf\xe9"', b"}"]
    data = newline.join(lines) + newline
    (d,) = compile_bytes(data, "old-mac.sla").diagnostics
    assert (d.code, d.span.line, d.span.column) == ("SLA003", 4, 13)


def test_a_nul_byte_is_reported_on_its_line_in_a_cr_only_file():
    data = b'agreement "x" {\r  version "1"\r  effective\x00 2026-01-01\r}\r'
    (d,) = compile_bytes(data, "nul.sla").diagnostics
    assert (d.code, d.span.line, d.span.column) == ("SLA002", 3, 12)
