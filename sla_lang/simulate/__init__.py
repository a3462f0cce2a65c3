"""The reference simulator: lead events in, what the policy does to each lead out.

    run = simulate(policy, lines, "events.jsonl")
    run.leads_json(), run.summary_json(), run.diagnostics

`engine.py` holds the rules (and states them in its docstring), `events.py` reads JSON Lines,
`kpis.py` computes KPIs, `report.py` renders results, `scenarios.py` replays fixture scenarios
and `generate.py` builds them from a policy for the fixtures target.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..diagnostics import Diagnostic
from ..ir import Policy
from . import rules  # noqa: F401  (registers SLA850–SLA879)


@dataclass
class Run:
    sim: Any  # engine.Simulator
    feed: Any  # events.EventFeed
    first: datetime | None
    end: datetime | None

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.feed.diagnostics + self.sim.diagnostics

    def leads_json(self) -> list[dict[str, Any]]:
        from .report import lead_to_json

        return [lead_to_json(self.sim, lead) for lead in self.sim.leads.values()]

    def kpis(self):
        from .kpis import compute_kpis

        return compute_kpis(self.sim, self.first, self.end)

    def summary_json(self) -> dict[str, Any]:
        from .report import summary_to_json

        return summary_to_json(self.sim, self.feed, self.first, self.end, self.kpis())


def simulate(policy: Policy, lines: Iterable[str], path: str, *, until: datetime | None = None,
             shown_per_code: int | None = 20, plan=None, binary: bool = False) -> Run:
    """Run JSON Lines events (str lines, or bytes lines with binary=True) through `policy`.

    Never raises for bad events: they become diagnostics (`run.diagnostics`).
    """
    from .engine import Simulator
    from .events import EventFeed

    sim = Simulator(policy, plan)
    feed = EventFeed(sim, path, shown_per_code)
    if binary:
        feed.feed_binary(lines)
    else:
        feed.feed_lines(lines)
    first = sim.first_at
    end = sim.finish(until)
    return Run(sim, feed, first, end)


def simulate_events(policy: Policy, events: Iterable[dict[str, Any]], path: str, *, until: datetime | None = None,
                    plan=None, observer=None) -> Run:
    """Run already-parsed event objects (a scenario's timeline) through `policy`."""
    import json

    from .engine import Simulator
    from .events import EventFeed

    sim = Simulator(policy, plan)
    sim.observer = observer
    feed = EventFeed(sim, path, None)
    for number, event in enumerate(events, 1):
        if not isinstance(event, dict):
            feed.feed_line(number, json.dumps(event, ensure_ascii=False))
            continue
        feed.apply(event, number, json.dumps(event, ensure_ascii=False))
    first = sim.first_at
    end = sim.finish(until)
    return Run(sim, feed, first, end)
