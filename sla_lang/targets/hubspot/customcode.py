"""The Python that a CUSTOM_CODE action runs in HubSpot to compute due moments exactly.

HubSpot delays count wall-clock time, and its if/then branches cannot count business hours, so
a deadline such as `decide within 5bd` in a calendar with public holidays has no exact form in
plain workflow actions. With Operations Hub Professional a workflow may run code
(https://developers.hubspot.com/docs/api-reference/automation-actions-v4-v4/custom-code-actions:
Python runs `main(event)`; `event["inputFields"]` holds the action's inputs,
`event["object"]["objectId"]` the enrolled record, secrets are environment variables, and the
returned `outputFields` become the action's outputs). The generated code:

1. reads `sla_stage_entered_at` (the moment the lead entered the stage) from its input,
2. adds each of the flow's durations to it — working minutes of the stage's calendar for
   business time (the same arithmetic as `sla_lang/businesstime.py`, restated here: HubSpot
   cannot import sla-lang), plain minutes otherwise,
3. writes the moments into the flow's datetime properties with the CRM API (`PATCH
   /crm/v3/objects/contacts/{id}`, a private-app token from the secret `SLA_LANG_HUBSPOT_TOKEN`),
4. returns the enumeration output `result` = `written` (or `failed`, with the reason printed to
   the action's log), on which the flow branches: `written` → delay until each property,
   anything else → the conservative wall-clock waits of `custom-code = false`.

The property values are written by the code rather than returned as outputs because HubSpot's
published spec for `ApiCustomCodeAction` declares only enumeration outputs.

The code is self-contained (standard library only, Python 3.9 syntax: HubSpot's runtime). The
calendar travels as data: working weekdays, the merged working periods, the days off (public
holidays and closed dates) of the years it knows, and the UTC offsets of its time zone in those
years (no time zone database is needed at HubSpot). Outside the known years it refuses to
answer (`failed`), so a stale build cannot silently ignore next year's holidays.

Models and tests run the code as it is: exec the source, call `due_moments(entered_ms)` for the
arithmetic, or replace `write_properties` and call `main(event)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

RUNTIME = "PYTHON39"  # HubSpot's Python runtime (3.9, per the custom code docs); the spec types it as a free string
SECRET = "SLA_LANG_HUBSPOT_TOKEN"
OUTPUT = "result"
WRITTEN = "written"
PASSED = "passed"  # written, and every moment had already passed when the code ran
FAILED = "failed"
ENTERED_INPUT = "entered_at"
NOW_INPUT = "now"
CHANNEL_INPUT = "channel"  # the channel chosen at stage entry (`via … when …, … otherwise`)
ENTERED_PROPERTY = "sla_stage_entered_at"


@dataclass(frozen=True)
class CalendarData:
    """A calendar as the generated code needs it."""

    calendar_id: str
    zone: str
    weekdays: tuple[int, ...]
    periods: tuple[tuple[int, int], ...]
    days_off: tuple[str, ...]  # ISO dates, sorted
    known_from: str | None  # first day the days off are complete for (None: no days off at all)
    known_until: str | None  # first day they are not (exclusive)
    offsets: tuple[tuple[int, int, int], ...]  # (UTC ms of a transition, offset before, offset after) in minutes
    initial_offset: int


@cache
def zone_transitions(zone: str, first_year: int, last_year: int) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """The UTC offset (minutes) of `zone` at the start of `first_year` (a day early, to cover
    the first local midnight) and every change up to the end of `last_year` (a day late), to
    the minute."""
    tz = ZoneInfo(zone)
    start = datetime(first_year, 1, 1, tzinfo=UTC) - timedelta(days=2)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC) + timedelta(days=2)

    def offset(moment: datetime) -> int:
        return int(moment.astimezone(tz).utcoffset().total_seconds() // 60)

    initial = offset(start)
    changes: list[tuple[int, int, int]] = []
    here, current = start, initial
    step = timedelta(days=1)  # clock changes are months apart
    while here < end:
        following = here + step
        later = offset(following)
        if later != current:
            lo, hi = here, following  # offset(lo) == current, offset(hi) == later
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid <= lo:
                    mid = lo + timedelta(minutes=1)
                if offset(mid) == current:
                    lo = mid
                else:
                    hi = mid
            changes.append((int(hi.timestamp()) * 1000, current, later))
            current = later
        here = following
    return initial, tuple(changes)


def calendar_data(calendar_id: str, zone: str, weekdays, periods, days_off, years: tuple[int, int] | None) -> CalendarData:
    """`years`: (first, last) whose days off are complete; None when the calendar has no days
    off at all (only weekends), so every year is known."""
    if years is None:
        first, last = 2000, 2099
        known_from = known_until = None
    else:
        first, last = years
        known_from, known_until = date(first, 1, 1).isoformat(), date(last + 1, 1, 1).isoformat()
    initial, offsets = zone_transitions(zone, first, last)
    return CalendarData(calendar_id, zone, tuple(sorted(weekdays)), tuple(periods),
                        tuple(sorted(d.isoformat() for d in days_off)), known_from, known_until, offsets, initial)


def source(data: CalendarData, moments: list[tuple[str, str, int]], *, about: str,
           anchor: str = ENTERED_PROPERTY, since: str = "the moment the lead entered the stage") -> str:
    """The Python source for one action. `moments`: (property, "working" | "clock", minutes),
    counted from the datetime property `anchor` (passed as the input `entered_at`; written with
    the moment the code runs when it has no value). Without business time the calendar is left
    out: the moments are plain sums."""
    working = any(kind == "working" for _, kind, _ in moments)
    lines = [f'"""sla-lang: due moments of {_doc(about)}, from {_doc(since)}.']
    if working:
        lines.append(f"Business time: working minutes of calendar {_doc(data.calendar_id)} ({_doc(data.zone)}).")
    lines += ['Generated from the agreement (edit the policy, not this code); standard library only."""',
              "import json", "import os", "import urllib.request"]
    if working:
        lines += [
            "from bisect import bisect_right",
            "from datetime import date, datetime, timedelta, timezone",
            "",
            f"WEEKDAYS = {data.weekdays!r}",
            f"PERIODS = {data.periods!r}",
            f"DAYS_OFF = frozenset({list(data.days_off)!r})",
            f"KNOWN_FROM = {data.known_from!r}",
            f"KNOWN_UNTIL = {data.known_until!r}",
            f"INITIAL_OFFSET = {data.initial_offset!r}",
            f"TRANSITIONS = {data.offsets!r}",
        ]
    else:
        lines += ["from datetime import datetime, timezone", ""]
    lines += [f"MOMENTS = {tuple(moments)!r}", f"TOKEN = {SECRET!r}  # the custom code secret holding the token", ""]
    lines += [_WORKING if working else _CLOCK, _COMMON.replace(f'"{ENTERED_PROPERTY}"', f'"{anchor}"')]
    return "\n".join(lines)


def clear_source(properties: list[str], *, about: str) -> str:
    """Python that clears contact properties through the CRM API: an empty value clears one
    ("You can clear an object property value via the API by setting the property value to an
    empty string", CRM properties guide). Workflows have a "Clear property value" action in
    HubSpot's editor, but the v4 API documents no action type for it."""
    return "\n".join([
        f'"""sla-lang: clear {_doc(", ".join(properties))} for {_doc(about)} (HubSpot moves a lifecycle stage',
        'only forward unless it is cleared first). Generated from the agreement; standard library only."""',
        "import json", "import os", "import urllib.request", "",
        f"CLEAR = {tuple(properties)!r}",
        f"TOKEN = {SECRET!r}  # the custom code secret holding the token",
        "",
        _CLEAR,
    ])


ENGAGEMENT_OBJECTS = {"call": "calls", "email": "emails", "meeting": "meetings"}
FOUND = "found"
NONE_FOUND = "none"


def activity_source(kinds: tuple[str, ...], prop: str, *, about: str,
                    choices: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> str:
    """Python that finds the first call (email, meeting: `kinds`) logged on the contact since it
    entered the stage, and writes its moment into `prop` (cleared when there is none), for a
    `respond … via call` deadline: HubSpot's "Last contacted" counts any call, email or meeting.

    HubSpot's API, as its published specs define it (vendored under `tests/hubspot_spec/`):
    `POST /crm/v4/associations/contacts/{calls|emails|meetings}/batch/read` lists the contact's
    engagements (`BatchInputPublicFetchAssociationsBatchRequest`, following `paging.next.after`),
    `POST /crm/v3/objects/{calls|…}/batch/read` reads their `hs_timestamp`
    (`BatchReadInputSimplePublicObjectId`), which "marks the call's time of creation and
    determines where the call sits on the record timeline" (calls API guide). The same requests
    `sla import --from hubspot` makes (`history/hubspot_api.py`). The token needs
    `crm.objects.contacts.read` besides the write scope."""
    objects = tuple(ENGAGEMENT_OBJECTS[k] for k in kinds)
    return "\n".join([
        f'"""sla-lang: the first {_doc(", ".join(kinds))} logged on the contact since it entered the stage, for',
        f'{_doc(about)}: written into {_doc(prop)}. Generated from the agreement; standard library only."""',
        "import json", "import os", "import urllib.request", "from datetime import datetime, timezone", "",
        f"OBJECTS = {objects!r}",
        f"WRITE = {prop!r}",
        f"TOKEN = {SECRET!r}  # the custom code secret holding the token",
        "",
        _ACTIVITY,
    ] + ([_CHOSEN.replace("@CHOICES@", repr({value: tuple(ENGAGEMENT_OBJECTS[k] for k in chosen)
                                              for value, chosen in choices}))] if choices else []))


ARMED = "armed"
DUE_INPUT = "due"


def chain_source(into: list[list[dict]], exits: list[tuple[str, list[list[dict]], str]], *, about: str,
                 stage_property: str, timed: bool = False) -> str:
    """Python that tells whether a change that moved a lead also made one of the next stage's
    exits true — the chained move of the agreement: "a condition that became true by the change
    that brought the lead into the stage moves it on; one that merely held when it arrived does
    not". HubSpot's filters read current values, so the workflows arm an exit only once its
    condition has been false in the stage; this code reads the property history instead.

    `into`: the filter groups (OR of AND, the workflow's own `listFilterBranch` filters) of the
    condition of the transition that moved the lead; `exits`: per exit of the new stage, in the
    policy's order, its armed property, its condition's filter groups and the stage it moves the
    lead into (a value of `stage_property`, the SLA stage). The code reads the
    contact with `propertiesWithHistory` (CRM API v3, `GET /crm/v3/objects/contacts/{id}`, the
    `SimplePublicObjectWithAssociations` of HubSpot's published contacts spec: `createdAt` and,
    per property, values with the `timestamp` of the change that wrote them), replays the
    values change by change, finds the latest change at which the transition's condition
    became true (the creation counts as a change of every property), and arms the first exit
    whose condition became true at that same change — the exit's own workflow then moves the
    lead on — unless the lead has been in that exit's stage since that change: the agreement
    stops a chain that would enter a stage twice at one moment (SLA loop), and so does this
    code (a chain that came back would otherwise go round for ever). With `timed` (`when … after`), the change must come at or after the timeout's
    moment (input `due`); a lead moved when the timeout passed was moved by no change.

    The filters are evaluated as HubSpot's list filters are (SEMANTICS S17/S18): a property
    without a value matches `IS_UNKNOWN` and whatever `includeObjectsWithNoValueSet` says.
    Any failure leaves the exits disarmed (the workflows' behaviour without this code; the
    reason goes to the action's log)."""
    reads = sorted({f["property"] for groups in [into] + [g for _, g, _ in exits] for group in groups for f in group}
                   | {stage_property})
    return "\n".join([
        f'"""sla-lang: did the change that moved the lead by {_doc(about)} also meet an exit of the next stage?',
        'Generated from the agreement (edit the policy, not this code); standard library only."""',
        "import json", "import os", "import urllib.request", "from datetime import datetime, timezone", "",
        f"INTO = {into!r}",
        f"EXITS = {tuple(exits)!r}",
        f"STAGE = {stage_property!r}",
        f"READ = {tuple(reads)!r}",
        f"TIMED = {timed!r}",
        f"TOKEN = {SECRET!r}  # the custom code secret holding the token",
        "",
        _CHAIN,
    ])


SENT = "sent"
SLACK_HOST = "https://hooks.slack.com/"


def slack_secret(channel: str, *, distinct: bool = False) -> str:
    """The custom code secret holding the incoming-webhook URL of Slack `channel`:
    `#is-escalations` → `SLA_LANG_SLACK_IS_ESCALATIONS`. A name with other characters (Japanese),
    a long one, or (`distinct`) one another channel of the build already maps to gets a digest
    of the channel's name, so two channels never share a secret."""
    import hashlib
    import re

    token = re.sub(r"[^A-Z0-9]+", "_", channel.upper()).strip("_")
    if not token or len(token) > 40 or distinct or not re.fullmatch(r"#?[A-Za-z0-9_.-]+", channel):
        token = (token[:24] + "_" if token else "") + hashlib.sha256(channel.encode("utf-8")).hexdigest()[:8].upper()
    return "SLA_LANG_SLACK_" + token


def slack_source(channel: str, secret: str, text: str, *, about: str) -> str:
    """Python that posts `text` to Slack `channel` through an incoming webhook whose URL is the
    custom code secret `secret`. Slack's incoming webhooks take `{"text": …}` by POST and post to
    the channel chosen when the webhook was created ("You cannot override the default channel
    (chosen by the user who installed your app) … when you're using Incoming Webhooks",
    https://api.slack.com/messaging/webhooks), so each channel has its own secret; HubSpot's
    custom code reaches services outside HubSpot with secrets (its own sample posts to Firebase,
    github.com/HubSpot/sample-workflow-custom-code `samples/trigger_firebase_web_push_notification.js`).
    The text is escaped for Slack (`&`, `<`, `>`)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join([
        f'"""sla-lang: post to Slack {_doc(channel)} for {_doc(about)} through the incoming webhook in the secret',
        f'{_doc(secret)}. Generated from the agreement; standard library only."""',
        "import json", "import os", "import urllib.request", "",
        f"CHANNEL = {channel!r}",
        f"WEBHOOK = {secret!r}  # the custom code secret holding the channel's incoming-webhook URL",
        f"TEXT = {escaped!r}",
        "",
        _SLACK,
    ])


def _doc(text: str) -> str:
    """Text safe inside the generated docstring."""
    return repr(text)[1:-1].replace('"', "'")


_CLOCK = '''MINUTE = 60000


def due_moments(entered_ms):
    # {property: UTC milliseconds}
    return {name: entered_ms + minutes * MINUTE for name, _, minutes in MOMENTS}
'''

# the portal's wall clock in the calendar's zone, from the clock changes listed in TRANSITIONS
# (shared by the working-time and the cadence programs)
ZONE_CLOCK = '''MINUTE = 60000
DAY = 1440 * MINUTE
EPOCH = date(1970, 1, 1)
_AFTER = [t for t, _, _ in TRANSITIONS]
_WALL = [t + max(before, after) * MINUTE for t, before, after in TRANSITIONS]


def to_wall(utc_ms):
    i = bisect_right(_AFTER, utc_ms)
    return utc_ms + (TRANSITIONS[i - 1][2] if i else INITIAL_OFFSET) * MINUTE


def to_utc(wall_ms):
    # in a gap or an overlap of the clock the offset before the change applies (Python's fold=0)
    i = bisect_right(_WALL, wall_ms)
    return wall_ms - (TRANSITIONS[i - 1][2] if i else INITIAL_OFFSET) * MINUTE
'''

_WORKING = ZONE_CLOCK + '''

def is_working_day(day):
    if KNOWN_UNTIL is not None and not KNOWN_FROM <= day.isoformat() < KNOWN_UNTIL:
        raise ValueError("days off are known from %s until %s, not for %s: rebuild the workflows"
                         % (KNOWN_FROM, KNOWN_UNTIL, day.isoformat()))
    return day.weekday() in WEEKDAYS and day.isoformat() not in DAYS_OFF


def add_working_minutes(start_ms, minutes):
    # the moment `minutes` working minutes after start_ms (as sla_lang/businesstime.py counts)
    if minutes <= 0:
        return start_ms
    if not PERIODS or not WEEKDAYS:
        raise ValueError("the calendar has no working hours")
    local = to_wall(start_ms)
    remaining = minutes * MINUTE
    day = EPOCH + timedelta(days=local // DAY)
    for _ in range(3 * 366):
        if is_working_day(day):
            midnight = (day - EPOCH).days * DAY
            for begin, end in PERIODS:
                period_start = midnight + begin * MINUTE
                period_end = midnight + end * MINUTE
                if local >= period_end:
                    continue
                current = max(local, period_start)
                available = period_end - current
                if remaining <= available:
                    return to_utc(current + remaining)
                remaining -= available
                local = period_end
        day += timedelta(days=1)
        local = max(local, (day - EPOCH).days * DAY)
    raise ValueError("no working day in three years")


def due_moments(entered_ms):
    # {property: UTC milliseconds}
    out = {}
    for name, kind, minutes in MOMENTS:
        out[name] = add_working_minutes(entered_ms, minutes) if kind == "working" else entered_ms + minutes * MINUTE
    return out
'''

# property values (strings) written on the contact (shared by the clearing and the cadence programs)
WRITE_PROPERTIES = '''def write_properties(object_id, values):
    # CRM API v3 with the private-app token in the secret TOKEN; an empty string clears a value
    body = json.dumps({"properties": values}).encode("utf-8")
    request = urllib.request.Request(
        "https://api.hubapi.com/crm/v3/objects/contacts/%s" % object_id, data=body, method="PATCH",
        headers={"Authorization": "Bearer " + os.environ[TOKEN], "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as response:
        response.read()
'''

_CLEAR = "\n" + WRITE_PROPERTIES + '''

def main(event):
    try:
        write_properties(event["object"]["objectId"], {name: "" for name in CLEAR})
    except Exception as exc:  # the value stays; the reason is in the log
        print("sla-lang: not cleared: %r" % (exc,))
        return {"outputFields": {"result": "failed"}}
    return {"outputFields": {"result": "written"}}
'''

# a HubSpot datetime value as UTC milliseconds (shared by the due-moment, cadence, activity and chain
# programs)
PARSE_MOMENT = '''def parse_moment(value):
    # a datetime property as HubSpot passes it: milliseconds, or ISO 8601
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)
'''

_COMMON = '''

''' + PARSE_MOMENT + '''

def write_properties(object_id, values):
    # store the moments on the contact: CRM API v3 with the private-app token in the secret TOKEN
    body = json.dumps({"properties": {name: str(ms) for name, ms in values.items()}}).encode("utf-8")
    request = urllib.request.Request(
        "https://api.hubapi.com/crm/v3/objects/contacts/%s" % object_id, data=body, method="PATCH",
        headers={"Authorization": "Bearer " + os.environ[TOKEN], "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as response:
        response.read()


def main(event):
    try:
        inputs = event["inputFields"]
        now = parse_moment(inputs["now"])
        values = {}
        if inputs.get("entered_at") in (None, ""):
            # put into the stage by an import or by hand: it entered now
            entered = values["sla_stage_entered_at"] = now
        else:
            entered = parse_moment(inputs["entered_at"])
        moments = due_moments(entered)
        values.update(moments)
        write_properties(event["object"]["objectId"], values)
    except Exception as exc:  # the workflow takes its conservative path; the reason is in the log
        print("sla-lang: due moments not written: %r" % (exc,))
        return {"outputFields": {"result": "failed"}}
    if all(moment <= now for moment in moments.values()):
        return {"outputFields": {"result": "passed"}}
    return {"outputFields": {"result": "written"}}
'''

# HubSpot's API with the private-app token in the secret TOKEN (a GET has no body), and its
# moments (shared by the activity and the chain programs)
API_CALL = '''API = "https://api.hubapi.com"


def call_api(method, path, body=None):
    request = urllib.request.Request(
        API + path, data=None if body is None else json.dumps(body).encode("utf-8"), method=method,
        headers={"Authorization": "Bearer " + os.environ[TOKEN], "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read().decode("utf-8") or "{}")


''' + PARSE_MOMENT

_ACTIVITY = API_CALL + '''

BATCH = 100


def engagement_ids(object_type, contact_id):
    ids = []
    pending = [{"id": str(contact_id)}]
    while pending:
        answer = call_api("POST", "/crm/v4/associations/contacts/%s/batch/read" % object_type, {"inputs": pending})
        pending = []
        for row in answer.get("results") or []:
            ids += [str(target["toObjectId"]) for target in row.get("to") or []]
            after = ((row.get("paging") or {}).get("next") or {}).get("after")
            if after:
                pending.append({"id": str(contact_id), "after": after})
    return sorted(set(ids))


def first_since(contact_id, since):
    # the earliest hs_timestamp at or after `since` among the contact's engagements of OBJECTS
    first = None
    for object_type in OBJECTS:
        ids = engagement_ids(object_type, contact_id)
        for start in range(0, len(ids), BATCH):
            body = {"inputs": [{"id": i} for i in ids[start:start + BATCH]], "properties": ["hs_timestamp"],
                    "propertiesWithHistory": []}
            for row in call_api("POST", "/crm/v3/objects/%s/batch/read" % object_type, body).get("results") or []:
                stamp = (row.get("properties") or {}).get("hs_timestamp")
                if stamp in (None, ""):
                    continue
                moment = parse_moment(stamp)
                if moment >= since and (first is None or moment < first):
                    first = moment
    return first


def main(event):
    try:
        contact_id = event["object"]["objectId"]
        since = parse_moment(event["inputFields"]["entered_at"])
        first = first_since(contact_id, since)
        call_api("PATCH", "/crm/v3/objects/contacts/%s" % contact_id,
                 {"properties": {WRITE: "" if first is None else str(first)}})
    except Exception as exc:  # the workflow treats the response as not given; the reason is in the log
        print("sla-lang: activities not read: %r" % (exc,))
        return {"outputFields": {"result": "failed"}}
    return {"outputFields": {"result": "found" if first is not None else "none"}}
'''

# `via call when …, email otherwise`: which kinds meet the response was chosen from the lead's data
# when it entered the stage (the input `channel`, written by the workflow's branch at its start)
_CHOSEN = '''
CHOICES = @CHOICES@
_read_first = main


def main(event):
    global OBJECTS
    OBJECTS = CHOICES.get(str(event["inputFields"].get("channel") or ""), CHOICES["otherwise"])
    return _read_first(event)
'''

_SLACK = '''
def main(event):
    try:
        url = os.environ[WEBHOOK]
        if not url.startswith("https://hooks.slack.com/"):
            raise ValueError("the secret %s is not a Slack incoming-webhook URL" % WEBHOOK)
        text = "%s (HubSpot contact %s)" % (TEXT, event["object"]["objectId"])
        request = urllib.request.Request(url, data=json.dumps({"text": text}).encode("utf-8"), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=15) as response:
            response.read()
    except Exception as exc:  # nothing is posted; the reason is in the log
        print("sla-lang: Slack %s not posted: %r" % (CHANNEL, exc))
        return {"outputFields": {"result": "failed"}}
    return {"outputFields": {"result": "sent"}}
'''

_CHAIN = API_CALL + '''

AMBIGUOUS = object()  # a property written twice at one timestamp: which value came last is not known


def matches(flt, values):
    # one list filter on the contact's values (strings; a missing or empty one has no value)
    operation = flt["operation"]
    kind, operator = operation["operationType"], operation["operator"]
    value = values.get(flt["property"])
    if value is AMBIGUOUS:
        raise ValueError("%s was written twice at one moment: its value then is unknown" % flt["property"])
    if value in (None, ""):
        if kind == "ALL_PROPERTY":
            return operator == "IS_UNKNOWN"
        return bool(operation.get("includeObjectsWithNoValueSet"))
    if kind == "ALL_PROPERTY":
        return operator == "IS_KNOWN"
    if kind == "ENUMERATION":
        inside = value in operation["values"]
        return inside if operator == "IS_ANY_OF" else not inside
    if kind == "MULTISTRING":
        inside = value in operation["values"]
        return inside if operator == "IS_EQUAL_TO" else not inside
    if kind == "BOOL":
        equal = value.lower() == str(operation["value"]).lower()
        return equal if operator == "IS_EQUAL_TO" else not equal
    if kind == "NUMBER":
        number, limit = float(value), float(operation["value"])
        return {"IS_EQUAL_TO": number == limit, "IS_NOT_EQUAL_TO": number != limit,
                "IS_GREATER_THAN": number > limit, "IS_GREATER_THAN_OR_EQUAL_TO": number >= limit,
                "IS_LESS_THAN": number < limit, "IS_LESS_THAN_OR_EQUAL_TO": number <= limit}[operator]
    raise ValueError("a filter this code does not evaluate: %s %s" % (kind, operator))


def holds(groups, values):
    return any(all(matches(flt, values) for flt in group) for group in groups)


def changes_of(contact_id):
    # (the creation moment, [(moment, values after the changes written then)] oldest first, every
    # (moment, property, value) written); the order of the history's entries is not relied on
    query = "propertiesWithHistory=" + ",".join(READ)
    answer = call_api("GET", "/crm/v3/objects/contacts/%s?%s" % (contact_id, query))
    created = parse_moment(answer["createdAt"])
    entries = [(parse_moment(entry["timestamp"]), name, entry.get("value"))
               for name, items in (answer.get("propertiesWithHistory") or {}).items() for entry in items or []]
    written = {}
    for moment, name, value in entries:
        key = (moment, name)
        written[key] = value if written.get(key, value) == value else AMBIGUOUS
    values, states = {}, []
    for moment in sorted({created} | {moment for moment, _ in written}):
        values = dict(values)
        for (at, name), value in written.items():
            if at == moment:
                values[name] = value
        states.append((moment, values))
    return created, states, entries


def main(event):
    try:
        contact_id = event["object"]["objectId"]
        created, states, entries = changes_of(contact_id)
        moved = None
        for index in range(len(states) - 1, -1, -1):  # the latest change that made INTO true
            moment, values = states[index]
            before = states[index - 1][1] if index else {}
            if holds(INTO, values) and (moment == created or not holds(INTO, before)):
                moved = (moment, before, values)
                break
        if moved is None:
            return {"outputFields": {"result": "none"}}
        moment, before, after = moved
        if TIMED and moment < parse_moment(event["inputFields"]["due"]):
            return {"outputFields": {"result": "none"}}  # moved when the timeout passed, by no change
        for armed, groups, target in EXITS:
            if holds(groups, after) and (moment == created or not holds(groups, before)):
                if any(name == STAGE and value == target and at >= moment for at, name, value in entries):
                    print("sla-lang: the lead has been in %s since that change: the chain stops here" % target)
                    return {"outputFields": {"result": "none"}}
                call_api("PATCH", "/crm/v3/objects/contacts/%s" % contact_id, {"properties": {armed: "true"}})
                return {"outputFields": {"result": "armed"}}
    except Exception as exc:  # the exits stay disarmed; the reason is in the log
        print("sla-lang: property history not read: %r" % (exc,))
        return {"outputFields": {"result": "failed"}}
    return {"outputFields": {"result": "none"}}
'''
