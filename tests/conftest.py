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
