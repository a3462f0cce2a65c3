"""Reading policy bytes: encodings, line ends, binary data, size limits, Trojan Source."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sla_lang.compile import compile_bytes, compile_path
from sla_lang.config import Config
from sla_lang.irjson import canonical_bytes
from sla_lang.source import decode_source

from .conftest import POLICIES


def test_bom_and_crlf_give_the_same_ir_as_plain_lf():
    text = POLICIES[0].read_text(encoding="utf-8")
    plain = compile_bytes(text.encode(), "p.sla")
    for variant in (
        b"\xef\xbb\xbf" + text.encode(),
        text.replace("\n", "\r\n").encode(),
        b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(),
        text.replace("\n", "\r").encode(),
    ):
        other = compile_bytes(variant, "p.sla")
        assert other.errors == []
        assert canonical_bytes(other.policy) == canonical_bytes(plain.policy)


def test_crlf_positions_match_the_editor():
    data = b'agreement "x" {\r\n  version "1"\r\n  effective 2026-01-01\r\n  ownr ops\r\n}\r\n'
    (d,) = compile_bytes(data, "p.sla").errors
    assert (d.code, d.span.line, d.span.column, d.span.end_column) == ("SLA101", 4, 3, 7)


def test_utf16_is_refused_with_a_hint():
    source, (d,) = decode_source("p.sla", "agreement".encode("utf-16"))
    assert source is None and d.code == "SLA003" and "UTF-16" in d.message


def test_shift_jis_is_reported_at_the_first_bad_byte_with_a_conversion_hint():
    data = 'agreement "営業" {\n'.encode("cp932")
    source, (d,) = decode_source("p.sla", data)
    assert source is None
    assert (d.code, d.span.line, d.span.column) == ("SLA003", 1, 12)
    assert "iconv -f cp932" in d.help


def test_binary_data_is_refused_at_the_nul_byte():
    source, (d,) = decode_source("p.sla", b"%PDF-1.7\n\x00\x01\x02")
    assert source is None and (d.code, d.span.line, d.span.column) == ("SLA002", 2, 1)


def test_file_over_the_size_limit(tmp_path):
    path = tmp_path / "big.sla"
    path.write_bytes(b"# " + b"x" * (10 * 1024 * 1024) + b"\n")
    result = compile_path(path, config=Config())
    assert [d.code for d in result.diagnostics] == ["SLA004"]
    assert "10,485,763 bytes" in result.diagnostics[0].message
    assert compile_path(path, config=Config(max_file_size=20 * 1024 * 1024)).diagnostics[0].code == "SLA006"


def test_bidi_controls_are_errors_anywhere_even_in_comments():
    text = 'agreement "x" {\n  version "1"\n  effective 2026-01-01\n}\n# note \u2067hidden\u2069\n'
    result = compile_bytes(text.encode(), "p.sla")
    assert [(d.code, d.span.line, d.span.column) for d in result.errors] == [("SLA005", 5, 8), ("SLA005", 5, 15)]


def test_japanese_text_is_normalised_to_nfc():
    decomposed = "\u30ab\u3099"  # カ + combining dakuten = ガ
    text = f'agreement "{decomposed}" {{\n  version "1"\n  effective 2026-01-01\n}}\n'
    result = compile_bytes(text.encode(), "p.sla")
    assert result.policy.agreement.title == "\u30ac"


# ---------------------------------------------------------------- reading the line index

_LINES_ALPHABET = st.text(alphabet="ab{}%#\n é", max_size=60)


@given(_LINES_ALPHABET)
def test_longest_line_is_that_of_the_text_split_into_lines(text):
    from sla_lang.source import SourceFile

    assert SourceFile("t.sla", text).longest_line() == max(len(line) for line in text.split("\n"))


def test_longest_line_edge_cases():
    from sla_lang.source import SourceFile

    cases = {"": 0, "\n": 0, "abc": 3, "abc\n": 3, "a\n\nabcd": 4, "abcd\n\na\n": 4, "\n\n\nxy": 2}
    assert {text: SourceFile("t.sla", text).longest_line() for text in cases} == cases


@given(_LINES_ALPHABET)
def test_template_delimiters_found_as_a_search_for_each_pair_finds_them(text):
    """Lowering tells the SLA836 check whether the file holds a HubL delimiter anywhere; it looks
    next to each brace instead of searching for the six pairs, and must answer as that search."""
    from sla_lang.lower import _has_template_delimiter

    pairs = ("{{", "{%", "{#", "}}", "%}", "#}")
    assert _has_template_delimiter(text) == any(pair in text for pair in pairs)


def test_template_delimiters_at_the_ends_of_the_text():
    from sla_lang.lower import _has_template_delimiter

    found = {text: _has_template_delimiter(text)
             for text in ("", "{", "}", "{{", "}}", "%}", "#}", "{%", "{#", "a{", "}a", "{}", "} {", "%{", "}#", "#}a")}
    assert found == {"": False, "{": False, "}": False, "{{": True, "}}": True, "%}": True, "#}": True, "{%": True,
                     "{#": True, "a{": False, "}a": False, "{}": False, "} {": False, "%{": False, "}#": False,
                     "#}a": True}
