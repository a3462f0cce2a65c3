"""The stage diagram: Mermaid source for Markdown, a laid-out graph for the SVG of HTML/PDF.

The SVG layout is our own (GitHub renders the Mermaid; Typst cannot run Mermaid), a small
deterministic Sugiyama layout:

1. cycles are broken by a depth-first search from the entry stages in source order: an edge
   back to a stage on the search path (nurture → MQL) is drawn upwards;
2. ranks are longest paths from the top; an edge spanning several ranks gets one dummy point
   per rank it crosses, so it is routed between the stages, never through one;
3. the order inside each rank is improved by barycentre sweeps, ties kept in source order;
4. rows are centred; edges are smooth curves through their dummy points.

Same policy, same picture, byte for byte: no randomness, coordinates rounded to 0.1 px.
Recycle transitions (into a `recycle` stage) are dashed.
"""

from __future__ import annotations

import heapq
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import ir
from .escape import mermaid, visible

FONT_SIZE = 12.0
LINE_HEIGHT = 15.0
NODE_WIDTH = 150.0
NODE_PADDING = 9.0
DUMMY_WIDTH = 14.0
H_GAP = 26.0
V_GAP = 44.0
MARGIN = 12.0
PORT_SPACING = 12.0


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
    id: str
    key: str  # s1, s2 …: the Mermaid id and the SVG element id
    label: str
    kind: str  # entry | terminal | recycle | stage
    lines: list[str] = field(default_factory=list)
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
class StageDiagram:
    nodes: list[Node]
    edges: list[Edge]
    width: float = 0.0
    height: float = 0.0
    laid_out: bool = False

    @classmethod
    def from_policy(cls, policy: ir.Policy, *, layout: bool = True,
                    text: Callable[[str], str] = visible) -> StageDiagram:
        """The diagram of `policy`; with `layout=False` the SVG layout waits for `lay_out()`
        (Markdown needs only the Mermaid source, and the layout grows with stages × ranks).
        `text` shows a label (the document's `Words.text`: translated, invisible marks shown)."""
        nodes: list[Node] = []
        for stage in policy.stage_by_id.values():
            kind = "entry" if stage.is_entry else "terminal" if stage.is_terminal else "recycle" if stage.is_recycle else "stage"
            nodes.append(Node(stage.id, f"s{len(nodes) + 1}", text(stage.label), kind))
        known = {n.id for n in nodes}
        edges = [
            Edge(stage.id, t.target.name, text(t.label) if t.label else "",
                 policy.stage_by_id[t.target.name].is_recycle, t.clause_id)
            for stage in policy.stage_by_id.values()
            for t in stage.transitions
            if t.target.name in known
        ]
        diagram = cls(nodes, edges)
        if layout:
            diagram.lay_out()
        return diagram

    def lay_out(self) -> StageDiagram:
        """Compute the SVG layout (coordinates, wrapped labels, edge paths) once."""
        if not self.laid_out:
            self.laid_out = True
            if self.nodes:
                _layout(self)
        return self

    # ------------------------------------------------------------------ Mermaid
    def mermaid(self) -> str:
        """A `flowchart TD` whose every label is entity-escaped (see escape.mermaid)."""
        shapes = {"entry": ('(["', '"])'), "terminal": ('[["', '"]]'), "recycle": ('{{"', '"}}'), "stage": ('["', '"]')}
        key = {n.id: n.key for n in self.nodes}
        lines = ["flowchart TD"]
        for n in self.nodes:
            left, right = shapes[n.kind]
            lines.append(f"  {n.key}{left}{mermaid(n.label)}{right}")
        for e in self.edges:
            arrow = "-.->" if e.recycle else "-->"
            label = f'|"{mermaid(e.label)}"|' if e.label else ""
            lines.append(f"  {key[e.source]} {arrow}{label} {key[e.target]}")
        return "\n".join(lines)


def _f(value: float) -> str:
    text = f"{value:.1f}"
    return text.removesuffix(".0")


# ------------------------------------------------------------------ layout


def _back_edges(diagram: StageDiagram) -> set[int]:
    """Edges that close a cycle in a DFS from the entry stages (then every stage), in source order."""
    out_edges: dict[str, list[tuple[int, str]]] = {n.id: [] for n in diagram.nodes}
    for i, e in enumerate(diagram.edges):
        out_edges[e.source].append((i, e.target))
    roots = [n.id for n in diagram.nodes if n.kind == "entry"] + [n.id for n in diagram.nodes]
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


def _layout(d: StageDiagram) -> None:
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

    # layers with dummy points; a layer item is a stage id or ("edge index", rank)
    top = max(n.rank for n in d.nodes)
    layers: list[list[object]] = [[] for _ in range(top + 1)]
    for n in d.nodes:
        layers[n.rank].append(n.id)
    chains: dict[int, list[object]] = {}
    links: list[tuple[object, object]] = []  # between consecutive ranks, upper first
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
        links.extend(zip(chain, chain[1:]))

    def rank_of(item: object) -> int:
        return nodes[item].rank if isinstance(item, str) else item[1]  # type: ignore[index]

    ups: dict[object, list[object]] = {}
    downs: dict[object, list[object]] = {}
    for a, b in links:
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
                near = neighbours.get(item, [])
                keys[item] = (sum(position[x] for x in near) / len(near)) if near else position[item]
            layer.sort(key=lambda item: (keys[item], position[item]))
            for p, item in enumerate(layer):
                position[item] = p

    for _ in range(4):
        sweep(range(1, top + 1), ups)
        sweep(range(top - 1, -1, -1), downs)

    # sizes and coordinates
    for n in d.nodes:
        n.lines = wrap(n.label, NODE_WIDTH - 2 * NODE_PADDING)
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

    # ports: spread the ends of several edges along the bottom (top) side of a stage
    bottom_ports: dict[str, list[int]] = {}
    top_ports: dict[str, list[int]] = {}
    for i, chain in chains.items():
        bottom_ports.setdefault(chain[0], []).append(i)  # type: ignore[arg-type]
        top_ports.setdefault(chain[-1], []).append(i)  # type: ignore[arg-type]

    def port_x(item: str, ports: dict[str, list[int]], edge: int, toward: int) -> float:
        ends = sorted(ports[item], key=lambda i: (centre[chains[i][toward]][0], i))
        k = len(ends)
        spacing = min(PORT_SPACING, (nodes[item].width * 0.7) / max(k, 1))
        return nodes[item].cx + (ends.index(edge) - (k - 1) / 2) * spacing

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
        points.append((port_x(upper, bottom_ports, i, 1), centre[upper][2]))  # type: ignore[arg-type]
        for dummy in chain[1:-1]:
            cx, ty, by = centre[dummy]
            points.append((cx, ty))
            points.append((cx, by))
        points.append((port_x(lower, top_ports, i, -2), centre[lower][1]))  # type: ignore[arg-type]
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
