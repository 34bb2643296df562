"""Reading recordings back: every format, bad data, several files in time order, selections."""

from __future__ import annotations

import gzip
import json
import os
import random
import sqlite3
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from hkticks.errors import UsageError
from hkticks.storage.readers import Recording, TickFile, make_selection, merge, parse_when
from hkticks.storage.recording_paths import expand_paths
from hkticks.storage.sidecars import read_events
from hkticks.storage.sinks import open_jsonl_sink, open_tick_sink
from hkticks.storage.sinks.csvfile import HEADER
from hkticks.storage.sinks.jsonl import encode_lines
from hkticks.tick import Book, Event, Tick

AWKWARD = [0.1 + 0.2, 1e-7, 123456789.123, 5.0, 0.001, 2.675, 1 / 3]
T0 = 1_714_613_400_000  # 2024-05-02 09:30:00 HKT
HAS_ZSTD = __import__("importlib").util.find_spec("zstandard") is not None
EXTS = ["jsonl", "csv", "db", "jsonl.gz", "csv.gz"] + (["jsonl.zst", "csv.zst"] if HAS_ZSTD else [])


def make_ticks(n: int, seed: int = 1, start_ms: int = T0, step: int = 7) -> list[Tick]:
    """Varied ticks: every side (None too), missing seq, awkward floats, odd src text."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        price = rnd.choice(AWKWARD) if i % 7 == 0 else round(rnd.uniform(0.01, 600), 3)
        volume = rnd.randint(1, 50) * 100
        out.append(
            Tick(
                f"{rnd.randint(1, 30):05d}",
                start_ms + i * step,
                price,
                volume,
                price * volume,
                rnd.choice(["buy", "sell", None]),
                None if i % 5 == 0 else i,
                start_ms + i * step + rnd.randint(0, 40),
                "alltick" if i % 11 else 'odd, "quoted"\nsrc',
            )
        )
    return out


def write(path: Path, ticks: list[Tick], batch: int = 97) -> Path:
    sink = open_tick_sink(str(path))
    for i in range(0, len(ticks), batch):
        sink.write(ticks[i : i + batch])
    sink.close()
    return path


@pytest.mark.parametrize("ext", EXTS)
def test_every_format_reads_back_exactly(tmp_path: Path, ext: str) -> None:
    ticks = make_ticks(1500)
    reader = TickFile(str(write(tmp_path / f"t.{ext}", ticks)))
    assert list(reader) == ticks
    r = reader.report
    assert (r.rows, r.bad, r.torn, r.corrupt, r.kind) == (1500, 0, 0, 0, "trades")
    assert r.summary() is None


def test_invalid_lines_are_skipped_and_counted_with_their_line_numbers(tmp_path: Path) -> None:
    good = make_ticks(6)
    lines = encode_lines(good).splitlines(keepends=True)
    lines.insert(1, b"not json at all\n")
    lines.insert(
        3,
        b'{"symbol":"00700","ts":"soon","price":1,"volume":1,"turnover":1,"side":null,"seq":1,"recv_ts":1,"src":"x"}\n',
    )
    lines.insert(4, b"\n")
    lines.insert(5, b'{"symbol":"00700"}\n')
    lines.insert(6, b"[1,2,3]\n")
    lines.append(b'{"symbol":"00700","ts":17146')  # torn
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(lines))
    reader = TickFile(str(path))
    assert list(reader) == good
    r = reader.report
    assert (r.bad, r.torn) == (4, 1)
    assert r.examples[0] == "line 2: not JSON"
    assert r.examples[1].startswith("line 4: ")
    assert r.examples[2] == "line 6: no 'ts' field"
    summary = r.summary()
    assert summary is not None and "skipped 4 invalid records" in summary and "torn" in summary


def test_a_complete_last_record_without_newline_is_kept(tmp_path: Path) -> None:
    ticks = make_ticks(3)
    path = tmp_path / "t.jsonl"
    path.write_bytes(encode_lines(ticks)[:-1])
    reader = TickFile(str(path))
    assert list(reader) == ticks and reader.report.torn == 0


def test_csv_torn_line_and_bad_rows(tmp_path: Path) -> None:
    ticks = make_ticks(4)
    path = write(tmp_path / "t.csv", ticks)
    with open(path, "ab") as fh:
        fh.write(b"00700,1,2\n")  # too few fields
        fh.write(b"00700,x,1.0,100,100.0,buy,1,2,t\n")  # ts not a number
        fh.write(b"00700,1714613400000,312.4,100,31240.0,buy,9,171461340")  # torn
    reader = TickFile(str(path))
    assert list(reader) == ticks
    assert (reader.report.bad, reader.report.torn) == (2, 1)
    assert reader.report.examples[0] == "line 7: 3 fields, expected 9"


def test_csv_columns_are_found_by_name(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "src,seq,recv_ts,extra,symbol,ts,price,volume,turnover,side\n"
        "alltick,5,1714613400010,zz,00700,1714613400000,312.4,100,31240.0,sell\n"
    )
    (t,) = list(TickFile(str(path)))
    assert t == Tick(
        "00700", 1714613400000, 312.4, 100, 31240.0, "sell", 5, 1714613400010, "alltick"
    )


def test_files_that_are_not_trades_are_reported_not_read(tmp_path: Path) -> None:
    books = open_jsonl_sink(str(tmp_path / "b.jsonl"))
    books.write([Book("00700", T0, ((1.0, 100),), ((1.1, 200),), 1, T0, "x")])
    books.close()
    events = open_jsonl_sink(str(tmp_path / "t.jsonl.events.jsonl"))
    events.write([Event(T0, "connected", 0)])
    events.close()
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    con = sqlite3.connect(tmp_path / "x.db")
    con.execute("CREATE TABLE other (a)")
    con.close()
    rec = Recording(
        [str(tmp_path / n) for n in ("b.jsonl", "t.jsonl.events.jsonl", "other.csv", "x.db")]
    )
    assert list(rec) == []
    assert rec.events_files == [str(tmp_path / "t.jsonl.events.jsonl")]
    problems = rec.problems()
    assert any("order books" in p for p in problems)
    assert any("not a hkticks CSV recording" in p for p in problems)
    assert any("no ticks table" in p for p in problems)
    assert [e["event"] for e in read_events(str(tmp_path / "t.jsonl.events.jsonl"))] == [
        "connected"
    ]


def test_reading_a_database_leaves_no_files_behind(tmp_path: Path) -> None:
    write(tmp_path / "t.db", make_ticks(10))
    before = sorted(os.listdir(tmp_path))
    assert len(list(TickFile(str(tmp_path / "t.db")))) == 10
    assert TickFile(str(tmp_path / "t.db")).symbols()
    assert sorted(os.listdir(tmp_path)) == before


def test_several_files_are_merged_by_receive_time(tmp_path: Path) -> None:
    a = make_ticks(300, seed=1, step=10)
    b = make_ticks(300, seed=2, start_ms=T0 + 5, step=10)  # interleaved with a
    c = make_ticks(100, seed=3, start_ms=T0 + 10 * 300 + 1000)  # after both
    paths = [
        write(tmp_path / "c.jsonl.gz", c),
        write(tmp_path / "a.csv", a),
        write(tmp_path / "b.db", b),
    ]
    got = list(Recording([str(p) for p in paths]))
    assert len(got) == 700
    assert sorted(map(id, got)) != []  # fresh objects, not the written ones
    # per file, the order is the file's own
    assert [t for t in got if t in a] == a
    assert [t for t in got if t in c] == c
    # across files, by the running maximum of each file's receive times
    keys: list[int] = []
    for src in (a, b, c):
        m = 0
        for t in src:
            m = max(m, t.recv_ts)
            keys.append(m)
    assert [k for k, _ in Recording([str(p) for p in paths]).keyed()] == sorted(keys)


def test_rotated_parts_come_back_in_written_order_even_when_receive_times_step_back(
    tmp_path: Path,
) -> None:
    """Receive times step back inside each hour (threads interleaving), never across hours:
    that is what a rotation by period makes of them."""
    ticks = []
    for hour in range(4):
        start = T0 + hour * 3_600_000
        part = make_ticks(50, seed=hour, start_ms=start, step=1)
        for t in part:  # jitter inside the hour only
            assert start <= t.recv_ts < start + 3_600_000
        ticks += part
    parts = [write(tmp_path / f"t-{n:04d}.jsonl", ticks[n * 50 : n * 50 + 50]) for n in range(4)]
    assert any(a.recv_ts > b.recv_ts for a, b in zip(ticks, ticks[1:], strict=False))
    assert list(Recording([str(p) for p in reversed(parts)])) == ticks


def test_merge_opens_a_file_only_when_it_is_reached() -> None:
    open_now = 0
    most = 0

    def source(start: int, n: int) -> tuple[int, object]:
        def run() -> Iterator[tuple[int, Tick]]:
            nonlocal open_now, most
            open_now += 1
            most = max(most, open_now)
            try:
                for i in range(n):
                    yield start + i, Tick("00700", 0, 1.0, 1, 1.0, None, i, start + i, "x")
            finally:
                open_now -= 1

        return start, run

    days = [source(d * 1000, 100) for d in range(50)]  # fifty days, none overlapping
    got = [k for k, _ in merge(days)]  # type: ignore[arg-type]
    assert got == sorted(got) and len(got) == 5000
    assert most <= 2


def test_reading_is_streaming(tmp_path: Path) -> None:
    ticks = make_ticks(20_000)
    path = write(tmp_path / "big.jsonl.gz", ticks * 5, batch=5000)  # 100k lines, ~15 MB of text
    tracemalloc.start()
    try:
        n = sum(1 for _ in TickFile(str(path)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 100_000
    assert peak < 12 << 20, f"peak {peak / 1e6:.1f} MB"


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("09:30", False, (None, 9 * 3600 + 1800)),
        ("16:10:05", True, (None, 16 * 3600 + 605)),
        ("2024-05-02", False, (T0 - (9 * 3600 + 1800) * 1000, None)),
        ("2024-05-02", True, (T0 - (9 * 3600 + 1800) * 1000 + 86_400_000, None)),
        ("2024-05-02 09:30", False, (T0, None)),
        ("2024-05-02T09:30:01", True, (T0 + 1000, None)),
    ],
)
def test_parse_when(text: str, end: bool, expected: tuple[int | None, int | None]) -> None:
    assert parse_when(text, end=end, option="--from") == expected


@pytest.mark.parametrize("text", ["25:00", "9.30", "2024-02-30", "2024-05-02 24:00", "noon"])
def test_parse_when_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_when(text, end=False, option="--from")


def test_selections(tmp_path: Path) -> None:
    ticks = make_ticks(3000, step=3000)  # 09:30 .. about 12:00 HKT, one trade every 3 s
    path = str(write(tmp_path / "t.jsonl", ticks))

    def hk_sod(t: Tick) -> int:
        return (t.ts // 1000 + 8 * 3600) % 86_400

    sel = make_selection(["00007", "00011"], "10:00", "10:30")
    got = list(Recording([path], sel))
    want = [t for t in ticks if t.symbol in ("00007", "00011") and 36000 <= hk_sod(t) < 37800]
    assert got == want and got
    sel = make_selection(None, "2024-05-02 11:00", None)
    assert list(Recording([path], sel)) == [t for t in ticks if t.ts >= T0 + 5400_000]
    with pytest.raises(UsageError):
        make_selection(None, "2024-05-02 11:00", "2024-05-02 10:00")
    with pytest.raises(UsageError):
        make_selection(None, "10:00", "10:00")


def test_paths_directories_and_errors(tmp_path: Path) -> None:
    write(tmp_path / "b.csv", make_ticks(3))
    write(tmp_path / "a.jsonl", make_ticks(3))
    (tmp_path / "notes.txt").write_text("hi")
    assert expand_paths([str(tmp_path)]) == [str(tmp_path / "a.jsonl"), str(tmp_path / "b.csv")]
    with pytest.raises(UsageError, match="no such file"):
        expand_paths([str(tmp_path / "missing.jsonl")])
    with pytest.raises(UsageError, match="cannot tell the format"):
        expand_paths([str(tmp_path / "notes.txt")])


def test_stdin_may_be_plain_or_gzip(tmp_path: Path) -> None:
    ticks = make_ticks(50)
    data = encode_lines(ticks)
    for blob in (data, gzip.compress(data)):
        r = subprocess.run(
            [sys.executable, "-m", "hkticks", "stats", "-", "--json"],
            input=blob,
            capture_output=True,
            timeout=30,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["trades"] == 50


def test_a_tick_record_checks_side(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    rec = make_ticks(1)[0].record()
    rec["side"] = "up"
    path.write_text(json.dumps(rec) + "\n")
    reader = TickFile(str(path))
    assert list(reader) == [] and reader.report.bad == 1
    assert HEADER.startswith(b"symbol,")
