"""Timing rules as small, pure-ish objects: reconnect backoff, request pacing
and connection spacing.

They hold state but do no I/O and take the current time as an argument
(except :meth:`ConnectGate.wait_turn`, which sleeps), so tests drive them
with a fake clock.
"""

from __future__ import annotations

import random
import threading
import time


class Backoff:
    """Exponential backoff with full jitter, capped.

    ``delay()`` is uniform in ``[0, min(cap, initial * 2**attempt)]`` and
    grows ``attempt``; ``floor`` raises the minimum for the next delay (605/606
    answers ask for at least 10 s). :meth:`reset` is called only once data
    flows again after a reconnect, not on connect, so a server that accepts
    and drops at once cannot cause a reconnect storm.
    """

    def __init__(
        self,
        initial: float = 0.5,
        cap: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or cap < initial:
            raise ValueError("need 0 < initial <= cap")
        self.initial = initial
        self.cap = cap
        self.attempt = 0
        self._floor = 0.0
        self._rng = rng or random.Random()

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        return min(self.cap, self.initial * (2 ** min(self.attempt, 32)))

    def delay(self) -> float:
        upper = self.ceiling()
        d = self._rng.uniform(0.0, upper)
        if self._floor:
            d = max(d, self._floor)
            self._floor = 0.0
        self.attempt += 1
        return d

    def at_least(self, seconds: float) -> None:
        """The next delay will be at least ``seconds``."""
        self._floor = max(self._floor, seconds)

    def reset(self) -> None:
        """Data flows again: start over from ``initial``, no floor."""
        self.attempt = 0
        self._floor = 0.0

    def clear_floor(self) -> None:
        """The rate-limit episode is over (a request was accepted): no floor."""
        self._floor = 0.0


class Pacer:
    """AllTick's request pacing, shared by all connections of one token.

    At most one request per ``request_spacing`` seconds on a connection, and
    ``connection_spacing`` seconds between requests on different
    connections. Heartbeats pass ``cross=False``: they keep the per-connection
    spacing but not the cross-connection one (ten connections could not
    otherwise each heart-beat every 10 s).
    """

    def __init__(self, request_spacing: float = 1.0, connection_spacing: float = 3.0) -> None:
        self.request_spacing = request_spacing
        self.connection_spacing = connection_spacing
        self._last_on: dict[int, float] = {}
        self._last_conn: int | None = None
        self._last_time = float("-inf")
        self._lock = threading.Lock()

    def ready(self, conn: int, now: float, *, cross: bool = True) -> bool:
        if now - self._last_on.get(conn, float("-inf")) < self.request_spacing:
            return False
        if (
            cross
            and self._last_conn is not None
            and self._last_conn != conn
            and now - self._last_time < self.connection_spacing
        ):
            return False
        return True

    def try_acquire(self, conn: int, now: float, *, cross: bool = True) -> bool:
        """Take the slot if a request on ``conn`` may go at ``now``."""
        with self._lock:
            if not self.ready(conn, now, cross=cross):
                return False
            self._last_on[conn] = now
            if cross:
                self._last_conn = conn
                self._last_time = now
            return True

    def forget(self, conn: int) -> None:
        """A new connection starts with no per-connection history."""
        with self._lock:
            self._last_on.pop(conn, None)


class ConnectGate:
    """Spaces connection opens ``spacing`` seconds apart (across all sessions)."""

    def __init__(self, spacing: float = 3.0) -> None:
        self.spacing = spacing
        self._next = float("-inf")
        self._lock = threading.Lock()

    def reserve(self, now: float) -> float:
        """Reserve the next slot at or after ``now``; returns its time."""
        with self._lock:
            slot = max(now, self._next)
            self._next = slot + self.spacing
            return slot

    def wait_turn(self, stop: threading.Event) -> bool:
        """Sleep until this caller's slot; ``False`` if ``stop`` was set meanwhile."""
        slot = self.reserve(time.monotonic())
        delay = slot - time.monotonic()
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()
