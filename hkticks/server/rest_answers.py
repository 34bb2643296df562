"""The data of the embedded server's REST answers, computed from the simulated
market: ``trade-tick``, ``depth-tick`` and ``static_info`` payloads, K-line
items, the codes a query names (known and unknown), and the JSON envelope
every answer shares. Pure: :mod:`hkticks.server.rest_server` hands each
call to the market's thread and serves the bytes.
"""

from __future__ import annotations

from typing import Any

import orjson

from hkticks.alltick import protocol as alltick
from hkticks.server.market import Bar, Market
from hkticks.server.simulated_stocks import Stock
from hkticks.server.tick_ladder import format_amount, format_price


def _envelope(ret: int, trace: Any, data: Any, msg: str | None = None) -> bytes:
    return orjson.dumps(
        {
            "ret": ret,
            "msg": msg if msg is not None else alltick.RET_MESSAGES.get(ret, ""),
            "trace": trace if isinstance(trace, str) else "",
            "data": data if data is not None else {},
        }
    )


def _bar(b: Bar) -> dict[str, str]:
    return {
        "timestamp": str(b.ts),
        "open_price": format_price(b.open),
        "close_price": format_price(b.close),
        "high_price": format_price(b.high),
        "low_price": format_price(b.low),
        "volume": str(b.volume),
        "turnover": format_amount(b.turnover),
    }


class _Refused(Exception):
    """Internal: answer with this ret (and message) instead."""

    def __init__(self, ret: int, msg: str | None = None, data: Any = None) -> None:
        super().__init__(ret)
        self.ret, self.msg, self.data = ret, msg, data


def _data_invalid(why: str) -> _Refused:
    return _Refused(alltick.RET_BAD_PARAM, alltick.MSG_DATA_INVALID, {"reason": why})


def _codes(data: dict[str, Any]) -> list[str]:
    """The code strings of ``data.symbol_list``."""
    items = data.get("symbol_list")
    if not isinstance(items, list):
        raise _data_invalid("symbol_list must be a list")
    out = []
    for item in items:
        code = item.get("code") if isinstance(item, dict) else None
        if not isinstance(code, str):
            raise _data_invalid("each symbol_list entry needs a code string")
        out.append(code)
    return out


def _split(market: Market, codes: list[str]) -> tuple[list[str], list[str]]:
    """(known five-digit symbols, unknown codes as sent); codes must be spelled as AllTick does."""
    known: list[str] = []
    unknown: list[str] = []
    for code in codes:
        try:
            symbol = alltick.from_alltick(code)
        except alltick.CodeError:
            unknown.append(code)
            continue
        if symbol in market and alltick.to_alltick(symbol) == code:
            if symbol not in known:
                known.append(symbol)
        else:
            unknown.append(code)
    return known, unknown


def trade_tick_data(market: Market, symbols: list[str]) -> dict[str, Any]:
    """``trade-tick`` answer data: the latest trade of each symbol (run on the loop)."""
    ticks = []
    for symbol in symbols:
        t = market.latest(symbol)
        ticks.append(
            {
                "code": alltick.to_alltick(symbol),
                "seq": str(t.seq),
                "tick_time": str(t.ts),
                "price": format_price(t.price),
                "volume": str(t.volume),
                "turnover": format_amount(t.turnover),
                "trade_direction": t.direction,
            }
        )
    return {"tick_list": ticks}


def depth_tick_data(market: Market, symbols: list[str]) -> dict[str, Any]:
    """``depth-tick`` answer data: the book now (all its levels), all fields strings."""
    out = []
    for symbol in symbols:
        last = market.latest(symbol)
        bids, asks = market.book(symbol)
        out.append(
            {
                "code": alltick.to_alltick(symbol),
                "seq": str(last.seq),
                "tick_time": str(last.ts),
                "bids": [{"price": format_price(p), "volume": str(v)} for p, v in bids],
                "asks": [{"price": format_price(p), "volume": str(v)} for p, v in asks],
            }
        )
    return {"tick_list": out}


def _ratio(value: float) -> str:
    """A fundamental as a decimal string of 2 to 4 places (``637.3333``, ``47.80``):
    rounded, so no binary-float noise (``47.7999999999999972``) reaches the wire."""
    text = f"{value:.4f}"
    while text.endswith("0") and len(text) - text.index(".") > 3:
        text = text[:-1]
    return "0.00" if text in ("-0.00", "-0.0000") else text


def static_info_data(market: Market, symbols: list[str]) -> dict[str, Any]:
    """``static_info`` answer data, as documented: keyed by ``symbol``, every value a string."""
    out = []
    for symbol in symbols:
        s: Stock = market.state(symbol).stock
        price = s.ref_price / 1000
        eps = price / (8.0 + 24.0 * ((int(s.code) * 7919) % 100) / 100)  # P/E 8..32
        bps = price / (0.6 + 3.0 * ((int(s.code) * 104729) % 100) / 100)  # P/B 0.6..3.6
        dividend_yield = ((int(s.code) * 15485863) % 700) / 100  # 0 .. 7 %
        out.append(
            {
                "board": "HKEquity",
                "bps": _ratio(bps),
                "circulating_shares": str(s.circulating_shares),
                "currency": "HKD",
                "dividend_yield": _ratio(dividend_yield),
                "eps": _ratio(eps),
                "eps_ttm": _ratio(eps * 1.05),
                "exchange": "SEHK",
                "hk_shares": str(s.hk_shares),
                "lot_size": str(s.lot),
                "name_cn": s.name_cn,
                "name_en": s.name_en,
                "name_hk": s.name_hk,
                "symbol": alltick.to_alltick(symbol),
                "total_shares": str(s.total_shares),
            }
        )
    return {"static_info_list": out}


def _kline_item(item: Any, max_count: int) -> tuple[str, int, int]:
    """(code, kline_type, bars) of one kline / batch-kline item."""
    if not isinstance(item, dict) or not isinstance(item.get("code"), str):
        raise _data_invalid("each item needs a code string")
    kline_type = item.get("kline_type")
    count = item.get("query_kline_num")
    end = item.get("kline_timestamp_end", 0)
    adjust = item.get("adjust_type", 0)
    if type(kline_type) is not int or kline_type not in alltick.STOCK_KLINE_TYPES:
        raise _data_invalid(
            "kline_type must be one of 1, 2, 3, 4, 5, 8, 9, 10 (2 h and 4 h are not offered "
            "for stocks)"
        )
    if type(count) is not int or count < 1:
        raise _data_invalid("query_kline_num must be a positive integer")
    if type(end) is not int or end != 0:
        raise _data_invalid("kline_timestamp_end must be 0: stocks cannot query from a time")
    if type(adjust) is not int or adjust != 0:
        raise _data_invalid("adjust_type must be 0 (the only one supported)")
    return item["code"], kline_type, min(count, max_count)
