"""The `hubspot` target: the CRM configuration that enforces the agreement.

Output (see bundle.py): v4 workflow create bodies, Properties API bodies and their group,
scoring notes and a manifest tracing every object to the clauses it enforces, with the
manual steps for what HubSpot cannot express. Everything is checked (validate.py) before it is
returned; `sla deploy hubspot` (commands/deploy.py) creates it in a portal. What the portal
offers (custom code, its time zone, the HubSpot ids of the policy's teams) comes from
`[tool.sla.hubspot]` through `BuildOptions.hubspot`.
"""

from __future__ import annotations

import gc
import os
import traceback

from ...diagnostics import Diagnostic, Listing, Message, sort_diagnostics
from ...ir import Policy
from ...source import Span
from .. import BuildOptions, BuildResult, FileSink, collected
from .rules import INVALID_OUTPUT

NAME = "hubspot"
FORMATS: tuple[str, ...] = ()
DEFAULT_FORMATS: tuple[str, ...] = ()


def build_into(policy: Policy, options: BuildOptions, sink: FileSink) -> BuildResult:
    """Generate and check the HubSpot configuration, handing each file to `sink` as it is
    written out (workflows as the generator makes them, then the other files, sorted): a
    10,000-stage policy writes 800 MB of workflows, which are never all in memory."""
    from .bundle import bundle, dumps
    from .generate import Generator
    from .validate import Checker

    checker = Checker()
    problems: list[str] = []

    def emit(path: str, body: dict, data: bytes) -> None:
        checker.add(path, body, data)
        sink(path, data)

    # The generator allocates millions of small dicts and lists and no reference cycles; with
    # the collector running, each full collection walks all of them (and the policy's IR), which
    # made a 10,000-stage build take three times as long. Refcounting frees everything here.
    collecting = gc.isenabled()
    gc.disable()
    try:
        generated = Generator(policy, options.lang or policy.language, options.hubspot, emit=emit,
                              keep_workflows=False).run()
        agreement = policy.agreement
        data = bundle(
            generated,
            policy_file=_file_name(policy.path),
            title=agreement.title if agreement else "",
            version=agreement.version.value if agreement and agreement.version else "",
            fingerprint=generated.fingerprint,
            # the zones the windows are written in: the portal's where schedule() converted them
            time_zones=sorted(set(generated.window_zones.values())),
        )
        for path in sorted(data):
            value = data.pop(path)
            written = dumps(value)
            checker.add(path, value, written)
            sink(path, written)
        problems = checker.finish()
    except Exception as exc:  # noqa: BLE001 - a broken checker or generator bug is ours, reported as SLA820
        if os.environ.get("SLA_DEBUG"):
            traceback.print_exc()
        problems = [f"generation or validation crashed: {type(exc).__name__}: {exc}"]
        generated = None
    finally:
        if collecting:
            gc.enable()
    diagnostics = sort_diagnostics(generated.diagnostics) if generated is not None else []
    if problems:
        diagnostics.append(Diagnostic(
            INVALID_OUTPUT,
            Message("internal error: generated HubSpot JSON is invalid: {problems}",
                    problems=Listing(problems, limit=10, quote=False, separator="; ")),
            Span.point(policy.path),
            help=Message('nothing was written; please report this with the policy (SLA_DEBUG=1 for details)'),
        ))
    return BuildResult(files={}, diagnostics=diagnostics)


build = collected(build_into)


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]
