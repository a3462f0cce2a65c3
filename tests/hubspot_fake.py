"""A stand-in HubSpot portal for the `sla deploy` tests: it keeps state, checks every request
body against HubSpot's published OpenAPI request schemas (tests/hubspot_spec), and injects
faults on demand.

It answers the endpoints `sla deploy` uses, the way HubSpot's specs describe them:
- Automation v4: `GET /automation/v4/flows` (`ApiFlowListing`s, 100 a page by default, cursor in
  `paging.next.after`), `POST /automation/v4/flows/batch/read` (`BatchResponseApiFlow`, 207 with
  errors for unknown ids), `POST /automation/v4/flows` (201 `ApiFlow`), `GET|PUT|DELETE
  /automation/v4/flows/{flowId}` (a PUT must carry the current `revisionId`; each PUT makes a
  new revision);
- CRM Properties v3: `GET /crm/v3/properties/contacts`, `GET|POST …/groups[/{name}]`,
  `GET|PATCH /crm/v3/properties/contacts/{name}`, `POST /crm/v3/properties/contacts`
  (409 when the name is taken; the group must exist);
- Account Info v3: `GET /account-info/v3/details`; CRM Owners v3: `GET /crm/v3/owners` (paged).
A body that HubSpot's schema rejects (or that carries a field the schema does not declare) is
answered 400 and recorded in `violations`; the tests require that list to stay empty.

Faults are queued with `fault(kind, method=…, path=…, nth=…)` and fire on the matching request:
`429` (optionally with `Retry-After`), `500` (before anything is done), `500-after` (the request
is carried out, then 500), `timeout-after` (carried out, then no answer until the client gave
up), `401`, `400`, `kill-before` /
`kill-after` (SIGKILL the client process, before or after carrying the request out), and
`exists-before` / `taken-before` (just before the request arrives, someone else creates the
same property, or a different one with that name).
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from .hubspot_spec import AUTOMATION_V4, PROPERTIES_V3, spec_errors

TOKEN = "pat-na1-0000-SECRET-TOKEN-1234"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
STAMP = "2026-04-01T09:00:00Z"


@dataclass
class Fault:
    kind: str
    method: str | None = None
    path: str | None = None  # a regular expression matched against the whole path
    nth: int = 1  # fire on the n-th matching request
    retry_after: str | None = None
    seen: int = 0
    fired: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.fired or (self.method and method != self.method):
            return False
        if self.path and not re.fullmatch(self.path, path):
            return False
        self.seen += 1
        return self.seen == self.nth


@dataclass
class FakeHubSpot:
    time_zone: str = "Asia/Tokyo"
    validate: bool = True  # check request bodies against HubSpot's schemas (off only to time the client)
    hang_seconds: float = 0.4  # how long a `timeout-after` fault keeps the client waiting
    flows: dict[str, dict] = field(default_factory=dict)
    properties: dict[str, dict] = field(default_factory=dict)
    groups: dict[str, dict] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    owners: list[dict] = field(default_factory=list)  # PublicOwner objects
    client_pid: int | None = None
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ set-up
    def install(self, server) -> FakeHubSpot:
        server.expect_request(re.compile("^/.*")).respond_with_handler(self.handle)
        return self

    def fault(self, kind: str, *, method: str | None = None, path: str | None = None, nth: int = 1,
              retry_after: str | None = None) -> Fault:
        fault = Fault(kind, method, path, nth, retry_after)
        self.faults.append(fault)
        return fault

    def fault_on_write(self, kind: str, nth: int) -> Fault:
        """A fault on the n-th write request (POST/PUT/PATCH/DELETE, batch reads excluded)."""
        fault = self.fault(kind, nth=nth)
        fault.method = "WRITE"
        return fault

    def add_foreign_flow(self, name: str, description: str = "made by a person", *, enabled: bool = True) -> dict:
        flow_id = self._new_id()
        flow = {"id": flow_id, "revisionId": "1", "type": "CONTACT_FLOW", "objectTypeId": "0-1", "flowType": "WORKFLOW",
                "name": name, "description": description, "isEnabled": enabled, "startActionId": "1",
                "nextAvailableActionId": "2", "createdAt": STAMP, "updatedAt": STAMP, "crmObjectCreationStatus":
                "COMPLETE", "canEnrollFromSalesforce": False, "blockedDates": [], "timeWindows": [], "dataSources": [],
                "suppressionListIds": [], "customProperties": {},
                "actions": [{"actionId": "1", "type": "SINGLE_CONNECTION", "actionTypeId": "0-1", "actionTypeVersion": 0,
                             "fields": {"delta": "1", "time_unit": "DAYS"}}]}
        self.flows[flow_id] = flow
        return flow

    def add_property(self, name: str, type_: str = "string", field_type: str = "text", *, options=(),
                     group: str = "contactinformation", description: str = "") -> dict:
        prop = {"name": name, "label": name, "type": type_, "fieldType": field_type, "groupName": group,
                "description": description, "displayOrder": -1, "hidden": False, "formField": False,
                "options": [{"label": o, "value": o, "displayOrder": i, "hidden": False} for i, o in enumerate(options)],
                "createdAt": STAMP, "updatedAt": STAMP}
        self.properties[name] = prop
        return prop

    def add_owner(self, user_id: int, *teams: str, archived: bool = False) -> dict:
        owner = {"id": str(user_id + 5000), "userId": user_id, "email": f"user{user_id}@example.com", "type": "PERSON",
                 "archived": archived, "createdAt": STAMP, "updatedAt": STAMP,
                 "teams": [{"id": t, "name": f"Team {t}", "primary": i == 0} for i, t in enumerate(teams)]}
        self.owners.append(owner)
        return owner

    def snapshot(self) -> dict:
        return copy.deepcopy({"flows": self.flows, "properties": self.properties, "groups": self.groups})

    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.log if method in WRITES and not path.endswith("/batch/read")]

    # ------------------------------------------------------------------ the handler
    def handle(self, request: Request) -> Response:
        method, path = request.method, request.path
        body = None
        if request.data:
            try:
                body = json.loads(request.data)
            except ValueError:
                return _json({"status": "error", "message": "Invalid input JSON", "category": "VALIDATION_ERROR"}, 400)
        with self.lock:
            self.log.append((method, path, body))
            fault = self._fault_for(method, path)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json({"status": "error", "message": "Authentication credentials not found.",
                          "category": "INVALID_AUTHENTICATION"}, 401)
        kind = fault.kind if fault else None
        if kind == "429":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return _json({"status": "error", "message": "You have reached your secondly limit.",
                          "category": "RATE_LIMITS"}, 429, headers)
        if kind in ("500", "503"):
            return _json({"status": "error", "message": "internal error", "correlationId": "c0ffee"}, int(kind))
        if kind in ("401", "400", "403"):
            return _json({"status": "error", "message": f"refused ({kind})", "category": "VALIDATION_ERROR"}, int(kind))
        if kind == "kill-before":
            self._kill()
            return _json({"message": "too late"}, 500)
        if kind == "exists-before" and method == "POST" and isinstance(body, dict) and body.get("name"):
            with self.lock:
                self.properties.setdefault(body["name"], self._stored_property(body))
        if kind == "taken-before" and method == "POST" and isinstance(body, dict) and body.get("name"):
            with self.lock:
                self.add_property(body["name"], "string", "text", description="someone else's")
        with self.lock:
            response = self._route(method, path, request, body)
        if kind == "500-after":
            return _json({"status": "error", "message": "internal error", "correlationId": "c0ffee"}, 500)
        if kind == "timeout-after":
            time.sleep(self.hang_seconds)
            return response
        if kind == "kill-after":
            self._kill()
        return response

    def _fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            wanted = fault.method
            if wanted == "WRITE":
                if method not in WRITES or path.endswith("/batch/read"):
                    continue
                fault.method = None
                hit = fault.matches(method, path)
                fault.method = "WRITE"
            else:
                hit = fault.matches(method, path)
            if hit:
                fault.fired = True
                return fault
        return None

    def _kill(self) -> None:
        if self.client_pid:
            os.kill(self.client_pid, signal.SIGKILL)

    def _new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def _invalid(self, schema: str, spec: str, body: Any, where: str) -> Response | None:
        problems = spec_errors(spec, schema, body) if self.validate else []
        if not problems:
            return None
        self.violations += [f"{where} ({schema}): {p}" for p in problems]
        return _json({"status": "error", "message": "Invalid input: " + "; ".join(problems[:3]),
                      "category": "VALIDATION_ERROR"}, 400)

    # ------------------------------------------------------------------ routes
    def _route(self, method: str, path: str, request: Request, body: Any) -> Response:
        where = f"{method} {path}"
        if path == "/account-info/v3/details" and method == "GET":
            return _json({"portalId": 4242, "timeZone": self.time_zone, "accountType": "STANDARD",
                          "additionalCurrencies": [], "companyCurrency": "JPY", "dataHostingLocation": "na1",
                          "uiDomain": "app.hubspot.com", "utcOffset": "+09:00", "utcOffsetMilliseconds": 32400000})
        if path == "/crm/v3/owners" and method == "GET":
            start = int(request.args.get("after", 0))
            limit = int(request.args.get("limit", 100))
            page: dict = {"results": self.owners[start:start + limit]}
            if start + limit < len(self.owners):
                page["paging"] = {"next": {"after": str(start + limit)}}
            return _json(page)
        if path == "/crm/v3/properties/contacts/groups" and method == "POST":
            bad = self._invalid("PropertyGroupCreate", PROPERTIES_V3, body, where)
            if bad:
                return bad
            if body["name"] in self.groups:
                return _json({"status": "error", "message": "group exists", "category": "OBJECT_ALREADY_EXISTS"}, 409)
            self.groups[body["name"]] = {"archived": False, "displayOrder": body.get("displayOrder", -1), **body}
            return _json(self.groups[body["name"]], 201)
        found = re.fullmatch(r"/crm/v3/properties/contacts/groups/([^/]+)", path)
        if found and method == "GET":
            group = self.groups.get(found[1])
            return _json(group) if group else _not_found()
        if path == "/crm/v3/properties/contacts" and method == "GET":
            return _json({"results": list(self.properties.values())})
        if path == "/crm/v3/properties/contacts" and method == "POST":
            bad = self._invalid("PropertyCreate", PROPERTIES_V3, body, where)
            if bad:
                return bad
            if body["name"] in self.properties:
                return _json({"status": "error", "message": f"Property named '{body['name']}' already exists.",
                              "category": "OBJECT_ALREADY_EXISTS"}, 409)
            if body["groupName"] not in self.groups and body["groupName"] != "contactinformation":
                return _json({"status": "error", "message": f"group {body['groupName']} does not exist",
                              "category": "VALIDATION_ERROR"}, 400)
            self.properties[body["name"]] = self._stored_property(body)
            return _json(self.properties[body["name"]], 201)
        found = re.fullmatch(r"/crm/v3/properties/contacts/([^/]+)", path)
        if found and method == "GET":
            prop = self.properties.get(found[1])
            return _json(prop) if prop else _not_found()
        if found and method == "PATCH":
            bad = self._invalid("PropertyUpdate", PROPERTIES_V3, body, where)
            if bad:
                return bad
            prop = self.properties.get(found[1])
            if prop is None:
                return _not_found()
            prop.update(copy.deepcopy(body))  # `options` replaces the whole list (PATCH semantics)
            return _json(prop)
        if path == "/automation/v4/flows" and method == "GET":
            ids = sorted(self.flows, key=int)
            after = request.args.get("after")
            limit = int(request.args.get("limit", 100))
            start = ids.index(after) + 1 if after in ids else 0
            page = ids[start:start + limit]
            listing = [{k: self.flows[i][k] for k in ("id", "revisionId", "isEnabled", "objectTypeId", "flowType",
                                                      "name", "createdAt", "updatedAt")} for i in page]
            result: dict = {"results": listing}
            if start + limit < len(ids):
                result["paging"] = {"next": {"after": page[-1]}}
            return _json(result)
        if path == "/automation/v4/flows/batch/read" and method == "POST":
            bad = self._invalid("ApiFlowBatchInput", AUTOMATION_V4, body, where)
            if bad:
                return bad
            wanted = [i["flowId"] for i in body["inputs"]]
            results = [self.flows[i] for i in wanted if i in self.flows]
            missing = [i for i in wanted if i not in self.flows]
            out = {"status": "COMPLETE", "results": results, "startedAt": STAMP, "completedAt": STAMP}
            if missing:
                out["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": f"flow {i} not found",
                                  "context": {}, "errors": [], "links": {}} for i in missing]
                out["numErrors"] = len(missing)
                return _json(out, 207)
            return _json(out)
        if path == "/automation/v4/flows" and method == "POST":
            bad = self._invalid("ApiFlowCreateRequest", AUTOMATION_V4, body, where)
            if bad:
                return bad
            flow_id = self._new_id()
            actions = [a.get("actionId") for a in body.get("actions", [])]
            numeric = [int(a) for a in actions if str(a).isdigit()]
            flow = {**copy.deepcopy(body), "id": flow_id, "revisionId": "1", "createdAt": STAMP, "updatedAt": STAMP,
                    "crmObjectCreationStatus": "COMPLETE", "nextAvailableActionId": str(max(numeric, default=0) + 1)}
            self.flows[flow_id] = flow
            return _json(flow, 201)
        found = re.fullmatch(r"/automation/v4/flows/(\d+)", path)
        if found:
            flow = self.flows.get(found[1])
            if method == "GET":
                return _json(flow) if flow else _not_found()
            if method == "DELETE":
                if flow is None:
                    return _not_found()
                del self.flows[found[1]]
                return Response(status=204)
            if method == "PUT":
                bad = self._invalid("ApiFlowPutRequest", AUTOMATION_V4, body, where)
                if bad:
                    return bad
                if flow is None:
                    return _not_found()
                if body["revisionId"] != flow["revisionId"]:
                    return _json({"status": "error", "message": "revisionId is not the latest revision",
                                  "category": "CONFLICT"}, 409)
                updated = {k: v for k, v in flow.items() if k in ("id", "objectTypeId", "flowType", "dataSources",
                                                                  "createdAt", "crmObjectCreationStatus", "uuid")}
                updated.update(copy.deepcopy({k: v for k, v in body.items() if k != "revisionId"}))
                updated["revisionId"] = str(int(flow["revisionId"]) + 1)
                updated["updatedAt"] = STAMP
                numeric = [int(a["actionId"]) for a in updated.get("actions", []) if str(a.get("actionId")).isdigit()]
                updated["nextAvailableActionId"] = str(max(numeric, default=0) + 1)
                self.flows[found[1]] = updated
                return _json(updated)
        return _json({"status": "error", "message": f"no route {method} {path}", "category": "NOT_FOUND"}, 404)

    @staticmethod
    def _stored_property(body: dict) -> dict:
        return {"options": [], "hidden": False, "formField": False, "createdAt": STAMP, "updatedAt": STAMP,
                **copy.deepcopy(body)}


def _json(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, headers=headers or {},
                    content_type="application/json")


def _not_found() -> Response:
    return _json({"status": "error", "message": "resource not found", "category": "OBJECT_NOT_FOUND",
                  "correlationId": "c0ffee00-0000-4000-8000-000000000000"}, 404)
