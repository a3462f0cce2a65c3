"""The stage diagram: Mermaid source for Markdown, a laid-out graph for the SVG of HTML/PDF.

The SVG layout is our own (GitHub renders the Mermaid; Typst cannot run Mermaid), a small
deterministic Sugiyama layout:

1. cycles are broken by a depth-first search from the entry stages in source order: an edge
   back to a stage on the search path (nurture → MQL) is drawn upwards;
2. ranks are longest paths from the top; an edge spanning several ranks gets one dummy point
   per rank it crosses, so it is routed between the stages, never through one;
3. the order inside each rank is improved by barycentre sweeps, ties kept in source order;
4. rows are centred; edges are smooth curves through their dummy points.

A policy of more than WHOLE_LIMIT stages is drawn in *parts* (a diagram of hundreds of stages
is unreadable, and its layout grows with stages × ranks): the stages that are not final are cut,
in the order the policy lists them, into runs of at most PART_LIMIT stages, at the places the
fewest transitions cross; each part shows its own stages, the final stages they lead to, and
the stages of other parts they are connected with (dotted, named with their part; more than
REFERENCE_LIMIT of those are summed up in one box). Every part is bounded, so the whole
diagram takes time and memory linear in the policy.

Same policy, same picture, byte for byte: no randomness, coordinates rounded to 0.1 px.
Recycle transitions (into a `recycle` stage) are dashed.
"""

from __future__ import annotations

import heapq
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING

from .. import ir
from .escape import mermaid, visible

if TYPE_CHECKING:
    from .catalogue import Catalogue

FONT_SIZE = 12.0
LINE_HEIGHT = 15.0
NODE_WIDTH = 150.0
NODE_PADDING = 9.0
DUMMY_WIDTH = 14.0
H_GAP = 26.0
V_GAP = 44.0
MARGIN = 12.0
PORT_SPACING = 12.0

WHOLE_LIMIT = 24  # stages in a diagram drawn whole
PART_LIMIT = 16  # stages of its own in one part of a larger diagram
REFERENCE_LIMIT = 12  # stages of other parts drawn in one part; more are summed up in one box
MAX_LABEL_LINES = 5  # a longer label is cut with "…" (the stage table shows it whole)
MERMAID_LABEL_LIMIT = 120  # characters; GitHub refuses Mermaid sources over 50,000 characters


_NO_LINE_START = set("）)」』】、。，．・！？ー")


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Estimated advance width: wide (CJK) characters one em, others 0.6 em."""
    return _units(text) * size / 5


def _char_units(ch: str) -> int:
    """A character's width in fifths of an em (wide 5, others 3): whole numbers, so sums of
    widths are exact whatever order they are added in."""
    return 5 if unicodedata.east_asian_width(ch) in "WF" else 3


def _units(text: str) -> int:
    return sum(_char_units(ch) for ch in text)


def wrap(text: str, width: float) -> list[str]:
    """Greedy line breaking at spaces, and between any two wide (CJK) characters.

    Linear in the length of the text: the line being filled is kept as characters with the
    running sum of their widths, so measuring a candidate line or finding where to cut a
    word wider than the box costs no re-measuring (which took minutes for a 4,000-character
    word)."""
    import bisect

    tokens: list[str] = []
    word: list[str] = []
    for ch in text:
        if ch == " " or unicodedata.east_asian_width(ch) in "WF":
            if word:
                tokens.append("".join(word))
                word = []
            tokens.append(ch)
        else:
            word.append(ch)
    if word:
        tokens.append("".join(word))
    limit = width * 5 / FONT_SIZE  # the box's width in units
    lines: list[str] = []
    chars: list[str] = []  # the line being filled is chars[base:]
    sums = [0]  # sums[i]: width of chars[:i] in units
    base = 0
    end = 0  # index after the line's last non-whitespace character (<= base: none)

    def append(token: str) -> None:
        nonlocal end
        for ch in token:
            chars.append(ch)
            sums.append(sums[-1] + _char_units(ch))
            if not ch.isspace():
                end = len(chars)

    for token in tokens:
        if token == " " and len(chars) == base:
            continue
        stripped = token.rstrip()
        if stripped:  # the candidate line without trailing whitespace ends inside the token
            candidate = sums[-1] - sums[base] + _units(stripped)
        else:
            candidate = sums[end] - sums[base] if end > base else 0
        # kinsoku: closing punctuation never starts a line, it may hang over the edge instead
        if candidate <= limit or end <= base or token in _NO_LINE_START:
            append(token)
        else:
            lines.append("".join(chars[base:end]))
            chars.clear()
            sums[:] = [0]
            base = end = 0
            if token != " ":
                append(token)
        # a token wider than the box: cut off the longest pieces that fit (one character at least)
        while sums[-1] - sums[base] > limit and len(chars) - base > 1 and chars[-1] not in _NO_LINE_START:
            cut = max(bisect.bisect_right(sums, sums[base] + limit, base + 1) - 1, base + 1)
            lines.append("".join(chars[base:cut]))
            base = cut
            end = max(end, base)
    if end > base:
        lines.append("".join(chars[base:end]))
    return lines or [""]


@dataclass
class Node:
    id: str  # the stage id (unique within one drawing)
    key: str  # s1, s2 …: the Mermaid id and the SVG element id (p3_s1: drawn in part 3, belongs elsewhere)
    label: str
    kind: str  # entry | terminal | recycle | stage
    elsewhere: bool = False  # belongs to another part: drawn dotted, with `note` naming the part
    note: str = ""  # a line under the label, in grey
    lines: list[str] = field(default_factory=list)  # the label's lines, then the note's
    note_lines: int = 0
    cut: bool = False  # the label was longer than MAX_LABEL_LINES lines and ends in "…"
    rank: int = 0
    x: float = 0.0
    y: float = 0.0
    width: float = NODE_WIDTH
    height: float = 0.0

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    def text_y(self, line: int) -> str:
        top = self.y + (self.height - len(self.lines) * LINE_HEIGHT) / 2
        return _f(top + (line + 0.5) * LINE_HEIGHT + FONT_SIZE * 0.35)

    def rows(self) -> list[tuple[str, str, bool]]:
        """(y, text, is the note) of each line of text in the box."""
        first_note = len(self.lines) - self.note_lines
        return [(self.text_y(i), line, i >= first_note) for i, line in enumerate(self.lines)]


@dataclass
class Edge:
    source: str
    target: str
    label: str
    recycle: bool
    clause_id: str
    back: bool = False
    path: str = ""


@dataclass
class DiagramView:
    """One drawing: the whole stage diagram, or one part of a large one."""

    nodes: list[Node]  # the stages of its own first, in source order
    edges: list[Edge]
    own: int  # how many of `nodes` are its own (the rest are drawn here for their transitions)
    part: int = 0  # 1, 2 … for the parts of a large diagram; 0 for a diagram drawn whole
    parts: int = 0
    width: float = 0.0
    height: float = 0.0
    laid_out: bool = False

    @property
    def marker(self) -> str:
        """The id prefix of the arrowheads (one HTML page holds every part's SVG)."""
        return f"arrow-p{self.part}" if self.part else "arrow"

    @property
    def first(self) -> str:
        return _shorten(self.nodes[0].label, 60) if self.own else ""

    @property
    def last(self) -> str:
        return _shorten(self.nodes[self.own - 1].label, 60) if self.own else ""

    def lay_out(self) -> DiagramView:
        if not self.laid_out:
            self.laid_out = True
            if self.nodes:
                _layout(self)
        return self

    def mermaid(self, t: Catalogue | None = None) -> str:
        """A `flowchart TD` whose every label is entity-escaped (see escape.mermaid)."""
        shapes = {"entry": ('(["', '"])'), "terminal": ('[["', '"]]'), "recycle": ('{{"', '"}}'), "stage": ('["', '"]')}
        key = {n.id: n.key for n in self.nodes}
        lines = ["flowchart TD"]
        for n in self.nodes:
            left, right = shapes[n.kind]
            label = _shorten(n.label, MERMAID_LABEL_LIMIT)
            if n.note:
                label += (t or _english())("doc.paren", text=n.note)
            lines.append(f"  {n.key}{left}{mermaid(label)}{right}")
        for e in self.edges:
            arrow = "-.->" if e.recycle else "-->"
            label = f'|"{mermaid(_shorten(e.label, MERMAID_LABEL_LIMIT))}"|' if e.label else ""
            lines.append(f"  {key[e.source]} {arrow}{label} {key[e.target]}")
        elsewhere = [n.key for n in self.nodes if n.elsewhere]
        if elsewhere:
            lines.append("  classDef elsewhere stroke-dasharray: 3 3")
            lines.append(f"  class {','.join(elsewhere)} elsewhere")
        return "\n".join(lines)


@dataclass
class StageDiagram:
    nodes: list[Node]  # every stage, in source order
    edges: list[Edge]  # every transition between them
    views: list[DiagramView] = field(default_factory=list)  # what is drawn: the whole, or its parts

    @classmethod
    def from_policy(cls, policy: ir.Policy, *, layout: bool = True,
                    text: Callable[[str], str] = visible, t: Catalogue | None = None) -> StageDiagram:
        """The diagram of `policy`; with `layout=False` the SVG layout waits for `lay_out()`
        (Markdown needs only the Mermaid source). `text` shows a label (the document's
        `Words.text`: translated, invisible marks shown); `t` words the notes of a diagram
        drawn in parts (default: English)."""
        nodes: list[Node] = []
        for stage in policy.stage_by_id.values():
            kind = "entry" if stage.is_entry else "terminal" if stage.is_terminal else "recycle" if stage.is_recycle else "stage"
            nodes.append(Node(stage.id, f"s{len(nodes) + 1}", text(stage.label), kind))
        known = {n.id for n in nodes}
        edges = [
            Edge(stage.id, move.target.name, text(move.label) if move.label else "",
                 policy.stage_by_id[move.target.name].is_recycle, move.clause_id)
            for stage in policy.stage_by_id.values()
            for move in stage.transitions
            if move.target.name in known
        ]
        diagram = cls(nodes, edges)
        if len(nodes) <= WHOLE_LIMIT:
            diagram.views = [DiagramView(nodes, edges, own=len(nodes))] if nodes else []
        else:
            diagram.views = _part_views(nodes, edges, t or _english())
        if layout:
            diagram.lay_out()
        return diagram

    part_limit = PART_LIMIT

    @property
    def parts(self) -> int:
        """How many parts the diagram is drawn in (0: drawn whole)."""
        return len(self.views) if self.views and self.views[0].part else 0

    def lay_out(self) -> StageDiagram:
        """Compute the SVG layout (coordinates, wrapped labels, edge paths) of every view once."""
        for view in self.views:
            view.lay_out()
        return self

    def mermaid(self, t: Catalogue | None = None) -> str:
        """The Mermaid source of a diagram drawn whole (see DiagramView.mermaid)."""
        return "\n\n".join(view.mermaid(t) for view in self.views) if self.views else "flowchart TD"


def _english() -> Catalogue:
    from .catalogue import Catalogue

    return Catalogue("en")


def _f(value: float) -> str:
    text = f"{value:.1f}"
    return text.removesuffix(".0")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ------------------------------------------------------------------ parts of a large diagram


def _part_views(nodes: list[Node], edges: list[Edge], t: Catalogue) -> list[DiagramView]:
    """The parts of a diagram too large to draw whole (see the module docstring)."""
    kind = {n.id: n.kind for n in nodes}
    # final stages some stage leads to are drawn in every part that leads to them, in no part of
    # their own; every other stage belongs to exactly one part
    led_to = {e.target for e in edges if e.source != e.target and kind[e.source] != "terminal"}
    own = [n for n in nodes if not (n.kind == "terminal" and n.id in led_to)]
    parts = _cut(own, edges)
    part_of = {n.id: k for k, members in enumerate(parts, 1) for n in members}
    by_id = {n.id: n for n in nodes}
    source_order = {n.id: i for i, n in enumerate(nodes)}
    touching: dict[str, list[int]] = {n.id: [] for n in nodes}
    for i, e in enumerate(edges):
        touching[e.source].append(i)
        if e.target != e.source:
            touching[e.target].append(i)
    views = []
    for k, members in enumerate(parts, 1):
        mine = {n.id for n in members}
        indices = sorted({i for n in members for i in touching[n.id]})
        # the stages of other parts drawn here: final stages first, then in the order of the
        # transitions; past REFERENCE_LIMIT the rest are summed up in a box per direction
        others: dict[str, int] = {}
        for i in indices:
            e = edges[i]
            for end in (e.source, e.target):
                if end not in mine:
                    others.setdefault(end, len(others))
        kept = set(sorted(others, key=lambda s: (kind[s] != "terminal", others[s]))[:REFERENCE_LIMIT])
        drawn: dict[str, Node] = {}
        summed: dict[str, set[str]] = {"in": set(), "out": set()}
        view_edges: list[Edge] = []
        summary_edges: set[tuple[str, str]] = set()
        for i in indices:
            e = edges[i]
            if e.source in mine and e.target in mine:
                view_edges.append(Edge(e.source, e.target, e.label, e.recycle, e.clause_id))
                continue
            outward = e.source in mine
            other = e.target if outward else e.source
            if other in kept:
                if other not in drawn:
                    stage = by_id[other]
                    home = part_of.get(other)
                    drawn[other] = Node(other, f"p{k}_{stage.key}", stage.label, stage.kind, elsewhere=home is not None,
                                        note=t("stages.diagram_in_part", part=home) if home else "")
                view_edges.append(Edge(e.source, e.target, e.label, e.recycle, e.clause_id))
                continue
            direction = "out" if outward else "in"
            summed[direction].add(other)
            box = f"#{direction}"
            pair = (e.source, box) if outward else (box, e.target)
            if pair not in summary_edges:
                summary_edges.add(pair)
                view_edges.append(Edge(*pair, "", False, ""))
        boxes = [Node(f"#{d}", f"p{k}_more_{d}", t("stages.diagram_more", n=len(summed[d])), "stage", elsewhere=True)
                 for d in ("in", "out") if summed[d]]
        view_nodes = list(members) + sorted(drawn.values(), key=lambda n: source_order[n.id]) + boxes
        views.append(DiagramView(view_nodes, view_edges, own=len(members), part=k, parts=len(parts)))
    return views


def _cut(stages: list[Node], edges: list[Edge]) -> list[list[Node]]:
    """`stages` cut into runs of at most PART_LIMIT, in order: as few transitions between runs
    as possible, then as few runs, then runs of even size. Linear: each cut is one of the
    PART_LIMIT places before the next."""
    position = {n.id: i for i, n in enumerate(stages)}
    m = len(stages)
    delta = [0] * (m + 2)
    for e in edges:
        a, b = position.get(e.source), position.get(e.target)
        if a is None or b is None or a == b:
            continue
        if a > b:
            a, b = b, a
        delta[a + 1] += 1
        delta[b + 1] -= 1
    crossing = [0] * (m + 1)  # crossing[p]: transitions between the first p stages and the rest
    running = 0
    for p in range(m + 1):
        running += delta[p]
        crossing[p] = running
    best: list[tuple[int, int, int]] = [(0, 0, 0)]  # (transitions cut, runs, sum of squared run sizes)
    start = [0]
    for i in range(1, m + 1):
        choice, where = None, 0
        for j in range(max(0, i - PART_LIMIT), i):
            cut, runs, squares = best[j]
            candidate = (cut + crossing[j], runs + 1, squares + (i - j) ** 2)
            if choice is None or candidate < choice:
                choice, where = candidate, j
        best.append(choice)  # type: ignore[arg-type]
        start.append(where)
    runs_: list[list[Node]] = []
    i = m
    while i > 0:
        runs_.append(stages[start[i]:i])
        i = start[i]
    runs_.reverse()
    return runs_


# ------------------------------------------------------------------ layout


def _label_lines(n: Node) -> None:
    """The box's lines: the label wrapped (at most MAX_LABEL_LINES, the last cut with "…"),
    then the note."""
    width = NODE_WIDTH - 2 * NODE_PADDING
    lines = wrap(n.label, width)
    if len(lines) > MAX_LABEL_LINES:
        lines = lines[:MAX_LABEL_LINES]
        room = width - text_width("…")
        used, keep = 0.0, 0
        for ch in lines[-1]:
            used += text_width(ch)
            if used > room:
                break
            keep += 1
        lines[-1] = lines[-1][:keep].rstrip() + "…"
        n.cut = True
    note = wrap(n.note, width) if n.note else []
    n.lines = lines + note
    n.note_lines = len(note)


def _back_edges(view: DiagramView) -> set[int]:
    """Edges that close a cycle in a DFS from the entry stages (then every stage), in source
    order; in a part, from the stages of other parts that lead into it first."""
    out_edges: dict[str, list[tuple[int, str]]] = {n.id: [] for n in view.nodes}
    into: set[str] = set()
    for i, e in enumerate(view.edges):
        out_edges[e.source].append((i, e.target))
    own = {n.id for n in view.nodes[:view.own]}
    for e in view.edges:
        if e.source not in own and e.target in own:
            into.add(e.source)
    roots = ([n.id for n in view.nodes if n.id in into] + [n.id for n in view.nodes if n.kind == "entry"]
             + [n.id for n in view.nodes])
    state: dict[str, int] = {}  # 1 on the search path, 2 finished
    back: set[int] = set()
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out_edges[root]))]
        while stack:
            node, pending = stack[-1]
            for index, target in pending:
                seen = state.get(target)
                if seen == 1:
                    back.add(index)
                elif seen is None:
                    state[target] = 1
                    stack.append((target, iter(out_edges[target])))
                    break
            else:
                state[node] = 2
                stack.pop()
    return back


def _layout(d: DiagramView) -> None:
    nodes = {n.id: n for n in d.nodes}
    order = {n.id: i for i, n in enumerate(d.nodes)}
    back = _back_edges(d)
    for i in back:
        d.edges[i].back = True

    # ranks: longest path over the edges, back edges reversed, self-loops ignored
    upper_lower: list[tuple[str, str] | None] = []
    successors: dict[str, list[str]] = {n.id: [] for n in d.nodes}
    indegree = {n.id: 0 for n in d.nodes}
    for i, e in enumerate(d.edges):
        if e.source == e.target:
            upper_lower.append(None)
            continue
        pair = (e.target, e.source) if i in back else (e.source, e.target)
        upper_lower.append(pair)
        successors[pair[0]].append(pair[1])
        indegree[pair[1]] += 1
    ready = [(order[n], n) for n, deg in indegree.items() if deg == 0]
    heapq.heapify(ready)
    while ready:
        _, node = heapq.heappop(ready)
        for nxt in successors[node]:
            nodes[nxt].rank = max(nodes[nxt].rank, nodes[node].rank + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, (order[nxt], nxt))

    # layers with dummy points; a layer item is a stage id or (edge index, rank)
    top = max(n.rank for n in d.nodes)
    layers: list[list[object]] = [[] for _ in range(top + 1)]
    for n in d.nodes:
        layers[n.rank].append(n.id)
    chains: dict[int, list[object]] = {}
    ups: dict[object, list[object]] = {}
    downs: dict[object, list[object]] = {}
    for i, pair in enumerate(upper_lower):
        if pair is None:
            continue
        upper, lower = pair
        chain: list[object] = [upper]
        for r in range(nodes[upper].rank + 1, nodes[lower].rank):
            dummy = (i, r)
            layers[r].append(dummy)
            chain.append(dummy)
        chain.append(lower)
        chains[i] = chain
        for a, b in pairwise(chain):
            downs.setdefault(a, []).append(b)
            ups.setdefault(b, []).append(a)
    position: dict[object, float] = {}
    for layer in layers:
        for p, item in enumerate(layer):
            position[item] = p

    def sweep(layer_indices: range, neighbours: dict[object, list[object]]) -> None:
        for r in layer_indices:
            layer = layers[r]
            keys = {}
            for item in layer:
                near = neighbours.get(item)
                keys[item] = (sum(position[x] for x in near) / len(near)) if near else position[item]
            layer.sort(key=lambda item: (keys[item], position[item]))
            for p, item in enumerate(layer):
                position[item] = p

    for _ in range(4):
        sweep(range(1, top + 1), ups)
        sweep(range(top - 1, -1, -1), downs)

    # sizes and coordinates
    for n in d.nodes:
        _label_lines(n)
        n.height = max(len(n.lines) * LINE_HEIGHT + 2 * NODE_PADDING, 36.0)

    def width_of(item: object) -> float:
        return nodes[item].width if isinstance(item, str) else DUMMY_WIDTH

    row_heights = [max([nodes[i].height for i in layer if isinstance(i, str)] or [DUMMY_WIDTH]) for layer in layers]
    row_widths = [sum(width_of(i) for i in layer) + H_GAP * max(len(layer) - 1, 0) for layer in layers]
    has_loops = any(e.source == e.target for e in d.edges)
    total_width = max(row_widths) + 2 * MARGIN + (36.0 if has_loops else 0.0)
    centre: dict[object, tuple[float, float, float]] = {}  # item → (centre x, top y, bottom y)
    y = MARGIN
    for r, layer in enumerate(layers):
        x = MARGIN + (max(row_widths) - row_widths[r]) / 2
        for item in layer:
            w = width_of(item)
            if isinstance(item, str):
                n = nodes[item]
                n.x, n.y = x, y + (row_heights[r] - n.height) / 2
                centre[item] = (n.cx, n.y, n.y + n.height)
            else:
                centre[item] = (x + w / 2, y, y + row_heights[r])
            x += w + H_GAP
        y += row_heights[r] + V_GAP
    d.width = total_width
    d.height = y - V_GAP + MARGIN

    # ports: spread the ends of several edges along the bottom (top) side of a stage, ordered
    # by where the edge goes, so that they do not cross next to the stage
    bottom_ports: dict[str, list[int]] = {}
    top_ports: dict[str, list[int]] = {}
    for i, chain in chains.items():
        bottom_ports.setdefault(chain[0], []).append(i)  # type: ignore[arg-type]
        top_ports.setdefault(chain[-1], []).append(i)  # type: ignore[arg-type]
    port_offset: dict[tuple[str, int, int], float] = {}  # (stage, edge, side) → x
    for side, ports, toward in ((1, bottom_ports, 1), (0, top_ports, -2)):
        for item, ends in ports.items():
            ends = sorted(ends, key=lambda i: (centre[chains[i][toward]][0], i))
            k = len(ends)
            spacing = min(PORT_SPACING, (nodes[item].width * 0.7) / max(k, 1))
            for slot, edge in enumerate(ends):
                port_offset[(item, edge, side)] = nodes[item].cx + (slot - (k - 1) / 2) * spacing

    for i, e in enumerate(d.edges):
        if e.source == e.target:
            n = nodes[e.source]
            right, cy = n.x + n.width, n.y + n.height / 2
            e.path = (f"M{_f(right)},{_f(cy - 7)} C{_f(right + 30)},{_f(cy - 24)} "
                      f"{_f(right + 30)},{_f(cy + 24)} {_f(right + 2)},{_f(cy + 7)}")
            continue
        chain = chains[i]
        points: list[tuple[float, float]] = []
        upper, lower = chain[0], chain[-1]
        points.append((port_offset[(upper, i, 1)], centre[upper][2]))  # type: ignore[index]
        for dummy in chain[1:-1]:
            cx, ty, by = centre[dummy]
            points.append((cx, ty))
            points.append((cx, by))
        points.append((port_offset[(lower, i, 0)], centre[lower][1]))  # type: ignore[index]
        if e.back:
            points.reverse()
        e.path = _curve(points)


def _curve(points: list[tuple[float, float]]) -> str:
    """Vertical cubic curves between successive points; straight lines inside a dummy's row."""
    (x0, y0) = points[0]
    parts = [f"M{_f(x0)},{_f(y0)}"]
    for k in range(1, len(points)):
        (xa, ya), (xb, yb) = points[k - 1], points[k]
        if xa == xb and k % 2 == 0 and len(points) > 2:  # through a dummy point
            parts.append(f"L{_f(xb)},{_f(yb)}")
            continue
        mid = (yb - ya) / 2
        parts.append(f"C{_f(xa)},{_f(ya + mid)} {_f(xb)},{_f(yb - mid)} {_f(xb)},{_f(yb)}")
    return " ".join(parts)
