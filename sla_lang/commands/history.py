"""`sla import`: a HubSpot portal's history (API or contacts export) as JSON Lines events."""

from __future__ import annotations

import os
import tempfile
from datetime import date, datetime, time
from pathlib import Path

import click

from ..source import invalid_utf8_position
from .simulate import _compile_policy, use_color

TOKEN_VARIABLE = "HUBSPOT_ACCESS_TOKEN"
API_URL = "https://api.hubapi.com"


class DateParam(click.ParamType):
    name = "DATE"

    def convert(self, value, param, ctx):
        try:
            return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date (2026-01-01) or an ISO 8601 timestamp", param, ctx)


def source_options(command):
    """The options that say where the history comes from (shared by `sla import` and `sla report`)."""
    for option in reversed([
        click.option("--from", "source", type=click.Choice(["hubspot", "csv"]),
                     help="hubspot: the HubSpot API (HUBSPOT_ACCESS_TOKEN, read-only); csv: a HubSpot contacts "
                     "export given with --csv."),
        click.option("--csv", "csv_path", metavar="FILE", type=click.Path(dir_okay=False),
                     help="With --from csv: the contacts export."),
        click.option("--since", type=DateParam(), help="With --from hubspot: contacts created on or after this day."),
        click.option("--until", type=DateParam(), help="With --from hubspot: contacts created before this day."),
        click.option("--api-url", default=API_URL, show_default=True, metavar="URL",
                     help="HubSpot API base URL (a proxy or a test server)."),
        click.option("--timezone", "portal_zone", metavar="ZONE",
                     help="The HubSpot account's time zone, for export dates without an offset (default: "
                     "[tool.sla.hubspot] timezone, else the agreement's)."),
    ]):
        command = option(command)
    return command


@click.command("import")
@click.argument("policy", type=click.Path(dir_okay=False))
@source_options
@click.option("-o", "--output", "output_file", required=True, type=click.Path(dir_okay=False),
              help="The events file to write (JSON Lines, atomically).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Read [tool.sla] from this pyproject.toml.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
def import_history(policy, source, csv_path, since, until, api_url, portal_zone, output_file, config_path, isolated,
                   color):
    """Import HubSpot history as the JSON Lines events `sla simulate` and `sla report` read.

    Through the HubSpot names POLICY declares: lifecycle stages become stage moves, the policy's
    properties and events their dated changes, calls, emails and meetings activities, the
    owner owner changes. What cannot be mapped is counted per reason (and the first places
    shown); bad export rows are reported at file:line:column and skipped. Exit status 1 when
    rows were skipped.
    """
    colored = use_color(color)
    result = _compile_policy(policy, config_path, isolated, colored)
    if source is None:
        raise click.UsageError("say where the history comes from: --from hubspot or --from csv --csv FILE")
    target = Path(output_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            problems, _ = write_history(result.policy, source, csv_path, since, until, api_url, portal_zone, out,
                                        colored, config_path, isolated)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    click.get_current_context().exit(1 if problems else 0)


def write_history(policy, source, csv_path, since, until, api_url, portal_zone, out, colored, config_path=None,
                  isolated=False):
    """Import into `out`; print the summary and diagnostics. Returns the number of bad rows and
    what was left out (`history.mapping.Skipped`)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from ..history.mapping import Mapping, Skipped, write_events
    from ..render.text import render_diagnostic
    from ..simulate.engine import Plan

    if source == "csv" and not csv_path:
        raise click.UsageError("--from csv needs the export: --csv FILE")
    zone = Plan(policy).zone
    zone_name = portal_zone or _configured_zone(config_path, isolated)
    if zone_name:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise click.UsageError(f"unknown time zone {zone_name!r}") from None
    mapping = Mapping(policy)
    skipped = Skipped()
    diagnostics = []
    if source == "csv":
        from ..history.hubspot_csv import read_export

        path = Path(csv_path)
        if not path.is_file():
            raise click.UsageError(f"no such export: {csv_path}")
        try:
            with open(path, encoding="utf-8-sig", newline="") as handle:
                contacts, events, dropped = write_events(read_export(handle, csv_path, mapping, skipped, zone,
                                                                     diagnostics), mapping, out, zone)
        except UnicodeDecodeError:
            # the decoder's offset counts from the chunk it was given, not from the file: find the
            # first bad byte in the file itself and say where it is, as `sla check` does
            raise click.ClickException(f"{csv_path}:{invalid_utf8_position(path)}: not UTF-8 text; export again as "
                                       "UTF-8 CSV") from None
        except Exception as exc:  # csv.Error: a broken quote, a field over the size limit
            import csv

            if not isinstance(exc, csv.Error):
                raise
            raise click.ClickException(f"{csv_path}: not a readable CSV file: {exc}") from None
    else:
        from ..history.hubspot_api import read_history
        from ..hubspot_portal import HubSpotError, Portal

        token = os.environ.get(TOKEN_VARIABLE, "").strip()
        if not token:
            raise click.UsageError(f"set {TOKEN_VARIABLE} to the access token of a HubSpot private app (scopes: "
                                   "crm.objects.contacts.read and the engagements' read scopes)")
        portal = Portal(token, api_url, log=lambda line: click.echo(f"  … {line}", err=True))
        start = _moment(since, zone)
        end = _moment(until, zone)
        try:
            contacts, events, dropped = write_events(read_history(portal, mapping, skipped, start, end), mapping, out,
                                                     zone)
        except HubSpotError as exc:
            raise click.ClickException(str(exc)) from None
    skipped.merge(dropped)
    for d in diagnostics:
        click.echo(render_diagnostic(d, None, color=colored), err=True)
    click.echo(f"imported {contacts:,} contacts as {events:,} events", err=True)
    if skipped.counts:
        click.echo("left out (not mapped to the policy):", err=True)
        for reason, n in sorted(skipped.counts.items(), key=lambda kv: (-kv[1], kv[0])):
            places = skipped.examples.get(reason, [])
            shown = "; ".join(places[:3]) + (" …" if n > 3 else "")
            click.echo(f"  {n:>7,} × {reason}  [{shown}]", err=True)
    return len(diagnostics), skipped


def _moment(value, zone):
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    return datetime.combine(value, time.min, tzinfo=zone)


def _configured_zone(config_path, isolated) -> str | None:
    from . import resolve_config

    config, _ = resolve_config(config_path, isolated)
    hubspot = getattr(config, "hubspot", None)
    return getattr(hubspot, "timezone", None) if hubspot is not None else None


def import_to_temporary(policy, source, csv_path, since, until, api_url, portal_zone, colored, config_path, isolated):
    """`sla report --from …`: the imported events in a temporary file (read twice by the report)."""
    handle = tempfile.NamedTemporaryFile(prefix="sla-history-")  # noqa: SIM115 (the report closes it)
    import io

    text = io.TextIOWrapper(handle, encoding="utf-8", newline="\n", write_through=True)
    problems, skipped = write_history(policy, source, csv_path, since, until, api_url, portal_zone, text, colored,
                                      config_path, isolated)
    text.flush()
    text.detach()
    handle.seek(0)
    label = "<hubspot>" if source == "hubspot" else f"<events from {csv_path}>"
    return handle, label, problems, skipped
