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
import math
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


def fingerprint(policy: Policy, canonical: bytes | None = None) -> str:
    """SHA-256 of the canonical IR JSON (`canonical`, when already made), as 64 hex digits."""
    return hashlib.sha256(canonical if canonical is not None else canonical_bytes(policy)).hexdigest()


def dumps(data: Any) -> str:
    """The one pretty JSON style of every generated file: sorted keys, 2 spaces, UTF-8, final newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def dumps_bytes(data: Any) -> bytes:
    """`dumps(data)` as UTF-8, byte for byte, made by orjson: with `indent` Python's json module
    formats in pure Python and holds every piece of the text at once (the 98 MB `ir.json` of a
    10,000-stage policy took 640 MB that way). Falls back to `dumps` for what orjson writes
    differently (a float Python writes in exponent notation: 1e-05, 1e+16) or refuses
    (integers beyond 64 bits)."""
    import orjson

    if any("e" in repr(value) or not math.isfinite(value) for value in _floats(data)):
        return dumps(data).encode("utf-8")
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    except (TypeError, orjson.JSONEncodeError):
        return dumps(data).encode("utf-8")


def _floats(data: Any):
    """Every float in plain JSON data (0.4 s for the IR of 10,000 stages)."""
    stack = [data]
    pop, extend = stack.pop, stack.extend
    while stack:
        value = pop()
        kind = type(value)
        if kind is dict:
            extend(value.values())
        elif kind is list or kind is tuple:
            extend(value)
        elif kind is float:
            yield value
