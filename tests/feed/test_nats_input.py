"""Input from NATS validated like AllTick frames (issue 25, item 3), against a real nats-server.

A message that is not a trade (``[1,2,3]`` on ``hk.trades.00700``, ``ts``
1e20, ``seq`` 2**63, ``volume`` 1e19, a NaN price) is skipped, counted and
reported, never fatal; a durable consumer terminates it; ``record --from X
--out X`` is refused; ``--from`` without SYMBOLS follows new subjects.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kit.hk import hk_env
from kit.recording import finish, read_jsonl, start_record
from kit.services import NatsServer
from kit.waiting import wait_until

import hkticks
from hkticks.feed.nats_source import NatsFeed
from hkticks.feed.queue import TickQueue
from hkticks.tick import Event, Tick

nats = pytest.importorskip("nats", reason="pip install 'hkticks[nats]'")

DAY = 1_764_727_200_000  # 2026-12-03 10:00 HKT


def trades(symbol: str, n: int, start: int = 1) -> list[Tick]:
    return [
        Tick(symbol, DAY + i * 10, 380.0, 100, 38_000.0, "buy", i, DAY + i * 10, "t")
        for i in range(start, start + n)
    ]


GOOD = trades("00700", 1)[0].record()
BAD_PAYLOADS: list[bytes] = [
    b"[1,2,3]",
    orjson.dumps(dict(GOOD, ts=1e20)),
    orjson.dumps(dict(GOOD, seq=2**63)),
    orjson.dumps(dict(GOOD, volume=1e19)),
    orjson.dumps(dict(GOOD, price="NaN")),
    orjson.dumps(GOOD).replace(b'"price":380.0', b'"price":NaN'),
    b"\xff\xfe not json",
]


def publish(url: str, items: list[tuple[str, bytes]]) -> None:
    """Publish raw payloads to the stream's subjects (the stream must exist)."""

    async def run() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        for subject, data in items:
            await js.publish(subject, data)
        await nc.close()

    asyncio.run(run())


def stream_last_seq(url: str) -> int:
    async def run() -> int:
        nc = await nats.connect(url)
        info = await nc.jetstream().stream_info("HK")
        await nc.close()
        return int(info.state.last_seq)

    return asyncio.run(run())


def ack_floor(url: str, consumer: str) -> int:
    """The stream seq up to which ``consumer`` has acknowledged (or terminated) everything."""

    async def run() -> int:
        nc = await nats.connect(url)
        info = await nc.jetstream().consumer_info("HK", consumer)
        await nc.close()
        return int(info.ack_floor.stream_seq) if info.ack_floor else 0

    return asyncio.run(run())


def publish_trades(server_url: str, ticks: list[Tick]) -> None:
    from hkticks.storage.sinks.nats import NatsSink

    sink = NatsSink(f"{server_url}/hk")
    sink.write(ticks)
    assert sink.wait_acked(10)
    sink.close()


def drain(queue: TickQueue, until: Any, what: str) -> list[Any]:
    got: list[Any] = []

    def more() -> bool:
        got.extend(queue.get_batch(10_000, 0.05))
        return bool(until(got))

    wait_until(more, what=what)
    return got


def seqs(items: list[Any]) -> list[int]:
    return [t.seq for t in items if type(t) is Tick]


def test_bad_messages_are_skipped_counted_and_reported(nats_server: NatsServer) -> None:
    publish_trades(nats_server.url, trades("00700", 5))  # creates the stream
    publish(nats_server.url, [("hk.trades.00700", p) for p in BAD_PAYLOADS])
    publish(nats_server.url, [("hk.books.00700", b"[1,2,3]")])
    publish_trades(nats_server.url, trades("00700", 5, start=6))
    queue = TickQueue()
    feed = NatsFeed(f"{nats_server.url}/hk", queue, ["00700"], since_ms=0, books=True)
    feed.start()
    try:
        got = drain(queue, lambda g: len(seqs(g)) >= 10, "the good trades")
        wait_until(lambda: feed.decode_errors >= len(BAD_PAYLOADS) + 1, what="the bad ones counted")
        got.extend(queue.get_batch(10_000, 0.2))
    finally:
        feed.stop()
    assert feed.fatal is None
    assert seqs(got) == list(range(1, 11))
    assert feed.decode_errors == len(BAD_PAYLOADS) + 1
    reported = [e for e in got if type(e) is Event and e.event == "bad_message"]
    assert len(reported) == len(BAD_PAYLOADS) + 1
    assert all(e.details["subject"].startswith("hk.") for e in reported)


def test_a_durable_consumer_terminates_what_it_cannot_parse(nats_server: NatsServer) -> None:
    publish_trades(nats_server.url, trades("00700", 3))
    publish(nats_server.url, [("hk.trades.00700", b"[1,2,3]")])
    url = f"{nats_server.url}/hk"

    def run(expect: int) -> tuple[list[int], NatsFeed]:
        queue = TickQueue()
        feed = NatsFeed(url, queue, ["00700"], consumer="keeper", since_ms=0)
        feed.start()
        try:
            got = drain(queue, lambda g: len(seqs(g)) >= expect, f"{expect} trades")
            last = stream_last_seq(nats_server.url)
            wait_until(lambda: ack_floor(nats_server.url, "keeper") >= last, what="the acks")
        finally:
            feed.stop()
        assert feed.fatal is None
        return seqs(got), feed

    first, feed = run(3)
    assert first == [1, 2, 3] and feed.decode_errors == 1
    publish_trades(nats_server.url, trades("00700", 2, start=4))
    second, feed = run(2)
    assert second == [4, 5]
    assert feed.decode_errors == 0  # not delivered again


def test_stream_from_nats_survives_a_bad_message(nats_server: NatsServer) -> None:
    publish_trades(nats_server.url, trades("00700", 4))
    publish(nats_server.url, [("hk.trades.00700", p) for p in BAD_PAYLOADS[:4]])
    publish_trades(nats_server.url, trades("00700", 4, start=5))
    got: list[int] = []
    with hkticks.stream(from_=f"{nats_server.url}/hk", since=0) as ticks:
        deadline = time.monotonic() + 20
        while len(got) < 8 and time.monotonic() < deadline:
            item = ticks._take(0.1)
            if item is not None:
                got.append(item.seq)
    assert got == list(range(1, 9))


def test_record_from_a_stream_into_the_same_stream_is_refused(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    url = f"{nats_server.url}/hk"
    out = url.replace("127.0.0.1", "localhost")
    r = subprocess.run(
        [sys.executable, "-m", "hkticks", "record", "--from", url, "--out", out],
        env=hk_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "same stream" in lines[0] and "Traceback" not in r.stderr


def test_record_from_without_symbols_follows_new_subjects(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    publish_trades(nats_server.url, trades("00700", 5))
    out = tmp_path / "copy.jsonl"
    proc = start_record(
        tmp_path, ["record", "--from", f"{nats_server.url}/hk", "--out", str(out), "--quiet"]
    )
    try:
        wait_until(lambda: out.exists() and out.stat().st_size > 0, what="the first trade")
        publish_trades(nats_server.url, trades("00005", 7) + trades("00700", 2, start=6))

        def symbols_in() -> set[tuple[str, int]]:
            return {(r["symbol"], r["seq"]) for r in read_jsonl(out)} if out.exists() else set()

        wait_until(lambda: len(symbols_in()) >= 10, what="the new symbol's trades")
    finally:
        proc.send_signal(signal.SIGINT)
        err = finish(proc, timeout=30)
    assert proc.returncode == 0, err
    got = symbols_in()
    assert {s for s, _ in got} == {"00700", "00005"}
    assert ("00005", 7) in got and ("00700", 7) in got


def test_record_from_a_stream_with_bad_messages_keeps_the_good_ones(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """`record --from` on a stream holding poison: skipped, counted, said; exit 0."""
    publish_trades(nats_server.url, trades("00700", 5))
    publish(nats_server.url, [("hk.trades.00700", p) for p in BAD_PAYLOADS])
    publish_trades(nats_server.url, trades("00700", 5, start=6))
    out = tmp_path / "copy.jsonl"
    r = subprocess.run(
        [sys.executable, "-m", "hkticks", "record", "00700", "--from", f"{nats_server.url}/hk"]
        + ["--since", "2000-01-01 00:00", "--out", str(out), "--duration", "3s"],
        env=hk_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert f"decode errors {len(BAD_PAYLOADS)}" in r.stderr
    assert "is not a trade or a book" in r.stderr
    assert [row["seq"] for row in read_jsonl(out)] == list(range(1, 11))
    events = read_jsonl(Path(f"{out}.events.jsonl"))
    assert len([e for e in events if e["event"] == "bad_message"]) == len(BAD_PAYLOADS)


@pytest.mark.parametrize("command", ["watch", "alerts"])
def test_watch_and_alerts_from_a_stream_with_bad_messages_run_to_their_duration(
    tmp_path: Path, nats_server: NatsServer, command: str
) -> None:
    """ts 1e20 once meant a traceback in watch and alerts spinning past --duration."""
    publish_trades(nats_server.url, trades("00700", 3))
    publish(nats_server.url, [("hk.trades.00700", p) for p in BAD_PAYLOADS])
    publish_trades(nats_server.url, trades("00700", 3, start=4))
    r = subprocess.run(
        [sys.executable, "-m", "hkticks", command, "00700", "--json"]
        + ["--from", f"{nats_server.url}/hk", "--since", "2000-01-01 00:00", "--duration", "3s"],
        env=hk_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "is not a trade or a book" in r.stderr
    if command == "watch":
        assert [orjson.loads(x)["seq"] for x in r.stdout.splitlines()] == list(range(1, 7))
