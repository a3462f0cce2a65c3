"""The agreement document: the text both department heads sign.

- `rules`      diagnostics of the agreement target and of `sla sign` / `sla verify` (SLA800–SLA819)
- `catalogue`  the fixed strings of the document in every language (targets/agreement/messages.toml)
- `words`      IR values in plain words: durations, conditions, thresholds, lists
- `content`    the IR prepared as data for the templates (numbered clauses with their ids)
- `diagram`    the stage diagram: Mermaid for Markdown, a deterministic SVG layout for HTML/PDF
- `escape`     escaping of policy text for Markdown, Mermaid and visible control characters
- `render`     jinja2 environments and the Markdown/HTML/Typst renderers
- `fonts`      the font files of the PDF, chosen by file (not by locale), and their coverage
- `pdf`        Typst typesetting, glyph checks and the empty signature fields (lazy imports)
- `signatures` signing and verifying with pyHanko (lazy imports)

Only `rules` is imported eagerly: `sla check` never pays for the rest.
"""
