"""The fixtures target and `sla test` grow linearly with the policy.

Every scenario starts next to what it tests (in the stage one transition before it), so its
length does not depend on how deep the stage lies in the funnel. Replaying every scenario from
an entry stage made the output grow with the square of the number of stages. The checks below
compare two sizes as a ratio, never an absolute time.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache

from sla_lang.compile import compile_text
from sla_lang.simulate.scenarios import load_scenario_file
from sla_lang.targets import BuildOptions, load_target

from .conftest import REPO
from .timing import growth

SEGMENTS = (2, 8)  # bench/generate.py: a segment is lead → MQL → SAL → SQL → opportunity + nurture


@cache
def _bench():
    spec = importlib.util.spec_from_file_location("sla_bench_generate", REPO / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _policy(segments: int):
    text = _bench().generate_policy(segments * 6 + 3)  # chain: the deepest stage is 4 × segments away
    return compile_text(text, f"bench{segments}.sla", checks=False).policy


@cache
def _fixtures(segments: int):
    result = load_target("fixtures").build(_policy(segments), BuildOptions())
    return result, json.loads(result.files["scenarios.json"])


def test_output_grows_linearly_with_the_number_of_stages():
    (small, small_doc), (large, large_doc) = (_fixtures(n) for n in SEGMENTS)
    factor = SEGMENTS[1] / SEGMENTS[0]
    for result, doc in ((small, small_doc), (large, large_doc)):
        summary = json.loads(result.files["coverage.json"])["summary"]
        assert summary["transitions"]["covered"] == summary["transitions"]["total"]
        assert summary["boundaries"]["covered"] == summary["boundaries"]["total"]
        assert summary["clauses"]["covered"] == summary["clauses"]["total"]
    count = len(large_doc["scenarios"]) / len(small_doc["scenarios"])
    events = (sum(len(s["timeline"]) for s in large_doc["scenarios"])
              / sum(len(s["timeline"]) for s in small_doc["scenarios"]))
    size = len(large.files["scenarios.json"]) / len(small.files["scenarios.json"])
    coverage = len(large.files["coverage.json"]) / len(small.files["coverage.json"])
    # linear is about 4 (a fixed part makes it a little less); from an entry stage it was 10 and more
    assert count <= factor * 1.1
    assert events <= factor * 1.2
    assert size <= factor * 1.2
    assert coverage <= factor * 1.2


def test_a_scenario_is_as_long_in_the_last_segment_as_in_the_first():
    _, doc = _fixtures(SEGMENTS[1])

    def longest(segment: int) -> int:
        return max(len(s["timeline"]) for s in doc["scenarios"]
                   if s["kind"] != "loop" and s["id"].split(".")[0].endswith(f"_{segment}"))

    assert longest(SEGMENTS[1] - 1) == longest(1) <= 8  # (segment 0 starts in an entry stage)
    deepest = next(s for s in doc["scenarios"] if s["id"] == f"opportunity_{SEGMENTS[1] - 1}.to.customer")
    assert deepest["lead"]["stage"] == f"sql_{SEGMENTS[1] - 1}"  # created one transition before
    assert [x["stage"] for x in deepest["expect"]["stages"]] == [f"sql_{SEGMENTS[1] - 1}",
                                                                f"opportunity_{SEGMENTS[1] - 1}", "customer"]


def test_leads_past_the_entry_stages_carry_the_data_of_a_lead_that_got_there():
    _, doc = _fixtures(SEGMENTS[0])
    scenario = next(s for s in doc["scenarios"] if s["id"] == "sal_1.to.sql_1")
    assert scenario["lead"]["stage"] == "mql_1"
    # an MQL: it met the MQL criteria (score 50 or more and a pricing or case-study view)
    assert scenario["expect"]["scores"]["lead_score"] >= 50
    assert scenario["expect"]["stages"][0] == {**scenario["expect"]["stages"][0], "how": "created", "stage": "mql_1"}
    rows = result_rows(SEGMENTS[0])
    assert rows["sal_1.to.sql_1"]["sla_stage"] == "mql_1"  # to import into the HubSpot target's `sla_stage`
    assert rows["lead_0.to.mql_0"]["sla_stage"] == ""  # an entry stage: HubSpot's entry workflow sets it


def result_rows(segments: int) -> dict[str, dict[str, str]]:
    import csv
    import io

    result, _ = _fixtures(segments)
    return {row["sla_scenario_id"]: row for row in csv.DictReader(io.StringIO(result.files["contacts.csv"].decode()))}


def test_generation_time_grows_linearly():
    policies = [_policy(n) for n in SEGMENTS]
    target = load_target("fixtures")
    ratio, small, large = growth(lambda: target.build(policies[0], BuildOptions()),
                                 lambda: target.build(policies[1], BuildOptions()), bound=8, repeats=2)
    assert ratio < 8, (small, large)  # linear is 4; quadratic 16


def test_reading_a_large_scenario_file_stays_linear(tmp_path):
    """`sla test` finds the line of every scenario (for its messages) in one pass over the file."""

    def write(n: int):
        scenarios = [{"id": f"scenario {i}", "lead": {"id": f"L{i}", "created": "2026-04-01T10:00:00+09:00"},
                      "timeline": [{"at": "2026-04-01T10:00:00+09:00", "type": "activity_logged", "activity": "call"}],
                      "expect": {"final_stage": "lead"}} for i in range(n)]
        path = tmp_path / f"{n}.json"
        path.write_text(json.dumps({"scenarios": scenarios}, indent=2))
        return path

    small, large = write(1000), write(4000)
    loaded = load_scenario_file(large)
    lines = large.read_text().splitlines()
    assert all(f'"id": "{sid}"' in lines[line - 1] for sid, line in loaded.lines.items())
    assert len(loaded.lines) == 4000
    ratio, fast_small, fast_large = growth(lambda: load_scenario_file(small), lambda: load_scenario_file(large), bound=8)
    assert ratio < 8, (fast_small, fast_large)  # linear is 4; searching the whole file per scenario made it 16


def test_scenarios_json_is_written_in_pieces_with_the_same_bytes(monkeypatch):
    import tracemalloc

    from sla_lang.irjson import dumps
    from sla_lang.targets.fixtures import Fixtures, ScenarioTexts, generate_fixtures

    from .conftest import POLICIES

    generated = [generate_fixtures(_policy(SEGMENTS[1]))]
    generated += [generate_fixtures(compile_text(p.read_text(encoding="utf-8"), p.name).policy) for p in POLICIES]
    for fixtures in generated:
        document = fixtures.scenarios
        for keep in (len(fixtures), 1, 0):  # every scenario, the first one, none
            texts = ScenarioTexts()
            for _, text in zip(range(keep), fixtures.texts, strict=False):
                texts.add(text)
            part = Fixtures(fixtures.header, texts, fixtures.summary, {}, {}, [])
            expected = dumps({**document, "scenarios": document["scenarios"][:keep]}).encode("utf-8")
            assert part.scenarios_json() == expected
            texts.close()
    monkeypatch.setattr(ScenarioTexts, "PIECE", 1 << 16)
    tracemalloc.start()
    try:
        size = sum(len(piece) for piece in generated[0].scenarios_pieces())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a piece at a time, never the text whole (json.dumps of the whole document takes 6-7x its size)
    assert size > 1 << 21 and peak < size // 8, (size, peak)


def test_many_scenarios_are_imported_from_several_contact_files(monkeypatch):
    """Past CONTACTS_PER_FILE scenarios the import is cut into files of that many rows, each with
    the columns its rows use: the same rows and values as the one file, in the same order."""
    import csv
    import io

    from sla_lang.targets import fixtures

    result, doc = _fixtures(SEGMENTS[0])
    reader = csv.DictReader(io.StringIO(result.files["contacts.csv"].decode()))
    whole = list(reader)
    assert len(whole) == len(doc["scenarios"]) > 40
    monkeypatch.setattr(fixtures, "CONTACTS_PER_FILE", 20)
    files = load_target("fixtures").build(_policy(SEGMENTS[0]), BuildOptions()).files
    names = sorted(n for n in files if n.startswith("contacts"))
    assert "contacts.csv" not in files and names == [f"contacts-{k:03d}.csv" for k in range(1, len(names) + 1)]
    rows = []
    for name in names:
        header, *body = list(csv.reader(io.StringIO(files[name].decode())))
        assert 0 < len(body) <= 20
        data = header[5:-3]
        assert all(any(row[header.index(c)] for row in body) for c in data)  # no column without a value
        assert [c for c in reader.fieldnames if c in data] == data  # in the order of the one file
        rows += [dict(zip(header, row)) for row in body]
    assert [{k: v for k, v in r.items() if v} for r in rows] == [{k: v for k, v in r.items() if v} for r in whole]


def test_a_leads_scores_list_the_groups_with_points_only():
    """A lead's JSON (the fixtures' expectations, `sla simulate`) lists every score's total and the
    groups with points: in a chain of 8 funnels a lead has points in a few of the 10 groups."""
    _, doc = _fixtures(SEGMENTS[1])
    policy = _policy(SEGMENTS[1])
    groups = {f"{s.id}.{g.id}" for s in policy.scores for g in s.groups}
    assert len(groups) == 10
    for scenario in doc["scenarios"]:
        scores = scenario["expect"]["scores"]
        assert "lead_score" in scores and all(v != 0 for k, v in scores.items() if k in groups)
        shown = [k for k in scores if k in groups]
        assert sum(scores[k] for k in shown) == scores["lead_score"]
    assert max(sum(k in groups for k in s["expect"]["scores"]) for s in doc["scenarios"]) <= 4
