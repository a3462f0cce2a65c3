"""The stage diagram of a large policy: drawn in bounded parts, every stage and transition on
some part, references named with the right part, the drawing geometrically sound (checked on
the SVG itself, independently of the layout code), and the work linear in the policy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from functools import cache

import pytest

from sla_lang.agreement.content import prepare_document
from sla_lang.agreement.diagram import (
    MAX_LABEL_LINES,
    MERMAID_LABEL_LIMIT,
    NODE_PADDING,
    NODE_WIDTH,
    PART_LIMIT,
    REFERENCE_LIMIT,
    WHOLE_LIMIT,
    StageDiagram,
    text_width,
)
from sla_lang.agreement.render import render_html
from sla_lang.compile import compile_text
from sla_lang.config import Config
from sla_lang.targets import BuildOptions
from sla_lang.targets import agreement as target

from .conftest import POLICIES, REPO

SVG = "{http://www.w3.org/2000/svg}"
HEADER = ('agreement "S" {\n  version "1"\n  effective 2026-01-01\n  owner ops\n}\nteam ops "Ops" {\n}\n'
          'property n "N" number\n')


@cache
def generated(stages: int):
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from generate import generate_policy
    finally:
        sys.path.remove(str(REPO / "bench"))
    result = compile_text(generate_policy(stages), f"generated_{stages}.sla", config=Config(max_file_size=1 << 30))
    assert result.ok, result.errors[:3]
    return result.policy


def hub_policy(chain: int) -> str:
    """`desk`, listed first, is where every stage of a chain of `chain` stages goes after 30 days."""
    parts = [HEADER, 'stage desk "Desk" {\n  owner ops\n  -> done when n >= 100\n  -> lost after 10d\n}\n']
    for i in range(chain):
        entry = "  entry\n" if i == 0 else ""
        following = f"s{i + 1}" if i + 1 < chain else "done"
        parts.append(f'stage s{i} "Step {i}" {{\n  owner ops\n{entry}  -> {following} when n >= {i + 1}\n'
                     '  -> desk after 30d\n}\n')
    parts.append('stage done "Done" {\n  owner ops\n  terminal\n}\nstage lost "Lost" {\n  owner ops\n  terminal\n}\n')
    return "".join(parts)


def own_ids(view) -> list[str]:
    return [n.id for n in view.nodes[:view.own]]


def test_the_example_policies_are_drawn_whole():
    for path in POLICIES:
        policy = compile_text(path.read_text(encoding="utf-8"), path.name).policy
        d = StageDiagram.from_policy(policy)
        assert len(d.nodes) <= WHOLE_LIMIT and d.parts == 0
        (view,) = d.views
        assert view.part == 0 and view.nodes is d.nodes and view.edges is d.edges
        assert view.marker == "arrow" and not any(n.elsewhere or n.note for n in d.nodes)


def test_a_generated_chain_is_cut_between_its_funnels():
    # bench/generate.py: 16 funnels of 6 stages (lead_k … nurture_k), one lead source, then the
    # three final stages. Cutting between two funnels crosses one transition (opportunity_k →
    # lead_k+1), cutting inside one at least three: the parts are two whole funnels each, the
    # source (listed after the funnels) joins the last.
    d = StageDiagram.from_policy(generated(100), layout=False)
    funnel = ["lead_{}", "mql_{}", "sal_{}", "sql_{}", "opportunity_{}", "nurture_{}"]
    expected = [[s.format(k) for k in (2 * p, 2 * p + 1) for s in funnel] for p in range(8)]
    expected[-1].append("source_0")
    assert [own_ids(v) for v in d.views] == expected
    assert d.parts == 8 and [(v.part, v.parts) for v in d.views] == [(p, 8) for p in range(1, 9)]
    assert (d.views[1].first, d.views[1].last) == ("Lead 2", "Nurture 3")


def test_every_stage_and_transition_is_drawn_and_references_name_their_part():
    policy = generated(100)
    d = StageDiagram.from_policy(policy, layout=False)
    home = {sid: v.part for v in d.views for sid in own_ids(v)}
    finals = {s.id for s in policy.stages if s.is_terminal}
    assert set(home) | finals == {s.id for s in policy.stages}
    assert len(home) == sum(len(own_ids(v)) for v in d.views)  # no stage in two parts
    for view in d.views:
        assert len(own_ids(view)) <= PART_LIMIT
        drawn = {n.id: n for n in view.nodes}
        for n in view.nodes[view.own:]:
            if n.id in finals:
                assert not n.elsewhere and n.note == ""
            else:
                assert n.elsewhere and n.note == f"part {home[n.id]}" and home[n.id] != view.part
        assert len(drawn) == len(view.nodes)
    # each transition is drawn in the part of the stage it leaves and in the part of the one it enters
    for stage in policy.stages:
        for t in stage.transitions:
            for sid in (stage.id, t.target.name):
                if sid in home:
                    view = d.views[home[sid] - 1]
                    assert (stage.id, t.target.name, t.clause_id) in {
                        (e.source, e.target, e.clause_id) for e in view.edges}, (t.clause_id, view.part)


def test_stages_of_other_parts_past_the_limit_are_summed_up_in_one_box():
    policy = compile_text(hub_policy(60), "hub.sla").policy
    d = StageDiagram.from_policy(policy)
    assert d.parts == 4
    desk_view = next(v for v in d.views if "desk" in own_ids(v))
    mine = set(own_ids(desk_view))
    leading_in = {s.id for s in policy.stages if s.id not in mine
                  and any(t.target.name in mine for t in s.transitions)}
    assert len(leading_in) > REFERENCE_LIMIT
    drawn = [n for n in desk_view.nodes[desk_view.own:] if not n.id.startswith("#")]
    (box,) = [n for n in desk_view.nodes if n.id == "#in"]
    assert len(drawn) == REFERENCE_LIMIT
    # the final stages are kept first, then the others in the order of the transitions
    order = [s.id for s in policy.stages]
    assert [n.id for n in drawn] == sorted(["done", "lost", *sorted(leading_in, key=order.index)[:REFERENCE_LIMIT - 2]],
                                           key=order.index)
    assert box.label == f"{len(leading_in) - (REFERENCE_LIMIT - 2)} stages of other parts"
    assert box.elsewhere and len([e for e in desk_view.edges if e.source == "#in"]) == 1
    for view in d.views:
        assert len(view.nodes) <= PART_LIMIT + REFERENCE_LIMIT + 2


def test_a_long_label_is_cut_in_the_box_and_shown_whole_in_its_tooltip():
    label = " ".join(["qualification"] * 300)
    text = HEADER + (f'stage lead "{label}" {{\n  owner ops\n  entry\n  -> done when n >= 1\n}}\n'
                     'stage done "Done" {\n  owner ops\n  terminal\n}\n')
    policy = compile_text(text, "long.sla").policy
    d = StageDiagram.from_policy(policy)
    node = d.nodes[0]
    assert node.cut and len(node.lines) == MAX_LABEL_LINES and node.lines[-1].endswith("…")
    assert all(text_width(line) <= NODE_WIDTH - 2 * NODE_PADDING for line in node.lines)
    html = build_html(policy)
    assert f"<title>{label}</title>" in html
    md = target.build(policy, BuildOptions(formats=("md",))).files["agreement.md"].decode()
    first = re.search(r'  s1\(\["([^"]*)"\]\)', md).group(1)
    assert len(first) == MERMAID_LABEL_LIMIT and first.endswith("…")


def build_html(policy) -> str:
    return render_html(prepare_document(policy, "en"))


def _points(path: str) -> list[tuple[float, float]]:
    numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", path)]
    return list(zip(numbers[::2], numbers[1::2]))


@pytest.mark.parametrize("policy_text", ["generated", "hub"])
def test_each_part_is_a_sound_drawing(policy_text):
    """Read back from the SVG: boxes inside the picture and apart, every transition's curve
    leaving the bottom of the box of the stage it leaves (or, drawn upwards, its top) and ending
    on the box of the stage it enters."""
    policy = generated(100) if policy_text == "generated" else compile_text(hub_policy(60), "hub.sla").policy
    html = build_html(policy)
    svgs = re.findall(r"<svg .*?</svg>", html, re.DOTALL)
    d = StageDiagram.from_policy(policy, layout=False)
    assert len(svgs) == d.parts
    key_of = {n.id: n.key for n in d.nodes}
    moves = {t.clause_id: (s.id, t.target.name) for s in policy.stages for t in s.transitions}
    for k, svg in enumerate(svgs, 1):
        root = ET.fromstring(svg)
        width, height = float(root.get("width")), float(root.get("height"))
        boxes = {}
        for g in root.iter(f"{SVG}g"):
            rect = g.find(f"{SVG}rect")
            x, y, w, h = (float(rect.get(a)) for a in ("x", "y", "width", "height"))
            assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
            boxes[g.get("id")] = (x, y, x + w, y + h)
        keys = list(boxes)
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                p, q = boxes[a], boxes[b]
                assert p[2] <= q[0] or q[2] <= p[0] or p[3] <= q[1] or q[3] <= p[1], (k, a, b)

        def box(stage: str, boxes=boxes, k=k):
            return boxes.get(key_of[stage]) or boxes[f"p{k}_{key_of[stage]}"]

        def on_side(point, b, sides) -> bool:
            x, y = point
            return b[0] <= x <= b[2] and any(abs(y - b[side]) < 0.11 for side in sides)

        drawn = 0
        for path in root.iter(f"{SVG}path"):
            title = path.find(f"{SVG}title")
            if title is None or path.get("class", "").startswith("edge") is False:
                continue
            source, target_stage = moves[title.text]
            points = _points(path.get("d"))
            if source == target_stage:
                continue
            start, end = points[0], points[-1]
            assert on_side(start, box(source), (1, 3)), (k, title.text)
            assert on_side(end, box(target_stage), (1, 3)), (k, title.text)
            drawn += 1
        assert drawn > 0


def test_the_layout_grows_linearly_with_the_policy():
    """The work of the layout is its points (stages, and one point per rank an edge crosses):
    counted in the output, 100 → 1,000 stages, it grows tenfold (98-fold when the
    whole graph was laid out at once), and no drawing is larger than a part."""
    def points(policy) -> tuple[int, int]:
        d = StageDiagram.from_policy(policy)
        return (sum(len(_points(e.path)) for v in d.views for e in v.edges),
                max(len(v.nodes) for v in d.views))

    small, large = points(generated(100)), points(generated(1000))
    assert large[0] / small[0] < 10 * 1.15, (small, large)
    assert large[1] <= PART_LIMIT + REFERENCE_LIMIT + 2


def test_parts_in_markdown_each_fit_githubs_mermaid_limits():
    md = target.build(generated(100), BuildOptions(formats=("md",))).files["agreement.md"].decode()
    blocks = re.findall(r"```mermaid\n(.*?)\n```", md, re.DOTALL)
    assert len(blocks) == 8 and md.count("*Stage diagram, part ") == 8
    assert "The stage diagram is drawn in 8 parts of at most 16 stages each" in md
    for block in blocks:
        assert len(block) < 50_000 and block.count("-->") + block.count("-.->") < 500
        ids = re.findall(r"^  (\w+)[\[\(\{]", block, re.MULTILINE)
        assert len(ids) == len(set(ids))
        assert block.endswith(" elsewhere") or "classDef" not in block


def test_parts_are_byte_identical_across_processes():
    script = ("import sys; sys.path.insert(0, 'bench'); from generate import generate_policy;"
              "from sla_lang.compile import compile_text; from sla_lang.targets import BuildOptions, load_target;"
              "p = compile_text(generate_policy(100)).policy;"
              "f = load_target('agreement').build(p, BuildOptions(formats=('md', 'html'))).files;"
              "import hashlib; print(hashlib.sha256(f['agreement.md'] + f['agreement.html']).hexdigest())")
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        digests.add(subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True,
                                   text=True, check=True).stdout)
    assert len(digests) == 1


def test_japanese_parts_are_worded_in_japanese():
    policy = generated(100)
    doc = prepare_document(policy, "ja")
    html = render_html(doc)
    assert "ステージの遷移図（その2／全8）：Lead 2〜Nurture 3。" in html
    assert "最大16ステージずつ、8枚の図に分けて示す" in html
    assert ">その1</text>" in html
