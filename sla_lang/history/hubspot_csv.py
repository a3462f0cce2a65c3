"""Reading contacts' history from a HubSpot contacts export (CSV), for teams without API access.

A contacts export has one row per contact with the *current* values, plus HubSpot's dated
columns. What is read (headers as HubSpot writes them, English or Japanese lifecycle labels):

- `Record ID` and `Create Date` (required);
- `Date entered "<stage> (Lifecycle Stage Pipeline)"` (and the older `Became a <stage> Date`):
  each becomes an entry into the policy stage that declares that lifecycle value, at that date;
- `Lifecycle Stage` when no dated column says how the contact got there: the contact is created
  in it;
- `Contact owner` (or `HubSpot Owner ID`): the owner at creation (an export has no owner history);
- `Call dates`, `Email dates`, `Meeting dates`: `;`-separated moments, one activity each (an
  export of the activities, joined by record id — a contacts export alone has only the *last*
  contact date, which cannot say when the first touch was);
- a column named like a policy property (its HubSpot name, its id or its label): an export has
  no date for a current value, so the value is used only where its moment does not matter —
  a property no condition reads is set at creation; a property a move records (`record P`) is
  set at the moment of that move; a property that conditions read (it would move the lead at a
  made-up moment) is left out and counted.

Moments without an offset are read in the portal's time zone (`[tool.sla.hubspot] timezone`,
else the agreement's). A bad row is a diagnostic at `file:line:column` and is skipped.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import IO

from .. import ir
from ..diagnostics import Diagnostic
from ..message import Message
from ..source import Span
from .mapping import LIFECYCLE, OWNER, Change, ContactHistory, Mapping, Skipped, parse_moment
from .rules import BAD_HISTORY_ROW

LIFECYCLE_LABELS = {
    "subscriber": "subscriber", "lead": "lead", "marketing qualified lead": "marketingqualifiedlead",
    "sales qualified lead": "salesqualifiedlead", "opportunity": "opportunity", "customer": "customer",
    "evangelist": "evangelist", "other": "other",
    "サブスクライバー": "subscriber", "リード": "lead", "マーケティングクオリファイドリード": "marketingqualifiedlead",
    "セールスクオリファイドリード": "salesqualifiedlead", "商談": "opportunity", "顧客": "customer",
    "エバンジェリスト": "evangelist", "その他": "other",
}
_ENTERED = re.compile(r'^Date entered ["“](?P<stage>.+?)(?: \(Lifecycle Stage Pipeline\))?["”]$', re.IGNORECASE)
_BECAME = re.compile(r"^Became an? (?P<stage>.+?) Date$", re.IGNORECASE)
ID_COLUMNS = ("Record ID", "Contact ID", "レコードID")
CREATED_COLUMNS = ("Create Date", "Create date", "作成日")
OWNER_COLUMNS = ("Contact owner", "HubSpot Owner ID", "Contact Owner", "コンタクト担当者")
ACTIVITY_COLUMNS = {"call dates": "call", "email dates": "email", "meeting dates": "meeting"}
LAST_TOUCH_COLUMNS = ("Last Contacted", "Last Activity Date")


def lifecycle_value(label: str) -> str | None:
    text = label.strip()
    return LIFECYCLE_LABELS.get(text.lower(), LIFECYCLE_LABELS.get(text)) or (
        text if text in LIFECYCLE_LABELS.values() else None)


def read_export(handle: IO[str], shown_path: str, mapping: Mapping, skipped: Skipped, zone,
                diagnostics: list[Diagnostic]) -> Iterator[ContactHistory]:
    policy = mapping.policy
    lines = _numbered(handle)
    reader = csv.reader(line for _, line in lines)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.lstrip("\ufeff").strip() for h in header]
    columns = {name: i for i, name in enumerate(header)}
    id_col = next((columns[c] for c in ID_COLUMNS if c in columns), None)
    created_col = next((columns[c] for c in CREATED_COLUMNS if c in columns), None)
    if id_col is None or created_col is None:
        missing = [n[0] for n, c in ((ID_COLUMNS, id_col), (CREATED_COLUMNS, created_col)) if c is None]
        message = (Message("the export has no `{first}` and `{second}` columns; nothing was imported",
                           first=missing[0], second=missing[1]) if len(missing) == 2
                   else Message("the export has no `{column}` column; nothing was imported", column=missing[0]))
        diagnostics.append(Diagnostic(BAD_HISTORY_ROW, message, Span(shown_path, 1, 1, 1, 2),
                                      help=Message("export the contacts from HubSpot with the Record ID and Create "
                                                   "Date columns")))
        return
    entered: list[tuple[int, str]] = []  # (column, lifecycle value)
    activity_cols: list[tuple[int, str]] = []
    property_cols: list[tuple[int, ir.Property, str]] = []  # (column, property, how it is used)
    by_name = _property_columns(policy, mapping)
    condition_reads = _condition_reads(policy)
    recorded = {name.name for s in policy.stages for t in s.transitions for name in t.record}
    lifecycle_col = columns.get("Lifecycle Stage", columns.get("ライフサイクルステージ"))
    owner_col = next((columns[c] for c in OWNER_COLUMNS if c in columns), None)
    last_touch = [columns[c] for c in LAST_TOUCH_COLUMNS if c in columns]
    for i, name in enumerate(header):
        match = _ENTERED.match(name) or _BECAME.match(name)
        if match:
            value = lifecycle_value(match["stage"])
            if value is None:
                skipped.add(f"column {name!r}: not a lifecycle stage HubSpot defines", f"{shown_path}:1:{i + 1}")
            else:
                entered.append((i, value))
            continue
        if name.lower() in ACTIVITY_COLUMNS:
            activity_cols.append((i, ACTIVITY_COLUMNS[name.lower()]))
            continue
        prop = by_name.get(name.casefold())
        if prop is not None:
            use = "record" if prop.id in recorded else ("skip" if prop.id in condition_reads else "create")
            property_cols.append((i, prop, use))
    seen: set[str] = set()
    previous = lines.current  # the line the header ended on
    for row in reader:
        line = previous + 1  # the line this row starts on (a quoted field may span lines)
        previous = lines.current
        if not any(cell.strip() for cell in row):
            continue

        def where(col: int, line: int = line) -> str:
            return f"{shown_path}:{line}:{col + 1}"

        def cell(col: int | None, row: list[str] = row) -> str:
            return row[col].strip() if col is not None and col < len(row) else ""

        contact_id = cell(id_col)
        if not contact_id:
            diagnostics.append(_bad(shown_path, line, id_col, Message("the row has no record id"), header))
            skipped.add("row without a record id", where(id_col))
            continue
        if contact_id in seen:
            diagnostics.append(_bad(shown_path, line, id_col, Message(
                "record {record} appears twice; the second row is skipped", record=contact_id), header))
            skipped.add("record id seen twice", where(id_col))
            continue
        created = parse_moment(cell(created_col), zone)
        if created is None:
            problem = (Message("record {record}: `{column}` is {value!r}, not a date", record=contact_id,
                               column=header[created_col], value=cell(created_col)) if cell(created_col)
                       else Message("record {record}: `{column}` is empty", record=contact_id,
                                    column=header[created_col]))
            diagnostics.append(_bad(shown_path, line, created_col, problem, header))
            skipped.add("row without a readable creation date", where(created_col))
            continue
        seen.add(contact_id)
        history = ContactHistory(contact_id, created, where=f"{shown_path}:{line}")
        dated_stages = []
        for col, value in entered:
            text = cell(col)
            if not text:
                continue
            at = parse_moment(text, zone)
            if at is None:
                skipped.add(f"{header[col]}: not a date", where(col) + f" ({text!r})")
                continue
            dated_stages.append((at, value, col))
        dated_stages.sort()
        if not dated_stages and lifecycle_col is not None and cell(lifecycle_col):
            value = lifecycle_value(cell(lifecycle_col))
            if value is None:
                skipped.add(f"Lifecycle Stage {cell(lifecycle_col)!r}: not a lifecycle stage HubSpot defines",
                            where(lifecycle_col))
            else:
                dated_stages.append((created, value, lifecycle_col))
        for at, value, col in dated_stages:
            history.changes.append(Change(max(at, created), LIFECYCLE, value, where(col)))
        if owner_col is not None and cell(owner_col):
            history.changes.append(Change(created, OWNER, cell(owner_col), where(owner_col)))
        for col, prop, use in property_cols:
            text = cell(col)
            if not text:
                continue
            name = mapping_name(mapping, prop)
            if use == "skip":
                skipped.add(f"{header[col]}: a current value without a date, and conditions read it",
                            where(col))
                continue
            moment = created
            if use == "record":
                moment = _recording_move(policy, prop, dated_stages, mapping) or created
            history.changes.append(Change(moment, name, text, where(col)))
        for col, kind in activity_cols:
            for piece in filter(None, (p.strip() for p in cell(col).split(";"))):
                at = parse_moment(piece, zone)
                if at is None:
                    skipped.add(f"{header[col]}: not a date", where(col) + f" ({piece!r})")
                    continue
                history.activities.append((at, kind, where(col)))
        for col in last_touch:
            if cell(col):
                skipped.add(f"{header[col]}: only the last touch is in a contacts export (add Call/Email/Meeting "
                            "dates columns)", where(col))
        yield history


def mapping_name(mapping: Mapping, prop: ir.Property) -> str:
    return next(name for name, p in mapping.properties.items() if p is prop)


def _recording_move(policy: ir.Policy, prop: ir.Property, dated_stages, mapping: Mapping):
    """The moment of the first move (by the export's dates) along a transition that records `prop`."""
    targets = {t.target.name for s in policy.stages for t in s.transitions if any(n.name == prop.id for n in t.record)}
    for at, value, _ in dated_stages:
        stages = {s.id for s in mapping.stages_by_lifecycle.get(value, [])}
        if stages & targets:
            return at
    return None


def _property_columns(policy: ir.Policy, mapping: Mapping) -> dict[str, ir.Property]:
    out: dict[str, ir.Property] = {}
    for name, prop in mapping.properties.items():
        for key in (name, prop.id, prop.label):  # HubSpot capitalises labels its own way ("First Name")
            out.setdefault(key.casefold(), prop)
    return out


def _condition_reads(policy: ir.Policy) -> set[str]:
    from ..simulate.engine import Plan

    plan = Plan(policy)
    reads: set[str] = set()
    for stage in plan.stages.values():
        reads |= stage.reads.names  # a stage's Reads: its own names and the shared score sets
        for score in stage.reads.scores:
            reads |= score
    return reads


def _bad(path: str, line: int, col: int | None, problem: Message, header: list[str]) -> Diagnostic:
    column = (col or 0) + 1
    if col is not None and col < len(header):
        problem = Message("{problem} (column {number}, `{header}`)", problem=problem, number=column, header=header[col])
    return Diagnostic(BAD_HISTORY_ROW, problem, Span(path, line, column, line, column + 1),
                      help=Message("fix or remove the row in the export and import again"))


class _numbered:
    """The lines of a text file, remembering the number of the line a CSV row started on."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.number = 0
        self.current = 0

    def __iter__(self):
        for text in self.handle:
            self.number += 1
            self.current = self.number
            yield self.number, text
