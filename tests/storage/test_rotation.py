"""Rotation (``record --rotate``): real files, a real demo feed, time simulated by a warp.

The hour-long recording is simulated: the rotating sinks decide files by a
warped receive time (a few real seconds stand for an hour), while a plain
sink of the same recorder writes the single-file recording to compare with.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from kit.hk import run_hk
from kit.waiting import wait_until

from hkticks.alltick import protocol as alltick
from hkticks.errors import OutputError, UsageError
from hkticks.feed.queue import TickQueue
from hkticks.feed.session import SessionConfig
from hkticks.feed.shards import Feed
from hkticks.server.demo import start_demo
from hkticks.storage.readers import Recording, TickFile
from hkticks.storage.recorder import Recorder
from hkticks.storage.sinks import check_output, open_jsonl_sink, open_tick_sink
from hkticks.storage.sinks.csvfile import HEADER
from hkticks.storage.sinks.jsonl import JsonlSink
from hkticks.storage.sinks.rotating import (
    DAY_MS,
    HKT_OFFSET_MS,
    HOUR_MS,
    FollowerSink,
    RotatePolicy,
    RotatingSink,
    expand,
    parse_rotate,
    parse_size,
    period_index,
    template_for,
)
from hkticks.tick import Event, Tick

# 2024-05-02 09:30:00 HKT as epoch ms
DAY0 = 1_714_613_400_000


def hkt(h: int, m: int = 0, s: int = 0, day: int = 0) -> int:
    """Epoch ms of 2024-05-02 (+day) h:m:s Hong Kong time."""
    return DAY0 + day * DAY_MS + ((h - 9) * 3600 + (m - 30) * 60 + s) * 1000


def tick(i: int, recv_ts: int, symbol: str = "00700") -> Tick:
    return Tick(
        symbol, recv_ts - 3, 300.0 + i % 7 * 0.2, 100 * (1 + i % 5), 0.0, "buy", i, recv_ts, "t"
    )


def lines_of(path: str | Path) -> list[bytes]:
    data = Path(path).read_bytes()
    assert data.endswith(b"\n"), f"{path} does not end with a complete line"
    return data.splitlines(keepends=True)


# -- policies and templates ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("daily", RotatePolicy("daily", None)),
        ("HOURLY", RotatePolicy("hourly", None)),
        ("500MB", RotatePolicy(None, 500_000_000)),
        ("1.5GiB", RotatePolicy(None, 1_610_612_736)),
        ("64k", RotatePolicy(None, 64_000)),
        ("daily,1GB", RotatePolicy("daily", 1_000_000_000)),
        ("2048", RotatePolicy(None, 2048)),
    ],
)
def test_parse_rotate(text: str, policy: RotatePolicy) -> None:
    assert parse_rotate(text) == policy


@pytest.mark.parametrize("text", ["weekly", "", "10", "5XB", "daily,hourly", "1GB,2GB", "-5MB"])
def test_parse_rotate_rejects_with_a_hint(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_rotate(text)
    assert "--rotate" in str(err.value)


def test_parse_size_units() -> None:
    assert parse_size("1kB") == 1000
    assert parse_size("1KiB") == 1024
    assert parse_size("2 MiB") == 2 << 20
    with pytest.raises(UsageError):
        parse_size("12 parsecs")


@pytest.mark.parametrize(
    ("path", "rotate", "template"),
    [
        ("ticks.jsonl", "daily", "ticks-{date}.jsonl"),
        ("ticks.jsonl.gz", "daily", "ticks-{date}.jsonl.gz"),
        ("d/ticks.csv", "hourly", "d/ticks-{date}-{hour}.csv"),
        ("ticks-{date}.jsonl", "hourly", "ticks-{date}-{hour}.jsonl"),
        ("ticks-{date}.db", "daily", "ticks-{date}.db"),
        ("t.jsonl", "500MB", "t-{part}.jsonl"),
        ("t-{date}.csv.zst", "daily,1GB", "t-{date}-{part}.csv.zst"),
        ("{date}/t.jsonl", None, "{date}/t.jsonl"),
        ("t.jsonl", None, None),
        ("-", "daily", None),
    ],
)
def test_templates(path: str, rotate: str | None, template: str | None) -> None:
    policy = parse_rotate(rotate) if rotate else None
    assert template_for(path, policy) == template


@pytest.mark.parametrize(
    ("path", "rotate", "words"),
    [
        ("t-{day}.jsonl", None, "unknown placeholder {day}"),
        ("t-{part}.jsonl", None, "--rotate"),
        ("t-{part}.jsonl", "daily", "--rotate SIZE"),
        ("t-{hour}.jsonl", None, "no {date}"),
    ],
)
def test_bad_templates_are_usage_errors(path: str, rotate: str | None, words: str) -> None:
    with pytest.raises(UsageError) as err:
        template_for(path, parse_rotate(rotate) if rotate else None)
    assert words in str(err.value)


def test_expand_uses_hong_kong_time() -> None:
    # 15:59:59.999 UTC is 23:59:59.999 HKT; a millisecond later is the next HK day
    last = hkt(23, 59, 59) + 999
    assert expand("t-{date}-{hour}-{part}.csv", last, 3) == "t-2024-05-02-23-0003.csv"
    assert expand("t-{date}-{hour}.csv", last + 1) == "t-2024-05-03-00.csv"
    assert period_index(last, DAY_MS) + 1 == period_index(last + 1, DAY_MS)
    assert (last + 1 + HKT_OFFSET_MS) % DAY_MS == 0


# -- the sink on its own -------------------------------------------------------------


class Journal:
    """Wraps a real sink opener and logs opens and closes, to check their order."""

    def __init__(self, opener: Any = open_tick_sink) -> None:
        self.log: list[tuple[str, str]] = []
        self.opener = opener

    def __call__(self, path: str) -> Any:
        self.log.append(("open", path))
        sink = self.opener(path)
        close = sink.close

        def logged_close() -> None:
            if ("close", path) not in self.log:
                self.log.append(("close", path))
            close()

        sink.close = logged_close
        return sink


@pytest.mark.parametrize("ext", ["jsonl", "csv", "db", "jsonl.gz"])
def test_hourly_files_are_closed_before_the_next_opens_and_hold_their_hour(
    tmp_path: Path, ext: str
) -> None:
    journal = Journal()
    template = str(tmp_path / f"t-{{date}}-{{hour}}.{ext}")
    sink = RotatingSink(template, journal, clock=lambda: hkt(9, 59))
    ticks = [tick(i, hkt(9, 59) + i * 20_000) for i in range(400)]  # 09:59 .. 12:12
    for i in range(0, 400, 37):  # batches that straddle the hours
        sink.write(ticks[i : i + 37])
    sink.close()
    events = sink.take_events()
    hours = ["09", "10", "11", "12"]
    names = [str(tmp_path / f"t-2024-05-02-{h}.{ext}") for h in hours]
    assert sink.files == names
    expected_log = []
    for n in names:
        expected_log += [("open", n), ("close", n)]
    assert journal.log == expected_log
    assert [e.event for e in events] == ["rotated"] * 3
    assert [(e.details["from"], e.details["to"], e.details["reason"]) for e in events] == [
        (names[i], names[i + 1], "hour") for i in range(3)
    ]
    got: list[Tick] = []
    for h, name in zip(hours, names, strict=True):
        part = list(TickFile(name))
        assert part, name
        assert {
            time.strftime("%H", time.gmtime((t.recv_ts + HKT_OFFSET_MS) // 1000)) for t in part
        } == {h}
        got += part
    assert got == ticks
    assert sink.rows == 400
    if ext == "csv":
        assert all(Path(n).read_bytes().startswith(HEADER) for n in names)
    if ext == "db":
        assert not any(os.path.exists(n + "-wal") for n in names)  # checkpointed and closed
    if ext == "jsonl.gz":
        assert all(gzip.open(n).read().count(b"\n") == len(list(TickFile(n))) for n in names)


def test_a_late_tick_stays_in_the_current_file(tmp_path: Path) -> None:
    sink = RotatingSink(
        str(tmp_path / "t-{date}-{hour}.jsonl"), open_tick_sink, clock=lambda: hkt(9, 59)
    )
    sink.write([tick(0, hkt(9, 59, 59)), tick(1, hkt(10, 0, 1))])
    sink.write(
        [
            tick(
                2,
                hkt(
                    9,
                    59,
                    59,
                )
                + 500,
            ),
            tick(3, hkt(10, 0, 2)),
        ]
    )  # received late-stamped
    sink.close()
    assert [t.seq for t in TickFile(str(tmp_path / "t-2024-05-02-10.jsonl"))] == [1, 2, 3]


def test_daily_rotation_at_hong_kong_midnight(tmp_path: Path) -> None:
    sink = RotatingSink(str(tmp_path / "t-{date}.csv"), open_tick_sink, clock=lambda: hkt(23, 59))
    sink.write(
        [tick(0, hkt(23, 59, 59) + 999), tick(1, hkt(0, 0, 0, day=1)), tick(2, hkt(9, 30, day=1))]
    )
    sink.close()
    assert [t.seq for t in TickFile(str(tmp_path / "t-2024-05-02.csv"))] == [0]
    assert [t.seq for t in TickFile(str(tmp_path / "t-2024-05-03.csv"))] == [1, 2]


def test_a_restarted_recorder_appends_to_the_period_file(tmp_path: Path) -> None:
    template = str(tmp_path / "t-{date}.jsonl")
    first = RotatingSink(template, open_tick_sink, clock=lambda: hkt(10))
    first.write([tick(i, hkt(10) + i) for i in range(5)])
    first.close()
    second = RotatingSink(template, open_tick_sink, clock=lambda: hkt(11))
    second.write([tick(i, hkt(11) + i) for i in range(5, 9)])
    second.close()
    assert second.files == [str(tmp_path / "t-2024-05-02.jsonl")]
    assert [t.seq for t in TickFile(second.files[0])] == list(range(9))


@pytest.mark.parametrize("ext", ["jsonl", "csv", "jsonl.gz", "db"])
def test_size_rotation_keeps_files_near_the_size(tmp_path: Path, ext: str) -> None:
    limit = {"jsonl": 40_000, "csv": 30_000, "jsonl.gz": 4_000, "db": 64_000}[ext]
    template = str(tmp_path / f"t-{{part}}.{ext}")
    sink = RotatingSink(template, open_tick_sink, max_bytes=limit, clock=lambda: hkt(10))
    ticks = [tick(i, hkt(10) + i, f"{i % 50:05d}") for i in range(3000)]
    for i in range(0, 3000, 250):
        sink.write(ticks[i : i + 250])
        sink.flush()
    sink.close()
    files = sink.files
    assert len(files) >= 3
    assert files == [template.replace("{part}", f"{n:04d}") for n in range(1, len(files) + 1)]
    for f in files[:-1]:
        size = os.path.getsize(f)
        # a file is switched once it reaches the size; the estimate may overshoot by a little
        # (compressed: by what the compressor still held, here at most one flush's worth)
        over = 2.0 if ext == "jsonl.gz" else 1.25
        assert 0.7 * limit <= size <= over * limit, (f, size)
    assert list(Recording(files)) == ticks
    events = sink.take_events()
    assert [e.details["reason"] for e in events] == ["size"] * (len(files) - 1)


def test_size_rotation_continues_the_last_part_after_a_restart(tmp_path: Path) -> None:
    template = str(tmp_path / "t-{part}.jsonl")
    ticks = [tick(i, hkt(10) + i) for i in range(800)]
    a = RotatingSink(template, open_tick_sink, max_bytes=30_000, clock=lambda: hkt(10))
    a.write(ticks[:400])
    a.close()
    b = RotatingSink(template, open_tick_sink, max_bytes=30_000, clock=lambda: hkt(10))
    assert b.path == a.files[-1] or os.path.getsize(a.files[-1]) >= 30_000
    b.write(ticks[400:])
    b.close()
    files = sorted(set(a.files + b.files))
    assert list(Recording(files)) == ticks


def test_check_output_expands_templates_and_creates_their_directories(tmp_path: Path) -> None:
    check_output(str(tmp_path / "{date}" / "t.jsonl"))
    today = expand("{date}", int(time.time() * 1000))
    assert (tmp_path / today).is_dir()
    with pytest.raises(OutputError):
        check_output(str(tmp_path / "missing" / "t-{date}.jsonl"))
    with pytest.raises(UsageError):
        check_output(str(tmp_path / "t-{month}.jsonl"))


# -- an hour of a live demo feed -------------------------------------------------------


FAST = SessionConfig(heartbeat_interval=0.5, backoff_initial=0.1, backoff_cap=0.5)


def test_an_hour_of_hourly_rotation_from_the_demo_equals_one_file(tmp_path: Path) -> None:
    """4 s of a real demo feed stand for 09:45-10:45 HKT: 15 simulated minutes a second.

    Simulated time starts with the first trade received, however long connecting took.
    """
    sim0 = hkt(9, 45)
    real0: list[int] = []

    def warp(ms: int) -> int:
        if not real0:
            real0.append(ms)
        return sim0 + (ms - real0[0]) * 900

    def clock() -> int:
        return warp(time.time_ns() // 1_000_000) if real0 else sim0

    def time_of(t: Any) -> int:
        return warp(t.recv_ts)

    exts = ["jsonl", "csv", "db", "jsonl.gz"]
    with start_demo(rate=1500.0, seed=11) as demo:
        queue = TickQueue()
        feed = Feed(
            ["00700", "09988", "03690", "01810", "00939"],
            url=demo.ws_url,
            token=demo.token,
            plan=alltick.PLANS["all-hk"],
            queue=queue,
            config=FAST,
            request_spacing=0.2,
            connection_spacing=0.2,
        )
        rotating = [
            open_tick_sink(
                str(tmp_path / f"rot-{{date}}-{{hour}}.{ext}"), time_of=time_of, clock=clock
            )
            for ext in exts
        ]
        single = JsonlSink(str(tmp_path / "single.jsonl"))
        assert isinstance(rotating[0], RotatingSink)
        events = FollowerSink(rotating[0], ".events.jsonl", open_jsonl_sink)
        recorder = Recorder(queue, [*rotating, single], event_sink=events, flush_interval=0.2)
        recorder.start()
        feed.start()
        wait_until(lambda: clock() >= hkt(10, 45), 20, "the fast clock to pass 10:45")
        feed.stop()
        recorder.stop()
    assert recorder.error is None
    whole = lines_of(tmp_path / "single.jsonl")
    assert len(whole) > 200
    names = {
        ext: [str(tmp_path / f"rot-2024-05-02-{h}.{ext}") for h in ("09", "10")] for ext in exts
    }
    for ext in exts:
        assert [os.path.basename(f) for f in rotating[exts.index(ext)].files] == [
            os.path.basename(f) for f in names[ext]
        ]
    # JSONL: the files, in order, are the single file byte for byte
    assert b"".join(Path(f).read_bytes() for f in names["jsonl"]) == b"".join(whole)
    # every format holds the same trades, each file only its own hour of (warped) receive time
    expected = list(TickFile(str(tmp_path / "single.jsonl")))
    for ext in exts:
        got: list[Tick] = []
        for hour, f in zip((9, 10), names[ext], strict=True):
            part = list(TickFile(f))
            assert part and all(
                period_index(time_of(t), HOUR_MS) == period_index(hkt(hour), HOUR_MS) for t in part
            )
            got += part
        assert got == expected, ext
    assert not any(os.path.exists(f + "-wal") for f in names["db"])
    assert all(Path(f).read_bytes().startswith(HEADER) for f in names["csv"])
    for f in names["jsonl.gz"]:  # complete gzip members: the standard module reads them cleanly
        assert gzip.open(f).read().count(b"\n") == len(list(TickFile(f)))
    # the switches are in the events: the second file's sidecar says where it came from
    side = [json.loads(line) for line in lines_of(names["jsonl"][1] + ".events.jsonl")]
    rotated = [e for e in side if e["event"] == "rotated"]
    assert {(e["from"], e["to"]) for e in rotated} >= {
        (names[ext][0], names[ext][1]) for ext in exts
    }
    first_side = [
        json.loads(line)["event"] for line in lines_of(names["jsonl"][0] + ".events.jsonl")
    ]
    assert first_side[0] == "feed_start" and "rotated" not in first_side


# -- the command line ------------------------------------------------------------------


def test_record_rotate_size_writes_numbered_csv_parts_with_headers(tmp_path: Path) -> None:
    r = run_hk(
        tmp_path,
        *("record", "00700", "09988", "--demo", "--demo-rate", "1500"),
        *("--out", "t.csv", "--out", "t.jsonl", "--rotate", "20kB", "--duration", "3s"),
    )
    assert r.returncode == 0, r.stderr
    assert "t-0001.csv" in r.stderr and "new file at 20 kB" in r.stderr
    csvs = sorted(tmp_path.glob("t-*.csv"))
    jsonls = sorted(tmp_path.glob("t-????.jsonl"))
    # the summary names the files written, not the template
    assert "{part}" not in r.stderr.splitlines()[-1] and csvs[-1].name in r.stderr
    assert len(csvs) >= 2 and len(jsonls) >= 2
    rows = []
    for f in csvs:
        with open(f, newline="") as fh:
            reader = csv.reader(fh)
            assert next(reader) == list(HEADER.decode().strip().split(","))
            rows += list(reader)
    assert len(rows) == sum(len(lines_of(f)) for f in jsonls)
    assert list(Recording([str(f) for f in csvs])) == list(Recording([str(f) for f in jsonls]))
    # each part of the first --out has its sidecar; the rotations are recorded in them
    sidecars = sorted(tmp_path.glob("t-????.csv.events.jsonl"))
    assert len(sidecars) == len(csvs)
    assert not list(tmp_path.glob("*.jsonl.events.jsonl"))
    events = [json.loads(line) for f in sidecars for line in lines_of(f)]
    assert any(e["event"] == "rotated" and e["reason"] == "size" for e in events)


def test_record_rotate_hourly_names_files_by_hong_kong_hour(tmp_path: Path) -> None:
    r = run_hk(
        tmp_path,
        *("record", "00700", "--demo", "--out", "data/{date}/t.jsonl.gz", "--rotate", "hourly"),
        "--duration",
        "1s",
    )
    assert r.returncode == 0, r.stderr
    files = list(tmp_path.glob("data/*/t-*.jsonl.gz"))
    assert len(files) >= 1
    now = int(time.time() * 1000)
    assert files[0].parent.name in {expand("{date}", now), expand("{date}", now - 5000)}
    assert files[0].name.startswith("t-") and len(files[0].name) == len("t-HH.jsonl.gz")


def test_record_refuses_bad_rotate_before_connecting(tmp_path: Path) -> None:
    r = run_hk(tmp_path, "record", "00700", "--demo", "--out", "t.jsonl", "--rotate", "weekly")
    assert r.returncode == 2
    assert "--rotate" in r.stderr and "Traceback" not in r.stderr
    r = run_hk(tmp_path, "record", "00700", "--demo", "--out", "t.db.gz")
    assert r.returncode == 2 and "cannot be compressed" in r.stderr
    assert not list(tmp_path.glob("t*"))


def test_event_rotation_by_template(tmp_path: Path) -> None:
    sink = open_jsonl_sink(
        str(tmp_path / "ev-{date}.jsonl"), time_of=lambda e: e.ts, clock=lambda: hkt(23)
    )
    sink.write([Event(hkt(23, 30), "connected", 0), Event(hkt(0, 5, day=1), "stale", 0)])
    sink.close()
    assert [json.loads(x)["event"] for x in lines_of(tmp_path / "ev-2024-05-02.jsonl")] == [
        "connected"
    ]
    assert [json.loads(x)["event"] for x in lines_of(tmp_path / "ev-2024-05-03.jsonl")] == ["stale"]


def test_size_rotation_below_an_empty_database_is_refused_for_sqlite() -> None:
    from hkticks.errors import UsageError
    from hkticks.storage.sinks.rotating import parse_rotate, template_for

    with pytest.raises(UsageError, match="too small for SQLite"):
        template_for("r-{part}.db", parse_rotate("4KB"))
    assert template_for("r-{part}.jsonl", parse_rotate("4KB")) == "r-{part}.jsonl"


def test_hour_in_a_daily_template_is_refused() -> None:
    from hkticks.errors import UsageError
    from hkticks.storage.sinks.rotating import parse_rotate, template_for

    with pytest.raises(UsageError, match="--rotate hourly"):
        template_for("h-{hour}.jsonl", parse_rotate("daily"))
