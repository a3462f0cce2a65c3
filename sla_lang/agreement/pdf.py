"""The signable PDF: Typst typesets the document, pyHanko adds the signature fields.

Guarantees:
- Japanese text is drawn with a real font, never with empty boxes: before typesetting, every
  character must have a glyph in one of the chosen font files (SLA801 for Japanese, SLA802 for
  anything else); after typesetting, every non-ASCII character of the source must be in the
  text the PDF's fonts map back (a glyph Typst could not find has no such mapping).
- Fonts are chosen by file, not by locale (`fonts.py`), and embedded as subsets.
- One empty AcroForm signature field per party, named after the party's id, exactly over the
  signature area of that party's box: the template labels each area with a
  `<sla-signature-field>` metadata carrying its page and position, read back with Typst's query.
- The fingerprint and version are machine-readable in the document information dictionary
  (`/SLAFingerprint`, `/SLAVersion`, and `/Keywords`) as well as printed in every page footer.
- Byte-identical output for the same input: the creation and modification dates come from
  `SOURCE_DATE_EPOCH`, else from the agreement's effective date; Typst derives the first half of
  the trailer /ID from the document, the second half is a SHA-256 of Typst's bytes.

Typst and pyHanko are imported here only, on first use (`pip install 'sla-lang[pdf]'`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..diagnostics import Diagnostic, Message, Severity
from ..source import Span
from .content import Document
from .fonts import FONT_PACKAGES, FontSet, choose_fonts, installed_faces
from .rules import MISSING_GLYPH, NO_JAPANESE_FONT, PDF_EXTRA_MISSING, PDF_RENDER_FAILED, PDF_TABLES_SUMMARISED

if TYPE_CHECKING:
    from .. import ir

SIGNATURE_LABEL = "<sla-signature-field>"


class PdfProblem(Exception):
    """A reason the PDF cannot be written; carries the diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


# Typst keeps every laid-out table cell until the PDF is written, about 200 kB a row: a document
# whose tables have more rows than this in all shows each table's first ROWS_SHOWN rows (SLA805)
# — measured: the 6,000 rows of a 1,000-stage policy took 1.5 GB, 10,000 stages would take 15 GB
PDF_TABLE_ROWS = 2000
ROWS_SHOWN = 100


def render_pdf(policy: ir.Policy, doc: Document, *, required: bool) -> tuple[bytes | None, list[Diagnostic]]:
    """The PDF bytes, or None and the diagnostic that says why not.

    `required`: the user asked for the PDF (`--format pdf`); otherwise a missing renderer or
    font only skips it, with a warning.
    """
    try:
        return _render(policy, doc)
    except PdfProblem as problem:
        d = problem.diagnostic
        if not required and d.rule in (PDF_EXTRA_MISSING, NO_JAPANESE_FONT, MISSING_GLYPH):
            d = Diagnostic(d.rule, Message("{problem}; the PDF was skipped", problem=d.message), d.span,
                           help=d.help, severity=Severity.WARNING)
        return None, [d]


def _where(policy: ir.Policy) -> Span:
    a = policy.agreement
    return a.span if a is not None else Span.point(policy.path)


def _failed(policy: ir.Policy, what: Message, exc: Exception) -> PdfProblem:
    message = getattr(exc, "message", None) or str(exc)
    return PdfProblem(Diagnostic(PDF_RENDER_FAILED, Message('{what}: {exc}: {message}', what=what, exc=type(exc).__name__, message=message), _where(policy),
                                 help=Message('set SLA_DEBUG=1 for the traceback')))


def _render(policy: ir.Policy, doc: Document) -> tuple[bytes, list[Diagnostic]]:
    from .render import render_typst, table_rows

    moment = document_date(policy)
    limit: dict[str, int] = {}  # decided on the first rendering, from the rows it has

    def render(fonts: dict[str, list[str]]) -> str:
        source = render_typst(doc, fonts=fonts, **limit)
        if not limit:
            rows = table_rows(source)
            if rows <= PDF_TABLE_ROWS:
                return source
            limit.update(row_limit=ROWS_SHOWN, table_rows=rows)
            source = render_typst(doc, fonts=fonts, **limit)
        return source

    rendered, boxes = typeset(policy, render, lang=doc.lang, moment=moment, query=SIGNATURE_LABEL)
    diagnostics = []
    if limit:
        diagnostics.append(Diagnostic(
            PDF_TABLES_SUMMARISED,
            Message("the agreement's tables have {rows} rows, more than one PDF is typeset with ({most}): "
                    "each table of the PDF shows its first {shown} rows and says how many it leaves out",
                    rows=limit["table_rows"], most=PDF_TABLE_ROWS, shown=limit["row_limit"]),
            _where(policy),
            help=Message("the HTML and Markdown forms (--format md,html) list every row; split the policy to sign "
                         "each part in full")))
    try:
        return finish_pdf(rendered, doc, _signature_fields(json.loads(boxes), doc), moment), diagnostics
    except Exception as exc:
        if os.environ.get("SLA_DEBUG"):
            raise
        raise _failed(policy, Message("pyHanko could not add the signature fields"), exc) from None


def typeset(policy: ir.Policy, render: Callable[[dict[str, list[str]]], str], *, lang: str, moment: datetime,
            query: str | None = None, files: dict[str, bytes] | None = None) -> tuple[bytes, str | None]:
    """Typst source → PDF bytes, with the fonts and glyph guarantees of the module docstring.

    The one Typst pipeline of sla: the agreement and the SLA review (`sla report`) both go
    through it. `render(fonts)` returns the Typst source for the font families given (`body`,
    `mono`); it is called twice, first to learn the characters that need glyphs. `query`: a
    label whose metadata values are returned as Typst's JSON; `files`: more files beside the
    main one (figures). Raises PdfProblem."""
    try:
        import pyhanko  # noqa: F401
        import typst
    except ImportError as exc:
        raise PdfProblem(Diagnostic(
            PDF_EXTRA_MISSING,
            Message('cannot render the PDF: {exc}', exc=exc),
            _where(policy),
            help=Message("install the PDF extra: pip install 'sla-lang[pdf]'"),
        )) from None

    # the text decides the fonts (a fallback family for characters the preferred ones lack),
    # and the fonts are named in the source: the characters are taken from a first rendering
    characters = set(render({"body": [], "mono": []}))
    fonts = _fonts_for(policy, lang, characters)
    source = render({"body": fonts.body, "mono": fonts.mono})
    missing = fonts.missing(characters)
    if missing:
        raise PdfProblem(_missing_glyphs(policy, missing))

    answer = None
    try:
        with tempfile.TemporaryDirectory(prefix="sla-pdf-") as folder:
            # Typst reads the main file and the fonts from folders: only the chosen files are there
            main = Path(folder) / "main.typ"
            main.write_text(source, encoding="utf-8")
            for name, data in (files or {}).items():
                (Path(folder) / name).write_bytes(data)
            fonts.link_into(Path(folder) / "fonts")
            compiler = typst.Compiler(str(main), root=folder, font_paths=[str(Path(folder) / "fonts")],
                                      ignore_system_fonts=True)
            rendered = compiler.compile(format="pdf", timestamp=moment)
            if query is not None:
                answer = compiler.query(query, field="value")
    except Exception as exc:  # a broken font or engine must not become a traceback
        if os.environ.get("SLA_DEBUG"):
            raise
        raise _failed(policy, Message("Typst failed"), exc) from None
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader

        undrawn = undrawn_characters(PdfFileReader(io.BytesIO(rendered)), characters)
    except Exception as exc:
        if os.environ.get("SLA_DEBUG"):
            raise
        raise _failed(policy, Message("pyHanko could not read the PDF Typst wrote"), exc) from None
    if undrawn:
        missing = _missing_glyphs(policy, undrawn)
        raise PdfProblem(Diagnostic(missing.rule, Message("{problem} (Typst drew no glyph for it)", problem=missing.message), missing.span,
                                    help=missing.help))
    return rendered, answer


def document_date(policy: ir.Policy) -> datetime:
    """SOURCE_DATE_EPOCH when set (reproducible builds), else the effective date at 00:00 UTC."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    a = policy.agreement
    if a is not None and a.effective is not None:
        d = a.effective.value
        return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
    return datetime(1970, 1, 1, tzinfo=timezone.utc)


# ------------------------------------------------------------------ fonts


def is_japanese(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x3000 <= cp <= 0x30FF  # CJK punctuation, hiragana, katakana
        or 0x3400 <= cp <= 0x4DBF
        or 0x4E00 <= cp <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= cp <= 0xFAFF
        or 0xFF00 <= cp <= 0xFFEF  # full-width forms
        or 0x31F0 <= cp <= 0x31FF
    )


def japanese_fonts() -> list[str] | None:
    """Font files fontconfig says cover Japanese; None when `fc-list` is not available."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        out = subprocess.run([fc_list, ":lang=ja", "file"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted(line.strip().rstrip(":") for line in out.stdout.splitlines() if line.strip())


def _fonts_for(policy: ir.Policy, lang: str, characters: set[str]) -> FontSet:
    faces = installed_faces()
    if faces is None:
        raise PdfProblem(Diagnostic(
            MISSING_GLYPH, Message("cannot choose the fonts of the PDF: fontconfig's `fc-list` is not installed"),
            _where(policy), help=Message('install fontconfig and the fonts (Debian/Ubuntu: bash scripts/install.sh)')))
    fonts = choose_fonts(faces)
    fonts.add_fallbacks(faces, characters)
    if lang == "ja" and fonts.japanese:
        # Japanese text with the Latin letters of the Japanese family: one design, one weight scale
        fonts.body = [fonts.japanese] + [f for f in fonts.body if f != fonts.japanese]
    return fonts


def _no_japanese_font(policy: ir.Policy, sample: list[str]) -> Diagnostic:
    shown = "".join(sample[:8])
    return Diagnostic(
        NO_JAPANESE_FONT,
        Message('the document has Japanese text (such as {shown!r}) but no installed font has Japanese glyphs', shown=shown),
        _where(policy),
        help=Message('install a Japanese font, e.g. on Debian/Ubuntu: apt-get install {value} (check with `fc-list :lang=ja`)', value=FONT_PACKAGES.replace('`', '')),
    )


def _missing_glyphs(policy: ir.Policy, chars: list[str]) -> Diagnostic:
    japanese = [ch for ch in chars if is_japanese(ch)]
    if japanese:
        return _no_japanese_font(policy, japanese)
    listed = ", ".join(f"{ch!r} (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')})" for ch in chars[:10])
    return Diagnostic(
        MISSING_GLYPH,
        Message('no installed font has a glyph for {listed}', listed=listed + (" …" if len(chars) > 10 else "")),
        _where(policy),
        help=Message("install a font that covers these characters (e.g. Debian's fonts-noto-core), or remove them from the policy"),
    )


# ------------------------------------------------------------------ signature fields, metadata, glyph check


def _signature_fields(boxes: list[dict], doc: Document) -> list[tuple[str, int, tuple[float, float, float, float]]]:
    """(field name, page index, (x1, y1, x2, y2) in PDF points) of every party's signature area.

    Typst reports each area's top-left corner from the top of its page (1-based page numbers);
    PDF user space counts from the bottom. The page height is A4's, as the template sets it.
    """
    by_field: dict[str, dict] = {}
    for box in boxes:
        if box["field"] in by_field:
            raise RuntimeError(f"the signature area of `{box['field']}` was laid out twice")
        by_field[box["field"]] = box
    out = []
    for sig in doc.signatures:
        box = by_field.get(sig["field"])
        if box is None:
            raise RuntimeError(f"the signature area of `{sig['field']}` is missing from the laid-out pages")
        x, y, width, height = box["x"], box["y"], box["width"], box["height"]
        out.append((sig["field"], int(box["page"]) - 1, (
            round(x, 2), round(A4_HEIGHT_PT - y - height, 2), round(x + width, 2), round(A4_HEIGHT_PT - y, 2),
        )))
    return out


A4_HEIGHT_PT = 297 / 25.4 * 72


def finish_pdf(pdf: bytes, doc: Document, fields, moment: datetime) -> bytes:
    """Typst's PDF with sla's metadata and one empty signature field per party, appended as
    one incremental update (deterministic: see the module docstring)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields as sig_fields

    class ReproducibleWriter(IncrementalPdfFileWriter):
        # pyHanko would stamp /ModDate and the XMP metadata with the clock and a /Producer of
        # its own: the information dictionary is updated here instead, with sla's values only.
        def _update_meta(self) -> None:
            info = self._info.get_object() if self._info is not None else None
            if info is None:
                info = generic.DictionaryObject()
                self._info = self.add_object(info)
            info["/SLAFingerprint"] = generic.TextStringObject(doc.fingerprint)
            info["/SLAVersion"] = generic.TextStringObject(doc.version)
            info["/Keywords"] = generic.TextStringObject(f"sla-fingerprint:{doc.fingerprint}")
            info["/CreationDate"] = generic.pdf_date(moment)
            info["/ModDate"] = generic.pdf_date(moment)
            self.mark_update(self._info)

    writer = ReproducibleWriter(io.BytesIO(pdf))
    first_id = writer._document_id[0]
    writer._document_id = generic.ArrayObject([
        first_id, generic.ByteStringObject(hashlib.sha256(pdf).digest()[:16]),
    ])
    for name, page, box in fields:
        sig_fields.append_signature_field(
            writer, sig_fields.SigFieldSpec(sig_field_name=name, on_page=page, box=box)
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def undrawn_characters(reader, source: set[str]) -> list[str]:
    """The non-ASCII letters, digits, signs and punctuation of the source that no font of the
    PDF maps a glyph back to: what Typst could not find a glyph for (it draws `.notdef`, which
    has no ToUnicode entry). Every such character of the source is printed: the template
    writes no text that is not shown."""
    wanted = {ch for ch in source if ord(ch) > 0x7F and unicodedata.category(ch)[0] in "LNPS"}
    return sorted(wanted - drawn_characters(reader))


def drawn_characters(reader) -> set[str]:
    """Every character the PDF's fonts map a glyph back to (their ToUnicode maps), on every
    page and in every form XObject (the diagram) it uses."""
    out: set[str] = set()
    seen: set[int] = set()

    def resources(res) -> None:
        res = res.get_object()
        fonts = res.get("/Font")
        for font in (fonts.get_object().values() if fonts is not None else ()):
            font = font.get_object()
            if id(font) in seen or "/ToUnicode" not in font:
                continue
            seen.add(id(font))
            out.update(_to_unicode_text(font["/ToUnicode"].get_object().data))
        xobjects = res.get("/XObject")
        for xobject in (xobjects.get_object().values() if xobjects is not None else ()):
            xobject = xobject.get_object()
            if xobject.get("/Subtype") == "/Form" and "/Resources" in xobject and id(xobject) not in seen:
                seen.add(id(xobject))
                resources(xobject["/Resources"])

    stack = [reader.root["/Pages"]]
    while stack:
        node = stack.pop().get_object()
        if node.get("/Type") == "/Pages":
            stack.extend(node["/Kids"])
        elif "/Resources" in node:
            resources(node["/Resources"])
    return out


_HEX = rb"<([0-9A-Fa-f]+)>"


def _to_unicode_text(cmap: bytes) -> set[str]:
    """The characters a ToUnicode CMap maps glyphs to (bfchar and bfrange entries)."""
    def text(hex_digits: bytes) -> str:
        return bytes.fromhex(hex_digits.decode()).decode("utf-16-be", "replace")

    out: set[str] = set()
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.DOTALL):
        for _, destination in re.findall(_HEX + rb"\s*" + _HEX, block):
            out.update(text(destination))
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.DOTALL):
        for lo, hi, rest in re.findall(_HEX + rb"\s*" + _HEX + rb"\s*(<[0-9A-Fa-f]+>|\[[^\]]*\])", block):
            if rest.startswith(b"["):  # one destination per glyph
                for destination in re.findall(_HEX, rest):
                    out.update(text(destination))
                continue
            base = text(rest[1:-1])
            if base:
                for i in range(int(hi, 16) - int(lo, 16) + 1):
                    out.update(base[:-1] + chr(ord(base[-1]) + i))
    return out
