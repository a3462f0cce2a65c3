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

from ...irjson import dumps
from .catalog import GROUP_NAME
from .generate import Output

FORMAT = "sla-lang-hubspot/1"
GROUP_FILE = "properties/_group.json"
MARKER_PREFIX = "[sla-lang "


def content_hash(body: dict) -> str:
    data = {key: value for key, value in body.items() if key != "description"}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def marker_of(description: str | None) -> str | None:
    """The content marker at the end of a workflow description, if any."""
    if not description:
        return None
    start = description.rfind(MARKER_PREFIX)
    if start < 0 or not description.endswith("]"):
        return None
    return description[start + len(MARKER_PREFIX):-1]


def bundle(out: Output, *, policy_file: str, title: str, version: str, fingerprint: str) -> dict[str, object]:
    """{relative path: JSON data} for every file (serialised by the caller)."""
    files: dict[str, object] = {}
    workflows = []
    for path, flow in sorted(out.flows, key=lambda item: item[0]):
        body = flow.body()
        digest = content_hash(body)
        body["description"] = f"{body['description']} {MARKER_PREFIX}{digest}]"
        files[path] = body
        workflows.append({
            "file": path,
            "name": flow.name,
            "kind": flow.kind,
            "clauses": sorted(set(flow.clauses)),
            "actions": len(flow.actions),
            "contentHash": digest,
        })
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
        "manualSteps": manual,
        "documentOnly": sorted(set(out.document_only)),
    }
    return files


def serialise(files: dict[str, object]) -> dict[str, bytes]:
    return {path: dumps(data).encode("utf-8") for path, data in sorted(files.items())}
