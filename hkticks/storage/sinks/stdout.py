"""``--out -``: ticks as JSON Lines on standard output, through a bounded buffer.

A pipe's reader can stall (``hkticks record --out - | slow-script``). Writing
to it from the recorder's writer thread would stall every other output with
it, and the queue would fill and drop for all of them. So stdout gets its own
thread and its own bounded buffer (:data:`DEFAULT_BUFFER_ROWS` ticks): the
writer thread only hands encoded batches over; when the buffer is full the
batch is dropped *for stdout alone*, counted in :attr:`StdoutSink.dropped`
and reported as a ``dropped`` event (``output: stdout``); the file outputs
keep every tick. ``rows`` counts the lines that really went out.

At the end :meth:`StdoutSink.close` waits for the buffer to drain while the
reader keeps taking lines; when it takes nothing for :data:`STALL_S` seconds
the rest is dropped (and counted), so a stalled reader cannot keep the
process from exiting (the last line it gets may then be cut short: it is not
counted). A reader that closes the pipe (``| head``) ends the
recording, as before, with :class:`~hkticks.errors.PipeClosed`.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from hkticks.storage.sinks.failures import os_reason, write_failed
from hkticks.storage.sinks.jsonl import encode_lines
from hkticks.tick import Event

DEFAULT_BUFFER_ROWS = 100_000
STALL_S = 2.0


class StdoutSink:
    """Ticks to standard output as JSON Lines, never blocking the writer thread."""

    path = "-"
    repaired_bytes = 0
    own_thread = True  # see hkticks.storage.sinks.queued

    def __init__(
        self,
        stream: Any = None,
        *,
        max_rows: int = DEFAULT_BUFFER_ROWS,
        what: str = "ticks",
        fd: int | None = None,
    ) -> None:
        if stream is None:
            # looked up now, not at import, so a replaced sys.stdout is honoured
            stream = getattr(sys.stdout, "buffer", None) or sys.stdout
        self._stream = stream
        self._fd: int | None = None
        self._pipe = False
        try:
            # the real stdout: written with os.write, so nothing sits in the
            # interpreter's buffer (whose flush at exit would block on a stalled pipe)
            real = getattr(sys.__stdout__, "buffer", None)
            if real is not None and stream is real:
                real.flush()
                self._fd = real.fileno()
                self._pipe = stat.S_ISFIFO(os.fstat(self._fd).st_mode)
        except (AttributeError, OSError, ValueError):
            self._fd = None
        if fd is not None:  # a descriptor given outright (tests)
            self._fd = fd
            self._pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
        self.max_rows = max_rows
        self.what = what
        self.rows = 0
        self.dropped = 0
        self._reported = 0
        self._buffered = 0
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._cond = threading.Condition()
        # held around each write and its count, so giving up never falls between them
        self._wlock = threading.Lock()
        self._failure: Exception | None = None
        self._closing = False
        self._closed = False
        self._gave_up = False
        self._poller: select.poll | None = None
        if self._pipe and self._fd is not None:
            self._poller = select.poll()
            self._poller.register(self._fd, select.POLLOUT)
        self._thread = threading.Thread(target=self._run, name="hkticks-stdout", daemon=True)
        self._thread.start()

    # -- the Sink protocol ---------------------------------------------------------

    def write(self, items: Sequence[Any]) -> None:
        if self._failure is not None:
            raise self._failure
        if not items:
            return
        data = encode_lines(items)
        n = len(items)
        with self._cond:
            if self._buffered + n > self.max_rows:
                self.dropped += n
                return
            self._chunks.append((data, n))
            self._buffered += n
            self._cond.notify()

    def flush(self, fsync: bool = False) -> None:
        """Nothing to wait for (the thread writes as fast as the reader reads)."""
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Let the buffer drain while the reader reads; drop (and count) the rest."""
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._closing = True
            self._cond.notify()
            last_rows, last_progress = self.rows, time.monotonic()
            while self._buffered:
                if self._failure is not None or not self._thread.is_alive():
                    break
                self._cond.wait(0.1)
                if self.rows != last_rows:
                    last_rows, last_progress = self.rows, time.monotonic()
                elif time.monotonic() - last_progress > STALL_S:
                    break
        # not between a write and its count (a write that blocks anyway -- not a
        # pipe, e.g. a terminal on hold -- is given up on and its lines counted dropped)
        locked = self._wlock.acquire(timeout=1.0)
        try:
            self._give_up()
        finally:
            if locked:
                self._wlock.release()

    def _give_up(self) -> None:
        with self._cond:
            left = self._buffered
            if self._failure is None:
                self.dropped += left
            self._chunks.clear()
            self._buffered = 0
            self._gave_up = True
            self._cond.notify_all()

    def take_events(self) -> list[Event]:
        """A ``dropped`` event for what the full buffer dropped since the last call."""
        new = self.dropped - self._reported
        if new <= 0:
            return []
        self._reported = self.dropped
        return [
            Event(
                time.time_ns() // 1_000_000,
                "dropped",
                None,
                {
                    "count": new,
                    "total": self.dropped,
                    "output": "stdout",
                    "reason": f"the stdout reader fell behind (its buffer of {self.max_rows:,} "
                    "ticks was full); the other outputs have them",
                },
            )
        ]

    # -- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._chunks and not self._closing:
                    self._cond.wait()
                if not self._chunks or self._gave_up:
                    return
                data, _ = self._chunks.popleft()  # its lines stay in _buffered until out
            try:
                if not self._put(data):
                    return  # close() gave up on a stalled reader
            except OSError as exc:
                with self._cond:
                    self._failure = write_failed("-", os_reason(exc), self.rows, self.what)
                    self._cond.notify_all()
                return

    def _out(self, lines: int) -> None:
        """``lines`` more whole lines went out."""
        if lines:
            with self._cond:
                if not self._gave_up:
                    self.rows += lines
                    self._buffered -= lines
                    self._cond.notify_all()

    def _put(self, data: bytes) -> bool:
        """Write ``data``; False if close() gave up meanwhile (the rest is not written).

        A pipe is written in pieces of at most ``PIPE_BUF`` bytes, each only once
        ``poll`` says it fits, so the thread never blocks for good in a write and
        stops at once when :meth:`close` gives up; every whole line out is
        counted in ``rows`` as it goes, the rest in ``dropped``.
        """
        fd = self._fd
        if fd is None:
            with self._wlock:
                if self._gave_up:
                    return False
                self._stream.write(data)
                self._stream.flush()
                self._out(data.count(b"\n"))
            return True
        view = memoryview(data)
        done = 0
        total = len(data)
        piece = select.PIPE_BUF if self._pipe else total
        poller = self._poller
        while done < total:
            if self._gave_up:
                return False
            if poller is not None and not poller.poll(100):
                continue
            with self._wlock:
                if self._gave_up:
                    return False
                n = os.write(fd, view[done : done + piece])
                if n == 0:  # pragma: no cover - pipes never do this
                    raise OSError(errno.EIO, "nothing written")
                self._out(data.count(b"\n", done, done + n))
            done += n
        return True
