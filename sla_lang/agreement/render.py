"""jinja2 environments of the agreement templates (`targets/agreement/*.j2`).

The environments are strict (`StrictUndefined`) and escape by default:
- HTML (and the SVG diagram inside it): jinja2's autoescape.
- Markdown: every `{{ … }}` passes through `escape.markdown` (the environment's finalize
  hook), so a label can never become markup; `|code` makes a code span and `|verbatim` marks
  text that is already Markdown (the escaped Mermaid source).
- Typst (the PDF): every `{{ … }}` passes through `escape.typst_markup` the same way;
  `|verbatim` marks Typst that sla wrote itself.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from .catalogue import Catalogue
from .content import Document
from .escape import code_span, markdown, typst_markup, typst_string

# A4 less the margins of agreement.typ.j2, in points: the widest and tallest a figure may be.
TYPST_TEXT_WIDTH_PT = (210 - 30) / 25.4 * 72
TYPST_FIGURE_HEIGHT_PT = 600.0
CSS_PX_TO_PT = 0.75


class Verbatim(str):
    """Markup (Markdown or Typst) that is inserted as it is."""


def _finalizer(escape):
    def finalize(value: Any) -> str:
        if value is None:
            raise TypeError("a template printed None: the document data is missing a value")
        if isinstance(value, Verbatim):
            return value
        return escape(value)

    return finalize


_LATIN_WORD = re.compile(r"[\x21-\x7e]+")


def _typst_header(cells: list[str]) -> Verbatim:
    """A table's header row for `sla-table`: each cell with its longest Latin word, which the
    column must not be narrower than (the header of a narrow column may wrap, but not inside
    a word)."""
    def longest_word(text: str) -> str:
        return max(_LATIN_WORD.findall(text), key=len, default="")

    return Verbatim("(" + "".join(f"([{typst_markup(c)}], {typst_string(longest_word(c))}), " for c in cells) + "),")


def _typst_clause_id(clause_id: str) -> Verbatim:
    return Verbatim(f"#cid({typst_string(clause_id)})")




@cache
def _environment(fmt: str):
    return template_environment("agreement", fmt)


@cache
def template_environment(target: str, fmt: str):
    """The jinja2 environment for the templates of `targets/<target>/` in one output format: every
    `{{ … }}` escaped for that format (Markdown, Typst markup, or HTML autoescaping). The agreement
    and the SLA report share it, so a policy text is escaped the same way in both."""
    import jinja2

    from ..resources import target_dir

    options: dict[str, Any] = dict(
        loader=jinja2.FileSystemLoader(str(target_dir(target))),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    if fmt == "md":
        env = jinja2.Environment(autoescape=False, finalize=_finalizer(markdown), **options)
        env.filters["code"] = lambda text: Verbatim(code_span(str(text)))
        env.filters["verbatim"] = Verbatim
    elif fmt == "typ":
        env = jinja2.Environment(autoescape=False, finalize=_finalizer(typst_markup), **options)
        env.filters["verbatim"] = Verbatim
        env.filters["typst_string"] = lambda text: Verbatim(typst_string(str(text)))
        env.filters["cid"] = _typst_clause_id
        env.filters["header"] = _typst_header
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


def _diagram_svgs(doc: Document, t: Catalogue):
    """(view, SVG) of each drawing of the stage diagram: the whole, or each of its parts."""
    template = _environment("html").get_template("diagram.svg.j2")  # SVG is XML: escaped as HTML
    for view in doc.diagram.lay_out().views:
        yield view, template.render(view=view, t=t, lang=doc.lang)


def render_markdown(doc: Document) -> str:
    t = Catalogue(doc.lang)
    return _environment("md").get_template("agreement.md.j2").render(doc=doc, t=t)


def render_html(doc: Document) -> str:
    """The standalone HTML document (screen and print)."""
    import markupsafe

    t = Catalogue(doc.lang)
    env = _environment("html")
    figures = [(view, markupsafe.Markup(svg)) for view, svg in _diagram_svgs(doc, t)]
    footer = t("footer.text", title=doc.title, version=doc.version, fingerprint=doc.fingerprint)
    return env.get_template("agreement.html.j2").render(
        doc=doc,
        t=t,
        diagram_figures=figures,
        footer_css=markupsafe.Markup(css_string(footer)),
        page_counter=markupsafe.Markup(page_counter_content(t)),
    )


def page_counter_typst(t: Catalogue) -> str:
    """Typst markup of "Page N of M" (inside a `context`): the catalogue's words escaped, the
    numbers from Typst's page counter."""
    marker = "\x00"
    text = t("footer.page", page=f"{marker}page{marker}", pages=f"{marker}pages{marker}")
    counters = {"page": "#counter(page).display()", "pages": "#counter(page).final().first()"}
    return "".join(counters[piece] if i % 2 else typst_markup(piece) for i, piece in enumerate(text.split(marker)))


def footer_typst(t: Catalogue, doc: Document) -> str:
    """Typst markup of the page footer's text, the fingerprint unbreakable (a narrow line breaks
    before it, not inside the word before it)."""
    marker = "\x00"
    text = t("footer.text", title=doc.title, version=doc.version, fingerprint=marker)
    return f"#box[{typst_markup(doc.fingerprint)}]".join(typst_markup(piece) for piece in text.split(marker))


# how each body row of an `sla-table` begins in agreement.typ.j2 (one line a row), and how a table
# begins and ends
TABLE_ROW = "  (strong["
TABLE_START = "#sla-table("
TABLE_END = ")"


def table_rows(source: str) -> int:
    """The number of body rows of every table in a Typst source made by `render_typst`."""
    return source.count("\n" + TABLE_ROW)


def first_rows(source: str, limit: int) -> str:
    """The Typst source with each table cut to its first `limit` body rows (group rows after
    them go too) and told how many it left out (`left-out: N`). Done on the source, not in
    Typst, so that the characters the glyph checks see are those the PDF shows."""
    out = []
    inside = False
    rows = left_out = 0
    for line in source.split("\n"):
        if not inside:
            inside = line.startswith(TABLE_START)
            rows = left_out = 0
        elif line == TABLE_END:
            if left_out:
                out.append(f"  left-out: {left_out},")
            inside = False
        elif line.startswith(TABLE_ROW):
            rows += 1
            if rows > limit:
                left_out += 1
                continue
        elif rows >= limit:
            continue  # a group's heading or a row's continuation after the rows shown
        out.append(line)
    return "\n".join(out)


def render_typst(doc: Document, *, fonts: dict[str, list[str]], row_limit: int | None = None,
                 table_rows: int = 0) -> str:
    """The Typst source of the PDF. `fonts`: the family names Typst may use, in order of
    preference, for the body text (`body`) and for clause ids and HubSpot names (`mono`).
    `row_limit`: show at most this many body rows of each table (SLA805), said under the title
    with the document's `table_rows` in all."""
    t = Catalogue(doc.lang)
    figures = []
    for view, svg in _diagram_svgs(doc, t):
        width_pt = view.width * CSS_PX_TO_PT
        height_pt = view.height * CSS_PX_TO_PT
        scale = min(1.0, TYPST_TEXT_WIDTH_PT / width_pt if width_pt else 1.0,
                    TYPST_FIGURE_HEIGHT_PT / height_pt if height_pt else 1.0)
        figures.append((view, svg, f"{width_pt * scale:.2f}pt"))
    source = _environment("typ").get_template("agreement.typ.j2").render(
        doc=doc,
        t=t,
        fonts=fonts,
        diagram_figures=figures,
        page_counter=page_counter_typst(t),
        footer=footer_typst(t, doc),
        row_limit=row_limit,
        table_rows=table_rows,
    )
    return source if row_limit is None else first_rows(source, row_limit)
