"""What the HubSpot target cannot express (SLA820–SLA849).

Two kinds of gaps, two severities:
- *info*: an inherent limit of HubSpot's public API or of CRM automation itself (score rules
  cannot be written through the API, review meetings are not automation). Nothing in the
  policy is wrong; an admin has a manual step to do.
- *warning*: a policy construct maps to HubSpot only approximately (business time counted in
  wall-clock time, a Slack channel, a team without HubSpot users). The generated workflows
  still run, but differ from the agreement until the manual step is done.

Every such diagnostic has a matching entry in `manifest.json` → `manualSteps`.
"""

from __future__ import annotations

from ...diagnostics import Severity, define_rule

INVALID_OUTPUT = define_rule(
    "SLA820",
    "hubspot-invalid-output",
    Severity.ERROR,
    "Generated HubSpot JSON fails its own schema or graph check (a bug in sla).",
    explanation="Every file the HubSpot target writes is checked before it is written: each "
    "workflow's action graph (unique ids, each action reachable from `startActionId`, no dangling "
    "`nextActionId`, no cycle and no second STANDARD edge into an action — joins use GOTO), the shape "
    "of every action and property, and that every property a workflow uses is created or listed as "
    "existing. (The full JSON Schemas in `targets/hubspot/` and HubSpot's published OpenAPI spec are "
    "checked by the test suite.) A failure means sla generated something HubSpot would reject, so "
    "nothing is written. The message names the file and the JSON path. Please report it with the policy.",
    bad="(no policy causes this on purpose)",
    good="(report the policy that triggered it)",
)

SLACK_MANUAL = define_rule(
    "SLA821",
    "hubspot-slack-manual",
    Severity.WARNING,
    "A Slack channel cannot be reached from a workflow created through the API.",
    explanation="HubSpot's \"Send Slack notification\" action belongs to the Slack integration; its "
    "action type id differs per portal and the v4 API cannot create it. The workflow is generated "
    "without it and the manifest lists a manual step saying where to add it. This happens only "
    "without custom code (`custom-code = false`): with it, the workflow posts by itself through the "
    "channel's Slack incoming webhook, whose URL is a custom code secret (SLA838). Another way to "
    "have the workflow post by itself is a Slack Workflow Builder webhook trigger named with "
    "`webhook \"https://hooks.slack.com/triggers/…\"`: that becomes a WEBHOOK action.",
    bad='handoff from marketing {\n  notify slack "#sales-mql", email\n}',
    good='handoff from marketing {\n  notify webhook "https://hooks.slack.com/triggers/T0/1/abc", email\n}',
)

USERS_NEEDED = define_rule(
    "SLA822",
    "hubspot-users-needed",
    Severity.WARNING,
    "A team has no HubSpot ids in [tool.sla.hubspot]: escalations to it, or owners from it, are not enforced.",
    explanation="A policy names teams (`sales_managers`); HubSpot workflows address users and "
    "teams by numeric ids that differ per portal. They come from the portal mapping in "
    "pyproject.toml: `[tool.sla.hubspot.teams.TEAM]` with `team-id` (notifications to the team) and "
    "`user-ids` (owner rotation and tasks). With it, a lead entering a stage of another team is "
    "given an owner of that team (\"Rotate record to owner\") and escalations reach the escalation "
    "team. Without it that clause is not enforced: the workflow still sets its flags, the manifest "
    "lists the clause as a manual step, and nothing is sent to the contact owner in its place.",
    bad="escalate to sales_managers after 24h via email      # no [tool.sla.hubspot.teams.sales_managers]",
    good='[tool.sla.hubspot.teams.sales_managers]\nteam-id = "4021"\nuser-ids = ["101", "102"]',
)

BUSINESS_TIME = define_rule(
    "SLA823",
    "hubspot-business-time",
    Severity.WARNING,
    "Without custom code, a business-time duration is a fixed wall-clock wait: checked early, never late.",
    explanation="A workflow delay counts wall-clock time. With `custom-code = true` under "
    "[tool.sla.hubspot] (the default; needs Operations Hub Professional) a custom code action "
    "computes each due moment from the stage's calendar and the workflow waits until it: exact. "
    "Without it the workflow waits the *shortest* wall-clock time the duration can take, so a "
    "deadline or escalation is checked at or before its due moment — a lead is never judged in "
    "time when it was late, but one that responds or moves on between the check and the real due "
    "moment is flagged (around holidays the check can come days early: the message and the "
    "manifest's `timers` give the exact bound for the years the build lists). A timeout (`-> X "
    "after 5bd`) waits the *longest* time instead, so a lead is never moved before its time. A "
    "transition with both a condition and a time (`-> X when C after 2d`) starts waiting when C "
    "becomes true, which may be long after the lead entered the stage: without custom code the "
    "move may then come up to the whole wait late (also for calendar units).",
    bad="decide within 5bd     # with custom-code = false",
    good="decide within 7d      # or custom-code = true, or accept the bound",
)

SCORING_MANUAL = define_rule(
    "SLA824",
    "hubspot-scoring-manual",
    Severity.INFO,
    "HubSpot score rules cannot be written through the public API.",
    explanation="HubSpot's lead scoring (the scoring tool and the older `hubspotscore`) is set up in "
    "the HubSpot UI. The HubSpot target writes the rules to `scoring.json` in a form an admin can "
    "enter by hand and lists that as a manual step; workflows still filter on the score property.",
    bad="score lead_score \"Lead score\" {\n  group fit \"Fit\" max 40 { +15 \"Director\" when job_level == \"director\" }\n}",
    good="(keep it: enter the rules from scoring.json in HubSpot)",
)

SCORE_PROPERTY_MISSING = define_rule(
    "SLA825",
    "hubspot-score-property-missing",
    Severity.WARNING,
    "A score used in criteria names no HubSpot score property.",
    explanation="Workflows read a score from a HubSpot property. Without `hubspot NAME` the target "
    "assumes a score property named after the score, which an admin must create in HubSpot's "
    "scoring tool (the Properties API cannot create score properties). `sla deploy` reports it "
    "as missing until it exists.",
    bad='score engagement "Engagement" {\n  …\n}',
    good='score engagement "Engagement" {\n  hubspot engagement_score\n  …\n}',
)

CONDITION_NOT_EXPRESSIBLE = define_rule(
    "SLA826",
    "hubspot-condition-not-expressible",
    Severity.WARNING,
    "A condition cannot be written as HubSpot filters; its workflow is not generated.",
    explanation="Criteria become HubSpot list filters (OR of AND groups of property filters). "
    "Some conditions have no such filter: a score group (`lead_score.fit`), comparisons of dates, "
    "a number in a list, or criteria too large once expanded. Rather than generate a looser or "
    "stricter workflow, the HubSpot target leaves that workflow out and lists a manual step.",
    bad="-> sql when lead_score.fit >= 20",
    good="-> sql when lead_score >= 60",
)

EVENT_WITHOUT_PROPERTY = define_rule(
    "SLA827",
    "hubspot-event-without-property",
    Severity.WARNING,
    "An event used in criteria names no HubSpot property that counts it.",
    explanation="HubSpot workflows filter on properties. For an event without `hubspot NAME` the "
    "target creates a number property named after the event, but nothing in HubSpot fills it in: "
    "map the event to a property HubSpot maintains (e.g. `hubspot hs_analytics_num_page_views`) "
    "or keep it up to date yourself, as the manual step says.",
    bad='event pricing_page_view "Viewed the pricing page"',
    good='event pricing_page_view "Viewed the pricing page" hubspot pricing_page_views',
)

NAME_NOT_USABLE = define_rule(
    "SLA828",
    "hubspot-name-not-usable",
    Severity.WARNING,
    "An identifier cannot be a HubSpot internal property name; a derived name is used.",
    explanation="HubSpot internal names are lower-case ASCII letters, digits and `_`, start with a "
    "letter and may not start with `hs_` (reserved). Identifiers that are not (e.g. Japanese names) "
    "get a stable derived name such as `sla_x1a2b3c4d`, which is harder to recognise in HubSpot.",
    bad='property 温度感 "温度感" enum ["hot", "cold"]',
    good='property temperature "温度感" enum ["hot", "cold"]',
)

ENTRY_AMBIGUOUS = define_rule(
    "SLA829",
    "hubspot-entry-ambiguous",
    Severity.WARNING,
    "Two entry stages map to the same HubSpot lifecycle stage; only the first gets an entry workflow.",
    explanation="A contact enters the agreement at the entry stage whose `hubspot` lifecycle stage "
    "it has. When two entry stages share one (a sales-generated lead and a marketing lead are both "
    "`lead`), HubSpot cannot tell them apart: contacts enter the first one, and someone must set "
    "the SLA stage of the others by hand (the manual step says how).",
    bad="stage lead \"Lead\" { entry\n hubspot lead }\nstage sgl \"SGL\" { entry\n hubspot lead }",
    good="stage sgl \"SGL\" { entry\n hubspot other }   # or accept the manual step",
)

STAGE_WITHOUT_LIFECYCLE = define_rule(
    "SLA830",
    "hubspot-stage-without-lifecycle",
    Severity.INFO,
    "A stage has no HubSpot lifecycle stage; only the SLA stage property records it.",
    explanation="Every stage is recorded in the custom property `sla_stage`. Stages with "
    "`hubspot LIFECYCLESTAGE` also set HubSpot's lifecycle stage; without it, the lifecycle stage "
    "is left as it is when a lead enters the stage.",
    bad='stage nurture "Nurture" {\n  recycle\n}',
    good='stage nurture "Nurture" {\n  recycle\n  hubspot lead\n}',
)

CHANNEL_NOT_SUPPORTED = define_rule(
    "SLA831",
    "hubspot-channel-not-supported",
    Severity.WARNING,
    "A notification channel has no workflow action; it becomes a manual step.",
    explanation="Hand-off and escalation channels map to workflow actions: `email` to an internal "
    "email notification, `in_app` to an in-app notification, `task` and `call` to a task, "
    "`webhook` to a WEBHOOK action. `sms` and `meeting` have no such action for internal "
    "notifications (SMS needs an add-on; a meeting is booked by a person).",
    bad='notify sms, email',
    good='notify email, task',
)

TIME_WINDOW_SIMPLIFIED = define_rule(
    "SLA832",
    "hubspot-time-window-simplified",
    Severity.WARNING,
    "A calendar's working hours do not fit HubSpot's execution windows exactly.",
    explanation="A workflow's execution windows hold one time range per weekday. A calendar with "
    "several ranges in a day (a lunch break) is widened to one range from the first start to the "
    "last end, so a notification may arrive during the break. A calendar without working hours "
    "or days gets no execution window at all.",
    bad="hours 09:00 to 12:00, 13:00 to 18:00",
    good="hours 09:00 to 18:00",
)

BLOCKED_DATES_EXPIRE = define_rule(
    "SLA833",
    "hubspot-blocked-dates-expire",
    Severity.INFO,
    "HubSpot blocked dates are fixed dates: public holidays are listed for two years only.",
    explanation="The calendar's public holidays and closed dates become each workflow's blocked "
    "dates for the year the agreement takes effect and the next. Rebuild and update the workflows "
    "before then (the manual step gives the date).",
    bad="holidays JP",
    good="(keep it: rebuild before the listed date)",
)

OUTSIDE_CRM = define_rule(
    "SLA834",
    "hubspot-outside-crm",
    Severity.INFO,
    "A clause is not CRM automation (a meeting, a report, a signature); it is a manual step.",
    explanation="Review meetings, KPI reports, signatures of the agreement and information that "
    "must be passed on within a time are kept by people, not by workflows. So is counting the "
    "sends of a nurture cadence (`cadence at least 2 nurture_email per month`) when the sends are made "
    "outside the build: HubSpot's published workflow API has no trigger that fires on each send, "
    "so each send must add 1 to the cadence's counter property (never reset: the build's "
    "workflows count each period from its value at the period's start). The HubSpot target lists each as a manual step (build the report, "
    "schedule the meeting, add 1 to the counter …) so nothing in the agreement is silently left "
    "out of the CRM set-up.",
    bad='review weekly "Weekly lead review" {\n  every week\n}',
    good="(keep it: schedule the meeting as the manual step says)",
)

BACKFILL = define_rule(
    "SLA835",
    "hubspot-backfill",
    Severity.INFO,
    "Contacts that are already past the entry stages need their SLA stage set once.",
    explanation="Entry workflows put new contacts into the agreement. Contacts already at a later "
    "lifecycle stage when the workflows are turned on have no `sla_stage`, so no deadline applies "
    "to them until someone sets it (an import or a one-off bulk edit).",
    bad="(any policy)",
    good="(set `sla_stage` for existing contacts once, as the manual step says)",
)


TIMEZONE_MISMATCH = define_rule(
    "SLA837",
    "hubspot-timezone-mismatch",
    Severity.WARNING,
    "The portal's time zone (from [tool.sla.hubspot]) differs from a calendar whose execution windows could not be converted to it.",
    explanation="HubSpot runs a workflow's execution windows and blocked dates in the portal's "
    "time zone (an account setting the API cannot change per workflow). Task due dates carry the "
    "calendar's zone and custom code computes due moments in it, so only the windows of follow-ups "
    "built without custom code depend on the portal's zone. The build rewrites them in the portal's "
    "zone when the two zones differ by the same amount all through the covered years and the "
    "working day stays within one portal day (Asia/Tokyo to UTC, Europe/Berlin to Europe/London); "
    "otherwise (Asia/Tokyo to America/New_York: New York changes its clocks, Tokyo does not) they "
    "stay in the calendar's zone, and follow-up tasks of a Tokyo calendar would be created in New "
    "York business hours. `sla deploy` compares the zone the manifest names with the account's; "
    "this warning comes from the `timezone` you configured.",
    bad='[tool.sla.hubspot]\ntimezone = "America/New_York"     # calendar in Asia/Tokyo',
    good='[tool.sla.hubspot]\ntimezone = "Asia/Tokyo"',
)

CUSTOM_CODE = define_rule(
    "SLA838",
    "hubspot-custom-code",
    Severity.INFO,
    "Workflows compute due moments with custom code: the portal needs Operations Hub Professional and a token secret.",
    explanation="With `custom-code = true` (the default) every workflow that waits for a deadline, "
    "an escalation, a follow-up or a timeout starts with a CUSTOM_CODE action (Python) that computes "
    "the exact moments from the stage's calendar — working hours, public holidays, closed days, "
    "time zone — and writes them into datetime properties, which the workflow then waits for. The "
    "code writes through HubSpot's CRM API with a private-app token that must be stored as the "
    "custom code secret `SLA_LANG_HUBSPOT_TOKEN` (scope crm.objects.contacts.write); the manual "
    "step says so. If the code cannot run, the workflow falls back to the conservative waits of "
    "`custom-code = false`. A check of `respond … via call` also reads the contact's calls (scope "
    "crm.objects.contacts.read), and a `slack \"#channel\"` is posted by custom code to the channel's "
    "incoming webhook, whose URL must be stored as the secret the manual step names "
    "(`SLA_LANG_SLACK_<CHANNEL>`); HubSpot's API has no way to check secrets, so these are manual "
    "steps. Portals without Operations Hub Professional cannot create these "
    "workflows: set `custom-code = false` under [tool.sla.hubspot].",
    bad="(any policy with deadlines, built with custom-code = true)",
    good="(keep it: add the secret once, as the manual step says)",
)

UNKNOWN_TEAM_MAPPING = define_rule(
    "SLA839",
    "hubspot-unknown-team-mapping",
    Severity.WARNING,
    "[tool.sla.hubspot.teams.X] names a team the policy does not have.",
    explanation="The portal mapping in pyproject.toml is keyed by the policy's team and party ids. "
    "A table for an id the policy does not declare is ignored — usually a typo, which leaves the "
    "real team without ids (SLA822).",
    bad="[tool.sla.hubspot.teams.salse]",
    good="[tool.sla.hubspot.teams.sales]",
)

CLEAR_BY_HAND = define_rule(
    "SLA840",
    "hubspot-clear-by-hand",
    Severity.WARNING,
    "Without custom code, moving the lifecycle stage back needs HubSpot's \"Clear property value\" action, added by hand.",
    explanation="HubSpot moves a contact's lifecycle stage only forward unless it is cleared first, so "
    "a recycle path (MQL → nurture) must clear it. HubSpot documents two ways: the CRM API with an "
    "empty value — which the generated custom code uses — and the workflow editor's \"Clear property "
    "value\" action, for which the v4 API documents no action type. Without custom code the "
    "workflow sets an empty value there instead (undocumented for workflows); replace that action "
    "by the editor's \"Clear property value\" action as the manual step says.",
    bad="-> nurture when intent == \"not_now\"     # with custom-code = false",
    good="(keep it: replace the action by hand, or use custom code)",
)

CHAINED_MOVE = define_rule(
    "SLA841",
    "hubspot-chained-move",
    Severity.WARNING,
    "A change that moves a lead into a stage and meets that stage's exit at once moves it only one step in HubSpot.",
    explanation="The agreement checks the new stage at once after a move, with the same change: a lead "
    "created with a score *and* a \"not now\" is qualified and recycled at that moment. HubSpot's "
    "workflows see a contact's data, not the change that brought it: a condition that already holds "
    "when the lead arrives must not move it (a recycled lead would bounce straight back), so the "
    "generated workflows wait for it to become true again, and cannot tell that it became true by the "
    "very change that brought the lead. Such a lead stays in the first stage until the next condition "
    "becomes true again; the manual step says which leads to move by hand. Reported only for the "
    "exits whose condition one lead's data can meet together with a condition that brings leads into "
    "the stage (decided by the same bounded condition model as the checks: `buying_intent == \"yes\"` "
    "into a stage left by `buying_intent == \"no\"` is no chained move); the help gives such data.",
    bad="-> mql when lead_score >= 50      # and in mql: -> nurture when not consent",
    good="(keep it: check new leads that already meet both conditions, as the manual step says)",
)

NOT_ENFORCED = define_rule(
    "SLA849",
    "hubspot-not-enforced",
    Severity.WARNING,
    "A lead obligation the generated workflows do not check; the manifest gives the manual step.",
    explanation="Some obligations of the language have no workflow in the HubSpot build yet: the "
    "sender's hand-off deadline (`handoff from … within`), which new contacts an `entry when …` "
    "stage takes, information due after a lead enters or leaves a stage (`within … after leaving "
    "mql`), … Each is reported once with what to set up by hand (a workflow with a delay and an "
    "if/then branch on the contact owner, an enrolment filter …) and listed in `manifest.json` → "
    "`manualSteps`, so the agreement is never silently enforced only in part.",
    bad="handoff from marketing within 2h {",
    good="(keep it: build the check the manual step describes)",
)
