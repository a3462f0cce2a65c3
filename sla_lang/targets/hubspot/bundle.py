"""Generated objects → the files of the HubSpot target, with the manifest that ties them to
the agreement's clauses.

Layout:
    workflows/<name>.json      one `POST /automation/v4/flows` body each
    properties/_group.json     the `POST /crm/v3/properties/contacts/groups` body
    properties/<name>.json     one `POST /crm/v3/properties/contacts` body each
    scoring.json               the score rules, for entering by hand
    manifest.json              every object, the clauses it enforces, the manual steps

Each workflow's description ends with a content marker `[sla-lang <hash>]`, a hash of the
body without its description. `sla deploy` compares it with the workflow of the same name in
the portal to tell "already there" from "a different workflow with the same name".
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from ...irjson import dumps as irjson_dumps
from .catalog import GROUP_NAME

if TYPE_CHECKING:
    from .generate import Output

FORMAT = "sla-lang-hubspot/1"
GROUP_FILE = "properties/_group.json"
MARKER_PREFIX = "[sla-lang "


def content_hash(body: dict) -> str:
    data = {key: value for key, value in body.items() if key != "description"}
    return hashlib.sha256(_canonical(data)).hexdigest()[:16]


def _canonical(data: object) -> bytes:
    """Compact JSON with sorted keys (json.dumps(…, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)), by orjson when installed: the same bytes (tested)."""
    try:
        import orjson
    except ImportError:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def stamp(body: dict) -> str:
    """End the workflow's description with its content marker; returns the hash."""
    digest = content_hash(body)
    body["description"] = f"{body['description']} {MARKER_PREFIX}{digest}]"
    return digest


def marker_of(description: str | None) -> str | None:
    """The content marker at the end of a workflow description, if any."""
    if not description:
        return None
    start = description.rfind(MARKER_PREFIX)
    if start < 0 or not description.endswith("]"):
        return None
    return description[start + len(MARKER_PREFIX):-1]


def bundle(out: Output, *, policy_file: str, title: str, version: str, fingerprint: str) -> dict[str, object]:
    """{relative path: JSON data} for every file but the workflows, which the generator wrote
    out as it made them (`Output.flows`: files with their serialised bodies)."""
    files: dict[str, object] = {}
    workflows = [{
        "file": flow.path,
        "name": flow.name,
        "kind": flow.kind,
        "clauses": flow.clauses,
        "actions": flow.actions,
        "contentHash": flow.content_hash,
    } for flow in sorted(out.flows, key=lambda f: f.path)]
    files[GROUP_FILE] = {"name": GROUP_NAME, "label": out.group_label, "displayOrder": -1}
    custom = []
    for order, prop in enumerate(sorted(out.properties, key=lambda p: p.name)):
        path = f"properties/{prop.name}.json"
        files[path] = prop.body(order)
        custom.append({
            "file": path,
            "name": prop.name,
            "label": prop.label,
            "type": prop.type,
            "source": prop.purpose,
            "clauses": sorted(prop.clauses),
        })
    files["scoring.json"] = out.scoring
    manual = [step.to_json() for step in out.manual]
    files["manifest.json"] = {
        "format": FORMAT,
        "policy": {"file": policy_file, "title": title, "version": version, "fingerprint": fingerprint},
        "objectTypeId": "0-1",
        "propertyGroup": {"file": GROUP_FILE, "name": GROUP_NAME},
        "properties": custom,
        "existingProperties": [{"name": name, "clauses": clauses} for name, clauses in out.existing.items()],
        "workflows": workflows,
        "scoring": {"file": "scoring.json",
                    "clauses": sorted({s["clause"] for s in out.scoring.get("scores", [])})},
        "stages": out.stages,
        "portal": out.portal,
        "calendars": out.calendars,
        "timers": out.timers,
        "manualSteps": manual,
        "documentOnly": sorted(set(out.document_only)),
    }
    return files


def dumps(data: object) -> bytes:
    """The project's one JSON style (irjson.dumps: sorted keys, 2-space indent, UTF-8, final
    newline), written by orjson when it is installed: the same bytes (tested), ten times faster
    — Python's json module formats indented output in pure Python."""
    try:
        import orjson
    except ImportError:
        return irjson_dumps(data).encode("utf-8")
    written = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    # orjson's result keeps the capacity of its growing buffer (up to twice the text): a copy
    # of the exact size is what stays in memory until the files are written
    return memoryview(written).tobytes()


def dumps_flow(body: dict) -> bytes:
    """A workflow body, one line per top-level field and per action (each line compact JSON,
    keys sorted): readable in a diff, and a third the size of the indented style — a
    10,000-stage policy writes 35,000 workflows, which indented took 150 MB more memory."""
    lines = []
    for key in sorted(body):
        value = body[key]
        name = _canonical(key)
        if key == "actions" and value:
            lines.append(b"  " + name + b": [\n    " + b",\n    ".join(_canonical(a) for a in value) + b"\n  ]")
        else:
            lines.append(b"  " + name + b": " + _canonical(value))
    return b"{\n" + b",\n".join(lines) + b"\n}\n"


def serialise(files: dict[str, object]) -> dict[str, bytes]:
    return {path: dumps(data) for path, data in sorted(files.items())}
