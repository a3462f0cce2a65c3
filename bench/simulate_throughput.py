"""Simulator throughput: events per second and peak memory of `sla simulate` on generated events.

    python bench/simulate_throughput.py [-n 1000000] [--runs 3] [--policy policies/hubspot_scoring.sla]

Generates the events file once (bench/generate_events.py, fixed seed), then runs
`python -m sla_lang simulate POLICY --events FILE --summary -o /dev/null` in a fresh process
per run, and reports the median wall time, events per second and the peak resident memory of
the simulating process (ru_maxrss of the child). Also runs once with the full JSON report to
show what writing every lead costs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak resident memory (KiB) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not the maximum of all children
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 1):  # 1: the events file has problems (reported, simulated anyway)
        raise SystemExit(f"{' '.join(args)} exited with {child.returncode}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--policy", default="policies/hubspot_scoring.sla")
    parser.add_argument("--events", type=Path, help="reuse this events file instead of generating one")
    args = parser.parse_args()

    events = args.events
    if events is None:
        events = Path(tempfile.gettempdir()) / f"sla-bench-events-{args.count}.jsonl"
        if not events.exists():
            start = time.perf_counter()
            subprocess.run([sys.executable, "bench/generate_events.py", args.policy, "-n", str(args.count),
                            "--seed", "1", "-o", str(events)], cwd=ROOT, check=True)
            print(f"generated {args.count:,} events in {time.perf_counter() - start:.1f} s → {events} "
                  f"({events.stat().st_size / 1e6:.0f} MB)")
    startup, _ = run([sys.executable, "-c", "import sla_lang.cli"])
    base = [sys.executable, "-m", "sla_lang", "simulate", args.policy, "--events", str(events), "-o", os.devnull]
    times = []
    peak = 0
    for _ in range(args.runs):
        elapsed, rss = run(base + ["--summary"])
        times.append(elapsed)
        peak = max(peak, rss)
    median = statistics.median(times)
    full, full_rss = run(base + ["--format", "json"])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()} on {platform.system()} {platform.release()}")
    print(f"policy: {args.policy}; events: {args.count:,}")
    print(f"--summary:      median {median:.2f} s of {args.runs} runs ({', '.join(f'{t:.2f}' for t in times)}) "
          f"→ {args.count / median:,.0f} events/s; peak memory {peak / 1024:.0f} MiB")
    print(f"--format json:  {full:.2f} s → {args.count / full:,.0f} events/s; peak memory {full_rss / 1024:.0f} MiB")
    print(f"(interpreter start-up and imports: {startup:.2f} s, included above)")


if __name__ == "__main__":
    main()
