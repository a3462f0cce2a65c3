"""Policy conditions → HubSpot list filters.

HubSpot's enrolment and if/then branches take a filter tree whose root is an OR branch of AND
branches of property filters (Lists API filter format, used by the v4 automation API for
`listFilterBranch` and `ApiListBranch.filterBranch`; see
https://developers.hubspot.com/docs/api-reference/legacy/crm/lists/list-filters and the
`Public*PropertyOperation` schemas of HubSpot's published v4 automation OpenAPI spec). A
condition is therefore brought into disjunctive normal form with every `not` pushed down to
a comparison (De Morgan), and each comparison becomes one filter.

Missing values. A comparison on a property with no value is false (`employees >= 50` does not
hold for a contact without an employee count), except the negative forms (`!=`, `not in`,
`is not set`, and any comparison reached through a `not`), which hold. Event counts and scores
count from 0, so for them the filter includes contacts without a value exactly when 0
satisfies the comparison. This is `includeObjectsWithNoValueSet`.

What has no filter (a score group, comparisons with dates, a number in a list) is reported as a
reason; the caller then leaves the workflow out and lists a manual step.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from ... import ir
from .catalog import Catalog

MAX_GROUPS = 50  # AND groups after expansion; beyond this a workflow becomes unreadable

_NEGATE = {"==": "!=", "!=": "==", ">=": "<", "<": ">=", "<=": ">", ">": "<="}
_NUMBER_OPERATORS = {
    "==": "IS_EQUAL_TO",
    "!=": "IS_NOT_EQUAL_TO",
    ">=": "IS_GREATER_THAN_OR_EQUAL_TO",
    ">": "IS_GREATER_THAN",
    "<=": "IS_LESS_THAN_OR_EQUAL_TO",
    "<": "IS_LESS_THAN",
}
_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}

Leaf = tuple[object, bool]  # (comparison node, negated)


@dataclass(frozen=True)
class Unexpressible:
    """Why a condition has no HubSpot filter: a message key of texts.py and its values."""

    key: str
    values: tuple[tuple[str, str], ...] = ()


class FilterError(Exception):
    def __init__(self, reason: Unexpressible) -> None:
        super().__init__(reason.key)
        self.reason = reason


# ------------------------------------------------------------------ building blocks


def property_filter(prop: str, operation: dict) -> dict:
    return {"filterType": "PROPERTY", "property": prop, "operation": operation}


def enum_filter(prop: str, values: list[str], *, negated: bool = False) -> dict:
    return property_filter(prop, {
        "operationType": "ENUMERATION",
        "operator": "IS_NONE_OF" if negated else "IS_ANY_OF",
        "values": list(values),
        "includeObjectsWithNoValueSet": negated,
    })


def known_filter(prop: str, *, known: bool = True) -> dict:
    return property_filter(prop, {
        "operationType": "ALL_PROPERTY",
        "operator": "IS_KNOWN" if known else "IS_UNKNOWN",
        "includeObjectsWithNoValueSet": not known,
    })


def after_property_filter(prop: str, other: str) -> dict:
    """`prop` is later than the date in property `other` (COMPARATIVE_DATE, IS_AFTER)."""
    return _date_comparison(prop, "IS_AFTER", other)


def before_property_filter(prop: str, other: str) -> dict:
    """`prop` is earlier than the date in property `other` (COMPARATIVE_DATE, IS_BEFORE)."""
    return _date_comparison(prop, "IS_BEFORE", other)


def _date_comparison(prop: str, operator: str, other: str) -> dict:
    return property_filter(prop, {
        "operationType": "COMPARATIVE_DATE",
        "operator": operator,
        "comparisonPropertyName": other,
        "includeObjectsWithNoValueSet": False,
    })


def bool_filter(prop: str, value: bool) -> dict:
    """A yes/no property has `value` (a missing value is neither)."""
    return property_filter(prop, {
        "operationType": "BOOL",
        "operator": "IS_EQUAL_TO",
        "value": value,
        "includeObjectsWithNoValueSet": False,
    })


def and_branch(filters: list[dict]) -> dict:
    return {"filterBranchType": "AND", "filterBranchOperator": "AND", "filterBranches": [], "filters": filters}


def or_branch(groups: list[list[dict]]) -> dict:
    """The root of every filter tree: OR → AND → filters."""
    return {
        "filterBranchType": "OR",
        "filterBranchOperator": "OR",
        "filterBranches": [and_branch(g) for g in groups],
        "filters": [],
    }


def not_before(prop: str, other: str) -> dict:
    """`prop` has a value and it is not earlier than the date in `other` (a moment equal to it
    counts): IS_KNOWN and NOT_ANY of IS_BEFORE, an AND branch to put in an OR root."""
    return {"filterBranchType": "AND", "filterBranchOperator": "AND",
            "filterBranches": [{"filterBranchType": "NOT_ANY", "filterBranchOperator": "NOT_ANY",
                                "filterBranches": [], "filters": [before_property_filter(prop, other)]}],
            "filters": [known_filter(prop)]}


def property_changed(prop: str, value: str | None = None) -> dict:
    """Re-enrolment trigger "property `prop` changed (to `value`)".

    HubSpot expresses it as the property-change event (4-655002) refined by its `hs_name` and
    `hs_value` attributes (shared/hubspot.md; the shape exported workflows carry)."""
    value_filter = (
        property_filter("hs_value", {"operationType": "STRING", "operator": "IS_EQUAL_TO", "value": value,
                                     "includeObjectsWithNoValueSet": False})
        if value is not None
        else property_filter("hs_value", {"operationType": "ALL_PROPERTY", "operator": "IS_KNOWN",
                                          "includeObjectsWithNoValueSet": False})
    )
    return {
        "filterBranchType": "UNIFIED_EVENTS",
        "filterBranchOperator": "AND",
        "eventTypeId": "4-655002",
        "operator": "HAS_COMPLETED",
        "filterBranches": [],
        "filters": [
            property_filter("hs_name", {"operationType": "STRING", "operator": "IS_EQUAL_TO", "value": prop,
                                        "includeObjectsWithNoValueSet": False}),
            value_filter,
        ],
    }


# ------------------------------------------------------------------ conditions


def normal_form(condition: ir.Condition, negated: bool = False) -> list[list[Leaf]]:
    """Disjunctive normal form: a list of AND groups of (leaf, negated)."""
    if isinstance(condition, ir.Negation):
        return normal_form(condition.item, not negated)
    if isinstance(condition, (ir.AllOf, ir.AnyOf)):
        parts = [normal_form(item, negated) for item in condition.items]
        conjunctive = isinstance(condition, ir.AllOf) != negated
        if conjunctive:
            groups: list[list[Leaf]] = []
            for combination in product(*parts):
                groups.append([leaf for group in combination for leaf in group])
                if len(groups) > MAX_GROUPS:
                    raise FilterError(Unexpressible("reason_too_large", (("limit", str(MAX_GROUPS)),)))
            return groups
        groups = [group for part in parts for group in part]
        if len(groups) > MAX_GROUPS:
            raise FilterError(Unexpressible("reason_too_large", (("limit", str(MAX_GROUPS)),)))
        return groups
    return [[(condition, negated)]]


class FilterTranslator:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def groups(self, condition: ir.Condition, *, negated: bool = False) -> list[list[dict]]:
        """AND groups of filters for `condition` (or for `not condition`); raises FilterError
        when it has none."""
        return [[self.leaf(node, leaf_negated) for node, leaf_negated in group]
                for group in normal_form(condition, negated)]

    def properties_read(self, condition: ir.Condition) -> list[str]:
        names = []
        for ref in ir.condition_refs(condition):
            resolved = self.catalog.resolve(ref)
            if resolved is not None and resolved.property not in names:
                names.append(resolved.property)
        return names

    def _resolve(self, ref: ir.Ref):
        resolved = self.catalog.resolve(ref)
        if resolved is None:
            if ref.member is not None:
                raise FilterError(Unexpressible("reason_score_group", (("ref", ref.text),)))
            raise FilterError(Unexpressible("reason_unknown", (("ref", ref.text),)))
        if resolved.kind in ("date", "datetime"):
            raise FilterError(Unexpressible("reason_date", (("ref", ref.text),)))
        return resolved

    def leaf(self, node, negated: bool) -> dict:
        if isinstance(node, ir.Comparison):
            return self._comparison(node, negated)
        if isinstance(node, ir.Membership):
            return self._membership(node, negated)
        if isinstance(node, ir.Presence):
            resolved = self._resolve(node.left)
            return known_filter(resolved.property, known=node.negated == negated)
        if isinstance(node, ir.Truthy):
            resolved = self._resolve(node.ref)
            if resolved.kind == "bool":
                return self._bool(resolved.property, True, negated)
            if resolved.counts:
                return self._number(resolved, ">=", 1, negated)
            raise FilterError(Unexpressible("reason_type", (("ref", node.ref.text),)))
        raise FilterError(Unexpressible("reason_type", (("ref", type(node).__name__),)))

    def _comparison(self, node: ir.Comparison, negated: bool) -> dict:
        resolved = self._resolve(node.left)
        value = node.right
        if resolved.kind == "number" and isinstance(value, ir.Number):
            return self._number(resolved, node.op, value.value, negated)
        if resolved.kind == "bool" and isinstance(value, ir.Flag) and node.op in ("==", "!="):
            return self._bool(resolved.property, value.value, negated != (node.op == "!="))
        if resolved.kind == "enumeration" and isinstance(value, ir.Text) and node.op in ("==", "!="):
            return enum_filter(resolved.property, [value.value], negated=negated != (node.op == "!="))
        if resolved.kind == "string" and isinstance(value, ir.Text) and node.op in ("==", "!="):
            return self._strings(resolved.property, [value.value], negated != (node.op == "!="))
        raise FilterError(Unexpressible("reason_type", (("ref", node.left.text),)))

    def _membership(self, node: ir.Membership, negated: bool) -> dict:
        resolved = self._resolve(node.left)
        outside = node.negated != negated
        texts = [v.value for v in node.values if isinstance(v, ir.Text)]
        if len(texts) != len(node.values):
            raise FilterError(Unexpressible("reason_number_list", (("ref", node.left.text),)))
        if resolved.kind == "enumeration":
            return enum_filter(resolved.property, texts, negated=outside)
        if resolved.kind == "string":
            return self._strings(resolved.property, texts, outside)
        raise FilterError(Unexpressible("reason_type", (("ref", node.left.text),)))

    @staticmethod
    def _number(resolved, op: str, value: float, negated: bool) -> dict:
        # a missing value satisfies `!=` only; a `not` in front flips that
        include_missing = (op == "!=") != negated
        if negated:
            op = _NEGATE[op]
        if resolved.counts:  # counted from 0
            include_missing = _COMPARE[op](0, value)
        return property_filter(resolved.property, {
            "operationType": "NUMBER",
            "operator": _NUMBER_OPERATORS[op],
            "value": value,
            "includeObjectsWithNoValueSet": include_missing,
        })

    @staticmethod
    def _bool(prop: str, value: bool, negated: bool) -> dict:
        return property_filter(prop, {
            "operationType": "BOOL",
            "operator": "IS_NOT_EQUAL_TO" if negated else "IS_EQUAL_TO",
            "value": value,
            "includeObjectsWithNoValueSet": negated,
        })

    @staticmethod
    def _strings(prop: str, values: list[str], negated: bool) -> dict:
        return property_filter(prop, {
            "operationType": "MULTISTRING",
            "operator": "IS_NOT_EQUAL_TO" if negated else "IS_EQUAL_TO",
            "values": list(values),
            "includeObjectsWithNoValueSet": negated,
        })
