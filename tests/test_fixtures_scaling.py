"""`sla test` reads large scenario files in time that grows linearly with their size.

The checks below compare two sizes as a ratio, never an absolute time.
"""

from __future__ import annotations

import gc
import json
import time

from sla_lang.simulate.scenarios import load_scenario_file


def _best_of(runs: int, work) -> float:
    best = float("inf")
    gc.collect()
    gc.disable()  # a collection in the middle of one run is noise, not scaling
    try:
        for _ in range(runs):
            start = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best


def test_reading_a_large_scenario_file_stays_linear(tmp_path):
    """`sla test` finds the line of every scenario (for its messages) in one pass over the file."""

    def write(n: int):
        scenarios = [{"id": f"scenario {i}", "lead": {"id": f"L{i}", "created": "2026-04-01T10:00:00+09:00"},
                      "timeline": [{"at": "2026-04-01T10:00:00+09:00", "type": "activity_logged", "activity": "call"}],
                      "expect": {"final_stage": "lead"}} for i in range(n)]
        path = tmp_path / f"{n}.json"
        path.write_text(json.dumps({"scenarios": scenarios}, indent=2))
        return path

    small, large = write(1000), write(4000)
    loaded = load_scenario_file(large)
    lines = large.read_text().splitlines()
    assert all(f'"id": "{sid}"' in lines[line - 1] for sid, line in loaded.lines.items())
    assert len(loaded.lines) == 4000
    ratio = _best_of(3, lambda: load_scenario_file(large)) / _best_of(3, lambda: load_scenario_file(small))
    assert ratio < 8  # linear is 4; searching the whole file per scenario made it 16
