"""Where the grammar, templates and schemas live.

In a source checkout they sit at the top of the repository (`grammar/`, `targets/`); in an
installed wheel they are shipped inside the package under `sla_lang/_data/` (see the hatch
`force-include` table in pyproject.toml). Every other module asks this one.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_root() -> Path:
    shipped = _PACKAGE / "_data"
    if (shipped / "grammar").is_dir():
        return shipped
    checkout = _PACKAGE.parent
    if (checkout / "grammar").is_dir():
        return checkout
    raise FileNotFoundError(
        "sla-lang data files are missing: reinstall the package (grammar/ and targets/ not found)"
    )


def grammar_path() -> Path:
    return data_root() / "grammar" / "sla.lark"


def target_dir(name: str) -> Path:
    """Templates and JSON Schemas of one target (`targets/<name>/`)."""
    return data_root() / "targets" / name


def schema_path(name: str) -> Path:
    """JSON Schemas that belong to the package itself (the IR schema)."""
    return _PACKAGE / "schema" / name
