"""Compare two IRs of one agreement and classify every change for every party.

Elements are matched by what identifies them in the agreement — stages, teams, KPIs, reviews
by name (a stage whose name changed but whose content did not is a rename); numbered clauses
(score rules, information items, responsibilities, cancellation conditions) by their text,
then by position — never by line number, so moving or reformatting text is not a change.

Who is affected is read from the policy: every obligation has an owner team (a stage's owner,
a deadline's `owner`, the sender of a hand-off or of information, a KPI's owner, a review's
owner and attendees, the R and A of a responsibility). A team counts for the party it is
`part of`; a team that is part of no party counts as its own. The rules, in short:

- an obligation added, or made harder (a shorter deadline or SLO, more follow-ups, a higher
  KPI target, more frequent reviews …) is stricter for its owner; removed or eased, looser;
- moving a lead between stages got easier (a lower threshold, a new path, a value added to an
  `in [...]` list, a score rule that adds points …): looser for the owner of the stage the lead
  leaves, stricter for the owner of the (non-terminal) stage it enters — so a higher MQL
  threshold is stricter for marketing and looser for sales. When both stages belong to the
  same party, the bar is internal to it: neutral;
- ownership moving from one party to another: stricter for the new owner, looser for the old;
- a calendar with more working time makes business-time deadlines come sooner: stricter for
  the owners of those deadlines;
- everything else (labels, descriptions, HubSpot names, channels, cancellation conditions,
  reordering with meaning …) is reported as neutral.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable, Sequence

from .. import ir
from ..businesstime import BusinessCalendar, span_bounds
from . import conditions as cond
from .model import (
    ADDED,
    CHANGED,
    LOOSER,
    MIXED,
    REMOVED,
    STRICTER,
    UNCLEAR,
    Change,
    ClauseRef,
    Duty,
    Items,
    Party,
    Plain,
    Quote,
    What,
    Word,
    opposite,
)
from .roles import Roles


def compare_policies(old: ir.Policy, new: ir.Policy) -> list[Change]:
    return _Comparison(old, new).run()


def parties_of(*policies: ir.Policy | None) -> list[Party]:
    """The report's columns: signing parties, then teams that are part of no party."""
    out: dict[str, Party] = {}
    for policy in policies:
        if policy is None:
            continue
        for team in policy.teams:
            if team.id in out:
                continue
            if team.signs or party_of(policy, team.id) == team.id:
                out[team.id] = Party(team.id, team.label, team.signs, tuple(r.value for r in team.reviewers))
    return sorted(out.values(), key=lambda p: (not p.signs, _position(policies, p.id)))


def _position(policies, team_id: str) -> int:
    for policy in policies:
        if policy is not None:
            for index, team in enumerate(policy.teams):
                if team.id == team_id:
                    return index
    return 0


def party_of(policy: ir.Policy, team_name: str | None) -> str | None:
    """The party a team's obligations count for (itself when it is part of none)."""
    return Roles(policy).party(team_name)


# ---------------------------------------------------------------------- matching helpers


def match(old: Sequence, new: Sequence, key: Callable) -> list[tuple[object | None, object | None]]:
    """Pair items with equal keys (in order), then the leftovers by position, then the rest."""
    pairs: list[tuple[object | None, object | None]] = []
    used_old: set[int] = set()
    matched_new: dict[int, int] = {}
    for j, item in enumerate(new):
        for i, candidate in enumerate(old):
            if i not in used_old and key(candidate) == key(item):
                used_old.add(i)
                matched_new[j] = i
                break
    left_old = [i for i in range(len(old)) if i not in used_old]
    left_new = [j for j in range(len(new)) if j not in matched_new]
    for i, j in zip(left_old, left_new):
        matched_new[j] = i
        used_old.add(i)
    for j, item in enumerate(new):
        pairs.append((old[matched_new[j]] if j in matched_new else None, item))
    for i, item in enumerate(old):
        if i not in used_old:
            pairs.append((item, None))
    return pairs


def _by_id(items: Iterable) -> dict:
    out: dict = {}
    for item in items:
        out.setdefault(item.id, item)
    return out


def _quote(label: str) -> Quote:
    return Quote(label)


def _names(names: Iterable[ir.Name | ir.Text | str]) -> Items:
    return Items(tuple(Plain(n.name if isinstance(n, ir.Name) else (n.value if isinstance(n, ir.Text) else n))
                       for n in names))


def _opt(value, show: Callable = lambda v: Plain(str(v))):
    return show(value) if value is not None else Word("none")


def _duration_text(d: ir.Duration | None):
    return Plain(d.text) if d is not None else Word("none")


class _Side:
    def __init__(self, policy: ir.Policy) -> None:
        self.policy = policy
        self.roles = Roles(policy)

    def party(self, team: str | None) -> str | None:
        return self.roles.party(team)


def _channel_choices(d: ir.Deadline) -> tuple[tuple[str | None, frozenset[str]], ...]:
    """A respond deadline's required channels per branch of `via … when …, … otherwise`, the
    `otherwise` (or the plain `via`) last with None."""
    return tuple((condition, frozenset(kinds)) for condition, kinds in d.channel_choices)


def _say_choices(d: ir.Deadline) -> str:
    """`call when pricing_views >= 1; email otherwise`, or `call, meeting` without conditions."""
    parts = [f"{', '.join(kinds)} when {condition}" if condition is not None else ", ".join(kinds)
             for condition, kinds in d.channel_choices]
    return "; ".join(parts[:-1] + [f"{parts[-1]} otherwise"]) if d.via_when else parts[-1]


def _via_direction(a, b) -> int | None:
    """0 when every lead has the same ways to meet the deadline as before; -1 when no lead has
    more (and one has fewer), +1 for the reverse, None when it depends on the lead. A side without conditions has the same
    channels whatever the lead's data, so it compares branch by branch with the other side's;
    two sides choosing by different conditions cannot be compared lead by lead."""
    conditions_a, conditions_b = [c for c, _ in a], [c for c, _ in b]
    if len(a) == 1:
        a = tuple((c, a[0][1]) for c in conditions_b)
    elif len(b) == 1:
        b = tuple((c, b[0][1]) for c in conditions_a)
    elif conditions_a != conditions_b:
        return None
    if a == b:
        return 0  # written differently, the same channels for every lead
    if all(kb <= ka for (_, ka), (_, kb) in zip(a, b)):
        return -1
    if all(kb >= ka for (_, ka), (_, kb) in zip(a, b)):
        return 1
    return None


def _say_step(step: ir.Step) -> str:
    """A step as written (`follow up 3 times within 2bd via call, email`), the same in en and ja."""
    what = {"follow_up": f"follow up {step.required} times", "respond": "respond", "decide": "decide"}[step.kind]
    via = f" via {', '.join(c.kind for c in step.via)}" if step.via else ""
    target = f" (SLO {step.target.text})" if step.target else ""
    return f"then {what} within {step.within.text}{via}{target}"


def _direction(sign: int | None) -> str:
    """-1 (shorter, harder to meet …) → stricter, +1 → looser, None → unclear."""
    return UNCLEAR if sign is None else (STRICTER if sign < 0 else LOOSER)


def _duty(obligor: str | None, beneficiaries, direction: str) -> list[Duty]:
    if obligor is None:
        return []
    return [Duty(obligor, tuple(beneficiaries) or (obligor,), direction)]


class _Comparison:
    def __init__(self, old: ir.Policy, new: ir.Policy) -> None:
        self.old, self.new = _Side(old), _Side(new)
        self.changes: list[Change] = []
        self.renamed = self._stage_renames()  # old stage id -> new stage id

    def run(self) -> list[Change]:
        self._agreement()
        self._teams()
        self._data()
        self._calendars()
        self._scores()
        self._stages()
        self._priorities()
        self._kpis()
        self._information()
        self._responsibilities()
        self._reviews()
        self._cancellations()
        self._translations()
        return self.changes

    # ------------------------------------------------------------------ emitting
    def emit(self, kind, action, clause_id, what, old=None, new=None, duties=(), old_clause_id=None, affects=(),
             before=None, after=None) -> None:
        merged: dict[tuple, Duty] = {}
        for duty in duties:
            key = (duty.obligor, duty.beneficiaries)
            if key in merged and merged[key].direction != duty.direction:
                merged[key] = Duty(duty.obligor, duty.beneficiaries, UNCLEAR)
            else:
                merged.setdefault(key, duty)
        self.changes.append(Change(
            kind, action, clause_id, what, old, new, tuple(merged.values()),
            old_clause_id if old_clause_id and old_clause_id != clause_id else None, tuple(affects),
            before, after,
        ))

    @staticmethod
    def ref(side: _Side, kind: str, *nodes) -> ClauseRef:
        return ClauseRef(kind, side.policy, nodes)

    def stage_duty(self, side: _Side, stage: ir.Stage, owner: ir.Name | None, direction: str) -> list[Duty]:
        """An obligation in a stage (the stage itself, a deadline, follow-up …) moved `direction`."""
        obligor = side.roles.stage_obligor(stage, owner)
        return _duty(obligor, side.roles.stage_beneficiaries(stage.id, obligor), direction)

    def handover(self, old_duties: list[Duty], new_duties: list[Duty]) -> list[Duty]:
        """An obligation moves to another party: stricter for the new obligor, looser for the old."""
        before = {d.obligor for d in old_duties}
        after = {d.obligor for d in new_duties}
        if before == after:
            return []
        return [Duty(d.obligor, d.beneficiaries, STRICTER) for d in new_duties] + \
               [Duty(d.obligor, d.beneficiaries, LOOSER) for d in old_duties]

    def stage_handover(self, a: ir.Stage, old_owner: ir.Name | None, b: ir.Stage, new_owner: ir.Name | None) -> list[Duty]:
        return self.handover(self.stage_duty(self.old, a, old_owner, LOOSER), self.stage_duty(self.new, b, new_owner, STRICTER))

    def stage_label(self, side: _Side, stage_id: str) -> Quote:
        stage = side.policy.stage_by_id.get(stage_id)
        return Quote(stage.label if stage else stage_id)

    def team_label(self, side: _Side, team: str | None):
        if team is None:
            return Word("none")
        found = side.policy.team_by_id.get(team)
        return Quote(found.label) if found else Plain(team)

    # ------------------------------------------------------------------ agreement
    def _agreement(self) -> None:
        a, b = self.old.policy.agreement, self.new.policy.agreement
        if a is None or b is None:
            return
        fields = [
            ("title", Quote(a.title), Quote(b.title)),
            ("version", _opt(a.version, lambda v: Plain(v.value)), _opt(b.version, lambda v: Plain(v.value))),
            ("effective", _opt(a.effective, lambda v: Plain(v.value.isoformat())),
             _opt(b.effective, lambda v: Plain(v.value.isoformat()))),
            ("language", Plain(a.language), Plain(b.language)),
            ("owner", self.team_label(self.old, a.owner.name if a.owner else None),
             self.team_label(self.new, b.owner.name if b.owner else None)),
            ("calendar", _opt(a.calendar, lambda n: Plain(n.name)), _opt(b.calendar, lambda n: Plain(n.name))),
            ("purpose", Items(tuple(Quote(p.value) for p in a.purpose)), Items(tuple(Quote(p.value) for p in b.purpose))),
            ("term", _term(a.term), _term(b.term)),
            ("amendment", _amendment(a.amendment), _amendment(b.amendment)),
        ]
        for name, before, after in fields:
            if name == "owner":
                changed = (a.owner.name if a.owner else None) != (b.owner.name if b.owner else None)
            else:
                changed = before != after
            if changed:
                self.emit(f"agreement.{name}", CHANGED, "agreement", What.of(f"agreement.{name}"), before, after)

    # ------------------------------------------------------------------ parties and teams
    def _teams(self) -> None:
        old, new = _by_id(self.old.policy.teams), _by_id(self.new.policy.teams)
        for team_id in [*new, *(t for t in old if t not in new)]:
            a, b = old.get(team_id), new.get(team_id)
            if a is None or b is None:
                team = b or a
                kind = "party" if team.signs else "team"
                self.emit(kind, ADDED if a is None else REMOVED, team.clause_id,
                          What.of(kind, team=Quote(team.label)), new=Quote(team.label) if a is None else None,
                          old=Quote(team.label) if b is None else None)
                continue
            what = {"team": Quote(b.label)}
            if a.label != b.label:
                self.emit("team.label", CHANGED, b.clause_id, What.of("team.label", **what), Quote(a.label), Quote(b.label))
            if a.signs != b.signs:
                self.emit("team.signs", CHANGED, b.clause_id, What.of("team.signs", **what),
                          Word("signs" if a.signs else "does_not_sign"), Word("signs" if b.signs else "does_not_sign"))
            if a.role != b.role:
                self.emit("team.role", CHANGED, b.clause_id, What.of("team.role", **what), _opt(a.role), _opt(b.role))
            # the signer's identity is part of the lead: who may sign for a party is an approver's business
            lead = lambda p: Plain(p.name + "".join(f", {v}" for v in (p.title, p.email) if v)  # noqa: E731
                                   + (f", certificate {p.certificate[:16]}…" if p.certificate else "")) if p else Word("none")
            person = lambda p: p and (p.name, p.title, p.email, p.certificate)  # noqa: E731
            if person(a.lead) != person(b.lead):
                self.emit("team.lead", CHANGED, b.clause_id, What.of("team.lead", **what), lead(a.lead), lead(b.lead))
            if [r.value for r in a.reviewers] != [r.value for r in b.reviewers]:
                self.emit("team.reviewers", CHANGED, b.clause_id, What.of("team.reviewers", **what),
                          _names(a.reviewers), _names(b.reviewers))
            if (a.parent.name if a.parent else None) != (b.parent.name if b.parent else None):
                # every obligation of the team now counts for another party: both must agree
                before, after = self.old.party(a.id), self.new.party(b.id)
                duties = [Duty(before, (after,), UNCLEAR)] if before and after and before != after else []
                self.emit("team.parent", CHANGED, b.clause_id, What.of("team.parent", **what),
                          self.team_label(self.old, a.parent.name if a.parent else None),
                          self.team_label(self.new, b.parent.name if b.parent else None), duties)
            cap = lambda c: Plain(f"{c.people} × {c.leads_per_person} / {c.period}") if c else Word("none")  # noqa: E731
            before = (a.capacity.leads_per_period, a.capacity.period) if a.capacity else None
            after = (b.capacity.leads_per_period, b.capacity.period) if b.capacity else None
            if (a.capacity and (a.capacity.people, a.capacity.leads_per_person, a.capacity.period)) != (
                    b.capacity and (b.capacity.people, b.capacity.leads_per_person, b.capacity.period)):
                # the team commits to handle more (or fewer) leads per period
                if before and after and before[1] == after[1]:
                    direction = None if before[0] == after[0] else (STRICTER if after[0] > before[0] else LOOSER)
                else:
                    direction = STRICTER if before is None else (LOOSER if after is None else UNCLEAR)
                duties = _duty(self.new.party(b.id), self.new.roles.capacity_beneficiaries(b), direction) \
                    if direction else []
                self.emit("team.capacity", CHANGED, b.clause_id, What.of("team.capacity", **what),
                          cap(a.capacity), cap(b.capacity), duties, before=self.ref(self.old, "capacity", a),
                          after=self.ref(self.new, "capacity", b))

    # ------------------------------------------------------------------ properties and events
    def _data(self) -> None:
        def prop_text(p: ir.Property) -> Plain:
            def option(o: ir.Text) -> str:
                label = p.option_label(o.value)
                return ir.value_source(o) + (f" “{label}”" if label is not None else "")

            options = f" [{', '.join(option(o) for o in p.options)}]" if p.type == "enum" else ""
            return Plain(f"{p.type}{options}" + (f" (HubSpot {p.hubspot})" if p.hubspot else "") + f" “{p.label}”")

        def event_text(e: ir.Event) -> Plain:
            return Plain(f"“{e.label}”" + (f" (HubSpot {e.hubspot})" if e.hubspot else ""))

        for kind, olds, news, show in (
            ("property", self.old.policy.properties, self.new.policy.properties, prop_text),
            ("event", self.old.policy.events, self.new.policy.events, event_text),
        ):
            old, new = _by_id(olds), _by_id(news)
            for item_id in [*new, *(i for i in old if i not in new)]:
                a, b = old.get(item_id), new.get(item_id)
                what = What.of(kind, name=Plain(item_id))
                if a is None:
                    self.emit(kind, ADDED, f"{kind}.{item_id}", what, new=show(b))
                elif b is None:
                    self.emit(kind, REMOVED, f"{kind}.{item_id}", what, old=show(a))
                elif show(a) != show(b):
                    self.emit(kind, CHANGED, f"{kind}.{item_id}", what, show(a), show(b))

    # ------------------------------------------------------------------ translations (wording only: neutral)
    def _translations(self) -> None:
        old, new = _translation_entries(self.old.policy), _translation_entries(self.new.policy)
        for key in [*new, *(k for k in old if k not in new)]:
            lang, source = key
            what = What.of("translation", lang=Plain(lang), text=Quote(source))
            if key not in old:
                self.emit("translation", ADDED, f"translation.{lang}", what, new=Quote(new[key]))
            elif key not in new:
                self.emit("translation", REMOVED, f"translation.{lang}", what, old=Quote(old[key]))
            elif old[key] != new[key]:
                self.emit("translation", CHANGED, f"translation.{lang}", what, Quote(old[key]), Quote(new[key]))

    # ------------------------------------------------------------------ calendars
    def _calendars(self) -> None:
        old, new = _by_id(self.old.policy.calendars), _by_id(self.new.policy.calendars)
        for cal_id in [*new, *(c for c in old if c not in new)]:
            a, b = old.get(cal_id), new.get(cal_id)
            if a is None or b is None:
                cal = b or a
                self.emit("calendar", ADDED if a is None else REMOVED, cal.clause_id,
                          What.of("calendar", calendar=Quote(cal.label)))
                continue
            what = {"calendar": Quote(b.label)}
            if a.label != b.label:
                self.emit("calendar.label", CHANGED, b.clause_id, What.of("calendar.label", **what),
                          Quote(a.label), Quote(b.label))
            zone = lambda c: Plain(c.timezone.value) if c.timezone else Word("none")  # noqa: E731
            if zone(a) != zone(b):
                self.emit("calendar.timezone", CHANGED, b.clause_id, What.of("calendar.timezone", **what), zone(a), zone(b))
            days_a, days_b = [d.name for d in a.days], [d.name for d in b.days]
            if set(days_a) != set(days_b):
                more = 1 if set(days_b) > set(days_a) else (-1 if set(days_b) < set(days_a) else None)
                self.emit("calendar.days", CHANGED, b.clause_id, What.of("calendar.days", **what),
                          _names(days_a), _names(days_b), self._working_time(cal_id, more, units=("bh", "bd")))
            hours = lambda c: Items(tuple(Plain(f"{h.start.text}–{h.end.text}") for h in c.hours))  # noqa: E731
            if hours(a) != hours(b):
                per_day_a = BusinessCalendar(a).minutes_per_day
                per_day_b = BusinessCalendar(b).minutes_per_day
                more = (per_day_b > per_day_a) - (per_day_b < per_day_a)
                self.emit("calendar.hours", CHANGED, b.clause_id, What.of("calendar.hours", **what),
                          hours(a), hours(b), self._working_time(cal_id, more or None, units=("bh",)))
            holidays = lambda c: Plain(c.holidays.name) if c.holidays else Word("none")  # noqa: E731
            if holidays(a) != holidays(b):
                more = 1 if b.holidays is None else (-1 if a.holidays is None else None)
                self.emit("calendar.holidays", CHANGED, b.clause_id, What.of("calendar.holidays", **what),
                          holidays(a), holidays(b), self._working_time(cal_id, more, units=("bh", "bd")))
            closed_a = sorted(d.value for d in a.closed)
            closed_b = sorted(d.value for d in b.closed)
            if closed_a != closed_b:
                more = -1 if set(closed_b) > set(closed_a) else (1 if set(closed_b) < set(closed_a) else None)
                self.emit("calendar.closed", CHANGED, b.clause_id, What.of("calendar.closed", **what),
                          Items(tuple(Plain(d.isoformat()) for d in closed_a)),
                          Items(tuple(Plain(d.isoformat()) for d in closed_b)),
                          self._working_time(cal_id, more, units=("bh", "bd")))

    def _working_time(self, cal_id: str, more: int | None, units: tuple[str, ...]) -> list[Duty]:
        """More working time: business-time obligations in this calendar fall due sooner."""
        duties: list[Duty] = []
        if not more:
            return duties
        for obligor, beneficiaries, duration, calendar in obligations(self.new.roles):
            if calendar is not None and calendar.id == cal_id and duration.unit in units:
                duties += _duty(obligor, beneficiaries, STRICTER if more > 0 else LOOSER)
        return duties

    # ------------------------------------------------------------------ scores
    def _scores(self) -> None:
        old, new = _by_id(self.old.policy.scores), _by_id(self.new.policy.scores)
        for score_id in [*new, *(s for s in old if s not in new)]:
            a, b = old.get(score_id), new.get(score_id)
            if a is None or b is None:
                model = b or a
                self.emit("score", ADDED if a is None else REMOVED, model.clause_id,
                          What.of("score", score=Quote(model.label)))
                continue
            what = {"score": Quote(b.label)}
            if a.label != b.label:
                self.emit("score.label", CHANGED, b.clause_id, What.of("score.label", **what), Quote(a.label), Quote(b.label))
            if a.hubspot != b.hubspot:
                self.emit("score.hubspot", CHANGED, b.clause_id, What.of("score.hubspot", **what), _opt(a.hubspot), _opt(b.hubspot))
            groups_a, groups_b = _by_id(a.groups), _by_id(b.groups)
            for group_id in [*groups_b, *(g for g in groups_a if g not in groups_b)]:
                ga, gb = groups_a.get(group_id), groups_b.get(group_id)
                self._score_group(b, ga, gb)

    def _score_group(self, model: ir.ScoreModel, a: ir.ScoreGroup | None, b: ir.ScoreGroup | None) -> None:
        group = b or a
        what = {"score": Quote(model.label), "group": Quote(group.label)}
        if a is None or b is None:
            total = sum(r.points for r in group.rules)
            direction = (total > 0) - (total < 0)
            if a is None:
                self._score_change("score.group", ADDED, group.clause_id, What.of("score.group", **what),
                                   model.id, group.id, direction)
            else:
                self._score_change("score.group", REMOVED, group.clause_id, What.of("score.group", **what),
                                   model.id, group.id, -direction)
            return
        if a.label != b.label:
            self.emit("score.group.label", CHANGED, b.clause_id, What.of("score.group.label", **what), Quote(a.label), Quote(b.label))
        cap_a = a.cap.value if a.cap else None
        cap_b = b.cap.value if b.cap else None
        if cap_a != cap_b:
            if cap_a is None:
                direction = -1
            elif cap_b is None:
                direction = 1
            else:
                direction = 1 if cap_b > cap_a else -1
            self._score_change("score.group.cap", CHANGED, b.clause_id, What.of("score.group.cap", **what),
                               model.id, b.id, direction, _opt(cap_a), _opt(cap_b))
        for ra, rb in match(a.rules, b.rules, key=lambda r: r.label):
            rule = rb or ra
            rwhat = {**what, "rule": Quote(rule.label)}
            show = lambda r: Plain(f"{r.points:+d} when {ir.condition_source(r.condition)}")  # noqa: E731
            if ra is None:
                self._score_change("score.rule", ADDED, rb.clause_id, What.of("score.rule", **rwhat),
                                   model.id, b.id, (rb.points > 0) - (rb.points < 0), new=show(rb))
                continue
            if rb is None:
                self._score_change("score.rule", REMOVED, ra.clause_id, What.of("score.rule", **rwhat),
                                   model.id, b.id, -((ra.points > 0) - (ra.points < 0)), old=show(ra))
                continue
            if ra.label != rb.label:
                self.emit("score.rule.label", CHANGED, rb.clause_id, What.of("score.rule.label", **rwhat),
                          Quote(ra.label), Quote(rb.label), old_clause_id=ra.clause_id)
            if ra.points != rb.points:
                self._score_change("score.rule.points", CHANGED, rb.clause_id, What.of("score.rule.points", **rwhat),
                                   model.id, b.id, 1 if rb.points > ra.points else -1,
                                   Plain(f"{ra.points:+d}"), Plain(f"{rb.points:+d}"), old_clause_id=ra.clause_id)
            if not cond.same(ra.condition, rb.condition):
                easier = cond.ease(ra.condition, rb.condition)
                sign = (rb.points > 0) - (rb.points < 0)
                self._score_change("score.rule.condition", CHANGED, rb.clause_id,
                                   What.of("score.rule.condition", **rwhat), model.id, b.id,
                                   easier * sign if easier is not None else None,
                                   Plain(ir.condition_source(ra.condition)), Plain(ir.condition_source(rb.condition)),
                                   old_clause_id=ra.clause_id)
            per = lambda r: Plain(f"per {r.per.name}" + (f" max {r.cap.value}" if r.cap else "")) if r.per else Word("none")  # noqa: E731
            if per(ra) != per(rb):  # scored once or per occurrence, and up to how much
                if ra.per is not None and rb.per is not None and ra.per.name == rb.per.name:
                    higher = rb.highest > ra.highest
                    direction = 0 if rb.highest == ra.highest else ((1 if higher else -1) * (1 if rb.points > 0 else -1))
                else:
                    direction = None
                self._score_change("score.rule.per", CHANGED, rb.clause_id, What.of("score.rule.per", **rwhat),
                                   model.id, b.id, direction or None, per(ra), per(rb), old_clause_id=ra.clause_id)
            elif ra.clause_id != rb.clause_id and ra.label == rb.label and ra.points == rb.points:
                self.emit("clause.renumbered", CHANGED, rb.clause_id, What.of("clause.number", item=Quote(rb.label)),
                          Plain(ra.clause_id), Plain(rb.clause_id), old_clause_id=ra.clause_id)

    def _score_change(self, kind, action, clause_id, what, model_id, group_id, direction, old=None, new=None,
                      old_clause_id=None) -> None:
        """A score that can rise (direction +1) makes every `score >= N` criterion easier to meet."""
        duties: list[Duty] = []
        affected: list[str] = []

        def reads(ref: ir.Ref) -> bool:
            return ref.name == model_id and (ref.member is None or ref.member == group_id)

        for stage in self.new.policy.stages:
            for t in stage.transitions:
                sign = cond.polarity(t.condition, reads)
                if sign == 0:
                    continue
                affected.append(t.clause_id)
                if direction == 0:
                    continue
                # a score that can rise makes `score >= N` easier to meet; unknown either way: unclear
                easier = direction * sign if direction is not None and sign is not None else None
                duties += self.movement(self.new, stage, t.target.name, easier)
        self.emit(kind, action, clause_id, what, old, new, duties, old_clause_id=old_clause_id, affects=affected)

    def movement(self, side: _Side, source: ir.Stage, target_id: str, easier: int | None) -> list[Duty]:
        """Leads move from `source` to `target` more easily (+1), less easily (-1) or differently (None).

        Into a live stage the move is an obligation of the target's owner, who must take the
        lead: easier is stricter for it. Into a terminal stage it is the source owner's licence
        to stop working the lead: easier is looser for it (roles.py).
        """
        if easier == 0:
            return []
        obligor, beneficiaries = side.roles.transition_roles(source, target_id)
        target = side.policy.stage_by_id.get(target_id)
        live = target is not None and not target.is_terminal
        if easier is None:
            direction = UNCLEAR
        elif live:
            direction = STRICTER if easier > 0 else LOOSER
        else:
            direction = LOOSER if easier > 0 else STRICTER
        return _duty(obligor, beneficiaries, direction)

    # ------------------------------------------------------------------ stages
    def _stage_renames(self) -> dict[str, str]:
        old, new = _by_id(self.old.policy.stages), _by_id(self.new.policy.stages)
        gone = [s for s in old if s not in new]
        came = [s for s in new if s not in old]
        renamed: dict[str, str] = {}
        for old_id in gone:
            body = _stage_body(old[old_id])
            candidates = [n for n in came if n not in renamed.values()
                          and (new[n].label == old[old_id].label or _stage_body(new[n]) == body)]
            if len(candidates) == 1:
                renamed[old_id] = candidates[0]
        return renamed

    def _new_id(self, old_id: str) -> str:
        return self.renamed.get(old_id, old_id)

    def _stages(self) -> None:
        old = {self._new_id(s.id): s for s in reversed(self.old.policy.stages)}
        new = {s.id: s for s in reversed(self.new.policy.stages)}
        order = [s.id for s in self.new.policy.stages] + [self._new_id(s.id) for s in self.old.policy.stages]
        for stage_id in dict.fromkeys(order):
            a, b = old.get(stage_id), new.get(stage_id)
            if a is None or b is None:
                # a new or removed stage lists every obligation it brings or takes away, each
                # with both parties: compared with an empty stage, each clause is added/removed
                side, stage = (self.new, b) if a is None else (self.old, a)
                duties = [] if stage.is_terminal else self.stage_duty(side, stage, None, STRICTER if a is None else LOOSER)
                self.emit("stage", ADDED if a is None else REMOVED, stage.clause_id,
                          What.of("stage", stage=Quote(stage.label)),
                          new=self.team_label(self.new, b.owner.name if b.owner else None) if a is None else None,
                          old=self.team_label(self.old, a.owner.name if a.owner else None) if b is None else None,
                          duties=duties, before=self.ref(self.old, "stage", a) if a else None,
                          after=self.ref(self.new, "stage", b) if b else None)
                empty = replace(stage, deadlines=(), follow_up=None, escalations=(), handoff=None, transitions=(),
                                cadences=(), steps=())
                self._stage_contents(empty if a is None else a, empty if b is None else b, Quote(stage.label))
                continue
            self._stage(a, b)

    def _stage(self, a: ir.Stage, b: ir.Stage) -> None:
        label = Quote(b.label)
        if a.id != b.id:
            self.emit("stage.id", CHANGED, b.clause_id, What.of("stage.id", stage=label), Plain(a.id), Plain(b.id),
                      old_clause_id=a.clause_id)
        if a.label != b.label:
            self.emit("stage.label", CHANGED, b.clause_id, What.of("stage.label", stage=Quote(a.label)),
                      Quote(a.label), Quote(b.label))
        owner_a = a.owner.name if a.owner else None
        owner_b = b.owner.name if b.owner else None
        if owner_a != owner_b:
            self.emit("stage.owner", CHANGED, b.clause_id, What.of("stage.owner", stage=label),
                      self.team_label(self.old, owner_a), self.team_label(self.new, owner_b),
                      self.stage_handover(a, None, b, None) if not b.is_terminal else [],
                      before=self.ref(self.old, "stage", a), after=self.ref(self.new, "stage", b))
        markers = lambda s: Items(tuple(Word(m.kind) for m in s.markers))  # noqa: E731
        if markers(a) != markers(b):
            duties = []
            if a.is_terminal != b.is_terminal:  # a terminal stage asks nothing of its owner
                duties = self.stage_duty(self.new if not b.is_terminal else self.old, b if not b.is_terminal else a,
                                         None, STRICTER if a.is_terminal else LOOSER)
            self.emit("stage.markers", CHANGED, b.clause_id, What.of("stage.markers", stage=label), markers(a), markers(b),
                      duties)
        entry = lambda s: Plain(ir.condition_source(s.entry_condition)) if s.entry_condition else Word("always")  # noqa: E731
        if a.is_entry and b.is_entry and entry(a) != entry(b):
            # which new leads start here: whether more or fewer do is not told (it depends on the
            # other entry stages), so the owner is told of it as unclear
            self.emit("stage.entry", CHANGED, b.clause_id, What.of("stage.entry", stage=label), entry(a), entry(b),
                      self.stage_duty(self.new, b, None, UNCLEAR))
        hubspot = lambda s: Plain(s.hubspot.name) if s.hubspot else Word("none")  # noqa: E731
        if hubspot(a) != hubspot(b):
            self.emit("stage.hubspot", CHANGED, b.clause_id, What.of("stage.hubspot", stage=label), hubspot(a), hubspot(b))
        if a.description != b.description:
            self.emit("stage.description", CHANGED, b.clause_id, What.of("stage.description", stage=label),
                      _opt(a.description, Quote), _opt(b.description, Quote))
        calendar = lambda s: Plain(s.calendar.name) if s.calendar else Word("none")  # noqa: E731
        if calendar(a) != calendar(b):
            self.emit("stage.calendar", CHANGED, b.clause_id, What.of("stage.calendar", stage=label), calendar(a), calendar(b))
        self._stage_contents(a, b, label)

    def _stage_contents(self, a: ir.Stage, b: ir.Stage, label: Quote) -> None:
        self._deadlines(a, b, label)
        self._steps(a, b, label)
        self._follow_up(a, b, label)
        self._cadences(a, b, label)
        self._handoff(a, b, label)
        self._escalations(a, b, label)
        self._transitions(a, b)

    def _deadline_owner(self, stage: ir.Stage, deadline: ir.Deadline | None) -> str | None:
        if deadline is not None and deadline.owner is not None:
            return deadline.owner.name
        return stage.owner.name if stage.owner else None

    def _deadlines(self, a: ir.Stage, b: ir.Stage, label: Quote) -> None:
        cal_a, cal_b = self.old.policy.calendar_for(a), self.new.policy.calendar_for(b)
        for kind in ir.DEADLINE_KINDS:
            da, db = a.deadline(kind), b.deadline(kind)
            if da is None and db is None:
                continue
            what = What.of(f"deadline.{kind}", stage=label)
            refs = {"before": self.ref(self.old, "deadline", a, da) if da else None,
                    "after": self.ref(self.new, "deadline", b, db) if db else None}
            if da is None or db is None:
                side, stage, deadline = (self.new, b, db) if da is None else (self.old, a, da)
                shown = Plain(deadline.within.text + (f" (SLO {deadline.target.text})" if deadline.target else ""))
                self.emit("deadline", ADDED if da is None else REMOVED, deadline.clause_id, what,
                          old=shown if db is None else None, new=shown if da is None else None,
                          duties=self.stage_duty(side, stage, deadline.owner, STRICTER if da is None else LOOSER),
                          **refs)
                continue
            if da.within.text != db.within.text:
                direction = compare_durations(da.within, db.within, cal_a, cal_b)
                self.emit("deadline.within", CHANGED, db.clause_id, what, Plain(da.within.text), Plain(db.within.text),
                          self.stage_duty(self.new, b, db.owner, _direction(direction)) if direction != 0 else [],
                          **refs)
            if (da.target.text if da.target else None) != (db.target.text if db.target else None):
                if da.target is None or db.target is None:
                    direction = 1 if db.target is None else -1
                else:
                    direction = compare_durations(da.target, db.target, cal_a, cal_b)
                # the SLO is the owner's own safety margin inside the SLA: internal to its party
                obligor = self.new.roles.stage_obligor(b, db.owner)
                self.emit("deadline.target", CHANGED, db.clause_id, What.of(f"deadline.{kind}.target", stage=label),
                          _duration_text(da.target), _duration_text(db.target),
                          _duty(obligor, (obligor,), _direction(direction)) if direction != 0 else [], **refs)
            owner_a, owner_b = self._deadline_owner(a, da), self._deadline_owner(b, db)
            if owner_a != owner_b:
                self.emit("deadline.owner", CHANGED, db.clause_id, What.of(f"deadline.{kind}.owner", stage=label),
                          self.team_label(self.old, owner_a), self.team_label(self.new, owner_b),
                          self.stage_handover(a, da.owner, b, db.owner), **refs)
            choices_a, choices_b = _channel_choices(da), _channel_choices(db)
            via_sign = _via_direction(choices_a, choices_b) if choices_a != choices_b else 0
            if via_sign != 0:  # `via call`: fewer kinds of activity meet it is stricter
                self.emit("deadline.via", CHANGED, db.clause_id, What.of(f"deadline.{kind}.via", stage=label),
                          Plain(_say_choices(da)), Plain(_say_choices(db)),
                          self.stage_duty(self.new, b, db.owner, _direction(via_sign)),
                          **refs)
            span_a, span_b = {n.name for n in da.through}, {n.name for n in db.through}
            if span_a != span_b:  # a decision spanning more stages gives its owner more time: looser
                direction = 1 if span_b > span_a else -1 if span_b < span_a else None
                self.emit("deadline.through", CHANGED, db.clause_id, What.of(f"deadline.{kind}.through", stage=label),
                          Plain(", ".join(sorted(span_a)) or "—"), Plain(", ".join(sorted(span_b)) or "—"),
                          self.stage_duty(self.new, b, db.owner, _direction(direction)), **refs)
            if _text(da.source) != _text(db.source):  # how it is measured, not what is owed
                self.emit("deadline.source", CHANGED, db.clause_id, What.of(f"deadline.{kind}.source", stage=label),
                          _opt(da.source, lambda t: Quote(t.value)), _opt(db.source, lambda t: Quote(t.value)), **refs)

    def _steps(self, a: ir.Stage, b: ir.Stage, label: Quote) -> None:
        """`then …` steps, matched by number. The step's owner owes it to the stage's beneficiaries
        (roles.py): less time, more attempts, fewer kinds of activity that count, or a step added is
        stricter for it; the reverse looser; a step that asks something else (`then decide` instead
        of `then follow up`) is unclear."""
        cal_a, cal_b = self.old.policy.calendar_for(a), self.new.policy.calendar_for(b)
        def show(step: ir.Step) -> Plain:
            return Plain(_say_step(step))

        for sa, sb in match(a.steps, b.steps, key=lambda s: s.number):
            step = sb or sa
            what = What.of("step", stage=label, step=Plain(str(step.number)))
            refs = {"before": self.ref(self.old, "step", a, sa) if sa else None,
                    "after": self.ref(self.new, "step", b, sb) if sb else None}
            if sa is None or sb is None:
                side, stage = (self.new, b) if sa is None else (self.old, a)
                self.emit("step", ADDED if sa is None else REMOVED, step.clause_id, what,
                          old=show(sa) if sb is None else None, new=show(sb) if sa is None else None,
                          duties=self.stage_duty(side, stage, step.owner, STRICTER if sa is None else LOOSER), **refs)
                continue
            number = {"stage": label, "step": Plain(str(sb.number))}
            if sa.kind != sb.kind:
                self.emit("step.kind", CHANGED, sb.clause_id, What.of("step.kind", **number),
                          Word(sa.kind), Word(sb.kind), self.stage_duty(self.new, b, sb.owner, UNCLEAR), **refs)
                continue
            if sa.within.text != sb.within.text:
                direction = compare_durations(sa.within, sb.within, cal_a, cal_b)
                self.emit("step.within", CHANGED, sb.clause_id, What.of("step.within", **number),
                          Plain(sa.within.text), Plain(sb.within.text),
                          self.stage_duty(self.new, b, sb.owner, _direction(direction)) if direction != 0 else [],
                          **refs)
            if sa.required != sb.required:
                self.emit("step.attempts", CHANGED, sb.clause_id, What.of("step.attempts", **number),
                          Plain(str(sa.required)), Plain(str(sb.required)),
                          self.stage_duty(self.new, b, sb.owner, STRICTER if sb.required > sa.required else LOOSER),
                          **refs)
            kinds_a, kinds_b = set(sa.meets), set(sb.meets)
            if kinds_a != kinds_b:  # fewer kinds of activity count: harder to do
                direction = -1 if kinds_b < kinds_a else 1 if kinds_b > kinds_a else None
                self.emit("step.via", CHANGED, sb.clause_id, What.of("step.via", **number),
                          Plain(", ".join(sa.meets)), Plain(", ".join(sb.meets)),
                          self.stage_duty(self.new, b, sb.owner, _direction(direction)), **refs)
            if _duration_text(sa.target) != _duration_text(sb.target):
                if sa.target is None or sb.target is None:
                    direction = 1 if sb.target is None else -1
                else:
                    direction = compare_durations(sa.target, sb.target, cal_a, cal_b)
                obligor = self.new.roles.stage_obligor(b, sb.owner)  # the owner's own margin
                self.emit("step.target", CHANGED, sb.clause_id, What.of("step.target", **number),
                          _duration_text(sa.target), _duration_text(sb.target),
                          _duty(obligor, (obligor,), _direction(direction)) if direction != 0 else [], **refs)
            owner_a, owner_b = self._deadline_owner(a, sa), self._deadline_owner(b, sb)
            if owner_a != owner_b:
                self.emit("step.owner", CHANGED, sb.clause_id, What.of("step.owner", **number),
                          self.team_label(self.old, owner_a), self.team_label(self.new, owner_b),
                          self.stage_handover(a, sa.owner, b, sb.owner), **refs)
            if _text(sa.source) != _text(sb.source):
                self.emit("step.source", CHANGED, sb.clause_id, What.of("step.source", **number),
                          _opt(sa.source, lambda t: Quote(t.value)), _opt(sb.source, lambda t: Quote(t.value)), **refs)

    def _follow_up(self, a: ir.Stage, b: ir.Stage, label: Quote) -> None:
        fa, fb = a.follow_up, b.follow_up
        what = What.of("follow_up", stage=label)
        show = lambda f: Plain(f"{f.attempts.value} × " + ", ".join(o.text for o in f.offsets))  # noqa: E731
        owner = lambda s, f: f.owner.name if f and f.owner else (s.owner.name if s.owner else None)  # noqa: E731
        if fa is None and fb is None:
            return
        refs = {"before": self.ref(self.old, "follow_up", a, fa) if fa else None,
                "after": self.ref(self.new, "follow_up", b, fb) if fb else None}
        if fa is None or fb is None:
            side, stage, follow = (self.new, b, fb) if fa is None else (self.old, a, fa)
            self.emit("follow_up", ADDED if fa is None else REMOVED, follow.clause_id, what,
                      old=show(fa) if fb is None else None, new=show(fb) if fa is None else None,
                      duties=self.stage_duty(side, stage, follow.owner, STRICTER if fa is None else LOOSER), **refs)
            return
        if fa.attempts.value != fb.attempts.value:
            direction = STRICTER if fb.attempts.value > fa.attempts.value else LOOSER
            self.emit("follow_up.attempts", CHANGED, fb.clause_id, What.of("follow_up.attempts", stage=label),
                      Plain(str(fa.attempts.value)), Plain(str(fb.attempts.value)),
                      self.stage_duty(self.new, b, fb.owner, direction), **refs)
        if [o.text for o in fa.offsets] != [o.text for o in fb.offsets]:
            cal_a, cal_b = self.old.policy.calendar_for(a), self.new.policy.calendar_for(b)
            # the attempts both versions share: sooner is stricter (extra or dropped attempts are
            # the change of count above)
            direction = cond.combine([compare_durations(x, y, cal_a, cal_b) for x, y in zip(fa.offsets, fb.offsets)])
            self.emit("follow_up.offsets", CHANGED, fb.clause_id, What.of("follow_up.offsets", stage=label),
                      show(fa), show(fb),
                      self.stage_duty(self.new, b, fb.owner, _direction(direction)) if direction != 0 else [], **refs)
        if fa.from_first_contact != fb.from_first_contact:
            # the first contact comes at or after entering the stage: counting from it is looser
            anchors = [Word("from_first_contact" if f.from_first_contact else "from_entry") for f in (fa, fb)]
            self.emit("follow_up.anchor", CHANGED, fb.clause_id, What.of("follow_up.anchor", stage=label), *anchors,
                      self.stage_duty(self.new, b, fb.owner, LOOSER if fb.from_first_contact else STRICTER), **refs)
        channels = lambda f: Items(tuple(Plain(_channel(c)) for c in f.channels))  # noqa: E731
        if channels(fa) != channels(fb):
            self.emit("follow_up.channels", CHANGED, fb.clause_id, What.of("follow_up.channels", stage=label),
                      channels(fa), channels(fb), **refs)
        if owner(a, fa) != owner(b, fb):
            self.emit("follow_up.owner", CHANGED, fb.clause_id, What.of("follow_up.owner", stage=label),
                      self.team_label(self.old, owner(a, fa)), self.team_label(self.new, owner(b, fb)),
                      self.stage_handover(a, fa.owner, b, fb.owner), **refs)

    def _cadences(self, a: ir.Stage, b: ir.Stage, label: Quote) -> None:
        """`cadence at least N E per month`, matched by the event: more events, or a shorter period
        (the same number per week instead of per month), is stricter for the owner."""
        show = lambda c: Plain(f"{c.minimum.value} {c.event.name} / {c.period}")
        owner = lambda s, c: c.owner.name if c.owner else (s.owner.name if s.owner else None)
        for ca, cb in match(a.cadences, b.cadences, key=lambda c: c.event.name):
            cadence = cb or ca
            what = What.of("cadence", stage=label, event=Plain(cadence.event.name))
            refs = {"before": self.ref(self.old, "cadence", a, ca) if ca else None,
                    "after": self.ref(self.new, "cadence", b, cb) if cb else None}
            if ca is None or cb is None:
                side, stage = (self.new, b) if ca is None else (self.old, a)
                self.emit("cadence", ADDED if ca is None else REMOVED, cadence.clause_id, what,
                          old=show(ca) if cb is None else None, new=show(cb) if ca is None else None,
                          duties=self.stage_duty(side, stage, cadence.owner, STRICTER if ca is None else LOOSER), **refs)
                continue
            # events owed per day: N per week is more than N per month
            rate = lambda c: c.minimum.value / (7 if c.period == "week" else 30)
            if (ca.minimum.value, ca.period) != (cb.minimum.value, cb.period):
                direction = STRICTER if rate(cb) > rate(ca) else LOOSER if rate(cb) < rate(ca) else None
                self.emit("cadence.minimum", CHANGED, cb.clause_id, What.of("cadence.minimum", stage=label,
                                                                            event=Plain(cb.event.name)),
                          show(ca), show(cb), self.stage_duty(self.new, b, cb.owner, direction or UNCLEAR), **refs)
            if owner(a, ca) != owner(b, cb):
                self.emit("cadence.owner", CHANGED, cb.clause_id, What.of("cadence.owner", stage=label,
                                                                          event=Plain(cb.event.name)),
                          self.team_label(self.old, owner(a, ca)), self.team_label(self.new, owner(b, cb)),
                          self.stage_handover(a, ca.owner, b, cb.owner), **refs)

    def handoff_duty(self, side: _Side, stage: ir.Stage, handoff: ir.Handoff, direction: str) -> list[Duty]:
        """The sender owes the receiving stage's owner the hand-off."""
        sender = side.party(handoff.sender.name)
        receiver = side.roles.stage_party(stage.id)
        return _duty(sender, (receiver,) if receiver else side.roles.others(sender), direction)

    def _handoff(self, a: ir.Stage, b: ir.Stage, label: Quote) -> None:
        ha, hb = a.handoff, b.handoff
        if ha is None and hb is None:
            return
        what = What.of("handoff", stage=label)
        refs = {"before": self.ref(self.old, "handoff", a, ha) if ha else None,
                "after": self.ref(self.new, "handoff", b, hb) if hb else None}
        if ha is None or hb is None:
            side, stage, handoff = (self.new, b, hb) if ha is None else (self.old, a, ha)
            shown = _names(handoff.include)
            self.emit("handoff", ADDED if ha is None else REMOVED, handoff.clause_id, what,
                      old=shown if hb is None else None, new=shown if ha is None else None,
                      duties=self.handoff_duty(side, stage, handoff, STRICTER if ha is None else LOOSER), **refs)
            return
        if ha.sender.name != hb.sender.name:
            self.emit("handoff.sender", CHANGED, hb.clause_id, What.of("handoff.sender", stage=label),
                      self.team_label(self.old, ha.sender.name), self.team_label(self.new, hb.sender.name),
                      self.handover(self.handoff_duty(self.old, a, ha, LOOSER), self.handoff_duty(self.new, b, hb, STRICTER)),
                      **refs)
        if (ha.within.text if ha.within else None) != (hb.within.text if hb.within else None):
            if ha.within is None or hb.within is None:
                direction = 1 if hb.within is None else -1
            else:
                direction = compare_durations(ha.within, hb.within, self.old.policy.calendar_for(a),
                                              self.new.policy.calendar_for(b))
            self.emit("handoff.within", CHANGED, hb.clause_id, What.of("handoff.within", stage=label),
                      _duration_text(ha.within), _duration_text(hb.within),
                      self.handoff_duty(self.new, b, hb, _direction(direction)) if direction != 0 else [], **refs)
        before, after = [n.name for n in ha.include], [n.name for n in hb.include]
        if before != after:
            direction = STRICTER if set(after) > set(before) else (LOOSER if set(after) < set(before) else None)
            if set(after) != set(before) and direction is None:
                direction = UNCLEAR  # some fields swapped for others
            duties = self.handoff_duty(self.new, b, hb, direction) if direction else []
            self.emit("handoff.include", CHANGED, hb.clause_id, What.of("handoff.include", stage=label),
                      _names(before), _names(after), duties, **refs)
        channels = lambda h: Items(tuple(Plain(_channel(c)) for c in h.channels))  # noqa: E731
        if channels(ha) != channels(hb):
            self.emit("handoff.notify", CHANGED, hb.clause_id, What.of("handoff.notify", stage=label),
                      channels(ha), channels(hb), **refs)

    def escalation_duties(self, side: _Side, stage: ir.Stage, esc: ir.Escalation, direction: str,
                          receiver: bool = True) -> list[Duty]:
        """The owner of the guarded deadline is exposed to the escalation; the team escalated to
        must act on it. Both owe it to the stage's beneficiaries."""
        guarded = (stage.step(esc.on) or stage.deadline(esc.on)) if esc.on else None
        duties = self.stage_duty(side, stage, guarded.owner if guarded else None, direction)
        if receiver:
            to = side.party(esc.to.name)
            obligor = duties[0].obligor if duties else None
            if to is not None and to != obligor:
                duties += _duty(to, side.roles.stage_beneficiaries(stage.id, to), direction)
        return duties

    def _escalations(self, a: ir.Stage, b: ir.Stage, label: Quote) -> None:
        cal_a, cal_b = self.old.policy.calendar_for(a), self.new.policy.calendar_for(b)
        for ea, eb in match(a.escalations, b.escalations, key=lambda e: e.guard):
            esc = eb or ea
            guard = Word(esc.guard)
            what = {"stage": label, "guard": guard}
            refs = {"before": self.ref(self.old, "escalation", a, ea) if ea else None,
                    "after": self.ref(self.new, "escalation", b, eb) if eb else None}
            if ea is None or eb is None:
                side, stage = (self.new, b) if ea is None else (self.old, a)
                shown = Plain(f"{esc.after.text} → {esc.to.name}")
                self.emit("escalation", ADDED if ea is None else REMOVED, esc.clause_id, What.of("escalation", **what),
                          old=shown if eb is None else None, new=shown if ea is None else None,
                          duties=self.escalation_duties(side, stage, esc, STRICTER if ea is None else LOOSER), **refs)
                continue
            if ea.guard != eb.guard:
                self.emit("escalation.on", CHANGED, eb.clause_id, What.of("escalation.on", **what),
                          Word(ea.guard), Word(eb.guard),
                          self.escalation_duties(self.new, b, eb, UNCLEAR), old_clause_id=ea.clause_id, **refs)
            if ea.after.text != eb.after.text:
                direction = compare_durations(ea.after, eb.after, cal_a, cal_b)
                self.emit("escalation.after", CHANGED, eb.clause_id, What.of("escalation.after", **what),
                          Plain(ea.after.text), Plain(eb.after.text),
                          self.escalation_duties(self.new, b, eb, _direction(direction)) if direction != 0 else [],
                          old_clause_id=ea.clause_id, **refs)
            if ea.to.name != eb.to.name:
                old_to, new_to = self.old.party(ea.to.name), self.new.party(eb.to.name)
                duties = []
                if old_to != new_to:  # another party must now act on the escalation
                    duties = self.handover(
                        _duty(old_to, self.old.roles.stage_beneficiaries(a.id, old_to), LOOSER),
                        _duty(new_to, self.new.roles.stage_beneficiaries(b.id, new_to), STRICTER))
                self.emit("escalation.to", CHANGED, eb.clause_id, What.of("escalation.to", **what),
                          self.team_label(self.old, ea.to.name), self.team_label(self.new, eb.to.name), duties,
                          old_clause_id=ea.clause_id, **refs)
            channels = lambda e: Items(tuple(Plain(_channel(c)) for c in e.channels))  # noqa: E731
            if channels(ea) != channels(eb):
                self.emit("escalation.channels", CHANGED, eb.clause_id, What.of("escalation.channels", **what),
                          channels(ea), channels(eb), old_clause_id=ea.clause_id, **refs)

    def _transitions(self, a: ir.Stage, b: ir.Stage) -> None:
        def keyed(stage: ir.Stage, rename: Callable[[str], str]) -> dict[tuple[str, int], ir.Transition]:
            counts: dict[str, int] = {}
            out = {}
            for t in stage.transitions:
                target = rename(t.target.name)
                counts[target] = counts.get(target, 0) + 1
                out[(target, counts[target])] = t
            return out

        old = keyed(a, self._new_id)
        new = keyed(b, lambda n: n)
        for key in [*new, *(k for k in old if k not in new)]:
            ta, tb = old.get(key), new.get(key)
            side = self.new if tb is not None else self.old
            t = tb or ta
            stage = b if tb is not None else a
            target = side.policy.stage_by_id.get(t.target.name)
            recycle = target is not None and target.is_recycle
            base = {"source": Quote(stage.label), "target": self.stage_label(side, t.target.name)}
            kind = "recycle" if recycle else "transition"
            refs = {"before": self.ref(self.old, "transition", a, ta) if ta else None,
                    "after": self.ref(self.new, "transition", b, tb) if tb else None}
            if ta is None or tb is None:
                easier = 1 if ta is None else -1
                duties = self.movement(side, stage, t.target.name, easier)
                if t.record:  # what must be recorded comes and goes with the way out
                    obligor, beneficiaries = side.roles.record_roles(stage, t.target.name)
                    duties += _duty(obligor, beneficiaries, STRICTER if ta is None else LOOSER)
                self.emit(kind, ADDED if ta is None else REMOVED, t.clause_id, What.of(kind, **base),
                          old=_transition_text(ta) if tb is None else None,
                          new=_transition_text(tb) if ta is None else None, duties=duties, **refs)
                continue
            if ta.label != tb.label:
                self.emit("transition.label", CHANGED, tb.clause_id, What.of("transition.label", **base),
                          _opt(ta.label, Quote), _opt(tb.label, Quote), old_clause_id=ta.clause_id, **refs)
            if not cond.same(ta.condition, tb.condition):
                easier = cond.ease(ta.condition, tb.condition)
                self.emit("transition.condition", CHANGED, tb.clause_id, What.of("transition.condition", **base),
                          _opt(ta.condition, lambda c: Plain(ir.condition_source(c))),
                          _opt(tb.condition, lambda c: Plain(ir.condition_source(c))),
                          self.movement(self.new, b, tb.target.name, easier), old_clause_id=ta.clause_id, **refs)
            if (ta.after.text if ta.after else None) != (tb.after.text if tb.after else None):
                if ta.after is None or tb.after is None:
                    easier = None
                else:
                    shorter = compare_durations(ta.after, tb.after, self.old.policy.calendar_for(a),
                                                self.new.policy.calendar_for(b))
                    easier = -shorter if shorter is not None else None
                self.emit("transition.after", CHANGED, tb.clause_id, What.of("transition.after", **base),
                          _duration_text(ta.after), _duration_text(tb.after),
                          self.movement(self.new, b, tb.target.name, easier), old_clause_id=ta.clause_id, **refs)
            before, after = [n.name for n in ta.record], [n.name for n in tb.record]
            if before != after:
                direction = STRICTER if set(after) > set(before) else (LOOSER if set(after) < set(before) else None)
                if set(after) != set(before) and direction is None:
                    direction = UNCLEAR
                obligor, beneficiaries = self.new.roles.record_roles(b, tb.target.name)
                self.emit("transition.record", CHANGED, tb.clause_id, What.of("transition.record", **base),
                          _names(before), _names(after), _duty(obligor, beneficiaries, direction) if direction else [],
                          old_clause_id=ta.clause_id, **refs)
        common_old = [k for k in old if k in new]
        common_new = [k for k in new if k in old]
        if common_old != common_new:
            show = lambda keys, mapping: Items(tuple(Plain(mapping[k].clause_id) for k in keys))  # noqa: E731
            self.emit("transition.order", CHANGED, b.clause_id, What.of("transition.order", stage=Quote(b.label)),
                      show(common_old, old), show(common_new, new))

    # ------------------------------------------------------------------ priorities
    def _priorities(self) -> None:
        old, new = _by_id(self.old.policy.priorities), _by_id(self.new.policy.priorities)
        for prio_id in [*new, *(p for p in old if p not in new)]:
            a, b = old.get(prio_id), new.get(prio_id)
            p = b or a
            what = What.of("priority", priority=Quote(p.label))
            show = lambda x: Plain(ir.condition_source(x.condition)) if x.condition else Word("always")  # noqa: E731
            if a is None or b is None:
                self.emit("priority", ADDED if a is None else REMOVED, p.clause_id, what,
                          old=show(a) if b is None else None, new=show(b) if a is None else None)
                continue
            if a.label != b.label:
                self.emit("priority.label", CHANGED, b.clause_id, What.of("priority.label", priority=Quote(a.label)),
                          Quote(a.label), Quote(b.label))
            if not cond.same(a.condition, b.condition):
                self.emit("priority.condition", CHANGED, b.clause_id, What.of("priority.condition", priority=Quote(b.label)),
                          show(a), show(b))
        common_old = [p.id for p in self.old.policy.priorities if p.id in new]
        common_new = [p.id for p in self.new.policy.priorities if p.id in old]
        if common_old != common_new:
            self.emit("priority.order", CHANGED, "priority", What.of("priority.order"),
                      _names(common_old), _names(common_new))

    # ------------------------------------------------------------------ KPIs
    def kpi_duty(self, side: _Side, kpi: ir.Kpi, direction: str) -> list[Duty]:
        owner = side.party(kpi.owner.name) if kpi.owner else None
        return _duty(owner, side.roles.kpi_beneficiaries(kpi), direction)

    def _kpis(self) -> None:
        old, new = _by_id(self.old.policy.kpis), _by_id(self.new.policy.kpis)
        for kpi_id in [*new, *(k for k in old if k not in new)]:
            a, b = old.get(kpi_id), new.get(kpi_id)
            k = b or a
            what = {"kpi": Quote(k.label)}
            refs = {"before": self.ref(self.old, "kpi", a) if a else None,
                    "after": self.ref(self.new, "kpi", b) if b else None}
            if a is None or b is None:
                side = self.new if a is None else self.old
                self.emit("kpi", ADDED if a is None else REMOVED, k.clause_id, What.of("kpi", **what),
                          old=_kpi_target(a) if b is None else None, new=_kpi_target(b) if a is None else None,
                          duties=self.kpi_duty(side, k, STRICTER if a is None else LOOSER), **refs)
                continue
            owner_a, owner_b = (a.owner.name if a.owner else None), (b.owner.name if b.owner else None)
            if a.label != b.label:
                self.emit("kpi.label", CHANGED, b.clause_id, What.of("kpi.label", kpi=Quote(a.label)), Quote(a.label),
                          Quote(b.label), **refs)
            if owner_a != owner_b:
                self.emit("kpi.owner", CHANGED, b.clause_id, What.of("kpi.owner", **what),
                          self.team_label(self.old, owner_a), self.team_label(self.new, owner_b),
                          self.handover(self.kpi_duty(self.old, a, LOOSER), self.kpi_duty(self.new, b, STRICTER)), **refs)
            measure = lambda x: Plain(ir.measure_source(x))  # noqa: E731
            if measure(a) != measure(b):
                # what the owner answers for changed: neither side can be assumed to gain
                self.emit("kpi.measure", CHANGED, b.clause_id, What.of("kpi.measure", **what), measure(a), measure(b),
                          self.kpi_duty(self.new, b, UNCLEAR), **refs)
            if _kpi_target(a) != _kpi_target(b):
                if a.target and b.target:
                    easier = cond.bound_ease(a.target.op, a.target.value, b.target.op, b.target.value)
                else:
                    easier = 1 if b.target is None else -1  # no target asks nothing; a new one asks something
                # a target that is harder to meet is stricter for the KPI's owner
                duties = self.kpi_duty(self.new, b, UNCLEAR if easier is None else (LOOSER if easier > 0 else STRICTER)) \
                    if easier != 0 else []
                self.emit("kpi.target", CHANGED, b.clause_id, What.of("kpi.target", **what),
                          _kpi_target(a), _kpi_target(b), duties, **refs)
            if _text(a.source) != _text(b.source):  # where the figure comes from, not what is owed
                self.emit("kpi.source", CHANGED, b.clause_id, What.of("kpi.source", **what),
                          _opt(a.source, lambda t: Quote(t.value)), _opt(b.source, lambda t: Quote(t.value)), **refs)
            self._alert(a, b, what, refs)

    def _alert(self, a: ir.Kpi, b: ir.Kpi, what: dict, refs: dict) -> None:
        la, lb = a.alert, b.alert
        if la is None and lb is None:
            return
        if la is None or lb is None:
            self.emit("kpi.alert", ADDED if la is None else REMOVED, b.clause_id, What.of("kpi.alert", **what),
                      old=_threshold(la) if lb is None else None, new=_threshold(lb) if la is None else None,
                      duties=self.kpi_duty(self.new, b, STRICTER if la is None else LOOSER), **refs)
            return
        if _threshold(la) != _threshold(lb):
            sooner = cond.bound_ease(la.op, la.value, lb.op, lb.value)
            # an alert that fires more easily puts the owner under review sooner
            duties = self.kpi_duty(self.new, b, UNCLEAR if sooner is None else (STRICTER if sooner > 0 else LOOSER)) \
                if sooner != 0 else []
            self.emit("kpi.alert.threshold", CHANGED, b.clause_id, What.of("kpi.alert.threshold", **what),
                      _threshold(la), _threshold(lb), duties, **refs)
        if la.action != lb.action:
            self.emit("kpi.alert.action", CHANGED, b.clause_id, What.of("kpi.alert.action", **what),
                      _opt(la.action, Quote), _opt(lb.action, Quote), self.kpi_duty(self.new, b, UNCLEAR), **refs)
        if [n.name for n in la.notify] != [n.name for n in lb.notify]:
            self.emit("kpi.alert.notify", CHANGED, b.clause_id, What.of("kpi.alert.notify", **what),
                      _names(la.notify), _names(lb.notify), **refs)
        if (la.review.name if la.review else None) != (lb.review.name if lb.review else None):
            self.emit("kpi.alert.review", CHANGED, b.clause_id, What.of("kpi.alert.review", **what),
                      _opt(la.review, lambda n: Plain(n.name)), _opt(lb.review, lambda n: Plain(n.name)), **refs)

    # ------------------------------------------------------------------ information
    def _information(self) -> None:
        def items(policy: ir.Policy) -> dict[tuple[str, str], list[ir.InformationItem]]:
            out: dict[tuple[str, str], list] = {}
            for block in policy.information:
                out.setdefault((block.sender.name, block.receiver.name), []).extend(block.items)
            return out

        old, new = items(self.old.policy), items(self.new.policy)
        for pair in [*new, *(p for p in old if p not in new)]:
            sender, receiver = pair
            for ia, ib in match(old.get(pair, []), new.get(pair, []), key=lambda i: i.text):
                item = ib or ia
                side = self.new if ib is not None else self.old
                what = {"sender": self.team_label(side, sender), "receiver": self.team_label(side, receiver),
                        "item": Quote(item.text)}
                refs = {"before": self.ref(self.old, "information", sender, receiver, ia) if ia else None,
                        "after": self.ref(self.new, "information", sender, receiver, ib) if ib else None}

                def duty(side: _Side, direction: str, sender=sender, receiver=receiver) -> list[Duty]:
                    return _duty(side.party(sender), (side.party(receiver),) if side.party(receiver) else (), direction)

                if ia is None or ib is None:
                    self.emit("information", ADDED if ia is None else REMOVED, item.clause_id,
                              What.of("information", **what), duties=duty(side, STRICTER if ia is None else LOOSER),
                              **refs)
                    continue
                if ia.text != ib.text:  # what is owed changed: neither side can be assumed to gain
                    self.emit("information.text", CHANGED, ib.clause_id, What.of("information.text", **what),
                              Quote(ia.text), Quote(ib.text), duty(self.new, UNCLEAR), old_clause_id=ia.clause_id, **refs)
                elif ia.clause_id != ib.clause_id:
                    self.emit("clause.renumbered", CHANGED, ib.clause_id, What.of("clause.number", item=Quote(ib.text)),
                              Plain(ia.clause_id), Plain(ib.clause_id), old_clause_id=ia.clause_id)
                if (ia.within.text if ia.within else None) != (ib.within.text if ib.within else None):
                    if ia.within is None or ib.within is None:
                        direction = 1 if ib.within is None else -1
                    else:
                        cal = self.new.policy.calendar_for()
                        direction = compare_durations(ia.within, ib.within, self.old.policy.calendar_for(), cal)
                    self.emit("information.within", CHANGED, ib.clause_id, What.of("information.within", **what),
                              _duration_text(ia.within), _duration_text(ib.within),
                              duty(self.new, _direction(direction)) if direction != 0 else [], **refs)
                anchor = lambda i: Plain(f"after {i.anchor.event} {i.anchor.stage.name}") if i.anchor else Word("none")  # noqa: E731
                if anchor(ia) != anchor(ib):  # from when it counts: neither side can be assumed to gain
                    self.emit("information.anchor", CHANGED, ib.clause_id, What.of("information.anchor", **what),
                              anchor(ia), anchor(ib), duty(self.new, UNCLEAR), **refs)
                every = lambda i: Plain(f"every {i.every.every} {i.every.unit}") if i.every else Word("none")  # noqa: E731
                if every(ia) != every(ib):
                    if ia.every is None or ib.every is None:
                        direction = STRICTER if ia.every is None else LOOSER
                    else:
                        shorter = ib.every.approx_days < ia.every.approx_days
                        direction = STRICTER if shorter else (LOOSER if ib.every.approx_days > ia.every.approx_days else "")
                    self.emit("information.every", CHANGED, ib.clause_id, What.of("information.every", **what),
                              every(ia), every(ib), duty(self.new, direction) if direction else [], **refs)
                if (ia.recorded_in.name if ia.recorded_in else None) != (ib.recorded_in.name if ib.recorded_in else None):
                    self.emit("information.recorded_in", CHANGED, ib.clause_id,
                              What.of("information.recorded_in", **what),
                              _opt(ia.recorded_in, lambda n: Plain(n.name)), _opt(ib.recorded_in, lambda n: Plain(n.name)),
                              **refs)

    # ------------------------------------------------------------------ responsibilities
    def responsibility_duties(self, side: _Side, row: ir.Responsibility, teams, direction: str) -> list[Duty]:
        duties: list[Duty] = []
        for team in teams:
            party = side.party(team.name if isinstance(team, ir.Name) else team)
            duties += _duty(party, side.roles.responsibility_beneficiaries(row, party), direction)
        return duties

    def _responsibilities(self) -> None:
        for ra, rb in match(self.old.policy.responsibilities, self.new.policy.responsibilities, key=lambda r: r.task):
            row = rb or ra
            side = self.new if rb is not None else self.old
            what = {"task": Quote(row.task)}
            refs = {"before": self.ref(self.old, "responsibility", ra) if ra else None,
                    "after": self.ref(self.new, "responsibility", rb) if rb else None}
            if ra is None or rb is None:
                duties = self.responsibility_duties(side, row, (*row.responsible, *row.accountable),
                                                    STRICTER if ra is None else LOOSER)
                self.emit("responsibility", ADDED if ra is None else REMOVED, row.clause_id,
                          What.of("responsibility", **what), duties=duties, **refs)
                continue
            if ra.task != rb.task:
                self.emit("responsibility.task", CHANGED, rb.clause_id, What.of("responsibility.task", **what),
                          Quote(ra.task), Quote(rb.task),
                          self.responsibility_duties(self.new, rb, (*rb.responsible, *rb.accountable), UNCLEAR),
                          old_clause_id=ra.clause_id, **refs)
            elif ra.clause_id != rb.clause_id:
                self.emit("clause.renumbered", CHANGED, rb.clause_id, What.of("clause.number", item=Quote(rb.task)),
                          Plain(ra.clause_id), Plain(rb.clause_id), old_clause_id=ra.clause_id)
            for role in ("responsible", "accountable", "consulted", "informed"):
                before = [n.name for n in getattr(ra, role)]
                after = [n.name for n in getattr(rb, role)]
                if before == after:
                    continue
                duties: list[Duty] = []
                if role in ("responsible", "accountable"):
                    duties += self.responsibility_duties(self.new, rb, [t for t in after if t not in before], STRICTER)
                    duties += self.responsibility_duties(self.old, ra, [t for t in before if t not in after], LOOSER)
                else:
                    # consulting or informing one more team is more work for those responsible,
                    # and a team no longer consulted or informed loses what it was owed
                    owners = [n.name for n in (*rb.responsible, *rb.accountable)]
                    for team in [t for t in after if t not in before]:
                        for owner in owners:
                            duties += _duty(self.new.party(owner), (self.new.party(team),), STRICTER)
                    for team in [t for t in before if t not in after]:
                        for owner in [n.name for n in (*ra.responsible, *ra.accountable)]:
                            duties += _duty(self.old.party(owner), (self.old.party(team),), LOOSER)
                    duties = [d for d in duties if d.beneficiaries != (None,)]
                self.emit(f"responsibility.{role}", CHANGED, rb.clause_id, What.of(f"responsibility.{role}", **what),
                          Items(tuple(self.team_label(self.old, t) for t in before)),
                          Items(tuple(self.team_label(self.new, t) for t in after)), duties,
                          old_clause_id=ra.clause_id, **refs)

    # ------------------------------------------------------------------ reviews
    def review_duties(self, side: _Side, review: ir.Review, direction: str, parties=None) -> list[Duty]:
        duties: list[Duty] = []
        for party in parties if parties is not None else side.roles.review_participants(review):
            duties += _duty(party, side.roles.review_beneficiaries(review, party), direction)
        return duties

    def _reviews(self) -> None:
        old, new = _by_id(self.old.policy.reviews), _by_id(self.new.policy.reviews)
        for review_id in [*new, *(r for r in old if r not in new)]:
            a, b = old.get(review_id), new.get(review_id)
            r = b or a
            what = {"review": Quote(r.label)}
            refs = {"before": self.ref(self.old, "review", a) if a else None,
                    "after": self.ref(self.new, "review", b) if b else None}
            if a is None or b is None:
                side = self.new if a is None else self.old
                self.emit("review", ADDED if a is None else REMOVED, r.clause_id, What.of("review", **what),
                          old=_cadence(a) if b is None else None, new=_cadence(b) if a is None else None,
                          duties=self.review_duties(side, r, STRICTER if a is None else LOOSER), **refs)
                continue
            if a.label != b.label:
                self.emit("review.label", CHANGED, b.clause_id, What.of("review.label", review=Quote(a.label)),
                          Quote(a.label), Quote(b.label), **refs)
            if _cadence(a) != _cadence(b):
                duties = []
                if a.cadence and b.cadence and a.cadence.approx_days != b.cadence.approx_days:
                    duties = self.review_duties(self.new, b, STRICTER if b.cadence.approx_days < a.cadence.approx_days
                                                else LOOSER)
                elif (a.cadence is None) != (b.cadence is None):
                    duties = self.review_duties(self.new, b, STRICTER if a.cadence is None else LOOSER)
                self.emit("review.cadence", CHANGED, b.clause_id, What.of("review.cadence", **what),
                          _cadence(a), _cadence(b), duties, **refs)
            owner_a, owner_b = (a.owner.name if a.owner else None), (b.owner.name if b.owner else None)
            if owner_a != owner_b:
                before_p, after_p = self.old.party(owner_a), self.new.party(owner_b)
                duties = []
                if before_p != after_p:  # calling the meeting moves to another party
                    duties = self.handover(self.review_duties(self.old, a, LOOSER, [before_p] if before_p else []),
                                           self.review_duties(self.new, b, STRICTER, [after_p] if after_p else []))
                self.emit("review.owner", CHANGED, b.clause_id, What.of("review.owner", **what),
                          self.team_label(self.old, owner_a), self.team_label(self.new, owner_b), duties, **refs)
            before, after = [n.name for n in a.attendees], [n.name for n in b.attendees]
            if before != after:
                joined = {self.new.party(t) for t in after} - {self.old.party(t) for t in before} - {None}
                left = {self.old.party(t) for t in before} - {self.new.party(t) for t in after} - {None}
                duties = self.review_duties(self.new, b, STRICTER, sorted(joined))
                duties += self.review_duties(self.old, a, LOOSER, sorted(left))
                self.emit("review.attendees", CHANGED, b.clause_id, What.of("review.attendees", **what),
                          Items(tuple(self.team_label(self.old, t) for t in before)),
                          Items(tuple(self.team_label(self.new, t) for t in after)), duties, **refs)
            covers = lambda x: _names(x.covers)  # noqa: E731
            if covers(a) != covers(b):
                self.emit("review.covers", CHANGED, b.clause_id, What.of("review.covers", **what), covers(a), covers(b),
                          **refs)
            agenda = lambda x: Items(tuple(Quote(t.value) for t in x.agenda))  # noqa: E731
            if agenda(a) != agenda(b):
                self.emit("review.agenda", CHANGED, b.clause_id, What.of("review.agenda", **what), agenda(a), agenda(b),
                          **refs)
            held = lambda x: Plain(x.last_held.value.isoformat()) if x.last_held else Word("none")  # noqa: E731
            if held(a) != held(b):
                self.emit("review.last_held", CHANGED, b.clause_id, What.of("review.last_held", **what), held(a), held(b))

    # ------------------------------------------------------------------ cancellation
    def _cancellations(self) -> None:
        for ca, cb in match(self.old.policy.cancellations, self.new.policy.cancellations, key=lambda c: c.text):
            c = cb or ca
            if ca is None or cb is None:
                self.emit("cancellation", ADDED if ca is None else REMOVED, c.clause_id, What.of("cancellation"),
                          old=Quote(ca.text) if cb is None else None, new=Quote(cb.text) if ca is None else None)
            elif ca.text != cb.text:
                self.emit("cancellation.text", CHANGED, cb.clause_id, What.of("cancellation.text"),
                          Quote(ca.text), Quote(cb.text), old_clause_id=ca.clause_id)
            elif ca.clause_id != cb.clause_id:
                self.emit("clause.renumbered", CHANGED, cb.clause_id, What.of("clause.number", item=Quote(cb.text)),
                          Plain(ca.clause_id), Plain(cb.clause_id), old_clause_id=ca.clause_id)


# ---------------------------------------------------------------------- module helpers


def _translation_entries(policy: ir.Policy) -> dict[tuple[str, str], str]:
    return {(block.id, e.source): e.text for block in policy.translations for e in block.entries}


def obligations(roles: Roles) -> Iterable[tuple[str | None, tuple[str, ...], ir.Duration, ir.Calendar | None]]:
    """Every time limit in the policy: (obligor, beneficiaries, duration, the calendar it counts in)."""
    policy = roles.policy
    for stage in policy.stages:
        calendar = policy.calendar_for(stage)
        for d in stage.deadlines:
            obligor = roles.stage_obligor(stage, d.owner)
            beneficiaries = roles.stage_beneficiaries(stage.id, obligor)
            yield obligor, beneficiaries, d.within, calendar
            if d.target is not None:
                yield obligor, (obligor,) if obligor else (), d.target, calendar
        if stage.follow_up is not None:
            obligor = roles.stage_obligor(stage, stage.follow_up.owner)
            for offset in stage.follow_up.offsets:
                yield obligor, roles.stage_beneficiaries(stage.id, obligor), offset, calendar
    default = policy.calendar_for()
    for block in policy.information:
        receiver = roles.party(block.receiver.name)
        for item in block.items:
            if item.within is not None:
                yield roles.party(block.sender.name), (receiver,) if receiver else (), item.within, default


def compare_durations(a: ir.Duration, b: ir.Duration, cal_a: ir.Calendar | None, cal_b: ir.Calendar | None) -> int | None:
    """-1 when `b` is shorter than `a`, +1 when longer, 0 when the same, None when it depends."""
    if a.unit == b.unit and (not a.business or _same_calendar(cal_a, cal_b)):
        return (b.amount > a.amount) - (b.amount < a.amount)
    if not a.business and not b.business:
        return (b.minutes > a.minutes) - (b.minutes < a.minutes)
    if a.business and b.business and _same_calendar(cal_a, cal_b) and cal_a is not None:
        from ..businesstime import business_minutes

        calendar = BusinessCalendar(cal_a)
        x, y = business_minutes(a, calendar), business_minutes(b, calendar)
        return (y > x) - (y < x)
    bounds_a = span_bounds(a, BusinessCalendar(cal_a) if cal_a else None)
    bounds_b = span_bounds(b, BusinessCalendar(cal_b) if cal_b else None)
    if bounds_a is None or bounds_b is None:
        return None
    if bounds_a == bounds_b:
        return 0
    if bounds_b[0] <= bounds_a[0] and bounds_b[1] <= bounds_a[1]:
        return -1
    if bounds_b[0] >= bounds_a[0] and bounds_b[1] >= bounds_a[1]:
        return 1
    middle_a, middle_b = sum(bounds_a) / 2, sum(bounds_b) / 2  # overlapping ranges: the typical length decides
    return (middle_b > middle_a) - (middle_b < middle_a)


def _same_calendar(a: ir.Calendar | None, b: ir.Calendar | None) -> bool:
    if a is None or b is None:
        return a is b
    return cond.same(a, b)


def _stage_body(stage: ir.Stage) -> str:
    from dataclasses import replace

    return cond.key(replace(stage, id="", label="", clause_id="", deadlines=(), escalations=(), transitions=(),
                            follow_up=None, handoff=None)) + cond.key(
        [(d.kind, d.within.text) for d in stage.deadlines] + [t.target.name for t in stage.transitions])


def _channel(channel: ir.Channel) -> str:
    return channel.kind + (f" “{channel.target}”" if channel.target else "")


def _transition_text(t: ir.Transition | None) -> Plain | None:
    if t is None:
        return None
    parts = []
    if t.condition is not None:
        parts.append("when " + ir.condition_source(t.condition))
    if t.after is not None:
        parts.append("after " + t.after.text)
    if t.record:
        parts.append("record " + ", ".join(n.name for n in t.record))
    return Plain(" ".join(parts) or "→")


def _threshold(threshold: ir.Threshold | ir.Alert | None):
    if threshold is None:
        return Word("none")
    return Plain(f"{threshold.op} {ir.value_source(threshold.value)}")


def _text(text: ir.Text | None) -> str | None:
    return text.value if text is not None else None


def _kpi_target(kpi: ir.Kpi):
    return Word("to_be_agreed") if kpi.target_pending else _threshold(kpi.target)


def _term(term: ir.Term | None):
    if term is None:
        return Word("none")
    length = term.length
    parts: list = [Plain(f"{length.every} {length.unit}{'s' * (length.every != 1)}" if length
                         else f"until {term.until.value.isoformat()}" if term.until else "")]
    parts.append(Word({"automatic": "renews_automatically", "after_review": "renews_after_review"}.get(
        term.renewal or "", "expires")))
    if term.review is not None:
        parts.append(Plain(term.review.name))
    return Items(tuple(parts))


def _amendment(amendment: ir.Amendment | None):
    if amendment is None:
        return Word("none")
    return Items(tuple(Plain(n.name) for n in amendment.approvers) + tuple(Quote(t.value) for t in amendment.text))


def _cadence(review: ir.Review | None):
    if review is None or review.cadence is None:
        return Word("none")
    c = review.cadence
    return Plain(f"every {c.unit}" if c.every == 1 else f"every {c.every} {c.unit}s")


__all__ = ["compare_policies", "parties_of", "party_of", "compare_durations", "obligations", "MIXED", "opposite"]
