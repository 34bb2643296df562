"""Recorded trades as the server's source of pushes (``hkticks replay --serve``).

Instead of simulating, the WebSocket server pushes the trades of a
recording, each with its ORIGINAL ``seq``, ``tick_time``, ``price``,
``volume``, ``turnover`` and direction, to the connections subscribed to its
symbol, at the recording's pace divided by ``--speed`` (see
:class:`~hkticks.analysis.replay.ReplayClock`). A client that records what it
receives gets the recording back (its own receive times aside).

The source is pure apart from reading the recording: the server's loop asks
:meth:`ReplaySource.due` for the pushes due at its loop time and
:meth:`ReplaySource.wait` how long to sleep. Playback starts with the first
trade subscription, so a client that connects after ``replay --serve``
started misses nothing.

Numbers are sent as strings, as AllTick does: floats in their shortest
round-trip form, so the client parses back exactly the recorded values.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from hkticks.alltick.spec import PUSH_TRADE, CodeError, to_alltick
from hkticks.analysis.replay import ReplayClock
from hkticks.tick import Tick

_DIRECTION = {"buy": 1, "sell": 2, None: 0}


def trade_payload(tick: Tick) -> bytes:
    """The 22998 push of a recorded trade (raises CodeError for a code AllTick cannot spell)."""
    data: dict[str, object] = {"code": to_alltick(tick.symbol)}
    if tick.seq is not None:
        data["seq"] = tick.seq  # integers, as AllTick documents 22998
    data["tick_time"] = tick.ts
    data["price"] = repr(float(tick.price))
    data["volume"] = str(tick.volume)
    data["turnover"] = repr(float(tick.turnover))
    data["trade_direction"] = _DIRECTION.get(tick.side, 0)
    return orjson.dumps({"cmd_id": PUSH_TRADE, "data": data})


class ReplaySource:
    """Feeds the server recorded trades when they are due.

    ``keyed`` yields ``(key, tick)`` in key order (see
    :meth:`hkticks.storage.readers.Recording.keyed`). Counters (``sent``,
    ``skipped``, ``finished``, :meth:`position`) may be read from other
    threads for a status line.
    """

    def __init__(
        self,
        keyed: Iterator[tuple[int, Tick]],
        *,
        speed: float | None = 1.0,
        max_gap_ms: int | None = None,
    ) -> None:
        self._keyed = keyed
        self.clock = ReplayClock(speed, max_gap_ms)
        self.started = False
        self.finished = False
        self.sent = 0  # trades handed to the server
        self.skipped = 0  # trades whose code AllTick cannot spell
        self.error: BaseException | None = None
        self._next: tuple[int, str, bytes] | None = None
        self._next_due = 0.0
        self._latest: dict[str, bytes] = {}
        self._now = 0.0

    def start(self, now: float) -> None:
        """Begin playback at loop time ``now`` (the first subscription)."""
        self.started = True
        self._now = now
        self._advance(now)

    def _advance(self, now: float) -> None:
        """Read the next trade (skipping those that cannot be sent) and schedule it."""
        while True:
            try:
                item = next(self._keyed, None)
            except Exception as exc:  # a reading error ends the replay, the server stays up
                self.error = exc
                item = None
            if item is None:
                self._next = None
                self.finished = True
                return
            key, tick = item
            try:
                payload = trade_payload(tick)
            except CodeError:
                self.skipped += 1
                continue
            self._next = (key, tick.symbol, payload)
            self._next_due = self.clock.due(key, now)
            return

    def due(self, now: float, limit: int) -> list[tuple[str, bytes]]:
        """Up to ``limit`` ``(symbol, payload)`` pushes due at loop time ``now``."""
        out: list[tuple[str, bytes]] = []
        self._now = now
        while self._next is not None and len(out) < limit and self._next_due <= now:
            _, symbol, payload = self._next
            out.append((symbol, payload))
            self._latest[symbol] = payload
            self._advance(now)
        self.sent += len(out)
        return out

    def wait(self, now: float) -> float | None:
        """Seconds until the next push is due; ``None`` when the recording is over."""
        if self._next is None:
            return None
        return max(0.0, self._next_due - now)

    def latest(self, symbol: str) -> bytes | None:
        """The last push sent for ``symbol`` (re-sent to a client that subscribes later)."""
        return self._latest.get(symbol)

    def position(self) -> int | None:
        """The recording time (epoch ms) of the playback, as of the last call from the loop."""
        return self.clock.position(self._now)
