"""Generate a large, realistic JSON Lines events file for a policy (for `sla simulate` benchmarks).

    python bench/generate_events.py policies/hubspot_scoring.sla -n 1000000 --seed 1 -o /tmp/events.jsonl

Leads arrive over time in the policy's entry stage with random attributes; afterwards each
lead sees behaviour events (page views, downloads …), activities (calls, emails, meetings),
changes of enum and yes/no properties (buying intent, recycle reasons …), owner changes and
the odd manual stage change. Events are in time order. The same arguments give the same file.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sla_lang.compile import compile_path


def generate(policy_path: Path, count: int, seed: int, start: datetime, out, leads: int | None = None,
             days: float | None = None) -> None:
    """`leads`: about how many leads the events are spread over (default: 8 % of the events are
    creations); `days`: about how long the history lasts (default: 20 s between events)."""
    result = compile_path(policy_path)
    if result.policy is None or result.errors:
        raise SystemExit(f"{policy_path}: the policy has errors; run `sla check` first")
    policy = result.policy
    rng = random.Random(seed)
    entries = [s.id for s in policy.stages if s.is_entry] or [policy.stages[0].id]
    stages = [s.id for s in policy.stages]
    events = [e.id for e in policy.events]
    enums = [p for p in policy.properties if p.type == "enum" and p.options]
    bools = [p for p in policy.properties if p.type == "bool"]
    numbers = [p for p in policy.properties if p.type == "number"]
    texts = [p for p in policy.properties if p.type == "text"]
    owners = [f"rep{n:02d}" for n in range(1, 21)]

    def attributes() -> dict:
        props = {}
        for p in enums:
            if rng.random() < 0.4:
                props[p.id] = rng.choice(p.options).value
        for p in numbers:
            if rng.random() < 0.6:
                props[p.id] = rng.choice([5, 20, 49, 50, 120, 300, 1000])
        for p in texts:
            if rng.random() < 0.5:
                props[p.id] = f"{p.id} {rng.randrange(1000)}"
        return props

    create = 0.08 if not leads else min(1.0, leads / count)
    step = 40 if not days else max(2, int(2 * days * 86400 / count))  # seconds: the mean step is half of it
    clock = start
    active: list[str] = []
    written = 0
    created = 0
    write = out.write
    while written < count:
        clock += timedelta(seconds=rng.randrange(1, step))
        at = clock.isoformat()
        if not active or rng.random() < create:
            created += 1
            lead = f"L{created:07d}"
            active.append(lead)
            event = {"at": at, "lead": lead, "type": "lead_created", "stage": rng.choice(entries),
                     "properties": attributes()}
            if len(active) > 5000:
                active.pop(rng.randrange(len(active)))
        else:
            lead = active[rng.randrange(len(active))]
            roll = rng.random()
            if roll < 0.45 and events:
                event = {"at": at, "lead": lead, "type": "event_occurred", "event": rng.choice(events)}
            elif roll < 0.70:
                event = {"at": at, "lead": lead, "type": "activity_logged",
                         "activity": rng.choice(("call", "call", "email", "meeting"))}
            elif roll < 0.90 and (enums or bools):
                p = rng.choice(enums + bools)
                value = rng.choice(p.options).value if p.type == "enum" else rng.random() < 0.5
                event = {"at": at, "lead": lead, "type": "property_changed", "properties": {p.id: value}}
            elif roll < 0.99:
                event = {"at": at, "lead": lead, "type": "owner_changed", "owner": rng.choice(owners)}
            else:
                event = {"at": at, "lead": lead, "type": "stage_set", "stage": rng.choice(stages),
                         "by": rng.choice(owners)}
        write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        written += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("policy", type=Path)
    parser.add_argument("-n", "--count", type=int, default=1_000_000, help="number of events (lines)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default="2026-04-01T09:00:00+09:00", help="time of the first event")
    parser.add_argument("--leads", type=int, help="about how many leads (default: 8%% of the events)")
    parser.add_argument("--days", type=float, help="about how many days the history lasts (default: 20 s an event)")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args()
    start = datetime.fromisoformat(args.start)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            generate(args.policy, args.count, args.seed, start, out, args.leads, args.days)
    else:
        generate(args.policy, args.count, args.seed, start, sys.stdout, args.leads, args.days)


if __name__ == "__main__":
    main()
