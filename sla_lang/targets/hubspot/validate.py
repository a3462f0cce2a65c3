"""Checks every file of the HubSpot target before anything is written.

1. the action graph of each workflow: ids unique, `startActionId` exists, every
   `nextActionId` names an action of the same workflow, every action is reachable from the
   start, no cycle over STANDARD edges and at most one STANDARD edge into an action (a join
   is a GOTO: flows.py);
2. the shape of each file: the keys and types each kind of workflow action, property and the
   manifest need — a hand-written check of the essentials, linear in the output;
3. consistency: every property a workflow reads or writes is created by the target or listed
   as an existing HubSpot property in the manifest, and the manifest lists exactly the files.

The full JSON Schemas (`targets/hubspot/*.schema.json`, `schema_errors`) are the complete
statement of the format; validating every file against them took three quarters of a
1,000-stage build (jsonschema: ~8 ms a workflow), so `sla build` runs 1–3 and the test suite
validates every generated file of every fixture against the schemas and against HubSpot's
published OpenAPI spec (`check_files(files, schemas=True)`).

A failure is a bug in sla-lang, reported as SLA820 with the file and the JSON path.
"""

from __future__ import annotations

import json
import re
from functools import cache

from ...resources import target_dir

SCHEMAS = {
    "flow": "flow.schema.json",
    "property": "property.schema.json",
    "group": "property-group.schema.json",
    "scoring": "scoring.schema.json",
    "manifest": "manifest.schema.json",
}
# Attributes of the property-change event, not contact properties.
EVENT_ATTRIBUTES = {"hs_name", "hs_value"}


@cache
def validator(kind: str):
    import jsonschema

    schema = json.loads((target_dir("hubspot") / SCHEMAS[kind]).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def kind_of(path: str) -> str:
    if path.startswith("workflows/"):
        return "flow"
    if path == "properties/_group.json":
        return "group"
    if path.startswith("properties/"):
        return "property"
    return {"scoring.json": "scoring", "manifest.json": "manifest"}[path]


def json_path(parts) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def schema_errors(kind: str, data: object) -> list[str]:
    """`$.path: message` for each schema violation (the most specific first)."""
    from jsonschema.exceptions import best_match

    errors = list(validator(kind).iter_errors(data))
    if not errors:
        return []
    best = best_match(errors)
    out = [f"{json_path(best.absolute_path)}: {best.message}"]
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        line = f"{json_path(error.absolute_path)}: {error.message}"
        if line not in out:
            out.append(line)
    return out


def _outgoing(index: int, action: dict) -> list[tuple[str, object]]:
    out = []
    if "connection" in action:
        out.append((f"$.actions[{index}].connection", action["connection"]))
    for n, branch in enumerate(action.get("listBranches", [])):
        if "connection" in branch:
            out.append((f"$.actions[{index}].listBranches[{n}].connection", branch["connection"]))
    for n, branch in enumerate(action.get("staticBranches", [])):
        if "connection" in branch:
            out.append((f"$.actions[{index}].staticBranches[{n}].connection", branch["connection"]))
    if "defaultBranch" in action:
        out.append((f"$.actions[{index}].defaultBranch", action["defaultBranch"]))
    return out


def graph_errors(flow: dict) -> list[str]:
    actions = flow.get("actions", [])
    ids = [a.get("actionId") for a in actions]
    errors = []
    seen: set[str] = set()
    for index, action_id in enumerate(ids):
        if action_id in seen:
            errors.append(f"$.actions[{index}].actionId: {action_id!r} is used twice")
        seen.add(action_id)
    if "nextAvailableActionId" in flow:
        errors.append("$.nextAvailableActionId: a response field (ApiContactFlow), not part of the create request")
    start = flow.get("startActionId")
    if start not in seen:
        errors.append(f"$.startActionId: {start!r} is not an action of this workflow")
    edges: dict[str, list[tuple[str, str, str]]] = {i: [] for i in seen}
    standard_into: dict[str, str] = {}
    for index, action in enumerate(actions):
        source = action.get("actionId")
        for where, conn in _outgoing(index, action):
            target = conn.get("nextActionId") if isinstance(conn, dict) else None
            if target is None:
                errors.append(f"{where}: has no nextActionId (HubSpot rejects it)")
            elif target not in seen:
                errors.append(f"{where}.nextActionId: {target!r} is not an action of this workflow")
            else:
                edge = conn.get("edgeType", "STANDARD")
                edges[source].append((target, edge, where))
                if edge == "STANDARD":
                    if target in standard_into:
                        errors.append(f"{where}: a second STANDARD edge into action {target!r} "
                                      f"(the first is {standard_into[target]}); a join must be a GOTO")
                    standard_into[target] = where
    if errors:
        return errors
    reached: set[str] = set()
    stack = [start]
    while stack:
        node = stack.pop()
        if node in reached:
            continue
        reached.add(node)
        stack.extend(target for target, _, _ in edges[node])
    for index, action_id in enumerate(ids):
        if action_id not in reached:
            errors.append(f"$.actions[{index}]: action {action_id!r} cannot be reached from startActionId")
    # cycles over STANDARD edges (an explicit GOTO may loop back on purpose)
    state: dict[str, int] = {}

    def visit(node: str) -> str | None:
        state[node] = 1
        for target, edge_type, where in edges[node]:
            if edge_type == "GOTO":
                continue
            if state.get(target) == 1:
                return where
            if state.get(target) is None:
                found = visit(target)
                if found:
                    return found
        state[node] = 2
        return None

    for node in ids:
        if state.get(node) is None:
            where = visit(node)
            if where:
                errors.append(f"{where}: closes a cycle")
                break
    return errors


def properties_used(flow: dict) -> set[str]:
    names: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if value.get("filterType") == "PROPERTY" and isinstance(value.get("property"), str):
                names.add(value["property"])
            for key in ("property_name", "comparisonPropertyName", "propertyName"):
                if isinstance(value.get(key), str):
                    names.add(value[key])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(flow.get("actions"))
    walk(flow.get("enrollmentCriteria"))
    return names - EVENT_ATTRIBUTES


class Checker:
    """Checks files one at a time (so a build can serialise and drop each as it goes), then
    the consistency between them and the manifest."""

    def __init__(self, *, schemas: bool = False) -> None:
        self.schemas = schemas
        self.problems: list[str] = []
        self.paths: list[str] = []
        self.used: dict[str, set[str]] = {}
        self.manifest: object = None

    def add(self, path: str, data: object, serialised: bytes | None = None) -> None:
        """Check one file; `serialised` (its JSON) lets the properties a workflow uses be
        found by a scan of the text instead of a walk of the data."""
        self.paths.append(path)
        kind = kind_of(path)
        if self.schemas:
            self.problems += [f"{path}: {e}" for e in schema_errors(kind, data)]
        self.problems += [f"{path}: {e}" for e in shape_errors(kind, data)]
        if kind == "flow" and isinstance(data, dict):
            self.problems += [f"{path}: {e}" for e in graph_errors(data)]
            self.used[path] = properties_in(serialised) if serialised is not None else properties_used(data)
        elif kind == "manifest":
            self.manifest = data

    def finish(self) -> list[str]:
        problems = self.problems
        manifest = self.manifest
        if isinstance(manifest, dict) and not problems:
            listed = {manifest["propertyGroup"]["file"], manifest["scoring"]["file"], "manifest.json"}
            listed |= {p["file"] for p in manifest["properties"]} | {w["file"] for w in manifest["workflows"]}
            for path in sorted(set(self.paths) ^ listed):
                where = "is not listed in the manifest" if path in self.paths else "is listed in the manifest but not generated"
                problems.append(f"manifest.json: {path} {where}")
            known = {p["name"] for p in manifest["properties"]} | {p["name"] for p in manifest["existingProperties"]}
            for entry in manifest["workflows"]:
                for name in sorted(self.used.get(entry["file"], set()) - known):
                    problems.append(f"{entry['file']}: property {name!r} is neither created nor listed as existing")
        return problems


# In JSON text a key cannot appear inside a string value (its quotes would be escaped), so these
# keys are found exactly by a scan of the serialised workflow.
_PROPERTY_KEYS_RE = re.compile(rb'"(?:property|property_name|propertyName|comparisonPropertyName)": "([^"\\]*)"')


def properties_in(serialised: bytes) -> set[str]:
    """`properties_used` of a workflow from its JSON text."""
    return {m.decode("utf-8") for m in _PROPERTY_KEYS_RE.findall(serialised)} - EVENT_ATTRIBUTES


def check_files(files: dict[str, object], *, schemas: bool = False) -> list[str]:
    """Every problem as `file: $.path: message`; empty when all is well. With `schemas`, each
    file is also validated against its full JSON Schema (the tests do; builds do not)."""
    checker = Checker(schemas=schemas)
    for path in sorted(files):
        checker.add(path, files[path])
    return checker.finish()


# ------------------------------------------------------------------ shapes (the essentials of the schemas)
_FLOW_KEYS = {
    "type": str, "objectTypeId": str, "flowType": str, "name": str, "description": str, "isEnabled": bool,
    "startActionId": str, "actions": list, "enrollmentCriteria": dict, "timeWindows": list, "blockedDates": list,
    "canEnrollFromSalesforce": bool, "dataSources": list, "suppressionListIds": list, "customProperties": dict,
}
_ACTION_KEYS = {
    "SINGLE_CONNECTION": {"actionId": str, "actionTypeId": str, "actionTypeVersion": int, "fields": dict},
    "LIST_BRANCH": {"actionId": str, "listBranches": list},
    "STATIC_BRANCH": {"actionId": str, "inputValue": dict, "staticBranches": list},
    "CUSTOM_CODE": {"actionId": str, "runtime": str, "sourceCode": str, "inputFields": list, "outputFields": list,
                    "secretNames": list},
    "WEBHOOK": {"actionId": str, "method": str, "webhookUrl": str, "queryParams": list},
}
_FIELDS = {
    "0-1": ("delta", "time_unit"),
    "0-35": ("date", "delta", "time_unit"),
    "0-3": ("task_type", "subject", "body", "due_time", "owner_assignment"),
    "0-5": ("property_name", "value"),
    "0-8": ("subject", "body"),
    "0-9": ("subject", "body"),
    "0-11": ("user_ids", "target_property", "overwrite_current_owner"),
}
_PROPERTY_KEYS = {"name": str, "label": str, "type": str, "fieldType": str, "groupName": str, "description": str,
                  "displayOrder": int}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")


def _keys(data: object, wanted: dict[str, type], where: str) -> list[str]:
    if not isinstance(data, dict):
        return [f"{where}: is not an object"]
    errors = []
    for key, kind in wanted.items():
        if key not in data:
            errors.append(f"{where}: '{key}' is a required property")
        elif not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
            errors.append(f"{where}.{key}: is not of type {kind.__name__}")
    return errors


def shape_errors(kind: str, data: object) -> list[str]:
    """The essentials of a file's schema, checked by hand (fast): required keys and their types,
    known action types with the fields they need, property names HubSpot accepts."""
    if kind == "flow":
        errors = _keys(data, _FLOW_KEYS, "$")
        if errors:
            return errors
        for extra in sorted(set(data) - set(_FLOW_KEYS)):
            errors.append(f"$.{extra}: not a field sla-lang sends")
        for index, action in enumerate(data["actions"]):
            where = f"$.actions[{index}]"
            wanted = _ACTION_KEYS.get(action.get("type") if isinstance(action, dict) else None)
            if wanted is None:
                errors.append(f"{where}.type: unknown action type {action.get('type') if isinstance(action, dict) else action!r}")
                continue
            errors += _keys(action, wanted, where)
            if action["type"] == "SINGLE_CONNECTION" and isinstance(action.get("fields"), dict):
                needed = _FIELDS.get(action.get("actionTypeId"))
                if needed is None:
                    errors.append(f"{where}.actionTypeId: {action.get('actionTypeId')!r} is not an action sla-lang emits")
                else:
                    errors += [f"{where}.fields: '{key}' is a required property" for key in needed
                               if key not in action["fields"]]
                name = action["fields"].get("property_name")
                if name is not None and not (isinstance(name, str) and _NAME.fullmatch(name)):
                    errors.append(f"{where}.fields.property_name: {name!r} is not a HubSpot property name")
        return errors
    if kind == "property":
        errors = _keys(data, _PROPERTY_KEYS, "$")
        name = data.get("name") if isinstance(data, dict) else None
        if isinstance(name, str) and (not _NAME.fullmatch(name) or name.startswith("hs_")):
            errors.append(f"$.name: {name!r} is not a HubSpot internal name (lower-case, not hs_)")
        return errors
    if kind == "group":
        return _keys(data, {"name": str, "label": str, "displayOrder": int}, "$")
    if kind == "manifest":
        return _keys(data, {"format": str, "policy": dict, "properties": list, "workflows": list,
                            "existingProperties": list, "manualSteps": list, "propertyGroup": dict, "scoring": dict},
                     "$")
    if kind == "scoring":
        return _keys(data, {"format": str, "scores": list}, "$")
    return []
