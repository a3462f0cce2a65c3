"""`sla deploy hubspot DIR`: plan and apply the built HubSpot configuration, the portal being the state.

DIR is what `sla build POLICY --target hubspot -o DIR` wrote (or its `hubspot/` sub-folder when
several targets were built). The files are checked again (they may have been edited), the
portal is read, and the plan printed: what will be created, updated, retired, what is unchanged,
what was changed by hand (drift), and the manual steps that remain. `--apply` carries it out
(hubspot_portal.py says how, and why it is safe to interrupt); `--check` only says whether the
portal is in step.

Exit status: 0 done / nothing to do; 1 a plan that cannot be applied (conflict, missing property,
time-zone mismatch, drift without --force), `--check` finding drift or pending changes, a failed
request, or files that are not a valid build; 2 usage errors (no token, no such folder, not a
build folder) and, with --detailed-exitcode, a plan with pending changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..render.terminal import terminal_lines, terminal_safe

TOKEN_VARIABLE = "HUBSPOT_ACCESS_TOKEN"
RECEIPT = "deploy-receipt.json"
RECEIPT_FORMAT = "sla-lang-deploy-receipt/1"
PLAN_FORMAT = "sla-lang-deploy-plan/1"
LABELS = {"group": "property group", "property": "property", "required": "HubSpot property", "workflow": "workflow"}
SIGNS = {"create": "+", "update": "~", "retire": "-", "delete": "-", "conflict": "!", "missing": "!"}


@click.command()
@click.argument("target", type=click.Choice(["hubspot"]), metavar="hubspot")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), metavar="DIR")
@click.option("--plan", "mode", flag_value="plan", default=True,
              help="Read the portal and print what would change (the default); change nothing.")
@click.option("--apply", "mode", flag_value="apply", help="Carry out the plan.")
@click.option("--check", "mode", flag_value="check",
              help="Exit 1 when the portal has drifted or changes are pending (for a scheduled CI job).")
@click.option("--dry-run", "mode", flag_value="plan", hidden=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="How to print the plan (markdown: a pull-request comment).")
@click.option("--detailed-exitcode", is_flag=True, help="With --plan: exit 2 when changes are pending.")
@click.option("--force", is_flag=True, help="Overwrite objects that were changed by hand in HubSpot (drift).")
@click.option("--prune", is_flag=True,
              help="Delete the workflows sla-lang no longer generates (default: turn them off).")
@click.option("--api-url", default="https://api.hubapi.com", show_default=True, metavar="URL",
              help="HubSpot API base URL (a proxy or a test server).")
@click.option("--timeout", type=click.FloatRange(min=0.01), default=30.0, show_default=True, metavar="SECONDS",
              help="How long to wait for each answer from HubSpot.")
def deploy(target, directory, mode, fmt, detailed_exitcode, force, prune, api_url, timeout):
    """Plan or apply the property group, properties and workflows built in DIR in a HubSpot portal.

    The access token is read from the environment variable HUBSPOT_ACCESS_TOKEN (a private app
    with the scopes automation, crm.schemas.contacts.read and crm.schemas.contacts.write). It
    is never printed or written. Workflows are created turned off.
    """
    from ..hubspot_portal import Applier, Desired, HubSpotError, Portal, plan
    from ..targets.hubspot.bundle import policy_id

    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise click.UsageError(f"set {TOKEN_VARIABLE} to the access token of a HubSpot private app "
                               "(scopes: automation, crm.schemas.contacts.read, crm.schemas.contacts.write)")
    root, bundle = load_bundle(directory)
    desired = Desired.from_bundle(bundle)
    if not desired.policy_id:  # a build made before policy ids: its markers name no policy
        desired.policy_id = policy_id(str(desired.policy.get("file", "")))
    ctx = click.get_current_context()

    def note(line: str) -> None:
        click.echo(f"  … {terminal_safe(line)}", err=True)

    try:
        portal = Portal(token, api_url, timeout=timeout, log=note)
        result = plan(portal, desired, force=force, prune=prune)
    except HubSpotError as exc:
        raise click.ClickException(str(exc)) from None
    write_receipt(root, desired, result, mode, outcomes=None, portal=portal)
    if mode != "apply" or fmt == "text":
        report = render(result, fmt, root)
        click.echo(terminal_lines(report) if fmt == "text" else report, nl=fmt == "text")
    blockers = result.blockers
    if mode == "check":
        in_step = not blockers and not result.pending and not result.drifted
        if fmt == "text":
            click.echo("In step: the portal matches the build." if in_step else
                       "Not in step: run `sla deploy hubspot DIR --apply` after reviewing the plan.")
        ctx.exit(0 if in_step else 1)
    if mode == "plan":
        if blockers:
            ctx.exit(1)
        ctx.exit(2 if detailed_exitcode and result.pending else 0)
    # apply
    if blockers:
        _emit_outcome(fmt, result, root, None, "Nothing was changed: " + "; ".join(blockers))
        click.echo("Nothing was changed: resolve the problems above first.", err=True)
        ctx.exit(1)
    if not result.pending:
        _emit_outcome(fmt, result, root, [], "Nothing to do.")
        if fmt == "text":
            click.echo("Nothing to do: the portal matches the build.")
        ctx.exit(0)

    def echo(line: str) -> None:
        if fmt == "text":
            click.echo(f"  {terminal_safe(line)}")
        else:
            click.echo(f"  {terminal_safe(line)}", err=True)

    applier = Applier(portal, result, echo=echo,
                      record=lambda outcomes: write_receipt(root, desired, result, mode, outcomes, portal))
    if fmt == "text":
        click.echo("Applying:")
    try:
        outcomes = applier.run()
    except HubSpotError as exc:
        done = sum(1 for o in applier.outcomes if o.action in ("created", "updated", "turned off", "deleted"))
        click.echo(f"sla: {exc}", err=True)
        click.echo(f"Stopped after {done} change(s); what was done is in {(root / RECEIPT).as_posix()}. Run the "
                   "command again once the cause is fixed: it continues where this run stopped.", err=True)
        _emit_outcome(fmt, result, root, applier.outcomes, str(exc))
        ctx.exit(1)
    changed = sum(1 for o in outcomes if o.action in ("created", "updated", "turned off", "deleted"))
    _emit_outcome(fmt, result, root, outcomes, None)
    if fmt == "text":
        click.echo(f"Applied {changed} change(s); receipt: {(root / RECEIPT).as_posix()}. New workflows are turned "
                   "off: review them in HubSpot, do the manual steps above, then turn them on.")
    ctx.exit(0)


# ------------------------------------------------------------------ rendering


def render(result, fmt: str, root: Path) -> str:
    if fmt == "json":
        return json.dumps(plan_json(result, root), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if fmt == "markdown":
        return render_markdown(result, root)
    return render_text(result, root)


def _summary(result) -> str:
    return (f"Plan: {result.count('create')} to create, {result.count('update')} to update, "
            f"{result.count('retire', 'delete')} to retire, {result.count('unchanged', 'present')} unchanged, "
            f"{len(result.drifted)} changed by hand, {result.count('conflict', 'missing')} blocking.")


def render_text(result, root: Path) -> str:
    desired = result.desired
    policy = desired.policy
    lines = [(f"HubSpot plan for {policy.get('file')} (policy id {desired.policy_id}, version "
              f"{policy.get('version') or '-'}, fingerprint {str(policy.get('fingerprint', ''))[:12]}) "
              f"from {root.as_posix()}:")]
    width = max((len(LABELS[i.kind]) for i in result.items), default=0)
    shared = _shared_description_change(result)
    for item in result.items:
        action = item.action + ("*" if item.drift else "")
        ident = _ident(item)
        note = f" — {item.note}" if item.note else ""
        if shared and item.changes == [shared]:
            lines.append(f"  {action:<10} {LABELS[item.kind]:<{width}}  {item.name}{ident} — description only (below)")
            continue
        lines.append(f"  {action:<10} {LABELS[item.kind]:<{width}}  {item.name}{ident}{note}")
        if item.drift:
            lines.append(f"  {'':<10} {'':<{width}}  * changed in HubSpot since sla-lang wrote it; "
                         "differences (HubSpot → policy):")
        for change in item.changes:
            lines.append(f"  {'':<10} {'':<{width}}    {change}")
    if shared:
        count = sum(1 for item in result.items if item.changes == [shared])
        lines.append(f"  ({count} workflows differ only in their description, which names the policy version: {shared})")
    lines.append(_summary(result))
    for problem in result.blockers:
        lines.append(f"Blocking: {problem}")
    for text in result.notes:
        lines.append(f"Note: {text}")
    if result.manual:
        lines.append(f"Manual steps that remain ({len(result.manual)}), from {(root / 'manifest.json').as_posix()}:")
        lines += [f"  - {step}" for step in result.manual]
    else:
        lines.append("Manual steps that remain: none.")
    return "\n".join(_plain(line) for line in lines)


def _shared_description_change(result) -> str | None:
    """The description change that several updates share and nothing else (a new policy
    version changes every workflow's description): printed once instead of on every one."""
    from collections import Counter

    counts = Counter(item.changes[0] for item in result.items
                     if item.action == "update" and len(item.changes) == 1 and item.changes[0].startswith("description "))
    change, count = counts.most_common(1)[0] if counts else (None, 0)
    return change if count >= 3 else None


def _ident(item) -> str:
    if not item.hubspot_id or item.action == "create":
        return ""
    state = ""
    if item.kind == "workflow" and item.current is not None and item.action == "update":
        state = ", on" if item.current.get("isEnabled") else ", off"
    return f" (id {item.hubspot_id}{state})"


def _plain(text: str) -> str:
    """No control character from a policy or from HubSpot reaches the terminal raw."""
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                   for c in text)


def _md(text: object) -> str:
    """Policy text inside a pull-request comment: no Markdown, no HTML, one line."""
    out = []
    for char in " ".join(str(text).split()):
        out.append("\\" + char if char in "\\`*_{}[]<>#|~!" else char)
    return "".join(out)


def render_markdown(result, root: Path) -> str:
    desired = result.desired
    policy = desired.policy
    lines = [f"### HubSpot plan: {_md(policy.get('title') or policy.get('file'))}", "",
             (f"Policy {_md(desired.policy_id)} version {_md(policy.get('version') or '-')}, fingerprint "
              f"`{str(policy.get('fingerprint', ''))[:12]}`."), "", f"**{_summary(result)}**", ""]
    shared = _shared_description_change(result)
    shown = [i for i in result.items if (i.action not in ("unchanged", "present") or i.drift)
             and not (shared and i.changes == [shared])]
    grouped = [i for i in result.items if shared and i.changes == [shared]]
    if shown:
        lines += ["| action | kind | name | changes |", "|---|---|---|---|"]
        for item in shown:
            changes = "<br>".join(_md(c) for c in item.changes)
            if item.note:
                changes = (changes + "<br>" if changes else "") + _md(item.note)
            action = f"{SIGNS.get(item.action, '')} {item.action}" + (" (changed by hand)" if item.drift else "")
            ident = " " + _md(_ident(item)) if _ident(item) else ""
            lines.append(f"| {_md(action.strip())} | {LABELS[item.kind]} | {_md(item.name)}{ident} | {changes} |")
        lines.append("")
    if grouped:
        lines += [(f"{len(grouped)} workflow(s) to update differ only in their description, which names the policy "
                   f"version: {_md(shared)}"), ""]
    unchanged = len(result.items) - len(shown) - len(grouped)
    if unchanged:
        lines += [f"{unchanged} object(s) unchanged.", ""]
    for problem in result.blockers:
        lines.append(f"- ⛔ {_md(problem)}")
    for text in result.notes:
        lines.append(f"- ℹ️ {_md(text)}")
    if result.blockers or result.notes:
        lines.append("")
    lines.append(f"<details><summary>Manual steps that remain ({len(result.manual)})</summary>")
    lines.append("")
    lines += [f"- {_md(step)}" for step in result.manual] or ["- none"]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def plan_json(result, root: Path) -> dict:
    desired = result.desired
    items = []
    for item in result.items:
        entry = {"kind": item.kind, "key": item.key, "name": item.name, "action": item.action,
                 "changes": item.changes, "drift": item.drift, "clauses": item.clauses}
        if item.note:
            entry["note"] = item.note
        if item.hubspot_id:
            entry["hubspotId"] = item.hubspot_id
        if item.file:
            entry["file"] = item.file
        items.append(entry)
    return {
        "format": PLAN_FORMAT,
        "policy": {"id": desired.policy_id, **{k: desired.policy.get(k) for k in ("file", "title", "version",
                                                                                 "fingerprint")}},
        "folder": root.as_posix(),
        "summary": {"create": result.count("create"), "update": result.count("update"),
                    "retire": result.count("retire", "delete"), "unchanged": result.count("unchanged", "present"),
                    "drift": len(result.drifted), "blocking": result.count("conflict", "missing")},
        "pending": bool(result.pending),
        "items": items,
        "blocking": result.blockers,
        "notes": result.notes,
        "manualSteps": result.manual,
        "portal": {"timeZone": result.state.time_zone if result.state else None},
    }


def _emit_outcome(fmt: str, result, root: Path, outcomes, error: str | None) -> None:
    """With --apply in json/markdown: one document with the plan and what was done."""
    if fmt == "text":
        return
    done = [_outcome_json(o) for o in outcomes or []]
    if fmt == "json":
        data = plan_json(result, root)
        data["applied"] = done
        data["error"] = error
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))
        return
    text = render_markdown(result, root)
    if done:
        text += "\n#### Applied\n\n" + "\n".join(
            f"- {_md(o['action'])}: {_md(o['kind'])} {_md(o['name'])}"
            + (f" (id {_md(o['hubspotId'])})" if o.get("hubspotId") else "")
            for o in done if o["action"] not in ("unchanged", "present", "retired")) + "\n"
    if error:
        text += f"\n⛔ {_md(error)}\n"
    click.echo(text, nl=False)


def _outcome_json(outcome) -> dict:
    entry = {"kind": outcome.kind, "key": outcome.key, "name": outcome.name, "action": outcome.action,
             "clauses": outcome.clauses}
    if outcome.hubspot_id:
        entry["hubspotId"] = outcome.hubspot_id
    if outcome.revision:
        entry["revision"] = outcome.revision
    if outcome.hash:
        entry["hash"] = outcome.hash
    return entry


# ------------------------------------------------------------------ the receipt


def write_receipt(root: Path, desired, result, mode: str, outcomes, portal) -> None:
    """`deploy-receipt.json` beside the build: every object sla manages for this policy, its
    HubSpot id and revision, and what this run did to it (apply) or would do (plan, check).
    Written atomically, after every change during apply, so it never says less than was done."""
    from ..hubspot_portal import Outcome, _outcome_of
    from ..output import OutputError, write_file

    if outcomes is None:
        outcomes = [_outcome_of(item, item.action) for item in result.items if item.kind != "required"]
    objects = [_outcome_json(o) for o in outcomes if isinstance(o, Outcome)]
    finished = mode != "apply" or all(o["action"] not in ("not reached", "failed") for o in objects)
    data = {
        "format": RECEIPT_FORMAT,
        "mode": mode,
        "complete": finished,
        "policy": {"id": desired.policy_id, "file": desired.policy.get("file"),
                   "fingerprint": desired.policy.get("fingerprint"), "version": desired.policy.get("version")},
        "portal": {"apiUrl": portal.base_url, "portalId": result.state.portal_id if result.state else None,
                   "timeZone": result.state.time_zone if result.state else None},
        "objects": objects,
    }
    try:
        write_file(root / RECEIPT, (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode())
    except OutputError as exc:
        click.echo(f"sla: warning: cannot write the receipt: {exc}", err=True)


# ------------------------------------------------------------------ reading the build


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
