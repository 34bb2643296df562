"""WebSocket message bounds against a real loopback server sending hostile frames.

A message over the byte cap (in 1 MiB or 64 KiB continuation frames) or the
frame-count cap (1 KiB frames) drops the connection with a ``message_too_large``
event naming the cap, and the session reconnects and gets trades again; a message
trickled in 1 KiB frames does not keep the stale watchdog quiet. The caps are
configured small here so the tests move a few MiB, not hundreds.
"""

from __future__ import annotations

import time
from typing import Any

from kit.pacing import RawWsServer, frame, trade_text

from hkticks.alltick import protocol as alltick
from hkticks.feed.guards import MAX_FRAGMENTS, MAX_MESSAGE_BYTES
from hkticks.feed.queue import TickQueue
from hkticks.feed.session import SessionConfig
from hkticks.feed.shards import Feed
from hkticks.tick import Event, Tick

TEXT, CONT, PING = 1, 0, 9
MiB = 1 << 20


def _feed(url: str, **config: Any) -> tuple[Feed, TickQueue]:
    queue = TickQueue(100_000)
    feed = Feed(
        ["00700"],
        url=url,
        token="SECRETTOKEN",
        plan=alltick.PLANS["all-hk"],
        queue=queue,
        config=SessionConfig(backoff_initial=0.1, backoff_cap=0.2, **config),
        connection_spacing=0.1,
        request_spacing=0.1,
    )
    return feed, queue


class Collected:
    def __init__(self, queue: TickQueue) -> None:
        self.queue = queue
        self.events: list[Event] = []
        self.ticks: list[Tick] = []

    def drain(self) -> None:
        for item in self.queue.get_batch(100_000, 0.05):
            if isinstance(item, Event):
                self.events.append(item)
            elif isinstance(item, Tick):
                self.ticks.append(item)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.event == name]

    def until(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drain()
            if predicate():
                return
        raise AssertionError(f"no {what} within {timeout} s: {[e.event for e in self.events]}")


def _oversized_then_trade(first: bytes, piece: bytes, total: int) -> Any:
    """Connection 1: a message that never ends within ``total`` bytes; later ones: a trade."""

    def serve(server: RawWsServer, conn: Any, n: int) -> None:
        if n > 1:
            server.send(conn, n, frame(TEXT, trade_text(seq=n)))
            server.hold()
            return
        server.send(conn, n, first)
        while server.sent[n] < total and not server.stopping():
            server.send(conn, n, piece)
        server.hold()

    return serve


def _run_capped(serve: Any, timeout: float = 30, **config: Any) -> tuple[RawWsServer, Collected]:
    server = RawWsServer(serve)
    feed, queue = _feed(server.url, **config)
    seen = Collected(queue)
    try:
        feed.start()
        seen.until(lambda: seen.named("message_too_large") and seen.ticks, timeout, "cap + trade")
    finally:
        feed.stop()
        server.close()
    return server, seen


def test_a_message_over_the_byte_cap_in_1_mib_frames_is_dropped_and_reconnected() -> None:
    chunk = b"x" * MiB
    serve = _oversized_then_trade(
        frame(TEXT, chunk, fin=False), frame(CONT, chunk, fin=False), 40 * MiB
    )
    server, seen = _run_capped(serve, max_message_bytes=4 * MiB)
    (event,) = seen.named("message_too_large")
    assert event.details["cap"] == "bytes" and event.details["limit"] == 4 * MiB
    assert 4 * MiB < event.details["seen"] <= 5 * MiB and event.details["announced"] is False
    gone = seen.named("disconnected")
    assert gone and "message too large" in gone[0].details["reason"]
    assert "4194304 bytes" in gone[0].details["reason"]  # the cap is named
    # refused at the cap: the client stopped reading, it did not take in the 40 MiB
    assert server.sent[1] < 24 * MiB, server.sent[1]
    assert server.accepted >= 2 and [t.seq for t in seen.ticks] == [2]


def test_a_message_over_the_byte_cap_in_64_kib_frames_is_dropped() -> None:
    chunk = b"y" * (64 << 10)
    serve = _oversized_then_trade(
        frame(TEXT, chunk, fin=False), frame(CONT, chunk, fin=False), 40 * MiB
    )
    server, seen = _run_capped(serve, max_message_bytes=4 * MiB)
    (event,) = seen.named("message_too_large")
    assert event.details["cap"] == "bytes" and event.details["seen"] == 4 * MiB + (64 << 10)
    assert server.sent[1] < 24 * MiB, server.sent[1]


def test_a_message_of_too_many_1_kib_frames_is_dropped() -> None:
    chunk = b"z" * 1024
    serve = _oversized_then_trade(
        frame(TEXT, chunk, fin=False), frame(CONT, chunk, fin=False), 8 * MiB
    )
    server, seen = _run_capped(serve, max_fragments=1000)
    (event,) = seen.named("message_too_large")
    assert event.details == {"cap": "fragments", "seen": 1001, "limit": 1000, "announced": False}
    gone = seen.named("disconnected")
    assert gone and "1001 frames in one message (limit 1000 frames)" in gone[0].details["reason"]
    assert server.sent[1] < 8 * MiB


def test_the_default_caps() -> None:
    assert MAX_MESSAGE_BYTES == 16 * MiB and MAX_FRAGMENTS == 4096
    config = SessionConfig()
    assert (config.max_message_bytes, config.max_fragments) == (MAX_MESSAGE_BYTES, MAX_FRAGMENTS)


def test_a_message_in_fragments_with_a_ping_between_is_one_trade() -> None:
    text = trade_text(seq=7)
    a, b, c = text[:5], text[5:40], text[40:]

    def serve(server: RawWsServer, conn: Any, n: int) -> None:
        server.send(conn, n, frame(TEXT, a, fin=False))
        server.send(conn, n, frame(CONT, b, fin=False))
        server.send(conn, n, frame(PING, b"hi"))  # control frames may come mid-message
        server.send(conn, n, frame(CONT, c))
        server.send(conn, n, frame(TEXT, trade_text(seq=8)))
        server.hold()

    server = RawWsServer(serve)
    feed, queue = _feed(server.url)
    seen = Collected(queue)
    try:
        feed.start()
        seen.until(lambda: len(seen.ticks) >= 2, 20, "two trades")
    finally:
        feed.stop()
        server.close()
    assert [t.seq for t in seen.ticks] == [7, 8] and seen.ticks[0].price == 380.2
    assert not seen.named("message_too_large") and not seen.named("disconnected")


def test_a_trickled_message_does_not_keep_the_stale_watchdog_quiet() -> None:
    """1 KiB frames every 10 ms of a message that never ends: bytes flow, no message
    does. The watchdog counts messages, so it drops the connection after the stale timeout."""
    chunk = b"t" * 1024

    def serve(server: RawWsServer, conn: Any, n: int) -> None:
        server.send(conn, n, frame(TEXT, trade_text(seq=n)))
        server.send(conn, n, frame(TEXT, chunk, fin=False))
        while not server.stopping():
            server.send(conn, n, frame(CONT, chunk, fin=False))
            time.sleep(0.01)  # under test: the trickle (1 KiB every 10 ms)

    server = RawWsServer(serve)
    feed, queue = _feed(server.url, stale_timeout=1.5)
    seen = Collected(queue)
    try:
        feed.start()
        seen.until(lambda: seen.ticks, 20, "first trade")
        started = time.monotonic()
        seen.until(lambda: seen.named("stale"), 20, "stale")
        waited = time.monotonic() - started
        seen.until(lambda: len(seen.ticks) >= 2, 20, "a trade after the reconnect")
    finally:
        feed.stop()
        server.close()
    assert server.accepted >= 2
    assert seen.named("stale")[0].details["silent_s"] >= 1.5
    assert not seen.named("message_too_large")  # 4096 frames take 40 s: the watchdog came first
    print(f"stale after {waited:.2f} s of trickle (timeout 1.5 s)")
