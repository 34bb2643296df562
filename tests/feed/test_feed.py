"""The Connection Manager against the embedded server over real loopback sockets."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket
from kit.waiting import wait_until

from hkticks.alltick import protocol as alltick
from hkticks.errors import ConfigError, PlanTooSmall, TokenRejected
from hkticks.feed.queue import TickQueue
from hkticks.feed.session import SessionConfig
from hkticks.feed.shards import Feed
from hkticks.server import MarketServer
from hkticks.tick import Event, Tick

FAST = SessionConfig(
    heartbeat_interval=0.5,
    stale_timeout=30.0,
    backoff_initial=0.1,
    backoff_cap=0.5,
    rate_limited_backoff=1.0,
)


# the ``server`` fixture (conftest.py); pacing is tested on its own below, here reconnects
# should be quick
pytestmark = pytest.mark.market(rate=400.0, seed=7, heartbeat_timeout=3.0, enforce_pacing=False)


def make_feed(srv: MarketServer, symbols: list[str], token: str = "t", **kw: Any) -> Feed:
    kw.setdefault("config", FAST)
    kw.setdefault("connection_spacing", 0.2)
    kw.setdefault("request_spacing", 0.2)
    plan = kw.pop("plan", alltick.PLANS["all-hk"])
    return Feed(symbols, url=srv.ws_url, token=token, plan=plan, queue=TickQueue(), **kw)


def drain_until(feed: Feed, cond: Callable[[list[Any]], bool], timeout: float = 10.0) -> list[Any]:
    items: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items.extend(feed.queue.get_batch(10_000, 0.05))
        if cond(items):
            return items
    return items


def ticks_of(items: list[Any]) -> list[Tick]:
    return [i for i in items if isinstance(i, Tick)]


def events_of(items: list[Any], name: str | None = None) -> list[Event]:
    return [i for i in items if isinstance(i, Event) and (name is None or i.event == name)]


def test_trades_flow_for_subscribed_symbols_only(server: MarketServer) -> None:
    feed = make_feed(server, ["00700", "09988"])
    feed.start()
    try:
        items = drain_until(feed, lambda it: len({t.symbol for t in ticks_of(it)}) == 2)
        conns = server.connections()
    finally:
        feed.stop()
    ticks = ticks_of(items)
    assert {t.symbol for t in ticks} == {"00700", "09988"}
    assert all(t.src == "alltick-sim" and t.price > 0 and t.volume > 0 for t in ticks)
    names = [e.event for e in events_of(items)]
    assert names[:3] == ["feed_start", "connecting", "connected"]
    assert "subscribed" in names
    # the server saw one connection with exactly these two symbols
    assert len(conns) == 1 and set(conns[0].trade_symbols) == {"00700", "09988"}


def test_heartbeats_keep_the_connection_open(server: MarketServer) -> None:
    feed = make_feed(server, ["00700"])
    feed.start()
    try:
        # up longer than the server's 3 s heartbeat timeout, heartbeating every 0.5 s
        wait_until(
            lambda: (
                (c := server.connections())
                and time.time() - c[0].opened_at > 4.5
                and sum(1 for r in c[0].requests if r[1] == alltick.CMD_HEARTBEAT) >= 8
            ),
            what="8 heartbeats over 4.5 s on the first connection",
        )
        st = feed.status()
    finally:
        feed.stop()
    assert st.reconnects == 0 and st.connections[0].state == "up"
    conn = server.connections()[0]
    assert sum(1 for r in conn.requests if r[1] == alltick.CMD_HEARTBEAT) >= 4
    assert conn.close_reason in (None, "") or "heartbeat" not in str(conn.close_reason)


def test_reconnect_resubscribes_and_never_duplicates(server: MarketServer) -> None:
    feed = make_feed(server, ["00700", "09988", "00005"])
    feed.start()
    try:
        drain = drain_until(feed, lambda it: len(ticks_of(it)) > 20)
        for _ in range(3):
            server.disconnect_all(mode="close")
            drain += drain_until(feed, lambda it: len(events_of(it, "subscribed")) >= 1, 10)
            drain += drain_until(feed, lambda it: len(ticks_of(it)) > 5, 10)
        st = feed.status()
    finally:
        feed.stop()
    ticks = ticks_of(drain)
    keys = [(t.symbol, t.seq) for t in ticks]
    assert len(keys) == len(set(keys)), "a trade was delivered twice"
    assert st.reconnects >= 3
    # the server re-sent the latest trade after each resubscribe, and dedup dropped them
    assert st.duplicates >= 1
    assert len(events_of(drain, "disconnected")) >= 3
    assert len(server.connections()) >= 4


def test_wrong_token_is_fatal_without_reconnect_storm(server: MarketServer) -> None:
    feed = make_feed(server, ["00700"], token="wrong", token_source="HKTICKS_TOKEN")
    feed.start()
    assert feed.done.wait(10)
    feed.stop()
    assert isinstance(feed.fatal, TokenRejected)
    assert "HKTICKS_TOKEN" in str(feed.fatal) and "wrong" not in str(feed.fatal)
    assert len(server.connections()) == 1  # no retry loop (and the feed is stopped)


@pytest.mark.parametrize("status", [401, 403])
def test_handshake_refusal_401_403_is_fatal(server: MarketServer, status: int) -> None:
    server.reject_handshake_status = status
    feed = make_feed(server, ["00700"])
    feed.start()
    assert feed.done.wait(10)
    feed.stop()
    assert isinstance(feed.fatal, TokenRejected)
    assert f"HTTP {status}" in str(feed.fatal)


def test_handshake_503_is_retried_until_it_works(server: MarketServer) -> None:
    server.reject_handshake_status = 503
    feed = make_feed(server, ["00700"])
    feed.start()
    try:
        items = drain_until(feed, lambda it: len(events_of(it, "reconnecting")) >= 2)
        server.reject_handshake_status = None
        items += drain_until(feed, lambda it: len(ticks_of(it)) > 0)
    finally:
        feed.stop()
    assert feed.fatal is None
    assert ticks_of(items)
    reasons = [e.details.get("reason", "") for e in events_of(items, "disconnected")]
    assert any("503" in r for r in reasons)


def test_plan_too_small_answer_603_is_fatal(server: MarketServer) -> None:
    server.next_ret(alltick.CMD_SUB_TRADES, 603)
    feed = make_feed(server, ["00700"])
    feed.start()
    assert feed.done.wait(10)
    feed.stop()
    assert isinstance(feed.fatal, PlanTooSmall)


@pytest.fixture
def named_codes_server() -> Iterator[MarketServer]:
    # AllTick documents no field naming the rejected codes; --quirks extras sends one
    with MarketServer(
        rate=400.0, seed=7, heartbeat_timeout=3.0, enforce_pacing=False, quirks=["extras"]
    ) as srv:
        yield srv


def test_unknown_code_is_reported_once_and_others_keep_flowing(
    named_codes_server: MarketServer,
) -> None:
    server = named_codes_server
    feed = make_feed(server, ["00700", "99998"])
    feed.start()
    try:
        items = drain_until(feed, lambda it: bool(events_of(it, "error")) and len(ticks_of(it)) > 3)
        server.disconnect_all(mode="close")
        items += drain_until(feed, lambda it: len(events_of(it, "subscribed")) >= 1)
        items += drain_until(feed, lambda it: len(ticks_of(it)) > 3)  # trades after it
        last = server.connections()[-1]
    finally:
        feed.stop()
    errors = events_of(items, "error")
    assert len(errors) == 1 and errors[0].details["ret"] == 600
    assert errors[0].details["codes"] == ["99998"]
    assert feed.rejected == {"99998": 600}
    assert {t.symbol for t in ticks_of(items)} == {"00700"}
    # the resubscription after the reconnect left the rejected code out
    assert list(last.trade_symbols) == ["00700"]


def test_rate_limited_subscribe_is_retried_after_the_pause(server: MarketServer) -> None:
    server.next_ret(alltick.CMD_SUB_TRADES, 605)
    feed = make_feed(server, ["00700"])
    feed.start()
    try:
        items = drain_until(feed, lambda it: len(ticks_of(it)) > 0, 10)
    finally:
        feed.stop()
    subs = [r for r in server.connections()[0].requests if r[1] == alltick.CMD_SUB_TRADES]
    assert [r[2] for r in subs[:2]] == [605, 200]
    assert subs[1][0] - subs[0][0] >= FAST.rate_limited_backoff - 0.05
    assert ticks_of(items)


def test_stalled_server_is_detected_and_reconnected(server: MarketServer) -> None:
    cfg = SessionConfig(
        heartbeat_interval=0.3, stale_timeout=1.0, backoff_initial=0.1, backoff_cap=0.3
    )
    feed = make_feed(server, ["00700"], config=cfg)
    feed.start()
    try:
        drain_until(feed, lambda it: len(ticks_of(it)) > 0)
        server.stall(True)
        items = drain_until(feed, lambda it: bool(events_of(it, "stale")), 10)
        server.stall(False)
        items += drain_until(feed, lambda it: len(ticks_of(it)) > 0, 10)
    finally:
        feed.stop()
    assert events_of(items, "stale")
    assert ticks_of(items), "trades resumed after the watchdog reconnected"
    assert feed.status().reconnects >= 1


def test_premium_plan_opens_three_connections_three_seconds_apart() -> None:
    srv = MarketServer(token="t", plan="premium", rate=200.0, seed=1)
    srv.start()
    try:
        symbols = [s.code for s in srv.stocks][:550]
        feed = Feed(
            symbols,
            url=srv.ws_url,
            token="t",
            plan=alltick.PLANS["premium"],
            queue=TickQueue(),
            config=FAST,
        )
        assert [len(s) for s in feed.shards] == [184, 183, 183]
        feed.start()
        conns = wait_until(
            lambda: (
                (c := srv.connections()) and len(c) == 3 and all(x.trade_symbols for x in c) and c
            ),
            what="3 subscribed connections",
        )
        feed.stop()
    finally:
        srv.stop()
    conns = sorted(conns, key=lambda c: c.opened_at)
    assert len(conns) == 3
    assert all(len(c.trade_symbols) <= 200 for c in conns)
    assert sorted(s for c in conns for s in c.trade_symbols) == sorted(symbols)
    gaps = [b.opened_at - a.opened_at for a, b in zip(conns, conns[1:], strict=False)]
    assert all(g >= 2.95 for g in gaps), gaps
    # the server enforced pacing and never had to refuse a request
    assert not [r for c in conns for r in c.requests if r[2] in (605, 606)]


def test_resubscribe_after_reconnect_respects_the_three_second_rule() -> None:
    srv = MarketServer(token="t", plan="all-hk", rate=200.0, seed=2)  # pacing enforced
    srv.start()
    try:
        feed = Feed(
            ["00700"],
            url=srv.ws_url,
            token="t",
            plan=alltick.PLANS["all-hk"],
            queue=TickQueue(),
            config=FAST,
        )
        feed.start()
        try:
            drain_until(feed, lambda it: bool(events_of(it, "subscribed")))
            srv.disconnect_all(mode="close")
            items = drain_until(feed, lambda it: bool(events_of(it, "subscribed")), 10)
            conns = srv.connections()
        finally:
            feed.stop()
    finally:
        srv.stop()
    assert events_of(items, "subscribed") and not events_of(items, "error")
    subs = sorted(r[0] for c in conns for r in c.requests if r[1] == alltick.CMD_SUB_TRADES)
    assert len(subs) == 2 and subs[1] - subs[0] >= 2.95
    assert not [r for c in conns for r in c.requests if r[2] in (605, 606)]


def test_a_wrong_url_path_is_fatal_not_retried(server: MarketServer) -> None:
    wrong = server.ws_url.replace("/quote-stock-b-ws-api", "/no-such-path")
    feed = Feed(
        ["00700"],
        url=wrong,
        token="t",
        plan=alltick.PLANS["all-hk"],
        queue=TickQueue(),
        config=FAST,
    )
    feed.start()
    assert feed.done.wait(10)
    feed.stop()
    assert isinstance(feed.fatal, ConfigError)
    assert "HTTP 404" in str(feed.fatal) and "token=***" in str(feed.fatal)
    assert "token=t" not in str(feed.fatal)


def test_a_clean_stop_says_goodbye_with_a_close_frame(server: MarketServer) -> None:
    feed = make_feed(server, ["00700"])
    feed.start()
    drain_until(feed, lambda it: bool(events_of(it, "subscribed")))
    feed.stop()
    wait_until(lambda: server.connections()[0].closed_at is not None, what="the close")
    assert server.connections()[0].close_reason == "client closed (1000)"


def test_a_connection_over_the_plan_gets_606_and_the_feed_waits_its_turn() -> None:
    # AllTick answers a connection beyond the plan's count with 606, then closes it
    with MarketServer(token="f", plan="free", rate=400.0, seed=7, enforce_pacing=False) as server:
        holder = websocket.create_connection(f"{server.ws_url}?token=f", timeout=5)
        feed = make_feed(server, ["00700"], token="f", plan=alltick.PLANS["free"])
        feed.start()
        try:
            items = drain_until(
                feed, lambda it: any(e.details.get("ret") == 606 for e in events_of(it, "error"))
            )
            assert feed.fatal is None  # a 606 is a reason to back off, not to give up
            holder.close()
            items += drain_until(feed, lambda it: len(ticks_of(it)) > 0, 40)
        finally:
            feed.stop()
            holder.close()
    assert ticks_of(items) and feed.fatal is None
    refused = [
        c
        for c in server.connections()
        if c.close_reason and "too many connections" in c.close_reason
    ]
    assert refused and all(c.requests[0][2] == 606 for c in refused)
