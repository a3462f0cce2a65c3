"""From a HubSpot contact's history to the simulator's JSON Lines events.

Both importers (`hubspot_api.py`, `hubspot_csv.py`) read contacts into `ContactHistory` — when
the contact was created, every dated value its properties took, and its calls, emails and
meetings — and `events_of` turns one into events, through the HubSpot names the policy
declares (the names `sla build --target hubspot` gives: `hubspot NAME`, else the policy id):

- the contact's creation → `lead_created` in the stage its first lifecycle stage maps to (else
  the policy's first entry stage), with the values its mapped properties had at that moment;
- a later value of a policy property (`hubspot NAME`) → `property_changed`; a number property
  standing for a policy event (its count) → `event_occurred` with the increase;
- a later lifecycle stage → `stage_set` to the stage that declares that lifecycle value (when
  several do, the one the current stage has a transition to, else the first in source order;
  back to an earlier value, the recycle stage among them);
- `hubspot_owner_id` → `owner_changed` (the owner's HubSpot id);
- a call, email or meeting → `activity_logged`.

Within one moment: property changes, then the stage, then the owner, then activities (an
activity at the very moment a lead becomes an MQL answers that MQL). Nothing is dropped
silently: each value that cannot be mapped is counted under a reason (`Skipped`), and the
first few of each reason are kept with where they came from (contact, property, row, column).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from .. import ir

LIFECYCLE = "lifecyclestage"
OWNER = "hubspot_owner_id"
ACTIVITY_KINDS = ("call", "email", "meeting")
SHOWN_PER_REASON = 20


@dataclass
class Change:
    at: datetime
    name: str  # HubSpot property name
    value: str | None  # as HubSpot gives it (text); None or "": cleared
    where: str  # where it came from, for a diagnostic ("contact 101, lifecyclestage" or "export.csv:4:7")


@dataclass
class ContactHistory:
    id: str
    created: datetime
    changes: list[Change] = field(default_factory=list)
    activities: list[tuple[datetime, str, str]] = field(default_factory=list)  # (at, kind, where)
    where: str = ""


@dataclass
class Skipped:
    """What could not be mapped, counted per reason, with the first few places."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < SHOWN_PER_REASON:
            shown.append(where)

    def merge(self, other: Skipped) -> None:
        for reason, n in other.counts.items():
            self.counts[reason] += n
            shown = self.examples.setdefault(reason, [])
            shown.extend(other.examples.get(reason, [])[: SHOWN_PER_REASON - len(shown)])


class Mapping:
    """The policy's HubSpot names: which HubSpot property feeds which policy property or event."""

    def __init__(self, policy: ir.Policy) -> None:
        from ..targets.hubspot.catalog import Catalog

        self.policy = policy
        catalog = Catalog(policy)
        self.properties: dict[str, ir.Property] = {}
        for prop in policy.properties:
            self.properties.setdefault(catalog.property_name(prop), prop)
        self.events: dict[str, ir.Event] = {}
        for event in policy.events:
            self.events.setdefault(catalog.event_name(event), event)
        self.stages_by_lifecycle: dict[str, list[ir.Stage]] = {}
        for stage in policy.stages:
            if stage.hubspot is not None:
                self.stages_by_lifecycle.setdefault(stage.hubspot.name, []).append(stage)
        entries = [s.id for s in policy.stages if s.is_entry]
        self.entry = entries[0] if entries else (policy.stages[0].id if policy.stages else None)
        self.order = {s.id: i for i, s in enumerate(policy.stages)}

    def wanted(self) -> list[str]:
        """The HubSpot properties whose history the import reads."""
        return sorted({LIFECYCLE, OWNER, *self.properties, *self.events})

    def stage_for(self, lifecycle: str, current: str | None) -> tuple[str | None, str | None]:
        """(stage id, None) or (None, why not)."""
        candidates = self.stages_by_lifecycle.get(lifecycle)
        if not candidates:
            return None, "lifecycle stage not declared by any stage of the policy"
        if len(candidates) == 1:
            return candidates[0].id, None
        stage_by_id = self.policy.stage_by_id
        source = stage_by_id.get(current) if current else None
        if source is not None:
            reachable = {t.target.name for t in source.transitions}
            for c in candidates:
                if c.id in reachable:
                    return c.id, None
            if any(c.is_recycle for c in candidates) and all(
                    self.order.get(c.id, 0) < self.order.get(current, 0) for c in candidates if not c.is_recycle):
                return next(c.id for c in candidates if c.is_recycle), None
        return candidates[0].id, None


def _value(prop: ir.Property, raw: str) -> tuple[Any, str | None]:
    """A HubSpot property value (text) → the value an event carries, or why not."""
    text = raw.strip()
    kind = prop.type
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return None, "not a number"
        return (int(number) if number.is_integer() else number), None
    if kind == "bool":
        if text.lower() in ("true", "false", "yes", "no"):
            return text.lower() in ("true", "yes"), None
        return None, "not true or false"
    if kind == "enum":
        options = [o.value for o in prop.options]
        if text in options:
            return text, None
        # a multiple-checkbox value (`a;b`) or a label instead of the internal value
        labels = {o.label: o.value for o in getattr(prop, "option_labels", ())}
        if text in labels:
            return labels[text], None
        return None, "not an option of the policy's enum"
    if kind in ("date", "datetime"):
        at = parse_moment(text, None)
        if at is None:
            return None, "not a date"
        return (at.date().isoformat() if kind == "date" else at.isoformat()), None
    return text, None


def parse_moment(text: str, zone) -> datetime | None:
    """An ISO 8601 timestamp (HubSpot's API), `YYYY-MM-DD HH:MM[:SS]` or a date (HubSpot's
    exports; in `zone`), or milliseconds since 1970 (HubSpot's older APIs)."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit() and len(text) >= 11:
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        try:
            at = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            return None
    if at.tzinfo is None:
        if zone is None:
            return None
        at = at.replace(tzinfo=zone)
    return at


def events_of(contact: ContactHistory, mapping: Mapping, skipped: Skipped, zone) -> list[dict[str, Any]]:
    """The events of one contact, in time order."""
    lead = contact.id
    changes = sorted(contact.changes, key=lambda c: c.at)
    created = contact.created
    # the values at creation: each property's first value, when it is dated at the creation
    initial: dict[str, Change] = {}
    later: list[Change] = []
    for change in changes:
        if change.at <= created and change.name not in initial:
            initial[change.name] = change
        elif change.at <= created:
            initial[change.name] = change  # a newer value at or before creation wins
        else:
            later.append(change)
    stage = mapping.entry
    first_lifecycle = initial.pop(LIFECYCLE, None)
    if first_lifecycle is not None and first_lifecycle.value:
        mapped, why = mapping.stage_for(first_lifecycle.value, None)
        if mapped is None:
            skipped.add(f"{LIFECYCLE} {first_lifecycle.value!r}: {why}", first_lifecycle.where)
        else:
            stage = mapped
    properties: dict[str, Any] = {}
    counts: dict[str, int] = {}
    owner = None
    event_totals: dict[str, float] = {}
    for name, change in sorted(initial.items()):
        if name == OWNER:
            owner = change.value or None
            continue
        if change.value in (None, ""):
            continue
        _map_value(change, mapping, skipped, properties, counts, event_totals)
    created_event: dict[str, Any] = {"at": _iso(created), "lead": lead, "type": "lead_created", "stage": stage}
    if properties:
        created_event["properties"] = properties
    if counts:
        created_event["events"] = counts
    if owner:
        created_event["owner"] = owner
    out = [created_event]
    current = stage
    timeline: list[tuple[datetime, int, dict[str, Any]]] = []
    for change in later:
        if change.name == LIFECYCLE:
            if not change.value:
                continue  # HubSpot clears the stage before setting an earlier one: the next value says where
            target, why = mapping.stage_for(change.value, current)
            if target is None:
                skipped.add(f"{LIFECYCLE} {change.value!r}: {why}", change.where)
                continue
            current = target
            timeline.append((change.at, 1, {"type": "stage_set", "stage": target}))
        elif change.name == OWNER:
            if change.value:
                timeline.append((change.at, 2, {"type": "owner_changed", "owner": change.value}))
        else:
            values: dict[str, Any] = {}
            increments: dict[str, int] = {}
            if change.value in (None, "") and change.name in mapping.properties:
                values[mapping.properties[change.name].id] = None
            else:
                _map_value(change, mapping, skipped, values, increments, event_totals)
            if values:
                timeline.append((change.at, 0, {"type": "property_changed", "properties": values}))
            for name, n in increments.items():
                timeline.append((change.at, 0, {"type": "event_occurred", "event": name, "count": n}))
    for at, kind, where in contact.activities:
        if kind not in ACTIVITY_KINDS:
            skipped.add(f"activity of kind {kind!r} (only calls, emails and meetings are follow-ups)", where)
            continue
        if at < created:
            skipped.add("activity before the contact was created", where)
            continue
        timeline.append((at, 3, {"type": "activity_logged", "activity": kind}))
    timeline.sort(key=lambda item: (item[0], item[1]))
    for at, _, event in timeline:
        out.append({"at": _iso(at), "lead": lead, **event})
    return out


def _map_value(change: Change, mapping: Mapping, skipped: Skipped, values: dict, increments: dict,
               event_totals: dict[str, float]) -> None:
    prop = mapping.properties.get(change.name)
    if prop is not None:
        value, why = _value(prop, change.value or "")
        if why is not None:
            skipped.add(f"{change.name}: {why}", change.where + f" ({json.dumps(change.value, ensure_ascii=False)})")
            return
        values[prop.id] = value
        return
    event = mapping.events.get(change.name)
    if event is not None:
        try:
            total = float(change.value or 0)
        except ValueError:
            skipped.add(f"{change.name}: an event count that is not a number", change.where)
            return
        before = event_totals.get(event.id, 0)
        event_totals[event.id] = total
        if total > before:
            increments[event.id] = int(total - before)
        return
    skipped.add(f"{change.name}: not a property or event of the policy", change.where)


def _iso(at: datetime) -> str:
    return at.isoformat()


def write_events(contacts, mapping: Mapping, out, zone) -> tuple[int, int, Skipped]:
    """Write the events of every contact (grouped by contact, each in time order) as JSON Lines.
    Returns (contacts, events, what was skipped)."""
    skipped = Skipped()
    contact_count = 0
    event_count = 0
    for contact in contacts:
        contact_count += 1
        for event in events_of(contact, mapping, skipped, zone):
            out.write(json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n")
            event_count += 1
    return contact_count, event_count, skipped
