"""`sla deploy hubspot DIR`: create the built HubSpot configuration in a portal.

DIR is what `sla build POLICY --target hubspot -o DIR` wrote (or its `hubspot/` sub-folder
when several targets were built). The files are checked again (they may have been edited),
the portal is read, and a plan is printed: what will be created, what is already there, what
conflicts by name. Nothing is changed when anything conflicts or a property the workflows
need is missing. Workflows are created turned off.

Exit status: 0 done (or a clean dry run), 1 conflicts or HubSpot errors, 2 usage errors
(no token, no such folder, not a build folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

TOKEN_VARIABLE = "HUBSPOT_ACCESS_TOKEN"
LABELS = {"group": "property group", "property": "property", "required": "HubSpot property", "workflow": "workflow"}


@click.command()
@click.argument("target", type=click.Choice(["hubspot"]), metavar="hubspot")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), metavar="DIR")
@click.option("--dry-run", is_flag=True, help="Read the portal and print the plan; change nothing.")
@click.option("--api-url", default="https://api.hubapi.com", show_default=True, metavar="URL",
              help="HubSpot API base URL (a proxy or a test server).")
def deploy(target, directory, dry_run, api_url):
    """Create the property group, properties and workflows built in DIR in a HubSpot portal.

    The access token is read from the environment variable HUBSPOT_ACCESS_TOKEN (a private app
    with the scopes automation, crm.schemas.contacts.read and crm.schemas.contacts.write). It
    is never printed or written. Workflows are created turned off.
    """
    from ..hubspot_portal import HubSpotError, Portal, apply, plan

    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise click.UsageError(f"set {TOKEN_VARIABLE} to the access token of a HubSpot private app "
                               "(scopes: automation, crm.schemas.contacts.read, crm.schemas.contacts.write)")
    root, bundle = load_bundle(directory)
    manifest = bundle["manifest.json"]
    policy = manifest["policy"]
    click.echo(f"HubSpot plan for {policy['file']} (version {policy['version'] or '-'}, "
               f"fingerprint {policy['fingerprint'][:12]}) from {root.as_posix()}:")

    def note(line: str) -> None:
        click.echo(f"  … {line}", err=True)

    try:
        portal = Portal(token, api_url, log=note)
        steps = plan(portal, bundle)
    except HubSpotError as exc:
        raise click.ClickException(str(exc)) from None
    width = max((len(LABELS[s.kind]) for s in steps.steps), default=0)
    for step in steps.steps:
        detail = f" — {step.detail}" if step.detail else ""
        click.echo(f"  {step.action:<8} {LABELS[step.kind]:<{width}}  {step.name}{detail}")
    summary = (f"Plan: {steps.count('create')} to create, {steps.count('exists', 'ok')} already there, "
               f"{steps.count('conflict')} conflicting, {steps.count('missing')} missing.")
    click.echo(summary)
    ctx = click.get_current_context()
    if steps.blocked:
        click.echo("Nothing was changed: resolve the conflicts and missing properties above first.", err=True)
        ctx.exit(1)
    if dry_run:
        click.echo("Dry run: nothing was changed.")
        ctx.exit(0)
    created: list = []
    try:
        apply(portal, steps, lambda line: click.echo(f"  {line}"), created)
    except HubSpotError as exc:
        click.echo(f"sla: {exc}", err=True)
        click.echo(f"Stopped after creating {len(created)} object(s); run the command again once it is fixed "
                   "(what exists is skipped).", err=True)
        ctx.exit(1)
    manual = len(manifest["manualSteps"])
    click.echo(f"Created {len(created)} object(s). The workflows are turned off: review them in HubSpot, do the "
               f"{manual} manual step(s) listed in {(root / 'manifest.json').as_posix()}, then turn them on.")
    ctx.exit(0)


def load_bundle(directory: Path) -> tuple[Path, dict[str, object]]:
    """Read and re-check the files of a HubSpot build. Usage errors exit 2, bad files exit 1."""
    from ..targets.hubspot.validate import check_files

    if not directory.is_dir():
        raise click.UsageError(f"no such folder: {directory}")
    root = directory
    if not (root / "manifest.json").is_file() and (root / "hubspot" / "manifest.json").is_file():
        root = root / "hubspot"
    if not (root / "manifest.json").is_file():
        raise click.UsageError(f"{directory} has no manifest.json: build it first with "
                               f"`sla build POLICY --target hubspot -o {directory}`")
    manifest = _read_json(root / "manifest.json", root)
    names = {"manifest.json"}
    if isinstance(manifest, dict):
        names |= {str(e.get("file")) for e in manifest.get("workflows", []) if isinstance(e, dict)}
        names |= {str(e.get("file")) for e in manifest.get("properties", []) if isinstance(e, dict)}
        for key in ("propertyGroup", "scoring"):
            if isinstance(manifest.get(key), dict):
                names.add(str(manifest[key].get("file")))
    bundle: dict[str, object] = {}
    for name in sorted(names):
        path = root / name
        if ".." in Path(name).parts or not path.resolve().is_relative_to(root.resolve()):
            raise click.ClickException(f"{root / 'manifest.json'}: {name!r} is outside the build folder")
        if not path.is_file():
            raise click.ClickException(f"{path.as_posix()}: listed in manifest.json but missing; rebuild the folder")
        bundle[name] = _read_json(path, root)
    problems = check_files(bundle, schemas=True)  # files may be hand-edited: the full JSON Schemas
    if problems:
        shown = "\n".join(f"  {root.as_posix()}/{p}" for p in problems[:20])
        raise click.ClickException(f"the files in {root.as_posix()} are not a valid HubSpot build "
                                   f"(edited by hand?); rebuild them:\n{shown}")
    return root, bundle


def _read_json(path: Path, root: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path.as_posix()}: cannot read it: {exc}") from None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path.as_posix()}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
