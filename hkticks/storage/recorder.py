"""The Storage Agent: one writer thread that drains the queue into the sinks.

The socket threads never touch disk: they enqueue, and this thread takes
batches off the queue, hands ticks to every tick sink, books to the book
sink and events to the events sidecar, and flushes at least every
``flush_interval`` seconds. A sink that fails (disk full, I/O error) stops
the recording: :attr:`Recorder.error` holds the :class:`OutputError`, the
other sinks are flushed and closed, and everything written before the
failure stays valid.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from hkticks.errors import HkticksError, OutputError
from hkticks.feed.queue import TickQueue
from hkticks.storage.sinks import Sink
from hkticks.tick import Book, Event, Tick

log = logging.getLogger("hkticks.storage.recorder")


class Recorder:
    def __init__(
        self,
        queue: TickQueue,
        tick_sinks: Sequence[Sink],
        *,
        book_sink: Sink | None = None,
        event_sink: Sink | None = None,
        flush_interval: float = 1.0,
        fsync: bool = False,
        batch_max: int = 8192,
        on_error: Callable[[HkticksError], None] | None = None,
    ) -> None:
        self.queue = queue
        self.tick_sinks = list(tick_sinks)
        self.book_sink = book_sink
        self.event_sink = event_sink
        self.flush_interval = flush_interval
        self.fsync = fsync
        self.batch_max = batch_max
        self.on_error = on_error
        self.error: HkticksError | None = None
        self.ticks = 0
        self.books = 0
        self.events = 0
        self.symbols: set[str] = set()
        self.last_tick_recv_ts: int | None = None
        self._dropped_seen = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hkticks-writer", daemon=True)

    @property
    def written(self) -> int:
        """Ticks this run put in its outputs and that are still there to read: the
        least any file output holds (a failed, deleted or lagging output
        counts what it really has); stdout's count when it is the only one."""
        files = [s for s in self.tick_sinks if s.path != "-"] or self.tick_sinks
        return min((int(s.rows) for s in files), default=0)

    @property
    def sink_dropped(self) -> int:
        """Ticks dropped by sinks with their own buffer (stdout), not by the queue."""
        return sum(int(getattr(s, "dropped", 0)) for s in self.tick_sinks)

    @property
    def sinks(self) -> list[Sink]:
        out = list(self.tick_sinks)
        if self.book_sink is not None:
            out.append(self.book_sink)
        if self.event_sink is not None:
            out.append(self.event_sink)
        return out

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Drain what is queued, flush and close every sink, join the thread."""
        self._stop.set()
        self.queue.close()
        if self.thread.is_alive():
            self.thread.join(timeout)
        if not self.thread.is_alive():
            return
        log.error(
            "the writer did not finish within %s s; %d queued items were not written",
            timeout,
            len(self.queue),
        )

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        try:
            self._loop()
        except HkticksError as exc:
            self._failed(exc)
        except Exception as exc:  # an unexpected bug must not lose what is written
            log.exception("writer failed")
            self._failed(OutputError(f"the writer failed unexpectedly: {exc!r}"))
        finally:
            self._close_all()

    def _loop(self) -> None:
        queue = self.queue
        last_flush = time.monotonic()
        interval = self.flush_interval
        wait = min(0.1, interval)
        while True:
            batch = queue.get_batch(self.batch_max, wait)
            if batch:
                self._write(batch)
            now = time.monotonic()
            if now - last_flush >= interval:
                self._flush()
                last_flush = now
            if not batch and (self._stop.is_set() or queue.closed) and len(queue) == 0:
                break
        self._write_events(self._dropped_event())
        self._flush()

    def _dropped_event(self) -> list[Event]:
        """An event for ticks the full queue dropped since the last one: the gap is explained."""
        dropped = self.queue.dropped
        if dropped == self._dropped_seen:
            return []
        event = Event(
            time.time_ns() // 1_000_000,
            "dropped",
            None,
            {
                "count": dropped - self._dropped_seen,
                "total": dropped,
                "reason": "queue full: the writer fell behind",
            },
        )
        self._dropped_seen = dropped
        return [event]

    def _write_events(self, events: list[Event]) -> None:
        if not events:
            return
        self.events += len(events)
        if self.event_sink is not None:
            self.event_sink.write(events)

    def _write(self, batch: list[Any]) -> None:
        ticks: list[Tick] = []
        books: list[Book] = []
        events: list[Event] = []
        for item in batch:
            kind = type(item)
            if kind is Tick:
                ticks.append(item)
            elif kind is Book:
                books.append(item)
            elif kind is Event:
                events.append(item)
        # session events first: if a tick sink then fails, they still explain the run
        self._write_events(events + self._dropped_event())
        if ticks:
            for sink in self.tick_sinks:
                sink.write(ticks)
            self.ticks += len(ticks)
            symbols = self.symbols
            for t in ticks:
                symbols.add(t.symbol)
            self.last_tick_recv_ts = ticks[-1].recv_ts
        if books and self.book_sink is not None:
            self.book_sink.write(books)
            self.books += len(books)
        self._write_events(self._sink_events())  # file switches, after the ticks they follow

    def _sink_events(self) -> list[Event]:
        """Events the sinks report (a rotating sink's file switches), for the sidecar."""
        out: list[Event] = []
        for sink in self.sinks:
            take = getattr(sink, "take_events", None)
            if take is not None:
                out.extend(take())
        return out

    def _flush(self) -> None:
        for sink in self.sinks:
            sink.flush(self.fsync)

    def _failed(self, exc: HkticksError) -> None:
        if self.error is None:
            self.error = exc
        if self.on_error is not None:
            self.on_error(exc)

    def _close_all(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except HkticksError as exc:
                if self.error is None:
                    self.error = exc
            except Exception as exc:  # keep closing the others
                log.warning("closing %s failed: %r", getattr(sink, "path", sink), exc)
