"""The embedded server's WebSocket protocol, over real loopback sockets.

The client is websocket-client, as in hkticks itself. Rates are high enough
that the symbols under test trade many times a second, and timeouts short.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest
import websocket
from kit.waiting import wait_until
from kit.ws_client import Client, books, trades

from hkticks.alltick import protocol as alltick
from hkticks.server import MarketServer
from hkticks.server import simulated_stocks as universe
from hkticks.server import tick_ladder as spread

# the ``server`` fixture (conftest.py): a lenient server (no pacing) at 500 trades/s, Tencent
# trades ~20 times a second
pytestmark = pytest.mark.market(
    seed=7, rate=500, enforce_pacing=False, heartbeat_timeout=10, record_sent=False
)


@pytest.fixture
def client(server: MarketServer) -> Iterator[Client]:
    c = Client(server.ws_url)
    yield c
    c.close()


def test_subscribe_then_trades_arrive(server: MarketServer, client: Client) -> None:
    req = client.builder.subscribe_trades(["00700", "09988"])
    resp = client.request(req)
    assert resp == {
        "ret": 200,
        "msg": "ok",
        "cmd_id": 22005,
        "seq_id": req.seq_id,
        "trace": req.trace,
        "data": {},
    }
    got = trades(client.collect(1.0))
    codes = {t["code"] for t in got}
    assert codes == {"700.HK", "9988.HK"}
    for t in got:
        # as AllTick documents 22998: seq and tick_time (ms) integers, the rest strings
        assert all(isinstance(t[k], str) for k in ("price", "volume", "turnover"))
        assert all(type(t[k]) is int for k in ("seq", "tick_time", "trade_direction"))
        price = round(float(t["price"]) * 1000)
        assert spread.is_valid_price(price)
        assert float(t["turnover"]) == pytest.approx(float(t["price"]) * int(t["volume"]))
        assert abs(int(t["tick_time"]) - time.time() * 1000) < 60_000
    decoded = [alltick.decode(orjson.dumps({"cmd_id": 22998, "data": t}), 0) for t in got]
    assert all(isinstance(d, alltick.Tick) for d in decoded)
    seqs: dict[str, list[int]] = {}
    for d in decoded:
        assert isinstance(d, alltick.Tick) and d.seq is not None
        seqs.setdefault(d.symbol, []).append(d.seq)
    for values in seqs.values():
        assert values == sorted(set(values))  # per-symbol seq strictly increasing


def test_heartbeat_answered(client: Client) -> None:
    req = client.builder.heartbeat()
    resp = client.request(req)
    assert (resp["ret"], resp["cmd_id"], resp["seq_id"], resp["trace"]) == (
        200,
        22001,
        req.seq_id,
        req.trace,
    )


@pytest.mark.parametrize("token", ["wrong", None, ""])
def test_bad_token_gets_401_then_close(server: MarketServer, token: str | None) -> None:
    c = Client(server.ws_url, token=token)
    try:
        first = c.recv(2.0)
        assert first["ret"] == 401 and first["msg"] == "token invalid"
        assert isinstance(alltick.decode(orjson.dumps(first), 0), alltick.Response)
        code, reason = c.wait_closed(2.0)
        assert code == 1008 and reason == "token invalid"
    finally:
        c.close()
    info = wait_until(
        lambda: [i for i in server.connections() if i.close_reason == "token invalid"],
        what="a connection closed for an invalid token",
    )
    assert info[0].plan is None


def test_other_paths_are_404(server: MarketServer) -> None:
    url = server.ws_url.replace("/quote-stock-b-ws-api", "/other") + "?token=t"
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        websocket.create_connection(url, timeout=2)
    assert err.value.status_code == 404


@pytest.mark.parametrize("status", [401, 403, 503])
def test_reject_handshake_status(server: MarketServer, status: int) -> None:
    server.reject_handshake_status = status
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        websocket.create_connection(server.ws_url + "?token=t", timeout=2)
    assert err.value.status_code == status
    server.reject_handshake_status = None
    Client(server.ws_url).close()  # accepted again


def test_heartbeat_timeout_closes_silent_connections() -> None:
    with MarketServer(seed=1, rate=0, heartbeat_timeout=1.0) as server:
        silent = Client(server.ws_url)
        talking = Client(server.ws_url)
        try:
            deadline = time.monotonic() + 1.6
            while time.monotonic() < deadline:
                talking.request(talking.builder.heartbeat())
                time.sleep(0.3)  # under test: one client heartbeats every 0.3 s
            code, reason = silent.wait_closed(2.0)
            assert (code, reason) == (1008, "heartbeat timeout")
            infos = {i.id: i for i in server.connections()}
            assert infos[1].close_reason == "heartbeat timeout"
            assert infos[2].close_reason is None  # still open: it kept heart-beating
            assert talking.request(talking.builder.heartbeat())["ret"] == 200
        finally:
            silent.close()
            talking.close()


def test_subscribe_replaces_previous_list(server: MarketServer, client: Client) -> None:
    assert client.subscribe(["00700", "09988"])["ret"] == 200
    assert client.subscribe(["00005"])["ret"] == 200
    info = server.connections()[-1]
    assert info.trade_symbols == ("00005",)
    client.pushes.clear()
    server.set_rate(3000)
    got = trades(client.collect(0.5))
    assert got and {t["code"] for t in got} == {"5.HK"}


def test_unknown_codes_get_600_and_known_ones_are_kept(
    server: MarketServer, client: Client
) -> None:
    req = alltick.Request(
        alltick.CMD_SUB_TRADES,
        5,
        "t-600",
        orjson.dumps(
            {
                "cmd_id": 22004,
                "seq_id": 5,
                "trace": "t-600",
                "data": {
                    "symbol_list": [
                        {"code": "700.HK"},
                        {"code": "99999.HK"},
                        {"code": "0700.HK"},  # not AllTick's spelling
                        {"code": "AAPL.US"},
                        {"code": "9988.HK"},
                    ]
                },
            }
        ).decode(),
    )
    resp = client.request(req)
    assert resp["ret"] == 600 and resp["cmd_id"] == 22005
    assert resp["data"] == {}  # AllTick documents no field naming the codes
    assert server.connections()[-1].trade_symbols == ("00700", "09988")
    assert {t["code"] for t in trades(client.collect(1.0))} == {"700.HK", "9988.HK"}
    # --quirks extras names them (a client must tolerate both)
    with MarketServer(seed=2, rate=0, enforce_pacing=False, quirks=["extras"]) as extras:
        c = Client(extras.ws_url)
        try:
            named = c.request(req)
        finally:
            c.close()
    assert named["data"] == {"invalid_codes": ["99999.HK", "0700.HK", "AAPL.US"]}
    decoded = alltick.decode(orjson.dumps(named), 0)
    assert isinstance(decoded, alltick.Response)
    assert "99999" in decoded.codes()


def test_per_connection_symbol_limit_ignores_the_excess() -> None:
    codes = [s.code for s in universe.stocks() if not s.suspended][:8]
    with MarketServer(token="f", plan="free", enforce_pacing=False, rate=0) as server:
        c = Client(server.ws_url, token="f")
        try:
            assert c.subscribe(codes)["ret"] == 200
            assert server.connections()[0].trade_symbols == tuple(codes[:5])
        finally:
            c.close()


def test_per_connection_symbol_limit_603_option() -> None:
    codes = [s.code for s in universe.stocks()][:6]
    with MarketServer(
        token="f", plan="free", enforce_pacing=False, rate=0, over_limit="603"
    ) as server:
        c = Client(server.ws_url, token="f")
        try:
            resp = c.subscribe(codes)
            assert resp["ret"] == 603 and resp["msg"] == "token level not enough"
            assert server.connections()[0].trade_symbols == ()
            assert c.subscribe(codes[:5])["ret"] == 200
        finally:
            c.close()


def test_connections_per_token_limit() -> None:
    with MarketServer(
        token="p", plan="premium", tokens={"f": "free"}, enforce_pacing=False, rate=0
    ) as server:
        first = Client(server.ws_url, token="f")
        extra = Client(server.ws_url, token="f")
        others = [Client(server.ws_url, token="p") for _ in range(3)]
        try:
            told = extra.recv(2.0)  # the documented 606 first, then the close
            assert (told["ret"], told["msg"]) == (
                606,
                "too many requests and connection will be closed",
            )
            code, reason = extra.wait_closed(2.0)
            assert code == 1008
            assert reason == "too many connections: plan free allows 1 per token"
            assert first.request(first.builder.heartbeat())["ret"] == 200
            for c in others:  # another token's connections are unaffected
                assert c.request(c.builder.heartbeat())["ret"] == 200
            fourth = Client(server.ws_url, token="p")
            assert fourth.wait_closed(2.0)[0] == 1008
            fourth.close()
            first.close()
            # once the first one is gone, a new one is welcome
            wait_until(lambda: server.connections()[0].closed_at is not None, what="the close")
            again = Client(server.ws_url, token="f")
            assert again.request(again.builder.heartbeat())["ret"] == 200
            again.close()
        finally:
            for c in (first, extra, *others):
                c.close()


def test_pacing_605_rejects_without_closing() -> None:
    with MarketServer(seed=2, rate=0, enforce_pacing=True) as server:
        c = Client(server.ws_url)
        try:
            assert c.subscribe(["00700"])["ret"] == 200
            for _ in range(3):  # heartbeats are exempt from pacing
                assert c.request(c.builder.heartbeat())["ret"] == 200
            for _ in range(4):  # "the second request will be rejected": rejected, not closed
                r = c.subscribe(["09988"])
                assert (r["ret"], r["msg"]) == (605, "too many requests")
            assert c.request(c.builder.cancel())["ret"] == 605
            assert server.connections()[0].trade_symbols == ("00700",)  # not applied
            assert c.request(c.builder.heartbeat())["ret"] == 200  # still open
            info = server.connections()[0]
            assert [r[2] for r in info.requests] == [200, 200, 200, 200] + [605] * 5 + [200]
            assert info.closed_at is None
        finally:
            c.close()


def test_pacing_allows_one_request_per_second() -> None:
    with MarketServer(seed=2, rate=0, enforce_pacing=True) as server:
        c = Client(server.ws_url)
        try:
            assert c.subscribe(["00700"])["ret"] == 200
            time.sleep(1.0)  # under test: the next request a second later, as paced
            assert c.subscribe(["09988"])["ret"] == 200
            assert server.connections()[0].trade_symbols == ("09988",)
        finally:
            c.close()


def test_pacing_across_connections_of_one_token() -> None:
    with MarketServer(seed=2, rate=0, enforce_pacing=True, tokens={"u": "premium"}) as server:
        a = Client(server.ws_url)
        b = Client(server.ws_url)
        other_token = Client(server.ws_url, token="u")
        try:
            assert a.subscribe(["00700"])["ret"] == 200
            # within 3 s of a's request: 606, and that connection is closed
            r = b.subscribe(["09988"])
            assert (r["ret"], r["msg"]) == (606, "too many requests and connection will be closed")
            assert b.wait_closed(2.0) == (1008, "too many requests")
            assert other_token.subscribe(["09988"])["ret"] == 200  # tokens are independent
            assert a.request(a.builder.heartbeat())["ret"] == 200  # a is unaffected
        finally:
            for c in (a, b, other_token):
                c.close()


def test_resend_latest_after_subscribe() -> None:
    with MarketServer(seed=4, rate=3000, enforce_pacing=False) as server:
        wait_until(
            lambda: server.call(lambda m: m.state("00700").traded and m.state("09988").traded),
            what="a trade of both symbols",
        )
        server.set_rate(0)
        latest = server.call(lambda m: {s: m.latest(s).seq for s in ("00700", "09988", "00005")})
        c = Client(server.ws_url)
        try:
            assert c.subscribe(["00700"])["ret"] == 200
            first = trades(c.collect(0.3))
            assert [(t["code"], int(t["seq"])) for t in first] == [("700.HK", latest["00700"])]
            # 00700 is not new on this connection: only 09988 is sent again
            assert c.subscribe(["00700", "09988"])["ret"] == 200
            again = trades(c.collect(0.3))
            assert [(t["code"], int(t["seq"])) for t in again] == [("9988.HK", latest["09988"])]
        finally:
            c.close()


def test_resend_latest_skips_symbols_not_traded_since_start_and_can_be_off() -> None:
    with MarketServer(seed=4, rate=0, enforce_pacing=False) as server:
        c = Client(server.ws_url)
        try:
            assert c.subscribe(["00700"])["ret"] == 200
            assert trades(c.collect(0.3)) == []
        finally:
            c.close()
    with MarketServer(seed=4, rate=3000, enforce_pacing=False, resend_latest=False) as server:
        wait_until(lambda: server.call(lambda m: m.state("00700").traded), what="a trade of 00700")
        server.set_rate(0)
        c = Client(server.ws_url)
        try:
            assert c.subscribe(["00700"])["ret"] == 200
            assert trades(c.collect(0.3)) == []
        finally:
            c.close()


def test_books_are_consistent_and_match_trades(server: MarketServer, client: Client) -> None:
    server.set_rate(2000)
    assert client.subscribe(["00700"])["ret"] == 200
    req = client.builder.subscribe_book(["00700", "00005"], depth=5)
    assert client.request(req)["ret"] == 200
    assert server.connections()[-1].book_symbols == ("00700", "00005")
    frames_ = client.collect(1.0)
    got_books = books(frames_)
    price_by_seq = {(t["code"], t["seq"]): float(t["price"]) for t in trades(frames_)}
    assert {b["code"] for b in got_books} == {"700.HK", "5.HK"}
    lots = {"700.HK": 100, "5.HK": 400}
    matched = 0
    for b in got_books:
        bids = [(round(float(x["price"]) * 1000), int(x["volume"])) for x in b["bids"]]
        asks = [(round(float(x["price"]) * 1000), int(x["volume"])) for x in b["asks"]]
        assert 1 <= len(bids) <= 5 and 1 <= len(asks) <= 5
        assert bids[0][0] < asks[0][0]
        assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
        assert [p for p, _ in asks] == sorted(p for p, _ in asks)
        for price, volume in bids + asks:
            assert spread.is_valid_price(price)
            assert volume % lots[b["code"]] == 0 and volume > 0
        trade_price = price_by_seq.get((b["code"], b["seq"]))
        if trade_price is not None:
            assert bids[0][0] <= round(trade_price * 1000) <= asks[0][0]
            matched += 1
        decoded = alltick.decode(orjson.dumps({"cmd_id": 22999, "data": b}), 0)
        assert isinstance(decoded, alltick.Book)
    assert matched > 0


def test_cancel(server: MarketServer, client: Client) -> None:
    server.set_rate(2000)
    assert client.subscribe(["00700"])["ret"] == 200
    assert client.request(client.builder.subscribe_book(["00700"], 3))["ret"] == 200
    resp = client.request(client.builder.cancel(alltick.CANCEL_TRADES))
    assert (resp["ret"], resp["cmd_id"]) == (200, 22007)
    info = server.connections()[-1]
    assert info.trade_symbols == () and info.book_symbols == ("00700",)
    client.pushes.clear()
    got = client.collect(0.4)
    assert trades(got) == [] and books(got)
    assert client.request(client.builder.cancel(alltick.CANCEL_ALL))["ret"] == 200
    assert server.connections()[-1].book_symbols == ()


HEADER = "request header param invalid"
DATA = "request data param invalid"


@pytest.mark.parametrize(
    ("frame", "msg", "echo"),
    [
        ("not json", HEADER, {"cmd_id": 0, "seq_id": 0, "trace": ""}),
        ("[1, 2]", HEADER, {"cmd_id": 0, "seq_id": 0, "trace": ""}),
        ('{"seq_id": 9, "trace": "x", "data": {}}', HEADER, {"cmd_id": 0, "seq_id": 9}),
        ('{"cmd_id": 22004, "seq_id": 9, "trace": "y"}', HEADER, {"cmd_id": 22005, "seq_id": 9}),
        ('{"cmd_id": 22000, "seq_id": 9, "data": {}}', HEADER, {"cmd_id": 22001, "trace": ""}),
        ('{"cmd_id": 22000, "trace": "t", "data": {}}', HEADER, {"seq_id": 0, "trace": "t"}),
        ('{"cmd_id": 22000, "seq_id": 1, "trace": "' + "x" * 65 + '", "data": {}}', HEADER, {}),
        ('{"cmd_id": 22000, "seq_id": -1, "trace": "t", "data": {}}', HEADER, {"seq_id": 0}),
        ('{"cmd_id": 22000, "seq_id": "7", "trace": "t", "data": {}}', HEADER, {"seq_id": 0}),
        (
            '{"cmd_id": 22000, "seq_id": 4294967296, "trace": "t", "data": {}}',
            HEADER,
            {"seq_id": 0},
        ),
        ('{"cmd_id": 22000, "seq_id": 1.5, "trace": "t", "data": {}}', HEADER, {"seq_id": 0}),
        ('{"cmd_id": 22000, "seq_id": true, "trace": "t", "data": {}}', HEADER, {"seq_id": 0}),
        (
            '{"cmd_id": 22004, "seq_id": 4294967295, "trace": "t", "data": {"symbol_list": 1}}',
            DATA,
            {"seq_id": 4294967295},
        ),
        ('{"cmd_id": 12345, "seq_id": 1, "trace": "t", "data": {}}', HEADER, {"cmd_id": 12345}),
        (
            '{"cmd_id": 22004, "seq_id": 9, "trace": "z", "data": {"symbol_list": "700.HK"}}',
            DATA,
            {"cmd_id": 22005, "seq_id": 9, "trace": "z"},
        ),
        (
            '{"cmd_id": 22002, "seq_id": 1, "trace": "d", "data": {"symbol_list": '
            '[{"code": "700.HK", "depth_level": 0}]}}',
            DATA,
            {"cmd_id": 22003},
        ),
        (
            '{"cmd_id": 22006, "seq_id": 1, "trace": "c", "data": {"cancel_type": 7}}',
            DATA,
            {"cmd_id": 22007},
        ),
    ],
)
def test_bad_requests_get_400(
    client: Client, frame: str, msg: str, echo: dict[str, object]
) -> None:
    client.send(frame)
    resp = client.recv(2.0)
    assert (resp["ret"], resp["msg"]) == (400, msg)
    assert {"cmd_id", "seq_id", "trace", "data"} <= set(resp)  # always, as documented
    for key, value in echo.items():
        assert resp[key] == value
    assert client.request(client.builder.heartbeat())["ret"] == 200  # still usable


def test_variants_numbers_and_seconds() -> None:
    with MarketServer(
        seed=5, rate=2000, numbers_as_strings=False, tick_time_unit="s", enforce_pacing=False
    ) as server:
        c = Client(server.ws_url)
        try:
            c.subscribe(["00700"])
            got = trades(c.collect(0.5))
            assert got
            for t in got:
                assert isinstance(t["price"], float) and isinstance(t["volume"], int)
                assert isinstance(t["seq"], int)
                assert abs(t["tick_time"] - time.time()) < 60  # seconds
                tick = alltick.decode(orjson.dumps({"cmd_id": 22998, "data": t}), 0)
                assert isinstance(tick, alltick.Tick) and tick.symbol == "00700"
        finally:
            c.close()


def test_one_trade_goes_to_every_subscriber() -> None:
    with MarketServer(seed=6, rate=1000, enforce_pacing=False, record_sent=True) as server:
        a, b = Client(server.ws_url), Client(server.ws_url)
        try:
            a.subscribe(["00700", "09988"])
            b.subscribe(["00700"])
            got_a = trades(a.collect(0.8))
            got_b = trades(b.collect(0.3))
            seqs_a = {t["seq"] for t in got_a if t["code"] == "700.HK"}
            seqs_b = {t["seq"] for t in got_b}
            assert seqs_b and seqs_b <= seqs_a | seqs_b
            common = seqs_a & seqs_b
            assert common  # the same trades, not two separate streams
            sent = server.sent_trades()
            ids = {info.id for info in server.connections()}
            assert {cid for cid, _, _ in sent} == ids
            assert all(sym in ("00700", "09988") for _, sym, _ in sent)
        finally:
            a.close()
            b.close()


def test_firehose_count_and_record_sent() -> None:
    with MarketServer(
        seed=8, firehose=True, firehose_count=2000, record_sent=True, enforce_pacing=False
    ) as server:
        c = Client(server.ws_url)
        try:
            c.subscribe(["00700", "09988", "02870"])  # 02870 is suspended: never trades
            frames = c.collect_until(lambda f: len(trades(f)) >= 2000, what="2,000 trades")
            got = trades(frames)
            assert len(got) == 2000
            assert {t["code"] for t in got} == {"700.HK", "9988.HK"}
            sent = server.sent_trades()
            assert [(s, q) for _, s, q in sent] == [
                (alltick.from_alltick(t["code"]), int(t["seq"])) for t in got
            ]
            assert c.request(c.builder.heartbeat())["ret"] == 200  # still answering
            assert trades(c.collect(0.3)) == []  # and no more pushes
            assert server.connections()[0].trades_sent == 2000
        finally:
            c.close()


def test_connections_snapshot(server: MarketServer, client: Client) -> None:
    client.subscribe(["00700"])
    client.request(client.builder.subscribe_book(["09988"]))
    (info,) = server.connections()
    assert info.id == 1 and info.token == "t" and info.plan == "all-hk"
    assert "t" not in repr(info).split("plan")[0].replace("ConnectionInfo", "")
    assert info.closed_at is None and info.close_reason is None
    assert info.trade_symbols == ("00700",) and info.book_symbols == ("09988",)
    assert [(cmd, ret) for _, cmd, ret in info.requests] == [(22004, 200), (22002, 200)]
    assert info.opened_at <= info.requests[0][0] <= time.time()
    client.close()
    closed = wait_until(
        lambda: server.connections()[0].closed_at and server.connections()[0], what="the close"
    )
    assert closed.close_reason == "client closed (1000)"


def test_firehose_follows_subscribe_and_cancel() -> None:
    with MarketServer(seed=8, firehose=True, enforce_pacing=False) as server:
        c = Client(server.ws_url)
        try:
            assert c.collect(0.2) == []  # nothing subscribed: nothing pushed
            c.subscribe(["00700"])
            assert {t["code"] for t in trades(c.collect(0.2))} == {"700.HK"}
            c.subscribe(["00005"])
            # frames already in flight before the switch, up to the first of the new symbol
            c.collect_until(
                lambda f: any(t["code"] == "5.HK" for t in trades(f)), what="a trade of 00005"
            )
            assert {t["code"] for t in trades(c.collect(0.2))} == {"5.HK"}
            c.request(c.builder.cancel())
            c.collect(0.1)
            assert c.collect(0.3) == []
            # the server is idle again, not spinning on an empty subscription
            before = server.call(lambda m: m.latest("00005").seq)
            time.sleep(0.2)  # under test: a window in which no trade may be made
            assert server.call(lambda m: m.latest("00005").seq) == before
        finally:
            c.close()
