"""The replay job: a recording played back at its recorded pace, onto the terminal
board, the web dashboard or a JSON Lines stream, or through the alerts engine.

``hkticks replay`` opens the recording (:mod:`hkticks.run.recordings`), picks a
view and calls :func:`replay_json`, :func:`replay_on_board`, :func:`replay_on_dash`
or :func:`recording_alerts`; each returns what the summary needs. The board of a
replay is the live one (:class:`~hkticks.watch.live.LiveBoard`) over a
:class:`~hkticks.analysis.replay.ReplayFeed`, so the two cannot disagree.
(``--serve`` is :mod:`hkticks.run.replay_serve`.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from hkticks.analysis.replay import ReplayClock, Tally
from hkticks.errors import UsageError
from hkticks.stopping import StopFlag, stop_on_signals
from hkticks.storage import provenance
from hkticks.storage.readers import Recording


@dataclass(frozen=True)
class ReplayView:
    """How the board of a replay looks (terminal or web)."""

    sort: str | None = None
    colors: str = "west"
    name_lang: str = "en"
    simulated: bool = False


def replay_json(recording: Recording, clock: ReplayClock, out: IO[bytes]) -> tuple[Tally, str]:
    """The trades as JSON Lines to ``out`` (stdout), at ``clock``'s pace, until the end, a signal
    or a closed pipe (reason ``"pipe closed"``)."""
    from hkticks.analysis.replay import replay_json as write_json
    from hkticks.watch.pump import silence_stdout

    stop = StopFlag()
    tally = Tally(recording.keyed())
    try:
        with stop_on_signals(stop):
            write_json(iter(tally), out, clock, stop)
    except BrokenPipeError:
        silence_stdout()
        return tally, "pipe closed"
    return tally, stop.reason


def cached_names(codes: list[str]) -> dict[str, tuple[str, str]]:
    """Names from the cached Stock Connect list (real, else the demo one): no network."""
    from hkticks.symbols import universe as symbol_service

    names: dict[str, tuple[str, str]] = {}
    for demo in (False, True):
        universe = symbol_service.cached_universe(demo=demo)
        if universe is None:
            continue
        for code in codes:
            info = universe.get(code)
            if code not in names and info is not None and (info.name_en or info.name_cn):
                names[code] = (info.name_en, info.name_cn)
    return names


def replayed_board(
    recording: Recording, clock: ReplayClock, factor: float | None, sort: str | None
) -> tuple[Any, Tally, Callable[[], str]]:
    """The board of a replay (terminal or web): its :class:`LiveBoard`, its tally and the
    REPLAY status text."""
    from hkticks.analysis.replay import ReplayFeed
    from hkticks.feed.queue import TickQueue
    from hkticks.market_hours import hk_time_text
    from hkticks.watch.live import LiveBoard
    from hkticks.watch.model import FLASH_S

    codes = recording.symbols()
    if not codes:
        raise UsageError("the recordings hold no trades")
    first = [k for k in (f.first_key() for f in recording.files) if k is not None]
    queue = TickQueue()
    tally = Tally(recording.keyed())
    feed = ReplayFeed(iter(tally), queue, clock, symbols=len(codes))
    feed.start_ms = min(first) if first else None
    live = LiveBoard(
        feed,
        queue,
        codes,
        names=cached_names(codes),
        sort=sort or "code",
        flash_s=FLASH_S * (factor or 1.0),  # a second on screen whatever the speed
        clock=feed.now,
        # a recording has no previous close: say so, and measure change from the first trade
        no_reference="not in a recording",
    )
    speed = "max" if factor is None else f"{factor:g}x"

    def replay_status() -> str:
        if feed.finished.is_set():
            return f"{speed} · done · {feed.ticks:,} trades"
        return f"{speed} · {hk_time_text(int(feed.now() * 1000))} · {feed.ticks:,} trades"

    return live, tally, replay_status


def replay_on_board(
    recording: Recording, clock: ReplayClock, factor: float | None, view: ReplayView
) -> tuple[Tally, str]:
    """The replay on the terminal board until it ends or is quit."""
    from hkticks.watch.app import BoardApp
    from hkticks.watch.pump import run_app

    live, tally, replay_status = replayed_board(recording, clock, factor, view.sort)
    stop = StopFlag()
    app = BoardApp(
        live.model,
        pump=live.pump,
        buffers=live.buffers,
        colors=view.colors,
        names=view.name_lang,
        replay_status=replay_status,
        stop=stop,
        clock=live.feed.now,
        demo=view.simulated,
    )
    live.start()
    try:
        run_app(app, live.queue, stop)
    finally:
        live.stop()
    return tally, stop.reason


def replay_on_dash(
    recording: Recording,
    clock: ReplayClock,
    factor: float | None,
    view: ReplayView,
    *,
    host: str,
    port: int,
    auth: str | None,
    announce: Callable[[str], None],
) -> tuple[Tally, str]:
    """The replay in the web dashboard: the same board, another view."""
    from hkticks.watch.web.server import DashServer, serve_until_stopped

    live, tally, replay_status = replayed_board(recording, clock, factor, None)
    server = DashServer(
        pump=live.pump,
        model=live.model,
        buffers=live.buffers,
        host=host,
        port=port,
        auth=auth,
        size="turnover",  # a recording has no share counts
        colors=view.colors,
        replay_status=replay_status,
        simulated=view.simulated,
        clock=live.feed.now,
    )
    server.start()
    stop = StopFlag()
    live.start()
    try:
        serve_until_stopped(server, stop, announce=announce)
    finally:
        live.stop()
    if server.error is not None:
        raise server.error
    return tally, stop.reason


def recording_alerts(recording: Recording, cfg: Any, bases: Any, emit: Any) -> int:
    """The recording through the alerts engine, with the baselines a live run applied at
    the trade where it applied them (one file recorded by ``alerts --out``); returns the
    trades judged."""
    from hkticks.analysis.baselines import applied_path, read_applied
    from hkticks.run.alerts_job import replay_alerts

    paths = [getattr(f, "path", None) for f in recording.files]
    applied = read_applied(applied_path(paths[0])) if len(paths) == 1 and paths[0] else []
    return replay_alerts(iter(recording), cfg, bases, emit, applied)


def gap_lines(recording: Recording) -> list[str]:
    """The disconnects of the recording's sidecars, one line each: the trades they lost
    are not in the files."""
    from hkticks.analysis.gap_records import describe, gap_events, sidecar_events

    events = sidecar_events([f.path for f in recording.files if f.path != "-"])
    return [describe(gap) for gap in gap_events(events)]


def summary_line(
    tally: Tally, files: int, elapsed: float, clock: ReplayClock, reason: str, kind: str | None
) -> str:
    """``replayed N trades of M symbols (...) from F files in S s`` with what cut it short."""
    skipped = f"; {clock.skipped_ms / 1000:,.0f} s of pauses skipped" if clock.skipped_ms else ""
    simulated = kind in (provenance.SIMULATED, provenance.MIXED)
    return (
        f"replayed {tally.describe()} from {files} file{'s' if files != 1 else ''} "
        f"in {elapsed:.1f} s{skipped}"
        + (f" ({reason})" if reason else "")
        + (f" [{provenance.label(kind)}]" if simulated else "")
    )
