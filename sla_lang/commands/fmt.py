"""`sla fmt`: rewrite policies in the one canonical layout (see sla_lang/fmt.py)."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import click

from ..render.terminal import terminal_lines, terminal_safe
from . import collect_policy_files, default_paths, resolve_config, use_color

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 and list the files that would change.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Write nothing; print what would change as a unified diff (exit 1 if anything would).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Read [tool.sla] from this pyproject.toml.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
def fmt(paths, check_only, show_diff, config_path, isolated, color):
    """Format policy files (or folders of them; default: policies/) in place.

    `-` as the only PATH reads a policy from standard input and writes the formatted policy
    to standard output (for editors). Files with syntax errors are reported, not changed.
    Exit status: 0 when every file is (now) formatted, 1 when --check or --diff found files
    that would change or a file could not be formatted, 2 for usage errors.
    """
    from ..fmt import format_bytes
    from ..output import OutputError, write_file
    from ..render.text import render_diagnostic

    colored = use_color(color)
    ctx = click.get_current_context()
    if paths == ("-",):
        from ..source import DEFAULT_MAX_FILE_BYTES, TooLarge, read_stream_limited, too_large

        try:
            data = read_stream_limited(sys.stdin.buffer, DEFAULT_MAX_FILE_BYTES)
        except TooLarge as exc:
            click.echo(render_diagnostic(too_large("<stdin>", exc), None, color=colored), err=True)
            ctx.exit(EXIT_PROBLEMS)
        result = format_bytes(data, "<stdin>")
        for d in result.diagnostics:
            click.echo(render_diagnostic(d, result.source, color=colored), err=True)
        if result.formatted is None:
            ctx.exit(EXIT_PROBLEMS)
        if show_diff:
            click.echo(terminal_lines(_unified(result)), nl=False)
        elif not check_only:
            # the policy itself, byte for byte: click.echo would strip what looks like colour codes
            sys.stdout.flush()
            sys.stdout.buffer.write(result.formatted.encode("utf-8"))
            sys.stdout.buffer.flush()
        ctx.exit(EXIT_PROBLEMS if (check_only or show_diff) and result.changed else EXIT_OK)

    config, config_diagnostics = resolve_config(config_path, isolated)
    for d in config_diagnostics:
        click.echo(render_diagnostic(d, None, color=colored), err=True)
    files, missing = collect_policy_files(default_paths(paths), config)
    if missing:
        raise click.UsageError("no such file or folder: " + ", ".join(m.as_posix() for m in missing))
    if not files:
        raise click.UsageError("no .sla files found in " + ", ".join(default_paths(paths)))

    changed, unchanged, failed = [], [], []
    from ..source import TooLarge, display_path, read_limited, too_large

    for path in files:
        shown = display_path(path)
        try:
            data = read_limited(path, config.max_file_size)
        except TooLarge as exc:
            click.echo(render_diagnostic(too_large(shown, exc), None, color=colored), err=True)
            failed.append(shown)
            continue
        except OSError as exc:
            click.echo(terminal_safe(f"sla: cannot read {shown}: {exc.strerror or exc}"), err=True)
            failed.append(shown)
            continue
        result = format_bytes(data, shown, max_bytes=config.max_file_size)
        for d in result.diagnostics:
            click.echo(render_diagnostic(d, result.source, color=colored), err=True)
        if result.failed:
            failed.append(shown)
            continue
        if not result.changed:
            unchanged.append(shown)
            continue
        changed.append(shown)
        if show_diff:
            click.echo(terminal_lines(_unified(result)), nl=False)
        if check_only:
            click.echo(f"Would reformat: {terminal_safe(shown)}")
        elif not show_diff:
            try:
                write_file(Path(path), result.formatted.encode("utf-8"))
            except OutputError as exc:
                click.echo(f"sla: {terminal_safe(str(exc))}", err=True)
                changed.pop()
                failed.append(shown)

    dry = check_only or show_diff
    click.echo(_summary(len(changed), len(unchanged), len(failed), dry), err=True)
    if failed or (dry and changed):
        ctx.exit(EXIT_PROBLEMS)
    ctx.exit(EXIT_OK)


def _unified(result) -> str:
    before = result.original.decode("utf-8", errors="replace").replace("\r\n", "\n").splitlines(keepends=True)
    after = result.formatted.splitlines(keepends=True)
    relative = not result.path.startswith(("/", "<"))
    old, new = (f"a/{result.path}", f"b/{result.path}") if relative else (result.path, result.path)
    lines = difflib.unified_diff(before, after, old, new)
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _summary(changed: int, unchanged: int, failed: int, dry: bool) -> str:
    def files(n: int) -> str:
        return f"{n} file{'s' * (n != 1)}"

    parts = []
    if changed:
        parts.append(f"{files(changed)} {'would be reformatted' if dry else 'reformatted'}")
    if unchanged:
        parts.append(f"{files(unchanged)} already formatted")
    if failed:
        parts.append(f"{files(failed)} not formatted because of errors")
    return ", ".join(parts) + "."
