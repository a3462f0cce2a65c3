"""Configuration (`[tool.sla]` in pyproject.toml) and per-line suppressions.

    [tool.sla]
    select = ["SLA"]            # code prefixes to report (default: all)
    ignore = ["SLA7"]           # code prefixes to drop; the more specific of select/ignore wins
    severity = { SLA204 = "warning", "missing-weekly-review" = "error" }
    exclude = ["tests/fixtures/**"]
    max-file-size = 4194304

    [tool.sla.hubspot]          # what the HubSpot target may use in the portal (README, "--target hubspot")
    custom-code = true          # Operations Hub Professional: CUSTOM_CODE actions compute due moments
    timezone = "Asia/Tokyo"     # the portal's time zone, if known
    [tool.sla.hubspot.teams.sales]
    team-id = "4021"            # HubSpot team id: notifications to the team
    user-ids = ["101", "102"]   # HubSpot user ids: owner rotation, tasks

A line can silence diagnostics that start on it:  `-> sql after 30d  # sla: ignore[SLA204]`.
Input and syntax errors (SLA0xx, SLA1xx) and internal errors (SLA9xx) cannot be silenced.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic, Listing, Message, Severity, all_rules, define_rule, find_rule, known_code_prefix
from .source import DEFAULT_MAX_FILE_BYTES, SourceFile, Span, TooLarge, read_limited, split_comment

MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a pyproject.toml is a few KB

INVALID_CONFIG = define_rule(
    "SLA007",
    "invalid-config",
    Severity.ERROR,
    "The [tool.sla] configuration has an unknown key, a wrong type or an unknown rule code.",
    explanation="sla reads `[tool.sla]` from the nearest pyproject.toml above the working "
    "directory (or the file given with --config). Keys: select, ignore, severity, exclude, "
    "max-file-size, and the table `[tool.sla.hubspot]` (custom-code, timezone, teams.TEAM with "
    "team-id and user-ids). Codes may be given in full (SLA204), as prefixes (SLA2) or by name.",
    bad='[tool.sla]\nignore = ["SLA2O4"]   # letter O instead of zero',
    good='[tool.sla]\nignore = ["SLA204"]',
)
INVALID_SUPPRESSION = define_rule(
    "SLA008",
    "invalid-suppression",
    Severity.WARNING,
    "A `# sla: ignore[...]` comment names no code or an unknown one.",
    explanation="Suppressions must name the codes they silence, so a reviewer can see what "
    "was accepted and the comment stops working when the problem is gone.",
    bad="  -> nurture after 90d  # sla: ignore",
    good="  -> nurture after 90d  # sla: ignore[SLA204]",
)
UNUSED_SUPPRESSION = define_rule(
    "SLA009",
    "unused-suppression",
    Severity.WARNING,
    "A `# sla: ignore[...]` comment silences nothing.",
    explanation="The problem it was written for is gone (or never started on this line). "
    "Delete the comment so it cannot hide a future problem.",
    bad='  owner marketing  # sla: ignore[SLA401]',
    good="  owner marketing",
)

UNSILENCEABLE_CATEGORIES = ("0", "1", "9")
_SUPPRESSION = re.compile(r"#\s*sla:\s*ignore\b(\[([^\]]*)\])?", re.IGNORECASE)
_KEYS = {"select", "ignore", "severity", "exclude", "max-file-size", "hubspot"}
_HUBSPOT_KEYS = {"custom-code", "timezone", "teams"}
_TEAM_KEYS = {"team-id", "user-ids"}
_HUBSPOT_ID = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class TeamMapping:
    """Where a policy team is in the portal: a HubSpot team id (notifications to the team) and
    user ids (owner rotation, tasks). Either may be missing."""

    team_id: str | None = None
    user_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class HubSpotSettings:
    """`[tool.sla.hubspot]`: what the HubSpot target may use in the portal.

    `custom_code` defaults to True: business-time deadlines are then computed exactly by a
    CUSTOM_CODE action (Operations Hub Professional). A portal without it fails loudly when the
    workflows are created, rather than silently judging deadlines at the wrong moment; set
    `custom-code = false` for the documented conservative scheme instead."""

    custom_code: bool = True
    timezone: str | None = None
    teams: tuple[tuple[str, TeamMapping], ...] = ()
    configured: bool = False  # a [tool.sla.hubspot] table was read

    def team(self, team_id: str) -> TeamMapping | None:
        return dict(self.teams).get(team_id)


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] = ("SLA",)
    ignore: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    max_file_size: int = DEFAULT_MAX_FILE_BYTES
    path: Path | None = None
    hubspot: HubSpotSettings = field(default_factory=HubSpotSettings)

    def is_selected(self, code: str) -> bool:
        if code[3] in UNSILENCEABLE_CATEGORIES:
            return True
        chosen = max((p for p in self.select if code.startswith(p)), key=len, default=None)
        if chosen is None:
            return False
        dropped = max((p for p in self.ignore if code.startswith(p)), key=len, default=None)
        return dropped is None or len(chosen) > len(dropped)

    def severity_of(self, diagnostic: Diagnostic) -> Severity:
        if diagnostic.code[3] in UNSILENCEABLE_CATEGORIES:
            return diagnostic.severity
        return self.severity.get(diagnostic.code, diagnostic.severity)

    def is_excluded(self, path: Path) -> bool:
        text = path.as_posix()
        return any(fnmatch.fnmatch(text, pattern) or fnmatch.fnmatch(path.name, pattern) for pattern in self.exclude)


def find_config_file(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.sla] table, from `start` upwards."""
    directory = start.resolve()
    if directory.is_file():
        directory = directory.parent
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                text = read_limited(pyproject, MAX_CONFIG_BYTES).decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if re.search(r"^\s*\[tool\.sla\]", text, re.MULTILINE):
                return pyproject
    return None


def load_config(path: Path | None) -> tuple[Config, list[Diagnostic]]:
    """Read [tool.sla] from `path` (a pyproject.toml). Problems become diagnostics."""
    if path is None:
        return Config(), []
    import tomllib

    shown = path.as_posix()
    try:
        text = read_limited(path, MAX_CONFIG_BYTES).decode("utf-8")
    except TooLarge as exc:
        return Config(), [Diagnostic(INVALID_CONFIG, Message('cannot read {shown}: {describe}', shown=shown, describe=exc.describe()), Span.point(shown))]
    except (OSError, UnicodeDecodeError) as exc:
        return Config(), [Diagnostic(INVALID_CONFIG, Message('cannot read {shown}: {exc}', shown=shown, exc=exc), Span.point(shown))]
    source = SourceFile(shown, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+), column (\d+)", str(exc))
        if match:
            line, column = int(match.group(1)), int(match.group(2))
        else:  # "at end of document"
            line, column = source.line_count, 1
        return Config(path=path), [Diagnostic(INVALID_CONFIG, Message('invalid TOML: {exc}', exc=exc), Span.point(shown, line, column))]
    table = data.get("tool", {}).get("sla", {})
    diagnostics: list[Diagnostic] = []

    table_start = max(text.find("[tool.sla]"), 0)

    def where(needle: str, after: str | None = None) -> Span:
        start = table_start
        if after is not None and text.find(after, table_start) >= 0:
            start = text.find(after, table_start)
        offset = text.find(needle, start)
        if offset == -1:
            offset = start
        return source.span(max(offset, 0), max(offset, 0) + max(len(needle), 1))

    def bad(message: str, needle: str, help: str | None = None, after: str | None = None) -> None:
        diagnostics.append(Diagnostic(INVALID_CONFIG, message, where(needle, after), help=help))

    for key in sorted(set(table) - _KEYS):
        bad(Message('unknown key `{key}` in [tool.sla]', key=key), key, help=Message("keys: {keys}", keys=Listing(sorted(_KEYS), limit=len(_KEYS), quote=False)))

    def codes(key: str) -> tuple[str, ...]:
        value = table.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            bad(Message('`{key}` must be a list of rule codes', key=key), key)
            return ()
        out = []
        for item in value:
            resolved = _resolve_code(item)
            if resolved is None:
                bad(Message('unknown rule code `{item}` in `{key}`', item=item, key=key), item, help=Message('`sla rules` lists every code'))
            else:
                out.append(resolved)
        return tuple(out)

    select = codes("select") if "select" in table else ("SLA",)
    ignore = codes("ignore")
    severity: dict[str, Severity] = {}
    raw_severity = table.get("severity", {})
    if not isinstance(raw_severity, dict):
        bad(Message('`severity` must be a table of code = "error" | "warning" | "info"'), "severity")
        raw_severity = {}
    for key, value in raw_severity.items():
        rule = find_rule(key)
        if rule is None:
            bad(Message('unknown rule `{key}` in `severity`', key=key), key, help=Message('`sla rules` lists every code'))
            continue
        try:
            level = Severity(value)
        except ValueError:
            bad(Message('severity of `{key}` must be "error", "warning" or "info", not {value!r}', key=key, value=value), str(value))
            continue
        if rule.code[3] in UNSILENCEABLE_CATEGORIES:
            bad(Message('the severity of {rule} cannot be changed', rule=rule.code), key)
            continue
        severity[rule.code] = level
    exclude = table.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(v, str) for v in exclude):
        bad(Message('`exclude` must be a list of glob patterns'), "exclude")
        exclude = []
    max_size = table.get("max-file-size", DEFAULT_MAX_FILE_BYTES)
    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size <= 0:
        bad(Message('`max-file-size` must be a positive number of bytes'), "max-file-size")
        max_size = DEFAULT_MAX_FILE_BYTES
    hubspot = _hubspot_settings(table.get("hubspot"), bad)
    config = Config(select, ignore, severity, tuple(exclude), max_size, path, hubspot)
    return config, diagnostics


def _hubspot_settings(raw, bad) -> HubSpotSettings:
    """`[tool.sla.hubspot]`, every problem reported through `bad` (SLA007) at its position."""
    if raw is None:
        return HubSpotSettings()
    header = "[tool.sla.hubspot]"
    if not isinstance(raw, dict):
        bad(Message("`hubspot` must be a table: [tool.sla.hubspot]"), "hubspot")
        return HubSpotSettings()
    for key in sorted(set(raw) - _HUBSPOT_KEYS):
        bad(Message("unknown key `{key}` in [tool.sla.hubspot]", key=key), key,
            help=Message("keys: {keys}", keys=Listing(sorted(_HUBSPOT_KEYS), limit=len(_HUBSPOT_KEYS), quote=False)),
            after=header)
    custom_code = raw.get("custom-code", True)
    if not isinstance(custom_code, bool):
        bad(Message("`custom-code` must be true or false"), "custom-code", after=header)
        custom_code = True
    timezone = raw.get("timezone")
    if timezone is not None and (not isinstance(timezone, str) or not _known_zone(timezone)):
        bad(Message('`timezone` must be an IANA time zone name such as "Asia/Tokyo", not {value!r}', value=timezone),
            "timezone", after=header)
        timezone = None
    teams: list[tuple[str, TeamMapping]] = []
    raw_teams = raw.get("teams", {})
    if not isinstance(raw_teams, dict):
        bad(Message("`teams` must be a table of [tool.sla.hubspot.teams.TEAM] tables"), "teams", after=header)
        raw_teams = {}
    for team, mapping in raw_teams.items():
        here = f"[tool.sla.hubspot.teams.{team}]"
        if not isinstance(mapping, dict):
            bad(Message("`teams.{team}` must be a table with `team-id` and/or `user-ids`", team=team), team, after=header)
            continue
        for key in sorted(set(mapping) - _TEAM_KEYS):
            bad(Message("unknown key `{key}` in {table}", key=key, table=here), key,
                help=Message("keys: {keys}", keys=Listing(sorted(_TEAM_KEYS), limit=len(_TEAM_KEYS), quote=False)),
                after=here)
        team_id = mapping.get("team-id")
        if team_id is not None and not (isinstance(team_id, str) and _HUBSPOT_ID.fullmatch(team_id)):
            bad(Message("`team-id` of team `{team}` must be a HubSpot team id in quotes (digits), not {value!r}",
                        team=team, value=team_id),
                "team-id", help=Message('write it as a string: team-id = "4021"'), after=here)
            team_id = None
        users = mapping.get("user-ids", [])
        if not isinstance(users, list) or not all(isinstance(u, str) and _HUBSPOT_ID.fullmatch(u) for u in users):
            bad(Message("`user-ids` of team `{team}` must be a list of HubSpot user ids in quotes (digits)", team=team),
                "user-ids", help=Message('write them as strings: user-ids = ["101", "102"]'), after=here)
            users = [u for u in users if isinstance(u, str) and _HUBSPOT_ID.fullmatch(u)] if isinstance(users, list) else []
        if team_id is None and not users:
            bad(Message("team `{team}` names neither a `team-id` nor `user-ids`", team=team), team, after=here)
            continue
        teams.append((team, TeamMapping(team_id, tuple(dict.fromkeys(users)))))
    return HubSpotSettings(custom_code, timezone, tuple(sorted(teams)), True)


def _known_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _resolve_code(text: str) -> str | None:
    """A full code, a code prefix (SLA2) or a rule name → the code or prefix."""
    rule = find_rule(text)
    if rule is not None:
        return rule.code
    upper = text.strip().upper()
    if upper.startswith("SLA") and upper[3:].isdigit() and known_code_prefix(upper):
        return upper
    return None


def apply_suppressions(
    source: SourceFile, diagnostics: list[Diagnostic], is_selected=lambda code: True, *, report_unused: bool = True
) -> list[Diagnostic]:
    """Drop diagnostics silenced on their first line; report bad and unused suppressions.

    `report_unused` is False when the checks did not run (syntax errors): then nothing can
    be said about whether a suppression is needed.
    """
    if "sla:" not in source.text.lower():
        return diagnostics
    known = {r.code for r in all_rules()}
    suppressions: dict[int, dict[str, Span]] = {}
    problems: list[Diagnostic] = []
    for number in range(1, source.line_count + 1):
        line = source.line_text(number)
        if "sla:" not in line.lower():
            continue
        _, comment = split_comment(line)
        if comment is None:
            continue
        match = _SUPPRESSION.search(comment)
        if match is None:
            continue
        start = len(line) - len(comment) + match.start()
        span = Span(source.path, number, start + 1, number, start + 1 + len(match.group(0)))
        if match.group(1) is None or not match.group(2).strip():
            problems.append(
                Diagnostic(INVALID_SUPPRESSION, Message('suppression names no code'), span, help=Message('write # sla: ignore[SLA204]'))
            )
            continue
        entries = suppressions.setdefault(number, {})
        for item in match.group(2).split(","):
            rule = find_rule(item.strip())
            if rule is None or rule.code not in known:
                problems.append(
                    Diagnostic(INVALID_SUPPRESSION, Message('unknown rule `{strip}` in suppression', strip=item.strip()), span,
                               help=Message('`sla rules` lists every code'))
                )
            else:
                entries[rule.code] = span
    used: set[tuple[int, str]] = set()
    kept = []
    for d in diagnostics:
        entries = suppressions.get(d.span.line, {})
        if d.code in entries and d.code[3] not in UNSILENCEABLE_CATEGORIES and d.span.path == source.path:
            used.add((d.span.line, d.code))
            continue
        kept.append(d)
    for number, entries in suppressions.items():
        for code, span in entries.items():
            # target codes (SLA8xx) are reported by `sla build`, not by the checks: a check run
            # cannot tell whether their suppressions are still needed
            if report_unused and (number, code) not in used and is_selected(code) and not code.startswith("SLA8"):
                problems.append(
                    Diagnostic(UNUSED_SUPPRESSION, Message('suppression of {code} silences nothing on this line', code=code), span,
                               help=Message('delete it'))
                )
    return kept + problems
