"""``serve --chaos N``: N socket kills per hour, at seeded random times.

A real feed loses its connection now and then (a NAT timeout, a provider
restart, a Wi-Fi hand-over); chaos makes the embedded server do it on
purpose so that reconnects, resubscribes, de-duplication and gap records
can be watched and tested. Each kill resets (TCP RST) every open WebSocket
connection, as a network blip would; the market keeps trading, so the
trades made while a client is away are lost to it (and ``GET kline`` still
counts them). Kill times follow a seeded schedule: intervals drawn
uniformly between half and one and a half times the mean ``3600 / N``
seconds, so two kills are never closer than half the mean (a test can tell
outages apart). Time compression is just a larger N: ``--chaos 3600`` is
one kill a second.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol


class _Killable(Protocol):
    def disconnect_all(self, mode: str = "close") -> int: ...


@dataclass
class Kill:
    """One kill: wall time (epoch ms) just before it, and how many connections it dropped."""

    ts: int
    connections: int


@dataclass
class Chaos:
    """A thread that calls ``server.disconnect_all("reset")`` ``per_hour`` times an hour."""

    server: _Killable
    per_hour: float
    seed: int | None = None
    kills: list[Kill] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.per_hour <= 0:
            raise ValueError("per_hour must be positive")
        self._rng = random.Random(self.seed)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="hkticks-chaos", daemon=True)

    @property
    def mean_interval_s(self) -> float:
        return 3600.0 / self.per_hour

    def next_interval(self) -> float:
        return self.mean_interval_s * self._rng.uniform(0.5, 1.5)

    def start(self) -> Chaos:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def history(self) -> list[Kill]:
        with self._lock:
            return list(self.kills)

    def _run(self) -> None:
        while not self._stop.wait(self.next_interval()):
            at = time.time_ns() // 1_000_000  # just before: the kill happens after this
            try:
                n = self.server.disconnect_all("reset")
            except Exception:  # the server is stopping
                return
            with self._lock:
                self.kills.append(Kill(at, n))
