"""The one canonical layout of a policy (`sla fmt`).

The formatter works on the parse tree and the source text, not on the IR: the IR drops
comments and the spelling of values, the tree keeps every statement with its position. The
language is line-oriented (one statement per line, `{` ends a header line, `}` stands alone),
so formatting is a walk over statements that re-prints each line:

- two spaces of indentation per block level, one space between words, none inside `()`/`[]`
  or before `,`; a trailing comment is kept on its line after two spaces;
- inside a block, settings follow one order (`owner` before `respond` before transitions …;
  a stage's obligations in the order they fall due: `respond`, its `then` steps, `follow up`, `decide`).
  Lines of the *same* kind keep their order, because that order carries meaning (the first
  matching transition wins; score rules, responsibilities and cancellation conditions are
  numbered in order). Top-level statements are never reordered;
- on one line, options whose order carries no meaning follow one order (`when`, `after`,
  `record` of a transition; the action, `review`, `notify` of an alert; R, A, C, I);
- bare words used as texts are quoted (`enum [it, "other"]` → `enum ["it", "other"]`), a
  numeric `version 2` becomes `version "2"`, score points carry their sign (`+5`), country
  codes are upper case and `every 1 weeks` is `every week`;
- comments stay attached to the statement below them; blank lines collapse to one, none at
  the start or end of a block, and every top-level block is set apart by a blank line.

`format_source` checks its own work: the output must parse and lower to the same canonical
IR (`irjson.canonical_bytes`) as the input. If it does not, the file is left alone and an
SLA881 diagnostic reports the bug instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .diagnostics import Diagnostic, Message, Severity, define_rule
from .source import DEFAULT_MAX_FILE_BYTES, SourceFile, Span, decode_source, split_comment

if TYPE_CHECKING:
    from lark import Token, Tree

NOT_FORMATTED = define_rule(
    "SLA880",
    "not-formatted-syntax-error",
    Severity.ERROR,
    "`sla fmt` leaves a file alone when it cannot be read or has syntax errors.",
    explanation="The formatter re-prints every statement from the parse tree, so it needs a "
    "file that parses. The syntax errors are reported above this diagnostic; fix them and run "
    "`sla fmt` again. The file is not changed.",
    bad='stage mql "MQL" {\n  ownr inside_sales\n}',
    good='stage mql "MQL" {\n  owner inside_sales\n}',
)
FORMAT_CHANGES_MEANING = define_rule(
    "SLA881",
    "format-changes-meaning",
    Severity.ERROR,
    "`sla fmt` would have changed what the policy means, so it left the file alone (a bug in sla).",
    explanation="After formatting, sla parses its own output and compares the canonical IR "
    "with the original's. They must be identical: formatting only moves whitespace, comments "
    "and lines whose order carries no meaning. If they differ the file is not written and this "
    "error is reported; please report it with the policy.",
    bad="(no policy causes this on purpose)",
    good="(report the input that triggered it)",
)

INDENT = "  "

# Order of settings inside each block. A kind not listed keeps its place after the listed ones.
_BLOCK_ORDER: dict[str, tuple[str, ...]] = {
    "agreement": (
        "version", "effective", "term", "renewal", "language", "owner", "default_calendar", "purpose", "amendment",
    ),
    "team": ("role", "part_of", "team_lead", "reviewers", "capacity"),
    "score_model": ("hubspot_mapping", "score_group"),
    "calendar": ("timezone", "working_days", "working_hours", "public_holidays", "closed_dates"),
    "stage": (
        "owner", "marker:entry", "marker:terminal", "marker:recycle", "hubspot_mapping", "description",
        "stage_calendar", "handoff", "deadline:respond", "step", "follow_up", "stage_cadence", "deadline:decide", "escalation",
        "transition",
    ),
    "handoff": ("notify", "include"),
    "kpi": ("owner", "measure", "target", "alert", "data_source"),
    "review": ("cadence", "owner", "attendees", "covers", "agenda", "last_held"),
}
_BLOCKS = {
    "agreement", "team", "score_model", "score_group", "calendar", "stage", "handoff", "kpi",
    "information", "responsibilities", "review", "cancellation", "translation",
}
# Options on one line, in their canonical order.
_OPTION_ORDER = {
    "transition": ("when", "after", "record"),
    "deadline": ("deadline_via", "deadline_through", "deadline_target", "owner", "data_source"),
    "step": ("deadline_via", "deadline_target", "owner", "data_source"),
    "information_item": ("cadence", "information_within", "recorded_in"),
    "alert": ("alert_action", "alert_review", "alert_notify"),
}
_RACI_ORDER = ("responsible", "accountable", "consulted", "informed")
_CADENCE_UNITS = ("day", "week", "month", "quarter", "year")

# The lexical grammar of grammar/sla.lark, to split a line that is known to parse into tokens.
_TOKEN = re.compile(
    r"""(?P<STRING>"(?:[^"\\\n]|\\[^\n])*")
      |(?P<DATE>\d{4}-\d{2}-\d{2})
      |(?P<TIME>\d{1,2}:\d{2}(?!\d))
      |(?P<PERCENT>[+-]?\d+(?:\.\d+)?%)
      |(?P<DURATION>\d+(?:\.\d+)?[^\W\d_]\w*)
      |(?P<NUMBER>[+-]?\d+(?:\.\d+)?(?![\w.%:]))
      |(?P<ARROW>->)
      |(?P<COMPARATOR>==|!=|>=|<=|>|<)
      |(?P<NAME>[^\W\d]\w*)
      |(?P<PUNCT>[{}()\[\],.])
      |(?P<SPACE>[\t ]+)""",
    re.VERBOSE,
)
_NO_SPACE_BEFORE = {",", ")", "]", "."}
_NO_SPACE_AFTER = {"(", "[", "."}


@dataclass
class FormatResult:
    """The outcome for one file: `formatted` is None when the file was left alone."""

    path: str
    original: bytes
    formatted: str | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: SourceFile | None = None

    @property
    def changed(self) -> bool:
        return self.formatted is not None and self.formatted.encode("utf-8") != self.original

    @property
    def failed(self) -> bool:
        return self.formatted is None


def format_bytes(data: bytes, path: str, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> FormatResult:
    """Format a policy given as bytes. Never raises for bad input."""
    from .parser import parse_source

    source, diagnostics = decode_source(path, data, max_bytes=max_bytes)
    if source is None or _has_errors(diagnostics):
        return _refuse(path, data, diagnostics, source, "it cannot be read as a policy")
    parsed = parse_source(source)
    diagnostics = diagnostics + parsed.diagnostics
    if parsed.tree is None or _has_errors(parsed.diagnostics):
        count = sum(d.severity is Severity.ERROR for d in parsed.diagnostics)
        return _refuse(path, data, diagnostics, source, f"it has {count} syntax error{'s' * (count != 1)}")
    try:
        text = layout(source, parsed.tree)
        problem = _meaning_changed(source, parsed.tree, text)
    except Exception as exc:  # a formatter bug must not cost the user their file
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        diagnostics.append(
            Diagnostic(
                FORMAT_CHANGES_MEANING,
                Message('formatting would change the policy ({problem}); the file was left unchanged', problem=problem),
                Span.point(path),
                help=Message('please report this with the policy'),
            )
        )
        return FormatResult(path, data, None, diagnostics, source)
    return FormatResult(path, data, text, diagnostics, source)


def format_text(text: str, path: str = "<memory>.sla") -> str:
    """Format a policy given as text; raises ValueError when it cannot be formatted."""
    result = format_bytes(text.encode("utf-8"), path)
    if result.formatted is None:
        raise ValueError("; ".join(d.message for d in result.diagnostics if d.severity is Severity.ERROR))
    return result.formatted


def _has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def _refuse(path, data, diagnostics, source, why) -> FormatResult:
    first = next((d for d in diagnostics if d.severity is Severity.ERROR), None)
    span = first.span if first is not None else Span.point(path)
    diagnostics = list(diagnostics) + [
        Diagnostic(NOT_FORMATTED, Message('not formatted: {why}', why=why), span, help=Message('fix the errors above, then run `sla fmt` again'))
    ]
    return FormatResult(path, data, None, diagnostics, source)


def _meaning_changed(source: SourceFile, tree, text: str) -> str | None:
    from .irjson import canonical_bytes
    from .lower import lower_policy
    from .parser import parse_source

    after_source = SourceFile(source.path, text)
    after = parse_source(after_source)
    if after.tree is None or _has_errors(after.diagnostics):
        first = next(d for d in after.diagnostics if d.severity is Severity.ERROR)
        return f"the output does not parse: {first.message} at line {first.span.line}"
    before_policy, _ = lower_policy(tree, source)
    after_policy, _ = lower_policy(after.tree, after_source)
    if canonical_bytes(before_policy) != canonical_bytes(after_policy):
        return "the canonical IR differs"
    return None


# ---------------------------------------------------------------------- the layout


def layout(source: SourceFile, tree: Tree) -> str:
    """The canonical text of a parsed policy (no checks: see format_bytes)."""
    printer = _Printer(source, tree)
    return printer.print_file()


class _Printer:
    def __init__(self, source: SourceFile, tree: Tree) -> None:
        self.source = source
        self.tree = tree
        self.replacements: dict[tuple[int, int], str] = {}
        self._collect_replacements(tree)

    # ------------------------------------------------------------------ value spellings
    def _collect_replacements(self, tree: Tree) -> None:
        from lark import Token, Tree

        stack = [(tree, None)]
        while stack:
            node, parent = stack.pop()
            rule = node.data
            if rule == "value":
                token = node.children[0]
                if token.type == "NAME":
                    self._replace(token, '"' + str(token) + '"')
                elif token.type == "NUMBER" and parent == "version":
                    self._replace(token, '"' + str(token) + '"')
            elif rule == "score_rule":
                points = node.children[0]
                if not str(points).startswith(("+", "-")):
                    self._replace(points, "+" + str(points))
            elif rule == "public_holidays":
                country = node.children[0]
                if re.fullmatch(r"[A-Za-z]{2}", str(country)):
                    self._replace(country, str(country).upper())
            for child in node.children:
                if isinstance(child, Tree):
                    stack.append((child, rule))
                elif not isinstance(child, Token):  # pragma: no cover - trees hold only these
                    raise TypeError(child)

    def _replace(self, token: Token, text: str) -> None:
        self.replacements[(token.line, token.column)] = text

    # ------------------------------------------------------------------ lines and tokens
    def code(self, line: int) -> str:
        return split_comment(self.source.line_text(line))[0]

    def comment(self, line: int) -> str | None:
        comment = split_comment(self.source.line_text(line))[1]
        return comment.rstrip() if comment is not None else None

    def tokens(self, line: int, start: int = 1, end: int | None = None) -> list[str]:
        """Tokens of `line` between 1-based columns [start, end), with value spellings applied."""
        text = self.code(line)
        stop = len(text) if end is None else min(end - 1, len(text))
        out: list[str] = []
        pos = start - 1
        while pos < stop:
            match = _TOKEN.match(text, pos)
            if match is None or match.end() > stop and match.lastgroup != "SPACE":
                raise ValueError(f"cannot split line {line} into tokens at column {pos + 1}")
            if match.lastgroup != "SPACE":
                out.append(self.replacements.get((line, pos + 1), match.group()))
            pos = match.end()
        return out

    @staticmethod
    def join(tokens: list[str]) -> str:
        out = ""
        previous = None
        for token in tokens:
            if previous is not None and token not in _NO_SPACE_BEFORE and previous not in _NO_SPACE_AFTER:
                out += " "
            out += token
            previous = token
        return out

    def with_comment(self, text: str, line: int) -> str:
        comment = self.comment(line)
        if comment is None:
            return text
        return f"{text}  {comment}" if text else comment

    # ------------------------------------------------------------------ statements
    def statement(self, node: Tree) -> str:
        rule = node.data
        line = node.meta.line
        if rule in _OPTION_ORDER:
            return self._with_options(node, _OPTION_ORDER[rule])
        if rule == "responsibility":
            return self._responsibility(node)
        if rule == "cadence":
            return self._cadence(node)
        return self.join(self.tokens(line, node.meta.column, node.meta.end_column))

    def _with_options(self, node: Tree, order: tuple[str, ...]) -> str:
        from lark import Tree

        options = [c for c in node.children if isinstance(c, Tree) and c.data in order]
        line = node.meta.line
        if not options:
            return self.join(self.tokens(line, node.meta.column, node.meta.end_column))
        head = self.tokens(line, node.meta.column, options[0].meta.column)
        ordered = sorted(options, key=lambda c: order.index(c.data))
        parts = [self.join(head)]
        parts += [self.join(self.tokens(line, c.meta.column, c.meta.end_column)) for c in ordered]
        return " ".join(parts)

    def _responsibility(self, node: Tree) -> str:
        from lark import Tree

        line = node.meta.line
        rows = [c for c in node.children if isinstance(c, Tree) and c.data == "raci"]
        head = self.tokens(line, node.meta.column, rows[0].meta.column)
        ordered = sorted(rows, key=lambda r: _RACI_ORDER.index(str(r.children[0])))
        return " ".join([self.join(head)] + [self.join(self.tokens(line, r.meta.column, r.meta.end_column)) for r in ordered])

    def _cadence(self, node: Tree) -> str:
        children = node.children
        count = int(str(children[0])) if len(children) == 2 and str(children[0]).isdigit() else None
        unit = str(children[-1])
        singular = unit[:-1] if unit.endswith("s") and unit[:-1] in _CADENCE_UNITS else unit
        if singular not in _CADENCE_UNITS or (len(children) == 2 and count is None) or count == 0:
            return self.join(self.tokens(node.meta.line, node.meta.column, node.meta.end_column))
        if count is None or count == 1:
            return f"every {singular}"
        return f"every {count} {singular}s"

    # ------------------------------------------------------------------ blocks
    def print_file(self) -> str:
        out: list[str] = []
        self._items(self.tree.children, None, 0, 1, self.source.line_count + 1, out)
        while out and out[-1] == "":
            out.pop()
        return "\n".join(out) + "\n" if out else ""

    def _items(self, children, block: str | None, depth: int, start: int, end: int, out: list[str]) -> None:
        """Print the statements of a block (or of the file when `block` is None)."""
        from lark import Tree

        items = [c for c in children if isinstance(c, Tree) and c.meta.line >= start]
        entries = []
        cursor = start
        for item in items:
            entries.append((self._rank(item, block), self._trivia(cursor, item.meta.line), item))
            cursor = item.meta.end_line + 1
        tail = self._trivia(cursor, end)
        entries.sort(key=lambda e: e[0])
        indent = INDENT * depth
        previous_block = False
        for index, (_, trivia, item) in enumerate(entries):
            is_block = item.data in _BLOCKS
            if index == 0:
                trivia = _strip_blank(trivia)
            elif block is None and (is_block or previous_block) and (not trivia or trivia[0] is not None):
                trivia = [None] + trivia
            self._emit_trivia(trivia, indent, out)
            self._item(item, depth, out)
            previous_block = is_block
        tail = _collapse(tail)
        if block is not None or not entries:
            tail = _strip_blank(tail)
        while tail and tail[-1] is None:
            tail.pop()
        self._emit_trivia(tail, indent, out)

    def _item(self, item: Tree, depth: int, out: list[str]) -> None:
        indent = INDENT * depth
        if item.data not in _BLOCKS:
            out.append(indent + self.with_comment(self.statement(item), item.meta.line))
            return
        header = item.meta.line
        out.append(indent + self.with_comment(self.join(self.tokens(header)), header))
        self._items(item.children, item.data, depth + 1, header + 1, item.meta.end_line, out)
        out.append(indent + self.with_comment("}", item.meta.end_line))

    def _trivia(self, start: int, end: int) -> list[str | None]:
        """Blank lines (None) and comment lines between two statements."""
        out: list[str | None] = []
        for line in range(start, end):
            text = self.source.line_text(line).strip()
            out.append(text if text else None)
        return _collapse(out)

    @staticmethod
    def _emit_trivia(trivia: list[str | None], indent: str, out: list[str]) -> None:
        for entry in trivia:
            out.append("" if entry is None else indent + entry)

    def _rank(self, item: Tree, block: str | None) -> int:
        order = _BLOCK_ORDER.get(block or "")
        if not order:
            return 0
        key = item.data
        if key in ("marker", "deadline"):
            key = f"{key}:{item.children[0]}"
        return order.index(key) if key in order else len(order)


def _collapse(trivia: list[str | None]) -> list[str | None]:
    out: list[str | None] = []
    for entry in trivia:
        if entry is None and out and out[-1] is None:
            continue
        out.append(entry)
    return out


def _strip_blank(trivia: list[str | None]) -> list[str | None]:
    trivia = list(trivia)
    while trivia and trivia[0] is None:
        trivia.pop(0)
    return trivia
