"""`sla test POLICY --against hubspot [DIR]`: replay the scenarios through the HubSpot
workflows in the executable model of HubSpot and compare with the reference simulator.

Called by `commands/simulate.py:test` once the scenarios are loaded; it returns outcomes in
the same shape as the simulator replay, so both are reported the same way.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

TIMELINE_LINES = 40  # per side, in the text report of a failing scenario


def load_hubspot(compiled, policy_path: str, hubspot_dir: str | None, settings=None):
    """The HubSpot build to test: read from DIR (checked as `sla deploy` checks it) or built now
    with `settings` (`[tool.sla.hubspot]`, as `sla build` reads it). Returns (bundle, label,
    diagnostics)."""
    from ..irjson import fingerprint
    from ..simulate.hubspot import HubSpotBundle, build_bundle
    from ..targets import BuildOptions

    if hubspot_dir is None:
        bundle, diagnostics = build_bundle(compiled, BuildOptions(hubspot=settings) if settings is not None else None)
        if bundle is None:
            from ..render.text import render_diagnostic

            for d in diagnostics:
                if d.severity.value == "error":
                    click.echo(render_diagnostic(d, None, color=False), err=True)
            click.echo(f"{policy_path}: the HubSpot target cannot be built", err=True)
            click.get_current_context().exit(1)
        return bundle, "built from the policy", []
    from ..diagnostics import Diagnostic, Message
    from ..simulate.rules import STALE_HUBSPOT_BUILD
    from ..source import Span
    from .deploy import load_bundle

    root, files = load_bundle(Path(hubspot_dir))
    bundle = HubSpotBundle(files)
    problems = []
    recorded = (bundle.manifest.get("policy") or {}).get("fingerprint")
    if recorded and recorded != fingerprint(compiled):
        where = (root / "manifest.json").as_posix()
        problems.append(Diagnostic(
            STALE_HUBSPOT_BUILD, Message('{where} was built from another version of {policy_path}; its workflows enforce that version', where=where, policy_path=policy_path), Span.point(where),
            help=Message('rebuild it: sla build {policy_path} --target hubspot -o {hubspot_dir}', policy_path=policy_path, hubspot_dir=hubspot_dir)))
    return bundle, root.as_posix(), problems


def portal_zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {name!r} (an IANA name such as Asia/Tokyo)",
                                 param_hint="--portal-timezone") from None


def outcomes_against_hubspot(compiled, bundle, sources, zone: ZoneInfo | None) -> list[dict]:
    """One outcome per scenario: passed when the HubSpot model and the simulator agree."""
    from ..simulate.hubspot import HubSpotReplay, default_mapping

    replay = HubSpotReplay(compiled, bundle, default_mapping(compiled, zone, bundle.manifest))
    outcomes = []
    for label, scenarios, _summary, lines in sources:
        for scenario in scenarios:
            check = replay.check(scenario)
            differences = [f"{d.clause or '—'} ({d.what}): {d.message}" for d in check.divergences]
            where = f"{label}:{lines[scenario['id']]}" if scenario["id"] in lines else label
            outcome = {"id": scenario["id"], "source": where, "description": scenario.get("description", ""),
                       "passed": check.passed, "differences": differences,
                       "divergences": [{"clause": d.clause, "what": d.what, "message": d.message}
                                       for d in check.divergences]}
            if not check.passed:
                outcome["timelines"] = {"agreement": check.reference_timeline, "hubspot": check.hubspot_timeline}
            outcomes.append(outcome)
    return outcomes


def timeline_lines(outcome: dict) -> list[str]:
    """Both timelines of a failing scenario, for the text report."""
    timelines = outcome.get("timelines")
    if not timelines:
        return []
    out = []
    for side, title in (("agreement", "agreement (reference simulator):"), ("hubspot", "HubSpot (model):")):
        rows = timelines[side]
        out.append(title)
        out += [f"  {row}" for row in rows[:TIMELINE_LINES]]
        if len(rows) > TIMELINE_LINES:
            out.append(f"  … and {len(rows) - TIMELINE_LINES} more")
    return out
