"""Diagnostics: severities, the rule registry and the Diagnostic record.

Every problem sla can report is a *rule* with a stable code (`SLA201`), a kebab-case name
(`unreachable-stage`), a default severity, a one-line summary and an explanation with a bad
and a good example (`sla explain`). Rules register themselves when the module that reports
them is imported; `all_rules()` imports every such module so `sla rules` sees the whole table.

Code ranges:
    SLA0xx  input: reading and decoding files, configuration, suppressions
    SLA1xx  syntax
    SLA2xx  stage graph and liveness
    SLA3xx  names and types
    SLA4xx  ownership
    SLA5xx  timing
    SLA6xx  scoring and conditions
    SLA7xx  completeness and operations (reviews, capacity)
    SLA8xx  targets (what an output format cannot express)
    SLA9xx  internal errors
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Iterable

from .message import Listing, Message, localize, rule_catalogue  # noqa: F401 - Listing and Message are re-exported for the checks

if TYPE_CHECKING:
    from .source import Span


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}

CATEGORIES = {
    "0": "input",
    "1": "syntax",
    "2": "graph",
    "3": "names",
    "4": "ownership",
    "5": "timing",
    "6": "scoring",
    "7": "completeness",
    "8": "targets",
    "9": "internal",
}


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    explanation: str
    bad: str
    good: str

    @property
    def category(self) -> str:
        return CATEGORIES[self.code[3]]

    def localized(self, lang: str) -> Rule:
        """The rule with its texts in `lang` (`sla explain`, `sla rules`, SARIF). Code, name and
        severity never change; a bad/good example without prose is the same in every language."""
        if lang == "en":
            return self
        texts = rule_catalogue(lang).get(self.code, {})
        return Rule(self.code, self.name, self.severity, texts.get("summary", self.summary),
                    texts.get("explanation", self.explanation), texts.get("bad", self.bad), texts.get("good", self.good))

    def to_json(self) -> dict[str, str]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "category": self.category,
            "summary": self.summary,
            "explanation": self.explanation,
            "bad": self.bad,
            "good": self.good,
        }


_RULES: dict[str, Rule] = {}
_NAMES: dict[str, str] = {}

# Modules that define rules. `all_rules()` imports them so the registry is complete.
RULE_MODULES = (
    "sla_lang.source",
    "sla_lang.config",
    "sla_lang.parser",
    "sla_lang.lower",
    "sla_lang.checks",
    "sla_lang.targets",
    "sla_lang.fmt",
    "sla_lang.semdiff.revisions",
    "sla_lang.history.rules",
)


def define_rule(
    code: str,
    name: str,
    severity: Severity,
    summary: str,
    *,
    explanation: str,
    bad: str,
    good: str,
) -> Rule:
    """Register a rule. Codes and names are unique for the life of the project."""
    if len(code) != 6 or not code.startswith("SLA") or not code[3:].isdigit():
        raise ValueError(f"rule code {code!r} is not of the form SLA123")
    if code in _RULES or name in _NAMES:
        raise ValueError(f"rule {code} ({name}) is defined twice")
    rule = Rule(code, name, severity, summary, explanation, bad, good)
    _RULES[code] = rule
    _NAMES[name] = code
    return rule


def all_rules() -> list[Rule]:
    for module in RULE_MODULES:
        loaded = importlib.import_module(module)
        # packages whose rules live in submodules load them on request
        for hook in ("load_checks", "load_rule_modules"):
            if hasattr(loaded, hook):
                getattr(loaded, hook)()
    return sorted(_RULES.values(), key=lambda r: r.code)


def find_rule(code_or_name: str) -> Rule | None:
    all_rules()
    key = code_or_name.strip()
    if key.upper() in _RULES:
        return _RULES[key.upper()]
    code = _NAMES.get(key.lower())
    return _RULES[code] if code else None


def known_code_prefix(prefix: str) -> bool:
    """True when `prefix` selects at least one rule (`SLA`, `SLA2`, `SLA201`)."""
    prefix = prefix.upper()
    return any(code.startswith(prefix) for code in (r.code for r in all_rules()))


@dataclass(frozen=True, slots=True)
class Related:
    """A secondary location that explains the primary one ("first defined here")."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    rule: Rule
    message: str
    span: Span
    help: str | None = None
    related: tuple[Related, ...] = ()
    severity: Severity = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.severity is None:
            object.__setattr__(self, "severity", self.rule.severity)

    @property
    def code(self) -> str:
        return self.rule.code

    @property
    def name(self) -> str:
        return self.rule.name

    def with_severity(self, severity: Severity) -> Diagnostic:
        return Diagnostic(self.rule, self.message, self.span, self.help, self.related, severity)

    def sort_key(self) -> tuple[str, int, int, str, str]:
        s = self.span
        return (s.path, s.line, s.column, self.rule.code, self.message)

    def to_json(self, lang: str = "en") -> dict[str, object]:
        """The diagnostic for JSON output, its texts in `lang`."""
        s = self.span
        out: dict[str, object] = {
            "code": self.rule.code,
            "name": self.rule.name,
            "severity": self.severity.value,
            "message": localize(self.message, lang),
            "path": s.path,
            "line": s.line,
            "column": s.column,
            "end_line": s.end_line,
            "end_column": s.end_column,
            "help": None if self.help is None else localize(self.help, lang),
        }
        if self.related:
            out["related"] = [
                {"message": localize(r.message, lang), **r.span.to_json()} for r in self.related
            ]
        return out


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sorted by position, duplicates (same rule, span and message) removed."""
    seen: set[tuple[object, ...]] = set()
    out = []
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        key = (d.rule.code, d.span, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def count_by_severity(diagnostics: Iterable[Diagnostic]) -> dict[Severity, int]:
    counts = {Severity.ERROR: 0, Severity.WARNING: 0, Severity.INFO: 0}
    for d in diagnostics:
        counts[d.severity] += 1
    return counts


INTERNAL_ERROR = define_rule(
    "SLA999",
    "internal-error",
    Severity.ERROR,
    "sla itself failed; the policy may be fine.",
    explanation="An unexpected exception inside sla was caught and turned into this diagnostic "
    "instead of a traceback. Please report it with the policy that triggers it "
    "(`SLA_DEBUG=1` prints the Python traceback).",
    bad="(no policy causes this on purpose)",
    good="(report the input that triggered it)",
)
