"""The Storage Agent: one writer thread that drains the queue into the outputs.

The socket threads never touch disk: they enqueue, and this thread takes
batches off the queue, hands ticks to every tick output, books to the book
output and events to the events sidecar, and asks for a flush at least every
``flush_interval`` seconds. Each output has its own bounded queue and thread
(:class:`~hkticks.storage.sinks.queued.QueuedSink`; stdout and NATS have
their own already), so a slow or absent output holds back no other; what an
output loses is counted per output (:meth:`Recorder.output_losses`),
reported as a ``dropped`` event when it happens, and read by the command
for its status line and exit status. A sink that fails (disk full, I/O
error) stops the recording: :attr:`Recorder.error` holds the
:class:`OutputError`, the other sinks are flushed and closed, and everything
written before the failure stays valid.
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
from hkticks.storage.sinks.queued import DEFAULT_MAX_ROWS, QueuedSink, has_own_thread
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
        output_rows: int = DEFAULT_MAX_ROWS,
    ) -> None:
        self.queue = queue
        self.output_rows = output_rows
        self.tick_sinks = [self._own_queue(s) for s in tick_sinks]
        self.book_sink = self._own_queue(book_sink) if book_sink is not None else None
        # the sidecar too: a stuck --events target (a FIFO nobody reads) holds back no output
        self.event_sink = self._own_queue(event_sink) if event_sink is not None else None
        self.flush_interval = flush_interval
        self.fsync = fsync
        self.batch_max = batch_max
        self.on_error = on_error
        self.error: HkticksError | None = None
        self._event_error: HkticksError | None = None  # the sidecar's, said only if alone
        self.ticks = 0
        self.books = 0
        self.events = 0
        self.symbols: set[str] = set()
        self.last_tick_recv_ts: int | None = None
        self._dropped_seen = 0
        self.unwritten = 0  # items left in the queue when the writer was given up on
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hkticks-writer", daemon=True)

    @property
    def written(self) -> int:
        """Ticks this run put in its outputs and that are still there to read: the
        least any file output holds (a failed, deleted or lagging output
        counts what it really has); stdout's count when it is the only one."""
        files = [s for s in self.tick_sinks if s.path != "-"] or self.tick_sinks
        return min((int(s.rows) for s in files), default=0)

    def _own_queue(self, sink: Any) -> Any:
        """``sink`` with a queue and thread of its own (a Tee: each of its sinks)."""
        inner = getattr(sink, "sinks", None)
        if isinstance(inner, list):  # a Tee (a file and a NATS stream)
            sink.sinks = [self._own_queue(s) for s in inner]
            return sink
        if has_own_thread(sink):
            return sink
        return QueuedSink(sink, max_rows=self.output_rows)

    @property
    def sink_dropped(self) -> int:
        """Ticks dropped by one output (its queue or buffer full, or given up on at
        the end), not by the feed's queue: the other outputs have them."""
        return sum(n for _, n in self.output_losses())

    def output_losses(self) -> list[tuple[str, int]]:
        """(output as shown, ticks it lost) for every output that lost some."""
        out = []
        for sink in self.tick_sinks:
            n = int(getattr(sink, "dropped", 0))
            if n:
                out.append(("stdout" if sink.path == "-" else str(sink.path), n))
        return out

    def side_losses(self) -> list[tuple[str, int, str]]:
        """(output as shown, items it lost, "books" or "events") for the book output and
        the events sidecar: they lose no trade, but what they lost is said too."""
        out = []
        for kind, sink in (("books", self.book_sink), ("events", self.event_sink)):
            for part in self._flat([sink] if sink is not None else []):
                n = int(getattr(part, "dropped_items", 0))
                if n:
                    out.append(("stdout" if part.path == "-" else str(part.path), n, kind))
        return out

    @property
    def backlog(self) -> int:
        """Items handed to the outputs and not written yet (the most behind of them)."""
        return max((int(getattr(s, "backlog", 0)) for s in self.sinks), default=0)

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
        # counted as lost, not only logged: the exit status says so
        self.unwritten = len(self.queue)
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
            try:
                self.event_sink.write(events)
            except HkticksError as exc:
                self._event_error = exc
                raise

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
            try:
                sink.flush(self.fsync)
            except HkticksError as exc:
                if sink is self.event_sink:
                    self._event_error = exc
                raise

    def _failed(self, exc: HkticksError) -> None:
        if self.error is None:
            self.error = exc
        if self.on_error is not None:
            self.on_error(exc)

    def _close_all(self) -> None:
        """Close the queued outputs (draining at once), say what they lost, close the rest
        (the sidecar last: it takes what the others lost)."""
        queued = [
            s
            for s in self._flat(self.sinks)
            if isinstance(s, QueuedSink) and s is not self.event_sink
        ]
        for output in queued:
            output.begin_close()
        for output in queued:
            self._close(output)
        try:
            self._write_events(self._sink_events())  # the losses of the last moments
        except HkticksError as exc:
            if self.error is None:
                self.error = exc
        except Exception as exc:  # noqa: BLE001 - the sidecar is closed below anyway
            log.warning("writing the last events failed: %r", exc)
        for sink in self.sinks:
            self._close(sink)

    @staticmethod
    def _flat(sinks: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        for sink in sinks:
            inner = getattr(sink, "sinks", None)
            out.extend(inner if isinstance(inner, list) else [sink])
        return out

    def _close(self, sink: Any) -> None:
        try:
            sink.close()
        except HkticksError as exc:
            # an output's own failure says more than the sidecar's (a folder removed: both)
            if self.error is None or (
                self.error is self._event_error and sink is not self.event_sink
            ):
                self.error = exc
        except Exception as exc:  # keep closing the others
            log.warning("closing %s failed: %r", getattr(sink, "path", sink), exc)
