"""Diagnostics of the simulator, `sla test` and the fixtures target (SLA850–SLA879).

Most of these are about an *events file* (JSON Lines), not about a policy: they point at the
line of the events file, and at the column of the offending key when it can be found.
"""

from __future__ import annotations

from ..diagnostics import Severity, define_rule

MALFORMED_EVENT = define_rule(
    "SLA850",
    "malformed-event-line",
    Severity.ERROR,
    "A line of the events file is not a JSON object.",
    explanation="An events file has one JSON object per line (JSON Lines). Blank lines and lines "
    "starting with `#` or `//` are skipped; anything else that is not a JSON object is reported "
    "and skipped, and the simulation goes on with the next line.",
    bad='{"at": "2026-04-01T10:00:00+09:00", "lead": "L1", "type": "lead_created",',
    good='{"at": "2026-04-01T10:00:00+09:00", "lead": "L1", "type": "lead_created"}',
)
INVALID_EVENT = define_rule(
    "SLA851",
    "invalid-event",
    Severity.ERROR,
    "An event lacks a field it needs, or a field has the wrong form.",
    explanation="Every event needs `at` (an ISO 8601 timestamp such as 2026-04-01T10:00:00+09:00), "
    "`lead` (the lead's id) and `type` (lead_created, property_changed, event_occurred, "
    "activity_logged, owner_changed or stage_set); each type has its own fields (see the README). "
    "The event is skipped.",
    bad='{"at": "2026-04-01 10:00", "lead": "L1", "type": "activity_logged", "activity": "fax"}',
    good='{"at": "2026-04-01T10:00:00+09:00", "lead": "L1", "type": "activity_logged", "activity": "call"}',
)
UNKNOWN_LEAD = define_rule(
    "SLA852",
    "unknown-lead",
    Severity.ERROR,
    "An event names a lead that no earlier `lead_created` event created.",
    explanation="A lead exists from its `lead_created` event on. Events for a lead id that was "
    "never created (often a typo, or events exported before the lead was) are skipped.",
    bad='{"at": "2026-04-01T10:00:00Z", "lead": "L2", "type": "activity_logged", "activity": "call"}',
    good='{"at": "2026-04-01T09:00:00Z", "lead": "L2", "type": "lead_created"}\n'
    '{"at": "2026-04-01T10:00:00Z", "lead": "L2", "type": "activity_logged", "activity": "call"}',
)
DUPLICATE_LEAD = define_rule(
    "SLA853",
    "duplicate-lead",
    Severity.ERROR,
    "A `lead_created` event reuses the id of a lead that already exists.",
    explanation="Lead ids are unique. The second `lead_created` is skipped; use "
    "`property_changed` to change an existing lead.",
    bad='{"at": "…", "lead": "L1", "type": "lead_created"}\n{"at": "…", "lead": "L1", "type": "lead_created"}',
    good='{"at": "…", "lead": "L1", "type": "lead_created"}\n{"at": "…", "lead": "L1", "type": "property_changed", …}',
)
OUT_OF_ORDER = define_rule(
    "SLA854",
    "event-out-of-order",
    Severity.ERROR,
    "An event is earlier than an event of the same lead on an earlier line.",
    explanation="The simulator plays each lead's events in file order and cannot go back in "
    "time: deadlines and timeouts up to the later event have already been settled. The "
    "earlier-dated event is skipped. Sort the file by time (events of different leads may "
    "interleave freely).",
    bad='{"at": "2026-04-02T10:00:00Z", "lead": "L1", …}\n{"at": "2026-04-01T10:00:00Z", "lead": "L1", …}',
    good='{"at": "2026-04-01T10:00:00Z", "lead": "L1", …}\n{"at": "2026-04-02T10:00:00Z", "lead": "L1", …}',
)
UNKNOWN_PROPERTY = define_rule(
    "SLA855",
    "unknown-property",
    Severity.ERROR,
    "An event sets a property the policy does not declare.",
    explanation="Only declared properties can be set (criteria, hand-offs and recycle reasons "
    "read them). The unknown property is left out; the rest of the event is applied.",
    bad='"properties": {"buying_intnet": "yes"}',
    good='"properties": {"buying_intent": "yes"}',
)
INVALID_PROPERTY_VALUE = define_rule(
    "SLA856",
    "invalid-property-value",
    Severity.ERROR,
    "An event gives a property a value of the wrong type, or not one of an enum's options.",
    explanation="number properties take numbers, bool properties true/false, enum properties one "
    "of their options, date properties YYYY-MM-DD, datetime properties an ISO timestamp, text "
    "properties text; `null` clears a property. The value is left out; the rest of the event is "
    "applied.",
    bad='"properties": {"buying_intent": "Yes", "employees": "many"}',
    good='"properties": {"buying_intent": "yes", "employees": 120}',
)
UNKNOWN_EVENT_NAME = define_rule(
    "SLA857",
    "unknown-event-name",
    Severity.ERROR,
    "An `event_occurred` event names an event the policy does not declare.",
    explanation="Events such as a pricing-page view are declared with `event NAME` so criteria can "
    "count them. An undeclared event is skipped.",
    bad='{"type": "event_occurred", "event": "pricing_view", …}',
    good='{"type": "event_occurred", "event": "pricing_page_view", …}',
)
UNKNOWN_STAGE = define_rule(
    "SLA858",
    "unknown-stage",
    Severity.ERROR,
    "A `lead_created` or `stage_set` event names a stage the policy does not declare.",
    explanation="Stages are the policy's `stage` names (not their labels, not HubSpot's lifecycle "
    "values). The event is skipped.",
    bad='{"type": "stage_set", "stage": "SQL", …}',
    good='{"type": "stage_set", "stage": "sql", …}',
)
OFF_POLICY_MOVE = define_rule(
    "SLA859",
    "off-policy-move",
    Severity.WARNING,
    "A person moved a lead to a stage that no transition of its current stage leads to.",
    explanation="`stage_set` records a move made by hand. When the policy has a transition from the "
    "current stage to the new one, the move counts as that transition (and its `record` "
    "requirement applies); otherwise the move is applied but is outside the agreement, which is "
    "what this warns about.",
    bad='{"type": "stage_set", "stage": "customer", …}   # lead is in mql; mql has no -> customer',
    good='{"type": "stage_set", "stage": "sql", …}        # mql -> sql exists',
)
TRANSITION_LOOP = define_rule(
    "SLA860",
    "transition-loop",
    Severity.WARNING,
    "Transitions taken at one moment would bring a lead back to a stage it just entered.",
    explanation="After a move the new stage's transitions are evaluated at once (chained moves). "
    "A chain that returns to a stage it has already entered at the same moment would never end; "
    "the simulator stops it before the repeated stage and reports the transition that closed "
    "the loop.",
    bad='stage a {\n  -> b\n}\nstage b {\n  -> a\n}',
    good='stage a {\n  -> b when ready\n}\nstage b {\n  -> a after 30d\n}',
)
NO_ENTRY = define_rule(
    "SLA862",
    "lead-without-entry-stage",
    Severity.WARNING,
    "A new lead without a `stage` meets the entry condition of no stage.",
    explanation="A `lead_created` event without `stage` starts the lead in the first entry stage "
    "whose `entry when …` condition its data meets, else in the first entry stage without a "
    "condition. When every entry stage has a condition and the lead meets none, the agreement "
    "does not cover it (the CRM's entry workflows would not enrol it either): the lead is not "
    "created and its later events are skipped without further diagnostics.",
    bad='stage sgl {\n  entry when created_by_sales\n}\n{"type": "lead_created", "lead": "L1", …}   # not by sales',
    good='stage lead {\n  entry\n}\nstage sgl {\n  entry when created_by_sales\n}',
)
DEADLINE_NOT_COMPUTABLE = define_rule(
    "SLA861",
    "deadline-not-computable",
    Severity.ERROR,
    "A business-time duration cannot be turned into a due time (no calendar, or no working time).",
    explanation="`bh` and `bd` count working time in the stage's calendar. Without a calendar, or "
    "with one that has no working hours, the simulator cannot say when the deadline, timeout or "
    "follow-up is due and leaves it out.",
    bad='stage mql {\n  respond within 8bh      # and no calendar anywhere\n}',
    good='calendar office {\n  timezone "Asia/Tokyo"\n  days mon, tue, wed, thu, fri\n  hours 09:00 to 18:00\n}',
)
FIXTURE_COVERAGE = define_rule(
    "SLA865",
    "fixture-coverage",
    Severity.INFO,
    "How much of the policy the generated scenarios cover.",
    explanation="`sla build --target fixtures` prints the share of transitions, boundaries and "
    "clauses covered by the generated scenarios; coverage.json lists each item with the scenarios "
    "that cover it.",
    bad="(informational)",
    good="fixtures: 40 scenarios; transitions 12/12 (100%), boundaries 30/30 (100%), clauses 41/41 (100%)",
)
UNCOVERED = define_rule(
    "SLA866",
    "uncovered-by-fixtures",
    Severity.WARNING,
    "No generated scenario covers a transition, a boundary or a clause.",
    explanation="The fixtures generator builds a lead for every transition, boundary pair and "
    "clause it can reach. When it cannot, it says why: an earlier transition always wins, a "
    "condition no lead data can satisfy, a timeout that always fires first … Usually the policy "
    "has a real problem there.",
    bad='stage lead {\n  -> archived after 30d\n  -> mql when lead_score >= 50 after 60d   # the timeout always wins\n}',
    good='stage lead {\n  -> mql when lead_score >= 50\n  -> archived after 30d\n}',
)
INVALID_SCENARIO_FILE = define_rule(
    "SLA867",
    "invalid-scenario-file",
    Severity.ERROR,
    "A scenario file cannot be read, is not JSON, or does not follow the scenario format.",
    explanation="`sla test` reads scenarios.json (written by `sla build --target fixtures`) and "
    "your own scenarios kept next to the policy (`NAME.scenarios.json` or "
    "`NAME.scenarios/*.json`). Each scenario needs an `id`, a `lead` and an `expect`; the "
    "format is described in the README and in targets/fixtures/scenarios.schema.json.",
    bad='{"scenarios": [{"id": "hot-lead", "timeline": []}]}',
    good='{"scenarios": [{"id": "hot-lead", "lead": {"id": "L1", "created": "2026-04-01T10:00:00+09:00"}, '
    '"timeline": [], "expect": {"final_stage": "lead"}}]}',
)
STALE_FIXTURES = define_rule(
    "SLA868",
    "fixtures-from-another-policy",
    Severity.WARNING,
    "The scenarios were generated from a different version of the policy.",
    explanation="scenarios.json records the fingerprint of the policy it was generated from. When "
    "the policy changed since, some expectations may no longer hold: that is what `sla test` "
    "is for. Regenerate the fixtures once the change is intended.",
    bad="$ sla test policies/acme.sla --fixtures build/fixtures   # policy edited since the build",
    good="$ sla build policies/acme.sla -t fixtures -o build/fixtures && sla test policies/acme.sla --fixtures build/fixtures",
)
STALE_HUBSPOT_BUILD = define_rule(
    "SLA869",
    "hubspot-build-from-another-policy",
    Severity.WARNING,
    "The HubSpot build tested with `sla test --against hubspot DIR` was made from another version of the policy.",
    explanation="manifest.json records the fingerprint of the policy its workflows were generated from. When the "
    "policy changed since, the workflows enforce the old agreement and scenarios of the new one are expected to "
    "diverge. Rebuild the HubSpot target, or test without DIR to build it from the policy now.",
    bad="$ sla test policies/acme.sla --against hubspot build/hubspot   # policy edited since the build",
    good="$ sla build policies/acme.sla -t hubspot -o build/hubspot && sla test policies/acme.sla --against hubspot build/hubspot",
)
SEARCH_BUDGET = define_rule(
    "SLA879",
    "fixture-search-budget",
    Severity.WARNING,
    "Generating fixtures used up its search budget: some boundaries get no scenario.",
    explanation="For each boundary the fixtures target searches for lead data that puts a "
    "quantity just inside and just outside it. A score of many rules can make that search "
    "combinatorial (which events add up to exactly 49 points?), so all searches of one build "
    "share a budget of constraint evaluations. When it runs out the build still finishes: the "
    "boundaries not yet covered are listed in coverage.json with this reason, and the warning "
    "names the score that made the searches expensive. Fewer rules (or coarser points) in that "
    "score, or fewer thresholds on it, make every boundary coverable again.",
    bad='score engagement {\n  group g max 100 {\n    +3 "Opened 1" when e1 >= 1\n    +7 "Opened 2" when e2 >= 2\n'
    '    …   # 18 event rules with uneven points, thresholds at 50 and 80\n  }\n}',
    good='score engagement {\n  group g max 100 {\n    +10 "Opened emails" when email_open >= 3\n    +20 "Viewed pricing" '
    'when pricing_page_view\n  }\n}',
)
