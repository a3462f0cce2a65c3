"""What a semantic change is: an element of the agreement, what happened to it, and for whom
it is stricter or looser.

Values shown to the reader are small *atoms* rendered per language at the last moment, so one
comparison serves the English and the Japanese report alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

STRICTER = "stricter"  # the obligor must do more
LOOSER = "looser"  # the obligor may do less
UNCLEAR = "unclear"  # the obligation changed in a way whose direction cannot be told
GAINS = "gains"  # a beneficiary is owed more
LOSES = "loses"  # a beneficiary is owed less
NEUTRAL = "neutral"
MIXED = "mixed"  # one change affects a party in opposite (or unclear) ways
EFFECTS = (STRICTER, LOOSER, GAINS, LOSES, MIXED, NEUTRAL)
NEEDS_APPROVAL = (STRICTER, LOSES, MIXED)  # the effects a party must agree to

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


@dataclass(frozen=True, eq=False)
class ClauseRef:
    """A whole clause of one version of the policy, worded later like the agreement does."""

    kind: str  # stage | deadline | follow_up | escalation | handoff | transition | kpi | information | …
    policy: object  # ir.Policy
    nodes: tuple  # the IR nodes the wording needs (e.g. the stage and its deadline)


@dataclass(frozen=True)
class Duty:
    """One obligation a change touches: who must act, who relies on it, and which way it moved.

    `direction` is stricter (added, or harder to meet), looser (removed, or easier) or unclear.
    A stricter duty needs the obligor's approval, a looser one the beneficiaries', an unclear one
    both. When the beneficiaries are the obligor itself the duty is internal to that party.
    """

    obligor: str
    beneficiaries: tuple[str, ...]
    direction: str

    @property
    def approvers(self) -> tuple[str, ...]:
        if self.direction == STRICTER:
            return (self.obligor,)
        if self.direction == LOOSER:
            return self.beneficiaries or (self.obligor,)
        return tuple(dict.fromkeys((self.obligor, *self.beneficiaries)))


@dataclass(frozen=True)
class Change:
    kind: str  # e.g. "deadline.within": the element kind and the attribute that changed
    action: str  # added | removed | changed
    clause_id: str  # in the new policy (in the old one for removals)
    what: What
    old: Atom | None = None
    new: Atom | None = None
    duties: tuple[Duty, ...] = ()  # the obligations it makes stricter, looser or changes unclearly
    old_clause_id: str | None = None  # when the clause had another ID before
    affects: tuple[str, ...] = ()  # obligations this change acts on (e.g. transitions reading a score)
    before: object | None = None  # the whole clause before (agreement wording), when it is an obligation
    after: object | None = None

    @property
    def effects(self) -> tuple[tuple[str, str], ...]:
        """(party, effect) for every party the change affects, sorted by party."""
        collected = Effects()
        for duty in self.duties:
            direction = {STRICTER: STRICTER, LOOSER: LOOSER}.get(duty.direction, MIXED)
            collected.add(duty.obligor, direction)
            for party in duty.beneficiaries:
                if party != duty.obligor:
                    collected.add(party, {STRICTER: GAINS, LOOSER: LOSES}.get(duty.direction, MIXED))
        return collected.frozen()

    @property
    def is_obligation(self) -> bool:
        return bool(self.duties)

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


@dataclass(frozen=True)
class VersionCheck:
    """What the `version` of the agreement must become, like cargo-semver-checks for an API."""

    level: str  # major | minor | patch | none: what the changes call for
    old: str | None
    new: str | None
    proposed: str | None  # the next version at that level, when `old` is numbered
    bumped: str | None  # the level the author actually bumped (None: not comparable)
    ok: bool  # the new version is at least the level asked for (or nothing changed)


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
    version: VersionCheck | None = None  # the version the change calls for (semdiff/version.py)

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def reordered_only(self) -> bool:
        """No change of meaning, but the canonical IR (and so the fingerprint) differs."""
        return not self.changes and self.old_fingerprint != self.new_fingerprint
