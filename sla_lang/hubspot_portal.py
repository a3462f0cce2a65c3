"""Talking to a HubSpot portal for `sla deploy hubspot`: read what exists, plan, create.

Uses the official `hubspot-api-client` (the optional extra `sla-lang[hubspot]`, imported only
here): its CRM Properties API for property groups and properties, and its API client's
generic `call_api` for the Automation v4 flows endpoints, which the client has no typed
methods for (`GET/POST /automation/v4/flows`, `GET /automation/v4/flows/{flowId}`).

Rate limits and failures: HubSpot answers 429 when a portal's burst or daily limit is
reached (API usage guidelines, https://developers.hubspot.com/docs/api/usage-details). A 429
is retried after the `Retry-After` seconds when HubSpot sends them (shared/hubspot.md),
otherwise with exponential back-off (1, 2, 4, 8 s); 5xx is retried the same way; other 4xx
fail at once with HubSpot's own message. The access token is only ever put in the Authorization header:
every message that leaves this module is scrubbed of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OBJECT_TYPE = "contacts"
MAX_ATTEMPTS = 5
MAX_WAIT = 60.0  # seconds; a longer Retry-After is capped
TIMEOUT = 30.0  # seconds per request


def _sleep(seconds: float) -> None:  # replaced in tests
    time.sleep(seconds)


class HubSpotError(Exception):
    """A request failed for good; the message is plain and safe to show."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or the text when it is not JSON


@dataclass
class Call:
    """One request: what it is for (for messages), and how to make it."""

    what: str
    send: Callable[[], Any]


class Portal:
    def __init__(self, token: str, base_url: str = "https://api.hubapi.com", *, timeout: float = TIMEOUT,
                 log: Callable[[str], None] = lambda line: None) -> None:
        try:
            import hubspot
            from urllib3.util.retry import Retry
        except ImportError as exc:  # pragma: no cover - exercised only without the extra
            raise HubSpotError("`sla deploy hubspot` needs the HubSpot client: pip install 'sla-lang[hubspot]'") from exc
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.log = log
        # urllib3 may retry a refused connection, nothing else: rate limits and server errors are
        # handled below, the same way for every method (urllib3 would retry only GETs).
        retry = Retry(total=None, connect=2, read=0, redirect=0, status=0, other=0,
                      respect_retry_after_header=False, raise_on_status=False)
        self.client = hubspot.Client.create(access_token=token, host=self.base_url, retry=retry)
        self.calls = 0

    # ------------------------------------------------------------------ plumbing
    def scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def request(self, call: Call, *, ok_statuses: tuple[int, ...] = ()) -> Response:
        """Send `call`, retrying 429 and 5xx. Returns 2xx responses and the `ok_statuses`
        (e.g. 404 for "does not exist yet"); raises HubSpotError for anything else."""
        from hubspot.crm.properties.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                raw = call.send()
                response = Response(raw.status, _headers(raw), _parse(raw.data))
            except ApiException as exc:
                response = Response(exc.status or 0, _headers_of_exception(exc), _parse(exc.body))
            except HTTPError as exc:
                reason = getattr(exc, "reason", None) or exc
                raise HubSpotError(self.scrub(f"cannot reach HubSpot at {self.base_url} ({call.what}): {reason}"))
            if 200 <= response.status < 300 or response.status in ok_statuses:
                return response
            retryable = response.status == 429 or response.status >= 500
            if not retryable or attempt >= MAX_ATTEMPTS:
                raise HubSpotError(self.scrub(self.describe(call.what, response, attempt)), response.status)
            wait = _retry_after(response.headers)
            if wait is None:
                wait = float(2 ** (attempt - 1))
            wait = min(wait, MAX_WAIT)
            reason = "rate limited" if response.status == 429 else f"HubSpot error {response.status}"
            self.log(f"{reason} on {call.what}; retrying in {wait:g}s (attempt {attempt + 1} of {MAX_ATTEMPTS})")
            _sleep(wait)

    @staticmethod
    def describe(what: str, response: Response, attempts: int) -> str:
        body = response.body if isinstance(response.body, dict) else {}
        message = body.get("message") or (response.body if isinstance(response.body, str) else "") or ""
        message = " ".join(str(message).split())[:500]
        correlation = f" (correlation id {body['correlationId']})" if body.get("correlationId") else ""
        status = response.status
        if status == 401:
            text = f"HubSpot rejected the access token (401) on {what}: check HUBSPOT_ACCESS_TOKEN"
        elif status == 403:
            text = (f"the access token may not {what} (403): give the private app the scopes automation, "
                    "crm.schemas.contacts.read and crm.schemas.contacts.write")
        elif status == 429:
            text = f"HubSpot kept rate-limiting {what}: gave up after {attempts} attempts; try again later"
        elif status >= 500:
            text = f"HubSpot failed {attempts} times on {what} (error {status}); try again later"
        else:
            text = f"HubSpot refused to {what} ({status})"
        if message:
            text += f": {message}"
        return text + correlation

    # ------------------------------------------------------------------ endpoints
    def _flows_call(self, what: str, method: str, path: str, *, query: list | None = None, body: Any = None) -> Call:
        api_client = self.client.crm.properties.core_api.api_client
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"

        def send():
            return api_client.call_api(
                path, method, query_params=query or [], header_params=headers, body=body,
                auth_settings=["oauth2"], response_types_map={}, _preload_content=False,
                _request_timeout=self.timeout,
            )

        return Call(what, send)

    def get_group(self, name: str) -> Response:
        api = self.client.crm.properties.groups_api
        return self.request(Call(f"read the property group {name}", lambda: api.get_by_name(
            OBJECT_TYPE, name, _preload_content=False, _request_timeout=self.timeout)), ok_statuses=(404,))

    def create_group(self, body: dict) -> Response:
        api = self.client.crm.properties.groups_api
        return self.request(Call(f"create the property group {body['name']}", lambda: api.create(
            OBJECT_TYPE, body, _preload_content=False, _request_timeout=self.timeout)))

    def get_property(self, name: str) -> Response:
        api = self.client.crm.properties.core_api
        return self.request(Call(f"read the property {name}", lambda: api.get_by_name(
            OBJECT_TYPE, name, _preload_content=False, _request_timeout=self.timeout)), ok_statuses=(404,))

    def create_property(self, body: dict) -> Response:
        api = self.client.crm.properties.core_api
        return self.request(Call(f"create the property {body['name']}", lambda: api.create(
            OBJECT_TYPE, body, _preload_content=False, _request_timeout=self.timeout)))

    def list_flows(self) -> list[dict]:
        """Every workflow of the portal (id and name), following the paging cursor."""
        flows: list[dict] = []
        after: str | None = None
        for _ in range(1000):  # a portal with more than 100 000 workflows is not expected
            query = [("limit", 100)] + ([("after", after)] if after else [])
            response = self.request(self._flows_call("list the workflows", "GET", "/automation/v4/flows", query=query))
            body = response.body if isinstance(response.body, dict) else {}
            flows += [f for f in body.get("results", []) if isinstance(f, dict)]
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return flows
        raise HubSpotError("the workflow list does not end (paging loops)")

    def get_flow(self, flow_id: str) -> Response:
        return self.request(self._flows_call(f"read workflow {flow_id}", "GET", f"/automation/v4/flows/{flow_id}"))

    def create_flow(self, body: dict) -> Response:
        return self.request(self._flows_call(f"create the workflow “{body['name']}”", "POST", "/automation/v4/flows",
                                             body=body))


# ------------------------------------------------------------------ the plan


@dataclass
class Step:
    kind: str  # group | property | required | workflow
    name: str
    action: str  # create | exists | conflict | missing | ok
    detail: str = ""
    body: dict | None = None
    file: str | None = None

    @property
    def blocking(self) -> bool:
        return self.action in ("conflict", "missing")


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)

    def count(self, *actions: str) -> int:
        return sum(1 for s in self.steps if s.action in actions)

    @property
    def blocked(self) -> bool:
        return any(s.blocking for s in self.steps)


def plan(portal: Portal, bundle: dict[str, Any]) -> Plan:
    """What `deploy` would do, from reading the portal only (GET requests)."""
    from .targets.hubspot.bundle import marker_of

    manifest = bundle["manifest.json"]
    result = Plan()
    group = bundle[manifest["propertyGroup"]["file"]]
    exists = portal.get_group(group["name"]).status != 404
    result.steps.append(Step("group", group["name"], "exists" if exists else "create", body=group,
                             file=manifest["propertyGroup"]["file"]))
    for entry in manifest["properties"]:
        body = bundle[entry["file"]]
        response = portal.get_property(body["name"])
        if response.status == 404:
            result.steps.append(Step("property", body["name"], "create", body=body, file=entry["file"]))
            continue
        problem = property_conflict(body, response.body if isinstance(response.body, dict) else {})
        result.steps.append(Step("property", body["name"], "conflict" if problem else "exists", problem or ""))
    for entry in manifest["existingProperties"]:
        response = portal.get_property(entry["name"])
        if response.status == 404:
            uses = ", ".join(entry["clauses"][:4]) + (" …" if len(entry["clauses"]) > 4 else "")
            result.steps.append(Step("required", entry["name"], "missing",
                                     f"the workflows read it ({uses}); create it in HubSpot or change the "
                                     "policy's `hubspot` mapping"))
        else:
            result.steps.append(Step("required", entry["name"], "ok"))
    by_name: dict[str, list[str]] = {}
    for listed in portal.list_flows():
        if listed.get("name") is not None and listed.get("id") is not None:
            by_name.setdefault(str(listed["name"]), []).append(str(listed["id"]))
    for entry in manifest["workflows"]:
        body = bundle[entry["file"]]
        ours = marker_of(body.get("description"))
        same_name = by_name.get(body["name"], [])
        if not same_name:
            result.steps.append(Step("workflow", body["name"], "create", body=body, file=entry["file"]))
            continue
        markers = {}
        for flow_id in same_name:
            found = portal.get_flow(flow_id).body
            markers[flow_id] = marker_of(found.get("description") if isinstance(found, dict) else None)
        match = [flow_id for flow_id, marker in markers.items() if marker == ours]
        if match:
            result.steps.append(Step("workflow", body["name"], "exists", f"id {match[0]}"))
        else:
            ids = ", ".join(same_name)
            result.steps.append(Step("workflow", body["name"], "conflict",
                                     f"a different workflow has this name (id {ids}); rename or delete it"))
    return result


def property_conflict(ours: dict, theirs: dict) -> str | None:
    """Why an existing property cannot serve as ours, or None when it can."""
    kind, field_type = theirs.get("type"), theirs.get("fieldType")
    if kind != ours["type"]:
        return (f"exists as {kind}/{field_type}; sla-lang needs {ours['type']}/{ours['fieldType']}")
    if kind == "enumeration" and ours.get("options"):
        have = {o.get("value") for o in theirs.get("options", []) if isinstance(o, dict)}
        lacking = [o["value"] for o in ours["options"] if o["value"] not in have]
        if lacking:
            return "lacks the option(s) " + ", ".join(lacking)
    return None


def apply(portal: Portal, plan_: Plan, echo: Callable[[str], None], created: list[Step]) -> list[Step]:
    """Create what the plan says, in order (group, properties, workflows), appending each
    created step to `created` (so the caller knows how far it got when a request fails)."""
    for step in plan_.steps:
        if step.action != "create":
            continue
        if step.kind == "group":
            portal.create_group(step.body)
            echo(f"created property group {step.name}")
        elif step.kind == "property":
            portal.create_property(step.body)
            echo(f"created property {step.name}")
        elif step.kind == "workflow":
            response = portal.create_flow(step.body)
            flow_id = response.body.get("id") if isinstance(response.body, dict) else None
            echo(f"created workflow {step.name}" + (f" (id {flow_id}, turned off)" if flow_id else " (turned off)"))
        created.append(step)
    return created


# ------------------------------------------------------------------ small helpers


def _parse(data: Any) -> Any:
    if data is None:
        return None
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    try:
        return json.loads(data)
    except (TypeError, ValueError):
        return data


def _headers(raw: Any) -> dict[str, str]:
    headers = getattr(raw, "headers", None) or {}
    return {str(k).lower(): str(v) for k, v in dict(headers).items()}


def _headers_of_exception(exc: Any) -> dict[str, str]:
    headers = exc.headers or {}
    return {str(k).lower(): str(v) for k, v in dict(headers).items()}


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: fall back to back-off
    return seconds if seconds >= 0 else None
