"""Semantic checks over the IR.

A check is a function `(CheckContext) -> Iterable[Diagnostic]` registered with `@check(rule, …)`
naming every rule it may report; it is skipped when none of them is selected. Checks are pure:
they read the policy and report; the pipeline (compile.py) applies configuration, severities
and suppressions, and only the CLI picks exit codes.

One module per concern. Each check must tolerate a policy with errors elsewhere (an owner that
names no team, a transition to an undefined stage): resolve through the context and skip what
does not resolve — the names check has already reported it.
"""

from __future__ import annotations

import importlib
import os
import traceback
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

from ..diagnostics import INTERNAL_ERROR, Diagnostic, Rule, Message

if TYPE_CHECKING:
    import networkx as nx

    from ..ir import Policy

# Modules holding checks, imported in this order by `load_checks()`.
CHECK_MODULES = (
    "sla_lang.checks.names",
    "sla_lang.checks.identifiers",
    "sla_lang.checks.graph",
    "sla_lang.checks.liveness",
    "sla_lang.checks.ownership",
    "sla_lang.checks.timing",
    "sla_lang.checks.scoring",
    "sla_lang.checks.completeness",
    "sla_lang.checks.operations",
    "sla_lang.checks.contract",
    "sla_lang.checks.templates",
)


@dataclass(frozen=True)
class CheckOptions:
    """Settings that change what checks conclude (not which run)."""

    today: date | None = None  # "now" for review-expiry checks; None = the real date
    stats: bool = False  # collect statistics (worst-case times …) into CheckContext.stats


@dataclass(frozen=True)
class RegisteredCheck:
    function: Callable[[CheckContext], Iterable[Diagnostic]]
    rules: tuple[Rule, ...]

    @property
    def name(self) -> str:
        return self.function.__name__


_CHECKS: list[RegisteredCheck] = []
_T = TypeVar("_T")


def check(*rules: Rule):
    """Register a check reporting `rules`. Returns the function unchanged."""

    def register(function):
        _CHECKS.append(RegisteredCheck(function, rules))
        return function

    return register


def load_checks() -> list[RegisteredCheck]:
    for module in CHECK_MODULES:
        importlib.import_module(module)
    return list(_CHECKS)


@dataclass
class CheckContext:
    policy: Policy
    options: CheckOptions = field(default_factory=CheckOptions)
    stats: dict[str, object] = field(default_factory=dict)
    _memo: dict[str, object] = field(default_factory=dict, repr=False)

    def memo(self, key: str, compute: Callable[[], _T]) -> _T:
        """A fact derived from the policy (the funnel, score ranges …), computed once and shared
        by every check that needs it."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[return-value]

    @cached_property
    def graph(self) -> nx.MultiDiGraph:
        """The stage graph: a node per stage (attribute `stage`), an edge per transition
        between declared stages (key = clause id, attribute `transition`)."""
        import networkx as nx

        graph = nx.MultiDiGraph()
        for stage in self.policy.stages:
            if stage.id not in graph:
                graph.add_node(stage.id, stage=stage)
        for stage in self.policy.stages:
            for t in stage.transitions:
                if t.target.name in graph:
                    graph.add_edge(stage.id, t.target.name, key=t.clause_id, transition=t)
        return graph

    def deadline_written(self, stage_id: str, kind: str) -> bool:
        """The stage states a `kind` deadline, maybe with a duration already reported as wrong
        (`respond within 24hr`, SLA305): checks that say a deadline is missing ask this, not
        `stage.deadline(kind)`, so one mistake gives one error."""
        stage = self.policy.stage_by_id.get(stage_id)
        if stage is not None and stage.deadline(kind) is not None:
            return True
        return (stage_id, kind) in self.policy.extra.get("unwritten_deadlines", ())

    @property
    def today(self) -> date:
        return self.options.today or date.today()


def run_checks(
    policy: Policy,
    options: CheckOptions | None = None,
    is_selected: Callable[[str], bool] = lambda code: True,
    stats: dict[str, object] | None = None,
) -> list[Diagnostic]:
    context = CheckContext(policy, options or CheckOptions(), stats if stats is not None else {})
    out: list[Diagnostic] = []
    for registered in load_checks():
        if not any(is_selected(rule.code) for rule in registered.rules):
            continue
        try:
            out.extend(registered.function(context))
        except Exception as exc:  # a bug in a check must not hide the other checks' results
            if os.environ.get("SLA_DEBUG"):
                traceback.print_exc()
            from ..source import Span

            out.append(
                Diagnostic(
                    INTERNAL_ERROR,
                    Message('internal error in check `{registered}`: {exc}: {exc2}', registered=registered.name, exc=type(exc).__name__, exc2=exc),
                    Span.point(policy.path),
                    help=Message('please report this with the policy; set SLA_DEBUG=1 for the traceback'),
                )
            )
    return out
