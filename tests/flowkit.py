"""Replaying one generated workflow for one lead, by hand, for the HubSpot target's focused tests.

Not a model of HubSpot (that is `sla_lang/targets/hubspot/emulate.py`): just enough of the
documented behaviour to follow the actions the generator emits, step by step, for a lead whose
history is given up front:

- the run starts when the lead enters the stage and executes actions in order; a delay (0-1)
  adds its time, a delay until a date property (0-35) waits until the property's moment (or
  continues at once when it has passed);
- a LIST_BRANCH takes the first branch whose filters hold *at that moment* (HubSpot evaluates
  branches in order), otherwise its default; a path without a connection ends the run;
- a STATIC_BRANCH on a custom code action's output follows the matching value;
- a CUSTOM_CODE action runs the generated Python with `write_properties` replaced by an update of
  the lead (so the code itself computes the moments), unless the test makes it fail;
- before each action the lead must still meet the enrolment criteria when the workflow
  unenrols leads that stop meeting them.

Property filters support what the generator emits (ENUMERATION, BOOL, NUMBER, ALL_PROPERTY,
COMPARATIVE_DATE). `notes_last_contacted` is derived from the contacts logged up to the moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

UNITS = {"MINUTES": 1, "HOURS": 60, "DAYS": 1440}


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def at(ms_value: int) -> datetime:
    return datetime.fromtimestamp(ms_value / 1000, UTC)


@dataclass
class Lead:
    """A contact's history: property values from given moments on, and logged contacts."""

    values: dict[str, list[tuple[int, object]]] = field(default_factory=dict)
    contacts: list[int] = field(default_factory=list)

    def set(self, name: str, value: object, when: int) -> None:
        self.values.setdefault(name, []).append((when, value))
        self.values[name].sort(key=lambda item: item[0])

    def get(self, name: str, now: int) -> object:
        if name == "notes_last_contacted":
            done = [c for c in self.contacts if c <= now]
            return max(done) if done else None
        value = None
        for when, item in self.values.get(name, []):
            if when <= now:
                value = item
        return value


def holds(tree: dict, lead: Lead, now: int) -> bool:
    """OR of AND groups of property filters."""
    return any(all(_filter(f, lead, now) for f in group["filters"]) for group in tree["filterBranches"])


def _filter(item: dict, lead: Lead, now: int) -> bool:
    op = item["operation"]
    value = lead.get(item["property"], now)
    kind, operator = op["operationType"], op["operator"]
    if kind == "ALL_PROPERTY":
        return (value is not None) == (operator == "IS_KNOWN")
    if value is None or value == "":
        return op["includeObjectsWithNoValueSet"]
    if kind == "ENUMERATION":
        inside = str(value) in op["values"]
        return inside if operator == "IS_ANY_OF" else not inside
    if kind == "BOOL":
        same = str(value).lower() == str(op["value"]).lower()
        return same if operator == "IS_EQUAL_TO" else not same
    if kind == "NUMBER":
        number = float(value)
        return {"IS_EQUAL_TO": number == op["value"], "IS_NOT_EQUAL_TO": number != op["value"],
                "IS_GREATER_THAN": number > op["value"], "IS_GREATER_THAN_OR_EQUAL_TO": number >= op["value"],
                "IS_LESS_THAN": number < op["value"], "IS_LESS_THAN_OR_EQUAL_TO": number <= op["value"]}[operator]
    if kind == "COMPARATIVE_DATE":
        other = lead.get(op["comparisonPropertyName"], now)
        if other is None or other == "":
            return op["includeObjectsWithNoValueSet"]
        return int(value) > int(other) if operator == "IS_AFTER" else int(value) < int(other)
    raise AssertionError(f"filter not replayed: {kind}")


@dataclass
class Step:
    when: int
    action: dict

    @property
    def what(self) -> str:
        a = self.action
        if a["type"] != "SINGLE_CONNECTION":
            return a["type"]
        fields = a["fields"]
        if a["actionTypeId"] == "0-5":
            value = fields["value"]
            shown = value.get("staticValue", value.get("type"))
            return f"set {fields['property_name']}={shown}"
        return a["actionTypeId"]


def replay(flow: dict, lead: Lead, start: int, *, code_fails: bool = False, until: int | None = None) -> list[Step]:
    """The actions one run of `flow` executes for `lead` enrolled at `start`, with their moments."""
    actions = {a["actionId"]: a for a in flow["actions"]}
    criteria = flow["enrollmentCriteria"]
    leave = criteria["unEnrollObjectsNotMeetingCriteria"]
    now = start
    current = flow["startActionId"]
    outputs: dict[str, str] = {}
    done: list[Step] = []
    while current is not None:
        if until is not None and now > until:
            break
        if leave and not holds(criteria["listFilterBranch"], lead, now):
            break
        action = actions[current]
        kind = action["type"]
        following = action.get("connection", {}).get("nextActionId")
        if kind == "SINGLE_CONNECTION":
            fields = action["fields"]
            type_id = action["actionTypeId"]
            if type_id == "0-1":
                now += int(fields["delta"]) * UNITS[fields["time_unit"]] * 60000
                current = following
                continue
            if type_id == "0-35":
                moment = lead.get(fields["date"]["propertyName"], now)
                assert moment is not None, "delay until an empty property"
                now = max(now, int(moment))
                current = following
                continue
            if type_id == "0-5":
                value = fields["value"]
                lead.set(fields["property_name"], now if value["type"] == "TIMESTAMP" else value["staticValue"], now)
            done.append(Step(now, action))
            current = following
        elif kind == "CUSTOM_CODE":
            done.append(Step(now, action))
            namespace: dict = {}
            exec(compile(action["sourceCode"], "<custom code>", "exec"), namespace)  # noqa: S102 - the code under test

            def write(object_id, values, when=now):
                if code_fails:
                    raise OSError("no token")
                for name, moment in values.items():
                    lead.set(name, None if moment == "" else int(moment), when)  # "" clears the property

            namespace["write_properties"] = write
            inputs = {f["name"]: str(now) if f["value"]["type"] == "TIMESTAMP" else lead.get(f["value"]["propertyName"], now)
                      for f in action["inputFields"]}
            result = namespace["main"]({"inputFields": inputs, "object": {"objectId": 1}})
            outputs[action["actionId"]] = result["outputFields"]["result"]
            current = following
        elif kind == "STATIC_BRANCH":
            value = outputs.get(action["inputValue"]["actionId"])
            chosen = next((b for b in action["staticBranches"] if b["branchValue"] == value), None)
            connection = chosen.get("connection") if chosen else action.get("defaultBranch")
            current = connection["nextActionId"] if connection else None
        elif kind == "LIST_BRANCH":
            chosen = next((b for b in action["listBranches"] if holds(b["filterBranch"], lead, now)), None)
            connection = chosen.get("connection") if chosen else action.get("defaultBranch")
            done.append(Step(now, {**action, "chosen": chosen["branchName"] if chosen else action["defaultBranchName"]}))
            current = connection["nextActionId"] if connection else None
        else:
            done.append(Step(now, action))
            current = following
    return done


def flags(steps: list[Step]) -> dict[str, datetime]:
    """When each flag property was set to true."""
    return {s.action["fields"]["property_name"]: at(s.when) for s in steps
            if s.what.startswith("set ") and s.what.endswith("=true")}


def enters(lead: Lead, stage: str, when: datetime) -> int:
    """The lead enters `stage` at `when` (as the generated workflows record it)."""
    moment = ms(when)
    lead.set("sla_stage_entered_at", moment, moment)
    lead.set("sla_stage", stage, moment)
    return moment


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
