"""The bounded queue between the socket threads and the consumers.

Producers (one websocket-client thread per connection) call :meth:`put`,
which never blocks: when the queue is full the item is dropped and counted
(``dropped``), so a stuck consumer can never stall the sockets, and the loss
is reported, never silent. Session events go through :meth:`put_event`,
which ignores the bound (events are rare and explain gaps).

One consumer drains it in batches with :meth:`get_batch`. A busy queue costs
a producer one ``deque.append`` per item: while items are flowing the
consumer naps between polls instead of asking to be woken, and the wake-up
event is only set (once per wait) when the consumer is actually waiting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

DEFAULT_MAXSIZE = 500_000
# How a consumer waits while items are flowing (see get_batch).
NAP_S = 0.001
BUSY_WINDOW_S = 0.05


class TickQueue:
    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self._dq: deque[Any] = deque()
        self._wake = threading.Event()
        self._waiting = False
        self._closed = False
        self.dropped = 0  # exact: counted under a lock (the drop path is rare)
        # put_count is approximate when several producers race (no lock on the hot path)
        self.put_count = 0
        self._drop_lock = threading.Lock()
        self.high_water = 0
        self.nap = NAP_S
        self.busy_window = BUSY_WINDOW_S
        self._last_items = float("-inf")

    def __len__(self) -> int:
        return len(self._dq)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: Any) -> bool:
        """Enqueue ``item``; ``False`` (and ``dropped`` += 1) when full."""
        dq = self._dq
        n = len(dq)
        if n >= self.maxsize:
            with self._drop_lock:
                self.dropped += 1
            return False
        dq.append(item)
        self.put_count += 1
        if n >= self.high_water:
            self.high_water = n + 1
        if self._waiting:
            self._waiting = False  # one wake-up per wait, not one per item
            self._wake.set()
        return True

    def put_event(self, item: Any) -> None:
        """Enqueue regardless of the bound (session events)."""
        self._dq.append(item)
        if self._waiting:
            self._waiting = False
            self._wake.set()

    def get_batch(self, max_items: int = 4096, timeout: float | None = 0.1) -> list[Any]:
        """Up to ``max_items`` items, oldest first; waits up to ``timeout`` s when empty.

        Returns ``[]`` on timeout, or at once when the queue is closed and empty.

        While items are flowing (some were taken in the last ``busy_window``
        seconds) an empty queue is polled with naps of ``nap`` seconds rather
        than waited on. Being woken costs the producer (a socket thread) a
        lock and a futex call, and under a firehose the consumer would be
        woken for one or two items at a time: together that cost more than
        decoding. A nap costs the producer nothing and lets a batch gather,
        for at most about ``nap`` seconds of added latency. A queue idle for
        longer than the window waits to be woken, so idling costs nothing.
        """
        dq = self._dq
        if not dq and not self._closed and timeout != 0:
            now = time.monotonic()
            deadline = None if timeout is None else now + timeout
            if now - self._last_items < self.busy_window:
                until = now + self.busy_window
                if deadline is not None and deadline < until:
                    until = deadline
                nap = self.nap
                while not dq and not self._closed:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    time.sleep(nap if nap < left else left)
            if not dq and not self._closed:
                rest = None if deadline is None else deadline - time.monotonic()
                if rest is None or rest > 0:
                    self._waiting = True
                    self._wake.clear()
                    if not dq and not self._closed:
                        self._wake.wait(rest)
                    self._waiting = False
        n = len(dq)
        if n > max_items:
            n = max_items
        if n:
            self._last_items = time.monotonic()
        pop = dq.popleft
        return [pop() for _ in range(n)]

    def close(self) -> None:
        """No more items will come: wake the consumer so it can drain and stop."""
        self._closed = True
        self._wake.set()
