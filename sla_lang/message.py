"""Diagnostic wording in more than one language.

Every message sla shows about a policy — a diagnostic, its help and notes, the terminal
report's labels, the `sla explain` texts — is written in English in the code as a *template*
with named fields, and translated by a catalogue keyed by that English template (the gettext
model: the English text is the message id, so a message is read where it is reported):

    Message("stage `{stage}` has no way out", stage=stage.id)

A `Message` *is* its English text (a `str`), so code and tests that read a diagnostic's
message keep working; it also keeps the template and the arguments, so a renderer can say it
again in another language with `localize(message, "ja")`. Arguments are data from the policy
(identifiers, numbers, labels) or other messages (`Message`, `Listing`), which are translated
too. Never build a message with an f-string or `+`: that text cannot be translated, and
`tests/test_messages.py` fails on it.

Catalogues live in `sla_lang/locale/<lang>.toml` (messages) and `<lang>-rules.toml` (the rule
texts of `sla explain`); they are read only when a language other than English is shown, so
English output costs nothing extra. `tests/test_messages.py` fails when a template in the code
or a registered rule has no translation, or when a translation's `{fields}` differ from the
English template's.

The language is, in order: `--lang`, the policy's `language`, the locale (`LC_ALL`,
`LC_MESSAGES`, `LANG`), English.
"""

from __future__ import annotations

import os
import re
import string
from functools import cache
from pathlib import Path
from typing import Iterable, Mapping

LANGUAGES = ("en", "ja")
_LOCALE_DIR = Path(__file__).resolve().parent / "locale"


_PLAIN: dict[str, Message] = {}  # template → the Message of a template without arguments


class Message(str):
    """An English message that can be said again in another language (see the module)."""

    template: str
    args: dict[str, object]

    def __new__(cls, template: str, /, **args: object) -> Message:
        if not args:  # a fixed text: one shared object (nothing changes a Message once made)
            plain = _PLAIN.get(template)
            if plain is not None and plain.__class__ is cls:
                return plain
        text = template.format_map(args) if args else template
        self = super().__new__(cls, text)
        self.template = template
        self.args = args
        if not args:
            _PLAIN[template] = self
        return self

    def __reduce__(self):  # pickled by template and arguments (check workers send diagnostics back)
        return (_rebuild, (type(self), self.template, self.args))

    def localize(self, lang: str) -> str:
        if lang == "en":
            return str.__str__(self)
        template = message_catalogue(lang).get(self.template, self.template)
        if not self.args:  # like the English text, a template without arguments is not formatted
            return template
        values = {name: localize(value, lang) for name, value in self.args.items()}
        return template.format_map(_Values(values, self.args))


class _Values(dict):
    """Localised argument texts; a format spec such as `{size:,}` still sees the number."""

    def __init__(self, texts: dict[str, str], raw: Mapping[str, object]) -> None:
        super().__init__({k: (raw[k] if isinstance(raw[k], (int, float)) else v) for k, v in texts.items()})


def _rebuild(cls, template: str, args: dict[str, object]):
    return cls(template, **args)


class Listing(str):
    """Identifiers named one after the other: "`a`, `b`, `c` and 2 more" / "`a`、`b`、`c` ほか2件"."""

    items: tuple[object, ...]
    limit: int
    quote: bool
    separator: str | None

    def __new__(cls, items: Iterable[object], /, *, limit: int = 4, quote: bool = True,
                separator: str | None = None) -> Listing:
        items = tuple(items)
        self = super().__new__(cls, _join(items, limit, quote, separator, "en"))
        self.items, self.limit, self.quote, self.separator = items, limit, quote, separator
        return self

    def __reduce__(self):
        return (_rebuild_listing, (self.items, self.limit, self.quote, self.separator))

    def localize(self, lang: str) -> str:
        if lang == "en":
            return str.__str__(self)
        return _join(self.items, self.limit, self.quote, self.separator, lang)


def _rebuild_listing(items, limit, quote, separator):
    return Listing(items, limit=limit, quote=quote, separator=separator)


def _join(items: tuple[object, ...], limit: int, quote: bool, separator: str | None, lang: str) -> str:
    """Items may be messages themselves (then never quoted); `separator` fixes the joint
    (` --> `) whatever the language."""
    shown = [localize(i, lang) if isinstance(i, (Message, Listing)) else (f"`{i}`" if quote else str(i))
             for i in items[:limit]]
    listing = list_words(lang)
    text = (listing["separator"] if separator is None else separator).join(shown)
    if len(items) > limit:
        text = listing["more"].format(items=text, count=len(items) - limit)
    return text


def list_words(lang: str) -> Mapping[str, str]:
    if lang == "en":
        return {"separator": ", ", "more": "{items} and {count} more"}
    return _load(lang)["list"]


def localize(value: object, lang: str) -> str:
    """The text of `value` in `lang`: messages and listings are translated, data is not."""
    if isinstance(value, (Message, Listing)):
        return value.localize(lang)
    return str(value)


# ------------------------------------------------------------------ catalogues


@cache
def _load(lang: str) -> dict[str, object]:
    import tomllib

    if lang not in LANGUAGES or lang == "en":
        raise ValueError(f"no catalogue for language {lang!r}")
    with open(_LOCALE_DIR / f"{lang}.toml", "rb") as handle:
        data = tomllib.load(handle)
    messages = {}
    for entry in data.get("message", []):
        messages[entry["en"]] = entry[lang]
    return {"messages": messages, "list": data["list"], "words": data.get("words", {})}


def message_catalogue(lang: str) -> Mapping[str, str]:
    """English template → template in `lang`."""
    return _load(lang)["messages"]  # type: ignore[return-value]


@cache
def rule_catalogue(lang: str) -> Mapping[str, Mapping[str, str]]:
    """Rule code → {summary, explanation, bad?, good?} in `lang`."""
    import tomllib

    with open(_LOCALE_DIR / f"{lang}-rules.toml", "rb") as handle:
        return tomllib.load(handle)


def rule_source_checksum(rule) -> str:
    """A short digest of a rule's English texts: the rule catalogue records the one it translated,
    so a test can tell when the English changed and the translation did not."""
    import hashlib

    text = "\x1f".join((rule.summary, rule.explanation, rule.bad, rule.good))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


# ------------------------------------------------------------------ which language


def locale_language(environ: Mapping[str, str] | None = None) -> str:
    """The language of the user's locale: the first set of LC_ALL, LC_MESSAGES, LANG (POSIX
    order); `ja_JP.UTF-8` and the like mean Japanese, anything else English."""
    environ = os.environ if environ is None else environ
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable)
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


_LANGUAGE_STATEMENT = re.compile(r"^[ \t]*language[ \t]+([A-Za-z]+)[ \t]*(?:#.*)?$", re.MULTILINE)


def stated_language(text: str | None) -> str | None:
    """The `language` a policy's agreement states, read from its text (also when the policy has
    syntax errors, so those are reported in its language too)."""
    if not text:
        return None
    match = _LANGUAGE_STATEMENT.search(text)
    if match and match.group(1).lower() in LANGUAGES:
        return match.group(1).lower()
    return None


def choose_language(option: str | None, policy_text: str | None = None) -> str:
    """`--lang`, else the policy's `language`, else the locale."""
    return option or stated_language(policy_text) or locale_language()


def report_language(option: str | None, languages: Iterable[str]) -> str:
    """One language for a whole report (JSON, SARIF, a summary line): `--lang`, else the one
    language every file is reported in, else the locale."""
    found = set(languages)
    return option or (found.pop() if len(found) == 1 else locale_language())
