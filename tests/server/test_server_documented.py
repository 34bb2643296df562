"""The embedded server follows AllTick's documentation: klines, caps, rate rules, errors, TLS,
and REST sockets that misbehave (resets, idle connections).

Real sockets on loopback; answers read as raw JSON (what is on the wire).
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
import websocket
from kit.waiting import wait_until
from kit.ws_client import Client, books

from hkticks.alltick import protocol as alltick
from hkticks.errors import HkticksError
from hkticks.market_hours import calendar
from hkticks.server import MarketServer
from hkticks.server.rest_limits import RateLimiter, rest_windows
from hkticks.server.ws_connections import header_valid

# one embedded server for the module (``module_server``, conftest.py)
pytestmark = pytest.mark.market(
    seed=21,
    rate=2000,
    enforce_rest_rate=False,
    tokens={"p": "premium", "f": "free"},
    enforce_pacing=True,
    record_sent=False,
)


@pytest.fixture
def srv(module_server: MarketServer) -> MarketServer:
    """The module's server (the name its newer tests use)."""
    return module_server


def get(module_server: MarketServer, endpoint: str, query: Any, token: str = "t") -> dict[str, Any]:
    raw = query if isinstance(query, str) else orjson.dumps(query).decode()
    url = f"{module_server.rest_url}{endpoint}?token={token}&query={quote(raw)}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return orjson.loads(resp.read())  # type: ignore[no-any-return]


def post(module_server: MarketServer, body: Any, token: str = "t") -> dict[str, Any]:
    req = urllib.request.Request(
        f"{module_server.rest_url}batch-kline?token={token}", data=orjson.dumps(body), method="POST"
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return orjson.loads(resp.read())  # type: ignore[no-any-return]


def item(code: str, kline_type: int, count: int = 2) -> dict[str, Any]:
    return {
        "code": code,
        "kline_type": kline_type,
        "kline_timestamp_end": 0,
        "query_kline_num": count,
        "adjust_type": 0,
    }


def kline(
    module_server: MarketServer, code: str, kline_type: int, count: int
) -> list[dict[str, str]]:
    answer = get(module_server, "kline", {"trace": "k", "data": item(code, kline_type, count)})
    assert answer["ret"] == 200, answer
    assert (answer["data"]["code"], answer["data"]["kline_type"]) == (code, kline_type)
    return answer["data"]["kline_list"]  # type: ignore[no-any-return]


# -- klines --------------------------------------------------------------------------------


def test_klines_agree_with_the_trades_served(module_server: MarketServer) -> None:
    kline(module_server, "700.HK", 1, 1)  # the first intraday request starts the minute bars
    seq = module_server.call(lambda m: m.latest("00700").seq)
    wait_until(  # let the market trade a while
        lambda: module_server.call(lambda m: m.latest("00700").seq) >= seq + 5,
        what="5 trades of 00700",
    )
    module_server.set_rate(0)  # hold trading still while the views are compared
    try:
        minutes = kline(module_server, "700.HK", 1, 500)
        day = kline(module_server, "700.HK", 8, 2)
        latest = get(
            module_server,
            "trade-tick",
            {"trace": "t", "data": {"symbol_list": [{"code": "700.HK"}]}},
        )
    finally:
        module_server.set_rate(2000)
    last_price = latest["data"]["tick_list"][0]["price"]
    today = day[-1]
    # the day's minute bars add up to the day's bar, and both end at the last trade
    today_minutes = [m for m in minutes if int(m["timestamp"]) >= int(today["timestamp"])]
    assert sum(int(m["volume"]) for m in today_minutes) == int(today["volume"])
    assert max(float(m["high_price"]) for m in today_minutes) == float(today["high_price"])
    assert min(float(m["low_price"]) for m in today_minutes) == float(today["low_price"])
    assert minutes[-1]["close_price"] == today["close_price"] == last_price
    stamps = [int(m["timestamp"]) for m in minutes]
    assert stamps == sorted(set(stamps)) and all(s % 60 == 0 for s in stamps)
    traded = module_server.call(lambda m: m.state("00700").traded)
    assert traded  # trades were made after the minute bars started, and are in them


HKT = dt.timezone(dt.timedelta(hours=8))


def _session_bucket(ts: int, seconds: int) -> int:
    """The bar start holding minute ``ts``: aligned on the session's open (09:30 / 13:00)."""
    into_day = (ts + 8 * 3600) % 86_400
    base = 9 * 3600 + 1800 if into_day < 13 * 3600 else 13 * 3600
    return ts - into_day + base + (into_day - base) // seconds * seconds


@pytest.mark.parametrize(("kline_type", "seconds"), [(2, 300), (3, 900), (4, 1800), (5, 3600)])
def test_intraday_types_roll_up_the_minutes(
    module_server: MarketServer, kline_type: int, seconds: int
) -> None:
    module_server.set_rate(0)
    try:
        minutes = kline(module_server, "9988.HK", 1, 500)
        bars = kline(module_server, "9988.HK", kline_type, 500)
    finally:
        module_server.set_rate(2000)
    assert len(bars) == 500  # as many as asked: the history goes back over earlier days
    grouped: dict[int, list[dict[str, str]]] = {}
    for m in minutes:
        grouped.setdefault(_session_bucket(int(m["timestamp"]), seconds), []).append(m)
    first_full = min(grouped) if len(grouped) == 1 else sorted(grouped)[1]
    checked = 0
    for b in bars:
        start = int(b["timestamp"])
        assert start == _session_bucket(start, seconds)
        if start < first_full:
            continue  # the minutes asked do not reach back over this whole bar
        ms = grouped.pop(start)
        assert int(b["volume"]) == sum(int(m["volume"]) for m in ms)
        assert float(b["high_price"]) == max(float(m["high_price"]) for m in ms)
        assert float(b["low_price"]) == min(float(m["low_price"]) for m in ms)
        assert (b["open_price"], b["close_price"]) == (ms[0]["open_price"], ms[-1]["close_price"])
        checked += 1
    assert checked and not [k for k in grouped if k >= first_full]
    if seconds == 3600:  # an hour bar starts at 09:30, 10:30, 11:30, 13:00, 14:00 or 15:00
        cal = calendar()
        days = {int(b["timestamp"]) // 86_400 for b in bars}
        assert days
        for b in bars:
            d = dt.datetime.fromtimestamp(int(b["timestamp"]), HKT)
            if cal.is_open(int(b["timestamp"]) * 1000):
                assert (d.hour, d.minute) in {
                    (9, 30),
                    (10, 30),
                    (11, 30),
                    (13, 0),
                    (14, 0),
                    (15, 0),
                }


def test_minute_history_lies_in_trading_sessions() -> None:
    with MarketServer(rate=0, seed=8) as server:  # no trades served: history only
        minutes = kline(server, "700.HK", 1, 600)
        days = kline(server, "700.HK", 8, 3)
    assert len(minutes) == 500  # 600 asked: the documented maximum
    cal = calendar()
    for m in minutes:
        ts = int(m["timestamp"])
        d = dt.datetime.fromtimestamp(ts, HKT)
        assert cal.is_trading_day(d.date().isoformat()), d
        in_morning = dt.time(9, 30) <= d.time() < dt.time(12, 0)
        in_afternoon = dt.time(13, 0) <= d.time() < dt.time(16, 0)
        half = cal.day_kind((ts + 8 * 3600) // 86_400) == "half day"
        assert in_morning or (in_afternoon and not half), d  # none over lunch or nights
    by_day: dict[int, list[dict[str, str]]] = {}
    for m in minutes:
        by_day.setdefault(int(m["timestamp"]) // 86_400 * 86_400 - 8 * 3600, []).append(m)
    for bar in days:
        ms = [m for m in minutes if 0 <= int(m["timestamp"]) - int(bar["timestamp"]) < 86_400]
        first = dt.datetime.fromtimestamp(int(ms[0]["timestamp"]), HKT) if ms else None
        if not ms or (first is not None and first.time() != dt.time(9, 30)):
            continue  # a day the 500 minutes only reach part of
        # each session's open first; the day's bar is the sum of its minutes
        assert ms[0]["open_price"] == bar["open_price"]
        assert ms[-1]["close_price"] == bar["close_price"]
        assert sum(int(m["volume"]) for m in ms) == int(bar["volume"])
        assert sum(float(m["turnover"]) for m in ms) == pytest.approx(float(bar["turnover"]))
        assert max(float(m["high_price"]) for m in ms) == float(bar["high_price"])
        assert min(float(m["low_price"]) for m in ms) == float(bar["low_price"])
        if len(ms) >= 30:  # never the whole day in one bar
            assert max(int(m["volume"]) for m in ms) < int(bar["volume"]) / 5


def test_daily_weekly_monthly_history(srv: MarketServer) -> None:
    srv.set_rate(0)  # hold trading still while the views are compared
    try:
        days = kline(srv, "700.HK", 8, 600)
        weeks = kline(srv, "700.HK", 9, 500)
        months = kline(srv, "700.HK", 10, 500)
    finally:
        srv.set_rate(2000)
    assert len(days) == 500  # at most 500 bars per /kline call
    hkt = dt.timezone(dt.timedelta(hours=8))
    cal = calendar()
    for b in days:
        d = dt.datetime.fromtimestamp(int(b["timestamp"]), hkt)
        assert (d.hour, d.minute) == (0, 0) and d.weekday() < 5
        if cal.covers(d.date().isoformat()):
            assert cal.is_trading_day(d.date().isoformat()), d  # no holiday bars
        lo, hi = float(b["low_price"]), float(b["high_price"])
        assert lo <= float(b["open_price"]) <= hi and lo <= float(b["close_price"]) <= hi
    assert all(dt.datetime.fromtimestamp(int(w["timestamp"]), hkt).weekday() == 0 for w in weeks)
    assert all(dt.datetime.fromtimestamp(int(m["timestamp"]), hkt).day == 1 for m in months)
    assert weeks[-1]["close_price"] == months[-1]["close_price"] == days[-1]["close_price"]
    assert len(weeks) >= 100 and len(months) >= 23


def test_kline_refusals(module_server: MarketServer) -> None:
    for bad in (6, 7, 0, 11, "8"):
        answer = get(module_server, "kline", {"trace": "bad", "data": item("700.HK", bad)})  # type: ignore[arg-type]
        assert (answer["ret"], answer["msg"], answer["trace"]) == (
            400,
            "request data param invalid",
            "bad",
        )
    since = dict(item("700.HK", 8), kline_timestamp_end=1677829200)
    assert (
        get(module_server, "kline", {"trace": "s", "data": since})["ret"] == 400
    )  # stocks: 0 only
    assert get(module_server, "kline", {"trace": "u", "data": item("99999.HK", 8)})["ret"] == 600


def test_batch_kline_every_type_and_the_item_caps(module_server: MarketServer) -> None:
    types = sorted(alltick.STOCK_KLINE_TYPES)
    answer = post(
        module_server, {"trace": "b", "data": {"data_list": [item("700.HK", t, 5) for t in types]}}
    )
    assert answer["ret"] == 200 and answer["trace"] == "b"
    got = answer["data"]["kline_list"]
    assert [g["kline_type"] for g in got] == types
    # more than 2 asked: the latest 2 (an hour-old server has fewer intraday bars)
    assert all(1 <= len(g["kline_data"]) <= 2 for g in got)
    assert all(len(g["kline_data"]) == 2 for g in got if g["kline_type"] >= 8)
    codes = [alltick.to_alltick(s.code) for s in module_server.stocks[:201]]
    premium = {"trace": "p", "data": {"data_list": [item(c, 8) for c in codes]}}
    over = post(module_server, premium, token="p")
    assert (over["ret"], over["msg"], over["trace"]) == (603, "token level not enough", "p")
    premium["data"]["data_list"] = premium["data"]["data_list"][:200]  # type: ignore[index]
    assert post(module_server, premium, token="p")["ret"] == 200
    free = {"trace": "f", "data": {"data_list": [item(c, 8) for c in codes[:6]]}}
    assert post(module_server, free, token="f")["ret"] == 603  # free: 5 items
    pro = {"trace": "a", "data": {"data_list": [item(c, t) for c in codes[:50] for t in (1, 8)]}}
    assert post(module_server, pro)["ret"] == 200  # all-hk: 500 items


def test_depth_tick_and_first_n_codes(module_server: MarketServer) -> None:
    codes = [{"code": alltick.to_alltick(s.code)} for s in module_server.stocks[:60]]
    answer = get(module_server, "depth-tick", {"trace": "d", "data": {"symbol_list": codes}})
    assert answer["ret"] == 200 and answer["trace"] == "d"
    ticks = answer["data"]["tick_list"]
    assert [t["code"] for t in ticks] == [c["code"] for c in codes]  # 50 is advice, not a cut
    books_, bad = alltick.decode_depth_ticks(answer["data"], 0)
    assert bad == 0 and all(b.bids and b.asks and b.bids[0][0] < b.asks[0][0] for b in books_)
    info = get(
        module_server, "static_info", {"trace": "s", "data": {"symbol_list": codes}}, token="f"
    )
    assert len(info["data"]["static_info_list"]) == 5  # free: the first 5


@pytest.mark.parametrize(
    ("query", "msg"),
    [
        ({"data": {"symbol_list": [{"code": "700.HK"}]}}, "request header param invalid"),
        ({"trace": "x" * 65, "data": {"symbol_list": []}}, "request header param invalid"),
        ({"trace": 7, "data": {"symbol_list": []}}, "request header param invalid"),
        ({"trace": "t", "data": []}, "request header param invalid"),
        ({"trace": "t", "data": {"symbol_list": "700.HK"}}, "request data param invalid"),
        ({"trace": "t", "data": {"symbol_list": [{"code": 700}]}}, "request data param invalid"),
    ],
)
def test_rest_400s_and_trace_echo(
    module_server: MarketServer, query: dict[str, Any], msg: str
) -> None:
    answer = get(module_server, "trade-tick", query)
    assert (answer["ret"], answer["msg"]) == (400, msg)
    if isinstance(query.get("trace"), str):
        assert answer["trace"] == query["trace"]


# -- rates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "combined", "batch_s", "per_minute"),
    [  # http_interface/interface_limitation.md, "Request multiple HTTP interfaces"
        ("free", (1, 10.0), 10.0, 10),
        ("basic", (1, 1.0), 3.0, 60),
        ("premium", (10, 1.0), 2.0, 600),
        ("professional", (20, 1.0), 1.0, 1200),
        ("all-hk", (20, 1.0), 1.0, 1200),
        ("all-cn", (20, 1.0), 1.0, 1200),
    ],
)
def test_rest_windows_are_the_documented_table(
    plan: str, combined: tuple[int, float], batch_s: float, per_minute: int
) -> None:
    p = alltick.PLANS[plan]
    assert rest_windows(p, "kline") == [("combined", *combined), ("minute", per_minute, 60.0)]
    assert rest_windows(p, "batch-kline")[-1] == ("batch-kline", 1, batch_s)


def test_rate_windows_combined_per_minute_and_per_day() -> None:
    limiter = RateLimiter()
    basic = alltick.PLANS["basic"]
    # one request per second over every interface (the strict reading of AllTick's table;
    # its example lets a second endpoint through in the same second)
    assert limiter.allow("b", "kline", basic, 100.0, wall=0)
    assert not limiter.allow("b", "trade-tick", basic, 100.2, wall=0)
    assert not limiter.allow("b", "kline", basic, 100.5, wall=0)
    assert limiter.allow("b", "trade-tick", basic, 101.0, wall=0)
    # batch-kline: every 3 s on basic, whatever the combined rate allows
    assert limiter.allow("b", "batch-kline", basic, 102.0, wall=0)
    assert limiter.allow("b", "kline", basic, 103.0, wall=0)
    assert not limiter.allow("b", "batch-kline", basic, 104.0, wall=0)
    assert limiter.allow("b", "batch-kline", basic, 105.0, wall=0)
    # free: one request per 10 s across endpoints
    free = alltick.PLANS["free"]
    assert limiter.allow("f", "kline", free, 200.0, wall=0)
    assert not limiter.allow("f", "trade-tick", free, 205.0, wall=0)
    assert not limiter.allow("f", "static_info", free, 208.0, wall=0)
    assert limiter.allow("f", "static_info", free, 210.0, wall=0)
    # all-hk: 20 in any second over all endpoints, then the per-minute total of 1,200
    hk = alltick.PLANS["all-hk"]
    ends = ("kline", "trade-tick", "depth-tick")
    burst = [limiter.allow("h", ends[i % 3], hk, 300.0 + i * 0.001, wall=0) for i in range(30)]
    assert burst == [True] * 20 + [False] * 10
    assert limiter.allow("h", "kline", hk, 301.0, wall=0)
    # the per-minute total over every endpoint
    fast = alltick.Plan("fast", 1, 5, 100.0, 0.01, 5, 1000, 5, 5)
    spaced = [limiter.allow("m", ends[i % 3], fast, 500.0 + i, wall=0) for i in range(7)]
    assert spaced == [True] * 5 + [False] * 2
    assert limiter.allow("m", "kline", fast, 560.0, wall=0)
    # the daily cap, reset at midnight Hong Kong time
    day = alltick.Plan("tiny", 1, 5, 100.0, 0.01, 10_000, 3, 5, 5)
    hk_noon = 4 * 3600.0  # 12:00 HKT on 1970-01-01
    assert [limiter.allow("d", f"x{i}", day, 300 + i, wall=hk_noon) for i in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert limiter.allow("d", "y", day, 400, wall=hk_noon + 86_400)


def test_rest_limits_over_http() -> None:
    with MarketServer(rate=0, token="b", plan="basic") as server:
        q = {"trace": "r", "data": {"symbol_list": [{"code": "700.HK"}]}}
        k = {"trace": "r", "data": item("700.HK", 8)}
        assert get(server, "kline", k, token="b")["ret"] == 200
        again = get(server, "trade-tick", q, token="b")  # one a second over all endpoints
        assert (again["ret"], again["msg"], again["trace"]) == (429, "rate limit", "r")
        body = {"trace": "bk", "data": {"data_list": [item("700.HK", 8)]}}
        time.sleep(1.1)  # under test: the limiter's window (basic: 1/s)
        assert post(server, body, token="b")["ret"] == 200
        time.sleep(1.1)  # under test: the limiter's window (basic: 1/s; batch-kline every 3 s)
        assert get(server, "kline", k, token="b")["ret"] == 200
        time.sleep(1.1)  # under test: 2.2 s after the last batch-kline, inside its 3 s interval
        assert post(server, body, token="b")["ret"] == 429


def test_a_burst_over_three_endpoints_gets_the_combined_rate() -> None:
    q = {"trace": "b", "data": {"symbol_list": [{"code": "700.HK"}]}}
    k = {"trace": "b", "data": item("700.HK", 8)}
    calls = [("kline", k), ("trade-tick", q), ("depth-tick", q)] * 10
    with MarketServer(rate=0, token="h", plan="all-hk") as server:
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            rets = list(pool.map(lambda c: get(server, c[0], c[1], token="h")["ret"], calls))
        elapsed = time.monotonic() - started
    assert set(rets) <= {200, 429}
    if elapsed < 1.0:  # one window: AllTick's 20 a second across every endpoint
        assert rets.count(200) == 20
    else:  # a slow machine: never more than 20 in any second
        assert rets.count(200) <= 20 * (int(elapsed) + 1)


def test_free_answers_one_request_per_ten_seconds_across_endpoints() -> None:
    q = {"trace": "f", "data": {"symbol_list": [{"code": "700.HK"}]}}
    with MarketServer(rate=0, token="f", plan="free") as server:
        first = get(server, "trade-tick", q, token="f")["ret"]
        others = [get(server, e, q, token="f")["ret"] for e in ("depth-tick", "static_info")]
    assert (first, others) == (200, [429, 429])


# -- WebSocket details ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [  # the documented request examples (trailing commas dropped) and the PHP example's
        {"cmd_id": 22000, "seq_id": 123, "trace": "asdfsdfa", "data": {}},
        {"cmd_id": 22000, "seq_id": 123, "trace": "asdfsdfa", "data": []},
        {
            "cmd_id": 22002,
            "seq_id": 123,
            "trace": "asdfsdfa",
            "data": {"symbol_list": [{"code": "HK-1288", "depth_level": 5}]},
        },
        {"cmd_id": 22006, "seq_id": 123, "trace": "asdfsdfa", "data": {"cancel_type": 1}},
    ],
)
def test_documented_request_headers_pass(frame: dict[str, Any]) -> None:
    assert header_valid(frame) and frame["data"] != []


def test_php_heartbeat_with_an_empty_array_is_accepted_and_counted() -> None:
    # AllTick's PHP example sends json_encode(["data" => []]): "data": []
    with MarketServer(rate=0, heartbeat_timeout=2.0) as server:
        c = Client(server.ws_url)
        try:
            for i in range(10):  # 5 s, more than twice the timeout
                frame = {"cmd_id": 22000, "seq_id": 123, "trace": f"php{i}", "data": []}
                c.send(orjson.dumps(frame))
                answer = c.recv(2.0)
                assert (answer["ret"], answer["cmd_id"], answer["trace"]) == (200, 22001, f"php{i}")
                time.sleep(0.5)  # the client's own heartbeat interval, not a wait for a state
            (info,) = server.connections()
            assert info.closed_at is None  # kept alive by them
            assert [r[1:] for r in info.requests] == [(22000, 200)] * 10
        finally:
            c.close()


def test_cancel_type_is_required() -> None:
    with MarketServer(rate=0, enforce_pacing=False) as srv, closing(Client(srv.ws_url)) as c:
        assert c.subscribe(["00700"])["ret"] == 200
        frame = {"cmd_id": 22006, "seq_id": 9, "trace": "c", "data": {}}
        c.send(orjson.dumps(frame))
        answer = c.recv(2.0)
        while "ret" not in answer:
            answer = c.recv(2.0)
        assert (answer["ret"], answer["msg"], answer["cmd_id"]) == (
            400,
            "request data param invalid",
            22007,
        )
        assert srv.connections()[-1].trade_symbols == ("00700",)  # nothing cancelled


def test_depth_level_rules(srv: MarketServer) -> None:
    c = Client(srv.ws_url)
    try:
        req = {
            "cmd_id": 22002,
            "seq_id": 5,
            "trace": "depth",
            "data": {
                "symbol_list": [
                    {"code": "700.HK"},
                    {"code": "9988.HK", "depth_level": 3},
                    {"code": "5.HK", "depth_level": 50},
                ]
            },
        }
        c.send(orjson.dumps(req).decode())
        resp = c.recv(2.0)
        while "ret" not in resp:
            resp = c.recv(2.0)
        assert resp["ret"] == 200
        seen: dict[str, int] = {}
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            for b in books(c.collect(0.3)):
                seen[b["code"]] = max(len(b["bids"]), len(b["asks"]))
        full = srv.call(lambda m: max(len(side) for side in m.book("00005")))
        assert seen == {"700.HK": 1, "9988.HK": 3, "5.HK": full}
        assert full == 10
    finally:
        c.close()


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


def test_tls_wss_and_https(cert: tuple[Path, Path]) -> None:
    crt, key = cert
    with MarketServer(rate=500, tls_cert=str(crt), tls_key=str(key)) as server:
        assert server.ws_url.startswith("wss://") and server.rest_url.startswith("https://")
        ctx = ssl.create_default_context(cafile=str(crt))  # verification stays on
        ws = websocket.create_connection(
            f"{server.ws_url}?token=t", sslopt={"ca_certs": str(crt)}, timeout=5
        )
        try:
            ws.send(alltick.RequestBuilder().subscribe_trades(["00700"]).text)
            assert orjson.loads(ws.recv())["ret"] == 200
        finally:
            ws.close()
        query = quote(alltick.rest_trade_tick_query(["00700"], trace="tls"))
        url = f"{server.rest_url}trade-tick?token=t&query={query}"
        with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
            assert orjson.loads(resp.read())["trace"] == "tls"


def test_tls_overload_is_answered_inside_tls(cert: tuple[Path, Path]) -> None:
    crt, key = cert
    ctx = ssl.create_default_context(cafile=str(crt))
    with MarketServer(
        rate=0, tls_cert=str(crt), tls_key=str(key), rest_max_connections=2, rest_read_timeout=30
    ) as server:
        slow = [socket.create_connection(("127.0.0.1", server.rest_port)) for _ in range(2)]
        try:
            query = quote(alltick.rest_trade_tick_query(["00700"], trace="busy"))
            url = f"{server.rest_url}trade-tick?token=t&query={query}"

            def busy() -> bool:
                try:
                    with urllib.request.urlopen(url, context=ctx, timeout=5):
                        return False  # a slot was still free: not yet
                except urllib.error.HTTPError as exc:  # a 503 read through TLS
                    assert exc.code == 503
                    return True

            wait_until(busy, timeout=20)
        finally:
            for s in slow:
                s.close()


def test_an_encrypted_tls_key_is_refused_in_one_line(
    cert: tuple[Path, Path], tmp_path: Path
) -> None:
    crt, key = cert
    locked = tmp_path / "locked.pem"
    subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-aes256", "-passout", "pass:secret"]
        + ["-out", str(locked)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(HkticksError, match="is encrypted") as err:
        MarketServer(rate=0, tls_cert=str(crt), tls_key=str(locked))
    assert "\n" not in str(err.value)
    # the command: a one-line error and a non-zero exit, no passphrase prompt (no tty)
    run = subprocess.run(
        [sys.executable, "-m", "hkticks", "serve", "--tls-cert", str(crt)]
        + ["--tls-key", str(locked), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # no controlling terminal: a prompt would fail, not hang
    )
    assert run.returncode != 0
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "is encrypted" in lines[0], run.stderr
    assert "Traceback" not in run.stderr


# -- misbehaving REST clients ---------------------------------------------------------------------


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_idle_sockets_are_capped_and_timed_out() -> None:
    with MarketServer(rate=0, rest_max_connections=4, rest_read_timeout=0.5) as server:
        # the server accepts in order, one at a time: the 4 idle ones hold the 4 slots
        idle = [socket.create_connection(("127.0.0.1", server.rest_port)) for _ in range(4)]
        extra = socket.create_connection(("127.0.0.1", server.rest_port))
        extra.settimeout(2)
        assert extra.recv(200).startswith(b"HTTP/1.1 503")
        extra.close()
        for s in idle:  # the read timeout lets them go
            s.settimeout(3)
            assert s.recv(10) == b""
            s.close()
        query = quote(alltick.rest_trade_tick_query(["00700"], trace="after"))
        url = f"{server.rest_url}trade-tick?token=t&query={query}"
        with urllib.request.urlopen(url, timeout=5) as resp:  # room again
            assert orjson.loads(resp.read())["trace"] == "after"


def test_resets_leave_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    with MarketServer(rate=0) as server:
        for partial in (
            b"",
            b"GET /quote-stock-b-api/trade-tick?tok",
            b"POST /x HTTP/1.1\r\nContent-Length: 99\r\n\r\nab",
        ):
            s = socket.create_connection(("127.0.0.1", server.rest_port))
            if partial:
                s.sendall(partial)
            time.sleep(0.05)  # under test: a client that goes quiet, then resets
            _reset(s)
        time.sleep(0.3)  # under test: the window in which a traceback would be printed
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception" not in err


# -- quirks ----------------------------------------------------------------------------------


def test_serve_quirks_send_the_tolerated_variants() -> None:
    from test_server_serve import ServeProcess

    p = ServeProcess("--token", "t", "--rate", "800", "--quirks", "strings", "--quirks", "seconds")
    try:
        p.wait_ready()
        c = Client(p.ws_url, token="t")
        try:
            assert c.subscribe(["00700"])["ret"] == 200
            got = [f["data"] for f in c.collect(1.0) if f.get("cmd_id") == 22998]
        finally:
            c.close()
    finally:
        p.stop()
    assert got
    for t in got:
        assert type(t["seq"]) is str and type(t["tick_time"]) is str
        assert abs(int(t["tick_time"]) - time.time()) < 120  # seconds
        tick = alltick.decode(orjson.dumps({"cmd_id": 22998, "data": t}), 0)
        assert isinstance(tick, alltick.Tick) and tick.ts % 1000 == 0


def test_unknown_quirk_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown quirks"):
        MarketServer(quirks=["bogus"])
