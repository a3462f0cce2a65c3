"""`sla init`: create a policy repository — a starter policy, pre-commit, CI workflow, .gitignore."""

from __future__ import annotations

from pathlib import Path

import click

SCAFFOLD = Path(__file__).resolve().parent.parent / "scaffold"

EXIT_OK, EXIT_PROBLEMS = 0, 1


def scaffold_files(lang: str) -> dict[str, bytes]:
    """What `sla init` writes: {path relative to the repository: bytes}."""

    def read(name: str) -> str:
        return (SCAFFOLD / name).read_text(encoding="utf-8")

    return {
        "policies/sla.sla": read(f"starter_{lang}.sla").encode("utf-8"),
        ".pre-commit-config.yaml": read("pre-commit-config.yaml").encode("utf-8"),
        ".github/workflows/sla.yml": read("github-workflow.yml").encode("utf-8"),
        ".gitignore": read("gitignore").encode("utf-8"),
    }


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--lang", type=click.Choice(["en", "ja"]), default="en", show_default=True,
              help="Language of the starter policy (labels, texts and the generated documents).")
def init(directory, lang):
    """Create a policy repository in DIRECTORY (default: here).

    Writes policies/sla.sla (a complete starter agreement that passes `sla check`),
    .pre-commit-config.yaml (sla fmt and sla check before every commit),
    .github/workflows/sla.yml (check, SARIF, semantic diff comment, approvals, build) and
    .gitignore. Existing files are never overwritten: if any is there, nothing is written.
    """
    from ..output import OutputError, write_files

    root = Path(directory)
    files = scaffold_files(lang)
    existing = [name for name in files if (root / name).exists()]
    ctx = click.get_current_context()
    if existing:
        for name in existing:
            click.echo(f"sla: {(root / name).as_posix()} already exists", err=True)
        click.echo("Nothing was written: sla init never overwrites files. Move them away or choose another folder.",
                   err=True)
        ctx.exit(EXIT_PROBLEMS)
    try:
        write_files(root, files)
    except OutputError as exc:
        raise click.ClickException(str(exc))
    for name in files:
        click.echo(f"created {(root / name).as_posix()}")
    where = "" if directory == "." else f"cd {root.as_posix()} && "
    click.echo(
        "\nNext steps:\n"
        f"  {where}git init   (if this is not a git repository yet)\n"
        "  sla check\n"
        "  pip install pre-commit && pre-commit install\n"
        "  edit policies/sla.sla, then: sla fmt && sla check && sla build policies/ -o build/"
    )
    ctx.exit(EXIT_OK)
