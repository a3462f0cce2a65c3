"""Differential testing: replay scenarios through the HubSpot workflows (in the executable model
of HubSpot, `targets/hubspot/emulate.py`) and compare what HubSpot would do with what the
reference simulator says the agreement does.

    replay = HubSpotReplay(policy, bundle, mapping)
    result = replay.check(scenario)          # → ScenarioCheck with its divergences
    result.divergences, result.reference_timeline, result.hubspot_timeline

What is compared, per scenario (a difference is a `Divergence`):
- stage path: the stages the lead enters and when (HubSpot: the SLA stage property's history),
  and the lifecycle stage HubSpot shows in each stage that has one;
- each deadline's verdict: breached or not (HubSpot: the clause's breach flag property), the
  moment a breach is flagged, and the internal target (SLO) flag;
- escalations: at the moment the agreement escalates, a notification from a workflow enforcing
  that clause reaches someone in the escalation team; no escalation flag where the agreement
  has none;
- hand-offs: the task / email / in-app notification the hand-off names, at the moment of the
  move, reaching the new owner; follow-up tasks when each follow-up window opens; a task when
  a required record is missing;
- owners: the contact owner in each stage is the stage owner (a member of the team);
- unknown semantics: anything the workflows do that HubSpot does not document.

"The moment" matches when HubSpot does it at that moment at the earliest and at most
HubSpot's 15-minute rescheduling spread later (emulate.RESCHEDULE_SPREAD).

How HubSpot's state is read back (the observation contract with the generator, from
manifest.json and the property bodies):
- the stage property is the enumeration whose options include every `stages[].slaStage`;
- a deadline clause's flags are custom bool properties listing the clause, named `…_breached`
  (SLA breached) and `…_slo_missed` (internal target missed); an escalation clause's flag is
  the bool property listing it named `…_escalated`;
- a workflow enforces the clauses its manifest entry lists.

What the portal is assumed to do besides the workflows (the inputs, never the workflow steps):
policy properties are written by people or integrations, policy events count up their
HubSpot property, calls/emails/meetings are logged as engagements, the score is kept by
HubSpot's scoring tool configured from scoring.json (manual step SLA824), and a lead created
in a stage is imported with that stage (`sla_stage` outside entry stages, as contacts.csv
does), its lifecycle stage and the owner the agreement gives it. Such an import sends no
hand-off, so the agreement's hand-off at the creation of a lead past the entry stages is not
expected from HubSpot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import ir
from ..targets.hubspot.emulate import (
    BUILTIN_PROPERTIES,
    RESCHEDULE_SPREAD,
    Contact,
    Flag,
    Moment,
    Portal,
    PortalSettings,
    PropertyDef,
    Workflow,
    date_ms,
    from_ms,
    to_ms,
)

ACTIVITY_ENGAGEMENTS = {"call": "CALL", "email": "EMAIL", "meeting": "MEETING"}


# ------------------------------------------------------------------ the portal's people


@dataclass
class PortalMapping:
    """The HubSpot side of the policy's teams: a HubSpot team id and its users, per team; and
    the account's time zone."""

    time_zone: ZoneInfo
    teams: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # policy team → (team id, users)

    def members(self, owner: str | None) -> frozenset[str]:
        """The HubSpot users that count as `owner` (a policy team, or a person's name)."""
        if owner is None:
            return frozenset()
        if owner in self.teams:
            return frozenset(self.teams[owner][1])
        return frozenset({person_user(owner)})

    def user_for(self, owner: str | None) -> str | None:
        if owner is None:
            return None
        if owner in self.teams:
            users = self.teams[owner][1]
            return users[0] if users else None
        return person_user(owner)

    def settings(self, properties: dict[str, PropertyDef], people: set[str]) -> PortalSettings:
        users = {u for _, members in self.teams.values() for u in members} | {person_user(p) for p in people}
        return PortalSettings(self.time_zone, properties, {tid: users_ for tid, users_ in self.teams.values()},
                              frozenset(users))


def person_user(name: str) -> str:
    return f"user:{name}"


def default_mapping(policy: ir.Policy, time_zone: ZoneInfo | None = None, manifest: dict | None = None) -> PortalMapping:
    """The portal to emulate. The HubSpot ids a build was made with (manifest.json's `portal`:
    `[tool.sla.hubspot]` as the build read it) are the portal's; a policy team without them gets
    a team `<team>-team` with users `<team>-1` and `<team>-2`, which no generated workflow can
    know. The time zone is `time_zone`, else the build's `portal.timezone`, else the agreement
    calendar's."""
    from ..simulate.engine import Plan

    portal = (manifest or {}).get("portal") or {}
    built = portal.get("teams") or {}
    zone = time_zone
    if zone is None and portal.get("timezone"):
        try:
            zone = ZoneInfo(str(portal["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    zone = zone or Plan(policy).zone
    teams = {}
    for team in policy.teams:
        known = built.get(team.id) or {}
        team_id = str(known.get("teamId") or f"{team.id}-team")
        users = tuple(str(u) for u in known.get("userIds") or ()) or (f"{team.id}-1", f"{team.id}-2")
        teams[team.id] = (team_id, users)
    return PortalMapping(zone, teams)


# ------------------------------------------------------------------ the build


@dataclass
class HubSpotBundle:
    """The files of a HubSpot build: {relative path: JSON}."""

    files: dict[str, Any]

    @property
    def manifest(self) -> dict:
        return self.files["manifest.json"]

    def flows(self) -> dict[str, dict]:
        return {name: body for name, body in self.files.items() if name.startswith("workflows/")}

    def property_bodies(self) -> dict[str, dict]:
        return {body["name"]: body for name, body in self.files.items()
                if name.startswith("properties/") and name != "properties/_group.json" and isinstance(body, dict)}

    @classmethod
    def from_build(cls, files: dict[str, bytes]) -> HubSpotBundle:
        return cls({name: json.loads(data) for name, data in files.items() if name.endswith(".json")})


def build_bundle(policy: ir.Policy, options=None) -> tuple[HubSpotBundle | None, list]:
    """Build the HubSpot target in memory (what `sla build --target hubspot` would write)."""
    from ..targets import BuildOptions
    from ..targets.hubspot import build

    result = build(policy, options or BuildOptions())
    if result.failed:
        return None, result.diagnostics
    return HubSpotBundle.from_build(result.files), result.diagnostics


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class Divergence:
    clause: str
    what: str  # stage path | lifecycle stage | deadline | breach moment | target | escalation | hand-off | follow-up | record | owner | cadence | unknown semantics
    message: str


@dataclass
class ScenarioCheck:
    scenario: str
    divergences: list[Divergence]
    reference_timeline: list[str]
    hubspot_timeline: list[str]

    @property
    def passed(self) -> bool:
        return not self.divergences


def same_moment(expected: datetime, moment: Moment) -> bool:
    return moment.at == expected and moment.spread <= RESCHEDULE_SPREAD


# ------------------------------------------------------------------ replay


class HubSpotReplay:
    """Replays scenarios through one policy's HubSpot build in the model and compares."""

    def __init__(self, policy: ir.Policy, bundle: HubSpotBundle, mapping: PortalMapping | None = None) -> None:
        from .engine import Plan

        self.policy = policy
        self.plan = Plan(policy)
        self.bundle = bundle
        self.mapping = mapping or default_mapping(policy, manifest=bundle.manifest)
        manifest = bundle.manifest
        self.stages = {s["id"]: s for s in manifest.get("stages", [])}
        self.workflow_clauses = {w["file"]: set(w.get("clauses", [])) for w in manifest.get("workflows", [])}
        self.slack_webhooks = {str(k): str(v) for k, v in ((manifest.get("portal") or {}).get("slackWebhooks") or {}).items()}
        self.conditional_entries = {stage_id for stage_id, _ in self.plan.conditional_entries}
        self.entry_covered = {c[len("stage."):] for w in manifest.get("workflows", []) if w.get("kind") == "entry"
                              for c in w.get("clauses", []) if c.startswith("stage.")}
        bodies = bundle.property_bodies()
        self.properties = {name: PropertyDef(name, body.get("type", "string"),
                                             tuple(o["value"] for o in body.get("options") or []))
                           for name, body in bodies.items()}
        self.names = self._policy_names(manifest)
        for prop in policy.properties:  # existing HubSpot properties the policy maps: their type is the policy's
            name = self.names.get(("property", prop.id))
            if name and name not in self.properties:
                self.properties[name] = PropertyDef(name, _HUBSPOT_TYPES[prop.type],
                                                    tuple(o.value for o in prop.options))
        for event in policy.events:
            name = self.names.get(("event", event.id))
            if name and name not in self.properties:
                self.properties[name] = PropertyDef(name, "number")
        for score in policy.scores:
            name = self.names.get(("score", score.id))
            if name and name not in self.properties:
                self.properties[name] = PropertyDef(name, "number")
        for entry in manifest.get("existingProperties", []):  # HubSpot's own, which the workflows need
            name = entry.get("name")
            if name and name not in self.properties and name not in BUILTIN_PROPERTIES:
                self.properties[name] = PropertyDef(name, "string")
        self.stage_property = self._stage_property()
        # who answers for each cadence: told of a missed period (`_compare_cadences`)
        self.cadence_owner = {c.clause_id: (c.owner or stage.owner).name if (c.owner or stage.owner) else None
                              for stage in policy.stages for c in stage.cadences}
        self.flags = self._flag_properties(manifest)
        self.workflows = [Workflow(body, name) for name, body in sorted(bundle.flows().items())]
        self.calculated = self._score_calculations()

    # ------------------------------------------------------------------ the names of things
    def _policy_names(self, manifest: dict) -> dict[tuple[str, str], str]:
        """Policy property / event / score id → the HubSpot property that holds it."""
        custom = manifest.get("properties", [])
        scoring_reads = {}
        for score in self.bundle.files.get("scoring.json", {}).get("scores", []):
            for group in score.get("groups", []):
                for rule in group.get("rules", []):
                    for read in rule.get("reads", []):
                        scoring_reads[read.get("name")] = read.get("hubspotProperty")
        out: dict[tuple[str, str], str] = {}

        def custom_named(source: str, ident: str, label: str) -> str | None:
            candidates = [e for e in custom if e.get("source") == source]
            for entry in candidates:
                if entry.get("name") == ident:
                    return ident
            matches = [e["name"] for e in candidates if e.get("label") == label]
            return matches[0] if len(matches) == 1 else None

        for prop in self.policy.properties:
            out[("property", prop.id)] = prop.hubspot or custom_named("policy-property", prop.id, prop.label or "") \
                or scoring_reads.get(prop.id)
        for event in self.policy.events:
            out[("event", event.id)] = event.hubspot or custom_named("policy-event", event.id, event.label or "") \
                or scoring_reads.get(event.id)
        for score in self.policy.scores:
            hub = score.hubspot
            if hub is None:
                hub = next((s.get("hubspotProperty") for s in self.bundle.files.get("scoring.json", {}).get("scores", [])
                            if s.get("clause") == score.clause_id), None)
            out[("score", score.id)] = hub
        return {k: v for k, v in out.items() if v}

    def _stage_property(self) -> str | None:
        """The enumeration whose options are the stages; when several are (the stage a lead was
        recycled from, say), the one the workflows write stage values into most often."""
        wanted = {s.get("slaStage") for s in self.stages.values()}
        candidates = [name for name, prop in sorted(self.properties.items())
                      if prop.type == "enumeration" and wanted and wanted <= set(prop.options)]
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        writes = dict.fromkeys(candidates, 0)
        for body in self.bundle.flows().values():
            for action in body.get("actions") or []:
                fields = action.get("fields") or {}
                value = fields.get("value") or {}
                if fields.get("property_name") in writes and value.get("staticValue") in wanted:
                    writes[fields["property_name"]] += 1
        return max(candidates, key=lambda name: (writes[name], name == "sla_stage"))

    def _flag_properties(self, manifest: dict) -> dict[tuple[str, str], str]:
        """(clause, breached | slo_missed | escalated) → the bool property that flags it."""
        out: dict[tuple[str, str], str] = {}
        for entry in manifest.get("properties", []):
            name = entry.get("name", "")
            if entry.get("type") != "bool" or entry.get("source") != "sla-lang":
                continue
            for role in ("breached", "slo_missed", "escalated"):
                if name.endswith("_" + role):
                    for clause in entry.get("clauses", []):
                        out[(clause, role)] = name
        return out

    def _score_calculations(self):
        """HubSpot's scoring tool, configured by hand from scoring.json (manual step SLA824): the
        score property follows the policy's score rules over the contact's values [S24]."""
        from .model import DataModel, View

        model = DataModel(self.policy)
        reverse = {}
        for (kind, ident), name in self.names.items():
            if kind in ("property", "event"):
                reverse[name] = (kind, ident)
        reads = frozenset(reverse)
        out = []
        for score in self.policy.scores:
            name = self.names.get(("score", score.id))
            if not name:
                continue

            def compute(values: dict[str, str], score_id: str = score.id) -> str | None:
                data = {ident: self._policy_value(kind, ident, values[h]) for h, (kind, ident) in reverse.items()
                        if h in values}
                data = {k: v for k, v in data.items() if v is not None}
                total = View(data, model).scores().get(score_id)
                return None if total is None else _format(total)

            out.append((name, reads, compute))
        return out

    # ------------------------------------------------------------------ values both ways
    def _hubspot_value(self, kind: str, ident: str, value: Any) -> str | None:
        if value is None:
            return None
        if kind == "event":
            return _format(value)
        prop = self.policy.property_by_id.get(ident)
        if prop is None:
            return str(value)
        if prop.type == "bool":
            return "true" if value else "false"
        if prop.type == "number":
            return _format(value)
        if prop.type == "date":
            return date_ms(value if isinstance(value, date) else date.fromisoformat(str(value)))
        if prop.type == "datetime":
            at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            return to_ms(at)
        return str(value)

    def _policy_value(self, kind: str, ident: str, raw: str) -> Any:
        try:
            if kind == "event":
                return int(float(raw))
            prop = self.policy.property_by_id.get(ident)
            if prop is None:
                return raw
            if prop.type == "bool":
                return raw == "true"
            if prop.type == "number":
                number = float(raw)
                return int(number) if number.is_integer() else number
            if prop.type == "date":
                return from_ms(raw).date()
            if prop.type == "datetime":
                return from_ms(raw)
            return raw
        except (TypeError, ValueError):
            return None

    # ------------------------------------------------------------------ one scenario
    def run(self, scenario: dict) -> tuple[Portal, Contact, datetime, Any]:
        """Replay one scenario through the reference simulator and the HubSpot model."""
        from .engine import parse_timestamp
        from .scenarios import replay, simulated_lead

        zone = self.plan.zone
        reference = replay(self.policy, scenario, plan=self.plan, path=f"<{scenario['id']}>")
        lead_json = simulated_lead(reference, scenario["lead"]["id"])
        people = {str(scenario["lead"].get("owner"))} if scenario["lead"].get("owner") else set()
        people |= {str(e["owner"]) for e in scenario.get("timeline", []) if isinstance(e, dict) and e.get("owner")}
        people = {p for p in people if p not in self.mapping.teams}
        settings = self.mapping.settings(self.properties, people)
        # the Slack incoming webhooks the manifest asks a person to store as secrets [S28]
        settings.slack_webhooks = dict(self.slack_webhooks)
        portal = Portal(settings, self.workflows, self.calculated)
        lead = scenario["lead"]
        created = parse_timestamp(lead["created"], zone)
        stage_id = lead.get("stage") or self.plan.default_entry
        first_owner = (lead_json or {}).get("stages", [{}])[0].get("owner") if lead_json else None
        values: dict[str, str | None] = {}
        for ident, value in (lead.get("properties") or {}).items():
            name = self.names.get(("property", ident))
            if name:
                values[name] = self._hubspot_value("property", ident, value)
        for ident, count in (lead.get("events") or {}).items():
            name = self.names.get(("event", ident))
            if name:
                values[name] = self._hubspot_value("event", ident, count)
        stage = self.stages.get(stage_id or "")
        if stage is not None:
            if stage.get("lifecycleStage"):
                values["lifecyclestage"] = stage["lifecycleStage"]
            # a lead created in a stage no entry workflow puts it in by itself: one past the entry
            # stages, or one created in an `entry when` stage by choice (its data need not meet
            # the condition the workflow tests), as contacts.csv imports it
            if self.stage_property and (stage_id not in self.entry_covered
                                        or (lead.get("stage") and stage_id in self.conditional_entries)):
                values[self.stage_property] = stage["slaStage"]
        if not lead.get("owner") and first_owner and self._awaits_handoff(stage_id):
            # the agreement gives the lead to the stage's team with nobody of it assigned yet: the
            # sender's hand-off (a person's assignment) is still to come
            first_owner = None
        owner = self.mapping.user_for(lead.get("owner") or first_owner)
        if owner:
            values["hubspot_owner_id"] = owner
        contact = portal.create_contact(created, {k: v for k, v in values.items() if v is not None}, contact_id="1")
        last = created
        for event in scenario.get("timeline", []):
            at = parse_timestamp(event.get("at", ""), zone)
            if at is None:
                continue
            last = max(last, at)
            self._apply(portal, contact, at, event)
        until = parse_timestamp(scenario["until"], zone) if scenario.get("until") else last
        portal.advance(until, inclusive=True)
        return portal, contact, until, lead_json

    def _apply(self, portal: Portal, contact: Contact, at: datetime, event: dict) -> None:
        kind = event.get("type")
        if kind == "property_changed":
            changes = dict(event.get("properties") or {})
            if "property" in event:
                changes[event["property"]] = event.get("value")
            values = {}
            for ident, value in changes.items():
                name = self.names.get(("property", ident))
                if name:
                    values[name] = self._hubspot_value("property", ident, value)
            portal.update(at, contact, values, source="CRM_UI")
        elif kind == "event_occurred":
            name = self.names.get(("event", event.get("event", "")))
            if name:
                current = float(contact.get(name) or 0)
                portal.update(at, contact, {name: _format(current + int(event.get("count", 1)))}, source="INTEGRATION")
            else:
                portal.advance(at, inclusive=False)
        elif kind == "activity_logged":
            portal.log_engagement(at, contact, ACTIVITY_ENGAGEMENTS.get(event.get("activity", ""), "NOTE"))
        elif kind == "owner_changed":
            portal.update(at, contact, {"hubspot_owner_id": self.mapping.user_for(event.get("owner"))})
        elif kind == "stage_set":
            target = self.stages.get(event.get("stage", ""))
            values = {}
            if target is not None and self.stage_property:
                values[self.stage_property] = target["slaStage"]
            portal.update(at, contact, values)
        else:
            portal.advance(at, inclusive=False)

    # ------------------------------------------------------------------ comparison
    def check(self, scenario: dict) -> ScenarioCheck:
        portal, contact, until, lead = self.run(scenario)
        zone = self.plan.zone
        out: list[Divergence] = []
        if lead is None:
            out.append(Divergence("", "scenario", "the reference simulator did not create the lead"))
            return ScenarioCheck(scenario["id"], out, [], [])
        visits = self._observed_visits(contact)
        self._compare_stages(lead, visits, contact, out)
        self._compare_deadlines(lead, contact, until, out)
        self._compare_escalations(lead, portal, contact, out)
        self._compare_handoffs(lead, portal, out)
        self._compare_follow_ups(lead, portal, until, out)
        self._compare_records(lead, portal, out)
        self._compare_owners(lead, contact, out)
        self._compare_cadences(lead, portal, until, out)
        for workflow, problems in sorted(portal.portal_problems.items()):
            clauses = ", ".join(sorted(self.workflow_clauses.get(workflow, ()))) or workflow
            for rule, message in problems:
                out.append(Divergence(clauses, "unknown semantics", f"{workflow}: [{rule}] {message}"))
        seen: dict[tuple, list[Flag]] = {}
        for flag in portal.flags + portal.spread_conflicts():
            seen.setdefault((flag.workflow, flag.action, flag.rule, flag.message), []).append(flag)
        for (workflow, action, rule, message), flags in seen.items():
            clauses = ", ".join(sorted(self.workflow_clauses.get(workflow, ()))) or workflow
            where = workflow + (f" action {action}" if action else "")
            times = f" (and {len(flags) - 1} more times)" if len(flags) > 1 else ""
            out.append(Divergence(clauses, "unknown semantics",
                                  f"{where} at {_local(flags[0].moment.at, zone)}{times}: [{rule}] {message}"))
        unique = list(dict.fromkeys(out))
        return ScenarioCheck(scenario["id"], unique, reference_timeline(lead, zone),
                             self.hubspot_timeline(portal, contact))

    def _observed_visits(self, contact: Contact) -> list[tuple[str | None, Moment]]:
        by_value = {s.get("slaStage"): sid for sid, s in self.stages.items()}
        out = []
        if self.stage_property is None:
            return out
        for change in contact.history_of(self.stage_property):
            if change.new is not None:
                out.append((by_value.get(change.new, change.new), change.moment))
        return out

    def _compare_stages(self, lead: dict, visits: list, contact: Contact, out: list[Divergence]) -> None:
        zone = self.plan.zone
        expected = [(v["stage"], _parse(v["entered"])) for v in lead["stages"]]
        if self.stage_property is None:
            out.append(Divergence("", "stage path", "no HubSpot property holds the SLA stage (an enumeration with "
                                  "every stage of manifest.json as an option)"))
            return
        got = [(stage, moment) for stage, moment in visits]
        ok = len(expected) == len(got) and all(e[0] == g[0] and same_moment(e[1], g[1]) for e, g in zip(expected, got))
        if not ok:
            want = " → ".join(f"{s} ({_local(t, zone)})" for s, t in expected)
            have = " → ".join(f"{s} ({_local(m.at, zone)}{_spread(m)})" for s, m in got) or "nothing"
            # the clause is that of the first move HubSpot does not make as the agreement does
            first = next((i for i, (e, g) in enumerate(zip(expected, got))
                          if e[0] != g[0] or not same_moment(e[1], g[1])), min(len(expected), len(got)))
            visit = lead["stages"][min(first, len(lead["stages"]) - 1)]
            clause = visit.get("via") or f"stage.{visit['stage']}"
            out.append(Divergence(clause, "stage path", f"agreement: {want}; HubSpot: {have}"))
        for visit in _lasting(lead["stages"]):
            stage = self.stages.get(visit["stage"], {})
            lifecycle = stage.get("lifecycleStage")
            if not lifecycle:
                continue
            entered = _parse(visit["entered"])
            shown = _value_at(contact, "lifecyclestage", entered)
            if shown != lifecycle:
                out.append(Divergence(visit.get("via") or f"stage.{visit['stage']}", "lifecycle stage",
                                      f"in stage `{visit['stage']}` from {_local(entered, zone)} the lifecycle stage is "
                                      f"{shown!r}, not {lifecycle!r}"))

    def _compare_deadlines(self, lead: dict, contact: Contact, until: datetime, out: list[Divergence]) -> None:
        zone = self.plan.zone
        visits = lead["stages"]
        for deadline in lead["deadlines"]:
            clause = deadline["clause"]
            entered = _parse(deadline["entered"])
            left = next((_parse(v["left"]) for v in visits if _parse(v["entered"]) == entered and v.get("left")
                         and v["stage"] == deadline["stage"]), None)
            due = _parse(deadline["due"])
            status = deadline["status"]
            flag = self.flags.get((clause, "breached"))
            window_end = until
            set_true = [c for c in contact.history_of(flag)] if flag else []
            set_true = [c for c in set_true if c.new == "true" and entered <= c.moment.at <= window_end
                        and (left is None or c.moment.at <= max(left, due))]
            if status == "breached":
                if flag is None:
                    out.append(Divergence(clause, "deadline", f"breached at {_local(due, zone)} by the agreement; no "
                                                              "HubSpot property flags a breach of this clause"))
                elif not set_true:
                    out.append(Divergence(clause, "deadline", f"breached at {_local(due, zone)} by the agreement; "
                                                              f"HubSpot never sets `{flag}`"))
                elif not same_moment(due, set_true[0].moment):
                    out.append(Divergence(clause, "breach moment",
                                          f"breached at {_local(due, zone)} by the agreement; HubSpot sets `{flag}` "
                                          f"at {_local(set_true[0].moment.at, zone)}{_spread(set_true[0].moment)}"))
            elif set_true:
                out.append(Divergence(clause, "deadline",
                                      f"{status} by the agreement (due {_local(due, zone)}); HubSpot sets `{flag}` at "
                                      f"{_local(set_true[0].moment.at, zone)}"))
            target_due = deadline.get("target_due")
            target_flag = self.flags.get((clause, "slo_missed"))
            if target_due and target_flag and status in ("met", "at_risk", "breached"):
                target_at = _parse(target_due)
                # within this stay, as for the breach flag: a later stay's flag is that stay's
                missed = [c for c in contact.history_of(target_flag) if c.new == "true"
                          and entered <= c.moment.at <= until and (left is None or c.moment.at <= max(left, target_at))]
                if status == "met" and missed:
                    out.append(Divergence(clause, "target", f"met within the internal target by the agreement; HubSpot "
                                                            f"sets `{target_flag}` at {_local(missed[0].moment.at, zone)}"))
                if status in ("at_risk", "breached") and target_at <= until:
                    if not missed:
                        out.append(Divergence(clause, "target", f"internal target missed at {_local(target_at, zone)}; "
                                                                f"HubSpot never sets `{target_flag}`"))
                    elif not same_moment(target_at, missed[0].moment):
                        out.append(Divergence(clause, "target",
                                              f"internal target missed at {_local(target_at, zone)}; HubSpot sets "
                                              f"`{target_flag}` at {_local(missed[0].moment.at, zone)}"
                                              f"{_spread(missed[0].moment)}"))

    def _enforcing(self, clause: str) -> set[str]:
        return {file for file, clauses in self.workflow_clauses.items() if clause in clauses}

    def _compare_escalations(self, lead: dict, portal: Portal, contact: Contact, out: list[Divergence]) -> None:
        zone = self.plan.zone
        expected = lead["escalations"]
        for escalation in expected:
            clause = escalation["clause"]
            at = _parse(escalation["at"])
            team = escalation["to"]
            members = self.mapping.members(team)
            files = self._enforcing(clause)
            channels = escalation.get("channels") or []
            self._compare_slack(clause, f"escalated to `{team}`", at, channels, files, portal, out)
            if channels and all(c.startswith("slack ") for c in channels):
                continue  # only to Slack: the channel's message above is the escalation
            sent = [n for n in portal.notifications if n.workflow in files and same_moment(at, n.moment)]
            reached = set().union(*(n.users for n in sent)) if sent else set()
            if {"task", "call"} & set(escalation.get("channels") or ()):
                # an escalation by task (or a call task) reaches the team member it is assigned to
                tasks = [t for t in portal.tasks if t.workflow in files and same_moment(at, t.moment)]
                sent += tasks
                reached |= {t.owner for t in tasks if t.owner}
            if not sent:
                out.append(Divergence(clause, "escalation", f"escalated to `{team}` at {_local(at, zone)} by the "
                                                            "agreement; HubSpot sends no notification then"))
            elif not reached & members:
                who = ", ".join(sorted(reached)) or "nobody"
                out.append(Divergence(clause, "escalation", f"escalated to `{team}` at {_local(at, zone)}; HubSpot's "
                                                            f"notification reaches {who}, nobody in `{team}`"))
        for (clause, role), name in self.flags.items():
            if role != "escalated":
                continue
            for change in contact.history_of(name):
                if change.new != "true":
                    continue
                if not any(e["clause"] == clause and same_moment(_parse(e["at"]), change.moment) for e in expected):
                    out.append(Divergence(clause, "escalation", f"HubSpot escalates at {_local(change.moment.at, zone)} "
                                                                "(sets `" + name + "`); the agreement does not"))

    def _compare_slack(self, clause: str, told: str, at: datetime, channels: list[str], files: set[str],
                       portal: Portal, out: list[Divergence], what: str = "escalation") -> None:
        """Each `slack "#channel"` of the clause: a message posted to that channel at that moment
        by a workflow enforcing the clause [S28]."""
        zone = self.plan.zone
        for name in channels:
            if not name.startswith("slack "):
                continue
            channel = name.split(" ", 1)[1]
            if not any(m.workflow in files and m.channel == channel and same_moment(at, m.moment)
                       for m in portal.slack_messages):
                out.append(Divergence(clause, what, f"{told} via Slack {channel} at {_local(at, zone)}; HubSpot posts "
                                                    "nothing to that channel then"))

    def _compare_handoffs(self, lead: dict, portal: Portal, out: list[Divergence]) -> None:
        zone = self.plan.zone
        first = lead["stages"][0] if lead["stages"] else {}
        for handoff in lead["handoffs"]:
            if (first.get("how") == "created" and handoff["stage"] == first.get("stage")
                    and handoff["at"] == first.get("entered") and first.get("stage") not in self.entry_covered):
                continue  # the lead was imported into that stage: an import sends no hand-off (README, fixtures)
            clause = handoff["clause"]
            at = _parse(handoff["at"])
            members = self.mapping.members(handoff.get("to"))
            files = self._enforcing(clause)
            channels = handoff.get("channels", [])
            self._compare_slack(clause, "hand-off", at, channels, files, portal, out, what="hand-off")
            if "task" in channels or "call" in channels:
                tasks = [t for t in portal.tasks if t.workflow in files and same_moment(at, t.moment)]
                if not tasks:
                    out.append(Divergence(clause, "hand-off", f"hand-off task due at {_local(at, zone)}; HubSpot "
                                                              "creates none then"))
                elif not any(t.owner in members for t in tasks):
                    owners = ", ".join(sorted({t.owner or "nobody" for t in tasks}))
                    out.append(Divergence(clause, "hand-off", f"hand-off task at {_local(at, zone)} for "
                                                              f"`{handoff.get('to')}`; HubSpot assigns it to {owners}"))
            for channel, kind in (("email", "email"), ("in_app", "in_app")):
                if channel not in channels:
                    continue
                sent = [n for n in portal.notifications if n.workflow in files and n.channel == kind
                        and same_moment(at, n.moment)]
                reached = set().union(*(n.users for n in sent)) if sent else set()
                if not sent:
                    out.append(Divergence(clause, "hand-off", f"hand-off {channel} at {_local(at, zone)}; HubSpot "
                                                              "sends none then"))
                elif not reached & members:
                    who = ", ".join(sorted(reached)) or "nobody"
                    out.append(Divergence(clause, "hand-off", f"hand-off {channel} at {_local(at, zone)} to "
                                                              f"`{handoff.get('to')}`; HubSpot's reaches {who}"))

    def _compare_follow_ups(self, lead: dict, portal: Portal, until: datetime, out: list[Divergence]) -> None:
        zone = self.plan.zone
        for follow_up in lead["follow_ups"]:
            clause = follow_up["clause"]
            entered = _parse(follow_up["entered"])
            visit = next((v for v in lead["stages"] if _parse(v["entered"]) == entered
                          and v["stage"] == follow_up["stage"]), None)
            owner = (visit or {}).get("owner")
            left = _parse(visit["left"]) if visit and visit.get("left") else None
            members = self.mapping.members(owner)
            files = self._enforcing(clause)
            for step in follow_up["steps"]:
                opens = _parse(step["opens"])
                if opens > until or (left is not None and opens >= left):
                    continue
                tasks = [t for t in portal.tasks if t.workflow in files and same_moment(opens, t.moment)]
                if not tasks:
                    out.append(Divergence(clause, "follow-up", f"follow-up {step['step']} opens at "
                                                               f"{_local(opens, zone)}; HubSpot creates no task then"))
                elif not any(t.owner in members for t in tasks):
                    owners = ", ".join(sorted({t.owner or "nobody" for t in tasks}))
                    out.append(Divergence(clause, "follow-up", f"follow-up {step['step']} task at {_local(opens, zone)} "
                                                               f"for `{owner}`; HubSpot assigns it to {owners}"))

    def _compare_cadences(self, lead: dict, portal: Portal, until: datetime, out: list[Divergence]) -> None:
        """Each period the agreement judges missed (fewer occurrences than the stay there owed)
        must be judged in HubSpot too: the cadence's owner told at the period's end by a workflow
        that enforces the clause. No generated workflow does (manual step SLA849: `sla report`
        measures the periods), so every missed period is a divergence of that clause — a
        scenario with a missed period does not pass against HubSpot because nothing there sees
        it, and a build that claims the clause without telling anyone is caught the same way."""
        zone = self.plan.zone
        for period in lead.get("cadences", ()):
            if period["status"] != "missed":
                continue
            clause = period["clause"]
            end = _parse(period["to"])
            if end > until:
                continue
            team = self.cadence_owner.get(clause)
            members = self.mapping.members(team)
            files = self._enforcing(clause)
            what = (f"{_local(_parse(period['from']), zone)} – {_local(end, zone)}: {period['count']} of "
                    f"{period['required']} {period['event']}, missed by the agreement")
            if not files:
                out.append(Divergence(clause, "cadence", f"{what}; no HubSpot workflow judges it (manual step SLA849: "
                                                         "`sla report` measures each period)"))
                continue
            sent = [n for n in portal.notifications if n.workflow in files and same_moment(end, n.moment)]
            reached = set().union(*(n.users for n in sent)) if sent else set()
            if not sent:
                out.append(Divergence(clause, "cadence", f"{what}; HubSpot tells nobody at {_local(end, zone)}"))
            elif not reached & members:
                who = ", ".join(sorted(reached)) or "nobody"
                out.append(Divergence(clause, "cadence", f"{what}; HubSpot's notification reaches {who}, nobody "
                                                         f"in `{team}`"))
        # and a notice of a period the agreement does not find missed is a false alarm
        missed = {(p["clause"], _parse(p["to"])) for p in lead.get("cadences", ()) if p["status"] == "missed"}
        for clause in sorted(self.cadence_owner):
            files = self._enforcing(clause)
            for note in portal.notifications:
                if note.workflow in files and not any(c == clause and same_moment(end, note.moment)
                                                      for c, end in missed):
                    out.append(Divergence(clause, "cadence", f"HubSpot tells {', '.join(sorted(note.users)) or 'nobody'} "
                                                             f"of a missed period at {_local(note.moment.at, zone)}; "
                                                             "the agreement finds none ending then"))

    def _compare_records(self, lead: dict, portal: Portal, out: list[Divergence]) -> None:
        zone = self.plan.zone
        for record in lead["records"]:
            if not record.get("missing"):
                continue
            clause = record["clause"]
            at = _parse(record["at"])
            files = self._enforcing(clause)
            tasks = [t for t in portal.tasks if t.workflow in files and same_moment(at, t.moment)]
            if not tasks:
                out.append(Divergence(clause, "record", f"{', '.join(record['missing'])} not recorded at "
                                                        f"{_local(at, zone)}; HubSpot creates no task then"))
            elif not any(t.owner for t in tasks):
                out.append(Divergence(clause, "record", f"the task to record {', '.join(record['missing'])} at "
                                                        f"{_local(at, zone)} is assigned to nobody"))

    def _awaits_handoff(self, stage_id: str | None) -> bool:
        """`handoff from X within D`: entering the stage starts the sender's deadline, met when a
        person is assigned the lead."""
        plan = self.plan.stages.get(stage_id or "")
        handoff = plan.stage.handoff if plan is not None else None
        return handoff is not None and handoff.within is not None

    def _compare_handoff_owner(self, lead: dict, visit: dict, contact: Contact, out: list[Divergence]) -> None:
        """A stay that starts with the sender's hand-off deadline: the agreement's owner is the
        stage's team from the hand-off on — the person assigned (met), or, when nobody was by the
        due moment, the team. Before the hand-off nobody is assigned the lead: the workflows
        must not give it to anyone (a rotation at entry would take the hand-off from the sender)."""
        zone = self.plan.zone
        entered = _parse(visit["entered"])
        record = next((d for d in lead["deadlines"] if d["kind"] == "handoff" and d["stage"] == visit["stage"]
                       and _parse(d["entered"]) == entered), None)
        if record is None:
            return
        left = _parse(visit["left"]) if visit.get("left") else None
        moment = None
        if record["status"] == "met" and record.get("at"):
            moment = _parse(record["at"])
        elif record["status"] == "breached":
            moment = _parse(record["due"])
        end = moment if moment is not None else left
        # a stage the lead passed through at this very moment (a chained move) gave it that stage's
        # team, as the agreement does: the rotation of the workflow that moved it there is not a
        # hand-off in this stay, the lead arrives with that owner
        passed = {file for v in lead["stages"] if v.get("via") and v.get("left")
                  and _parse(v["entered"]) == entered == _parse(v["left"]) for file in self._enforcing(v["via"])}
        for change in contact.history_of("hubspot_owner_id"):
            if change.moment.at == entered and change.source[len("WORKFLOW:"):].split("#")[0] in passed:
                continue
            if (change.source.startswith("WORKFLOW:") and entered <= change.moment.at
                    and (end is None or change.moment.at < end)):
                out.append(Divergence(record["clause"], "owner",
                                      f"in stage `{visit['stage']}` nobody is assigned the lead before the hand-off "
                                      f"({record['status']}, due {_local(_parse(record['due']), zone)}); HubSpot gives "
                                      f"it to {change.new or 'nobody'} at {_local(change.moment.at, zone)}"))
                break
        if moment is None or (left is not None and moment >= left):
            return
        owner = visit.get("owner")
        for change in visit.get("owner_changes") or []:
            if _parse(change["at"]) <= moment:
                owner = change["owner"]
        shown = _value_at(contact, "hubspot_owner_id", moment)
        if owner is not None and shown not in self.mapping.members(owner):
            out.append(Divergence(record["clause"], "owner",
                                  f"in stage `{visit['stage']}` from the hand-off at {_local(moment, zone)} the owner "
                                  f"is `{owner}`; HubSpot's contact owner is {shown or 'nobody'}"))

    def _compare_owners(self, lead: dict, contact: Contact, out: list[Divergence]) -> None:
        zone = self.plan.zone
        for visit in _lasting(lead["stages"]):
            owner = visit.get("owner")
            if owner is None:
                continue
            if self._awaits_handoff(visit["stage"]):
                self._compare_handoff_owner(lead, visit, contact, out)
                continue
            entered = _parse(visit["entered"])
            shown = _value_at(contact, "hubspot_owner_id", entered)
            if shown not in self.mapping.members(owner):
                out.append(Divergence(visit.get("via") or f"stage.{visit['stage']}", "owner",
                                      f"in stage `{visit['stage']}` from {_local(entered, zone)} the owner is "
                                      f"`{owner}`; HubSpot's contact owner is {shown or 'nobody'}"))

    # ------------------------------------------------------------------ timelines for the report
    def hubspot_timeline(self, portal: Portal, contact: Contact) -> list[str]:
        zone = self.plan.zone
        rows: list[tuple[datetime, int, str]] = []
        interesting = {self.stage_property, "lifecyclestage", "hubspot_owner_id", *self.flags.values()}
        for change in contact.history:
            if change.property in interesting:
                who = change.source.split(":", 1)[1] if change.source.startswith("WORKFLOW:") else change.source.lower()
                rows.append((change.moment.at, 0, (f"{_local(change.moment.at, zone)}{_spread(change.moment)}  "
                                                  f"{change.property} = {change.new if change.new is not None else '(cleared)'}"
                                                  f"  [{who}]")))
        for task in portal.tasks:
            rows.append((task.moment.at, 1, (f"{_local(task.moment.at, zone)}{_spread(task.moment)}  task "
                                            f"“{task.subject}” for {task.owner or 'nobody'}  [{task.workflow}]")))
        for note in portal.notifications:
            rows.append((note.moment.at, 1, (f"{_local(note.moment.at, zone)}{_spread(note.moment)}  {note.channel} "
                                            f"“{note.subject}” to {', '.join(sorted(note.users)) or 'nobody'}  "
                                            f"[{note.workflow}]")))
        rows.sort(key=lambda r: (r[0], r[1]))
        return [text for _, _, text in rows]


def reference_timeline(lead: dict, zone: ZoneInfo) -> list[str]:
    rows: list[tuple[datetime, str]] = []

    def row(at: str, text: str) -> None:
        moment = _parse(at)
        rows.append((moment, f"{_local(moment, zone)}  {text}"))

    for visit in lead["stages"]:
        row(visit["entered"], f"enters {visit['stage']}" + (f" (owner {visit['owner']})" if visit.get("owner") else ""))
    for deadline in lead["deadlines"]:
        row(deadline["due"], f"{deadline['clause']} due: {deadline['status']}")
    for escalation in lead["escalations"]:
        row(escalation["at"], f"{escalation['clause']}: escalated to {escalation['to']}")
    for handoff in lead["handoffs"]:
        row(handoff["at"], f"{handoff['clause']}: hand-off to {handoff.get('to')} "
                           f"({', '.join(handoff.get('channels', []))})")
    for follow_up in lead["follow_ups"]:
        for step in follow_up["steps"]:
            row(step["opens"], f"{follow_up['clause']} step {step['step']}: {step['status']}")
    rows.sort(key=lambda r: r[0])
    return [text for _, text in rows]


# ------------------------------------------------------------------ helpers

_HUBSPOT_TYPES = {"number": "number", "text": "string", "enum": "enumeration", "bool": "bool", "date": "date",
                  "datetime": "datetime"}


def _format(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _spread(moment: Moment) -> str:
    return f" (+≤{int(moment.spread.total_seconds() // 60)} min)" if moment.spread else ""


def _lasting(visits: list[dict]) -> list[dict]:
    """Stays that last: a stage left at the moment it was entered (a chained move) shows nothing
    in HubSpot that could be observed."""
    return [v for v in visits if v.get("left") is None or v["left"] != v["entered"]]


def _value_at(contact: Contact, name: str, at: datetime) -> str | None:
    """The property's value once everything that happened at `at` has happened."""
    value = None
    for change in contact.history:
        if change.property != name:
            continue
        if change.moment.at > at:
            break
        value = change.new
    return value


def check_scenarios(policy: ir.Policy, bundle: HubSpotBundle, scenarios: list[dict],
                    mapping: PortalMapping | None = None) -> list[ScenarioCheck]:
    replay = HubSpotReplay(policy, bundle, mapping)
    return [replay.check(s) for s in scenarios]

