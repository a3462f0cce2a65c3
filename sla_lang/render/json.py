"""`{"diagnostics": [...], "summary": {"errors", "warnings", "info", "files"}}`."""

from __future__ import annotations

import json
from typing import Iterable

from ..compile import Compilation
from ..diagnostics import Severity, count_by_severity


def render(results: Iterable[Compilation]) -> str:
    results = list(results)
    diagnostics = [d for r in results for d in r.diagnostics]
    counts = count_by_severity(diagnostics)
    data = {
        "diagnostics": [d.to_json() for d in diagnostics],
        "summary": {
            "errors": counts[Severity.ERROR],
            "warnings": counts[Severity.WARNING],
            "info": counts[Severity.INFO],
            "files": len(results),
        },
    }
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
