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
from functools import partial
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
        # the event's text places a diagnostic's column: written only if there is one
        feed.apply(event, number, partial(json.dumps, event, ensure_ascii=False))
    first = sim.first_at
    end = sim.finish(until)
    return Run(sim, feed, first, end)


@dataclass
class KpiReplay:
    """What a simulation of many leads together gives for its summary: how many leads were
    created, the simulation's first and last moments, and the KPIs."""

    leads: int
    first: datetime | None
    end: datetime | None
    kpis: list  # kpis.KpiResult


def replay_kpis(policy: Policy, events: list[Any], *, until: datetime | None = None, plan=None) -> KpiReplay:
    """`simulate_events(policy, events, until=until)` reduced to its summary, in bounded memory.

    Leads never affect one another (each event is about one lead, and a lead's timers are its
    own), so each lead is simulated on its own, finished at the end of the whole simulation and
    reduced to its KPI contributions, which are added in the order the leads were created in
    (sums of floats depend on it): the same figures without every lead at once in memory (the
    fixtures of 10,000 stages are 90,000 leads). `events` are in the order they are applied.
    The end is the latest moment among the events and `until`; an event that is not applied
    (invalid, out of order) could make it earlier than that: then everything is simulated
    together as `simulate_events` does.
    """
    from .engine import Plan, Simulator, parse_timestamp
    from .events import EventFeed
    from .kpis import KpiTally

    plan = plan or Plan(policy)
    horizon = until
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for number, event in enumerate(events, 1):
        lead_id = event.get("lead") if isinstance(event, dict) else None
        if isinstance(lead_id, bool) or not isinstance(lead_id, (str, int)) or lead_id == "":
            continue  # not about a lead: a diagnostic at most
        raw = event.get("at")
        at = parse_timestamp(raw, plan.zone) if isinstance(raw, str) else None
        if at is not None and (horizon is None or at > horizon):
            horizon = at
        groups.setdefault(str(lead_id), []).append((number, event))
    if horizon is None:
        return _kpi_replay_together(policy, events, until, plan)
    tally = KpiTally(policy, plan)
    created: list[tuple[int, list]] = []  # (number of the event that created the lead, its contributions)
    first: datetime | None = None  # the earliest event applied (simulate_events's `first`)
    last = until
    for lead_id, items in groups.items():
        sim = Simulator(policy, plan)
        feed = EventFeed(sim, "<scenarios>", None)
        made = None
        for number, event in items:
            # the text of an event only places diagnostics, which a summary does not show
            feed.apply(event, number, "")
            if made is None and lead_id in sim.leads:
                made = number
        if sim.first_at is not None and (first is None or sim.first_at < first):
            first = sim.first_at
        if sim.last_at is not None and (last is None or sim.last_at > last):
            last = sim.last_at
        sim.finish(horizon)
        for lead in sim.leads.values():
            created.append((made, tally.contributions(lead)))
    if last != horizon:
        return _kpi_replay_together(policy, events, until, plan)
    created.sort(key=lambda item: item[0])
    for _, contributions in created:
        tally.add_contributions(contributions)
    return KpiReplay(len(created), first, last, tally.results(first, last))


def _kpi_replay_together(policy: Policy, events: list[Any], until: datetime | None, plan) -> KpiReplay:
    run = simulate_events(policy, events, "<scenarios>", until=until, plan=plan)
    return KpiReplay(len(run.sim.leads), run.first, run.end, run.kpis())
