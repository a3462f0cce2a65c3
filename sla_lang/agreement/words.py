"""IR values in plain words, in the document's language.

Every phrase comes from the catalogue (`targets/agreement/messages.toml`); this module only
decides which phrase applies and fills it in with labels from the policy. The result is plain
text: each format escapes it afterwards.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from .. import ir
from .catalogue import Catalogue
from .escape import visible

_TITLE_WORD = re.compile(r"^[A-Z][a-z]+(?=[\s,.;:)]|$)")


class Words:
    def __init__(self, policy: ir.Policy, lang: str) -> None:
        self.policy = policy
        self.lang = lang
        self.t = Catalogue(lang)
        # a document in another language than the policy's reads the policy's texts through its
        # `translation LANG` block; what it lacks is shown as written and recorded here
        self.foreign = lang != policy.language
        self.translations = policy.translation(lang) if self.foreign else {}
        self.untranslated: dict[str, tuple[str, str | None]] = {}  # text → (why, property id)

    # ------------------------------------------------------------------ the policy's texts
    def text(self, text: str) -> str:
        """A text of the policy (a label, a description …) in the document's language."""
        if self.foreign and text:
            translated = self.translations.get(text)
            if translated is not None:
                return visible(translated)
            if not _reads_in(text, self.lang):
                self.untranslated.setdefault(text, ("translation", None))
        return visible(text)

    def option(self, prop: ir.Property | None, value: str) -> str:
        """An enum option as the agreement shows it: its label, else its value (which, when it is
        a machine value such as `no_authority`, is recorded as untranslated)."""
        label = prop.option_label(value) if prop is not None else None
        if label is not None:
            return self.text(label)
        if prop is not None and prop.type == "enum" and not self.foreign and _machine_value(value, self.lang):
            self.untranslated.setdefault(value, ("value", prop.id))
            return visible(value)
        return self.text(value)

    def quote_option(self, prop: ir.Property | None, value: str) -> str:
        return self.t("quote", text=self.option(prop, value))

    # ------------------------------------------------------------------ lists and quotes
    def join(self, items: Iterable[str], conjunction: str = "and") -> str:
        items = [i for i in items if i]
        if not items:
            return ""
        if len(items) == 1:
            return items[0]
        return self.t("list.sep").join(items[:-1]) + self.t(f"list.{conjunction}") + items[-1]

    def sentences(self, sentences: Iterable[str]) -> str:
        """Whole sentences one after another: a space between them in English, none after
        Japanese 。."""
        out = ""
        for sentence in sentences:
            if sentence:
                out = self.t("doc.sentences", first=out, second=sentence) if out else sentence
        return out

    def quote(self, text: str) -> str:
        return self.t("quote", text=visible(text))

    # ------------------------------------------------------------------ names
    def team(self, name: ir.Name | None) -> str:
        if name is None:
            return ""
        team = self.policy.team_by_id.get(name.name)
        return self.text(team.label) if team else visible(name.name)

    def teams(self, names: Sequence[ir.Name]) -> str:
        return self.join([self.team(n) for n in names])

    def stage(self, name: ir.Name | str | None) -> str:
        if name is None:
            return ""
        key = name if isinstance(name, str) else name.name
        stage = self.policy.stage_by_id.get(key)
        return self.text(stage.label) if stage else visible(key)

    def property(self, name: ir.Name) -> str:
        prop = self.policy.property_by_id.get(name.name)
        return self.text(prop.label) if prop else visible(name.name)

    def review(self, name: ir.Name | None) -> str:
        if name is None:
            return ""
        review = self.policy.review_by_id.get(name.name)
        return self.text(review.label) if review else visible(name.name)

    # ------------------------------------------------------------------ quantities
    def number(self, value: int | float) -> str:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value)

    def points(self, value: int) -> str:
        return f"+{value}" if value > 0 else ("±0" if value == 0 else f"−{-value}")

    def duration(self, d: ir.Duration) -> str:
        return self.t(f"duration.{d.unit}", n=d.amount)

    def value(self, v: ir.Value) -> str:
        if isinstance(v, ir.Text):
            return self.quote(v.value)
        if isinstance(v, ir.Flag):
            return self.t("value.yes" if v.value else "value.no")
        if isinstance(v, ir.Number):
            return self.number(v.value)
        if isinstance(v, ir.Percent):
            return self.t("value.percent", n=self.number(v.value))
        if isinstance(v, ir.Duration):
            return self.duration(v)
        if isinstance(v, ir.DateValue):
            return v.value.isoformat()  # dates as written in the source
        if isinstance(v, ir.TimeOfDay):
            return v.text
        raise TypeError(f"unknown value {v!r}")

    def threshold(self, op: str, value: ir.Value) -> str:
        """`>= 20%` → "≥ 20%" / "20%以上"."""
        return self.t(f"threshold.{_OPS[op]}", value=self.value(value))

    def channels(self, channels: Sequence[ir.Channel]) -> str:
        return self.join([self.channel(c) for c in channels])

    def channel(self, c: ir.Channel) -> str:
        if c.target:
            return self.t(f"channel.{c.kind}_to", target=visible(c.target))
        return self.t(f"channel.{c.kind}")

    def cadence(self, c: ir.Cadence | None) -> str:
        if c is None:
            return ""
        return self.t(f"cadence.{c.unit}", n=c.every)

    def period(self, name: ir.Name | None) -> str:
        if name is None or name.name not in ir.PERIODS:
            return ""
        return self.t(f"period.{name.name}")

    def follow_up_offsets(self, offsets: Sequence[ir.Duration], from_first_contact: bool = False) -> str:
        if from_first_contact:  # `from first contact`: counted from the first call, email or meeting
            return self.join(
                [self.t("followup.at_first_contact") if d.amount == 0
                 else self.t("followup.after_first_contact", duration=self.duration(d)) for d in offsets]
            )
        return self.join(
            [self.t("followup.immediately") if d.amount == 0 else self.t("followup.after", duration=self.duration(d))
             for d in offsets]
        )

    # ------------------------------------------------------------------ KPI measures
    def measure(self, m: ir.Measure | None) -> str:
        if m is None:
            return ""
        if isinstance(m, ir.CountMeasure):
            return self.t("measure.count", stage=self.stage(m.stage))
        if isinstance(m, ir.ConversionMeasure):
            return self.t("measure.conversion", source=self.stage(m.source),
                          targets=self.join([self.stage(s) for s in m.targets], "or"))
        if isinstance(m, ir.ComplianceMeasure):
            if m.deadline == "follow_up":
                return self.t("measure.follow_up_completion", stage=self.stage(m.stage))
            return self.t("measure.compliance", stage=self.stage(m.stage), deadline=self.t(f"deadline.{m.deadline}"))
        if isinstance(m, ir.SumMeasure):
            return self.t("measure.sum", quantity=self.ref(m.quantity), stage=self.stage(m.stage))
        if isinstance(m, ir.OutcomeMeasure):
            return self.t("measure.outcome", activity=self.t(f"activity.{m.activity}"), stage=self.stage(m.stage),
                          outcome=self.t(f"outcome.{m.outcome}"))
        if isinstance(m, ir.AverageMeasure):
            return self.t("measure.average", quantity=self.ref(m.quantity), stage=self.stage(m.stage))
        if isinstance(m, ir.DurationMeasure):
            return self.t("measure.duration", source=self.stage(m.source), target=self.stage(m.target))
        raise TypeError(f"unknown measure {m!r}")

    def breakdown(self, by: ir.Name | None) -> str:
        """`by owner` → "per owner"; `by lead_source` → "by Original source"."""
        if by is None:
            return ""
        if by.name == "owner":  # always the lead's owner, even if a property is called so
            return self.t("measure.by_owner")
        return self.t("measure.by", property=self.property(by))

    # ------------------------------------------------------------------ conditions
    def ref(self, ref: ir.Ref) -> str:
        """The label of what a condition reads: a property, an event, a score or a score group."""
        p = self.policy
        if ref.name in p.score_by_id:
            model = p.score_by_id[ref.name]
            if ref.member:
                group = next((g for g in model.groups if g.id == ref.member), None)
                return self.t("ref.group", score=self.text(model.label),
                              group=self.text(group.label) if group else visible(ref.member))
            return self.text(model.label)
        if ref.name in p.property_by_id:
            return self.text(p.property_by_id[ref.name].label)
        if ref.name in p.event_by_id:
            return self.text(p.event_by_id[ref.name].label)
        return visible(ref.text)

    def condition(self, condition: ir.Condition | None) -> str:
        """A condition as a sentence fragment: "Lead score ≥ 50 and viewed the pricing page"."""
        if condition is None:
            return ""
        return _ConditionWords(self).render(condition)


_KANA_KANJI = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _reads_in(text: str, lang: str) -> bool:
    """Text that needs no translation into `lang`, judged by its script: in a Japanese document,
    text with kana or kanji, or without letters at all (`#sales`, `2026`); in an English one,
    text without kana or kanji (`MQL`, `HubSpot`)."""
    japanese = bool(_KANA_KANJI.search(text))
    if lang == "ja":
        return japanese or not any(ch.isalpha() for ch in text)
    return not japanese


def _machine_value(value: str, lang: str) -> bool:
    """An enum value written as an identifier, not as words: `no_authority`, `tokyo_area`; and in a
    Japanese document any value without Japanese in it (`won`, `hot`)."""
    if lang == "ja":
        return not _KANA_KANJI.search(value) and any(ch.isalpha() for ch in value)
    return "_" in value


_OPS = {">=": "ge", "<=": "le", ">": "gt", "<": "lt", "==": "eq", "!=": "ne"}


class _ConditionWords:
    """One condition → words. The first label keeps its capital; later English labels start
    in lower case when they begin with an ordinary capitalised word ("Viewed the pricing page"
    → "viewed the pricing page"), so the whole reads as one sentence."""

    def __init__(self, words: Words) -> None:
        self.w = words
        self.t = words.t
        self.labels = 0

    def subject(self, ref: ir.Ref) -> str:
        label = self.w.ref(ref)
        if self.labels and self.w.lang == "en":
            label = _TITLE_WORD.sub(lambda m: m.group(0).lower(), label)
        self.labels += 1
        return label

    def value(self, ref: ir.Ref, value: ir.Value) -> str:
        """A value a condition compares with; an enum option by its label."""
        if isinstance(value, ir.Text):
            return self.w.quote_option(self.w.policy.property_by_id.get(ref.name), value.value)
        return self.w.value(value)

    def kind(self, ref: ir.Ref) -> str:
        p = self.w.policy
        if ref.name in p.score_by_id:
            return "score"
        if ref.name in p.event_by_id:
            return "event"
        prop = p.property_by_id.get(ref.name)
        return prop.type if prop else "unknown"

    def render(self, c: ir.Condition, parent: str | None = None) -> str:
        if isinstance(c, (ir.AllOf, ir.AnyOf)):
            kind = "and" if isinstance(c, ir.AllOf) else "or"
            parts = [self.render(item, kind) for item in c.items]
            text = self.t(f"cond.{kind}").join(parts)
            return self.t("cond.group", inner=text) if parent is not None else text
        if isinstance(c, ir.Negation):
            return self.t("cond.not", inner=self.render(c.item, "not"))
        if isinstance(c, ir.Truthy):
            kind = self.kind(c.ref)
            subject = self.subject(c.ref)
            if kind == "event":
                return self.t("cond.event_happened", subject=subject)
            if kind == "score":
                return self.t("cmp.ordered.gt", subject=subject, value="0")
            return self.t("cond.yes", subject=subject)
        if isinstance(c, ir.Presence):
            return self.t("cond.not_set" if c.negated else "cond.set", subject=self.subject(c.left))
        if isinstance(c, ir.Membership):
            subject = self.subject(c.left)
            if len(c.values) == 1:
                op = "ne" if c.negated else "eq"
                return self.t(f"cmp.equal.{op}", subject=subject, value=self.value(c.left, c.values[0]))
            values = [self.value(c.left, v) for v in c.values]
            if c.negated:
                return self.t("cond.not_in", subject=subject, values=self.w.join(values, "and"))
            return self.t("cond.in", subject=subject, values=self.w.join(values, "or"))
        if isinstance(c, ir.Comparison):
            return self.comparison(c)
        raise TypeError(f"unknown condition {c!r}")

    def comparison(self, c: ir.Comparison) -> str:
        kind = self.kind(c.left)
        op = _OPS[c.op]
        subject = self.subject(c.left)
        right = c.right
        if isinstance(right, ir.Flag) and c.op in ("==", "!="):
            positive = right.value == (c.op == "==")
            return self.t("cond.yes" if positive else "cond.no", subject=subject)
        if kind == "event" and isinstance(right, ir.Number):
            return self.t(f"cmp.times.{op}", subject=subject, n=right.value)
        if isinstance(right, ir.Text) and c.op in ("==", "!="):
            return self.t(f"cmp.equal.{op}", subject=subject, value=self.value(c.left, right))
        return self.t(f"cmp.ordered.{op}", subject=subject, value=self.w.value(right))
