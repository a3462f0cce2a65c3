"""Semantic diff: what a change to a policy does to the agreement, and who must approve it.

    compare.py     IR against IR → Change records, each classified per party
    conditions.py  showing criteria, and whether a change makes them easier to meet
    messages.py    the English and Japanese wording
    render.py      text, Markdown (a pull-request comment) and JSON
    revisions.py   reading `REV:path` and the policies changed since a revision, with git
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .roles import Roles

# The comparison's modules are imported by the functions that use them: `sla check` imports
# this package for `.roles` alone (the ownership check), and importing them as well cost ~5 ms
# of every check's start (the model's dataclasses, hashlib for the fingerprint).
if TYPE_CHECKING:
    from ..ir import Policy
    from .model import Change, PolicyChanges


def __getattr__(name: str):
    if name in ("Change", "PolicyChanges"):  # (in __all__)
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def diff_policies(old: Policy | None, new: Policy | None, old_path: str | None, new_path: str | None) -> PolicyChanges:
    """Compare two versions of one policy (None: the file does not exist on that side)."""
    from ..irjson import fingerprint
    from .compare import compare_policies, parties_of
    from .model import ADDED, LOOSER, REMOVED, STRICTER, Change, Duty, PolicyChanges, Quote, What
    from .version import propose_version

    base = new or old
    assert base is not None
    parties = parties_of(new, old)
    if old is None or new is None:
        direction = STRICTER if old is None else LOOSER
        roles = Roles(base)
        duties = tuple(Duty(party, roles.others(party) or (party,), direction) for party in obligors(base))
        title = base.agreement.title if base.agreement else base.path
        changes = [Change("policy", ADDED if old is None else REMOVED, "agreement",
                          What.of("policy", title=Quote(title)), duties=duties)]
        status = "added" if old is None else "deleted"
    else:
        changes = compare_policies(old, new)
        status = "modified" if changes else "unchanged"
    result = PolicyChanges(
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
    result.version = propose_version(result, _version(old), _version(new))
    return result


def _version(policy: Policy | None) -> str | None:
    if policy is None or policy.agreement is None or policy.agreement.version is None:
        return None
    return policy.agreement.version.value


def _owner(policy: Policy | None) -> str | None:
    if policy is None or policy.agreement is None or policy.agreement.owner is None:
        return None
    return policy.agreement.owner.name


def obligors(policy: Policy) -> list[str]:
    """Every party the policy gives an obligation to, in declaration order."""
    roles = Roles(policy)
    teams: list[str] = []
    for stage in policy.stages:
        if stage.owner and not stage.is_terminal:
            teams.append(stage.owner.name)
        teams += [d.owner.name for d in stage.deadlines if d.owner]
        if stage.handoff:
            teams.append(stage.handoff.sender.name)
    teams += [k.owner.name for k in policy.kpis if k.owner]
    teams += [block.sender.name for block in policy.information if block.items]
    teams += [t.name for r in policy.responsibilities for t in (*r.responsible, *r.accountable)]
    for review in policy.reviews:
        teams += ([review.owner.name] if review.owner else []) + [t.name for t in review.attendees]
    return list(dict.fromkeys(p for p in (roles.party(t) for t in teams) if p))


# kept for callers of the first version of this module
obligation_owners = obligors


@dataclass
class Approval:
    """One party whose approval the change needs: any one of its reviewers (or its sub-teams') will do."""

    policy: str
    team: str
    label: str
    reviewers: tuple[str, ...]
    reasons: list[str] = field(default_factory=list)  # "owner", "obligor" and/or "beneficiary"
    clauses: list[str] = field(default_factory=list)  # the clauses it must agree to
    author: str | None = None  # the pull request's author: GitHub does not let it approve its own change

    @property
    def eligible(self) -> tuple[str, ...]:
        """The reviewers whose approval counts: all but the author."""
        if self.author is None:
            return self.reviewers
        return tuple(r for r in self.reviewers if _handle(r) != _handle(self.author))

    def satisfied_by(self, approved: set[str]) -> bool:
        return any(_handle(r) in approved for r in self.eligible)


def _handle(text: str) -> str:
    return text.strip().lstrip("@").lower()


def parse_handles(text: str) -> set[str]:
    """`@a, b  @c` → {"a", "b", "c"}: GitHub handles as a CI job lists the PR's approvals."""
    return {_handle(part) for part in text.replace(",", " ").split() if _handle(part)}


def party_reviewers(policy: Policy, party: str) -> tuple[str, ...]:
    """The reviewers who may approve for a party: its own, then those of every team part of it."""
    roles = Roles(policy)
    out = [r.value for team in roles.members(party) for r in team.reviewers]
    return tuple(dict.fromkeys(out))


def owner_reviewers(policy: Policy, team: str) -> tuple[str, ...]:
    """The reviewers of the document owner team and of the teams part of it."""
    out = [r.value for t in Roles(policy).team_subtree(team) for r in t.reviewers]
    return tuple(dict.fromkeys(out))


def required_approvals(changes: PolicyChanges, old: Policy | None, new: Policy | None,
                       author: str | None = None) -> list[Approval]:
    """Who must approve: for every obligation a change makes stricter, its obligor; looser or
    removed, its beneficiaries; changed in a way that cannot be told, both — plus the document
    owner (both owners when the owner changes) and the parties the agreement's amendment
    procedure names (`amendment approved by …`) for any change that alters the fingerprint.

    A party's reviewers are its own and its sub-teams' (`part of`), read from the *old* policy
    when the party existed there: a pull request cannot choose who approves it by editing the
    `reviewers` it is judged by. The author's own approval never counts.
    """
    from .model import STRICTER, UNCLEAR

    if changes.old_fingerprint == changes.new_fingerprint:
        return []
    by_team: dict[str, Approval] = {}

    def approval(team: str, owner: bool) -> Approval:
        key = team
        if key not in by_team:
            source = old if old is not None and team in old.team_by_id else new
            declared = source.team_by_id.get(team) if source is not None else None
            reviewers = ((owner_reviewers if owner else party_reviewers)(source, team)) if declared else ()
            by_team[key] = Approval(changes.path, team, declared.label if declared else team, reviewers,
                                    author=author)
        return by_team[key]

    for owner in dict.fromkeys(o for o in (changes.old_owner, changes.owner) if o):
        approval(owner, True).reasons.append("owner")
    # `amendment approved by …` as the old version states it: a change cannot drop its own approvers
    stated = old if old is not None else new
    if stated is not None and stated.agreement is not None and stated.agreement.amendment is not None:
        for name in stated.agreement.amendment.approvers:
            entry = approval(Roles(stated).party(name.name) or name.name, False)
            if "amendment" not in entry.reasons:
                entry.reasons.append("amendment")
    for change in changes.changes:
        for duty in change.duties:
            for party in duty.approvers:
                entry = approval(party, False)
                reason = "obligor" if party == duty.obligor and duty.direction in (STRICTER, UNCLEAR) else "beneficiary"
                if reason not in entry.reasons:
                    entry.reasons.append(reason)
                if change.clause_id not in entry.clauses:
                    entry.clauses.append(change.clause_id)
    return sorted(by_team.values(), key=lambda a: ("owner" not in a.reasons, a.team))


__all__ = [
    "Approval", "Change", "PolicyChanges", "diff_policies", "obligors", "parse_handles", "required_approvals",
]
