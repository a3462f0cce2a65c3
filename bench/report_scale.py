"""`sla import` and `sla report` on generated histories of 100k, 1M and 4M events.

    python bench/report_scale.py [--sizes 100000 1000000 4000000] [--runs 1]

A history of N events has N/20 leads (200,000 for 4M: a year of a mid-size B2B company) over
N/11,000 days (365 for 4M), written by bench/generate_events.py with a fixed seed. For the
import, a HubSpot contacts export of N/20 contacts is generated with the same number of
events once imported (creation, lifecycle dates, and ~16 call/email/meeting dates each).

Each command runs in a fresh process; reported: wall time, CPU time (user + system, with the
shard processes) and the peak resident memory of the largest process. The exponent between
two sizes is log(t2/t1) / log(n2/n1): 1.0 is linear.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLICY = "policies/hubspot_scoring.sla"
STAGES = ("Lead", "Marketing Qualified Lead", "Sales Qualified Lead", "Opportunity")


def run(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (the process and the children it waited for) and peak RSS (MiB)."""
    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(args)} exited with {code}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def history(n: int, folder: Path) -> Path:
    path = folder / f"history-{n}.jsonl"
    if not path.exists():
        subprocess.run([sys.executable, "bench/generate_events.py", POLICY, "-n", str(n), "--leads", str(n // 20),
                        "--days", f"{n / 11_000:.1f}", "--seed", "1", "-o", str(path)], cwd=ROOT, check=True)
    return path


def export(n: int, folder: Path) -> Path:
    """A contacts export whose import gives about n events (20 per contact)."""
    path = folder / f"export-{n}.csv"
    if path.exists():
        return path
    rng = random.Random(1)
    start = datetime(2025, 12, 1, 9, 0)
    contacts = n // 20
    span = timedelta(days=n / 11_000)
    header = ["Record ID", "First Name", "Company Name", "Create Date", "Lifecycle Stage"]
    header += [f'Date entered "{s} (Lifecycle Stage Pipeline)"' for s in STAGES]
    header += ["Call dates", "Email dates", "Meeting dates"]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i in range(contacts):
            created = start + span * (i / contacts)
            reached = rng.choice((1, 2, 2, 3, 4))
            entered = []
            moment = created
            for _ in range(reached):
                entered.append(moment.strftime("%Y-%m-%d %H:%M"))
                moment += timedelta(hours=rng.randrange(1, 200))
            touches: dict[str, list[str]] = {"call": [], "email": [], "meeting": []}
            for _ in range(20 - 1 - reached):
                kind = rng.choice(("call", "call", "email", "meeting"))
                touches[kind].append((created + timedelta(minutes=rng.randrange(1, 60 * 24 * 60))).strftime(
                    "%Y-%m-%d %H:%M"))
            writer.writerow([str(100000 + i), f"First{i}", f"Company {i % 997}", created.strftime("%Y-%m-%d %H:%M"),
                             STAGES[reached - 1], *entered, *[""] * (len(STAGES) - reached),
                             ";".join(sorted(touches["call"])), ";".join(sorted(touches["email"])),
                             ";".join(sorted(touches["meeting"]))])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 4_000_000])
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "sla-report-bench")
    parser.add_argument("--jobs", nargs="+", default=["1", "2"])
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    sla = [sys.executable, "-m", "sla_lang"]
    rows = []
    for n in args.sizes:
        events = history(n, args.folder)
        imported = args.folder / f"imported-{n}.jsonl"
        wall, cpu, rss = run(sla + ["import", POLICY, "--from", "csv", "--csv", str(export(n, args.folder)), "-o",
                                    str(imported), "--isolated"])
        lines = sum(1 for _ in open(imported, "rb"))
        rows.append((n, f"import (CSV export → {lines:,} events)", wall, cpu, rss))
        for jobs in args.jobs:
            out = args.folder / f"report-{n}-{jobs}.json"
            wall, cpu, rss = run(sla + ["report", POLICY, "--events", str(events), "--period", "2026-01",
                                        "--format", "json", "--jobs", jobs, "-o", str(out), "--isolated"])
            rows.append((n, f"report --jobs {jobs}", wall, cpu, rss))
        print(f"{n:,} events done", file=sys.stderr)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("| events | command | wall | CPU | peak RSS |")
    print("|---|---|---|---|---|")
    for n, what, wall, cpu, rss in rows:
        print(f"| {n:,} | {what} | {wall:.1f} s | {cpu:.1f} s | {rss} MiB |")
    by = {}
    for n, what, _, cpu, rss in rows:
        by.setdefault(what.split(" (")[0], []).append((n, cpu, rss))
    for what, points in by.items():
        for (n1, c1, m1), (n2, c2, m2) in zip(points, points[1:], strict=False):
            print(f"{what}: CPU exponent {n1:,} → {n2:,}: {math.log(c2 / c1) / math.log(n2 / n1):.2f}; "
                  f"memory exponent {math.log(max(m2, 1) / max(m1, 1)) / math.log(n2 / n1):.2f}")


if __name__ == "__main__":
    main()
