"""The quote board's model: per-symbol state built from the feed's items.

Pure and single-threaded: the main loop drains the queue and hands batches of
:class:`~hkticks.tick.Tick`, :class:`~hkticks.tick.Book` and
:class:`~hkticks.tick.Event` (plus the reference data fetched over REST) to
:meth:`WatchModel.apply`, passing the wall-clock time. Nothing here reads a
clock, a socket or the terminal, so every behaviour is testable by feeding
values in.

The model keeps what a trader reads off a board: last price and its change
against a baseline (the previous close from the REST daily bars, or the first
trade seen when those are missing), the last trade's size and side, what was
seen since the board started, the day's range, and the top of the book.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hkticks.alltick.rest_frames import Bar
from hkticks.alltick.spec import is_simulated_src
from hkticks.market_hours import hk_clock
from hkticks.tick import Book, Event, Tick

UP = 1
DOWN = -1
FLAT = 0

SORT_KEYS = ("given", "code", "change", "volume", "active")
SORT_LABELS = {
    "given": "list order",
    "code": "code",
    "change": "change %",
    "volume": "volume",
    "active": "most trades",
}

BASELINE_CLOSE = "close"
BASELINE_FIRST = "first"

FLASH_S = 1.0  # how long a price cell stays highlighted (fading) after a price change
TICK_S = 0.3  # how long a same-price trade shows its subtle tick mark
RATE_WINDOW_S = 5.0  # ticks/s is averaged over this window
STALE_MSG_AGE_S = 30.0  # an "up" connection silent this long shows amber
MAX_NOTES = 3


@dataclass(frozen=True, slots=True)
class DayStats:
    """Reference data for one symbol from the REST daily bars.

    ``prev_close`` is the previous session's close (the change baseline);
    ``open``/``high``/``low``/``close``/``volume`` are today's so far,
    ``None`` before today's bar exists (e.g. before the open).
    """

    prev_close: float | None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    volume: int | None = None
    close: float | None = None
    turnover: float | None = None


def day_stats(bars: Sequence[Bar], now_s: float) -> DayStats:
    """Previous close and today's bar from daily bars (oldest first).

    The last bar is today's when its Hong Kong date is today; then the one
    before it holds the previous close. Otherwise (before the open, weekends)
    the last bar *is* the previous session and there is no bar for today.
    """
    if not bars:
        return DayStats(None)
    today = hk_clock(now_s)[0]
    last = bars[-1]
    if hk_clock(last.ts / 1000.0)[0] >= today:
        prev = bars[-2].close if len(bars) >= 2 else None
        return DayStats(
            prev, last.open, last.high, last.low, last.volume, last.close, last.turnover
        )
    return DayStats(last.close)


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """Queue item carrying what the REST thread fetched.

    ``stats`` maps symbols to their :class:`DayStats`; ``names`` maps symbols
    to ``(english, chinese)``; ``error`` is a one-line reason when a fetch
    failed (the board then measures change from the first trade seen).
    """

    stats: Mapping[str, DayStats] = field(default_factory=dict)
    names: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    error: str | None = None
    kind: str = "bars"  # "bars", "names" or "shares": which fetch this answers
    shares: Mapping[str, float] = field(default_factory=dict)  # hk_shares (static_info)


class Row:
    """One symbol's state. A plain slotted class: it is updated per trade."""

    __slots__ = (
        "code",
        "index",
        "name_en",
        "name_cn",
        "last",
        "last_ts",
        "last_size",
        "last_side",
        "tick_dir",
        "first_price",
        "prev_close",
        "open",
        "high",
        "low",
        "day_close",
        "bar_volume",
        "volume_at_bar",
        "bar_turnover",
        "turnover_at_bar",
        "hk_shares",
        "trades",
        "volume",
        "turnover",
        "bid",
        "bid_size",
        "ask",
        "ask_size",
        "flash_until",
        "tick_until",
        "rejected",
    )

    def __init__(self, code: str, index: int) -> None:
        self.code = code
        self.index = index
        self.name_en = ""
        self.name_cn = ""
        self.last: float | None = None
        self.last_ts = 0  # exchange time of the last trade, epoch ms
        self.last_size = 0
        self.last_side: str | None = None
        self.tick_dir = FLAT  # last trade against the one before
        self.first_price: float | None = None
        self.prev_close: float | None = None
        self.open: float | None = None
        self.high: float | None = None
        self.low: float | None = None
        self.day_close: float | None = None  # today's daily bar's close (before our first trade)
        self.bar_volume: int | None = None
        self.volume_at_bar = 0  # volume seen when the bar arrived (avoids double counting)
        self.bar_turnover: float | None = None
        self.turnover_at_bar = 0.0
        self.hk_shares: float | None = None  # static_info's HK shares (the heatmap's market cap)
        self.trades = 0
        self.volume = 0
        self.turnover = 0.0
        self.bid: float | None = None
        self.bid_size = 0
        self.ask: float | None = None
        self.ask_size = 0
        self.flash_until = 0.0  # set only when the price changes (fades out by then)
        self.tick_until = 0.0  # any trade: a subtle mark, also for same-price trades
        self.rejected: str | None = None  # why the server refused this code, if it did

    @property
    def baseline(self) -> float | None:
        """The price the change is measured from."""
        return self.prev_close if self.prev_close else self.first_price

    @property
    def baseline_kind(self) -> str | None:
        if self.prev_close:
            return BASELINE_CLOSE
        if self.first_price is not None:
            return BASELINE_FIRST
        return None

    @property
    def change(self) -> float | None:
        base = self.baseline
        if self.last is None or not base:
            return None
        return self.last - base

    @property
    def change_pct(self) -> float | None:
        base = self.baseline
        if self.last is None or not base:
            return None
        return (self.last - base) / base * 100.0

    @property
    def day_volume(self) -> int:
        """Today's volume: the bar's, plus what traded since the bar was fetched."""
        if self.bar_volume is None:
            return self.volume
        return self.bar_volume + self.volume - self.volume_at_bar

    @property
    def day_turnover(self) -> float:
        """Today's turnover: the daily bar's, plus what traded since; else what was seen."""
        if self.bar_turnover is None:
            return self.turnover
        return self.bar_turnover + self.turnover - self.turnover_at_bar

    def name(self, lang: str = "en") -> str:
        if lang == "cn":
            return self.name_cn or self.name_en
        return self.name_en or self.name_cn


@dataclass(slots=True)
class ConnState:
    """One connection as the header shows it."""

    shard: int
    state: str = "connecting"  # connecting | up | backoff | stale | stopped | failed | done
    reconnects: int = 0
    symbols: int = 0
    last_msg_age: float | None = None

    @property
    def health(self) -> str:
        """``"green"``, ``"amber"`` or ``"red"`` for the indicator."""
        if self.state in ("failed", "stopped"):
            return "red"
        if self.state == "done":  # a replay played to its end
            return "green"
        if self.state == "up":
            if self.last_msg_age is not None and self.last_msg_age > STALE_MSG_AGE_S:
                return "amber"
            return "green"
        return "amber"


_EVENT_STATE = {
    "connecting": "connecting",
    "connected": "up",
    "subscribed": "up",
    "disconnected": "backoff",
    "reconnecting": "backoff",
    "stale": "stale",
    "fatal": "failed",
}

# Events worth a line in the footer (routine ones are shown by the indicator only).
_NOTABLE = {"disconnected", "reconnecting", "stale", "error", "fatal", "warning"}


def describe_event(event: Event) -> str:
    """A short human line for an event: ``conn 1 disconnected: connection reset``."""
    d = event.details
    who = "feed" if event.shard is None else f"conn {event.shard}"
    name = event.event
    if name == "disconnected":
        text = f"{who} disconnected: {d.get('reason', 'connection closed')}"
    elif name == "reconnecting":
        delay = d.get("delay_s")
        text = f"{who} reconnecting" + (f" in {float(delay):.1f}s" if delay is not None else "")
    elif name == "stale":
        silent = d.get("silent_s")
        text = f"{who} stale" + (
            f": nothing for {float(silent):.0f}s" if silent is not None else ""
        )
    elif name == "error" and "ret" in d:
        text = f"{who}: server answered ret {d['ret']} ({d.get('msg') or 'no message'})"
        codes = d.get("codes")
        if codes:
            text += ": " + ", ".join(str(c) for c in codes[:5])
            if len(codes) > 5:
                text += f" and {len(codes) - 5} more"
    elif name == "error" and "http_status" in d:
        text = f"{who}: handshake refused with HTTP {d['http_status']}"
    elif name in ("fatal", "warning") and ("reason" in d or "message" in d):
        text = str(d.get("reason") or d.get("message"))
    else:
        parts = [
            f"{k} {v}"
            for k, v in d.items()
            if k not in ("token", "url") and not isinstance(v, dict)
        ][:3]
        text = f"{who} {name}" + (": " + ", ".join(parts) if parts else "")
    return text[:200]


class WatchModel:
    """All symbols' rows plus connection state, counters and notes."""

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        names: Mapping[str, tuple[str, str]] | None = None,
        sort: str = "given",
        book: bool = False,
        flash_s: float = FLASH_S,
        started: float = 0.0,
    ) -> None:
        if sort not in SORT_KEYS:
            raise ValueError(f"sort must be one of {SORT_KEYS}, not {sort!r}")
        self.rows: dict[str, Row] = {}
        for code in symbols:
            if code not in self.rows:
                self.rows[code] = Row(code, len(self.rows))
        self._given = list(self.rows.values())
        self._by_code = sorted(self._given, key=lambda r: r.code)
        self.sort = sort
        self.book = book
        self.flash_s = flash_s
        self.tick_s = TICK_S * flash_s / FLASH_S
        self.started = started
        self.connections: dict[int, ConnState] = {}
        self.notes: deque[tuple[float, str]] = deque(maxlen=MAX_NOTES)
        self.reference = "loading"  # loading | ok | partial | unavailable
        self.reference_error: str | None = None
        self.shares = "none"  # none | loading | ok | unavailable: hk_shares for the heatmap
        self.trades = 0
        self.volume = 0
        self.turnover = 0.0
        self.books = 0
        self.ignored = 0  # items for symbols not on the board
        self.dropped = 0
        self.queue_depth = 0
        self.decode_errors = 0
        self.traded = 0  # symbols with at least one trade
        # simulated data (a demo or a simulated server): the board must say DEMO
        self.simulated = False
        self.dirty = True
        self._tick_until = 0.0
        self._rate: deque[tuple[float, int]] = deque()
        if names:
            self.set_names(names)

    # -- updates -------------------------------------------------------------

    def apply(self, items: Iterable[Any], now: float) -> int:
        """Apply a batch of queue items at wall time ``now``; returns trades applied."""
        n = 0
        rows = self.rows
        flash_until = now + self.flash_s
        self._tick_until = now + self.tick_s
        for item in items:
            cls = type(item)
            if cls is Tick:
                row = rows.get(item.symbol)
                if row is None:
                    self.ignored += 1
                    continue
                self._trade(row, item, flash_until)
                n += 1
                if not self.simulated and is_simulated_src(item.src):
                    self.simulated = True
            elif cls is Book:
                self._book(item)
            elif cls is Event:
                self.on_event(item, now)
            elif cls is ReferenceData:
                self.on_reference(item, now)
        if n:
            self.trades += n
            self._rate.append((now, n))
            self.dirty = True
        return n

    def _trade(self, row: Row, t: Tick, flash_until: float) -> None:
        price = t.price
        prev = row.last
        if prev is None:
            row.first_price = price
            self.traded += 1
            row.tick_dir = FLAT
        elif t.ts < row.last_ts:
            # a late trade (e.g. resent after a reconnect): count it, keep the newer last price
            row.trades += 1
            row.volume += t.volume
            row.turnover += t.turnover
            self.volume += t.volume
            self.turnover += t.turnover
            self._range(row, price)
            return
        else:
            row.tick_dir = UP if price > prev else DOWN if price < prev else FLAT
        if prev is not None and price != prev:
            row.flash_until = flash_until  # only a price change flashes
        row.tick_until = self._tick_until
        row.last = price
        row.last_ts = t.ts
        row.last_size = t.volume
        row.last_side = t.side
        row.trades += 1
        row.volume += t.volume
        row.turnover += t.turnover
        self.volume += t.volume
        self.turnover += t.turnover
        self._range(row, price)

    @staticmethod
    def _range(row: Row, price: float) -> None:
        if row.high is None or price > row.high:
            row.high = price
        if row.low is None or price < row.low:
            row.low = price

    def _book(self, b: Book) -> None:
        row = self.rows.get(b.symbol)
        if row is None:
            self.ignored += 1
            return
        self.books += 1
        if b.bids:
            row.bid, row.bid_size = b.bids[0]
        else:
            row.bid, row.bid_size = None, 0
        if b.asks:
            row.ask, row.ask_size = b.asks[0]
        else:
            row.ask, row.ask_size = None, 0
        self.dirty = True

    def on_event(self, event: Event, now: float) -> None:
        """Track a session event: connection state, reconnect count, footer note."""
        if event.details.get("simulated") is True:  # feed_start under --demo, or the handshake
            self.simulated = True
        if event.shard is not None:
            conn = self.connections.get(event.shard)
            if conn is None:
                conn = self.connections[event.shard] = ConnState(event.shard)
            state = _EVENT_STATE.get(event.event)
            if state is not None:
                conn.state = state
            if event.event == "reconnecting":
                conn.reconnects += 1
            if event.event in ("connected", "subscribed"):
                conn.last_msg_age = 0.0
        if event.event == "error" and event.details.get("codes"):
            why = str(event.details.get("msg") or f"ret {event.details.get('ret')}")
            for code in event.details["codes"]:
                row = self.rows.get(code) if isinstance(code, str) else None
                if row is not None:
                    row.rejected = why
        if event.event in _NOTABLE:
            self.notes.append((now, describe_event(event)))
        self.dirty = True

    def on_reference(self, ref: ReferenceData, now: float) -> None:
        """Fill in names or previous close and the day's bar from the REST thread."""
        if ref.names:
            self.set_names(ref.names)
        for code, shares in ref.shares.items():
            row = self.rows.get(code)
            if row is not None:
                row.hk_shares = shares
        if ref.kind == "shares":
            self.shares = "unavailable" if ref.error else "ok"
        if ref.kind == "bars":
            if ref.error:
                self.reference = "unavailable"
                self.reference_error = ref.error
            for code, stats in ref.stats.items():
                row = self.rows.get(code)
                if row is not None:
                    self.set_day_stats(row, stats)
            if not ref.error:
                missing = sum(1 for r in self._given if not r.prev_close)
                self.reference = "partial" if missing else "ok"
        elif ref.error and ref.kind == "shares":
            self.notes.append((now, f"market caps unavailable: {ref.error}"))
        elif ref.error and not self.reference_error:
            self.notes.append((now, f"names unavailable: {ref.error}"))
        self.dirty = True

    def set_day_stats(self, row: Row, stats: DayStats) -> None:
        row.prev_close = stats.prev_close or None
        if stats.open is not None:
            row.open = stats.open
        if stats.high is not None:
            row.high = stats.high if row.high is None else max(row.high, stats.high)
        if stats.low is not None:
            row.low = stats.low if row.low is None else min(row.low, stats.low)
        row.day_close = stats.close
        if stats.volume is not None:
            row.bar_volume = stats.volume
            row.volume_at_bar = row.volume
        else:
            row.bar_volume = None
        if stats.turnover is not None and stats.volume is not None:
            row.bar_turnover = stats.turnover
            row.turnover_at_bar = row.turnover
        else:
            row.bar_turnover = None

    def set_names(self, names: Mapping[str, tuple[str, str]]) -> None:
        for code, (en, cn) in names.items():
            row = self.rows.get(code)
            if row is not None:
                row.name_en = en or row.name_en
                row.name_cn = cn or row.name_cn
        self.dirty = True

    def set_status(
        self,
        connections: Iterable[Any],
        *,
        dropped: int = 0,
        queue_depth: int = 0,
        decode_errors: int = 0,
    ) -> None:
        """Take the feed's authoritative view of its connections and counters.

        ``connections`` are objects with ``shard``, ``state``, ``reconnects``,
        ``symbols`` and ``last_msg_age`` (the feed's ``ConnStatus``).
        """
        changed = False
        for c in connections:
            conn = self.connections.get(c.shard)
            if conn is None:
                conn = self.connections[c.shard] = ConnState(c.shard)
                changed = True
            before = (conn.state, conn.reconnects, conn.health)
            conn.state = c.state
            conn.reconnects = c.reconnects
            conn.symbols = c.symbols
            conn.last_msg_age = c.last_msg_age
            if (conn.state, conn.reconnects, conn.health) != before:
                changed = True
        if (dropped, decode_errors) != (self.dropped, self.decode_errors):
            changed = True
        self.dropped = dropped
        self.queue_depth = queue_depth
        self.decode_errors = decode_errors
        if changed:
            self.dirty = True

    # -- reading -------------------------------------------------------------

    @property
    def reconnects(self) -> int:
        return sum(c.reconnects for c in self.connections.values())

    def rate(self, now: float) -> float:
        """Trades per second over the last few seconds."""
        window = self._rate
        cutoff = now - RATE_WINDOW_S
        while window and window[0][0] <= cutoff:
            window.popleft()
        if not window:
            return 0.0
        span = min(RATE_WINDOW_S, max(now - self.started, 1.0))
        return sum(n for _, n in window) / span

    def baseline_summary(self) -> str:
        """Which baseline the traded rows use: ``"close"``, ``"first"``, ``"mixed"``."""
        kinds = {r.baseline_kind for r in self._given if r.last is not None}
        kinds.discard(None)
        if not kinds:
            return BASELINE_FIRST if self.reference == "unavailable" else BASELINE_CLOSE
        if len(kinds) == 1:
            return kinds.pop()  # type: ignore[return-value]
        return "mixed"

    def ordered(self, limit: int | None = None) -> list[Row]:
        """Rows in the board's sort order, at most ``limit`` of them."""
        sort = self.sort
        if sort == "given":
            rows = self._given
        elif sort == "code":
            rows = self._by_code
        elif sort == "change":
            rows = sorted(self._given, key=_change_key)
        elif sort == "volume":
            rows = sorted(self._given, key=lambda r: (-r.day_volume, r.index))
        else:  # active
            rows = sorted(self._given, key=lambda r: (-r.trades, -r.last_ts, r.index))
        return rows if limit is None else rows[:limit]

    def __len__(self) -> int:
        return len(self.rows)


def _change_key(row: Row) -> tuple[int, float, int]:
    pct = row.change_pct
    if pct is None:
        return (1, 0.0, row.index)
    return (0, -pct, row.index)
