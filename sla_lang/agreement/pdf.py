"""The signable PDF: WeasyPrint renders the HTML variant, pyHanko adds the signature fields.

Guarantees:
- Japanese text is drawn with a real font, never with empty boxes: before rendering,
  `fc-list :lang=ja` must list a font when the document has Japanese text (SLA801); after
  rendering, no character may have fallen back to the `.notdef` glyph (SLA801/SLA802).
- One empty AcroForm signature field per party, named after the party's id, exactly over the
  signature line of that party (found through the HTML anchor `signature-field-N`).
- The fingerprint and version are machine-readable in the document information dictionary
  (`/SLAFingerprint`, `/SLAVersion`) as well as printed in every page footer.
- Byte-identical output for the same input and environment: the creation and modification
  dates come from `SOURCE_DATE_EPOCH`, else from the agreement's effective date; the trailer
  /ID is derived from the content (pydyf's own hash, and for pyHanko's update a SHA-256 of
  the rendered bytes) instead of the clock or a random generator.

WeasyPrint and pyHanko are imported here only, on first use (`pip install 'sla-lang[pdf]'`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import unicodedata
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..diagnostics import Diagnostic, Severity, Message
from ..source import Span
from .content import Document
from .rules import MISSING_GLYPH, NO_JAPANESE_FONT, PDF_EXTRA_MISSING, PDF_RENDER_FAILED

if TYPE_CHECKING:
    from .. import ir

FONT_PACKAGES = "`fonts-ipaexfont` or `fonts-noto-cjk`"
CSS_PX_TO_PT = 0.75


class PdfProblem(Exception):
    """A reason the PDF cannot be written; carries the diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def render_pdf(policy: ir.Policy, doc: Document, *, required: bool) -> tuple[bytes | None, list[Diagnostic]]:
    """The PDF bytes, or None and the diagnostic that says why not.

    `required`: the user asked for the PDF (`--format pdf`); otherwise a missing renderer or
    font only skips it, with a warning.
    """
    try:
        return _render(policy, doc), []
    except PdfProblem as problem:
        d = problem.diagnostic
        if not required and d.rule in (PDF_EXTRA_MISSING, NO_JAPANESE_FONT, MISSING_GLYPH):
            d = Diagnostic(d.rule, Message("{problem}; the PDF was skipped", problem=d.message), d.span,
                           help=d.help, severity=Severity.WARNING)
        return None, [d]


def _where(policy: ir.Policy) -> Span:
    a = policy.agreement
    return a.span if a is not None else Span.point(policy.path)


def _render(policy: ir.Policy, doc: Document) -> bytes:
    try:
        import pyhanko  # noqa: F401
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: WeasyPrint installed but pango missing
        raise PdfProblem(Diagnostic(
            PDF_EXTRA_MISSING,
            Message('cannot render the PDF: {exc}', exc=exc),
            _where(policy),
            help=Message("install the PDF extra: pip install 'sla-lang[pdf]' (and the pango library of your system)"),
        )) from None

    from .render import render_html

    moment = document_date(policy)
    html = render_html(doc, pdf={"created": moment.strftime("%Y-%m-%dT%H:%M:%SZ")})
    japanese = [ch for ch in dict.fromkeys(html) if is_japanese(ch)]
    if japanese and japanese_fonts() == []:
        raise PdfProblem(_no_japanese_font(policy, japanese))

    notdef = _NotdefWarnings()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(notdef)
    try:
        document = weasyprint.HTML(string=html, url_fetcher=_refuse_fetch).render()
        fields = _signature_boxes(document, doc)
        rendered = document.write_pdf(
            pdf_identifier=True,  # pydyf derives the /ID from a hash of the content
            finisher=_metadata_finisher(doc),
        )
    except PdfProblem:
        raise
    except Exception as exc:  # a broken pango or font must not become a traceback
        if os.environ.get("SLA_DEBUG"):
            raise
        raise PdfProblem(Diagnostic(PDF_RENDER_FAILED, Message('WeasyPrint failed: {exc}: {exc2}', exc=type(exc).__name__, exc2=exc),
                                    _where(policy), help=Message('set SLA_DEBUG=1 for the traceback'))) from None
    finally:
        logger.removeHandler(notdef)
    missing = sorted({cp for font in document.fonts.values() for cp in getattr(font, "missing", {})} | notdef.codepoints)
    if missing:
        raise PdfProblem(_missing_glyphs(policy, [chr(cp) for cp in missing]))
    try:
        return add_signature_fields(rendered, fields, moment)
    except Exception as exc:
        if os.environ.get("SLA_DEBUG"):
            raise
        raise PdfProblem(Diagnostic(PDF_RENDER_FAILED, Message('pyHanko could not add the signature fields: {exc}: {exc2}', exc=type(exc).__name__, exc2=exc), _where(policy),
                                    help=Message('set SLA_DEBUG=1 for the traceback'))) from None


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


def _refuse_fetch(url: str, *args, **kwargs):
    raise ValueError(f"the agreement has no external resources (refused {url!r})")


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


class _NotdefWarnings(logging.Handler):
    """Collects the code points of WeasyPrint's '.notdef glyph rendered' warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.codepoints: set[int] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if ".notdef" in str(record.msg) and len(record.args or ()) >= 2 and isinstance(record.args[1], int):
            self.codepoints.add(record.args[1])


# ------------------------------------------------------------------ metadata and signature fields


def _metadata_finisher(doc: Document):
    def finish(document, pdf) -> None:
        import pydyf

        pdf.info["SLAFingerprint"] = pydyf.String(doc.fingerprint)
        pdf.info["SLAVersion"] = pydyf.String(doc.version)
        pdf.info["Keywords"] = pydyf.String(f"sla-fingerprint:{doc.fingerprint}")

    return finish


def _signature_boxes(document, doc: Document) -> list[tuple[str, int, tuple[float, float, float, float]]]:
    """(field name, page index, (x1, y1, x2, y2) in PDF points) for every party's signature line."""
    out = []
    for sig in doc.signatures:
        for index, page in enumerate(document.pages):
            rect = page.anchors.get(sig["anchor"])
            if rect is None:
                continue
            if len(rect) != 4:
                raise RuntimeError("this WeasyPrint gives anchor points, not boxes; sla needs WeasyPrint 63 or later")
            x1, y1, x2, y2 = rect
            height = page.height
            out.append((sig["field"], index, (
                round(x1 * CSS_PX_TO_PT, 2), round((height - y2) * CSS_PX_TO_PT, 2),
                round(x2 * CSS_PX_TO_PT, 2), round((height - y1) * CSS_PX_TO_PT, 2),
            )))
            break
        else:
            raise RuntimeError(f"the signature line of `{sig['field']}` is missing from the laid-out pages")
    return out


def add_signature_fields(pdf: bytes, fields, moment: datetime) -> bytes:
    """Append one empty signature field per party, deterministically (see module docstring)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields as sig_fields

    class ReproducibleWriter(IncrementalPdfFileWriter):
        # pyHanko stamps /ModDate with the clock and draws the second half of the trailer /ID
        # from os.urandom; both are replaced by values that depend on the input only.
        def _update_meta(self) -> None:
            super()._update_meta()
            if self._info is not None:
                info = self._info.get_object()
                info["/ModDate"] = generic.pdf_date(moment)

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
