"""`sla diff` reports: text for the terminal, Markdown for a pull-request comment, JSON for tools."""

from __future__ import annotations

import json
from typing import Sequence

from . import Approval, PolicyChanges
from .messages import effect_word, message, phrase
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


# ---------------------------------------------------------------------- text


def render_text(results: Sequence[PolicyChanges], approvals: Sequence[Approval] | None, lang: str | None) -> str:
    out: list[str] = []
    for pc in results:
        language = _lang(pc, lang)
        out.append(f"{_path_title(pc)}: {_status_line(pc, language)}")
        for change in pc.changes:
            out.append(f"  {change.clause_id}  {message(change, language)}")
            details = [_effects_text(pc, change, language)]
            if change.old_clause_id:
                details.append(f"{phrase('was', language)} {change.old_clause_id}")
            if change.affects:
                details.append(f"{phrase('affects', language)}: {', '.join(change.affects)}")
            out.append("      " + " · ".join(details))
    if approvals is not None:
        language = lang or (results[0].language if results else "en")
        out.append("")
        out.append(phrase("approvers", language) + ":")
        if not approvals:
            out.append("  -")
        for a in approvals:
            out.append("  " + _approval_line(a, language))
    return "\n".join(out) + "\n"


def _approval_line(a: Approval, lang: str) -> str:
    who = ", ".join(a.reviewers) if a.reviewers else f"({phrase('no_reviewers', lang)})"
    reasons = []
    if "owner" in a.reasons:
        reasons.append(phrase("approver_reason_owner", lang))
    if "stricter" in a.reasons:
        reasons.append(f"{phrase('approver_reason_stricter', lang)} ({', '.join(a.clauses)})")
    if "amendment" in a.reasons:
        reasons.append(phrase("approver_reason_amendment", lang))
    return f"{a.team} ({a.label}): {who} — {'; '.join(reasons)}  [{a.policy}]"


# ---------------------------------------------------------------------- Markdown


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


_MD_EFFECT = {"stricter": "**▲ {w}**", "looser": "▽ {w}", "mixed": "◆ {w}", "neutral": "·"}


def render_markdown(results: Sequence[PolicyChanges], approvals: Sequence[Approval] | None, lang: str | None) -> str:
    language = lang or (results[0].language if results else "en")
    out = [MARKER, f"## {phrase('summary_title', language)}", ""]
    if not results:
        out += [phrase("no_change", language), ""]
    for pc in results:
        lg = _lang(pc, lang)
        title = f" — {pc.title}" if pc.title else ""
        out += [f"### `{_path_title(pc)}`{_cell(title)}", "", _status_line(pc, lg), ""]
        if not pc.changes:
            continue
        parties = pc.parties
        header = [phrase("clause", lg), phrase("change", lg), *[_cell(p.label) for p in parties]]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))
        for change in pc.changes:
            cells = [f"`{change.clause_id}`", _cell(message(change, lg))]
            for p in parties:
                effect = change.effect_for(p.id)
                cells.append(_MD_EFFECT[effect].format(w=effect_word(effect, lg)))
            out.append("| " + " | ".join(cells) + " |")
        out += ["", f"<details><summary>{phrase('details', lg)}</summary>", ""]
        for change in pc.changes:
            line = f"- `{change.clause_id}` ({change.kind}): {message(change, lg)}"
            extra = [f"{phrase('for_party', lg)}: {_effects_text(pc, change, lg)}"]
            if change.old_clause_id:
                extra.append(f"{phrase('was', lg)} `{change.old_clause_id}`")
            if change.affects:
                extra.append(f"{phrase('affects', lg)}: " + ", ".join(f"`{c}`" for c in change.affects))
            out.append(line + "  \n  " + " · ".join(extra))
        out += ["", "</details>", ""]
    if approvals is not None:
        out += [f"### {phrase('approvers', language)}", ""]
        if not approvals:
            out.append("-")
        for a in approvals:
            out.append("- " + _cell(_approval_line(a, language)))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


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
            "parties": [{"id": p.id, "label": p.label, "signs": p.signs, "reviewers": list(p.reviewers)}
                        for p in pc.parties],
            "changes": [
                {
                    "kind": c.kind,
                    "action": c.action,
                    "clause_id": c.clause_id,
                    "old_clause_id": c.old_clause_id,
                    "message": message(c, lg),
                    "effects": {p.id: c.effect_for(p.id) for p in pc.parties},
                    "affects": list(c.affects),
                }
                for c in pc.changes
            ],
        })
    return {
        "format": "sla-diff/1",
        "policies": policies,
        "required_approvals": [
            {"policy": a.policy, "team": a.team, "label": a.label, "any_of": list(a.reviewers),
             "reasons": list(a.reasons), "clauses": list(a.clauses)}
            for a in approvals
        ],
    }


def render_json(results: Sequence[PolicyChanges], approvals: Sequence[Approval], lang: str | None) -> str:
    return json.dumps(to_json(results, approvals, lang), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
