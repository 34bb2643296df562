"""De-duplication of trades re-sent by the provider.

Not a timing rule: it sits beside the session because every connection's
read loop asks it, once per trade, whether that trade is new.

AllTick's ``seq`` increases per symbol within a trading day, and a server
re-sends the latest trade of each symbol after a (re)subscribe. A trade's
identity is (symbol, trading day, seq): the trading day is the Hong Kong
date of its exchange time (:func:`trading_day`), and PostgreSQL's unique key
uses the same identity. The rules, per symbol, for a trade with a seq
(``last`` is the highest seq kept since the last reset), in this order:

0. a trade of a later trading day than ``last``'s starts the symbol over
   (a *new day*: seq restarts), unless it is ``last`` re-sent with a fresh
   time right after a resubscribe; a trade of an earlier day is an old
   trade re-sent: a duplicate;
1. a seq below ``last`` with a later exchange time is a *sequence reset*
   (a provider restart) when it comes right after a resubscribe or at least
   :data:`RESET_GAP_MS` after ``last``'s time: new, and the symbol starts
   over from it. This is decided before the window of rule 2, which holds
   the old sequence's seqs: the new sequence's first trades are not
   mistaken for them;
2. a seq kept recently (``last`` itself, any seq kept within
   :data:`SEQ_WINDOW` below it, or one of the last :data:`RECENT` trades kept
   out of order) is a duplicate, whatever time it carries;
3. a seq above ``last`` is new;
4. a seq below ``last`` but within :data:`SEQ_WINDOW` of it, not kept
   before, is a late trade: new (``last`` stays);
5. otherwise, with a later time, it is one trade out of order: new, kept in
   the window of rule 2, and ``last`` is not forgotten (so a later re-send
   of ``last`` is still a duplicate);
6. otherwise (lower seq, not later) an old trade re-sent: a duplicate.

Trades without seq are compared by (ts, price, volume) with the last
:data:`NOSEQ_RECENT` such trades of the symbol, for :data:`NOSEQ_WINDOW_S`
seconds after each resubscribe (when the re-sent latest trade arrives);
outside that window they always pass (two equal trades in one millisecond
are real).

Symbols never span two connections, so sessions share one instance and its
per-symbol state needs no lock; only the shared counters take one (rarely).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

HKT_OFFSET_MS = 8 * 3600 * 1000
DAY_MS = 86_400_000
SEQ_WINDOW = 64
RECENT = 32
RESET_GAP_MS = 5 * 60 * 1000
NOSEQ_RECENT = 64
NOSEQ_WINDOW_S = 5.0


def trading_day(ts_ms: int) -> int:
    """The trading day of an exchange time: days since 1970-01-01, Hong Kong date."""
    return (ts_ms + HKT_OFFSET_MS) // DAY_MS


def trade_identity(symbol: str, seq: int, ts_ms: int) -> tuple[str, int, int]:
    """What makes a trade with a seq the same trade: (symbol, trading day, seq)."""
    return symbol, trading_day(ts_ms), seq


class _Symbol:
    __slots__ = ("day", "last", "last_ts", "nearby", "noseq", "out_of_order", "resub", "resub_at")

    def __init__(self, seq: int, ts: int) -> None:
        self.last = seq
        self.last_ts = ts
        self.day = trading_day(ts)
        self.nearby: set[int] = {seq}
        self.out_of_order: deque[int] = deque(maxlen=RECENT)
        self.resub = False
        self.resub_at = -1e18
        self.noseq: deque[tuple[int, float, int]] = deque(maxlen=NOSEQ_RECENT)

    def advance(self, seq: int, ts: int) -> None:
        self.last = seq
        self.last_ts = ts
        self.day = trading_day(ts)
        nearby = self.nearby
        nearby.add(seq)
        if len(nearby) > 2 * SEQ_WINDOW:
            floor = seq - SEQ_WINDOW
            self.nearby = {s for s in nearby if s > floor}


class Dedup:
    """Drops trades already seen (see the module docstring for the rules)."""

    __slots__ = (
        "_clock",
        "_count_lock",
        "_noseq_only",
        "_state",
        "duplicates",
        "out_of_order",
        "resets",
    )

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._state: dict[str, _Symbol] = {}
        self._noseq_only: dict[str, _Symbol] = {}
        self._clock = clock
        self.duplicates = 0
        self.resets = 0
        self.out_of_order = 0
        # sessions share the counters; the lock is only taken on the rare paths
        self._count_lock = threading.Lock()

    def is_new(
        self,
        symbol: str,
        seq: int | None,
        ts: int,
        price: float | None = None,
        volume: int | None = None,
    ) -> bool:
        if seq is None:
            return self._noseq_is_new(symbol, ts, price, volume)
        st = self._state.get(symbol)
        if st is None:
            self._state[symbol] = _Symbol(seq, ts)
            return True
        verdict = self._admit(st, seq, ts)
        st.resub = False
        if verdict == "duplicate":
            with self._count_lock:
                self.duplicates += 1
            return False
        if verdict == "reset":
            with self._count_lock:
                self.resets += 1
        elif verdict == "out_of_order":
            with self._count_lock:
                self.out_of_order += 1
        return True

    def _admit(self, st: _Symbol, seq: int, ts: int) -> str:
        last = st.last
        day = trading_day(ts)
        if day != st.day:  # rule 0: the identity includes the trading day
            if day < st.day or (seq == last and st.resub):
                return "duplicate"
            self._start_over(st, seq, ts)
            return "reset"
        if (
            seq < last
            and ts > st.last_ts
            and (st.resub or ts - st.last_ts >= RESET_GAP_MS)
            and seq not in st.out_of_order
        ):
            self._start_over(st, seq, ts)  # rule 1, before the window of the old sequence
            return "reset"
        if seq > last:
            st.advance(seq, ts)
            return "new"
        if seq in st.nearby or seq in st.out_of_order:
            return "duplicate"
        if seq > last - SEQ_WINDOW:
            st.nearby.add(seq)
            return "late"
        if ts > st.last_ts:
            st.out_of_order.append(seq)
            return "out_of_order"
        return "duplicate"

    @staticmethod
    def _start_over(st: _Symbol, seq: int, ts: int) -> None:
        st.last, st.last_ts, st.day = seq, ts, trading_day(ts)
        st.nearby = {seq}
        st.out_of_order.clear()

    def _noseq_is_new(self, symbol: str, ts: int, price: float | None, volume: int | None) -> bool:
        st = self._state.get(symbol) or self._noseq_only.get(symbol)
        if st is None:
            st = self._noseq_only[symbol] = _Symbol(-(1 << 62), ts)
        key = (ts, price if price is not None else float("nan"), volume or 0)
        if price is not None and self._clock() - st.resub_at <= NOSEQ_WINDOW_S and key in st.noseq:
            with self._count_lock:
                self.duplicates += 1
            return False
        st.noseq.append(key)
        return True

    def resubscribed(self, symbols: Iterable[str]) -> None:
        """The connection serving ``symbols`` has just (re)subscribed them."""
        now = self._clock()
        for symbol in symbols:
            for table in (self._state, self._noseq_only):
                st = table.get(symbol)
                if st is not None:
                    st.resub = True
                    st.resub_at = now

    def seed(self, symbol: str, seq: int, ts: int) -> None:
        """Remember a trade already recorded (the tail of a file being appended to).

        Call it in file order for the last few trades of a symbol: the same
        rules apply, so a reset or an out-of-order trade in the file is
        understood as it was when recorded.
        """
        st = self._state.get(symbol)
        if st is None:
            self._state[symbol] = _Symbol(seq, ts)
            return
        st.resub = False
        self._admit(st, seq, ts)
