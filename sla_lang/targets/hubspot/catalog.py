"""Which HubSpot property stands for what: the policy's properties, events and scores, and the
custom properties sla-lang itself needs (the SLA stage, breach flags, …).

Names follow the Properties API rules (CRM Properties v3, `PropertyCreate.name`): lower-case
ASCII letters, digits and `_`, starting with a letter; the `hs_` prefix is HubSpot's. An
identifier that is not such a name (a Japanese stage id) gets a stable derived name and a
warning. Every property remembers the clause ids that use it, for the manifest.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ... import ir
from ...diagnostics import Diagnostic, Message

_KIND_WORDS = {"property": Message("property"), "event": Message("event"), "score": Message("score")}
from ...source import Span
from .rules import NAME_NOT_USABLE

GROUP_NAME = "sla_lang"
_VALID = re.compile(r"[a-z][a-z0-9_]*")
MAX_NAME = 100  # HubSpot rejects longer internal names

# HubSpot's own contact properties the generated workflows read or write.
LIFECYCLE = "lifecyclestage"
OWNER = "hubspot_owner_id"
LAST_CONTACTED = "notes_last_contacted"  # "Last contacted": last call, email or meeting logged

# lifecyclestage only moves forward unless cleared first; this is HubSpot's order.
LIFECYCLE_ORDER = {value: rank for rank, value in enumerate(ir.HUBSPOT_LIFECYCLE_STAGES)}


def usable_name(text: str) -> bool:
    return bool(_VALID.fullmatch(text)) and not text.startswith("hs_") and len(text) <= MAX_NAME


def derived_token(text: str) -> str:
    """A stable ASCII stand-in for an identifier HubSpot cannot use."""
    return "x" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def token_for(text: str) -> str:
    """`text` as a piece of an internal name: itself when usable, a derived token otherwise."""
    return text if _VALID.fullmatch(text) and len(text) <= 40 else derived_token(text)


# Properties API type → field type (how HubSpot shows it), the pairs of shared/hubspot.md.
FIELD_TYPES = {
    "bool": "booleancheckbox",
    "date": "date",
    "datetime": "date",
    "enumeration": "select",
    "number": "number",
    "string": "text",
}


@dataclass
class CustomProperty:
    """A property the target creates (one `properties/<name>.json`)."""

    name: str
    label: str
    type: str  # bool | date | datetime | enumeration | number | string
    description: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    clauses: set[str] = field(default_factory=set)
    purpose: str = ""  # policy-property | policy-event | sla-lang

    def body(self, display_order: int) -> dict:
        body: dict = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": FIELD_TYPES[self.type],
            "groupName": GROUP_NAME,
            "description": self.description,
            "displayOrder": display_order,
        }
        if self.options:
            body["options"] = [
                {"label": label, "value": value, "displayOrder": i, "hidden": False}
                for i, (value, label) in enumerate(self.options)
            ]
        return body


@dataclass(frozen=True)
class Resolved:
    """What a condition's Ref reads in HubSpot."""

    property: str
    kind: str  # number | enumeration | bool | string | date | datetime
    counts: bool = False  # an event count or a score: a missing value means 0


POLICY_TYPES = {
    "number": "number",
    "text": "string",
    "enum": "enumeration",
    "bool": "bool",
    "date": "date",
    "datetime": "datetime",
}


class Catalog:
    def __init__(self, policy: ir.Policy) -> None:
        self.policy = policy
        self.custom: dict[str, CustomProperty] = {}
        self.existing: dict[str, set[str]] = {}  # HubSpot property → why it is needed
        self.diagnostics: list[Diagnostic] = []
        self._names: dict[tuple[str, str], str] = {}
        self._taken: set[str] = set()

    # ------------------------------------------------------------------ naming
    def name_for(self, kind: str, ident: str, span: Span) -> str:
        """The HubSpot name of a policy identifier (`kind`: property, event, score)."""
        key = (kind, ident)
        if key in self._names:
            return self._names[key]
        candidate = ident
        if not usable_name(candidate) or candidate in self._taken:
            derived = f"sla_{derived_token(kind + ':' + ident)}"
            why = (
                Message("is already used by another property") if usable_name(candidate)
                else Message("is not a HubSpot internal name (lower-case ASCII letters, digits and `_`, "
                             "starting with a letter, not `hs_`)")
            )
            self.diagnostics.append(
                Diagnostic(
                    NAME_NOT_USABLE,
                    Message('{kind} `{ident}`: `{candidate}` {why}; HubSpot will call it `{derived}`', kind=_KIND_WORDS.get(kind, kind), ident=ident, candidate=candidate, why=why, derived=derived),
                    span,
                    help=Message('rename it with lower-case ASCII letters, digits and `_`, or map it to an existing HubSpot property with `hubspot NAME`'),
                )
            )
            candidate = derived
        self._names[key] = candidate
        self._taken.add(candidate)
        return candidate

    def reserve(self, name: str) -> str:
        self._taken.add(name)
        return name

    def need_existing(self, name: str, why: str) -> str:
        self.existing.setdefault(name, set()).add(why)
        return name

    def add_custom(self, prop: CustomProperty) -> CustomProperty:
        known = self.custom.get(prop.name)
        if known is not None:
            known.clauses |= prop.clauses
            return known
        self.custom[prop.name] = prop
        self._taken.add(prop.name)
        return prop

    def use(self, name: str, *clauses: str) -> None:
        """Record that `clauses` rely on property `name` (custom or existing)."""
        if name in self.custom:
            self.custom[name].clauses.update(c for c in clauses if c)
        elif name in self.existing:
            self.existing[name].update(c for c in clauses if c)

    def claim_property(self, prop: ir.Property, clause: str) -> str:
        """The HubSpot name of a policy property that `clause` relies on, recorded as such: an
        existing HubSpot property must be there at deploy, a custom one lists the clause."""
        name = self.property_name(prop)
        if prop.hubspot:
            self.need_existing(name, clause)
        else:
            self.use(name, clause)
        return name

    # ------------------------------------------------------------------ policy names
    def property_name(self, prop: ir.Property) -> str:
        if prop.hubspot:
            return prop.hubspot
        return self.name_for("property", prop.id, prop.name_span)

    def event_name(self, event: ir.Event) -> str:
        if event.hubspot:
            return event.hubspot
        return self.name_for("event", event.id, event.name_span)

    def score_name(self, score: ir.ScoreModel) -> str:
        if score.hubspot:
            return score.hubspot
        return self.name_for("score", score.id, score.name_span)

    def resolve(self, ref: ir.Ref) -> Resolved | None:
        """The HubSpot property a condition reads, or None (a score group, an unknown name)."""
        if ref.member is not None:
            return None
        policy = self.policy
        if ref.name in policy.property_by_id:
            prop = policy.property_by_id[ref.name]
            return Resolved(self.property_name(prop), POLICY_TYPES[prop.type])
        if ref.name in policy.event_by_id:
            return Resolved(self.event_name(policy.event_by_id[ref.name]), "number", counts=True)
        if ref.name in policy.score_by_id:
            return Resolved(self.score_name(policy.score_by_id[ref.name]), "number", counts=True)
        return None
