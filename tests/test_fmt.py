"""`sla fmt`: canonical layout, comments kept, idempotent, meaning-preserving."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_lang.cli import cli
from sla_lang.compile import compile_text
from sla_lang.fmt import format_bytes, format_text
from sla_lang.irjson import canonical_bytes

from .conftest import FIXTURES, POLICIES, VALID

FMT_FIXTURES = FIXTURES / "fmt"


def ir_of(text: str) -> bytes:
    result = compile_text(text, checks=False)
    assert result.policy is not None, [d.message for d in result.diagnostics]
    return canonical_bytes(result.policy)


def comments(text: str) -> list[str]:
    from sla_lang.source import split_comment

    return sorted(c.strip() for c in (split_comment(line)[1] for line in text.splitlines()) if c)


def assert_formats_well(text: str) -> str:
    out = format_text(text)
    assert ir_of(out) == ir_of(text), "formatting changed the meaning"
    assert format_text(out) == out, "formatting is not idempotent"
    assert comments(out) == comments(text), "a comment was lost or changed"
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert all(line == line.rstrip() for line in out.splitlines())
    return out


# ---------------------------------------------------------------------- examples


@pytest.mark.parametrize("path", POLICIES + VALID, ids=lambda p: p.name)
def test_examples_format_idempotently_and_keep_their_meaning(path):
    assert_formats_well(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_example_policies_are_already_formatted(path):
    result = format_bytes(path.read_bytes(), path.name)
    assert not result.failed and not result.changed


def test_fmt_check_passes_on_the_example_policies(in_repo):
    result = CliRunner().invoke(cli, ["fmt", "--check", "policies/"])
    assert result.exit_code == 0, result.output
    assert "already formatted" in result.output


# ---------------------------------------------------------------------- the layout


def test_messy_policy_gets_the_canonical_layout(snapshot):
    messy = (FMT_FIXTURES / "messy.sla").read_text(encoding="utf-8")
    out = assert_formats_well(messy)
    assert out == snapshot


def test_settings_are_ordered_but_same_kind_lines_keep_their_order():
    text = (
        'agreement "A" {\n  purpose "second"\n  version "1"\n  purpose "third"\n  effective 2026-01-01\n}\n'
        "team t {\n}\n"
        "stage s {\n  -> b when x\n  -> a when y\n  decide within 2h\n  owner t\n  respond within 1h\n}\n"
    )
    out = format_text(text)
    assert out.index('version "1"') < out.index("effective") < out.index('purpose "second"') < out.index('purpose "third"')
    stage = out[out.index("stage s"):]
    assert [line.strip().split()[0] for line in stage.splitlines()[1:-1]] == ["owner", "respond", "decide", "->", "->"]
    assert stage.index("-> b") < stage.index("-> a"), "first matching transition wins: order kept"


def test_options_on_one_line_get_one_order():
    text = (
        'agreement "A" {\n  version "1"\n  effective 2026-01-01\n}\nteam t {\n}\n'
        'kpi k {\n  measure count s per month\n  target >= 1\n  alert < 1 notify t review r "Act"\n}\n'
        'responsibilities {\n  "Task" informed t consulted t responsible t\n}\n'
        'stage s {\n  -> s record x after 3d when y\n}\n'
    )
    out = format_text(text)
    assert 'alert < 1 "Act" review r notify t' in out
    assert '"Task" responsible t consulted t informed t' in out
    assert "-> s when y after 3d record x" in out


def test_spelling_of_values_is_normalised():
    text = (
        'agreement "A" {\n  version 2\n  effective 2026-01-01\n}\n'
        'property p "P" enum [a,"b"]\n'
        'calendar c {\n  timezone "UTC"\n  holidays jp\n}\n'
        'score s {\n  group g {\n    5 "x" when p == a\n  }\n}\n'
        "review r {\n  every 1 weeks\n}\nreview q {\n  every 6 month\n}\n"
    )
    out = format_text(text)
    for expected in ('version "2"', 'enum ["a", "b"]', "holidays JP", '+5 "x" when p == "a"', "every week\n", "every 6 months\n"):
        assert expected in out
    assert ir_of(out) == ir_of(text)


def test_comments_stay_with_the_statement_below_them():
    text = (
        'agreement "A" {\n  version "1"\n  effective 2026-01-01\n}\nteam t {\n}\n'
        "stage s {\n  # why the deadline is short\n  respond within 1h  # SLA\n  # who owns it\n  owner t\n}\n"
    )
    out = format_text(text)
    assert "  # who owns it\n  owner t\n  # why the deadline is short\n  respond within 1h  # SLA\n" in out


def test_crlf_and_bom_become_plain_utf8_with_lf():
    text = 'agreement "A" {\n  version "1"\n  effective 2026-01-01\n}\n'
    result = format_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(), "a.sla")
    assert result.changed and result.formatted == text


def test_japanese_text_and_comments_are_kept_byte_for_byte():
    text = (
        '# 日本語のコメント\nagreement "合意書" {\n  version "1"\n  effective 2026-01-01\n  language ja\n}\n\n'
        'party 営業 "営業部" {\n  lead "高橋 一郎" title "営業部長"  # 部長\n}\n'
    )
    assert format_text(text) == text


# ---------------------------------------------------------------------- refusing


def test_file_with_syntax_errors_is_reported_not_formatted():
    path = FIXTURES / "invalid" / "SLA101_unexpected_token.sla"
    result = format_bytes(path.read_bytes(), "bad.sla")
    assert result.failed
    codes = [d.code for d in result.diagnostics]
    assert codes.count("SLA101") == 2 and codes[-1] == "SLA880"
    assert (result.diagnostics[-1].span.line, result.diagnostics[-1].span.column) == (8, 3)


def test_unreadable_bytes_are_reported_not_formatted():
    result = format_bytes(b"\xff\xfe\x00a", "binary.sla")
    assert result.failed and [d.code for d in result.diagnostics] == ["SLA003", "SLA880"]


def test_a_formatter_bug_that_changes_meaning_leaves_the_file_alone(monkeypatch):
    """SLA881: the formatter re-parses its output and compares the canonical IR."""
    from sla_lang import fmt

    real = fmt.layout
    monkeypatch.setattr(fmt, "layout", lambda source, tree: real(source, tree).replace("24h", "48h"))
    data = (POLICIES[0]).read_bytes()
    result = format_bytes(data, "p.sla")
    assert result.failed and not result.changed
    (d,) = result.diagnostics
    assert d.code == "SLA881" and "canonical IR differs" in d.message


# ---------------------------------------------------------------------- the command


def run(*args, input=None):
    return CliRunner().invoke(cli, ["fmt", *args], input=input, catch_exceptions=False)


def test_fmt_rewrites_files_and_check_lists_them(tmp_path):
    messy = (FMT_FIXTURES / "messy.sla").read_bytes()
    target = tmp_path / "p.sla"
    target.write_bytes(messy)
    check = run("--check", str(tmp_path))
    assert check.exit_code == 1
    assert f"Would reformat: {target.as_posix()}" in check.output
    assert target.read_bytes() == messy, "--check writes nothing"
    diff = run("--diff", str(target))
    assert diff.exit_code == 1 and "+agreement \"Messy policy\" {" in diff.output
    assert target.read_bytes() == messy, "--diff writes nothing"
    write = run(str(target))
    assert write.exit_code == 0 and "1 file reformatted." in write.output
    assert target.read_text(encoding="utf-8") == format_text(messy.decode())
    assert run("--check", str(target)).exit_code == 0


def test_fmt_with_errors_exits_1_and_keeps_the_file(tmp_path):
    bad = tmp_path / "bad.sla"
    original = (FIXTURES / "invalid" / "SLA103_unclosed_block.sla").read_bytes()
    bad.write_bytes(original)
    result = run(str(bad))
    assert result.exit_code == 1
    assert "SLA880 (not-formatted-syntax-error)" in result.output
    assert bad.read_bytes() == original


def test_fmt_reads_stdin_for_editors():
    messy = (FMT_FIXTURES / "messy.sla").read_text(encoding="utf-8")
    result = run("-", input=messy)
    assert result.exit_code == 0 and result.output == format_text(messy)


def test_fmt_missing_path_is_a_usage_error(tmp_path):
    assert run(str(tmp_path / "nope.sla")).exit_code == 2


# ---------------------------------------------------------------------- generated policies

_SPACE = st.sampled_from([" ", "  ", "\t", " \t "])
_COMMENT = st.sampled_from(["# note", "#x", "# 備考: 要確認", '# a "quoted" # hash'])
_NAMES = ["alpha", "beta", "gamma", "delta"]


@st.composite
def lines_of(draw, statements: list[list[str]]) -> list[str]:
    """Each statement (a token list) as one line with random spacing and comments."""
    out = []
    for tokens in statements:
        if draw(st.booleans()) and draw(st.booleans()):
            out.append(draw(_SPACE) + draw(_COMMENT))
        if draw(st.integers(0, 5)) == 0:
            out.append("")
        line = draw(_SPACE) + draw(_SPACE).join(tokens)
        if draw(st.integers(0, 3)) == 0:
            line += draw(_SPACE) + draw(_COMMENT)
        out.append(line)
    return out


@st.composite
def blocks(draw, header: list[str], items: list[list[str]], shuffle: bool = True) -> list[str]:
    if shuffle:
        items = draw(st.permutations(items))
    body = draw(lines_of(items))
    close = "}" + (draw(_SPACE) + draw(_COMMENT) if draw(st.booleans()) and draw(st.booleans()) else "")
    return [draw(_SPACE).join(header)] + body + [close]


@st.composite
def policies(draw) -> str:
    hours = draw(st.sampled_from(["1h", "24h", "2bd", "30m"]))
    teams = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3, unique=True))
    parts: list[list[str]] = []
    parts.append(draw(blocks(
        ["agreement", '"Generated"', "{"],
        [["version", draw(st.sampled_from(['"1.0"', "2", "1.5"]))], ["effective", "2026-01-01"],
         ["language", draw(st.sampled_from(["en", "ja"]))], ["owner", teams[0]],
         ["purpose", '"first"'], ["purpose", '"second"']],
    )))
    for team in teams:
        parts.append(draw(blocks(
            [draw(st.sampled_from(["party", "team"])), team, f'"{team.title()}"', "{"],
            [["role", "sales"], ["lead", '"A B"', "title", '"Head"'], ["reviewers", f'"@{team}"']],
        )))
    parts.append(draw(lines_of([["property", "p", '"P"', "enum", "[", "a", ",", '"b"', "]"],
                                 ["property", "n", "number"], ["event", "e", '"E"']])))
    parts.append(draw(blocks(
        ["score", "s", "{"],
        [["hubspot", "hubspotscore"],
         ["group", "g", "max", "40", "{\n", "+10", '"x"', "when", "n", ">=", "5", "\n", "5", '"y"', "when", "e", "\n}"]],
    )))
    stage_items = [
        ["owner", draw(st.sampled_from(teams))], ["entry"], ["hubspot", "lead"], ["description", '"D"'],
        ["respond", "within", hours], ["decide", "within", "5bd", "target", "3bd"],
        ["follow", "up", "2", "times", "at", "0d", ",", "3d", "via", "call", ",", "email"],
        ["escalate", "to", teams[-1], "after", hours],
        ["->", "done", "when", "p", "==", "a", "and", "(", "e", ">=", "2", "or", "not", "n", "is", "set", ")",
         "record", "p", "after", "3d"],
        ["->", "done", '"Timeout"', "after", "30d"],
    ]
    fixed = stage_items[:-2]
    parts.append(draw(blocks(["stage", "s1", '"One"', "{"], draw(st.permutations(fixed)) + stage_items[-2:], shuffle=False)))
    parts.append(draw(blocks(["stage", "done", "{"], [["owner", teams[0]], ["terminal"]])))
    parts.append(draw(blocks(
        ["kpi", "k", "{"],
        [["owner", teams[0]], ["measure", "rate", "s1", "->", "done", "per", "month"], ["target", ">=", "20%"],
         ["alert", "<", "10%", "notify", teams[0], '"Act"']],
    )))
    parts.append(draw(blocks(
        ["review", "r", "{"],
        [["every", draw(st.sampled_from(["week", "2 weeks", "1 month", "6 month"]))], ["owner", teams[0]],
         ["agenda", '"one"'], ["agenda", '"two"'], ["attendees", ",".join(teams)]],
    )))
    parts.append(draw(blocks(["cancellation", "{"], [['"Reorganisation"'], ['"新製品"']], shuffle=False)))
    order = draw(st.permutations(range(1, len(parts))))
    chunks = [parts[0]] + [parts[i] for i in order]
    text = ""
    for chunk in chunks:
        text += "\n" * draw(st.integers(0, 2)) + "\n".join(chunk) + "\n"
    return text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_generated_policies_format_idempotently_and_keep_their_meaning(text):
    result = compile_text(text, checks=False)
    syntax = [d for d in result.diagnostics if d.code.startswith("SLA1")]
    assert syntax == [], text
    assert_formats_well(text)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(POLICIES + VALID), st.randoms(use_true_random=False))
def test_example_policies_with_scrambled_whitespace_format_back(path, rnd):
    """Re-indent and re-space every line of an example, double blank lines: fmt restores it exactly."""
    original = path.read_text(encoding="utf-8")
    canonical = format_text(original)
    scrambled = []
    for line in canonical.splitlines():
        stripped = line.strip()
        if not stripped.startswith(("#", '"')) and '"' not in stripped:
            stripped = re.sub(r" ", lambda m: rnd.choice([" ", "  ", "\t"]), stripped)
        scrambled.append(rnd.choice(["", " ", "    ", "\t"]) + stripped + rnd.choice(["", " ", "\t"]))
        if not stripped and rnd.random() < 0.5:
            scrambled.append("")  # blank lines collapse to one
    text = "\n".join(scrambled) + "\n"
    assert format_text(text) == canonical
