# cython: language_level=3
"""The fast parser's loop with C types: what `FastParser.parse` does when it lowers while parsing
(`sla check`, `sla build`), over the same tables coded as integers.

`sla_lang/fastparse.py` is the reference and stays the one used without a compiled build (or
with SLA_PURE_PYTHON=1). This is a second implementation of its lowering loop, written for
Cython (it is not Python): the parse table is one C array indexed by state and symbol number
instead of a dict per state, the state stack and each stack entry's tree depth and first/last
positions are C arrays instead of Python lists of ints and tuples. Only the values handed to
the Lowerer (tokens, lists, the handlers' results, spans) are Python objects. Measured on the
10,000-stage bench policy: parsing and lowering in about 80 % of the CPU time of the compiled
`.py` loop (README, "Performance").

It is built by `python -m sla_lang.accelerate` with the compiled copies of the `.py` modules
and found the same way (sla_lang/_compiled.py: by the SHA-256 of this file). The loops must not
differ: tests/test_fastparse.py lowers every policy in the repository, generated and mutated
ones through this loop and compares the IR and the diagnostics with lowering Lark's own tree;
tests/test_accelerate.py compares whole `sla check` reports with the pure-Python path.
"""

from libc.limits cimport INT_MIN
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memset

from itertools import chain

from lark import Token

from sla_lang.fastparse import _MANY, _ONE, _WRAP, EMPTY_META, NotClean, TooDeep
from sla_lang.source import SPAN_SETTERS, Span

cdef int NO_ACTION = INT_MIN  # a (state, symbol) the table has no entry for: a syntax error


cdef struct Entry:
    # one entry of the parser's stack besides its value: the state, the depth of the tree the
    # value stands for, and the positions of the first and last token of its text
    # (first_line 0: the entry matched no token)
    int state
    int depth
    Py_ssize_t first_line
    Py_ssize_t first_column
    Py_ssize_t last_line
    Py_ssize_t last_column


cdef inline Entry *push(Entry *stack, Py_ssize_t top, Py_ssize_t *capacity, int state, int depth,
                        Py_ssize_t first_line, Py_ssize_t first_column, Py_ssize_t last_line,
                        Py_ssize_t last_column) except NULL:
    """Set the entry at `top`, the stack first doubled in size when it is full: the stack (it
    may have moved). On MemoryError the old stack is still the caller's to free."""
    cdef Entry *grown
    if top == capacity[0]:
        grown = <Entry *>realloc(stack, 2 * capacity[0] * sizeof(Entry))
        if grown == NULL:
            raise MemoryError
        stack = grown
        capacity[0] *= 2
    stack[top].state = state
    stack[top].depth = depth
    stack[top].first_line = first_line
    stack[top].first_column = first_column
    stack[top].last_line = last_line
    stack[top].last_column = last_column
    return stack


_set_path, _set_line, _set_column, _set_end_line, _set_end_column = SPAN_SETTERS
_new_object = object.__new__


cdef inline object rule_meta(Py_ssize_t first_line, Py_ssize_t first_column, Py_ssize_t last_line,
                             Py_ssize_t last_column, bint spanless, str path, list line_number):
    """A reduced rule's `meta` for its handler: EMPTY_META when it matched no token, None for a
    rule in `spanless`, else the Span from its first token's start to its last token's end."""
    if first_line == 0:
        return EMPTY_META
    if spanless:
        return None
    meta = _new_object(Span)
    _set_path(meta, path)
    _set_line(meta, line_number[first_line])
    _set_column(meta, first_column)
    _set_end_line(meta, line_number[last_line])
    _set_end_column(meta, last_column)
    return meta


cdef class TypedLoop:
    """The tables of a FastParser coded as integers, and the loop over them."""

    cdef int *table  # [state * symbols + symbol] → a shift/goto (>= 0), a reduction (~rule), or NO_ACTION
    cdef int symbols
    cdef int *kind_of_group  # the scanner's group number → terminal number (-1: no terminal)
    cdef char *ignored  # terminal number → the parser never sees it
    cdef char *kept  # terminal number → some rule keeps its token as a child
    cdef int *operation  # rule → how its reduction changes the stack (fastparse's _PASS … _MANY)
    cdef int *size  # rule → number of symbols
    cdef int *goto  # rule → its name's symbol number
    cdef list plans  # rule → (name, keep, splice, inline), as in FastParser.plans
    cdef list names  # symbol number → name (a token's `type`)
    cdef dict keyword_of  # a keyword's text → its terminal's number
    cdef int name_symbol, end_symbol, start_state, end_state
    cdef object scanner

    def __cinit__(self, parser):
        symbols = set(parser.keyword_of.values()) | {"$END"}
        for row in parser.table:
            symbols.update(row)
        symbols.update(kind for kind in parser.kinds if kind is not None)
        self.names = sorted(symbols)
        number = {name: index for index, name in enumerate(self.names)}
        self.symbols = len(self.names)
        self.table = <int *>malloc(len(parser.table) * self.symbols * sizeof(int))
        self.kind_of_group = <int *>malloc(len(parser.kinds) * sizeof(int))
        self.ignored = <char *>malloc(self.symbols)
        self.kept = <char *>malloc(self.symbols)
        self.operation = <int *>malloc(len(parser.plans) * sizeof(int))
        self.size = <int *>malloc(len(parser.plans) * sizeof(int))
        self.goto = <int *>malloc(len(parser.plans) * sizeof(int))
        if not (self.table and self.kind_of_group and self.ignored and self.kept and self.operation
                and self.size and self.goto):
            raise MemoryError
        cdef Py_ssize_t index
        for index in range(len(parser.table) * self.symbols):
            self.table[index] = NO_ACTION
        for state, row in enumerate(parser.table):
            for symbol, action in row.items():
                self.table[state * self.symbols + number[symbol]] = action
        for index, kind in enumerate(parser.kinds):
            self.kind_of_group[index] = -1 if kind is None else number[kind]
        for index, name in enumerate(self.names):
            self.ignored[index] = name in parser.ignore
            self.kept[index] = name in parser.kept
        self.plans = []
        for index, (operation, name, size, keep, splice, inline, goto) in enumerate(parser.plans):
            self.operation[index] = operation
            self.size[index] = size
            self.goto[index] = number[goto]
            self.plans.append((name, keep, splice, inline))
        self.keyword_of = {text: number[keyword] for text, keyword in parser.keyword_of.items()}
        self.name_symbol = number["NAME"]
        self.end_symbol = number["$END"]
        self.start_state = parser.start_state
        self.end_state = parser.end_state
        self.scanner = parser.scanner

    def __dealloc__(self):
        free(self.table)
        free(self.kind_of_group)
        free(self.ignored)
        free(self.kept)
        free(self.operation)
        free(self.size)
        free(self.goto)

    def parse(self, str text, lowering, int max_depth, str path, spanless, Py_ssize_t capacity=256):
        """`FastParser.parse(text, lowering, max_depth, path, spanless)`: the lowered value of
        the whole text, or NotClean / TooDeep where that raises them. `capacity`: the stack's
        first size (it grows as needed)."""
        cdef int *table = self.table
        cdef int symbols = self.symbols
        capacity = max(capacity, 1)
        cdef Entry *stack = <Entry *>malloc(capacity * sizeof(Entry))
        if stack == NULL:
            raise MemoryError
        cdef Py_ssize_t top = 0  # the stack's top entry
        cdef int state = self.start_state
        cdef int kind, action, rule, operation, size, depth, group, keyword_symbol
        cdef Py_ssize_t index, line = 1, line_start = 0, start, end, column, start_line, end_column
        cdef Py_ssize_t first_line, first_column, last_line, last_column
        cdef bint at_end = False
        cdef list values = []  # the stack's values (None for a token no rule keeps)
        cdef list plans = self.plans
        cdef dict keyword_of = self.keyword_of
        # rule → its handler (looked up in `lowering` at the rule's first reduction)
        cdef list handler_of = [None] * len(plans)
        # rule → whether its handler gets no span (`spanless`)
        cdef list spanless_rule = [plan[0] in spanless for plan in plans]
        # line number → one int object for it, shared by every token and span on that line (as
        # the Python loop shares them; a fresh object per span would add 10 % to the memory of
        # a large policy's IR)
        cdef list line_number = [0, 1]
        make_token = str.__new__
        memset(stack, 0, sizeof(Entry))
        stack[0].state = state
        try:
            for match in chain(self.scanner.finditer(text), (None,)):
                if match is None:
                    kind = self.end_symbol
                    token = None
                    start_line = column = end_column = 0  # ($END is never shifted)
                    at_end = True
                else:
                    group = match.lastindex
                    kind = self.kind_of_group[group]
                    if kind < 0:
                        raise NotClean  # a character no terminal matches
                    start, end = match.span(group)
                    value = match.group(group)
                    column = start - line_start + 1
                    start_line = line
                    if "\n" in value:
                        line += value.count("\n")
                        line_start = start + value.rindex("\n") + 1
                        line_number.extend(range(len(line_number), line + 1))
                    if self.ignored[kind]:
                        continue
                    end_column = end - line_start + 1
                    if kind == self.name_symbol:
                        keyword = keyword_of.get(value)
                        if keyword is not None:  # read as the keyword where the state expects it
                            keyword_symbol = keyword
                            if (table[state * symbols + keyword_symbol] != NO_ACTION
                                    or table[state * symbols + kind] == NO_ACTION):
                                kind = keyword_symbol
                    if self.kept[kind]:
                        token = make_token(Token, value)
                        token.value = value
                        token.start_pos = start
                        token.line = line_number[start_line]
                        token.column = column
                        token.end_line = line_number[line]
                        token.end_column = end_column
                        token.end_pos = end
                        token.type = self.names[kind]
                    else:
                        token = None
                while True:
                    action = table[state * symbols + kind]
                    if action == NO_ACTION:
                        raise NotClean
                    if action >= 0:  # shift, to that state
                        state = action
                        top += 1
                        stack = push(stack, top, &capacity, state, 0, start_line, column, line, end_column)
                        values.append(token)
                        break
                    rule = ~action
                    operation = self.operation[rule]
                    if operation < _MANY:
                        # one symbol: the top entry is replaced in place (see FastParser.parse)
                        if operation == _WRAP:
                            values[-1] = [values[-1]]
                        elif operation == _ONE:
                            name, keep, splice, inline = <tuple>plans[rule]
                            child = values[-1]
                            if keep is None:
                                children = [child]
                            elif keep:
                                children = child if keep[0][1] else [child]
                            else:
                                children = []
                            if splice:
                                values[-1] = children
                            elif inline and len(children) == 1:
                                value = values[-1] = children[0]
                                if value.__class__ is Token:  # Lark keeps an inlined token's own positions
                                    stack[top].first_line = value.line
                                    stack[top].first_column = value.column
                                    stack[top].last_line = value.end_line
                                    stack[top].last_column = value.end_column
                            else:
                                depth = stack[top].depth + 1
                                if depth > max_depth:
                                    raise TooDeep
                                stack[top].depth = depth
                                meta = rule_meta(stack[top].first_line, stack[top].first_column,
                                                 stack[top].last_line, stack[top].last_column,
                                                 spanless_rule[rule], path, line_number)
                                handler = handler_of[rule]
                                if handler is None:
                                    handler = handler_of[rule] = lowering[name]
                                values[-1] = handler(meta, children)
                        state = stack[top].state = table[stack[top - 1].state * symbols + self.goto[rule]]
                        if at_end and state == self.end_state:
                            return values[-1]
                        continue
                    name, keep, splice, inline = <tuple>plans[rule]
                    size = self.size[rule]
                    first_line = last_line = 0
                    first_column = last_column = 0
                    depth = 0
                    if size:
                        children = values[-size:]
                        del values[-size:]
                        for index in range(top - size + 1, top + 1):
                            if stack[index].first_line != 0:
                                first_line = stack[index].first_line
                                first_column = stack[index].first_column
                                break
                        for index in range(top, top - size, -1):
                            if stack[index].first_line != 0:
                                last_line = stack[index].last_line
                                last_column = stack[index].last_column
                                break
                        for index in range(top - size + 1, top + 1):
                            if stack[index].depth > depth:
                                depth = stack[index].depth
                        top -= size
                    else:
                        children = []
                    if keep is not None:
                        kept = []
                        for index, expand in keep:
                            if not expand:
                                kept.append(children[index])
                            elif kept:
                                kept += children[index]
                            else:  # a left-recursive repetition: grow its list in place, not copy it
                                kept = children[index]
                        children = kept
                    if splice:
                        value = children
                    elif inline and len(children) == 1:
                        value = children[0]
                        if value.__class__ is Token:
                            first_line = value.line
                            first_column = value.column
                            last_line = value.end_line
                            last_column = value.end_column
                    else:
                        depth += 1
                        if depth > max_depth:
                            raise TooDeep
                        meta = rule_meta(first_line, first_column, last_line, last_column, spanless_rule[rule],
                                         path, line_number)
                        handler = handler_of[rule]
                        if handler is None:
                            handler = handler_of[rule] = lowering[name]
                        value = handler(meta, children)
                    state = table[stack[top].state * symbols + self.goto[rule]]
                    top += 1
                    stack = push(stack, top, &capacity, state, depth, first_line, first_column, last_line, last_column)
                    values.append(value)
                    if at_end and state == self.end_state:
                        return value
            raise NotClean  # the loop returns at $END or raises
        finally:
            free(stack)
