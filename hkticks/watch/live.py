"""The board without a screen: model, detail buffers, the one pump, REST reference data.

:class:`LiveBoard` is what a display drives: the Textual app (``watch``,
``watch --heatmap``) calls :attr:`LiveBoard.pump` every frame and reads
:attr:`LiveBoard.model` and :attr:`LiveBoard.buffers`; a web dashboard can
do the same. It imports no UI toolkit.

Reference data comes from AllTick's REST API on background threads and
reaches the model through the queue (only the display's thread touches the
model): the previous close and today's bar (:func:`~hkticks.watch.pump.reference_worker`),
the HK share counts of every symbol shown for the heatmap's market cap
(``static_info``, fetched once, on first need, through the client's pacing
and batching), and a symbol's bars for the detail view's timeframes
(:meth:`LiveBoard.history`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hkticks.alltick import protocol as alltick
from hkticks.errors import HkticksError
from hkticks.feed.queue import TickQueue
from hkticks.watch.buffers import TIMEFRAMES, Buffers
from hkticks.watch.model import FLASH_S, ReferenceData, WatchModel
from hkticks.watch.pump import BoardPump, FeedLike, start_reference_thread


def shares_of(infos: Mapping[str, Any]) -> dict[str, float]:
    """``hk_shares`` per code from static_info values, read defensively (absent: left out)."""
    out: dict[str, float] = {}
    for code, info in infos.items():
        raw = getattr(info, "hk_shares", None)
        try:
            value = float(raw) if raw not in (None, "") else 0.0
        except (TypeError, ValueError):
            value = 0.0
        if value > 0:
            out[code] = value
    return out


class LiveBoard:
    """One board: ``feed`` -> ``queue`` -> :attr:`pump` -> :attr:`model` and :attr:`buffers`.

    ``rest`` (a :class:`~hkticks.alltick.rest_client.RestClient`, or ``None`` when
    there is none: ``--from`` NATS, a recording replayed, ``no_reference``
    saying why) supplies the reference data. Used by ``watch`` (and its
    heatmap) and ``replay``.
    """

    def __init__(
        self,
        feed: FeedLike,
        queue: TickQueue,
        codes: Sequence[str],
        *,
        names: Mapping[str, tuple[str, str]] | None = None,
        rest: Any = None,
        alerts: Any = None,
        sort: str = "given",
        book: bool = False,
        flash_s: float = FLASH_S,
        clock: Callable[[], float] = time.time,
        no_reference: str = "no REST API",
    ) -> None:
        names = dict(names or {})
        self.no_reference = no_reference  # why there is no previous close without ``rest``
        self.feed = feed
        self.queue = queue
        self.codes = list(codes)
        self.names = names
        self.rest = rest
        self.model = WatchModel(
            self.codes, names=names, sort=sort, book=book, flash_s=flash_s, started=clock()
        )
        self.buffers = Buffers(self.codes)
        self.pump = BoardPump(feed, queue, self.model, self.buffers, alerts=alerts)
        self._stop = threading.Event()
        self._shares_asked = False

    def start(self) -> None:
        """Start the feed and the reference thread (or say why there is no reference data)."""
        self.feed.start()  # type: ignore[attr-defined]
        if self.rest is not None:
            missing = [c for c in self.codes if c not in self.names]
            start_reference_thread(self.rest, self.codes, missing, self.queue, self._stop)
        else:
            self.model.reference, self.model.reference_error = "unavailable", self.no_reference

    def stop(self) -> None:
        self._stop.set()
        self.feed.stop()  # type: ignore[attr-defined]

    def request_shares(self) -> None:
        """Fetch ``hk_shares`` of every symbol once (the heatmap's market cap), in the
        background; the answer reaches the model through the queue."""
        if self._shares_asked:
            return
        self._shares_asked = True
        if self.rest is None:
            self.model.shares = "unavailable"
            return
        self.model.shares = "loading"
        threading.Thread(
            target=self._fetch_shares, name="hkticks-watch-shares", daemon=True
        ).start()

    def _fetch_shares(self) -> None:
        try:
            shares = shares_of(self.rest.static_info(self.codes))
            self.queue.put_event(ReferenceData(shares=shares, kind="shares"))
        except HkticksError as exc:
            reason = str(exc).split("\n", 1)[0][:160]
            self.queue.put_event(ReferenceData(error=reason, kind="shares"))
        except Exception as exc:  # an unexpected answer must not kill the board
            self.queue.put_event(ReferenceData(error=type(exc).__name__, kind="shares"))

    def history(self, code: str, timeframe: str) -> list[alltick.Bar] | None:
        """``code``'s bars for a detail timeframe (``GET kline``); ``None``: no REST."""
        if self.rest is None:
            return None
        kline_type = TIMEFRAMES[timeframe].kline_type
        if kline_type == alltick.KLINE_1MIN:
            return self.rest.minute_bars(code) or []
        return list(self.rest.klines(code, kline_type, alltick.MAX_KLINE_BARS))
