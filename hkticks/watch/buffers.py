"""Bounded per-symbol buffers for the detail view: a day of 1-minute bars, the last trades.

Pure and single-threaded like the model: the app's loop hands the same
batches to :meth:`Buffers.apply`. Memory is bounded per symbol (at most
:data:`MAX_BARS` bars, :data:`MAX_TRADES` trades and one book), so a board
of the whole universe left open all day stays flat.

History from before the board started comes from AllTick's ``GET kline``
(1-minute bars) when the detail view opens: :meth:`Buffers.backfill` merges
them under the live minutes, never over them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hkticks.alltick.rest_frames import Bar
from hkticks.alltick.spec import KLINE_1MIN, KLINE_15MIN, KLINE_DAY
from hkticks.tick import Book, Tick

MAX_BARS = 24 * 60  # a day of 1-minute bars
MAX_TRADES = 500  # the tape keeps this many
MINUTE_MS = 60_000
CUMULATIVE_MIN_OTHERS = 3  # a first bar outweighing this many others is "the day so far"


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A detail-view timeframe: which ``kline`` bars, and how many trading days of them."""

    key: str
    kline_type: int
    days: int
    label: str


TIMEFRAMES: dict[str, Timeframe] = {
    "1D": Timeframe("1D", KLINE_1MIN, 1, "today, 1-minute bars"),
    "5D": Timeframe("5D", KLINE_15MIN, 5, "5 days, 15-minute bars"),
    "1M": Timeframe("1M", KLINE_DAY, 22, "1 month, daily bars"),
    "6M": Timeframe("6M", KLINE_DAY, 126, "6 months, daily bars"),
    "1Y": Timeframe("1Y", KLINE_DAY, 250, "1 year, daily bars"),
}


class MinuteBar:
    """One minute of trades (mutable while the minute is open)."""

    __slots__ = ("ts", "open", "high", "low", "close", "volume", "turnover")

    def __init__(self, ts: int, price: float, volume: int, turnover: float) -> None:
        self.ts = ts  # start of the minute, epoch ms
        self.open = self.high = self.low = self.close = price
        self.volume = volume
        self.turnover = turnover

    def add(self, price: float, volume: int, turnover: float) -> None:
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += volume
        self.turnover += turnover

    @classmethod
    def of(cls, bar: Bar) -> MinuteBar:
        m = cls(bar.ts - bar.ts % MINUTE_MS, bar.open, bar.volume, bar.turnover)
        m.high, m.low, m.close = bar.high, bar.low, bar.close
        return m

    def __repr__(self) -> str:
        return f"MinuteBar({self.ts}, o={self.open}, h={self.high}, l={self.low}, c={self.close}, v={self.volume})"


class SymbolBuffer:
    """One symbol's minutes, tape and latest book."""

    __slots__ = ("symbol", "bars", "trades", "book", "backfill", "klines", "dropped", "_max_bars")

    def __init__(self, symbol: str, max_bars: int = MAX_BARS, max_trades: int = MAX_TRADES) -> None:
        self.symbol = symbol
        self.bars: deque[MinuteBar] = deque(maxlen=max_bars)
        self.trades: deque[Tick] = deque(maxlen=max_trades)
        self.book: Book | None = None
        self.backfill = "none"  # none | loading | ok | unavailable  (today's 1-minute bars)
        # longer timeframes: kline_type -> (state, bars oldest first); fetched once each
        self.klines: dict[int, tuple[str, list[Bar]]] = {}
        self.dropped = 0  # fetched "minute" bars that held the day so far (not drawn)
        self._max_bars = max_bars

    def add_trade(self, t: Tick) -> None:
        self.trades.append(t)
        minute = t.ts - t.ts % MINUTE_MS
        bars = self.bars
        if bars:
            last = bars[-1]
            if last.ts == minute:
                last.add(t.price, t.volume, t.turnover)
                return
            if minute < last.ts:
                # a late trade: find its minute among the recent ones (never create out of order)
                for bar in reversed(bars):
                    if bar.ts == minute:
                        _add_late(bar, t)
                        return
                    if bar.ts < minute:
                        return
                return
        bars.append(MinuteBar(minute, t.price, t.volume, t.turnover))

    def merge_history(self, history: Sequence[Bar], *, day_volume: int | None = None) -> int:
        """Put fetched 1-minute bars under the live ones; returns the bars added.

        Minutes before the first live minute are taken as fetched. The first
        live minute (the board started inside it) keeps the fetched open and
        widens to the fetched range; its volume is the larger of the two.
        Minutes the board saw whole are left alone.
        """
        if not history:
            return 0
        live = list(self.bars)
        first_live = live[0].ts if live else None
        older: list[MinuteBar] = []
        history = self._without_cumulative(sorted(history, key=lambda b: b.ts), live, day_volume)
        for bar in history:
            m = MinuteBar.of(bar)
            if first_live is None or m.ts < first_live:
                if older and older[-1].ts == m.ts:
                    older[-1] = m
                else:
                    older.append(m)
            elif m.ts == first_live:
                head = live[0]
                head.open = m.open
                head.high = max(head.high, m.high)
                head.low = min(head.low, m.low)
                if m.volume > head.volume:
                    head.volume, head.turnover = m.volume, m.turnover
        merged = older + live
        self.bars = deque(merged[-self._max_bars :], maxlen=self._max_bars)
        return len(older)

    def _without_cumulative(
        self, history: list[Bar], live: list[MinuteBar], day_volume: int | None
    ) -> list[Bar]:
        """Drop a first fetched bar holding "the day so far": a server answering that as
        one bar would flatten the volume bars and drag the VWAP (counted in
        :attr:`dropped`; the view says so). It is one whose volume outweighs every other
        minute together, with enough others to tell, or -- not being the opening
        minute, whose auction can be most of an early day -- half the day's volume."""
        if not history:
            return history
        first = history[0]
        others = [b.volume for b in history[1:]] + [
            m.volume for m in live if m.ts != first.ts - first.ts % MINUTE_MS
        ]
        outweighs = first.volume > sum(others)
        enough = len(others) >= CUMULATIVE_MIN_OTHERS
        most_of_day = bool(day_volume) and first.volume * 2 >= (day_volume or 0)
        if outweighs and (enough or (most_of_day and not _opening_minute(first.ts))):
            self.dropped += 1
            return history[1:]
        return history

    def wants_history(self, timeframe: str) -> bool:
        """Whether ``timeframe``'s bars are still to fetch; marks them loading when so
        (each timeframe is fetched once; the caller fetches, then :meth:`take_history`)."""
        kline_type = TIMEFRAMES[timeframe].kline_type
        if kline_type == KLINE_1MIN:
            if self.backfill != "none":
                return False
            self.backfill = "loading"
            return True
        if kline_type in self.klines:
            return False
        self.set_klines(kline_type, "loading")
        return True

    def take_history(
        self, timeframe: str, bars: Sequence[Bar] | None, *, day_volume: int | None = None
    ) -> None:
        """The fetched bars of ``timeframe`` (``None``: none to be had, e.g. no ``kline``);
        ``day_volume`` (the day's so far) helps spot a bar holding the whole day."""
        kline_type = TIMEFRAMES[timeframe].kline_type
        if kline_type == KLINE_1MIN:
            if bars is None:
                self.backfill = "unavailable"
            else:
                self.merge_history(bars, day_volume=day_volume)
                self.backfill = "ok"
        else:
            self.set_klines(kline_type, "unavailable" if bars is None else "ok", bars or ())

    def set_klines(self, kline_type: int, state: str, bars: Sequence[Bar] = ()) -> None:
        """A longer timeframe's bars (``state`` loading | ok | unavailable)."""
        self.klines[kline_type] = (state, sorted(bars, key=lambda b: b.ts))

    def timeframe_bars(self, tf: Timeframe) -> list[MinuteBar]:
        """The bars a timeframe draws: today's minutes (1D), else the fetched bars of
        the last ``tf.days`` trading days, today's live minutes folded into the last."""
        if tf.kline_type == KLINE_1MIN:
            return list(self.bars)
        _state, fetched = self.klines.get(tf.kline_type, ("none", []))
        bars = [MinuteBar.of(b) for b in fetched]
        if tf.kline_type == KLINE_DAY:
            return bars[-tf.days :]
        days = sorted({_hk_day(b.ts) for b in bars})[-tf.days :]
        first = days[0] if days else 0
        return [b for b in bars if _hk_day(b.ts) >= first]

    # -- reading ------------------------------------------------------------

    def vwap(self) -> float | None:
        """Volume-weighted average price over the buffered minutes."""
        vol = sum(b.volume for b in self.bars)
        if not vol:
            return None
        return sum(b.turnover for b in self.bars) / vol

    def day_range(self) -> tuple[float, float] | None:
        if not self.bars:
            return None
        return min(b.low for b in self.bars), max(b.high for b in self.bars)


def _opening_minute(ts_ms: int) -> bool:
    """From the pre-open to 09:30 inclusive, Hong Kong time: the opening auction's minute."""
    minute = (ts_ms // MINUTE_MS + 8 * 60) % (24 * 60)
    return 9 * 60 <= minute <= 9 * 60 + 30


def _hk_day(ts_ms: int) -> int:
    """Days since the epoch in Hong Kong time (UTC+8, no DST)."""
    return (ts_ms + 8 * 3_600_000) // 86_400_000


def _add_late(bar: MinuteBar, t: Tick) -> None:
    """A late trade updates range and volume, not the close."""
    bar.high = max(bar.high, t.price)
    bar.low = min(bar.low, t.price)
    bar.volume += t.volume
    bar.turnover += t.turnover


class Buffers:
    """Every board symbol's :class:`SymbolBuffer`, made on first use."""

    def __init__(
        self,
        symbols: Iterable[str],
        *,
        max_bars: int = MAX_BARS,
        max_trades: int = MAX_TRADES,
    ) -> None:
        self.wanted = frozenset(symbols)
        self.max_bars = max_bars
        self.max_trades = max_trades
        self._by_symbol: dict[str, SymbolBuffer] = {}

    def get(self, symbol: str) -> SymbolBuffer:
        buf = self._by_symbol.get(symbol)
        if buf is None:
            buf = self._by_symbol[symbol] = SymbolBuffer(symbol, self.max_bars, self.max_trades)
        return buf

    def apply(self, items: Iterable[Any]) -> None:
        wanted = self.wanted
        by_symbol = self._by_symbol
        for item in items:
            cls = type(item)
            if cls is Tick:
                sym = item.symbol
                if sym not in wanted:
                    continue
                buf = by_symbol.get(sym)
                if buf is None:
                    buf = self.get(sym)
                buf.add_trade(item)
            elif cls is Book:
                if item.symbol in wanted:
                    self.get(item.symbol).book = item

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    def __len__(self) -> int:
        return len(self._by_symbol)
