"""Time in the tests that bound how work grows: CPU time, best of several runs, measured again
before failing.

Wall-clock ratios fail on a loaded machine (CI runners, a shared 2-core box): another process
taking the CPU for a second makes a linear step look quadratic. So the tests measure
- the CPU time of this process (`time.process_time`) or of the child it waited for
  (`wait4`, test_input_bounds.run_sla), which waiting for a CPU does not add to;
- the best of a few runs of each size, the sizes interleaved so both see the same machine;
- and, when the ratio is over its bound, everything again (up to `ATTEMPTS` times): noise
  does not repeat, while a change of complexity (4× the input taking 16× the time) is over
  the bound on every attempt.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

REPEATS = 3
ATTEMPTS = 3


def cpu_seconds(work: Callable[[], object]) -> float:
    """The CPU time `work()` takes in this process."""
    start = time.process_time()
    work()
    return time.process_time() - start


def best(work: Callable[[], object], repeats: int = REPEATS) -> float:
    """The least CPU time of `repeats` runs of `work()` (no collection in the middle of one)."""
    out = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            out = min(out, cpu_seconds(work))
    finally:
        gc.enable()
    return out


def growth(small: Callable[[], object], large: Callable[[], object], bound: float,
           repeats: int = REPEATS) -> tuple[float, float, float]:
    """(ratio, small, large): how much more CPU time `large()` takes than `small()`, each the best
    of `repeats` interleaved runs, measured again while the ratio is `bound` or more."""
    for _ in range(ATTEMPTS):
        fast_small = fast_large = float("inf")
        for _ in range(repeats):
            fast_small = min(fast_small, best(small, 1))
            fast_large = min(fast_large, best(large, 1))
        ratio = fast_large / max(fast_small, 1e-9)
        if ratio < bound:
            break
    return ratio, fast_small, fast_large


def within(work: Callable[[], object], seconds: float) -> float:
    """The CPU time of `work()`, measured again (up to `ATTEMPTS` times) while over `seconds`."""
    for _ in range(ATTEMPTS):
        spent = cpu_seconds(work)
        if spent < seconds:
            break
    return spent
