"""AllTick's ``GET kline``: one code's bars (used for the board's 1-minute history).

Documented shape (see docs/alltick-protocol.md): the query's ``data`` is
``{"code": "700.HK", "kline_type": 1, "kline_timestamp_end": 0,
"query_kline_num": N (<= 500), "adjust_type": 0}``; the answer's ``data`` is
``{"code", "kline_type", "kline_list": [{"timestamp" (seconds, string),
"open_price", "close_price", "high_price", "low_price", "volume",
"turnover"}, ...]}``. Stocks cannot ask from a timestamp: ``0`` means "the
latest trading day".

The query builder and the decoder are pure; :func:`minute_bars` makes the
call through a :class:`~hkticks.alltick.rest.RestClient` (its pacing,
retries and error messages).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hkticks.alltick import protocol as alltick
from hkticks.alltick.protocol import Bar

if TYPE_CHECKING:  # pragma: no cover
    from hkticks.alltick.rest import RestClient

KLINE_1_MIN = 1
KLINE_DAY = 8
MAX_KLINE_NUM = 500  # AllTick's cap on query_kline_num


def kline_query(symbol: str, kline_type: int = KLINE_1_MIN, count: int = MAX_KLINE_NUM) -> str:
    """The ``query`` parameter of ``GET kline`` for one five-digit code."""
    if not 1 <= count <= MAX_KLINE_NUM:
        raise ValueError(f"query_kline_num must be 1..{MAX_KLINE_NUM}, not {count}")
    return alltick.rest_query(
        {
            "code": alltick.to_alltick(symbol),
            "kline_type": kline_type,
            "kline_timestamp_end": 0,
            "query_kline_num": count,
            "adjust_type": 0,
        }
    )


def decode_kline(data: Any, symbol: str) -> tuple[list[Bar], int]:
    """``kline`` answer data -> (bars oldest first, bars that failed to decode).

    ``symbol`` is the code asked for: the answer's ``code`` is checked
    against it when present (a bar of another stock is worse than none).
    """
    if not isinstance(data, dict):
        return [], 0
    code = data.get("code")
    if code is not None:
        try:
            if alltick.from_alltick(code) != symbol:
                return [], 0
        except (alltick.CodeError, TypeError):
            return [], 0
    items = data.get("kline_list")
    bars: list[Bar] = []
    bad = 0
    # the batch-kline decoder handles one bar list per code; reuse it per bar
    for raw in items if isinstance(items, list) else ():
        decoded, failed = alltick.decode_klines(
            {"kline_list": [{"code": alltick.to_alltick(symbol), "kline_data": [raw]}]}
        )
        if failed or not decoded.get(symbol):
            bad += 1
            continue
        bars.extend(decoded[symbol])
    bars.sort(key=lambda b: b.ts)
    return bars, bad


def minute_bars(client: RestClient, symbol: str, count: int = MAX_KLINE_NUM) -> list[Bar]:
    """The latest trading day's 1-minute bars of ``symbol`` (oldest first).

    Raises the client's :class:`~hkticks.errors.HkticksError` subclasses
    (``SourceError`` for HTTP 404 when a server has no ``kline`` endpoint).
    """
    data = client._get("kline", kline_query(symbol, KLINE_1_MIN, count))
    return decode_kline(data, symbol)[0]
