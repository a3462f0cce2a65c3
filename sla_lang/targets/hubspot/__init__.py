"""The `hubspot` target: the CRM configuration that enforces the agreement.

Output (see bundle.py): v4 workflow create bodies, Properties API bodies and their group,
scoring notes and a manifest tracing every object to the clauses it enforces, with the
manual steps for what HubSpot cannot express. Everything is validated (validate.py) before
it is returned; `sla deploy hubspot` (commands/deploy.py) creates it in a portal.
"""

from __future__ import annotations

import os
import traceback

from ...diagnostics import Diagnostic, Listing, Message, sort_diagnostics
from ...ir import Policy
from ...source import Span
from .. import BuildOptions, BuildResult
from .rules import INVALID_OUTPUT

NAME = "hubspot"
FORMATS: tuple[str, ...] = ()
DEFAULT_FORMATS: tuple[str, ...] = ()


def build(policy: Policy, options: BuildOptions) -> BuildResult:
    from ...irjson import fingerprint
    from .bundle import bundle, serialise
    from .generate import Generator
    from .validate import check_files

    generated = Generator(policy, options.lang or policy.language).run()
    agreement = policy.agreement
    data = bundle(
        generated,
        policy_file=_file_name(policy.path),
        title=agreement.title if agreement else "",
        version=agreement.version.value if agreement and agreement.version else "",
        fingerprint=fingerprint(policy),
        time_zones=sorted({c.timezone.value for c in policy.calendars if c.timezone is not None}),
    )
    try:
        problems = check_files(data)
    except Exception as exc:  # noqa: BLE001 - a broken schema or checker is our bug, reported as SLA820
        if os.environ.get("SLA_DEBUG"):
            traceback.print_exc()
        problems = [f"validation crashed: {type(exc).__name__}: {exc}"]
    diagnostics = sort_diagnostics(generated.diagnostics)
    if problems:
        diagnostics.append(Diagnostic(
            INVALID_OUTPUT,
            Message("internal error: generated HubSpot JSON is invalid: {problems}",
                    problems=Listing(problems, limit=10, quote=False, separator="; ")),
            Span.point(policy.path),
            help=Message('nothing was written; please report this with the policy (SLA_DEBUG=1 for details)'),
        ))
        return BuildResult(files={}, diagnostics=diagnostics)
    return BuildResult(files=serialise(data), diagnostics=diagnostics)


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]
