"""SARIF 2.1.0 for GitHub code scanning, with the full rule table as tool metadata.

Rule texts and results are in one language, recorded as the run's `language` (SARIF §3.14.9):
`--lang`, else the language every checked policy states, else the locale."""

from __future__ import annotations

import json
from typing import Iterable

from .. import __version__
from ..compile import Compilation
from ..diagnostics import Severity, all_rules
from ..message import Message, localize, report_language

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _region(span) -> dict[str, int]:
    return {
        "startLine": span.line,
        "startColumn": span.column,
        "endLine": span.end_line,
        "endColumn": span.end_column,
    }


def render(results: Iterable[Compilation], lang: str | None = None) -> str:
    results = list(results)
    lang = report_language(lang, (r.language for r in results))
    rules = [rule.localized(lang) for rule in all_rules()]
    bad, good = localize(Message("Bad:"), lang), localize(Message("Good:"), lang)
    index = {rule.code: i for i, rule in enumerate(rules)}
    driver_rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.explanation},
            "help": {
                "text": f"{rule.explanation}\n\n{bad}\n{rule.bad}\n\n{good}\n{rule.good}",
                "markdown": f"{rule.explanation}\n\n**{bad.rstrip(':：')}**\n```\n{rule.bad}\n```\n\n"
                            f"**{good.rstrip(':：')}**\n```\n{rule.good}\n```",
            },
            "defaultConfiguration": {"level": _LEVELS[rule.severity]},
            "properties": {"tags": [rule.category]},
        }
        for rule in rules
    ]
    sarif_results = []
    for result in results:
        for d in result.diagnostics:
            message = localize(d.message, lang)
            if d.help:
                message += "\n" + localize(Message("help: {help}", help=d.help), lang)
            entry = {
                "ruleId": d.code,
                "ruleIndex": index[d.code],
                "level": _LEVELS[d.severity],
                "message": {"text": message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": d.span.path, "uriBaseId": "%SRCROOT%"},
                            "region": _region(d.span),
                        }
                    }
                ],
            }
            if d.related:
                entry["relatedLocations"] = [
                    {
                        "id": i,
                        "message": {"text": localize(r.message, lang)},
                        "physicalLocation": {
                            "artifactLocation": {"uri": r.span.path, "uriBaseId": "%SRCROOT%"},
                            "region": _region(r.span),
                        },
                    }
                    for i, r in enumerate(d.related, 1)
                ]
            sarif_results.append(entry)
    data = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sla",
                        "informationUri": "https://github.com/sla-lang/sla-lang",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": driver_rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": "./"}},
                "results": sarif_results,
                "language": lang,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
