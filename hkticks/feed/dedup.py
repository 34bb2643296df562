"""De-duplication of trades re-sent by the provider (by symbol and seq).

Not a timing rule: it sits beside the session because every connection's
read loop asks it, once per trade, whether that trade is new.
"""

from __future__ import annotations

import threading


class Dedup:
    """Drops trades already seen, by (symbol, seq).

    AllTick's ``seq`` increases per symbol, and a server may re-send the
    latest trade of each symbol after a (re)subscribe. A trade whose seq is
    not above the last one kept is a duplicate, except a strictly lower seq
    with a later exchange time: that is a sequence reset (a new trading day,
    a provider restart) and is kept. The same seq is always the same trade,
    whatever time it carries. Trades without seq pass through. Symbols never
    span two connections, so sessions share one instance and its per-symbol
    state needs no lock; only the shared counters take one (rarely).
    """

    __slots__ = ("_count_lock", "_last", "duplicates", "resets")

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int]] = {}
        self.duplicates = 0
        self.resets = 0
        # sessions share the counters; the lock is only taken on the rare paths
        self._count_lock = threading.Lock()

    def is_new(self, symbol: str, seq: int | None, ts: int) -> bool:
        if seq is None:
            return True
        prev = self._last.get(symbol)
        if prev is not None and seq <= prev[0]:
            if seq == prev[0] or ts <= prev[1]:
                with self._count_lock:
                    self.duplicates += 1
                return False
            with self._count_lock:
                self.resets += 1
        self._last[symbol] = (seq, ts)
        return True

    def seed(self, symbol: str, seq: int, ts: int) -> None:
        """Remember a trade already recorded (e.g. the tail of a file being appended to)."""
        prev = self._last.get(symbol)
        if prev is None or seq > prev[0]:
            self._last[symbol] = (seq, ts)
