"""IR ⇄ JSON, the canonical form and the policy fingerprint.

`policy_to_json` is the stable, documented JSON form of the IR (validated by
`sla_lang/schema/ir.schema.json`). Members of a union (values, conditions, measures) carry a
`"kind"`. With `spans=False` every position is left out: that is the *canonical* form, whose
SHA-256 is the policy fingerprint printed on every page of the agreement — so reformatting or
moving a file does not change the fingerprint, while any change of meaning does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date
from typing import Any

from .ir import Policy

_SKIP_FIELDS = {"extra"}
_SPAN_FIELDS = {"span", "name_span"}


def to_json_value(obj: Any, *, spans: bool = True) -> Any:
    """Any IR node (or value) → plain JSON data. Iterative depth is bounded by the parser."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        kind = getattr(type(obj), "KIND", None)
        if kind is not None:
            out["kind"] = kind
        for f in dataclasses.fields(obj):
            name = f.name
            if name in _SKIP_FIELDS or (not spans and (name in _SPAN_FIELDS or name == "path")):
                continue
            value = getattr(obj, name)
            if f.metadata and f.metadata.get("omit_default") and value == f.default:
                continue  # a construct the policy does not use (ir.later): fingerprints stay stable
            out[name] = to_json_value(value, spans=spans)
        return out
    if isinstance(obj, (tuple, list)):
        return [to_json_value(v, spans=spans) for v in obj]
    if isinstance(obj, date):
        return obj.isoformat()
    return obj


def policy_to_json(policy: Policy, *, spans: bool = True) -> dict[str, Any]:
    data = to_json_value(policy, spans=spans)
    data["format"] = "sla-ir/1"
    return data


def canonical_bytes(policy: Policy) -> bytes:
    data = policy_to_json(policy, spans=False)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def fingerprint(policy: Policy) -> str:
    """SHA-256 of the canonical IR JSON, as 64 hex digits."""
    return hashlib.sha256(canonical_bytes(policy)).hexdigest()


def dumps(data: Any) -> str:
    """The one pretty JSON style of every generated file: sorted keys, 2 spaces, UTF-8, final newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
