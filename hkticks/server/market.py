"""A deterministic simulation of the Hong Kong market's trades and order books.

Pure: no sockets, no threads, no clock. Callers pass the time (``now_ms``)
and a seed, so the same seed, start time and call sequence always produce
the same trades: tests can compare runs, and a bug seen once can be replayed.

Prices are integer thousandths of a dollar ("mills") on the HKEX spread
table (see :mod:`hkticks.server.tick_ladder`); they follow a random walk of one
tick at a time with a gentle pull back towards the previous close, so a long
demo does not drift to absurd levels. Every trade happens at the best bid
(a sell) or the best ask (a buy) of the book at that moment, so books pushed
with a trade are always consistent with it: best bid < best ask and
best bid <= last price <= best ask. Volumes are whole board lots with a
heavy tail (a few big prints among many one-lot trades). Activity is skewed
by each stock's weight: large caps trade most. Suspended stocks never trade;
their latest trade is days old.

The simulation is "always open": trades carry the wall time they were made
at, whatever the hour in Hong Kong. Its *day* is the HKEX calendar's,
though: "today" is the latest trading day whose continuous session had
begun at ``start_ms`` (on a Saturday, Friday), the previous day the trading
day before it, so daily bars never fall on a weekend or a holiday.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from hkticks.market_hours import Calendar, hk_day
from hkticks.market_hours import calendar as default_calendar
from hkticks.server.simulated_stocks import Stock
from hkticks.server.tick_ladder import MAX_PRICE, MIN_PRICE, snap, tick_down, tick_up

DAY_S = 86_400
HKT_OFFSET_S = 8 * 3600  # Hong Kong is UTC+8 all year
MAX_DEPTH = 10

# Random-walk parameters.
_MOVE_P = 0.3  # chance that the book moves one tick before a trade
_WIDE_P = 0.08  # chance that a move leaves a two-tick spread
_BUY_P = 0.48  # trade at the ask
_SELL_P = 0.96  # (cumulative) trade at the bid; the rest: direction unknown
_REVERSION = 4.0  # pull towards the previous close per unit of log-return
_MAX_LOTS = 400
# Minute bars kept per symbol (only minutes with trades count): enough for
# 500 one-minute bars and 200 five-minute ones; older ones are dropped.
MAX_MINUTE_BARS = 1000
MINUTE_FIELDS = 7  # minute (epoch min), open, high, low, close, volume, turnover (mills)


@dataclass(frozen=True, slots=True)
class Trade:
    """One simulated trade; ``price`` in mills, ``ts`` epoch ms, ``direction`` 0/1/2."""

    symbol: str
    seq: int
    ts: int
    price: int
    volume: int
    direction: int

    @property
    def turnover(self) -> int:
        """Exact turnover in mills (price x volume)."""
        return self.price * self.volume


@dataclass(frozen=True, slots=True)
class Bar:
    """One daily bar; ``ts`` is the day's midnight in Hong Kong (epoch seconds)."""

    ts: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    turnover: int


class SymbolState:
    """The mutable state of one stock: today's statistics, the book's top and the last trade."""

    __slots__ = (
        "stock",
        "index",
        "prev_close",
        "open",
        "high",
        "low",
        "volume",
        "turnover",
        "bid",
        "ask",
        "last",
        "traded",
        "day_ts",
        "prev_bar",
        "depth",
        "mbar",
        "minutes",
        "start_bar",
    )

    def __init__(self, stock: Stock, index: int) -> None:
        self.stock = stock
        self.index = index
        self.prev_close = 0
        self.open = 0
        self.high = 0
        self.low = 0
        self.volume = 0
        self.turnover = 0
        self.bid = 0
        self.ask = 0
        self.last: Trade = Trade(stock.code, 0, 0, 0, 0, 0)
        self.traded = False  # traded since the market was created
        self.day_ts = 0
        self.prev_bar: Bar = Bar(0, 0, 0, 0, 0, 0, 0)
        self.depth = MAX_DEPTH  # levels this stock's book shows
        # the current minute's bar [minute, o, h, l, c, v, turnover] and the
        # closed ones before it, flat (MINUTE_FIELDS per bar), oldest first
        self.mbar: list[int] = [0, 0, 0, 0, 0, 0, 0]
        self.minutes: array[int] = array("q")
        self.start_bar: Bar = self.prev_bar  # the day so far when the market was made

    def minute_bars(self) -> list[tuple[int, ...]]:
        """Every kept minute bar, the current one last: (minute, o, h, l, c, v, turnover)."""
        m = self.minutes
        bars = [tuple(m[i : i + MINUTE_FIELDS]) for i in range(0, len(m), MINUTE_FIELDS)]
        if self.mbar[0]:
            bars.append(tuple(self.mbar))
        return bars

    def today_bar(self) -> Bar:
        return Bar(
            self.day_ts, self.open, self.high, self.low, self.last.price, self.volume, self.turnover
        )


def hk_midnight(ts_s: float) -> int:
    """Epoch seconds of midnight (Hong Kong time) of the day containing ``ts_s``."""
    return int((ts_s + HKT_OFFSET_S) // DAY_S * DAY_S - HKT_OFFSET_S)


def previous_weekday(day_ts: int) -> int:
    """Midnight (HKT) of the weekday before the day starting at ``day_ts``."""
    day = day_ts - DAY_S
    while _weekday(day) >= 5:
        day -= DAY_S
    return day


OPEN_S = 9 * 3600 + 30 * 60  # the continuous session's open, seconds into the HK day


def is_trading_day(cal: Calendar, day: int) -> bool:
    """HKEX trades on HK day number ``day``; outside the calendar's data, any weekday
    (asked without the calendar's warning: made-up history reaches years back)."""
    if cal.covers(day):
        return cal.is_trading_day(day)
    return (day + 3) % 7 < 5


def previous_trading_day(cal: Calendar, day_ts: int) -> int:
    """Midnight (HKT) of the trading day before the day starting at ``day_ts``."""
    day = (day_ts + HKT_OFFSET_S) // DAY_S - 1
    while not is_trading_day(cal, day):
        day -= 1
    return day * DAY_S - HKT_OFFSET_S


def latest_trading_day(cal: Calendar, now_ms: int) -> int:
    """Midnight (HKT) of the latest trading day whose 09:30 open is at or before ``now_ms``."""
    day = hk_day(now_ms)
    into_day_s = (now_ms // 1000 + HKT_OFFSET_S) % DAY_S
    if is_trading_day(cal, day) and into_day_s >= OPEN_S:
        return day * DAY_S - HKT_OFFSET_S
    return previous_trading_day(cal, day * DAY_S - HKT_OFFSET_S)


def _weekday(day_ts: int) -> int:
    # 1970-01-01 was a Thursday (weekday 3); shift to Hong Kong's calendar day.
    return ((day_ts + HKT_OFFSET_S) // DAY_S + 3) % 7


def _mix32(x: int) -> int:
    """A cheap 32-bit integer hash (deterministic book volumes without an RNG)."""
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x


class Market:
    """The simulated market.

    ``stocks`` is the universe (see :mod:`hkticks.server.simulated_stocks`); ``seed``
    makes the simulation reproducible (``None``: a different market each
    run); ``start_ms`` is the wall time the market opens at, used to place
    the initial "latest trades" and today's date.
    """

    def __init__(
        self,
        stocks: Sequence[Stock],
        *,
        seed: int | None = None,
        start_ms: int,
        calendar: Calendar | None = None,
    ) -> None:
        self._rng = random.Random(seed)
        self._salt = self._rng.getrandbits(32)
        self.start_ms = start_ms
        self.calendar = calendar or default_calendar()
        self.day_ts = latest_trading_day(self.calendar, start_ms)
        self._states: dict[str, SymbolState] = {}
        for i, stock in enumerate(stocks):
            self._states[stock.code] = self._initial_state(stock, i)
        self.symbols: tuple[str, ...] = tuple(self._states)
        self.active: tuple[str, ...] = tuple(
            s.code for s in stocks if not s.suspended and s.weight > 0
        )
        self._cum = list(accumulate(self._states[c].stock.weight for c in self.active))
        self.minutes_on = False  # see track_minutes()
        self.minutes_from_ms = start_ms  # live minute bars from here on

    # -- set-up -------------------------------------------------------------

    def _initial_state(self, stock: Stock, index: int) -> SymbolState:
        rng = self._rng
        st = SymbolState(stock, index)
        st.depth = MAX_DEPTH if stock.weight >= 0.5 else 6
        lot = stock.lot
        if stock.suspended:
            # Halted some days ago: the last trade, today's bar and the previous
            # bar all date from before the suspension.
            day = self.day_ts - DAY_S * rng.randint(4, 40)
            while not is_trading_day(self.calendar, (day + HKT_OFFSET_S) // DAY_S):
                day -= DAY_S
            st.day_ts = day
            close = stock.ref_price
            st.prev_close = snap(round(close * math.exp(rng.gauss(0, 0.03))))
            ts_ms = (day + 16 * 3600) * 1000  # the 16:00 close, Hong Kong time
        else:
            st.day_ts = self.day_ts
            day = self.day_ts
            st.prev_close = snap(round(stock.ref_price * math.exp(rng.gauss(0, 0.02))))
            close = 0
            ts_ms = self.start_ms - rng.randint(200, 60_000)
        prev_day = previous_trading_day(self.calendar, day)
        p_open = snap(round(st.prev_close * math.exp(rng.gauss(0, 0.01))))
        p_high = max(p_open, st.prev_close)
        p_low = min(p_open, st.prev_close)
        for _ in range(rng.randint(0, 6)):
            p_high = tick_up(p_high) if tick_up(p_high) <= MAX_PRICE else p_high
        for _ in range(rng.randint(0, 6)):
            p_low = tick_down(p_low) if tick_down(p_low) >= MIN_PRICE else p_low
        p_vol = lot * rng.randint(50, 5000) * max(1, round(stock.weight))
        st.prev_bar = Bar(
            prev_day,
            p_open,
            p_high,
            p_low,
            st.prev_close,
            p_vol,
            p_vol * ((p_high + p_low) // 2),
        )
        # Today so far: an open near the previous close and a short walk from it.
        st.open = snap(round(st.prev_close * math.exp(rng.gauss(0, 0.01))))
        st.bid = st.open
        st.high = st.low = st.open
        for _ in range(rng.randint(0, 12)):
            st.bid = self._step(st.bid, rng.random() < 0.5)
            st.high = max(st.high, st.bid)
            st.low = min(st.low, st.bid)
        st.ask = tick_up(st.bid)
        if st.ask > MAX_PRICE:
            st.bid, st.ask = tick_down(st.bid), st.bid
        price = close or (st.ask if rng.random() < 0.5 else st.bid)
        st.high = max(st.high, price)
        st.low = min(st.low, price)
        st.volume = lot * rng.randint(20, 4000) * max(1, round(stock.weight))
        st.turnover = st.volume * ((st.high + st.low) // 2)
        seq = rng.randrange(1_000_000, 90_000_000)
        st.last = Trade(stock.code, seq, ts_ms, price, lot * rng.randint(1, 20), rng.choice((1, 2)))
        st.start_bar = st.today_bar()
        return st

    @staticmethod
    def _step(price: int, up: bool) -> int:
        if up:
            nxt = tick_up(price)
            return nxt if nxt < MAX_PRICE else price
        nxt = tick_down(price)
        return nxt if nxt >= MIN_PRICE else price

    # -- minute bars ------------------------------------------------------------

    def track_minutes(self, now_ms: int | None = None) -> None:
        """Keep a minute bar of every trade from now on (for intraday klines); idempotent.

        Off until asked (the server asks at start, except in firehose mode), so
        that trade generation (the firehose's hot path) pays nothing for them
        otherwise. Only trades made from then on are kept here: the day before
        (``start_bar``) is spread over its session's minutes by
        :mod:`hkticks.server.klines`. Turned on late (``now_ms``), the day so
        far becomes that ``start_bar``: every trade is in exactly one minute.
        """
        if self.minutes_on:
            return
        self.minutes_on = True
        late = False
        if now_ms is not None and now_ms > self.start_ms:
            late = True
            self.minutes_from_ms = now_ms
        for st in self._states.values():
            st.mbar = [0, 0, 0, 0, 0, 0, 0]
            st.minutes = array("q")
            if late and st.day_ts == self.day_ts:
                st.start_bar = st.today_bar()

    # -- queries --------------------------------------------------------------

    def state(self, symbol: str) -> SymbolState:
        """The state of ``symbol`` (five-digit code); KeyError if unknown."""
        return self._states[symbol]

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._states

    def latest(self, symbol: str) -> Trade:
        """The latest trade of ``symbol`` (for suspended stocks: days old)."""
        return self._states[symbol].last

    def bars(self, symbol: str) -> tuple[Bar, Bar]:
        """(previous day's bar, the latest day's bar). Today's reflects trades so far."""
        st = self._states[symbol]
        return st.prev_bar, st.today_bar()

    def book(
        self, symbol: str, depth: int = MAX_DEPTH
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The order book now: (bids, asks), best first, ``depth`` levels at most.

        Volumes are whole board lots, derived from the symbol's last ``seq``
        so the same state always shows the same book.
        """
        st = self._states[symbol]
        depth = min(depth, st.depth)
        lot = st.stock.lot
        base = st.last.seq * 0x9E3779B1 + st.index * 0x85EBCA6B + self._salt
        bids: list[tuple[int, int]] = []
        price = st.bid
        for level in range(depth):
            if price < MIN_PRICE:
                break
            bids.append((price, lot * (1 + _mix32(base + level * 2) % (8 + 6 * level))))
            price = tick_down(price)
        asks: list[tuple[int, int]] = []
        price = st.ask
        for level in range(depth):
            if price > MAX_PRICE:
                break
            asks.append((price, lot * (1 + _mix32(base + level * 2 + 1) % (8 + 6 * level))))
            price = tick_up(price)
        return bids, asks

    # -- generation -------------------------------------------------------------

    def next_trade(self, symbol: str, now_ms: int) -> Trade | None:
        """Make the next trade of ``symbol`` at ``now_ms``; ``None`` if it is suspended."""
        st = self._states[symbol]
        if st.stock.suspended:
            return None
        rng = self._rng
        if rng.random() < _MOVE_P:
            self._move(st, rng)
        x = rng.random()
        if x < _BUY_P:
            direction, price = 1, st.ask
        elif x < _SELL_P:
            direction, price = 2, st.bid
        else:
            direction, price = 0, st.ask if x < 0.98 else st.bid
        lots = int(rng.paretovariate(1.3))
        volume = st.stock.lot * (lots if lots < _MAX_LOTS else _MAX_LOTS)
        last = st.last
        trade = Trade(
            st.stock.code,
            last.seq + 1,
            now_ms if now_ms > last.ts else last.ts,
            price,
            volume,
            direction,
        )
        st.last = trade
        st.traded = True
        if price > st.high:
            st.high = price
        if price < st.low:
            st.low = price
        st.volume += volume
        st.turnover += price * volume
        if not self.minutes_on:
            return trade
        mb = st.mbar
        minute = trade.ts // 60_000
        if mb[0] == minute:
            if price > mb[2]:
                mb[2] = price
            elif price < mb[3]:
                mb[3] = price
            mb[4] = price
            mb[5] += volume
            mb[6] += price * volume
        else:
            if mb[0]:
                kept = st.minutes
                kept.extend(mb)
                if len(kept) > 2 * MAX_MINUTE_BARS * MINUTE_FIELDS:
                    del kept[: len(kept) - MAX_MINUTE_BARS * MINUTE_FIELDS]
            st.mbar = [minute, price, price, price, price, volume, price * volume]
        return trade

    def _move(self, st: SymbolState, rng: random.Random) -> None:
        """Move the book one tick, biased back towards the previous close."""
        drift = math.log(st.bid / st.prev_close) * _REVERSION
        up_p = 0.5 - (0.35 if drift > 0.35 else -0.35 if drift < -0.35 else drift)
        if rng.random() < up_p:
            bid = tick_up(st.bid)
        else:
            bid = tick_down(st.bid)
        if bid < MIN_PRICE:
            return
        ask = tick_up(bid)
        if rng.random() < _WIDE_P:
            ask = tick_up(ask)
        if ask > MAX_PRICE:
            return
        st.bid, st.ask = bid, ask

    def pick(self, n: int) -> list[str]:
        """``n`` symbols drawn by activity weight (suspended stocks never drawn)."""
        if not self.active:
            return []
        return self._rng.choices(self.active, cum_weights=self._cum, k=n)

    def next_trades(self, n: int, now_ms: int) -> list[Trade]:
        """The next ``n`` trades across the whole market, skewed by activity weight."""
        out = []
        for symbol in self.pick(n):
            trade = self.next_trade(symbol, now_ms)
            if trade is not None:
                out.append(trade)
        return out

    def chooser(self, symbols: Sequence[str]) -> tuple[list[str], list[float]]:
        """The tradable subset of ``symbols`` and their cumulative weights, for :meth:`pick_from`."""
        live = [s for s in symbols if s in self._states and not self._states[s].stock.suspended]
        cum = list(accumulate(max(self._states[s].stock.weight, 0.01) for s in live))
        return live, cum

    def pick_from(self, live: list[str], cum: list[float], n: int) -> list[str]:
        """``n`` symbols from a :meth:`chooser` result, by activity weight."""
        if not live:
            return []
        return self._rng.choices(live, cum_weights=cum, k=n)
