"""Replaying recordings: yesterday's session as if it were live.

Three outputs share one timeline (:class:`ReplayClock`):

* ``--json``: the trades as JSON Lines, byte for byte what ``record`` wrote
  to a ``.jsonl`` file (:func:`replay_json`);
* the live board of ``watch``, driven by a :class:`ReplayFeed` that pushes
  the trades into a queue when they are due, the board's clock showing the
  recording's time;
* ``--serve``: the embedded AllTick-compatible server pushing the recorded
  trades (see :mod:`hkticks.server.replaysource`), so any AllTick client can
  consume them.

Timing follows the receive times (``recv_ts``): the trades arrive with the
spacing they arrived with when recorded, divided by ``--speed``. Pauses
longer than ``max_gap`` (the lunch break, a night, a disconnect) are
shortened to ``max_gap``, so a day replays in trading time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from hkticks.errors import HkticksError, UsageError
from hkticks.feed.queue import TickQueue
from hkticks.tick import Event, Tick

JSON_BATCH = 4096
MAX_WAIT_S = 0.25  # sleep in slices so a stop request is seen promptly


def parse_speed(text: str) -> float | None:
    """``"1"``, ``"10"``, ``"0.5"``, ``"10x"`` -> a factor; ``"max"`` -> ``None`` (no waiting)."""
    t = text.strip().lower()
    if t in ("max", "inf", "fast"):
        return None
    t = t.removesuffix("x")
    try:
        speed = float(t)
    except ValueError:
        raise UsageError(f"--speed {text!r}: use a factor such as 1, 10, 0.5, or max") from None
    if not 0 < speed < float("inf"):
        raise UsageError(f"--speed {text!r}: must be positive (or max)")
    return speed


class ReplayClock:
    """Maps recording time (epoch ms) to a caller's clock (seconds), at ``speed``.

    Pure: callers pass the current time, so the same clock drives a thread
    (``time.monotonic``), the server's event loop (``loop.time()``) and tests.
    The first record scheduled anchors the timeline; a pause between records
    longer than ``max_gap_ms`` is shortened to it (``skipped_ms`` adds up what
    was cut). ``speed=None`` means as fast as possible.
    """

    def __init__(self, speed: float | None, max_gap_ms: int | None = None) -> None:
        if speed is not None and not speed > 0:
            raise ValueError("speed must be positive (or None)")
        self.speed = speed
        self.max_gap_ms = max_gap_ms
        self.skipped_ms = 0
        self._base_key: int | None = None
        self._base_now = 0.0
        self._last: int | None = None

    @property
    def started(self) -> bool:
        return self._base_key is not None

    def due(self, key: int, now: float) -> float:
        """When (on the caller's clock) the record with ``key`` is due; call in key order."""
        if self._base_key is None:
            self._base_key = key
            self._base_now = now
        elif self._last is not None:
            gap = key - self._last
            if self.max_gap_ms is not None and gap > self.max_gap_ms:
                cut = gap - self.max_gap_ms
                self._base_key += cut
                self.skipped_ms += cut
        self._last = key
        if self.speed is None:
            return now
        return self._base_now + (key - self._base_key) / 1000.0 / self.speed

    def position(self, now: float) -> int | None:
        """The recording time (epoch ms) at ``now``: never past the last record scheduled."""
        if self._base_key is None or self._last is None:
            return None
        if self.speed is None:
            return self._last
        pos = self._base_key + round((now - self._base_now) * self.speed * 1000)
        return min(pos, self._last)


def _wait(stop: Any, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when stopped."""
    while seconds > 0:
        if stop.wait(min(seconds, MAX_WAIT_S)):
            return True
        seconds -= MAX_WAIT_S
    return bool(stop.is_set())


def replay_json(
    keyed: Iterator[tuple[int, Tick]],
    out: IO[bytes],
    clock: ReplayClock,
    stop: Any,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Write each trade as a JSON line when it is due; returns the trades written.

    The lines are exactly what the JSONL sink writes. At ``--speed max``
    lines go out in large batches; otherwise each batch due is flushed
    before waiting for the next, so a pipe reader sees them on time.
    """
    from hkticks.storage.sinks.jsonl import encode_lines

    written = 0
    buf: list[Tick] = []
    realtime = clock.speed is not None
    for key, tick in keyed:
        if realtime:
            wait = clock.due(key, monotonic()) - monotonic()
            if wait > 0:
                if buf:
                    out.write(encode_lines(buf))
                    written += len(buf)
                    buf = []
                out.flush()
                if _wait(stop, wait):
                    break
        buf.append(tick)
        if len(buf) >= JSON_BATCH:
            out.write(encode_lines(buf))
            written += len(buf)
            buf = []
            if stop.is_set():
                break
    if buf:
        out.write(encode_lines(buf))
        written += len(buf)
    out.flush()
    return written


# -- the board ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayConn:
    """The one "connection" a replay shows on the board (shape of the feed's ConnStatus)."""

    shard: int
    state: str
    reconnects: int
    symbols: int
    last_msg_age: float | None


@dataclass(frozen=True)
class ReplayStatus:
    """What the board asks of a feed, for a replay."""

    connections: list[ReplayConn]
    ticks: int
    dropped: int = 0
    queue_depth: int = 0
    decode_errors: int = 0
    reconnects: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


class ReplayFeed:
    """Pushes recorded trades into a :class:`TickQueue` when due: a feed for the board.

    Has what the board (:class:`hkticks.watch.pump.BoardPump`) needs of a feed (``status()``,
    ``fatal``, ``done``). A reading error ends up in :attr:`fatal`. At the end
    a footer note says the replay finished and the board stays up until
    Ctrl-C (``done`` is set only with ``finish_done=True``).
    """

    def __init__(
        self,
        keyed: Iterator[tuple[int, Tick]],
        queue: TickQueue,
        clock: ReplayClock,
        *,
        symbols: int,
        finish_done: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keyed = keyed
        self.queue = queue
        self.clock = clock
        self.symbols = symbols
        self.finish_done = finish_done
        self.monotonic = monotonic
        self.fatal: HkticksError | None = None
        self.start_ms: int | None = None  # shown before the first trade is due
        self.done = threading.Event()
        self.finished = threading.Event()
        self.ticks = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hkticks-replay", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def now(self) -> float:
        """The recording's time now, in epoch seconds (the board's clock)."""
        pos = self.clock.position(self.monotonic())
        if pos is None:
            pos = self.start_ms
        return time.time() if pos is None else pos / 1000.0

    def status(self) -> ReplayStatus:
        # "done": the recording was played to its end (the board says so, not "0/1 up")
        if self.finished.is_set():
            state = "done" if self.fatal is None else "stopped"
        else:
            state = "up"
        return ReplayStatus(
            connections=[ReplayConn(0, state, 0, self.symbols, None)],
            ticks=self.ticks,
            queue_depth=len(self.queue),
        )

    def _run(self) -> None:
        try:
            self._push()
        except HkticksError as exc:
            self.fatal = exc
        except Exception as exc:  # a bug must not leave the board waiting silently
            self.fatal = HkticksError(f"replay failed: {exc!r}")
        finally:
            self.finished.set()
            if self.finish_done or self.fatal is not None:
                self.done.set()

    def _push(self) -> None:
        queue, clock, stop, now = self.queue, self.clock, self._stop, self.monotonic
        high = max(1, queue.maxsize // 2)
        realtime = clock.speed is not None
        for key, tick in self.keyed:
            if realtime:
                wait = clock.due(key, now()) - now()
                if wait > 0 and _wait(stop, wait):
                    return
            else:
                clock.due(key, now())
                while len(queue) >= high:  # as fast as the board takes them, never dropping
                    if stop.wait(0.01):
                        return
            queue.put(tick)
            self.ticks += 1
            if stop.is_set():
                return
        skipped = (
            f"; {clock.skipped_ms / 1000:,.0f} s of pauses skipped" if clock.skipped_ms else ""
        )
        queue.put_event(
            Event(
                int(self.now() * 1000),
                "warning",
                None,
                {"message": f"replay finished: {self.ticks:,} trades{skipped}; Ctrl-C quits"},
            )
        )


class Tally:
    """Counts what passes through a keyed stream, for the summary line."""

    def __init__(self, keyed: Iterator[tuple[int, Tick]]) -> None:
        self._keyed = keyed
        self.trades = 0
        self.symbols: set[str] = set()
        self.first_ts: int | None = None
        self.last_ts: int | None = None

    def __iter__(self) -> Iterator[tuple[int, Tick]]:
        symbols = self.symbols
        for item in self._keyed:
            tick = item[1]
            self.trades += 1
            symbols.add(tick.symbol)
            ts = tick.ts
            if self.first_ts is None or ts < self.first_ts:
                self.first_ts = ts
            if self.last_ts is None or ts > self.last_ts:
                self.last_ts = ts
            yield item

    def describe(self) -> str:
        """``12,345 trades of 3 symbols (2024-05-02 09:30:00 - 16:08:59 HKT)``."""
        from hkticks.storage.readers import hk_datetime

        n = len(self.symbols)
        text = f"{self.trades:,} trades of {n} symbol{'s' if n != 1 else ''}"
        if self.first_ts is not None and self.last_ts is not None:
            first, last = hk_datetime(self.first_ts), hk_datetime(self.last_ts)
            if first[:10] == last[:10]:
                last = last[11:]
            text += f" ({first} - {last} HKT)"
        return text
