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

from hkticks.alltick import protocol as alltick


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


# A margin over AllTick's documented spacing: the server measures when it reads a
# request, which is later than when we wrote it and never earlier than it answered
# the previous one; a margin absorbs the server's clock and scheduling jitter.
PACING_MARGIN_S = 0.05
REQUEST_SPACING_S = alltick.MIN_REQUEST_INTERVAL_S + PACING_MARGIN_S
CONNECTION_SPACING_S = alltick.MIN_CONNECTION_INTERVAL_S + PACING_MARGIN_S
# How long the next request waits for a subscribe's (or cancel's) answer before it goes
# anyway. Long: a busy server (the demo's, in our process, while it computes K-lines
# for the board's REST calls) may read a request many seconds late, and a request sent
# meanwhile is read right after it: 605. The session drops a connection whose subscribe
# is unanswered for its stale timeout (30 s), so this never holds one up for longer.
ANSWER_TIMEOUT_S = float(alltick.HEARTBEAT_TIMEOUT_S)
# ... and for a heartbeat's answer: short, heartbeats are exempt from pacing on
# servers we know, and a server that never answers them must not slow subscribes.
HEARTBEAT_ANSWER_TIMEOUT_S = 2.0


class Pacer:
    """AllTick's request pacing for one token: the one gate every request passes.

    Each connection takes its own :class:`ConnectionPacer` (:meth:`connection`):
    a request on it goes ``request_spacing`` seconds after the previous one on
    it, counted from the later of when that one was written and when its
    answer arrived, and not before the answer (or ``answer_timeout``,
    ``heartbeat_answer_timeout`` after a heartbeat; a heartbeat itself waits for
    an answer at most its ``patience``). So a
    server that read the previous request late (busy, or sharing a CPU with
    us) still sees the gap. Between requests on different connections of the
    token ``connection_spacing`` seconds, counted the same way. Heartbeats pass
    ``cross=False``: they keep the per-connection rule but not the
    cross-connection one (ten connections could not otherwise each heart-beat
    every 10 s).
    """

    def __init__(
        self,
        request_spacing: float = REQUEST_SPACING_S,
        connection_spacing: float = CONNECTION_SPACING_S,
        answer_timeout: float = ANSWER_TIMEOUT_S,
        heartbeat_answer_timeout: float = HEARTBEAT_ANSWER_TIMEOUT_S,
    ) -> None:
        self.request_spacing = request_spacing
        self.connection_spacing = connection_spacing
        self.answer_timeout = answer_timeout
        self.heartbeat_answer_timeout = heartbeat_answer_timeout
        self._last_conn: ConnectionPacer | None = None
        self._last_time = float("-inf")
        self._lock = threading.Lock()

    def connection(self) -> ConnectionPacer:
        """The pacer of a new connection (no per-connection history)."""
        return ConnectionPacer(self)


class ConnectionPacer:
    """The pacing state of one connection; made by :meth:`Pacer.connection`.

    ``try_acquire`` before writing a request, ``sent`` once it is written,
    ``answered`` when any response arrives. Thread-safe (the token's lock):
    requests go out from the feed's timer thread, answers arrive on the
    connection's reader thread.
    """

    def __init__(self, token: Pacer) -> None:
        self._token = token
        self._last = float("-inf")  # the anchor of the per-connection spacing
        self._awaiting: float | None = None  # until when the unanswered request holds it
        self._awaiting_since = 0.0
        self._cross_pending = False  # the unanswered request holds the token's cross slot

    def ready(self, now: float, *, cross: bool = True, patience: float | None = None) -> bool:
        """May a request go at ``now``? ``patience`` caps how long this one waits for
        the previous request's answer (a heartbeat must not wait as long as a subscribe)."""
        token = self._token
        if self._awaiting is not None and now < self._awaiting:
            if patience is None or now < self._awaiting_since + patience:
                return False
        if now - self._last < token.request_spacing:
            return False
        if (
            cross
            and token._last_conn is not None
            and token._last_conn is not self
            and now - token._last_time < token.connection_spacing
        ):
            return False
        return True

    def try_acquire(self, now: float, *, cross: bool = True, patience: float | None = None) -> bool:
        """Take the slot if a request may go at ``now`` (see :meth:`ready`)."""
        token = self._token
        with token._lock:
            if not self.ready(now, cross=cross, patience=patience):
                return False
            self._last = now
            wait = token.answer_timeout if cross else token.heartbeat_answer_timeout
            if self._awaiting is None or now >= self._awaiting:
                self._awaiting_since = now
                self._awaiting = now + wait
            else:  # sent while a subscribe's answer is awaited: keep awaiting it
                self._awaiting = max(self._awaiting, now + wait)
            self._cross_pending = cross
            if cross:
                token._last_conn = self
                token._last_time = now
            return True

    def sent(self, now: float) -> None:
        """The request is written: the spacing counts from here."""
        self._bump(now)

    def answered(self, now: float) -> None:
        """A response arrived: the spacing counts from here, the next request may go."""
        self._bump(now)
        with self._token._lock:
            self._awaiting = None
            self._cross_pending = False

    def _bump(self, now: float) -> None:
        token = self._token
        with token._lock:
            self._last = max(self._last, now)
            if token._last_conn is self and self._cross_pending:
                token._last_time = max(token._last_time, now)


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
