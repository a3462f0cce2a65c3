"""Issue 20: a file handed to the write phase in pieces (`output.Pieces`) — scenarios.json of a
10,000-stage policy is 500 MB — is written, compared, checked for drift and cached exactly as
the same bytes handed over whole would be, and the fixtures target hands scenarios.json over
that way, in pieces of at most a mebibyte, with the bytes the standard library's JSON encoder
gives for the document.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sla_lang.build_cache import BuildCache, Collecting, TargetBuild
from sla_lang.compile import Compilation, compile_text
from sla_lang.config import Config
from sla_lang.output import DriftCheck, OutputError, OutputFolder, Pieces, as_bytes
from sla_lang.targets import BuildOptions
from sla_lang.targets import fixtures as fx

BIG = bytes(range(256)) * 5000  # 1.28 MB


def pieces(data: bytes, size: int = 100_000) -> Pieces:
    """`data` in pieces of `size` bytes; counts how often it is gone through."""

    def go():
        go.count += 1
        for start in range(0, len(data), size):
            yield data[start:start + size]

    go.count = 0
    return Pieces(len(data), go)


def test_pieces_are_written_as_their_bytes(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        folder.add("big.bin", pieces(BIG))
        folder.add("small.txt", b"x\n")
        folder.commit()
    assert (out / "big.bin").read_bytes() == BIG
    assert bytes(pieces(BIG)) == as_bytes(pieces(BIG)) == BIG
    with pytest.raises(ValueError, match="announced"):
        bytes(Pieces(3, lambda: iter([b"ab"])))


def test_an_unchanged_rebuild_from_pieces_writes_nothing(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        folder.add("big.bin", pieces(BIG))
        folder.commit()
    inode = (out / "big.bin").stat().st_ino
    with OutputFolder(out) as folder:
        folder.add("big.bin", pieces(BIG))
        folder.commit()
        assert folder.unchanged
    assert (out / "big.bin").stat().st_ino == inode
    # the same size, one byte different in the middle of a piece: rewritten
    other = bytearray(BIG)
    other[len(BIG) // 2 + 7] ^= 1
    with OutputFolder(out) as folder:
        folder.add("big.bin", pieces(bytes(other)))
        folder.commit()
        assert not folder.unchanged
    assert (out / "big.bin").read_bytes() == bytes(other)


def test_pieces_found_equal_are_staged_from_the_folder_when_a_later_output_differs(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        folder.add_files({"big.bin": BIG, "z.txt": b"z\n"})
        folder.commit()
    with OutputFolder(out) as folder:
        folder.add("big.bin", pieces(BIG))  # equal: compared only
        folder.add("z.txt", b"new\n")  # differs: big.bin is copied from the folder into the new one
        folder.commit()
    assert (out / "big.bin").read_bytes() == BIG and (out / "z.txt").read_bytes() == b"new\n"
    # and a large file edited after it was compared stops the build with nothing written
    with OutputFolder(out) as folder:
        folder.add("big.bin", pieces(BIG))
        changed = bytearray(BIG)
        changed[-1] ^= 1
        (out / "big.bin").write_bytes(bytes(changed))
        with pytest.raises(OutputError, match="big.bin changed while the build was running"):
            folder.add("z.txt", b"newer\n")
    assert (out / "big.bin").read_bytes() == bytes(changed) and (out / "z.txt").read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_drift_is_found_in_pieces(tmp_path):
    (tmp_path / "same.bin").write_bytes(BIG)
    (tmp_path / "middle.bin").write_bytes(BIG)
    (tmp_path / "short.bin").write_bytes(BIG[:-1])
    check = DriftCheck(tmp_path)
    other = bytearray(BIG)
    other[150_001] ^= 1  # in the second piece
    check.add("same.bin", pieces(BIG))
    check.add("middle.bin", pieces(bytes(other)))
    check.add("short.bin", pieces(BIG))
    check.add("missing.bin", pieces(BIG))
    drift = check.finish()
    assert drift.stale == ("middle.bin", "short.bin") and drift.missing == ("missing.bin",)


def test_the_cache_keeps_pieces_and_hands_them_back_in_pieces(tmp_path):
    cache = BuildCache(tmp_path / "cache", size=0)
    writer = cache.writer("k" * 64)
    compilation = Compilation(path="p.sla", source=None, policy=None, diagnostics=[])
    writer.compiled(compilation, True)
    writer.file("fixtures", "scenarios.json", pieces(BIG))
    writer.file("fixtures", "after.txt", b"after\n")  # read from where the pieces end
    writer.target(TargetBuild("fixtures", [], False))
    writer.finish()

    seen = []

    class Receiver(Collecting):
        def file(self, target, name, data):
            if isinstance(data, Pieces):
                parts = list(data)
                seen.append((name, len(data), max(len(p) for p in parts), b"".join(parts) == bytes(data)))
            super().file(target, name, data)

    entry = cache.open("k" * 64)
    receiver = Receiver()
    entry.replay(receiver)
    entry.close()
    assert seen == [("scenarios.json", len(BIG), 1 << 20, True)]
    files = receiver.build.targets[0].files
    assert files == {"scenarios.json": BIG, "after.txt": b"after\n"}
    assert all(type(v) is bytes for v in files.values())  # kept beyond the call: joined


def test_fixtures_hand_scenarios_json_over_in_pieces_with_the_standard_encoders_bytes():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from generate import generate_policy

    policy = compile_text(generate_policy(30), "generated_30.sla", config=Config(max_file_size=1 << 26)).policy
    handed: dict[str, object] = {}
    largest = []

    def sink(name, data):
        if isinstance(data, Pieces):
            parts = list(data)
            largest.append(max(len(p) for p in parts))
            data = b"".join(parts)
        handed[name] = data

    result = fx.build_into(policy, BuildOptions(), sink)
    assert not result.failed
    assert sorted(handed) == ["contacts.csv", "coverage.json", "scenarios.json"]
    assert largest and largest[0] <= 1 << 20 and len(handed["scenarios.json"]) > 1 << 20  # really in pieces
    document = json.loads(handed["scenarios.json"])
    assert len(document["scenarios"]) > 100
    expected = (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    assert handed["scenarios.json"] == expected
    # the collected build gives the same bytes
    assert fx.build(policy, BuildOptions()).files == handed
