"""The `agreement` target: the document both department heads sign.

Formats: `agreement.md` (GitHub-flavoured Markdown with a Mermaid stage diagram, for pull
requests), `agreement.html` (one standalone file with print CSS and an SVG diagram) and
`agreement.pdf` (A4, typeset by Typst, fonts embedded, one empty signature field per
party, added by pyHanko). `--lang` chooses the language of the fixed wording; it defaults to the policy's
`agreement language`.

Without `--format` all three are built, and a PDF that cannot be rendered here (no Typst,
no Japanese font) is skipped with a warning; with `--format pdf` the same problem is an error.

The code in `sla_lang/agreement/` prepares data; the wording is in `targets/agreement/`.
"""

from __future__ import annotations

from ..agreement import rules  # noqa: F401  (registers SLA800–SLA819 for `sla rules`)
from ..ir import Policy
from . import BuildOptions, BuildResult

NAME = "agreement"
FORMATS = ("md", "html", "pdf")
DEFAULT_FORMATS = ("md", "html", "pdf")


def build(policy: Policy, options: BuildOptions) -> BuildResult:
    from ..agreement.content import invisible_text_warnings, prepare_document, untranslated_text_warnings
    from ..agreement.render import render_html, render_markdown

    formats = options.formats or DEFAULT_FORMATS
    lang = options.lang or policy.language
    result = BuildResult(diagnostics=invisible_text_warnings(policy))
    doc = prepare_document(policy, lang)
    result.diagnostics.extend(untranslated_text_warnings(policy, doc))
    if "md" in formats:
        result.files["agreement.md"] = render_markdown(doc).encode("utf-8")
    if "html" in formats:
        result.files["agreement.html"] = render_html(doc).encode("utf-8")
    if "pdf" in formats:
        from ..agreement.pdf import render_pdf

        pdf, diagnostics = render_pdf(policy, doc, required=bool(options.formats))
        result.diagnostics.extend(diagnostics)
        if pdf is not None:
            result.files["agreement.pdf"] = pdf
    return result
