"""The agreement in the document's language (issue 14 item 8): enum options with display labels,
`translation LANG { … }` blocks for the policy's texts, a warning (SLA809) naming every text the
document shows in another language or as a raw machine value, and Japanese punctuation."""

from __future__ import annotations

import html
import re

from sla_lang.agreement.content import prepare_document, untranslated_text_warnings
from sla_lang.agreement.render import render_html, render_markdown
from sla_lang.agreement.words import Words
from sla_lang.compile import compile_path, compile_text
from sla_lang.targets import BuildOptions
from sla_lang.targets import agreement as target

from .conftest import POLICIES, REPO

FW_OPEN, FW_CLOSE, FW_COLON = "\uff08", "\uff09", "\uff1a"

POLICY = '''agreement "Deals" {
  version "1"
  effective 2026-04-01
  language en
}
property deal_outcome "Deal outcome" enum ["won" "Won", "lost" "Lost", "on_hold"]
property recycle_reason "Recycle reason" enum ["timing" "Timing", "no_authority"]
stage opportunity "Opportunity" {
  owner sales
  entry
  -> customer "Won" when deal_outcome == "won"
  -> closed "Lost or parked" when deal_outcome in ["lost", "on_hold"] record recycle_reason
}
stage customer "Customer" {
  owner sales
  terminal
}
stage closed "Closed" {
  owner sales
  terminal
}
party sales "Sales" {
  role sales
}
'''

TRANSLATION = '''translation ja {
  "Deal outcome" "商談結果"
  "Won" "受注"
  "Lost" "失注"
  "on_hold" "保留"
  "Recycle reason" "返却理由"
  "Timing" "時期尚早"
  "no_authority" "決裁者不在"
}
'''


def transition_texts(policy, lang):
    doc = prepare_document(policy, lang)
    return {c["id"]: c["when"] for c in doc.section("criteria").extra["transitions"]} | {
        c["id"]: c["when"] for c in doc.section("recycling").clauses}, doc


def test_enum_options_are_lowered_with_their_labels():
    policy = compile_text(POLICY).policy
    outcome = policy.property_by_id["deal_outcome"]
    assert [o.value for o in outcome.options] == ["won", "lost", "on_hold"]
    assert [(o.value, o.label) for o in outcome.option_labels] == [("won", "Won"), ("lost", "Lost")]
    assert outcome.option_label("won") == "Won" and outcome.option_label("on_hold") is None
    label = outcome.option_labels[0]
    assert (label.span.line, label.span.column, label.span.end_column) == (6, 44, 55)  # `"won" "Won"`


def test_conditions_and_reasons_show_option_labels_and_report_raw_machine_values():
    policy = compile_text(POLICY).policy
    texts, doc = transition_texts(policy, "en")
    assert texts["opportunity.to.customer"] == "Deal outcome is “Won”"
    assert texts["opportunity.to.closed"] == "Deal outcome is “Lost” or “on_hold”"
    reasons = doc.section("criteria").extra["transitions"][1]["record"]
    assert reasons == [{"label": "Recycle reason", "reasons": "“Timing” or “no_authority”"}]
    warnings = untranslated_text_warnings(policy, doc)
    assert [(d.code, d.span.line, d.span.column) for d in warnings] == [("SLA809", 6, 72), ("SLA809", 7, 67)]
    assert warnings[0].message == 'enum option "on_hold" of `deal_outcome` is shown as its raw value in the en document'
    assert 'give it a label: enum [..., "on_hold" "…", ...]' == warnings[0].help


def test_a_document_in_another_language_reads_the_translation_block():
    untranslated = compile_text(POLICY).policy
    texts, doc = transition_texts(untranslated, "ja")
    assert texts["opportunity.to.customer"] == "Deal outcomeが「Won」"  # the mixed sentence of issue 14
    named = {d.message.split('"')[1] for d in untranslated_text_warnings(untranslated, doc)}
    assert {"Deal outcome", "Won", "Lost", "on_hold", "Recycle reason", "Opportunity", "Sales"} <= named
    translated = compile_text(POLICY + TRANSLATION).policy
    texts, doc = transition_texts(translated, "ja")
    assert texts["opportunity.to.customer"] == "商談結果が「受注」"
    assert texts["opportunity.to.closed"] == "商談結果が「失注」または「保留」のいずれか"
    reasons = doc.section("criteria").extra["transitions"][1]["record"]
    assert reasons == [{"label": "返却理由", "reasons": "「時期尚早」または「決裁者不在」"}]
    still = sorted(d.message.split('"')[1] for d in untranslated_text_warnings(translated, doc))
    assert still == ["Closed", "Customer", "Deals", "Lost or parked", "Opportunity", "Sales"]
    # the policy's own language reads the texts as written and ignores the block
    texts, _ = transition_texts(translated, "en")
    assert texts["opportunity.to.customer"] == "Deal outcome is “Won”"


def test_each_untranslated_text_is_named_once_where_it_is_declared():
    policy = compile_text(POLICY).policy
    warnings = untranslated_text_warnings(policy, prepare_document(policy, "ja"))
    messages = [d.message for d in warnings]
    assert len(messages) == len(set(messages))
    (outcome,) = [d for d in warnings if d.message.startswith('"Deal outcome"')]
    assert outcome.message == '"Deal outcome" has no ja translation; the ja document shows it as written'
    assert (outcome.span.line, outcome.span.column) == (6, 1)
    assert outcome.help == 'add it to a `translation ja` block: "Deal outcome" "…"'


def test_the_build_reports_sla809_only_for_what_the_document_shows(in_repo):
    for path in POLICIES:
        policy = compile_path(path).policy
        built = target.build(policy, BuildOptions(formats=("md",)))
        assert [d for d in built.diagnostics if d.code == "SLA809"] == [], path.name
    # smarketing_ja translates every text it shows into English
    japanese = compile_path(REPO / "policies" / "smarketing_ja.sla").policy
    built = target.build(japanese, BuildOptions(formats=("md", "html"), lang="en"))
    assert [d.message for d in built.diagnostics if d.code == "SLA809"] == []
    text = built.files["agreement.md"].decode()
    assert "| **MQL (marketing qualified lead)** |" in text
    names = [t.lead.name for t in japanese.teams if t.lead]  # people and Slack channels are names
    names += [c.target for s in japanese.stages if s.handoff for c in s.handoff.channels if c.target]
    for name in names:
        text = text.replace(name, "")
    assert re.findall(r"[\u3040-\u30ff\u4e00-\u9fff]+", re.sub(r"`[^`]*`", "", text)) == []
    english = compile_path(REPO / "policies" / "hubspot_scoring.sla").policy
    built = target.build(english, BuildOptions(formats=("md",), lang="ja"))
    assert len([d for d in built.diagnostics if d.code == "SLA809"]) > 50


def test_lowering_reports_bad_translation_blocks():
    def codes(extra: str) -> list[str]:
        return [d.code for d in compile_text(POLICY + extra).diagnostics]

    assert "SLA303" in codes('translation ja {\n  "Won" "受注"\n  "Won" "勝ち"\n}\n')
    assert "SLA307" in codes('translation fr {\n  "Won" "Gagné"\n}\n')
    assert "SLA302" in codes('translation ja {\n  "Won" "受注"\n}\ntranslation ja {\n  "Lost" "失注"\n}\n')
    assert "SLA725" in codes('translation ja {\n  "Wonn" "受注"\n}\n')
    assert "SLA725" not in codes(TRANSLATION)


JAPANESE = r"[\u3040-\u30ff\u3400-\u9fff]"


def japanese_punctuation_problems(text: str) -> list[str]:
    """Half-width colons or parentheses next to Japanese, and a space after 。 before more Japanese."""
    text = re.sub(r"`[^`]*`", "", text)  # code spans: clause ids, HubSpot names
    problems = re.findall(rf".{{0,8}}(?:{JAPANESE}\s?[():]|[():]\s?{JAPANESE}).{{0,8}}", text)
    problems += re.findall(rf".{{0,8}}。[ \t]+{JAPANESE}.{{0,4}}", text)
    return problems


def html_text(page: str) -> str:
    page = re.sub(r"<(style|script|svg)\b.*?</\1>", "", page, flags=re.DOTALL)
    page = re.sub(r"<code>.*?</code>", "", page, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_japanese_documents_use_full_width_punctuation(in_repo):
    """The Japanese example (and so every catalogue phrase it uses) reads as Japanese text: a
    Japanese document of an English policy quotes English labels as written (SLA809 names them)."""
    policy = compile_path(REPO / "policies" / "smarketing_ja.sla").policy
    doc = prepare_document(policy, "ja")
    assert japanese_punctuation_problems(render_markdown(doc)) == []
    assert japanese_punctuation_problems(html_text(render_html(doc))) == []


def test_every_japanese_phrase_of_the_catalogue_uses_full_width_punctuation():
    from sla_lang.agreement.catalogue import load_messages

    for key, entries in load_messages().items():
        entry = entries["ja"]
        for text in entry.values() if isinstance(entry, dict) else [entry]:
            assert not re.search(r"[():]", text), (key, text)
            assert "。 " not in text, key


def test_the_punctuation_test_catches_half_width_marks():
    assert japanese_punctuation_problems("引き渡す情報:氏名") and japanese_punctuation_problems("社内目標(SLO)")
    assert japanese_punctuation_problems("引き渡す。 引き渡す情報")
    assert not japanese_punctuation_problems(f"引き渡す情報{FW_COLON}氏名。引き渡す{FW_OPEN}SLO{FW_CLOSE}")


def test_japanese_sentences_follow_each_other_without_a_space():
    policy = compile_path(REPO / "policies" / "smarketing_ja.sla").policy
    w = Words(policy, "ja")
    assert w.sentences(["一文目。", "", "二文目。"]) == "一文目。二文目。"
    assert Words(policy, "en").sentences(["One.", "Two."]) == "One. Two."
    handoff = prepare_document(policy, "ja").section("handoff").clauses[0]["text"]
    assert "引き渡す。引き渡す情報" in handoff
