"""How a long-running command is asked to stop: Ctrl-C, SIGTERM or a deadline.

The signal handlers only set a flag that the command's main loop checks, so
a board is never interrupted half-way through a frame and a recorder always
drains and closes its files. A second Ctrl-C is for the impatient.
"""

from __future__ import annotations

import os
import signal
import sys
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

    def set(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout: float) -> bool:
        return self.event.wait(timeout)


@contextmanager
def stop_on_signals(stop: StopFlag, *, second_ctrl_c: str = "raise") -> Iterator[None]:
    """Ctrl-C and SIGTERM set ``stop``; a second Ctrl-C raises ``KeyboardInterrupt``
    (``second_ctrl_c="raise"``) or exits the process at once with status 130
    (``"exit"``: nothing more is flushed, but every line already written is whole).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:
        stop.interrupts += 1
        if signum == signal.SIGINT and stop.interrupts > 1:
            if second_ctrl_c == "exit":
                sys.stderr.write("\nhkticks: second Ctrl-C, exiting now\n")
                os._exit(130)
            raise KeyboardInterrupt
        stop.set("SIGTERM" if signum == signal.SIGTERM else "Ctrl-C")

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
