"""Recognising what a team or a stage *is*: the sales team, the MQL stage, the opportunity …

The completeness and liveness rules need to know which stage is the MQL and which team is
Sales. A policy says it explicitly where it can (a team's `role`, a stage's `hubspot`
lifecycle stage); otherwise names and labels are read, in English and Japanese. The
heuristics, in the order they are tried, are stated in the rule explanations too:

Teams — the declared `role` wins; otherwise the id (split at `_`) and the label are matched:
  inside sales: `inside`, `is`, `sdr`, `bdr`, インサイド
  operations:   `ops`, `operations`, `revops`, `planning`, 企画, 推進
  management:   `manager(s)`, `management`, マネージャー, 管理職
  customer success: `cs`, `success`, サクセス
  marketing:    `marketing`, `mkt`, マーケ
  sales:        `sales`, `ae`, `field`, 営業, セールス
  and a team with none of these takes its parent's (`part of`) role.

Stages — by id or label first, the HubSpot lifecycle stage only when no stage matches by name
(a SAL is often mapped to HubSpot's `marketingqualifiedlead`, but it is not the MQL):
  MQL: `MQL` as a word, "marketing qualified", マーケティング・クオリファイド
  SQL: `SQL` as a word, "sales qualified", セールス・クオリファイド
  opportunity: `opportunity`, `deal`, 商談, 案件
"""

from __future__ import annotations

import re
from functools import lru_cache

from .. import ir

SALES_SIDE = ("sales", "inside_sales")

_TEAM_PATTERNS: tuple[tuple[str, frozenset[str], re.Pattern[str]], ...] = (
    ("inside_sales", frozenset({"inside", "is", "sdr", "bdr"}),
     re.compile(r"inside|インサイド|(?<![A-Za-z])(?:IS|SDR|BDR)(?![A-Za-z])")),
    ("operations", frozenset({"ops", "operations", "revops", "salesops", "planning", "enablement"}),
     re.compile(r"operations|(?<![A-Za-z])ops(?![A-Za-z])|planning|企画|推進", re.IGNORECASE)),
    ("management", frozenset({"manager", "managers", "management", "leadership"}),
     re.compile(r"manager|management|マネージャー|マネジャー|管理職", re.IGNORECASE)),
    ("customer_success", frozenset({"cs", "success"}),
     re.compile(r"success|サクセス", re.IGNORECASE)),
    ("marketing", frozenset({"marketing", "mkt", "mktg"}),
     re.compile(r"marketing|マーケ", re.IGNORECASE)),
    ("sales", frozenset({"sales", "ae", "field"}),
     re.compile(r"sales|営業|セールス|account exec|(?<![A-Za-z])AE(?![A-Za-z])", re.IGNORECASE)),
)


def team_role(policy: ir.Policy, team_id: str | None) -> str | None:
    """The role a team plays: declared, recognised from its name, or inherited from its parent."""
    seen: set[str] = set()
    while team_id is not None and team_id not in seen:
        seen.add(team_id)
        team = policy.team_by_id.get(team_id)
        if team is None:
            return None
        if team.role:
            return team.role
        guessed = _guess_role(team.id, team.label)
        if guessed:
            return guessed
        team_id = team.parent.name if team.parent else None
    return None


@lru_cache(maxsize=4096)
def _guess_role(team_id: str, label: str) -> str | None:
    tokens = frozenset(team_id.lower().split("_"))
    for role, words, pattern in _TEAM_PATTERNS:
        if tokens & words or pattern.search(label) or pattern.search(team_id):
            return role
    return None


def is_sales_side(policy: ir.Policy, team_id: str | None) -> bool:
    """Sales or inside sales: the teams that receive leads and owe them follow-up."""
    return team_role(policy, team_id) in SALES_SIDE


def stage_owner(stage: ir.Stage) -> str | None:
    return stage.owner.name if stage.owner else None


# ------------------------------------------------------------------ stages

_STAGE_NAMES = {
    "mql": re.compile(
        r"(?<![A-Za-z])MQL(?![A-Za-z])|marketing[\s_-]*qualified|マーケティング[・･]?クオリファイド", re.IGNORECASE
    ),
    "sql": re.compile(
        r"(?<![A-Za-z])SQL(?![A-Za-z])|sales[\s_-]*qualified|セールス[・･]?クオリファイド", re.IGNORECASE
    ),
    "opportunity": re.compile(r"opportunit|(?<![A-Za-z])deals?(?![A-Za-z])|商談|案件", re.IGNORECASE),
}
_STAGE_LIFECYCLE = {"mql": "marketingqualifiedlead", "sql": "salesqualifiedlead", "opportunity": "opportunity"}


def stages_of_kind(policy: ir.Policy, kind: str) -> list[ir.Stage]:
    """The stages that are the MQL (`mql`), SQL (`sql`) or opportunity (`opportunity`) stage.

    Terminal stages never count (a "closed deal" is not the opportunity stage). Worked out once
    per policy and kind (several checks ask, and each answer reads every stage)."""
    known = policy.extra.setdefault("recognition.stages_of_kind", {})
    if kind not in known:
        known[kind] = _stages_of_kind(policy, kind)
    return list(known[kind])


def _stages_of_kind(policy: ir.Policy, kind: str) -> list[ir.Stage]:
    pattern = _STAGE_NAMES[kind]
    stages = [s for s in policy.stage_by_id.values() if not s.is_terminal]
    by_name = [s for s in stages if pattern.search(s.id.replace("_", " ")) or pattern.search(s.label)]
    if kind == "opportunity":
        # "商談化の見込み" (likely to become a deal) is an SQL label, not the opportunity stage
        by_name = [s for s in by_name if not _STAGE_NAMES["sql"].search(s.label) and not _STAGE_NAMES["sql"].search(s.id)]
    if by_name:
        return by_name
    lifecycle = _STAGE_LIFECYCLE[kind]
    return [s for s in stages if s.hubspot is not None and s.hubspot.name == lifecycle]
