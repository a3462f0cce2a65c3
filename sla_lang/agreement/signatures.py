"""Signing and verifying the agreement PDF with pyHanko (PAdES baseline B, offline).

Nothing here fetches anything: no timestamp server, no revocation lookups. Every problem is a
Diagnostic located at the PDF (line 1, column 1: a PDF has no lines a reader would care
about); only the CLI picks exit codes.

What `verify` relies on, and where it reads it — so that an update appended after signing
cannot change the verdict:

- The fingerprint and version (`/SLAFingerprint`, `/SLAVersion`, and the `/Keywords` copy) are
  read from the revision each signature covers, through pyHanko's historical resolver. pyHanko
  rightly lets anybody append a metadata-only update without breaking a signature
  (LTA_UPDATES), so the newest revision proves nothing: a value that differs between the
  signed revision and the newest one, or between two signatures, is an error (SLA816).
- Each signature's field name is read in the revision it signed as well; the party it belongs
  to, and who may sign for that party, come from the policy (`--policy`), never from the PDF.
- pyHanko's verdicts are used as they are: the signed bytes hash to the signed digest, the
  signature value is valid, the changes after signing are of an allowed kind (its modification
  level, reported for every signature), and the certificate chains to a `--trust` root.
- The file's structure: every byte belongs to a revision (SLA818 otherwise).

Signer names, e-mail addresses, field names and recorded values come from certificates and PDFs
anybody can make: every one goes through `terminal_safe` before it reaches a message, so a
newline or an escape sequence in a name cannot forge a line of the report.

None of it depends on the engine that rendered the PDF: only the revisions, the AcroForm
signature fields and the document information dictionary are read.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..diagnostics import Diagnostic, Listing, Message, Severity
from ..render.terminal import terminal_safe
from ..source import Span
from .rules import (
    DATA_AFTER_END_OF_FILE,
    FIELD_ALREADY_SIGNED,
    FINGERPRINT_MISMATCH,
    SIGNATURE_NOT_INTACT,
    SIGNER_NOT_PARTY,
    SIGNER_NOT_TRUSTED,
    UNKNOWN_SIGNATURE_FIELD,
    UNREADABLE_PDF,
    UNSIGNED_FIELD,
    UNUSABLE_SIGNING_KEY,
)

FINGERPRINT_KEY = "/SLAFingerprint"
VERSION_KEY = "/SLAVersion"
# Every value of the document information dictionary that sla writes and a reader may rely on.
SLA_INFO_KEYS = (FINGERPRINT_KEY, VERSION_KEY, "/Keywords")
# An agreement is a few hundred kilobytes; this bounds what `verify` reads (`/dev/zero`…).
MAX_PDF_BYTES = 64 * 2**20
_PDF_WHITESPACE = b"\x00\t\n\x0c\r "
# What may follow a revision's %%EOF: the objects (or the xref table) of the next revision.
_REVISION_START = re.compile(rb"\d+[\x00\t\n\x0c\r ]+\d+[\x00\t\n\x0c\r ]+obj\b|xref\b")
# How many `%%EOF` markers from the end are tried when the last one does not end a readable PDF.
_EOF_CANDIDATES = 16


class SigningError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def quiet_pyhanko_logs() -> None:
    """pyHanko logs validation failures with tracebacks; the report says it plainly instead."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _at(path: Path | str) -> Span:
    return Span.point(Path(path).as_posix())


# ------------------------------------------------------------------ reading the file


def _load(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_PDF_BYTES + 1)
    except OSError as exc:
        raise SigningError(Diagnostic(UNREADABLE_PDF, Message('cannot read the file: {value}', value=exc.strerror or exc),
                                      _at(path))) from None
    if len(data) > MAX_PDF_BYTES:
        raise SigningError(Diagnostic(UNREADABLE_PDF, Message('the file is larger than {value} MiB: not an agreement PDF', value=MAX_PDF_BYTES // 2**20), _at(path)))
    return data


def _ends_of_file(data: bytes) -> list[int]:
    """Offsets just past the last `%%EOF` markers (and the end-of-line that belongs to each), last first."""
    ends: list[int] = []
    at = len(data)
    while len(ends) < _EOF_CANDIDATES:
        at = data.rfind(b"%%EOF", 0, at)
        if at < 0:
            break
        end = at + 5
        end += 2 if data[end:end + 2] == b"\r\n" else 1 if data[end:end + 1] in (b"\r", b"\n") else 0
        ends.append(end)
    return ends


def _read_pdf(path: Path):
    """(the whole file, a pyHanko reader of the PDF in it).

    The reader sees the file up to the last `%%EOF` that ends a readable PDF: bytes after it
    are no revision (pyHanko would only look for the marker in the last kilobyte), and
    `stray_bytes` reports them.
    """
    from pyhanko.pdf_utils.reader import PdfFileReader

    data = _load(path)
    problem: Exception | None = None
    for end in _ends_of_file(data) or [len(data)]:
        try:
            reader = PdfFileReader(io.BytesIO(data[:end]), strict=False)
            reader.root  # noqa: B018  (forces the document structure to be read)
            return data, reader
        except Exception as exc:
            problem = problem or exc
    raise SigningError(Diagnostic(UNREADABLE_PDF, Message('not a readable PDF: {problem}', problem=terminal_safe(str(problem))), _at(path),
                                  help=Message('use the agreement.pdf written by `sla build --target agreement`')))


def stray_bytes(data: bytes, reader) -> list[tuple[int, int]]:
    """(offset, length) of every run of bytes that belongs to no revision: after the last
    revision's `%%EOF`, or between a revision's `%%EOF` and the next revision's objects.
    White space is allowed anywhere."""
    out: list[tuple[int, int]] = []
    xrefs = reader.xrefs
    newest = xrefs.total_revisions - 1
    for revision in range(newest + 1):
        eof = data.find(b"%%EOF", xrefs.get_xref_container_info(revision).end_location)
        if eof < 0:
            continue
        after = eof + 5
        start = len(data) - len(data[after:].lstrip(_PDF_WHITESPACE))
        if revision == newest:
            if start < len(data):
                out.append((start, len(data) - start))
        elif start < len(data) and not _REVISION_START.match(data, start):
            following = _REVISION_START.search(data, start)
            end = following.start() if following else len(data)
            while data[end - 1] in _PDF_WHITESPACE:
                end -= 1
            out.append((start, end - start))
    return out


def _stray_diagnostic(path: Path | str, stray: list[tuple[int, int]], data_length: int) -> Diagnostic:
    total = sum(length for _, length in stray)
    offset = stray[0][0]
    at_end = offset + stray[0][1] == data_length
    return Diagnostic(
        DATA_AFTER_END_OF_FILE,
        Message("{total} bytes after the end of the PDF (from offset {offset}) belong to no revision and no signature "
                "covers them", total=total, offset=offset) if at_end else
        Message("{total} bytes between two revisions (from offset {offset}) belong to no revision and no signature "
                "covers them", total=total, offset=offset),
        _at(path),
        help=Message('go back to the PDF as built or as signed; nothing that writes PDFs appends such bytes'),
    )


def signature_fields(reader) -> list[tuple[str, bool]]:
    """(field name, signed?) for every signature field, in document order."""
    from pyhanko.sign.fields import enumerate_sig_fields

    return [(str(name), value is not None) for name, value, _ in enumerate_sig_fields(reader)]


def _resolve(resolver, value):
    """`value`, resolved in `resolver`'s revision when it is an indirect reference.

    Resolving through the reference itself would use the newest revision: that is how the
    fingerprint was once read from an update appended after signing."""
    from pyhanko.pdf_utils import generic

    if isinstance(value, generic.IndirectObject):
        return resolver.get_object(value.reference)
    return value


def recorded_values(reader, revision: int) -> dict[str, str | None]:
    """The values of `SLA_INFO_KEYS` in the document information dictionary of `revision`."""
    from pyhanko.pdf_utils import generic

    out: dict[str, str | None] = dict.fromkeys(SLA_INFO_KEYS)
    try:
        resolver = reader.get_historical_resolver(revision)
        info = _resolve(resolver, resolver.trailer_view.raw_get("/Info"))
    except Exception:  # no /Info, or a broken one: nothing recorded
        return out
    if not isinstance(info, generic.DictionaryObject):
        return out
    for key in SLA_INFO_KEYS:
        try:
            value = _resolve(resolver, info.raw_get(key))
        except Exception:
            continue
        if isinstance(value, (generic.TextStringObject, generic.ByteStringObject)):
            out[key] = str(value)
        elif value is not None:
            out[key] = f"(not a text: {type(value).__name__})"
    return out


def recorded_fingerprint(reader, revision: int | None = None) -> str | None:
    """The fingerprint recorded in `revision` (default: the newest)."""
    if revision is None:
        revision = reader.xrefs.total_revisions - 1
    return recorded_values(reader, revision)[FINGERPRINT_KEY]


# ------------------------------------------------------------------ who signed


@dataclass(frozen=True)
class Signer:
    """The person a signing certificate names, and what identifies the certificate."""

    name: str | None
    emails: tuple[str, ...]
    certificate_sha256: str
    key_sha256: str
    not_before: str
    not_after: str

    @classmethod
    def of(cls, cert) -> Signer:
        """From an asn1crypto certificate."""
        subject = cert.subject.native

        def values(key: str) -> list[str]:
            value = subject.get(key)
            if value is None:
                return []
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]

        emails = values("email_address")
        san = cert.subject_alt_name_value
        for general_name in san or ():
            if general_name.name == "rfc822_name":
                emails.append(str(general_name.native))
        names = values("common_name")
        validity = cert["tbs_certificate"]["validity"]
        return cls(
            name=", ".join(names) if names else (cert.subject.human_friendly or None),
            emails=tuple(dict.fromkeys(emails)),
            certificate_sha256=hashlib.sha256(cert.dump()).hexdigest(),
            key_sha256=hashlib.sha256(cert.public_key.dump()).hexdigest(),
            not_before=validity["not_before"].native.isoformat(),
            not_after=validity["not_after"].native.isoformat(),
        )

    def shown(self) -> str:
        name = terminal_safe(self.name) if self.name else Message("(no name)")
        return Message("{who} <{email}>", who=name, email=terminal_safe(self.emails[0])) if self.emails else name


@dataclass(frozen=True)
class PartyIdentity:
    """Who may sign a party's field, as the policy says (its lead)."""

    party: str
    label: str
    name: str | None
    email: str | None
    certificate: str | None

    @property
    def identified(self) -> bool:
        return self.email is not None or self.certificate is not None

    def shown(self) -> str:
        who = terminal_safe(self.name) if self.name else Message("its lead")
        if self.email:
            who = Message("{who} <{email}>", who=who, email=terminal_safe(self.email))
        return Message("{who} (certificate {certificate})", who=who, certificate=self.certificate) if self.certificate else who

    def mismatches(self, signer: Signer) -> list[Message]:
        """Why `signer` is not this party's lead; empty when the certificate matches."""
        out = []
        if self.email is not None and self.email.casefold() not in {e.casefold() for e in signer.emails}:
            carried = (Listing((terminal_safe(e) for e in signer.emails), limit=len(signer.emails), quote=False)
                       if signer.emails else Message("no e-mail address"))
            out.append(Message("its certificate carries {carried}, where the policy names {email}", carried=carried,
                               email=terminal_safe(self.email)))
        if self.certificate is not None and self.certificate != signer.certificate_sha256:
            out.append(Message("its certificate's SHA-256 is {actual}, where the policy names {expected}",
                               actual=signer.certificate_sha256, expected=self.certificate))
        return out


@dataclass(frozen=True)
class PolicyExpectation:
    """What `--policy` says the PDF must be: its fingerprint and the parties who sign it."""

    path: str
    fingerprint: str
    parties: tuple[PartyIdentity, ...]


def _signer_key_clash(signers: dict[str, Signer]) -> list[tuple[str, str, str]]:
    """(first field, second field, what they share) for fields signed by one certificate, key or address."""
    seen: dict[tuple[str, str], str] = {}
    clashes: list[tuple[str, str, str]] = []
    for field_name, signer in signers.items():
        keys = [("certificate", signer.certificate_sha256, Message("the same certificate")),
                ("key", signer.key_sha256, Message("the same key"))]
        keys += [("email", e.casefold(), Message("the same e-mail address {email}", email=terminal_safe(e)))
                 for e in signer.emails]
        for kind, value, words in keys:
            first = seen.setdefault((kind, value), field_name)
            if first != field_name:
                clashes.append((first, field_name, words))
                break
    return clashes


# ------------------------------------------------------------------ sign


def load_key_and_certificate(key_path: Path, cert_path: Path, passphrase: Callable[[], str | None],
                             now: datetime | None = None):
    """(asn1crypto private key, asn1crypto certificate) or SigningError (SLA813).

    A certificate outside its validity period is refused: the signature would name a person
    through a certificate that does not vouch for them at the time of signing."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    def fail(message: Message, path: Path,
             help: Message = Message("--key takes a PEM or DER private key, --cert the certificate of that key")) -> SigningError:
        return SigningError(Diagnostic(UNUSABLE_SIGNING_KEY, message, _at(path), help=help))

    try:
        key_bytes = key_path.read_bytes()
    except OSError as exc:
        raise fail(Message('cannot read the private key: {value}', value=exc.strerror or exc), key_path) from None
    try:
        cert_bytes = cert_path.read_bytes()
    except OSError as exc:
        raise fail(Message('cannot read the certificate: {value}', value=exc.strerror or exc), cert_path) from None

    def load_key(password: bytes | None):
        loader = serialization.load_pem_private_key if b"-----BEGIN" in key_bytes else serialization.load_der_private_key
        return loader(key_bytes, password=password)

    try:
        try:
            key = load_key(None)
        except TypeError:  # the key is encrypted
            secret = passphrase()
            if not secret:
                raise fail(Message('the private key is encrypted and no passphrase was given'), key_path) from None
            key = load_key(secret.encode("utf-8"))
    except SigningError:
        raise
    except (ValueError, TypeError) as exc:
        raise fail(Message('not a usable private key: {exc}', exc=exc), key_path) from None
    except Exception as exc:  # cryptography raises its own types for unsupported keys
        raise fail(Message('not a usable private key: {exc}: {exc2}', exc=type(exc).__name__, exc2=exc), key_path) from None
    try:
        cert = (x509.load_pem_x509_certificate if b"-----BEGIN" in cert_bytes else x509.load_der_x509_certificate)(cert_bytes)
    except Exception as exc:
        raise fail(Message('not a certificate: {exc}', exc=exc), cert_path) from None
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*raw) != cert.public_key().public_bytes(*raw):
        raise fail(Message('the private key does not belong to the certificate'), key_path)
    now = now or datetime.now(timezone.utc)
    valid_from, valid_to = cert.not_valid_before_utc, cert.not_valid_after_utc
    period = Message("it is valid from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC", start=valid_from, end=valid_to)
    if now > valid_to:
        raise fail(Message('the certificate expired on {valid_to:%Y-%m-%d}: {period}', valid_to=valid_to, period=period), cert_path,
                   help=Message('sign with a current certificate; a signature needs a certificate valid when it is made'))
    if now < valid_from:
        raise fail(Message('the certificate is not valid yet: {period}', period=period), cert_path,
                   help=Message("sign with a current certificate (or check the computer's clock)"))
    key_info = asn1_keys.PrivateKeyInfo.load(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return key_info, asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _signers_in(reader) -> dict[str, Signer]:
    """Field name → the signer of every signed field whose certificate can be read."""
    from pyhanko.sign.fields import enumerate_sig_fields
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

    out: dict[str, Signer] = {}
    for name, value, field_ref in enumerate_sig_fields(reader):
        if value is None:
            continue
        try:
            out[str(name)] = Signer.of(EmbeddedPdfSignature(reader, field_ref, str(name)).signer_cert)
        except Exception:  # a mangled signature: `verify` reports it; it signs nothing here
            continue
    return out


def sign_pdf(pdf_path: Path, field_name: str, key_path: Path, cert_path: Path,
             passphrase: Callable[[], str | None] = lambda: os.environ.get("SLA_KEY_PASSPHRASE")) -> bytes:
    """The signed PDF (an incremental update of the input). Raises SigningError."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    quiet_pyhanko_logs()
    data, reader = _read_pdf(pdf_path)
    stray = stray_bytes(data, reader)
    if stray:
        # signing would put the stray bytes under this signature
        raise SigningError(_stray_diagnostic(pdf_path, stray, len(data)))
    available = signature_fields(reader)
    names = [name for name, _ in available]
    if field_name not in names:
        listed = ", ".join(f"`{terminal_safe(n)}`" for n in names) or "none"
        raise SigningError(Diagnostic(UNKNOWN_SIGNATURE_FIELD,
                                      Message('the PDF has no signature field `{field_name}`', field_name=terminal_safe(field_name)),
                                      _at(pdf_path), help=Message('signature fields in this PDF: {listed}', listed=listed)))
    if dict(available)[field_name]:
        raise SigningError(Diagnostic(FIELD_ALREADY_SIGNED, Message('the signature field `{field_name}` is signed already', field_name=field_name),
                                      _at(pdf_path), help=Message('`sla verify` shows who signed which field')))
    key, cert = load_key_and_certificate(key_path, cert_path, passphrase)
    mine = Signer.of(cert)
    for first, second, shared in _signer_key_clash({**_signers_in(reader), field_name: mine}):
        if second == field_name:
            raise SigningError(Diagnostic(
                SIGNER_NOT_PARTY, Message('{shared} already signed the field `{first}`: one person cannot sign for two parties', shared=shared, first=terminal_safe(first)), _at(pdf_path),
                help=Message('the lead of `{field_name}` signs `{field_name}` with their own certificate', field_name=field_name)))
    signer = signers.SimpleSigner(signing_cert=cert, signing_key=key,
                                  cert_registry=SimpleCertificateStore.from_certs([cert]))
    meta = signers.PdfSignatureMetadata(field_name=field_name, md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    pdf_signer = signers.PdfSigner(meta, signer=signer, stamp_style=_stamp_style(mine))
    out = pdf_signer.sign_pdf(writer, appearance_text_params={
        "signer": terminal_safe(mine.name or ""), "email": terminal_safe(mine.emails[0]) if mine.emails else ""})
    return out.getvalue()


STAMP_FONT_SIZE = 9
STAMP_LEADING = 12
# The signing time as pyHanko formats it into the stamp: with its UTC offset.
STAMP_TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC%z"


def _stamp_style(signer: Signer):
    """The visible stamp in the field: the signer's name and e-mail address and the signing
    time with its UTC offset, in a font with Japanese glyphs."""
    from pyhanko import stamp
    from pyhanko.pdf_utils.text import TextBoxStyle

    from .pdf import japanese_fonts

    fonts = japanese_fonts() or []
    preferred = sorted(fonts, key=lambda f: (not Path(f).name.startswith("ipaexg"), f))
    if preferred and preferred[0].lower().endswith((".ttf", ".otf")):
        try:
            font = _stamp_font(preferred[0])
        except ImportError:  # pyHanko without its [opentype] extra: fall back to the built-in font
            pass
        else:
            # the text box and the font engine share one size, or lines drift (pyHanko issue 733)
            lines = ["%(signer)s", "%(email)s" if signer.emails else None, "%(ts)s"]
            return stamp.TextStampStyle(
                stamp_text="\n".join(line for line in lines if line), border_width=0,
                timestamp_format=STAMP_TIME_FORMAT,
                text_box_style=TextBoxStyle(font=font, font_size=STAMP_FONT_SIZE, leading=STAMP_LEADING))
    # the built-in Courier has Latin glyphs only: a Japanese signer name would not show
    return stamp.TextStampStyle(stamp_text="Digitally signed\n%(ts)s", border_width=0,
                                timestamp_format=STAMP_TIME_FORMAT)


def _stamp_font(font_file: str):
    """A pyHanko font engine factory for `font_file` whose glyph metrics are in 1/1000 em.

    PDF glyph widths (/W), TJ adjustments and font descriptor metrics are in thousandths of an
    em, but pyHanko's GlyphAccumulator writes them in the font's own units — 2048 per em for
    IPAex: every glyph then advances twice its width (the letter-spaced `A i k o  T a n a k a`)
    and the text runs past the field, which was sized from the true widths. Shaping with
    HarfBuzz scaled to 1000 units per em, and scaling the widths taken from the font, makes
    every number agree."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory

    class ThousandUnitsAccumulator(GlyphAccumulator):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._font_units = self.units_per_em
            self.units_per_em = 1000
            self.hb_font.scale = (1000, 1000)
            descriptor = self.cidfont_obj._font_descriptor
            for key in ("/Ascent", "/Descent", "/CapHeight"):
                if key in descriptor:
                    descriptor[key] = generic.NumberObject(self._scaled(descriptor[key]))
            descriptor["/FontBBox"] = generic.ArrayObject(
                [generic.NumberObject(self._scaled(v)) for v in descriptor["/FontBBox"]])

        def _scaled(self, value) -> int:
            return round(int(value) * 1000 / self._font_units)

        def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
            known = glyph_id in self._glyphs
            cid, width = super()._get_cid_and_width(glyph_id)
            if not known:  # the parent cached the width in font units: scale it, once
                width = self._scaled(width)
                self._glyphs[glyph_id] = cid, width
            return cid, width

    @dataclass(frozen=True)
    class ThousandUnitsFactory(GlyphAccumulatorFactory):
        def create_font_engine(self, writer, obj_stream=None):
            if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
                obj_stream = writer.prepare_object_stream()
            with open(self.font_file, "rb") as handle:
                font = io.BytesIO(handle.read())
            return ThousandUnitsAccumulator(
                writer=writer, font_handle=font, font_size=self.font_size, ot_script_tag=self.ot_script_tag,
                ot_language_tag=self.ot_language_tag, writing_direction=self.writing_direction,
                bcp47_lang_code=self.bcp47_lang_code, obj_stream=obj_stream)

    return ThousandUnitsFactory(font_file, font_size=STAMP_FONT_SIZE)


# ------------------------------------------------------------------ verify

# pyHanko's modification levels, in words: what was appended after a signature.
CHANGE_WORDS = {
    "NONE": "nothing",
    "LTA_UPDATES": "metadata or validation data only",
    "FORM_FILLING": "form filling (such as the other parties' signatures)",
    "ANNOTATIONS": "form filling and annotations",
    "OTHER": "changes a signature does not allow",
}


@dataclass
class SignatureReport:
    field: str
    signed: bool
    kind: str = "signature"  # or "timestamp": a document timestamp, which belongs to no party
    party: str | None = None  # the party's label in the policy (with --policy)
    expected: str | None = None  # who may sign it, as the policy says (with --policy)
    signer: str | None = None  # the certificate's common name
    signer_emails: list[str] = field(default_factory=list)
    certificate_sha256: str | None = None
    signer_is_party: bool | None = None  # the certificate is the party's lead's; None: not checked
    intact: bool | None = None
    trusted: bool | None = None
    signed_at: str | None = None
    revision: int | None = None  # 0-based revision of the PDF this signature covers
    modified_after: str | None = None  # pyHanko's modification level of what was appended after it
    fingerprint: str | None = None  # as recorded in the revision this signature covers
    version: str | None = None  # likewise
    problem: str | None = None  # why the signature could not be read


@dataclass
class VerifyReport:
    path: str
    fingerprint: str | None
    version: str | None = None
    revisions: int = 1
    stray_bytes: int = 0
    policy: str | None = None
    policy_fingerprint: str | None = None
    trust_given: bool = False
    require_all: bool = False
    signatures: list[SignatureReport] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No error; with `--require-all` (a complete, fully checked agreement) no warning either."""
        failing = {Severity.ERROR, Severity.WARNING} if self.require_all else {Severity.ERROR}
        return not any(d.severity in failing for d in self.diagnostics)

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "fingerprint": self.fingerprint,
            "version": self.version,
            "revisions": self.revisions,
            "stray_bytes": self.stray_bytes,
            "policy": None if self.policy is None else {
                "path": self.policy, "fingerprint": self.policy_fingerprint,
                "matches": self.policy_fingerprint is not None and self.policy_fingerprint == self.fingerprint,
            },
            "signatures": [asdict(s) for s in self.signatures],
            "ok": self.ok,
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }


def verify_pdf(pdf_path: Path, trust: list[Path] = (), policy: PolicyExpectation | None = None,
               require_all: bool = False) -> VerifyReport:
    from pyhanko.keys import load_certs_from_pemder
    from pyhanko_certvalidator import ValidationContext

    quiet_pyhanko_logs()
    data, reader = _read_pdf(pdf_path)
    where = _at(pdf_path)
    newest = reader.xrefs.total_revisions - 1
    report = VerifyReport(Path(pdf_path).as_posix(), None, revisions=newest + 1, trust_given=bool(trust),
                          require_all=require_all, policy=policy.path if policy else None,
                          policy_fingerprint=policy.fingerprint if policy else None)

    def problem(rule, message: str, help: str | None = None, severity: Severity | None = None) -> None:
        report.diagnostics.append(Diagnostic(rule, message, where, help=help, severity=severity))

    stray = stray_bytes(data, reader)
    if stray:
        report.stray_bytes = sum(length for _, length in stray)
        report.diagnostics.append(_stray_diagnostic(pdf_path, stray, len(data)))

    roots = []
    for cert_path in trust:
        try:
            roots.extend(load_certs_from_pemder([str(cert_path)]))
        except Exception as exc:
            raise SigningError(Diagnostic(UNUSABLE_SIGNING_KEY, Message('cannot read the trusted certificate: {exc}', exc=exc),
                                          _at(cert_path))) from None
    context = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")

    parties = {p.party: p for p in policy.parties} if policy else {}
    fields = _fields(reader)
    names = [name for name, _, _ in fields]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problem(SIGNER_NOT_PARTY, Message("{count} signature fields are named `{name}`: which one is the party's cannot be told", count=names.count(name), name=terminal_safe(name)), help=Message('go back to the PDF as built'))
    signers: dict[str, Signer] = {}
    for name, value, field_ref in fields:
        entry = SignatureReport(name, value is not None)
        report.signatures.append(entry)
        party = parties.get(name)
        if party is not None:
            entry.party, entry.expected = party.label, party.shown() if party.identified else None
        if value is None:
            continue
        signer = _check_signature(reader, name, field_ref, context, entry)
        if entry.problem is not None or not entry.intact:
            problem(SIGNATURE_NOT_INTACT,
                    Message("the signature in `{name}` does not match the document: it was changed after signing "
                            "({problem})", name=terminal_safe(name), problem=entry.problem) if entry.problem else
                    Message("the signature in `{name}` does not match the document: it was changed after signing",
                            name=terminal_safe(name)),
                    help=Message('go back to the copy that was signed'))
        elif trust and not entry.trusted and entry.kind == "signature":
            problem(SIGNER_NOT_TRUSTED, Message('the signer of `{name}` ({value}) does not chain to a certificate given with --trust', name=terminal_safe(name), value=terminal_safe(entry.signer or '?')))
        if signer is None:
            continue
        signers[name] = signer
        if policy is None:
            continue
        if party is None:
            problem(SIGNER_NOT_PARTY, Message('`{name}` is signed by {shown} but is not a party of {path}', name=terminal_safe(name), shown=signer.shown(), path=policy.path), help=Message('every signature field of the agreement is named after a `party`'))
        elif not party.identified:
            problem(SIGNER_NOT_PARTY, Message('cannot tell whether {shown} may sign for `{name}`: the policy gives the lead of `{name}` no `email` or `certificate`', shown=signer.shown(), name=name), severity=Severity.WARNING,
                    help=Message('add `email "ADDRESS"` to the lead of party `{name}` in {path} (SLA408)', name=name, path=policy.path))
        else:
            wrong = party.mismatches(signer)
            entry.signer_is_party = not wrong
            if wrong:
                problem(SIGNER_NOT_PARTY, Message('`{name}` must be signed by {shown}, but {shown2} signed it: {wrong}', name=name, shown=party.shown(), shown2=signer.shown(), wrong=Listing(wrong, limit=len(wrong), separator="; ")),
                        help=Message('the lead of `{name}` signs with their own certificate; build the PDF again and sign it anew', name=name))
    for first, second, shared in _signer_key_clash(signers):
        problem(SIGNER_NOT_PARTY, Message('{shared} signed `{first}` and `{second}`: one person signed for two parties', shared=shared, first=terminal_safe(first), second=terminal_safe(second)), help=Message("each party's lead signs its own field with their own certificate"))

    _check_recorded_values(reader, report, newest, problem)
    _check_parties_and_fields(report, policy, require_all, problem)
    return report


def _fields(reader) -> list[tuple[str, object, object]]:
    from pyhanko.sign.fields import enumerate_sig_fields

    try:
        return [(str(name), value, ref) for name, value, ref in enumerate_sig_fields(reader)]
    except Exception:  # a broken AcroForm: no usable fields (reported as such)
        return []


def _check_signature(reader, name: str, field_ref, context, entry: SignatureReport) -> Signer | None:
    """Fill `entry` from pyHanko's validation of the signature in `name`; the signer, if readable."""
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

    try:
        embedded = EmbeddedPdfSignature(reader, field_ref, name)
        entry.revision = embedded.signed_revision
        if embedded.sig_object_type == "/DocTimeStamp":
            # a document timestamp (PAdES-LTA) vouches for the time, not for a party: it signs no field
            entry.kind = "timestamp"
            status = validate_pdf_timestamp(embedded, validation_context=context)
        else:
            status = validate_pdf_signature(embedded, signer_validation_context=context)
    except Exception as exc:  # a mangled signature dictionary: report, never crash
        entry.intact = entry.trusted = False
        entry.problem = Message("unreadable signature: {error}", error=terminal_safe(str(exc))[:200])
        return None
    try:
        signer = Signer.of(status.signing_cert)
    except Exception as exc:
        entry.intact = entry.trusted = False
        entry.problem = Message("unreadable signing certificate: {error}", error=terminal_safe(str(exc))[:200])
        return None
    entry.signer = signer.name
    entry.signer_emails = list(signer.emails)
    entry.certificate_sha256 = signer.certificate_sha256
    entry.intact = bool(status.intact and status.valid) and status.docmdp_ok is not False
    entry.trusted = bool(status.trusted)
    when = status.timestamp if entry.kind == "timestamp" else status.signer_reported_dt
    entry.signed_at = when.isoformat() if when else None
    level = getattr(status, "modification_level", None)
    entry.modified_after = level.name if level is not None else None
    values = recorded_values(reader, embedded.signed_revision)
    entry.fingerprint, entry.version = values[FINGERPRINT_KEY], values[VERSION_KEY]
    # the field's name as signed: a later update must not move a signature to another party
    try:
        signed_field = reader.get_historical_resolver(embedded.signed_revision).get_object(
            embedded.sig_field.container_ref)
        signed_name = str(signed_field.get("/T"))
    except Exception:
        signed_name = None
    if signed_name != name.rsplit(".", 1)[-1]:
        entry.intact = False
        entry.problem = Message("the field was named `{name}` when it was signed", name=terminal_safe(str(signed_name)))
    return signer if entry.kind == "signature" else None


def _check_recorded_values(reader, report: VerifyReport, newest: int, problem) -> None:
    """The fingerprint and version the signatures cover (not what was appended later)."""
    signed = sorted((s for s in report.signatures
                     if s.kind == "signature" and s.revision is not None and s.problem is None),
                    key=lambda s: s.revision)
    now = recorded_values(reader, newest)
    if not signed:
        report.fingerprint, report.version = now[FINGERPRINT_KEY], now[VERSION_KEY]
    else:
        first = signed[0]
        report.fingerprint, report.version = first.fingerprint, first.version
        first_values = recorded_values(reader, first.revision)
        for other in signed[1:]:
            values = recorded_values(reader, other.revision)
            for key in SLA_INFO_KEYS:
                if values[key] != first_values[key]:
                    problem(FINGERPRINT_MISMATCH,
                            Message('`{field}` and `{field2}` signed different documents: `{key}` is {first_values} in one and {values} in the other', field=terminal_safe(first.field), field2=terminal_safe(other.field), key=key, first_values=_shown_value(first_values[key]), values=_shown_value(values[key])), help=Message('the metadata was changed between the signatures; go back to the PDF as built and sign it again'))
                    break
        last = signed[-1]
        last_values = recorded_values(reader, last.revision)
        changed = [key for key in SLA_INFO_KEYS if now[key] != last_values[key]]
        if changed:
            problem(FINGERPRINT_MISMATCH,
                    Message("the PDF was changed after the last signature: {changes}", changes=Listing(
                        (Message("`{key}` was {signed} when signed and is now {now}", key=key,
                                 signed=_shown_value(last_values[key]), now=_shown_value(now[key])) for key in changed),
                        limit=len(changed), separator="; ")),
                    help=Message('the signed values are the ones above; go back to the copy that was signed'))
    if report.fingerprint is None:
        problem(FINGERPRINT_MISMATCH, Message('the PDF records no policy fingerprint (`/SLAFingerprint`): it is not an agreement built by sla'), help=Message('use the agreement.pdf written by `sla build --target agreement`'))
    elif report.policy_fingerprint is not None and report.policy_fingerprint != report.fingerprint:
        problem(FINGERPRINT_MISMATCH,
                (Message('the PDF records {fingerprint} as signed, but {policy} has the fingerprint {policy_fingerprint}', fingerprint=_shown_value(report.fingerprint), policy=report.policy, policy_fingerprint=report.policy_fingerprint)
                 if signed else
                 Message('the PDF records {fingerprint}, but {policy} has the fingerprint {policy_fingerprint}', fingerprint=_shown_value(report.fingerprint), policy=report.policy, policy_fingerprint=report.policy_fingerprint)),
                help=Message('the signed document and the policy say different things; build and sign the current policy'))


def _shown_value(value: str | None) -> str:
    return Message("nothing") if value is None else terminal_safe(value)


def _check_parties_and_fields(report: VerifyReport, policy: PolicyExpectation | None, require_all: bool,
                              problem) -> None:
    fields = [s for s in report.signatures if s.kind == "signature"]
    present = {s.field for s in fields}
    if policy is not None:
        for party in policy.parties:
            if party.party not in present:
                problem(UNSIGNED_FIELD, Message("the PDF has no signature field for party `{party}` of {path}: it is not this policy's agreement", party=party.party, path=policy.path),
                        help=Message('build the agreement with `sla build --target agreement` and sign that PDF'))
        required = [s for s in fields if s.field in {p.party for p in policy.parties}]
    else:
        if not fields:
            problem(UNSIGNED_FIELD, Message('the PDF has no signature fields: it is not an agreement built by sla'),
                    help=Message('use the agreement.pdf written by `sla build --target agreement`'))
        required = fields
    if require_all:
        for s in required:
            if not s.signed:
                problem(UNSIGNED_FIELD, Message('`{field}` has not signed', field=terminal_safe(s.field)),
                        help=Message('sla sign {path} --key KEY --cert CERT --field {field}', path=report.path, field=terminal_safe(s.field)))
