"""NATS JetStream: the publishing sink, the consuming source, and their faults.

Real ``nats-server -js`` processes on loopback (tests/kit/services.py), the
real nats-py client, the embedded AllTick server for the recorder's trades.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kit.hk import hk_env
from kit.recording import (
    SYMBOLS,
    check_recording,
    finish,
    keys_of,
    lines_in,
    read_jsonl,
    start_record,
    subscribed,
    summary_count,
)
from kit.services import NatsServer
from kit.waiting import wait_until

from hkticks.errors import OutputError, UsageError
from hkticks.feed.nats_source import NatsFeed, parse_since
from hkticks.feed.natsurl import parse_nats_url
from hkticks.feed.queue import TickQueue
from hkticks.server import MarketServer
from hkticks.storage.sinks.jsonl import encode_lines
from hkticks.tick import Book, Event, Tick

nats = pytest.importorskip("nats", reason="pip install 'hkticks[nats]'")


def ticks(n: int, symbols: int = 20, start: int = 0) -> list[Tick]:
    return [
        Tick(
            f"{i % symbols:05d}", 1_764_550_000_000 + i, 10.0 + i % 7, 100, 1000.0, "buy", i, 1, "t"
        )
        for i in range(start, start + n)
    ]


def read_stream(url: str, stream: str = "HK") -> list[tuple[str, bytes, str | None]]:
    """Every message in ``stream``: (subject, payload, Nats-Msg-Id), in stream order."""

    async def run() -> list[tuple[str, bytes, str | None]]:
        nc = await nats.connect(url)
        js = nc.jetstream()
        info = await js.stream_info(stream)
        total = info.state.messages
        config = nats.js.api.ConsumerConfig(
            ack_policy=nats.js.api.AckPolicy.NONE, inactive_threshold=10.0
        )
        sub = await js.pull_subscribe(">", stream=stream, config=config)
        out: list[tuple[str, bytes, str | None]] = []
        while len(out) < total:
            for msg in await sub.fetch(10_000, timeout=5):
                out.append((msg.subject, msg.data, (msg.headers or {}).get("Nats-Msg-Id")))
        await nc.close()
        return out

    return asyncio.run(run())


def trade_keys(msgs: list[tuple[str, bytes, str | None]]) -> list[tuple[str, int]]:
    out = []
    for subject, data, _ in msgs:
        if ".trades." in subject:
            rec = orjson.loads(data)
            out.append((rec["symbol"], rec["seq"]))
    return out


# ---------------------------------------------------------------------- pure parts


def test_url_parsing() -> None:
    u = parse_nats_url("nats://127.0.0.1:4222/hk?max_age=7d&max_bytes=2GB")
    assert (u.server, u.prefix, u.stream) == ("nats://127.0.0.1:4222", "hk", "HK")
    assert u.max_age == 7 * 86400 and u.max_bytes == 2_000_000_000
    assert u.trades("00700") == "hk.trades.00700" and u.events == "hk.events"
    secret = parse_nats_url("nats://me:pw@host/desk.hk?stream=DESK")
    assert "pw" not in secret.shown and secret.server == "nats://me:pw@host:4222"
    assert secret.stream == "DESK"
    for bad in ("nats://host", "nats://host/a b", "nats://host/hk?colour=red", "http://h/hk"):
        with pytest.raises(UsageError):
            parse_nats_url(bad)


def test_since_is_hong_kong_time() -> None:
    now = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.timezone.utc).timestamp()  # 11:00 HKT
    assert parse_since("09:30", now) == int(
        dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.timezone.utc).timestamp() * 1000
    )
    # a time still ahead today means yesterday's
    assert parse_since("12:00", now) == int(
        dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.timezone.utc).timestamp() * 1000
    )
    assert parse_since("2026-11-28 09:30") == int(
        dt.datetime(2026, 11, 28, 1, 30, tzinfo=dt.timezone.utc).timestamp() * 1000
    )
    with pytest.raises(UsageError):
        parse_since("9h30")


# ---------------------------------------------------------------------- the sink


def test_sink_publishes_jsonl_lines_with_msg_ids_and_creates_the_stream(
    nats_server: NatsServer,
) -> None:
    from hkticks.storage.sinks.nats import NatsSink

    url = f"{nats_server.url}/hk?max_age=1d&max_bytes=1GB"
    sink = NatsSink(url)
    batch = ticks(500)
    book = Book("00700", 5, ((10.0, 100),), ((10.2, 300),), 9, 6, "t")
    event = Event(7, "connected", 0, {"url": "ws://x"})
    sink.write(batch)
    sink.write([book, event])
    sink.write(batch[:100])  # re-sent (a reconnect, a restart): dropped by JetStream
    assert sink.wait_acked(10)
    sink.close()
    assert sink.rows == 600 and sink.acked == 602
    msgs = read_stream(nats_server.url)
    lines = encode_lines(batch).splitlines()
    assert [m for m in msgs if ".trades." in m[0]] == [
        (f"hk.trades.{t.symbol}", line, f"{t.symbol}:{t.seq}")
        for t, line in zip(batch, lines, strict=True)
    ]
    assert msgs[-2] == ("hk.books.00700", encode_lines([book], records=True)[:-1], "book:00700:9")
    assert msgs[-1][0] == "hk.events" and orjson.loads(msgs[-1][1]) == event.record()

    async def config() -> Any:
        nc = await nats.connect(nats_server.url)
        info = await nc.jetstream().stream_info("HK")
        await nc.close()
        return info.config

    cfg = asyncio.run(config())
    assert (
        str(getattr(cfg.storage, "value", cfg.storage)) == "file"
        and cfg.max_age == 86400
        and cfg.max_bytes == 10**9
    )
    assert cfg.subjects == ["hk.>"]


def test_sink_to_a_server_that_is_not_there_says_so() -> None:
    from kit.ports import free_port

    from hkticks.storage.sinks.nats import NatsSink

    with pytest.raises(OutputError, match="cannot publish to nats://127.0.0.1:.*nats-server"):
        NatsSink(f"nats://127.0.0.1:{free_port()}/hk", connect_timeout=1.0)


@pytest.mark.parametrize("kill", [False, True], ids=["restart", "kill-9-restart"])
def test_nats_restart_mid_run_loses_nothing(nats_server: NatsServer, kill: bool) -> None:
    """The writer keeps writing while the server goes away and comes back."""
    from hkticks.storage.sinks.nats import NatsSink

    sink = NatsSink(f"{nats_server.url}/hk", ack_timeout=1.0)
    sent = 0
    stop = threading.Event()

    def writer() -> None:
        nonlocal sent
        while not stop.is_set():
            sink.write(ticks(200, start=sent))
            sent += 200
            time.sleep(0.01)  # under test: a steady publisher, 200 trades every 10 ms

    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_until(lambda: sink.acked > 2000, what="publishing")
        if kill:
            # a killed server may lose what it had not written out: let it flush first
            stop.set()
            t.join()
            assert sink.wait_acked(10)
            # nats-server writes what it acknowledged to its files a moment later; nothing a
            # client sees says when it has
            time.sleep(0.5)  # under test: the kill comes half a second after the acks
            stop.clear()
            acked = sink.acked
            t = threading.Thread(target=writer)
            t.start()
            wait_until(lambda: sink.acked >= acked + 400, what="publishing again")
        nats_server.stop(kill=kill)
        down_at = sent
        # the writer keeps going: buffered
        wait_until(lambda: sent >= down_at + 400 and sink.buffered > 0, what="buffered trades")
        nats_server.start()
        wait_until(lambda: sink.reconnects >= 1, what="the reconnect")
        acked = sink.acked
        wait_until(lambda: sink.acked >= acked + 400, what="publishing after the reconnect")
    finally:
        stop.set()
        t.join()
    assert sink.wait_acked(20), f"{sink.buffered} not acknowledged"
    sink.close()
    keys = trade_keys(read_stream(nats_server.url))
    expected = [(t.symbol, t.seq) for t in ticks(sent)]
    if kill:  # a killed server may lose its unsynced tail; what was acked before the flush is there
        assert len(keys) == len(set(keys))
        assert set(expected) - set(keys) <= set(expected[down_at - 200 :])
    else:
        assert sorted(keys) == sorted(expected)  # every trade, exactly once
    assert sink.dropped == 0


def test_buffer_full_while_down_is_counted_and_reported(nats_server: NatsServer) -> None:
    from hkticks.storage.sinks.nats import NatsSink

    sink = NatsSink(f"{nats_server.url}/hk", buffer_max=1000, close_timeout=1.0)
    nats_server.stop()
    wait_until(lambda: not sink._connected, what="the disconnect")
    sink.write(ticks(1500))
    assert sink.dropped == 500 and sink.buffered == 1000 and sink.rows == 1000
    with pytest.raises(OutputError, match="1,000 not acknowledged.*500 dropped"):
        sink.close()


# ---------------------------------------------------------------------- the recorder


def nats_record_args(server: MarketServer, url: str, *extra: str) -> list[str]:
    return [
        "record",
        *SYMBOLS,
        "--url",
        server.ws_url,
        "--token",
        "t",
        "--plan",
        "all-hk",
        "--out",
        url,
        *extra,
    ]


def test_kill_9_of_the_recorder_and_restart_every_trade_once_in_the_stream(
    tmp_path: Path, nats_server: NatsServer, server: MarketServer
) -> None:
    server.set_rate(2000.0)
    url = f"{nats_server.url}/hk"
    first = start_record(tmp_path, nats_record_args(server, url, "--quiet"))
    wait_until(lambda: subscribed(server), what="the first run's subscription")
    wait_until(
        lambda: len(server.sent_trades()) > 2000 and trade_keys(read_stream(nats_server.url)),
        what="2,000 trades sent and the first in the stream",
    )
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    before = trade_keys(read_stream(nats_server.url))
    assert before
    r = subprocess.run(
        [sys.executable, "-m", "hkticks", *nats_record_args(server, url, "--duration", "2s")],
        env=hk_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    keys = trade_keys(read_stream(nats_server.url))
    assert keys[: len(before)] == before
    sent = server.sent_trades()
    killed = sent[0][0]
    lost_in_the_kill = {(sym, seq) for cid, sym, seq in sent if cid == killed}
    # the AllTick server re-sends each symbol's latest trade to the new run: in the stream once
    assert len(keys) == len(set(keys))
    second = [k for k in keys if k not in lost_in_the_kill]
    assert len(second) >= summary_count(r.stderr) - len(SYMBOLS) > 0
    check_recording(sorted(keys), sent, allowed_missing=lambda key: key in lost_in_the_kill)


def test_board_and_remote_recorder_see_what_a_direct_recording_sees(
    tmp_path: Path, nats_server: NatsServer, server: MarketServer
) -> None:
    """One recorder on the token publishes; a board (the queue side) and a second
    recorder on another "machine" read the stream: all three hold the same trades."""
    server.set_rate(1500.0)
    url = f"{nats_server.url}/hk"
    direct = tmp_path / "direct.jsonl"
    remote = tmp_path / "remote.jsonl"
    publisher = start_record(
        tmp_path,
        nats_record_args(server, url, "--out", str(direct), "--duration", "4s", "--quiet"),
    )

    def stream_exists() -> bool:
        try:
            return bool(read_stream(nats_server.url))
        except Exception:
            return False

    wait_until(stream_exists, what="the stream")
    hour_ago = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))) - dt.timedelta(hours=1)
    since = hour_ago.strftime("%Y-%m-%d %H:%M")
    reader = start_record(
        tmp_path,
        [
            "record",
            "--from",
            url,
            "--consumer",
            "desk-recorder",
            "--since",
            since,
            "--out",
            str(remote),
        ],
    )
    queue = TickQueue()
    board = NatsFeed(url, queue, SYMBOLS, since_ms=parse_since(since))
    board.start()
    seen: list[Tick] = []
    try:
        finish(publisher, timeout=60)
        assert publisher.returncode == 0
        expected = keys_of(read_jsonl(direct))
        assert len(expected) > 300

        def board_caught_up() -> bool:
            seen.extend(i for i in queue.get_batch(100_000, 0.1) if type(i) is Tick)
            return len(seen) >= len(expected)

        wait_until(board_caught_up, what="the board")
        wait_until(
            lambda: remote.exists() and len(remote.read_bytes().splitlines()) >= len(expected)
        )
    finally:
        board.stop()
        reader.send_signal(signal.SIGINT)
        err = finish(reader, timeout=30)
    assert reader.returncode == 0, err
    assert board.fatal is None
    assert sorted((t.symbol, t.seq) for t in seen) == sorted(expected)
    rows = read_jsonl(remote)
    direct_rows = read_jsonl(direct)
    assert sorted(keys_of(rows)) == sorted(expected)
    # the same records, field for field (the payload is the JSONL line)
    key = lambda r: (r["symbol"], r["seq"])  # noqa: E731
    assert sorted(rows, key=key) == sorted(direct_rows, key=key)
    # the session events of the publishing run are in the stream too, as in its sidecar
    sidecar = (tmp_path / "direct.jsonl.events.jsonl").read_bytes().splitlines()
    published = [
        data for subject, data, _ in read_stream(nats_server.url) if subject == "hk.events"
    ]
    assert published == sidecar and len(sidecar) >= 3


def test_durable_consumer_resumes_where_it_stopped(nats_server: NatsServer) -> None:
    from hkticks.storage.sinks.nats import NatsSink

    url = f"{nats_server.url}/hk"
    sink = NatsSink(url)
    sink.write(ticks(300))
    assert sink.wait_acked(10)

    def read(expect: int, **kw: Any) -> list[tuple[str, int]]:
        queue = TickQueue()
        feed = NatsFeed(url, queue, None, **kw)
        feed.start()
        got: list[tuple[str, int]] = []

        def enough() -> bool:
            got.extend((t.symbol, t.seq) for t in queue.get_batch(10_000, 0.05) if type(t) is Tick)
            return len(got) >= expect

        try:
            wait_until(enough, what=f"{expect} trades")
            time.sleep(0.3)  # under test: nothing more arrives within this window
            got.extend((t.symbol, t.seq) for t in queue.get_batch(10_000, 0) if type(t) is Tick)
        finally:
            feed.stop()
        assert feed.fatal is None
        return got

    first = read(300, consumer="night", since_ms=0)
    assert first == [(t.symbol, t.seq) for t in ticks(300)]
    sink.write(ticks(200, start=300))
    assert sink.wait_acked(10)
    assert read(200, consumer="night") == [(t.symbol, t.seq) for t in ticks(200, start=300)]
    # a new board with no consumer starts from the last trade of each symbol
    latest = read(20)
    assert sorted(latest) == sorted((t.symbol, t.seq) for t in ticks(500)[-20:])
    sink.close()


def test_from_a_stream_that_does_not_exist_is_one_line(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "hkticks",
            "watch",
            "00700",
            "--json",
            "--from",
            f"{nats_server.url}/nope",
        ],
        env=hk_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert "no stream NOPE" in r.stderr and "Traceback" not in r.stderr


def test_bench_nats_measures_both_loops_and_every_trade_reaches_the_board(
    nats_server: NatsServer,
) -> None:
    from hkticks.bench.servers_bench import nats_figures

    r = nats_figures(nats_server.url, ticks=3000, trials=1, rate=1000.0, seconds=0.5, warmup=0.2)
    assert r["publish_per_s"] > 0 and r["nats_py_publish_per_s"] > 0
    assert r["latency"]["trades"] == 500 and r["latency"]["missing"] == 0
    assert 0 < r["latency"]["p50_ms"] <= r["latency"]["p99_ms"] <= r["latency"]["max_ms"]


def test_source_options_without_from_are_refused(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "hkticks", "watch", "00700", "--json", "--demo", "--consumer", "x"],
        env=hk_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "--consumer and --since apply to --from" in r.stderr


@pytest.mark.parametrize("consumer", [None, "desk"], ids=["ephemeral", "durable"])
def test_a_board_reading_through_a_nats_restart_misses_nothing(
    nats_server: NatsServer, consumer: str | None
) -> None:
    from hkticks.storage.sinks.nats import NatsSink

    url = f"{nats_server.url}/hk"
    sink = NatsSink(url, ack_timeout=1.0)
    sink.write(ticks(10))
    assert sink.wait_acked(10)
    queue = TickQueue()
    board = NatsFeed(url, queue, None, consumer=consumer, since_ms=0)
    board.start()
    got: list[tuple[str, int]] = []

    def drain(expect: int) -> bool:
        got.extend((t.symbol, t.seq) for t in queue.get_batch(100_000, 0.05) if type(t) is Tick)
        return len(got) >= expect

    try:
        sink.write(ticks(1000, start=10))
        wait_until(lambda: drain(1010), what="the trades before the restart")
        nats_server.stop()
        sink.write(ticks(1000, start=1010))  # buffered by the publisher meanwhile
        time.sleep(0.5)  # under test: the outage (the server stays down this long)
        nats_server.start()
        assert sink.wait_acked(20)
        wait_until(lambda: drain(2010), what="the trades after the restart")
        time.sleep(0.3)  # under test: nothing more (no duplicate) arrives within this window
        drain(0)
    finally:
        board.stop()
        sink.close()
    assert board.fatal is None and board.reconnects >= 1
    assert sorted(got) == sorted((t.symbol, t.seq) for t in ticks(2010))


def test_books_come_back_as_the_same_values(nats_server: NatsServer) -> None:
    from hkticks.storage.sinks.nats import NatsSink

    url = f"{nats_server.url}/hk"
    sink = NatsSink(url)
    books = [
        Book("00700", 10 + i, ((380.2, 600), (380.0, 100)), ((380.4, 500),), i, 20 + i, "t")
        for i in range(1, 4)
    ]
    queue = TickQueue()
    board = NatsFeed(url, queue, ["00700", "00001"], books=True, since_ms=0)
    got: list[object] = []
    try:
        sink.write(books + ticks(2))
        assert sink.wait_acked(10)
        board.start()
        wait_until(lambda: got.extend(queue.get_batch(100, 0.05)) or len(got) >= 6, what="items")
    finally:
        board.stop()
        sink.close()  # its thread (hkticks-nats) outlived the test: test_api then saw it
    assert [i for i in got if type(i) is Book] == books
    assert [(t.symbol, t.seq) for t in got if type(t) is Tick] == [("00001", 1)]


def test_kill_9_of_a_consuming_recorder_and_restart_every_trade_once_in_its_file(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """A recorder on another machine (``--from --consumer``) killed mid-stream and
    started again: its file holds every trade of the stream exactly once."""
    from hkticks.storage.sinks.nats import NatsSink

    url = f"{nats_server.url}/hk"
    sink = NatsSink(url)
    sink.write(ticks(10))
    assert sink.wait_acked(10)
    copy = tmp_path / "copy.jsonl"
    args = ["record", "--from", url, "--consumer", "archive", "--since", "2000-01-01 00:00"]
    args += ["--out", str(copy), "--quiet"]
    written = 10
    stop = threading.Event()

    def publisher() -> None:
        nonlocal written
        while not stop.is_set():
            sink.write(ticks(100, start=written))
            written += 100
            time.sleep(0.02)  # under test: a steady publisher, 100 trades every 20 ms

    t = threading.Thread(target=publisher)
    t.start()
    try:
        first = start_record(tmp_path, args)
        wait_until(lambda: copy.exists() and copy.stat().st_size > 50_000, what="the first run")
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        after_kill = keys_of(read_jsonl(copy, torn_tail=True))  # kill -9 may tear the last
        second = start_record(tmp_path, args)
        wait_until(lambda: lines_in(copy) >= len(after_kill) + 500, what="the second run consuming")
    finally:
        stop.set()
        t.join()
    assert sink.wait_acked(10)
    sink.close()
    try:
        wait_until(
            lambda: len(copy.read_bytes().splitlines()) >= written, what="the copy to catch up"
        )
    except AssertionError:
        pass  # the comparison below says what is missing
    finally:
        second.send_signal(signal.SIGINT)
        err = finish(second, timeout=30)
    assert second.returncode == 0, err
    keys = keys_of(read_jsonl(copy))
    missing = sorted(set((t.symbol, t.seq) for t in ticks(written)) - set(keys), key=lambda k: k[1])
    assert not missing, f"{len(missing)} missing, e.g. {missing[:3]}; {len(after_kill)} at the kill"
    assert len(keys) == len(set(keys)), "a trade was recorded twice"
    assert sorted(keys) == sorted((t.symbol, t.seq) for t in ticks(written))
