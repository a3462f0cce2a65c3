"""Replaying a long history through the reference simulator with bounded memory, on every core.

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
For the same reason the leads can be shared out between processes (`jobs`): each replays the
lines of its leads (a lead goes to shard crc32(id) mod jobs; a line that names no lead, to the
first), and the tallies add up.

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
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from ..ir import Policy
from ..simulate.events import DiagnosticTally

_LEAD = re.compile(rb'"lead"\s*:\s*(?:"([^"\\]*)"|(-?[0-9]+)\s*[,}])')
_AT = re.compile(rb'"at"\s*:\s*"([^"\\]*)"')
SHARD_MIN_LINES = 200_000  # below this, one process is faster than starting others


@dataclass
class Scan:
    """What the first pass learned about the file."""

    lines: int = 0
    last_line: dict[str, int] = field(default_factory=dict)  # lead → last line mentioning it
    latest: datetime | None = None  # the latest valid `at`
    earliest: datetime | None = None  # the earliest valid `at`
    shard_of_line: bytearray | None = None  # with shards: which shard replays each line


def shard_of(lead: str, shards: int) -> int:
    return zlib.crc32(lead.encode("utf-8")) % shards


def _lines(handle: IO[bytes]):
    from ..simulate.events import _bounded_lines

    return _bounded_lines(handle)


def scan_history(handle: IO[bytes], zone, shards: int = 1) -> Scan:
    """Pass 1 over a binary file: the last line of each lead and the latest timestamp."""
    import json

    from ..simulate.engine import parse_timestamp

    scan = Scan()
    last_line = scan.last_line
    lead_match = _LEAD.search
    at_match = _AT.search
    line_shards = bytearray() if shards > 1 else None
    lead_shard: dict[str, int] = {}
    # the latest `at` of each shape (length and offset suffix): ISO timestamps of one shape sort
    # as text in time order, so only one of each shape is parsed at the end
    latest_text: dict[tuple[int, bytes], bytes] = {}
    earliest_text: dict[tuple[int, bytes], bytes] = {}
    number = 0
    for number, line in enumerate(_lines(handle), 1):
        if line is None:  # a line too long to be an event: the replay reports it and stops there
            break
        lead = None
        at = None
        if line[:1] == b"{" and line.count(b'"lead"') == 1 and line.count(b'"at"') == 1:
            m = lead_match(line)
            a = at_match(line)
            if m is not None and a is not None:
                lead = (m.group(1) if m.group(1) is not None else m.group(2)).decode("utf-8", "replace")
                at = a.group(1)
        if lead is None:
            lead, at = _parsed(line, json)
        if lead is None:
            if line_shards is not None:
                line_shards.append(0)
            continue
        last_line[lead] = number
        if line_shards is not None:
            shard = lead_shard.get(lead)
            if shard is None:
                shard = lead_shard[lead] = shard_of(lead, shards)
            line_shards.append(shard)
        if at is not None:
            shape = (len(at), at[-6:])
            best = latest_text.get(shape)
            if best is None or at > best:
                latest_text[shape] = at
            least = earliest_text.get(shape)
            if least is None or at < least:
                earliest_text[shape] = at
    scan.lines = number
    scan.shard_of_line = line_shards
    for text in latest_text.values():
        at = parse_timestamp(text.decode("utf-8", "replace"), zone)
        if at is None:  # the largest of its shape is not a timestamp: look at that shape again
            at = _latest_of_shape(handle, text, zone)
        if at is not None and (scan.latest is None or at > scan.latest):
            scan.latest = at
    for text in earliest_text.values():  # only for choosing a default period: a bad one is skipped
        at = parse_timestamp(text.decode("utf-8", "replace"), zone)
        if at is not None and (scan.earliest is None or at < scan.earliest):
            scan.earliest = at
    return scan


def _parsed(line: bytes, json) -> tuple[str | None, bytes | None]:
    stripped = line.strip()
    if not stripped or stripped.startswith((b"#", b"//")):
        return None, None
    try:
        data = json.loads(stripped.decode("utf-8").lstrip("\ufeff"))
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    raw_lead = data.get("lead")
    if isinstance(raw_lead, bool) or not isinstance(raw_lead, (str, int)) or raw_lead == "":
        return None, None
    raw_at = data.get("at")
    return str(raw_lead), (raw_at.encode("utf-8") if isinstance(raw_at, str) else None)


def _latest_of_shape(handle: IO[bytes], bad: bytes, zone) -> datetime | None:
    from ..simulate.engine import parse_timestamp

    handle.seek(0)
    shape = (len(bad), bad[-6:])
    latest = None
    for line in _lines(handle):
        if line is None:
            break
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

    feed: Any  # simulate.events.EventFeed (or the shards' feeds merged: MergedFeed)
    sim: Any  # simulate.engine.Simulator
    first: datetime | None
    as_of: datetime | None
    leads: int


def replay_history(policy: Policy, handle: IO[bytes], shown_path: str, on_lead: Callable[[Any], None], *,
                   as_of: datetime | None = None, shown_per_code: int | None = 20, plan=None,
                   scan: Scan | None = None, shard: tuple[int, int] | None = None) -> Replay:
    """Replay a seekable binary events file; every finished lead goes to `on_lead` once.

    `as_of`: judge deadlines at this moment (default: the latest timestamp in the file; a
    moment before that is moved to it, as `sla simulate --until` does). `shard` (index,
    count): replay only the lines of that shard (the scan must have been made for `count`)."""
    from ..simulate.engine import Plan, Simulator
    from ..simulate.events import EventFeed

    plan = plan or Plan(policy)
    if scan is None:
        scan = scan_history(handle, plan.zone, shard[1] if shard else 1)
    handle.seek(0)
    end = scan.latest
    if as_of is not None and (end is None or as_of > end):
        end = as_of
    retire: dict[int, list[str]] = {}
    for lead, line in scan.last_line.items():
        retire.setdefault(line, []).append(lead)
    line_shards = scan.shard_of_line
    scan = None  # the per-lead map is as large as the leads: free it before replaying

    sim = Simulator(policy, plan)
    feed = EventFeed(sim, shown_path, shown_per_code)
    leads = sim.leads
    finished = 0

    def lines():
        # the feed asks for the next line only when it is done with this one: the leads whose
        # last line this was are finished then
        nonlocal finished
        mine = shard[0] if shard is not None else None
        for number, raw in enumerate(_lines(handle), 1):
            if mine is not None:
                if raw is None and mine != 0:
                    return  # a line too long to read: the first shard reports it
                if raw is not None and number <= len(line_shards) and line_shards[number - 1] != mine:
                    continue
            yield number, raw
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

    feed.feed_numbered(lines())
    first = sim.first_at
    if end is not None:
        sim.finish(end)
    for lead in leads.values():
        on_lead(lead)
        finished += 1
    leads.clear()
    return Replay(feed, sim, first, end if first is not None else None, finished)


# ------------------------------------------------------------------ on every core


class MergedFeed(DiagnosticTally):
    """The feeds of the shards as one (what the report reads of a feed)."""

    def __init__(self, source, shown_per_code: int | None) -> None:
        self.source = source
        self.shown_per_code = shown_per_code
        self.diagnostics: list = []
        self.counts: Counter[str] = Counter()
        self.severities: dict = {}
        self.events = 0
        self.skipped = 0

    def add(self, part: dict) -> None:
        self.diagnostics += part["diagnostics"]
        self.counts.update(part["counts"])
        self.severities.update(part["severities"])
        self.events += part["events"]
        self.skipped += part["skipped"]
        self.source.lines.update(part["lines"])

    def finish(self) -> None:
        from ..diagnostics import sort_diagnostics

        kept: Counter[str] = Counter()
        shown = []
        for d in sort_diagnostics(self.diagnostics):  # the first of each code by line, as one feed keeps them
            kept[d.code] += 1
            if self.shown_per_code is None or kept[d.code] <= self.shown_per_code:
                shown.append(d)
        self.diagnostics = shown


_JOB: dict[str, Any] = {}  # what a forked shard process reads (set by the parent just before the fork)


def _replay_shard(index: int) -> dict:
    job = _JOB
    tally = job["make_tally"](job["scan"].earliest, job["end"])
    with open(job["path"], "rb") as handle:
        replay = replay_history(job["policy"], handle, job["shown_path"], tally.add_lead, as_of=job["end"],
                                shown_per_code=job["shown_per_code"], plan=job["plan"], scan=job["scan"],
                                shard=(index, job["jobs"]))
    feed = replay.feed
    return {
        "tally": tally.state(), "first": replay.first, "leads": replay.leads,
        "feed": {"diagnostics": feed.diagnostics, "counts": dict(feed.counts), "severities": dict(feed.severities),
                 "events": feed.events, "skipped": feed.skipped, "lines": feed.source.lines},
        "sim_diagnostics": replay.sim.diagnostics,
    }


def replay_into(policy: Policy, handle: IO[bytes], shown_path: str,
                make_tally: Callable[[datetime | None, datetime | None], Any], *,
                as_of: datetime | None = None, shown_per_code: int | None = 20, plan=None,
                jobs: int | None = None) -> tuple[Replay, Any]:
    """Replay into a tally (`make_tally(earliest, as_of)`: `add_lead`, `state`, `absorb`), on
    `jobs` processes (default: one per core for a large file, else one)."""
    from ..simulate.engine import Plan, Simulator

    plan = plan or Plan(policy)
    path = getattr(handle, "name", None)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    wanted = jobs if jobs is not None else cores
    if wanted > 1 and (not isinstance(path, str) or not os.path.isfile(path)):
        wanted = 1  # a shard process opens the file by name
    scan = scan_history(handle, plan.zone, max(1, wanted))
    if wanted > 1 and jobs is None and scan.lines < SHARD_MIN_LINES:
        wanted = 1
    end = scan.latest
    if as_of is not None and (end is None or as_of > end):
        end = as_of
    if wanted <= 1 or scan.shard_of_line is None:
        if scan.shard_of_line is not None:
            scan.shard_of_line = None
        tally = make_tally(scan.earliest, end)
        replay = replay_history(policy, handle, shown_path, tally.add_lead, as_of=as_of,
                                shown_per_code=shown_per_code, plan=plan, scan=scan)
        return replay, tally
    import multiprocessing

    _JOB.update(policy=policy, plan=plan, path=path, shown_path=shown_path, make_tally=make_tally, end=end,
                shown_per_code=shown_per_code, scan=scan, jobs=wanted)
    try:
        with multiprocessing.get_context("fork").Pool(wanted) as pool:
            parts = pool.map(_replay_shard, range(wanted))
    finally:
        _JOB.clear()
    tally = make_tally(scan.earliest, end)
    sim = Simulator(policy, plan)
    from ..simulate.events import LineSource

    feed = MergedFeed(LineSource(shown_path), shown_per_code)
    leads = 0
    firsts = []
    seen_sim: set[tuple[str, str]] = set()
    for part in parts:
        tally.absorb(part["tally"])
        feed.add(part["feed"])
        leads += part["leads"]
        if part["first"] is not None:
            firsts.append(part["first"])
        for d in part["sim_diagnostics"]:  # reported once per clause by each process: once in all
            key = (d.code, str(d.span))
            if key not in seen_sim:
                seen_sim.add(key)
                sim.diagnostics.append(d)
    feed.finish()
    first = min(firsts) if firsts else None
    return Replay(feed, sim, first, end if first is not None else None, leads), tally


def spool(stream: IO[bytes]) -> IO[bytes]:
    """Standard input copied into a temporary file (the replay reads its input twice)."""
    temp = tempfile.NamedTemporaryFile(prefix="sla-report-")  # noqa: SIM115 (the caller closes it)
    shutil.copyfileobj(stream, temp, 1 << 20)
    temp.flush()
    temp.seek(0)
    return temp


def open_events(path: str) -> IO[bytes]:
    import sys

    if path == "-":
        return spool(sys.stdin.buffer)
    return open(os.fspath(path), "rb")
