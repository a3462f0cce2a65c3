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

from functools import cache
from itertools import chain
from typing import TYPE_CHECKING

from lark import Token, Tree
from lark.tree import Meta

if TYPE_CHECKING:
    from lark import Lark


class NotClean(Exception):
    """The text has a syntax error; the recovering parser has to handle it."""


class SpanMeta(Meta):
    """Tree positions taken from the first and last token of the rule's text, on demand."""

    __slots__ = ("_first", "_last")
    empty = False

    def __init__(self, first: Token, last: Token) -> None:  # no super(): `empty` is fixed
        self._first = first
        self._last = last

    @property
    def line(self) -> int:
        return self._first.line

    @property
    def column(self) -> int:
        return self._first.column

    @property
    def start_pos(self) -> int:
        return self._first.start_pos

    @property
    def end_line(self) -> int:
        return self._last.end_line

    @property
    def end_column(self) -> int:
        return self._last.end_column

    @property
    def end_pos(self) -> int:
        return self._last.end_pos


class FastParser:
    """Parses text that has no syntax error into the tree Lark would build, or raises NotClean."""

    def __init__(self, lark: Lark, keyword_of: dict[str, str]) -> None:
        import re

        from lark.parsers.lalr_analysis import Shift

        conf = lark.parse_interactive("").parser_state.parse_conf
        plans = {rule: _plan(rule) for rule in lark.rules}
        # The table as plain data: terminal → next state (an int) or a reduction (a tuple);
        # rule name → next state after a reduction. No Rule objects hashed in the loop.
        self.table = {
            state: {
                symbol: target if action is Shift else plans[target]
                for symbol, (action, target) in row.items()
            }
            for state, row in conf.states.items()
        }
        self.start_state = conf.start_state
        self.end_state = conf.end_state
        root = lark.parser.lexer.root_lexer
        # The scanner's terminals in the scanner's order (priority, then length), with the
        # keywords folded into NAME as Lark folds them: the same alternation Lark matches.
        self.pattern = re.compile(
            "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in root.scanner.terminals)
        )
        self.ignore = frozenset(root.ignore_types)
        self.keyword_of = keyword_of

    def parse(self, text: str) -> Tree:
        table = self.table
        keyword_of = self.keyword_of
        ignore = self.ignore
        end_state = self.end_state
        make_token = str.__new__
        state_stack = [self.start_state]
        values: list = []
        firsts: list = []  # first and last token of each stack entry's text (None: empty)
        lasts: list = []
        line = 1
        line_start = 0
        expected = 0
        for match in chain(self.pattern.finditer(text), (None,)):
            if match is None:
                if expected != len(text):
                    raise NotClean  # a character no terminal matches, at the end
                kind = "$END"
                token = None
            else:
                start, end = match.span()
                if start != expected:
                    raise NotClean  # a character no terminal matches
                expected = end
                value = match.group()
                kind = match.lastgroup
                column = start - line_start + 1
                start_line = line
                if "\n" in value:
                    line += value.count("\n")
                    line_start = start + value.rindex("\n") + 1
                if kind in ignore:
                    continue
                token = make_token(Token, value)
                token.value = value
                token.start_pos = start
                token.line = start_line
                token.column = column
                token.end_line = line
                token.end_column = end - line_start + 1
                token.end_pos = end
                if kind == "NAME":
                    keyword = keyword_of.get(value)
                    if keyword is not None:
                        row = table[state_stack[-1]]
                        if keyword in row or "NAME" not in row:
                            kind = keyword
                token.type = kind
            while True:
                action = table[state_stack[-1]].get(kind)
                if action is None:
                    raise NotClean
                if action.__class__ is not tuple:  # shift, to that state
                    state_stack.append(action)
                    values.append(token)
                    firsts.append(token)
                    lasts.append(token)
                    break
                # reduce
                name, size, keep, splice, inline, goto = action
                if size:
                    children = values[-size:]
                    first_tokens = firsts[-size:]
                    last_tokens = lasts[-size:]
                    del values[-size:], state_stack[-size:], firsts[-size:], lasts[-size:]
                    first = first_tokens[0]
                    if first is None:
                        first = next((t for t in first_tokens if t is not None), None)
                    last = last_tokens[-1]
                    if last is None:
                        last = next((t for t in reversed(last_tokens) if t is not None), None)
                else:
                    children = []
                    first = last = None
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
                    if value.__class__ is not Tree:
                        first = last = value  # Lark keeps an inlined token's own positions
                elif first is None:
                    value = Tree(name, children)
                else:
                    value = Tree(name, children, SpanMeta(first, last))
                state = table[state_stack[-1]][goto]
                state_stack.append(state)
                values.append(value)
                firsts.append(first)
                lasts.append(last)
                if token is None and state == end_state:
                    return value
        raise NotClean  # pragma: no cover - the loop returns at $END or raises


def _plan(rule) -> tuple:
    """(tree name, length, kept children or None for all, is a `_rule`, is a `?rule`, goto)."""
    options = rule.options
    keep = [
        (index, not symbol.is_term and symbol.name.startswith("_"))
        for index, symbol in enumerate(rule.expansion)
        if options.keep_all_tokens or not (symbol.is_term and symbol.filter_out)
    ]
    plain = len(keep) == len(rule.expansion) and not any(expand for _, expand in keep)
    name = rule.alias or options.template_source or rule.origin.name
    splice = rule.origin.name.startswith("_") and not rule.alias
    inline = bool(options.expand1 and not rule.alias)
    return (name, len(rule.expansion), None if plain else keep, splice, inline, rule.origin.name)


@cache
def fast_parser() -> FastParser:
    from .parser import get_parser, keyword_terminals_by_text

    parser = get_parser()
    return FastParser(parser, keyword_terminals_by_text(parser))
