"""Who owes what to whom: the obligor and the beneficiaries of every clause of a policy.

An obligation binds an *obligor* (the party that must act) to *beneficiaries* (the parties
that rely on it). Making it stricter is a burden the obligor must accept; making it looser —
or removing it — is a loss the beneficiaries must accept. So `sla diff` asks the obligor to
approve a stricter obligation and the beneficiaries to approve a looser one.

Parties are the teams that sign, plus teams that are part of no signing party (a team counts
for the party it is `part of`). The roles, read from the policy:

| clause | obligor | beneficiaries |
|---|---|---|
| a stage (responsible for its leads), its deadlines, the steps of its sequence (`then …`), follow-ups, escalations | the stage's (or the clause's own) owner | `stage_beneficiaries` |
| an SLO `target` | the deadline's owner | itself (an internal target) |
| an escalation's receiver | the party of the team escalated to | as for the stage |
| a hand-off (notify, include) | the sender | the receiving stage's owner |
| a move A → B into a live stage (criteria, `after`) | B's owner, who must take the lead | A's owner |
| a move A → B into a terminal stage | A's owner, who keeps working the lead until then | as for stage A |
| what must be recorded on a move A → B | A's owner | B's owner (or as for stage A) |
| a KPI (target, alert, measure) | its owner | the owners of the stages it measures, else every other party |
| information from X to Y | X | Y |
| a responsibility | each team responsible or accountable | the teams consulted and informed, else every other party |
| a review meeting | each attendee and the owner | the other participants |
| a team's capacity | that team | as for the stages it owns |

`stage_beneficiaries(S)`: the parties that hand leads into S — the sender of S's hand-off,
else the owners of the nearest stages upstream that belong to another party; a stage nobody
else feeds (an entry stage) serves the nearest other party downstream; failing all that,
every other party. When obligor and beneficiary are the same party the obligation is
internal to it: that party approves either way.
"""

from __future__ import annotations

from collections import deque
from functools import cached_property

from .. import ir


class Roles:
    """The parties of one version of a policy and the roles they play in its clauses."""

    def __init__(self, policy: ir.Policy) -> None:
        self.policy = policy

    # ------------------------------------------------------------------ parties
    def party(self, team: str | None) -> str | None:
        """The party a team's obligations count for (itself when it is part of none)."""
        found = self.policy.team_by_id.get(team) if team else None
        if found is None:
            return None
        seen: set[str] = set()
        current = found
        while current is not None and current.id not in seen:
            if current.signs:
                return current.id
            seen.add(current.id)
            parent = self.policy.team_by_id.get(current.parent.name) if current.parent else None
            if parent is None:
                return current.id  # the top of a chain of non-signing teams stands for itself
            current = parent
        return found.id

    @cached_property
    def all_parties(self) -> tuple[str, ...]:
        """Every party, signing ones first, each once, in declaration order."""
        out = [t.id for t in self.policy.teams if t.signs]
        out += [p for p in (self.party(t.id) for t in self.policy.teams) if p]
        return tuple(dict.fromkeys(out))

    def members(self, party: str) -> list[ir.Team]:
        """The teams whose obligations count for `party`, the party's own team first."""
        teams = [t for t in self.policy.teams if self.party(t.id) == party]
        return sorted(teams, key=lambda t: t.id != party)

    def others(self, party: str | None) -> tuple[str, ...]:
        signing = [p for p in self.all_parties if self.policy.team_by_id[p].signs] if self.all_parties else []
        return tuple(p for p in (signing or self.all_parties) if p != party)

    def team_subtree(self, team: str) -> list[ir.Team]:
        """`team` and every team that is (transitively) part of it."""
        out, queue, seen = [], deque([team]), set()
        while queue:
            current = queue.popleft()
            if current in seen or current not in self.policy.team_by_id:
                continue
            seen.add(current)
            out.append(self.policy.team_by_id[current])
            queue.extend(t.id for t in self.policy.teams if t.parent and t.parent.name == current)
        return out

    # ------------------------------------------------------------------ the stage graph
    @cached_property
    def _predecessors(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {s.id: [] for s in self.policy.stages}
        for stage in self.policy.stages:
            for t in stage.transitions:
                out.setdefault(t.target.name, []).append(stage.id)
        return out

    def stage_party(self, stage_id: str) -> str | None:
        stage = self.policy.stage_by_id.get(stage_id)
        return self.party(stage.owner.name) if stage and stage.owner else None

    def _nearest(self, start: str, step, obligor: str | None, live_only: bool) -> tuple[str, ...]:
        found: list[str] = []
        seen = {start}
        layer = [start]
        while layer and not found:
            following = []
            for stage_id in layer:
                for nxt in step(stage_id):
                    if nxt in seen:
                        continue
                    seen.add(nxt)
                    stage = self.policy.stage_by_id.get(nxt)
                    if stage is None or (live_only and stage.is_terminal):
                        continue
                    party = self.stage_party(nxt)
                    if party is not None and party != obligor:
                        found.append(party)
                    else:
                        following.append(nxt)
            layer = following
        return tuple(dict.fromkeys(found))

    def stage_beneficiaries(self, stage_id: str, obligor: str | None) -> tuple[str, ...]:
        """The parties that rely on `obligor` working the leads in the stage (see the module doc)."""
        stage = self.policy.stage_by_id.get(stage_id)
        if stage is not None and stage.handoff is not None:
            sender = self.party(stage.handoff.sender.name)
            if sender is not None and sender != obligor:
                return (sender,)
        upstream = self._nearest(stage_id, lambda s: self._predecessors.get(s, ()), obligor, live_only=False)
        if upstream:
            return upstream
        def successors(stage: str) -> list[str]:
            found = self.policy.stage_by_id.get(stage)
            return [t.target.name for t in found.transitions] if found else []

        downstream = self._nearest(stage_id, successors, obligor, live_only=True)
        return downstream or self.others(obligor)

    # ------------------------------------------------------------------ clauses
    def stage_obligor(self, stage: ir.Stage, owner: ir.Name | None = None) -> str | None:
        """The party bound by a clause of the stage: its own `owner`, else the stage's owner."""
        if owner is not None:
            return self.party(owner.name)
        return self.party(stage.owner.name) if stage.owner else None

    def transition_roles(self, source: ir.Stage, target_id: str) -> tuple[str | None, tuple[str, ...]]:
        """(obligor, beneficiaries) of the move source → target: see the module doc."""
        target = self.policy.stage_by_id.get(target_id)
        source_party = self.stage_obligor(source)
        if target is not None and not target.is_terminal:
            taker = self.stage_party(target_id)
            if taker is None:
                return None, ()
            return taker, ((source_party,) if source_party and source_party != taker else (taker,))
        return source_party, self.stage_beneficiaries(source.id, source_party)

    def record_roles(self, source: ir.Stage, target_id: str) -> tuple[str | None, tuple[str, ...]]:
        recorder = self.stage_obligor(source)
        receiver = self.stage_party(target_id)
        if receiver is not None and receiver != recorder:
            return recorder, (receiver,)
        return recorder, self.stage_beneficiaries(source.id, recorder)

    def kpi_beneficiaries(self, kpi: ir.Kpi) -> tuple[str, ...]:
        owner = self.party(kpi.owner.name) if kpi.owner else None
        stages: list[str] = []
        m = kpi.measure
        if isinstance(m, (ir.CountMeasure, ir.ComplianceMeasure, ir.AverageMeasure, ir.SumMeasure, ir.OutcomeMeasure)):
            stages = [m.stage.name]
        elif isinstance(m, ir.ConversionMeasure):
            stages = [m.source.name, *(t.name for t in m.targets)]
        elif isinstance(m, ir.DurationMeasure):
            stages = [m.source.name, m.target.name]
        found = [p for p in (self.stage_party(s) for s in stages) if p and p != owner]
        return tuple(dict.fromkeys(found)) or self.others(owner)

    def responsibility_beneficiaries(self, row: ir.Responsibility, obligor: str | None) -> tuple[str, ...]:
        found = [p for p in (self.party(t.name) for t in (*row.consulted, *row.informed)) if p and p != obligor]
        return tuple(dict.fromkeys(found)) or self.others(obligor)

    def review_participants(self, review: ir.Review) -> tuple[str, ...]:
        teams = ([review.owner] if review.owner else []) + list(review.attendees)
        return tuple(dict.fromkeys(p for p in (self.party(t.name) for t in teams) if p))

    def review_beneficiaries(self, review: ir.Review, obligor: str) -> tuple[str, ...]:
        others = tuple(p for p in self.review_participants(review) if p != obligor)
        return others or self.others(obligor)

    def capacity_beneficiaries(self, team: ir.Team) -> tuple[str, ...]:
        party = self.party(team.id)
        found: list[str] = []
        for stage in self.policy.stages:
            if stage.owner and self.party(stage.owner.name) == party and not stage.is_terminal:
                found += self.stage_beneficiaries(stage.id, party)
        return tuple(dict.fromkeys(found)) or self.others(party)
