"""The `sla` command. The only place that picks exit codes (0 ok, 1 problems, 2 usage).

Subcommands live in `sla_lang/commands/` and are imported only when invoked, so `sla check`
never pays for the PDF, HubSpot or simulator machinery.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from . import __version__

# name → (module:function, one-line help shown by `sla --help`)
COMMANDS = {
    "check": ("sla_lang.commands.check:check", "Check policies and report problems."),
    "explain": ("sla_lang.commands.check:explain", "Explain a rule: what it means, a bad and a good example."),
    "rules": ("sla_lang.commands.check:rules", "List every rule code."),
    "build": ("sla_lang.commands.build:build", "Build the agreement, HubSpot config, fixtures or IR."),
    "fmt": ("sla_lang.commands.fmt:fmt", "Format policies in the one canonical layout."),
    "diff": ("sla_lang.commands.diff:diff", "Explain what a change does to the agreement."),
    "init": ("sla_lang.commands.init:init", "Create a policy repository with a starter policy."),
    "simulate": ("sla_lang.commands.simulate:simulate", "Run lead events through a policy."),
    "test": ("sla_lang.commands.simulate:test", "Replay fixture scenarios and report pass/fail."),
    "report": ("sla_lang.commands.report:report", "Review a period of real history: compliance, KPIs, meetings."),
    "import": ("sla_lang.commands.history:import_history", "Import HubSpot history (API or CSV export) as events."),
    "sign": ("sla_lang.commands.sign:sign", "Sign the agreement PDF for one party."),
    "verify": ("sla_lang.commands.sign:verify", "Verify the signatures of an agreement PDF."),
    "deploy": ("sla_lang.commands.deploy:deploy", "Create the generated properties and workflows in HubSpot."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, _ = COMMANDS[name]
        module_name, attribute = target.split(":")
        module = importlib.import_module(module_name)
        return getattr(module, attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="sla")
def cli() -> None:
    """sla — SLA-as-code for sales and marketing teams.

    Write the agreement once in a .sla file; check it, and build the signed document, the
    HubSpot configuration and test fixtures from it.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: no Python traceback ever reaches the user."""
    try:
        code = cli.main(args=argv, prog_name="sla", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        code = 1
    except click.ClickException as exc:
        from .render.terminal import terminal_safe

        exc.message = terminal_safe(exc.message)  # may quote a file name or a value given on the command line
        exc.show()
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = 130
    except BrokenPipeError:
        # `sla check | head`: the reader went away; do not print a traceback for it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 1
    except Exception as exc:  # a bug in sla: say so plainly
        if os.environ.get("SLA_DEBUG"):
            traceback.print_exc()
        from .render.terminal import terminal_safe

        click.echo(
            f"sla: internal error: {type(exc).__name__}: {terminal_safe(str(exc))}\n"
            "  = help: please report this with the input that caused it (SLA_DEBUG=1 shows the traceback)",
            err=True,
        )
        code = 1
    code = code if isinstance(code, int) else 0
    if argv is None and sys.getprofile() is None and sys.gettrace() is None:
        _exit_now(code)  # the `sla` command itself (not a caller in Python, a profiler or coverage)
    sys.exit(code)


def _exit_now(code: int) -> None:
    """Exit without tearing the interpreter down object by object.

    After `sla check` of a large policy the heap holds its whole IR; freeing it one object at a
    time at exit costs 5 % of the run (1,000 stages: ~40 ms). Everything the command writes is
    written by now: flush the two streams and leave, as mypy does (`--fast-exit`).
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said there
            pass
    os._exit(code)
