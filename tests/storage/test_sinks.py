"""The record sinks, against real files, real SQLite databases and real pipes.

Disk full is the real thing: ``/dev/full`` (every write fails with ENOSPC)
and a child process under ``RLIMIT_FSIZE`` (writes fail part-way with EFBIG).
Crashes are real too: a child recording in a loop is killed with SIGKILL.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from kit.waiting import wait_until

from hkticks.errors import OutputError, UsageError
from hkticks.storage.sinks import check_output, open_jsonl_sink, open_tick_sink, tick_format
from hkticks.storage.sinks.csvfile import HEADER, CsvSink, encode_rows
from hkticks.storage.sinks.jsonl import JsonlSink, encode_lines
from hkticks.tick import RECORD_FIELDS, Book, Event, Tick

FORMATS = ("t.jsonl", "t.csv", "t.db")
AWKWARD_FLOATS = [
    0.1 + 0.2,
    1e-7,
    1e11,  # large (1e16 is beyond the price * volume that hkticks.tick accepts)
    123456789.123,
    5.0,
    0.001,
    2.675,
    1 / 3,
]


def make_ticks(n: int, seed: int = 1, start: int = 0) -> list[Tick]:
    """Varied ticks: every side (None included), missing seq, awkward floats."""
    rnd = random.Random(seed)
    ticks = []
    for i in range(start, start + n):
        price = rnd.choice(AWKWARD_FLOATS) if i % 7 == 0 else round(rnd.uniform(0.01, 600), 3)
        volume = rnd.randint(1, 50) * 100
        ticks.append(
            Tick(
                symbol=f"{rnd.randint(1, 9999):05d}",
                ts=1_700_000_000_000 + i * 7,
                price=price,
                volume=volume,
                turnover=price * volume,
                side=rnd.choice(["buy", "sell", None]),
                seq=None if i % 5 == 0 else i,
                recv_ts=1_700_000_000_000 + i * 7 + rnd.randint(0, 40),
                src="alltick" if i % 2 else "demo",
            )
        )
    return ticks


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    return [orjson.loads(line) for line in data.splitlines()]


def read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as f:
        reader = csv.reader(f)
        assert tuple(next(reader)) == RECORD_FIELDS
        out = []
        for row in reader:
            rec: dict[str, Any] = dict(zip(RECORD_FIELDS, row, strict=True))
            for key in ("ts", "volume", "recv_ts"):
                rec[key] = int(rec[key])
            for key in ("price", "turnover"):
                rec[key] = float(rec[key])
            rec["side"] = rec["side"] or None
            rec["seq"] = int(rec["seq"]) if rec["seq"] else None
            out.append(rec)
        return out


def read_sqlite(path: Path) -> list[dict[str, Any]]:
    con = sqlite3.connect(path)
    try:
        rows = con.execute(f"SELECT {', '.join(RECORD_FIELDS)} FROM ticks ORDER BY rowid")
        return [dict(zip(RECORD_FIELDS, row, strict=True)) for row in rows]
    finally:
        con.close()


def read_any(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if path.suffix == ".csv":
        return read_csv(path)
    return read_sqlite(path)


def typed(records: list[dict[str, Any]]) -> list[list[tuple[str, type, Any]]]:
    """Records as (field, type, value) lists: equal values of another type do not match."""
    return [[(k, type(v), v) for k, v in rec.items()] for rec in records]


def write_batches(path: str, ticks: list[Tick], batch: int) -> Any:
    sink = open_tick_sink(path)
    for i in range(0, len(ticks), batch):
        sink.write(ticks[i : i + batch])
    sink.flush()
    sink.close()
    return sink


def run_child(code: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=30,
        **kwargs,
    )


# --- fields, order and values ----------------------------------------------------------


def test_jsonl_lines_hold_exactly_the_record_fields_in_order(tmp_path: Path) -> None:
    ticks = make_ticks(300)
    sink = write_batches(str(tmp_path / "t.jsonl"), ticks, 64)
    lines = (tmp_path / "t.jsonl").read_bytes().splitlines()
    assert sink.rows == len(lines) == 300
    for line, tick in zip(lines, ticks, strict=True):
        rec = orjson.loads(line)
        assert tuple(rec) == RECORD_FIELDS
        assert typed([rec]) == typed([tick.record()])


def test_csv_has_the_header_and_null_as_empty_field(tmp_path: Path) -> None:
    tick = Tick("00700", 1_700_000_000_123, 385.2, 100, 38520.0, None, None, 1_700_000_000_200, "x")
    sink = open_tick_sink(str(tmp_path / "t.csv"))
    sink.write([tick])
    sink.close()
    assert (tmp_path / "t.csv").read_text() == (
        "symbol,ts,price,volume,turnover,side,seq,recv_ts,src\n"
        "00700,1700000000123,385.2,100,38520.0,,,1700000000200,x\n"
    )


def test_sqlite_uses_wal_the_schema_and_the_index(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    sink = open_tick_sink(str(path))
    sink.write(make_ticks(10))
    con = sqlite3.connect(path)  # while the sink is open
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [(r[1], r[2]) for r in con.execute("PRAGMA table_info(ticks)")]
        assert columns == [
            ("symbol", "TEXT"),
            ("ts", "INTEGER"),
            ("price", "REAL"),
            ("volume", "INTEGER"),
            ("turnover", "REAL"),
            ("side", "TEXT"),
            ("seq", "INTEGER"),
            ("recv_ts", "INTEGER"),
            ("src", "TEXT"),
        ]
        (index,) = [r[1] for r in con.execute("PRAGMA index_list(ticks)")]
        assert [r[2] for r in con.execute(f"PRAGMA index_info({index})")] == ["symbol", "ts"]
        assert con.execute("SELECT count(*) FROM ticks").fetchone()[0] == 10
    finally:
        con.close()
        sink.close()


def test_sinks_opened_here_can_be_written_by_the_writer_thread(tmp_path: Path) -> None:
    ticks = make_ticks(50)
    sinks = [open_tick_sink(str(tmp_path / name)) for name in FORMATS]
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for sink in sinks:
                sink.write(ticks)
                sink.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=writer, name="writer")
    thread.start()
    thread.join(timeout=20)
    assert errors == []
    for name in FORMATS:
        assert len(read_any(tmp_path / name)) == 50


def test_the_three_formats_hold_identical_values(tmp_path: Path) -> None:
    ticks = make_ticks(5000, seed=7)
    # Text CSV must quote (and JSONL's one-call path must not split inside a string).
    ticks[10].src = 'odd,"src"},{x'
    ticks[11].symbol = "A,B"
    ticks[12].src = '"quoted" src'
    ticks[13].src = "cr\rlf"
    expected = typed([t.record() for t in ticks])
    for name in FORMATS:
        sink = write_batches(str(tmp_path / name), ticks, 333)
        assert sink.rows == len(ticks)
        got = read_any(tmp_path / name)
        assert typed(got) == expected, name
        assert [Tick.from_record(r) for r in got] == ticks


@pytest.mark.parametrize("text", ["a,b", '"lead', 'say "hi"', "cr\rx", "lf\nx", "plain"])
def test_csv_quotes_text_only_when_it_must(text: str) -> None:
    tick = Tick(text, 1, 2.5, 100, 250.0, "buy", None, 3, text)
    line = encode_rows([tick]).decode()
    assert line.startswith('"') == (text != "plain")
    (row,) = csv.reader(io.StringIO(line, newline=""))
    assert row == [text, "1", "2.5", "100", "250.0", "buy", "", "3", text]


def test_books_and_events_are_written_as_their_record(tmp_path: Path) -> None:
    book = Book("00700", 1, ((385.2, 100), (385.0, 2000)), ((385.4, 300),), 9, 2, "demo")
    event = Event(5, "disconnected", 0, {"code": 1006, "detail": {"retry_in": 1.5}})
    path = tmp_path / "b.jsonl"
    sink = open_jsonl_sink(str(path), what="events")
    sink.write([book, event, book])
    sink.close()
    assert read_jsonl(path) == [book.record(), event.record(), book.record()]
    assert sink.rows == 3


def test_encode_lines_falls_back_when_a_string_holds_the_separator() -> None:
    for recs in ([{"a": "},{"}, {"b": 1}, {"c": {"d": 2}}], [[1, 2], {"a": "},{"}]):
        assert [orjson.loads(x) for x in encode_lines(recs).splitlines()] == recs
    assert encode_lines([]) == b""


# --- append and repair -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["t.jsonl", "t.csv"])
def test_append_repairs_a_torn_last_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    first, second = make_ticks(30, seed=1), make_ticks(20, seed=2, start=30)
    write_batches(str(path), first, 7)
    torn = b'{"symbol":"00700","ts":170000' if name.endswith("jsonl") else b"00700,1700000,38"
    with path.open("ab") as f:
        f.write(torn)
    sink = open_tick_sink(str(path))
    assert sink.repaired_bytes == len(torn)
    sink.write(second)
    sink.close()
    assert typed(read_any(path)) == typed([t.record() for t in first + second])
    reopened = open_tick_sink(str(path))
    assert reopened.repaired_bytes == 0
    reopened.close()


def test_jsonl_keeps_a_whole_last_record_that_only_lacks_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    ticks = make_ticks(3)
    path.write_bytes(orjson.dumps(ticks[0]))  # e.g. written by a tool that omits the last \n
    sink = open_tick_sink(str(path))
    assert sink.repaired_bytes == 0
    sink.write(ticks[1:])
    sink.close()
    assert read_jsonl(path) == [t.record() for t in ticks]


def test_csv_torn_header_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(HEADER[:9])
    sink = open_tick_sink(str(path))
    assert sink.repaired_bytes == 9
    sink.write(make_ticks(2))
    sink.close()
    assert len(read_csv(path)) == 2


def test_a_file_that_is_not_a_recording_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    blob = b"x" * (1 << 20) + b"y" * 10  # no newline in over 1 MiB
    path.write_bytes(blob)
    with pytest.raises(OutputError, match="over 1 MiB"):
        open_tick_sink(str(path))
    assert path.read_bytes() == blob


def test_csv_with_another_header_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    content = b"date,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n2024-01-03,1,2"
    path.write_bytes(content)
    with pytest.raises(OutputError, match=r"t\.csv already holds other CSV data.*date,open"):
        open_tick_sink(str(path))
    assert path.read_bytes() == content


def test_sqlite_appends_and_refuses_other_schemas(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    ticks = make_ticks(9)
    write_batches(str(path), ticks[:5], 2)
    write_batches(str(path), ticks[5:], 4)
    assert typed(read_sqlite(path)) == typed([t.record() for t in ticks])

    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE ticks (symbol TEXT, price REAL)")
    con.commit()
    con.close()
    with pytest.raises(OutputError, match="other.db has a ticks table with other columns"):
        open_tick_sink(str(other))

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(OutputError, match="junk.db: it is not a SQLite database"):
        open_tick_sink(str(junk))


def test_lines_stay_whole_when_the_recorder_is_killed(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys
                from hkticks.storage.sinks import open_tick_sink
                from hkticks.tick import Tick
                sinks = [open_tick_sink(p) for p in sys.argv[1:]]
                print("ready", flush=True)
                i = 0
                while True:
                    batch = [Tick("%05d" % (k % 9999 + 1), k, k / 7, 100, k * 1.5, "sell", k,
                                  k + 1, "demo") for k in range(i, i + 97)]
                    for s in sinks:
                        s.write(batch)
                    i += 97
                """
            ),
            str(tmp_path / "k.jsonl"),
            str(tmp_path / "k.csv"),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        wait_until(
            lambda: (tmp_path / "k.csv").stat().st_size >= 300_000, 20, "300 kB of CSV written"
        )
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    for name in ("k.jsonl", "k.csv"):
        path = tmp_path / name
        data = path.read_bytes()
        # a kill can land inside a write(): at most the last line is torn,
        # every complete line is valid, and reopening repairs the tail
        complete = data[: data.rfind(b"\n") + 1]
        whole = tmp_path / f"whole-{name}"
        whole.write_bytes(complete)
        recs = read_any(whole)
        assert len(recs) > 1000
        assert [r["ts"] for r in recs] == list(range(len(recs)))
        sink = open_tick_sink(str(path))
        sink.close()
        repaired = path.read_bytes()
        assert repaired.startswith(complete) and repaired.endswith(b"\n")
        assert len(read_any(path)) in (len(recs), len(recs) + 1)  # a whole last record kept
        sink = open_tick_sink(str(tmp_path / name))
        assert sink.repaired_bytes == 0
        sink.close()


# --- faults ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [JsonlSink, CsvSink])
def test_dev_full_is_a_one_line_output_error(cls: Any) -> None:
    ticks = make_ticks(10)
    with pytest.raises(OutputError) as info:
        sink = cls("/dev/full")  # CSV fails at its header already
        sink.write(ticks)
    msg = str(info.value)
    assert msg.startswith("disk full writing /dev/full (wrote 0 ticks before the failure)")
    assert "\n" not in msg and info.value.__suppress_context__
    assert info.value.exit_code == 5


def test_dev_full_sink_stays_failed_and_closes_cleanly() -> None:
    sink = JsonlSink("/dev/full")
    with pytest.raises(OutputError):
        sink.write(make_ticks(3))
    with pytest.raises(OutputError, match="disk full"):
        sink.write(make_ticks(3))
    sink.close()
    sink.close()


LIMITED_CHILD = """
    import json, resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))
    from hkticks.errors import HkticksError
    from hkticks.storage.sinks import open_tick_sink
    from hkticks.tick import Tick
    out = {}
    for path in sys.argv[1:]:
        sink = open_tick_sink(path)
        i = 0
        try:
            while True:
                sink.write([Tick("%05d" % (k % 3000 + 1), k, k / 8, 100, k * 12.5, None, k, k + 3,
                                 "demo") for k in range(i, i + 250)])
                i += 250
        except HkticksError as exc:
            out[path] = [str(exc), sink.rows]
        sink.close()
    print(json.dumps(out))
"""


def test_write_failure_mid_run_keeps_whole_records_and_counts_them(tmp_path: Path) -> None:
    paths = [str(tmp_path / name) for name in FORMATS]
    proc = run_child(LIMITED_CHILD, *paths)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    for path in paths:
        msg, rows = result[path]
        assert f"writing {path} (wrote {rows} ticks before the failure)" in msg
        assert "\n" not in msg
        recs = read_any(Path(path))
        assert len(recs) == rows > 0
        assert [r["ts"] for r in recs] == list(range(rows))
    for path in paths[:2]:  # the limit hit mid-batch, yet no torn line was left
        assert result[path][0].startswith("file size limit reached writing")
        sink = open_tick_sink(path)
        assert sink.repaired_bytes == 0
        sink.close()


def test_check_output_accepts_writable_paths_without_leaving_traces(tmp_path: Path) -> None:
    check_output("-")
    check_output("/dev/full")  # writable; it fails later, as a disk would
    new = tmp_path / "new.jsonl"
    check_output(str(new))
    assert not new.exists()
    existing = tmp_path / "old.csv"
    existing.write_bytes(b"keep me")
    check_output(str(existing))
    assert existing.read_bytes() == b"keep me"


def test_check_output_rejects_unwritable_paths(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = {
        str(tmp_path): "it is a directory",
        str(tmp_path / "missing" / "t.jsonl"): "does not exist",
        str(afile / "t.jsonl"): "not a directory",
        "/proc/hkticks-test.jsonl": "cannot be created",
        "": "empty",
    }
    for path, reason in cases.items():
        with pytest.raises(OutputError) as info:
            check_output(path, option="--book-out")
        msg = str(info.value)
        assert reason in msg and msg.endswith("; choose another --book-out"), msg
        assert "\n" not in msg


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_check_output_reports_permission_denied(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(
            OutputError, match=r"ticks.csv: permission denied; choose another --out"
        ):
            check_output(str(ro / "ticks.csv"))
    finally:
        ro.chmod(0o700)


def test_extension_picks_the_format() -> None:
    assert [tick_format(p) for p in ("a.JSONL", "b.csv", "c.db", "d.sqlite", "-")] == [
        "jsonl",
        "csv",
        "sqlite",
        "sqlite",
        "jsonl",
    ]
    with pytest.raises(UsageError, match=r"\.jsonl, \.csv, \.db, \.sqlite"):
        open_tick_sink("ticks.parquet")


def test_close_is_idempotent_and_flush_fsync_works(tmp_path: Path) -> None:
    for name in FORMATS:
        sink = open_tick_sink(str(tmp_path / name))
        sink.write(make_ticks(3))
        sink.flush(fsync=True)
        sink.close()
        sink.close()
        sink.flush()
        with pytest.raises(ValueError):
            sink.write(make_ticks(1))
        assert len(read_any(tmp_path / name)) == 3


# --- stdout ------------------------------------------------------------------------------

STDOUT_CHILD = """
    import sys
    from hkticks.errors import HkticksError
    from hkticks.storage.sinks import open_tick_sink
    from hkticks.tick import Tick
    sink = open_tick_sink("-")
    try:
        for i in range(int(sys.argv[1])):
            sink.write([Tick("00700", k, 385.2, 100, 38520.0, None, k, k, "demo")
                        for k in range(i * 50, i * 50 + 50)])
            sink.flush()
        sink.close()
    except HkticksError as exc:
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
"""


def test_stdout_sink_writes_jsonl() -> None:
    proc = run_child(STDOUT_CHILD, "4")
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["ts"] for r in recs] == list(range(200))
    assert tuple(recs[0]) == RECORD_FIELDS


def test_stdout_reader_going_away_is_a_one_line_error() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(STDOUT_CHILD), "100000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.readline()
    child.stdout.close()  # like `| head -1`
    err = child.stderr.read().decode()
    child.stderr.close()
    assert child.wait(timeout=30) == 5
    assert err.startswith("the reader closed the pipe writing stdout (wrote ")
    assert err.count("\n") == 1 and "Traceback" not in err and "Exception" not in err
