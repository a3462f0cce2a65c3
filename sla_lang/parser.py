"""The cached LALR parser and the boundary where Lark errors become diagnostics.

Clean input — almost every run — is parsed by the fast path in fastparse.py, which builds the
same tree with Lark's tables in a fraction of the time; only a text with a syntax error comes
here, to the recovering parser below.

Parsing never stops at the first problem. The language is line-oriented, so recovery works a
line at a time (panic mode): after an error the rest of the line is skipped, the LALR stack is
popped back to a state that accepts the first token of the next line, and parsing resumes.
Two mistakes get a better repair: a top-level keyword (`stage`, `kpi` …) inside a block means
a missing `}` — the block is closed there — and an unexpected end of file closes whatever is
still open. Only the first error of each line is reported, so one typo gives one diagnostic.
"""

from __future__ import annotations

import difflib
import re
from copy import copy
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from .diagnostics import Diagnostic, Listing, Message, Severity, define_rule
from .resources import grammar_path
from .source import Span, split_comment

if TYPE_CHECKING:
    from lark import Lark, Token, Tree

    from .source import SourceFile

MAX_SYNTAX_ERRORS = 50
MAX_TREE_DEPTH = 64

UNEXPECTED_TOKEN = define_rule(
    "SLA101",
    "unexpected-token",
    Severity.ERROR,
    "A word or symbol appears where the grammar does not allow it.",
    explanation="Each line of a policy is one statement that starts with a keyword "
    "(`owner`, `respond`, `->` …). The message says what was found and what could come "
    "there instead; a misspelt keyword gets a 'did you mean' hint.",
    bad='stage mql "MQL" {\n  ownr inside_sales\n}',
    good='stage mql "MQL" {\n  owner inside_sales\n}',
)
UNEXPECTED_CHARACTER = define_rule(
    "SLA102",
    "unexpected-character",
    Severity.ERROR,
    "A character that is not part of the language (e.g. a full-width space or a ':').",
    explanation="Outside quoted text only ASCII punctuation from the language is allowed. "
    "Full-width spaces and symbols typed with a Japanese input method, single or Japanese "
    "quotation marks, and YAML-style colons are the usual causes.",
    bad="stage mql {\n  owner:\u3000inside_sales\n}",
    good="stage mql {\n  owner inside_sales\n}",
)
UNCLOSED_BLOCK = define_rule(
    "SLA103",
    "unclosed-block",
    Severity.ERROR,
    "A block opened with `{` is never closed with `}`.",
    explanation="Every `{` at the end of a line needs a matching `}` on a line of its own. "
    "The diagnostic points at the `{` whose block is still open where the next top-level "
    "statement (or the end of the file) begins.",
    bad='stage mql "MQL" {\n  owner inside_sales\n\nstage sql "SQL" {\n  owner field_sales\n}',
    good='stage mql "MQL" {\n  owner inside_sales\n}\n\nstage sql "SQL" {\n  owner field_sales\n}',
)
UNTERMINATED_STRING = define_rule(
    "SLA104",
    "unterminated-string",
    Severity.ERROR,
    "A quoted text has no closing `\"` on the same line.",
    explanation="Quoted texts (labels, descriptions, agenda items) end on the line where they "
    "start. Write a `\\\"` to put a quote inside one.",
    bad='stage mql "Marketing qualified lead {',
    good='stage mql "Marketing qualified lead" {',
)
NESTING_TOO_DEEP = define_rule(
    "SLA105",
    "nesting-too-deep",
    Severity.ERROR,
    f"An expression is nested more than {MAX_TREE_DEPTH} levels deep.",
    explanation="Deeply nested criteria cannot be reviewed by people and would exhaust the "
    "compiler's stack. Flatten them: `a and b and c` needs no parentheses, and a long chain "
    "of `not` cancels out in pairs.",
    bad="-> sql when not not not not not not … intent == \"yes\"",
    good='-> sql when intent == "yes"',
)
TOO_MANY_ERRORS = define_rule(
    "SLA106",
    "too-many-syntax-errors",
    Severity.ERROR,
    f"More than {MAX_SYNTAX_ERRORS} syntax errors: the rest of the file was not parsed.",
    explanation="After this many errors the file is probably not a policy at all (or not the "
    "file you meant); fix the first errors and run the check again.",
    bad="sla check notes.txt",
    good="sla check policies/acme.sla",
)

TOP_LEVEL_KEYWORDS = (
    "agreement",
    "party",
    "team",
    "property",
    "event",
    "score",
    "calendar",
    "stage",
    "priority",
    "kpi",
    "information",
    "responsibilities",
    "review",
    "cancellation",
)

# What a terminal is called in a message. Keywords are shown as `'owner'`.
_TERMINAL_NAMES = {
    "NAME": Message("a name"),
    "STRING": Message("a quoted text"),
    "NUMBER": Message("a number"),
    "PERCENT": Message("a percentage (e.g. 20%)"),
    "DURATION": Message("a duration (e.g. 24h, 5bd)"),
    "DATE": Message("a date (YYYY-MM-DD)"),
    "TIME": Message("a time (HH:MM)"),
    "TRUE": "'true'",
    "FALSE": "'false'",
    "COMPARATOR": Message("a comparison (==, !=, >=, <=, >, <)"),
    "ARROW": "'->'",
    "_NL": Message("the end of the line"),
    "$END": Message("the end of the file"),
}
_VALUE_TERMINALS = {"STRING", "NUMBER", "PERCENT", "DURATION", "DATE", "TIME", "TRUE", "FALSE", "NAME"}

# Characters people type by mistake, with what to write instead.
_CHARACTER_HINTS = {
    "\u3000": Message("this is a full-width space (U+3000); use an ordinary space"),
    "'": Message("quoted text uses double quotes: \"like this\""),
    "\u201c": Message("use plain double quotes \" instead of typographic quotes"),
    "\u201d": Message("use plain double quotes \" instead of typographic quotes"),
    "\u300c": Message("use plain double quotes \" instead of 「」"),
    "\u300d": Message("use plain double quotes \" instead of 「」"),
    ":": Message("sla-lang does not use ':' — write `owner marketing`, not `owner: marketing`"),
    "=": Message("compare with `==`; settings need no `=` (write `owner marketing`)"),
    "\uff1d": Message("full-width '＝': compare with `==`"),
    "\uff1e": Message("full-width '＞': use `>`"),
    "\uff1c": Message("full-width '＜': use `<`"),
    "\uff08": Message("full-width '（': use `(`"),
    "\uff09": Message("full-width '）': use `)`"),
    "\uff0c": Message("full-width '，': use `,`"),
    "\u3001": Message("Japanese comma '、': use `,` between items"),
    "\t": Message("tab characters are allowed only as indentation"),
}


_NEGATIVE_DURATION = re.compile(r"[-\u2212][ \t]*(\d+(?:\.\d+)?[^\W\d_]\w*)")
_NUMBER_BEFORE = re.compile(r"(?<![\w.])(\d+)[ \t]+$")
_UNIT_WORDS = re.compile(r"([^\W\d_]+)(?:[ \t]+([^\W\d_]+))?")


@cache
def get_parser() -> Lark:
    """The LALR parser, built once per process and cached on disk by Lark between runs."""
    from lark import Lark

    parser = Lark.open(
        str(grammar_path()),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,
    )
    _share_one_scanner(parser)
    return parser


class _StateLexer:
    """The tokens one parser state may see, served by the one shared scanner.

    Lark's contextual lexer compiles a separate regular expression for every set of terminals
    a parser state accepts (84 here, ~40 ms at every start, since compiled patterns cannot be
    cached on disk). The grammar's terminals only overlap where a keyword is also a valid
    name, so one scanner over all terminals gives the same tokens, except that a keyword
    the state does not expect must be read as a name — `stage lead` names a stage `lead`.
    Anything else the state does not accept is returned as is for the parser to report.
    """

    __slots__ = ("root", "accepts", "keywords")

    def __init__(self, root, accepts: frozenset[str], keywords: frozenset[str]) -> None:
        self.root = root
        self.accepts = accepts
        self.keywords = keywords

    def next_token(self, lexer_state, parser_state=None):
        token = self.root.next_token(lexer_state, parser_state)
        if token.type not in self.accepts and token.type in self.keywords and "NAME" in self.accepts:
            token.type = "NAME"
        return token


def _share_one_scanner(parser: Lark) -> None:
    contextual = parser.parser.lexer
    root = contextual.root_lexer
    keyword_of = keyword_terminals_by_text(parser)
    keywords = frozenset(keyword_of.values())

    def keyword_or_name(token):
        kind = keyword_of.get(token.value)
        if kind is not None:
            token.type = kind
        return token

    root.scanner  # build the scanner (and its callbacks) before replacing the NAME callback
    root.callback["NAME"] = keyword_or_name
    views: dict[frozenset[str], _StateLexer] = {}
    for state, lexer in contextual.lexers.items():
        accepts = frozenset(t.name for t in lexer.terminals)
        view = views.get(accepts)
        if view is None:
            view = views[accepts] = _StateLexer(root, accepts, keywords)
        contextual.lexers[state] = view


def keyword_terminals_by_text(parser: Lark) -> dict[str, str]:
    """Keyword text → terminal name, for every literal that NAME would also match.

    A name that spells a keyword becomes that keyword (unless the parser state does not
    expect it); Lark checks this with one regex over all keywords per name, a dictionary is
    several times faster.
    """
    import re

    name = re.compile(next(t.pattern.to_regexp() for t in parser.terminals if t.name == "NAME"))
    return {
        t.pattern.value: t.name
        for t in parser.terminals
        if t.pattern.type == "str" and name.fullmatch(t.pattern.value)
    }


@cache
def _keyword_terminals() -> dict[str, str]:
    """Terminal name → keyword text, for every literal keyword in the grammar."""
    parser = get_parser()
    return {
        t.name: t.pattern.value
        for t in parser.terminals
        if t.pattern.type == "str" and t.pattern.value.isidentifier()
    }


@cache
def _punctuation_terminals() -> dict[str, str]:
    parser = get_parser()
    return {
        t.name: t.pattern.value
        for t in parser.terminals
        if t.pattern.type == "str" and not t.pattern.value.isidentifier()
    }


def describe_terminal(name: str) -> Message | str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    keyword = _keyword_terminals().get(name) or _punctuation_terminals().get(name)
    return f"'{keyword}'" if keyword else name.lower()


def describe_expected(expected: set[str]) -> Message | str:
    names = set(expected)
    parts: list[Message | str] = []
    if {"NUMBER", "DURATION", "DATE", "STRING"} <= names:
        names -= _VALUE_TERMINALS
        parts.append(Message("a value"))
    keywords = sorted(_keyword_terminals()[n] for n in names if n in _keyword_terminals())
    others = sorted(describe_terminal(n) for n in names if n not in _keyword_terminals())
    parts.extend(others)
    if len(keywords) > 8:
        parts.append(Message("a keyword such as {keywords}",
                             keywords=Listing((f"'{k}'" for k in keywords[:6]), limit=6, quote=False)))
    else:
        parts.extend(f"'{k}'" for k in keywords)
    if not parts:
        return Message("nothing more")
    if len(parts) == 1:
        return parts[0]
    return Message("{choices} or {last}", choices=Listing(parts[:-1], limit=len(parts), quote=False), last=parts[-1])


@dataclass
class ParseResult:
    tree: Tree | None
    diagnostics: list[Diagnostic]


def parse_source(source: SourceFile) -> ParseResult:
    """Parse a policy, reporting every syntax error that recovery can reach."""
    from .fastparse import NotClean, fast_parser

    text = source.text if source.text.endswith("\n") else source.text + "\n"
    try:
        result = ParseResult(fast_parser().parse(text), [])
    except NotClean:  # a syntax error: parse again, this time reporting and recovering
        result = _RecoveringParse(source, text).run()
    if result.tree is not None and not any(d.severity is Severity.ERROR for d in result.diagnostics):
        deep = _find_too_deep(result.tree, source)
        if deep is not None:
            return ParseResult(None, result.diagnostics + [deep])
    return result


def _find_too_deep(tree: Tree, source: SourceFile) -> Diagnostic | None:
    """Iteratively find a subtree deeper than the limit (later stages recurse over the tree)."""
    from lark import Tree

    stack: list[tuple[Tree, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            meta = node.meta
            span = source.span(meta.start_pos, meta.end_pos) if not meta.empty else None
            line_span = span or Span.point(source.path)
            return Diagnostic(
                NESTING_TOO_DEEP,
                Message('expression is nested more than {limit} levels deep', limit=MAX_TREE_DEPTH),
                Span(source.path, line_span.line, line_span.column, line_span.line, line_span.column + 1),
                help=Message('flatten the condition: `a and b and c` needs no parentheses'),
            )
        for child in node.children:
            if isinstance(child, Tree):
                stack.append((child, depth + 1))
    return None


class _RecoveringParse:
    def __init__(self, source: SourceFile, text: str) -> None:
        self.source = source
        self.text = text
        self.parser = get_parser()
        self.ip = self.parser.parse_interactive(text)
        self.diagnostics: list[Diagnostic] = []
        self.error_lines: set[int] = set()
        self.errors = 0

    # ------------------------------------------------------------------ driver
    def run(self) -> ParseResult:
        from lark.exceptions import UnexpectedCharacters, UnexpectedToken

        while True:
            try:
                return ParseResult(self.ip.resume_parse(), self.diagnostics)
            except UnexpectedCharacters as exc:
                self._report_character(exc)
                error_line = exc.line
                resume_at = self._skip_line(exc.pos_in_stream)
            except UnexpectedToken as exc:
                if exc.token.type == "$END":
                    return ParseResult(self._recover_at_end(exc), self.diagnostics)
                if self._close_block_before(exc):
                    continue
                self._report_token(exc)
                error_line = exc.token.line
                resume_at = self._skip_offset(exc)
            if self.errors >= MAX_SYNTAX_ERRORS:
                self._add(
                    TOO_MANY_ERRORS,
                    Message('stopped after {limit} syntax errors', limit=MAX_SYNTAX_ERRORS),
                    self.source.span(resume_at, resume_at + 1) if resume_at < len(self.text) else
                    self.source.span(len(self.source.text), len(self.source.text) + 1),
                    force=True,
                )
                return ParseResult(None, self.diagnostics)
            self._drop_partial_statement(error_line)
            tree = self._resume_from(resume_at)
            if tree is _FAILED_TOO_MANY:
                stop = min(self.stop_offset, len(self.source.text))
                self._add(
                    TOO_MANY_ERRORS,
                    Message('stopped after {limit} syntax errors', limit=MAX_SYNTAX_ERRORS),
                    self.source.span(stop, stop + 1),
                    force=True,
                )
                return ParseResult(None, self.diagnostics)
            if tree is not None:
                return ParseResult(tree if tree is not _FAILED else None, self.diagnostics)

    # ------------------------------------------------------------------ reporting
    def _add(self, rule, message, span, help=None, related=(), force=False) -> None:
        if span.line in self.error_lines and not force:
            return
        self.error_lines.add(span.line)
        self.errors += 1
        self.diagnostics.append(Diagnostic(rule, message, span, help, tuple(related)))

    def _report_character(self, exc) -> None:
        offset = exc.pos_in_stream
        char = self.text[offset]
        span = self.source.span(offset, offset + 1)
        if char == '"':
            self._add(
                UNTERMINATED_STRING,
                Message('quoted text is not closed on this line'),
                self.source.span(offset, self._line_end(offset)),
                help=Message('add the closing " (write \\" for a quote inside the text)'),
            )
            return
        hint = _CHARACTER_HINTS.get(char)
        if hint is None and char in "-=" and self.text.startswith(("=>", "=="), offset):
            hint = Message("transitions are written `-> stage`")
        duration = _NEGATIVE_DURATION.match(self.text, offset) if char in "-\u2212" else None
        if duration is not None:  # `within -1h`
            self._add(UNEXPECTED_CHARACTER, Message("durations cannot be negative: {text}", text=duration.group(0)),
                      self.source.span(offset, duration.end()),
                      help=Message("write {duration} without the minus sign: a duration counts forward from the moment "
                                   "it starts (entering the stage, the deadline …)", duration=duration.group(1)))
            return
        shown = char if char.isprintable() and not char.isspace() else f"U+{ord(char):04X}"
        self._add(UNEXPECTED_CHARACTER, Message("unexpected character '{shown}'", shown=shown), span, help=hint)

    def _report_token(self, exc) -> None:
        token = exc.token
        expected = set(exc.expected or ())
        start = token.start_pos if token.start_pos is not None else 0
        if token.type == "_NL":
            line, column = self.source.position(start)
            span = Span(self.source.path, line, column, line, column + 1)
            found = Message("the end of the line")
        else:
            span = self.source.span(start, start + max(len(token.value), 1))
            found = f"'{token.value}'" if token.value else describe_terminal(token.type)
        message = Message("unexpected {found}; expected {expected}", found=found, expected=describe_expected(expected))
        help_text = None
        word = str(token.value)
        spaced = self._spaced_duration(start) if word[:1].isalpha() else None
        if spaced is not None:  # `within 24 hr`, `4 business hours`: say what to write, not what the grammar expected
            begin, end, amount, unit = spaced
            written = self.text[begin:end]
            message = Message("`{written}` is not a duration: a duration is a whole number and a unit written together "
                              "(m, h, d, w; bh = business hours, bd = business days)", written=written)
            help_text = (Message("months vary in length: write days (e.g. 30d) or weeks") if unit is None
                         else Message("write {amount}{unit}", amount=amount, unit=unit))
            self._add(UNEXPECTED_TOKEN, message, self.source.span(begin, end), help=help_text)
            return
        keywords = {_keyword_terminals()[n] for n in expected if n in _keyword_terminals()}
        if word.isidentifier() and keywords and word not in keywords:
            close = difflib.get_close_matches(word, sorted(keywords), n=1, cutoff=0.6)
            if close:
                help_text = Message("did you mean '{keyword}'?", keyword=close[0])
        if help_text is None and token.type == "RBRACE" and not self._open_braces():
            message = Message("unexpected '}': no block is open here")
            help_text = Message("delete this '}' or add the '{' it closes")
        if help_text is None and token.type == "NUMBER" and "DURATION" in expected:
            help_text = Message("add a unit: {amount}h (hours) or {amount}bd (business days)", amount=token.value)
        if help_text is None and token.type == "_NL" and "LBRACE" in expected:
            help_text = Message("a block starts with '{' at the end of this line")
        self._add(UNEXPECTED_TOKEN, message, span, help=help_text)

    def _spaced_duration(self, start: int) -> tuple[int, int, str, str | None] | None:
        """A number, a space and a unit word at `start` (`24 hr`, `4 business hours`,
        `2 days`): (where the number starts, where the unit ends, the number, the unit sla
        writes — None for months, which have no unit)."""
        from .ir import DURATION_UNITS
        from .lower import UNIT_SPELLINGS

        line_start = self.text.rfind("\n", 0, start) + 1
        number = _NUMBER_BEFORE.search(self.text, line_start, start)
        words = _UNIT_WORDS.match(self.text, start)
        if number is None or words is None:
            return None
        first, second = words.group(1).lower(), (words.group(2) or "").lower()
        if first in ("business", "working") and second.startswith(("hour", "day")):
            return number.start(1), words.end(2), number.group(1), "bh" if second.startswith("hour") else "bd"
        if first in DURATION_UNITS or first in UNIT_SPELLINGS:
            return number.start(1), words.end(1), number.group(1), UNIT_SPELLINGS.get(first, first)
        return None

    # ------------------------------------------------------------------ repairs
    def _close_block_before(self, exc) -> bool:
        """A top-level keyword at the start of a line inside a block: the `}` is missing."""
        token = exc.token
        if str(token.value) not in TOP_LEVEL_KEYWORDS or token.type == "NAME":
            return False
        if self.source.line_text(token.line)[: token.column - 1].strip():
            return False
        braces = self._open_braces()
        if not braces:
            return False
        state = self.ip.parser_state
        trial = state.copy(deepcopy_values=False)
        needed = 0
        try:
            while token.type not in trial.parse_conf.states[trial.position]:
                _feed(trial, "RBRACE", "}", token)
                needed += 1
                if "_NL" in trial.parse_conf.states[trial.position]:
                    _feed(trial, "_NL", "\n", token)
                if needed > len(braces):
                    return False
        except Exception:
            return False
        for brace in braces[-needed:][::-1] if needed else []:
            self._add(
                UNCLOSED_BLOCK,
                Message("block opened here is not closed before '{token}' on line {line}", token=token.value, line=token.line),
                self.source.span(brace.start_pos, brace.start_pos + 1),
                help=Message("add a line with '}}' before line {line}", line=token.line),
                force=True,
            )
        for _ in range(needed):
            _feed(state, "RBRACE", "}", token)
            if "_NL" in state.parse_conf.states[state.position]:
                _feed(state, "_NL", "\n", token)
        state.feed_token(token)
        return True

    def _recover_at_end(self, exc):
        """End of file inside a block: report the open braces, close them, finish the tree."""
        from lark import Token

        state = self.ip.parser_state
        braces = self._open_braces()
        for brace in braces:
            self._add(
                UNCLOSED_BLOCK,
                Message('block opened here is never closed'),
                self.source.span(brace.start_pos, brace.start_pos + 1),
                help=Message("add a line with '}' at the end of the block"),
                force=True,
            )
        if not braces:
            end = len(self.source.text)
            self._add(
                UNEXPECTED_TOKEN,
                Message('unexpected end of file; expected {expected}', expected=describe_expected(set(exc.expected or ()))),
                self.source.span(max(end - 1, 0), max(end, 1)),
            )
        last = exc.token
        for _ in range(len(braces) * 2 + 2):
            states = state.parse_conf.states[state.position]
            try:
                if "$END" in states:
                    return state.feed_token(Token.new_borrow_pos("$END", "", last), True)
                if "RBRACE" in states:
                    _feed(state, "RBRACE", "}", last)
                elif "_NL" in states:
                    _feed(state, "_NL", "\n", last)
                else:
                    return None
            except Exception:
                return None
        return None

    def _open_braces(self) -> list[Token]:
        from lark import Token

        return [
            v for v in self.ip.parser_state.value_stack if isinstance(v, Token) and v.type == "LBRACE"
        ]

    # ------------------------------------------------------------------ panic mode
    def _skip_offset(self, exc) -> int:
        """Where to resume after a bad token: the next line, or past the block the line opens."""
        token = exc.token
        start = token.start_pos or 0
        if token.type == "_NL":
            return start + 1
        return self._skip_line(start)

    def _skip_line(self, offset: int) -> int:
        """The offset after the line holding `offset` — after its whole block if it opens one.

        The statement on a bad line is dropped; if that line opened a block (it ends with `{`,
        even one swallowed by an unterminated string, or leaves a `{` unmatched) the block's
        body belongs to the dropped statement and is skipped with it.
        """
        line_start = self.text.rfind("\n", 0, offset) + 1
        line_end = self._line_end(offset)
        code = _strip_comment(self.text[line_start:line_end]).rstrip()
        raw = self.text[line_start:line_end].rstrip()
        depth = sum(1 if ch == "{" else -1 if ch == "}" else 0 for ch in _outside_strings(code))
        if depth > 0 or code.endswith("{") or raw.endswith("{"):
            return self._after_block(line_end + 1, max(depth, 1))
        return line_end + 1

    def _after_block(self, pos: int, depth: int) -> int:
        text = self.text
        while pos < len(text):
            line_end = self._line_end(pos)
            for ch in _outside_strings(_strip_comment(text[pos:line_end])):
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        return line_end + 1
            pos = line_end + 1
        return len(text)

    def _drop_partial_statement(self, line: int) -> None:
        """Pop what the parser holds of the statement on the bad line (it is discarded)."""
        state = self.ip.parser_state
        while state.value_stack and _start_line(state.value_stack[-1]) >= line:
            state.value_stack.pop()
            state.state_stack.pop()

    def _resume_from(self, offset: int):
        """Move the lexer to `offset` and pop the stack until the next token fits.

        Returns None to continue the main loop, a tree when the input ended and could be
        closed, or _FAILED when nothing can be salvaged.
        """
        from lark import Token
        from lark.exceptions import UnexpectedInput
        from lark.lexer import LexerState

        state = self.ip.parser_state
        lexer_state = self.ip.lexer_thread.state
        lexers = self.parser.parser.lexer.lexers
        text = self.text
        while True:
            offset = self._first_token_offset(offset)
            if offset >= len(text):
                self._advance(lexer_state, len(text))
                tree = self._recover_at_end_quietly()
                return tree if tree is not None else _FAILED
            for depth in range(len(state.state_stack) - 1, -1, -1):
                trial = state.copy(deepcopy_values=False)
                del trial.state_stack[depth + 1 :]
                del trial.value_stack[depth:]
                for with_newline in (False, True):
                    attempt = trial.copy(deepcopy_values=False) if with_newline else trial
                    try:
                        if with_newline:
                            _feed(attempt, "_NL", "\n", Token("_NL", "\n", offset, 1, 1))
                        probe = LexerState(lexer_state.text, copy(lexer_state.line_ctr))
                        self._advance(probe, offset)
                        token = lexers[attempt.position].next_token(probe, attempt)
                        attempt.copy(deepcopy_values=False).feed_token(token)
                    except (UnexpectedInput, EOFError, KeyError):
                        continue
                    del state.state_stack[depth + 1 :]
                    del state.value_stack[depth:]
                    if with_newline:
                        _feed(state, "_NL", "\n", token)
                    self._advance(lexer_state, offset)
                    return None
            self._report_skipped_line(offset)
            if self.errors >= MAX_SYNTAX_ERRORS:
                self.stop_offset = self._first_token_offset(self._line_end(offset) + 1)
                return _FAILED_TOO_MANY
            offset = self._line_end(offset) + 1

    def _report_skipped_line(self, offset: int) -> None:
        """A line that fits nowhere after an error is an error of its own."""
        from lark.exceptions import UnexpectedInput
        from lark.lexer import LexerState

        lexer_state = self.ip.lexer_thread.state
        probe = LexerState(lexer_state.text, copy(lexer_state.line_ctr))
        self._advance(probe, offset)
        expected = {
            name for name in self.ip.parser_state.parse_conf.states[self.ip.parser_state.position]
            if name.isupper()
        }
        try:
            token = self.parser.parser.lexer.root_lexer.next_token(probe, self.ip.parser_state)
        except (UnexpectedInput, EOFError):
            char = self.text[offset]
            shown = char if char.isprintable() and not char.isspace() else f"U+{ord(char):04X}"
            self._add(UNEXPECTED_CHARACTER, Message("unexpected character '{shown}'", shown=shown),
                      self.source.span(offset, offset + 1), help=_CHARACTER_HINTS.get(char))
            return
        self._add(
            UNEXPECTED_TOKEN,
            Message("unexpected '{token}'; expected {expected}", token=token.value, expected=describe_expected(expected)),
            self.source.span(token.start_pos, token.start_pos + max(len(token.value), 1)),
        )

    def _recover_at_end_quietly(self):
        from lark import Token
        from lark.exceptions import UnexpectedInput

        state = self.ip.parser_state
        last = Token("$END", "", len(self.text), self.source.line_count, 1)
        braces = self._open_braces()
        if braces:
            for brace in braces:
                self._add(
                    UNCLOSED_BLOCK,
                    Message('block opened here is never closed'),
                    self.source.span(brace.start_pos, brace.start_pos + 1),
                    help=Message("add a line with '}' at the end of the block"),
                    force=True,
                )
        for _ in range(2 * len(state.state_stack) + 2):
            states = state.parse_conf.states[state.position]
            try:
                if "$END" in states:
                    return state.feed_token(Token.new_borrow_pos("$END", "", last), True)
                if "RBRACE" in states:
                    _feed(state, "RBRACE", "}", last)
                elif "_NL" in states:
                    _feed(state, "_NL", "\n", last)
                elif len(state.state_stack) > 1:
                    state.state_stack.pop()
                    state.value_stack.pop()
                else:
                    return None
            except UnexpectedInput:
                return None
        return None

    # ------------------------------------------------------------------ text helpers
    def _line_end(self, offset: int) -> int:
        end = self.text.find("\n", offset)
        return len(self.text) if end == -1 else end

    def _first_token_offset(self, offset: int) -> int:
        """Skip blank and comment-only lines and indentation."""
        text = self.text
        while offset < len(text):
            line_end = self._line_end(offset)
            stripped = text[offset:line_end].lstrip(" \t")
            if stripped and not stripped.startswith("#"):
                return line_end - len(stripped)
            offset = line_end + 1
        return len(text)

    @staticmethod
    def _advance(lexer_state, offset: int) -> None:
        counter = lexer_state.line_ctr
        if offset > counter.char_pos:
            counter.feed(lexer_state.text.text[counter.char_pos : offset])


_FAILED = object()
_FAILED_TOO_MANY = object()


def _feed(state, type_: str, value: str, near) -> None:
    from lark import Token

    state.feed_token(Token.new_borrow_pos(type_, value, near))


def _strip_comment(line: str) -> str:
    return split_comment(line)[0]


def _outside_strings(line: str):
    in_string = False
    escaped = False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        else:
            yield ch


def _start_line(value) -> int:
    """First line of a value on the parser stack (a Token or a Tree with positions)."""
    line = getattr(value, "line", None)
    if line is not None:
        return line
    meta = getattr(value, "meta", None)
    if meta is not None and not meta.empty:
        return meta.line
    return 0
