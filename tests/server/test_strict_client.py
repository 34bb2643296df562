"""A strictly typed AllTick client, written from AllTick's documentation, against ``hkticks serve``.

The schemas below are AllTick's field tables (``websocket_interface/*.md``,
``http_interface/*.md``) typed as Python types: ``integer``/``uint32``/``int32``
are ``int`` (a JSON integer, not a string and not a float), ``string`` is
``str``, ``array`` a list, ``object`` a dict. The client uses neither hkticks'
decoder nor its request builder: only websocket-client, urllib and ``json``,
as a user of the real API would. Every documented field must arrive, with
its documented type; where the documentation lists a field as optional
("required: false") we still expect it, since AllTick's examples carry them
all.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from test_server_serve import ServeProcess

TOKEN = "strict-token"

# -- the documented schemas -------------------------------------------------------------

WS_RESPONSE = {"ret": int, "msg": str, "cmd_id": int, "seq_id": int, "trace": str, "data": dict}
TRADE_PUSH = {
    "code": str,
    "seq": int,
    "tick_time": int,
    "price": str,
    "volume": str,
    "turnover": str,
    "trade_direction": int,
}
BOOK_PUSH = {"code": str, "seq": int, "tick_time": int, "bids": list, "asks": list}
LEVEL = {"price": str, "volume": str}

REST_ENVELOPE = {"ret": int, "msg": str, "trace": str, "data": dict}
TRADE_TICK = {
    "code": str,
    "seq": str,
    "tick_time": str,
    "price": str,
    "volume": str,
    "turnover": str,
    "trade_direction": int,
}
DEPTH_TICK = {"code": str, "seq": str, "tick_time": str, "bids": list, "asks": list}
STATIC_INFO = {
    name: str
    for name in (
        "board",
        "bps",
        "circulating_shares",
        "currency",
        "dividend_yield",
        "eps",
        "eps_ttm",
        "exchange",
        "hk_shares",
        "lot_size",
        "name_cn",
        "name_en",
        "name_hk",
        "symbol",
        "total_shares",
    )
}
KLINE_DATA = {"code": str, "kline_type": int, "kline_list": list}
BATCH_ITEM = {"code": str, "kline_type": int, "kline_data": list}
BAR = {
    name: str
    for name in (
        "timestamp",
        "open_price",
        "close_price",
        "high_price",
        "low_price",
        "volume",
        "turnover",
    )
}


def check(obj: Any, schema: dict[str, type], where: str) -> None:
    assert isinstance(obj, dict), f"{where}: not an object: {obj!r}"
    for name, kind in schema.items():
        assert name in obj, f"{where}: documented field {name!r} missing in {obj!r}"
        value = obj[name]
        # bool is an int in Python; a JSON true is not a documented integer
        assert type(value) is kind, (
            f"{where}.{name}: {type(value).__name__}, documented {kind.__name__}"
        )


def numeric(text: str) -> float:
    return float(text)  # a documented string number must parse


# -- the server -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def serve() -> Iterator[ServeProcess]:
    p = ServeProcess("--token", TOKEN, "--rate", "1000", "--seed", "11")
    try:
        p.wait_ready()
        yield p
    finally:
        p.stop()


def request(cmd_id: int, seq_id: int, data: dict[str, Any]) -> str:
    return json.dumps(
        {"cmd_id": cmd_id, "seq_id": seq_id, "trace": f"strict-{seq_id}", "data": data}
    )


def test_websocket_fields_and_types(serve: ServeProcess) -> None:
    ws = websocket.create_connection(f"{serve.ws_url}?token={TOKEN}", timeout=5)
    try:
        frames: list[dict[str, Any]] = []

        def answer(seq_id: int) -> dict[str, Any]:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                obj = json.loads(ws.recv())
                if "ret" in obj and obj.get("seq_id") == seq_id:
                    return obj  # type: ignore[no-any-return]
                frames.append(obj)
            raise AssertionError(f"no answer to seq_id {seq_id}")

        ws.send(request(22000, 1, {}))
        check(answer(1), WS_RESPONSE, "22001")
        ws.send(request(22004, 2, {"symbol_list": [{"code": "700.HK"}, {"code": "9988.HK"}]}))
        resp = answer(2)
        check(resp, WS_RESPONSE, "22005")
        assert (resp["ret"], resp["cmd_id"], resp["trace"]) == (200, 22005, "strict-2")
        time.sleep(1.05)  # under test: a client keeping to one request a second
        ws.send(
            request(
                22002,
                3,
                {"symbol_list": [{"code": "700.HK", "depth_level": 5}, {"code": "9988.HK"}]},
            )
        )
        resp = answer(3)
        check(resp, WS_RESPONSE, "22003")
        assert resp["ret"] == 200
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not (
            {f["cmd_id"] for f in frames} >= {22998, 22999}
            and any(f["cmd_id"] == 22999 and f["data"]["code"] == "9988.HK" for f in frames)
        ):
            frames.append(json.loads(ws.recv()))
        pushes = [f for f in frames if "ret" not in f]
        trades = [f["data"] for f in pushes if f["cmd_id"] == 22998]
        books = [f["data"] for f in pushes if f["cmd_id"] == 22999]
        assert trades and books
        now_ms = time.time() * 1000
        for t in trades:
            check(t, TRADE_PUSH, "22998")
            assert abs(t["tick_time"] - now_ms) < 120_000, "tick_time is documented in ms"
            assert t["trade_direction"] in (0, 1, 2)
            assert numeric(t["turnover"]) == pytest.approx(
                numeric(t["price"]) * numeric(t["volume"])
            )
        for b in books:
            check(b, BOOK_PUSH, "22999")
            assert abs(b["tick_time"] - now_ms) < 120_000
            for level in b["bids"] + b["asks"]:
                check(level, LEVEL, "22999 level")
                numeric(level["price"]), numeric(level["volume"])
        depth = {b["code"]: max(len(b["bids"]), len(b["asks"])) for b in books}
        assert depth["700.HK"] == 5
        assert depth["9988.HK"] == 1  # no depth_level: one level, as documented
        time.sleep(1.05)  # under test: a client keeping to one request a second
        ws.send(request(22006, 4, {"cancel_type": 0}))
        resp = answer(4)
        check(resp, WS_RESPONSE, "22007")
        assert resp["ret"] == 200
        ws.send("{not json")
        bad = json.loads(ws.recv())
        while "ret" not in bad:
            bad = json.loads(ws.recv())
        check(bad, WS_RESPONSE, "error answer")
        assert (bad["ret"], bad["msg"], bad["cmd_id"], bad["seq_id"], bad["trace"]) == (
            400,
            "request header param invalid",
            0,
            0,
            "",
        )
    finally:
        ws.close()


def rest_base(serve: ServeProcess) -> str:
    return f"http://127.0.0.1:{serve.rest_port}/quote-stock-b-api/"


def rest_get(serve: ServeProcess, endpoint: str, query: dict[str, Any]) -> dict[str, Any]:
    params = urllib.parse.urlencode({"token": TOKEN, "query": json.dumps(query)})
    with urllib.request.urlopen(f"{rest_base(serve)}{endpoint}?{params}", timeout=5) as resp:
        obj = json.loads(resp.read())
    check(obj, REST_ENVELOPE, endpoint)
    assert obj["trace"] == query["trace"], "the trace is echoed"
    return obj  # type: ignore[no-any-return]


def test_rest_fields_and_types(serve: ServeProcess) -> None:
    codes = {"symbol_list": [{"code": "700.HK"}, {"code": "9988.HK"}]}
    trade = rest_get(serve, "trade-tick", {"trace": "r1", "data": codes})
    assert trade["ret"] == 200
    assert [t["code"] for t in trade["data"]["tick_list"]] == ["700.HK", "9988.HK"]
    for t in trade["data"]["tick_list"]:
        check(t, TRADE_TICK, "trade-tick")
        int(t["seq"]), int(t["tick_time"]), numeric(t["price"])
    depth = rest_get(serve, "depth-tick", {"trace": "r2", "data": codes})
    for b in depth["data"]["tick_list"]:
        check(b, DEPTH_TICK, "depth-tick")
        assert 1 <= len(b["bids"]) <= 10 and 1 <= len(b["asks"]) <= 10
        for level in b["bids"] + b["asks"]:
            check(level, LEVEL, "depth-tick level")
    info = rest_get(serve, "static_info", {"trace": "r3", "data": codes})
    entries = info["data"]["static_info_list"]
    assert [e["symbol"] for e in entries] == ["700.HK", "9988.HK"]
    for e in entries:
        check(e, STATIC_INFO, "static_info")
        assert (e["exchange"], e["board"], e["currency"]) == ("SEHK", "HKEquity", "HKD")
        for name in ("hk_shares", "total_shares", "circulating_shares", "lot_size"):
            assert int(e[name]) > 0
        for name in ("eps", "eps_ttm", "bps", "dividend_yield"):
            numeric(e[name])
    for kline_type in (1, 2, 3, 4, 5, 8, 9, 10):
        query = {
            "trace": f"k{kline_type}",
            "data": {
                "code": "700.HK",
                "kline_type": kline_type,
                "kline_timestamp_end": 0,
                "query_kline_num": 3,
                "adjust_type": 0,
            },
        }
        kline = rest_get(serve, "kline", query)
        assert kline["ret"] == 200, kline
        check(kline["data"], KLINE_DATA, "kline")
        assert kline["data"]["kline_type"] == kline_type
        assert 1 <= len(kline["data"]["kline_list"]) <= 3
        for bar in kline["data"]["kline_list"]:
            check(bar, BAR, "kline bar")
            int(bar["timestamp"])
        time.sleep(0.06)  # under test: a client keeping to all-hk's 20 calls/s per endpoint
    body = {
        "trace": "b1",
        "data": {
            "data_list": [
                {
                    "code": code,
                    "kline_type": kt,
                    "kline_timestamp_end": 0,
                    "query_kline_num": 2,
                    "adjust_type": 0,
                }
                for code in ("700.HK", "9988.HK")
                for kt in (1, 8)
            ]
        },
    }
    req = urllib.request.Request(
        f"{rest_base(serve)}batch-kline?token={TOKEN}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        batch = json.loads(resp.read())
    check(batch, REST_ENVELOPE, "batch-kline")
    assert batch["trace"] == "b1"
    items = batch["data"]["kline_list"]
    assert [(i["code"], i["kline_type"]) for i in items] == [
        ("700.HK", 1),
        ("700.HK", 8),
        ("9988.HK", 1),
        ("9988.HK", 8),
    ]
    for item in items:
        check(item, BATCH_ITEM, "batch-kline item")
        assert 1 <= len(item["kline_data"]) <= 2
        for bar in item["kline_data"]:
            check(bar, BAR, "batch-kline bar")
