from __future__ import annotations

import re
from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
POLICIES = sorted((REPO / "policies").glob("*.sla"))
VALID = sorted((FIXTURES / "valid").glob("*.sla"))
INVALID = sorted((FIXTURES / "invalid").glob("*.sla"))

_EXPECT = re.compile(rb"#\s*expect:\s*(SLA\d{3})@(\d+):(\d+)")


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
