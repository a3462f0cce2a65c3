"""Talking to a HubSpot portal for `sla deploy hubspot`: plan and apply, with the portal as the state.

The model is Terraform's. The build folder says what should exist; the portal says what does.
sla finds *its* objects by the ownership marker at the end of their description
(`[sla-lang policy=… clause=… hash=…]`, targets/hubspot/bundle.py) — never by name — and never
touches an object without one. A plan lists, per object, create / update / retire / unchanged,
with the fields that differ; `apply` carries it out:

- workflows are created turned off, updated in place (`PUT /automation/v4/flows/{flowId}` with
  the current `revisionId`, keeping the id, the history and the enrolments, and keeping
  `isEnabled` as the portal has it), and those sla no longer generates are turned off — deleted
  only when asked (`prune`);
- properties are created or given the enum options they lack (`PATCH`, the full option list:
  HubSpot replaces `options` as a whole); a property is never deleted, an option never removed
  and a type never changed (that would lose data);
- an sla-owned object whose content no longer matches the hash in its marker was changed by
  hand: that is drift, reported with the differing fields, and overwritten only when forced.

Exactly once under faults. A create is the one request that cannot simply be retried: when
HubSpot answers 5xx, times out or drops the connection after the request was sent, it may have
committed it. So before any retry the portal is read again and the object looked up by its
marker (workflows) or name (properties and the group, whose names are unique; a 409 on them
means "exists", accepted when the existing definition is compatible). The marker is written by
the create itself, so a run killed at any point leaves only objects that the next run
recognises: it completes the rest and makes no duplicate. (This relies on HubSpot listing a
committed workflow by the time the back-off has passed; a duplicate that slipped through anyway
is found by the next plan — two objects with one marker — and retired.)

Endpoints (HubSpot's published OpenAPI specs, `HubSpot/HubSpot-public-api-spec-collection`):
- Automation v4 (`automationV4.json`): `GET /automation/v4/flows` (`ApiFlowListing`, paged by
  `paging.next.after`; a listing has no description), `POST /automation/v4/flows/batch/read`
  (`ApiFlowBatchInput` of `{type: FLOW_ID, flowId}`; 207 when some are gone),
  `POST /automation/v4/flows` (`ApiFlowCreateRequest`), `PUT /automation/v4/flows/{flowId}`
  (`ApiFlowPutRequest`: `revisionId`, `isEnabled`, `type` … but no `objectTypeId`, `flowType`,
  `dataSources`), `DELETE /automation/v4/flows/{flowId}`.
- CRM Properties v3 (`properties.json`): `GET /crm/v3/properties/contacts` (all, unpaged),
  `GET|POST /crm/v3/properties/contacts/groups[/{name}]`, `POST /crm/v3/properties/contacts`
  (`PropertyCreate`), `PATCH /crm/v3/properties/contacts/{name}` (`PropertyUpdate`).
- Account Info v3 (`accountInfo.json`): `GET /account-info/v3/details` → `timeZone`.

Rate limits and failures: HubSpot answers 429 when a portal's burst or daily limit is reached
(https://developers.hubspot.com/docs/api/usage-details); it is retried after `Retry-After`
seconds when sent, otherwise with exponential back-off (1, 2, 4, 8 s). 5xx, time-outs and lost
connections are retried the same way for reads and for writes that can be repeated safely; a
create is reconciled first (above). Other 4xx fail at once with HubSpot's message.

The access token is only ever put in the Authorization header; every message that leaves this
module is scrubbed of it in every form it could take (`scrub`).
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from .targets.hubspot.bundle import (
    FLOW_FIELDS,
    Marker,
    flow_content,
    flow_hash,
    marker_of,
    property_hash,
    strip_marker,
    with_marker,
    workflow_key,
)

DEFAULT_URL = "https://api.hubapi.com"
OBJECT_TYPE = "contacts"
MAX_ATTEMPTS = 5
MAX_WAIT = 60.0  # seconds; a longer Retry-After is capped
TIMEOUT = 30.0  # seconds per request
BATCH_SIZE = 100  # flows per batch read
MESSAGE_LIMIT = 500  # characters of HubSpot's own message kept in an error
# What a PUT may carry (ApiContactFlowPutRequest); a difference in another FLOW_FIELD cannot be
# made in place.
PUT_FIELDS = frozenset({"type", "name", "description", "startActionId", "actions", "enrollmentCriteria", "timeWindows",
                        "blockedDates", "canEnrollFromSalesforce", "suppressionListIds", "customProperties"})
FIXED_FLOW_FIELDS = tuple(f for f in FLOW_FIELDS if f not in PUT_FIELDS)
# What a create may carry (ApiContactFlowCreateRequest). A build may hold more (sla-lang 0.1 wrote
# `nextAvailableActionId`, a response field): it is not sent.
CREATE_FIELDS = frozenset({"actions", "blockedDates", "canEnrollFromSalesforce", "customProperties", "dataSources",
                           "description", "enrollmentCriteria", "enrollmentSchedule", "eventAnchor", "flowType",
                           "goalFilterBranch", "isEnabled", "name", "objectTypeId", "startActionId",
                           "suppressionListIds", "timeWindows", "type", "unEnrollmentSetting", "uuid"})


def _sleep(seconds: float) -> None:  # replaced in tests: no test waits for real
    time.sleep(seconds)


class HubSpotError(Exception):
    """A request failed for good; the message is plain, scrubbed and safe to show."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Uncertain(HubSpotError):
    """A write whose outcome is unknown: HubSpot answered 5xx, did not answer in time, or the
    connection broke after the request was sent. It may have been committed."""


class _Unreachable(Exception):
    pass


class _Lost(Exception):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or the text when it is not JSON


# ------------------------------------------------------------------ token scrubbing


def token_pattern(token: str) -> re.Pattern[str] | None:
    """A pattern for the token in every form a message can carry it: as is, URL-encoded
    (`%2D`, either case, or `+`/`%20` for a space), JSON-escaped (`\\u002d`), and split by
    line breaks or other white space (also escaped ones, `\\n`) between any two characters."""
    if not token:
        return None
    parts = []
    for char in token:
        forms = [re.escape(char)]
        for byte in char.encode("utf-8"):
            forms.append(f"%{byte:02x}")
        if len(char.encode("utf-8")) == 1:
            forms.append(rf"\\u00{ord(char):02x}")
        if char == " ":
            forms.append(r"\+")
        parts.append("(?:" + "|".join(forms) + ")")
    gap = r"(?:\s|\\[nrt]|%0[ad]|%09|%20)*"
    return re.compile(gap.join(parts), re.IGNORECASE)


def scrub_token(text: str, pattern: re.Pattern[str] | None) -> str:
    return pattern.sub("***", text) if pattern is not None else text


def cut(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """One line of at most `limit` characters (after scrubbing: a cut token could not be found)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------ HTTP


class Portal:
    """One portal, reached with a private-app token. Every request goes through `request`."""

    def __init__(self, token: str, base_url: str = DEFAULT_URL, *, timeout: float = TIMEOUT,
                 log: Callable[[str], None] = lambda line: None, attempts: int = MAX_ATTEMPTS) -> None:
        self._token = token
        self._token_pattern = token_pattern(token)
        self.base_url = base_url.rstrip("/")
        parsed = urllib.parse.urlsplit(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise HubSpotError(f"not an http(s) URL: {self.scrub(base_url)}")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port
        self._prefix = parsed.path.rstrip("/")
        self.timeout = timeout
        self.log = log
        self.attempts = attempts
        self.calls = 0

    def scrub(self, text: str) -> str:
        return scrub_token(str(text), self._token_pattern)

    def wait(self, seconds: float, reason: str) -> None:
        self.log(self.scrub(reason))
        _sleep(seconds)

    def _exchange(self, method: str, path: str, query: list[tuple[str, Any]] | None, body: Any) -> Response:
        import http.client

        if self._scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout)
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            try:
                connection.connect()
            except OSError as exc:  # refused, no route, DNS, TLS, connect timeout: nothing was sent
                raise _Unreachable(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__) from None
            url = self._prefix + path + ("?" + urllib.parse.urlencode(query) if query else "")
            data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json",
                       "User-Agent": "sla-lang-deploy"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            try:
                connection.request(method, url, body=data, headers=headers)
                raw = connection.getresponse()
                payload = raw.read()
            except TimeoutError:
                raise _Lost(f"no answer within {self.timeout:g} s") from None
            except (OSError, http.client.HTTPException) as exc:
                raise _Lost(f"the connection broke: {type(exc).__name__}") from None
            return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, _parse(payload))
        finally:
            connection.close()

    def request(self, what: str, method: str, path: str, *, query: list[tuple[str, Any]] | None = None,
                body: Any = None, ok: tuple[int, ...] = (), repeatable: bool = True) -> Response:
        """Send one request, retrying 429 (never processed) always, and 5xx, time-outs and lost
        connections when `repeatable`. For a create (`repeatable=False`) those raise Uncertain:
        the caller looks in the portal before trying again. Returns 2xx and the `ok` statuses."""
        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                response = self._exchange(method, path, query, body)
            except _Unreachable as exc:
                raise HubSpotError(self.scrub(f"cannot reach HubSpot at {self.base_url} ({what}): {exc}")) from None
            except _Lost as exc:
                if not repeatable or attempt >= self.attempts:
                    raise Uncertain(self.scrub(f"HubSpot did not answer the request to {what} ({exc})")) from None
                self.wait(backoff(attempt), f"{exc} on {what}; retrying in {backoff(attempt):g}s "
                                            f"(attempt {attempt + 1} of {self.attempts})")
                continue
            if 200 <= response.status < 300 or response.status in ok:
                return response
            status = response.status
            if status >= 500 and not repeatable:
                raise Uncertain(self.describe(what, response, attempt), status)
            if (status != 429 and status < 500) or attempt >= self.attempts:
                raise HubSpotError(self.describe(what, response, attempt), status)
            wait = _retry_after(response.headers) if status == 429 else None
            wait = min(backoff(attempt) if wait is None else wait, MAX_WAIT)
            reason = "rate limited" if status == 429 else f"HubSpot error {status}"
            self.wait(wait, f"{reason} on {what}; retrying in {wait:g}s (attempt {attempt + 1} of {self.attempts})")

    def describe(self, what: str, response: Response, attempts: int) -> str:
        """HubSpot's answer as one plain line: scrubbed first, then cut (issue 15, item 12)."""
        body = response.body if isinstance(response.body, dict) else {}
        message = body.get("message") or (response.body if isinstance(response.body, str) else "") or ""
        message = cut(self.scrub(message))
        correlation = body.get("correlationId")
        correlation = f" (correlation id {cut(self.scrub(correlation), 80)})" if correlation else ""
        status = response.status
        if status == 401:
            text = f"HubSpot rejected the access token (401) on {what}: check HUBSPOT_ACCESS_TOKEN"
        elif status == 403:
            text = (f"the access token may not {what} (403): give the private app the scopes automation, "
                    "crm.schemas.contacts.read and crm.schemas.contacts.write")
        elif status == 429:
            text = f"HubSpot kept rate-limiting {what}: gave up after {attempts} attempts; try again later"
        elif status >= 500:
            text = f"HubSpot failed {attempts} time{'s' if attempts > 1 else ''} on {what} (error {status})"
        else:
            text = f"HubSpot refused to {what} ({status})"
        if message:
            text += f": {message}"
        return self.scrub(text + correlation)

    # ------------------------------------------------------------------ reads
    def get_group(self, name: str) -> dict | None:
        response = self.request(f"read the property group {name}", "GET",
                                f"/crm/v3/properties/{OBJECT_TYPE}/groups/{_quote(name)}", ok=(404,))
        return response.body if response.status != 404 and isinstance(response.body, dict) else None

    def list_properties(self) -> dict[str, dict]:
        response = self.request("list the contact properties", "GET", f"/crm/v3/properties/{OBJECT_TYPE}")
        body = response.body if isinstance(response.body, dict) else {}
        return {str(p["name"]): p for p in body.get("results", []) if isinstance(p, dict) and p.get("name")}

    def get_property(self, name: str) -> dict | None:
        response = self.request(f"read the property {name}", "GET",
                                f"/crm/v3/properties/{OBJECT_TYPE}/{_quote(name)}", ok=(404,))
        return response.body if response.status != 404 and isinstance(response.body, dict) else None

    def list_flow_ids(self) -> list[str]:
        """Every workflow id of the portal, following the paging cursor."""
        ids: list[str] = []
        after: str | None = None
        seen: set[str] = set()
        for _ in range(10_000):  # a portal with more than a million workflows is not expected
            query: list[tuple[str, Any]] = [("limit", 100)] + ([("after", after)] if after else [])
            body = self.request("list the workflows", "GET", "/automation/v4/flows", query=query).body
            body = body if isinstance(body, dict) else {}
            ids += [str(f["id"]) for f in body.get("results", []) if isinstance(f, dict) and f.get("id") is not None]
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return ids
            if after in seen:
                break
            seen.add(after)
        raise HubSpotError("the workflow list does not end (its paging cursor repeats)")

    def read_flows(self, ids: Iterable[str]) -> list[dict]:
        """The full workflows (with description) for `ids`, BATCH_SIZE per request; a workflow
        deleted in between is left out (HubSpot answers 207 with an error for it)."""
        ids = list(ids)
        flows: list[dict] = []
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start:start + BATCH_SIZE]
            body = {"inputs": [{"type": "FLOW_ID", "flowId": flow_id} for flow_id in chunk]}
            response = self.request(f"read {len(chunk)} workflow{'s' if len(chunk) > 1 else ''}", "POST",
                                    "/automation/v4/flows/batch/read", body=body)
            results = response.body.get("results", []) if isinstance(response.body, dict) else []
            flows += [f for f in results if isinstance(f, dict) and f.get("id") is not None]
        return flows

    def get_flow(self, flow_id: str) -> dict | None:
        response = self.request(f"read workflow {flow_id}", "GET", f"/automation/v4/flows/{_quote(flow_id)}",
                                ok=(404,))
        return response.body if response.status != 404 and isinstance(response.body, dict) else None

    def list_owners(self) -> list[dict]:
        """The portal's active owners (users and their teams), following the paging cursor."""
        owners: list[dict] = []
        after: str | None = None
        for _ in range(10_000):
            query: list[tuple[str, Any]] = [("limit", 100)] + ([("after", after)] if after else [])
            body = self.request("list the owners", "GET", "/crm/v3/owners", query=query).body
            body = body if isinstance(body, dict) else {}
            owners += [o for o in body.get("results", []) if isinstance(o, dict)]
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return owners
        raise HubSpotError("the owner list does not end (its paging cursor repeats)")

    def account_details(self) -> dict:
        body = self.request("read the account details", "GET", "/account-info/v3/details").body
        return body if isinstance(body, dict) else {}

    # ------------------------------------------------------------------ writes
    def create_group(self, body: dict) -> Response:
        return self.request(f"create the property group {body['name']}", "POST",
                            f"/crm/v3/properties/{OBJECT_TYPE}/groups", body=body, ok=(409,), repeatable=False)

    def create_property(self, body: dict) -> Response:
        return self.request(f"create the property {body['name']}", "POST", f"/crm/v3/properties/{OBJECT_TYPE}",
                            body=body, ok=(409,), repeatable=False)

    def update_property(self, name: str, body: dict) -> Response:
        # A PATCH of the same fields twice leaves the same property: safe to repeat.
        return self.request(f"update the property {name}", "PATCH",
                            f"/crm/v3/properties/{OBJECT_TYPE}/{_quote(name)}", body=body)

    def create_flow(self, body: dict) -> Response:
        body = {key: value for key, value in body.items() if key in CREATE_FIELDS}
        return self.request(f"create the workflow “{body.get('name')}”", "POST", "/automation/v4/flows", body=body,
                            repeatable=False)

    def put_flow(self, flow_id: str, body: dict, what: str) -> Response:
        # Not repeated blindly: a repeated PUT would carry a revision HubSpot may have moved on from.
        return self.request(what, "PUT", f"/automation/v4/flows/{_quote(flow_id)}", body=body, repeatable=False)

    def delete_flow(self, flow_id: str, name: str) -> Response:
        return self.request(f"delete the workflow “{name}” (id {flow_id})", "DELETE",
                            f"/automation/v4/flows/{_quote(flow_id)}", ok=(404,))


def backoff(attempt: int) -> float:
    return min(float(2 ** (attempt - 1)), MAX_WAIT)


# ------------------------------------------------------------------ what the build wants


@dataclass
class Desired:
    """The objects of one build folder (a bundle read by commands/deploy.py)."""

    policy_id: str
    policy: dict
    group: dict
    properties: dict[str, dict]  # name → PropertyCreate body
    property_clauses: dict[str, list[str]]
    required: dict[str, list[str]]  # existing HubSpot property → clauses reading it
    workflows: dict[str, dict]  # key → ApiFlowCreateRequest body
    workflow_files: dict[str, str]
    workflow_clauses: dict[str, list[str]]
    manual_steps: list[dict]
    time_zones: list[str]

    @classmethod
    def from_bundle(cls, bundle: dict[str, Any]) -> Desired:
        manifest = bundle["manifest.json"]
        policy = manifest["policy"]
        workflows, files, clauses = {}, {}, {}
        for entry in manifest["workflows"]:
            key = workflow_key(entry["file"])
            workflows[key] = bundle[entry["file"]]
            files[key] = entry["file"]
            clauses[key] = list(entry.get("clauses", []))
        properties = {bundle[e["file"]]["name"]: bundle[e["file"]] for e in manifest["properties"]}
        return cls(
            policy_id=str(policy.get("id") or ""),
            policy=policy,
            group=bundle[manifest["propertyGroup"]["file"]],
            properties=properties,
            property_clauses={e["name"]: list(e.get("clauses", [])) for e in manifest["properties"]},
            required={e["name"]: list(e.get("clauses", [])) for e in manifest["existingProperties"]},
            workflows=workflows,
            workflow_files=files,
            workflow_clauses=clauses,
            manual_steps=list(manifest.get("manualSteps", [])),
            time_zones=list(manifest.get("timeZones") or []),
        )


# ------------------------------------------------------------------ what the portal has


@dataclass
class PortalState:
    group: dict | None
    properties: dict[str, dict]
    flows: list[dict]
    time_zone: str | None = None
    time_zone_problem: str | None = None  # why the zone could not be read
    portal_id: Any = None
    owners: list[dict] | None = None  # read only when a workflow names users or teams
    owners_problem: str | None = None

    @property
    def flow_ids(self) -> set[str]:
        return {str(f["id"]) for f in self.flows}


def read_portal(portal: Portal, desired: Desired) -> PortalState:
    """Everything a plan needs, in a fixed number of requests (pages of 100 workflows)."""
    group = portal.get_group(desired.group["name"])
    properties = portal.list_properties()
    flows = portal.read_flows(portal.list_flow_ids())
    state = PortalState(group, properties, flows)
    try:
        details = portal.account_details()
    except HubSpotError as exc:
        if exc.status is None:
            raise
        state.time_zone_problem = str(exc)
    else:
        state.time_zone = details.get("timeZone") if isinstance(details.get("timeZone"), str) else None
        state.portal_id = details.get("portalId")
    if any(recipients(body) != (set(), set()) for body in desired.workflows.values()):
        try:
            state.owners = portal.list_owners()
        except HubSpotError as exc:
            if exc.status is None:
                raise
            state.owners_problem = str(exc)
    return state


# ------------------------------------------------------------------ the plan

CREATE, UPDATE, RETIRE, DELETE = "create", "update", "retire", "delete"
UNCHANGED, RETIRED, CONFLICT, MISSING, PRESENT = "unchanged", "retired", "conflict", "missing", "present"
PENDING = (CREATE, UPDATE, RETIRE, DELETE)


@dataclass
class Item:
    kind: str  # group | property | required | workflow
    key: str  # the group's or property's name, the workflow's key (file stem)
    name: str  # what people see
    action: str
    changes: list[str] = field(default_factory=list)  # field-level differences
    drift: bool = False  # the portal object was changed by hand since sla wrote it
    note: str = ""
    body: dict | None = None  # what apply sends (create: the create body; update: the new content)
    current: dict | None = None  # the object as the portal has it
    hubspot_id: str | None = None
    revision: str | None = None
    clauses: list[str] = field(default_factory=list)
    file: str | None = None

    @property
    def pending(self) -> bool:
        return self.action in PENDING


@dataclass
class Plan:
    desired: Desired
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things noticed and left alone
    problems: list[str] = field(default_factory=list)  # refuse to apply (time zone …)
    manual: list[str] = field(default_factory=list)  # what a person still has to do
    force: bool = False
    prune: bool = False
    state: PortalState | None = None

    def count(self, *actions: str) -> int:
        return sum(1 for item in self.items if item.action in actions)

    @property
    def pending(self) -> list[Item]:
        return [item for item in self.items if item.pending]

    @property
    def drifted(self) -> list[Item]:
        return [item for item in self.items if item.drift]

    @property
    def blockers(self) -> list[str]:
        """Why apply must not run (empty when it may)."""
        out = list(self.problems)
        for item in self.items:
            if item.action in (CONFLICT, MISSING):
                out.append(f"{item.kind} {item.name}: {item.note}")
            elif item.drift and item.pending and not self.force:
                out.append(f"{item.kind} {item.name} was changed in HubSpot since sla-lang wrote it: "
                           "review the differences, then run with --force to overwrite them")
        return out


def plan(portal: Portal, desired: Desired, *, force: bool = False, prune: bool = False,
         state: PortalState | None = None) -> Plan:
    """What apply would do, from reading the portal only."""
    state = state or read_portal(portal, desired)
    result = Plan(desired, force=force, prune=prune, state=state)
    group = desired.group
    result.items.append(Item("group", group["name"], group["name"], UNCHANGED if state.group else CREATE,
                             body=None if state.group else group, file="properties/_group.json"))
    for name in sorted(desired.properties):
        result.items.append(plan_property(desired.properties[name], state.properties.get(name),
                                          desired.property_clauses.get(name, [])))
    for name in sorted(desired.required):
        uses = desired.required[name]
        if name in state.properties:
            result.items.append(Item("required", name, name, PRESENT, clauses=uses))
        else:
            shown = ", ".join(uses[:4]) + (" …" if len(uses) > 4 else "")
            result.items.append(Item("required", name, name, MISSING, clauses=uses,
                                     note=f"the workflows read it ({shown}); create it in HubSpot or change the "
                                          "policy's `hubspot` mapping"))
    result.items += plan_workflows(desired, state, prune=prune, notes=result.notes)
    for name, prop in sorted(state.properties.items()):
        marker = marker_of(prop.get("description"))
        if (marker and marker.policy == desired.policy_id and name not in desired.properties
                and not prop.get("archived")):
            result.notes.append(f"property {name} is no longer used by this policy: kept (sla-lang never deletes a "
                                "property: it may hold data); archive it in HubSpot when nothing needs it")
    check_time_zone(result)
    check_owners(result)
    result.manual = manual_steps(desired)
    return result


def plan_property(body: dict, current: dict | None, clauses: list[str]) -> Item:
    name = body["name"]
    item = Item("property", name, name, CREATE, body=body, current=current, clauses=clauses,
                file=f"properties/{name}.json")
    if current is None:
        return item
    if current.get("type") != body["type"]:
        item.action = CONFLICT
        item.note = (f"exists as {current.get('type')}/{current.get('fieldType')}; the policy needs "
                     f"{body['type']}/{body['fieldType']} (sla-lang never changes a property's type: it would lose "
                     "data); rename the policy's property or change it in HubSpot")
        return item
    marker = marker_of(current.get("description"))
    owned = marker is not None or current.get("groupName") == body.get("groupName")
    have = {str(o.get("value")) for o in current.get("options") or [] if isinstance(o, dict)}
    lacking = [o for o in body.get("options") or [] if str(o["value"]) not in have]
    changes = [f"option added: {o['value']}" for o in lacking]
    if current.get("fieldType") != body["fieldType"] and owned:
        changes.insert(0, f"field type {current.get('fieldType')} → {body['fieldType']}")
    if not changes:
        item.action, item.body = UNCHANGED, None
        return item
    if not owned:
        item.action = CONFLICT
        item.note = (f"lacks the option(s) {', '.join(str(o['value']) for o in lacking)} and was not created by "
                     "sla-lang (no ownership marker), so sla-lang leaves it alone: add the options in HubSpot")
        return item
    item.action, item.changes = UPDATE, changes
    # A marker whose hash no longer matches: someone edited the property since sla wrote it.
    item.drift = marker is not None and marker.policy is not None and marker.hash != property_hash(current)
    return item


def property_update(body: dict, current: dict, policy_id: str) -> dict:
    """The PATCH body (`PropertyUpdate`): every option HubSpot has, then the missing ones
    (`options` replaces the list as a whole), the field type, and the marker recomputed for the
    merged definition (the human part of the description is left as the portal has it)."""
    options = [{k: o[k] for k in ("label", "value", "displayOrder", "hidden", "description") if k in o}
               for o in current.get("options") or [] if isinstance(o, dict)]
    have = {str(o.get("value")) for o in options}
    order = max((o.get("displayOrder", -1) for o in options if isinstance(o.get("displayOrder"), int)), default=-1)
    for option in body.get("options") or []:
        if str(option["value"]) not in have:
            order += 1
            options.append({**option, "displayOrder": order})
    update = {"fieldType": body["fieldType"], "options": options}
    merged = {"type": body["type"], "fieldType": body["fieldType"], "options": options}
    key = f"property.{body['name']}"
    old = marker_of(current.get("description"))
    owner = old.policy if old and old.policy else policy_id
    text = strip_marker(current.get("description") or "") or strip_marker(body.get("description") or "")
    update["description"] = with_marker(text, Marker(owner, key, property_hash(merged)))
    return update


def plan_workflows(desired: Desired, state: PortalState, *, prune: bool, notes: list[str]) -> list[Item]:
    names = {body.get("name"): key for key, body in desired.workflows.items()}
    owned: dict[str, list[dict]] = {}
    legacy_unknown = 0
    for flow in state.flows:
        marker = marker_of(flow.get("description"))
        if marker is None:
            continue
        if marker.policy == desired.policy_id and marker.clause:
            owned.setdefault(marker.clause, []).append(flow)
        elif marker.policy is None:  # sla-lang 0.1 wrote no policy id: its workflows are known by name
            key = names.get(flow.get("name"))
            if key is not None:
                owned.setdefault(key, []).append(flow)
            else:
                legacy_unknown += 1
    if legacy_unknown:
        notes.append(f"{legacy_unknown} workflow(s) carry the marker of sla-lang 0.1 but match no workflow of this "
                     "policy by name: left alone (turn them off in HubSpot if they belong to an old version)")
    items: list[Item] = []
    for key in sorted(set(desired.workflows) | set(owned)):
        body = desired.workflows.get(key)
        copies = sorted(owned.get(key, []), key=lambda f: _id_order(f["id"]))
        if body is not None:
            keep = _keeper(copies, body) if copies else None
            items.append(plan_workflow(key, body, keep, desired))
            extras = [f for f in copies if f is not keep]
            reason = f"a duplicate of id {keep['id']}" if keep else ""
        else:
            extras, reason = copies, "no longer generated by the policy"
        for flow in extras:
            items.append(plan_retirement(key, flow, reason, prune=prune))
    return items


def _keeper(copies: list[dict], body: dict) -> dict:
    """Of several workflows with one marker, the one to keep: the one already up to date, else
    one that is switched on, else the oldest."""
    wanted = flow_content(body)
    for flow in copies:
        if flow_content(flow) == wanted:
            return flow
    for flow in copies:
        if flow.get("isEnabled"):
            return flow
    return copies[0]


def plan_workflow(key: str, body: dict, current: dict | None, desired: Desired) -> Item:
    item = Item("workflow", key, str(body.get("name")), CREATE, body=body, current=current,
                clauses=desired.workflow_clauses.get(key, []), file=desired.workflow_files.get(key))
    if current is None:
        return item
    item.hubspot_id = str(current["id"])
    item.revision = _text(current.get("revisionId"))
    theirs, ours = flow_content(current), flow_content(body)
    if theirs == ours:
        item.action, item.body = UNCHANGED, None
        if current.get("name") != body.get("name"):
            item.name = f"{current.get('name')}"
        return item
    item.changes = flow_changes(theirs, ours)
    fixed = [f for f in FIXED_FLOW_FIELDS if theirs.get(f) != ours.get(f)]
    marker = marker_of(current.get("description"))
    item.drift = marker is not None and marker.policy is not None and marker.hash != flow_hash(current)
    if fixed:
        item.action = CONFLICT
        item.note = (f"{', '.join(fixed)} differ and cannot be changed in place (HubSpot's PUT does not take them): "
                     f"delete workflow {item.hubspot_id} in HubSpot, then deploy again")
        return item
    item.action = UPDATE
    return item


def plan_retirement(key: str, flow: dict, reason: str, *, prune: bool) -> Item:
    item = Item("workflow", key, str(flow.get("name")), RETIRED, current=flow, hubspot_id=str(flow["id"]),
                revision=_text(flow.get("revisionId")), note=reason)
    marker = marker_of(flow.get("description"))
    item.drift = marker is not None and marker.policy is not None and marker.hash != flow_hash(flow)
    if item.drift:
        item.changes = ["changed in HubSpot since sla-lang wrote it"]
    if prune:
        item.action = DELETE
    elif flow.get("isEnabled"):
        item.action = RETIRE
        item.changes = ["turn off"] + item.changes
    else:
        item.note = f"{reason}; turned off, kept (delete it with --prune)"
    return item


def check_time_zone(result: Plan) -> None:
    """The workflows' time windows and blocked dates are read by HubSpot in the portal's time
    zone (an account setting), so they are only right when the build assumed that zone."""
    wanted = result.desired.time_zones
    state = result.state
    if not wanted or state is None:
        return
    if state.time_zone is None:
        why = state.time_zone_problem or "the account details carry no time zone"
        result.notes.append(f"the portal's time zone could not be read ({why}): the time windows assume "
                            f"{', '.join(wanted)}; check Settings → Account defaults in HubSpot")
        return
    for zone in wanted:
        if not same_zone(state.time_zone, zone):
            result.problems.append(
                f"the portal's time zone is {state.time_zone} but the workflows' time windows and blocked dates are "
                f"written for {zone}: HubSpot would run them at the wrong hours. Change the portal's time zone in "
                f"HubSpot (Settings → Account defaults), or write the calendar for {state.time_zone} and rebuild")


def recipients(flow: dict) -> tuple[set[str], set[str]]:
    """The HubSpot user ids and team ids a workflow's actions name (notifications, tasks,
    owner rotation): what the portal mapping `[tool.sla.hubspot.teams.*]` became."""
    users: set[str] = set()
    teams: set[str] = set()
    for action in flow.get("actions") or []:
        fields = action.get("fields") if isinstance(action, dict) else None
        if not isinstance(fields, dict):
            continue
        for key, found in (("user_ids", users), ("team_ids", teams)):
            values = fields.get(key)
            if isinstance(values, list):
                found.update(str(v) for v in values)
    return users, teams


def check_owners(result: Plan) -> None:
    """Every user and team id the workflows send to must exist in the portal (Owners API,
    `GET /crm/v3/owners`: an owner's `userId` and its `teams[].id`); a wrong id would make
    HubSpot drop the notification or the rotation silently."""
    state = result.state
    used = {key: recipients(body) for key, body in result.desired.workflows.items()}
    if state is None or not any(users or teams for users, teams in used.values()):
        return
    if state.owners is None:
        result.notes.append(f"the user and team ids in the workflows were not checked ({state.owners_problem}): "
                            "give the private app the scope crm.objects.owners.read to check them")
        return
    known_users = {str(o["userId"]) for o in state.owners if o.get("userId") is not None and not o.get("archived")}
    known_teams = {str(t["id"]) for o in state.owners if not o.get("archived")
                   for t in o.get("teams") or [] if isinstance(t, dict) and t.get("id") is not None}
    for key in sorted(used):
        users, teams = used[key]
        name = result.desired.workflows[key].get("name")
        clauses = ", ".join(result.desired.workflow_clauses.get(key, [])) or key
        for user in sorted(users - known_users):
            result.problems.append(
                f"workflow “{name}” ({clauses}) sends to HubSpot user id {user}, which is not an active user of this "
                "portal (Owners API): correct the `user-ids` under [tool.sla.hubspot.teams.…] and rebuild")
        for team in sorted(teams - known_teams):
            result.problems.append(
                f"workflow “{name}” ({clauses}) sends to HubSpot team id {team}, which no active user of this portal "
                "belongs to (Owners API): correct the `team-id` under [tool.sla.hubspot.teams.…] and rebuild")


def same_zone(a: str, b: str) -> bool:
    """Two zone names mean the same clock (e.g. HubSpot's `US/Eastern` and `America/New_York`):
    equal UTC offsets at every hour change of the years around now, compared daily."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if a.casefold() == b.casefold():
        return True
    try:
        za, zb = ZoneInfo(a), ZoneInfo(b)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    start = datetime(datetime.now(UTC).year - 1, 1, 1, tzinfo=UTC)
    for day in range(3 * 366):
        moment = start + timedelta(days=day)
        if moment.astimezone(za).utcoffset() != moment.astimezone(zb).utcoffset():
            return False
    return True


def manual_steps(desired: Desired) -> list[str]:
    out = []
    for step in desired.manual_steps:
        clauses = ", ".join(step.get("clauses", []))
        code = step.get("code", "")
        out.append(f"{code} ({clauses}): {step.get('step', '')}" if clauses else f"{code}: {step.get('step', '')}")
    return out


# ------------------------------------------------------------------ field-level differences

ACTION_NAMES = {"0-1": "delay", "0-35": "delay until date", "0-29": "wait for criteria", "0-3": "create task",
                "0-5": "set property", "0-8": "internal email", "0-9": "in-app notification",
                "0-4": "marketing email", "0-14": "create record", "0-11": "rotate owner"}
UNIT_MINUTES = {"MINUTES": 1, "HOURS": 60, "DAYS": 1440, "WEEKS": 10080}
MAX_CHANGES = 12


def flow_changes(old: dict, new: dict) -> list[str]:
    """What differs between two workflows' contents, one readable line each, the first
    MAX_CHANGES of them (`delay 24 → 20 hours`, `name "…24 hours" → "…20 hours"`,
    `action 12 added (delay 4 hours)`). Actions are aligned by what they do, not by their ids:
    the generator numbers actions in order, so one inserted action renumbers all later ones."""
    lines: list[str] = []
    if old.get("name") != new.get("name"):
        lines.append("name " + _pair(old.get("name"), new.get("name")))
    if old.get("description") != new.get("description"):
        lines.append("description " + _pair(old.get("description"), new.get("description")))
    lines += _actions_changes([a for a in old.get("actions") or [] if isinstance(a, dict)],
                              [a for a in new.get("actions") or [] if isinstance(a, dict)])
    for key in ("enrollmentCriteria", "canEnrollFromSalesforce", "suppressionListIds", "customProperties", "type",
                "objectTypeId", "flowType", "dataSources"):
        if old.get(key) != new.get(key):
            label = "enrolment" if key == "enrollmentCriteria" else key
            lines += [f"{label}{path}: {change}" for path, change in _leaf_changes(old.get(key), new.get(key))]
    if old.get("timeWindows") != new.get("timeWindows"):
        lines.append(f"time windows {_windows(old.get('timeWindows'))} → {_windows(new.get('timeWindows'))}")
    if old.get("blockedDates") != new.get("blockedDates"):
        before, after = _dates(old.get("blockedDates")), _dates(new.get("blockedDates"))
        added, removed = sorted(after - before), sorted(before - after)
        parts = ([f"added {', '.join(added[:5])}{' …' if len(added) > 5 else ''}"] if added else []) + \
                ([f"removed {', '.join(removed[:5])}{' …' if len(removed) > 5 else ''}"] if removed else [])
        lines.append("blocked dates: " + ("; ".join(parts) or "reordered"))
    if not lines and old != new:
        lines.append("the order of the actions changed")
    if len(lines) > MAX_CHANGES:
        lines = lines[:MAX_CHANGES] + [f"… and {len(lines) - MAX_CHANGES} more"]
    return lines


def _actions_changes(old: list[dict], new: list[dict]) -> list[str]:
    from difflib import SequenceMatcher

    old_sig, new_sig = [_action_signature(a) for a in old], [_action_signature(a) for a in new]
    lines: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old_sig, new_sig, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(paired):
            lines += _action_changes(new[j1 + k], old[i1 + k], new[j1 + k])
        for action in old[i1 + paired:i2]:
            lines.append(f"action {action.get('actionId')} removed ({_action_summary(action)})")
        for action in new[j1 + paired:j2]:
            lines.append(f"action {action.get('actionId')} added ({_action_summary(action)})")
    return lines


def _action_signature(action: dict) -> str:
    """An action without its id and the ids it points to: what it does."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("actionId", "nextActionId")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(action), sort_keys=True, ensure_ascii=False)


def _action_changes(where: dict, before: dict, after: dict) -> list[str]:
    label = f"action {where.get('actionId')} ({_action_name(after)}"
    if after.get("actionTypeId") == "0-5" and isinstance((after.get("fields") or {}).get("property_name"), str):
        label += f" {after['fields']['property_name']}"
    label += ")"
    if before.get("actionTypeId") != after.get("actionTypeId") or before.get("type") != after.get("type"):
        return [f"{label}: was {_action_summary(before)}, now {_action_summary(after)}"]
    fields_before, fields_after = before.get("fields") or {}, after.get("fields") or {}
    lines = []
    if after.get("actionTypeId") == "0-1" and any(fields_before.get(k) != fields_after.get(k)
                                                   for k in ("delta", "time_unit")):
        lines.append(_delay_change(fields_before, fields_after))
        fields_before = {k: v for k, v in fields_before.items() if k not in ("delta", "time_unit")}
        fields_after = {k: v for k, v in fields_after.items() if k not in ("delta", "time_unit")}
    rest_before = {**_without_ids(before), "fields": fields_before}
    rest_after = {**_without_ids(after), "fields": fields_after}
    lines += [f"{label}{path}: {change}" for path, change in _leaf_changes(rest_before, rest_after)]
    return lines


def _without_ids(action: dict) -> dict:
    return json.loads(_action_signature(action))


def _action_summary(action: dict) -> str:
    name = _action_name(action)
    fields = action.get("fields") or {}
    if action.get("actionTypeId") == "0-1" and "delta" in fields:
        return f"{name} {fields.get('delta')} {str(fields.get('time_unit', '')).lower()}"
    if action.get("actionTypeId") == "0-5" and "property_name" in fields:
        value = (fields.get("value") or {})
        shown = value.get("staticValue", value.get("type", "")) if isinstance(value, dict) else value
        return f"{name} {fields['property_name']} = {_show(shown)}"
    if "subject" in fields:
        return f"{name} {_show(fields['subject'])}"
    return name


def _delay_change(before: dict, after: dict) -> str:
    unit_a, unit_b = str(before.get("time_unit", "MINUTES")), str(after.get("time_unit", "MINUTES"))
    try:
        delta_a, delta_b = int(str(before.get("delta"))), int(str(after.get("delta")))
    except ValueError:
        return f"delay {before.get('delta')} {unit_a.lower()} → {after.get('delta')} {unit_b.lower()}"
    if unit_a == unit_b:
        return f"delay {delta_a} → {delta_b} {unit_a.lower()}"
    minutes_a = delta_a * UNIT_MINUTES.get(unit_a, 1)
    minutes_b = delta_b * UNIT_MINUTES.get(unit_b, 1)
    return f"delay {minutes_a} → {minutes_b} minutes"


def _leaf_changes(old: Any, new: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            if old.get(key) != new.get(key):
                out += _leaf_changes(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}")
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                out += _leaf_changes(a, b, f"{path}[{index}]")
        return out
    return [(path, _pair(old, new))]


def _pair(old: Any, new: Any, context: int = 18) -> str:
    """`old → new`; two long texts are cut to the part that differs, with a little context
    (`"…within 24 hours…" → "…within 20 hours…"`)."""
    if not (isinstance(old, str) and isinstance(new, str)) or max(len(old), len(new)) <= 60:
        return f"{_show(old)} → {_show(new)}"
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    begin = max(start - context, 0)

    def middle(text: str) -> str:
        stop = len(text) - max(end - context, 0)
        piece = text[begin:stop]
        cut_here = len(piece) > 80
        piece = piece[:79] if cut_here else piece
        return json.dumps(("…" if begin else "") + piece + ("…" if cut_here or stop < len(text) else ""),
                          ensure_ascii=False)

    return f"{middle(old)} → {middle(new)}"


class _Absent:
    def __repr__(self) -> str:
        return "(none)"


_ABSENT = _Absent()


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(none)"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return f"{len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "{…}"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…\""


def _action_name(action: dict) -> str:
    kind = action.get("type")
    if kind == "SINGLE_CONNECTION":
        return ACTION_NAMES.get(str(action.get("actionTypeId")), f"action type {action.get('actionTypeId')}")
    return {"LIST_BRANCH": "if/then branch", "STATIC_BRANCH": "value branch", "WEBHOOK": "webhook",
            "CUSTOM_CODE": "custom code", "AB_TEST_BRANCH": "A/B branch"}.get(str(kind), str(kind))


def _windows(windows: Any) -> str:
    if not windows:
        return "none"
    out = []
    for w in windows:
        if not isinstance(w, dict):
            continue
        start, end = w.get("startTime") or {}, w.get("endTime") or {}
        out.append(f"{str(w.get('day', '?'))[:3].title()} {start.get('hour', 0):02d}:{start.get('minute', 0):02d}–"
                   f"{end.get('hour', 0):02d}:{end.get('minute', 0):02d}")
    return ", ".join(out)


def _dates(dates: Any) -> set[str]:
    months = ("JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER",
              "NOVEMBER", "DECEMBER")
    out = set()
    for d in dates or []:
        if isinstance(d, dict):
            month = months.index(d["month"]) + 1 if d.get("month") in months else 0
            out.add(f"{d.get('year', 0):04d}-{month:02d}-{d.get('dayOfMonth', 0):02d}")
    return out


# ------------------------------------------------------------------ apply


@dataclass
class Outcome:
    """What apply did to one object, for the receipt."""

    kind: str
    key: str
    name: str
    action: str  # created | updated | turned off | deleted | unchanged | … | failed | not reached
    hubspot_id: str | None = None
    revision: str | None = None
    clauses: list[str] = field(default_factory=list)
    hash: str | None = None


class Applier:
    """Carries out a plan, one object at a time, in dependency order (group, properties, then
    workflows, then retirements), calling `record` after every object so that a receipt on disk
    always says what was done before the process stopped."""

    def __init__(self, portal: Portal, result: Plan, *, echo: Callable[[str], None],
                 record: Callable[[list[Outcome]], None]) -> None:
        self.portal = portal
        self.plan = result
        self.echo = echo
        self.record = record
        self.outcomes: list[Outcome] = [_outcome_of(item, "not reached" if item.pending else item.action)
                                        for item in result.items if item.kind != "required"]
        self.known_flow_ids = set(result.state.flow_ids) if result.state else set()

    def run(self) -> list[Outcome]:
        order = {"group": 0, "property": 1, "workflow": 2}
        items = [i for i in self.plan.items if i.kind in order]
        indexed = sorted(enumerate(items), key=lambda pair: (order[pair[1].kind],
                                                             pair[1].action in (RETIRE, DELETE), pair[0]))
        for index, item in indexed:
            if not item.pending:
                continue
            try:
                done = self.apply_item(item)
            except HubSpotError:
                self.outcomes[index].action = "failed"
                self.record(self.outcomes)
                raise
            self.outcomes[index] = done
            self.record(self.outcomes)
        return self.outcomes

    def apply_item(self, item: Item) -> Outcome:
        if item.kind == "group":
            found = self.create_named(item, self.portal.create_group, lambda: self.portal.get_group(item.key),
                                      compatible=lambda found: True)
            self.echo(f"{'found' if found else 'created'} property group {item.key}")
            return _outcome_of(item, "exists" if found else "created")
        if item.kind == "property":
            if item.action == CREATE:
                found = self.create_named(
                    item, self.portal.create_property, lambda: self.portal.get_property(item.key),
                    compatible=lambda found: plan_property(item.body, found, []).action in (UNCHANGED, UPDATE))
                if found is None:
                    self.echo(f"created property {item.key}")
                    return _outcome_of(item, "created")
                then = plan_property(item.body, found, item.clauses)
                if then.action == UNCHANGED:
                    self.echo(f"found property {item.key}: it matches")
                    return _outcome_of(item, "exists")
                item.current, item.changes = found, then.changes
            update = property_update(item.body, item.current or {}, self.plan.desired.policy_id)
            self.portal.update_property(item.key, update)
            self.echo(f"updated property {item.key}: {'; '.join(item.changes)}")
            return _outcome_of(item, "updated")
        if item.action == CREATE:
            return self.create_flow(item)
        if item.action == UPDATE:
            return self.update_flow(item)
        if item.action == RETIRE:
            return self.turn_off(item)
        if item.action == DELETE:
            self.portal.delete_flow(item.hubspot_id, item.name)
            self.echo(f"deleted workflow {item.name} (id {item.hubspot_id}): {item.note}")
            return _outcome_of(item, "deleted")
        raise AssertionError(item.action)  # pragma: no cover

    # -- creates: reconcile before every retry
    def reconciled(self, what: str, send: Callable[[], Any], look: Callable[[], Any]) -> tuple[Any, bool]:
        """`send()` until it succeeds; after an uncertain failure, `look()` first: when it finds
        the object, the earlier attempt was committed. Returns (result, found_by_looking)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return send(), False
            except Uncertain as exc:
                if attempt >= self.portal.attempts:
                    raise HubSpotError(f"{exc}; after {attempt} attempts it is not in the portal: run the deploy "
                                       "again (it looks before it creates, so nothing is made twice)",
                                       exc.status) from None
                wait = backoff(attempt)
                self.portal.wait(wait, f"{exc}; looking in the portal in {wait:g}s before trying again")
                found = look()
                if found is not None:
                    self.portal.log(f"found it: the earlier attempt to {what} was committed")
                    return found, True

    def create_named(self, item: Item, create: Callable[[dict], Response], read: Callable[[], dict | None],
                     compatible: Callable[[dict], bool]) -> dict | None:
        """Create a group or property (unique by name). Returns None when this request created
        it, or the existing one: committed by an earlier attempt, or there already (409)."""
        result, found = self.reconciled(f"create {item.kind} {item.key}", lambda: create(item.body), read)
        if found:
            return result
        if result.status != 409:
            return None
        existing = read()
        if existing is None or not compatible(existing):
            raise HubSpotError(f"HubSpot says the {item.kind} {item.key} exists (409) but it "
                               f"{'cannot be read' if existing is None else 'does not match the policy'}"
                               "; run the plan again to see it", 409)
        self.portal.log(f"{item.kind} {item.key} exists already (409) and matches: it is used")
        return existing

    def create_flow(self, item: Item) -> Outcome:
        body = item.body
        result, found = self.reconciled(f"create workflow {item.key}", lambda: self.portal.create_flow(body),
                                        lambda: self.find_created(item.key))
        flow = result if found else (result.body if isinstance(result.body, dict) else {})
        flow_id = _text(flow.get("id"))
        if flow_id:
            self.known_flow_ids.add(flow_id)
        self.echo(f"created workflow {item.name}" + (f" (id {flow_id}, turned off)" if flow_id else " (turned off)"))
        return _outcome_of(item, "created", hubspot_id=flow_id, revision=_text(flow.get("revisionId")))

    def find_created(self, key: str) -> dict | None:
        """A workflow of ours with this key among those the portal lists that were not there
        when the plan read it."""
        fresh = [i for i in self.portal.list_flow_ids() if i not in self.known_flow_ids]
        for flow in self.portal.read_flows(fresh):
            marker = marker_of(flow.get("description"))
            if marker and marker.policy == self.plan.desired.policy_id and marker.clause == key:
                return flow
        return None

    def update_flow(self, item: Item) -> Outcome:
        wanted = flow_content(item.body)
        current = item.current or {}

        def put() -> dict:
            body = put_body(item.body, current, is_enabled=bool(current.get("isEnabled")))
            response = self.portal.put_flow(item.hubspot_id, body, f"update the workflow “{item.name}” "
                                                                   f"(id {item.hubspot_id})")
            return response.body if isinstance(response.body, dict) else {}

        def look() -> dict | None:
            nonlocal current
            found = self.portal.get_flow(item.hubspot_id)
            if found is None:
                raise HubSpotError(f"workflow {item.hubspot_id} (“{item.name}”) disappeared while deploying; "
                                   "run the deploy again")
            if flow_content(found) == wanted:
                return found
            if _text(found.get("revisionId")) != _text(current.get("revisionId")) and \
                    flow_content(found) != flow_content(current):
                raise HubSpotError(f"workflow {item.hubspot_id} (“{item.name}”) was changed in HubSpot while "
                                   "deploying; run the plan again")
            current = found  # same content, maybe a new revision: try again with it
            return None

        flow, _ = self.reconciled(f"update workflow {item.key}", put, look)
        self.echo(f"updated workflow {item.name} (id {item.hubspot_id}): {'; '.join(item.changes[:3])}"
                  + (" …" if len(item.changes) > 3 else ""))
        return _outcome_of(item, "updated", revision=_text(flow.get("revisionId")) or item.revision)

    def turn_off(self, item: Item) -> Outcome:
        current = item.current or {}

        def put() -> dict:
            body = put_body(current, current, is_enabled=False)
            response = self.portal.put_flow(item.hubspot_id, body, f"turn off the workflow “{item.name}” "
                                                                   f"(id {item.hubspot_id})")
            return response.body if isinstance(response.body, dict) else {}

        def look() -> dict | None:
            nonlocal current
            found = self.portal.get_flow(item.hubspot_id)
            if found is None or not found.get("isEnabled"):
                return found or {}
            current = found
            return None

        flow, _ = self.reconciled(f"turn off workflow {item.key}", put, look)
        self.echo(f"turned off workflow {item.name} (id {item.hubspot_id}): {item.note}")
        return _outcome_of(item, "turned off", revision=_text(flow.get("revisionId")) or item.revision)


def put_body(content: dict, current: dict, *, is_enabled: bool) -> dict:
    """An `ApiContactFlowPutRequest`: the fields a PUT takes from `content`, the portal's
    current `revisionId`, and `isEnabled` as given."""
    body = {key: value for key, value in content.items() if key in PUT_FIELDS}
    body["revisionId"] = _text(current.get("revisionId")) or ""
    body["isEnabled"] = is_enabled
    return body


def _outcome_of(item: Item, action: str, *, hubspot_id: str | None = None, revision: str | None = None) -> Outcome:
    if item.kind == "workflow":
        digest = flow_hash(item.body) if item.body is not None else (
            flow_hash(item.current) if item.current is not None else None)
    elif item.kind == "property":
        digest = property_hash(item.body or item.current or {})
    else:
        digest = None
    return Outcome(item.kind, item.key, item.name, action, hubspot_id or item.hubspot_id,
                   revision or item.revision, list(item.clauses), digest)


# ------------------------------------------------------------------ small helpers


def _parse(data: Any) -> Any:
    if data is None or data == b"":
        return None
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    try:
        return json.loads(data)
    except (TypeError, ValueError):
        return data


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: fall back to back-off
    return seconds if seconds >= 0 else None


def _quote(segment: str) -> str:
    return urllib.parse.quote(str(segment), safe="")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _id_order(value: Any) -> tuple[int, str]:
    text = str(value)
    return (int(text), text) if text.isdigit() else (1 << 62, text)
