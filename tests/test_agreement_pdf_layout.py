"""The PDF's layout, checked on the rendered pages (issue 14, items 5–7).

Nothing here asks the renderer what it did: the pages are read back with poppler, the way a
reader sees them — word boxes from `pdftotext -bbox`, text runs with their fonts from
`pdftohtml -xml` and `pdffonts`, and pixels from `pdftoppm` (table rules, the signature area).

- no table cell wraps to one or two characters per line (「マー/ケ/ティ/ン/グ/部」, 「月/次」);
- every heading is followed by body text on the same page;
- the signature section starts on a page of its own, with its heading and every party's box,
  two boxes per row, each AcroForm field over the empty signature area of its box;
- Japanese headings are set in a bold face (a real one: Noto Sans CJK JP Bold).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

from sla_lang.agreement.catalogue import Catalogue
from sla_lang.agreement.content import prepare_document
from sla_lang.compile import compile_path
from sla_lang.targets import BuildOptions
from sla_lang.targets import agreement as target

from .conftest import REPO

pytest.importorskip("typst")
pytest.importorskip("pyhanko")
pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("pdftotext", "pdftohtml", "pdftoppm", "pdffonts")),
    reason="needs poppler-utils")

POLICIES = ("hubspot_scoring", "inside_sales_sal", "smarketing_ja")
CASES = [(name, lang) for name in POLICIES for lang in ("en", "ja")]
XHTML = "{http://www.w3.org/1999/xhtml}"
SCALE = 2  # pixels per point of the rendered pages (144 dpi)
FOOTER_TOP = 841.89 - 20 / 25.4 * 72  # the bottom margin (20 mm) holds the page footer only
MAX_CELL_WIDTH = 200.0  # points: wider than any column that could wrap to a character per line


@dataclass(frozen=True)
class Word:
    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass(frozen=True)
class Run:
    """A run of text of one font, as pdftohtml reports it (points, top-left origin)."""

    page: int
    top: float
    left: float
    height: float
    size: float
    font: str  # the embedded font's name with its subset tag, e.g. NUXRGR+NotoSansCJKjp-Bold-Identity-H
    bold: bool
    text: str


class Pages:
    """One rendered page per page of the PDF, as 8-bit gray pixels."""

    def __init__(self, pdf: Path, folder: Path) -> None:
        subprocess.run(["pdftoppm", "-r", str(72 * SCALE), "-gray", str(pdf), str(folder / "page")], check=True)
        self.images = [self._read_pgm(p) for p in sorted(folder.glob("page-*.pgm"))]

    @staticmethod
    def _read_pgm(path: Path) -> tuple[int, int, bytes]:
        data = path.read_bytes()
        header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
        width, height = int(header.group(1)), int(header.group(2))
        return width, height, data[header.end():]

    def ink(self, page: int, x: float, y: float) -> int:
        """Darkness (0 white … 255 black) at (x, y) in points on page `page` (1-based)."""
        width, height, pixels = self.images[page - 1]
        px, py = int(x * SCALE), int(y * SCALE)
        if not (0 <= px < width and 0 <= py < height):
            return 0
        return 255 - pixels[py * width + px]

    def vertical_rule(self, page: int, x: float, y0: float, y1: float) -> bool:
        if self.ink(page, x, (y0 + y1) / 2) <= 20:  # most places are blank: one look
            return False
        return all(self.ink(page, x, y) > 20 for y in _steps(y0, y1))

    def horizontal_rule(self, page: int, y: float, x0: float, x1: float) -> bool:
        if self.ink(page, (x0 + x1) / 2, y) <= 20:
            return False
        return all(self.ink(page, x, y) > 20 for x in _steps(x0, x1))


def _steps(a: float, b: float, step: float = 0.5):
    n = max(int(abs(b - a) / abs(step)), 1)
    return [a + (b - a) * i / n for i in range(n + 1)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """(policy, lang) → the built PDF, its words, text runs and pages; built once."""
    cache: dict[tuple[str, str], dict] = {}

    def get(name: str, lang: str) -> dict:
        if (name, lang) not in cache:
            folder = tmp_path_factory.mktemp(f"{name}-{lang}")
            policy = compile_path(REPO / "policies" / f"{name}.sla").policy
            built = target.build(policy, BuildOptions(formats=("pdf",), lang=lang))
            assert [d for d in built.diagnostics if d.severity.value == "error"] == []
            pdf = folder / "agreement.pdf"
            pdf.write_bytes(built.files["agreement.pdf"])
            cache[(name, lang)] = {
                "pdf": pdf,
                "doc": prepare_document(policy, lang),
                "words": _words(pdf),
                "runs": _runs(pdf),
                "pages": Pages(pdf, folder),
            }
        return cache[(name, lang)]

    return get


def _words(pdf: Path) -> list[Word]:
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    words = []
    for number, page in enumerate(ElementTree.fromstring(out).iter(XHTML + "page"), 1):
        for w in page.iter(XHTML + "word"):
            words.append(Word(number, float(w.get("xMin")), float(w.get("yMin")), float(w.get("xMax")),
                              float(w.get("yMax")), w.text or ""))
    return words


def _runs(pdf: Path) -> list[Run]:
    fonts = {}
    listing = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines()[2:]:
        name = line.split()[0]
        fonts[name.partition("+")[0]] = name
    out = subprocess.run(["pdftohtml", "-xml", "-i", "-stdout", "-q", "-zoom", "1", str(pdf)],
                         capture_output=True, text=True, check=True).stdout
    root = ElementTree.fromstring(out.split("\n", 2)[2])  # after the XML declaration and DOCTYPE
    specs = {}
    runs = []
    for page in root.iter("page"):
        for spec in page.iter("fontspec"):
            tag = spec.get("family").partition("+")[0]
            specs[spec.get("id")] = (float(spec.get("size")), fonts.get(tag, spec.get("family")))
        for text in page.iter("text"):
            size, font = specs[text.get("font")]
            runs.append(Run(int(page.get("number")), float(text.get("top")), float(text.get("left")),
                            float(text.get("height")), size, font, text.find("b") is not None,
                            "".join(text.itertext())))
    return runs


def _headings(runs: list[Run]) -> list[Run]:
    """Section and sub-section headings: lines set larger than the body (9.5 pt) and smaller
    than the title (19 pt); a line's runs (a change of font, Japanese next to Latin letters)
    are joined into one, its clause id left out."""
    lines: dict[tuple[int, float], list[Run]] = {}
    for r in runs:
        lines.setdefault((r.page, r.top), []).append(r)
    out = []
    for (page, top), line in sorted(lines.items()):
        large = sorted((r for r in line if 11 <= r.size < 16), key=lambda r: r.left)
        if large and "".join(r.text for r in large).strip():
            out.append(Run(page, top, large[0].left, max(r.height for r in large), large[0].size,
                           large[0].font, all(r.bold for r in large), " ".join(r.text.strip() for r in large)))
    return out


JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _declared_weights(pdf: Path) -> dict[str, float]:
    """Embedded font (BaseFont, subset tag included) → how heavy its program says it is, read
    with fontTools from the program itself, not from the names the renderer wrote: the
    standard vertical stem width (StdVW) of a CFF program, the weight class (OS/2) of a
    TrueType one, on one scale (a regular stem is ~0.1 em; weight class 400 → 0.1)."""
    from fontTools.cffLib import CFFFontSet
    from fontTools.ttLib import TTFont
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf.read_bytes()))
    out: dict[str, float] = {}
    stack = [reader.root["/Pages"]]
    while stack:
        node = stack.pop().get_object()
        if node["/Type"] == "/Pages":
            stack.extend(node["/Kids"])
            continue
        fonts = node["/Resources"].get("/Font")
        for font in (fonts.get_object().values() if fonts is not None else ()):
            font = font.get_object()
            name = str(font["/BaseFont"]).lstrip("/")
            if name in out or "/DescendantFonts" not in font:
                continue
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            program = descriptor["/FontFile2" if "/FontFile2" in descriptor else "/FontFile3"].get_object().data
            if not program.startswith(b"\x01\x00"):  # a TrueType or OpenType program, not bare CFF
                ttf = TTFont(io.BytesIO(program))
                out[name] = ttf["OS/2"].usWeightClass / 4000 if "OS/2" in ttf else 0.1
            else:
                cff = CFFFontSet()
                cff.decompile(io.BytesIO(program), None)
                top = cff[cff.fontNames[0]]
                privates = [fd.Private for fd in top.FDArray] if hasattr(top, "FDArray") else [top.Private]
                stems = [p.StdVW for p in privates if hasattr(p, "StdVW")]
                out[name] = max(stems) / 1000 if stems else 0.1
    return out


def _same_text(a: str, b: str) -> bool:
    """Equal but for spaces (poppler puts one where Typst spaces Japanese from Latin letters)."""
    return re.sub(r"\s+", "", a) == re.sub(r"\s+", "", b)


# ------------------------------------------------------------------ tables


def _table_cells(words: list[Word], pages: Pages) -> dict[tuple, list[Word]]:
    """Words inside ruled table cells, grouped by cell: a cell is found by the rules drawn
    around a word (left and right within the text width, above and below)."""
    cells: dict[tuple, list[Word]] = {}
    for w in words:
        if w.y1 >= FOOTER_TOP:
            continue
        # a rule runs past the text above and below (the cell's inset); a glyph's stroke does not
        y0, y1 = w.y0 - 1.5, w.y1 + 1.5
        left = next((x for x in _steps(w.x0 - 0.5, 20, 0.5) if pages.vertical_rule(w.page, x, y0, y1)), None)
        right = next((x for x in _steps(w.x1 + 0.5, 580, 0.5) if pages.vertical_rule(w.page, x, y0, y1)), None)
        if left is None or right is None or right - left > MAX_CELL_WIDTH:
            continue
        # a rule runs from the left rule to the right one; a glyph's stroke (ー, 一, —) does not
        x0, x1 = left + 1, right - 1
        top = next((y for y in _steps(w.y0, 0, 0.5) if pages.horizontal_rule(w.page, y, x0, x1)), None)
        bottom = next((y for y in _steps(w.y1, FOOTER_TOP, 0.5) if pages.horizontal_rule(w.page, y, x0, x1)), None)
        # a box around a block of text (the cover, a signature box) is not a table cell
        if top is None or bottom is None:
            continue
        cells.setdefault((w.page, round(left), round(right), round(top), round(bottom)), []).append(w)
    return cells


def _lines(cell: list[Word]) -> list[str]:
    rows: dict[int, list[Word]] = {}
    for w in cell:
        rows.setdefault(round(w.y0), []).append(w)
    return [" ".join(w.text for w in sorted(row, key=lambda w: w.x0)) for _, row in sorted(rows.items())]


def narrow_cells(words: list[Word], pages: Pages) -> list[tuple[int, str]]:
    """Cells whose text wraps over several lines of at most three characters each."""
    out = []
    for key, cell in _table_cells(words, pages).items():
        lines = _lines(cell)
        if len(lines) >= 2 and max(len(line) for line in lines) <= 3:
            out.append((key[0], "/".join(lines)))
    return sorted(out)


def crossing_words(words: list[Word], pages: Pages) -> list[tuple[int, str]]:
    """Words drawn over a table rule into the next cell: a rule (it runs past the word's box
    above and below, a glyph does not) inside the word's box, with ink right after it, in the
    next cell's inset, which is blank unless text runs into it. (poppler's boxes of Japanese
    words are a little too wide where Typst narrows punctuation such as 、「: the rule then
    falls inside the box with nothing beyond it.)"""
    out = []
    for w in words:
        if w.y1 >= FOOTER_TOP or w.x1 - w.x0 < 2:
            continue
        for x in _steps(w.x0 + 1, w.x1 - 1, 0.5):
            if not pages.vertical_rule(w.page, x, w.y0 - 1.5, w.y1 + 1.5):
                continue
            beyond = [pages.ink(w.page, bx, y) for bx in _steps(x + 1, min(w.x1, x + 2.5), 0.5)
                      for y in _steps(w.y0 + 1, w.y1 - 1, 0.5)]
            if max(beyond) > 60:
                out.append((w.page, w.text))
                break
    return out


@pytest.mark.parametrize(("name", "lang"), CASES)
def test_no_text_runs_over_a_table_rule(rendered, name, lang):
    r = rendered(name, lang)
    assert crossing_words(r["words"], r["pages"]) == []


@pytest.mark.parametrize(("name", "lang"), CASES)
def test_no_table_cell_wraps_to_a_character_or_two_per_line(rendered, name, lang):
    r = rendered(name, lang)
    cells = _table_cells(r["words"], r["pages"])
    assert len(cells) > 100, "the tables were not found on the rendered pages"
    assert narrow_cells(r["words"], r["pages"]) == []


def _typeset(tmp_path: Path, table: str) -> tuple[list[Word], Pages]:
    """A page holding one table, typeset with the PDF's own fonts, read back like the others."""
    typst = pytest.importorskip("typst")
    from sla_lang.agreement.fonts import choose_fonts, installed_faces

    fonts = choose_fonts(installed_faces())
    fonts.link_into(tmp_path / "fonts")
    family = ", ".join(f'"{f}"' for f in fonts.body)
    source = f'#set text(font: ({family},), size: 9pt)\n#table({table}, stroke: 0.5pt + rgb("#c8c8c8"))\n'
    pdf = tmp_path / "table.pdf"
    pdf.write_bytes(typst.compile(source.encode(), font_paths=[str(tmp_path / "fonts")], ignore_system_fonts=True))
    (tmp_path / "pages").mkdir()
    return _words(pdf), Pages(pdf, tmp_path / "pages")


def test_the_narrow_cell_check_sees_a_wrapped_cell(tmp_path):
    """The check itself, on a page made for it: a 14 pt wide column holding 「月次」 and
    「四半期」, one character per line."""
    words, pages = _typeset(tmp_path, "columns: (14pt, 60pt), [月次], [monthly], [四半期], [quarterly]")
    assert narrow_cells(words, pages) == [(1, "四/半/期"), (1, "月/次")]
    assert crossing_words(words, pages) == []


def test_the_crossing_check_sees_text_over_a_rule(tmp_path):
    """The check itself: a word wider than its 30 pt column runs over the rule; the Japanese
    punctuation Typst narrows (its box in poppler is too wide) does not."""
    words, pages = _typeset(tmp_path, "columns: (30pt, 100pt, 60pt), [*opportunity*], [a], [b], "
                                      "[x], [「timing」、「budget」、「no」、「ok」], [c]")
    assert crossing_words(words, pages) == [(1, "opportunity")]


def test_the_kpi_table_stays_on_two_pages_at_most(rendered):
    """Item 6: the English KPI table of hubspot_scoring ran over three pages."""
    r = rendered("hubspot_scoring", "en")
    rows = [w.page for w in r["words"] if w.text.startswith("kpi.")]
    pages = sorted(set(rows))
    # the rows themselves fill at most two pages; a first row that still fits at the bottom of
    # the page before (an orphan: Typst has no orphan control for table rows) is not what
    # item 6 was about — the table's height is
    if len(pages) == 3 and rows.count(pages[0]) == 1:
        pages = pages[1:]
    assert len(pages) <= 2, pages


# ------------------------------------------------------------------ headings


@pytest.mark.parametrize(("name", "lang"), CASES)
def test_every_heading_is_followed_by_body_text_on_its_page(rendered, name, lang):
    r = rendered(name, lang)
    runs = r["runs"]
    headings = _headings(runs)
    titles = [f"{s.number}. {Catalogue(lang)('section.' + s.kind)}" for s in r["doc"].sections]
    for title in titles:
        assert any(_same_text(h.text, title) for h in headings), f"section heading {title!r} not found"
    heading_lines = {(h.page, h.top) for h in headings}
    for h in headings:
        below = [run for run in runs if run.page == h.page and run.top > h.top + h.height - 1
                 and run.top < FOOTER_TOP and (run.page, run.top) not in heading_lines]
        assert below, f"heading {h.text!r} ends page {h.page}"


@pytest.mark.parametrize("name", POLICIES)
def test_japanese_headings_are_bold(rendered, name):
    """Item 5: every Japanese heading is set in a font whose own program is markedly heavier
    than the font of the Japanese body text. (WeasyPrint embedded IPAex, which has one weight,
    under a name ending in -Bold: a check of names would have passed.)"""
    r = rendered(name, "ja")
    weights = _declared_weights(r["pdf"])
    headings = [h for h in _headings(r["runs"]) if JAPANESE.search(h.text)]
    body = [run for run in r["runs"] if run.size < 11 and not run.bold and JAPANESE.search(run.text)]
    assert len(headings) >= 15 and body
    body_weight = max(weights[run.font] for run in body)
    for h in headings:
        assert weights[h.font] > 1.3 * body_weight, f"heading {h.text!r} is set in {h.font}, not heavier than the text"
    assert any("NotoSansCJKjp-Regular" in run.font for run in body)


# ------------------------------------------------------------------ signatures


@pytest.mark.parametrize(("name", "lang"), CASES)
def test_signature_section_is_one_page_with_boxes_two_per_row(rendered, name, lang):
    from pyhanko.pdf_utils.reader import PdfFileReader

    r = rendered(name, lang)
    doc = r["doc"]
    section = doc.section("signatures")
    title = f"{section.number}. {Catalogue(lang)('section.signatures')}"
    (heading,) = [h for h in _headings(r["runs"]) if _same_text(h.text, title)]
    page_runs = [run for run in r["runs"] if run.page == heading.page and run.top < FOOTER_TOP]
    assert min(run.top for run in page_runs) == heading.top, "the signature section does not start its page"
    for party in doc.signatures:
        assert any(_same_text(run.text, party["party"]) for run in page_runs), f"box of {party['party']!r} not on the page"

    reader = PdfFileReader(io.BytesIO(r["pdf"].read_bytes()))
    pages = _page_numbers(reader)
    fields = [f.get_object() for f in reader.root["/AcroForm"]["/Fields"]]
    assert [str(f["/T"]) for f in fields] == [p["field"] for p in doc.signatures]
    rects = []
    for f in fields:
        assert pages[f.raw_get("/P").idnum] == heading.page
        rects.append([float(v) for v in f["/Rect"]])
    # two per row, left to right, rows top to bottom
    for i, (x1, y1, x2, y2) in enumerate(rects):
        row, column = divmod(i, 2)
        assert abs(y1 - rects[2 * row][1]) < 0.5
        if column:
            assert x1 > rects[i - 1][2]
        if row:
            assert y2 < rects[2 * (row - 1)][1]
    # each field covers the empty signature area of its box: blank inside, the signature line
    # under it, the box border beside it
    for x1, y1, x2, y2 in rects:
        top, bottom = 841.89 - y2, 841.89 - y1
        blank = [r["pages"].ink(heading.page, x, y) for x in _steps(x1 + 1, x2 - 1, 2) for y in _steps(top + 1, bottom - 2, 2)]
        assert max(blank) < 10, "something is drawn inside a signature field"
        assert any(r["pages"].horizontal_rule(heading.page, y, x1 + 1, x2 - 1) for y in _steps(bottom - 1, bottom + 1, 0.25)), \
            "no signature line under the field"
        assert any(r["pages"].vertical_rule(heading.page, x, top, bottom) for x in _steps(x1 - 2, x1 - 14, -0.5))


def _page_numbers(reader) -> dict[int, int]:
    """Object number of each page → its page number (1-based), in page-tree order."""
    out: dict[int, int] = {}
    stack = [reader.root.raw_get("/Pages")]
    while stack:
        ref = stack.pop()
        node = ref.get_object()
        if node["/Type"] == "/Pages":
            stack.extend(reversed(list(node.raw_get("/Kids"))))
        else:
            out[ref.idnum] = len(out) + 1
    return out
