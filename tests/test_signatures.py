"""`sla sign` / `sla verify` against the attacks of issues 14 (items 1–4) and 15 (item 11).

Every tampered file is made by pyHanko itself (or, for the PDF "from another tool", by
pyHanko's own writer with no sla code involved), and sla's verdicts are cross-checked with
poppler's `pdfsig` wherever pdfsig has an opinion. Certificates are made here, per test run.
"""

from __future__ import annotations

import datetime
import io
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli
from sla_lang.compile import compile_path, compile_text
from sla_lang.irjson import fingerprint
from sla_lang.targets import BuildOptions
from sla_lang.targets import agreement as target

from .conftest import REPO

pytest.importorskip("pyhanko")
needs_pdfsig = pytest.mark.skipif(shutil.which("pdfsig") is None, reason="needs poppler-utils (pdfsig)")
needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils")

POLICY = REPO / "policies" / "hubspot_scoring.sla"  # parties: marketing (Aiko Tanaka), sales (Kenji Sato)
JA_POLICY = REPO / "policies" / "smarketing_ja.sla"
AIKO = "aiko.tanaka@example.com"  # the e-mail addresses the policy gives the two leads
KENJI = "kenji.sato@example.com"
START = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)


def run(*args: str):
    return CliRunner().invoke(cli, [*args, "--color", "never"], catch_exceptions=False)


def verify_json(pdf: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["verify", str(pdf), "--format", "json", *args], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def codes(report: dict) -> list[str]:
    return [d["code"] for d in report["diagnostics"]]


# ------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class Person:
    key: Path
    cert: Path


class Pki:
    """A throwaway CA and the people it certifies, written as PEM files."""

    def __init__(self, folder: Path) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.folder = folder
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = self._certificate("Test CA", None, self.ca_key.public_key(), ca=True)
        self.ca_path = self._write("ca.pem", self._pem(self.ca))

    def _name(self, cn: str, email: str | None):
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        if email:
            attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
        return x509.Name(attributes)

    def _certificate(self, cn, email, public_key, ca=False, not_before=START, days=3650, san=True):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        subject = self._name(cn, email if not san else None)
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(subject if ca else self.ca.subject).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(not_before)
                   .not_valid_after(not_before + datetime.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(not ca, not ca, False, False, False, ca, ca, False, False),
                                  critical=True))
        if email and san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        return builder.sign(self.ca_key, hashes.SHA256())

    @staticmethod
    def _pem(cert) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return cert.public_bytes(serialization.Encoding.PEM)

    def _write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def person(self, tag: str, cn: str, email: str | None, **options) -> Person:
        """A key and a certificate for `cn`; `email` in the subjectAltName (or, with san=False,
        in the subject's emailAddress attribute)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._certificate(cn, email, key.public_key(), **options)
        return Person(
            self._write(f"{tag}.key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption())),
            self._write(f"{tag}.pem", self._pem(cert)),
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def aiko(pki) -> Person:
    return pki.person("aiko", "Aiko Tanaka", AIKO)


@pytest.fixture(scope="module")
def kenji(pki) -> Person:
    return pki.person("kenji", "Kenji Sato", KENJI, san=False)  # e-mail in the subject, not a SAN


# ------------------------------------------------------------------ PDFs


def build_pdf(policy_path: Path, folder: Path) -> Path:
    result = compile_path(policy_path)
    assert result.ok
    built = target.build(result.policy, BuildOptions(formats=("pdf",)))
    assert not built.failed, [d.message for d in built.diagnostics]
    path = folder / "agreement.pdf"
    path.write_bytes(built.files["agreement.pdf"])
    return path


@pytest.fixture(scope="module")
def unsigned(tmp_path_factory) -> Path:
    pytest.importorskip("typst")
    return build_pdf(POLICY, tmp_path_factory.mktemp("unsigned"))


def sign(pdf: Path, person: Person, field: str) -> None:
    result = run("sign", str(pdf), "--key", str(person.key), "--cert", str(person.cert), "--field", field)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def signed(unsigned, aiko, kenji, tmp_path_factory) -> Path:
    """The agreement signed by both leads, each in their party's field, with `sla sign`."""
    pdf = tmp_path_factory.mktemp("signed") / "agreement.pdf"
    shutil.copy(unsigned, pdf)
    sign(pdf, aiko, "marketing")
    sign(pdf, kenji, "sales")
    return pdf


def pyhanko_sign(src: Path, dst: Path, person: Person, field: str) -> None:
    """Sign with pyHanko directly, bypassing every refusal of `sla sign`."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    signer = signers.SimpleSigner.load(str(person.key), str(person.cert))
    with open(src, "rb") as handle:
        writer = IncrementalPdfFileWriter(handle, strict=False)
        out = signers.PdfSigner(signers.PdfSignatureMetadata(field_name=field), signer=signer).sign_pdf(writer)
        dst.write_bytes(out.getvalue())


def rewrite_info(src: Path, dst: Path, values: dict[str, str]) -> None:
    """An incremental update that rewrites entries of the document information dictionary only."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    with open(src, "rb") as handle:
        writer = IncrementalPdfFileWriter(handle, strict=False)
        info = writer.trailer["/Info"]
        for key, value in values.items():
            info[generic.NameObject(key)] = generic.TextStringObject(value)
        writer.update_container(info)
        out = io.BytesIO()
        writer.write(out)
    dst.write_bytes(out.getvalue())


def another_policy(tmp_path: Path) -> Path:
    """The same agreement with one clause changed: same parties and leads, another fingerprint."""
    text = POLICY.read_text(encoding="utf-8")
    changed = text.replace("respond within 24h", "respond within 72h", 1)
    assert changed != text
    path = tmp_path / "changed.sla"
    path.write_text(changed, encoding="utf-8")
    return path


def policy_fingerprint(path: Path) -> str:
    return fingerprint(compile_path(path).policy)


def pdfsig(path: Path) -> dict[str, dict[str, str]]:
    """poppler's opinion: field name → {"validation", "coverage", "common name"}."""
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout
    fields: dict[str, dict[str, str]] = {}
    for block in re.split(r"\nSignature #\d+:\n", out)[1:]:
        name = re.search(r"Signature Field Name: (.*)", block).group(1)
        fields[name] = {
            "validation": (re.search(r"Signature Validation: (.*)", block)
                           or re.search(r"(not signed)", block)).group(1),
            "coverage": "total" if "Total document signed" in block else "partial" if "Not total" in block else "",
            "common name": (m.group(1) if (m := re.search(r"Signer Certificate Common Name: (.*)", block)) else ""),
        }
    return fields


# ------------------------------------------------------------------ the honest case


@needs_pdfsig
def test_an_agreement_signed_by_both_leads_verifies(signed, pki):
    code, report = verify_json(signed, "--trust", str(pki.ca_path), "--policy", str(POLICY), "--require-all")
    assert code == 0, report["diagnostics"]
    assert report["fingerprint"] == policy_fingerprint(POLICY) and report["version"] == "3.3.0"
    assert report["stray_bytes"] == 0
    marketing, sales = report["signatures"]
    assert (marketing["field"], marketing["signer"], marketing["signer_emails"], marketing["signer_is_party"]) == (
        "marketing", "Aiko Tanaka", [AIKO], True)
    assert (sales["field"], sales["signer"], sales["signer_emails"], sales["signer_is_party"]) == (
        "sales", "Kenji Sato", [KENJI], True)
    # what was appended after each signature, in pyHanko's words: Sales' signature after Marketing's
    assert [s["modified_after"] for s in report["signatures"]] == ["FORM_FILLING", "NONE"]
    assert marketing["revision"] < sales["revision"] == report["revisions"] - 1
    poppler = pdfsig(signed)
    assert {f: (v["validation"], v["coverage"]) for f, v in poppler.items()} == {
        "marketing": ("Signature is Valid.", "partial"), "sales": ("Signature is Valid.", "total")}
    text = run("verify", str(signed), "--trust", str(pki.ca_path), "--policy", str(POLICY))
    assert "field marketing (Marketing): signed by Aiko Tanaka <aiko.tanaka@example.com>" in text.output
    assert "the party's lead: yes" in text.output
    assert "changed after this signature: form filling (such as the other parties' signatures) " \
           "(pyHanko: FORM_FILLING)" in text.output
    assert "changed after this signature: nothing (pyHanko: NONE)" in text.output


# ------------------------------------------------------------------ 14.1: metadata rewritten after signing


@needs_pdfsig
def test_fingerprint_rewritten_after_signing_does_not_pass_as_another_policy(signed, pki, tmp_path):
    other = another_policy(tmp_path)
    forged = tmp_path / "forged.pdf"
    rewrite_info(signed, forged, {"/SLAFingerprint": policy_fingerprint(other), "/SLAVersion": "3.9.0",
                                  "/Keywords": f"sla-fingerprint:{policy_fingerprint(other)}"})
    code, report = verify_json(forged, "--trust", str(pki.ca_path), "--policy", str(other), "--require-all")
    assert code == 1
    # the fingerprint reported is the one the signatures cover, not the rewritten one
    assert report["fingerprint"] == policy_fingerprint(POLICY) and report["version"] == "3.3.0"
    assert report["policy"]["matches"] is False
    assert codes(report) == ["SLA816", "SLA816"]
    rewritten, mismatch = (d["message"] for d in report["diagnostics"])
    assert "changed after the last signature" in rewritten and "`/SLAFingerprint`" in rewritten
    assert "`/SLAVersion` was 3.3.0 when signed and is now 3.9.0" in rewritten
    assert str(other) in mismatch
    # pyHanko judges the update harmless for the signatures themselves: metadata only
    assert [s["intact"] for s in report["signatures"]] == [True, True]
    assert report["signatures"][1]["modified_after"] == "LTA_UPDATES"
    text = run("verify", str(forged), "--policy", str(other))
    assert "changed after this signature: metadata or validation data only (pyHanko: LTA_UPDATES)" in text.output
    # the same PDF still verifies as what was signed, with the change reported
    code, report = verify_json(forged, "--policy", str(POLICY))
    assert code == 1 and codes(report) == ["SLA816"]
    # poppler agrees that the last signature no longer covers the whole file
    assert pdfsig(forged)["sales"]["coverage"] == "partial" and pdfsig(signed)["sales"]["coverage"] == "total"


def test_fingerprint_rewritten_between_the_two_signatures(unsigned, aiko, kenji, pki, tmp_path):
    """Marketing signs; the metadata is rewritten; Sales signs the rewritten file."""
    other = another_policy(tmp_path)
    pdf = tmp_path / "agreement.pdf"
    shutil.copy(unsigned, pdf)
    sign(pdf, aiko, "marketing")
    rewrite_info(pdf, pdf, {"/SLAFingerprint": policy_fingerprint(other)})
    sign(pdf, kenji, "sales")
    for policy in (POLICY, other):
        code, report = verify_json(pdf, "--trust", str(pki.ca_path), "--policy", str(policy), "--require-all")
        assert code == 1
        assert report["fingerprint"] == policy_fingerprint(POLICY)  # as the first signature covers it
        assert [s["fingerprint"] for s in report["signatures"]] == [
            policy_fingerprint(POLICY), policy_fingerprint(other)]
        assert "`marketing` and `sales` signed different documents" in report["diagnostics"][0]["message"]


def test_field_renamed_after_signing_is_not_intact(signed, pki, tmp_path):
    """Moving Kenji's signature to another field name by an update is caught (by pyHanko or sla)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import enumerate_sig_fields

    with open(signed, "rb") as handle:
        writer = IncrementalPdfFileWriter(handle, strict=False)
        for name, _, ref in enumerate_sig_fields(writer):
            if name == "sales":
                field = ref.get_object()
                field["/T"] = generic.TextStringObject("ceo")
                writer.update_container(field)
        out = io.BytesIO()
        writer.write(out)
    renamed = tmp_path / "renamed.pdf"
    renamed.write_bytes(out.getvalue())
    code, report = verify_json(renamed, "--trust", str(pki.ca_path))
    assert code == 1
    ceo = next(s for s in report["signatures"] if s["field"] == "ceo")
    assert ceo["intact"] is False and "SLA814" in codes(report)


def document_timestamp(src: Path, dst: Path) -> None:
    """A PAdES-LTA document timestamp appended by pyHanko, from a throwaway (RSA) TSA."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(START).not_valid_after(START + datetime.timedelta(days=3650))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .sign(key, hashes.SHA256()))
    tsa = DummyTimeStamper(
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        asn1_keys.PrivateKeyInfo.load(key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption())))
    with open(src, "rb") as handle:
        out = signers.PdfTimeStamper(tsa).timestamp_pdf(IncrementalPdfFileWriter(handle), "sha256")
        dst.write_bytes(out.getvalue())


def test_a_document_timestamp_after_signing_is_no_party_and_no_change(signed, pki, tmp_path):
    stamped = tmp_path / "stamped.pdf"
    document_timestamp(signed, stamped)
    code, report = verify_json(stamped, "--trust", str(pki.ca_path), "--policy", str(POLICY), "--require-all")
    assert code == 0, report["diagnostics"]
    assert [s["kind"] for s in report["signatures"]] == ["signature", "signature", "timestamp"]
    assert report["signatures"][2]["intact"] is True and report["signatures"][1]["modified_after"] == "LTA_UPDATES"
    assert "OK: 2 of 2 signature fields signed." in run("verify", str(stamped), "--policy", str(POLICY)).output
    # a rewritten fingerprint stays a rewritten fingerprint under a timestamp
    forged = tmp_path / "forged.pdf"
    rewrite_info(signed, forged, {"/SLAFingerprint": policy_fingerprint(another_policy(tmp_path))})
    document_timestamp(forged, forged)
    code, report = verify_json(forged, "--policy", str(POLICY))
    assert code == 1 and codes(report) == ["SLA816"]


# ------------------------------------------------------------------ 14.2: signatures bound to the parties' leads


@needs_pdfsig
def test_one_certificate_cannot_sign_for_two_parties(unsigned, kenji, pki, tmp_path):
    both = tmp_path / "both.pdf"
    pyhanko_sign(unsigned, both, kenji, "marketing")
    pyhanko_sign(both, both, kenji, "sales")
    # poppler: two valid signatures by the same person — it has no opinion on who should sign
    poppler = pdfsig(both)
    assert [v["validation"] for v in poppler.values()] == ["Signature is Valid."] * 2
    assert {v["common name"] for v in poppler.values()} == {"Kenji Sato"}
    code, report = verify_json(both, "--trust", str(pki.ca_path))  # without the policy
    assert code == 1 and codes(report) == ["SLA819"]
    assert "the same certificate signed `marketing` and `sales`" in report["diagnostics"][0]["message"]
    code, report = verify_json(both, "--trust", str(pki.ca_path), "--policy", str(POLICY), "--require-all")
    assert code == 1 and codes(report) == ["SLA819", "SLA819"]
    assert report["signatures"][0]["signer_is_party"] is False and report["signatures"][1]["signer_is_party"] is True
    assert "`marketing` must be signed by Aiko Tanaka <aiko.tanaka@example.com>, but Kenji Sato " \
           "<kenji.sato@example.com> signed it" in report["diagnostics"][0]["message"]


def test_sla_sign_refuses_a_second_field_with_the_same_certificate(unsigned, kenji, tmp_path):
    pdf = tmp_path / "agreement.pdf"
    shutil.copy(unsigned, pdf)
    sign(pdf, kenji, "sales")
    before = pdf.read_bytes()
    again = run("sign", str(pdf), "--key", str(kenji.key), "--cert", str(kenji.cert), "--field", "marketing")
    assert again.exit_code == 1 and "SLA819 (signer-not-party)" in again.output
    assert "the same certificate already signed the field `sales`" in again.output
    assert pdf.read_bytes() == before


def test_a_certificate_of_someone_else_is_not_the_partys_lead(unsigned, aiko, pki, tmp_path):
    mallory = pki.person("mallory", "Kenji Sato", "mallory@example.com")  # the right name, another address
    pdf = tmp_path / "agreement.pdf"
    shutil.copy(unsigned, pdf)
    sign(pdf, aiko, "marketing")
    sign(pdf, mallory, "sales")
    code, report = verify_json(pdf, "--trust", str(pki.ca_path), "--policy", str(POLICY))
    assert code == 1 and codes(report) == ["SLA819"]
    assert "its certificate carries mallory@example.com, where the policy names kenji.sato@example.com" \
        in report["diagnostics"][0]["message"]
    # without the policy nobody can tell: the report only names who signed
    code, report = verify_json(pdf, "--trust", str(pki.ca_path))
    assert code == 0 and report["signatures"][1]["signer_emails"] == ["mallory@example.com"]


def test_a_pinned_certificate_fingerprint_must_match(unsigned, aiko, kenji, pki, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    pinned = x509.load_pem_x509_certificate(kenji.cert.read_bytes()).fingerprint(hashes.SHA256()).hex(":").upper()
    text = POLICY.read_text(encoding="utf-8")
    policy = tmp_path / "pinned.sla"
    policy.write_text(text.replace(f'email "{KENJI}"', f'email "{KENJI}" certificate "{pinned}"'), encoding="utf-8")
    pdf = build_pdf(policy, tmp_path)
    sign(pdf, aiko, "marketing")
    twin = pki.person("kenji-2", "Kenji Sato", KENJI)  # a second certificate for the same address
    sign(pdf, twin, "sales")
    code, report = verify_json(pdf, "--trust", str(pki.ca_path), "--policy", str(policy))
    assert code == 1 and codes(report) == ["SLA819"]
    assert "its certificate's SHA-256 is" in report["diagnostics"][0]["message"]
    assert pinned.replace(":", "").lower() in report["diagnostics"][0]["message"]


def test_a_party_without_identity_is_a_warning_that_require_all_fails(unsigned, aiko, kenji, pki, tmp_path):
    text = POLICY.read_text(encoding="utf-8")
    policy = tmp_path / "anonymous.sla"
    policy.write_text(text.replace(f' email "{KENJI}"', ""), encoding="utf-8")
    assert "SLA408" in [d.code for d in compile_path(policy).diagnostics]
    pdf = build_pdf(policy, tmp_path)
    sign(pdf, aiko, "marketing")
    sign(pdf, kenji, "sales")
    code, report = verify_json(pdf, "--trust", str(pki.ca_path), "--policy", str(policy))
    assert code == 0 and [(d["code"], d["severity"]) for d in report["diagnostics"]] == [("SLA819", "warning")]
    assert report["signatures"][1]["signer_is_party"] is None
    code, report = verify_json(pdf, "--trust", str(pki.ca_path), "--policy", str(policy), "--require-all")
    assert code == 1 and report["ok"] is False


# ------------------------------------------------------------------ 14.3: bytes after %%EOF


@needs_pdfsig
@pytest.mark.parametrize("junk", [
    b"garbage 1 0 obj << /Type /Catalog >> endobj\n",  # an object a repairing reader might use
    b"%PDF-1.7 junk\nstartxref\n0\n%%EOF\n",  # a second, bogus end of file
    b"\x00junk" * 400,  # more than the kilobyte a reader searches for %%EOF
], ids=["object", "second-eof", "over-1-KiB"])
def test_bytes_after_the_end_of_file_fail(signed, pki, tmp_path, junk):
    appended = tmp_path / "appended.pdf"
    appended.write_bytes(signed.read_bytes() + junk)
    code, report = verify_json(appended, "--trust", str(pki.ca_path), "--policy", str(POLICY), "--require-all")
    assert code == 1 and codes(report) == ["SLA818"]
    assert report["stray_bytes"] == len(junk) - (1 if junk.startswith(b"\x00") else 0)  # leading NUL is white space
    assert [s["intact"] for s in report["signatures"]] == [True, True]  # the signatures themselves are fine
    # poppler: the last signature no longer covers the whole file, or (depending on how the
    # renderer wrote the cross-reference data) it cannot read the file at all
    opinion = pdfsig(appended)
    assert not opinion or opinion["sales"]["coverage"] == "partial"
    refused = run("sign", str(appended), "--key", "k", "--cert", "c", "--field", "sales")
    assert refused.exit_code == 1 and "SLA818 (data-after-end-of-file)" in refused.output


def test_white_space_after_the_end_of_file_is_fine(signed, pki, tmp_path):
    padded = tmp_path / "padded.pdf"
    padded.write_bytes(signed.read_bytes() + b"\r\n \n\x00\n")
    code, report = verify_json(padded, "--trust", str(pki.ca_path), "--policy", str(POLICY), "--require-all")
    assert code == 0, report["diagnostics"]


def test_bytes_between_revisions_fail(unsigned, aiko, kenji, pki, tmp_path):
    """Junk appended after Marketing signed, then signed over by Sales: it belongs to no revision."""
    pdf = tmp_path / "agreement.pdf"
    shutil.copy(unsigned, pdf)
    sign(pdf, aiko, "marketing")
    with open(pdf, "ab") as handle:
        handle.write(b"hidden text\n")
    pyhanko_sign(pdf, pdf, kenji, "sales")
    code, report = verify_json(pdf, "--trust", str(pki.ca_path), "--policy", str(POLICY))
    assert code == 1 and codes(report) == ["SLA818"] and report["stray_bytes"] == len(b"hidden text")
    assert "between two revisions" in report["diagnostics"][0]["message"]


# ------------------------------------------------------------------ 15.11: not an agreement, forged report lines


def planted_pdf(path: Path, fingerprint_value: str | None, fields: tuple[str, ...] = ()) -> Path:
    """A one-page PDF made by pyHanko's writer alone, with an sla fingerprint in its metadata."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.writer import PdfFileWriter
    from pyhanko.sign import fields as sig_fields

    writer = PdfFileWriter()
    content = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 720 Td (Agreement) Tj ET"))
    font = generic.DictionaryObject({generic.NameObject("/Type"): generic.NameObject("/Font"),
                                     generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
                                     generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica")})
    page = generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
        generic.NameObject("/Contents"): content,
        generic.NameObject("/Resources"): generic.DictionaryObject({
            generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/F1"): writer.add_object(font)}),
        }),
    })
    writer.insert_page(page)
    info = generic.DictionaryObject({generic.NameObject("/SLAVersion"): generic.TextStringObject("3.2.0")})
    if fingerprint_value is not None:
        info[generic.NameObject("/SLAFingerprint")] = generic.TextStringObject(fingerprint_value)
    writer.set_info(info)
    out = io.BytesIO()
    writer.write(out)
    if fields:
        updated = IncrementalPdfFileWriter(io.BytesIO(out.getvalue()))
        for n, name in enumerate(fields):
            box = (72, 100 + 80 * n, 300, 160 + 80 * n)
            sig_fields.append_signature_field(updated, sig_fields.SigFieldSpec(name, box=box))
        out = io.BytesIO()
        updated.write(out)
    path.write_bytes(out.getvalue())
    return path


@needs_pdfsig
def test_an_unsigned_pdf_from_another_tool_with_a_planted_fingerprint_fails(tmp_path, pki):
    planted = planted_pdf(tmp_path / "planted.pdf", policy_fingerprint(POLICY))
    assert "does not contain any signatures" in subprocess.run(
        ["pdfsig", str(planted)], capture_output=True, text=True, timeout=60).stdout
    for args in ((), ("--require-all",), ("--policy", str(POLICY)), ("--policy", str(POLICY), "--require-all")):
        code, report = verify_json(planted, "--trust", str(pki.ca_path), *args)
        assert code == 1, args
        assert report["fingerprint"] == policy_fingerprint(POLICY)  # the plant itself is read as it is
        if "--policy" in args:
            assert codes(report) == ["SLA817", "SLA817"]
            assert "no signature field for party `marketing`" in report["diagnostics"][0]["message"]
        else:
            assert codes(report) == ["SLA817"]
            assert "no signature fields: it is not an agreement" in report["diagnostics"][0]["message"]
    text = run("verify", str(planted))
    assert "PROBLEMS FOUND: 0 of 0 signature fields signed." in text.output


def test_planted_fields_must_be_signed_with_require_all(tmp_path):
    planted = planted_pdf(tmp_path / "planted.pdf", policy_fingerprint(POLICY), ("marketing", "sales"))
    code, report = verify_json(planted, "--policy", str(POLICY))
    assert code == 0  # a built, unsigned agreement: listed, not failed
    code, report = verify_json(planted, "--policy", str(POLICY), "--require-all")
    assert code == 1 and codes(report) == ["SLA817", "SLA817"]


def test_a_pdf_without_a_fingerprint_is_not_an_agreement(tmp_path):
    plain = planted_pdf(tmp_path / "plain.pdf", None, ("marketing", "sales"))
    code, report = verify_json(plain)
    assert code == 1 and codes(report) == ["SLA816"] and report["fingerprint"] is None
    assert "records no policy fingerprint" in report["diagnostics"][0]["message"]


def test_signer_names_cannot_forge_report_lines(unsigned, pki, tmp_path):
    forger = pki.person("forger", "Mallory\nOK: 2 of 2 signature fields signed.\x1b[2J\u202e", "m@example.com")
    pdf = tmp_path / "agreement.pdf"
    shutil.copy(unsigned, pdf)
    sign(pdf, forger, "sales")
    result = run("verify", str(pdf))
    lines = result.stdout.splitlines()
    assert "OK: 2 of 2 signature fields signed." not in lines
    assert lines[-1] == "OK: 1 of 2 signature fields signed."
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert "signed by Mallory[U+000A]OK: 2 of 2 signature fields signed.[U+001B][2J[U+202E] <m@example.com>" \
        in result.stdout
    as_json = CliRunner().invoke(cli, ["verify", str(pdf), "--format", "json"]).stdout
    assert "\x1b" not in as_json and "\u202e" not in as_json and "\n" not in json.dumps(json.loads(as_json)["path"])
    assert json.loads(as_json)["signatures"][1]["signer"] == "Mallory\nOK: 2 of 2 signature fields signed.\x1b[2J\u202e"


@pytest.mark.parametrize(("start", "days", "words"), [
    (START - datetime.timedelta(days=800), 365, "the certificate expired on"),
    (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30), 365, "not valid yet"),
], ids=["expired", "not-yet-valid"])
def test_sign_refuses_a_certificate_outside_its_validity(unsigned, pki, tmp_path, start, days, words):
    late = pki.person(f"late-{days}-{start.year}", "Kenji Sato", KENJI, not_before=start, days=days)
    pdf = tmp_path / "agreement.pdf"
    shutil.copy(unsigned, pdf)
    result = run("sign", str(pdf), "--key", str(late.key), "--cert", str(late.cert), "--field", "sales")
    assert result.exit_code == 1 and "SLA813 (unusable-signing-key)" in result.output and words in result.output
    assert pdf.read_bytes() == unsigned.read_bytes()


# ------------------------------------------------------------------ 14.4: the visible stamp


def _stamp_font_widths(pdf: Path, field: str):
    """(font program, /W widths by glyph id) of the font in `field`'s appearance stream."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    reader = PdfFileReader(open(pdf, "rb"))  # noqa: SIM115
    ref = next(ref for name, _, ref in enumerate_sig_fields(reader) if name == field)
    appearance = ref.get_object()["/AP"]["/N"]
    fonts = []
    stack = [appearance]
    while stack:  # the text sits in nested form XObjects
        xobject = stack.pop()
        resources = xobject.get("/Resources", {})
        fonts.extend(resources.get("/Font", {}).values())
        stack.extend(v.get_object() for v in resources.get("/XObject", {}).values())
    (font,) = fonts
    cid_font = font.get_object()["/DescendantFonts"][0].get_object()
    widths: dict[int, int] = {}
    w = list(cid_font["/W"])
    while w:
        first, chunk, *w = w
        for i, width in enumerate(chunk):
            widths[int(first) + i] = int(width)
    return cid_font["/FontDescriptor"]["/FontFile2"].get_object().data, widths


def test_stamp_glyph_widths_are_in_thousandths_of_an_em(signed):
    from fontTools.ttLib import TTFont

    program, widths = _stamp_font_widths(signed, "sales")
    font = TTFont(io.BytesIO(program))
    per_em, advances, order = font["head"].unitsPerEm, font["hmtx"].metrics, font.getGlyphOrder()
    assert per_em != 1000  # IPAex: 2048 units per em, where the units went wrong
    assert len(widths) >= 10
    for gid, width in widths.items():
        assert abs(width - advances[order[gid]][0] * 1000 / per_em) <= 1, (gid, width)


@needs_poppler
def test_the_stamp_name_is_drawn_at_its_true_width(signed):
    """Laid out by poppler, the signer's name is as wide as the font says: not letter-spaced."""
    from fontTools.ttLib import TTFont

    from sla_lang.agreement.signatures import STAMP_FONT_SIZE

    (name_line, box), email_line, time_line = _lines_in_field(signed, "sales")
    assert (name_line, email_line[0]) == ("Kenji Sato", KENJI)
    program, _ = _stamp_font_widths(signed, "sales")
    font = TTFont(io.BytesIO(program))
    cmap, advances, per_em = font.getBestCmap(), font["hmtx"].metrics, font["head"].unitsPerEm
    expected = sum(advances[cmap[ord(ch)]][0] for ch in name_line) * STAMP_FONT_SIZE / per_em
    assert box[2] - box[0] == pytest.approx(expected, rel=0.03)
    # the signing time with its offset from UTC
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC[+-]\d{4}", time_line[0])


@needs_poppler
def test_a_long_signer_name_stays_inside_the_field(unsigned, pki, tmp_path):
    pdf = tmp_path / "agreement.pdf"
    shutil.copy(unsigned, pdf)
    long_name = "Kenji Sato-Yamamoto-Watanabe, Head of Field Sales Operations"
    sign(pdf, pki.person("long", long_name, KENJI), "sales")
    lines = _lines_in_field(pdf, "sales")
    assert [text for text, _ in lines][:2] == [long_name, KENJI]  # whole, on one line
    x1, y1, x2, y2 = _field_rect(pdf, "sales")
    for text, (lx1, ly1, lx2, ly2) in lines:
        assert x1 <= lx1 and lx2 <= x2 and y1 <= ly1 and ly2 <= y2, f"{text!r} leaves the field"


def _field_rect(pdf: Path, field: str) -> tuple[float, float, float, float]:
    """The field's rectangle in pdftotext's coordinates (points, y from the top of the page)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    reader = PdfFileReader(open(pdf, "rb"))  # noqa: SIM115
    ref = next(ref for name, _, ref in enumerate_sig_fields(reader) if name == field)
    x1, y1, x2, y2 = (float(v) for v in ref.get_object()["/Rect"])
    height = float(ref.get_object()["/P"]["/MediaBox"][3])
    return x1, height - y2, x2, height - y1


def _lines_in_field(pdf: Path, field: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    """The lines of text poppler lays out inside the field (with a margin for text that leaves
    it sideways), top to bottom: (text, (x1, y1, x2, y2)) in points from the page's top left."""
    x1, y1, x2, y2 = _field_rect(pdf, field)
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    words: dict[float, list[tuple[str, tuple[float, ...]]]] = {}
    last_page = html.split("<page ")[-1]  # the signatures are on the last page
    for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
                         last_page):
        box = tuple(float(v) for v in m.groups()[:4])
        if x1 - 100 <= (box[0] + box[2]) / 2 <= x2 + 100 and y1 <= (box[1] + box[3]) / 2 <= y2:
            words.setdefault(round(box[1], 1), []).append((m.group(5), box))
    lines = []
    for _, row in sorted(words.items()):
        row.sort(key=lambda w: w[1][0])
        lines.append((" ".join(w for w, _ in row), (row[0][1][0], min(b[1] for _, b in row), row[-1][1][2],
                                                    max(b[3] for _, b in row))))
    return lines


def test_japanese_signer_name_in_the_stamp(tmp_path, pki):
    pytest.importorskip("typst")
    pdf = build_pdf(JA_POLICY, tmp_path)
    hanako = pki.person("hanako", "佐藤 花子", "hanako.sato@example.com")
    sign(pdf, hanako, "marketing")
    code, report = verify_json(pdf, "--trust", str(pki.ca_path), "--policy", str(JA_POLICY))
    assert code == 0, report["diagnostics"]
    assert report["signatures"][0]["signer"] == "佐藤 花子" and report["signatures"][0]["signer_is_party"] is True
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "佐藤 花子\nhanako.sato@example.com" in text


def test_policy_identity_syntax_errors_are_diagnostics():
    result = compile_text('agreement "A" {\n  version "1"\n  effective 2026-01-01\n}\n'
                          'party sales "Sales" {\n  lead "K" email "not an address" certificate "AB:CD"\n}\n', "p.sla")
    errors = [(d.code, d.span.line, d.span.column) for d in result.errors]
    assert errors == [("SLA306", 6, 18), ("SLA306", 6, 47)]


def test_fmt_keeps_the_signer_identity_and_diff_reports_its_change(tmp_path):
    from sla_lang.fmt import format_bytes

    messy = ('agreement "A" {\n  version "1"\n  effective 2026-01-01\n}\n'
             'party sales "Sales" {\n  lead   "K"   title "T"    email "k@example.com"   certificate "ab:CD"\n}\n')
    formatted = format_bytes(messy.encode(), "p.sla").formatted
    assert '  lead "K" title "T" email "k@example.com" certificate "ab:CD"\n' in formatted
    before = tmp_path / "before.sla"
    after = tmp_path / "after.sla"
    before.write_text(POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    after.write_text(before.read_text(encoding="utf-8").replace(KENJI, "mallory@example.com"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["diff", str(before), str(after), "--format", "json"])
    (change,) = json.loads(result.stdout)["policies"][0]["changes"]
    assert change["kind"] == "team.lead" and "kenji.sato@example.com → Kenji Sato, Head of Sales, mallory@example.com" \
        in change["message"]


def test_a_pdf_that_leaves_rows_out_cannot_be_signed(aiko, tmp_path, monkeypatch):
    """SLA805: a policy too large for one PDF gets a PDF whose tables show their first rows only.
    That PDF is not the whole agreement, so it must not be signable: it has no signature fields
    (pyHanko and poppler both find none), says in place of the signature boxes that it is not for
    signature, and `sla sign` refuses it. The full PDF of the same policy has both fields."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    from sla_lang.agreement import pdf as pdf_module

    def field_names(path: Path) -> list[str]:
        with path.open("rb") as handle:
            return [name for name, _, _ in enumerate_sig_fields(PdfFileReader(handle, strict=False))]

    full = build_pdf(POLICY, tmp_path)
    assert field_names(full) == ["marketing", "sales"] and set(pdfsig(full)) == {"marketing", "sales"}
    monkeypatch.setattr(pdf_module, "PDF_TABLE_ROWS", 20)
    monkeypatch.setattr(pdf_module, "ROWS_SHOWN", 3)
    result = compile_path(POLICY)
    built = target.build(result.policy, BuildOptions(formats=("pdf",)))
    assert [d.code for d in built.diagnostics] == ["SLA805"]
    summarised = tmp_path / "summarised.pdf"
    summarised.write_bytes(built.files["agreement.pdf"])
    assert field_names(summarised) == []
    assert pdfsig(summarised) == {}
    text = subprocess.run(["pdftotext", str(summarised), "-"], capture_output=True, text=True, check=True).stdout
    assert "is not for signature and has no signature fields" in re.sub(r"\s+", " ", text)
    refused = run("sign", str(summarised), "--key", str(aiko.key), "--cert", str(aiko.cert), "--field", "marketing")
    assert refused.exit_code != 0 and "has no signature field `marketing`" in refused.output
    assert "Traceback" not in refused.output
