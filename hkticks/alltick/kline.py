"""AllTick's ``GET kline``: one code's K-lines (here: 1-minute bars), sans-I/O.

Documented query ``data``: ``code``, ``kline_type`` (1 = 1 minute),
``kline_timestamp_end`` (0: from the latest trading day; stocks cannot query
from a time), ``query_kline_num`` (at most 500), ``adjust_type`` 0. Answer
``data``: ``code``, ``kline_type``, ``kline_list[]`` of ``timestamp``
(seconds, a string), ``open_price``, ``close_price``, ``high_price``,
``low_price``, ``volume``, ``turnover``. Numbers may come as strings or JSON
numbers.
"""

from __future__ import annotations

from typing import Any

from hkticks.alltick import protocol as alltick

KLINE_1MIN = 1
MAX_KLINE_NUM = 500


def minute_kline_query(symbol: str, count: int = MAX_KLINE_NUM, trace: str | None = None) -> str:
    """The ``query`` parameter of ``GET kline`` for the latest ``count`` 1-minute bars."""
    if not 1 <= count <= MAX_KLINE_NUM:
        raise ValueError(f"query_kline_num must be 1..{MAX_KLINE_NUM}")
    return alltick.rest_query(
        {
            "code": alltick.to_alltick(symbol),
            "kline_type": KLINE_1MIN,
            "kline_timestamp_end": 0,
            "query_kline_num": count,
            "adjust_type": 0,
        },
        trace,
    )


def decode_kline(data: Any, symbol: str) -> tuple[list[alltick.Bar], int]:
    """``GET kline`` answer data -> (bars oldest first, bars that failed to decode).

    A bar whose code differs from the one asked for is left out and counted bad.
    """
    bars: list[alltick.Bar] = []
    bad = 0
    if not isinstance(data, dict):
        return bars, 1
    items = data.get("kline_list")
    if "code" in data:
        try:
            if alltick.from_alltick(str(data["code"])) != symbol:
                return bars, len(items) if isinstance(items, list) else 1
        except alltick.CodeError:
            return bars, 1
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
