"""`cadence at least N EVENT per month owner TEAM`: HubSpot judges each period of a stay.

The agreement's rule (`simulate.engine.cadence_periods`): each calendar month (or Monday-to-
Sunday week) in the time zone of the stage's calendar that a lead spends in the stage must hold
at least N occurrences of EVENT; a period spent there only in part owes N × its share of the
period, rounded down (a period too short to owe one owes nothing). A missed period is told to
the cadence's owner (else the stage's) at the period's end — at the moment the lead leaves, for
the part period it leaves in.

The occurrences are counted by the event's number property (the send counter the build creates,
or the event's own `hubspot` property): the send adds 1 to it (manual step: the send is
Marketing's workflow, not the build's). A counter keeps one running total, so each period notes
the total it started from. With custom code (`custom-code = true`) three workflows per cadence:

- `<clause>.period` — on entering the stage, and when a period has been judged: custom code
  writes the period's start (`…_from`: the entry, or the end of the judged period), the counter
  as it is then (`…_base`) and the period's end (`…_until`: the next month's first midnight in
  the zone);
- `<clause>` — enrols when `…_from` changes while the lead is in the stage; waits until
  `…_until`; custom code compares counter − base with what the period owes; a miss notifies the
  owner; then `…_judged` := `…_until`, which starts the next period (above). Leaving the stage
  unenrols it;
- `<clause>.exit` — on leaving the stage with a period running: judges the part period up to
  now the same way, notifies on a miss, and clears the period's properties.

Without custom code HubSpot cannot compute the end of a calendar month in a time zone (a delay
counts fixed lengths; a date property's month has no workflow arithmetic): the cadence stays
the manual step SLA849, measured by `sla report`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ... import ir
from ...diagnostics import Message
from . import customcode
from .catalog import CustomProperty, token_for
from .duties import SLA_STAGE
from .filters import enum_filter, known_filter, or_branch, property_changed
from .flows import Flow, Recipients, list_enrollment

if TYPE_CHECKING:
    from .generate import Generator

MISSED = "missed"
KEPT = "kept"
# the zone's clock changes are listed for these years (the code refuses a moment outside them,
# so a build never silently judges a month with a wrong offset)
YEARS = (2000, 2099)


def cadence_token(cadence: ir.StageCadence) -> str:
    """`nurture.cadence.nurture_email` → `cad_nurture_nurture_email` (a derived token when too
    long or not a HubSpot name)."""
    return "cad_" + token_for(f"{cadence.stage}_{cadence.event.name}".replace(".", "_").replace("-", "_").lower())


def counter_property(gen: Generator, cadence: ir.StageCadence) -> str:
    """The event's number property, created as a send counter unless the event names its own."""
    event = gen.policy.event_by_id.get(cadence.event.name)
    counter = gen.catalog.event_name(event) if event is not None else cadence.event.name
    if event is not None and event.hubspot:
        gen.catalog.need_existing(counter, cadence.clause_id)
    elif event is not None:
        from .obligations import say

        gen.catalog.add_custom(CustomProperty(
            counter, gen.t("prop_event", label=event.label), "number",
            say(gen, "cadence_counter_desc_judged" if gen.settings.custom_code else "cadence_counter_desc"),
            clauses={cadence.clause_id}, purpose="policy-event",
        ))
    return counter


def cadence_flows(gen: Generator) -> None:
    for stage in gen.policy.stages:
        for cadence in stage.cadences:
            counter = counter_property(gen, cadence)
            if gen.settings.custom_code:
                _flows(gen, stage, cadence, counter)


def _zone(gen: Generator, stage: ir.Stage) -> str:
    """The zone whose calendar months the periods are (as `simulate.engine.cadence_periods`)."""
    calendar = gen.calendar(stage)
    return calendar.timezone.value if calendar is not None and calendar.timezone else "UTC"


def _flows(gen: Generator, stage: ir.Stage, cadence: ir.StageCadence, counter: str) -> None:
    t = gen.t
    clause = cadence.clause_id
    token = cadence_token(cadence)
    since, base, until, judged = (f"sla_{token}_{part}" for part in ("from", "base", "until", "judged"))
    period = t(f"cadence_period_{cadence.period}")
    event = gen.policy.event_by_id.get(cadence.event.name)
    label = event.label if event is not None and event.label else cadence.event.name
    n = cadence.minimum.value
    owner = cadence.owner or stage.owner
    catalog = gen.catalog
    catalog.use(SLA_STAGE, clause)
    for name, kind, key in ((since, "datetime", "from"), (base, "number", "base"), (until, "datetime", "until"),
                            (judged, "datetime", "judged")):
        catalog.add_custom(CustomProperty(
            name, t(f"prop_cadence_{key}", clause=clause), kind,
            t(f"prop_cadence_{key}_desc", stage=stage.label, period=period, counter=counter, clauses=clause),
            clauses={clause}, purpose="sla-lang"))
    zone = _zone(gen, stage)
    initial, transitions = customcode.zone_transitions(zone, *YEARS)
    data = {"period": cadence.period, "minimum": n, "zone": zone, "initial": initial, "transitions": transitions,
            "about": clause, "since": since, "base": base, "until": until, "judged": judged}

    # the period: opened on entering the stage, rolled on when one has been judged
    opener = Flow(t("flow_cadence_period", clause=clause, stage=stage.label), "",
                  list_enrollment(or_branch([gen.in_stage(stage)]),
                                  reenroll=[property_changed(SLA_STAGE, stage.id), property_changed(judged)],
                                  leave_when_unmatched=False),
                  [clause], "cadence")
    opener.custom_code(source(mode="period", **data), runtime=customcode.RUNTIME,
                       inputs=[("sent", counter), ("judged", judged), ("until", until),
                               (customcode.NOW_INPUT, None)],
                       secrets=[customcode.SECRET], output=customcode.OUTPUT,
                       options=[customcode.WRITTEN, customcode.FAILED])
    opener.description = gen.flow_description(t("desc_cadence_period", stage=stage.label, period=period,
                                                 since=since, base=base, until=until, counter=counter))
    gen._code_flows[f"workflows/{clause}.period.json"] = None
    gen.add_flow(f"{clause}.period", opener)

    def judge(flow: Flow, file: str, mode: str, inputs: list[tuple[str, str | None]], secrets: list[str]) -> None:
        code = flow.custom_code(source(mode=mode, **data), runtime=customcode.RUNTIME, inputs=inputs,
                                secrets=secrets, output=customcode.OUTPUT,
                                options=[MISSED, KEPT, customcode.FAILED])
        gen._code_flows[file] = None
        test = flow.static_branch({"type": "FIELD_DATA", "actionId": code["actionId"], "dataKey": customcode.OUTPUT},
                                  [MISSED], t("branch_cadence_not_missed"))
        flow.tail = [(test, "static:0")]
        recipients = gen.team_recipients(owner, clause, cadence.span, what=Message("the cadence notice of"),
                                         flow=flow, file=file) if owner is not None else None
        if isinstance(recipients, Recipients):
            flow.notify(t("cadence_subject", clause=clause),
                        _html(t("cadence_body", n=n, event=label, period=period, stage=stage.label, clause=clause,
                                owner=gen.team_label(owner))), recipients)
        flow.tail = flow.tail + [(test, "default")]

    inputs = [("sent", counter), ("base", base), ("since", since)]
    # each period, judged at its end while the lead is still in the stage
    file = f"workflows/{clause}.json"
    flow = Flow(t("flow_cadence", clause=clause, stage=stage.label, n=n, event=label, period=period), "",
                list_enrollment(or_branch([gen.in_stage(stage) + [known_filter(since)]]),
                                reenroll=[property_changed(since)], leave_when_unmatched=True),
                [clause], "cadence")
    flow.delay_until(until)
    judge(flow, file, "judge", inputs + [("until", until)], [])
    flow.copy_property(judged, until)
    flow.description = gen.flow_description(t("desc_cadence", stage=stage.label, n=n, event=label, period=period,
                                              counter=counter, base=base, until=until, judged=judged,
                                              owner=gen.team_label(owner)))
    gen.add_flow(clause, flow)

    # the part period the lead leaves in, judged as it leaves
    file = f"workflows/{clause}.exit.json"
    leaving = Flow(t("flow_cadence_exit", clause=clause, stage=stage.label), "",
                   list_enrollment(or_branch([[enum_filter(SLA_STAGE, [stage.id], negated=True), known_filter(until)]]),
                                   reenroll=[property_changed(SLA_STAGE)], leave_when_unmatched=False),
                   [clause], "cadence")
    judge(leaving, file, "exit", inputs + [(customcode.NOW_INPUT, None)], [customcode.SECRET])
    leaving.description = gen.flow_description(t("desc_cadence_exit", stage=stage.label, period=period,
                                                 owner=gen.team_label(owner)))
    gen.add_flow(f"{clause}.exit", leaving)
    gen.enforced.add(clause)


def _html(text: str) -> str:
    from .generate import _html as html

    return html(text)


def source(*, mode: str, period: str, minimum: int, zone: str, initial: int, transitions, about: str,
           since: str, base: str, until: str, judged: str) -> str:
    """The Python of one action (`mode`: `period` opens or rolls on a period, `judge` judges one
    at its end, `exit` judges the part period a lead leaves in and closes it)."""
    header = {
        "period": "open the period a lead enters, or the next one once a period has been judged",
        "judge": "judge a period at its end: counter - base against what the period owes",
        "exit": "judge the part period a lead leaves in, and close it",
    }[mode]
    return "\n".join([
        f'"""sla-lang: the cadence {customcode._doc(about)} — {header}.',
        (f"Periods: calendar {'months' if period == 'month' else 'weeks (Monday to Sunday)'} in "
         f"{customcode._doc(zone)}; a part period owes {minimum} x its share, rounded down."),
        'Generated from the agreement (edit the policy, not this code); standard library only."""',
        "import json", "import os", "import urllib.request",
        "from bisect import bisect_right", "from datetime import date, datetime, timedelta, timezone", "",
        f"MODE = {mode!r}", f"PERIOD = {period!r}", f"MINIMUM = {minimum!r}",
        f"SINCE, BASE, UNTIL, JUDGED = {since!r}, {base!r}, {until!r}, {judged!r}",
        f"INITIAL_OFFSET = {initial!r}", f"TRANSITIONS = {tuple(transitions)!r}",
        f"KNOWN = ({YEARS[0]}, {YEARS[1]})  # the years whose clock changes are listed",
        f"TOKEN = {customcode.SECRET!r}  # the custom code secret holding the token", "",
        _CODE,
    ])


_CODE = customcode.ZONE_CLOCK + '''

def period_bounds(utc_ms):
    # (start, end) in UTC ms of the calendar month (or Monday-to-Sunday week) holding utc_ms
    day = EPOCH + timedelta(days=to_wall(utc_ms) // DAY)
    if not KNOWN[0] <= day.year <= KNOWN[1]:
        raise ValueError("the clock changes are known for %d-%d, not %d: rebuild the workflows"
                         % (KNOWN[0], KNOWN[1], day.year))
    if PERIOD == "month":
        first = day.replace(day=1)
        following = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
    else:
        first = day - timedelta(days=day.weekday())
        following = first + timedelta(days=7)
    return to_utc((first - EPOCH).days * DAY), to_utc((following - EPOCH).days * DAY)


def owed(since_ms, until_ms):
    # MINIMUM x the share of the period spent in the stage, rounded down (whole seconds)
    start, end = period_bounds(since_ms)
    return MINIMUM * ((until_ms - since_ms) // 1000) // ((end - start) // 1000)


''' + customcode.PARSE_MOMENT + '''

def parse_count(value):
    # the counter: a number property, no value before the first send
    text = str(value if value is not None else "").strip()
    return int(float(text)) if text else 0


''' + customcode.WRITE_PROPERTIES + '''

def verdict(inputs, end_ms):
    since = parse_moment(inputs["since"])
    count = parse_count(inputs.get("sent")) - parse_count(inputs.get("base"))
    required = owed(since, end_ms)
    print("sla-lang: %d sent, %d owed" % (count, required))
    return "missed" if count < required else "kept"


def main(event):
    inputs = event["inputFields"]
    try:
        if MODE == "period":
            judged = inputs.get("judged") or ""
            if judged and inputs.get("until") and parse_moment(judged) == parse_moment(inputs["until"]):
                since = parse_moment(inputs["until"])  # the judged period ended: the next one starts there
            else:
                since = parse_moment(inputs["now"])  # the lead entered the stage now
            write_properties(event["object"]["objectId"], {
                SINCE: str(since), BASE: str(parse_count(inputs.get("sent"))),
                UNTIL: str(period_bounds(since)[1])})
            return {"outputFields": {"result": "written"}}
        if MODE == "judge":
            return {"outputFields": {"result": verdict(inputs, parse_moment(inputs["until"]))}}
        result = verdict(inputs, parse_moment(inputs["now"]))
        write_properties(event["object"]["objectId"], {SINCE: "", BASE: "", UNTIL: "", JUDGED: ""})
        return {"outputFields": {"result": result}}
    except Exception as exc:  # no verdict; the reason is in the action's log
        print("sla-lang: the cadence was not judged: %r" % (exc,))
        return {"outputFields": {"result": "failed"}}
'''
