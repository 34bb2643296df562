"""The watch job: a live source on the terminal board, or as a JSON Lines stream.

``hkticks watch`` resolves the source and its symbols, then calls
:func:`run_board` (the Textual board over :class:`~hkticks.watch.live.LiveBoard`:
pump, model, buffers, REST reference data, the anomaly engine of ``[alerts]``,
the saved layout and sectors) or :func:`stream_json`. :func:`board_feed` is the
feed both read, and the web dashboard's (:mod:`hkticks.run.dash_job`) too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from hkticks.feed.queue import TickQueue
from hkticks.feed.session import SessionConfig
from hkticks.feed.tickfeed import StartableFeed
from hkticks.market_hours import calendar as market_calendar
from hkticks.run.source import Provider
from hkticks.stopping import StopFlag, stop_on_signals

BOOK_LEVELS = 10  # the detail view's depth ladder


def board_feed(
    provider: Provider, codes: Sequence[str], queue: TickQueue, *, book: bool
) -> StartableFeed:
    """The feed a board (terminal or web) and the JSON stream read: AllTick, or the NATS
    stream of ``--from``; books ``BOOK_LEVELS`` deep with ``book``."""
    return provider.feed(
        list(codes),
        queue,
        book_depth=BOOK_LEVELS if book else None,
        # no stale alarm while HKEX is shut (the simulated market never is)
        config=SessionConfig(calendar=None if provider.simulated else market_calendar()),
    )


@dataclass(frozen=True)
class StreamResult:
    written: int
    reason: str
    elapsed: float


def stream_json(
    provider: Provider,
    codes: Sequence[str],
    duration: float | None,
    out: IO[bytes],
    err: IO[str],
) -> StreamResult:
    """One JSON object per trade to ``out`` (stdout; notes to ``err``) until ``duration``,
    a signal or a closed pipe (stdout then silenced, reason ``"pipe closed"``)."""
    from hkticks.watch.pump import run_json, silence_stdout

    queue = TickQueue()
    feed = board_feed(provider, codes, queue, book=False)
    stop = StopFlag()
    started = time.monotonic()
    deadline = started + duration if duration else None
    written = 0
    feed.start()
    try:
        with stop_on_signals(stop):
            written = run_json(
                feed,
                queue,
                out,
                err,
                stop,
                deadline=deadline,
                symbols=len(codes),
            )
    finally:
        feed.stop()
    if stop.reason == "pipe closed":
        silence_stdout()
    return StreamResult(written, stop.reason, time.monotonic() - started)


@dataclass(frozen=True)
class BoardOptions:
    """How the terminal board runs (the ``watch`` flags of the view)."""

    book: bool = False
    sort: str | None = None  # None: the saved layout's, else the order given
    colors: str = "west"
    name_lang: str = "en"
    duration: float | None = None
    bell: bool = False
    start: str = "board"  # or "heatmap"
    heatmap_area: str = "cap"
    heatmap_scale: float = 3.0
    sectors_file: str | None = None


def run_board(
    provider: Provider,
    codes: Sequence[str],
    names: Mapping[str, tuple[str, str]],
    options: BoardOptions,
) -> str:
    """The board of ``codes`` until quit, ``options.duration`` or a signal; returns the
    summary line (only after a clean stop: an error is raised once the terminal is back)."""
    from hkticks.run.alerts_job import board_alerts
    from hkticks.watch import layout as saved
    from hkticks.watch.app import BoardApp
    from hkticks.watch.columns import ColumnLayout
    from hkticks.watch.live import LiveBoard
    from hkticks.watch.pump import run_app
    from hkticks.watch.view import board_summary

    book, sort = options.book, options.sort
    layout = saved.load()
    sectors = saved.load_sectors(options.sectors_file)
    queue = TickQueue()
    live = LiveBoard(
        board_feed(provider, codes, queue, book=book),
        queue,
        list(codes),
        names=dict(names),
        rest=provider.rest_client() if provider.token else None,  # --from: no REST
        no_reference="reading --from NATS",
        alerts=board_alerts(provider.simulated),
        sort=sort or layout.sort or "given",
        book=book,
    )
    stop = StopFlag()
    app = BoardApp(
        live.model,
        pump=live.pump,
        buffers=live.buffers,
        colors=options.colors,
        names=options.name_lang,
        demo=provider.simulated,
        layout=ColumnLayout(book=book, enabled=layout.columns),
        reverse=layout.reverse if sort is None else False,
        watchlists=layout.watchlists,
        watchlist=layout.watchlist,
        book_feed=book,
        history=live.history,
        request_shares=live.request_shares,
        sectors=sectors,
        save_layout=saved.save,
        save_watchlists=saved.save_watchlists,
        stop=stop,
        deadline=time.monotonic() + options.duration if options.duration else None,
        bell=options.bell,
        start=options.start,
        heatmap_area=options.heatmap_area,
        heatmap_scale=options.heatmap_scale,
    )
    live.start()
    try:
        run_app(app, queue, stop)
    finally:
        live.stop()
    return board_summary(live.model, time.time(), demo=app.simulated)
