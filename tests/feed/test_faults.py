"""Fault injection: ``record`` against a misbehaving server, over real loopback sockets.

Each case makes the embedded server (or the disk, or the operating system)
misbehave while a recording runs, then checks what was WRITTEN: every line
whole and valid, no trade twice, no trade lost that reached the client, and
events that explain each gap. Cases already covered elsewhere are not
repeated here: clean closes, 401/403/503 handshakes, 603, 605, 600 for one
symbol of many and the stale-feed watchdog (tests/feed/test_feed.py); SIGTERM,
torn-line repair, a full disk and appending runs (tests/cli/test_record.py).
"""

from __future__ import annotations

import itertools
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from kit.hk import hk_env
from kit.recording import (
    SYMBOLS,
    busy_universe,
    check_recording,
    events_named,
    finish,
    keys_of,
    let_trades_flow,
    limited_fsize,
    lines_in,
    read_jsonl,
    record_args,
    record_universe,
    run_feed,
    start_record,
    subscribed,
    summary_count,
)
from kit.waiting import wait_until

from hkticks.alltick import protocol as alltick
from hkticks.feed.session import SessionConfig
from hkticks.run.record_job import status_line
from hkticks.server import MarketServer
from hkticks.tick import RECORD_FIELDS

WAIT_S = 20.0  # upper bound for conditions that normally hold within a second or two


# ---------------------------------------------------------------------- connection faults


def test_abrupt_tcp_reset_loses_only_what_was_in_flight(
    tmp_path: Path, server: MarketServer
) -> None:
    out = tmp_path / "t.jsonl"
    proc = start_record(tmp_path, record_args(server, out))
    try:
        resets: list[int] = []  # length of the sent log just after each reset
        for n in range(1, 3):
            wait_until(lambda n=n: subscribed(server, n), what=f"connection {n}")
            let_trades_flow(server)
            assert server.disconnect_all(mode="reset") == 1
            # nothing more is sent until the recorder is back (3 s later at the earliest)
            resets.append(len(server.sent_trades()))
        wait_until(lambda: subscribed(server, 3), what="the 3rd connection")
        let_trades_flow(server)
    finally:
        proc.send_signal(signal.SIGTERM)
    err = finish(proc)
    assert proc.returncode == 0, err
    sent = server.sent_trades()
    rows = read_jsonl(out)
    assert len(rows) == summary_count(err) > 50
    index = {(sym, seq): i for i, (_, sym, seq) in enumerate(sent)}

    def in_flight_at_a_reset(key: tuple[str, int]) -> bool:
        # a TCP reset discards what is still in the socket buffers: only the
        # last trades sent before a reset may be missing
        i = index[key]
        return any(r - 30 <= i < r for r in resets)

    check_recording(keys_of(rows), sent, allowed_missing=in_flight_at_a_reset)
    events = read_jsonl(Path(f"{out}.events.jsonl"))
    gone = [e for e in events if e["event"] == "disconnected"]
    assert len(gone) == 2
    assert all(e["was_connected"] for e in gone)
    assert all("reset" in e["reason"].lower() or "lost" in e["reason"].lower() for e in gone), gone
    assert sum(1 for e in events if e["event"] == "subscribed") == 3


def test_no_trade_falls_inside_its_own_outage(
    tmp_path: Path, server: MarketServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gap ends at the first trade after it: at that trade's recv_ts, not at a
    clock read later. The session's clock here runs 3 ms further on each read, as
    it does for a thread preempted between two reads (CI saw a trade 6 ms inside
    its own outage): any bound read from the clock after the trade shows it."""
    from hkticks.feed import session as session_mod

    real, skew = session_mod.now_ms, itertools.count(0, 3)
    monkeypatch.setattr(session_mod, "now_ms", lambda: real() + next(skew))
    feed, recorder, out, events_path = run_feed(server, tmp_path)
    try:
        wait_until(lambda: subscribed(server), what="the subscription")
        let_trades_flow(server)
        assert server.disconnect_all(mode="reset") == 1
        wait_until(lambda: events_named(events_path, "gap"), what="the gap event")
    finally:
        feed.stop()
        recorder.stop()
    (gap,) = events_named(events_path, "gap")
    rows = read_jsonl(out)
    assert [r for r in rows if gap["start"] < r["recv_ts"] < gap["end"]] == []


@pytest.mark.parametrize("fault", ["close", "partial"])
def test_connection_dropped_during_the_handshake_is_retried(
    tmp_path: Path, server: MarketServer, fault: str
) -> None:
    server.handshake_fault = fault
    feed, recorder, out, events_path = run_feed(server, tmp_path)
    try:
        failed = wait_until(
            lambda: feed.status().connections[0].reconnects >= 2, what="two dropped handshakes"
        )
        assert failed and server.connections() == []  # no handshake ever completed
        server.handshake_fault = None
        wait_until(lambda: subscribed(server), what="a connection once the fault is gone")
        wait_until(lambda: recorder.ticks >= 40, what="40 trades recorded")
    finally:
        feed.stop()
        recorder.stop()
    rows = read_jsonl(out)
    assert rows and len(rows) == recorder.ticks
    check_recording(keys_of(rows), server.sent_trades())
    events = read_jsonl(events_path)
    connected = [i for i, e in enumerate(events) if e["event"] == "connected"]
    refused = [e for e in events[: connected[0]] if e["event"] == "disconnected"]
    assert len(refused) >= 2 and len(connected) == 1
    assert all(not e["was_connected"] and e["reason"] for e in refused)
    attempts = [e["attempt"] for e in events if e["event"] == "connecting"]
    assert attempts == list(range(1, len(refused) + 2))


def test_stalled_server_gap_is_explained_by_events(tmp_path: Path, server: MarketServer) -> None:
    """The server stops sending and answering heartbeats: the watchdog reconnects,
    and the events say why (test_feed.py checks the reconnect itself)."""
    feed, recorder, out, events_path = run_feed(
        server, tmp_path, config=SessionConfig(heartbeat_interval=0.3, stale_timeout=1.0)
    )
    try:
        wait_until(lambda: subscribed(server), what="the subscription")
        wait_until(lambda: recorder.ticks >= 20, what="20 trades recorded")
        server.stall(True)
        stalled_at = len(server.sent_trades())
        wait_until(lambda: feed.status().reconnects >= 1, what="the watchdog")
        # The race (2 failures in 9 runs): unstalling before the server has seen
        # the first connection go let it send trades there, into a socket the
        # client had already dropped, "lost" although later ones were recorded;
        # and a second connection whose subscribe reached the still-stalled
        # server was never answered: it then sat there, heartbeats answered and
        # no data, for ever (the session now reconnects an unanswered subscribe,
        # see test_unanswered_subscribe_is_retried_on_a_new_connection).
        wait_until(
            lambda: server.connections()[0].closed_at is not None, what="the server to see it"
        )
        server.stall(False)
        wait_until(lambda: subscribed(server, 2), what="the second connection")
        before = recorder.ticks
        wait_until(lambda: recorder.ticks >= before + 40, what="40 trades on the second connection")
    finally:
        feed.stop()
        recorder.stop()
    rows = read_jsonl(out)
    sent = server.sent_trades()
    assert len(sent) > stalled_at
    check_recording(keys_of(rows), sent)
    first = server.connections()[0]
    unanswered = [r for r in first.requests if r[1] == alltick.CMD_HEARTBEAT and r[2] is None]
    assert unanswered, "the stalled server answered heartbeats"
    events = read_jsonl(events_path)
    names = [e["event"] for e in events]
    i = names.index("disconnected", names.index("stale"))
    assert events[i]["reason"] == "stale: nothing received for 1 s"


def test_unanswered_subscribe_is_retried_on_a_new_connection(
    tmp_path: Path, server: MarketServer
) -> None:
    """A server that swallows the subscribe but answers heartbeats afterwards:
    the connection is dropped after --stale-timeout and the next one subscribes."""
    server.stall(True)
    feed, recorder, out, events_path = run_feed(
        server, tmp_path, config=SessionConfig(heartbeat_interval=0.3, stale_timeout=1.5)
    )
    try:
        wait_until(
            lambda: any(
                r[2] is None and r[1] == alltick.CMD_SUB_TRADES
                for c in server.connections()
                for r in c.requests
            ),
            what="the swallowed subscribe",
        )
        server.stall(False)  # heartbeats are answered again: the connection looks alive
        wait_until(lambda: subscribed(server, 2), what="a connection that subscribed")
        wait_until(lambda: recorder.ticks > 20, what="trades")
    finally:
        feed.stop()
        recorder.stop()
    events = read_jsonl(events_path)
    stale = [e for e in events if e["event"] == "stale"]
    assert stale and "unanswered_s" in stale[0]
    gone = [e for e in events if e["event"] == "disconnected"]
    assert gone[0]["reason"] == "stale: subscription not answered within 1.5 s"
    rows = read_jsonl(out)
    check_recording(keys_of(rows), server.sent_trades())


def test_garbage_frames_are_dropped_counted_and_reported(
    tmp_path: Path, server: MarketServer
) -> None:
    out = tmp_path / "t.jsonl"
    proc = start_record(tmp_path, record_args(server, out))
    garbage: list[tuple[str | bytes, bool]] = [
        ('{"cmd_id":22998,"data":{"code":"700.HK",', False),  # invalid JSON
        (b"\x00\x01\x02binary", True),  # a binary frame
        (b'{"cmd_id":22998,"data":{"code":"\xff\xfe.HK"}}', False),  # invalid UTF-8
        ('{"cmd_id":22998,"data":{"pad":"' + "x" * (5 << 20) + '"}}', False),  # 5 MB
        (
            '{"cmd_id":22998,"data":{"code":"700.HK","seq":"1","tick_time":"1700000000000",'
            '"price":["382.4"],"volume":"100","turnover":"1","trade_direction":1}}',
            False,
        ),  # wrong field type
        ('{"cmd_id":31337,"data":{}}', False),  # unknown cmd_id
    ]
    try:
        wait_until(lambda: subscribed(server), what="the subscription")
        wait_until(lambda: lines_in(out) >= 20, what="20 trades recorded")
        for data, binary in garbage:
            assert server.push_raw(data, binary=binary) == 1
        # a real trade, in the server's own encoding, of a symbol never subscribed
        assert server.push_trade("01398") == 1
        # frames arrive in order: once the last one is reported, every one was handled
        wait_until(
            lambda: any(
                e["kind"] == "unsubscribed"
                for e in events_named(Path(f"{out}.events.jsonl"), "dropped_frame")
            ),
            what="the recorder to report the unsubscribed trade, the last frame",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
    err = finish(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"decode errors {len(garbage) + 1}" in err
    rows = read_jsonl(out)
    assert len(rows) == summary_count(err)
    assert all(list(r) == list(RECORD_FIELDS) for r in rows)
    assert "01398" not in {r["symbol"] for r in rows}
    # nothing lost: the connection survived every frame
    check_recording(keys_of(rows), server.sent_trades())
    assert len(server.connections()) == 1
    events = read_jsonl(Path(f"{out}.events.jsonl"))
    assert not [e for e in events if e["event"] == "disconnected"]
    dropped = {e["kind"] for e in events if e["event"] == "dropped_frame"}
    assert dropped == {
        "invalid_json",
        "binary_frame",
        "too_large",
        "bad_field",
        "unknown_cmd",
        "unsubscribed",
    }


# ---------------------------------------------------------------------- protocol errors


def test_token_revoked_mid_run_is_fatal_and_keeps_what_was_recorded(
    tmp_path: Path, server: MarketServer
) -> None:
    out = tmp_path / "t.jsonl"
    proc = start_record(tmp_path, record_args(server, out))
    wait_until(lambda: subscribed(server), what="the subscription")
    wait_until(lambda: lines_in(out) >= 40, what="40 trades recorded")
    # the token stops being valid: the resubscription after a drop gets ret 401
    server.next_ret(alltick.CMD_SUB_TRADES, alltick.RET_TOKEN_INVALID)
    server.disconnect_all(mode="close")
    err = finish(proc, timeout=30)
    assert proc.returncode == 3
    lines = [line for line in err.splitlines() if line.startswith("hkticks: error:")]
    assert len(lines) == 1 and "token rejected" in lines[0] and "Traceback" not in err
    assert len(server.connections()) == 2  # no reconnect after the 401 (the recorder exited)
    rows = read_jsonl(out)
    assert rows and len(rows) == summary_count(err)
    check_recording(keys_of(rows), server.sent_trades())
    events = read_jsonl(Path(f"{out}.events.jsonl"))
    assert [e["ret"] for e in events if e["event"] == "error"] == [401]
    names = [e["event"] for e in events]
    assert "connecting" not in names[names.index("fatal") :]  # nothing tried after it


def test_606_closes_and_the_reconnect_waits_the_longer_backoff(
    tmp_path: Path, server: MarketServer
) -> None:
    backoff = 2.0
    server.next_ret(alltick.CMD_SUB_TRADES, alltick.RET_TOO_MANY_REQUESTS_CLOSE)
    feed, recorder, out, events_path = run_feed(
        server,
        tmp_path,
        config=SessionConfig(
            heartbeat_interval=1.0,
            backoff_initial=0.1,
            backoff_cap=0.5,
            rate_limited_backoff=backoff,
        ),
    )
    try:
        wait_until(lambda: subscribed(server, 2), what="the second connection")
        wait_until(lambda: recorder.ticks >= 40, what="40 trades recorded")
    finally:
        feed.stop()
        recorder.stop()
    first, second = server.connections()[:2]
    assert [r[2] for r in first.requests if r[1] == alltick.CMD_SUB_TRADES] == [606]
    assert first.close_reason == "too many requests"
    assert first.closed_at is not None
    # a plain reconnect here would wait at most backoff_cap (0.5 s)
    assert second.opened_at - first.closed_at >= backoff - 0.05
    rows = read_jsonl(out)
    assert rows
    # the first connection never subscribed, so every trade came on the second
    check_recording(keys_of(rows), server.sent_trades())
    events = read_jsonl(events_path)
    errors = [e for e in events if e["event"] == "error"]
    assert [(e["ret"], e["backoff_s"]) for e in errors] == [(606, backoff)]
    gone = [e for e in events if e["event"] == "disconnected"]
    assert len(gone) == 1 and "too many requests" in gone[0]["reason"]
    again = [e for e in events if e["event"] == "reconnecting"]
    assert len(again) == 1 and again[0]["delay_s"] >= backoff


# ---------------------------------------------------------------------- slow and failing sinks


class BlockingSink:
    """A sink whose writes block until ``release`` is set: a stuck disk or pipe."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.path = inner.path
        self.repaired_bytes = 0
        self.release = threading.Event()
        self.blocked = threading.Event()

    @property
    def rows(self) -> int:
        return int(self.inner.rows)

    def write(self, items: Sequence[Any]) -> None:
        if not self.release.is_set():
            self.blocked.set()
            assert self.release.wait(60), "never released"
        self.inner.write(items)

    def flush(self, fsync: bool = False) -> None:
        self.inner.flush(fsync)

    def close(self) -> None:
        self.inner.close()


def test_slow_sink_queue_grows_status_shows_it_nothing_lost(
    tmp_path: Path, server: MarketServer
) -> None:
    """A stuck output: its own queue grows (the feed's stays short), the status
    line shows how far behind it is, and nothing is lost once it moves again."""
    sink: list[BlockingSink] = []

    def wrap(inner: Any) -> BlockingSink:
        sink.append(BlockingSink(inner))
        return sink[0]

    feed, recorder, out, _ = run_feed(server, tmp_path, sink_wrapper=wrap)
    try:
        assert sink[0].blocked.wait(WAIT_S), "no trade reached the sink"
        depths = []
        for _ in range(6):
            time.sleep(0.5)  # under test: the output is stuck for 3 s, its queue must grow
            depths.append(recorder.backlog)
        st = feed.status()
        wait_until(lambda: recorder.backlog >= 1000, what="a backlog the status line shows")
        line = status_line(feed.status(), 0.0, None, recorder)
        sink[0].release.set()
        wait_until(lambda: recorder.backlog == 0, what="the output to catch up")
        before = recorder.ticks
        wait_until(lambda: recorder.ticks >= before + 20, what="trades written after the catch-up")
    finally:
        sink[0].release.set()
        feed.stop()
        recorder.stop()
    assert depths == sorted(depths) and depths[-1] > depths[0] > 0
    assert st.queue_depth < depths[-1]  # the feed's queue is not what holds them
    assert "outputs behind" in line and "LOST" not in line
    assert st.dropped == 0 and recorder.sink_dropped == 0
    rows = read_jsonl(out)
    assert len(rows) == recorder.ticks == feed.status().ticks
    check_recording(keys_of(rows), server.sent_trades())


def test_slow_sink_beyond_the_bound_drops_and_counts(tmp_path: Path, server: MarketServer) -> None:
    sink: list[BlockingSink] = []

    def wrap(inner: Any) -> BlockingSink:
        sink.append(BlockingSink(inner))
        return sink[0]

    bound = 40
    feed, recorder, out, events = run_feed(server, tmp_path, sink_wrapper=wrap, output_rows=bound)
    try:
        assert sink[0].blocked.wait(WAIT_S)
        wait_until(lambda: recorder.sink_dropped > 20, what="drops at the bound")
        line = status_line(feed.status(), 0.0, None, recorder)
        sink[0].release.set()
        wait_until(lambda: feed.status().queue_depth == 0, what="the queue to drain")
    finally:
        sink[0].release.set()
        feed.stop()
        recorder.stop()
    assert "  LOST " in line and line.endswith(f" on {out}")
    final = feed.status()
    rows = read_jsonl(out)
    # every trade received was either written or counted as dropped for that output
    assert final.dropped == 0
    assert len(rows) == final.ticks - recorder.sink_dropped
    keys = keys_of(rows)
    assert len(keys) == len(set(keys))
    reported = [e for e in read_jsonl(events) if e["event"] == "dropped"]
    assert sum(e["count"] for e in reported) == recorder.sink_dropped
    assert all(e["output"] == str(out) for e in reported)


@pytest.mark.parametrize("ext", ["jsonl", "csv", "db"])
def test_write_error_mid_run_stops_cleanly_with_whole_records(
    tmp_path: Path, server: MarketServer, ext: str
) -> None:
    """The file size limit makes a write fail for real (EFBIG) part-way through a batch."""
    out = tmp_path / f"t.{ext}"
    # SQLite's journal grows by whole pages per transaction: give it more room
    limit = 200_000 if ext == "db" else 25_000
    args = record_args(server, out, "--events", str(tmp_path / "ev.jsonl"), "--duration", "60s")
    proc = subprocess.Popen(
        limited_fsize(limit, args),
        env=hk_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err = finish(proc, timeout=60)  # exits on the error, long before --duration
    assert proc.returncode == 5, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("hkticks: error:")]
    assert len(lines) == 1 and f"t.{ext}" in lines[0], err
    kept = int(lines[0].split("(wrote ")[1].split(" ")[0])
    if ext == "db":
        con = sqlite3.connect(out)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = con.execute("SELECT symbol, seq FROM ticks ORDER BY rowid").fetchall()
        con.close()
    elif ext == "csv":
        text = out.read_text()
        assert text.endswith("\n")
        body = text.splitlines()
        assert body[0] == ",".join(RECORD_FIELDS)
        keys = []
        for row in body[1:]:
            cells = row.split(",")
            assert len(cells) == len(RECORD_FIELDS)
            keys.append((cells[0], int(cells[6])))
        assert out.stat().st_size <= limit
    else:
        rows = read_jsonl(out)
        keys = keys_of(rows)
        assert out.stat().st_size <= limit
    assert len(keys) == kept > 0
    check_recording(keys, server.sent_trades())


# ---------------------------------------------------------------------- signals


def test_sigint_mid_batch_flushes_everything(tmp_path: Path, server: MarketServer) -> None:
    codes = busy_universe(server, tmp_path, 4000.0)  # batches are being written all the time
    out = tmp_path / "t.jsonl"
    args = record_universe(server, tmp_path, out, "--flush-interval", "60s")
    proc = start_record(tmp_path, args)
    wait_until(lambda: subscribed(server), what="the subscription")
    # more than 2,000 trades sent, none flushed yet (--flush-interval 60s): SIGINT mid-batch
    wait_until(lambda: len(server.sent_trades()) > 3000, what="3,000 trades sent")
    proc.send_signal(signal.SIGINT)
    err = finish(proc, timeout=30)
    assert proc.returncode == 0, err
    assert "Ctrl-C" in err and "Traceback" not in err
    rows = read_jsonl(out)
    assert len(rows) == summary_count(err) > 2000
    check_recording(keys_of(rows), server.sent_trades(), codes)


def _keys_in(path: Path, ext: str) -> list[tuple[str, int]]:
    if ext == "db":
        con = sqlite3.connect(path)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            return [
                (s, int(q)) for s, q in con.execute("SELECT symbol, seq FROM ticks ORDER BY rowid")
            ]
        finally:
            con.close()
    lines = path.read_bytes().splitlines()
    if ext == "csv":
        assert lines[0].decode() == ",".join(RECORD_FIELDS)
        return [(c[0], int(c[6])) for c in (line.decode().split(",") for line in lines[1:])]
    return [(r["symbol"], r["seq"]) for r in map(json.loads, lines)]


@pytest.mark.parametrize("ext", ["jsonl", "csv", "db"])
def test_kill_9_leaves_whole_records_and_the_next_run_appends_cleanly(
    tmp_path: Path, server: MarketServer, ext: str
) -> None:
    server.set_rate(3000.0)
    out = tmp_path / f"t.{ext}"
    first = start_record(tmp_path, record_args(server, out, "--quiet"))
    wait_until(lambda: subscribed(server), what="the first run's subscription")
    wait_until(
        lambda: len(server.sent_trades()) > 3000 and out.exists() and out.stat().st_size > 0,
        what="3,000 trades sent and the first written",
    )
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    data = out.read_bytes()
    complete = data[: data.rfind(b"\n") + 1] if ext != "db" else b""
    if ext == "jsonl":
        for line in complete.splitlines():
            orjson.loads(line)  # every complete line is a whole record
    elif ext == "csv":
        for line in complete.splitlines():
            assert len(line.split(b",")) == len(RECORD_FIELDS)
    before = _keys_in(out, ext) if ext == "db" else None
    # the next run repairs what a kill may have torn, then appends
    r = subprocess.run(
        [sys.executable, "-m", "hkticks", *record_args(server, out, "--duration", "2s")],
        env=hk_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    keys = _keys_in(out, ext)
    if ext == "db":
        assert before is not None and keys[: len(before)] == before
    else:
        assert out.read_bytes().startswith(complete)  # the first run's whole lines kept as is
        text = out.read_text()
        assert text.endswith("\n")
    second = summary_count(r.stderr)
    assert second > 0
    sent = server.sent_trades()
    killed = sent[0][0]  # the first run's connection
    lost_in_the_kill = {(sym, seq) for cid, sym, seq in sent if cid == killed}
    # the server re-sent each symbol's latest trade to the second run: not recorded twice;
    # what the killed run had received but not yet written is the only gap
    check_recording(keys, sent, allowed_missing=lambda key: key in lost_in_the_kill)
    second_run = [k for k in keys if k not in lost_in_the_kill]
    assert len(second_run) >= second - len(SYMBOLS)
