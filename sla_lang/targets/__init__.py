"""Build targets. Each target is a module with

    NAME: str
    FORMATS: tuple[str, ...]          # what --format may choose ((), when it has no formats)
    DEFAULT_FORMATS: tuple[str, ...]
    def build(policy: Policy, options: BuildOptions) -> BuildResult

`build` is pure: IR in, {relative path: bytes} out, plus diagnostics for anything the target
cannot express (never a silent drop). It never writes files; the CLI does, atomically.
Templates and JSON Schemas of a target live in `targets/<name>/` at the top of the repository
(see resources.target_dir).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

from ..config import HubSpotSettings
from ..diagnostics import Diagnostic, Severity

TARGETS = {
    "ir": "sla_lang.targets.ir",
    "agreement": "sla_lang.targets.agreement",
    "hubspot": "sla_lang.targets.hubspot",
    "fixtures": "sla_lang.targets.fixtures",
}


@dataclass(frozen=True)
class BuildOptions:
    formats: tuple[str, ...] = ()  # empty: the target's DEFAULT_FORMATS
    lang: str | None = None  # None: the agreement's own language
    hubspot: HubSpotSettings = field(default_factory=HubSpotSettings)  # [tool.sla.hubspot]


@dataclass
class BuildResult:
    files: dict[str, bytes] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)


def load_target(name: str) -> ModuleType:
    return importlib.import_module(TARGETS[name])


def available_targets() -> list[str]:
    out = []
    for name, module in TARGETS.items():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        out.append(name)
    return out


def load_rule_modules() -> None:
    """Import every target so the rules they define are registered (for `sla rules`)."""
    available_targets()
