"""Pieces shared by the subcommands: finding policy files, configuration, reporting."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Iterable

import click

from ..config import Config, find_config_file, load_config
from ..diagnostics import Diagnostic, Severity

DEFAULT_POLICY_DIR = "policies"


class DateParam(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD)", param, ctx)


DATE = DateParam()


def collect_policy_files(paths: Iterable[str], config: Config) -> tuple[list[Path], list[Path]]:
    """Expand files and folders into policy files (sorted, de-duplicated).

    Returns (files, missing): folders contribute their `*.sla` files recursively, minus the
    configured `exclude` patterns; paths given explicitly are kept even if excluded.
    """
    files: list[Path] = []
    missing: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for found in sorted(path.rglob("*.sla")):
                if found.is_file() and not config.is_excluded(found) and found.resolve() not in seen:
                    seen.add(found.resolve())
                    files.append(found)
        elif path.exists() or path.is_symlink():
            if path.resolve() not in seen:
                seen.add(path.resolve())
                files.append(path)
        else:
            missing.append(path)
    return files, missing


def default_paths(paths: tuple[str, ...]) -> tuple[str, ...]:
    if paths:
        return paths
    if Path(DEFAULT_POLICY_DIR).is_dir():
        return (DEFAULT_POLICY_DIR,)
    raise click.UsageError(f"no PATH given and there is no {DEFAULT_POLICY_DIR}/ folder here")


def resolve_config(config_path: str | None, isolated: bool) -> tuple[Config, list[Diagnostic]]:
    if isolated:
        return Config(), []
    path = Path(config_path) if config_path else find_config_file(Path.cwd())
    return load_config(path)


def override_selection(config: Config, select: str | None, ignore: str | None) -> Config:
    from dataclasses import replace

    from ..config import _resolve_code

    def parse(text: str, option: str) -> tuple[str, ...]:
        out = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            code = _resolve_code(item)
            if code is None:
                raise click.BadParameter(f"unknown rule code {item!r} (see `sla rules`)", param_hint=option)
            out.append(code)
        return tuple(out)

    if select is not None:
        config = replace(config, select=parse(select, "--select"))
    if ignore is not None:
        config = replace(config, ignore=config.ignore + parse(ignore, "--ignore"))
    return config


def use_color(choice: str) -> bool:
    import os

    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)
