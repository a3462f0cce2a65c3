"""`sla diff` reports: text for the terminal, Markdown for a pull-request comment, JSON for tools."""

from __future__ import annotations

import json
from typing import Sequence

from ..agreement.escape import code_span, markdown, visible
from . import Approval, PolicyChanges
from .messages import effect_word, headline, message, phrase
from .model import NEUTRAL

MARKER = "<!-- sla-diff -->"  # lets a CI job find and update its own comment


def _lang(changes: PolicyChanges, lang: str | None) -> str:
    return lang or changes.language


def _status_line(pc: PolicyChanges, lang: str) -> str:
    if pc.status == "added":
        return phrase("added_policy", lang)
    if pc.status == "deleted":
        return phrase("deleted_policy", lang)
    if not pc.changes:
        if pc.reordered_only:
            return phrase("reordered_only", lang, old=pc.old_fingerprint[:12], new=pc.new_fingerprint[:12])
        return phrase("no_change", lang)
    return phrase("change_one", lang) if len(pc.changes) == 1 else phrase("changes", lang, n=len(pc.changes))


def _effects_text(pc: PolicyChanges, change, lang: str) -> str:
    labels = {p.id: p.label for p in pc.parties}
    parts = [f"{labels.get(party, party)}: {effect_word(effect, lang)}" for party, effect in change.effects]
    if not parts:
        return effect_word(NEUTRAL, lang)
    return (" / " if lang == "ja" else "; ").join(parts)


def _path_title(pc: PolicyChanges) -> str:
    if pc.status == "renamed" or (pc.old_path and pc.new_path and pc.old_path.split(":", 1)[-1] != pc.new_path):
        return f"{pc.old_path} → {pc.new_path}"
    return pc.path


def _version_line(pc: PolicyChanges, lang: str) -> str | None:
    v = pc.version
    if v is None or v.level == "none":
        return None
    level = phrase(f"level_{v.level}", lang)
    if v.ok:
        return phrase("version_ok", lang, old=v.old, new=v.new, level=level)
    if v.proposed:
        return phrase("version_needed", lang, level=level, proposed=v.proposed, new=v.new)
    return phrase("version_needed_text", lang, new=v.new)


def _sentence(ref, lang: str) -> str:
    from ..agreement.clauses import clause_sentence

    return clause_sentence(ref.kind, ref.policy, ref.nodes, lang)


def grouped(changes) -> list[list]:
    """Changes to one clause, together: a clause is shown once, before and after in full."""
    groups: dict[str, list] = {}
    for change in changes:
        groups.setdefault(change.clause_id, []).append(change)
    return list(groups.values())


def _clause_words(group, lang: str) -> tuple[str | None, str | None]:
    """The whole clause before and after, in the agreement's words (None: it does not exist there)."""
    before = next((c.before for c in group if c.before is not None), None)
    after = next((c.after for c in group if c.after is not None), None)
    old = _sentence(before, lang) if before is not None else None
    new = _sentence(after, lang) if after is not None else None
    if old == new:  # e.g. only a channel's spelling changed: the sentence does not show it
        return None, None
    return old, new


def _group_effects(pc: PolicyChanges, group, lang: str) -> str:
    from .model import Effects

    merged = Effects()
    for change in group:
        for party, effect in change.effects:
            merged.add(party, effect)
    return _effects_from(pc, merged.frozen(), lang)


def _effects_from(pc: PolicyChanges, effects, lang: str) -> str:
    labels = {p.id: p.label for p in pc.parties}
    parts = [f"{labels.get(party, party)}: {effect_word(effect, lang)}" for party, effect in effects]
    return (" / " if lang == "ja" else "; ").join(parts) if parts else effect_word(NEUTRAL, lang)


def _messages(group, lang: str) -> list[str]:
    """One line per change; a clause shown before and after in full needs no values in it."""
    old, new = _clause_words(group, lang)
    shown = headline if (old or new) else message
    return list(dict.fromkeys(shown(c, lang) for c in group))


def _split(pc: PolicyChanges):
    obligations = [g for g in grouped(pc.changes) if any(c.is_obligation for c in g)]
    others = [g for g in grouped(pc.changes) if not any(c.is_obligation for c in g)]
    return obligations, others


# ---------------------------------------------------------------------- text


def render_text(results: Sequence[PolicyChanges], approvals: Sequence[Approval] | None, lang: str | None) -> str:
    out: list[str] = []
    for pc in results:
        language = _lang(pc, lang)
        out.append(f"{_path_title(pc)}: {_status_line(pc, language)}")
        version = _version_line(pc, language)
        if version:
            out.append("  " + version)
        obligations, others = _split(pc)
        for title, groups in ((phrase("obligation_changes", language), obligations),
                              (phrase("other_changes", language, n=sum(len(g) for g in others)), others)):
            if not groups:
                continue
            if pc.status == "modified":
                out.append(f"  {title}")
            for group in groups:
                out += _text_group(pc, group, language)
    if approvals is not None:
        language = lang or (results[0].language if results else "en")
        out.append("")
        out.append(phrase("approvers", language) + ":")
        if not approvals:
            out.append("  -")
        for a in approvals:
            out.append("  " + _approval_line(a, language))
    return "\n".join(visible(line) for line in out) + "\n"


def _text_group(pc: PolicyChanges, group, lang: str) -> list[str]:
    head = group[0]
    lines = [f"  {head.clause_id}  " + ("; " if lang == "en" else "。").join(_messages(group, lang))]
    details = [_group_effects(pc, group, lang)]
    old_ids = sorted({c.old_clause_id for c in group if c.old_clause_id})
    if old_ids:
        details.append(f"{phrase('was', lang)} {', '.join(old_ids)}")
    affects = list(dict.fromkeys(a for c in group for a in c.affects))
    if affects:
        details.append(f"{phrase('affects', lang)}: {', '.join(affects)}")
    lines.append("      " + " · ".join(details))
    old, new = _clause_words(group, lang)
    if old:
        lines.append(f"      {phrase('before', lang)}: {old}")
    if new:
        lines.append(f"      {phrase('after', lang)}: {new}")
    return lines


def _approval_line(a: Approval, lang: str) -> str:
    who = ", ".join(a.eligible) if a.eligible else f"({phrase('no_reviewers', lang)})"
    if a.author and len(a.eligible) != len(a.reviewers):
        who += f" ({phrase('not_the_author', lang, author=a.author)})"
    reasons = []
    if "owner" in a.reasons:
        reasons.append(phrase("approver_reason_owner", lang))
    named = [phrase(f"approver_reason_{r}", lang) for r in ("obligor", "beneficiary") if r in a.reasons]
    if named:
        reasons.append(f"{', '.join(named)} ({', '.join(a.clauses)})")
    if "amendment" in a.reasons:
        reasons.append(phrase("approver_reason_amendment", lang))
    return f"{a.team} ({a.label}): {who} — {'; '.join(reasons)}  [{a.policy}]"


# ---------------------------------------------------------------------- Markdown
# Every text that comes from a policy (labels, conditions, the whole clause sentences) goes
# through `md()`: it renders as exactly that text, so a label cannot make a heading, an image,
# a link or HTML in the pull-request comment the approvers read (issue 15, item 9).


def md(text: str) -> str:
    return markdown(visible(text))


_MD_EFFECT = {"stricter": "**▲ {w}**", "looser": "▽ {w}", "gains": "△ {w}", "loses": "**▼ {w}**", "mixed": "**◆ {w}**",
              "neutral": "·"}


def render_markdown(results: Sequence[PolicyChanges], approvals: Sequence[Approval] | None, lang: str | None) -> str:
    language = lang or (results[0].language if results else "en")
    out = [MARKER, f"## {phrase('summary_title', language)}", ""]
    if not results:
        out += [phrase("no_change", language), ""]
    for pc in results:
        lg = _lang(pc, lang)
        title = f" — {md(pc.title)}" if pc.title else ""
        out += [f"### {code_span(_path_title(pc))}{title}", "", md(_status_line(pc, lg)), ""]
        version = _version_line(pc, lg)
        if version:
            out += [f"**{md(version)}**", ""]
        if not pc.changes:
            continue
        obligations, others = _split(pc)
        parties = pc.parties
        if obligations:
            out += [f"#### {phrase('obligation_changes', lg)}", ""]
            out += _md_table(pc, obligations, parties, lg)
            out += ["", f"<details open><summary>{phrase('in_words', lg)}</summary>", ""]
            out += _md_words(pc, obligations, lg)
            out += ["", "</details>", ""]
        if others:
            n = sum(len(g) for g in others)
            out += [f"<details><summary>{md(phrase('other_changes', lg, n=n))}</summary>", ""]
            out += _md_table(pc, others, parties, lg)
            out += ["", "</details>", ""]
    if approvals is not None:
        out += [f"### {phrase('approvers', language)}", ""]
        if not approvals:
            out.append("-")
        for a in approvals:
            out.append("- " + md(_approval_line(a, language)))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _md_table(pc: PolicyChanges, groups, parties, lg: str) -> list[str]:
    header = [phrase("clause", lg), phrase("change", lg), *[md(p.label) for p in parties]]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        merged: dict[str, str] = {}
        for change in group:
            for party, effect in change.effects:
                merged[party] = effect if merged.get(party, effect) == effect else "mixed"
        cells = [code_span(group[0].clause_id), "<br>".join(md(m) for m in _messages(group, lg))]
        for p in parties:
            effect = merged.get(p.id, NEUTRAL)
            cells.append(_MD_EFFECT[effect].format(w=effect_word(effect, lg)))
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _md_words(pc: PolicyChanges, groups, lg: str) -> list[str]:
    out = []
    for group in groups:
        old, new = _clause_words(group, lg)
        out.append(f"- {code_span(group[0].clause_id)} — {md(_group_effects(pc, group, lg))}")
        if old:
            out.append(f"  - {phrase('before', lg)}: {md(old)}")
        if new:
            out.append(f"  - {phrase('after', lg)}: {md(new)}")
        if not old and not new:
            out.append("  - " + md("; ".join(message(c, lg) for c in group)))
    return out


# ---------------------------------------------------------------------- JSON


def to_json(results: Sequence[PolicyChanges], approvals: Sequence[Approval], lang: str | None) -> dict:
    policies = []
    for pc in results:
        lg = _lang(pc, lang)
        policies.append({
            "path": pc.path,
            "old_path": pc.old_path,
            "new_path": pc.new_path,
            "status": pc.status,
            "title": pc.title,
            "language": lg,
            "summary": _status_line(pc, lg),
            "old_fingerprint": pc.old_fingerprint,
            "new_fingerprint": pc.new_fingerprint,
            "version": None if pc.version is None else {
                "old": pc.version.old, "new": pc.version.new, "required": pc.version.level,
                "proposed": pc.version.proposed, "ok": pc.version.ok},
            "parties": [{"id": p.id, "label": p.label, "signs": p.signs, "reviewers": list(p.reviewers)}
                        for p in pc.parties],
            "changes": [
                {
                    "kind": c.kind,
                    "action": c.action,
                    "clause_id": c.clause_id,
                    "old_clause_id": c.old_clause_id,
                    "message": message(c, lg),
                    "obligation": c.is_obligation,
                    "effects": {p.id: c.effect_for(p.id) for p in pc.parties},
                    "obligations": [{"obligor": d.obligor, "beneficiaries": list(d.beneficiaries),
                                     "direction": d.direction} for d in c.duties],
                    "before": _sentence(c.before, lg) if c.before is not None else None,
                    "after": _sentence(c.after, lg) if c.after is not None else None,
                    "affects": list(c.affects),
                }
                for c in pc.changes
            ],
        })
    return {
        "format": "sla-diff/2",
        "policies": policies,
        "required_approvals": [
            {"policy": a.policy, "team": a.team, "label": a.label, "any_of": list(a.eligible),
             "reasons": list(a.reasons), "clauses": list(a.clauses)}
            for a in approvals
        ],
    }


def render_json(results: Sequence[PolicyChanges], approvals: Sequence[Approval], lang: str | None) -> str:
    return json.dumps(to_json(results, approvals, lang), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
