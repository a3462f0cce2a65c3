"""Diagnostics of the history import (SLA870): a row of a HubSpot export that cannot be read,
at its line and column. Values that cannot be mapped are counted per reason in the import's
summary instead (they are not errors of the export)."""

from __future__ import annotations

from ..diagnostics import Severity, define_rule

BAD_HISTORY_ROW = define_rule(
    "SLA870",
    "bad-history-row",
    Severity.ERROR,
    "A row of the HubSpot export cannot be read: no record id, or no creation date.",
    explanation="`sla import --from csv` needs, in every row, the contact's `Record ID` and `Create Date` "
    "(how HubSpot names the columns of a contacts export). A row without them is skipped and "
    "counted; the other rows are imported.",
    bad="Record ID,Create Date,Lifecycle Stage\n101,,Lead",
    good="Record ID,Create Date,Lifecycle Stage\n101,2026-11-02 10:00,Lead",
)
