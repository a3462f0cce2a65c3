"""The agreement target: Markdown and HTML of every example in both languages, the catalogue,
plain-word rendering of values, escaping of hostile labels, the stage diagram."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from sla_lang.agreement.catalogue import Catalogue, load_messages, placeholders
from sla_lang.agreement.content import SECTIONS, prepare_document
from sla_lang.agreement.diagram import StageDiagram, text_width, wrap
from sla_lang.agreement.escape import markdown, mermaid, visible
from sla_lang.agreement.words import Words
from sla_lang.compile import compile_path, compile_text
from sla_lang.diagnostics import Severity
from sla_lang.ir import LANGUAGES
from sla_lang.targets import BuildOptions
from sla_lang.targets import agreement as target

from .conftest import POLICIES, REPO, rel


class MarkdownSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "md"


class HtmlSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "html"


def policy_of(path: Path):
    result = compile_path(path, shown_as=rel(path))
    assert result.ok, result.errors
    return result.policy


def build(policy, *formats: str, lang: str | None = None):
    return target.build(policy, BuildOptions(formats=formats, lang=lang))


def _unexpected(diagnostics, policy, lang: str) -> list:
    """No diagnostics, but for SLA809 in a document in another language than the policy's when
    the policy has no translation into it (the English examples in Japanese)."""
    untranslated = lang != policy.language and not policy.translation(lang)
    return [d for d in diagnostics if not (untranslated and d.code == "SLA809")]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.stem)
def test_markdown_snapshot(path, lang, snapshot, in_repo):
    policy = policy_of(path)
    result = build(policy, "md", lang=lang)
    assert _unexpected(result.diagnostics, policy, lang) == []
    assert result.files["agreement.md"].decode("utf-8") == snapshot(extension_class=MarkdownSnapshot)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.stem)
def test_html_snapshot(path, lang, snapshot, in_repo):
    policy = policy_of(path)
    result = build(policy, "html", lang=lang)
    assert _unexpected(result.diagnostics, policy, lang) == []
    assert result.files["agreement.html"].decode("utf-8") == snapshot(extension_class=HtmlSnapshot)


def test_language_defaults_to_the_policy_and_lang_overrides_it(in_repo):
    policy = policy_of(REPO / "policies" / "smarketing_ja.sla")
    assert "## 1. 目的" in build(policy, "md").files["agreement.md"].decode()
    assert "## 1. Purpose" in build(policy, "md", lang="en").files["agreement.md"].decode()


def test_outputs_are_byte_identical(in_repo):
    policy = policy_of(REPO / "policies" / "inside_sales_sal.sla")
    first = build(policy, "md", "html").files
    again = build(policy_of(REPO / "policies" / "inside_sales_sal.sla"), "md", "html").files
    assert first == again and set(first) == {"agreement.md", "agreement.html"}


def test_every_clause_id_of_the_ir_appears_in_every_format(in_repo):
    policy = policy_of(REPO / "policies" / "hubspot_scoring.sla")
    files = build(policy, "md", "html").files
    ids = [policy.agreement.clause_id]
    ids += [t.clause_id for t in policy.teams] + [s.clause_id for s in policy.stages]
    ids += [c.clause_id for s in policy.stages for c in (*s.deadlines, *s.escalations, *s.transitions)]
    ids += [s.follow_up.clause_id for s in policy.stages if s.follow_up]
    ids += [s.handoff.clause_id for s in policy.stages if s.handoff]
    ids += [r.clause_id for m in policy.scores for g in m.groups for r in g.rules]
    ids += [k.clause_id for k in policy.kpis] + [r.clause_id for r in policy.reviews]
    ids += [i.clause_id for info in policy.information for i in info.items]
    ids += [r.clause_id for r in policy.responsibilities] + [c.clause_id for c in policy.cancellations]
    ids += [p.clause_id for p in policy.priorities] + [c.clause_id for c in policy.calendars]
    for name, data in files.items():
        text = data.decode()
        missing = [i for i in ids if i not in text]
        assert missing == [], name


def test_fingerprint_in_every_format(in_repo):
    from sla_lang.irjson import fingerprint

    policy = policy_of(REPO / "policies" / "hubspot_scoring.sla")
    for data in build(policy, "md", "html").files.values():
        assert data.decode().count(fingerprint(policy)) >= 2


# ------------------------------------------------------------------ the catalogue


def test_every_message_exists_in_every_language_with_the_same_placeholders():
    problems = []
    for key, entries in load_messages().items():
        if set(entries) != set(LANGUAGES):
            problems.append(f"{key}: languages {sorted(entries)}")
            continue
        for lang, entry in entries.items():
            forms = entry.values() if isinstance(entry, dict) else [entry]
            if isinstance(entry, dict) and set(entry) != {"one", "other"}:
                problems.append(f"{key}.{lang}: plural forms {sorted(entry)}")
            if not all(isinstance(f, str) and f for f in forms):
                problems.append(f"{key}.{lang}: empty")
        if placeholders(entries["en"]) != placeholders(entries["ja"]):
            problems.append(f"{key}: placeholders differ")
    assert problems == []


def test_the_completeness_test_catches_a_missing_language(tmp_path, monkeypatch):
    """The check above is not vacuous: a message with one language is reported."""
    from sla_lang.agreement import catalogue

    (tmp_path / "agreement").mkdir()
    (tmp_path / "agreement" / "messages.toml").write_text('[a.b]\nen = "x"\n[c]\nen = "y"\nja = "z"\n', encoding="utf-8")
    monkeypatch.setattr(catalogue, "target_dir", lambda name: tmp_path / name)
    catalogue.load_messages.cache_clear()
    try:
        loaded = catalogue.load_messages()
        assert set(loaded["a.b"]) == {"en"} and set(loaded["c"]) == {"en", "ja"}
    finally:
        catalogue.load_messages.cache_clear()


def test_every_key_the_templates_use_exists():
    keys = set(load_messages())
    used = set()
    for template in (REPO / "targets" / "agreement").glob("*.j2"):
        used |= set(re.findall(r't\("([a-z_.]*[a-z_])"', template.read_text(encoding="utf-8")))
    used |= {f"section.{kind}" for kind in SECTIONS}  # built as "section." ~ kind
    assert used and used - keys == set()


def test_unknown_message_key_fails_loudly():
    with pytest.raises(KeyError):
        Catalogue("en")("no.such.key")


# ------------------------------------------------------------------ plain words


def words_for(text: str, lang: str = "en") -> tuple[Words, object]:
    result = compile_text(text, checks=False)
    assert result.policy is not None, result.diagnostics
    return Words(result.policy, lang), result.policy


POLICY = """agreement "T" {
  version "1"
  effective 2026-01-01
}
property employees "Number of employees" number
property intent "Buying intent" enum ["yes", "not_now"]
property consent "Marketing consent" bool
event pricing_page_view "Viewed the pricing page"
score lead_score "Lead score" {
  group fit "Fit" max 40 {
    +10 "x" when employees >= 50
  }
}
"""


@pytest.mark.parametrize(("condition", "en", "ja"), [
    ("lead_score >= 50 and pricing_page_view", "Lead score ≥ 50 and viewed the pricing page",
     "Lead scoreが50以上かつViewed the pricing pageあり"),
    ("pricing_page_view >= 3", "Viewed the pricing page at least 3 times", "Viewed the pricing pageが3回以上"),
    ("intent == \"not_now\"", "Buying intent is “not_now”", "Buying intentが「not_now」"),
    ("intent in [\"yes\", \"not_now\"]", "Buying intent is “yes” or “not_now”", "Buying intentが「yes」または「not_now」のいずれか"),
    ("consent == false", "not Marketing consent", "「Marketing consent」に該当しない"),
    ("lead_score.fit >= 20 or (employees < 10 and not consent)",
     "Lead score (Fit) ≥ 20 or (number of employees < 10 and not (marketing consent))",
     "Lead score（Fit）が20以上または（Number of employeesが10未満かつ（Marketing consent）に該当しない）"),
])
def test_conditions_in_plain_words(condition, en, ja):
    text = POLICY + f'priority p "P" when {condition}\n'
    for lang, expected in (("en", en), ("ja", ja)):
        w, policy = words_for(text, lang)
        assert w.condition(policy.priorities[0].condition) == expected


@pytest.mark.parametrize(("duration", "en", "ja"), [
    ("24h", "24 hours", "24時間"), ("1h", "1 hour", "1時間"), ("5bd", "5 business days", "5営業日"),
    ("1bd", "1 business day", "1営業日"), ("8bh", "8 business hours", "8営業時間"), ("30m", "30 minutes", "30分"),
    ("2w", "2 weeks", "2週間"), ("3d", "3 days", "3日"),
])
def test_durations_in_words(duration, en, ja):
    from sla_lang.ir import DURATION_UNITS, Duration
    from sla_lang.source import Span

    unit = next(u for u in sorted(DURATION_UNITS, key=len, reverse=True) if duration.endswith(u))
    d = Duration(int(duration[: -len(unit)]), unit, Span.point("x"))
    w, _ = words_for(POLICY)
    assert w.duration(d) == en
    assert Words(w.policy, "ja").duration(d) == ja


def test_dates_are_shown_as_written(in_repo):
    md = build(policy_of(REPO / "policies" / "smarketing_ja.sla"), "md").files["agreement.md"].decode()
    assert "2026-10-01" in md and "2026-12-30、2026-12-31、2027-01-02" in md


# ------------------------------------------------------------------ hostile text

HOSTILE = """agreement "<script>alert(1)</script> {{ 7*7 }}" {
  version "1.0 <b>"
  effective 2026-01-01
  purpose "# heading? | pipe | *bold* _em_ [link](javascript:alert(1)) `code` &amp; $x$ ~~s~~"
}
party sales "Sales\u200f <img src=x onerror=alert(1)>" {
  lead "Robert'); DROP TABLE--" title "{% raw %}{{ config }}"
}
stage lead "Lead\\"]-->x[\\"evil\\"]" {
  owner sales
  entry
  description "```\\n%% comment\\n</script>"
  decide within 5d
  -> won "a | b --> c ; click x call alert()" when hot
}
stage won "Won {{ x }}" {
  owner sales
  terminal
}
property hot "Hot <i>" bool
"""


@pytest.fixture(scope="module")
def hostile():
    result = compile_text(HOSTILE, "hostile.sla")
    assert result.ok, [d.message for d in result.errors]
    built = target.build(result.policy, BuildOptions(formats=("md", "html")))
    return built


def test_hostile_labels_are_escaped_in_html(hostile):
    html = hostile.files["agreement.html"].decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "<b>" not in html and "<i>" not in html
    assert "{{ 7*7 }}" in html and not re.search(r"\b49\b", html)  # data is never evaluated as a template
    assert "&#34;]--&gt;x[" in html  # inside the SVG too
    assert "\u200f" not in html and "Sales[U+200F]" in html


def test_hostile_labels_are_escaped_in_markdown(hostile):
    from markdown_it import MarkdownIt

    md = hostile.files["agreement.md"].decode()
    rendered = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(md)
    body = rendered.split("<pre>")[0]  # before the Mermaid block
    assert "<script>" not in rendered and "<img" not in rendered and "<b>" not in rendered
    assert "<em>em</em>" not in body and "<em>bold</em>" not in body and "<s>s</s>" not in body
    assert "<a href" not in body and "<code>code</code>" not in body
    assert "<h1># heading" not in rendered
    # the purpose paragraph comes out as exactly its text
    assert "# heading? | pipe | *bold* _em_ [link](javascript:alert(1)) `code` &amp;amp; $x$ ~~s~~" in rendered
    assert "\u200f" not in md and "Sales\\[U+200F\\]" in md and "Sales[U+200F]" in rendered


def test_hostile_labels_are_escaped_in_mermaid(hostile):
    md = hostile.files["agreement.md"].decode()
    block = md.split("```mermaid\n")[1].split("\n```\n")[0]
    nodes = [line for line in block.splitlines()[1:]]
    for line in nodes:
        # nothing but the node syntax itself may contain quotes, brackets or pipes
        inner = re.sub(r'^\s*s\d+ (?:-->|-\.->)(?:\|"[^"]*"\|)? s\d+$', "", line)
        inner = re.sub(r'^\s*s\d+(?:\(\["|\["|\[\["|\{\{")([^"\[\](){}|`%<>]*)(?:"\]\)|"\]|"\]\]|"\}\})$', "", inner)
        assert inner == "", line
    assert "```" not in block and "%%" not in block


def test_invisible_characters_are_shown_and_reported(hostile):
    warnings = [d for d in hostile.diagnostics if d.code == "SLA803"]
    assert len(warnings) == 1 and warnings[0].severity is Severity.WARNING
    assert (warnings[0].span.line, warnings[0].span.column) == (6, 1)
    assert "U+200F" in warnings[0].message


def test_markdown_escape_keeps_text_literal():
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    for text in ["1. not a list", "- not a list", "# not a heading", "> not a quote", "=== not setext",
                 "a_b_c", "_x_", "**x**", "<div>", "&copy;", "a | b", "`x`", "\\*", "[x](y)", "+15 points"]:
        html = parser.render(f"**1.1** x\n{markdown(text)}\n")
        import html as html_module

        assert html_module.unescape(re.sub(r"<[^>]+>", "", html)).strip() == f"1.1 x\n{text}", text


def test_visible_and_mermaid_helpers():
    assert visible("a\u202eb\u200ec\nd\te") == "a[U+202E]b[U+200E]c d e"
    assert mermaid('x"]-->y') == "x#34;#93;#45;#45;#62;y"
    assert mermaid("日本語 ok") == "日本語 ok"


# ------------------------------------------------------------------ the stage diagram


def test_diagram_layout_is_layered_and_recycle_edges_are_dashed(in_repo):
    policy = policy_of(REPO / "policies" / "hubspot_scoring.sla")
    d = StageDiagram.from_policy(policy)
    by_id = {n.id: n for n in d.nodes}
    assert by_id["lead"].y < by_id["mql"].y < by_id["sql"].y < by_id["opportunity"].y < by_id["customer"].y
    assert {(e.source, e.target) for e in d.edges if e.recycle} == {("mql", "nurture"), ("sql", "nurture")}
    assert [(e.source, e.target) for e in d.edges if e.back] == [("nurture", "mql")]
    # no two stages overlap
    boxes = [(n.x, n.y, n.x + n.width, n.y + n.height) for n in d.nodes]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    html = build(policy, "html").files["agreement.html"].decode()
    assert html.count('stroke-dasharray="5 3" marker-end') == 2
    md = build(policy, "md").files["agreement.md"].decode()
    assert md.count("-.->") == 2


def test_label_wrapping_handles_japanese_and_long_words():
    assert wrap("Marketing qualified lead (MQL)", 132) == ["Marketing", "qualified lead", "(MQL)"]
    lines = wrap("MQL(マーケティング・クオリファイド・リード)", 132)
    assert len(lines) == 2 and "".join(lines) == "MQL(マーケティング・クオリファイド・リード)"
    assert all(text_width(line) <= 132 + 12 for line in lines)  # a closing bracket may hang over
    assert "".join(wrap("x" * 60, 132)) == "x" * 60


def test_document_sections_are_numbered_in_order(in_repo):
    doc = prepare_document(policy_of(REPO / "policies" / "inside_sales_sal.sla"), "en")
    assert [s.number for s in doc.sections] == list(range(1, len(doc.sections) + 1))
    deadlines = doc.section("deadlines").clauses
    assert [c["number"] for c in deadlines][:2] == ["6.1", "6.2"]
    sal = next(c for c in deadlines if c["id"] == "sal.decide")
    assert (sal["sla"], sal["slo"]) == ("10 business days", "7 business days")
