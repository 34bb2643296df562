"""The bounded queue between the socket threads and the consumers.

Producers (one websocket-client thread per connection) call :meth:`put`,
which never blocks: when the queue is full the item is dropped and counted
(``dropped``), so a stuck consumer can never stall the sockets, and the loss
is reported, never silent. Session events go through :meth:`put_event`,
which ignores the bound (events are rare and explain gaps).

One consumer drains it in batches with :meth:`get_batch`. The wake-up
event is only set when the consumer is actually waiting, so a busy queue
costs one ``deque.append`` per item.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

DEFAULT_MAXSIZE = 500_000


class TickQueue:
    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self._dq: deque[Any] = deque()
        self._wake = threading.Event()
        self._waiting = False
        self._closed = False
        self.dropped = 0
        self.put_count = 0
        self.high_water = 0

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
            self.dropped += 1
            return False
        dq.append(item)
        self.put_count += 1
        if n >= self.high_water:
            self.high_water = n + 1
        if self._waiting:
            self._wake.set()
        return True

    def put_event(self, item: Any) -> None:
        """Enqueue regardless of the bound (session events)."""
        self._dq.append(item)
        if self._waiting:
            self._wake.set()

    def get_batch(self, max_items: int = 4096, timeout: float | None = 0.1) -> list[Any]:
        """Up to ``max_items`` items, oldest first; waits up to ``timeout`` s when empty.

        Returns ``[]`` on timeout, or at once when the queue is closed and empty.
        """
        dq = self._dq
        if not dq and not self._closed:
            self._waiting = True
            self._wake.clear()
            if not dq and not self._closed:
                self._wake.wait(timeout)
            self._waiting = False
        n = len(dq)
        if n > max_items:
            n = max_items
        pop = dq.popleft
        return [pop() for _ in range(n)]

    def close(self) -> None:
        """No more items will come: wake the consumer so it can drain and stop."""
        self._closed = True
        self._wake.set()
