"""Tests of the sans-I/O AllTick protocol core (hkticks.alltick.protocol).

Frames are built with the standard library's ``json`` (not the orjson the
decoder uses), so the encoder under test never checks itself. Every variant
that alltick-protocol.md says the client must tolerate has a test, and every
kind of hostile input must come back as a DecodeError with a stable ``kind``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hkticks.alltick import protocol as alltick
from hkticks.alltick.fields import DecodeError
from hkticks.alltick.protocol import Book, Request, RequestBuilder, Response, Tick, decode
from hkticks.alltick.rest_frames import Bar, RestAnswer, StaticInfo
from hkticks.alltick.spec import CodeError, from_alltick, to_alltick

RECV = 1_700_000_009_999
KINDS = {"binary_frame", "too_large", "invalid_json", "not_object", "bad_field", "unknown_cmd"}
MISSING: Any = object()

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The frame the embedded server sends (numbers as strings, as AllTick does).
BASE_TRADE: dict[str, Any] = {
    "code": "700.HK",
    "seq": "123456",
    "tick_time": "1700000000123",
    "price": "382.4",
    "volume": "100",
    "turnover": "38240.000",
    "trade_direction": 1,
}
BASE_TICK = Tick("00700", 1_700_000_000_123, 382.4, 100, 38240.0, "buy", 123456, RECV, "alltick")


def frame(obj: Any) -> str:
    """JSON text of ``obj`` (stdlib json: allows NaN and ints beyond 64 bits)."""
    return json.dumps(obj)


def trade_frame(**changes: Any) -> str:
    """The base trade with fields replaced (``MISSING`` removes one)."""
    data = dict(BASE_TRADE)
    for key, value in changes.items():
        if value is MISSING:
            data.pop(key, None)
        else:
            data[key] = value
    return frame({"cmd_id": alltick.PUSH_TRADE, "data": data})


def book_frame(**changes: Any) -> str:
    data: dict[str, Any] = {
        "code": "9988.HK",
        "seq": "77",
        "tick_time": "1700000000456",
        "bids": [{"price": "81.50", "volume": "3000"}, {"price": "81.45", "volume": "1200"}],
        "asks": [{"price": "81.55", "volume": "500"}],
    }
    for key, value in changes.items():
        if value is MISSING:
            data.pop(key, None)
        else:
            data[key] = value
    return frame({"cmd_id": alltick.PUSH_BOOK, "data": data})


def decoded_tick(text: str | bytes) -> Tick:
    out = decode(text, RECV)
    assert isinstance(out, Tick), out
    return out


def decoded_error(text: str | bytes, kind: str, **kwargs: Any) -> DecodeError:
    out = decode(text, RECV, **kwargs)
    assert isinstance(out, DecodeError), out
    assert out.kind == kind, out
    assert len(out.message) <= 200
    return out


# ---------------------------------------------------------------------------
# Trade pushes (22998): every documented variant


def test_trade_as_the_server_sends_it() -> None:
    assert decode(trade_frame(), RECV) == BASE_TICK


def test_trade_with_json_numbers_equals_strings() -> None:
    text = trade_frame(
        seq=123456, tick_time=1_700_000_000_123, price=382.4, volume=100, turnover=38240.0
    )
    assert decode(text, RECV) == BASE_TICK


def test_bytes_and_str_frames_decode_alike() -> None:
    assert decode(trade_frame().encode(), RECV) == decode(trade_frame(), RECV) == BASE_TICK


def test_recv_ts_and_src_pass_through() -> None:
    tick = decode(trade_frame(), 42, src="demo")
    assert isinstance(tick, Tick)
    assert (tick.recv_ts, tick.src) == (42, "demo")


@pytest.mark.parametrize(
    ("tick_time", "expected"),
    [
        (1_700_000_000, 1_700_000_000_000),  # seconds, int (the documented example)
        ("1700000000", 1_700_000_000_000),  # seconds, string
        (1_700_000_000_123, 1_700_000_000_123),  # milliseconds, int (documented)
        ("1700000000123", 1_700_000_000_123),  # milliseconds, string (REST variant)
        (1_700_000_000.123, 1_700_000_000_123),  # float seconds
        ("1700000000.5", 1_700_000_000_500),  # float seconds as a string
        (1_700_000_000_123.0, 1_700_000_000_123),  # float milliseconds
        (100_000_000_000, 100_000_000_000),  # from 1e11 on, values read as milliseconds
        (10_000_000_000, 10**13),  # 1e10 seconds (year 2286): the latest time accepted
        (10**13, 10**13),
    ],
)
def test_trade_tick_time_units(tick_time: Any, expected: int) -> None:
    assert decoded_tick(trade_frame(tick_time=tick_time)).ts == expected


@pytest.mark.parametrize("tick_time", [10_000_000_001, 99_999_999_999, 10**13 + 1, "1e13.5"])
def test_trade_tick_time_after_2286_is_refused(tick_time: Any) -> None:
    decoded_error(trade_frame(tick_time=tick_time), "bad_field")


@pytest.mark.parametrize(
    ("direction", "side"),
    [
        (0, None),
        (1, "buy"),
        (2, "sell"),
        ("0", None),
        ("1", "buy"),
        ("2", "sell"),
        (None, None),
        (MISSING, None),
    ],
)
def test_trade_direction_variants(direction: Any, side: str | None) -> None:
    assert decoded_tick(trade_frame(trade_direction=direction)).side == side


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        (5, 5),
        ("5", 5),
        (0, 0),
        (MISSING, None),
        (None, None),
        ("", None),
        ("5.0", 5),
        (5.0, 5),
        # exact beyond 2**53, where a float would round (de-duplication keys on seq)
        ("12345678901234567", 12345678901234567),
        (12345678901234567, 12345678901234567),
        ("9223372036854775807", 2**63 - 1),
        (2**63 - 1, 2**63 - 1),
    ],
)
def test_trade_seq_variants(seq: Any, expected: int | None) -> None:
    assert decoded_tick(trade_frame(seq=seq)).seq == expected


@pytest.mark.parametrize("turnover", [MISSING, None])
def test_trade_missing_turnover_is_price_times_volume(turnover: Any) -> None:
    tick = decoded_tick(trade_frame(turnover=turnover, price="12.34", volume="500"))
    assert tick.turnover == pytest.approx(12.34 * 500)


def test_trade_unknown_extra_fields_are_ignored() -> None:
    data = dict(BASE_TRADE, new_field={"x": [1, 2]}, another=None, bid_price="382.2")
    text = frame({"cmd_id": 22998, "data": data, "ret_hint": 1, "server": "x"})
    assert decode(text, RECV) == BASE_TICK


def test_trade_with_ret_field_is_still_a_trade() -> None:
    text = frame({"cmd_id": 22998, "ret": 200, "data": BASE_TRADE})
    assert decode(text, RECV) == BASE_TICK


@pytest.mark.parametrize(
    ("code", "symbol"),
    [("700.HK", "00700"), ("9988.HK", "09988"), ("5.HK", "00005"), ("00700.HK", "00700")],
)
def test_trade_codes(code: str, symbol: str) -> None:
    assert decoded_tick(trade_frame(code=code)).symbol == symbol


def test_trade_volume_accepts_integral_forms() -> None:
    for volume in (100, "100", 100.0, "100.0", "1e2"):
        assert decoded_tick(trade_frame(volume=volume)).volume == 100
    assert decoded_tick(trade_frame(volume=0)).volume == 0


# ---------------------------------------------------------------------------
# Book pushes (22999)


def test_book_as_the_server_sends_it() -> None:
    assert decode(book_frame(), RECV) == Book(
        "09988",
        1_700_000_000_456,
        ((81.5, 3000), (81.45, 1200)),
        ((81.55, 500),),
        77,
        RECV,
        "alltick",
    )


def test_book_with_json_numbers() -> None:
    book = decode(
        book_frame(
            seq=77,
            tick_time=1_700_000_000,
            bids=[{"price": 81.5, "volume": 3000}],
            asks=[{"price": 81.55, "volume": 500}],
        ),
        RECV,
    )
    assert isinstance(book, Book)
    assert (book.ts, book.bids, book.asks, book.seq) == (
        1_700_000_000_000,
        ((81.5, 3000),),
        ((81.55, 500),),
        77,
    )


@pytest.mark.parametrize(
    ("bids", "asks"),
    [([], []), ([], [{"price": "1", "volume": "1"}]), (MISSING, MISSING), (None, None)],
)
def test_book_empty_sides(bids: Any, asks: Any) -> None:
    book = decode(book_frame(bids=bids, asks=asks), RECV)
    assert isinstance(book, Book)
    expected_asks = ((1.0, 1),) if asks and asks is not MISSING else ()
    assert book.bids == ()
    assert book.asks == expected_asks


def test_book_more_than_ten_levels_keeps_the_best_ten() -> None:
    bids = [{"price": str(100 - i / 10), "volume": str(100 * (i + 1))} for i in range(15)]
    book = decode(book_frame(bids=bids), RECV)
    assert isinstance(book, Book)
    assert len(book.bids) == alltick.MAX_BOOK_LEVELS == 10
    assert book.bids == tuple((100 - i / 10, 100 * (i + 1)) for i in range(10))


def test_book_levels_as_pairs() -> None:
    book = decode(book_frame(bids=[["81.5", "3000"], [81.45, 1200]], asks=[]), RECV)
    assert isinstance(book, Book)
    assert book.bids == ((81.5, 3000), (81.45, 1200))


def test_book_seq_missing() -> None:
    book = decode(book_frame(seq=MISSING), RECV)
    assert isinstance(book, Book) and book.seq is None


# ---------------------------------------------------------------------------
# Responses

# The return-code table of alltick-protocol.md.
DOC_RETS = {
    200: "ok",
    400: "request data param invalid",
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


def test_ret_tables_match_the_protocol_doc() -> None:
    assert alltick.RET_MESSAGES == DOC_RETS
    assert set(alltick.RET_MEANINGS) == set(DOC_RETS)
    assert all(alltick.RET_MEANINGS[code] for code in DOC_RETS)
    constants = {
        alltick.RET_OK: 200,
        alltick.RET_BAD_PARAM: 400,
        alltick.RET_TOKEN_INVALID: 401,
        alltick.RET_QUERY_INVALID: 402,
        alltick.RET_RATE_LIMIT: 429,
        alltick.RET_CODE_INVALID: 600,
        alltick.RET_BODY_EMPTY: 601,
        alltick.RET_PLAN_TOO_SMALL: 603,
        alltick.RET_CODE_UNAUTHORIZED: 604,
        alltick.RET_TOO_MANY_REQUESTS: 605,
        alltick.RET_TOO_MANY_REQUESTS_CLOSE: 606,
    }
    assert all(k == v for k, v in constants.items())


@pytest.mark.parametrize("ret", sorted(DOC_RETS))
@pytest.mark.parametrize("cmd_id", [22001, 22003, 22005, 22007])
def test_response_each_ret_code(ret: int, cmd_id: int) -> None:
    text = frame(
        {
            "ret": ret,
            "msg": DOC_RETS[ret],
            "cmd_id": cmd_id,
            "seq_id": 7,
            "trace": "t-7",
            "data": {},
        }
    )
    resp = decode(text, RECV)
    assert resp == Response(ret, DOC_RETS[ret], cmd_id, 7, "t-7", {})
    assert isinstance(resp, Response) and resp.ok is (ret == 200)


def test_response_ret_as_string_and_msg_defaults() -> None:
    resp = decode(frame({"ret": "401", "cmd_id": 22005}), RECV)
    assert resp == Response(401, "token invalid", 22005, None, None, None)
    resp = decode(frame({"ret": 999}), RECV)
    assert resp == Response(999, "", None, None, None, None)


def test_response_fields_of_the_wrong_type_become_none() -> None:
    text = frame({"ret": 200, "msg": 5, "cmd_id": "22005", "seq_id": "7", "trace": 9})
    assert decode(text, RECV) == Response(200, "ok", None, None, None, None)


@pytest.mark.parametrize(
    ("data", "codes"),
    [
        ({"invalid_codes": ["99999.HK", "700.HK"]}, ["99999", "00700"]),
        ({"symbol_list": [{"code": "700.HK"}, {"code": "9988.HK"}]}, ["00700", "09988"]),
        ({"code_list": ["5.HK"]}, ["00005"]),
        ({"codes": ["1.HK"]}, ["00001"]),
        ({"code": "9988.HK"}, ["09988"]),
        (["700.HK", {"code": "5.HK"}], ["00700", "00005"]),
        ({"invalid_codes": ["AAPL.US", "bogus"]}, ["AAPL.US", "bogus"]),  # kept as sent
        ({"invalid_codes": [5, None, {"code": 7}, "700.HK"]}, ["00700"]),  # non-strings skipped
        ({}, []),
        (None, []),
        ("700.HK", []),
        ({"invalid_codes": "700.HK"}, []),
    ],
)
def test_response_codes(data: Any, codes: list[str]) -> None:
    resp = decode(frame({"ret": 600, "msg": "code invalid", "cmd_id": 22005, "data": data}), RECV)
    assert isinstance(resp, Response)
    assert resp.codes() == codes


# ---------------------------------------------------------------------------
# Hostile input: never raises, stable kinds


def test_binary_frames_are_refused_even_if_valid_json() -> None:
    decoded_error(trade_frame().encode(), "binary_frame", binary=True)
    decoded_error(b"\x00\x01\x02", "binary_frame", binary=True)


def test_too_large_frames() -> None:
    limit = alltick.MAX_FRAME_BYTES
    padded = trade_frame()
    padded = padded + " " * (limit - len(padded))  # JSON allows trailing white space
    assert len(padded.encode()) == limit
    assert decode(padded, RECV) == BASE_TICK
    assert decode(padded.encode(), RECV) == BASE_TICK
    decoded_error(padded + " ", "too_large")
    decoded_error((padded + " ").encode(), "too_large")
    decoded_error(b"x" * (4 * limit), "too_large")
    # fewer characters than the limit, but more bytes once UTF-8 encoded
    wide = '{"cmd_id": 22998, "x": "' + "\u6f32" * (limit // 3) + '"}'
    assert len(wide) < limit < len(wide.encode())
    decoded_error(wide, "too_large")


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"   ",
        b"{",
        b"nope",
        b"{'cmd_id': 22998}",
        b'{"cmd_id": 22998,}',
        b'{"price": NaN}',
        b"NaN",
        b"Infinity",
        b"1e400",
        b'{"a": 1e400}',
        b"\xff\xfe{}",
        b'{"code": "\xff\xfe"}',  # invalid UTF-8 inside a string
        b'{"code": "\xed\xa0\x80"}',  # an encoded surrogate
        '{"code": "\ud800"}',  # a lone surrogate in a str frame
        b"[" * 5000 + b"]" * 5000,  # deeply nested
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b"\x00",
    ],
)
def test_invalid_json(text: str | bytes) -> None:
    decoded_error(text, "invalid_json")


@pytest.mark.parametrize("text", ["[]", "[1, 2]", "1", "1.5", '"cmd_id"', "null", "true"])
def test_top_level_non_objects(text: str) -> None:
    decoded_error(text, "not_object")


@pytest.mark.parametrize(
    ("obj", "cmd_id"),
    [
        ({}, None),
        ({"data": BASE_TRADE}, None),
        ({"cmd_id": 12345, "data": {}}, 12345),
        ({"cmd_id": 22001, "data": {}}, 22001),  # a response without ret
        ({"cmd_id": "22998", "data": BASE_TRADE}, None),  # cmd_id must be a number
        ({"cmd_id": None}, None),
        ({"cmd_id": [22998]}, None),
    ],
)
def test_unknown_cmd(obj: dict[str, Any], cmd_id: int | None) -> None:
    err = decoded_error(frame(obj), "unknown_cmd")
    assert err.cmd_id == cmd_id


BAD_TRADE_FIELDS: list[tuple[str, Any]] = [
    # missing fields
    ("code", MISSING),
    ("price", MISSING),
    ("volume", MISSING),
    ("tick_time", MISSING),
    # price: NaN / Infinity / negative / zero / wrong types / huge
    ("price", "NaN"),
    ("price", "nan"),
    ("price", "Infinity"),
    ("price", "-inf"),
    ("price", "-1"),
    ("price", -1),
    ("price", -0.5),
    ("price", "0"),
    ("price", 0),
    ("price", 0.0),
    ("price", "abc"),
    ("price", ""),
    ("price", True),
    ("price", None),
    ("price", []),
    ("price", {"v": 1}),
    ("price", "1e308"),
    ("price", 1e300),
    ("price", 10**30),
    # volume: negative, non-integral, wrong types, huge
    ("volume", -1),
    ("volume", "-5"),
    ("volume", 1.5),
    ("volume", "1.5"),
    ("volume", "abc"),
    ("volume", "1" * 5000),
    ("volume", True),
    ("volume", None),
    ("volume", [100]),
    ("volume", 10**18),
    ("volume", 1e20),
    ("volume", 2**64),
    # turnover
    ("turnover", "abc"),
    ("turnover", -1),
    ("turnover", "NaN"),
    ("turnover", "inf"),
    ("turnover", True),
    ("turnover", []),
    ("turnover", ""),
    ("turnover", 1e300),
    # tick_time
    ("tick_time", 0),
    ("tick_time", "0"),
    ("tick_time", -1),
    ("tick_time", 1e-9),
    ("tick_time", "abc"),
    ("tick_time", True),
    ("tick_time", None),
    ("tick_time", []),
    ("tick_time", 1e300),
    ("tick_time", 10**14),  # milliseconds after the year 2286
    ("tick_time", "1e20"),
    # trade_direction
    ("trade_direction", 3),
    ("trade_direction", -1),
    ("trade_direction", "buy"),
    ("trade_direction", "3"),
    ("trade_direction", ""),
    ("trade_direction", True),
    ("trade_direction", False),
    ("trade_direction", 1.5),
    ("trade_direction", []),
    ("trade_direction", {}),
    # seq
    ("seq", -1),
    ("seq", "-1"),
    ("seq", 1.5),
    ("seq", "abc"),
    ("seq", True),
    ("seq", []),
    ("seq", "184467440737095516160"),  # beyond uint64
    ("seq", 2**64),
    ("seq", 2**63),  # beyond what SQLite and PostgreSQL store
    ("seq", "9223372036854775808"),
    # code: non-HK, malformed, wrong types
    ("code", "700"),
    ("code", "700.US"),
    ("code", "AAPL.US"),
    ("code", "123456.HK"),
    ("code", ".HK"),
    ("code", "HK"),
    ("code", ""),
    ("code", "-700.HK"),
    ("code", "+700.HK"),
    ("code", " 700.HK"),
    ("code", "7 0.HK"),
    ("code", "\uff17\uff10\uff10.HK"),  # full-width digits
    ("code", "\u0667\u0660\u0660.HK"),  # Arabic-Indic digits
    ("code", 700),
    ("code", None),
    ("code", ["700.HK"]),
    ("code", {"code": "700.HK"}),
]


@pytest.mark.parametrize(
    ("field", "value"), BAD_TRADE_FIELDS, ids=lambda v: "MISSING" if v is MISSING else repr(v)[:30]
)
def test_bad_trade_fields(field: str, value: Any) -> None:
    err = decoded_error(trade_frame(**{field: value}), "bad_field")
    assert err.cmd_id == alltick.PUSH_TRADE


@pytest.mark.parametrize("field", ["price", "volume", "tick_time", "seq", "turnover"])
def test_numbers_beyond_double_range_are_invalid_json(field: str) -> None:
    # orjson refuses a literal that overflows a double, wherever it appears
    decoded_error(trade_frame(**{field: 10**400}), "invalid_json")


@pytest.mark.parametrize("data", [None, [], "x", 5, [BASE_TRADE], True])
def test_trade_data_not_an_object(data: Any) -> None:
    decoded_error(frame({"cmd_id": 22998, "data": data}), "bad_field")
    decoded_error(frame({"cmd_id": 22998}), "bad_field")


BAD_BOOK_FIELDS: list[tuple[str, Any]] = [
    ("code", MISSING),
    ("tick_time", MISSING),
    ("code", "700.US"),
    ("code", 9988),
    ("tick_time", "abc"),
    ("tick_time", 0),
    ("seq", -3),
    ("bids", "x"),
    ("bids", {}),
    ("bids", 5),
    ("asks", True),
    ("bids", ["x"]),
    ("bids", [5]),
    ("bids", [["81.5"]]),
    ("bids", [{"price": "abc", "volume": "1"}]),
    ("bids", [{"price": "NaN", "volume": "1"}]),
    ("bids", [{"price": "-1", "volume": "1"}]),
    ("bids", [{"price": "1e300", "volume": "1"}]),
    ("asks", [{"price": "1", "volume": "-1"}]),
    ("asks", [{"price": "1", "volume": True}]),
    # a fractional or missing volume is kept and flagged (test_golden_frames: AllTick's
    # own 22999 example has "9.12"), not refused
    ("asks", [{"volume": "1"}]),
]


@pytest.mark.parametrize(("field", "value"), BAD_BOOK_FIELDS)
def test_bad_book_fields(field: str, value: Any) -> None:
    err = decoded_error(book_frame(**{field: value}), "bad_field")
    assert err.cmd_id == alltick.PUSH_BOOK


@pytest.mark.parametrize("data", [None, [], "x", 5])
def test_book_data_not_an_object(data: Any) -> None:
    decoded_error(frame({"cmd_id": 22999, "data": data}), "bad_field")


@pytest.mark.parametrize("ret", ["abc", None, 1.5, True, "\u00b2", "-1", "", "9" * 5000, [200], {}])
def test_response_with_a_bad_ret(ret: Any) -> None:
    decoded_error(frame({"ret": ret, "cmd_id": 22005}), "bad_field")


# ---------------------------------------------------------------------------
# Property tests: the decoder never raises


def assert_valid_result(out: object) -> None:
    """Whatever came in, what comes out is one of the four types, and sane."""
    assert isinstance(out, Tick | Book | Response | RestAnswer | DecodeError), out
    if isinstance(out, DecodeError):
        assert out.kind in KINDS
        assert isinstance(out.message, str) and len(out.message) <= 200
        assert out.cmd_id is None or type(out.cmd_id) is int
    elif isinstance(out, Tick):
        assert len(out.symbol) == 5 and out.symbol.isascii() and out.symbol.isdigit()
        assert 0 < out.price <= 1e15 and math.isfinite(out.turnover) and out.turnover >= 0
        assert type(out.volume) is int and 0 <= out.volume
        assert type(out.ts) is int and 0 < out.ts <= 10**13
        assert out.side in (None, "buy", "sell")
        assert out.seq is None or (type(out.seq) is int and 0 <= out.seq < 2**63)
    elif isinstance(out, Book):
        assert len(out.symbol) == 5 and out.symbol.isdigit()
        assert type(out.ts) is int and 0 < out.ts <= 10**13
        for side in (out.bids, out.asks):
            assert len(side) <= 10
            for price, volume in side:
                assert 0 <= price <= 1e15 and type(volume) is int and volume >= 0


# strings a field decoder may be handed in place of a code, a number or a time
ODD_STRINGS = st.sampled_from(
    ["700.HK", "0", "1", "2", "-1", "1e400", "NaN", "1700000000", "", "9988.hk"]
)


def nested(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``scalars`` and lists and objects of them, a few levels deep."""
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=12,
    )


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
    | ODD_STRINGS
)
json_values = nested(json_scalars)
# Values that are valid JSON for orjson too (no NaN/Infinity, no literal beyond
# a double), so that they reach the field decoders instead of the parser.
finite_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | ODD_STRINGS
)
finite_json = nested(finite_scalars)


@PROPS
@given(st.binary(max_size=300))
def test_property_arbitrary_bytes(data: bytes) -> None:
    assert_valid_result(decode(data, RECV))
    assert decode(data, RECV, binary=True) == DecodeError(
        "binary_frame", f"binary frame of {len(data)} bytes"
    )


@PROPS
@given(st.text(max_size=200))
def test_property_arbitrary_text(text: str) -> None:
    assert_valid_result(decode(text, RECV))


@PROPS
@given(json_values)
def test_property_arbitrary_json(value: Any) -> None:
    out = decode(json.dumps(value), RECV)
    assert_valid_result(out)
    if not isinstance(value, dict):
        assert isinstance(out, DecodeError) and out.kind in ("not_object", "invalid_json")


@PROPS
@given(
    st.sampled_from([22998, 22999, 22005, 22001, None]),
    st.dictionaries(
        st.sampled_from(
            ["code", "seq", "tick_time", "price", "volume", "turnover", "trade_direction"]
            + ["bids", "asks"]
        ),
        finite_json,
        max_size=4,
    ),
    st.one_of(st.just(MISSING), finite_json),
)
def test_property_frames_with_random_fields(cmd: int | None, changes: dict, ret: Any) -> None:
    """Valid frames with some fields replaced by arbitrary JSON values."""
    data: dict[str, Any] = dict(BASE_TRADE, bids=[], asks=[{"price": "1", "volume": "2"}])
    data.update(changes)
    obj: dict[str, Any] = {"cmd_id": cmd, "data": data}
    if ret is not MISSING:
        obj["ret"] = ret
    out = decode(json.dumps(obj), RECV)
    assert_valid_result(out)
    if cmd == 22998:
        assert isinstance(out, Tick) or out.kind == "bad_field"  # type: ignore[union-attr]


@PROPS
@given(json_values)
def test_property_response_codes_never_raise(data: Any) -> None:
    resp = decode(json.dumps({"ret": 600, "data": data}), RECV)
    if isinstance(resp, Response):
        assert all(isinstance(code, str) for code in resp.codes())


# Representations of tick_time: (encode(ms), expected ms).
TIME_FORMS: dict[str, tuple[Callable[[int], Any], Callable[[int], int]]] = {
    "ms_int": (lambda ms: ms, lambda ms: ms),
    "ms_str": (str, lambda ms: ms),
    "ms_float": (float, lambda ms: ms),
    "s_int": (lambda ms: ms // 1000, lambda ms: ms // 1000 * 1000),
    "s_str": (lambda ms: str(ms // 1000), lambda ms: ms // 1000 * 1000),
    "s_float": (lambda ms: ms / 1000, lambda ms: ms),
    "s_float_str": (lambda ms: repr(ms / 1000), lambda ms: ms),
}
DIRECTIONS = [
    (0, None),
    (1, "buy"),
    (2, "sell"),
    ("0", None),
    ("1", "buy"),
    ("2", "sell"),
    (None, None),
    (MISSING, None),
]


@settings(max_examples=300, deadline=None)
@given(
    number=st.integers(1, 99999),
    ms=st.integers(946_684_800_000, 4_102_444_800_000),  # 2000 .. 2100
    time_form=st.sampled_from(sorted(TIME_FORMS)),
    price=st.integers(1, 10**8).map(lambda n: n / 1000),
    volume=st.integers(0, 10**10),
    turnover=st.one_of(st.none(), st.integers(0, 10**13).map(lambda n: n / 100)),
    direction=st.sampled_from(DIRECTIONS),
    seq=st.one_of(st.none(), st.integers(0, 2**63 - 1)),
    as_strings=st.booleans(),
    extra=st.dictionaries(st.text(min_size=1, max_size=6).map(lambda k: "x_" + k), finite_json),
)
def test_property_trade_round_trip(
    number: int,
    ms: int,
    time_form: str,
    price: float,
    volume: int,
    turnover: float | None,
    direction: tuple[Any, str | None],
    seq: int | None,
    as_strings: bool,
    extra: dict[str, Any],
) -> None:
    symbol = f"{number:05d}"
    encode_time, expect_time = TIME_FORMS[time_form]

    def num(x: Any) -> Any:
        return repr(x) if as_strings else x

    data: dict[str, Any] = {
        **extra,
        "code": to_alltick(symbol),
        "tick_time": encode_time(ms),
        "price": num(price),
        "volume": num(volume),
    }
    if turnover is not None:
        data["turnover"] = num(turnover)
    if direction[0] is not MISSING:
        data["trade_direction"] = direction[0]
    if seq is not None:
        data["seq"] = num(seq)
    out = decode(json.dumps({"cmd_id": 22998, "data": data}), RECV, src="p")
    expected_turnover = price * volume if turnover is None else turnover
    assert out == Tick(
        symbol, expect_time(ms), price, volume, expected_turnover, direction[1], seq, RECV, "p"
    )


@settings(max_examples=200, deadline=None)
@given(
    number=st.integers(1, 99999),
    bids=st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**9)), max_size=15),
    asks=st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**9)), max_size=15),
    as_pairs=st.booleans(),
    as_strings=st.booleans(),
)
def test_property_book_round_trip(
    number: int,
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    as_pairs: bool,
    as_strings: bool,
) -> None:
    def levels(raw: list[tuple[int, int]]) -> list[Any]:
        out: list[Any] = []
        for cents, volume in raw:
            p: Any = cents / 100
            v: Any = volume
            if as_strings:
                p, v = repr(p), str(v)
            out.append([p, v] if as_pairs else {"price": p, "volume": v})
        return out

    symbol = f"{number:05d}"
    data = {
        "code": to_alltick(symbol),
        "tick_time": 1_700_000_000_000,
        "seq": 9,
        "bids": levels(bids),
        "asks": levels(asks),
    }
    out = decode(json.dumps({"cmd_id": 22999, "data": data}), RECV)
    assert out == Book(
        symbol,
        1_700_000_000_000,
        tuple((c / 100, v) for c, v in bids[:10]),
        tuple((c / 100, v) for c, v in asks[:10]),
        9,
        RECV,
        "alltick",
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 99999), max_size=20))
def test_property_600_names_the_codes(numbers: list[int]) -> None:
    symbols = [f"{n:05d}" for n in numbers]
    data = {"invalid_codes": [to_alltick(s) for s in symbols]}
    resp = decode(json.dumps({"ret": 600, "msg": "code invalid", "data": data}), RECV)
    assert isinstance(resp, Response) and not resp.ok
    assert resp.codes() == symbols


# ---------------------------------------------------------------------------
# Code conversions


def test_code_conversion_every_code_both_ways() -> None:
    for n in range(1, 100_000):
        symbol = f"{n:05d}"
        code = to_alltick(symbol)
        assert code == f"{n}.HK"
        assert from_alltick(code) == symbol


@pytest.mark.parametrize(
    ("symbol", "code"), [("00700", "700.HK"), ("700", "700.HK"), ("10000", "10000.HK")]
)
def test_to_alltick_examples(symbol: str, code: str) -> None:
    assert to_alltick(symbol) == code


@pytest.mark.parametrize(
    "symbol",
    ["", "123456", "700.HK", "abc", " 700", "700 ", "-700", "+700", "7e2", "\uff17\uff10\uff10"],
)
def test_to_alltick_rejects(symbol: str) -> None:
    with pytest.raises(CodeError, match="HK code"):
        to_alltick(symbol)
    assert issubclass(CodeError, ValueError)


@pytest.mark.parametrize(
    ("code", "symbol"), [("700.HK", "00700"), ("00700.HK", "00700"), ("9988.HK", "09988")]
)
def test_from_alltick_examples(code: str, symbol: str) -> None:
    assert from_alltick(code) == symbol


@pytest.mark.parametrize(
    "code",
    ["700", "700.US", "AAPL.US", ".HK", "123456.HK", "700.HK ", "7 00.HK", "\u0667.HK", "HK.700"],
)
def test_from_alltick_rejects(code: str) -> None:
    with pytest.raises(CodeError):
        from_alltick(code)


@pytest.mark.parametrize("code", [700, None, 7.0])
def test_from_alltick_rejects_non_strings(code: Any) -> None:
    with pytest.raises(CodeError, match="not a string"):
        from_alltick(code)


# ---------------------------------------------------------------------------
# RequestBuilder


def parsed(req: Request) -> dict[str, Any]:
    body = json.loads(req.text)
    assert (body["cmd_id"], body["seq_id"], body["trace"]) == (req.cmd_id, req.seq_id, req.trace)
    assert set(body) == {"cmd_id", "seq_id", "trace", "data"}
    return body


def test_request_cmd_ids_and_payloads() -> None:
    b = RequestBuilder("test")
    hb = parsed(b.heartbeat())
    assert (hb["cmd_id"], hb["data"]) == (22000, {})
    trades = parsed(b.subscribe_trades(["00700", "09988", "5"]))
    assert trades["cmd_id"] == 22004
    assert trades["data"] == {
        "symbol_list": [{"code": "700.HK"}, {"code": "9988.HK"}, {"code": "5.HK"}]
    }
    book = parsed(b.subscribe_book(["00700", "09988"], depth=10))
    assert book["cmd_id"] == 22002
    assert book["data"] == {
        "symbol_list": [
            {"code": "700.HK", "depth_level": 10},
            {"code": "9988.HK", "depth_level": 10},
        ]
    }
    assert parsed(b.subscribe_book(["00700"]))["data"]["symbol_list"][0]["depth_level"] == 5
    assert parsed(b.cancel())["data"] == {"cancel_type": 0}
    assert alltick.RESPONSE_FOR == {22000: 22001, 22002: 22003, 22004: 22005, 22006: 22007}


def test_subscribe_accepts_any_iterable_and_empty() -> None:
    b = RequestBuilder()
    gen = (s for s in ["00700", "00005"])
    assert parsed(b.subscribe_trades(gen))["data"]["symbol_list"] == [
        {"code": "700.HK"},
        {"code": "5.HK"},
    ]
    assert parsed(b.subscribe_trades([]))["data"] == {"symbol_list": []}


@pytest.mark.parametrize("cancel_type", [0, 1, 2])
def test_cancel_types(cancel_type: int) -> None:
    req = RequestBuilder().cancel(cancel_type)
    assert req.cmd_id == 22006
    assert parsed(req)["data"] == {"cancel_type": cancel_type}
    assert (alltick.CANCEL_ALL, alltick.CANCEL_BOOK, alltick.CANCEL_TRADES) == (0, 1, 2)


@pytest.mark.parametrize("cancel_type", [3, -1, 22])
def test_cancel_rejects_unknown_types(cancel_type: int) -> None:
    with pytest.raises(ValueError, match="cancel_type"):
        RequestBuilder().cancel(cancel_type)


@pytest.mark.parametrize("depth", [0, -1, 11, 100])
def test_book_depth_bounds(depth: int) -> None:
    with pytest.raises(ValueError, match="depth"):
        RequestBuilder().subscribe_book(["00700"], depth=depth)


@pytest.mark.parametrize("depth", [1, 10])
def test_book_depth_limits_accepted(depth: int) -> None:
    req = RequestBuilder().subscribe_book(["00700"], depth=depth)
    assert parsed(req)["data"]["symbol_list"] == [{"code": "700.HK", "depth_level": depth}]


def test_bad_symbol_raises_and_uses_no_seq_id() -> None:
    b = RequestBuilder()
    assert b.heartbeat().seq_id == 1
    with pytest.raises(CodeError):
        b.subscribe_trades(["00700", "AAPL"])
    with pytest.raises(ValueError):
        b.subscribe_book(["00700"], depth=0)
    assert b.heartbeat().seq_id == 2


def test_seq_ids_increase_and_traces_are_unique() -> None:
    b = RequestBuilder()
    reqs = []
    for i in range(3000):
        kind = i % 4
        if kind == 0:
            reqs.append(b.heartbeat())
        elif kind == 1:
            reqs.append(b.subscribe_trades(["00700"]))
        elif kind == 2:
            reqs.append(b.subscribe_book(["00700"], depth=3))
        else:
            reqs.append(b.cancel(2))
    assert [r.seq_id for r in reqs] == list(range(1, 3001))
    traces = [r.trace for r in reqs]
    assert len(set(traces)) == len(traces)
    assert all(0 < len(t) <= alltick.MAX_TRACE_LEN for t in traces)


def test_traces_unique_across_builders() -> None:
    builders = [RequestBuilder() for _ in range(50)]
    traces = [b.heartbeat().trace for b in builders for _ in range(3)]
    assert len(set(traces)) == len(traces)
    assert all(t.startswith("hkt-") for t in traces)


def test_long_trace_prefix_is_cut_to_64_chars() -> None:
    b = RequestBuilder("p" * 300)
    b._counter = itertools.count(9_999_999_999)  # the longest counter that fits
    req = b.heartbeat()
    assert len(req.trace) == alltick.MAX_TRACE_LEN == 64
    assert req.trace.startswith("p" * 53)


def test_seq_id_wraps_within_uint32_without_repeating() -> None:
    b = RequestBuilder("wrap")
    # skip four billion requests: start the (internal) counter just before the wrap
    b._counter = itertools.count(2**32 - 3)
    seq_ids = [b.heartbeat().seq_id for _ in range(6)]
    assert seq_ids == [2**32 - 3, 2**32 - 2, 2**32 - 1, 1, 2, 3]
    assert all(0 < s < 2**32 for s in seq_ids)
    traces = [b.heartbeat().trace for _ in range(3)]
    assert len(set(traces)) == 3


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 99999), max_size=40), st.integers(1, 10))
def test_property_subscribe_codes_round_trip(numbers: list[int], depth: int) -> None:
    symbols = [f"{n:05d}" for n in numbers]
    b = RequestBuilder()
    for req in (b.subscribe_trades(symbols), b.subscribe_book(symbols, depth)):
        entries = parsed(req)["data"]["symbol_list"]
        assert [from_alltick(e["code"]) for e in entries] == symbols
    assert all(e["depth_level"] == depth for e in entries)


# ---------------------------------------------------------------------------
# REST helpers


def test_rest_query() -> None:
    assert json.loads(alltick.rest_query({"a": 1}, trace="t1")) == {"trace": "t1", "data": {"a": 1}}
    traces = {json.loads(alltick.rest_query({}))["trace"] for _ in range(20)}
    assert len(traces) == 20
    assert all(t.startswith("hkt-") and len(t) <= 64 for t in traces)


def test_rest_trade_tick_query_limit() -> None:
    symbols = [f"{n:05d}" for n in range(1, 51)]
    q = json.loads(alltick.rest_trade_tick_query(symbols, trace="t"))
    assert q == {"trace": "t", "data": {"symbol_list": [{"code": f"{n}.HK"} for n in range(1, 51)]}}
    assert alltick.REST_MAX_CODES_PER_CALL == 50
    with pytest.raises(ValueError, match="50"):
        alltick.rest_trade_tick_query([*symbols, "00700"])
    with pytest.raises(CodeError):
        alltick.rest_trade_tick_query(["bad"])


def test_rest_static_info_query() -> None:
    q = json.loads(alltick.rest_static_info_query(["00700", "00005"], trace="s"))
    assert q == {"trace": "s", "data": {"symbol_list": [{"code": "700.HK"}, {"code": "5.HK"}]}}


def test_rest_kline_body() -> None:
    body = alltick.rest_kline_body(["00700", "09988"], trace="k")
    assert isinstance(body, bytes)
    item = {"kline_type": 8, "kline_timestamp_end": 0, "query_kline_num": 2, "adjust_type": 0}
    assert json.loads(body) == {
        "trace": "k",
        "data": {"data_list": [{"code": "700.HK", **item}, {"code": "9988.HK", **item}]},
    }
    custom = json.loads(alltick.rest_kline_body(["00700"], kline_type=1, count=1))
    assert custom["data"]["data_list"][0]["kline_type"] == 1
    assert custom["data"]["data_list"][0]["query_kline_num"] == 1
    assert custom["trace"].startswith("hkt-")
    with pytest.raises(CodeError):
        alltick.rest_kline_body(["x"])


def test_decode_rest_good() -> None:
    assert alltick.decode_rest(b'{"ret":200,"msg":"ok","trace":"t","data":{"a":[1]}}') == (
        RestAnswer(200, "ok", {"a": [1]}, "t")
    )
    assert alltick.decode_rest('{"ret":"429"}') == RestAnswer(429, "rate limit", None)
    assert alltick.decode_rest('{"ret":401,"msg":"token invalid"}') == RestAnswer(
        401, "token invalid", None
    )


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"", "invalid_json"),
        (b"<html>502 Bad Gateway</html>", "invalid_json"),
        (b"\xff", "invalid_json"),
        (b"[1]", "not_object"),
        (b"null", "not_object"),
        (b'{"msg":"ok"}', "bad_field"),
        (b'{"ret":"abc"}', "bad_field"),
        ('{"ret":"\u00b2"}'.encode(), "bad_field"),
        (b'{"ret":"' + b"9" * 5000 + b'"}', "bad_field"),
        (b'{"ret":true}', "bad_field"),
        (b'{"ret":200.5}', "bad_field"),
    ],
    ids=lambda v: "MISSING" if v is MISSING else repr(v)[:30],
)
def test_decode_rest_bad(body: bytes, kind: str) -> None:
    out = alltick.decode_rest(body)
    assert isinstance(out, DecodeError) and out.kind == kind, out


def test_decode_rest_too_large() -> None:
    out = alltick.decode_rest(b" " * (32 * alltick.MAX_FRAME_BYTES + 1))
    assert isinstance(out, DecodeError) and out.kind == "too_large"


REST_TICK = {
    "code": "700.HK",
    "seq": "9",
    "tick_time": "1700000000123",
    "price": "382.4",
    "volume": "100",
    "turnover": "38240.0",
    "trade_direction": 2,
}


def test_decode_trade_ticks() -> None:
    data = {
        "tick_list": [
            REST_TICK,
            dict(REST_TICK, code="9988.HK", tick_time="1690000000"),
            dict(REST_TICK, price="NaN"),
            dict(REST_TICK, code="AAPL.US"),
            "junk",
            None,
        ]
    }
    ticks, bad = alltick.decode_trade_ticks(data, RECV, src="rest")
    assert bad == 4
    assert ticks == [
        Tick("00700", 1_700_000_000_123, 382.4, 100, 38240.0, "sell", 9, RECV, "rest"),
        Tick("09988", 1_690_000_000_000, 382.4, 100, 38240.0, "sell", 9, RECV, "rest"),
    ]


@pytest.mark.parametrize("data", [None, [], "x", {}, {"tick_list": None}, {"tick_list": {}}])
def test_decode_trade_ticks_empty_shapes(data: Any) -> None:
    assert alltick.decode_trade_ticks(data, RECV) == ([], 0)


def test_decode_klines() -> None:
    today = {
        "timestamp": "1700006400",
        "open_price": "380",
        "close_price": "382.4",
        "high_price": "385",
        "low_price": "379.2",
        "volume": "1000000",
        "turnover": "381000000.5",
    }
    yesterday = dict(today, timestamp="1699920000", close_price="378.0", volume=900)
    data = {
        "kline_list": [
            {"code": "700.HK", "kline_type": 8, "kline_data": [today, yesterday]},
            {"code": "5.HK", "kline_type": 8, "kline_data": []},
            {"code": "9988.HK", "kline_data": [{k: v for k, v in today.items() if k != "volume"}]},
        ]
    }
    bars, bad = alltick.decode_klines(data)
    assert bad == 0
    assert bars["00700"] == [
        Bar("00700", 1_699_920_000_000, 380.0, 385.0, 379.2, 378.0, 900, 381000000.5),
        Bar("00700", 1_700_006_400_000, 380.0, 385.0, 379.2, 382.4, 1_000_000, 381000000.5),
    ]
    assert bars["00005"] == []
    assert bars["09988"][0].volume == 0  # volume missing -> 0


@pytest.mark.parametrize(
    "entry",
    [
        "junk",
        None,
        {"code": "AAPL.US", "kline_data": []},
        {"code": None, "kline_data": []},
        {"code": "700.HK", "kline_data": "x"},
        {"code": "700.HK", "kline_data": ["x"]},
        {"code": "700.HK", "kline_data": [{"timestamp": "1"}]},  # missing prices
        {
            "code": "700.HK",
            "kline_data": [
                {
                    "timestamp": "1700000000",
                    "open_price": "NaN",
                    "close_price": "1",
                    "high_price": "1",
                    "low_price": "1",
                }
            ],
        },
        {
            "code": "700.HK",
            "kline_data": [
                {
                    "timestamp": "1700000000",
                    "open_price": 10**400,  # a Python int far beyond float range
                    "close_price": "1",
                    "high_price": "1",
                    "low_price": "1",
                }
            ],
        },
    ],
)
def test_decode_klines_counts_bad_entries(entry: Any) -> None:
    good = {"code": "5.HK", "kline_data": []}
    bars, bad = alltick.decode_klines({"kline_list": [good, entry]})
    assert (list(bars), bad) == (["00005"], 1)


@pytest.mark.parametrize("data", [None, [], {}, {"kline_list": "x"}])
def test_decode_klines_empty_shapes(data: Any) -> None:
    assert alltick.decode_klines(data) == ({}, 0)


def test_decode_static_info() -> None:
    data = {
        "static_info_list": [
            {
                "code": "700.HK",
                "name_en": "Tencent",
                "name_cn": "腾讯控股",
                "name_hk": "騰訊控股",
                "lot_size": "100",
                "currency": "HKD",
                "exchange": "HKEX",
                "board": "main",
                "total_shares": "9000000000",
            },
            {"code": "5.HK", "lot_size": 400},
            {"code": "9988.HK", "lot_size": ""},
            {"code": "1.HK"},
            {"code": "AAPL.US", "lot_size": 1},
            {"code": "2.HK", "lot_size": "-100"},
            {"code": "3.HK", "lot_size": "1.5"},
            "junk",
        ]
    }
    info, bad = alltick.decode_static_info(data)
    assert bad == 4
    assert info == {
        "00700": StaticInfo(
            "00700", "Tencent", "腾讯控股", "騰訊控股", 100, "HKD", "HKEX", "main", 9_000_000_000
        ),
        "00005": StaticInfo("00005", "", "", "", 400, ""),
        "09988": StaticInfo("09988", "", "", "", None, ""),
        "00001": StaticInfo("00001", "", "", "", None, ""),
    }


@pytest.mark.parametrize("data", [None, [], {}, {"static_info_list": {}}])
def test_decode_static_info_empty_shapes(data: Any) -> None:
    assert alltick.decode_static_info(data) == ({}, 0)


@PROPS
@given(finite_json, finite_json)
def test_property_rest_decoders_never_raise(entry: Any, bar: Any) -> None:
    assert_valid_result(alltick.decode_rest(json.dumps({"ret": 200, "data": entry})))
    assert_valid_result(alltick.decode_rest(json.dumps(entry)))
    ticks, bad = alltick.decode_trade_ticks({"tick_list": [entry, dict(REST_TICK, seq=bar)]}, 1)
    assert len(ticks) + bad == 2
    if isinstance(entry, dict):
        kl = {"kline_list": [dict(entry, code="700.HK"), {"code": "5.HK", "kline_data": [bar]}]}
    else:
        kl = {"kline_list": [entry, {"code": "5.HK", "kline_data": [bar]}]}
    bars, bad = alltick.decode_klines(kl)
    assert len(bars) + bad <= 2 and bad <= 2
    info, bad = alltick.decode_static_info({"static_info_list": [entry, {"code": "5.HK"}]})
    assert "00005" in info and len(info) + bad <= 2


# ---------------------------------------------------------------------------
# Plans and constants (alltick-protocol.md)


def test_plans_match_the_protocol_doc() -> None:
    table = {
        # name: (connections per token, symbols per connection, REST calls per second)
        "free": (1, 5, 0.1),
        "basic": (1, 100, 1.0),
        "premium": (3, 200, 10.0),
        "professional": (10, 3000, 20.0),
        "all-hk": (10, 3000, 20.0),
        "all-cn": (10, 3000, 20.0),
    }
    assert set(alltick.PLANS) == set(table)
    for name, (conns, symbols, rest) in table.items():
        plan = alltick.PLANS[name]
        assert plan.name == name
        assert (plan.max_connections, plan.max_symbols) == (conns, symbols)
        assert plan.rest_per_second == pytest.approx(rest)
        assert plan.total_symbols == conns * symbols
    assert alltick.DEFAULT_PLAN in alltick.PLANS


def test_pacing_and_endpoint_constants() -> None:
    assert alltick.MIN_REQUEST_INTERVAL_S == 1.0
    assert alltick.MIN_CONNECTION_INTERVAL_S == 3.0
    assert alltick.HEARTBEAT_INTERVAL_S == 10.0
    assert alltick.HEARTBEAT_TIMEOUT_S == 30.0
    assert alltick.DEFAULT_WS_URL == "wss://quote.alltick.co/quote-stock-b-ws-api"
    assert alltick.DEFAULT_REST_URL == "https://quote.alltick.co/quote-stock-b-api/"
    assert alltick.DEFAULT_WS_URL.endswith(alltick.WS_PATH)
    assert alltick.DEFAULT_REST_URL.endswith(alltick.REST_PATH)
    assert (alltick.PUSH_TRADE, alltick.PUSH_BOOK) == (22998, 22999)
