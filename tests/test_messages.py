"""Diagnostics in Japanese as well as English (sla_lang/message.py).

The catalogue tests read the source the way xgettext does, so a new check whose message has
no Japanese text — or is built with an f-string that cannot be translated — fails here with
the file and line to fix."""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sla_lang.compile import compile_text
from sla_lang.diagnostics import all_rules
from sla_lang.message import (
    Listing,
    Message,
    _load,
    choose_language,
    locale_language,
    localize,
    message_catalogue,
    placeholders,
    rule_catalogue,
    rule_source_checksum,
    stated_language,
)
from tests.message_scan import scan

REPO = Path(__file__).resolve().parent.parent
INVALID = REPO / "tests" / "fixtures" / "invalid"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def scanned():
    return scan()


def test_no_diagnostic_text_that_cannot_be_translated(scanned):
    _, problems = scanned
    assert not problems, "\n".join(f"{p.where}: {p.what}" for p in problems)


def test_every_message_template_has_japanese_text_with_the_same_fields(scanned):
    templates, _ = scanned
    catalogue = message_catalogue("ja")
    missing = sorted({f"{t.where}: {t.text!r}" for t in templates if t.text not in catalogue})
    assert not missing, "no Japanese text in sla_lang/locale/ja.toml for:\n" + "\n".join(missing)
    for t in (t for t in templates if t.formatted):
        assert placeholders(catalogue[t.text]) == placeholders(t.text), f"{t.where}: fields differ for {t.text!r}"


def test_the_catalogue_holds_no_text_the_code_no_longer_uses(scanned):
    templates, _ = scanned
    used = {t.text for t in templates}
    stale = sorted(set(message_catalogue("ja")) - used)
    assert not stale, "remove from sla_lang/locale/ja.toml (no longer in the code):\n" + "\n".join(map(repr, stale))


def test_japanese_texts_are_japanese(scanned):
    """A copied English text is not a translation: every entry with English prose has Japanese in it."""
    for english, japanese in message_catalogue("ja").items():
        if _english_words(english):
            assert JAPANESE.search(japanese), f"not translated: {english!r} → {japanese!r}"


def test_every_registered_rule_has_japanese_texts():
    catalogue = rule_catalogue("ja")
    for rule in all_rules():
        texts = catalogue.get(rule.code)
        assert texts is not None, f"{rule.code} ({rule.name}) has no entry in sla_lang/locale/ja-rules.toml"
        for field in ("summary", "explanation"):
            assert JAPANESE.search(texts.get(field, "")), f"{rule.code}: no Japanese {field}"
        for field in ("bad", "good"):
            english = getattr(rule, field)
            if _has_prose(english):
                assert JAPANESE.search(texts.get(field, "")), f"{rule.code}: the {field} example has prose to translate"
        source = rule_source_checksum(rule)
        assert texts.get("source") == source, (
            f"{rule.code}: its English texts changed since they were translated; update the Japanese in "
            f"sla_lang/locale/ja-rules.toml and set source = \"{source}\"")
    unknown = set(catalogue) - {r.code for r in all_rules()}
    assert not unknown, f"ja-rules.toml has entries for rules that do not exist: {sorted(unknown)}"


def _has_prose(example: str) -> bool:
    """A comment in a policy example, or an example that is a sentence in parentheses."""
    return example.lstrip().startswith("(") or any(
        re.search(r"#\s*(?!sla:|expect:)[A-Za-z]{2}", re.sub(r'"[^"]*"', "", line)) for line in example.splitlines())


def test_translated_rule_keeps_code_name_and_severity():
    rule = next(r for r in all_rules() if r.code == "SLA201")
    ja = rule.localized("ja")
    assert (ja.code, ja.name, ja.severity) == (rule.code, rule.name, rule.severity)
    assert ja.summary != rule.summary and JAPANESE.search(ja.summary)


# ------------------------------------------------------------------ the mechanism


def test_a_message_is_its_english_text_and_says_itself_in_japanese():
    m = Message("stage `{stage}` has no owner: the leads in it belong to nobody", stage="sql")
    assert m == "stage `sql` has no owner: the leads in it belong to nobody"
    assert localize(m, "ja") == "ステージ `sql` に担当がありません。ここにあるリードは誰のものでもありません"
    assert localize(m, "en") == str(m)


def test_arguments_that_are_messages_or_listings_are_translated_too():
    m = Message("undefined {kind} `{text}`", kind=Message("stage"), text="slq")
    assert localize(m, "ja") == "ステージ `slq` は定義されていません"
    many = Listing(["a", "b", "c", "d", "e", "f"], limit=4)
    assert many == "`a`, `b`, `c`, `d` and 2 more"
    assert localize(many, "ja") == "`a`、`b`、`c`、`d` ほか 2 件"


def test_number_formats_survive_translation():
    m = Message("file is {size:,} bytes, over the {max_bytes:,}-byte limit", size=5_000_000, max_bytes=4_194_304)
    assert "5,000,000" in m and "5,000,000" in localize(m, "ja")


def test_messages_survive_pickling_for_parallel_checks():
    m = Message("undefined {kind} `{text}`", kind=Message("stage"), text="slq")
    back = pickle.loads(pickle.dumps(m))
    assert back == m and localize(back, "ja") == localize(m, "ja")
    listing = pickle.loads(pickle.dumps(Listing(["x", "y"])))
    assert localize(listing, "ja") == "`x`、`y`"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "ja_JP.UTF-8"}, "ja"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LC_ALL": "ja_JP.UTF-8", "LANG": "en_US.UTF-8"}, "ja"),
        ({"LC_MESSAGES": "en_GB.UTF-8", "LANG": "ja_JP.UTF-8"}, "en"),  # POSIX: LC_MESSAGES before LANG
        ({"LC_ALL": "", "LANG": "ja_JP.eucJP"}, "ja"),
        ({"LANG": "C"}, "en"),
        ({}, "en"),
    ],
)
def test_the_locale_chooses_the_language(environ, expected):
    assert locale_language(environ) == expected


def test_option_before_policy_language_before_locale(monkeypatch):
    monkeypatch.setenv("LC_ALL", "ja_JP.UTF-8")
    english_policy = 'agreement "X" {\n  language en\n}\n'
    assert choose_language(None, None) == "ja"
    assert choose_language(None, english_policy) == "en"
    assert choose_language("ja", english_policy) == "ja"
    assert stated_language('agreement "X" {\n  language ja  # 日本語\n}\n') == "ja"
    assert stated_language('# language ja\n') is None


# ------------------------------------------------------------------ every fixture in Japanese

# English words that only prose has: identifiers, keywords and data from the policy do not
# read like this, so a Japanese message that still has them was not (fully) translated
_ENGLISH_PROSE = re.compile(
    r"\b(the|and|is|are|was|not|with|from|into|has|have|can|cannot|will|this|that|for|its|when|which|must|"
    r"should|add|use|give|write|than|there|here|been|does|only|every|never|nothing|nobody|any|of|to|in|on|by|at|"
    r"an|be|it|no|or)\b")


def _english_words(text: str) -> list[str]:
    """Prose words left outside code spans, quotes, placeholders and Japanese brackets."""
    text = re.sub(r"`[^`]*`|\"[^\"]*\"|'[^']*'|「[^」]*」|\{[^}]*\}", " ", text)
    text = re.sub(r"(?<!\S)#\S+", " ", text)  # Slack channels (#is-new-mql) are names, not prose
    return _ENGLISH_PROSE.findall(re.sub(r"\S*[/=<>]\S*", " ", text))


@pytest.mark.parametrize("path", sorted(INVALID.glob("*.sla")), ids=lambda p: p.stem)
def test_every_invalid_fixture_reads_in_japanese(path):
    """Every diagnostic of every fixture, rendered in Japanese, has no English prose left
    (identifiers in backticks, quoted labels and paths excepted)."""
    result = compile_text(path.read_bytes().decode("utf-8", "replace"), path.name)
    for d in result.diagnostics:
        for text in [d.message, d.help or ""] + [r.message for r in d.related]:
            assert isinstance(text, (Message, Listing)) or not text, f"{d.code}: untranslatable {text!r}"
            shown = localize(text, "ja")
            assert not _english_words(shown), f"{d.code}: English left in {shown!r} (from {text!r})"


def _reads_in_japanese(diagnostics) -> None:
    for d in diagnostics:
        for text in [d.message, d.help or ""] + [r.message for r in d.related]:
            assert isinstance(text, (Message, Listing)) or not text, f"{d.code}: untranslatable {text!r}"
            shown = localize(text, "ja")
            assert not _english_words(shown), f"{d.code}: English left in {shown!r} (from {text!r})"


HUBSPOT_FIXTURES = sorted((REPO / "tests" / "fixtures" / "hubspot").glob("*.sla"))
POLICIES = sorted((REPO / "policies").glob("*.sla"))


@pytest.mark.parametrize("path", HUBSPOT_FIXTURES + POLICIES, ids=lambda p: p.stem)
def test_what_a_hubspot_build_reports_reads_in_japanese(path):
    """The HubSpot target's diagnostics (SLA82x–SLA84x) come from `sla build`, not from `sla
    check`: build each HubSpot fixture (with its [tool.sla.hubspot] settings) and each example
    policy, and read every diagnostic in Japanese."""
    from sla_lang.compile import compile_path
    from sla_lang.targets.hubspot import build
    from tests.test_hubspot_target import fixture_settings

    result = compile_path(path)
    assert result.policy is not None
    _reads_in_japanese(result.diagnostics)
    from sla_lang.targets import BuildOptions

    _reads_in_japanese(build(result.policy, BuildOptions(hubspot=fixture_settings(path))).diagnostics)


def test_every_module_that_defines_rules_is_registered():
    """A rule defined in a module `all_rules()` does not load is missing from `sla rules`,
    `sla explain` and the Japanese rule test above (as SLA870 once was)."""
    before = {r.code for r in all_rules()}
    import importlib

    for path in sorted((REPO / "sla_lang").rglob("*.py")):
        if "define_rule(" in path.read_text(encoding="utf-8") and path.name != "diagnostics.py":
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            importlib.import_module(module.removesuffix(".__init__"))
            from sla_lang.diagnostics import _RULES

            added = set(_RULES) - before
            assert not added, f"{module} defines {sorted(added)} but is not reached from RULE_MODULES"


# ------------------------------------------------------------------ the command line


def _sla(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    environment.update(env or {})
    environment["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "sla_lang", *args], capture_output=True, text=True,
                          env=environment, cwd=REPO, timeout=120)


def test_check_lang_ja_prints_japanese_with_codes_unchanged():
    fixture = INVALID / "SLA203_dead_end_stage.sla"
    out = _sla("check", str(fixture), "--lang", "ja", "--color", "never", "--isolated").stdout
    assert "エラー SLA203 (dead-end-stage) ステージ" in out
    assert "= ヒント:" in out and "が見つかりました。" in out


def test_locale_picks_japanese_and_policy_language_wins_over_it(tmp_path):
    fixture = INVALID / "SLA203_dead_end_stage.sla"
    assert "エラー SLA203" in _sla("check", str(fixture), "--isolated", env={"LANG": "ja_JP.UTF-8"}).stdout
    english = tmp_path / "english.sla"
    english.write_text(fixture.read_text(encoding="utf-8").replace('agreement "', 'agreement "', 1), encoding="utf-8")
    text = english.read_text(encoding="utf-8")
    if "language" not in text:
        english.write_text(re.sub(r"(agreement [^\n]*\{\n)", r"\1  language en\n", text, count=1), encoding="utf-8")
    out = _sla("check", str(english), "--isolated", env={"LANG": "ja_JP.UTF-8"}).stdout
    assert "error SLA203" in out, out


def test_json_and_sarif_carry_the_chosen_language():
    fixture = str(INVALID / "SLA203_dead_end_stage.sla")
    data = json.loads(_sla("check", fixture, "--format", "json", "--lang", "ja", "--isolated").stdout)
    assert data["language"] == "ja"
    d = next(d for d in data["diagnostics"] if d["code"] == "SLA203")
    assert d["code"] == "SLA203" and d["name"] == "dead-end-stage" and JAPANESE.search(d["message"])
    sarif = json.loads(_sla("check", fixture, "--format", "sarif", "--lang", "ja", "--isolated").stdout)
    run = sarif["runs"][0]
    assert run["language"] == "ja"
    assert all(JAPANESE.search(r["message"]["text"]) for r in run["results"])
    rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "SLA203")
    assert JAPANESE.search(rule["shortDescription"]["text"])
    english = json.loads(_sla("check", fixture, "--format", "json", "--isolated").stdout)
    assert english["language"] == "en" and not any(JAPANESE.search(d["message"]) for d in english["diagnostics"])


def test_explain_and_rules_in_japanese():
    out = _sla("explain", "SLA203", "--lang", "ja").stdout
    assert out.startswith("SLA203 (dead-end-stage) — エラー、ステージの構成")
    assert "悪い例:" in out and "良い例:" in out
    rules = _sla("rules", "--lang", "ja").stdout
    assert "SLA203  dead-end-stage" in rules and JAPANESE.search(rules)
    assert "Bad:" in _sla("explain", "SLA203", "--lang", "en").stdout


def test_check_stats_in_japanese():
    done = _sla("check", "--stats", "--lang", "ja", "--isolated", "policies")
    assert done.returncode == 0, done.stdout + done.stderr
    lines, in_stats = [], False
    for line in done.stdout.splitlines():  # each policy's statistics follow a `path.sla:` line
        in_stats = line.endswith(".sla:") or (in_stats and line.startswith("  "))
        if in_stats and line.startswith("  "):
            lines.append(line)
    assert len(lines) == 3 * 3  # counts, score range, worst-case time per example policy
    assert "  ステージ: 9、移行: 14、チーム: 4、KPI: 6、レビュー: 4" in lines
    for line in lines:
        label, _, value = line.partition(": ")
        assert JAPANESE.search(label) and not _english_words(label), line
    worst = [line for line in lines if line.startswith("  流入から最終ステージまでの最長時間: ")]
    assert len(worst) == 3 and all(not _english_words(line) for line in worst), worst


def test_english_output_never_reads_the_catalogue():
    """`sla check` in English must not pay for the Japanese catalogue."""
    code = ("import sla_lang.message as m, sys\n"
            "from sla_lang.cli import main\n"
            "try:\n    main(['check', 'policies', '--isolated', '--lang', 'en'])\n"
            "except SystemExit:\n    pass\n"
            "sys.stderr.write(str(m._load.cache_info().currsize) + ' ' + str(m.rule_catalogue.cache_info().currsize))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.stderr.strip().endswith("0 0"), done.stderr


def test_catalogue_loads_once():
    _load.cache_clear()
    message_catalogue("ja")
    message_catalogue("ja")
    assert _load.cache_info().misses == 1
