"""The one Feed protocol: what every consumer needs of a running feed.

:class:`hkticks.feed.shards.Feed` (AllTick, the embedded simulated market)
and :class:`hkticks.feed.nats_source.NatsFeed` (a stream another hkticks
publishes) both have this shape, and so may a test's replay: the record job,
the alerts job, the board and ``hkticks.stream`` only ever see a
:class:`TickFeed`. Built from a source spec by :mod:`hkticks.run.source`.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from hkticks.errors import HkticksError


class TickFeed(Protocol):
    """A feed filling its queue between :meth:`start` and :meth:`stop`."""

    fatal: HkticksError | None  # the error that ended it for good (token rejected...)
    done: threading.Event  # set when it stopped on its own (nothing more will come)

    def status(self) -> Any: ...


class StartableFeed(TickFeed, Protocol):
    """A :class:`TickFeed` as its owner drives it (the jobs of :mod:`hkticks.run`)."""

    shown_url: str  # where it reads, secrets masked
    shards: Any  # the symbols of each connection
    dedup: Any  # the de-duplication a recording seeds with what its files hold

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...
