"""The Parquet archive: exact round trip, de-duplication, idempotence, atomic parts, kill -9."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from hkticks.bench.data import day_start_ms, write_day  # noqa: E402
from hkticks.storage import parquet  # noqa: E402
from hkticks.storage.daily_compact import DailyCompactor, compact_on_rotate  # noqa: E402
from hkticks.storage.readers import Recording  # noqa: E402
from hkticks.storage.sinks.jsonl import JsonlSink  # noqa: E402
from hkticks.storage.sinks.rotating import RotatingSink  # noqa: E402
from hkticks.tick import Tick  # noqa: E402

DAY = 86_400_000


def checksum(rows: list[tuple[object, ...]]) -> str:
    h = hashlib.sha256()
    for row in sorted(rows, key=repr):
        h.update(repr(row).encode())
    return h.hexdigest()


def archive_rows(root: Path) -> list[tuple[object, ...]]:
    return [t.row() for t in Recording([str(root)])]


def visible_parts(root: Path) -> list[Path]:
    return sorted(root.glob("date=*/*.parquet"))


def make_source(
    path: Path, n: int, date: str = "2026-11-30", seed: int = 1
) -> list[tuple[object, ...]]:
    write_day(str(path), n, date=date, symbols=20, seed=seed)
    return [t.row() for t in Recording([str(path)])]


def test_round_trip_is_exact_and_sorted(tmp_path: Path) -> None:
    src = tmp_path / "day.jsonl"
    rows = make_source(src, 5000)
    # a second day and a trade without seq in a CSV source
    other = tmp_path / "next.csv"
    t = Tick(
        "00005", day_start_ms("2026-12-01") + 36_000_000, 64.5, 400, 25800.0, None, None, 1, "x"
    )
    other.write_text(
        "symbol,ts,price,volume,turnover,side,seq,recv_ts,src\n"
        + ",".join("" if v is None else str(v) for v in t.row())
        + "\n"
    )
    report = parquet.compact([str(src), str(other)], str(tmp_path / "a"))
    assert report.read == 5001 and report.added == 5001 and report.already == 0
    assert [d.date for d in report.days] == ["2026-11-30", "2026-12-01"]
    got = archive_rows(tmp_path / "a")
    assert len(got) == len(rows) + 1
    assert checksum(got) == checksum([*rows, t.row()])
    part = visible_parts(tmp_path / "a")[0]
    table = pq.read_table(part)
    keys = list(
        zip(
            table.column("symbol").to_pylist(),
            table.column("ts").cast(pa.int64()).to_pylist(),
            strict=True,
        )
    )
    assert keys == sorted(keys)
    meta = pq.ParquetFile(part).metadata
    col = meta.row_group(0).column(0)
    assert col.compression == "LZ4"  # LZ4_RAW: parquet.PART_ENCODING
    assert any("DICT" in str(e) for e in col.encodings)
    assert all(
        meta.row_group(i).num_rows <= parquet.ROW_GROUP_ROWS for i in range(meta.num_row_groups)
    )


def test_duplicates_and_idempotence(tmp_path: Path) -> None:
    src = tmp_path / "day.jsonl"
    rows = make_source(src, 3000)
    root = tmp_path / "a"
    # the same trades twice in the sources: kept once
    first = parquet.compact([str(src), str(src)], str(root))
    assert first.added == 3000 and first.duplicates == 3000
    parts = visible_parts(root)
    before = {p: p.read_bytes() for p in parts}
    again = parquet.compact([str(src)], str(root))
    assert again.added == 0 and again.already == 3000
    assert visible_parts(root) == parts and {p: p.read_bytes() for p in parts} == before
    # a source that grew: only its new trades are added
    more = tmp_path / "more.jsonl"
    base = day_start_ms("2026-11-30") + 40_000_000
    extra = [tick_at(base + i, 10_000 + i) for i in range(1000)]
    more.write_bytes(src.read_bytes() + b"".join(orjson.dumps(t.record()) + b"\n" for t in extra))
    grown = parquet.compact([str(more)], str(root))
    assert grown.added == 1000 and grown.already == 3000
    assert checksum(archive_rows(root)) == checksum([t.row() for t in Recording([str(more)])])
    assert len(rows) == 3000


_KILLED_CHILD = """
import os, sys, time
import hkticks.storage.parquet as P
where = sys.argv[3]
if where == "before-rename":
    real = os.replace
    def stuck(a, b):
        print("READY", flush=True)
        time.sleep(60)  # under test: a rename that never finishes
    P.os.replace = stuck
else:
    import pyarrow.parquet as pq
    real_write = pq.ParquetWriter.write_table
    def slow(self, table, *a, **k):
        real_write(self, table, *a, **k)
        print("READY", flush=True)
        time.sleep(60)  # under test: a write stuck after its first table
    pq.ParquetWriter.write_table = slow
P.ROW_GROUP_ROWS = 1000
P.compact([sys.argv[1]], sys.argv[2])
"""


@pytest.mark.parametrize("where", ["mid-write", "before-rename"])
def test_kill_9_during_compaction_leaves_the_archive_valid(tmp_path: Path, where: str) -> None:
    root = tmp_path / "a"
    old = tmp_path / "old.jsonl"
    old_rows = make_source(old, 2000, date="2026-11-27", seed=2)
    parquet.compact([str(old)], str(root))
    src = tmp_path / "day.jsonl"
    rows = make_source(src, 5000)
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, str(src), str(root), where],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        temp = list(root.glob("date=2026-11-30/.part-*.parquet.tmp"))
        assert len(temp) == 1 and temp[0].stat().st_size > 0  # it was writing
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    # nothing half-written is visible: the archive reads as it was
    assert [p.parent.name for p in visible_parts(root)] == ["date=2026-11-27"]
    assert checksum(archive_rows(root)) == checksum(old_rows)
    # the next run clears the temporary file and completes the day
    report = parquet.compact([str(src)], str(root))
    assert report.added == 5000
    assert not list(root.glob("date=*/.*.tmp"))
    assert checksum(archive_rows(root)) == checksum(old_rows + rows)


def tick_at(ms: int, seq: int) -> Tick:
    return Tick("00700", ms, 380.0, 100, 38000.0, "buy", seq, ms + 5, "alltick-sim")


def test_record_compacts_each_day_when_it_closes(tmp_path: Path) -> None:
    day1 = day_start_ms("2026-11-30") + 10 * 3_600_000
    clock = [day1]
    sink = RotatingSink(
        str(tmp_path / "t-{date}.jsonl"), lambda p: JsonlSink(p), clock=lambda: clock[0]
    )
    compactor = DailyCompactor(str(tmp_path / "a"))
    (wrapped,) = compact_on_rotate([sink], compactor)
    wrapped.write([tick_at(day1 + i, i) for i in range(10)])
    assert wrapped.take_events() == []
    wrapped.write([tick_at(day1 + DAY + i, 100 + i) for i in range(3)])  # a new HK day
    events = wrapped.take_events()
    assert [e.event for e in events] == ["rotated"]
    wrapped.close()
    compactor.close()
    assert compactor.days == 1 and compactor.trades == 10
    assert compactor.summary() == f"compacted 1 day(s) into {tmp_path / 'a'}: 10 trades added"
    assert [p.parent.name for p in visible_parts(tmp_path / "a")] == ["date=2026-11-30"]
    assert len(archive_rows(tmp_path / "a")) == 10  # the day still open is not compacted


def test_record_compact_needs_daily_rotation(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "hkticks",
            "record",
            "700",
            "--demo",
            "--out",
            "t.jsonl",
            "--compact",
            "a",
            "--duration",
            "1s",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "--rotate daily" in r.stderr


def test_compact_cli_and_stats_on_the_archive(tmp_path: Path) -> None:
    src = tmp_path / "day.jsonl"
    make_source(src, 2000)
    (tmp_path / "day.jsonl.events.jsonl").write_text(
        f'{{"ts":{day_start_ms("2026-11-30") + 3_600_000},"event":"feed_start","shard":null}}\n'
    )

    def hk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hkticks", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    r = hk("compact", "day.jsonl", "--to", "a")
    assert r.returncode == 0, r.stderr
    assert "added 2,000" in r.stderr
    r2 = hk("compact", "day.jsonl", "--to", "a")
    assert "added 0" in r2.stderr and "2,000 already there" in r2.stderr
    a = hk("stats", "a", "--csv")
    b = hk("stats", "day.jsonl", "--csv")
    assert a.returncode == 0 and a.stdout == b.stdout
    js = hk("stats", "a", "--json")
    assert '"events_files"' in js.stdout and "_events" in js.stdout
    sym = next(iter(Recording([str(src)]))).symbol
    rp = hk("replay", "a", "--json", "--symbols", sym, "--speed", "max")
    want = [t for t in Recording([str(src)]) if t.symbol == sym]
    assert rp.returncode == 0, rp.stderr
    assert [orjson.loads(x)["seq"] for x in rp.stdout.splitlines()] == [t.seq for t in want]
    missing = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['pyarrow'] = None; "
            "from hkticks.cli import main; main(['compact', 'day.jsonl', '--to', 'b'])",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "pip install 'hkticks[parquet]'" in missing.stderr
