"""Finds every diagnostic text in sla's source, as xgettext would: the templates of
`Message("…")` calls, and the places where a diagnostic is given text that cannot be
translated (an f-string, a plain string, `+`, `.format`, `.join`). Used by test_messages.py."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sla_lang"
# call → positions and keywords holding text shown to the user
TEXT_ARGUMENTS = {
    "Diagnostic": ((1, 3), ("message", "help")),
    "Related": ((1,), ("message",)),
}
# helpers that hand their text on to a Diagnostic: (file, function) → positions, keywords
HELPER_ARGUMENTS = {
    ("lower.py", "_error"): ((1, 3), ("message", "help")),
    ("parser.py", "_add"): ((1, 3), ("message", "help")),
    ("config.py", "bad"): ((0, 2), ("message", "help")),
    ("scenarios.py", "problem"): ((0, 3), ("message", "help")),
    ("events.py", "_report"): ((1,), ("message", "help")),
    ("signatures.py", "fail"): ((0, 2), ("message", "help")),
    ("signatures.py", "problem"): ((1, 2), ("message", "help")),
    ("hubspot/", "report"): ((1,), ("message", "help")),  # Generator.report, called from every module of the target
    ("revisions.py", "_error"): ((0, 2), ("message", "help")),
    ("hubspot_csv.py", "_bad"): ((3,), ("message",)),
}
_WORDS = re.compile(r"[A-Za-z]{2}")
_CODE = re.compile(r"`[^`]*`")  # policy syntax in backticks is the same in every language


@dataclass(frozen=True)
class Template:
    text: str
    where: str
    formatted: bool  # given arguments, so `{fields}` are filled in (a template without is shown as is)


@dataclass(frozen=True)
class Problem:
    where: str
    what: str


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _untranslatable(node: ast.AST) -> str | None:
    """Why `node`, used as shown text, cannot be translated (None when it can)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return "a plain string"
    if isinstance(node, ast.JoinedStr):
        return "an f-string"
    if isinstance(node, ast.BinOp):
        return "text built with an operator"
    if isinstance(node, ast.IfExp):
        return _untranslatable(node.body) or _untranslatable(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        return f"text built with .{node.func.attr}()"
    return None


def _wordy(node: ast.AST) -> bool:
    """An argument of a Message that carries English words of its own."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(_WORDS.search(_CODE.sub("", node.value)))
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and _WORDS.search(_CODE.sub("", v.value)) for v in node.values)
    if isinstance(node, ast.IfExp):
        return _wordy(node.body) or _wordy(node.orelse)
    if isinstance(node, ast.BinOp):
        return _wordy(node.left) or _wordy(node.right)
    return False


def scan(root: Path = PACKAGE) -> tuple[list[Template], list[Problem]]:
    templates: list[Template] = []
    problems: list[Problem] = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "_lalr_tables.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        rel = path.relative_to(root.parent).as_posix()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            where = f"{rel}:{node.lineno}"
            if name == "Message":
                if not node.args or not (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                    if path.name != "message.py":
                        problems.append(Problem(where, "Message() needs a literal English template"))
                    continue
                templates.append(Template(node.args[0].value, where, bool(node.keywords)))
                for keyword in node.keywords:
                    if keyword.arg and _wordy(keyword.value):
                        problems.append(Problem(where, f"argument `{keyword.arg}` carries English words: "
                                                       "make it a Message of its own"))
            elif name in TEXT_ARGUMENTS or (path.name, name) in HELPER_ARGUMENTS or (
                    f"{path.parent.name}/", name) in HELPER_ARGUMENTS:
                positions, keywords = (TEXT_ARGUMENTS.get(name) or HELPER_ARGUMENTS.get((path.name, name))
                                       or HELPER_ARGUMENTS[(f"{path.parent.name}/", name)])
                shown = [node.args[i] for i in positions if i < len(node.args)]
                shown += [k.value for k in node.keywords if k.arg in keywords]
                for argument in shown:
                    why = _untranslatable(argument)
                    if why:
                        problems.append(Problem(where, f"{name}() is given {why}: use Message(\"…\", name=value)"))
    return templates, problems
