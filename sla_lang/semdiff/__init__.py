"""Semantic diff: what a change to a policy does to the agreement, and who must approve it.

    compare.py     IR against IR → Change records, each classified per party
    conditions.py  showing criteria, and whether a change makes them easier to meet
    messages.py    the English and Japanese wording
    render.py      text, Markdown (a pull-request comment) and JSON
    revisions.py   reading `REV:path` and the policies changed since a revision, with git
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Policy
from ..irjson import fingerprint
from .compare import compare_policies, parties_of, party_of
from .model import ADDED, LOOSER, MIXED, REMOVED, STRICTER, Change, Effects, PolicyChanges, Quote, What


def diff_policies(old: Policy | None, new: Policy | None, old_path: str | None, new_path: str | None) -> PolicyChanges:
    """Compare two versions of one policy (None: the file does not exist on that side)."""
    base = new or old
    assert base is not None
    parties = parties_of(new, old)
    if old is None or new is None:
        effect = STRICTER if old is None else LOOSER
        effects = Effects()
        for team in obligation_owners(base):
            effects.add(party_of(base, team), effect)
        title = base.agreement.title if base.agreement else base.path
        changes = [Change("policy", ADDED if old is None else REMOVED, "agreement",
                          What.of("policy", title=Quote(title)), effects=effects.frozen())]
        status = "added" if old is None else "deleted"
    else:
        changes = compare_policies(old, new)
        status = "modified" if changes else "unchanged"
    return PolicyChanges(
        old_path=old_path,
        new_path=new_path,
        status=status,
        changes=changes,
        parties=parties,
        owner=_owner(base),
        old_owner=_owner(old) if old is not None else None,
        language=base.language,
        title=base.agreement.title if base.agreement else "",
        old_fingerprint=fingerprint(old) if old is not None else None,
        new_fingerprint=fingerprint(new) if new is not None else None,
        old_reviewers={t.id: tuple(r.value for r in t.reviewers) for t in old.teams} if old is not None else {},
    )


def _owner(policy: Policy | None) -> str | None:
    if policy is None or policy.agreement is None or policy.agreement.owner is None:
        return None
    return policy.agreement.owner.name


def obligation_owners(policy: Policy) -> list[str]:
    """Every team the policy gives an obligation to, in declaration order."""
    owners: list[str] = []
    for stage in policy.stages:
        if stage.owner:
            owners.append(stage.owner.name)
        owners += [d.owner.name for d in stage.deadlines if d.owner]
        if stage.handoff:
            owners.append(stage.handoff.sender.name)
    owners += [k.owner.name for k in policy.kpis if k.owner]
    owners += [block.sender.name for block in policy.information if block.items]
    owners += [t.name for r in policy.responsibilities for t in (*r.responsible, *r.accountable)]
    for review in policy.reviews:
        owners += ([review.owner.name] if review.owner else []) + [t.name for t in review.attendees]
    return list(dict.fromkeys(owners))


@dataclass
class Approval:
    """One team whose approval the change needs: any one of its reviewers will do."""

    policy: str
    team: str
    label: str
    reviewers: tuple[str, ...]
    reasons: list[str] = field(default_factory=list)  # "owner" and/or "stricter"
    clauses: list[str] = field(default_factory=list)  # the clauses that got stricter for it

    def satisfied_by(self, approved: set[str]) -> bool:
        return any(_handle(r) in approved for r in self.reviewers)


def _handle(text: str) -> str:
    return text.strip().lstrip("@").lower()


def parse_handles(text: str) -> set[str]:
    """`@a, b  @c` → {"a", "b", "c"}: GitHub handles as a CI job lists the PR's approvals."""
    return {_handle(part) for part in text.replace(",", " ").split() if _handle(part)}


def required_approvals(changes: PolicyChanges, old: Policy | None, new: Policy | None) -> list[Approval]:
    """Parties whose obligations got stricter, the document owner and the parties the agreement's
    amendment procedure names (`amendment approved by …`), for any change.

    Reviewers are read from the *old* policy when the team existed there: a pull request cannot
    choose who approves it by editing the `reviewers` it is judged by.
    """
    if changes.old_fingerprint == changes.new_fingerprint:
        return []
    by_team: dict[str, Approval] = {}

    def approval(team: str) -> Approval:
        if team not in by_team:
            source = old if old is not None and team in old.team_by_id else new
            declared = source.team_by_id.get(team) if source is not None else None
            by_team[team] = Approval(
                changes.path, team, declared.label if declared else team,
                tuple(r.value for r in declared.reviewers) if declared else (),
            )
        return by_team[team]

    for change in changes.changes:
        for party, effect in change.effects:
            if effect in (STRICTER, MIXED):
                entry = approval(party)
                if "stricter" not in entry.reasons:
                    entry.reasons.append("stricter")
                if change.clause_id not in entry.clauses:
                    entry.clauses.append(change.clause_id)
    for owner in dict.fromkeys(o for o in (changes.old_owner, changes.owner) if o):
        entry = approval(owner)
        entry.reasons.insert(0, "owner")
    # `amendment approved by …` as the old version states it: a change cannot drop its own approvers
    stated = old if old is not None else new
    if stated is not None and stated.agreement is not None and stated.agreement.amendment is not None:
        for name in stated.agreement.amendment.approvers:
            entry = approval(name.name)
            if "amendment" not in entry.reasons:
                entry.reasons.append("amendment")
    return sorted(by_team.values(), key=lambda a: ("owner" not in a.reasons, a.team))


__all__ = [
    "Approval", "Change", "PolicyChanges", "diff_policies", "obligation_owners", "parse_handles", "required_approvals",
]
