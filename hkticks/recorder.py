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
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from hkticks.errors import HkticksError, OutputError
from hkticks.sinks import Sink
from hkticks.sinks.compressed import compression_of, read_tail, strip_compression
from hkticks.tick import RECORD_FIELDS, Book, Event, Tick
from hkticks.tickqueue import TickQueue

log = logging.getLogger("hkticks.recorder")

TAIL_BYTES = 1 << 20


def last_trades(path: str, tail_bytes: int = TAIL_BYTES) -> dict[str, tuple[int, int]]:
    """The last (seq, ts) per symbol already in an existing recording.

    Read from the last ``tail_bytes`` of a JSONL/CSV file or the last rows of
    a SQLite table, so that a run appending to yesterday's file does not
    write again the trades the server re-sends after subscribing. Anything
    unreadable yields ``{}``: this only prevents duplicates, never blocks.
    """
    out: dict[str, tuple[int, int]] = {}

    def keep(symbol: Any, seq: Any, ts: Any) -> None:
        try:
            seq_i, ts_i = int(seq), int(ts)
        except (TypeError, ValueError):
            return
        prev = out.get(str(symbol))
        if prev is None or seq_i > prev[0]:
            out[str(symbol)] = (seq_i, ts_i)

    if path == "-" or not os.path.isfile(path) or os.path.getsize(path) == 0:
        return out
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext in (".db", ".sqlite"):
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = con.execute(
                    "SELECT symbol, seq, ts FROM ticks WHERE seq IS NOT NULL "
                    "ORDER BY rowid DESC LIMIT 20000"
                ).fetchall()
            finally:
                con.close()
            for symbol, seq, ts in rows:
                keep(symbol, seq, ts)
            return out
        if compression_of(path) is not None:  # .jsonl.gz, .csv.zst: decode the last block
            ext = os.path.splitext(strip_compression(path))[1].lower()
            data = read_tail(path, tail_bytes)
            lines = data.splitlines()[1:] if len(data) >= tail_bytes else data.splitlines()
        else:
            with open(path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - tail_bytes))
                lines = fh.read().splitlines()[1:] if size > tail_bytes else fh.read().splitlines()
        if ext == ".csv":
            for line in lines:
                cells = line.decode("utf-8", "replace").split(",")
                if len(cells) == len(RECORD_FIELDS) and cells[0] != "symbol":
                    keep(cells[0], cells[6], cells[1])
        elif ext == ".jsonl":
            for line in lines:
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    keep(rec.get("symbol"), rec.get("seq"), rec.get("ts"))
    except (OSError, sqlite3.Error) as exc:
        log.debug("could not read the tail of %s: %r", path, exc)
    return out


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
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.queue = queue
        self.tick_sinks = list(tick_sinks)
        self.book_sink = book_sink
        self.event_sink = event_sink
        self.flush_interval = flush_interval
        self.fsync = fsync
        self.batch_max = batch_max
        self.on_error = on_error
        self.on_event = on_event
        self.error: HkticksError | None = None
        self.ticks = 0
        self.books = 0
        self.events = 0
        self.symbols: set[str] = set()
        self.last_tick_recv_ts: int | None = None
        self.first_tick_ts: int | None = None
        self.last_tick_ts: int | None = None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hkticks-writer", daemon=True)

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
        log.warning("writer thread did not finish within %s s", timeout)

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
        self._flush()

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
        if ticks:
            for sink in self.tick_sinks:
                sink.write(ticks)
            self.ticks += len(ticks)
            symbols = self.symbols
            for t in ticks:
                symbols.add(t.symbol)
            last = ticks[-1]
            self.last_tick_recv_ts = last.recv_ts
            self.last_tick_ts = last.ts
            if self.first_tick_ts is None:
                self.first_tick_ts = ticks[0].ts
        if books and self.book_sink is not None:
            self.book_sink.write(books)
            self.books += len(books)
        events.extend(self._sink_events())
        if events:
            self.events += len(events)
            if self.event_sink is not None:
                self.event_sink.write(events)
            if self.on_event is not None:
                for ev in events:
                    self.on_event(ev)

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
