"""Replaying a long history through the reference simulator with bounded memory.

`sla simulate` keeps every lead until the end, because a lead's deadlines can only be judged
once it is known that no later event of that lead follows. A report over a year of history
cannot afford that, so the file is read twice:

1. a scan finds, for every lead, the last line that mentions it, and the latest timestamp in
   the file (the moment the history is judged at, "as of");
2. the simulator (`simulate.events.EventFeed` over `simulate.engine.Simulator`, unchanged)
   replays the lines; right after a lead's last line its remaining timers are fired up to the
   as-of moment — exactly what `Simulator.finish` would do at the end — and the finished lead
   is handed to `on_lead` and dropped.

Leads do not interact in the simulator (each has its own timers; `finish` only needs the end
moment), so the verdicts are the ones `sla simulate --until AS_OF` gives; the report's tests
check that. Memory grows with the leads that are still "open" in the file, not with its length.

The scan reads the lead id and `at` of most lines with a byte pattern instead of a JSON parser
(four times faster). A line the pattern cannot read with certainty (no such key, the key twice,
escapes in the id) is parsed as JSON; a line that mentions a lead without being a valid event
only keeps that lead longer, which changes nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from ..ir import Policy

_LEAD = re.compile(rb'"lead"\s*:\s*(?:"([^"\\]*)"|(-?[0-9]+)\s*[,}])')
_AT = re.compile(rb'"at"\s*:\s*"([^"\\]*)"')


@dataclass
class Scan:
    """What the first pass learned about the file."""

    lines: int = 0
    last_line: dict[str, int] = field(default_factory=dict)  # lead → last line mentioning it
    latest: datetime | None = None  # the latest valid `at`


def scan_history(handle: IO[bytes], zone) -> Scan:
    """Pass 1 over a binary file: the last line of each lead and the latest timestamp."""
    import json

    from ..simulate.engine import parse_timestamp

    scan = Scan()
    last_line = scan.last_line
    lead_match = _LEAD.search
    at_match = _AT.search
    # the latest `at` of each shape (length and offset suffix): ISO timestamps of one shape sort
    # as text in time order, so only one of each shape is parsed at the end
    latest_text: dict[tuple[int, bytes], bytes] = {}
    number = 0
    for number, line in enumerate(handle, 1):
        lead = None
        at = None
        if line[:1] == b"{" and line.count(b'"lead"') == 1 and line.count(b'"at"') == 1:
            m = lead_match(line)
            a = at_match(line)
            if m is not None and a is not None:
                lead = (m.group(1) if m.group(1) is not None else m.group(2)).decode("utf-8", "replace")
                at = a.group(1)
        if lead is None:
            stripped = line.strip()
            if not stripped or stripped.startswith((b"#", b"//")):
                continue
            try:
                data = json.loads(stripped.decode("utf-8").lstrip("\ufeff"))
            except (ValueError, UnicodeDecodeError):
                continue
            if not isinstance(data, dict):
                continue
            raw_lead = data.get("lead")
            if isinstance(raw_lead, bool) or not isinstance(raw_lead, (str, int)) or raw_lead == "":
                continue
            lead = str(raw_lead)
            raw_at = data.get("at")
            at = raw_at.encode("utf-8") if isinstance(raw_at, str) else None
        last_line[lead] = number
        if at is not None:
            shape = (len(at), at[-6:] if len(at) >= 6 else at)
            best = latest_text.get(shape)
            if best is None or at > best:
                latest_text[shape] = at
    scan.lines = number
    for text in latest_text.values():
        at = parse_timestamp(text.decode("utf-8", "replace"), zone)
        if at is None:  # the largest of its shape is not a timestamp: look at that shape again
            at = _latest_of_shape(handle, text, zone)
        if at is not None and (scan.latest is None or at > scan.latest):
            scan.latest = at
    return scan


def _latest_of_shape(handle: IO[bytes], bad: bytes, zone) -> datetime | None:
    from ..simulate.engine import parse_timestamp

    handle.seek(0)
    shape = (len(bad), bad[-6:])
    latest = None
    for line in handle:
        a = _AT.search(line)
        if a is None:
            continue
        text = a.group(1)
        if (len(text), text[-6:]) != shape:
            continue
        at = parse_timestamp(text.decode("utf-8", "replace"), zone)
        if at is not None and (latest is None or at > latest):
            latest = at
    return latest


@dataclass
class Replay:
    """The outcome of a replay: the simulator's feed (diagnostics, counts) and the time range."""

    feed: Any  # simulate.events.EventFeed
    sim: Any  # simulate.engine.Simulator
    first: datetime | None
    as_of: datetime | None
    leads: int


def replay_history(policy: Policy, handle: IO[bytes], shown_path: str, on_lead: Callable[[Any], None], *,
                   as_of: datetime | None = None, shown_per_code: int | None = 20, plan=None) -> Replay:
    """Replay a seekable binary events file; every finished lead goes to `on_lead` once.

    `as_of`: judge deadlines at this moment (default: the latest timestamp in the file; a
    moment before that is moved to it, as `sla simulate --until` does)."""
    from ..simulate.engine import Plan, Simulator
    from ..simulate.events import EventFeed

    plan = plan or Plan(policy)
    scan = scan_history(handle, plan.zone)
    handle.seek(0)
    end = scan.latest
    if as_of is not None and (end is None or as_of > end):
        end = as_of
    retire: dict[int, list[str]] = {}
    for lead, line in scan.last_line.items():
        retire.setdefault(line, []).append(lead)
    del scan  # the per-lead map is as large as the leads: free it before replaying

    sim = Simulator(policy, plan)
    feed = EventFeed(sim, shown_path, shown_per_code)
    leads = sim.leads
    finished = 0

    def lines():
        # the feed asks for the next line only when it is done with this one: the leads whose
        # last line this was are finished then
        nonlocal finished
        for number, raw in enumerate(handle, 1):
            yield raw
            done = retire.pop(number, None)
            if done is None:
                continue
            for lead_id in done:
                lead = leads.pop(lead_id, None)
                if lead is not None:
                    if end is not None:
                        sim.advance(lead, end, inclusive=True)
                    on_lead(lead)
                    finished += 1

    feed.feed_binary(lines())
    first = sim.first_at
    if end is not None:
        sim.finish(end)
    for lead in leads.values():
        on_lead(lead)
        finished += 1
    leads.clear()
    return Replay(feed, sim, first, end if first is not None else None, finished)


def spool(stream: IO[bytes]) -> IO[bytes]:
    """Standard input copied into a temporary file (the replay reads its input twice)."""
    temp = tempfile.TemporaryFile(prefix="sla-report-")  # noqa: SIM115 (the caller closes it)
    shutil.copyfileobj(stream, temp, 1 << 20)
    temp.seek(0)
    return temp


def open_events(path: str) -> IO[bytes]:
    import sys

    if path == "-":
        return spool(sys.stdin.buffer)
    return open(os.fspath(path), "rb")
