"""The recorder under hostile conditions (issue 12): nothing lost, nothing doubled,
nothing silent.

Each case runs ``record`` (a subprocess, or a Feed and a Recorder in this
process) against a real server on loopback -- the embedded server and its
fault controls, or a small fault-injecting server written here -- and checks
what is on disk: counts by (symbol, seq), readable lines, exit codes and
messages.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from kit.embedded import start_server
from kit.hk import hk_env, run_hk
from kit.ports import free_port
from kit.recording import (
    SYMBOLS,
    busy_universe,
    check_recording,
    keys_of,
    let_trades_flow,
    limited_fsize,
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
from hkticks.errors import ConfigError
from hkticks.feed.queue import TickQueue
from hkticks.feed.session import SessionConfig
from hkticks.feed.shards import Feed
from hkticks.run.record_job import status_line
from hkticks.server import MarketServer
from hkticks.storage.readers import TickFile

# ---------------------------------------------------------------------- helpers


@pytest.fixture
def quiet_server(make_server: Callable[..., MarketServer]) -> MarketServer:
    """A market with no trades of its own: the test pushes every trade."""
    return make_server(rate=0.0)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("hkticks: error:")]


def push(
    server: MarketServer, seq: int | None, ts: int, price: float = 380.2, vol: int = 100
) -> None:
    """One AllTick trade push for 00700, as the provider words it."""
    data: dict[str, Any] = {
        "code": "700.HK",
        "tick_time": str(ts),
        "price": f"{price}",
        "volume": str(vol),
        "turnover": f"{price * vol}",
        "trade_direction": 1,
    }
    if seq is not None:
        data["seq"] = str(seq)
    assert server.push_raw(orjson.dumps({"cmd_id": alltick.PUSH_TRADE, "data": data}).decode()) == 1


def file_keys(path: Path) -> list[tuple[str, int]]:
    return [(t.symbol, int(t.seq)) for t in TickFile(str(path)) if t.seq is not None]


# ---------------------------------------------------------------------- 1. output removed


def test_output_folder_removed_mid_run_stops_with_exit_5_and_claims_nothing(
    tmp_path: Path, server: MarketServer
) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    out = folder / "t.jsonl"
    proc = start_record(tmp_path, record_args(server, out, "--duration", "20s"))
    wait_until(lambda: subscribed(server), what="the subscription")
    wait_until(lambda: out.exists() and out.stat().st_size > 1000, what="some ticks on disk")
    shutil.rmtree(folder)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 5, err
    lines = error_lines(err)
    assert len(lines) == 1 and "d/t.jsonl was deleted while recording" in lines[0], err
    assert "lost with it" in lines[0] and "Traceback" not in err
    assert summary_count(err) == 0  # "recorded 0 ticks": nothing is on disk
    assert not folder.exists()


def test_output_replaced_mid_run_is_detected(tmp_path: Path, server: MarketServer) -> None:
    out = tmp_path / "t.csv"
    proc = start_record(tmp_path, record_args(server, out, "--duration", "20s"))
    wait_until(lambda: out.exists() and out.stat().st_size > 1000, what="some ticks on disk")
    os.rename(out, tmp_path / "moved.csv")
    out.write_text("someone else's file\n")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 5, err
    (line,) = error_lines(err)
    assert "t.csv was replaced by another file while recording" in line
    assert out.read_text() == "someone else's file\n"  # not written into
    moved = [k for k in file_keys(tmp_path / "moved.csv")]
    assert len(moved) == summary_count(err) > 0  # the ticks are in the moved file, counted
    assert f"the {len(moved):,} ticks written to it are in the file that was moved" in line


# ---------------------------------------------------------------------- 2. rotation + restart


def test_restart_into_a_new_file_of_a_rotation_writes_no_trade_twice(
    tmp_path: Path, server: MarketServer
) -> None:
    """Parts of 1 kB hold a few trades each: the latest trade of most symbols is
    in an earlier part than the one the second run starts (or continues). The
    market goes quiet before the first run ends (the night between two days):
    what the server re-sends to the second run was all recorded by the first."""
    out = tmp_path / "t.jsonl"
    first = start_record(
        tmp_path, record_args(server, out, "--rotate", "1kB", "--duration", "2.5s")
    )
    wait_until(lambda: subscribed(server), what="the first run's subscription")
    wait_until(lambda: len(parts_of(tmp_path)) > 3, what="more than 3 parts written")
    server.set_rate(0.0)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    parts_before = parts_of(tmp_path)
    assert len(parts_before) > 3
    in_last = {r["symbol"] for r in read_jsonl(parts_before[-1])}
    assert set(SYMBOLS) - in_last, "every symbol is in the last part: the case is not tested"
    second = run_hk(tmp_path, *record_args(server, out, "--rotate", "1kB", "--duration", "1.5s"))
    assert second.returncode == 0, second.stderr
    assert summary_count(second.stderr) == 0  # only re-sends came: all known
    assert f"duplicates dropped {len(SYMBOLS)}" in second.stderr
    parts = parts_of(tmp_path)
    rows = [r for p in parts for r in read_jsonl(p)]
    keys = keys_of(rows)
    dupes = {k for k in keys if keys.count(k) > 1}
    assert not dupes, f"written twice across the files: {sorted(dupes)[:5]}"
    sent = server.sent_trades()
    first_conn = sent[0][0]
    lost_between = {(s, q) for c, s, q in sent if c == first_conn}
    check_recording(keys, sent, allowed_missing=lambda k: k in lost_between)


def parts_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("t-*.jsonl") if ".events." not in p.name)


# ---------------------------------------------------------------------- 3. seq reset / out of order


@pytest.mark.parametrize("ext", ["jsonl", "csv"])
def test_appending_after_a_provider_seq_reset_keeps_each_trade_once(
    tmp_path: Path, ext: str
) -> None:
    """Run 1 records provider A; provider B restarts every seq (lower, later);
    runs 2 and 3 record B into the same file. Run 3 must see B's latest trade
    (the last line of each symbol), not A's higher seq, as the trade already
    recorded: the re-sent latest trade is not written again."""
    out = tmp_path / f"t.{ext}"
    a = start_server(rate=3000.0, seed=11)
    try:
        assert run_hk(tmp_path, *record_args(a, out, "--duration", "1.5s")).returncode == 0
        a_last = {s: a.call(lambda m, s=s: m.state(s).last.seq) for s in SYMBOLS}
    finally:
        a.stop()
    n_a = len(file_keys(out))
    b = start_server(rate=300.0, seed=5)
    try:
        b_first = {s: b.call(lambda m, s=s: m.state(s).last.seq) for s in SYMBOLS}
        reset = [s for s in SYMBOLS if b_first[s] < a_last[s] - 1000]
        assert reset, "no symbol's seq went down: pick other seeds"
        second = start_record(tmp_path, record_args(b, out, "--duration", "2.5s"))
        wait_until(lambda: subscribed(b), what="the second run's subscription")
        let_trades_flow(b, 20)
        b.set_rate(0.0)  # quiet before the end: run 3 hears only re-sends
        _, err = second.communicate(timeout=30)
        assert second.returncode == 0, err
        third = run_hk(tmp_path, *record_args(b, out, "--duration", "1.5s"))
        assert third.returncode == 0, third.stderr
        assert summary_count(third.stderr) == 0, third.stderr
        sent = b.sent_trades()
    finally:
        b.stop()
    keys = file_keys(out)[n_a:]
    assert len(keys) == len(set(keys)), "a trade of provider B was written twice"
    assert {s for s, _ in keys} & set(reset), "no symbol that reset was recorded"
    run2 = sent[0][0]
    check_recording(
        keys, sent, allowed_missing=lambda k: k in {(s, q) for c, s, q in sent if c == run2}
    )


def test_one_out_of_order_trade_does_not_make_the_later_resend_a_new_trade(
    tmp_path: Path, quiet_server: MarketServer
) -> None:
    feed, recorder, out, _ = run_feed(quiet_server, tmp_path, symbols=["00700"])
    try:
        wait_until(lambda: subscribed(quiet_server), what="the subscription")
        t0 = int(time.time() * 1000)
        push(quiet_server, 100, t0)
        push(quiet_server, 101, t0 + 1)
        push(quiet_server, 99, t0 + 2)  # lower seq, later time: out of order, not a reset
        wait_until(lambda: recorder.ticks == 3, what="three trades")
        quiet_server.disconnect_all(mode="close")
        wait_until(lambda: subscribed(quiet_server, 2), what="the resubscription")
        push(quiet_server, 101, t0 + 1)  # the provider re-sends its latest trade
        push(quiet_server, 102, t0 + 3)
        wait_until(
            lambda: feed.status().duplicates >= 1 and recorder.ticks >= 4, what="the re-send"
        )  # the pushes arrive in order: the last one counted, every one was handled
    finally:
        feed.stop()
        recorder.stop()
    assert [r["seq"] for r in read_jsonl(out)] == [100, 101, 99, 102]


def test_a_seq_reset_after_a_reconnect_is_kept(tmp_path: Path, quiet_server: MarketServer) -> None:
    feed, recorder, out, _ = run_feed(quiet_server, tmp_path, symbols=["00700"])
    try:
        wait_until(lambda: subscribed(quiet_server), what="the subscription")
        t0 = int(time.time() * 1000)
        push(quiet_server, 5_000_000, t0)
        push(quiet_server, 5_000_001, t0 + 1)
        wait_until(lambda: recorder.ticks == 2, what="two trades")
        quiet_server.disconnect_all(mode="close")
        wait_until(lambda: subscribed(quiet_server, 2), what="the resubscription")
        push(quiet_server, 3, t0 + 5)  # the provider restarted: seqs start again, later
        push(quiet_server, 4, t0 + 6)
        push(quiet_server, 3, t0 + 5)  # and re-sends
        # the pushes arrive in order: the last one counted, every one was handled
        wait_until(lambda: recorder.ticks >= 4 and feed.status().duplicates >= 1, what="the reset")
    finally:
        feed.stop()
        recorder.stop()
    assert [r["seq"] for r in read_jsonl(out)] == [5_000_000, 5_000_001, 3, 4]


# ---------------------------------------------------------------------- 6. trades without seq


def test_trades_without_seq_are_not_doubled_by_a_reconnect(
    tmp_path: Path, quiet_server: MarketServer
) -> None:
    feed, recorder, out, _ = run_feed(quiet_server, tmp_path, symbols=["00700"])
    try:
        wait_until(lambda: subscribed(quiet_server), what="the subscription")
        t0 = int(time.time() * 1000)
        push(quiet_server, None, t0, 380.0, 100)
        push(quiet_server, None, t0 + 1, 380.2, 200)
        wait_until(lambda: recorder.ticks == 2, what="two trades")
        quiet_server.disconnect_all(mode="close")
        wait_until(lambda: subscribed(quiet_server, 2), what="the resubscription")
        push(quiet_server, None, t0 + 1, 380.2, 200)  # re-sent latest trade, no seq
        push(quiet_server, None, t0 + 2, 380.4, 300)
        wait_until(
            lambda: recorder.ticks >= 3 and feed.status().duplicates >= 1, what="the re-send"
        )  # the pushes arrive in order: the last one counted, every one was handled
    finally:
        feed.stop()
        recorder.stop()
    rows = read_jsonl(out)
    assert [(r["ts"] - t0, r["volume"], r["seq"]) for r in rows] == [
        (0, 100, None),
        (1, 200, None),
        (2, 300, None),
    ]


# ---------------------------------------------------------------------- 4. gzip + full disk


@pytest.mark.parametrize("ext", ["jsonl.gz", "csv.zst"])
def test_compressed_output_on_a_full_disk_counts_only_what_is_readable(
    tmp_path: Path, server: MarketServer, ext: str
) -> None:
    server.set_rate(3000.0)
    out = tmp_path / f"t.{ext}"
    args = record_args(
        server, out, "--events", str(tmp_path / "ev.jsonl"), "--flush-interval", "0.2s"
    )
    limit = 40_000

    def limited_run() -> tuple[int, str]:
        proc = subprocess.run(
            limited_fsize(limit, [*args, "--duration", "30s"]),
            env=hk_env(tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return proc.returncode, proc.stderr

    code, err = limited_run()
    assert code == 5, err
    (line,) = error_lines(err)
    said = int(line.split("(wrote ")[1].split(" ")[0].replace(",", ""))
    keys = file_keys(out)
    assert said == len(keys) > 100, line  # what it says it wrote is exactly what is readable
    assert summary_count(err) == said
    # again on the still-full disk: everything already there stays readable
    code, err = limited_run()
    assert code == 5, err
    (line,) = error_lines(err)
    assert "Traceback" not in err
    assert file_keys(out)[: len(keys)] == keys
    if "(wrote " in line:
        assert len(file_keys(out)) == len(keys) + int(line.split("(wrote ")[1].split(" ")[0])


# ---------------------------------------------------------------------- 5. stalled stdout reader


def test_a_stalled_stdout_reader_holds_back_no_file_and_exits_6(
    tmp_path: Path, server: MarketServer
) -> None:
    codes = busy_universe(server, tmp_path, 2000.0)
    out = tmp_path / "t.jsonl"
    args = record_universe(server, tmp_path, out, "--out", "-", "--duration", "3s")
    read_end, write_end = os.pipe()  # nobody reads it: the pipe fills in a fraction of a second
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hkticks", *args],
            env=hk_env(tmp_path),
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(write_end)
        _, err = proc.communicate(timeout=40)
    finally:
        os.close(read_end)
    assert proc.returncode == 6, err
    (line,) = error_lines(err)
    assert "ticks were dropped" in line and "on stdout only" in line, line
    dropped = int(line.split("hkticks: error: ")[1].split(" ")[0].replace(",", ""))
    rows = read_jsonl(out)
    # the file kept up (~2,000 trades a second), far beyond the ~400 lines a
    # 64 KiB pipe holds, where it stopped when stdout held it back
    assert len(rows) > 3000
    assert summary_count(err) == len(rows)
    assert f"DROPPED {dropped:,} on stdout" in err
    check_recording(keys_of(rows), server.sent_trades(), codes)
    events = read_jsonl(Path(f"{out}.events.jsonl"))
    assert not [e for e in events if e["event"] == "dropped" and e.get("output") != "stdout"]


def test_queue_drops_make_the_exit_status_6(tmp_path: Path, server: MarketServer) -> None:
    """A reader that stalls on a FIFO output: its queue (1,000) fills and drops;
    the run says how many and exits 6 (it exited 0 before)."""
    busy_universe(server, tmp_path, 2000.0)
    fifo = tmp_path / "slow.jsonl"
    os.mkfifo(fifo)
    args = record_universe(server, tmp_path, fifo, "--queue-size", "1000", "--duration", "2s")
    proc = start_record(tmp_path, args)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    data = bytearray()
    try:
        wait_until(lambda: subscribed(server), what="the subscription")
        # nobody reads until the duration is over (the recorder closes its connection)
        wait_until(
            lambda: server.connections()[-1].closed_at is not None,
            what="the end of the run's --duration",
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                chunk = os.read(rfd, 1 << 16)
            except BlockingIOError:
                chunk = b""
            data += chunk
            if not chunk:
                if proc.poll() is not None:
                    break
                time.sleep(0.01)  # a reader polling a non-blocking FIFO: the slow reader under test
        _, err = proc.communicate(timeout=30)
    finally:
        os.close(rfd)
    assert proc.returncode == 6, err
    (line,) = error_lines(err)
    assert f"on {fifo} (it fell behind" in line, line
    dropped = int(line.split("hkticks: error: ")[1].split(" ")[0].replace(",", ""))
    assert dropped > 0 and f"DROPPED {dropped:,} on {fifo}" in err
    rows = [orjson.loads(x) for x in bytes(data).splitlines()]
    assert len(rows) == summary_count(err)
    keys = keys_of(rows)
    assert len(keys) == len(set(keys))
    events = read_jsonl(Path(f"{fifo}.events.jsonl"))
    assert sum(e["count"] for e in events if e["event"] == "dropped") == dropped


def test_stdout_sink_buffer_drops_for_itself_only() -> None:
    from hkticks.storage.sinks.stdout import STALL_S, StdoutSink
    from hkticks.tick import Tick

    read_end, write_end = os.pipe()
    sink = StdoutSink(max_rows=500, fd=write_end)
    ticks = [Tick("00700", i, 1.0, 1, 1.0, None, i, i, "x") for i in range(50)]
    started = time.monotonic()
    for _ in range(200):  # 10,000 ticks, far more than the pipe and the buffer hold
        sink.write(ticks)
        time.sleep(0.002)  # under test: writes spread over time while the thread fills the pipe
    assert time.monotonic() - started < 3.0  # never blocked
    assert sink.dropped > 0 and sink.rows > 0
    started = time.monotonic()
    sink.close()  # nobody reads: gives up after STALL_S without progress, drops the rest
    assert time.monotonic() - started >= STALL_S
    assert sink.rows + sink.dropped == 10_000
    (event,) = sink.take_events()
    assert event.details["count"] == sink.dropped and event.details["output"] == "stdout"
    data = b""
    os.set_blocking(read_end, False)
    try:
        while chunk := os.read(read_end, 1 << 16):
            data += chunk
    except BlockingIOError:
        pass
    assert data.count(b"\n") == sink.rows  # whole lines out: counted, no more, no less
    os.close(write_end)
    os.close(read_end)


# ---------------------------------------------------------------------- 7, 8: own servers


class FaultServer:
    """A WebSocket server of a few lines: the handshake by hand, then ``serve(sock)``."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.serve = serve
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.requests: list[bytes] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{alltick.WS_PATH}"

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            self.requests.append(head)
            try:
                self.serve(conn)
            except OSError:
                pass

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def upgrade(conn: socket.socket, request: bytes) -> None:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def feed_for(url: str, tmp_path: Path, **config: Any) -> tuple[Feed, TickQueue]:
    queue = TickQueue(10_000)
    feed = Feed(
        ["00700"],
        url=url,
        token="SECRETTOKEN",
        plan=alltick.PLANS["all-hk"],
        queue=queue,
        config=SessionConfig(heartbeat_interval=1.0, backoff_initial=0.1, **config),
        connection_spacing=0.1,
        request_spacing=0.1,
    )
    return feed, queue


def drain_events(queue: TickQueue) -> list[Any]:
    items = queue.get_batch(100_000, 0.05)
    return [i for i in items if type(i).__name__ == "Event"]


def test_a_frame_announcing_2_gib_is_refused_from_its_header(tmp_path: Path) -> None:
    sent = [0]
    cap = 64 << 20

    def serve(conn: socket.socket) -> None:
        upgrade(conn, server.requests[-1])
        if server.accepted > 1:
            time.sleep(10)  # under test: the reconnect meets a quiet server
            return
        conn.sendall(b"\x82\x7f" + struct.pack("!Q", 2 << 30))
        block = b"\x00" * (1 << 16)
        while sent[0] < cap:
            conn.sendall(block)
            sent[0] += len(block)

    server = FaultServer(serve)
    feed, queue = feed_for(server.url, tmp_path)
    events: list[Any] = []
    try:
        feed.start()
        # the connection is dropped after the event: wait for both (stopping the feed at the
        # first raced the disconnect, and the check below then saw none)
        wait_until(
            lambda: (
                events.extend(drain_events(queue))
                or {"message_too_large", "disconnected"} <= {e.event for e in events}
            ),
            what="message_too_large, then the disconnect",
        )
    finally:
        feed.stop()
        server.close()
    (event,) = [e for e in events if e.event == "message_too_large"]
    assert event.details["seen"] == 2 << 30 and event.details["announced"] is True
    # dropped at the header: what was sent is what the socket buffers hold, not 64 MiB
    assert sent[0] < 16 << 20, sent[0]
    gone = [e for e in events if e.event == "disconnected"]
    assert gone and "message too large" in gone[0].details["reason"]


def test_a_redirect_to_another_host_is_refused_and_the_token_stays_home(tmp_path: Path) -> None:
    other = FaultServer(lambda conn: None)

    def serve(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 302 Found\r\nLocation: ws://localhost:%d/quote-stock-b-ws-api"
            b"?apikey=SECRETKEY&token=SECRETTOKEN\r\nContent-Length: 0\r\n\r\n" % other.port
        )

    server = FaultServer(serve)
    feed, queue = feed_for(server.url, tmp_path)
    try:
        feed.start()
        events: list[Any] = []

        def fatal_queued() -> bool:
            events.extend(drain_events(queue))
            return any(e.event == "fatal" for e in events)

        wait_until(fatal_queued, what="the refusal's fatal event")
    finally:
        feed.stop()
        server.close()
        other.close()
    assert other.accepted == 0  # the token never went there
    assert isinstance(feed.fatal, ConfigError)
    message = str(feed.fatal)
    assert "redirected to another host" in message and "apikey=***" in message
    text = message + repr([e.details for e in events])
    assert "SECRET" not in text


def test_a_redirect_on_the_same_host_is_followed(tmp_path: Path) -> None:
    push = orjson.dumps(
        {
            "cmd_id": alltick.PUSH_TRADE,
            "data": {
                "code": "700.HK",
                "seq": "7",
                "tick_time": "1700000000000",
                "price": "380.2",
                "volume": "100",
                "turnover": "38020",
                "trade_direction": 1,
            },
        }
    )

    def serve(conn: socket.socket) -> None:
        if server.accepted == 1:
            conn.sendall(
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /v2/quote-stock-b-ws-api"
                b"?token=SECRETTOKEN\r\nContent-Length: 0\r\n\r\n"
            )
            return
        upgrade(conn, server.requests[-1])
        conn.sendall(b"\x81" + bytes([126]) + struct.pack("!H", len(push)) + push)
        time.sleep(5)  # under test: a server that then stays quiet, the connection open

    server = FaultServer(serve)
    feed, queue = feed_for(server.url, tmp_path)
    got: list[Any] = []
    try:
        feed.start()
        wait_until(
            lambda: (
                got.extend(queue.get_batch(1000, 0.05))
                or any(type(i).__name__ == "Tick" for i in got)
            ),
            what="the trade from the redirected connection",
        )
    finally:
        feed.stop()
        server.close()
    assert server.requests[1].startswith(b"GET /v2/quote-stock-b-ws-api?token=SECRETTOKEN ")
    (tick,) = [i for i in got if type(i).__name__ == "Tick"]
    assert (tick.symbol, tick.seq) == ("00700", 7)


def test_redirect_rules() -> None:
    from hkticks.feed.guards import RedirectRefused, redirect_target

    base = "wss://quote.alltick.co/quote-stock-b-ws-api?token=x"
    assert redirect_target(base, "/v2/ws?token=x") == "wss://quote.alltick.co/v2/ws?token=x"
    assert redirect_target("ws://h:1/a", "wss://h:1/b") == "wss://h:1/b"  # an upgrade is fine
    for bad in (
        "ws://quote.alltick.co/quote-stock-b-ws-api?token=x",  # TLS downgrade
        "wss://evil.example/quote-stock-b-ws-api?token=x",  # another host
        "wss://quote.alltick.co:8443/x",  # another port
        "https://quote.alltick.co/x",
        None,
    ):
        with pytest.raises(RedirectRefused) as info:
            redirect_target(base, bad)
        assert "token=x" not in str(info.value)


# ---------------------------------------------------------------------- 10. a URL that cannot work


def test_no_connection_ever_made_stops_after_the_attempts_with_the_reason(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"ws://127.0.0.1:{port}{alltick.WS_PATH}"
    args = ["record", "700", "--url", url, "--token", "t", "--out", "t.jsonl"]
    started = time.monotonic()
    r = run_hk(tmp_path, *[*args, "--connect-attempts", "3"])
    assert r.returncode == 7, r.stderr
    (line,) = error_lines(r.stderr)
    assert f"could not connect to {url}?token=*** in 3 attempts" in line
    assert "refused" in line.lower() and "Traceback" not in r.stderr
    assert time.monotonic() - started < 30
    bad = run_hk(
        tmp_path,
        *[
            "record",
            "700",
            "--url",
            "ws://127.0.0.1:99999/x",
            "--token",
            "t",
            "--out",
            "t.jsonl",
            "--connect-attempts",
            "2",
        ],
    )
    assert bad.returncode == 7, bad.stderr
    (line,) = error_lines(bad.stderr)
    assert "in 2 attempts" in line and "port" in line.lower()


def test_the_status_line_says_why_connecting_fails(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{free_port()}{alltick.WS_PATH}"
    feed, _ = feed_for(url, tmp_path, max_failed_attempts=0)
    try:
        feed.start()
        st = wait_until(
            lambda: (s := feed.status()).connections[0].reason and s, what="a failure reason"
        )
        assert feed.fatal is None  # 0: never gives up
    finally:
        feed.stop()
    line = status_line(st, 0.0, None)
    assert "last error: ConnectionRefusedError" in line, line


# ---------------------------------------------------------------------- 9. one-line errors


def one_line_error(r: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    (line,) = error_lines(r.stderr)
    for w in words:
        assert w in line, line


def test_symbols_file_with_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "s.txt").write_bytes(b"00700\n\xff\xfe09988\n")
    r = run_hk(tmp_path, *["record", "--demo", "--symbols-file", "s.txt", "--out", "t.jsonl"])
    one_line_error(r, 2, "s.txt is not UTF-8 text")
    assert not (tmp_path / "t.jsonl").exists()


def _trade_line(**over: Any) -> bytes:
    rec = {
        "symbol": "00700",
        "ts": 1_700_000_000_000,
        "price": 1.0,
        "volume": 1,
        "turnover": 1.0,
        "side": "buy",
        "seq": 1,
        "recv_ts": 1_700_000_000_001,
        "src": "x",
    }
    rec.update(over)
    return orjson.dumps(rec) + b"\n"


def test_stats_on_an_absurd_time_skips_the_line(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_bytes(
        b'{"symbol":"00700","ts":1e20,"price":1.0,"volume":1,'
        b'"turnover":1.0,"side":"buy","seq":1,"recv_ts":1,"src":"x"}\n' + _trade_line(seq=2)
    )
    r = run_hk(tmp_path, *["stats", "t.jsonl"])
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "skipped 1 invalid record" in r.stderr and "time out of range" in r.stderr
    assert r.stdout.startswith("1 trade") and "of 1 symbol" in r.stdout


def test_replay_on_a_seq_beyond_64_bits_skips_the_line(tmp_path: Path) -> None:
    big = (
        b'{"symbol":"00700","ts":1700000000000,"price":1.0,"volume":1,"turnover":1.0,'
        b'"side":"buy","seq":18446744073709551616,"recv_ts":1,"src":"x"}\n'
    )
    (tmp_path / "t.jsonl").write_bytes(big + _trade_line(seq=2))
    r = run_hk(tmp_path, *["replay", "--json", "--speed", "max", "t.jsonl"])
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "seq 18446744073709551616 out of range" in r.stderr
    assert [orjson.loads(x)["seq"] for x in r.stdout.splitlines()] == [2]


def test_stats_dir_with_one_bad_database_skips_it(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.jsonl").write_bytes(_trade_line(seq=1) + _trade_line(seq=2))
    (d / "bad.db").write_bytes(os.urandom(5000))
    r = run_hk(tmp_path, *["stats", "d"])
    # the readable file is summed, the other named; the exit says a file was unreadable
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "d/bad.db: not readable as SQLite" in r.stderr and "skipped" in r.stderr
    assert "nothing readable in d/bad.db" in r.stderr
    assert "2 trades of 1 symbol in 2 files" in r.stdout


def test_a_locked_sqlite_output_is_refused_before_connecting(tmp_path: Path) -> None:
    import sqlite3

    from hkticks.storage.sinks.sqlite import SqliteSink

    db = tmp_path / "t.db"
    SqliteSink(str(db)).close()  # a recording from yesterday (WAL mode, ticks table)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")  # another process's write transaction
    try:
        r = run_hk(tmp_path, *["record", "700", "--demo", "--out", "t.db", "--duration", "3s"])
    finally:
        con.execute("ROLLBACK")
        con.close()
    one_line_error(r, 5, "t.db", "locked")
    assert "recording" not in r.stderr  # refused before connecting, not after


def test_a_binary_file_named_jsonl_is_not_appended_to(tmp_path: Path) -> None:
    blob = os.urandom(3000).replace(b"\n", b"x")
    (tmp_path / "t.jsonl").write_bytes(blob)
    r = run_hk(
        tmp_path,
        *["record", "700", "--url", "ws://127.0.0.1:1/x", "--token", "t", "--out", "t.jsonl"],
    )
    one_line_error(r, 5, "t.jsonl is not a JSON Lines recording", "refusing to append")
    assert (tmp_path / "t.jsonl").read_bytes() == blob  # untouched


def test_sigterm_is_still_a_clean_zero_exit(tmp_path: Path, server: MarketServer) -> None:
    """The new exit codes do not leak into a normal stop."""
    out = tmp_path / "t.jsonl"
    proc = start_record(tmp_path, record_args(server, out))
    wait_until(lambda: subscribed(server), what="the subscription")
    let_trades_flow(server, 20)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert summary_count(err) == len(read_jsonl(out))
