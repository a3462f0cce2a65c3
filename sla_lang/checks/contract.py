"""What the signed agreement needs as a contract: a term, an accountable team for every
responsibility, and a stated data source for every KPI (seed 001's 測定方法 column); and
translations of its texts that still match them.

These are warnings (errors under `--strict`): a policy can be checked and built without them,
but a head of sales reading the PDF would ask "until when?", "who answers for this row?" and
"measured how?". The agreement's expiry is judged by `sla check --today`, like review dates.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import ir
from ..diagnostics import Diagnostic, Related, Severity, define_rule, Message
from . import CheckContext, check
from .graph import agreement_anchor

AGREEMENT_WITHOUT_TERM = define_rule(
    "SLA720",
    "agreement-without-term",
    Severity.WARNING,
    "The agreement does not say how long it runs.",
    explanation="A contract states its term: from the `effective` date for how long, and "
    "whether it then renews. Without it nobody can tell whether the signed document still "
    "applies next year. Write `term 12 months` (or `term until 2027-03-31`) in the agreement "
    "block, and `renews automatically` or `renews after review sla_review` when it does not "
    "simply expire.",
    bad='agreement "SLA" {\n  version "1.0"\n  effective 2026-04-01\n}',
    good='agreement "SLA" {\n  version "1.0"\n  effective 2026-04-01\n  term 12 months\n  renews automatically\n}',
)
RESPONSIBILITY_WITHOUT_ACCOUNTABLE = define_rule(
    "SLA721",
    "responsibility-without-accountable",
    Severity.WARNING,
    "A row of the responsibilities (RACI) table names no accountable team.",
    explanation="In a RACI table the *accountable* team answers for the outcome of the task "
    "(exactly one owner of the result; the responsible teams do the work). A row without one "
    "leaves the \"A\" column blank in the signed agreement, which is the gap the table exists "
    "to close. When the team that does the work also answers for it, name it in both roles.",
    bad='responsibilities {\n  "Lead acquisition" responsible marketing consulted sales\n}',
    good='responsibilities {\n  "Lead acquisition" responsible marketing accountable marketing consulted sales\n}',
)
KPI_WITHOUT_DATA_SOURCE = define_rule(
    "SLA722",
    "kpi-without-data-source",
    Severity.WARNING,
    "A KPI does not say where its figures come from.",
    explanation="Both parties must be able to check a KPI the same way: the agreement states "
    "how it is measured — a CRM report, a dashboard, a field — with `source \"…\"` in the KPI "
    "block (seed 001's 測定方法 column: \"HubSpot funnel report\", \"lifecycle stage change "
    "date\"). Deadlines may state theirs too (`respond within 24h source \"…\"`).",
    bad='kpi mql_to_sql "MQL to SQL" {\n  measure rate mql -> sql per month\n  target >= 20%\n}',
    good='kpi mql_to_sql "MQL to SQL" {\n  measure rate mql -> sql per month\n  target >= 20%\n'
    '  source "HubSpot funnel report"\n}',
)
KPI_TARGET_TO_BE_AGREED = define_rule(
    "SLA723",
    "kpi-target-to-be-agreed",
    Severity.INFO,
    "A KPI's target is still to be agreed.",
    explanation="`target to be agreed` records that the parties will measure a KPI but have not "
    "settled its target yet (seed 001 writes \"月○件以上\"). The agreement prints it that way "
    "and the simulator reports the KPI without a status; this note (information, not a "
    "warning: the parties wrote it on purpose) is the reminder to agree the number. A KPI "
    "that is only monitored simply has no `target` line and gets no note.",
    bad='kpi mql_count "Monthly MQLs" {\n  measure count mql per month\n  target to be agreed\n}',
    good='kpi mql_count "Monthly MQLs" {\n  measure count mql per month\n  target >= 120\n}',
)
AGREEMENT_EXPIRED = define_rule(
    "SLA724",
    "agreement-expired",
    Severity.WARNING,
    "The agreement's term has ended and it does not renew automatically.",
    explanation="With `term 12 months` (or `term until DATE`) and no `renews automatically`, the "
    "agreement stops applying after its last day. When that day is before `--today` the "
    "signed document no longer binds anyone: renew it (a new `effective` date or a longer "
    "term, signed again) or say how it renews. The date is judged by `sla check --today "
    "YYYY-MM-DD` (default: today).",
    bad='agreement "SLA" {\n  effective 2024-04-01\n  term 12 months\n}',
    good='agreement "SLA" {\n  effective 2026-04-01\n  term 12 months\n  renews automatically\n}',
)


UNUSED_TRANSLATION = define_rule(
    "SLA725",
    "unused-translation",
    Severity.WARNING,
    "A translation translates a text the policy does not contain, or into the policy's own language.",
    explanation="`translation ja { \"Lead score\" \"リードスコア\" }` gives the wording of a text of "
    "the policy in a document built in another language (`sla build --lang ja`). It matches the "
    "text exactly, so when a label is edited its translation silently stops applying and the "
    "document falls back to the untranslated text. A translation whose text appears nowhere in "
    "the policy is reported so it can be updated; so is a `translation` block in the policy's "
    "own `language`, which no document reads.",
    bad='stage mql "Marketing qualified lead" {\n…\ntranslation ja {\n  "Marketing-qualified lead" "MQL"\n}',
    good='stage mql "Marketing qualified lead" {\n…\ntranslation ja {\n  "Marketing qualified lead" "MQL"\n}',
)


@check(UNUSED_TRANSLATION)
def find_unused_translations(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    if not policy.translations:
        return
    texts = _policy_texts(policy)
    for block in policy.translations:
        if block.id == policy.language:
            yield Diagnostic(
                UNUSED_TRANSLATION,
                Message("`translation {block}` translates into the policy's own language: no document reads it", block=block.id),
                block.name_span,
                help=Message("texts in the policy's language are shown as written; translate into the other language"),
            )
            continue
        for entry in block.entries:
            if entry.source not in texts:
                yield Diagnostic(
                    UNUSED_TRANSLATION,
                    Message('`translation {block}` translates "{source}", which the policy does not contain', block=block.id, source=entry.source),
                    entry.span,
                    help=Message('update it to the text as the policy now writes it, or delete it'),
                )


def _policy_texts(policy: ir.Policy) -> set[str]:
    """Every string in the IR outside the translation blocks (labels, descriptions, options …)."""
    out: set[str] = set()
    stack: list[object] = [getattr(policy, f) for f in policy.__dataclass_fields__ if f not in ("translations", "extra")]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.add(node)
        elif isinstance(node, (tuple, list)):
            stack.extend(node)
        elif hasattr(node, "__dataclass_fields__"):
            stack.extend(getattr(node, f) for f in node.__dataclass_fields__ if f not in ("span", "name_span"))
    return out


INFORMATION_WITHOUT_ANCHOR = define_rule(
    "SLA726",
    "information-deadline-without-start",
    Severity.WARNING,
    "An information duty has a deadline but does not say from when it counts.",
    explanation="`\"The outcome of every MQL\" within 2bd` leaves open what the two business days "
    "count from, so nobody can tell whether it was kept. Name the event it counts from — a lead "
    "entering or leaving a stage: `within 2bd after leaving mql` — or, for a periodic report, "
    "its period: `every month within 5bd` counts from the end of each month. With "
    "`recorded in PROPERTY` the simulator and the fixtures then check it lead by lead.",
    bad='information from sales to marketing {\n  "The outcome of every MQL" within 2bd\n}',
    good='information from sales to marketing {\n  "The outcome of every MQL" within 2bd after leaving mql '
    'recorded in lead_quality\n}',
)


@check(INFORMATION_WITHOUT_ANCHOR)
def find_information_without_anchor(ctx: CheckContext) -> Iterator[Diagnostic]:
    for block in ctx.policy.information:
        for item in block.items:
            if item.within is not None and item.anchor is None and item.every is None:
                yield Diagnostic(
                    INFORMATION_WITHOUT_ANCHOR,
                    Message('"{item}" is due within {within}, but of what is not said', item=item.text, within=item.within.text),
                    item.within.span,
                    help=Message('add when it counts from: `within {within} after leaving STAGE` (or `entering`), or `every month` for a periodic report', within=item.within.text),
                )


@check(AGREEMENT_WITHOUT_TERM, AGREEMENT_EXPIRED)
def find_agreement_term_problems(ctx: CheckContext) -> Iterator[Diagnostic]:
    agreement = ctx.policy.agreement
    if agreement is None:
        return
    term = agreement.term
    if term is None:
        yield Diagnostic(
            AGREEMENT_WITHOUT_TERM,
            Message('the agreement does not say how long it runs'),
            agreement_anchor(ctx.policy),
            help=Message('add `term 12 months` (or `term until YYYY-MM-DD`) to the agreement block, and `renews automatically` if it continues by itself'),
        )
        return
    effective = agreement.effective.value if agreement.effective else None
    try:
        last = term.last_day(effective)
    except (OverflowError, ValueError):
        return
    if last is None:
        return
    if effective is not None and last < effective:
        yield Diagnostic(
            AGREEMENT_EXPIRED,
            Message('the term ends on {date}, before the agreement takes effect on {effective}', date=last.isoformat(), effective=effective.isoformat()),
            term.span,
            help=Message('give a term that ends after the effective date'),
            related=(Related(agreement.effective.span, Message('effective date')),),
        )
        return
    if term.renewal != "automatic" and ctx.today > last:
        yield Diagnostic(
            AGREEMENT_EXPIRED,
            Message("the agreement's term ended on {date} and is not renewed automatically (judged on {today})",
                    date=last.isoformat(), today=ctx.today.isoformat())
            if term.renewal is None else
            Message("the agreement's term ended on {date} (judged on {today})", date=last.isoformat(), today=ctx.today.isoformat()),
            term.span,
            help=Message('sign a renewed agreement (a new `effective` date or a longer `term`), or add `renews automatically`'),
        )


@check(RESPONSIBILITY_WITHOUT_ACCOUNTABLE)
def find_responsibilities_without_accountable(ctx: CheckContext) -> Iterator[Diagnostic]:
    for row in ctx.policy.responsibilities:
        if row.accountable:
            continue
        who = ", ".join(f"`{n.name}`" for n in row.responsible)
        yield Diagnostic(
            RESPONSIBILITY_WITHOUT_ACCOUNTABLE,
            Message('"{task}" names no accountable team', task=row.task),
            row.span,
            help=(Message('add `accountable TEAM` — the team that answers for the result (it may be {who} itself)', who=who) if who else Message('add `accountable TEAM` — the team that answers for the result')),
        )


@check(KPI_WITHOUT_DATA_SOURCE, KPI_TARGET_TO_BE_AGREED)
def find_kpis_without_data_source(ctx: CheckContext) -> Iterator[Diagnostic]:
    for kpi in ctx.policy.kpis:
        if kpi.source is None:
            yield Diagnostic(
                KPI_WITHOUT_DATA_SOURCE,
                Message('KPI `{kpi}` does not say where its figures come from', kpi=kpi.id),
                kpi.name_span,
                help=Message('add `source "…"`: the report, dashboard or CRM field both parties read it from'),
            )
        if kpi.target_pending:
            yield Diagnostic(
                KPI_TARGET_TO_BE_AGREED,
                Message('the target of KPI `{kpi}` is still to be agreed', kpi=kpi.id),
                kpi.name_span,
                help=Message('agree the number and write it: `target >= …`'),
            )
