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
from typing import Any

from hkticks.alltick.protocol import Bar
from hkticks.tick import Book, Tick

MAX_BARS = 24 * 60  # a day of 1-minute bars
MAX_TRADES = 500  # the tape keeps this many
MINUTE_MS = 60_000


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

    __slots__ = ("symbol", "bars", "trades", "book", "backfill", "_max_bars")

    def __init__(self, symbol: str, max_bars: int = MAX_BARS, max_trades: int = MAX_TRADES) -> None:
        self.symbol = symbol
        self.bars: deque[MinuteBar] = deque(maxlen=max_bars)
        self.trades: deque[Tick] = deque(maxlen=max_trades)
        self.book: Book | None = None
        self.backfill = "none"  # none | loading | ok | unavailable
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

    def merge_history(self, history: Sequence[Bar]) -> int:
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
        for bar in sorted(history, key=lambda b: b.ts):
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
