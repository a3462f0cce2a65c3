"""`{"diagnostics": [...], "language": "en", "summary": {"errors", "warnings", "info", "files"}}`.

Messages, help and notes are in one language for the whole report (`language`): `--lang`, else
the language every checked policy states, else the locale. Match diagnostics by `code` or
`name`, which never change, not by their text."""

from __future__ import annotations

import json
from typing import Iterable

from ..compile import Compilation
from ..diagnostics import Severity, count_by_severity
from ..message import report_language


def render(results: Iterable[Compilation], lang: str | None = None) -> str:
    results = list(results)
    lang = report_language(lang, (r.language for r in results))
    diagnostics = [d for r in results for d in r.diagnostics]
    counts = count_by_severity(diagnostics)
    data = {
        "language": lang,
        "diagnostics": [d.to_json(lang) for d in diagnostics],
        "summary": {
            "errors": counts[Severity.ERROR],
            "warnings": counts[Severity.WARNING],
            "info": counts[Severity.INFO],
            "files": len(results),
        },
    }
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
