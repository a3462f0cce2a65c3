"""Identifiers that look like something they are not (Unicode TR39, kept small and explicit).

Identifiers are NFC-normalised when lowered, so two spellings of the same text are the same
name. What normalisation cannot fix is a name that *looks* like another: `mql` with a Cyrillic
`м`, or `sаles` with a Cyrillic `а`. A reviewer reading the pull request sees `sales`; the
compiler sees a different team. Japanese names are fine — Han, Hiragana, Katakana and Latin
together are one writing system — but Latin mixed with Cyrillic or Greek, full-width Latin
letters, and two names that differ only by look-alike letters are reported.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from typing import Iterator

from .. import ir
from ..diagnostics import Diagnostic, Listing, Message, Related, Severity, define_rule
from . import CheckContext, check

MIXED_SCRIPT = define_rule(
    "SLA311",
    "mixed-script-identifier",
    Severity.WARNING,
    "A name mixes Latin letters with Cyrillic or Greek ones, or uses full-width letters.",
    explanation="Cyrillic `а е о р с у х` and Greek `ο ν` look exactly like Latin letters, and "
    "full-width `ｓａｌｅｓ` looks like `sales` in many fonts. A name that mixes them reads as "
    "one thing in review and means another to the compiler. Japanese names (kanji, kana, with "
    "or without Latin) are not affected.",
    bad="owner sаles   # the `а` is CYRILLIC SMALL LETTER A",
    good="owner sales",
)
CONFUSABLE_NAMES = define_rule(
    "SLA312",
    "confusable-names",
    Severity.WARNING,
    "Two declared names differ only by letters that look alike.",
    explanation="When `sales` and `sаles` (Cyrillic `а`) are both declared, every reference to "
    "either reads the same in a pull request but goes to a different team or stage. Rename one "
    "so that the difference is visible.",
    bad='team sales "Sales" {\n}\nteam sаles "Sales (copy)" {\n}',
    good='team sales "Sales" {\n}\nteam sales_emea "Sales EMEA" {\n}',
)

# Letters of other scripts that are indistinguishable from Latin ones in common fonts
# (a subset of Unicode's confusables.txt covering Cyrillic and Greek lower and upper case).
_LOOK_ALIKES = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ɡ": "g",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
    "ο": "o", "ν": "v", "α": "a", "ι": "i", "κ": "k", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}
_SUSPECT_SCRIPTS = ("CYRILLIC", "GREEK")


def _script(ch: str) -> str:
    if ch.isascii():
        return "LATIN" if ch.isalpha() else "COMMON"
    name = unicodedata.name(ch, "")
    if name.startswith("FULLWIDTH LATIN"):
        return "FULLWIDTH"
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def suspicious(name: str) -> Message | None:
    """Why `name` is suspicious, or None."""
    if name.isascii():
        return None
    scripts = {_script(ch) for ch in name if ch.isalpha()}
    if "FULLWIDTH" in scripts:
        return Message("full-width Latin letters")
    suspects = scripts.intersection(_SUSPECT_SCRIPTS)
    if suspects and "LATIN" in scripts:
        if len(suspects) > 1:
            return Message("Latin mixed with Cyrillic and Greek letters")
        return Message("Latin mixed with Cyrillic letters") if "CYRILLIC" in suspects else Message("Latin mixed with Greek letters")
    return None


def skeleton(name: str) -> str:
    """What a name looks like: full-width folded by NFKC, look-alike letters replaced."""
    folded = unicodedata.normalize("NFKC", name)
    return "".join(_LOOK_ALIKES.get(ch, ch) for ch in folded)


def _declarations(policy: ir.Policy):
    for kind, items in (
        (Message("team"), policy.teams),
        (Message("stage"), policy.stages),
        (Message("property"), policy.properties),
        (Message("event"), policy.events),
        (Message("score"), policy.scores),
        (Message("calendar"), policy.calendars),
        (Message("KPI"), policy.kpis),
        (Message("review"), policy.reviews),
        (Message("priority"), policy.priorities),
    ):
        for item in items:
            yield kind, item


def _references(policy: ir.Policy) -> Iterator[ir.Name | ir.Ref]:
    """Every name used to refer to something, anywhere in the IR (iteratively)."""
    stack: list[object] = [getattr(policy, name) for name in _fields(type(policy)) if name != "extra"]
    while stack:
        value = stack.pop()
        if isinstance(value, (ir.Name, ir.Ref)):
            yield value
        elif isinstance(value, (tuple, list)):
            stack.extend(value)
        elif not isinstance(value, (str, int, float, type(None))):
            stack.extend(getattr(value, name) for name in _fields(type(value)))


@cache
def _fields(cls: type) -> tuple[str, ...]:
    """The fields of an IR class that may hold names (not its positions); () for other types."""
    import dataclasses

    if not dataclasses.is_dataclass(cls):
        return ()
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("span", "name_span"))


@check(MIXED_SCRIPT, CONFUSABLE_NAMES)
def find_confusable_identifiers(ctx: CheckContext) -> Iterator[Diagnostic]:
    if not ctx.policy.extra.get("non_ascii_names", True):
        return  # lowering found only ASCII outside quoted texts and comments
    for ref in _references(ctx.policy):
        for part in filter(None, (ref.name, getattr(ref, "member", None))):
            reason = suspicious(part)
            if reason:
                yield Diagnostic(
                    MIXED_SCRIPT,
                    Message('name `{part}` uses {reason}', part=part, reason=reason),
                    ref.span,
                    help=Message('did you mean `{part}`? retype the name with one script', part=skeleton(part)),
                )
    seen: dict[str, tuple[str, object]] = {}
    for kind, item in _declarations(ctx.policy):
        reason = suspicious(item.id)
        if reason:
            codes = Listing((f"U+{ord(ch):04X} {unicodedata.name(ch, '?')}" for ch in dict.fromkeys(item.id)
                             if not ch.isascii()), limit=100, quote=False)
            yield Diagnostic(
                MIXED_SCRIPT,
                Message('{kind} name `{item}` uses {reason} ({codes})', kind=kind, item=item.id, reason=reason, codes=codes),
                item.name_span,
                help=Message('did you mean `{item}`? retype the name with one script', item=skeleton(item.id)),
            )
        key = skeleton(item.id)
        first = seen.get(key)
        if first is not None and first[1].id != item.id:
            yield Diagnostic(
                CONFUSABLE_NAMES,
                Message('{kind} `{item}` looks the same as {other_kind} `{other}` but is a different name', kind=kind, item=item.id, other_kind=first[0], other=first[1].id),
                item.name_span,
                help=Message('rename one of them so the difference can be seen'),
                related=(Related(first[1].name_span, Message('the look-alike is declared here')),),
            )
        elif first is None:
            seen[key] = (kind, item)
