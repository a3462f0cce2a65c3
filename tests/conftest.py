from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
POLICIES = sorted((REPO / "policies").glob("*.sla"))
VALID = sorted((FIXTURES / "valid").glob("*.sla"))
INVALID = sorted((FIXTURES / "invalid").glob("*.sla"))

_EXPECT = re.compile(rb"#\s*expect:\s*(SLA\d{3})@(\d+):(\d+)")


# "Today" for the whole suite: review-expiry checks (SLA718) judge the example policies'
# `last held` dates as of this day, so the suite does not start failing when a review falls
# due in real time. `sla check --today` does the same for CI runs of the command.
TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True, scope="session")
def fixed_today():
    from sla_lang.checks import CheckContext

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CheckContext, "today", property(lambda self: self.options.today or TODAY))
        yield


@pytest.fixture(autouse=True)
def private_build_cache(tmp_path_factory, monkeypatch):
    """Each test builds with an empty build cache of its own (`sla build` and the processes it
    starts): a hit left by another test would hide what a test patches or breaks."""
    monkeypatch.setenv("SLA_CACHE_DIR", str(tmp_path_factory.mktemp("sla-cache")))


def expectations(path: Path) -> list[tuple[str, int, int]]:
    """`# expect: SLA301@12:9` comments (code@line:column) written in a fixture."""
    return [(code.decode(), int(line), int(column)) for code, line, column in _EXPECT.findall(path.read_bytes())]


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.fixture
def in_repo(monkeypatch):
    """Run with the repository as working directory (paths in reports are then relative)."""
    monkeypatch.chdir(REPO)
    return REPO


# ------------------------------------------------------------------ skips that hide missing set-up
#
# Tests that need an optional dependency (typst, pyHanko, matplotlib, poppler, jq …) skip on a
# developer's machine without it. On CI that would be wrong: scripts/install.sh installs all of
# them, so a skip there means the set-up is broken and the test proves nothing — which once hid
# every signature test for a day (they asked for WeasyPrint after the PDF engine changed). With
# SLA_STRICT_SKIPS=1 (set by .ci/run) a skip is a failure unless the reason is a property of the
# platform that install.sh cannot change.
PLATFORM_SKIPS = (
    "case-insensitive file system",
    "needs /proc",
    "needs fork",
    "needs /dev/zero",
    "no /dev/null device here",
    "running under a tracer",
    "needs this repository's full git history",
)


def strict_skips() -> bool:
    import os

    return os.environ.get("SLA_STRICT_SKIPS", "") not in ("", "0")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and strict_skips()) or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    if any(allowed in reason for allowed in PLATFORM_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped under SLA_STRICT_SKIPS=1 (scripts/install.sh should provide it): {reason}"
