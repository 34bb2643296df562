"""1-minute bars of every trade the simulated market made, for ``GET kline``.

AllTick's ``/kline`` gives K-lines built from the exchange's trades, not from
what one client happened to receive; so are these: every trade the market
makes is counted here, whether any connection heard it or not (a client
that was disconnected then is short by those trades). Bars are keyed by the
minute's start (epoch seconds; Hong Kong is UTC+8, so HK minutes and UTC
minutes coincide) and only the latest :data:`KEEP` per symbol are kept, the
most AllTick returns per query.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from hkticks.server.spread import format_amount, format_price

KEEP = 500
KLINE_1MIN = 1


class MinuteBars:
    """Per symbol: minute start (s) -> [open, high, low, close, volume, turnover, trades]."""

    __slots__ = ("_bars",)

    def __init__(self) -> None:
        self._bars: dict[str, OrderedDict[int, list[int]]] = {}

    def add(self, symbol: str, ts_ms: int, price: int, volume: int) -> None:
        minute = ts_ms // 60_000 * 60
        bars = self._bars.get(symbol)
        if bars is None:
            bars = self._bars[symbol] = OrderedDict()
        bar = bars.get(minute)
        if bar is None:
            bars[minute] = [price, price, price, price, volume, price * volume, 1]
            if len(bars) > KEEP:
                bars.popitem(last=False)
            return
        if price > bar[1]:
            bar[1] = price
        if price < bar[2]:
            bar[2] = price
        bar[3] = price
        bar[4] += volume
        bar[5] += price * volume
        bar[6] += 1

    def latest(self, symbol: str, count: int) -> list[tuple[int, list[int]]]:
        """The latest ``count`` bars of ``symbol``, oldest first."""
        bars = self._bars.get(symbol)
        if not bars or count <= 0:
            return []
        return list(bars.items())[-count:]


def kline_answer(bars: MinuteBars, code: str, symbol: str, count: int) -> dict[str, Any]:
    """``GET kline`` answer data for one code, in AllTick's documented shape."""
    return {
        "code": code,
        "kline_type": KLINE_1MIN,
        "kline_list": [
            {
                "timestamp": str(minute),
                "open_price": format_price(b[0]),
                "close_price": format_price(b[3]),
                "high_price": format_price(b[1]),
                "low_price": format_price(b[2]),
                "volume": str(b[4]),
                "turnover": format_amount(b[5]),
            }
            for minute, b in bars.latest(symbol, count)
        ],
    }
