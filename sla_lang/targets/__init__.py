"""Build targets. Each target is a module with

    NAME: str
    FORMATS: tuple[str, ...]          # what --format may choose ((), when it has no formats)
    DEFAULT_FORMATS: tuple[str, ...]
    def build(policy: Policy, options: BuildOptions) -> BuildResult

`build` is pure: IR in, {relative path: bytes} out, plus diagnostics for anything the target
cannot express (never a silent drop). It never writes files; the CLI does, atomically.

A target whose output can be large (hubspot: 800 MB at 10,000 stages) may also define

    def build_into(policy: Policy, options: BuildOptions, sink: FileSink) -> BuildResult

which hands each file to `sink` as soon as it is made and keeps none (the result's `files` is
empty; a large file may be handed over as `output.Pieces`, valid during the call only), so that `sla build` streams it into the output folder and the cache instead of holding
the whole output; `build` is then the same with the files collected. `build_files` calls
either. A target that fails (an error diagnostic) may have handed over files before it knew:
the caller discards them.
Templates and JSON Schemas of a target live in `targets/<name>/` at the top of the repository
(see resources.target_dir).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

from ..config import HubSpotSettings
from ..diagnostics import Diagnostic, Severity

if TYPE_CHECKING:
    from ..output import FileData

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


# (relative POSIX path, bytes or output.Pieces), each file once; Pieces only for the call
FileSink = Callable[[str, "FileData"], None]


def load_target(name: str) -> ModuleType:
    return importlib.import_module(TARGETS[name])


def build_files(module: ModuleType, policy, options: BuildOptions, sink: FileSink) -> BuildResult:
    """Build with target `module`, handing each file to `sink` (in the order the target makes
    them; a target without `build_into` hands them over, sorted, when it has finished and only
    when it did not fail). The result's `files` is empty."""
    streaming = getattr(module, "build_into", None)
    if streaming is not None:
        return streaming(policy, options, sink)
    result = module.build(policy, options)
    files, result.files = result.files, {}
    if not result.failed:
        for path in sorted(files):
            sink(path, files.pop(path))
    return result


def collected(build_into: Callable[[object, BuildOptions, FileSink], BuildResult]):
    """`build` from a target's `build_into`: the same files, collected in a sorted dict."""

    def build(policy, options: BuildOptions) -> BuildResult:
        from ..output import as_bytes

        files: dict[str, bytes] = {}

        def keep(name: str, data: FileData) -> None:
            files[name] = as_bytes(data)

        result = build_into(policy, options, keep)
        result.files = {} if result.failed else dict(sorted(files.items()))
        return result

    build.__doc__ = build_into.__doc__
    return build


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
