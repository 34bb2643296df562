"""One slow or absent output never holds back another (issue 25, item 2).

Each output has its own bounded queue and thread; what one loses is counted,
reported as it happens (an event in the sidecar, a log line, the status
line) and makes the exit status non-zero, on SIGTERM too. Real servers
throughout: the embedded AllTick server, a PostgreSQL stopped and started
again, a FIFO nobody reads, a nats-server with a small discard-new stream.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kit.hk import hk_env
from kit.recording import (
    SYMBOLS,
    check_recording,
    finish,
    keys_of,
    read_jsonl,
    start_record,
    subscribed,
)
from kit.services import NatsServer, PgCluster
from kit.waiting import wait_until

from hkticks.feed.queue import TickQueue
from hkticks.feed.shards import FeedStatus
from hkticks.run.record_job import status_line
from hkticks.storage.recorder import Recorder
from hkticks.storage.sinks import open_jsonl_sink, open_tick_sink
from hkticks.storage.sinks.queued import QueuedSink
from hkticks.tick import Event, Tick


def args_for(server: Any, *outs: str, extra: tuple[str, ...] = ()) -> list[str]:
    out_args = [x for o in outs for x in ("--out", o)]
    return [
        "record",
        *SYMBOLS,
        "--url",
        server.ws_url,
        "--token",
        "t",
        "--plan",
        "all-hk",
        *out_args,
        "--flush-interval",
        "0.2",
        *extra,
    ]


def lines_in(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("hkticks: error:")]


# ---------------------------------------------------------------------- in process


class Stuck:
    """An output whose writes block until released (a hung disk, a dead database)."""

    def __init__(self) -> None:
        self.path = "stuck.jsonl"
        self.rows = 0
        self.repaired_bytes = 0
        self.release = threading.Event()
        self.entered = threading.Event()

    def write(self, items: Any) -> None:
        self.entered.set()
        self.release.wait(60)
        self.rows += len(items)

    def flush(self, fsync: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


def ticks(n: int, start: int = 0) -> list[Tick]:
    return [
        Tick("00700", 1_764_727_200_000 + i, 380.0, 100, 38_000.0, "buy", i, 1, "t")
        for i in range(start, start + n)
    ]


def test_a_stuck_output_holds_back_no_other_and_its_losses_are_said(tmp_path: Path) -> None:
    queue = TickQueue(10_000)
    stuck = Stuck()
    good = tmp_path / "good.jsonl"
    events = tmp_path / "e.jsonl"
    rec = Recorder(
        queue,
        [open_tick_sink(str(good)), stuck],
        event_sink=open_jsonl_sink(str(events)),
        flush_interval=0.1,
        output_rows=1000,
    )
    rec.start()
    try:
        for i in range(10):  # 5,000 trades, 500 at a time: the good output keeps up
            for t in ticks(500, start=i * 500):
                queue.put(t)
            want = (i + 1) * 500
            wait_until(lambda want=want: lines_in(good) == want, what="the good output")
        assert stuck.entered.is_set()
        wait_until(lambda: rec.sink_dropped > 0, what="the stuck output's losses")
        wait_until(
            lambda: any(e["event"] == "dropped" for e in read_jsonl(events)),
            what="a dropped event while the run goes on",
        )
        st = FeedStatus([], 5000, 0, 0, 0, 0, 0, 0)
        line = status_line(st, 0.0, None, rec)
        assert f"LOST {rec.sink_dropped:,} on stuck.jsonl" in line
    finally:
        for sink in rec.tick_sinks:  # a short stall for the end
            if isinstance(sink, QueuedSink):
                sink.stall_s = 0.5
        started = time.monotonic()
        rec.stop()
        ended = time.monotonic() - started
        stuck.release.set()
    assert ended < 10
    assert rec.error is None
    lost = dict(rec.output_losses())
    # everything the stuck output did not write is counted: queue full, then given up on
    assert stuck.rows + lost["stuck.jsonl"] == 5000 and list(lost) == ["stuck.jsonl"]
    assert lines_in(good) == 5000
    reported = [e for e in read_jsonl(events) if e["event"] == "dropped"]
    assert sum(e["count"] for e in reported) == lost["stuck.jsonl"]
    assert {e["output"] for e in reported} == {"stuck.jsonl"}


def test_a_stuck_events_sidecar_holds_back_no_output_and_its_losses_are_said(
    tmp_path: Path,
) -> None:
    queue = TickQueue(10_000)
    stuck = Stuck()  # the --events target: a FIFO nobody reads, a hung disk
    good = tmp_path / "good.jsonl"
    rec = Recorder(
        queue, [open_tick_sink(str(good))], event_sink=stuck, flush_interval=0.1, output_rows=1000
    )
    rec.start()
    try:
        for i in range(10):  # an event before each 500 trades: the file keeps up regardless
            queue.put_event(Event(1_764_727_200_000 + i, "note", None, {"i": i}))
            for t in ticks(500, start=i * 500):
                queue.put(t)
            want = (i + 1) * 500
            wait_until(lambda want=want: lines_in(good) == want, what="the tick output")
        assert stuck.entered.is_set()
        for i in range(1100):  # more events than the sidecar's queue holds
            queue.put_event(Event(1_764_727_300_000 + i, "note", None, {"i": i}))
        wait_until(lambda: rec.side_losses(), what="the sidecar's losses")
        st = FeedStatus([], 5000, 0, 0, 0, 0, 0, 0)
        ((where, lost, kind),) = rec.side_losses()
        assert (where, kind) == ("stuck.jsonl", "events") and lost > 0
        assert f"LOST {lost:,} events on stuck.jsonl" in status_line(st, 0.0, None, rec)
    finally:
        assert isinstance(rec.event_sink, QueuedSink)
        rec.event_sink.stall_s = 0.5  # a short stall for the end
        started = time.monotonic()
        rec.stop()
        ended = time.monotonic() - started
        stuck.release.set()
    assert ended < 10 and rec.error is None
    assert lines_in(good) == 5000 and rec.output_losses() == []
    ((_, lost, _),) = rec.side_losses()
    # every event is either written or counted lost (1,110 queued, and the end's own events)
    assert stuck.rows + lost >= 1110


# ---------------------------------------------------------------------- PostgreSQL outage


def test_a_postgres_outage_freezes_nothing_else_and_sigterm_exits_non_zero(
    tmp_path: Path, server: Any, pg_cluster: PgCluster, pg_url: str
) -> None:
    server.set_rate(400.0)
    out = tmp_path / "t.jsonl"
    proc = start_record(tmp_path, args_for(server, str(out), pg_url))
    stopped = False
    try:
        wait_until(lambda: lines_in(out) > 50, what="trades in the file")
        pg_cluster.stop("immediate")
        stopped = True
        at_outage = lines_in(out)
        # the file goes on growing while the database is away (it froze before)
        wait_until(lambda: lines_in(out) > at_outage + 400, what="the file to grow in the outage")
        proc.send_signal(signal.SIGTERM)
        err = finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if stopped:
            pg_cluster.start()
    assert proc.returncode == 6, err
    (line,) = error_lines(err)
    assert "postgresql://" in line and "ticks were dropped" in line, line
    rows = read_jsonl(out)
    check_recording(keys_of(rows), server.sent_trades())
    events = read_jsonl(Path(f"{out}.events.jsonl"))
    dropped = [e for e in events if e["event"] == "dropped"]
    assert dropped and all(e["output"].startswith("postgresql://") for e in dropped)
    lost = int(line.split("hkticks: error: ")[1].split(" ")[0].replace(",", ""))
    assert sum(e["count"] for e in dropped) == lost


# ---------------------------------------------------------------------- a FIFO nobody reads


def record_beside_a_held_fifo(
    tmp_path: Path, fifo: Path, args: list[str], *, full: bool
) -> tuple[subprocess.CompletedProcess[str], float]:
    """A 3 s ``hkticks record ARGS`` while ``fifo`` is held open and never read (a one-page
    pipe; ``full``: filled first, so the first write blocks); its result and how long it took."""
    held = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    fcntl.fcntl(held, fcntl.F_SETPIPE_SZ, 4096)
    try:
        while full:
            os.write(held, b"\n" * 4096)
    except BlockingIOError:
        pass
    started = time.monotonic()
    try:
        r = subprocess.run(
            [sys.executable, "-m", "hkticks", *args, "--duration", "3s"],
            env=hk_env(tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        os.close(held)
    return r, time.monotonic() - started


def test_a_fifo_nobody_reads_costs_the_file_nothing_and_exits_non_zero(
    tmp_path: Path, server: Any
) -> None:
    server.set_rate(400.0)
    out = tmp_path / "t.jsonl"
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    # held open, never read: the pipe exists, and holds a page (some 25 trades)
    args = [*args_for(server, str(out), str(fifo)), "--events", str(tmp_path / "e.jsonl")]
    r, elapsed = record_beside_a_held_fifo(tmp_path, fifo, args, full=False)
    assert r.returncode == 6, r.stderr
    (line,) = error_lines(r.stderr)
    assert str(fifo) in line and "the other outputs have them" in line, line
    assert elapsed < 60  # given up on after a short stall, not waited for
    rows = read_jsonl(out)
    check_recording(keys_of(rows), server.sent_trades())
    dropped = [e for e in read_jsonl(tmp_path / "e.jsonl") if e["event"] == "dropped"]
    assert dropped and {e["output"] for e in dropped} == {str(fifo)}


def test_an_events_fifo_nobody_reads_costs_the_file_nothing_and_exits_non_zero(
    tmp_path: Path, server: Any
) -> None:
    server.set_rate(400.0)
    out = tmp_path / "t.jsonl"
    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)
    args = [*args_for(server, str(out)), "--events", str(fifo)]
    r, elapsed = record_beside_a_held_fifo(tmp_path, fifo, args, full=True)
    assert r.returncode == 6, r.stderr
    (line,) = error_lines(r.stderr)
    assert f"events on {fifo}" in line and "every tick was written" in line, line
    assert elapsed < 60  # given up on after a short stall, not waited for
    rows = read_jsonl(out)
    sent = server.sent_trades()
    check_recording(keys_of(rows), sent)
    assert len(rows) >= 0.9 * len(sent), (len(rows), len(sent))  # not frozen at the first event


# ---------------------------------------------------------------------- a full JetStream


def make_small_stream(url: str, max_msgs: int) -> None:
    nats = pytest.importorskip("nats")

    async def run() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.add_stream(
            name="HK",
            subjects=["hk.>"],
            max_msgs=max_msgs,
            discard=nats.js.api.DiscardPolicy.NEW,
        )
        await nc.close()

    asyncio.run(run())


def test_a_full_discard_new_jetstream_is_reported_as_it_happens(
    tmp_path: Path, server: Any, nats_server: NatsServer
) -> None:
    server.set_rate(400.0)
    make_small_stream(nats_server.url, 100)
    out = tmp_path / "t.jsonl"
    events = Path(f"{out}.events.jsonl")
    proc = start_record(tmp_path, args_for(server, str(out), f"{nats_server.url}/hk"))
    try:
        wait_until(lambda: subscribed(server), what="the subscription")

        def reported() -> list[dict[str, Any]]:
            if not events.exists():
                return []
            return [e for e in read_jsonl(events) if e["event"] == "dropped"]

        wait_until(reported, what="a dropped event while recording")
        assert proc.poll() is None  # said during the run, not only at exit
        at_report = lines_in(out)
        wait_until(lambda: lines_in(out) > at_report + 200, what="the file to go on")
        proc.send_signal(signal.SIGINT)
        err = finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0, err
    assert "JetStream refuses new messages" in err and "maximum messages exceeded" in err
    dropped = reported()
    assert all(e["output"].startswith("nats://") for e in dropped)
    assert "refused" in dropped[0]["reason"]
    check_recording(keys_of(read_jsonl(out)), server.sent_trades())


class Slow:
    """An output that writes at once but takes its time to close (a gzip trailer, an fsync)."""

    path = "slow-close.jsonl"
    repaired_bytes = 0

    def __init__(self) -> None:
        self.rows = 0
        self.closed = False

    def write(self, items: Any) -> None:
        self.rows += len(items)

    def flush(self, fsync: bool = False) -> None:
        pass

    def close(self) -> None:
        time.sleep(1.5)  # the work of closing, not a wait for a state
        self.closed = True


def test_an_output_slow_to_close_is_waited_for_and_a_big_batch_keeps_what_fits() -> None:
    inner = Slow()
    sink = QueuedSink(inner, max_rows=300, stall_s=0.2)
    sink.write(ticks(500))  # more than its room: the first 300 are kept
    sink.close()
    assert inner.closed and inner.rows == 300
    assert sink.dropped == 200 and sink.rows == 300
    (event,) = sink.take_events()
    assert event.event == "dropped" and event.details["count"] == 200
    assert event.details["output"] == "slow-close.jsonl"
