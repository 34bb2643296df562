"""Finding the last trade of each symbol in an existing recording (appending runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hkticks.storage.resume import last_trades
from hkticks.storage.sinks import open_tick_sink
from hkticks.tick import Tick


def tick(symbol: str, seq: int, ts: int) -> Tick:
    return Tick(symbol, ts, 10.0, 100, 1000.0, "buy", seq, ts + 1, "alltick")


def busy_recording(path: Path, n: int = 120_000) -> None:
    """00005 trades once, early; then 00700 trades n times (tens of MB later)."""
    sink = open_tick_sink(str(path))
    sink.write([tick("00005", 42, 1_000)])
    for start in range(0, n, 10_000):
        sink.write([tick("00700", i, 2_000 + i) for i in range(start, start + 10_000)])
    sink.close()


@pytest.mark.parametrize("ext", ["jsonl", "csv", "db"])
def test_a_quiet_symbol_far_from_the_end_is_found(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"t.{ext}"
    busy_recording(path)
    got = last_trades(str(path), ["00005", "00700"])
    assert got.found == {"00005": (42, 1_000), "00700": (119_999, 121_999)}
    assert got.complete


def test_the_scan_stops_once_every_symbol_is_found(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    busy_recording(path, n=200_000)
    got = last_trades(str(path), ["00700"])
    assert got.found == {"00700": (199_999, 201_999)}
    assert got.scanned_bytes < path.stat().st_size  # it did not read the whole file


def test_a_capped_scan_says_it_is_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    busy_recording(path)
    got = last_trades(str(path), ["00005", "00700"], max_bytes=1 << 20)
    assert "00005" not in got.found and not got.complete


def test_symbols_never_recorded_do_not_make_a_whole_scan_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    busy_recording(path, n=1000)
    got = last_trades(str(path), ["00700", "09988"])
    assert got.complete and "00700" in got.found and "09988" not in got.found


def test_compressed_files_are_read_at_their_end(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    sink = open_tick_sink(str(path))
    sink.write([tick("00700", i, 5_000 + i) for i in range(1000)])
    sink.close()
    got = last_trades(str(path), ["00700"])
    assert got.found == {"00700": (999, 5_999)} and got.complete


def test_missing_empty_or_garbage_files_yield_nothing(tmp_path: Path) -> None:
    assert last_trades(str(tmp_path / "none.jsonl")).found == {}
    (tmp_path / "e.jsonl").write_bytes(b"")
    assert last_trades(str(tmp_path / "e.jsonl")).found == {}
    (tmp_path / "g.jsonl").write_bytes(b"\x00\xff not json\n{]\n")
    assert last_trades(str(tmp_path / "g.jsonl")).found == {}
    (tmp_path / "g.db").write_bytes(b"not a database at all" * 100)
    bad = last_trades(str(tmp_path / "g.db"), ["00700"])
    assert bad.found == {} and not bad.complete


def test_a_small_compressed_file_read_whole_is_complete(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    sink = open_tick_sink(str(path))
    sink.write([tick("00700", 1, 5_000)])
    sink.close()
    got = last_trades(str(path), ["00700", "09988"])  # 09988 never traded: still complete
    assert got.complete and set(got.found) == {"00700"}
