"""Timing: deadlines, SLOs, follow-up cadences, escalations, timeouts and calendars agree.

Durations are compared as described in `durations.py`. A rule that says "can end after" is
reported when *some* entry time makes it so; the message gives such a time when the units are
mixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .. import ir
from ..diagnostics import Diagnostic, Related, Severity, define_rule, Message
from . import CheckContext, check
from .durations import durations, entry_example
from .graph import flow
from .liveness import timeouts

SLO_NOT_STRICTER = define_rule(
    "SLA501",
    "slo-not-stricter-than-sla",
    Severity.ERROR,
    "An internal target (SLO) is not stricter than the SLA it should protect.",
    explanation="`respond within 24h target 12h` promises 24 hours (the SLA) and aims for 12 "
    "(the SLO), so a slip still keeps the agreement. A target equal to or longer than the "
    "SLA protects nothing. With mixed units (`within 1bd target 12h`) the target is reported "
    "when it ends at or after the SLA for some entry time.",
    bad="respond within 24h target 36h",
    good="respond within 24h target 12h",
)
FOLLOW_UP_AFTER_DEADLINE = define_rule(
    "SLA502",
    "follow-up-after-deadline",
    Severity.ERROR,
    "A follow-up attempt is scheduled after the deadline it has to meet.",
    explanation="Follow-up offsets count from the moment the lead enters the stage. The last "
    "attempt must fall no later than the stage's `decide` deadline (by then the lead must "
    "have left the stage) — or, without one, its earliest timeout; the first attempt no "
    "later than the `respond` deadline (it is the response). Otherwise the cadence the "
    "agreement promises cannot be kept. With business-day deadlines and calendar-day "
    "offsets, the worst entry time decides: `decide within 5bd` from Monday 09:00 (9-hour "
    "days) ends on Friday at 18:00, before a follow-up on day 7. With `from first contact` the "
    "offsets count from the first call, email or meeting, which may come as late as the "
    "`respond` deadline: that deadline plus the last offset must fit in the decision deadline "
    "(`respond within 1bd` + `5bd` does not fit in `decide within 5bd`); without a `respond` "
    "deadline, the last offset alone must end before the decision deadline.",
    bad="decide within 5bd\nfollow up 3 times at 0d, 3d, 7d via call, email",
    good="decide within 5bd\nfollow up 3 times at 0d, 3d, 5bd via call, email",
)
FOLLOW_UP_OUT_OF_ORDER = define_rule(
    "SLA503",
    "follow-up-out-of-order",
    Severity.ERROR,
    "Follow-up offsets do not increase.",
    explanation="`follow up N times at …` lists when each attempt is due, counted from "
    "entering the stage; each must come after the one before it, for every entry time.",
    bad="follow up 3 times at 0d, 7d, 3d via call",
    good="follow up 3 times at 0d, 3d, 7d via call",
)
LATE_ESCALATION = define_rule(
    "SLA504",
    "late-escalation",
    Severity.WARNING,
    "An escalation fires so late that the deadline it guards has been missed by more than the deadline itself.",
    explanation="`escalate … after` counts from entering the stage. An escalation after 72h on "
    "a 24h deadline tells the manager two days after the lead was due — twice as long as the "
    "deadline allowed. Escalate at the deadline (or before it, as an early warning).",
    bad="respond within 24h\nescalate to sales_managers after 72h on respond",
    good="respond within 24h\nescalate to sales_managers after 24h on respond",
)
ESCALATION_WITHOUT_DEADLINE = define_rule(
    "SLA505",
    "escalation-without-deadline",
    Severity.ERROR,
    "An escalation guards a deadline the stage does not have.",
    explanation="`escalate … on decide` guards the stage's `decide` deadline (`on respond` its "
    "`respond` deadline). When the stage has no such deadline there is nothing to be late "
    "for: add the deadline or guard the one that exists.",
    bad="respond within 24h\nescalate to sales_managers after 5bd on decide",
    good="respond within 24h\ndecide within 5bd\nescalate to sales_managers after 5bd on decide",
)
ZERO_DURATION = define_rule(
    "SLA506",
    "zero-duration",
    Severity.ERROR,
    "A deadline, target, escalation, timeout or information duty lasts zero time.",
    explanation="`respond within 0h` is breached the moment the lead arrives; `-> x after 0d` "
    "(without `when`) moves every lead on at once; an escalation after 0h fires for every lead. (A follow-up "
    "offset of `0d` is fine: the first attempt is due on entry. Negative durations cannot be "
    "written: `-3d` is a syntax error.)",
    bad="respond within 0h",
    good="respond within 4h",
)
BUSINESS_TIME_WITHOUT_CALENDAR = define_rule(
    "SLA507",
    "business-time-without-calendar",
    Severity.ERROR,
    "A business-time duration (`bh`, `bd`) is used where no calendar applies.",
    explanation="Business hours and days count only working time, so they need a calendar: "
    "the stage's `calendar`, else the agreement's `calendar`, else the only calendar the "
    "policy declares. Declare one (`calendar tokyo { … }`) and name it in the agreement, or "
    "write calendar time (`24h`, `3d`).",
    bad='agreement "SLA" {\n  …\n}\nstage mql "MQL" {\n  decide within 5bd\n}',
    good='agreement "SLA" {\n  …\n  calendar tokyo\n}\ncalendar tokyo "Tokyo office" {\n  timezone "Asia/Tokyo"\n'
    '  days mon, tue, wed, thu, fri\n  hours 09:00 to 18:00\n  holidays JP\n}',
)
CALENDAR_WITHOUT_WORKING_TIME = define_rule(
    "SLA508",
    "calendar-without-working-time",
    Severity.ERROR,
    "A calendar has no working days or no working hours.",
    explanation="A calendar needs `days` and `hours`; without them a business-time deadline "
    "never ends.",
    bad='calendar tokyo "Tokyo" {\n  timezone "Asia/Tokyo"\n  days mon, tue, wed, thu, fri\n}',
    good='calendar tokyo "Tokyo" {\n  timezone "Asia/Tokyo"\n  days mon, tue, wed, thu, fri\n  hours 09:00 to 18:00\n}',
)
INVALID_WORKING_HOURS = define_rule(
    "SLA509",
    "invalid-working-hours",
    Severity.ERROR,
    "Working hours end before they start, or two ranges overlap.",
    explanation="Each range of `hours` runs from a start to a later end on the same day "
    "(overnight ranges are not supported: split them at 24:00 / 00:00), and ranges must not "
    "overlap — an overlap usually means a typo such as 12:00 for 13:00.",
    bad="hours 09:00 to 12:00, 11:00 to 18:00",
    good="hours 09:00 to 12:00, 13:00 to 18:00",
)
DEADLINE_ON_TERMINAL_STAGE = define_rule(
    "SLA510",
    "deadline-on-terminal-stage",
    Severity.ERROR,
    "A terminal stage has a deadline, follow-up or escalation.",
    explanation="A lead in a terminal stage has finished this agreement's process: it cannot "
    "leave the stage (so a `decide` deadline is always missed) and nobody owes it a response "
    "under this agreement. Obligations after the sale (onboarding, customer success) belong "
    "in a stage that is not terminal or in another agreement.",
    bad='stage customer "Customer" {\n  terminal\n  respond within 48h\n}',
    good='stage customer "Customer" {\n  terminal\n}',
)
TIMEOUT_NEVER_FIRES = define_rule(
    "SLA511",
    "timeout-never-fires",
    Severity.WARNING,
    "A timeout can never fire because another timeout of the same stage always fires first.",
    explanation="Of several unconditional timeouts (`-> x after …` without `when`) only the "
    "earliest ever moves a lead. A later one is dead text; two equal ones leave it undefined "
    "where the lead goes.",
    bad="-> nurture after 30d\n-> archived after 90d",
    good='-> nurture after 30d\n-> archived "No answer after 90 days" when email_click == 0 after 90d',
)
DEADLINE_AFTER_TIMEOUT = define_rule(
    "SLA514",
    "deadline-after-timeout",
    Severity.WARNING,
    "A deadline ends after an unconditional timeout of the same stage has moved every lead on: it can never be missed.",
    explanation="A timeout (`-> x after …` without `when`) moves every lead out of the stage "
    "when it passes. A deadline of the same stage that ends later is never reached: the lead "
    "has left before it could be late, so the deadline, its escalations and the KPIs that "
    "measure it promise nothing. Usually the deadline or the timeout has a digit or a unit "
    "wrong (`decide within 90d` with `-> closed_lost after 9d`). A timeout equal to the "
    "deadline is the usual way to enforce it and is not reported.",
    bad="decide within 120d\n-> closed_lost after 90d",
    good="decide within 90d\n-> closed_lost after 90d",
)
RESPOND_AFTER_DECIDE = define_rule(
    "SLA512",
    "respond-after-decide",
    Severity.ERROR,
    "The first response is due after the lead must already have left the stage.",
    explanation="`respond within` is the first contact, `decide within` the moment the lead "
    "must leave the stage. A response deadline later than the decision deadline can never "
    "matter.",
    bad="respond within 5bd\ndecide within 2bd",
    good="respond within 1bd\ndecide within 5bd",
)

MEANINGLESS_STEP = define_rule(
    "SLA515",
    "meaningless-sequence-step",
    Severity.ERROR,
    "A `then` step of a sequence can never start, or can never be missed.",
    explanation="`then …` lines make deadlines in sequence: the stage's `respond` is step 1, and "
    "each `then` step's clock starts when the step before it is done. A step that follows "
    "nothing (the stage has no `respond`), that follows `then decide` (the lead has left the "
    "stage, which ends the sequence), that is due the moment it starts (`within 0h`: shorter "
    "than nothing leaves no time to do it), or that an unconditional timeout of the stage always "
    "cuts short before it can be missed (the timeout is not longer than the step) promises "
    "nothing; the agreement would list an obligation nobody can keep or break.",
    bad="then follow up 5 times within 10d via call, email\ndecide within 5bd",
    good="respond within 1bd via call\nthen follow up 5 times within 10d via call, email",
)


HANDOFF_AFTER_RESPONSE = define_rule(
    "SLA513",
    "handoff-after-response-due",
    Severity.WARNING,
    "The hand-off may be completed only after the receiver's first response is due.",
    explanation="`handoff from marketing within 4h` gives the sender until 4 hours after the lead "
    "enters the stage to assign it to somebody of the receiving team; `respond within 24h` "
    "counts from the same moment. When the hand-off deadline is not shorter than the response "
    "deadline, the receiver can be handed the lead after its response was already due, and "
    "the late response would be the sender's doing.",
    bad='handoff from marketing within 1bd {\n  notify email\n}\nrespond within 4h',
    good='handoff from marketing within 1h {\n  notify email\n}\nrespond within 24h',
)


def _stage_durations(stage: ir.Stage) -> Iterator[ir.Duration]:
    if stage.handoff is not None and stage.handoff.within is not None:
        yield stage.handoff.within
    for d in stage.deadlines:
        yield d.within
        if d.target is not None:
            yield d.target
    if stage.follow_up is not None:
        yield from stage.follow_up.offsets
    for step in stage.steps:
        yield step.within
        if step.target is not None:
            yield step.target
    for e in stage.escalations:
        yield e.after
    for t in stage.transitions:
        if t.after is not None:
            yield t.after


# ------------------------------------------------------------------ deadlines and targets


@check(SLO_NOT_STRICTER, RESPOND_AFTER_DECIDE)
def find_loose_targets(ctx: CheckContext) -> Iterator[Diagnostic]:
    clock = durations(ctx)
    for stage in flow(ctx).stages.values():
        calendar = clock.calendar(stage)
        for d in (*stage.deadlines, *stage.steps):
            if d.target is None or d.target.amount == 0 or d.within.amount == 0:
                continue
            if clock.ends_later(d.target, d.within, calendar, or_equal=True):
                looser = clock.ends_later(d.target, d.within, calendar)
                yield Diagnostic(
                    SLO_NOT_STRICTER,
                    Message('the internal target `{target}` of `{stage}.{kind}` is looser than the SLA `{within}` it should protect{example}', target=d.target.text, stage=stage.id, kind=_obligation_name(d), within=d.within.text, example=clock.example_entry(d.target, d.within, calendar))
                    if looser else
                    Message('the internal target `{target}` of `{stage}.{kind}` is the same as the SLA `{within}` it should protect', target=d.target.text, stage=stage.id, kind=_obligation_name(d), within=d.within.text),
                    d.target.span,
                    help=Message('make the target shorter than {within}, so a slip still keeps the SLA', within=d.within.text),
                    related=(Related(d.within.span, Message('the SLA')),),
                )
        respond, decide = stage.deadline("respond"), stage.deadline("decide")
        if respond and decide and clock.ends_later(respond.within, decide.within, calendar):
            yield Diagnostic(
                RESPOND_AFTER_DECIDE,
                Message('the first response (`{within}`) can be due after the lead must have left `{stage}` (`decide within {within2}`){example}', within=respond.within.text, stage=stage.id, within2=decide.within.text, example=clock.example_entry(respond.within, decide.within, calendar)),
                respond.within.span,
                help=Message('the response deadline should be shorter than the decision deadline'),
                related=(Related(decide.span, Message('decision deadline')),),
            )


def _obligation_name(d: ir.Deadline | ir.Step) -> str:
    """How a message names a deadline after the stage id: `respond`, or `step2` for a step."""
    return d.guard if isinstance(d, ir.Step) else d.kind


# ------------------------------------------------------------------ deadlines in sequence


@check(MEANINGLESS_STEP)
def find_meaningless_steps(ctx: CheckContext) -> Iterator[Diagnostic]:
    clock = durations(ctx)
    for stage in flow(ctx).stages.values():
        if not stage.steps:
            continue
        if stage.deadline("respond") is None:
            if ctx.deadline_written(stage.id, "respond"):
                continue  # written with a wrong duration: reported there
            yield Diagnostic(
                MEANINGLESS_STEP,
                Message('`then` step {number} of `{stage}` follows nothing: a sequence starts with the stage\'s `respond` deadline', number=stage.steps[0].number, stage=stage.id),
                stage.steps[0].span,
                help=Message('add `respond within …` (step 1) before the `then` lines'),
            )
            continue
        calendar = clock.calendar(stage)
        decided = None
        for step in stage.steps:
            if decided is not None:
                yield Diagnostic(
                    MEANINGLESS_STEP,
                    Message('step {number} of `{stage}` can never start: the lead has left the stage when step {before} (`then decide`) is done', number=step.number, stage=stage.id, before=decided.number),
                    step.span,
                    help=Message('put `then decide` last, or delete this step'),
                    related=(Related(decided.span, Message('the step that ends the sequence')),),
                )
                continue
            if step.kind == "decide":
                decided = step
            if step.within.amount == 0:
                yield Diagnostic(
                    MEANINGLESS_STEP,
                    Message('step {number} of `{stage}` is due the moment it starts: `within {within}` leaves no time to do it', number=step.number, stage=stage.id, within=step.within.text),
                    step.within.span,
                    help=Message('give the step a real length (e.g. `within 10d`), or delete it'),
                )
                continue
            for t in timeouts(stage):
                # even a step started at the moment of entry is due after the timeout: `is False`,
                # since None means the calendar cannot tell
                if step.within.amount and clock.ends_later(t.after, step.within, calendar, or_equal=True) is False:
                    yield Diagnostic(
                        MEANINGLESS_STEP,
                        Message('step {number} of `{stage}` (`within {within}`) can never be missed: the timeout `-> {target} after {after}` moves every lead out of the stage first', number=step.number, stage=stage.id, within=step.within.text, target=t.target.name, after=t.after.text),
                        step.within.span,
                        help=Message('shorten the step, or lengthen the timeout'),
                        related=(Related(t.span, Message('timeout')),),
                    )
                    break


# ------------------------------------------------------------------ follow-up cadence


@check(FOLLOW_UP_AFTER_DEADLINE, FOLLOW_UP_OUT_OF_ORDER)
def find_follow_ups_outside_deadlines(ctx: CheckContext) -> Iterator[Diagnostic]:
    clock = durations(ctx)
    for stage in flow(ctx).stages.values():
        follow = stage.follow_up
        if follow is None or not follow.offsets or stage.is_terminal:
            continue
        calendar = clock.calendar(stage)
        offsets = follow.offsets
        for before, after in zip(offsets, offsets[1:]):
            if clock.ends_later(before, after, calendar, or_equal=True):
                yield Diagnostic(
                    FOLLOW_UP_OUT_OF_ORDER,
                    Message('the follow-up at `{after}` is not after the one at `{before}`{example}', after=after.text, before=before.text, example=clock.example_entry(before, after, calendar)),
                    after.span,
                    help=Message('list the offsets in increasing order, each later than the one before'),
                    related=(Related(before.span, Message('previous attempt')),),
                )
        respond = stage.deadline("respond")
        if follow.from_first_contact:
            # the offsets count from the first contact, which is itself the response: the
            # question is when the last attempt can come, from a first contact as late as the
            # response deadline allows (or, without one, at any time the lead is there)
            yield from _late_after_first_contact(clock, stage, follow, respond, calendar)
            continue
        first = offsets[0]
        if respond and respond.within.amount and clock.ends_later(first, respond.within, calendar):
            yield Diagnostic(
                FOLLOW_UP_AFTER_DEADLINE,
                Message('the first follow-up at `{first}` can fall after the response deadline `{within}`{example}', first=first.text, within=respond.within.text, example=clock.example_entry(first, respond.within, calendar)),
                first.span,
                help=Message('make the first attempt due within {within} (usually `0d`)', within=respond.within.text),
                related=(Related(respond.span, Message('response deadline')),),
            )
        last = offsets[-1]
        decide = stage.deadline("decide")
        if decide is not None:
            if decide.within.amount and clock.ends_later(last, decide.within, calendar):
                yield Diagnostic(
                    FOLLOW_UP_AFTER_DEADLINE,
                    Message('the last follow-up at `{last}` can fall after the decision deadline `{within}`{example}: the lead must have left `{stage}` by then', last=last.text, within=decide.within.text, example=clock.example_entry(last, decide.within, calendar), stage=stage.id),
                    last.span,
                    help=Message('schedule the attempts within {within}, or lengthen the decision deadline', within=decide.within.text),
                    related=(Related(decide.span, Message('decision deadline')),),
                )
            continue
        for t in timeouts(stage):
            if t.after.amount and clock.ends_later(last, t.after, calendar):
                yield Diagnostic(
                    FOLLOW_UP_AFTER_DEADLINE,
                    Message('the last follow-up at `{last}` can fall after the timeout `-> {target} after {after}` has moved the lead out of `{stage}`{example}', last=last.text, target=t.target.name, after=t.after.text, stage=stage.id, example=clock.example_entry(last, t.after, calendar)),
                    last.span,
                    help=Message('schedule the attempts before the timeout, or lengthen it'),
                    related=(Related(t.span, Message('timeout')),),
                )
                break


def _late_after_first_contact(clock, stage, follow: ir.FollowUp, respond: ir.Deadline | None,
                              calendar) -> Iterator[Diagnostic]:
    """SLA502 for `follow up … from first contact`: the last attempt comes `last` after the
    first contact. A first contact that keeps the SLA comes at the latest when the `respond`
    deadline is due, and the attempt must still fall before the decision deadline (or the
    earliest timeout). Without a `respond` deadline nothing bounds the first contact: reported
    only when `last` alone reaches the decision, so that any first contact after the moment of
    entry is too late (a first contact late in the stay is the owner's slip, not the
    agreement's)."""
    last = follow.offsets[-1]
    if not last.amount:
        return  # every attempt at the first contact itself
    decide = stage.deadline("decide")
    ends: list[tuple[ir.Duration, object, Message, Message]] = []  # (limit, span, what, label)
    if decide is not None:
        if decide.within.amount:
            ends.append((decide.within, decide.span, Message('the decision deadline `{within}`', within=decide.within.text),
                         Message('decision deadline')))
    else:
        for t in timeouts(stage):
            if t.after.amount:
                ends.append((t.after, t.span, Message('the timeout `-> {target} after {after}`', target=t.target.name, after=t.after.text),
                             Message('timeout')))
    for limit, span, what, label in ends:
        if respond is None or not respond.within.amount:
            if clock.ends_later(last, limit, calendar, or_equal=True):
                yield Diagnostic(
                    FOLLOW_UP_AFTER_DEADLINE,
                    Message('the last follow-up at `{last}` from the first contact can fall after {limit}{example}: only a first contact at the very moment the lead enters `{stage}` leaves time for it', last=last.text, limit=what, example=clock.example_entry(last, limit, calendar), stage=stage.id),
                    last.span,
                    help=Message('shorten the offsets, or add `respond within …` so that the first contact leaves time for the attempts'),
                    related=(Related(span, label),),
                )
                return
            continue
        late = clock.ends_later_after(respond.within, last, limit, calendar)
        if late is not None and late[0]:
            yield Diagnostic(
                FOLLOW_UP_AFTER_DEADLINE,
                Message('the last follow-up at `{last}` from the first contact can fall after {limit}{example}: a first contact at the response deadline `{within}` is on time, and the lead must have left `{stage}` by then', last=last.text, limit=what, example=entry_example(late[1]), within=respond.within.text, stage=stage.id),
                last.span,
                help=Message('make the response deadline plus `{last}` fit in {limit}, or lengthen it', last=last.text, limit=what),
                related=(Related(respond.span, Message('response deadline')), Related(span, label)),
            )
            return


# ------------------------------------------------------------------ escalations


@check(LATE_ESCALATION, ESCALATION_WITHOUT_DEADLINE)
def find_late_escalations(ctx: CheckContext) -> Iterator[Diagnostic]:
    clock = durations(ctx)
    for stage in flow(ctx).stages.values():
        calendar = clock.calendar(stage)
        for e in stage.escalations:
            if e.on is None:
                continue
            deadline = stage.step(e.on) if e.on.startswith("step") else stage.deadline(e.on)
            if deadline is None and ctx.deadline_written(stage.id, e.on):
                continue  # written with a wrong duration: reported there
            if deadline is None and e.on.startswith("step"):
                yield Diagnostic(
                    ESCALATION_WITHOUT_DEADLINE,
                    Message('this escalation guards step {number} of `{stage}`, but its sequence has {count} steps', number=e.on[4:], stage=stage.id, count=1 + len(stage.steps) if stage.deadline("respond") else len(stage.steps)),
                    e.span,
                    help=Message('name a step of the sequence: `on respond` is step 1, the first `then` line step 2'),
                )
                continue
            if deadline is None:
                yield Diagnostic(
                    ESCALATION_WITHOUT_DEADLINE,
                    Message('this escalation guards the `{on}` deadline, but stage `{stage}` has none', on=e.on, stage=stage.id),
                    e.span,
                    help=Message('add `{on} within …` to the stage, or guard the deadline it has', on=e.on),
                )
                continue
            if deadline.within.amount and clock.ends_later(e.after, deadline.within, calendar, factor=2):
                yield Diagnostic(
                    LATE_ESCALATION,
                    Message('escalating after `{after}` tells `{to}` only when the `{on}` deadline (`{within}`) has been missed by more than the deadline itself{example}', after=e.after.text, to=e.to.name, on=e.on, within=deadline.within.text, example=clock.example_entry(e.after, deadline.within, calendar)),
                    e.after.span,
                    help=Message('escalate at the deadline (`after {within}`) or earlier', within=deadline.within.text),
                    related=(Related(deadline.span, Message('the deadline it guards')),),
                )


# ------------------------------------------------------------------ zero durations, calendars


@check(ZERO_DURATION)
def find_zero_durations(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    # (duration, what it means when zero): the words are made only for a zero duration
    what: list[tuple[ir.Duration | None, Callable[[], Message]]] = []
    for stage in flow(ctx).stages.values():
        if stage.handoff is not None:
            what.append((stage.handoff.within, lambda stage=stage: Message("the hand-off into `{stage}` is due the moment a lead arrives", stage=stage.id)))
        for d in stage.deadlines:
            what.append((d.within, lambda d=d, stage=stage: Message("the `{kind}` deadline of `{stage}` is due the moment a lead arrives", kind=d.kind, stage=stage.id)))
            what.append((d.target, lambda d=d, stage=stage: Message("the internal target of `{stage}.{kind}` is missed the moment a lead arrives", stage=stage.id, kind=d.kind)))
        for e in stage.escalations:
            what.append((e.after, lambda stage=stage: Message("this escalation fires for every lead the moment it enters `{stage}`", stage=stage.id)))
        for t in timeouts(stage):  # `when … after 0d` only waits for nothing: harmless
            what.append((t.after, lambda stage=stage: Message("this timeout moves every lead out of `{stage}` the moment it arrives", stage=stage.id)))
    for info in policy.information:
        for item in info.items:
            what.append((item.within, lambda: Message("this information is due the moment it exists")))
    for duration, message in what:
        if duration is not None and duration.amount == 0:
            yield Diagnostic(ZERO_DURATION, Message('`{duration}`: {message}', duration=duration.text, message=message()), duration.span,
                             help=Message('give it a real length (e.g. `24h`, `5bd`), or remove it'))


@check(BUSINESS_TIME_WITHOUT_CALENDAR)
def find_business_time_without_calendar(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    calendars = policy.calendar_by_id
    agreement = policy.agreement
    default_undefined = agreement is not None and agreement.calendar is not None and agreement.calendar.name not in calendars
    help_text = Message("declare a calendar and name it in the agreement (`calendar tokyo`) or in the stage; "
                        "or write calendar time (`24h`, `3d`)")
    for stage in flow(ctx).stages.values():
        if stage.calendar is not None and stage.calendar.name not in calendars:
            continue  # undefined calendar: SLA301
        if stage.calendar is None and default_undefined:
            continue
        if policy.calendar_for(stage) is not None:
            continue
        for duration in _stage_durations(stage):
            if duration.business:
                yield Diagnostic(
                    BUSINESS_TIME_WITHOUT_CALENDAR,
                    Message('`{duration}` counts business time, but no calendar applies to stage `{stage}`', duration=duration.text, stage=stage.id),
                    duration.span,
                    help=help_text,
                )
    if default_undefined or policy.calendar_for(None) is not None:
        return
    for info in policy.information:
        for item in info.items:
            anchored = policy.stage_by_id.get(item.anchor.stage.name) if item.anchor is not None else None
            if anchored is not None and policy.calendar_for(anchored) is not None:
                continue  # counts in the calendar of the stage it starts from
            if item.within is not None and item.within.business:
                yield Diagnostic(
                    BUSINESS_TIME_WITHOUT_CALENDAR,
                    Message('`{within}` counts business time, but the agreement names no calendar', within=item.within.text),
                    item.within.span,
                    help=help_text,
                )
    for kpi in policy.kpis:
        if kpi.target is not None and isinstance(kpi.target.value, ir.Duration) and kpi.target.value.business:
            yield Diagnostic(
                BUSINESS_TIME_WITHOUT_CALENDAR,
                Message('`{target}` counts business time, but the agreement names no calendar', target=kpi.target.value.text),
                kpi.target.value.span,
                help=help_text,
            )


@check(CALENDAR_WITHOUT_WORKING_TIME, INVALID_WORKING_HOURS)
def find_impossible_calendars(ctx: CheckContext) -> Iterator[Diagnostic]:
    for calendar in ctx.policy.calendars:
        valid: list[ir.HourRange] = []
        for hours in calendar.hours:
            if hours.end.minutes <= hours.start.minutes:
                yield Diagnostic(
                    INVALID_WORKING_HOURS,
                    Message('working hours {start} to {end} end before they start', start=hours.start.text, end=hours.end.text),
                    hours.span,
                    help=Message('overnight hours are not supported: split them at midnight (`22:00 to 24:00, 00:00 to 02:00`)'),
                )
            else:
                valid.append(hours)
        valid.sort(key=lambda h: (h.start.minutes, h.end.minutes))
        for earlier, later in zip(valid, valid[1:]):
            if later.start.minutes < earlier.end.minutes:
                yield Diagnostic(
                    INVALID_WORKING_HOURS,
                    Message('working hours {start} to {end} overlap {start2} to {end2}', start=later.start.text, end=later.end.text, start2=earlier.start.text, end2=earlier.end.text),
                    later.span,
                    help=Message('make the ranges follow one another (e.g. a lunch break: `09:00 to 12:00, 13:00 to 18:00`)'),
                    related=(Related(earlier.span, Message('overlapped range')),),
                )
        if not calendar.days or not valid:
            yield Diagnostic(
                CALENDAR_WITHOUT_WORKING_TIME,
                (Message('calendar `{calendar}` has no working days and no working hours, so business time in it never passes', calendar=calendar.id)
                 if not calendar.days and not valid else
                 Message('calendar `{calendar}` has no working days, so business time in it never passes', calendar=calendar.id)
                 if not calendar.days else
                 Message('calendar `{calendar}` has no working hours, so business time in it never passes', calendar=calendar.id)),
                calendar.name_span,
                help=Message('add `days mon, tue, wed, thu, fri` and `hours 09:00 to 18:00` (or what applies)'),
            )


# ------------------------------------------------------------------ terminal stages, timeouts


@check(DEADLINE_ON_TERMINAL_STAGE)
def find_deadlines_on_terminal_stages(ctx: CheckContext) -> Iterator[Diagnostic]:
    for stage in flow(ctx).stages.values():
        if not stage.is_terminal:
            continue
        obligations: list[tuple[Message, object]] = [(Message("a `{kind}` deadline", kind=d.kind), d.span)
                                                     for d in stage.deadlines]
        if stage.follow_up is not None:
            obligations.append((Message("a follow-up cadence"), stage.follow_up.span))
        obligations += [(Message("an escalation"), e.span) for e in stage.escalations]
        for what, span in obligations:
            yield Diagnostic(
                DEADLINE_ON_TERMINAL_STAGE,
                Message('`{stage}` is terminal, but has {what}: a finished lead owes nobody anything under this agreement', stage=stage.id, what=what),
                span,  # type: ignore[arg-type]
                help=Message("remove it, or remove `terminal` if the lead's process really continues here"),
                related=tuple(Related(m.span, Message('marked terminal here')) for m in stage.markers if m.kind == "terminal"),
            )


@check(TIMEOUT_NEVER_FIRES)
def find_timeouts_that_never_fire(ctx: CheckContext) -> Iterator[Diagnostic]:
    clock = durations(ctx)
    for stage in flow(ctx).stages.values():
        found = [t for t in timeouts(stage) if t.after.amount]
        if len(found) < 2:
            continue
        calendar = clock.calendar(stage)
        for i, late in enumerate(found):
            for j, early in enumerate(found):
                if i == j or clock.ends_later(early.after, late.after, calendar) is not False:
                    continue  # `early` does not always fire first (or cannot tell)
                strictly_first = clock.ends_later(late.after, early.after, calendar)
                if not strictly_first and j > i:
                    continue  # equal timeouts: report only the later-written one
                yield Diagnostic(
                    TIMEOUT_NEVER_FIRES,
                    Message("the timeout `-> {target} after {after}` never fires: `-> {early} after {early_after}` always "
                            "moves the lead first", target=late.target.name, after=late.after.text,
                            early=early.target.name, early_after=early.after.text)
                    if strictly_first else
                    Message("the timeout `-> {target} after {after}` never fires: `-> {early} after {early_after}` fires "
                            "at the same moment", target=late.target.name, after=late.after.text,
                            early=early.target.name, early_after=early.after.text),
                    late.span,
                    help=Message('remove the one that cannot fire, or make it conditional (`when …`)'),
                    related=(Related(early.span, Message('fires first') if strictly_first else Message('fires at the same moment')),),
                )
                break


@check(DEADLINE_AFTER_TIMEOUT)
def find_deadlines_after_timeouts(ctx: CheckContext) -> Iterator[Diagnostic]:
    clock = durations(ctx)
    for stage in flow(ctx).stages.values():
        found = [t for t in timeouts(stage) if t.after.amount]
        if not found or not stage.deadlines:
            continue
        calendar = clock.calendar(stage)
        for deadline in stage.deadlines:
            # the timeout fires strictly before the deadline ends, whenever the lead entered
            first = next((t for t in found if clock.ends_later(t.after, deadline.within, calendar, or_equal=True) is False),
                         None)
            if first is None:
                continue
            yield Diagnostic(
                DEADLINE_AFTER_TIMEOUT,
                Message("the `{kind}` deadline (`{within}`) can never be missed: `-> {target} after {after}` moves every "
                        "lead out of `{stage}` before it ends", kind=deadline.kind, within=deadline.within.text,
                        target=first.target.name, after=first.after.text, stage=stage.id),
                deadline.span,
                help=Message("check both durations: the deadline must end before the timeout fires, or at the same moment "
                             "(`{kind} within {after}`)", kind=deadline.kind, after=first.after.text),
                related=(Related(first.span, Message("moves the lead first")),),
            )


@check(HANDOFF_AFTER_RESPONSE)
def find_late_handoffs(ctx: CheckContext) -> Iterator[Diagnostic]:
    clock = durations(ctx)
    for stage in flow(ctx).stages.values():
        handoff, respond = stage.handoff, stage.deadline("respond")
        if handoff is None or handoff.within is None or respond is None or not handoff.within.amount:
            continue
        calendar = clock.calendar(stage)
        if clock.ends_later(handoff.within, respond.within, calendar, or_equal=True):
            yield Diagnostic(
                HANDOFF_AFTER_RESPONSE,
                Message('the hand-off into `{stage}` (`within {within}`) can be completed only after the first response (`{respond}`) is due{example}', stage=stage.id, within=handoff.within.text, respond=respond.within.text, example=clock.example_entry(handoff.within, respond.within, calendar)),
                handoff.within.span,
                help=Message('hand the lead over well before {within}, or give the response more time', within=respond.within.text),
                related=(Related(respond.span, Message('the response deadline')),),
            )
