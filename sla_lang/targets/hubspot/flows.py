"""Building one v4 workflow: actions, their connections and the create body.

Shapes follow HubSpot's Automation API v4 (beta):
- the create body and its required fields: `ApiContactFlowCreateRequest` in HubSpot's published
  OpenAPI spec for `POST /automation/v4/flows` (endpoint reference:
  https://developers.hubspot.com/docs/api-reference/automation-automation-v4-v4/guide).
  `nextAvailableActionId` is a field of the *response* (`ApiContactFlow`), not of the create
  request, so it is not sent;
- action types and their ids (`0-1` delay, `0-35` delay until a date property, `0-3` task,
  `0-5` set property, `0-8` internal email, `0-9` in-app notification, `0-11` rotate owner),
  `SINGLE_CONNECTION`, `LIST_BRANCH`, `STATIC_BRANCH`, `CUSTOM_CODE` and `WEBHOOK` actions:
  https://developers.hubspot.com/docs/api-reference/automation-automation-v4-v4/action-enrollment-reference
  and the `Api*Action` schemas of the spec;
- `timeWindows` (`{day, startTime, endTime}`) and `blockedDates` (`{dayOfMonth, month, year}`,
  month spelled out): `ApiTimeWindow` / `ApiBlockedDate` in the same spec.

A flow is built front to back. `tail` holds the open ends — (action, slot) pairs — that the
next added action connects to, so straight lines need no bookkeeping and the paths of a branch
can be joined again by putting their ends in `tail`. A join follows HubSpot's documented edge
types: the first open end continues with a `STANDARD` edge, every other one jumps there with a
`GOTO` edge ("If you have a branch in your workflow, you can go to an action in a different
branch by setting the edgeType to GO-TO", action-enrollment reference), so no action has two
`STANDARD` edges into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONTACT_OBJECT = "0-1"

DELAY = "0-1"
DELAY_UNTIL = "0-35"
CREATE_TASK = "0-3"
SET_PROPERTY = "0-5"
INTERNAL_EMAIL = "0-8"
IN_APP = "0-9"
ROTATE_OWNER = "0-11"

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MONTHS = ("JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER",
          "OCTOBER", "NOVEMBER", "DECEMBER")
# Action types that continue on one `connection` (the others branch).
_LINEAR = ("SINGLE_CONNECTION", "WEBHOOK", "CUSTOM_CODE")


def connection(next_action_id: str, edge: str = "STANDARD") -> dict:
    return {"edgeType": edge, "nextActionId": next_action_id}


@dataclass(frozen=True)
class Recipients:
    """Who an internal notification (0-8/0-9) or task (0-3) is for: the contact owner, a
    HubSpot team, or HubSpot users."""

    owner: bool = False
    team_ids: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()

    def fields(self) -> dict:
        if self.team_ids:
            return {"team_ids": list(self.team_ids)}
        if self.user_ids:
            return {"user_ids": list(self.user_ids)}
        return {"owner_properties": ["hubspot_owner_id"]}


CONTACT_OWNER = Recipients(owner=True)


@dataclass
class Flow:
    name: str
    description: str
    enrollment: dict
    clauses: list[str]
    kind: str  # entry | import | transition | arm | monitor | follow_up | priority
    time_windows: list[dict] = field(default_factory=list)
    blocked_dates: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    tail: list[tuple[dict, str]] = field(default_factory=list)

    # ------------------------------------------------------------------ graph
    def add(self, action: dict) -> dict:
        """Append an action and connect every open end to it. Returns the action."""
        action = {"actionId": str(len(self.actions) + 1), **action}
        for position, (source, slot) in enumerate(self.tail):
            self._connect(source, slot, action["actionId"], "STANDARD" if position == 0 else "GOTO")
        self.actions.append(action)
        self.tail = [(action, "connection")] if action["type"] in _LINEAR else []
        return action

    @staticmethod
    def _connect(source: dict, slot: str, target: str, edge: str) -> None:
        if slot == "connection":
            source["connection"] = connection(target, edge)
        elif slot == "default":
            source["defaultBranch"] = connection(target, edge)
        elif slot.startswith("branch:"):
            source["listBranches"][int(slot.split(":")[1])]["connection"] = connection(target, edge)
        elif slot.startswith("static:"):
            source["staticBranches"][int(slot.split(":")[1])]["connection"] = connection(target, edge)
        else:  # pragma: no cover - a programming error, caught by the graph check too
            raise ValueError(slot)

    def branch(self, branches: list[tuple[str, dict]], default_name: str) -> dict:
        """An if/then branch (LIST_BRANCH). HubSpot evaluates the branches in order and sends
        the record down the first one it matches ("Enrolled records will be evaluated against
        each branch in the order that the branches are set",
        https://knowledge.hubspot.com/workflows/use-if-then-branches-in-workflows). The open
        ends are cleared: the caller says which paths continue by putting `(action, "branch:N")`
        or `(action, "default")` in `tail`. A path left open ends the flow; an ending default
        branch is omitted entirely, because HubSpot rejects a `defaultBranch` without a
        `nextActionId`."""
        action = self.add({
            "type": "LIST_BRANCH",
            "listBranches": [{"branchName": name, "filterBranch": tree} for name, tree in branches],
            "defaultBranchName": default_name,
        })
        self.tail = []
        return action

    def static_branch(self, input_value: dict, values: list[str], default_name: str) -> dict:
        """A branch on one value (STATIC_BRANCH, `ApiStaticBranchAction`), e.g. the output of a
        custom code action; slots `static:N` and `default` as for `branch`."""
        action = self.add({
            "type": "STATIC_BRANCH",
            "inputValue": input_value,
            "staticBranches": [{"branchValue": value} for value in values],
            "defaultBranchName": default_name,
        })
        self.tail = []
        return action

    # ------------------------------------------------------------------ actions
    def single(self, action_type: str, fields: dict) -> dict:
        return self.add({
            "type": "SINGLE_CONNECTION",
            "actionTypeId": action_type,
            "actionTypeVersion": 0,
            "fields": fields,
        })

    def delay(self, minutes: int) -> dict | None:
        if minutes <= 0:
            return None
        # Hours, never days: the agreement's `d` is 24 hours exactly, and HubSpot does not say
        # whether a delay in days across a clock change is 24 hours or the same time of day
        # (SEMANTICS.md S14); a delay in hours or minutes is a fixed length.
        for unit, size in (("HOURS", 60), ("MINUTES", 1)):
            if minutes % size == 0:
                # field values are strings, numbers included (action-enrollment reference)
                return self.single(DELAY, {"delta": str(minutes // size), "time_unit": unit})
        raise AssertionError("unreachable")

    def delay_until(self, prop: str) -> dict:
        """Wait until the moment held in the datetime property `prop` (0-35, "delay until a date
        property"): "Date or datetime property: delays enrolled records until a specific date in
        a date property or datetime in a datetime property"
        (https://knowledge.hubspot.com/workflows/use-date-delays). No offset and no time of day:
        the property holds the exact moment."""
        return self.single(DELAY_UNTIL, {
            "date": {"type": "OBJECT_PROPERTY", "propertyName": prop},
            "delta": "0",
            "time_unit": "DAYS",
        })

    def set_property(self, name: str, value: str) -> dict:
        return self.single(SET_PROPERTY, {"property_name": name, "value": {"type": "STATIC_VALUE", "staticValue": value}})

    def set_now(self, name: str) -> dict:
        return self.single(SET_PROPERTY, {
            "property_name": name,
            "value": {"type": "TIMESTAMP", "timestampType": "EXECUTION_TIME"},
        })

    def copy_property(self, name: str, source: str) -> dict:
        """Set `name` to the value `source` has now (`ApiObjectPropertyValue`)."""
        return self.single(SET_PROPERTY, {
            "property_name": name,
            "value": {"type": "OBJECT_PROPERTY", "propertyName": source},
        })

    def clear_property(self, name: str) -> dict:
        """Clear a property value. HubSpot documents the empty value as the way to clear one:
        "You can clear an object property value via the API by setting the property value to an
        empty string" (CRM properties guide, "Clear a property value",
        https://developers.hubspot.com/docs/api-reference/legacy/crm/properties/guide); a
        set-property action (0-5) with an empty static value is that update made by the
        workflow. Used only where the agreement needs it: before moving the lifecycle stage back
        (HubSpot moves it only forward otherwise) and for the sales judgements of a recycled
        lead."""
        return self.set_property(name, "")

    def notify(self, subject: str, body: str, recipients: Recipients = CONTACT_OWNER, *, in_app: bool = False) -> dict:
        """Internal email (0-8) or in-app notification (0-9)."""
        fields = {**recipients.fields(), "subject": subject, "body": body}
        if in_app:
            fields["delivery_method"] = "APP"
        return self.single(IN_APP if in_app else INTERNAL_EMAIL, fields)

    def task(self, subject: str, body: str, *, task_type: str, due: dict, priority: str = "HIGH",
             user_id: str | None = None) -> dict:
        """A task associated with the contact (0-3), for the contact owner or one HubSpot user."""
        owner = ({"type": "STATIC_VALUE", "staticValue": user_id} if user_id
                 else {"type": "OBJECT_PROPERTY", "propertyName": "hubspot_owner_id"})
        return self.single(CREATE_TASK, {
            "task_type": task_type,
            "subject": subject,
            "body": body,
            "priority": priority,
            "due_time": due,
            # HUBSPOT_DEFINED association type 204: task → contact
            "associations": [{"target": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204},
                              "value": {"type": "ENROLLED_OBJECT"}}],
            "use_explicit_associations": "true",
            "owner_assignment": {"type": "CUSTOM", "value": owner},
        })

    def rotate_owner(self, user_ids: tuple[str, ...]) -> dict:
        """Give the contact an owner from `user_ids` in turn (0-11, "Rotate record to owner"),
        replacing the current one."""
        return self.single(ROTATE_OWNER, {
            "user_ids": list(user_ids),
            "target_property": "hubspot_owner_id",
            "overwrite_current_owner": "true",
        })

    def custom_code(self, source: str, *, runtime: str, inputs: list[tuple[str, str | None]], secrets: list[str],
                    output: str, options: list[str]) -> dict:
        """A custom code action (`ApiCustomCodeAction`: needs Operations Hub Professional). Its
        inputs are contact properties, or (property None) the moment the action runs
        (`TIMESTAMP`/`EXECUTION_TIME`); its one output is an enumeration the flow branches on
        (the spec's only output field type, `ApiEnumerationOutputField`)."""
        return self.add({
            "type": "CUSTOM_CODE",
            "runtime": runtime,
            "sourceCode": source,
            "inputFields": [{"name": name, "value": {"type": "TIMESTAMP", "timestampType": "EXECUTION_TIME"}
                             if prop is None else {"type": "OBJECT_PROPERTY", "propertyName": prop}}
                            for name, prop in inputs],
            "outputFields": [{"name": output, "type": "ENUMERATION", "options": list(options)}],
            "secretNames": list(secrets),
        })

    def webhook(self, url: str) -> dict:
        return self.add({"type": "WEBHOOK", "method": "POST", "webhookUrl": url, "queryParams": []})

    # ------------------------------------------------------------------ output
    @property
    def last_action_id(self) -> str | None:
        return self.actions[-1]["actionId"] if self.actions else None

    def body(self) -> dict:
        return {
            "type": "CONTACT_FLOW",
            "objectTypeId": CONTACT_OBJECT,
            "flowType": "WORKFLOW",
            "name": fit_name(self.name),
            "description": self.description,
            "isEnabled": False,
            "startActionId": "1",
            "actions": self.actions,
            "enrollmentCriteria": self.enrollment,
            "timeWindows": self.time_windows,
            "blockedDates": self.blocked_dates,
            "canEnrollFromSalesforce": False,
            "dataSources": [],
            "suppressionListIds": [],
            "customProperties": {},
        }


MAX_FLOW_NAME = 255  # HubSpot's limit (flow.schema.json); long stage labels must not break a build


def fit_name(name: str) -> str:
    """A workflow name HubSpot accepts: cut with "…" past MAX_FLOW_NAME characters. Names begin
    with their clause ID ("SLA mql.to.sql: …"), which keeps cut names distinct."""
    return name if len(name) <= MAX_FLOW_NAME else name[: MAX_FLOW_NAME - 1].rstrip() + "…"


def list_enrollment(tree: dict, *, reenroll: list[dict], leave_when_unmatched: bool) -> dict:
    """LIST_BASED enrolment (`ApiListBasedEnrollmentCriteria`)."""
    return {
        "type": "LIST_BASED",
        "listFilterBranch": tree,
        "shouldReEnroll": bool(reenroll),
        "reEnrollmentTriggersFilterBranches": reenroll,
        "unEnrollObjectsNotMeetingCriteria": leave_when_unmatched,
    }


def due_in(minutes: int | None = None, *, business_days: int | None = None, days: tuple[str, ...] = DAYS,
           zone: str | None = None) -> dict:
    """A task due date relative to its creation (`ApiTimeDelay`). Business days count only the
    calendar's working weekdays, which HubSpot supports for due dates. With `zone` the delay
    carries the calendar's time zone (`timeZoneStrategy`: `ApiStaticTimeZoneStrategy`) instead
    of the portal's."""
    if business_days is not None:
        out = {"delta": business_days, "timeUnit": "DAYS", "daysOfWeek": list(days)}
    else:
        minutes = max(minutes or 0, 0)
        for unit, size in (("DAYS", 1440), ("HOURS", 60), ("MINUTES", 1)):
            if minutes % size == 0:
                out = {"delta": minutes // size, "timeUnit": unit, "daysOfWeek": list(DAYS)}
                break
    if zone:
        out["timeZoneStrategy"] = {"type": "STATIC_TIME_ZONE", "timeZoneId": zone}
    return out
