"""Each output its own bounded queue and thread: a slow or absent one holds back no other.

The recorder's writer thread takes batches off the feed's queue and hands
them to every output. Writing them there would let one output that stalls
(a PostgreSQL outage, a FIFO nobody reads, a disk that hangs) stop every
other one with it: the JSONL file would stop growing, and a ``kill -9``
would lose what sat in memory. So each output is wrapped in a
:class:`QueuedSink`: ``write`` only appends the batch to the output's own
queue, bounded at ``max_rows`` items, and the output's thread
(``hkticks-out-N``) writes, flushes and finally closes the sink. A sink is
used by that one thread only.

When an output's queue is full, the new batch is dropped *for that output
alone*, counted in :attr:`QueuedSink.dropped` and reported as it happens
(a ``dropped`` event with ``output`` for the sidecar, which the recorder
asks for after each batch, and the status line); the run's exit status is
then non-zero. At the end :meth:`QueuedSink.close` lets the queue drain for
as long as the output makes progress; once it has written nothing for
``stall_s`` seconds what is left is given up on and counted as dropped too
(a sink that can be told to stop retrying, PostgreSQL's, is told), so a dead
output cannot keep the process from exiting, on SIGTERM too, and never
with a loss left unsaid.

A failed output (disk full) still ends the recording, as before: its error
is raised to the writer thread by the next ``write`` or ``flush``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from hkticks.errors import HkticksError, OutputError
from hkticks.storage.sinks.failures import display_name
from hkticks.tick import Event, Tick

log = logging.getLogger("hkticks.storage.sinks.queued")

DEFAULT_MAX_ROWS = 200_000
STALL_S = 5.0
FINISH_S = 120.0  # the sink's own last flush and close (a gzip trailer, an fsync) may take this
_numbers = itertools.count(1)


def has_own_thread(sink: Any) -> bool:
    """Whether a sink already writes from a thread and bounded buffer of its own
    (stdout, NATS): it needs no :class:`QueuedSink`."""
    return bool(getattr(type(sink), "own_thread", False))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _trades(items: Sequence[Any]) -> int:
    return sum(1 for item in items if type(item) is Tick)


class QueuedSink:
    """``inner`` written from its own thread through a queue of at most ``max_rows`` items."""

    own_thread = True

    def __init__(
        self,
        inner: Any,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        stall_s: float = STALL_S,
    ) -> None:
        self.inner = inner
        self.max_rows = max_rows
        self.stall_s = stall_s
        self.dropped = 0  # trades this output lost (queue full, or given up on at the end)
        self.dropped_items = 0  # every item lost (books and events included)
        self._reported = 0
        self._queue: deque[list[Any]] = deque()
        self._queued = 0  # items in _queue and in the batch being written
        self._cond = threading.Condition()
        self._flush_wanted: bool | None = None  # None: no flush asked; else its fsync
        self._closing = False
        self._closed = False
        self._gave_up = False
        self._finishing = False  # everything written: the sink's last flush and close
        self._failure: HkticksError | None = None
        self._progress = time.monotonic()
        self._events: list[Event] = []  # the inner sink's own events (file switches)
        self._in_hand: list[Any] = []  # the batch the thread is writing
        self._thread = threading.Thread(
            target=self._run, name=f"hkticks-out-{next(_numbers)}", daemon=True
        )
        self._thread.start()

    # -- what the recorder sees -------------------------------------------------------

    @property
    def path(self) -> str:
        return str(self.inner.path)

    @property
    def rows(self) -> int:
        return int(self.inner.rows)

    @property
    def repaired_bytes(self) -> int:
        return int(getattr(self.inner, "repaired_bytes", 0))

    @property
    def backlog(self) -> int:
        """Items handed over and not yet written."""
        return self._queued

    def __getattr__(self, name: str) -> Any:  # files, last_trades, ... of the sink
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def write(self, items: Sequence[Any]) -> None:
        if self._failure is not None:
            raise self._failure
        if not items:
            return
        n = len(items)
        with self._cond:
            if self._closing:
                raise ValueError(f"write to closed sink {self.path}")
            room = self.max_rows - self._queued
            if n > room:  # what fits is kept, the rest dropped for this output alone
                self._lose(items[max(room, 0) :])
                items = items[: max(room, 0)]
                n = len(items)
                if not n:
                    return
            self._queue.append(list(items))
            self._queued += n
            self._cond.notify()

    def flush(self, fsync: bool = False) -> None:
        """Ask the output's thread to flush (it does, between two batches)."""
        if self._failure is not None:
            raise self._failure
        with self._cond:
            self._flush_wanted = bool(self._flush_wanted) or fsync
            self._cond.notify()

    def take_events(self) -> list[Event]:
        """The sink's own events, and a ``dropped`` event for what this output lost since."""
        with self._cond:
            out, self._events = self._events, []
            new = self.dropped - self._reported
            self._reported = self.dropped
        if new > 0:
            out.append(self._dropped_event(new))
        return out

    def _dropped_event(self, count: int) -> Event:
        name = display_name(self.path)
        if self._gave_up:
            reason = (
                f"{name} wrote nothing for {self.stall_s:g} s at the end: the rest of its "
                "queue was given up on; the other outputs have them"
            )
        else:
            reason = (
                f"{name} fell behind (its queue of {self.max_rows:,} items was full); "
                "the other outputs have them"
            )
        return Event(
            _now_ms(),
            "dropped",
            None,
            {"count": count, "total": self.dropped, "output": name, "reason": reason},
        )

    def _lose(self, items: Sequence[Any]) -> None:
        """Count ``items`` as lost for this output (the lock is held)."""
        first = self.dropped == 0
        self.dropped += _trades(items)
        self.dropped_items += len(items)
        if first and self.dropped:
            log.warning(
                "%s is not keeping up: its queue of %d items is full; dropping for it alone, "
                "counted (the other outputs keep every trade)",
                display_name(self.path),
                self.max_rows,
            )

    def close(self) -> None:
        """Let the queue drain while the output makes progress, then close the sink.

        Raises the sink's error, if it failed. What is left when it stalls for
        ``stall_s`` is counted in :attr:`dropped` (read it after closing).
        """
        if self._closed:
            return
        self.begin_close()
        self._closed = True
        with self._cond:
            while self._thread.is_alive():
                idle = time.monotonic() - self._progress
                if idle > (FINISH_S if self._finishing else self.stall_s):
                    break
                self._cond.wait(0.1)
        if self._thread.is_alive():
            self._give_up()
            self._thread.join(1.0)
        if self._failure is not None and not self._gave_up:
            raise self._failure

    def begin_close(self) -> None:
        """Start draining for the end (so several outputs drain at once); see :meth:`close`."""
        with self._cond:
            if not self._closing:
                self._closing = True
                self._progress = time.monotonic()
                self._cond.notify_all()

    def _give_up(self) -> None:
        with self._cond:
            self._gave_up = True
            left = [item for batch in self._queue for item in batch]
            self._queue.clear()
            in_hand = self._in_hand
            self._lose(left + in_hand)
            self._queued = 0
            self._cond.notify_all()
        trades, items = _trades(left) + _trades(in_hand), len(left) + len(in_hand)
        log.warning(
            "%s wrote nothing for %.0f s; %s were not written to it",
            display_name(self.path),
            self.stall_s,
            f"{trades:,} queued trades" if trades or not items else f"{items:,} queued items",
        )
        interrupt = getattr(self.inner, "interrupt", None)
        if interrupt is not None:  # e.g. PostgreSQL: stop retrying
            interrupt()

    # -- the output's thread --------------------------------------------------------------

    def _run(self) -> None:
        inner = self.inner
        try:
            while True:
                with self._cond:
                    while not self._queue and self._flush_wanted is None and not self._closing:
                        self._cond.wait()
                    if self._gave_up:
                        return
                    batch = self._queue.popleft() if self._queue else None
                    fsync = self._flush_wanted
                    self._flush_wanted = None
                    if batch is None and fsync is None and self._closing:
                        self._finishing = True
                        self._progress = time.monotonic()
                        break
                    self._in_hand = batch or []
                if batch is not None:
                    inner.write(batch)
                if fsync is not None:
                    inner.flush(fsync)
                take = getattr(inner, "take_events", None)
                events = take() if take is not None else []
                with self._cond:
                    self._in_hand = []
                    if self._gave_up:
                        return  # what it wrote meanwhile was already counted lost
                    if batch is not None:
                        self._queued -= len(batch)
                    self._events.extend(events)
                    self._progress = time.monotonic()
                    self._cond.notify_all()
            inner.flush(False)
            inner.close()
            take = getattr(inner, "take_events", None)
            if take is not None:
                with self._cond:
                    self._events.extend(take())
        except HkticksError as exc:
            self._fail(exc)
        except Exception as exc:  # an unexpected bug: said once, the others go on
            log.exception("writing %s failed", display_name(self.path))
            self._fail(OutputError(f"writing {display_name(self.path)} failed: {exc!r}"))
        finally:
            with self._cond:
                self._progress = time.monotonic()
                self._cond.notify_all()

    def _fail(self, exc: HkticksError) -> None:
        with self._cond:
            if self._failure is None:
                self._failure = exc
            # the recording stops with this error ("wrote N before the failure")
            self._queue.clear()
            self._queued = 0
            self._in_hand = []
            self._cond.notify_all()
        try:
            self.inner.close()
        except Exception:  # noqa: BLE001 - the first error is the one said
            pass
