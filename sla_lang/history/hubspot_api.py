"""Reading contacts' history from the HubSpot API (read-only), for `sla import` and `sla report`.

The requests, as HubSpot's published specs define them (vendored under `tests/hubspot_spec/`,
checked by the tests):

1. `POST /crm/v3/objects/contacts/search` — contacts created in the range, oldest first
   (`PublicObjectSearchRequest`, 100 a page). A search pages at most 10,000 results deep, so
   at that depth the search starts again from the last creation moment seen;
2. `POST /crm/v3/objects/contacts/batch/read` — 50 contacts at a time with
   `propertiesWithHistory` for the lifecycle stage, the owner and the properties the policy
   maps (`BatchReadInputSimplePublicObjectId`; HubSpot reads at most 50 with history);
3. `POST /crm/v4/associations/contacts/{calls|emails|meetings}/batch/read` — the contacts'
   engagements (`BatchInputPublicFetchAssociationsBatchRequest`, following each contact's
   `paging.next.after`);
4. `POST /crm/v3/objects/{calls|emails|meetings}/batch/read` — each engagement's `hs_timestamp`.

Every request goes through `hubspot_portal.Portal` (the client `sla deploy` uses): 429 is
retried after `Retry-After` or with back-off, 5xx and lost connections are retried (these are
reads), and the token never appears in a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..hubspot_portal import HubSpotError, Portal
from .mapping import Change, ContactHistory, Mapping, Skipped, parse_moment

SEARCH_PAGE = 100
SEARCH_DEPTH = 10_000  # HubSpot's search returns no result past this offset
HISTORY_BATCH = 50
ENGAGEMENTS = (("calls", "call"), ("emails", "email"), ("meetings", "meeting"))


class HistoryReader:
    def __init__(self, portal: Portal, mapping: Mapping, skipped: Skipped) -> None:
        self.portal = portal
        self.mapping = mapping
        self.skipped = skipped

    # ------------------------------------------------------------------ 1. which contacts
    def contact_ids(self, since: datetime | None, until: datetime | None) -> Iterator[str]:
        """Ids of the contacts created in [since, until), oldest first, each once."""
        lower = since
        seen_at_lower: set[str] = set()
        while True:
            after = "0"
            restarted = False
            last_created: datetime | None = None
            at_last: set[str] = set()
            while True:
                filters = []
                if lower is not None:
                    filters.append({"propertyName": "createdate", "operator": "GTE", "value": _millis(lower)})
                if until is not None:
                    filters.append({"propertyName": "createdate", "operator": "LT", "value": _millis(until)})
                body = {"filterGroups": [{"filters": filters}] if filters else [], "sorts": ["createdate"],
                        "properties": ["createdate"], "limit": SEARCH_PAGE, "after": after}
                page = self.portal.request("search the contacts", "POST", "/crm/v3/objects/contacts/search",
                                           body=body).body
                page = page if isinstance(page, dict) else {}
                for row in page.get("results") or []:
                    contact_id = str(row.get("id", ""))
                    created = parse_moment(str((row.get("properties") or {}).get("createdate")
                                               or row.get("createdAt") or ""), None)
                    if not contact_id or contact_id in seen_at_lower:
                        continue
                    if created is not None:
                        if last_created is None or created > last_created:
                            last_created, at_last = created, set()
                        at_last.add(contact_id)
                    yield contact_id
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    return
                if str(after).isdigit() and int(after) >= SEARCH_DEPTH:
                    if last_created is None or last_created == lower:
                        raise HubSpotError("more than 10,000 contacts were created at one moment; the search "
                                           "cannot page past them")
                    lower, seen_at_lower, restarted = last_created, at_last, True
                    break
            if not restarted:
                return

    # ------------------------------------------------------------------ 2. their history
    def histories(self, ids: list[str]) -> list[ContactHistory]:
        wanted = self.mapping.wanted()
        out: list[ContactHistory] = []
        for start in range(0, len(ids), HISTORY_BATCH):
            chunk = ids[start:start + HISTORY_BATCH]
            body = {"inputs": [{"id": i} for i in chunk], "properties": ["createdate", *wanted],
                    "propertiesWithHistory": wanted}
            response = self.portal.request(f"read the history of {len(chunk)} contacts", "POST",
                                           "/crm/v3/objects/contacts/batch/read", body=body)
            results = response.body.get("results", []) if isinstance(response.body, dict) else []
            by_id = {str(r.get("id")): r for r in results if isinstance(r, dict)}
            for contact_id in chunk:
                record = by_id.get(contact_id)
                if record is None:
                    self.skipped.add("contact not returned by the batch read (deleted meanwhile?)",
                                     f"contact {contact_id}")
                    continue
                history = self._history(record)
                if history is not None:
                    out.append(history)
        if out:
            self._activities(out)
        return out

    def _history(self, record: dict[str, Any]) -> ContactHistory | None:
        contact_id = str(record["id"])
        properties = record.get("properties") or {}
        created = parse_moment(str(properties.get("createdate") or record.get("createdAt") or ""), None)
        if created is None:
            self.skipped.add("contact without a creation date", f"contact {contact_id}")
            return None
        history = ContactHistory(contact_id, created, where=f"contact {contact_id}")
        for name, values in (record.get("propertiesWithHistory") or {}).items():
            for entry in values if isinstance(values, list) else []:
                at = parse_moment(str(entry.get("timestamp") or ""), None) if isinstance(entry, dict) else None
                where = f"contact {contact_id}, {name}"
                if at is None:
                    self.skipped.add("history entry without a timestamp", where)
                    continue
                history.changes.append(Change(at, name, entry.get("value"), f"{where} at {entry.get('timestamp')}"))
        return history

    # ------------------------------------------------------------------ 3–4. calls, emails, meetings
    def _activities(self, contacts: list[ContactHistory]) -> None:
        by_id = {c.id: c for c in contacts}
        for object_type, kind in ENGAGEMENTS:
            linked: dict[str, list[str]] = {}  # engagement → contacts
            pending = [{"id": c.id} for c in contacts]
            while pending:
                body = {"inputs": pending}
                response = self.portal.request(f"read the {object_type} of {len(pending)} contacts", "POST",
                                               f"/crm/v4/associations/contacts/{object_type}/batch/read", body=body)
                results = response.body.get("results", []) if isinstance(response.body, dict) else []
                pending = []
                for row in results:
                    source = str((row.get("from") or {}).get("id", ""))
                    for target in row.get("to") or []:
                        linked.setdefault(str(target.get("toObjectId")), []).append(source)
                    after = (((row.get("paging") or {}).get("next")) or {}).get("after")
                    if after:
                        pending.append({"id": source, "after": after})
            ids = sorted(linked, key=lambda i: (len(i), i))
            for start in range(0, len(ids), SEARCH_PAGE):
                chunk = ids[start:start + SEARCH_PAGE]
                body = {"inputs": [{"id": i} for i in chunk], "properties": ["hs_timestamp"], "propertiesWithHistory": []}
                response = self.portal.request(f"read {len(chunk)} {object_type}", "POST",
                                               f"/crm/v3/objects/{object_type}/batch/read", body=body)
                results = response.body.get("results", []) if isinstance(response.body, dict) else []
                for row in results:
                    engagement = str(row.get("id"))
                    where = f"{kind} {engagement}"
                    at = parse_moment(str((row.get("properties") or {}).get("hs_timestamp") or ""), None)
                    if at is None:
                        self.skipped.add(f"{kind} without hs_timestamp", where)
                        continue
                    for contact_id in dict.fromkeys(linked.get(engagement, [])):
                        if contact_id in by_id:
                            by_id[contact_id].activities.append((at, kind, where))


def read_history(portal: Portal, mapping: Mapping, skipped: Skipped, since: datetime | None,
                 until: datetime | None) -> Iterator[ContactHistory]:
    """Every contact created in the range with its history, a batch at a time."""
    reader = HistoryReader(portal, mapping, skipped)
    batch: list[str] = []
    for contact_id in reader.contact_ids(since, until):
        batch.append(contact_id)
        if len(batch) == HISTORY_BATCH:
            yield from reader.histories(batch)
            batch = []
    if batch:
        yield from reader.histories(batch)


def _millis(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))
