"""Wording of the HubSpot target, in the agreement's language.

The sentences live in `targets/hubspot/messages.json` so they can be edited without touching
Python. Placeholders are `{name}`; HubSpot's own personalisation tokens
(`{{ enrolled_object.firstname }}`) are left alone, which is why this is not `str.format`.

Policy text is not trusted to be plain text in HubSpot. Subjects and bodies of tasks and
notifications are rendered with HubSpot's template language HubL, whose delimiters are
`{{ … }}` (expressions), `{% … %}` (statements) and `{# … #}` (comments)
(https://developers.hubspot.com/docs/cms/hubl); a label such as `Q{{3}}` or `{% if %}` would
be evaluated next to the real tokens. Every value put into a message is therefore
`neutral`ised: a space is put between the two characters of each delimiter (`{ {`, `% }` …),
which reads the same and is no longer a delimiter. The catalogue's own tokens are trusted, and
so are values marked `HubL` (a token built from a property's internal name).
"""

from __future__ import annotations

import json
import re
from functools import cache

from ... import ir
from ...resources import target_dir

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_DELIMITER = re.compile(r"\{(?=[{%#])|(?<=[}%#])\}")


class HubL(str):
    """A value that is meant to be HubL (a personalisation token): not neutralised."""


def neutral(text: str) -> str:
    """`text` with no HubL delimiter in it: `{{`, `{%`, `{#` become `{ {`, `{ %`, `{ #` and
    `}}`, `%}`, `#}` become `} }`, `% }`, `# }`."""
    if "{" not in text and "}" not in text:
        return text
    out = _DELIMITER.sub(lambda m: "{ " if m.group(0) == "{" else " }", text)
    return out if out == text else neutral(out)


def has_template_syntax(text: str) -> bool:
    return bool(_DELIMITER.search(text))


@cache
def _catalogue() -> dict[str, dict[str, str]]:
    return json.loads((target_dir("hubspot") / "messages.json").read_text(encoding="utf-8"))


class Texts:
    def __init__(self, lang: str) -> None:
        catalogue = _catalogue()
        self.lang = lang if lang in catalogue else "en"
        self._messages = catalogue[self.lang]

    def __call__(self, key: str, **values: object) -> str:
        template = self._messages[key]

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise KeyError(f"message {key!r} needs {{{name}}}")
            value = values[name]
            return value if isinstance(value, HubL) else neutral(str(value))

        return _PLACEHOLDER.sub(replace, template)

    # ------------------------------------------------------------------ values in prose
    def unit(self, unit: str, amount: int) -> str:
        singular, plural = self._messages[f"unit_{unit.replace(' ', '_')}"].split("|")
        return singular if amount == 1 else plural

    def duration(self, duration: ir.Duration) -> str:
        unit = ir.DURATION_UNITS[duration.unit][0]
        space = "" if self.lang == "ja" else " "
        return f"{duration.amount}{space}{self.unit(unit, duration.amount)}"

    def minutes(self, minutes: int) -> str:
        """A wall-clock length: `2 days 4 hours`, `2日4時間`."""
        days, rest = divmod(minutes, 1440)
        hours, mins = divmod(rest, 60)
        parts = [(days, "day"), (hours, "hour"), (mins, "minute")]
        space = "" if self.lang == "ja" else " "
        words = [f"{n}{space}{self.unit(u, n)}" for n, u in parts if n]
        return (space or "").join(words) if words else f"0{space}{self.unit('minute', 0)}"

    def cadence(self, cadence: ir.Cadence) -> str:
        if cadence.every == 1 and self.lang != "ja":
            return f"every {self.unit(cadence.unit, 1)}"
        return self("every", n=cadence.every, unit=self.unit(cadence.unit, cadence.every))

    def join(self, items: list[str], word: str = "and") -> str:
        items = [i for i in items if i]
        if not items:
            return self("none")
        if self.lang == "ja":
            return "、".join(items)
        if len(items) == 1:
            return items[0]
        return ", ".join(items[:-1]) + f" {self(word)} " + items[-1]

    def channel(self, channel: ir.Channel) -> str:
        return self(f"channel_{channel.kind}", target=channel.target or "")

    def quote(self, text: str) -> str:
        return f"「{text}」" if self.lang == "ja" else f"“{text}”"
