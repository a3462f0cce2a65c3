"""Issue 20: the write phase streams. A target's files go to the output folder and to the
build cache as they are made, so memory does not grow with the output; the bytes written are
the bytes a collected build gives.

What is proved, independently of the streaming code: the files equal `json.dumps`'s own bytes
(the reference formatter) and a `build()` that collects everything; a 10,000-workflow-sized
output is written by a process whose peak memory stays below the output's size.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sla_lang.irjson import dumps, dumps_bytes

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**18), 10**18),
                     st.floats(allow_nan=False, allow_infinity=False), _TEXT)
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(_TEXT, inner, max_size=4)), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(_JSON)
def test_dumps_bytes_is_json_dumps_byte_for_byte(data):
    expected = (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    assert dumps_bytes(data) == expected
    assert dumps(data).encode("utf-8") == expected


def test_floats_orjson_writes_differently_are_written_as_json_does():
    for value in (1e-05, 1e16, 1.5e300, -2.5e-7, 12.5, 100.0, 2**70):
        data = {"v": value, "text": "x"}
        assert dumps_bytes(data) == (json.dumps(data, sort_keys=True, indent=2) + "\n").encode()


# a target whose output (320 MiB in 320 files) is far larger than what `sla build` may hold:
# the build runs in a process of its own, which reports its peak memory
_BIG_TARGET = r"""
import hashlib, sys, types
from sla_lang import targets
from sla_lang.targets import BuildResult

def build_into(policy, options, sink):
    for i in range(320):
        sink(f"part/{i:03d}.bin", hashlib.sha256(str(i).encode()).digest() * (1 << 15))  # 1 MiB each
    return BuildResult()

module = types.ModuleType("big_target")
module.NAME, module.FORMATS, module.DEFAULT_FORMATS, module.build_into = "big", (), (), build_into
sys.modules["big_target"] = module
targets.TARGETS["big"] = "big_target"
from sla_lang import cli

def exit_now(code, real=cli._exit_now):
    # VmHWM: this process's own peak (ru_maxrss may count the test process it was forked from)
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
    print("peak", int(peak) // 1024, file=sys.stderr, flush=True)
    real(code)

cli._exit_now = exit_now
sys.argv[0] = "sla"
cli.main()
"""


def _build_big(policy, out, *options):
    import os
    import subprocess
    import sys

    from .conftest import REPO

    result = subprocess.run([sys.executable, "-c", _BIG_TARGET, "build", str(policy), "-o", str(out), "-t", "big",
                             "--today", "2026-11-23", *options], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    peak = int(result.stderr.rsplit("peak ", 1)[1])
    return result, peak


def test_a_build_larger_than_memory_allows_is_streamed_to_the_folder_and_the_cache(tmp_path):
    """320 MiB of output, written by a build whose peak memory stays under 200 MiB: cold without
    the cache, cold into the cache, from the cache (the entry replayed file by file), and an
    unchanged rebuild (compared file by file). Every time the folder holds exactly the files."""
    import hashlib

    from .conftest import POLICIES

    policy = POLICIES[0]
    expected = {f"part/{i:03d}.bin": hashlib.sha256(str(i).encode()).digest() * (1 << 15) for i in range(320)}

    def written(out):
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.bin"))}

    for label, out, options in (("no cache", "a", ("--no-cache",)), ("cold cache", "b", ()),
                                ("warm cache", "c", ()), ("unchanged", "c", ())):
        result, peak = _build_big(policy, tmp_path / out, *options)
        assert written(tmp_path / out) == expected, label
        assert peak < 200, (label, peak)
        if label == "unchanged":
            assert "already up to date" in result.stdout
    import os
    from pathlib import Path

    entries = [p for p in (Path(os.environ["SLA_CACHE_DIR"]) / "build").rglob("*") if p.is_file()]
    assert len(entries) == 1 and entries[0].stat().st_size > 320 << 20
