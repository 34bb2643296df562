"""Golden frames: AllTick's documented requests and answers, decoded by our protocol core.

Every frame here was typed by hand from AllTick's public documentation
(repository ``alltick/alltick-realtime-forex-crypto-stock-tick-finance-websocket-api``:
``websocket_interface/*.md``, ``http_interface/*.md``, ``error_code_description.md``),
as facts: the field names, types and example values. Where the documented
example is not valid JSON (trailing commas in the 22002/22004/22006/22998/22999
examples) the commas are dropped; nothing else is changed.

These tests never touch our server: a client and a server written by one
team can share a mistake (it happened: ``static_info`` was read by ``code``,
AllTick keys it by ``symbol``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kit.documented import STATIC_700

from hkticks.alltick import kline
from hkticks.alltick import protocol as alltick
from hkticks.tick import Book, Tick

# -- WebSocket (websocket_interface/) -------------------------------------------

# realtime_transaction_quote_subscription.md, "Push - Protocol Number: 22998"
TRADE_PUSH = {
    "cmd_id": 22998,
    "data": {
        "code": "1288.HK",
        "seq": 1605509068000001,
        "tick_time": 1605509068,
        "price": "651.12",
        "volume": "300",
        "turnover": "12345.6",
        "trade_direction": 1,
    },
}

# realtime_order_book_quote_subscription.md, "Push - Protocol Number: 22999"
BOOK_PUSH = {
    "cmd_id": 22999,
    "data": {
        "code": "HK-1288",
        "seq": 1605509068000001,
        "tick_time": 1605509068,
        "bids": [{"price": "9.12", "volume": "9.12"}],
        "asks": [{"price": "147.12", "volume": "147.12"}],
    },
}

# the request examples (22004, 22002, 22000, 22006)
SUB_TRADES_REQUEST = {
    "cmd_id": 22004,
    "seq_id": 106254124,
    "trace": "3baaa938-f92c-4a74-a228-fd49d5e2",
    "data": {"symbol_list": [{"code": "1288.HK"}, {"code": "AAPL.US"}]},
}
SUB_BOOK_REQUEST = {
    "cmd_id": 22002,
    "seq_id": 123,
    "trace": "asdfsdfa",
    "data": {"symbol_list": [{"code": "HK-1288", "depth_level": 5}]},
}
HEARTBEAT_REQUEST = {"cmd_id": 22000, "seq_id": 123, "trace": "asdfsdfa", "data": {}}
CANCEL_REQUEST = {"cmd_id": 22006, "seq_id": 123, "trace": "asdfsdfa", "data": {"cancel_type": 1}}

# the response examples
SUB_TRADES_RESPONSE = {
    "ret": 200,
    "msg": "ok",
    "cmd_id": 22005,
    "seq_id": 106254124,
    "trace": "3baaa938-f92c-4a74-a228-fd49d5e2",
    "data": {},
}
OK_RESPONSES = [
    SUB_TRADES_RESPONSE,
    {"ret": 200, "msg": "ok", "cmd_id": 22003, "seq_id": 123, "trace": "asdfsdfa", "data": {}},
    {"ret": 200, "msg": "ok", "cmd_id": 22001, "seq_id": 123, "trace": "asdfsdfa", "data": {}},
    {"ret": 200, "msg": "ok", "cmd_id": 22007, "seq_id": 123, "trace": "asdfsdfa", "data": {}},
]
# common_standard_header.md: the error answer (its example shows ret 201; the error
# code table gives 400 for this message)
WS_ERROR_RESPONSE = {
    "ret": 201,
    "msg": "request header param invalid",
    "cmd_id": 0,
    "seq_id": 0,
    "trace": "",
    "data": {},
}

# -- REST (http_interface/) -------------------------------------------------------------

# latest_transaction_price_query.md (GET /trade-tick)
TRADE_TICK_QUERY = {
    "trace": "edd5df80-df7f-4acf-8f67-68fd2f096426",
    "data": {"symbol_list": [{"code": "857.HK"}, {"code": "UNH.US"}]},
}
TRADE_TICK_ANSWER = {
    "ret": 200,
    "msg": "ok",
    "trace": "edd5df80-df7f-4acf-8f67-68fd2f096426",
    "data": {
        "tick_list": [
            {
                "code": "857.HK",
                "seq": "30841439",
                "tick_time": "1677831545217",
                "price": "136.302",
                "volume": "0",
                "turnover": "0",
                "trade_direction": 0,
            }
        ]
    },
}

# latest_order_book_price_query.md (GET /depth-tick)
DEPTH_TICK_ANSWER = {
    "ret": 200,
    "msg": "ok",
    "trace": "edd5df80-df7f-4acf-8f67-68fd2f096426",
    "data": {
        "tick_list": [
            {
                "code": "857.HK",
                "seq": "30686349",
                "tick_time": "1677830357227",
                "bids": [{"price": "136.424", "volume": "100000.00"}],
                "asks": [{"price": "136.427", "volume": "400000.00"}],
            }
        ]
    },
}

# static_query.md (GET /static_info)
STATIC_INFO_ANSWER = {
    "ret": 200,
    "msg": "ok",
    "trace": "edd5df80-df7f-4acf-8f67-68fd2f096426",
    "data": {"static_info_list": [STATIC_700]},
}

# kline_query.md (GET /kline)
KLINE_QUERY = {
    "trace": "3baaa938-f92c-4a74-a228-fd49d5e2f8bc-1678419657806",
    "data": {
        "code": "857.HK",
        "kline_type": 1,
        "kline_timestamp_end": 0,
        "query_kline_num": 2,
        "adjust_type": 0,
    },
}
KLINE_ANSWER = {
    "ret": 200,
    "msg": "ok",
    "trace": "3baaa938-f92c-4a74-a228-fd49d5e2f8bc-1678419657806",
    "data": {
        "code": "857.HK",
        "kline_type": 1,
        "kline_list": [
            {
                "timestamp": "1677829200",
                "open_price": "136.421",
                "close_price": "136.412",
                "high_price": "136.422",
                "low_price": "136.407",
                "volume": "0",
                "turnover": "0",
            },
            {
                "timestamp": "1677829260",
                "open_price": "136.412",
                "close_price": "136.401",
                "high_price": "136.415",
                "low_price": "136.397",
                "volume": "0",
                "turnover": "0",
            },
        ],
    },
}

# batch_kline_query.md (POST /batch-kline)
BATCH_KLINE_BODY = {
    "trace": "py_http_test1",
    "data": {
        "data_list": [
            {
                "code": "700.HK",
                "kline_type": 1,
                "kline_timestamp_end": 0,
                "query_kline_num": 1,
                "adjust_type": 0,
            },
            {
                "code": "GOOGL.US",
                "kline_type": 1,
                "kline_timestamp_end": 0,
                "query_kline_num": 1,
                "adjust_type": 0,
            },
        ]
    },
}
_BAR = {
    "timestamp": "1677829200",
    "open_price": "136.421",
    "close_price": "136.412",
    "high_price": "136.422",
    "low_price": "136.407",
    "volume": "0",
    "turnover": "0",
}
BATCH_KLINE_ANSWER = {
    "ret": 200,
    "msg": "ok",
    "trace": "asdfsdfa",
    "data": {
        "kline_list": [
            {"code": "700.HK", "kline_type": 1, "kline_data": [dict(_BAR)]},
            {"code": "GOOGL.US", "kline_type": 1, "kline_data": [dict(_BAR)]},
        ]
    },
}

# common_standard_header.md (HTTP): the error answer (example ret 202)
REST_ERROR_ANSWER = {
    "ret": 202,
    "msg": "request data param invalid",
    "trace": "c2a8a146-a647-4d6f-ac07-8c4805bf0b74",
    "data": {},
}

# error_code_description.md
ERROR_CODES = {
    200: "ok",
    401: "token invalid",
    402: "query invalid",
    429: "rate limit",
    600: "code invalid",
    601: "body empty",
    603: "token level not enough",
    604: "code unauthorized",
    605: "too many requests",
    606: "too many requests and connection will be closed",
}


def wire(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def rest(obj: Any) -> alltick.RestAnswer:
    answer = alltick.decode_rest(wire(obj))
    assert isinstance(answer, alltick.RestAnswer), answer
    return answer


# -- pushes ---------------------------------------------------------------------------------


def test_trade_push_as_documented_example_seconds_time() -> None:
    tick = alltick.decode(wire(TRADE_PUSH), recv_ts=1)
    assert tick == Tick(
        "01288",
        1_605_509_068_000,  # the example's seconds value, read as seconds
        651.12,
        300,
        12345.6,
        "buy",
        1605509068000001,  # an integer above 2**50, kept exact
        1,
        "alltick",
    )


def test_trade_push_with_documented_millisecond_time() -> None:
    frame = json.loads(wire(TRADE_PUSH))
    frame["data"]["tick_time"] = 1605509068123  # "In milliseconds", as the field table says
    tick = alltick.decode(wire(frame), recv_ts=0)
    assert isinstance(tick, Tick) and tick.ts == 1605509068123
    assert type(tick.seq) is int and tick.volume == 300


@pytest.mark.parametrize(("direction", "side"), [(0, None), (1, "buy"), (2, "sell")])
def test_trade_direction_values(direction: int, side: str | None) -> None:
    frame = json.loads(wire(TRADE_PUSH))
    frame["data"]["trade_direction"] = direction
    tick = alltick.decode(wire(frame), recv_ts=0)
    assert isinstance(tick, Tick) and tick.side == side


def test_book_push_as_documented() -> None:
    # The example's volumes are copies of its prices ("9.12", "147.12"): no Hong Kong book
    # has a fractional share count, but the frame is AllTick's own: the book is kept, each
    # odd level rounded down and named in ``odd``, never the whole frame refused.
    book = alltick.decode(wire(BOOK_PUSH), recv_ts=2)
    # "HK-1288" is the example's older spelling of 1288.HK
    assert book == Book(
        "01288",
        1_605_509_068_000,
        ((9.12, 9),),
        ((147.12, 147),),
        1605509068000001,
        2,
        "alltick",
        ("bids[0].volume 9.12 is not whole", "asks[0].volume 147.12 is not whole"),
    )
    assert book.record()["odd"] == list(book.odd)
    frame = json.loads(wire(BOOK_PUSH))
    frame["data"]["bids"][0]["volume"] = "900"
    frame["data"]["asks"][0]["volume"] = "1200.00"  # whole, with decimals, as depth-tick shows
    book = alltick.decode(wire(frame), recv_ts=2)
    assert book == Book(
        "01288",
        1_605_509_068_000,
        ((9.12, 900),),
        ((147.12, 1200),),
        1605509068000001,
        2,
        "alltick",
    )
    assert book.odd == () and "odd" not in book.record()


def test_book_with_one_odd_level_keeps_the_others() -> None:
    frame = json.loads(wire(BOOK_PUSH))
    frame["data"]["bids"] = [
        {"price": "9.12", "volume": "900"},
        {"price": "9.11", "volume": "9.5"},
        {"price": "9.10", "volume": "1200"},
    ]
    # "Forex, precious metals, and CFD indices do not provide volume"
    frame["data"]["asks"] = [{"price": "9.13"}]
    book = alltick.decode(wire(frame), recv_ts=0)
    assert isinstance(book, Book)
    assert book.bids == ((9.12, 900), (9.11, 9), (9.10, 1200))
    assert book.asks == ((9.13, 0),)
    assert book.odd == ("bids[1].volume 9.5 is not whole", "asks[0].volume missing")
    for bad in ("-5", "lots", float("nan")):  # not a volume at all: still refused
        frame["data"]["asks"] = [{"price": "9.13", "volume": bad}]
        assert isinstance(alltick.decode(json.dumps(frame), recv_ts=0), alltick.DecodeError)


def test_book_push_with_product_list_code_and_empty_side() -> None:
    frame = json.loads(wire(BOOK_PUSH))
    frame["data"]["code"] = "1288.HK"
    frame["data"]["bids"] = []  # "one side of the depth may be empty" (limit up/down)
    frame["data"]["asks"] = [{"price": "147.12", "volume": "147"}]
    book = alltick.decode(wire(frame), recv_ts=0)
    assert isinstance(book, Book) and book.symbol == "01288" and book.bids == ()


# -- responses ------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", OK_RESPONSES, ids=lambda f: str(f["cmd_id"]))
def test_ok_responses(frame: dict[str, Any]) -> None:
    resp = alltick.decode(wire(frame), recv_ts=0)
    assert resp == alltick.Response(200, "ok", frame["cmd_id"], frame["seq_id"], frame["trace"], {})
    assert resp.ok


def test_ws_error_answer_carries_zeroed_header() -> None:
    resp = alltick.decode(wire(WS_ERROR_RESPONSE), recv_ts=0)
    assert isinstance(resp, alltick.Response) and not resp.ok
    assert (resp.ret, resp.msg, resp.cmd_id, resp.seq_id, resp.trace) == (
        201,
        "request header param invalid",
        0,
        0,
        "",
    )


def test_error_code_table() -> None:
    for ret, msg in ERROR_CODES.items():
        assert alltick.RET_MESSAGES[ret] == msg
    # ret 400 has two messages: the header (first-level fields) and the data
    assert alltick.MSG_HEADER_INVALID == "request header param invalid"
    assert alltick.MSG_DATA_INVALID == "request data param invalid"
    answer = rest({"ret": 400, "msg": "request header param invalid", "trace": "t", "data": {}})
    assert answer.header_invalid and answer.trace == "t"
    assert not rest({"ret": 400, "msg": "request data param invalid", "data": {}}).header_invalid


# -- requests: ours have the documented shape ---------------------------------------------------


def _shape(obj: Any) -> Any:
    """Keys and value types, recursively (values themselves are ours)."""
    if isinstance(obj, dict):
        return {k: _shape(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_shape(obj[0])] if obj else []
    return type(obj).__name__


def test_requests_have_the_documented_shape() -> None:
    b = alltick.RequestBuilder()
    ours = json.loads(b.subscribe_trades(["01288", "00700"]).text)
    assert _shape(ours) == _shape(SUB_TRADES_REQUEST)
    book = json.loads(b.subscribe_book(["01288"], 5).text)
    assert _shape(book) == _shape(SUB_BOOK_REQUEST)
    assert book["data"]["symbol_list"] == [{"code": "1288.HK", "depth_level": 5}]
    assert _shape(json.loads(b.heartbeat().text)) == _shape(HEARTBEAT_REQUEST)
    cancel = json.loads(b.cancel(alltick.CANCEL_BOOK).text)
    assert _shape(cancel) == _shape(CANCEL_REQUEST) and cancel["data"] == {"cancel_type": 1}
    for req in (ours, book, cancel):
        assert 0 < len(req["trace"]) <= 64 and 0 < req["seq_id"] < 2**32


def test_rest_queries_have_the_documented_shape() -> None:
    q = json.loads(alltick.rest_trade_tick_query(["00857"], trace="t"))
    assert _shape(q) == _shape(TRADE_TICK_QUERY)
    assert json.loads(alltick.rest_depth_tick_query(["00857"], trace="t"))["data"] == {
        "symbol_list": [{"code": "857.HK"}]
    }
    kline = json.loads(alltick.rest_kline_query("00857", 1, 2, trace=KLINE_QUERY["trace"]))
    assert kline == KLINE_QUERY  # byte for byte the documented query, values too
    body = json.loads(alltick.rest_kline_body(["00700"], 1, 1, trace="py_http_test1"))
    first = BATCH_KLINE_BODY["data"]["data_list"][0]  # type: ignore[index]
    assert body == {"trace": "py_http_test1", "data": {"data_list": [first]}}
    with pytest.raises(ValueError):
        alltick.rest_kline_query("00700", 6)  # 2 h: not offered for stocks
    with pytest.raises(ValueError):
        alltick.rest_kline_query("00700", 1, 501)  # at most 500 bars
    with pytest.raises(ValueError):
        alltick.rest_kline_body(["00700"], 8, 3)  # batch-kline: the latest 1 or 2


# -- REST answers ---------------------------------------------------------------------------


def test_trade_tick_answer() -> None:
    answer = rest(TRADE_TICK_ANSWER)
    assert answer.ok and answer.trace == "edd5df80-df7f-4acf-8f67-68fd2f096426"
    ticks, bad = alltick.decode_trade_ticks(answer.data, recv_ts=5)
    assert bad == 0
    assert ticks == [Tick("00857", 1677831545217, 136.302, 0, 0.0, None, 30841439, 5, "alltick")]


def test_depth_tick_answer() -> None:
    books, bad = alltick.decode_depth_ticks(rest(DEPTH_TICK_ANSWER).data, recv_ts=5)
    assert bad == 0
    assert books == [
        Book(
            "00857",
            1677830357227,
            ((136.424, 100000),),
            ((136.427, 400000),),
            30686349,
            5,
            "alltick",
        )
    ]


def test_static_info_answer_keyed_by_symbol() -> None:
    infos, bad = alltick.decode_static_info(rest(STATIC_INFO_ANSWER).data)
    assert bad == 0
    assert infos == {
        "00700": alltick.StaticInfo(
            symbol="00700",
            name_en="TENCENT",
            name_cn="腾讯控股",
            name_hk="騰訊控股",
            lot_size=100,
            currency="HKD",
            exchange="SEHK",
            board="HKEquity",
            total_shares=9267359712,
            circulating_shares=9267359712,
            hk_shares=9267359712,
            eps=pytest.approx(13.7190213011686429),  # type: ignore[arg-type]
            eps_ttm=pytest.approx(18.0567016900844671),  # type: ignore[arg-type]
            bps=pytest.approx(101.7577888985738336),  # type: ignore[arg-type]
            dividend_yield=pytest.approx(3.4558141358352833),  # type: ignore[arg-type]
        )
    }
    # the heatmap's tile size: market cap = HK shares x price
    assert infos["00700"].market_cap(400.0) == pytest.approx(9267359712 * 400.0)


def test_kline_answer() -> None:
    decoded = alltick.decode_kline(rest(KLINE_ANSWER).data)
    assert not isinstance(decoded, alltick.DecodeError), decoded
    symbol, kline_type, bars = decoded
    assert (symbol, kline_type) == ("00857", 1)
    assert bars == [
        alltick.Bar("00857", 1677829200000, 136.421, 136.422, 136.407, 136.412, 0, 0.0),
        alltick.Bar("00857", 1677829260000, 136.412, 136.415, 136.397, 136.401, 0, 0.0),
    ]


def test_kline_answer_of_another_type_is_refused() -> None:
    data = rest(KLINE_ANSWER).data
    assert not isinstance(alltick.decode_kline(data, alltick.KLINE_1MIN), alltick.DecodeError)
    wrong = alltick.decode_kline(data, alltick.KLINE_DAY)  # minutes answered, days asked
    assert isinstance(wrong, alltick.DecodeError) and "kline_type 1 answered" in wrong.message
    typeless = {k: v for k, v in data.items() if k != "kline_type"}
    decoded = alltick.decode_kline(typeless, alltick.KLINE_5MIN)  # taken as asked
    assert not isinstance(decoded, alltick.DecodeError) and decoded[1] == alltick.KLINE_5MIN
    # the tolerant reader of the board's history does the same, bar by bar
    assert kline.decode_kline(data, "00857")[1] == 0
    assert kline.decode_kline(data, "00857", alltick.KLINE_DAY) == ([], 2)


def test_batch_kline_answer() -> None:
    data = rest(BATCH_KLINE_ANSWER).data
    typed, bad = alltick.decode_batch_klines(data)
    assert bad == 1  # GOOGL.US is not a Hong Kong code
    assert typed == {
        ("00700", 1): [
            alltick.Bar("00700", 1677829200000, 136.421, 136.422, 136.407, 136.412, 0, 0.0)
        ]
    }
    assert alltick.decode_klines(data) == ({}, 1)  # no daily bars in this answer
    assert set(alltick.decode_klines(data, kline_type=1)[0]) == {"00700"}


def test_rest_error_answer_echoes_trace() -> None:
    answer = rest(REST_ERROR_ANSWER)
    assert (answer.ret, answer.msg, answer.trace, answer.ok) == (
        202,
        "request data param invalid",
        "c2a8a146-a647-4d6f-ac07-8c4805bf0b74",
        False,
    )


# -- limits (interface_limitation.md, both interfaces) ------------------------------------------


@pytest.mark.parametrize(
    ("plan", "conns", "symbols", "per_s", "batch_s", "per_min", "per_day", "codes", "items"),
    [
        ("free", 1, 5, 0.1, 10, 10, 1_000, 5, 5),
        ("basic", 1, 100, 1, 3, 60, 86_400, 50, 100),
        ("premium", 3, 200, 10, 2, 600, 864_000, 50, 200),
        ("professional", 10, 3000, 20, 1, 1200, 1_728_000, 50, 500),
        ("all-hk", 10, 3000, 20, 1, 1200, 1_728_000, 50, 500),
        ("all-cn", 10, 3000, 20, 1, 1200, 1_728_000, 50, 500),
    ],
)
def test_plan_limits(
    plan: str,
    conns: int,
    symbols: int,
    per_s: float,
    batch_s: float,
    per_min: int,
    per_day: int,
    codes: int,
    items: int,
) -> None:
    p = alltick.PLANS[plan]
    assert (p.max_connections, p.max_symbols) == (conns, symbols)
    assert p.rest_per_second == pytest.approx(per_s)
    assert p.rest_batch_kline_interval_s == batch_s
    assert (p.rest_per_minute, p.rest_per_day) == (per_min, per_day)
    assert (p.rest_codes_per_call, p.rest_batch_kline_items) == (codes, items)


def test_kline_types() -> None:
    # 1 = 1 min ... 10 = month; 6 (2 h) and 7 (4 h) are not offered for stocks
    assert sorted(alltick.STOCK_KLINE_TYPES) == [1, 2, 3, 4, 5, 8, 9, 10]
    assert (alltick.MAX_KLINE_BARS, alltick.MAX_BATCH_KLINE_BARS) == (500, 2)
