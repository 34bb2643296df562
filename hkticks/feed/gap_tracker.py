"""Gap records: what a shard's outage lost, as one ``gap`` event per outage.

AllTick's WebSocket has no replay and its REST has no past trades, so the
trades of a shard's symbols between a disconnect and the first trade after
the resubscribe are gone for good. A :class:`GapTracker` (one per session)
turns the session's life cycle into one event per outage:

* :meth:`GapTracker.down` when the connection is lost (closed, reset, stale
  watchdog, refused): the outage starts at the last frame received (the
  watchdog notices 30 s late; the trades stopped when the frames did);
* :meth:`GapTracker.resubscribed` when the server accepts the subscription
  again (kept in the record, so "resubscribed within 5 s" can be checked);
* :meth:`GapTracker.up` on the first trade (or book) after that (or at the
  resubscribe, when that came while the market was shut): the event
  ``gap`` is written with the shard's ``symbols``, ``start`` and ``end``
  (epoch ms), its ``cause`` and ``trading_ms``;
* :meth:`GapTracker.finish` when the session stops with an outage still
  open (a fatal refusal, a stop while reconnecting): the gap ends at the stop.

A second disconnect before data flows again extends the same outage. With a
trading calendar, ``start`` and ``end`` are trimmed to trading time (a gap
from 11:59 to 13:01 is the minute before lunch and the minute after;
``parts`` lists the pieces when there are several) and ``trading_ms`` counts
only trading time; an outage wholly outside trading hours keeps its raw times
with ``trading_ms`` 0. Pure bookkeeping: the caller passes times and an
``emit`` function; no threads, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hkticks.market_hours import Calendar
from hkticks.tick import Event

GAP_EVENT = "gap"


class GapTracker:
    """The open outage of one shard, if any, and the ``gap`` event that closes it."""

    __slots__ = (
        "_cause",
        "_emit",
        "_resubscribed",
        "_start",
        "calendar",
        "gaps",
        "shard",
        "symbols",
    )

    def __init__(
        self,
        shard: int,
        symbols: Callable[[], Sequence[str]],
        emit: Callable[[Event], None],
        calendar: Calendar | None = None,
    ) -> None:
        self.shard = shard
        self.symbols = symbols
        self.calendar = calendar
        self._emit = emit
        self._start: int | None = None
        self._cause = ""
        self._resubscribed: int | None = None
        self.gaps = 0  # gap events written

    @property
    def open(self) -> bool:
        return self._start is not None

    def down(self, start_ms: int, cause: str) -> None:
        """The connection is lost; data stopped at ``start_ms``. Idempotent while open."""
        if self._start is None:
            self._start = start_ms
            self._cause = cause
            self._resubscribed = None

    def resubscribed(self, ts_ms: int) -> None:
        if self._start is not None and self._resubscribed is None:
            self._resubscribed = ts_ms

    def up(self, ts_ms: int) -> None:
        """Data flows again (first trade after the resubscribe): write the gap."""
        if self._start is not None:
            self._close(ts_ms, {})

    def finish(self, ts_ms: int) -> None:
        """The session stops: an outage still open ends now."""
        if self._start is not None:
            self._close(ts_ms, {"open_at_stop": True})

    def _close(self, end_ms: int, extra: dict[str, Any]) -> None:
        start = self._start
        assert start is not None
        end = max(end_ms, start)
        resub = self._resubscribed
        if resub is not None and self.calendar is not None and not self.calendar.is_open(resub):
            # resubscribed while the market was shut: nothing traded until it opens, so
            # waiting for the first trade would call the quiet pre-opening lost
            end = max(start, min(end, resub))
        details = gap_details(start, end, self._cause, list(self.symbols()), self.calendar)
        if self._resubscribed is not None:
            details["resubscribed"] = self._resubscribed
        details.update(extra)
        self._start = None
        self._resubscribed = None
        self.gaps += 1
        self._emit(Event(end_ms, GAP_EVENT, self.shard, details))


def gap_details(
    start_ms: int,
    end_ms: int,
    cause: str,
    symbols: list[str],
    calendar: Calendar | None,
) -> dict[str, Any]:
    """The fields of a ``gap`` event: trimmed to trading time when a calendar is given."""
    details: dict[str, Any] = {"symbols": symbols, "cause": cause}
    if calendar is None:
        details.update(start=start_ms, end=end_ms, trading_ms=end_ms - start_ms)
        return details
    parts = calendar.trim(start_ms, end_ms)
    if not parts:
        details.update(start=start_ms, end=end_ms, trading_ms=0)
    else:
        details.update(start=parts[0][0], end=parts[-1][1], trading_ms=sum(e - s for s, e in parts))
        if len(parts) > 1:
            details["parts"] = [[s, e] for s, e in parts]
    if (details["start"], details["end"]) != (start_ms, end_ms):
        details["raw_start"], details["raw_end"] = start_ms, end_ms
    return details


def market_silence_s(
    calendar: Calendar | None,
    wall_now_ms: int,
    silent_s: float,
) -> float:
    """How much of the last ``silent_s`` seconds (ending at ``wall_now_ms``) the
    market was open: the stale watchdog's measure, so that lunch, nights and
    holidays never count as silence. Without a calendar, all of it."""
    if calendar is None:
        return silent_s
    start = wall_now_ms - int(silent_s * 1000)
    return calendar.trading_ms_between(start, wall_now_ms) / 1000.0
