"""Ownership: every stage, obligation, KPI, review and the document itself has an owner, and
hand-offs and escalations go between the right teams.

Deadlines and follow-ups belong to their stage's owner unless they name their own (`respond
within 24h owner inside_sales`); a hand-off goes from its `handoff from TEAM` to the stage's
owner. Owners that name no declared team are reported by SLA301 (undefined-reference).
"""

from __future__ import annotations

from typing import Iterator

from .. import ir
from ..diagnostics import Diagnostic, Listing, Message, Related, Severity, define_rule
from . import CheckContext, check
from .graph import agreement_anchor, flow

STAGE_WITHOUT_OWNER = define_rule(
    "SLA401",
    "stage-without-owner",
    Severity.ERROR,
    "A stage has no owner: the leads in it, and its deadlines and follow-ups, belong to nobody.",
    explanation="Every stage says which team owns the leads in it (`owner TEAM`). Deadlines "
    "and follow-ups in the stage belong to that owner unless they name their own, and a "
    "hand-off goes to it — so without an owner they are owed by nobody. The diagnostic "
    "notes the obligations that are left without an owner.",
    bad='stage mql "MQL" {\n  respond within 24h\n  -> sql when intent == "yes"\n}',
    good='stage mql "MQL" {\n  owner inside_sales\n  respond within 24h\n  -> sql when intent == "yes"\n}',
)
KPI_WITHOUT_OWNER = define_rule(
    "SLA402",
    "kpi-without-owner",
    Severity.WARNING,
    "A KPI has no owner, so nobody is answerable for it or acts on its alert.",
    explanation="A goal nobody owns is not monitored. Give every KPI the team that answers for "
    "it (`owner marketing`).",
    bad='kpi mql_to_sql "MQL to SQL" {\n  measure rate mql -> sql per month\n  target >= 20%\n}',
    good='kpi mql_to_sql "MQL to SQL" {\n  owner marketing\n  measure rate mql -> sql per month\n  target >= 20%\n}',
)
REVIEW_WITHOUT_OWNER = define_rule(
    "SLA403",
    "review-without-owner",
    Severity.WARNING,
    "A review meeting has no owner, so nobody calls it.",
    explanation="Reviews are how the agreement stays alive; each needs a team that convenes it "
    "and keeps its `last held` date up to date.",
    bad='review weekly "Weekly lead review" {\n  every week\n  attendees marketing, sales\n}',
    good='review weekly "Weekly lead review" {\n  every week\n  owner revops\n  attendees marketing, sales\n}',
)
AGREEMENT_WITHOUT_OWNER = define_rule(
    "SLA404",
    "agreement-without-owner",
    Severity.WARNING,
    "The agreement names no owner of the SLA document.",
    explanation="The design checklist asks for an owner of the SLA document itself: the team "
    "that keeps it current, runs its reviews and collects signatures. Write it in the "
    "header: `owner revops`.",
    bad='agreement "Sales & Marketing SLA" {\n  version "1.0"\n  effective 2026-04-01\n}',
    good='agreement "Sales & Marketing SLA" {\n  version "1.0"\n  effective 2026-04-01\n  owner revops\n}',
)
HANDOFF_WITHIN_SAME_TEAM = define_rule(
    "SLA405",
    "handoff-within-same-team",
    Severity.WARNING,
    "A hand-off goes from a team to itself.",
    explanation="`handoff from TEAM` describes how the stage's owner is told about a lead that "
    "another team passes on. When the sender is the stage's owner, nothing is handed over: "
    "either the sender or the owner is wrong, or the hand-off block is not needed.",
    bad='stage sql "SQL" {\n  owner sales\n  handoff from sales {\n    notify task\n  }\n}',
    good='stage sql "SQL" {\n  owner sales\n  handoff from inside_sales {\n    notify task\n  }\n}',
)
HANDOFF_FROM_WRONG_TEAM = define_rule(
    "SLA406",
    "handoff-from-wrong-team",
    Severity.WARNING,
    "A hand-off's sender owns none of the stages leads come from.",
    explanation="Leads enter a stage from the stages with a transition into it; the hand-off "
    "should come from a team that owns one of them (or a team it is `part of`, or one of its "
    "sub-teams). Otherwise the agreement names a sender that never has the lead.",
    bad='stage sal "SAL" {\n  owner inside_sales\n  -> sql when intent == "yes"\n}\n'
    'stage sql "SQL" {\n  owner field_sales\n  handoff from marketing {\n    notify task\n  }\n}',
    good='stage sql "SQL" {\n  owner field_sales\n  handoff from inside_sales {\n    notify task\n  }\n}',
)
ESCALATION_TO_OWNER = define_rule(
    "SLA407",
    "escalation-to-owner",
    Severity.WARNING,
    "An escalation goes to the team that already owns the late obligation.",
    explanation="Escalating means telling somebody above or beside the owner (a manager, "
    "RevOps) that a deadline is being missed. Escalating to the owner itself reaches nobody "
    "new. Escalate to a management team (`team sales_managers { part of sales }`).",
    bad='stage mql "MQL" {\n  owner sales\n  respond within 24h\n  escalate to sales after 24h\n}',
    good='stage mql "MQL" {\n  owner sales\n  respond within 24h\n  escalate to sales_managers after 24h\n}',
)


UNIDENTIFIED_SIGNER = define_rule(
    "SLA408",
    "unidentified-signer",
    Severity.WARNING,
    "A party signs the agreement, but the policy does not say who may sign for it.",
    explanation="Each `party` signs the agreement PDF in its own signature field. `sla verify "
    "--policy` checks that the certificate in each field belongs to the party's lead: the "
    "certificate's e-mail address (subject or subjectAltName) must be the lead's `email`, and its "
    "SHA-256 fingerprint the lead's `certificate` when one is given. Without either, anybody "
    "holding a trusted certificate could sign for the party and verify could not tell. Two "
    "parties whose leads share an e-mail address or certificate would let one person sign for "
    "both sides. Give every party a `lead` with its own `email` (and, to pin one certificate, "
    "its `certificate` fingerprint: `openssl x509 -in cert.pem -noout -fingerprint -sha256`).",
    bad='party sales "Sales" {\n  role sales\n  lead "Kenji Sato" title "Head of Sales"\n}',
    good='party sales "Sales" {\n  role sales\n  lead "Kenji Sato" title "Head of Sales" email "kenji@example.com"\n}',
)


ONE_SIDED_HANDOFF_REVIEW = define_rule(
    "SLA410",
    "one-sided-handoff-review",
    Severity.WARNING,
    "A review of the hand-offs is attended by one party only.",
    explanation="A review that `covers handoff` is where the sending and the receiving side go "
    "through the leads handed over, the rejected ones and the feedback: it is joint by "
    "nature. When its owner and attendees all belong to one party (counting teams `part of` "
    "a party as that party), the other side never hears the feedback and the review cannot "
    "settle a disagreement. Reported when the agreement has at least two parties.",
    bad='review weekly "Weekly lead review" {\n  every week\n  owner sales\n  attendees sales\n  covers handoff\n}',
    good='review weekly "Weekly lead review" {\n  every week\n  owner sales\n  attendees marketing, sales\n'
    '  covers handoff\n}',
)
UNACCOUNTABLE_OWNER = define_rule(
    "SLA411",
    "unaccountable-owner",
    Severity.WARNING,
    "A team owns obligations, but it has no lead and is not part of any party that signs.",
    explanation="An owner must be someone who answers for the obligation. A party answers "
    "through the person who signs for it; a team that is `part of` a party answers through "
    "that party; a team outside the parties answers through its `lead`. A team with neither "
    "(no `lead`, no `part of` a signing party) owns stages, KPIs or reviews that nobody has "
    "agreed to: nobody is named in the agreement for them and nobody signed for them. Give "
    "the team a `lead`, or make it `part of` the party it works for.",
    bad='team ops "Operations" {\n  role operations\n}\n…\nstage mql "MQL" {\n  owner ops\n}',
    good='team ops "Operations" {\n  role operations\n  lead "Sota Watanabe" title "RevOps Lead"\n}',
)


@check(STAGE_WITHOUT_OWNER)
def find_stages_without_owner(ctx: CheckContext) -> Iterator[Diagnostic]:
    for stage in flow(ctx).stages.values():
        if stage.owner is not None:
            continue
        orphans: list[Related] = []
        for d in stage.deadlines:
            if d.owner is None:
                orphans.append(Related(d.span, Message('this `{kind}` deadline has no owner either', kind=d.kind)))
        if stage.follow_up and stage.follow_up.owner is None:
            orphans.append(Related(stage.follow_up.span, Message('this follow-up has no owner either')))
        if stage.handoff:
            orphans.append(Related(stage.handoff.span, Message('this hand-off has no receiver')))
        yield Diagnostic(
            STAGE_WITHOUT_OWNER,
            Message('stage `{stage}` has no owner: the leads in it belong to nobody', stage=stage.id),
            stage.name_span,
            help=Message('add `owner TEAM` with the team responsible for the leads in this stage'),
            related=tuple(orphans),
        )


@check(KPI_WITHOUT_OWNER, REVIEW_WITHOUT_OWNER, AGREEMENT_WITHOUT_OWNER)
def find_other_things_without_owner(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    if policy.agreement is not None and policy.agreement.owner is None:
        yield Diagnostic(
            AGREEMENT_WITHOUT_OWNER,
            Message('the agreement names no owner of the SLA document'),
            agreement_anchor(policy),
            help=Message('add `owner TEAM` to the agreement block (e.g. revenue operations)'),
        )
    for kpi in policy.kpis:
        if kpi.owner is None:
            yield Diagnostic(
                KPI_WITHOUT_OWNER,
                Message('KPI `{kpi}` has no owner', kpi=kpi.id),
                kpi.name_span,
                help=Message('add `owner TEAM` with the team answerable for this goal'),
            )
    for review in policy.reviews:
        if review.owner is None:
            yield Diagnostic(
                REVIEW_WITHOUT_OWNER,
                Message('review `{review}` has no owner, so nobody calls it', review=review.id),
                review.name_span,
                help=Message('add `owner TEAM` with the team that convenes the meeting'),
            )


def team_family(policy: ir.Policy, team_id: str) -> set[str]:
    """The team, the teams it is part of, and the teams part of it."""
    family = {team_id}
    current = policy.team_by_id.get(team_id)
    seen = set()
    while current is not None and current.parent is not None and current.parent.name not in seen:
        seen.add(current.parent.name)
        family.add(current.parent.name)
        current = policy.team_by_id.get(current.parent.name)
    changed = True
    while changed:
        changed = False
        for team in policy.teams:
            if team.parent is not None and team.parent.name in family and team.id not in family:
                family.add(team.id)
                changed = True
    return family


@check(HANDOFF_WITHIN_SAME_TEAM, HANDOFF_FROM_WRONG_TEAM)
def find_misdirected_handoffs(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    f = flow(ctx)
    for stage in f.stages.values():
        handoff = stage.handoff
        if handoff is None or stage.owner is None or handoff.sender.name not in policy.team_by_id:
            continue
        sender = handoff.sender.name
        if sender == stage.owner.name:
            yield Diagnostic(
                HANDOFF_WITHIN_SAME_TEAM,
                Message('the hand-off into `{stage}` goes from `{sender}` to `{sender}` itself', stage=stage.id, sender=sender),
                handoff.sender.span,
                help=Message('name the team that passes the lead on, or remove the hand-off if no team changes here'),
                related=(Related(stage.owner.span, Message("the stage's owner")),),
            )
            continue
        sources = [p for p in dict.fromkeys(f.predecessors[stage.id]) if p != stage.id]
        owners = {f.stages[p].owner.name: p for p in sources if f.stages[p].owner is not None}
        if not owners:
            continue  # an entry stage, or predecessors without owners (SLA401)
        family = team_family(policy, sender)
        if not family & set(owners):
            shown = Listing((f"`{p}` ({o})" for o, p in sorted(owners.items(), key=lambda i: i[1])),
                            limit=len(owners), quote=False)
            yield Diagnostic(
                HANDOFF_FROM_WRONG_TEAM,
                Message('the hand-off into `{stage}` comes from `{sender}`, but leads come from {shown}', stage=stage.id, sender=sender, shown=shown),
                handoff.sender.span,
                help=Message("hand off from the team that owns the stage before: {choices}",
                             choices=Listing((f"handoff from {o}" for o in sorted(owners)), limit=len(owners))),
                related=tuple(
                    Related(f.stages[p].owner.span, Message('`{p}` is owned by `{o}`', p=p, o=o)) for o, p in sorted(owners.items())
                ),
            )


@check(ESCALATION_TO_OWNER)
def find_escalations_to_owner(ctx: CheckContext) -> Iterator[Diagnostic]:
    for stage in flow(ctx).stages.values():
        for escalation in stage.escalations:
            deadline = stage.deadline(escalation.on) if escalation.on else None
            owner = deadline.owner if deadline is not None and deadline.owner is not None else stage.owner
            if owner is not None and escalation.to.name == owner.name:
                yield Diagnostic(
                    ESCALATION_TO_OWNER,
                    (Message('this escalation goes to `{owner}`, which already owns the `{deadline}` deadline', owner=owner.name, deadline=escalation.on)
                     if escalation.on else Message('this escalation goes to `{owner}`, which already owns the stage', owner=owner.name)),
                    escalation.to.span,
                    help=Message('escalate to a manager or another team (e.g. `team sales_managers { part of sales }`)'),
                    related=(Related(owner.span, Message('owner')),),
                )


@check(UNIDENTIFIED_SIGNER)
def find_unidentified_signers(ctx: CheckContext) -> Iterator[Diagnostic]:
    claimed: dict[tuple[str, str], ir.Team] = {}
    for party in ctx.policy.parties:
        lead = party.lead
        if lead is None:
            yield Diagnostic(
                UNIDENTIFIED_SIGNER,
                Message('party `{party}` signs the agreement but names no `lead` to sign for it', party=party.id),
                party.name_span,
                help=Message('add `lead "NAME" title "TITLE" email "ADDRESS"` to party `{party}`', party=party.id),
            )
            continue
        if not lead.identified:
            yield Diagnostic(
                UNIDENTIFIED_SIGNER,
                Message('the lead of party `{party}` has no `email` or `certificate`: `sla verify` cannot tell whether the right person signed', party=party.id),
                lead.span,
                help=Message('add the e-mail address of the lead\'s signing certificate: `lead "{lead}" … email "ADDRESS"`', lead=lead.name),
            )
            continue
        for kind, value in (("email", lead.email and lead.email.casefold()), ("certificate", lead.certificate)):
            if value is None:
                continue
            other = claimed.setdefault((kind, value), party)
            if other is not party:
                yield Diagnostic(
                    UNIDENTIFIED_SIGNER,
                    Message('the leads of `{other}` and `{party}` have the same `{kind}`: one person would sign for both parties', other=other.id, party=party.id, kind=kind),
                    lead.span,
                    help=Message('each party signs for itself: give each lead their own e-mail address and certificate'),
                    related=(Related(other.lead.span, Message('the lead of `{other}`', other=other.id)),),
                )


TOO_FEW_REVIEWERS = define_rule(
    "SLA409",
    "too-few-reviewers",
    Severity.WARNING,
    "A team whose approval changes need has fewer than two reviewers, so its author cannot get a change approved.",
    explanation="`sla diff --approved-by` asks the document owner to approve every change, and each party "
    "to approve the changes to its obligations (sla diff in the README). GitHub does not let anyone approve "
    "their own pull request, and `sla diff --author` does not count the author's approval: a team with a "
    "single reviewer can never approve a change that reviewer wrote — a pull request by the only RevOps "
    "reviewer waits for ever (the owner-deadlock rule). Reviewers of teams that are `part of` a party count "
    "for that party. Reported when the policy declares reviewers at all.",
    bad='team revops "Revenue Operations" {\n  reviewers "@rina"\n}',
    good='team revops "Revenue Operations" {\n  reviewers "@rina", "@taro"\n}',
)


@check(TOO_FEW_REVIEWERS)
def find_teams_with_too_few_reviewers(ctx: CheckContext) -> Iterator[Diagnostic]:
    from ..semdiff.roles import Roles

    policy = ctx.policy
    if not any(team.reviewers for team in policy.teams):
        return  # approvals are not used with this policy
    roles = Roles(policy)
    needed: dict[str, str] = {}  # team id → why its approval is needed
    owner = policy.agreement.owner.name if policy.agreement and policy.agreement.owner else None
    if owner in policy.team_by_id:
        needed[owner] = "owner"
    for party in roles.all_parties:
        needed.setdefault(party, "party")
    for team_id, why in needed.items():
        teams = roles.team_subtree(team_id) if team_id == owner else roles.members(team_id)
        reviewers = list(dict.fromkeys(r.value.strip().lstrip("@").lower() for t in teams for r in t.reviewers))
        if len(reviewers) >= 2:
            continue
        team = policy.team_by_id[team_id]
        if why == "owner":
            message = (Message("team `{team}` has one reviewer; it is the owner of the agreement, which approves every "
                               "change, so a change its only reviewer writes can never be approved", team=team_id)
                       if reviewers else
                       Message("team `{team}` has no reviewers; it is the owner of the agreement, which approves every "
                               "change, so nobody can approve for it", team=team_id))
        else:
            message = (Message("team `{team}` has one reviewer; it is a party, which approves the changes to its "
                               "obligations, so a change its only reviewer writes can never be approved", team=team_id)
                       if reviewers else
                       Message("team `{team}` has no reviewers; it is a party, which approves the changes to its "
                               "obligations, so nobody can approve for it", team=team_id))
        yield Diagnostic(
            TOO_FEW_REVIEWERS,
            message,
            team.name_span,
            help=Message('add a second handle to `reviewers` (here or in a team that is `part of` it)'),
        )


def _signing_party(policy: ir.Policy, team_id: str) -> str | None:
    """The signing party a team is, or is `part of` (through any number of levels)."""
    seen: set[str] = set()
    current = policy.team_by_id.get(team_id)
    while current is not None and current.id not in seen:
        if current.signs:
            return current.id
        seen.add(current.id)
        current = policy.team_by_id.get(current.parent.name) if current.parent else None
    return None


@check(ONE_SIDED_HANDOFF_REVIEW)
def find_one_sided_handoff_reviews(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    if sum(1 for t in policy.teams if t.signs) < 2:
        return
    for review in policy.reviews:
        if not any(c.name == "handoff" for c in review.covers):
            continue
        people = ([review.owner] if review.owner else []) + list(review.attendees)
        if any(p.name not in policy.team_by_id for p in people):
            continue  # SLA301
        parties = list(dict.fromkeys(p for p in (_signing_party(policy, t.name) for t in people) if p))
        if len(parties) < 2:
            absent = [t.id for t in policy.teams if t.signs and t.id not in parties]
            yield Diagnostic(
                ONE_SIDED_HANDOFF_REVIEW,
                (Message('review `{review}` covers the hand-offs, but only party `{party}` takes part',
                         review=review.id, party=parties[0])
                 if parties else
                 Message('review `{review}` covers the hand-offs, but no party takes part', review=review.id)),
                review.name_span,
                help=Message('add the other side to its attendees: `attendees {teams}`',
                             teams=Listing(parties + absent, quote=False, separator=", ")),
            )


@check(UNACCOUNTABLE_OWNER)
def find_unaccountable_owners(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    owned: dict[str, list[ir.Name]] = {}
    names = [s.owner for s in policy.stages] + [k.owner for k in policy.kpis] + [r.owner for r in policy.reviews]
    names += [d.owner for s in policy.stages for d in s.deadlines]
    if policy.agreement is not None:
        names.append(policy.agreement.owner)
    for name in names:
        if name is not None:
            owned.setdefault(name.name, []).append(name)
    for team in policy.teams:
        if team.id not in owned or team.signs or team.lead is not None or _signing_party(policy, team.id):
            continue
        uses = owned[team.id]
        yield Diagnostic(
            UNACCOUNTABLE_OWNER,
            Message('team `{team}` owns obligations of this agreement but has no `lead` and is not part of a party '
                    'that signs: nobody answers for them', team=team.id),
            team.name_span,
            help=Message('add `lead "NAME" title "TITLE"` to team `{team}`, or `part of PARTY` for the party it works for',
                         team=team.id),
            related=tuple(Related(n.span, Message('owned here')) for n in uses[:3]),
        )
