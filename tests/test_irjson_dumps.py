"""`irjson.dumps` writes exactly what `json.dumps(…, sort_keys=True, indent=2, ensure_ascii=False)`
writes (plus the final newline): it replaced it for speed, and every generated file depends on it."""

from __future__ import annotations

import json
import random

import pytest

from sla_lang.irjson import dumps, dumps_bytes, loads_json, pretty_into

SCALARS = [None, True, False, 0, -3, 10**20, 1.5, -0.0, 1e16, 1e-7, 0.1 + 0.2, float("nan"), float("inf"),
           -float("inf"), "", "plain", 'quote " backslash \\ newline \n tab \t', "\u2028 é 日本語 \U0001f600",
           "\x00\x1f\x7f"]
KEY_SETS = [["a", "b", "é", "A", "0", ""], [1, 2, -1, 10], [1.5, 2.25, float("inf")], [True, False], [None]]


def _random_value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 4 or roll < 0.35:
        return rng.choice(SCALARS)
    if roll < 0.6:
        items = [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
        return tuple(items) if rng.random() < 0.2 else items
    keys = rng.choice(KEY_SETS)
    return {k: _random_value(rng, depth + 1) for k in rng.sample(keys, rng.randint(0, len(keys)))}


@pytest.mark.parametrize("seed", range(5))
def test_dumps_is_the_standard_library_text(seed):
    rng = random.Random(seed)
    for _ in range(3000):
        value = _random_value(rng)
        text = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        assert dumps(value) == text, value
        assert dumps_bytes(value) == text.encode("utf-8"), value
        document = {"items": [value, value], "empty": [], "one": value, "z": [1]}
        assert dumps_bytes(document) == dumps(document).encode("utf-8"), document


def test_subclasses_are_written_as_their_base_types():
    class Key(str):
        pass

    class Items(list):
        pass

    class Table(dict):
        pass

    value = Table({Key("b"): Items([1, 2.5, True]), "a": (None,)})
    assert dumps(value) == json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_nested_text_is_indented_from_where_it_starts():
    out: list[str] = []
    pretty_into({"b": [1, {"c": "d"}], "a": {}}, out, "\n    ")
    nested = json.dumps({"x": [{"b": [1, {"c": "d"}], "a": {}}]}, sort_keys=True, indent=2)
    assert "".join(out) in nested


def test_what_json_cannot_write_is_refused():
    with pytest.raises(TypeError):
        dumps({"when": object()})
    with pytest.raises(TypeError):
        dumps({("a", "b"): 1})


@pytest.mark.parametrize("seed", range(3))
def test_loads_json_reads_what_the_standard_library_reads(seed):
    """`loads_json` (orjson where it reads the same) gives json.loads' data: `sla test` reads
    every generated scenario back with it. Types too: json.dumps writes 1 and 1.0 differently."""
    rng = random.Random(seed)
    extra = [2**63, -(2**63) - 1, 2**64, 10**30, -(10**19), 2**63 - 1, "1234567890123456789012 in a string"]
    for n in range(2000):
        value = _random_value(rng) if n % 10 else rng.choice(extra)
        for text in (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False), json.dumps(value)):
            data = text.encode("utf-8")
            assert json.dumps(loads_json(data)) == json.dumps(json.loads(data)), text
    # what orjson refuses or reads differently
    for text in ('[1e400, -1e400]', '{"a": NaN}', '-Infinity', '123456789012345678901234567890',
                 '-9223372036854775809', '[18446744073709551616]'):
        data = text.encode("utf-8")
        assert json.dumps(loads_json(data)) == json.dumps(json.loads(data)), text
        assert type(loads_json(data)) is type(json.loads(data))
