"""Diagnostic renderers, one module per `--format`: text, json, sarif, github.

Each exposes `render(results, ...) -> str` where `results` is the list of Compilations of one
run (one per file), so every format sees the same data and summary.
"""

FORMATS = ("text", "json", "sarif", "github")
