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
Pure; :meth:`hkticks.alltick.rest_client.RestClient.minute_bars` makes the call (its
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


def decode_kline(
    data: Any, symbol: str, kline_type: int = KLINE_1MIN
) -> tuple[list[alltick.Bar], int]:
    """``GET kline`` answer data -> (bars oldest first, bars that failed to decode).

    ``symbol`` and ``kline_type`` are what was asked: bars of another code or
    another type are left out and counted bad (a daily bar read as a minute is
    worse than none). An answer without ``kline_type`` is taken as asked.
    """
    bars: list[alltick.Bar] = []
    if not isinstance(data, dict):
        return bars, 1
    items = data.get("kline_list")
    if data.get("kline_type") is not None:
        try:
            answered = alltick._kline_type(data["kline_type"])
        except alltick.BAR_ERRORS:
            answered = -1
        if answered != kline_type:
            return bars, len(items) if isinstance(items, list) else 1
    if "code" in data:
        try:
            if alltick.from_alltick(str(data["code"])) != symbol:
                return bars, len(items) if isinstance(items, list) else 1
        except alltick.CodeError:
            return bars, 1
    bad = 0
    for raw in items if isinstance(items, list) else ():
        try:
            bars.append(alltick.bar_of(symbol, raw))
        except alltick.BAR_ERRORS:
            bad += 1
    bars.sort(key=lambda b: b.ts)
    return bars, bad
