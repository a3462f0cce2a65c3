"""The fixed strings of the agreement document (`targets/agreement/messages.toml`).

Every message has one entry per language. An entry is either a string or, for words that
change with a number, a table `{ one = "…", other = "…" }`. `{name}` placeholders are filled in
by sla; a placeholder is never filled with anything but plain text, which each format then
escapes. The test suite fails when a message lacks a language or when the languages disagree
on the placeholders.
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Mapping

from ..ir import LANGUAGES
from ..resources import target_dir

Entry = str | Mapping[str, str]


def catalogue_path(target: str = "agreement"):
    return target_dir(target) / "messages.toml"


@cache
def load_messages(target: str = "agreement") -> dict[str, dict[str, Entry]]:
    """key → {language → entry}, keys flattened with dots (`section.parties`).

    `target`: whose catalogue (`targets/<target>/messages.toml`): the agreement's, or the
    report's (`sla report`)."""
    with open(catalogue_path(target), "rb") as handle:
        data = tomllib.load(handle)
    out: dict[str, dict[str, Entry]] = {}

    def walk(prefix: str, table: Mapping[str, object]) -> None:
        if any(lang in table for lang in LANGUAGES):
            out[prefix] = dict(table)  # type: ignore[arg-type]
            return
        for key, value in table.items():
            if not isinstance(value, Mapping):
                raise ValueError(f"{catalogue_path(target)}: `{prefix}.{key}` is not a message table")
            walk(f"{prefix}.{key}" if prefix else key, value)

    walk("", data)
    return out


def placeholders(entry: Entry) -> set[str]:
    texts = entry.values() if isinstance(entry, Mapping) else [entry]
    return {name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name}


@dataclass(frozen=True)
class Catalogue:
    """The messages of one language."""

    lang: str
    target: str = "agreement"

    def __post_init__(self) -> None:
        if self.lang not in LANGUAGES:
            raise ValueError(f"unsupported language {self.lang!r}")

    def __call__(self, key: str, /, **values: object) -> str:
        entries = load_messages(self.target).get(key)
        if entries is None:
            raise KeyError(f"message `{key}` is not in {catalogue_path(self.target)}")
        entry = entries[self.lang]
        if isinstance(entry, Mapping):
            count = values.get("n")
            entry = entry["one"] if count == 1 else entry["other"]
        return entry.format_map(values)

    def has(self, key: str) -> bool:
        return key in load_messages(self.target)
