"""AllTick's ``GET kline`` for one code's 1-minute bars, tolerant of single bad bars.

The query is :func:`hkticks.alltick.protocol.rest_kline_query` (documented
``data``: ``code``, ``kline_type`` (1 = 1 minute), ``kline_timestamp_end`` 0
-- stocks cannot query from a time --, ``query_kline_num`` at most 500,
``adjust_type`` 0). The answer's ``data`` is ``code``, ``kline_type`` and
``kline_list[]`` of ``timestamp`` (seconds, a string), ``open_price``,
``close_price``, ``high_price``, ``low_price``, ``volume``, ``turnover``;
numbers may come as strings or JSON numbers.

:func:`hkticks.alltick.protocol.decode_kline` refuses a whole answer with a
bad field; the board's history and ``validate --kline`` would rather keep
the good bars and count the bad ones, which :func:`decode_kline` here does.
Pure; :meth:`hkticks.alltick.rest.RestClient.minute_bars` makes the call (its
pacing, retries, errors) and uses this decoder: the client imports this
module, never the other way round.
"""

from __future__ import annotations

from typing import Any

from hkticks.alltick import protocol as alltick

KLINE_1MIN = alltick.KLINE_1MIN
MAX_KLINE_NUM = alltick.MAX_KLINE_BARS  # AllTick's cap on query_kline_num


def kline_query(
    symbol: str, kline_type: int = KLINE_1MIN, count: int = MAX_KLINE_NUM, trace: str | None = None
) -> str:
    """The ``query`` parameter of ``GET kline`` for one five-digit code."""
    return alltick.rest_kline_query(symbol, kline_type, count, trace)


def minute_kline_query(symbol: str, count: int = MAX_KLINE_NUM, trace: str | None = None) -> str:
    """The ``query`` parameter of ``GET kline`` for the latest ``count`` 1-minute bars."""
    return kline_query(symbol, KLINE_1MIN, count, trace)


def decode_kline(data: Any, symbol: str) -> tuple[list[alltick.Bar], int]:
    """``GET kline`` answer data -> (bars oldest first, bars that failed to decode).

    ``symbol`` is the code asked for: bars of another code are left out and
    counted bad (a bar of another stock is worse than none).
    """
    bars: list[alltick.Bar] = []
    if not isinstance(data, dict):
        return bars, 1
    items = data.get("kline_list")
    if "code" in data:
        try:
            if alltick.from_alltick(str(data["code"])) != symbol:
                return bars, len(items) if isinstance(items, list) else 1
        except alltick.CodeError:
            return bars, 1
    bad = 0
    for raw in items if isinstance(items, list) else ():
        try:
            bars.append(
                alltick.Bar(
                    symbol,
                    alltick._time_ms(raw["timestamp"]),
                    alltick._number(raw["open_price"], "open_price"),
                    alltick._number(raw["high_price"], "high_price"),
                    alltick._number(raw["low_price"], "low_price"),
                    alltick._number(raw["close_price"], "close_price"),
                    alltick._integer(raw.get("volume", 0), "volume"),
                    alltick._number(raw.get("turnover", 0), "turnover"),
                )
            )
        except (alltick._Bad, KeyError, TypeError, ValueError):
            bad += 1
    bars.sort(key=lambda b: b.ts)
    return bars, bad
