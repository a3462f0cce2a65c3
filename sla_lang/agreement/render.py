"""jinja2 environments of the agreement templates (`targets/agreement/*.j2`).

Both environments are strict (`StrictUndefined`) and escape by default:
- HTML (and the SVG diagram inside it): jinja2's autoescape.
- Markdown: every `{{ … }}` passes through `escape.markdown` (the environment's finalize
  hook), so a label can never become markup; `|code` makes a code span and `|verbatim` marks
  text that is already Markdown (the escaped Mermaid source).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from .catalogue import Catalogue
from .content import Document
from .escape import code_span, markdown


class Verbatim(str):
    """Markdown that is inserted as it is."""


def _finalize_markdown(value: Any) -> str:
    if value is None:
        raise TypeError("a template printed None: the document data is missing a value")
    if isinstance(value, Verbatim):
        return value
    return markdown(value)


@cache
def _environment(fmt: str):
    import jinja2

    from ..resources import target_dir

    options: dict[str, Any] = dict(
        loader=jinja2.FileSystemLoader(str(target_dir("agreement"))),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    if fmt == "md":
        env = jinja2.Environment(autoescape=False, finalize=_finalize_markdown, **options)
        env.filters["code"] = lambda text: Verbatim(code_span(str(text)))
        env.filters["verbatim"] = Verbatim
    else:
        env = jinja2.Environment(autoescape=True, **options)
    return env


def css_string(text: str) -> str:
    """A CSS string literal holding `text` (every non-alphanumeric character escaped)."""
    return '"' + "".join(ch if ch.isascii() and (ch.isalnum() or ch == " ") else f"\\{ord(ch):06x} " for ch in text) + '"'


def page_counter_content(t: Catalogue) -> str:
    """The `content:` value of the page-number margin box: "Page " counter(page) " of " …"""
    marker = "\x00"
    text = t("footer.page", page=f"{marker}page{marker}", pages=f"{marker}pages{marker}")
    parts = []
    for i, piece in enumerate(text.split(marker)):
        if i % 2:
            parts.append(f"counter({piece})")
        elif piece:
            parts.append(css_string(piece))
    return " ".join(parts)


def render_markdown(doc: Document) -> str:
    t = Catalogue(doc.lang)
    return _environment("md").get_template("agreement.md.j2").render(doc=doc, t=t)


def render_html(doc: Document, *, pdf: dict[str, Any] | None = None) -> str:
    """The standalone HTML document; with `pdf` the variant WeasyPrint renders (page footers,
    signature-field placeholders, creation dates)."""
    import markupsafe

    t = Catalogue(doc.lang)
    env = _environment("html")
    svg = env.get_template("diagram.svg.j2").render(diagram=doc.diagram.lay_out(), t=t, lang=doc.lang)
    footer = t("footer.text", title=doc.title, version=doc.version, fingerprint=doc.fingerprint)
    return env.get_template("agreement.html.j2").render(
        doc=doc,
        t=t,
        pdf=pdf,
        diagram_svg=markupsafe.Markup(svg),
        footer_css=markupsafe.Markup(css_string(footer)),
        page_counter=markupsafe.Markup(page_counter_content(t)),
    )
