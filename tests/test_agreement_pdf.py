"""The agreement PDF (Typst + pyHanko) and `sla sign` / `sla verify`."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli
from sla_lang.compile import compile_path
from sla_lang.diagnostics import Severity
from sla_lang.targets import BuildOptions
from sla_lang.targets import agreement as target

from .conftest import REPO

pytest.importorskip("typst")
pytest.importorskip("pyhanko")
needs_poppler = pytest.mark.skipif(shutil.which("pdffonts") is None, reason="needs poppler-utils")

JA_POLICY = REPO / "policies" / "smarketing_ja.sla"
EN_POLICY = REPO / "policies" / "hubspot_scoring.sla"


def policy_of(path: Path):
    result = compile_path(path)
    assert result.ok
    return result.policy


@pytest.fixture(scope="module")
def ja_pdf(tmp_path_factory) -> Path:
    built = target.build(policy_of(JA_POLICY), BuildOptions(formats=("pdf",)))
    assert built.diagnostics == []
    path = tmp_path_factory.mktemp("pdf") / "agreement.pdf"
    path.write_bytes(built.files["agreement.pdf"])
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    """A throwaway CA, a signer certificate issued by it, and an unrelated self-signed one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("keys")
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def certificate(subject, issuer, public_key, signing_key, ca: bool, email: str | None = None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(start)
                   .not_valid_after(start + datetime.timedelta(days=3650))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(not ca, not ca, False, False, False, ca, ca, False, False), critical=True))
        if email:  # the address the policy gives the party's lead (`lead … email "…"`)
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    def write(path: Path, data: bytes) -> Path:
        path.write_bytes(data)
        return path

    pem = serialization.Encoding.PEM
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(name("Test CA"), name("Test CA"), ca_key.public_key(), ca_key, True)
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = certificate(name("佐藤 花子"), ca.subject, signer_key.public_key(), ca_key, False,
                         "hanako.sato@example.com")
    sales_key = ec.generate_private_key(ec.SECP256R1())
    sales = certificate(name("高橋 一郎"), ca.subject, sales_key.public_key(), ca_key, False,
                        "ichiro.takahashi@example.com")
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = certificate(name("Other CA"), name("Other CA"), other_key.public_key(), other_key, True)
    private = dict(encoding=pem, format=serialization.PrivateFormat.PKCS8)
    return {
        "ca": write(folder / "ca.pem", ca.public_bytes(pem)),
        "cert": write(folder / "signer.pem", signer.public_bytes(pem)),
        "key": write(folder / "signer.key", signer_key.private_bytes(**private, encryption_algorithm=serialization.NoEncryption())),
        "encrypted_key": write(folder / "signer-encrypted.key", signer_key.private_bytes(
            **private, encryption_algorithm=serialization.BestAvailableEncryption(b"s3cret"))),
        "other": write(folder / "other.pem", other.public_bytes(pem)),
        "sales_cert": write(folder / "sales.pem", sales.public_bytes(pem)),
        "sales_key": write(folder / "sales.key", sales_key.private_bytes(
            **private, encryption_algorithm=serialization.NoEncryption())),
    }


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)


# ------------------------------------------------------------------ the PDF


@needs_poppler
def test_pdf_pages_and_embedded_fonts(ja_pdf):
    info = subprocess.run(["pdfinfo", str(ja_pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 6 <= pages <= 20
    assert "A4" in info
    fonts = subprocess.run(["pdffonts", str(ja_pdf)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    assert fonts, "no fonts in the PDF"
    for line in fonts:
        assert re.search(r"\byes\s+yes\s+yes\b", line), f"font not embedded as a subset with ToUnicode: {line}"
    names = [line.split()[0].split("+", 1)[-1] for line in fonts]
    # Japanese in a family with a real bold face (item 5), chosen by file (item 9)
    assert any(n.startswith("NotoSansCJKjp-Regular") for n in names), names
    assert any(n.startswith("NotoSansCJKjp-Bold") for n in names), names


@needs_poppler
def test_every_page_has_the_fingerprint_and_page_number(ja_pdf):
    from sla_lang.irjson import fingerprint

    text = subprocess.run(["pdftotext", "-layout", str(ja_pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")[:-1]
    digest = fingerprint(policy_of(JA_POLICY))
    for number, page in enumerate(pages, 1):
        assert digest in page.replace(" ", "").replace("\n", ""), f"page {number} has no fingerprint"
        assert f"{number} /{len(pages)} ページ" in page or f"{number} / {len(pages)} ページ" in page


def test_every_japanese_character_has_a_real_glyph(ja_pdf):
    """Glyph coverage, not text: every character drawn maps (ToUnicode) to a glyph id that is
    not .notdef and that has an outline in the embedded font program."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    from sla_lang.agreement.pdf import is_japanese

    reader = PdfFileReader(open(ja_pdf, "rb"))
    covered: dict[str, list[int]] = {}
    fonts_seen = 0
    for page_ref in _pages(reader):
        resources = page_ref["/Resources"]
        fonts = resources["/Font"] if "/Font" in resources else {}
        for key in list(fonts.keys()):
            font = fonts[key]
            outline = _outlines(font["/DescendantFonts"][0].get_object())
            fonts_seen += 1
            for gid, text in _to_unicode(font["/ToUnicode"].get_object().data).items():
                assert gid != 0, f".notdef used for {text!r}"
                bounds = outline(gid)
                assert bounds != "missing", f"glyph {gid} for {text!r} missing from {font['/BaseFont']}"
                if text.strip():
                    assert bounds is not None, f"empty outline for {text!r} in {font['/BaseFont']}"
                for ch in text:
                    covered.setdefault(ch, []).append(gid)
    assert fonts_seen
    # the same document as Markdown: every Japanese character of its text must be drawn
    markdown = target.build(policy_of(JA_POLICY), BuildOptions(formats=("md",))).files["agreement.md"].decode()
    japanese = {ch for ch in markdown if is_japanese(ch)}
    assert len(japanese) > 300
    assert japanese - set(covered) == set(), "Japanese characters not drawn with a glyph"


def _outlines(descendant):
    """gid → the bounds of the glyph's outline (None: empty, "missing": no such glyph), read
    with fontTools from the embedded program: TrueType (FontFile2) or bare CFF (FontFile3)."""
    import io

    from fontTools.pens.boundsPen import BoundsPen

    descriptor = descendant["/FontDescriptor"]
    if "/FontFile2" in descriptor:
        from fontTools.ttLib import TTFont

        ttf = TTFont(io.BytesIO(descriptor["/FontFile2"].get_object().data))
        glyph_set, order = ttf.getGlyphSet(), ttf.getGlyphOrder()

        def truetype(gid: int):
            if gid >= len(order):
                return "missing"
            pen = BoundsPen(glyph_set)
            glyph_set[order[gid]].draw(pen)
            return pen.bounds

        return truetype
    from fontTools.cffLib import CFFFontSet

    cff = CFFFontSet()
    cff.decompile(io.BytesIO(descriptor["/FontFile3"].get_object().data), None)
    top = cff[cff.fontNames[0]]
    charset = top.charset
    cid_keyed = hasattr(top, "ROS")

    def compact(gid: int):
        name = f"cid{gid:05d}" if cid_keyed else (charset[gid] if gid < len(charset) else None)
        if name is None or name not in top.CharStrings:
            return "missing"
        pen = BoundsPen(None)
        top.CharStrings[name].draw(pen)
        return pen.bounds

    return compact


def _pages(reader):
    stack = [reader.root["/Pages"]]
    while stack:
        node = stack.pop().get_object()
        if node["/Type"] == "/Pages":
            stack.extend(reversed(list(node["/Kids"])))
        else:
            yield node


def _to_unicode(cmap: bytes) -> dict[int, str]:
    out: dict[int, str] = {}
    text = cmap.decode("latin-1")
    for block in re.findall(r"beginbfchar(.*?)endbfchar", text, re.S):
        for src, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            out[int(src, 16)] = bytes.fromhex(dst).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", text, re.S):
        for lo, hi, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            base = bytes.fromhex(dst).decode("utf-16-be")
            for i, gid in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                out[gid] = base[:-1] + chr(ord(base[-1]) + i)
    return out


def test_signature_fields_one_per_party_over_the_signature_lines(ja_pdf):
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(open(ja_pdf, "rb"))
    fields = [f.get_object() for f in reader.root["/AcroForm"]["/Fields"]]
    assert [(str(f["/T"]), f["/FT"]) for f in fields] == [("marketing", "/Sig"), ("sales", "/Sig")]
    for f in fields:
        x1, y1, x2, y2 = (float(v) for v in f["/Rect"])
        assert 150 < x2 - x1 < 400 and 40 < y2 - y1 < 80  # the 20 mm high signature area
        assert "/V" not in f  # empty
    info = reader.trailer["/Info"]
    assert len(str(info["/SLAFingerprint"])) == 64 and str(info["/SLAVersion"]) == "1.5"


def test_pdf_is_byte_identical_and_dated_from_the_source(ja_pdf, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    again = target.build(policy_of(JA_POLICY), BuildOptions(formats=("pdf",))).files["agreement.pdf"]
    assert again == ja_pdf.read_bytes()
    assert _dates(again) == ("D:20261001000000Z", "D:20261001000000Z")  # the effective date, not the clock
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01
    dated = target.build(policy_of(JA_POLICY), BuildOptions(formats=("pdf",))).files["agreement.pdf"]
    assert _dates(dated) == ("D:20260101000000Z", "D:20260101000000Z")


def _dates(pdf: bytes) -> tuple[str, str]:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    info = PdfFileReader(io.BytesIO(pdf)).trailer["/Info"]
    return str(info["/CreationDate"]), str(info["/ModDate"])


# ------------------------------------------------------------------ sign and verify


def test_sign_verify_tamper(ja_pdf, keys, tmp_path):
    pdf = tmp_path / "agreement.pdf"
    shutil.copy(ja_pdf, pdf)
    signed = run("sign", str(pdf), "--key", str(keys["key"]), "--cert", str(keys["cert"]), "--field", "marketing")
    assert signed.exit_code == 0, signed.output
    result = run("verify", str(pdf), "--trust", str(keys["ca"]), "--policy", str(JA_POLICY), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["policy"]["matches"] is True
    marketing, sales = report["signatures"]
    assert (marketing["field"], marketing["signer"], marketing["intact"], marketing["trusted"]) == (
        "marketing", "佐藤 花子", True, True)
    assert sales == {**sales, "field": "sales", "signed": False}
    # the second party signs later: the first signature stays intact
    assert run("sign", str(pdf), "--key", str(keys["sales_key"]), "--cert", str(keys["sales_cert"]),
               "--field", "sales").exit_code == 0
    both = run("verify", str(pdf), "--trust", str(keys["ca"]), "--require-all", "--policy", str(JA_POLICY),
               "--color", "never")
    assert both.exit_code == 0, both.output
    assert "field marketing (マーケティング部): signed by 佐藤 花子 <hanako.sato@example.com>" in both.output
    assert "OK: 2 of 2" in both.output

    # tamper one byte inside the signed range (a character of the recorded version)
    data = bytearray(pdf.read_bytes())
    data[data.index(b"/SLAVersion") + 14] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    bad = run("verify", str(tampered), "--color", "never")
    assert bad.exit_code == 1
    assert "intact: no" in bad.output and "SLA814 (signature-not-intact)" in bad.output
    assert "Traceback" not in bad.output


def test_tampering_anywhere_never_crashes(ja_pdf, keys, tmp_path):
    pdf = tmp_path / "agreement.pdf"
    shutil.copy(ja_pdf, pdf)
    assert run("sign", str(pdf), "--key", str(keys["key"]), "--cert", str(keys["cert"]), "--field", "sales").exit_code == 0
    data = pdf.read_bytes()
    for position in (len(data) // 5, len(data) // 2, len(data) * 4 // 5):
        broken = bytearray(data)
        broken[position] ^= 0x55
        path = tmp_path / f"broken-{position}.pdf"
        path.write_bytes(bytes(broken))
        result = run("verify", str(path), "--color", "never")
        assert result.exit_code in (1, 2) and "Traceback" not in result.output


def test_verify_reports_untrusted_signer_and_wrong_policy(ja_pdf, keys, tmp_path):
    pdf = tmp_path / "agreement.pdf"
    shutil.copy(ja_pdf, pdf)
    assert run("sign", str(pdf), "--key", str(keys["key"]), "--cert", str(keys["cert"]), "--field", "sales").exit_code == 0
    untrusted = run("verify", str(pdf), "--trust", str(keys["other"]), "--color", "never")
    assert untrusted.exit_code == 1 and "SLA815 (signer-not-trusted)" in untrusted.output
    wrong = run("verify", str(pdf), "--policy", str(EN_POLICY), "--color", "never")
    assert wrong.exit_code == 1 and "SLA816 (fingerprint-mismatch)" in wrong.output
    unsigned = run("verify", str(pdf), "--require-all", "--color", "never")
    assert unsigned.exit_code == 1 and "SLA817 (unsigned-field)" in unsigned.output and "`marketing`" in unsigned.output


def test_sign_refuses_unknown_or_signed_field_and_wrong_key(ja_pdf, keys, tmp_path):
    pdf = tmp_path / "agreement.pdf"
    shutil.copy(ja_pdf, pdf)
    args = ["sign", str(pdf), "--key", str(keys["key"]), "--cert", str(keys["cert"])]
    unknown = run(*args, "--field", "Sales", "--color", "never")
    assert unknown.exit_code == 1 and "SLA811 (unknown-signature-field)" in unknown.output
    assert "`marketing`, `sales`" in unknown.output
    mismatch = run("sign", str(pdf), "--key", str(keys["key"]), "--cert", str(keys["ca"]), "--field", "sales",
                   "--color", "never")
    assert mismatch.exit_code == 1 and "SLA813 (unusable-signing-key)" in mismatch.output
    assert pdf.read_bytes() == ja_pdf.read_bytes()  # nothing written on failure
    encrypted = run("sign", str(pdf), "--key", str(keys["encrypted_key"]), "--cert", str(keys["cert"]),
                    "--field", "sales", env={"SLA_KEY_PASSPHRASE": "s3cret"})
    assert encrypted.exit_code == 0, encrypted.output
    again = run(*args, "--field", "sales", "--color", "never")
    assert again.exit_code == 1 and "SLA812 (field-already-signed)" in again.output


def test_verify_unreadable_pdf_exits_2(tmp_path):
    not_pdf = tmp_path / "agreement.pdf"
    not_pdf.write_text("hello", encoding="utf-8")
    result = run("verify", str(not_pdf), "--color", "never")
    assert result.exit_code == 2 and "SLA810 (unreadable-pdf)" in result.output
    assert run("verify", str(tmp_path / "missing.pdf")).exit_code == 2


# ------------------------------------------------------------------ when the PDF cannot be made


def test_missing_pdf_extra_is_a_warning_by_default_and_an_error_when_asked(monkeypatch):
    monkeypatch.setitem(sys.modules, "typst", None)  # `import typst` now raises ImportError
    policy = policy_of(EN_POLICY)
    implicit = target.build(policy, BuildOptions())
    assert set(implicit.files) == {"agreement.md", "agreement.html"}
    (d,) = implicit.diagnostics
    assert (d.code, d.severity) == ("SLA800", Severity.WARNING) and "skipped" in d.message
    explicit = target.build(policy, BuildOptions(formats=("pdf",)))
    assert explicit.failed and explicit.diagnostics[0].code == "SLA800"
    assert "pip install 'sla-lang[pdf]'" in explicit.diagnostics[0].help


def _without_japanese_fonts(tmp_path: Path) -> dict[str, str]:
    """An environment whose fontconfig sees the DejaVu fonts only."""
    dejavu = [d for d in ("/usr/share/fonts/truetype/dejavu",) if Path(d).is_dir()]
    if not dejavu:
        pytest.skip("needs the DejaVu fonts")
    config = tmp_path / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{dejavu[0]}</dir><cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>", encoding="utf-8")
    return {**os.environ, "FONTCONFIG_FILE": str(config), "PYTHONPATH": str(REPO)}


def test_no_japanese_font_is_an_error_naming_the_package(tmp_path):
    env = _without_japanese_fonts(tmp_path)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "sla_lang", "build", str(JA_POLICY), "-t", "agreement",
                             "--format", "pdf", "-o", str(out), "--color", "never"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "SLA801 (no-japanese-font)" in result.stderr and "fonts-ipaexfont" in result.stderr
    assert not out.exists()


def test_glyph_check_after_rendering_catches_empty_boxes(tmp_path):
    """Even when the coverage check before typesetting is fooled, the glyphs Typst could not
    find (drawn as .notdef, with no ToUnicode entry) are caught in the rendered PDF."""
    env = _without_japanese_fonts(tmp_path)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from sla_lang.agreement import fonts\n"
        "fonts.FontSet.missing = lambda self, characters: []\n"
        "from sla_lang.compile import compile_path\n"
        "from sla_lang.targets import BuildOptions\n"
        "from sla_lang.targets import agreement\n"
        f"r = agreement.build(compile_path(Path({str(JA_POLICY)!r})).policy, BuildOptions(formats=('pdf',)))\n"
        "print(sorted(r.files), [(d.code, d.severity.value, 'Typst drew no glyph' in d.message) for d in r.diagnostics])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] [('SLA801', 'error', True)]"


def test_default_build_skips_the_pdf_with_a_warning_without_japanese_fonts(tmp_path):
    env = _without_japanese_fonts(tmp_path)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "sla_lang", "build", str(JA_POLICY), "-t", "agreement",
                             "-o", str(out), "--color", "never"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "warning SLA801" in result.stderr and "skipped" in result.stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["agreement.html", "agreement.md"]


def test_missing_glyph_outside_japanese_is_reported(monkeypatch):
    from sla_lang.agreement import pdf

    diagnostic = pdf._missing_glyphs(policy_of(EN_POLICY), ["\U0001f525"])
    assert diagnostic.code == "SLA802" and "U+1F525" in diagnostic.message
    assert pdf._missing_glyphs(policy_of(EN_POLICY), ["営"]).code == "SLA801"


def test_renderer_failure_becomes_a_diagnostic(monkeypatch):
    import typst

    class Exploding:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("typst exploded")

    monkeypatch.setattr(typst, "Compiler", Exploding)
    monkeypatch.delenv("SLA_DEBUG", raising=False)
    built = target.build(policy_of(EN_POLICY), BuildOptions(formats=("pdf",)))
    assert built.failed and built.diagnostics[0].code == "SLA804"
    assert "typst exploded" in built.diagnostics[0].message


# ------------------------------------------------------------------ Typst markup and fonts


@needs_poppler
def test_hostile_text_is_typeset_literally(tmp_path):
    """Policy text that looks like Typst (or Markdown, HTML, jinja) markup comes out of the PDF
    as exactly that text: nothing in it is evaluated."""
    from sla_lang.compile import compile_text

    from .test_agreement import HOSTILE

    result = compile_text(HOSTILE, "hostile.sla")
    built = target.build(result.policy, BuildOptions(formats=("pdf",)))
    assert "agreement.pdf" in built.files, [d.message for d in built.diagnostics]
    pdf = tmp_path / "hostile.pdf"
    pdf.write_bytes(built.files["agreement.pdf"])
    text = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", " ", text)
    assert "# heading? | pipe | *bold* _em_ [link](javascript:alert(1)) `code` &amp; $x$ ~~s~~" in flat
    assert "<script>alert(1)</script> {{ 7*7 }}" in flat and "Robert'); DROP TABLE--" in flat
    assert "Sales[U+200F]" in flat


def _typeset_text(markup: str) -> str:
    """The plain text Typst makes of `markup` (its content tree, read back with typst query)."""
    import typst

    tree = json.loads(typst.query(f"#metadata[{markup}] <probe>\n".encode(), "<probe>", field="value"))[0]

    def flatten(node) -> str:
        if isinstance(node, str):
            return node
        if isinstance(node, dict):
            if node.get("func") == "space":
                return " "
            if "text" in node:
                return node["text"]
            return "".join(flatten(c) for c in node.get("children", [])) + flatten(node.get("body", ""))
        return ""

    return flatten(tree)


@pytest.mark.parametrize("text", [
    "# heading", "= heading", "- item", "+ item", "1. item", "/ term: x", "*bold* _em_", "`raw`", "$x^2$",
    "<label>", "@ref", "#set text(red)", "// comment", "/* block */", "a \\ b", "\\u{1F525}", "'single' \"double\"",
    "--- -- ...", "~nbsp~", "[content]", "{code}", "http://example.com", "50% of 10", "営業部 ≥ 50 (#sales-mql)",
])
def test_typst_escape_keeps_text_literal(text):
    from sla_lang.agreement.escape import typst_markup

    assert _typeset_text(typst_markup(text)) == text


def test_typst_escape_keeps_any_printable_line_literal():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from sla_lang.agreement.escape import typst_markup

    line = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), max_size=30)

    @settings(max_examples=60, deadline=None)
    @given(line)
    def keeps(text):
        text = re.sub(r"\s+", " ", text).strip()  # Typst collapses white space like any typesetter
        assert _typeset_text(typst_markup(text)) == text

    keeps()


def test_fonts_are_chosen_by_file_with_a_fallback_family_for_missing_characters():
    from sla_lang.agreement.fonts import Face, choose_fonts

    def face(path, family, weight=80, charset="20-7e"):
        return Face(path, (family,), weight, 0, charset)

    installed = [
        face("/a/DejaVuSans.ttf", "DejaVu Sans"), face("/a/DejaVuSans-Bold.ttf", "DejaVu Sans", 200),
        face("/a/DejaVuSansMono.ttf", "DejaVu Sans Mono"),
        face("/b/ipaexg.ttf", "IPAexGothic", charset="20-7e 3000-30ff 4e00-9fff"),
        face("/c/NotoSansCJK-Bold.ttc", "Noto Sans CJK JP", 200, "20-7e 3000-30ff 4e00-9fff"),
        face("/c/NotoSansCJK-Regular.ttc", "Noto Sans CJK JP", 80, "20-7e 3000-30ff 4e00-9fff"),
        face("/d/Zeta.ttf", "Zeta Sans", charset="20-7e 900-97f"),
        face("/d/Alpha.ttf", "Alpha Sans", charset="20-7e 900-97f"),
    ]
    fonts = choose_fonts(installed)
    assert fonts.japanese == "Noto Sans CJK JP"  # preferred to IPAex, which has no bold
    assert {f.path for f in fonts.faces} == {"/a/DejaVuSans.ttf", "/a/DejaVuSans-Bold.ttf", "/a/DejaVuSansMono.ttf",
                                             "/c/NotoSansCJK-Bold.ttc", "/c/NotoSansCJK-Regular.ttc"}
    assert fonts.missing(set("営業 abc क")) == ["क"]
    fonts.add_fallbacks(installed, set("営業 abc क"))
    assert fonts.missing(set("営業 abc क")) == []
    assert fonts.body[-1] == "Alpha Sans"  # of two families with the glyph, the first by file path
    without_noto = choose_fonts([f for f in installed if "Noto" not in f.families[0]])
    assert without_noto.japanese == "IPAexGothic"
    assert choose_fonts([f for f in installed if f.families[0].startswith("DejaVu")]).missing(set("営")) == ["営"]


@needs_poppler
def test_pdf_bytes_do_not_depend_on_the_locale(tmp_path):
    """Item 9: under a Japanese locale fontconfig names IPAex `IPAexゴシック` (the family name in
    Japanese), which WeasyPrint embedded, changing the bytes. fontconfig reads the language
    from these variables whether or not the locale is generated on the machine."""
    outputs = []
    for n, env in enumerate([
        {"LC_ALL": "C", "LANG": "C", "LANGUAGE": ""},
        {"LC_ALL": "ja_JP.UTF-8", "LANG": "ja_JP.UTF-8", "LANGUAGE": "ja:en", "FC_LANG": "ja"},
    ]):
        out = tmp_path / f"out{n}"
        result = subprocess.run([sys.executable, "-m", "sla_lang", "build", str(JA_POLICY), "-t", "agreement",
                                 "--format", "pdf", "-o", str(out), "--color", "never"],
                                capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
                                env={**os.environ, "PYTHONPATH": str(REPO), **env})
        assert result.returncode == 0, result.stderr
        outputs.append((out / "agreement.pdf").read_bytes())
    assert outputs[0] == outputs[1]
    fonts = subprocess.run(["pdffonts", str(tmp_path / "out1" / "agreement.pdf")], capture_output=True, text=True,
                           check=True).stdout
    assert "NotoSansCJKjp-Bold" in fonts and "ゴシック" not in fonts


def test_the_typst_template_writes_no_text_of_its_own():
    """Wording comes from the document data and messages.toml only; and the check after
    typesetting expects every non-ASCII character of the source to be printed, so the
    template's own text (outside jinja comments) is ASCII."""
    from sla_lang.resources import target_dir

    template = (target_dir("agreement") / "agreement.typ.j2").read_text(encoding="utf-8")
    own = re.sub(r"\{#.*?#\}", "", template, flags=re.DOTALL)
    assert [ch for ch in own if ord(ch) > 0x7F] == []


@needs_poppler
@pytest.mark.parametrize("policy", [REPO / "policies" / "inside_sales_sal.sla", JA_POLICY], ids=["en", "ja"])
def test_a_policy_too_large_for_one_pdf_shows_each_tables_first_rows_and_says_so(policy, monkeypatch):
    """SLA805 (issue 20: 10,000 stages): past PDF_TABLE_ROWS rows in all, each table of the PDF
    keeps its first ROWS_SHOWN rows and ends with how many it leaves out. Checked against the
    Markdown form, another renderer, which always lists every row: of its row numbers, those
    missing from the PDF's text are exactly as many as the PDF says it left out, and each table
    says it left out its rows minus the three shown."""
    from sla_lang.agreement import pdf
    from sla_lang.agreement.content import prepare_document
    from sla_lang.agreement.render import TABLE_ROW, TABLE_START, render_typst

    monkeypatch.setattr(pdf, "PDF_TABLE_ROWS", 20)
    monkeypatch.setattr(pdf, "ROWS_SHOWN", 3)
    ir_policy = policy_of(policy)
    built = target.build(ir_policy, BuildOptions(formats=("pdf", "md")))
    assert [(d.code, d.severity) for d in built.diagnostics] == [("SLA805", Severity.WARNING)]
    markdown = built.files["agreement.md"].decode("utf-8")
    numbers = re.findall(r"^\| (\d+(?:\.\d+)+) \|", markdown, flags=re.MULTILINE)
    assert len(numbers) > 20
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agreement.pdf"
        path.write_bytes(built.files["agreement.pdf"])
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", "", text)
    if policy == JA_POLICY:
        left_out = [int(n) for n in re.findall(r"…ほか(\d+)行はPDFでは省略する", flat)]
        assert f"このポリシーの表は合計{len(numbers)}行あり" in flat
    else:
        left_out = [int(n) for n in re.findall(r"…and(\d+)morerows,leftoutofthePDF", flat)]
        assert f"Thispolicy'stableshave{len(numbers)}rowsinall" in flat
    shown = [n for n in numbers if re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", text)]
    assert sum(left_out) == len(numbers) - len(shown) > 0
    full = render_typst(prepare_document(ir_policy, ir_policy.language), fonts={"body": [], "mono": []})
    per_table = [part.split("\n)\n", 1)[0].count("\n" + TABLE_ROW) for part in full.split(TABLE_START)[1:]]
    assert left_out == [n - 3 for n in per_table if n > 3]


def test_example_policies_are_far_below_the_pdf_row_limit():
    """The limit only concerns generated giants: every example's PDF shows every row."""
    from sla_lang.agreement import pdf
    from sla_lang.agreement.content import prepare_document
    from sla_lang.agreement.render import render_typst, table_rows

    for path in sorted((REPO / "policies").glob("*.sla")):
        ir_policy = policy_of(path)
        source = render_typst(prepare_document(ir_policy, ir_policy.language), fonts={"body": [], "mono": []})
        assert 20 < table_rows(source) < pdf.PDF_TABLE_ROWS / 5, path.name
