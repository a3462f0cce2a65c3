"""HubSpot judges `cadence at least N EVENT per month owner TEAM` (targets/hubspot/cadence.py).

policies/smarketing_ja.sla: `cadence at least 2 nurture_email per month owner marketing` in
`nurture`, calendar `tokyo` (Asia/Tokyo, Japanese holidays). Every scenario starts from the
fixture `nurture.cadence.nurture_email@month:outside`: the lead is created in `lead` on
6 Oct 2026 and moved to `nurture` by the timeout on Mon 4 Jan 2027 10:30 JST; one nurture
e-mail on 10 Feb 08:00. The expectations below are worked by hand from the agreement's rule
(calendar months in Tokyo; a part month owes floor(2 × share); told to Marketing at the period's
end, or as the lead leaves), then checked twice: on the notices the emulated portal sends
(`Portal.notifications`, independent of the comparator) and by the comparator (0 divergences).
With `mapped_settings` Marketing is HubSpot team 9000 with users 1 and 2, Sales 9001 (101, 102).
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime
from functools import cache

import pytest

from sla_lang.compile import compile_path
from sla_lang.simulate.hubspot import HubSpotReplay, build_bundle
from sla_lang.targets import BuildOptions

from .conftest import REPO
from .hubspot_spec import AUTOMATION_V4, spec_errors
from .simkit import JST
from .test_hubspot_differential import mapped_settings
from .test_hubspot_new_constructs import divergences, fixtures, mutated

CLAUSE = "nurture.cadence.nurture_email"
JUDGE, PERIOD, EXIT = (f"workflows/{CLAUSE}{suffix}.json" for suffix in ("", ".period", ".exit"))
MARKETING = ["1", "2"]


@cache
def policy():
    return compile_path(REPO / "policies" / "smarketing_ja.sla").policy


@cache
def generated(custom_code: bool = True):
    settings = dataclasses.replace(mapped_settings(policy()), custom_code=custom_code)
    bundle, _ = build_bundle(policy(), BuildOptions(hubspot=settings))
    return bundle


def scenario(*, sends=("2027-02-10T08:00",), leave=None, until="2027-03-01T00:00", name="hand-made") -> dict:
    (base,) = [s for s in fixtures(policy()) if s["id"] == "nurture.cadence.nurture_email@month:outside"]
    out = copy.deepcopy(base)
    out["id"] = name
    timeline = [{"at": f"{at}:00+09:00", "type": "event_occurred", "event": "nurture_email", "count": 1}
                for at in sends]
    if leave:  # what makes `nurture.to.mql` fire (target_company and engagement >= 60), as in its fixture
        at = f"{leave}:00+09:00"
        timeline += [{"at": at, "type": "property_changed", "properties": {"target_company": True}},
                     {"at": at, "type": "event_occurred", "event": "case_study_view", "count": 1},
                     {"at": at, "type": "event_occurred", "event": "pricing_page_view", "count": 1}]
    out["timeline"] = sorted(timeline, key=lambda e: e["at"])
    out["until"] = f"{until}:00+09:00"
    out.pop("expect", None)
    return out


def notices(bundle, case) -> list[tuple[str, str, list[str]]]:
    """(moment in Tokyo, workflow, users) of every notice the cadence's workflows send."""
    portal = HubSpotReplay(policy(), bundle).run(case)[0]
    assert portal.flags == [], portal.flags
    return [(n.moment.at.astimezone(JST).strftime("%Y-%m-%d %H:%M"), n.workflow.rsplit("/", 1)[1], sorted(n.users))
            for n in portal.notifications if n.workflow in (JUDGE, EXIT)]


def reference(case) -> list[tuple[str, str, int, int, str]]:
    portal_lead = HubSpotReplay(policy(), generated()).run(case)[3]
    return [(p["from"][:16], p["to"][:16], p["count"], p["required"], p["status"]) for p in portal_lead["cadences"]]


JUDGED = f"{CLAUSE}.json"
LEFT = f"{CLAUSE}.exit.json"


def test_a_month_missed_and_a_part_month_at_entry():
    """January from Mon 4 Jan 10:30: 27 d 13 h 30 min of 31 days, 2 × 27.5625 / 31 = 1.78 → 1
    owed, 0 sent: missed, told at 1 Feb 00:00. February: 2 owed, 1 sent (10 Feb): missed, told
    at 1 Mar 00:00 (a Monday)."""
    case = scenario()
    assert reference(case) == [("2027-01-04T10:30", "2027-02-01T00:00", 0, 1, "missed"),
                               ("2027-02-01T00:00", "2027-03-01T00:00", 1, 2, "missed")]
    assert notices(generated(), case) == [("2027-02-01 00:00", JUDGED, MARKETING),
                                          ("2027-03-01 00:00", JUDGED, MARKETING)]
    assert divergences(policy(), generated(), [case]) == []


def test_months_met_are_not_told():
    """One e-mail on 20 Jan (1 of 1 owed) and two in February (2 of 2): nothing to tell. The
    February count is the counter (3) minus its value when February started (1)."""
    case = scenario(sends=("2027-01-20T10:00", "2027-02-10T08:00", "2027-02-11T09:00"))
    assert [p[-1] for p in reference(case)] == ["met", "met"]
    assert notices(generated(), case) == []
    assert divergences(policy(), generated(), [case]) == []
    # the period properties after the run: March opened at its first midnight, from a count of 3
    contact = HubSpotReplay(policy(), generated()).run(case)[1]
    token = "sla_cad_nurture_nurture_email"
    moment = {name: datetime.fromtimestamp(int(contact.get(f"{token}_{name}")) / 1000, JST).strftime("%m-%d %H:%M")
              for name in ("from", "until", "judged")}
    assert moment == {"from": "03-01 00:00", "until": "04-01 00:00", "judged": "03-01 00:00"}
    assert contact.get(f"{token}_base") == "3" and contact.get("nurture_email") == "3"


def test_a_part_month_at_exit():
    """The lead leaves for MQL on Sat 20 Feb 12:00: February's part is 19 d 12 h of 28 days,
    2 × 19.5 / 28 = 1.39 → 1 owed. With the 10 Feb e-mail it is kept (nothing told as it leaves);
    without it, missed and told at 20 Feb 12:00, the moment it leaves. January is missed as above."""
    kept = scenario(leave="2027-02-20T12:00")
    assert reference(kept) == [("2027-01-04T10:30", "2027-02-01T00:00", 0, 1, "missed"),
                               ("2027-02-01T00:00", "2027-02-20T12:00", 1, 1, "met")]
    assert notices(generated(), kept) == [("2027-02-01 00:00", JUDGED, MARKETING)]
    missed = scenario(sends=(), leave="2027-02-20T12:00")
    assert notices(generated(), missed) == [("2027-02-01 00:00", JUDGED, MARKETING),
                                            ("2027-02-20 12:00", LEFT, MARKETING)]
    assert divergences(policy(), generated(), [kept, missed]) == []
    # leaving closes the period: nothing is judged at 1 Mar, and the properties are cleared
    contact = HubSpotReplay(policy(), generated()).run(missed)[1]
    assert [contact.get(f"sla_cad_nurture_nurture_email_{p}") for p in ("from", "base", "until", "judged")] == [None] * 4


def test_a_lead_that_leaves_before_the_first_month_end():
    """Leaves on Wed 20 Jan 10:30: 16 days of 31, 2 × 16 / 31 = 1.03 → 1 owed, 0 sent: missed,
    told as it leaves. Leaves on Fri 15 Jan 10:30: 11 days, 2 × 11 / 31 = 0.71 → nothing owed
    (too short to owe one): nothing told."""
    late = scenario(sends=(), leave="2027-01-20T10:30", until="2027-01-25T00:00")
    assert reference(late) == [("2027-01-04T10:30", "2027-01-20T10:30", 0, 1, "missed")]
    assert notices(generated(), late) == [("2027-01-20 10:30", LEFT, MARKETING)]
    early = scenario(sends=(), leave="2027-01-15T10:30", until="2027-01-25T00:00")
    assert reference(early) == [("2027-01-04T10:30", "2027-01-15T10:30", 0, 0, "met")]
    assert notices(generated(), early) == []
    assert divergences(policy(), generated(), [late, early]) == []


def test_a_month_end_on_a_holiday_and_a_weekend_is_judged_then():
    """The rule counts calendar months, not working days: December 2027 ends at Sat 1 Jan 2028
    00:00, New Year's Day (a holiday of the `tokyo` calendar). The lead of fixture
    `nurture.to.closed` (in nurture from 4 Jan 2027 to 4 Jan 2028, nothing sent) is told of each
    of the 12 missed months at its end — that one included, on the holiday — and not of the
    3 days of January 2028 (2 × 3.4375 / 31 = 0.22 → nothing owed). The cadence's workflows have
    no time windows, so nothing moves a notice to a working day."""
    (case,) = [s for s in fixtures(policy()) if s["id"] == "nurture.to.closed"]
    told = notices(generated(), case)
    assert [moment for moment, _, _ in told] == [f"{y}-{m:02d}-01 00:00" for y, m in
                                                 [(2027, m) for m in range(2, 13)] + [(2028, 1)]]
    assert {(w, tuple(u)) for _, w, u in told} == {(JUDGED, tuple(MARKETING))}
    assert all(not generated().files[f]["timeWindows"] for f in (JUDGE, PERIOD, EXIT))
    assert divergences(policy(), generated(), [case]) == []


def test_the_cadence_workflows_are_what_hubspot_accepts():
    for file in (JUDGE, PERIOD, EXIT):
        assert spec_errors(AUTOMATION_V4, "ApiFlowCreateRequest", generated().files[file]) == [], file
    manifest = generated().manifest
    steps = [s for s in manifest["manualSteps"] if CLAUSE in s["clauses"] and s["code"] in ("SLA834", "SLA849")]
    assert [s["code"] for s in steps] == ["SLA834"]
    assert f"{CLAUSE}.period, {CLAUSE}, {CLAUSE}.exit" in steps[0]["step"] and "`nurture_email` に1を加えて" in steps[0]["step"]
    assert {w["file"] for w in manifest["workflows"] if CLAUSE in w["clauses"]} == {JUDGE, PERIOD, EXIT}


def test_without_custom_code_the_cadence_stays_a_manual_step():
    """A portal without custom code cannot compute the end of a calendar month in a time zone:
    no cadence workflow, SLA849, and each missed period diverges (pointing at that step)."""
    bundle = generated(custom_code=False)
    assert not [w for w in bundle.manifest["workflows"] if CLAUSE in w["clauses"]]
    assert [s["code"] for s in bundle.manifest["manualSteps"] if s["clauses"] == [CLAUSE]] == ["SLA849"]
    found = divergences(policy(), bundle, [scenario()])
    assert len(found) == 2 and all("manual step SLA849" in d for d in found)


# ------------------------------------------------------------------ mutations the replay must catch

def _replace_in_code(old: str, new: str):
    def change(body: dict) -> None:
        (code,) = [a for a in body["actions"] if a.get("type") == "CUSTOM_CODE"]
        assert old in code["sourceCode"]
        code["sourceCode"] = code["sourceCode"].replace(old, new)
    return change


def test_judging_from_the_entry_instead_of_the_calendar_month_is_caught():
    """The period ends 31 days after it starts (from the entry on 4 Jan 10:30: 4 Feb 10:30)
    instead of at the month's end."""
    bundle = mutated(generated(), PERIOD, _replace_in_code("UNTIL: str(period_bounds(since)[1])",
                                                           "UNTIL: str(since + 31 * DAY)"))
    found = divergences(policy(), bundle, [scenario()])
    assert "hand-made: cadence (nurture.cadence.nurture_email): 2027-01-04 10:30 – 2027-02-01 00:00: 0 of 1 " \
           "nurture_email, missed by the agreement; HubSpot tells nobody at 2027-02-01 00:00" in found
    assert any("of a missed period at 2027-02-04 10:30; the agreement finds none ending then" in d for d in found)


def test_counting_from_zero_instead_of_the_base_is_caught():
    """January 1 of 1 (met), February 1 of 2 (missed): counting the counter's whole total (2)
    finds February kept, and nobody is told."""
    case = scenario(sends=("2027-01-20T10:00", "2027-02-10T08:00"))
    assert divergences(policy(), generated(), [case]) == []
    bundle = mutated(generated(), JUDGE, _replace_in_code(
        'parse_count(inputs.get("sent")) - parse_count(inputs.get("base"))', 'parse_count(inputs.get("sent"))'))
    assert divergences(policy(), bundle, [case]) == [
        ("hand-made: cadence (nurture.cadence.nurture_email): 2027-02-01 00:00 – 2027-03-01 00:00: 1 of 2 "
         "nurture_email, missed by the agreement; HubSpot tells nobody at 2027-03-01 00:00")]


def test_telling_the_wrong_team_is_caught():
    def to_sales(body: dict) -> None:
        (note,) = [a for a in body["actions"] if a.get("actionTypeId") == "0-8"]
        note["fields"]["team_ids"] = ["9001"]

    found = divergences(policy(), mutated(generated(), JUDGE, to_sales), [scenario()])
    assert found == [(f"hand-made: cadence (nurture.cadence.nurture_email): {period}, missed by the agreement; "
                      "HubSpot's notification reaches 101, 102, nobody in `marketing`")
                     for period in ("2027-01-04 10:30 – 2027-02-01 00:00: 0 of 1 nurture_email",
                                    "2027-02-01 00:00 – 2027-03-01 00:00: 1 of 2 nurture_email")]


def test_judging_a_part_month_as_a_whole_one_is_caught():
    """The exit owes a whole month: the lead that leaves on 15 Jan (nothing owed) is told."""
    bundle = mutated(generated(), EXIT, _replace_in_code('result = verdict(inputs, parse_moment(inputs["now"]))',
                                                         'result = verdict(inputs, period_bounds(parse_moment('
                                                         'inputs["now"]))[1])'))
    early = scenario(sends=(), leave="2027-01-15T10:30", until="2027-01-25T00:00")
    assert divergences(policy(), bundle, [early]) == [
        ("hand-made: cadence (nurture.cadence.nurture_email): HubSpot tells 1, 2 of a missed period at "
         "2027-01-15 10:30; the agreement finds none ending then")]


@pytest.mark.parametrize("zone, period, start, end", [
    # a calendar month across a clock change: 1 Mar – 1 Apr 2027 in New York is 31 days less an hour
    ("America/New_York", "month", "2027-03-01T00:00:00-05:00", "2027-04-01T00:00:00-04:00"),
    ("Europe/Berlin", "week", "2027-03-22T00:00:00+01:00", "2027-03-29T00:00:00+02:00"),
])
def test_the_code_computes_the_period_end_in_the_zone(zone, period, start, end):
    """The generated code's own arithmetic, run as HubSpot runs it, against zoneinfo."""
    from sla_lang.targets.hubspot import cadence, customcode
    from sla_lang.targets.hubspot.emulate import run_python_custom_code

    initial, transitions = customcode.zone_transitions(zone, *cadence.YEARS)
    source = cadence.source(mode="judge", period=period, minimum=2, zone=zone, initial=initial,
                            transitions=transitions, about="x", since="s", base="b", until="u", judged="j")
    since = int(datetime.fromisoformat(start).timestamp() * 1000)
    end = int(datetime.fromisoformat(end).timestamp() * 1000)
    # a whole period owes 2; one second short of it, 1 (2 × (whole − 1 s) / whole rounded down)
    for until, sent, result in ((end, 1, "missed"), (end, 2, "kept"), (end - 1000, 1, "kept")):
        out = run_python_custom_code(source, {"inputFields": {"sent": str(sent), "base": "0", "since": str(since),
                                                              "until": str(until)},
                                              "object": {"objectId": 1, "objectType": "CONTACT"}})
        assert out == {"outputFields": {"result": result}}, (until, sent)


def test_sla_test_against_hubspot_on_smarketing_ja(tmp_path, in_repo):
    """The command, with the portal mapping: with custom code every scenario of smarketing_ja
    agrees (the cadence was 27 divergences in 4 scenarios before it was judged); without it the
    cadence's 27 are back, each pointing at manual step SLA849 (the other divergences there are
    the conservative waits' own, bounded in the manifest)."""
    import json

    from .test_hubspot_differential import MAPPING, invoke

    config = tmp_path / "pyproject.toml"
    config.write_text(MAPPING, encoding="utf-8")
    result = invoke("test", "policies/smarketing_ja.sla", "--against", "hubspot", "-q", "--config", str(config))
    assert result.exit_code == 0, result.output[-2000:]
    assert "86 passed, 0 failed." in result.output
    config.write_text(MAPPING.replace('timezone = "Asia/Tokyo"', 'timezone = "Asia/Tokyo"\ncustom-code = false'),
                      encoding="utf-8")
    result = invoke("test", "policies/smarketing_ja.sla", "--against", "hubspot", "--format", "json",
                    "--config", str(config))
    found = [d for r in json.loads(result.output)["results"] for d in r["divergences"] if d["what"] == "cadence"]
    assert len(found) == 27 and all("manual step SLA849" in d["message"] for d in found)
