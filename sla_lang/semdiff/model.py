"""What a semantic change is: an element of the agreement, what happened to it, and for whom
it is stricter or looser.

Values shown to the reader are small *atoms* rendered per language at the last moment, so one
comparison serves the English and the Japanese report alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

STRICTER = "stricter"
LOOSER = "looser"
NEUTRAL = "neutral"
MIXED = "mixed"  # one change made some of a party's obligations stricter and others looser
EFFECTS = (STRICTER, LOOSER, MIXED, NEUTRAL)

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class Plain:
    """Language-neutral text shown as is: `24h`, `>= 20%`, `2026-04-01`, a condition."""

    text: str


@dataclass(frozen=True)
class Quote:
    """A label or text from the policy, shown in quotation marks."""

    text: str


@dataclass(frozen=True)
class Word:
    """A word sla itself says (yes, none, first response …), translated."""

    key: str


@dataclass(frozen=True)
class Items:
    items: tuple[Atom, ...]


Atom = Union[Plain, Quote, Word, Items]


@dataclass(frozen=True)
class What:
    """The element a change is about: a phrase from messages.WHAT with its parameters."""

    key: str
    params: tuple[tuple[str, Atom], ...] = ()

    @classmethod
    def of(cls, key: str, **params: Atom) -> What:
        return cls(key, tuple(sorted(params.items())))


@dataclass(frozen=True)
class Change:
    kind: str  # e.g. "deadline.within": the element kind and the attribute that changed
    action: str  # added | removed | changed
    clause_id: str  # in the new policy (in the old one for removals)
    what: What
    old: Atom | None = None
    new: Atom | None = None
    effects: tuple[tuple[str, str], ...] = ()  # (party, stricter|looser|mixed); others: neutral
    old_clause_id: str | None = None  # when the clause had another ID before
    affects: tuple[str, ...] = ()  # obligations this change acts on (e.g. transitions reading a score)

    def effect_for(self, party: str) -> str:
        return dict(self.effects).get(party, NEUTRAL)


@dataclass
class Effects:
    """Collects the effect of one change on each party; conflicting effects become `mixed`."""

    by_party: dict[str, str] = field(default_factory=dict)

    def add(self, party: str | None, effect: str) -> None:
        if party is None or effect == NEUTRAL:
            return
        current = self.by_party.get(party)
        self.by_party[party] = effect if current in (None, effect) else MIXED

    def merge(self, other: Effects) -> None:
        for party, effect in other.by_party.items():
            self.add(party, effect)

    def frozen(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.by_party.items()))


def opposite(effect: str) -> str:
    return {STRICTER: LOOSER, LOOSER: STRICTER}.get(effect, effect)


@dataclass(frozen=True)
class Party:
    """A column of the report: a signing party, or a team that is part of no party."""

    id: str
    label: str
    signs: bool
    reviewers: tuple[str, ...]


@dataclass
class PolicyChanges:
    """Everything `sla diff` says about one policy file."""

    old_path: str | None
    new_path: str | None
    status: str  # added | deleted | modified | unchanged
    changes: list[Change]
    parties: list[Party]
    owner: str | None  # the document owner's team id (new policy; old one when deleted)
    old_owner: str | None
    language: str
    title: str
    old_fingerprint: str | None
    new_fingerprint: str | None
    old_reviewers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def reordered_only(self) -> bool:
        """No change of meaning, but the canonical IR (and so the fingerprint) differs."""
        return not self.changes and self.old_fingerprint != self.new_fingerprint
