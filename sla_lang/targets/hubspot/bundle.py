"""Generated objects → the files of the HubSpot target, with the manifest that ties them to
the agreement's clauses.

Layout:
    workflows/<name>.json      one `POST /automation/v4/flows` body each
    properties/_group.json     the `POST /crm/v3/properties/contacts/groups` body
    properties/<name>.json     one `POST /crm/v3/properties/contacts` body each
    scoring.json               the score rules, for entering by hand
    manifest.json              every object, the clauses it enforces, the manual steps

Ownership marker (read by `sla deploy`, see hubspot_portal.py): every workflow's and every
custom property's description ends with

    [sla-lang policy=<policy id> clause=<key> hash=<16 hex>]

- policy id: the policy file's name without `.sla` (characters outside `A-Za-z0-9_.-`
  percent-encoded), so several policies can share one portal;
- key: the workflow's file stem (`lead.to.mql`, `mql.respond`, …) or `property.<name>`, unique
  within a policy;
- hash: the content sla wrote (`flow_hash` / `property_hash`). A portal object whose content no
  longer hashes to its marker was changed by hand (drift).
`sla deploy` finds its objects by the marker alone (never by name) and touches nothing without
one. A description ending in the marker of sla-lang 0.1 (`[sla-lang <hash>]`) is still read.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...irjson import dumps as irjson_dumps
from .catalog import GROUP_NAME

if TYPE_CHECKING:
    from .generate import Output

FORMAT = "sla-lang-hubspot/1"
GROUP_FILE = "properties/_group.json"
MARKER_PREFIX = "[sla-lang "


# The top-level fields of a workflow that sla writes, compares and hashes. Everything else
# HubSpot returns is its own (ids, revision, timestamps) or the portal user's (`isEnabled`:
# a person switches a workflow on after review). `nextAvailableActionId` is a response field.
FLOW_FIELDS = ("type", "objectTypeId", "flowType", "name", "description", "startActionId", "actions",
               "enrollmentCriteria", "timeWindows", "blockedDates", "canEnrollFromSalesforce", "dataSources",
               "suppressionListIds", "customProperties")
_MARKER = re.compile(r"\s*\[sla-lang policy=(?P<policy>[^\s\]]+) clause=(?P<clause>[^\s\]]+) "
                     r"hash=(?P<hash>[0-9a-f]{16})\]$")
_LEGACY_MARKER = re.compile(r"\s*\[sla-lang (?P<hash>[0-9a-f]{16})\]$")
_POLICY_ID_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


@dataclass(frozen=True)
class Marker:
    policy: str | None  # None: the marker of sla-lang 0.1, which named no policy
    clause: str | None
    hash: str

    def text(self) -> str:
        return f"{MARKER_PREFIX}policy={self.policy} clause={self.clause} hash={self.hash}]"


def policy_id(policy_file: str) -> str:
    """The id a policy's objects carry in the portal: its file name without `.sla`."""
    stem = policy_file.replace("\\", "/").rsplit("/", 1)[-1]
    stem = stem.removesuffix(".sla")
    return "".join(c if c in _POLICY_ID_SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8"))
                   for c in stem) or "policy"


def _digest(data: object) -> str:
    return hashlib.sha256(_canonical(data)).hexdigest()[:16]


def _canonical(data: object) -> bytes:
    """Compact JSON with sorted keys (json.dumps(…, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)), by orjson when installed: the same bytes (tested)."""
    try:
        import orjson
    except ImportError:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def flow_content(body: dict) -> dict:
    """What sla owns of a workflow (its own body or one read from the portal): the FLOW_FIELDS,
    with the description's marker taken off."""
    content = {key: body[key] for key in FLOW_FIELDS if key in body}
    if isinstance(content.get("description"), str):
        content["description"] = strip_marker(content["description"])
    return content


def flow_hash(body: dict) -> str:
    return _digest(flow_content(body))


def property_hash(body: dict) -> str:
    """The part of a property sla keeps in step: its type and the set of option values (labels,
    order and description are left to whoever shares or edits the property)."""
    values = sorted({str(o.get("value")) for o in body.get("options") or [] if isinstance(o, dict)})
    return _digest({"type": body.get("type"), "fieldType": body.get("fieldType"), "options": values})


def content_hash(body: dict) -> str:
    """The workflow hash recorded in manifest.json (`contentHash`)."""
    return flow_hash(body)


def marker_of(description: str | None) -> Marker | None:
    """The ownership marker at the end of a description, if any."""
    if not isinstance(description, str):
        return None
    found = _MARKER.search(description)
    if found:
        return Marker(found["policy"], found["clause"], found["hash"])
    found = _LEGACY_MARKER.search(description)
    return Marker(None, None, found["hash"]) if found else None


def strip_marker(description: str) -> str:
    for pattern in (_MARKER, _LEGACY_MARKER):
        found = pattern.search(description)
        if found:
            return description[:found.start()]
    return description


def with_marker(description: str, marker: Marker) -> str:
    text = strip_marker(description or "")
    return f"{text} {marker.text()}" if text else marker.text()


def stamp(path: str, body: dict, policy_file: str) -> str:
    """End a workflow's description with its ownership marker; returns the content hash. The
    generator stamps each workflow as it writes it out."""
    digest = flow_hash(body)
    body["description"] = with_marker(body["description"], Marker(policy_id(policy_file), workflow_key(path), digest))
    return digest


def bundle(out: Output, *, policy_file: str, title: str, version: str, fingerprint: str,
           time_zones: list[str] = ()) -> dict[str, object]:
    """{relative path: JSON data} for every file but the workflows, which the generator wrote
    out (stamped, serialised) as it made them (`Output.flows`). `time_zones`: the zones of the
    policy's calendars; when a workflow carries time windows or blocked dates, the manifest
    records them as `timeZones` and `sla deploy` checks the portal's zone."""
    files: dict[str, object] = {}
    owner = policy_id(policy_file)
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
        body = prop.body(order)
        body["description"] = with_marker(body["description"],
                                          Marker(owner, f"property.{prop.name}", property_hash(body)))
        files[path] = body
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
        "policy": {"id": owner, "file": policy_file, "title": title, "version": version, "fingerprint": fingerprint},
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
        "timeZones": sorted(set(time_zones)) if any(flow.scheduled for flow in out.flows) else [],
    }
    return files


def workflow_key(path: str) -> str:
    """`workflows/lead.to.mql.json` → `lead.to.mql`: a workflow's key in its marker."""
    name = path.rsplit("/", 1)[-1]
    return name.removesuffix(".json")


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
