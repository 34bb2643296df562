"""K-line bars of the simulated market, for REST ``kline`` and ``batch-kline``.

A realistic history that agrees with the trades the server has served:

* Minute bars exist for the minutes of HKEX's continuous sessions on trading
  days (09:30-12:00 and 13:00-16:00; the morning only on a half day; none
  over lunch, nights, weekends or holidays, by :mod:`hkticks.market_hours`).
  Each day's minutes are made up once, deterministically, from that day's
  daily bar: the path opens at the day's open, touches its high and low,
  closes at its close, and the minutes' volumes (whole board lots) and
  turnovers add up to the day's exactly.
* "Today" (the market's latest trading day) is the day so far when the
  market was made (``start_bar``), spread over its session minutes before the
  start, followed by a bar for every minute in which the server made trades
  since: those hold exactly the trades served. (The simulation trades around
  the clock, so a server run outside HKEX hours has minutes there: the ones
  its trades were served in, and no others.)
* 5, 15, 30 min and 1 h bars roll the minutes up, aligned on each session's
  open (an hour bar starts at 09:30, 10:30, 11:30, 13:00, ...); a call asking
  600 bars gets as many as exist up to the 500 AllTick serves, going back over
  earlier trading days.
* Daily bars: today's is the market's day (trades included), the one before
  the market's previous trading day, older ones made up walking back over
  trading days; weeks and months are rolled up from the days. Timestamps are
  epoch seconds of each bar's start (weeks start on Monday, months on the
  1st, days at midnight, Hong Kong time).

Pure: :meth:`KlineInputs.of` reads what a symbol's bars need on the
market's loop; the bars are then made in the caller's thread (a REST
thread), so a long history never holds up the pushes. Nothing here keeps a
socket or a clock.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hkticks.alltick import protocol as alltick
from hkticks.market_hours import HALF_DAY, Calendar
from hkticks.server.market import (
    DAY_S,
    HKT_OFFSET_S,
    OPEN_S,
    Bar,
    Market,
    is_trading_day,
    previous_trading_day,
)
from hkticks.server.tick_ladder import MAX_PRICE, MIN_PRICE, snap

HISTORY_DAYS = 520  # trading days of made-up daily history before the previous day
MINUTE_S = 60
AFTERNOON_S = 13 * 3600
MAX_SPREAD_DAYS = 4096  # made-up minute days kept (a day is 330 bars at most)
_PERIOD_MIN = {
    alltick.KLINE_1MIN: 1,
    alltick.KLINE_5MIN: 5,
    alltick.KLINE_15MIN: 15,
    alltick.KLINE_30MIN: 30,
    alltick.KLINE_1H: 60,
}
# (start, end) seconds into the HK day of the continuous sessions
_FULL_DAY = ((OPEN_S, 12 * 3600), (AFTERNOON_S, 16 * 3600))
_HALF_DAY = ((OPEN_S, 12 * 3600),)
_HKT = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class KlineInputs:
    """What the bars of one symbol are made from: read on the market's loop
    (:meth:`of`), so that making them up (the costly part) runs elsewhere."""

    symbol: str
    lot: int
    calendar: Calendar
    day_ts: int  # the symbol's latest day (older than the market's when suspended)
    start_bar: Bar  # that day so far when the market was made
    upto_ms: int | None  # the day so far ends here (None: the whole day)
    prev: Bar
    today: Bar
    live: tuple[Bar, ...]  # the minutes of the trades served since

    @classmethod
    def of(cls, market: Market, symbol: str, now_ms: int | None = None) -> KlineInputs:
        market.track_minutes(now_ms)
        st = market.state(symbol)
        prev, today = market.bars(symbol)
        live = tuple(
            Bar(m * MINUTE_S, o, h, lo, c, v, t) for m, o, h, lo, c, v, t in st.minute_bars()
        )
        return cls(
            symbol,
            st.stock.lot,
            market.calendar,
            st.day_ts,
            st.start_bar,
            market.minutes_from_ms if st.day_ts == market.day_ts else None,
            prev,
            today,
            live,
        )


class KlineSource:
    """Bars per (symbol, kline_type), oldest first; caches the made-up history.

    Thread-safe (the REST threads share one): the caches are behind a lock.
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._history: dict[str, list[Bar]] = {}
        self._spread: dict[tuple[str, Bar, int], list[Bar]] = {}

    def bars(self, src: KlineInputs, kline_type: int, count: int) -> list[Bar]:
        """The latest ``count`` bars (``kline_type`` a stock type)."""
        if count <= 0:
            return []
        if kline_type in _PERIOD_MIN:
            period = _PERIOD_MIN[kline_type]
            minutes = self.minutes(src, count * period)
            if period == 1:
                return minutes[-count:]
            return _roll_up(minutes, lambda ts: _bucket(ts, period))[-count:]
        if kline_type == alltick.KLINE_DAY:
            return self.daily(src, count)[-count:]
        days = self.daily(src)
        if kline_type == alltick.KLINE_WEEK:
            return _roll_up(days, _week_start)[-count:]
        if kline_type == alltick.KLINE_MONTH:
            return _roll_up(days, _month_start)[-count:]
        raise ValueError(f"kline_type {kline_type} is not offered for stocks")

    # -- minutes --------------------------------------------------------------------

    def minutes(self, src: KlineInputs, need: int) -> list[Bar]:
        """At least ``need`` minute bars (when that many exist), oldest first."""
        out = _merge(self._spread_day(src, src.start_bar, src.upto_ms), list(src.live))
        if len(out) >= need:
            return out
        out = self._spread_day(src, src.prev, None) + out
        days = self.daily(src, need)
        i = len(days) - 3  # days[-1] is today, days[-2] the day before: done above
        while len(out) < need and i >= 0:
            out = self._spread_day(src, days[i], None) + out
            i -= 1
        return out

    def _spread_day(self, src: KlineInputs, day: Bar, upto_ms: int | None) -> list[Bar]:
        """``day`` (a daily bar) spread over its session minutes (before ``upto_ms``)."""
        key = (src.symbol, day, -1 if upto_ms is None else upto_ms // 60_000)
        with self._lock:
            got = self._spread.get(key)
        if got is not None:
            return got
        minutes = session_minutes(src.calendar, day.ts)
        if upto_ms is not None:
            before = upto_ms // 1000 // MINUTE_S * MINUTE_S
            earlier = [m for m in minutes if m < before]
            # started within the first minute: the day so far is that minute's
            minutes = earlier or minutes[:1]
        rng = random.Random(f"{self._seed}:{src.symbol}:{day.ts}:minutes")
        got = spread_over(day, minutes, src.lot, rng)
        with self._lock:
            if len(self._spread) >= MAX_SPREAD_DAYS:
                self._spread.clear()
            self._spread[key] = got
        return got

    # -- days -------------------------------------------------------------------------

    def daily(self, src: KlineInputs, need: int | None = None) -> list[Bar]:
        """The daily bars, oldest first; with ``need`` <= 2 just the last two (the made-up
        history behind them is only made when asked for)."""
        if need is not None and need <= 2:
            return [src.prev, src.today]
        with self._lock:
            history = self._history.get(src.symbol)
        if history is None:
            history = self._made_up(src)
            with self._lock:
                self._history[src.symbol] = history
        return [*history, src.prev, src.today]

    def _made_up(self, src: KlineInputs) -> list[Bar]:
        rng = random.Random(f"{self._seed}:{src.symbol}")
        out: list[Bar] = []
        prev = src.prev
        day = prev.ts
        close = prev.open  # each day closes where the next one opened
        volume = max(prev.volume, 1)
        lot = src.lot
        for day in _trading_days_before(src.calendar, prev.ts):
            open_ = _clamp(snap(round(close * math.exp(rng.gauss(0, 0.015)))))
            high = max(open_, close)
            low = min(open_, close)
            high = _clamp(snap(round(high * (1 + abs(rng.gauss(0, 0.006))))))
            low = _clamp(snap(round(low * (1 - abs(rng.gauss(0, 0.006))))))
            vol = max(1, round(volume * math.exp(rng.gauss(0, 0.3)) / lot)) * lot
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


_DAYS_CACHE: dict[tuple[int, int], tuple[Calendar, tuple[int, ...]]] = {}


def _trading_days_before(cal: Calendar, day_ts: int) -> tuple[int, ...]:
    """Midnights of the ``HISTORY_DAYS`` trading days before ``day_ts``, latest first."""
    key = (id(cal), day_ts)
    cached = _DAYS_CACHE.get(key)
    if cached is not None and cached[0] is cal:
        return cached[1]
    out = []
    day = day_ts
    for _ in range(HISTORY_DAYS):
        day = previous_trading_day(cal, day)
        out.append(day)
    days = tuple(out)
    if len(_DAYS_CACHE) > 64:
        _DAYS_CACHE.clear()
    _DAYS_CACHE[key] = (cal, days)
    return days


def session_minutes(cal: Calendar, day_ts: int) -> list[int]:
    """Epoch seconds of every continuous-session minute of the day starting at ``day_ts``."""
    day = (day_ts + HKT_OFFSET_S) // DAY_S
    if not is_trading_day(cal, day):
        return []
    half = cal.covers(day) and cal.day_kind(day) == HALF_DAY
    out: list[int] = []
    for start, end in _HALF_DAY if half else _FULL_DAY:
        out.extend(range(day_ts + start, day_ts + end, MINUTE_S))
    return out


def spread_over(day: Bar, minutes: list[int], lot: int, rng: random.Random) -> list[Bar]:
    """``day`` as one bar per minute of ``minutes``: opening at its open, touching its
    high and low, closing at its close; volumes in whole lots (any odd shares in the
    last minute) and turnovers adding up to the day's exactly."""
    n = len(minutes)
    if n == 0:
        return []
    if n == 1:
        return [Bar(minutes[0], day.open, day.high, day.low, day.close, day.volume, day.turnover)]
    # closes: a bridge from the open to the close with noise, kept in [low, high]
    scale = max(day.high - day.low, 1) / (2.5 * math.sqrt(n))
    walk = [0.0]
    for _ in range(n):
        walk.append(walk[-1] + rng.gauss(0, scale))
    closes = []
    for i in range(1, n + 1):
        x = day.open + (day.close - day.open) * i / n + walk[i] - walk[n] * i / n
        closes.append(min(max(snap(round(x)), day.low), day.high))
    closes[-1] = day.close
    top = max(range(n), key=lambda i: closes[i])
    bottom = min(range(n), key=lambda i: closes[i])
    # volumes: more at the open and the close, whole lots
    weights = [
        (1.0 + 2.0 * (2.0 * i / (n - 1) - 1.0) ** 2) * math.exp(rng.gauss(0, 0.5)) for i in range(n)
    ]
    total = sum(weights)
    lots = day.volume // lot
    split = [int(lots * w / total) for w in weights]
    split[max(range(n), key=lambda i: weights[i])] += lots - sum(split)
    volumes = [k * lot for k in split]
    volumes[-1] += day.volume - lots * lot
    opens = [day.open, *closes[:-1]]
    highs = [max(o, c) for o, c in zip(opens, closes, strict=True)]
    lows = [min(o, c) for o, c in zip(opens, closes, strict=True)]
    highs[top], lows[bottom] = day.high, day.low
    # turnovers: volume x a typical price, scaled to the day's; the rounding goes to
    # the last minute with volume
    raw = [
        v * ((h + lo + 2 * c) // 4)
        for v, h, lo, c in zip(volumes, highs, lows, closes, strict=True)
    ]
    total_raw = sum(raw)
    if total_raw:
        turnovers = [t * day.turnover // total_raw for t in raw]
        last = max(i for i in range(n) if volumes[i] or i == 0)
        turnovers[last] += day.turnover - sum(turnovers)
    else:
        turnovers = [0] * (n - 1) + [day.turnover]
    return list(map(Bar, minutes, opens, highs, lows, closes, volumes, turnovers))


def _merge(made_up: list[Bar], live: list[Bar]) -> list[Bar]:
    """The made-up minutes then the live ones, one bar per minute (a shared minute merged)."""
    if not live:
        return list(made_up)
    if not made_up or made_up[-1].ts < live[0].ts:
        return [*made_up, *live]
    return _roll_up(sorted([*made_up, *live], key=lambda b: b.ts), lambda ts: ts)


def _bucket(ts: int, minutes: int) -> int:
    """The start of the ``minutes`` bar holding the minute at ``ts``, aligned on the
    session's open (09:30 or 13:00)."""
    into_day = (ts + HKT_OFFSET_S) % DAY_S
    base = OPEN_S if into_day < AFTERNOON_S else AFTERNOON_S
    width = minutes * MINUTE_S
    return ts - into_day + base + (into_day - base) // width * width


def _clamp(price: int) -> int:
    return min(max(price, MIN_PRICE), MAX_PRICE)


def _week_start(ts: int) -> int:
    days = (ts + HKT_OFFSET_S) // DAY_S
    monday = days - (days + 3) % 7  # 1970-01-01 was a Thursday
    return monday * DAY_S - HKT_OFFSET_S


def _month_start(ts: int) -> int:
    d = datetime.fromtimestamp(ts, _HKT)
    return int(datetime(d.year, d.month, 1, tzinfo=_HKT).timestamp())


def _roll_up(bars: list[Bar], start_of: Callable[[int], int]) -> list[Bar]:
    out: list[Bar] = []
    for b in bars:
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
