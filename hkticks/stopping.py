"""How a long-running command is asked to stop: Ctrl-C, SIGTERM or a deadline.

The signal handlers only set a flag and write one byte to a wake-up pipe, so
a board is never interrupted half-way through a frame and a recorder always
drains and closes its files. They take no lock: a handler runs in the main
thread between two bytecodes, possibly while that thread holds the very lock
(``threading.Event.set`` inside a signal handler deadlocks when the main
thread was inside ``Event.wait`` holding the event's condition lock: the
recorder that once ignored SIGTERM for 70 s). A small watcher thread reads
the pipe and sets the :class:`threading.Event` that other threads wait on,
outside the handler. A second Ctrl-C is for the impatient.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StopFlag:
    """Set by Ctrl-C/SIGTERM (or a deadline); ``reason`` says which."""

    event: threading.Event = field(default_factory=threading.Event)
    reason: str = ""
    interrupts: int = 0
    # set by a signal handler (a plain assignment, no lock): seen by is_set/wait at
    # once, and turned into ``event`` by the watcher thread of stop_on_signals
    signalled: bool = False

    def set(self, reason: str) -> None:
        """Not for signal handlers (it takes the event's lock): see :func:`stop_on_signals`."""
        if not self.reason:
            self.reason = reason
        self.event.set()

    def is_set(self) -> bool:
        return self.signalled or self.event.is_set()

    def wait(self, timeout: float) -> bool:
        if self.signalled:
            return True
        return self.event.wait(timeout)

    def _from_signal(self, reason: str) -> None:
        """The signal handler's part: plain assignments, no lock."""
        if not self.reason:
            self.reason = reason
        self.signalled = True


@contextmanager
def stop_on_signals(stop: StopFlag, *, second_ctrl_c: str = "raise") -> Iterator[None]:
    """Ctrl-C and SIGTERM set ``stop``; a second Ctrl-C raises ``KeyboardInterrupt``
    (``second_ctrl_c="raise"``) or exits the process at once with status 130
    (``"exit"``: nothing more is flushed, but every line already written is whole).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # a handler never blocks on a full pipe

    def on_signal(signum: int, frame: Any) -> None:
        stop.interrupts += 1
        if signum == signal.SIGINT and stop.interrupts > 1:
            if second_ctrl_c == "exit":
                os.write(2, b"\nhkticks: second Ctrl-C, exiting now\n")
                os._exit(130)
            raise KeyboardInterrupt
        stop._from_signal("SIGTERM" if signum == signal.SIGTERM else "Ctrl-C")
        try:
            os.write(write_fd, b"s")
        except OSError:  # full (the watcher is behind: it will see the flag) or closed
            pass

    def watch() -> None:
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data or b"x" in data:  # closed, or the context is over
                return
            if stop.signalled:
                stop.event.set()

    watcher = threading.Thread(target=watch, name="hkticks-signals", daemon=True)
    watcher.start()
    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        os.set_blocking(write_fd, True)
        os.write(write_fd, b"x")
        watcher.join(5.0)
        os.close(write_fd)
        os.close(read_fd)
        if stop.signalled:
            stop.event.set()
