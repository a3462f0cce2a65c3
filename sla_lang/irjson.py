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
import io
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


def fingerprint(policy: Policy) -> str:
    """SHA-256 of the canonical IR JSON, as 64 hex digits."""
    return hashlib.sha256(canonical_bytes(policy)).hexdigest()


def dumps(data: Any) -> str:
    """The one pretty JSON style of every generated file: sorted keys, 2 spaces, UTF-8, final newline.

    The text of `json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)`, character for
    character, made several times faster: with an indent the standard library encodes in Python,
    one generator per container; here one function appends to one list (the fixtures of a large
    policy are hundreds of megabytes of this)."""
    out: list[str] = []
    pretty_into(data, out, "\n")
    out.append("\n")
    return "".join(out)


def dumps_bytes(data: Any) -> bytes:
    """`dumps(data)` as UTF-8, for a large document: the items of each list at its top level are
    encoded one at a time (the pieces of the whole text would take several times its size)."""
    if type(data) is not dict or not data:
        return dumps(data).encode("utf-8")
    out = io.BytesIO()  # grows in place; getvalue() hands over its buffer without a copy
    separator = "{\n  "
    for key, value in sorted(data.items()):
        head = separator + (_encode_string(key) if type(key) is str else _key_text(key)) + ": "
        separator = ",\n  "
        if type(value) is not list or not value:
            parts = [head]
            pretty_into(value, parts, "\n  ")
            out.write("".join(parts).encode("utf-8"))
            continue
        out.write((head + "[").encode("utf-8"))
        for n, item in enumerate(value):
            parts = [",\n    " if n else "\n    "]
            pretty_into(item, parts, "\n    ")
            out.write("".join(parts).encode("utf-8"))
        out.write(b"\n  ]")
    out.write(b"\n}\n")
    return out.getvalue()


_encode_string = json.encoder.encode_basestring  # what json.dumps uses with ensure_ascii=False (C)
_INFINITY = float("inf")


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return _encode_string(key)
    if isinstance(key, float):
        return '"' + _float_text(key) + '"'
    if key is True:
        return '"true"'
    if key is False:
        return '"false"'
    if key is None:
        return '"null"'
    if isinstance(key, int):
        return '"' + int.__repr__(key) + '"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def pretty_into(value: Any, out: list[str], newline: str) -> None:
    """Append `value` as `dumps` writes it, nested where a line break is followed by `newline`
    ("\n" and as many spaces as the enclosing containers indent)."""
    kind = type(value)
    if kind is str:
        out.append(_encode_string(value))
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        separator = "{" + inner
        for key, item in sorted(value.items()):
            item_kind = type(item)
            out.append(separator + (_encode_string(key) if type(key) is str else _key_text(key)) + ": ")
            separator = "," + inner
            if item_kind is str:
                out.append(_encode_string(item))
            elif item_kind is int:
                out.append(int.__repr__(item))
            elif item is None:
                out.append("null")
            else:
                pretty_into(item, out, inner)
        out.append(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        separator = "[" + inner
        for item in value:
            out.append(separator)
            separator = "," + inner
            if type(item) is str:
                out.append(_encode_string(item))
            else:
                pretty_into(item, out, inner)
        out.append(newline + "]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float_text(value))
    elif isinstance(value, (list, tuple)):
        pretty_into(list(value), out, newline)
    elif isinstance(value, dict):
        pretty_into(dict(value), out, newline)
    else:
        raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")
