"""Signing and verifying the agreement PDF with pyHanko (PAdES baseline B, offline).

Nothing here fetches anything: no timestamp server, no revocation lookups. `verify` judges
each signature on its own bytes and, when trusted certificates are given, on the chain to one
of them. Every problem is a Diagnostic located at the PDF (line 1, column 1: a PDF has no
lines a reader would care about); only the CLI picks exit codes.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..diagnostics import Diagnostic, Message
from ..source import Span
from .rules import (
    FIELD_ALREADY_SIGNED,
    FINGERPRINT_MISMATCH,
    SIGNATURE_NOT_INTACT,
    SIGNER_NOT_TRUSTED,
    UNKNOWN_SIGNATURE_FIELD,
    UNREADABLE_PDF,
    UNSIGNED_FIELD,
    UNUSABLE_SIGNING_KEY,
)

FINGERPRINT_KEY = "/SLAFingerprint"


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


def _read_pdf(path: Path):
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(Diagnostic(UNREADABLE_PDF, Message('cannot read the file: {value}', value=exc.strerror or exc), _at(path))) from None
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        reader.root  # noqa: B018  (forces the document structure to be read)
    except Exception as exc:
        raise SigningError(Diagnostic(UNREADABLE_PDF, Message('not a readable PDF: {exc}', exc=exc), _at(path),
                                      help=Message('use the agreement.pdf written by `sla build --target agreement`'))) from None
    return data, reader


def signature_fields(reader) -> list[tuple[str, bool]]:
    """(field name, signed?) for every signature field, in document order."""
    from pyhanko.sign.fields import enumerate_sig_fields

    return [(str(name), value is not None) for name, value, _ in enumerate_sig_fields(reader)]


def recorded_fingerprint(reader, revision: int | None = None) -> str | None:
    try:
        if revision is None:
            info = reader.trailer["/Info"]
        else:
            info = reader.get_historical_resolver(revision).trailer_view["/Info"]
        value = info.get_object().get(FINGERPRINT_KEY)
    except (KeyError, TypeError, ValueError):
        return None
    return str(value) if value is not None else None


# ------------------------------------------------------------------ sign


def load_key_and_certificate(key_path: Path, cert_path: Path, passphrase: Callable[[], str | None]):
    """(asn1crypto private key, asn1crypto certificate) or SigningError (SLA813)."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    def fail(message: str, path: Path) -> SigningError:
        return SigningError(Diagnostic(UNUSABLE_SIGNING_KEY, message, _at(path),
                                       help=Message('--key takes a PEM or DER private key, --cert the certificate of that key')))

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
    key_info = asn1_keys.PrivateKeyInfo.load(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return key_info, asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def sign_pdf(pdf_path: Path, field_name: str, key_path: Path, cert_path: Path,
             passphrase: Callable[[], str | None] = lambda: os.environ.get("SLA_KEY_PASSPHRASE")) -> bytes:
    """The signed PDF (an incremental update of the input). Raises SigningError."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    quiet_pyhanko_logs()
    data, reader = _read_pdf(pdf_path)
    available = signature_fields(reader)
    names = [name for name, _ in available]
    if field_name not in names:
        listed = ", ".join(f"`{n}`" for n in names) or "none"
        raise SigningError(Diagnostic(UNKNOWN_SIGNATURE_FIELD, Message('the PDF has no signature field `{field_name}`', field_name=field_name),
                                      _at(pdf_path), help=Message('signature fields in this PDF: {listed}', listed=listed)))
    if dict(available)[field_name]:
        raise SigningError(Diagnostic(FIELD_ALREADY_SIGNED, Message('the signature field `{field_name}` is signed already', field_name=field_name),
                                      _at(pdf_path), help=Message('`sla verify` shows who signed which field')))
    key, cert = load_key_and_certificate(key_path, cert_path, passphrase)
    signer = signers.SimpleSigner(signing_cert=cert, signing_key=key,
                                  cert_registry=SimpleCertificateStore.from_certs([cert]))
    meta = signers.PdfSignatureMetadata(field_name=field_name, md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    out = signers.PdfSigner(meta, signer=signer, stamp_style=_stamp_style()).sign_pdf(writer)
    return out.getvalue()


def _stamp_style():
    """The visible stamp in the field: signer and time, in a font that has Japanese glyphs."""
    from pyhanko import stamp
    from pyhanko.pdf_utils.text import TextBoxStyle

    from .pdf import japanese_fonts

    fonts = japanese_fonts() or []
    preferred = sorted(fonts, key=lambda f: (not Path(f).name.startswith("ipaexg"), f))
    if preferred and preferred[0].lower().endswith((".ttf", ".otf")):
        try:
            from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
        except ImportError:  # pyHanko without its [opentype] extra: fall back to the built-in font
            pass
        else:
            return stamp.TextStampStyle(stamp_text="%(signer)s\n%(ts)s", border_width=0,
                                        text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(preferred[0])))
    # the built-in Courier has Latin glyphs only: a Japanese signer name would not show
    return stamp.TextStampStyle(stamp_text="Digitally signed\n%(ts)s", border_width=0)


# ------------------------------------------------------------------ verify


@dataclass
class SignatureReport:
    field: str
    signed: bool
    signer: str | None = None
    intact: bool | None = None
    trusted: bool | None = None
    signed_at: str | None = None
    modified_after: str | None = None  # what changed after signing: none, form filling (other signatures), other
    fingerprint: str | None = None  # as recorded in the revision this signature covers


@dataclass
class VerifyReport:
    path: str
    fingerprint: str | None
    policy: str | None = None
    policy_fingerprint: str | None = None
    trust_given: bool = False
    signatures: list[SignatureReport] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.diagnostics

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "fingerprint": self.fingerprint,
            "policy": None if self.policy is None else {
                "path": self.policy, "fingerprint": self.policy_fingerprint,
                "matches": self.policy_fingerprint is not None and self.policy_fingerprint == self.fingerprint,
            },
            "signatures": [asdict(s) for s in self.signatures],
            "ok": self.ok,
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }


def verify_pdf(pdf_path: Path, trust: list[Path] = (), policy_fingerprint: str | None = None,
               policy_path: str | None = None, require_all: bool = False) -> VerifyReport:
    from pyhanko.keys import load_certs_from_pemder
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    quiet_pyhanko_logs()
    _, reader = _read_pdf(pdf_path)
    where = _at(pdf_path)
    report = VerifyReport(Path(pdf_path).as_posix(), recorded_fingerprint(reader), policy_path, policy_fingerprint,
                          bool(trust))
    roots = []
    for cert_path in trust:
        try:
            roots.extend(load_certs_from_pemder([str(cert_path)]))
        except Exception as exc:
            raise SigningError(Diagnostic(UNUSABLE_SIGNING_KEY, Message('cannot read the trusted certificate: {exc}', exc=exc),
                                          _at(cert_path))) from None
    context = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
    by_field = {s.field_name: s for s in reader.embedded_signatures}
    for name, signed in signature_fields(reader):
        entry = SignatureReport(name, signed)
        report.signatures.append(entry)
        embedded = by_field.get(name)
        if not signed or embedded is None:
            if require_all:
                report.diagnostics.append(Diagnostic(UNSIGNED_FIELD, Message('`{name}` has not signed', name=name), where,
                                                     help=Message('sla sign {path} --key KEY --cert CERT --field {name}', path=report.path, name=name)))
            continue
        try:
            status = validate_pdf_signature(embedded, signer_validation_context=context)
            subject = status.signing_cert.subject
            entry.signer = subject.native.get("common_name") or subject.human_friendly
            entry.intact = bool(status.intact and status.valid) and status.docmdp_ok is not False
            entry.trusted = bool(status.trusted)
            entry.signed_at = status.signer_reported_dt.isoformat() if status.signer_reported_dt else None
            level = getattr(status, "modification_level", None)
            entry.modified_after = level.name.lower() if level is not None else None
        except Exception as exc:  # a mangled signature dictionary: report, never crash
            entry.intact = False
            entry.trusted = False
            entry.modified_after = f"unreadable: {exc}"
        entry.fingerprint = recorded_fingerprint(reader, embedded.signed_revision)
        if not entry.intact:
            report.diagnostics.append(Diagnostic(SIGNATURE_NOT_INTACT, Message('the signature in `{name}` does not match the document: it was changed after signing', name=name), where,
                                                 help=Message('go back to the copy that was signed')))
        elif trust and not entry.trusted:
            report.diagnostics.append(Diagnostic(SIGNER_NOT_TRUSTED, Message('the signer of `{name}` ({signer}) does not chain to a certificate given with --trust', name=name, signer=entry.signer), where))
        if entry.fingerprint != report.fingerprint:
            report.diagnostics.append(Diagnostic(FINGERPRINT_MISMATCH, Message('`{name}` signed a revision whose fingerprint is {fingerprint}, but the PDF now records {fingerprint2}', name=name, fingerprint=entry.fingerprint, fingerprint2=report.fingerprint),
                                                 where, help=Message('the fingerprint was changed after signing')))
    if policy_fingerprint is not None and policy_fingerprint != report.fingerprint:
        recorded = report.fingerprint or "no fingerprint"
        report.diagnostics.append(Diagnostic(
            FINGERPRINT_MISMATCH,
            Message('the PDF records {recorded}, but {policy_path} has the fingerprint {policy_fingerprint}', recorded=recorded, policy_path=policy_path, policy_fingerprint=policy_fingerprint),
            where, help=Message('the signed document and the policy say different things; build and sign the current policy'),
        ))
    return report
