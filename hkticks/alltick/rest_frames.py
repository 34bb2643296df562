"""AllTick's REST API, the pure half: query building (``query`` parameters and
``batch-kline`` bodies) and answer decoding (trades, books, K-line bars,
static info), never raising on bad input. The I/O half is
:mod:`hkticks.alltick.rest_client`. Every name here is also reachable as
``hkticks.alltick.protocol.NAME``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from hkticks.alltick.fields import (
    DecodeError,
    _Bad,
    _book,
    _code,
    _integer,
    _number,
    _ret,
    _time_ms,
    _trade,
)
from hkticks.alltick.spec import (
    KLINE_DAY,
    MAX_BATCH_KLINE_BARS,
    MAX_FRAME_BYTES,
    MAX_KLINE_BARS,
    MSG_HEADER_INVALID,
    REST_MAX_CODES_PER_CALL,
    RET_BAD_PARAM,
    RET_MESSAGES,
    RET_OK,
    SRC,
    STOCK_KLINE_TYPES,
    to_alltick,
)
from hkticks.tick import Book, Tick


def rest_query(data: Mapping[str, Any], trace: str | None = None) -> str:
    """The JSON ``query`` parameter of a REST GET (not yet URL-encoded)."""
    if trace is None:
        trace = "hkt-" + os.urandom(8).hex()
    return orjson.dumps({"trace": trace, "data": data}).decode()


def _code_list(symbols: Iterable[str], limit: int) -> dict[str, Any]:
    codes = [{"code": to_alltick(s)} for s in symbols]
    if len(codes) > limit:
        raise ValueError(f"at most {limit} codes per call")
    return {"symbol_list": codes}


def rest_trade_tick_query(
    symbols: Iterable[str], trace: str | None = None, *, limit: int = REST_MAX_CODES_PER_CALL
) -> str:
    """``GET trade-tick``: the latest trade of each code (``limit``: the plan's codes per call)."""
    return rest_query(_code_list(symbols, limit), trace)


def rest_depth_tick_query(
    symbols: Iterable[str], trace: str | None = None, *, limit: int = REST_MAX_CODES_PER_CALL
) -> str:
    """``GET depth-tick``: the latest order book of each code."""
    return rest_query(_code_list(symbols, limit), trace)


def rest_static_info_query(symbols: Iterable[str], trace: str | None = None) -> str:
    return rest_query({"symbol_list": [{"code": to_alltick(s)} for s in symbols]}, trace)


def _kline_item(symbol: str, kline_type: int, count: int, limit: int) -> dict[str, Any]:
    if kline_type not in STOCK_KLINE_TYPES:
        raise ValueError(f"kline_type {kline_type} is not offered for stocks")
    if not 1 <= count <= limit:
        raise ValueError(f"query_kline_num must be 1..{limit}, not {count}")
    return {
        "code": to_alltick(symbol),
        "kline_type": kline_type,
        "kline_timestamp_end": 0,  # stocks cannot query from a timestamp
        "query_kline_num": count,
        "adjust_type": 0,
    }


def rest_kline_query(
    symbol: str, kline_type: int = KLINE_DAY, count: int = MAX_KLINE_BARS, trace: str | None = None
) -> str:
    """``GET kline``: up to 500 bars of one code, the latest last."""
    return rest_query(_kline_item(symbol, kline_type, count, MAX_KLINE_BARS), trace)


def rest_kline_body(
    symbols: Iterable[str],
    kline_type: int | Iterable[int] = KLINE_DAY,
    count: int = 2,
    trace: str | None = None,
) -> bytes:
    """The JSON body of ``POST batch-kline`` (daily bars by default): one item per
    code x type, each the latest ``count`` (1 or 2) bars."""
    types = [kline_type] if isinstance(kline_type, int) else list(kline_type)
    items = [_kline_item(s, t, count, MAX_BATCH_KLINE_BARS) for s in symbols for t in types]
    if trace is None:
        trace = "hkt-" + os.urandom(8).hex()
    return orjson.dumps({"trace": trace, "data": {"data_list": items}})


@dataclass(frozen=True, slots=True)
class RestAnswer:
    """A decoded REST answer envelope."""

    ret: int
    msg: str
    data: Any
    trace: str | None = None

    @property
    def ok(self) -> bool:
        return self.ret == RET_OK

    @property
    def header_invalid(self) -> bool:
        """ret 400 about the envelope (trace, data) rather than what ``data`` holds."""
        return self.ret == RET_BAD_PARAM and self.msg == MSG_HEADER_INVALID


def decode_rest(body: bytes | str) -> RestAnswer | DecodeError:
    """Decode a REST answer envelope (``ret``, ``msg``, ``data``). Never raises."""
    if len(body) > 32 * MAX_FRAME_BYTES:
        return DecodeError("too_large", f"answer of {len(body)} bytes")
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return DecodeError("invalid_json", str(exc)[:200])
    if type(obj) is not dict:
        return DecodeError("not_object", f"top level is {type(obj).__name__}")
    raw = obj.get("ret")
    ret = _ret(raw)
    if ret is None:
        return DecodeError("bad_field", f"ret is not an integer: {str(raw)[:40]}")
    msg = obj.get("msg")
    trace = obj.get("trace")
    return RestAnswer(
        ret,
        msg if isinstance(msg, str) else RET_MESSAGES.get(ret, ""),
        obj.get("data"),
        trace if isinstance(trace, str) else None,
    )


def decode_trade_ticks(data: Any, recv_ts: int, src: str = SRC) -> tuple[list[Tick], int]:
    """``trade-tick`` answer data -> (ticks, number of entries that failed to decode)."""
    items = data.get("tick_list") if isinstance(data, dict) else None
    ticks: list[Tick] = []
    bad = 0
    for item in items if isinstance(items, list) else ():
        try:
            ticks.append(_trade(item, recv_ts, src))
        except (_Bad, Exception):
            bad += 1
    return ticks, bad


def decode_depth_ticks(data: Any, recv_ts: int, src: str = SRC) -> tuple[list[Book], int]:
    """``depth-tick`` answer data -> (books, number of entries that failed to decode)."""
    items = data.get("tick_list") if isinstance(data, dict) else None
    books: list[Book] = []
    bad = 0
    for item in items if isinstance(items, list) else ():
        try:
            books.append(_book(item, recv_ts, src))
        except (_Bad, Exception):
            bad += 1
    return books, bad


@dataclass(frozen=True, slots=True)
class Bar:
    """One kline bar; ``ts`` in epoch ms."""

    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    turnover: float


def bar_of(symbol: str, raw: Any) -> Bar:
    """One documented kline bar (``timestamp`` in seconds, prices, ``volume``,
    ``turnover``); raises ``_Bad``/``KeyError``/``TypeError`` on a bad one."""
    if not isinstance(raw, dict):
        raise _Bad("bar is not an object")
    return Bar(
        symbol,
        _time_ms(raw["timestamp"]),
        _number(raw["open_price"], "open_price"),
        _number(raw["high_price"], "high_price"),
        _number(raw["low_price"], "low_price"),
        _number(raw["close_price"], "close_price"),
        _integer(raw.get("volume", 0), "volume"),
        _number(raw.get("turnover", 0), "turnover"),
    )


BAR_ERRORS = (_Bad, KeyError, TypeError, ValueError)  # what bar_of() raises on a bad bar


def _bars(symbol: str, raw_bars: Any) -> list[Bar]:
    if raw_bars is None:
        raw_bars = []
    if not isinstance(raw_bars, list):
        raise _Bad("bar list is not a list")
    bars = [bar_of(symbol, raw) for raw in raw_bars]
    bars.sort(key=lambda b: b.ts)
    return bars


def _kline_type(value: Any) -> int:
    if value is None:
        return KLINE_DAY
    t = _integer(value, "kline_type")
    if t not in STOCK_KLINE_TYPES and t not in (6, 7):
        raise _Bad(f"kline_type {t} unknown")
    return t


def decode_batch_klines(data: Any) -> tuple[dict[tuple[str, int], list[Bar]], int]:
    """``batch-kline`` answer data -> ({(symbol, kline_type): bars oldest first}, bad count)."""
    out: dict[tuple[str, int], list[Bar]] = {}
    bad = 0
    items = data.get("kline_list") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else ():
        try:
            if not isinstance(item, dict):
                raise _Bad("kline entry is not an object")
            symbol = _code(item.get("code"))
            out[(symbol, _kline_type(item.get("kline_type")))] = _bars(
                symbol, item.get("kline_data")
            )
        except (_Bad, KeyError, TypeError):
            bad += 1
    return out, bad


def decode_klines(data: Any, kline_type: int = KLINE_DAY) -> tuple[dict[str, list[Bar]], int]:
    """``batch-kline`` answer data -> ({symbol: bars oldest first}, bad entry count), for
    one ``kline_type`` (entries without a type count as daily)."""
    typed, bad = decode_batch_klines(data)
    return {s: bars for (s, t), bars in typed.items() if t == kline_type}, bad


def decode_kline(
    data: Any, kline_type: int | None = None
) -> tuple[str, int, list[Bar]] | DecodeError:
    """``kline`` answer data (one code) -> (symbol, kline_type, bars oldest first).

    ``kline_type`` is the type asked for: an answer of another type (daily bars
    when minutes were asked) is refused rather than read as the wrong bars; an
    answer without one is taken as the type asked (or daily)."""
    try:
        if not isinstance(data, dict):
            raise _Bad("data is not an object")
        symbol = _code(data.get("code"))
        raw_type = data.get("kline_type")
        got = _kline_type(raw_type) if raw_type is not None or kline_type is None else kline_type
        if kline_type is not None and got != kline_type:
            raise _Bad(f"kline_type {got} answered, {kline_type} asked")
        return symbol, got, _bars(symbol, data.get("kline_list"))
    except (_Bad, KeyError, TypeError) as exc:
        return DecodeError("bad_field", str(exc)[:200])


@dataclass(frozen=True, slots=True)
class StaticInfo:
    """One ``static_info`` entry. Shares are counts; ``eps``/``bps`` in the currency;
    ``dividend_yield`` in percent. ``None``: AllTick left it out (or empty)."""

    symbol: str
    name_en: str
    name_cn: str
    name_hk: str
    lot_size: int | None
    currency: str
    exchange: str = ""
    board: str = ""
    total_shares: int | None = None
    circulating_shares: int | None = None
    hk_shares: int | None = None
    eps: float | None = None
    eps_ttm: float | None = None
    bps: float | None = None
    dividend_yield: float | None = None

    def market_cap(self, price: float) -> float | None:
        """Market capitalisation at ``price``: HK shares x price (total shares if no HK count)."""
        shares = self.hk_shares or self.total_shares
        return None if shares is None else shares * price


def _opt_int(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return None if value in (None, "") else _integer(value, name)


def _opt_float(item: dict[str, Any], name: str) -> float | None:
    """A signed figure (EPS can be negative) as a float, or ``None``."""
    value = item.get(name)
    if value in (None, ""):
        return None
    if type(value) is str and value[:1] == "-":
        return -_number(value[1:], name)
    if type(value) in (int, float) and value < 0:
        return -_number(-value, name)
    return _number(value, name)


def decode_static_info(data: Any) -> tuple[dict[str, StaticInfo], int]:
    """``static_info`` answer data -> ({symbol: info}, bad entry count).

    AllTick keys each entry by ``symbol`` (``"700.HK"``); ``code`` is accepted too.
    """
    out: dict[str, StaticInfo] = {}
    bad = 0
    items = data.get("static_info_list") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else ():
        try:
            if not isinstance(item, dict):
                raise _Bad("entry is not an object")
            raw = item.get("symbol")
            if raw in (None, ""):
                raw = item.get("code")
            symbol = _code(raw)
            out[symbol] = StaticInfo(
                symbol,
                str(item.get("name_en") or ""),
                str(item.get("name_cn") or ""),
                str(item.get("name_hk") or ""),
                _opt_int(item, "lot_size"),
                str(item.get("currency") or ""),
                str(item.get("exchange") or ""),
                str(item.get("board") or ""),
                _opt_int(item, "total_shares"),
                _opt_int(item, "circulating_shares"),
                _opt_int(item, "hk_shares"),
                _opt_float(item, "eps"),
                _opt_float(item, "eps_ttm"),
                _opt_float(item, "bps"),
                _opt_float(item, "dividend_yield"),
            )
        except (_Bad, TypeError):
            bad += 1
    return out, bad
