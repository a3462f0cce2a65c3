"""Checks every file of the HubSpot target before anything is written.

1. JSON Schema (`targets/hubspot/*.schema.json`) for each kind of file;
2. the action graph of each workflow: ids unique, `startActionId` exists, every
   `nextActionId` names an action of the same workflow, every action is reachable from the
   start, no cycle (GOTO edges excepted), `nextAvailableActionId` = largest id + 1;
3. consistency: every property a workflow reads or writes is created by the target or listed
   as an existing HubSpot property in the manifest, and the manifest lists exactly the files.

A failure is a bug in sla-lang, reported as SLA820 with the file and the JSON path.
"""

from __future__ import annotations

import json
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


def graph_errors(flow: dict) -> list[str]:
    actions = flow.get("actions", [])
    ids = [a.get("actionId") for a in actions]
    errors = []
    seen: set[str] = set()
    for index, action_id in enumerate(ids):
        if action_id in seen:
            errors.append(f"$.actions[{index}].actionId: {action_id!r} is used twice")
        seen.add(action_id)
    numeric = [int(i) for i in ids if isinstance(i, str) and i.isdigit()]
    expected = str(max(numeric) + 1) if numeric else "1"
    if flow.get("nextAvailableActionId") != expected:
        errors.append(f"$.nextAvailableActionId: is {flow.get('nextAvailableActionId')!r}, expected {expected!r} "
                      "(largest action id + 1)")
    start = flow.get("startActionId")
    if start not in seen:
        errors.append(f"$.startActionId: {start!r} is not an action of this workflow")
    edges: dict[str, list[tuple[str, str, str]]] = {i: [] for i in seen}
    for index, action in enumerate(actions):
        source = action.get("actionId")
        outgoing = []
        if "connection" in action:
            outgoing.append((f"$.actions[{index}].connection", action["connection"]))
        for n, branch in enumerate(action.get("listBranches", [])):
            if "connection" in branch:
                outgoing.append((f"$.actions[{index}].listBranches[{n}].connection", branch["connection"]))
        if "defaultBranch" in action:
            outgoing.append((f"$.actions[{index}].defaultBranch", action["defaultBranch"]))
        for where, conn in outgoing:
            target = conn.get("nextActionId")
            if target is None:
                errors.append(f"{where}: has no nextActionId (HubSpot rejects it)")
            elif target not in seen:
                errors.append(f"{where}.nextActionId: {target!r} is not an action of this workflow")
            else:
                edges[source].append((target, conn.get("edgeType", "STANDARD"), where))
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


def check_files(files: dict[str, object]) -> list[str]:
    """Every problem as `file: $.path: message`; empty when all is well."""
    problems: list[str] = []
    for path in sorted(files):
        data = files[path]
        kind = kind_of(path)
        problems += [f"{path}: {e}" for e in schema_errors(kind, data)]
        if kind == "flow" and isinstance(data, dict):
            problems += [f"{path}: {e}" for e in graph_errors(data)]
    manifest = files.get("manifest.json")
    if isinstance(manifest, dict) and not problems:
        listed = {manifest["propertyGroup"]["file"], manifest["scoring"]["file"], "manifest.json"}
        listed |= {p["file"] for p in manifest["properties"]} | {w["file"] for w in manifest["workflows"]}
        for path in sorted(set(files) ^ listed):
            where = "is not listed in the manifest" if path in files else "is listed in the manifest but not generated"
            problems.append(f"manifest.json: {path} {where}")
        known = {p["name"] for p in manifest["properties"]} | {p["name"] for p in manifest["existingProperties"]}
        for entry in manifest["workflows"]:
            for name in sorted(properties_used(files[entry["file"]]) - known):
                problems.append(f"{entry['file']}: property {name!r} is neither created nor listed as existing")
    return problems
