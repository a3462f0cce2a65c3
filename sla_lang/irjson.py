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


_DIGITS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))  # a digit → "0", any other byte → " "
_LONG_RUN = b"0" * 19


def loads_json(text: bytes) -> Any:
    """`json.loads(text)` (UTF-8 JSON), made by orjson where it reads the same: not where it
    refuses what Python reads (NaN, Infinity, 1e400, a lone surrogate, text that is not UTF-8)
    nor where the text has a run of 19 digits or more (orjson reads an integer beyond 64 bits as
    a float; the run may as well be inside a string: then json.loads reads it, the same data)."""
    import orjson

    if _LONG_RUN not in text.translate(_DIGITS):  # (ten times faster than a regular expression)
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


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
