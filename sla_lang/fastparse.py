"""The fast path of the parser: clean input parsed with Lark's tables by a single tight loop.

Most policies have no syntax error, and for them the general machinery that error recovery
needs — Lark's interactive parser, its per-state lexers, its chain of tree-building
wrappers — costs more than the parsing itself (55 % of the time on a 1,000-stage policy).
This module parses with the same LALR table and the same terminals but

- tokenizes the whole text with one `finditer` over the scanner's own pattern (token
  boundaries do not depend on the parser state here; only a keyword the state does not expect
  is read as a name, exactly as `parser._StateLexer` does);
- shifts and reduces in one loop, building each rule's tree from a plan made once per rule
  (which children are kept, which `_rule`s are spliced, which `?rule`s are inlined);
- gives every tree a `meta` that reads its positions from the first and last token of the
  rule's whole text, which is what Lark's `propagate_positions` computes.

It never reports anything: at the first character or token that does not fit it gives up
(`NotClean`), and `parser.parse_source` parses the text again with the recovering parser,
whose diagnostics are the ones the user sees. The trees of both paths are compared in
tests/test_fastparse.py on every policy in the repository and on generated ones.
"""

from __future__ import annotations

import re
from functools import cache
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

from lark import Token, Tree
from lark.tree import Meta

from .source import SPAN_SETTERS, Span

if TYPE_CHECKING:
    from lark import Lark


class NotClean(Exception):
    """The text has a syntax error; the recovering parser has to handle it."""


class TooDeep(Exception):
    """The tree is nested deeper than allowed; the recovering parser reports where."""


class SpanMeta(Meta):
    """Tree positions taken from the first and last token of the rule's text, on demand."""

    __slots__ = ("_first", "_last")
    empty = False

    def __init__(self, first: tuple, last: tuple) -> None:  # no super(): `empty` is fixed
        self._first = first  # the tokens' positions (see `_positions`)
        self._last = last

    line = property(lambda self: self._first[0])
    column = property(lambda self: self._first[1])
    start_pos = property(lambda self: self._first[4])
    end_line = property(lambda self: self._last[2])
    end_column = property(lambda self: self._last[3])
    end_pos = property(lambda self: self._last[5])


def _positions(token: Token) -> tuple:
    """A token's positions as the loop keeps them: (line, column, end line, end column, start
    offset, end offset)."""
    return (token.line, token.column, token.end_line, token.end_column, token.start_pos, token.end_pos)


EMPTY_META = Meta()  # the meta of a rule that matched no token (Lark's `meta.empty`)
_GROWN = ((0, True),)  # a plan's `keep` that passes on its one child's list as it is
_NO_TERMINAL = "_no_terminal"  # the scanner's group for a character no terminal matches


# How a rule's reduction changes the stack (worked out once per rule from its plan):
_PASS = 0  # one symbol passed on as it is: a `_rule` of one spliced list, a `?rule` of one child
_PASS_INLINE = 1  # the same for a `?rule`, whose child may be a token that keeps its own positions
_WRAP = 2  # a `_rule` of one kept symbol: its child in a list of its own, for the parent to splice
_ONE = 3  # any other rule of one symbol
_MANY = 4  # a rule of none or several symbols


def _operation(size: int, keep, splice: bool, inline: bool) -> int:
    if size != 1:
        return _MANY
    if splice and keep is _GROWN:
        return _PASS
    if keep is None and inline and not splice:
        return _PASS_INLINE
    if keep is None and splice:
        return _WRAP
    return _ONE


class FastParser:
    """Parses text that has no syntax error into the tree Lark would build, or raises NotClean."""

    def __init__(self, tables: dict) -> None:
        self.table = tables["states"]
        # (`keep` equal to _GROWN made that very object, so the loop can test it with `is`)
        self.plans = []
        for name, size, keep, splice, inline, goto in tables["rules"]:
            keep = _GROWN if keep == _GROWN else keep
            self.plans.append((_operation(size, keep, splice, inline), name, size, keep, splice, inline, goto))
        self.start_state = tables["start"]
        self.end_state = tables["end"]
        self.pattern = re.compile(tables["pattern"])
        # the same, each token with the blanks after it: a third of a policy's matches are the
        # blanks between tokens, which the parser only skips (see `scanner_pattern`). A last
        # alternative takes any one character no terminal matches, so that every character of
        # the text is in some match and the loop need not look for gaps between them.
        self.scanner = re.compile(f"{tables['scanner']}|(?P<{_NO_TERMINAL}>[\\s\\S])")
        self.kinds: list[str | None] = [None] * (self.scanner.groups + 1)  # group number → terminal
        for group_name, number in self.scanner.groupindex.items():
            if group_name != _NO_TERMINAL:  # (stays None)
                self.kinds[number] = group_name.removesuffix(_FIRST)
        self.ignore = frozenset(tables["ignore"])
        # the terminals some rule keeps as a child: only their tokens are made (a keyword, a
        # brace or a line end only marks where its rule's text starts or ends)
        self.kept = frozenset(tables["kept"])
        self.keyword_of = tables["keywords"]
        self.typed_loop = _typed_loop(self)

    def parse(self, text: str, lowering=None, max_depth: int = 0, path: str = "", spanless=frozenset()):
        """The tree of `text`; or, with `lowering` (rule name → `handler(meta, children)`, the
        Lowerer's methods), the lowered value of the whole text, each rule lowered the moment it
        is reduced (no tree is built; the same handlers get the same children the tree walk
        would give them). Then a tree deeper than `max_depth` raises TooDeep, and a handler's
        `meta` is the rule's Span in `path` (EMPTY_META for a rule that matched no token):
        nearly every handler makes that span, and making it here costs a third of making a
        meta for it to be made from. A rule in `spanless`, whose handler never reads its meta,
        gets None: no span is made for it.

        With the compiled modules built, lowering runs the same loop with C types
        (sla_lang/fastloop.pyx); this one is the reference, and the one without them."""
        if lowering is not None and self.typed_loop is not None:
            return self.typed_loop.parse(text, lowering, max_depth, path, spanless)
        table = self.table
        plans = self.plans
        keyword_of = self.keyword_of
        ignore = self.ignore
        kept_kinds = self.kept
        kinds = self.kinds
        end_state = self.end_state
        make_token = str.__new__
        state = self.start_state
        state_stack = [state]
        values: list = []  # (None for a token no rule keeps)
        # the positions (`_positions`) of the first and last token of each stack entry's text
        # (None: empty). An entry whose value is a token has that token's own positions.
        firsts: list = []
        lasts: list = []
        depths: list = []  # lowering: the depth of the tree each stack entry stands for
        lowered = lowering is not None
        new_object = object.__new__
        set_path, set_line, set_column, set_end_line, set_end_column = SPAN_SETTERS
        line = 1
        line_start = 0
        at_end = False
        for match in chain(self.scanner.finditer(text), (None,)):
            if match is None:
                kind = "$END"
                token = positions = None
                at_end = True
            else:
                group = match.lastindex
                kind = kinds[group]
                if kind is None:
                    raise NotClean  # a character no terminal matches
                start, end = match.span(group)
                value = match.group(group)
                column = start - line_start + 1
                start_line = line
                if "\n" in value:
                    line += value.count("\n")
                    line_start = start + value.rindex("\n") + 1
                if kind in ignore:
                    continue
                end_column = end - line_start + 1
                positions = (start_line, column, line, end_column, start, end)
                if kind == "NAME":
                    keyword = keyword_of.get(value)
                    if keyword is not None:
                        row = table[state]
                        if keyword in row or "NAME" not in row:
                            kind = keyword
                if kind in kept_kinds:
                    token = make_token(Token, value)
                    token.value = value
                    token.start_pos = start
                    token.line = start_line
                    token.column = column
                    token.end_line = line
                    token.end_column = end_column
                    token.end_pos = end
                    token.type = kind
                else:
                    token = None
            while True:
                try:
                    action = table[state][kind]
                except KeyError:
                    raise NotClean from None
                if action >= 0:  # shift, to that state
                    state = action
                    state_stack.append(state)
                    values.append(token)
                    firsts.append(positions)
                    lasts.append(positions)
                    if lowered:
                        depths.append(0)
                    break
                # reduce by rule ~action
                operation, name, size, keep, splice, inline, goto = plans[~action]
                if operation < _MANY:
                    # One symbol (most reductions): the entry on top of the stack is replaced in
                    # place, no slices taken; the first three kinds keep its value or wrap it.
                    if operation == _PASS_INLINE:
                        pass  # (a token's entry has its own positions already, as Lark keeps them)
                    elif operation == _WRAP:
                        values[-1] = [values[-1]]
                    elif operation == _ONE:
                        child = values[-1]
                        if keep is None:
                            children = [child]
                        elif keep:
                            children = child if keep[0][1] else [child]
                        else:
                            children = []
                        first = firsts[-1]
                        if splice:
                            values[-1] = children
                        elif inline and len(children) == 1:
                            value = values[-1] = children[0]
                            if value.__class__ is Token:  # Lark keeps an inlined token's own positions
                                firsts[-1] = lasts[-1] = _positions(value)
                        elif lowered:
                            depth = depths[-1] + 1
                            if depth > max_depth:
                                raise TooDeep
                            depths[-1] = depth
                            if first is None:
                                meta = EMPTY_META
                            elif name in spanless:
                                meta = None
                            else:
                                last = lasts[-1]
                                meta = new_object(Span)
                                set_path(meta, path)
                                set_line(meta, first[0])
                                set_column(meta, first[1])
                                set_end_line(meta, last[2])
                                set_end_column(meta, last[3])
                            values[-1] = lowering[name](meta, children)
                        elif first is None:
                            values[-1] = Tree(name, children)
                        else:
                            values[-1] = Tree(name, children, SpanMeta(first, lasts[-1]))
                    state = state_stack[-1] = table[state_stack[-2]][goto]
                    if at_end and state == end_state:
                        return values[-1]
                    continue
                if size:
                    children = values[-size:]
                    first = firsts[-size]
                    if first is None:
                        first = next((t for t in firsts[-size:] if t is not None), None)
                    last = lasts[-1]
                    if last is None:
                        last = next((t for t in reversed(lasts[-size:]) if t is not None), None)
                    del values[-size:], state_stack[-size:], firsts[-size:], lasts[-size:]
                    if lowered:
                        depth = max(depths[-size:])
                        del depths[-size:]
                else:
                    children = []
                    first = last = None
                    depth = 0
                if keep is not None:
                    kept: list = []
                    for index, expand in keep:
                        if not expand:
                            kept.append(children[index])
                        elif kept:
                            kept += children[index]
                        else:  # a left-recursive repetition: grow its list in place, not copy it
                            kept = children[index]
                    children = kept
                if splice:
                    value = children  # a `_rule`: its children go into the parent's list
                elif inline and len(children) == 1:
                    value = children[0]
                    if value.__class__ is Token:
                        first = last = _positions(value)  # Lark keeps an inlined token's own positions
                elif lowered:
                    # (a tree's depth counts its own level; a spliced `_rule` adds none)
                    depth += 1
                    if depth > max_depth:
                        raise TooDeep
                    if first is None:
                        meta = EMPTY_META
                    elif name in spanless:
                        meta = None
                    else:
                        meta = new_object(Span)
                        set_path(meta, path)
                        set_line(meta, first[0])
                        set_column(meta, first[1])
                        set_end_line(meta, last[2])
                        set_end_column(meta, last[3])
                    value = lowering[name](meta, children)
                elif first is None:
                    value = Tree(name, children)
                else:
                    value = Tree(name, children, SpanMeta(first, last))
                state = table[state_stack[-1]][goto]
                state_stack.append(state)
                values.append(value)
                firsts.append(first)
                lasts.append(last)
                if lowered:
                    depths.append(depth)
                if at_end and state == end_state:
                    return value
        raise NotClean  # pragma: no cover - the loop returns at $END or raises


def _typed_loop(parser: FastParser):
    """The lowering loop with C types over `parser`'s tables, when it is built (see
    sla_lang/_compiled.py: never with SLA_PURE_PYTHON=1); else None."""
    try:
        from .fastloop import TypedLoop
    except ImportError:
        return None
    return TypedLoop(parser)


# ---------------------------------------------------------------------- tables


def compile_tables(lark: Lark) -> dict:
    """Lark's LALR table and scanner as plain data.

    States are numbered in breadth-first order from the start state, following symbols in
    sorted order, and rules are sorted by name and expansion: Lark numbers both differently
    from one process to the next, this numbering depends on the grammar only. In a row, a
    number n >= 0 is a shift (or, for a rule name, a goto) to state n; n < 0 a reduction by
    rule ~n.
    """
    from lark.parsers.lalr_analysis import Shift

    from .parser import keyword_terminals_by_text

    conf = lark.parse_interactive("").parser_state.parse_conf
    states = conf.states
    number = {conf.start_state: 0}
    queue = [conf.start_state]
    reductions = set()
    for state in queue:
        for symbol in sorted(states[state]):
            action, target = states[state][symbol]
            if action is Shift:
                if target not in number:
                    number[target] = len(number)
                    queue.append(target)
            else:
                reductions.add(target)
    rules = sorted(reductions, key=_rule_key)
    rule_number = {rule: index for index, rule in enumerate(rules)}
    rows = [None] * len(number)
    for state, index in number.items():
        rows[index] = {
            symbol: number[target] if action is Shift else ~rule_number[target]
            for symbol, (action, target) in sorted(states[state].items())
        }
    root = lark.parser.lexer.root_lexer
    terminals = [(t.name, t.pattern.to_regexp()) for t in root.scanner.terminals]
    return {
        "states": rows,
        "rules": [_plan(rule) for rule in rules],
        "start": 0,
        "end": number[conf.end_state],
        # The scanner's terminals in the scanner's order (priority, then length), with the
        # keywords folded into NAME as Lark folds them: the same alternation Lark matches.
        "pattern": "|".join(f"(?P<{name}>{regexp})" for name, regexp in terminals),
        "scanner": scanner_pattern(terminals),
        "ignore": sorted(root.ignore_types),
        # the terminals some rule keeps as a child (the others are never seen by a rule)
        "kept": sorted({
            symbol.name for rule in rules for symbol in rule.expansion
            if symbol.is_term and (rule.options.keep_all_tokens or not symbol.filter_out)
        }),
        "keywords": dict(sorted(keyword_terminals_by_text(lark).items())),
    }


_FIRST = "__first"  # the group name suffix of a terminal's guarded copy at the front of the scanner
# The terminals of most tokens, commonest first (keywords are read as NAME; counted on the
# 10,000-stage bench policy: NAME 352,000, _NL 118,000, STRING 60,000, ARROW 23,000 …)
FREQUENT = ("NAME", "_NL", "STRING", "ARROW", "COMMA", "LBRACE", "RBRACE", "COMPARATOR")


def scanner_pattern(terminals: list[tuple[str, str]]) -> str:
    """The fast parser's scanner: Lark's alternation of `terminals` (name, regexp), each token
    with the blanks after it, and in front a copy of each FREQUENT terminal behind a lookahead
    of the ASCII characters it starts with that no terminal before it in Lark's order can start
    with.

    Python's regex engine tries the alternatives in order, so a name used to be tried as a
    date, a time, a percentage, a duration, a number, a text and a line break first: a fifth
    of parsing a large policy was spent there. At a character the lookahead admits, every
    terminal before the copy's in Lark's order fails, so the copy matches exactly what the
    alternation would (it is the same regexp); where the copy fails, the alternation runs
    unchanged. A terminal whose first characters cannot be worked out gets no copy."""
    front = {}
    for index, (name, regexp) in enumerate(terminals):
        if name not in FREQUENT:
            continue
        own = _first_characters(regexp)
        if own is None:
            continue
        for _, earlier in terminals[:index]:
            taken = _first_characters(earlier)
            if taken is None:
                own = set()
                break
            own -= taken
        if own:
            guard = "".join(re.escape(c) for c in sorted(own))
            front[name] = f"(?=[{guard}])(?P<{name}{_FIRST}>{regexp})"
    # (the copies' guards are disjoint, so their order changes no match: commonest first)
    copies = [front[name] for name in FREQUENT if name in front]
    alternation = "|".join(copies + [f"(?P<{name}>{regexp})" for name, regexp in terminals])
    return f"(?:{alternation})[ \t]*"


_ASCII = [chr(code) for code in range(128)]


def _first_characters(regexp: str) -> set[str] | None:
    """The ASCII characters a match of `regexp` can start with; None when unsure (a construct
    this does not follow, or a regexp that can match the empty string)."""
    from re import _parser  # the parse tree of Python's own regex engine

    try:
        parsed = _parser.parse(regexp)
        if parsed.state.flags & ~re.UNICODE:  # a flag for the whole regexp ((?i) …): unsure
            return None
        first, nullable = _first_of_sequence(parsed)
    except (re.error, TypeError, ValueError):  # a regexp or a tree this does not follow: unsure
        return None
    return None if first is None or nullable else first


def _first_of_sequence(items) -> tuple[set[str] | None, bool]:
    """(first characters, can match empty) of a sequence of regex parse items."""
    from re._constants import (
        ANY,
        BRANCH,
        IN,
        LITERAL,
        MAX_REPEAT,
        MIN_REPEAT,
        NOT_LITERAL,
        POSSESSIVE_REPEAT,
        SUBPATTERN,
    )

    out: set[str] = set()
    for op, arg in items:
        if op is LITERAL:
            first, nullable = {chr(arg)} & set(_ASCII), False
        elif op is NOT_LITERAL:
            first, nullable = set(_ASCII) - {chr(arg)}, False
        elif op is ANY:
            first, nullable = set(_ASCII), False
        elif op is IN:
            first, nullable = _class_members(arg), False
        elif op is SUBPATTERN:
            _group, add_flags, del_flags, body = arg
            if add_flags or del_flags:
                return None, False
            first, nullable = _first_of_sequence(body)
        elif op in (MAX_REPEAT, MIN_REPEAT, POSSESSIVE_REPEAT):
            low, _high, body = arg
            first, nullable = _first_of_sequence(body)
            nullable = nullable or low == 0
        elif op is BRANCH:
            first, nullable = set(), False
            for alternative in arg[1]:
                one, empty = _first_of_sequence(alternative)
                if one is None:
                    return None, False
                first |= one
                nullable = nullable or empty
        else:  # anchors, lookarounds, back references …: unsure
            return None, False
        if first is None:
            return None, False
        out |= first
        if not nullable:
            return out, False
    return out, True


def _class_members(items) -> set[str] | None:
    """The ASCII characters in a parsed character class `[…]`."""
    from re._constants import CATEGORY, LITERAL, NEGATE, RANGE

    negate = False
    tests = []
    for op, arg in items:
        if op is NEGATE:
            negate = True
        elif op is LITERAL:
            tests.append(lambda c, code=arg: ord(c) == code)
        elif op is RANGE:
            tests.append(lambda c, bounds=arg: bounds[0] <= ord(c) <= bounds[1])
        elif op is CATEGORY and arg in _CATEGORY_REGEXPS:
            tests.append(lambda c, one=re.compile(_CATEGORY_REGEXPS[arg]): one.fullmatch(c) is not None)
        else:
            return None
    return {c for c in _ASCII if any(test(c) for test in tests) != negate}


_CATEGORY_REGEXPS = {}  # filled below: the category constants of re's parse tree → a regexp


def _categories() -> None:
    from re import _constants as c

    _CATEGORY_REGEXPS.update({
        c.CATEGORY_DIGIT: r"\d", c.CATEGORY_NOT_DIGIT: r"\D", c.CATEGORY_SPACE: r"\s",
        c.CATEGORY_NOT_SPACE: r"\S", c.CATEGORY_WORD: r"\w", c.CATEGORY_NOT_WORD: r"\W",
    })


_categories()


def _rule_key(rule) -> tuple:
    return (rule.origin.name, tuple(symbol.name for symbol in rule.expansion), rule.alias or "")


def _plan(rule) -> tuple:
    """(tree name, length, kept children or None for all, is a `_rule`, is a `?rule`, goto)."""
    options = rule.options
    keep = tuple(
        (index, not symbol.is_term and symbol.name.startswith("_"))
        for index, symbol in enumerate(rule.expansion)
        if options.keep_all_tokens or not (symbol.is_term and symbol.filter_out)
    )
    plain = len(keep) == len(rule.expansion) and not any(expand for _, expand in keep)
    name = rule.alias or options.template_source or rule.origin.name
    splice = rule.origin.name.startswith("_") and not rule.alias
    inline = bool(options.expand1 and not rule.alias)
    return (str(name), len(rule.expansion), None if plain else keep, splice, inline, str(rule.origin.name))


def grammar_digest() -> str:
    import hashlib

    from .resources import grammar_path

    # Line endings do not change the grammar (a Windows checkout may turn them into CRLF).
    return hashlib.sha256(grammar_path().read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def write_tables_module(path: Path) -> None:
    """Write the tables of the current grammar as a Python module (byte-identical for the same
    grammar and Lark version)."""
    import lark as lark_package

    from .output import write_file
    from .parser import get_parser

    tables = compile_tables(get_parser())
    lines = [
        "# Generated by `python -m sla_lang.fastparse` from grammar/sla.lark. Do not edit;",
        "# regenerate after changing the grammar (a test fails until you do).",
        "# fmt: off",
        "# ruff: noqa",
        f"GRAMMAR_SHA256 = {grammar_digest()!r}",
        f"LARK_VERSION = {lark_package.__version__!r}  # the tables came from this Lark's LALR analysis",
        "TABLES = {",
        "    'states': [",
        *(f"        {row!r}," for row in tables["states"]),
        "    ],",
        "    'rules': [",
        *(f"        {rule!r}," for rule in tables["rules"]),
        "    ],",
        *(f"    {key!r}: {tables[key]!r}," for key in ("start", "end", "pattern", "scanner", "ignore", "kept", "keywords")),
        "}",
    ]
    write_file(path, ("\n".join(lines) + "\n").encode("utf-8"))


TABLES_MODULE = Path(__file__).with_name("_lalr_tables.py")


def installed_tables() -> dict | None:
    """The generated tables, or None when they were made from another grammar."""
    try:
        from . import _lalr_tables
    except ImportError:
        return None
    if _lalr_tables.GRAMMAR_SHA256 != grammar_digest():
        return None
    return _lalr_tables.TABLES


@cache
def fast_parser() -> FastParser:
    """The fast parser, from the generated tables (no grammar to load), or from Lark's own
    analysis when the grammar has changed since they were generated."""
    tables = installed_tables()
    if tables is None:
        from .parser import get_parser

        tables = compile_tables(get_parser())
    return FastParser(tables)


def main() -> int:
    """`python -m sla_lang.fastparse`: regenerate the tables after a grammar change."""
    import sys

    from .output import OutputError

    try:
        write_tables_module(TABLES_MODULE)
    except OutputError as exc:
        print(f"sla_lang.fastparse: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {TABLES_MODULE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
