"""The dashboard job: the board (:class:`~hkticks.watch.live.LiveBoard`) of a source,
shown by the web dashboard's server until stopped.

``hkticks dash`` builds a :class:`DashOptions` from its flags and calls
:func:`run_dash`; the board is the same as ``hkticks watch``'s (pump, model,
buffers, REST reference data, the anomaly engine of ``[alerts]``), so the two
views cannot disagree.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hkticks.feed.queue import TickQueue
from hkticks.run.alerts_job import board_alerts
from hkticks.run.source import Provider
from hkticks.run.watch_job import board_feed
from hkticks.stopping import StopFlag


@dataclass(frozen=True)
class DashOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    auth: str | None = None
    book: bool = False
    size: str = "cap"
    scale: float = 3.0
    colors: str = "west"
    sectors_file: str | None = None
    duration: float | None = None


@dataclass(frozen=True)
class DashResult:
    trades: int
    symbols: int
    alerts: int
    simulated: bool
    reason: str

    def summary(self) -> str:
        """``dashboard closed (reason): N trades of M symbols, K alerts`` (and DEMO)."""
        from hkticks.run.record_job import plural

        tag = " [DEMO: simulated trades, not market data]" if self.simulated else ""
        return (
            f"dashboard closed ({self.reason}): {plural(self.trades, 'trade')} of "
            f"{plural(self.symbols, 'symbol')}, {plural(self.alerts, 'alert')}{tag}"
        )


def run_dash(
    provider: Provider,
    codes: Sequence[str],
    names: Mapping[str, tuple[str, str]],
    options: DashOptions,
    *,
    note: Callable[[str], None],
    on_start: Callable[[str], None] | None = None,
) -> DashResult:
    """Serve ``codes``' board until Ctrl-C/SIGTERM, ``options.duration`` or a fatal feed
    error (raised after the server stopped). ``note`` gets the "dashboard at URL" line;
    ``on_start`` the URL (e.g. to open a browser)."""
    from hkticks.watch import layout as saved
    from hkticks.watch.live import LiveBoard
    from hkticks.watch.pump import warnings_to_queue
    from hkticks.watch.web.server import DashServer, serve_until_stopped

    queue = TickQueue()
    feed = board_feed(provider, codes, queue, book=options.book)
    rest = provider.rest_client() if provider.token else None  # --from: no REST
    board = LiveBoard(
        feed,
        queue,
        codes,
        names=names,
        rest=rest,
        no_reference="reading --from NATS",
        alerts=board_alerts(provider.simulated),
        book=options.book,
    )
    layout = saved.load()
    server = DashServer(
        pump=board.pump,
        model=board.model,
        buffers=board.buffers,
        host=options.host,
        port=options.port,
        auth=options.auth,
        size=options.size,
        clamp=options.scale,
        colors=options.colors,
        watchlists=layout.watchlists,
        sectors=saved.load_sectors(options.sectors_file),
        history=board.history if rest is not None else None,
        request_shares=board.request_shares,
        simulated=provider.simulated,  # DEMO from the first frame, before any trade
    )
    stop = StopFlag()
    server.start()
    if on_start is not None:
        on_start(server.url)
    board.start()
    deadline = time.monotonic() + options.duration if options.duration else None
    try:
        with warnings_to_queue(queue):
            serve_until_stopped(server, stop, deadline=deadline, announce=note)
    finally:
        board.stop()
    if server.error is not None:
        raise server.error
    return DashResult(
        board.model.trades,
        len(codes),
        len(server.alerts),
        server.is_simulated,
        stop.reason or "stopped",
    )
