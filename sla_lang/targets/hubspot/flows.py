"""Building one v4 workflow: actions, their connections and the create body.

Shapes follow HubSpot's Automation API v4 (beta):
- the create body and its required fields: `ApiContactFlowCreateRequest` in HubSpot's published
  OpenAPI spec for `POST /automation/v4/flows` (endpoint reference:
  https://developers.hubspot.com/docs/api-reference/automation-automation-v4-v4/guide);
- action types and their ids (`0-1` delay, `0-3` task, `0-5` set property, `0-8` internal
  email, `0-9` in-app notification), `SINGLE_CONNECTION`, `LIST_BRANCH` and `WEBHOOK` actions:
  https://developers.hubspot.com/docs/api-reference/automation-automation-v4-v4/action-enrollment-reference
- `timeWindows` (`{day, startTime, endTime}`) and `blockedDates` (`{dayOfMonth, month, year}`,
  month spelled out): `ApiTimeWindow` / `ApiBlockedDate` in the same spec. Note that the docs
  win over shared/hubspot.md here: blocked dates are not ISO date strings.
`nextAvailableActionId` is not in the create schema but HubSpot's own examples send it and
every flow it returns carries it; it is emitted as the largest action id + 1.

A flow is built front to back. `tail` holds the open ends — (action, slot) pairs — that the
next added action connects to, so straight lines need no bookkeeping and the two paths of a
branch can be joined again by putting both ends in `tail`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONTACT_OBJECT = "0-1"

DELAY = "0-1"
CREATE_TASK = "0-3"
SET_PROPERTY = "0-5"
INTERNAL_EMAIL = "0-8"
IN_APP = "0-9"

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MONTHS = ("JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER",
          "OCTOBER", "NOVEMBER", "DECEMBER")


def connection(next_action_id: str) -> dict:
    return {"edgeType": "STANDARD", "nextActionId": next_action_id}


@dataclass
class Flow:
    name: str
    description: str
    enrollment: dict
    clauses: list[str]
    kind: str  # entry | transition | monitor | follow_up | priority
    time_windows: list[dict] = field(default_factory=list)
    blocked_dates: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    tail: list[tuple[dict, str]] = field(default_factory=list)

    # ------------------------------------------------------------------ graph
    def add(self, action: dict) -> dict:
        """Append an action and connect every open end to it. Returns the action."""
        action = {"actionId": str(len(self.actions) + 1), **action}
        for source, slot in self.tail:
            self._connect(source, slot, action["actionId"])
        self.actions.append(action)
        self.tail = [(action, "connection")] if action["type"] in ("SINGLE_CONNECTION", "WEBHOOK") else []
        return action

    @staticmethod
    def _connect(source: dict, slot: str, target: str) -> None:
        if slot == "connection":
            source["connection"] = connection(target)
        elif slot == "default":
            source["defaultBranch"] = connection(target)
        elif slot.startswith("branch:"):
            source["listBranches"][int(slot.split(":")[1])]["connection"] = connection(target)
        else:  # pragma: no cover - a programming error, caught by the graph check too
            raise ValueError(slot)

    def branch(self, branches: list[tuple[str, dict]], default_name: str) -> dict:
        """An if/then branch (LIST_BRANCH). The open ends are cleared: the caller says which
        paths continue by putting `(action, "branch:N")` or `(action, "default")` in `tail`.
        A path left open ends the flow; an ending default branch is omitted entirely, because
        HubSpot rejects a `defaultBranch` without a `nextActionId`."""
        action = self.add({
            "type": "LIST_BRANCH",
            "listBranches": [{"branchName": name, "filterBranch": tree} for name, tree in branches],
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
        for unit, size in (("DAYS", 1440), ("HOURS", 60), ("MINUTES", 1)):
            if minutes % size == 0:
                # field values are strings, numbers included (action-enrollment reference)
                return self.single(DELAY, {"delta": str(minutes // size), "time_unit": unit})
        raise AssertionError("unreachable")

    def set_property(self, name: str, value: str) -> dict:
        return self.single(SET_PROPERTY, {"property_name": name, "value": {"type": "STATIC_VALUE", "staticValue": value}})

    def set_now(self, name: str) -> dict:
        return self.single(SET_PROPERTY, {
            "property_name": name,
            "value": {"type": "TIMESTAMP", "timestampType": "EXECUTION_TIME"},
        })

    def clear_property(self, name: str) -> dict:
        return self.set_property(name, "")

    def notify_owner(self, subject: str, body: str, *, in_app: bool = False) -> dict:
        """Internal email (0-8) or in-app notification (0-9) to the contact owner."""
        fields = {"owner_properties": ["hubspot_owner_id"], "subject": subject, "body": body}
        if in_app:
            fields["delivery_method"] = "APP"
        return self.single(IN_APP if in_app else INTERNAL_EMAIL, fields)

    def task(self, subject: str, body: str, *, task_type: str, due: dict, priority: str = "HIGH") -> dict:
        """A task for the contact owner, associated with the contact (0-3)."""
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
            "owner_assignment": {"type": "CUSTOM",
                                 "value": {"type": "OBJECT_PROPERTY", "propertyName": "hubspot_owner_id"}},
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
            "nextAvailableActionId": str(len(self.actions) + 1),
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


def due_in(minutes: int | None = None, *, business_days: int | None = None, days: tuple[str, ...] = DAYS) -> dict:
    """A task due date relative to its creation (`ApiTimeDelay`). Business days count only the
    calendar's working weekdays, which HubSpot supports for due dates."""
    if business_days is not None:
        return {"delta": business_days, "timeUnit": "DAYS", "daysOfWeek": list(days)}
    minutes = max(minutes or 0, 0)
    for unit, size in (("DAYS", 1440), ("HOURS", 60), ("MINUTES", 1)):
        if minutes % size == 0:
            return {"delta": minutes // size, "timeUnit": unit, "daysOfWeek": list(DAYS)}
    raise AssertionError("unreachable")
