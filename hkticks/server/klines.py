"""K-line bars of the simulated market, for REST ``kline`` and ``batch-kline``.

Bars agree with the trades the server has served: intraday bars (1, 5, 15,
30 min, 1 h) are rolled up from the market's minute bars, which every trade
updates from the first intraday request on (the day until then is one
minute bar, so the minute bars add up to the day's bar); today's daily bar is the market's
day so far; the day before is the market's previous-day bar. Older daily
bars are made up once per symbol, deterministically, walking back from
there (they were never traded here). Weeks and months are rolled up from the
days. Timestamps are epoch seconds of each bar's start (weeks start on
Monday, months on the 1st, days at midnight, Hong Kong time).

Pure: called on the market's loop with the market; nothing here keeps a
socket or a clock.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from hkticks.alltick import protocol as alltick
from hkticks.server.market import DAY_S, HKT_OFFSET_S, Bar, Market, previous_weekday
from hkticks.server.spread import MAX_PRICE, MIN_PRICE, snap

HISTORY_DAYS = 520  # weekdays of made-up daily history before the previous day
_PERIOD_MIN = {
    alltick.KLINE_1MIN: 1,
    alltick.KLINE_5MIN: 5,
    alltick.KLINE_15MIN: 15,
    alltick.KLINE_30MIN: 30,
    alltick.KLINE_1H: 60,
}
_HKT = timezone(timedelta(hours=8))


class KlineSource:
    """Bars per (symbol, kline_type), oldest first; caches the made-up history."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._history: dict[str, list[Bar]] = {}

    def bars(self, market: Market, symbol: str, kline_type: int, count: int) -> list[Bar]:
        """The latest ``count`` bars of ``symbol`` (``kline_type`` a stock type)."""
        if count <= 0:
            return []
        if kline_type in _PERIOD_MIN:
            market.track_minutes()
            return _intraday(market, symbol, _PERIOD_MIN[kline_type])[-count:]
        days = self.daily(market, symbol)
        if kline_type == alltick.KLINE_DAY:
            return days[-count:]
        if kline_type == alltick.KLINE_WEEK:
            return _roll_up(days, _week_start)[-count:]
        if kline_type == alltick.KLINE_MONTH:
            return _roll_up(days, _month_start)[-count:]
        raise ValueError(f"kline_type {kline_type} is not offered for stocks")

    def daily(self, market: Market, symbol: str) -> list[Bar]:
        prev, today = market.bars(symbol)
        history = self._history.get(symbol)
        if history is None:
            history = self._history[symbol] = self._made_up(symbol, prev)
        return [*history, prev, today]

    def _made_up(self, symbol: str, prev: Bar) -> list[Bar]:
        rng = random.Random(f"{self._seed}:{symbol}")
        out: list[Bar] = []
        day = prev.ts
        close = prev.open  # each day closes where the next one opened
        volume = max(prev.volume, 1)
        for _ in range(HISTORY_DAYS):
            day = previous_weekday(day)
            open_ = _clamp(snap(round(close * math.exp(rng.gauss(0, 0.015)))))
            high = max(open_, close)
            low = min(open_, close)
            high = _clamp(snap(round(high * (1 + abs(rng.gauss(0, 0.006))))))
            low = _clamp(snap(round(low * (1 - abs(rng.gauss(0, 0.006))))))
            vol = max(1, round(volume * math.exp(rng.gauss(0, 0.3))))
            out.append(
                Bar(
                    day,
                    open_,
                    max(high, open_, close),
                    min(low, open_, close),
                    close,
                    vol,
                    vol * ((high + low) // 2),
                )
            )
            close = open_
        out.reverse()
        return out


def _clamp(price: int) -> int:
    return min(max(price, MIN_PRICE), MAX_PRICE)


def _intraday(market: Market, symbol: str, minutes: int) -> list[Bar]:
    out: list[Bar] = []
    for m, o, h, low, c, v, t in market.state(symbol).minute_bars():
        start = m // minutes * minutes * 60
        if out and out[-1].ts == start:
            last = out[-1]
            out[-1] = Bar(
                start,
                last.open,
                max(last.high, h),
                min(last.low, low),
                c,
                last.volume + v,
                last.turnover + t,
            )
        else:
            out.append(Bar(start, o, h, low, c, v, t))
    return out


def _week_start(ts: int) -> int:
    days = (ts + HKT_OFFSET_S) // DAY_S
    monday = days - (days + 3) % 7  # 1970-01-01 was a Thursday
    return monday * DAY_S - HKT_OFFSET_S


def _month_start(ts: int) -> int:
    d = datetime.fromtimestamp(ts, _HKT)
    return int(datetime(d.year, d.month, 1, tzinfo=_HKT).timestamp())


def _roll_up(days: list[Bar], start_of: Callable[[int], int]) -> list[Bar]:
    out: list[Bar] = []
    for b in days:
        start = start_of(b.ts)
        if out and out[-1].ts == start:
            last = out[-1]
            out[-1] = Bar(
                start,
                last.open,
                max(last.high, b.high),
                min(last.low, b.low),
                b.close,
                last.volume + b.volume,
                last.turnover + b.turnover,
            )
        else:
            out.append(Bar(start, b.open, b.high, b.low, b.close, b.volume, b.turnover))
    return out
