"""``hkticks replay``: recordings as a live board, as JSON Lines, or over a WebSocket."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click

from hkticks.alltick.urls import redact
from hkticks.analysis.replay import ReplayClock, Tally, parse_speed
from hkticks.cli.common import PLAN_CHOICE, Duration, engine_options, parse_symbols, warn
from hkticks.errors import NothingRead, UsageError
from hkticks.stopping import StopFlag, stop_on_signals
from hkticks.storage import provenance
from hkticks.storage.readers import Recording, make_selection

SORT_CHOICES = ("code", "change", "volume", "active")


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--speed",
    default="1",
    show_default=True,
    metavar="1|10|max",
    help="Replay this many times faster than recorded (0.5 is slower); max: no waiting.",
)
@click.option(
    "--symbols",
    "symbols",
    multiple=True,
    metavar="CODES",
    help="Only these symbols (e.g. 700,9988; repeatable).",
)
@click.option(
    "--from",
    "start",
    metavar="HH:MM",
    help="Start at this exchange time, Hong Kong time (every day); or YYYY-MM-DD[ HH:MM].",
)
@click.option(
    "--to",
    "end",
    metavar="HH:MM",
    help="Stop before this exchange time, Hong Kong time (every day); or YYYY-MM-DD[ HH:MM].",
)
@click.option(
    "--max-gap",
    type=Duration(),
    default="60s",
    show_default=True,
    help="Shorten pauses longer than this (lunch, nights, disconnects); e.g. 1d keeps them.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the trades as JSON Lines, as record writes them (automatic when stdout is not a terminal).",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Serve the trades over the embedded AllTick-compatible WebSocket server instead.",
)
@click.option(
    "--dash",
    "as_dash",
    is_flag=True,
    help="Show the replay in the web dashboard (`hkticks dash`) instead of the terminal board.",
)
@click.option(
    "--auth",
    metavar="TOKEN",
    envvar="HKTICKS_DASH_AUTH",
    default=None,
    help="With --dash and a non-loopback --host: the access token the page asks for.",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="With --serve or --dash: address."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="With --serve or --dash: port (0: any free port).",
)
@click.option(
    "--rest-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="With --serve: REST port  [default: --port + 1]",
)
@click.option(
    "--token",
    default="demo",
    show_default=True,
    metavar="TOKEN",
    help="With --serve: the token clients must send.",
)
@click.option(
    "--plan", type=PLAN_CHOICE, default="all-hk", show_default=True, help="With --serve: limits."
)
@click.option("--sort", type=click.Choice(SORT_CHOICES), default=None, help="Board row order.")
@click.option(
    "--colors",
    type=click.Choice(["west", "cn"]),
    default="west",
    show_default=True,
    help="Board colours: west (green up) or cn (red up).",
)
@click.option(
    "--names",
    "name_lang",
    type=click.Choice(["en", "cn"]),
    default="en",
    show_default=True,
    help="Board names in English or Chinese.",
)
@click.option(
    "--alerts",
    "with_alerts",
    is_flag=True,
    help="Print the anomaly engine's alerts instead (as fast as the files read; the same "
    "alerts as the live `hkticks alerts` run; --json for JSON).",
)
@engine_options
def replay(
    files: tuple[str, ...],
    speed: str,
    symbols: tuple[str, ...],
    start: str | None,
    end: str | None,
    max_gap: float,
    as_json: bool,
    serve: bool,
    as_dash: bool,
    auth: str | None,
    host: str,
    port: int,
    rest_port: int | None,
    token: str,
    plan: str,
    sort: str | None,
    colors: str,
    name_lang: str,
    with_alerts: bool,
    history: str | None,
    history_days: int,
    **engine_flags: object,
) -> None:
    """Replay recordings as a live board, JSONL, or over a WebSocket.

    Reads any recording (.jsonl, .csv, .db, compressed .gz/.zst; several
    files are merged in time order) and plays it back with its original
    timing divided by --speed. Timing follows when trades were received;
    --from/--to select by exchange time.

    \b
    Examples:
      hkticks record 700 9988 --demo --out day.jsonl --out day.db --duration 1m
      hkticks replay day.jsonl --speed 10
      hkticks replay day.db --symbols 700 --json | jq .price
      hkticks replay day.jsonl day.db --speed max --json > both.jsonl
      hkticks replay day.jsonl --serve --port 8765
      hkticks record 700 --url ws://127.0.0.1:8765/quote-stock-b-ws-api --token demo --out again.jsonl
      hkticks replay day.jsonl --dash --speed 10
    """
    factor = parse_speed(speed)
    selection = make_selection(parse_symbols(symbols), start, end)
    recording = Recording(files, selection)
    if not recording.files:
        raise UsageError("no trade recordings among the files given (only events sidecars)")
    if sum((serve, as_json, as_dash)) > 1:
        raise UsageError("give one of --serve, --dash and --json")
    max_gap_ms = int(max_gap * 1000) if max_gap > 0 else None
    clock = ReplayClock(factor, max_gap_ms)
    if with_alerts:
        _replay_alerts(recording, as_json, history, history_days, engine_flags)
        return

    started = time.monotonic()
    json_mode = not serve and not as_dash and (as_json or not sys.stdout.isatty())
    # simulated (demo) trades say so when read back: on the board, in the summary, to clients
    kind = provenance.kind_of(f.path for f in recording.files)
    simulated = kind in (provenance.SIMULATED, provenance.MIXED)
    if serve:
        tally, reason, clock = _serve(
            recording, factor, max_gap_ms, host, port, rest_port, token, plan, simulated
        )
    elif as_dash:
        tally, reason = _dash(recording, clock, factor, host, port, auth, colors, simulated)
    elif json_mode:
        tally, reason = _json(recording, clock)
        if reason == "pipe closed":
            return
    else:
        tally, reason = _board(recording, clock, factor, sort, colors, name_lang, simulated)
    from hkticks.analysis.stats import nothing_read

    unread = nothing_read(recording.reports)
    if unread is not None:  # every line skipped: one line and a non-zero exit
        raise NothingRead(unread)
    for line in recording.problems():
        warn(line)
    if tally.trades == 0 and not reason:
        # like grep: nothing matched is worth saying, and a non-zero exit for scripts
        warn(
            "no trades to replay: check --symbols, --from and --to against what "
            "`hkticks stats FILE` says the files hold"
        )
        sys.exit(1)
    from hkticks.analysis.gap_records import describe, gap_events, sidecar_events

    # the trades a disconnect lost are not in the files: say so, even into a pipe
    for gap in gap_events(sidecar_events([f.path for f in recording.files if f.path != "-"])):
        warn(describe(gap))
    elapsed = time.monotonic() - started
    skipped = f"; {clock.skipped_ms / 1000:,.0f} s of pauses skipped" if clock.skipped_ms else ""
    # a JSON stream into a pipe stays quiet on stderr unless something happened
    if not json_mode or sys.stderr.isatty() or reason:
        n = len(recording.files)
        warn(
            f"replayed {tally.describe()} from {n} file{'s' if n != 1 else ''} "
            f"in {elapsed:.1f} s{skipped}"
            + (f" ({reason})" if reason else "")
            + (f" [{provenance.label(kind)}]" if simulated else "")
        )
    failure = recording.failure()  # a part or a file that could not be read: non-zero
    if failure is not None:
        raise failure


def _json(recording: Recording, clock: ReplayClock) -> tuple[Tally, str]:
    from hkticks.analysis.replay import replay_json
    from hkticks.watch.pump import silence_stdout

    stop = StopFlag()
    tally = Tally(recording.keyed())
    try:
        with stop_on_signals(stop):
            replay_json(iter(tally), sys.stdout.buffer, clock, stop)
    except BrokenPipeError:
        silence_stdout()
        return tally, "pipe closed"
    return tally, stop.reason


def _names(codes: list[str]) -> dict[str, tuple[str, str]]:
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


def _replayed_board(
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
    start_ms = min(first) if first else None
    queue = TickQueue()
    tally = Tally(recording.keyed())
    feed = ReplayFeed(iter(tally), queue, clock, symbols=len(codes))
    feed.start_ms = start_ms
    live = LiveBoard(
        feed,
        queue,
        codes,
        names=_names(codes),
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


def _board(
    recording: Recording,
    clock: ReplayClock,
    factor: float | None,
    sort: str | None,
    colors: str,
    name_lang: str,
    simulated: bool = False,
) -> tuple[Tally, str]:
    from hkticks.watch.app import BoardApp
    from hkticks.watch.pump import run_app

    live, tally, replay_status = _replayed_board(recording, clock, factor, sort)
    stop = StopFlag()
    app = BoardApp(
        live.model,
        pump=live.pump,
        buffers=live.buffers,
        colors=colors,
        names=name_lang,
        replay_status=replay_status,
        stop=stop,
        clock=live.feed.now,
        demo=simulated,
    )
    live.start()
    try:
        run_app(app, live.queue, stop)
    finally:
        live.stop()
    return tally, stop.reason


def _dash(
    recording: Recording,
    clock: ReplayClock,
    factor: float | None,
    host: str,
    port: int,
    auth: str | None,
    colors: str,
    simulated: bool,
) -> tuple[Tally, str]:
    """The replay in the web dashboard: the same board, another view."""
    from hkticks.watch.web.server import DashServer, serve_until_stopped

    live, tally, replay_status = _replayed_board(recording, clock, factor, None)
    server = DashServer(
        pump=live.pump,
        model=live.model,
        buffers=live.buffers,
        host=host,
        port=port,
        auth=auth,
        size="turnover",  # a recording has no share counts
        colors=colors,
        replay_status=replay_status,
        simulated=simulated,
        clock=live.feed.now,
    )
    server.start()
    stop = StopFlag()
    live.start()
    try:
        serve_until_stopped(server, stop, announce=warn)
    finally:
        live.stop()
    if server.error is not None:
        raise server.error
    return tally, stop.reason


def _serve(
    recording: Recording,
    factor: float | None,
    max_gap_ms: int | None,
    host: str,
    port: int,
    rest_port: int | None,
    token: str,
    plan: str,
    simulated: bool = True,
) -> tuple[Tally, str, ReplayClock]:
    from hkticks.run.replay_serve import ReplayServer

    replay = ReplayServer(
        recording,
        factor,
        max_gap_ms,
        host=host,
        port=port,
        rest_port=rest_port,
        token=token,
        plan=plan,
        simulated=simulated,
    )
    replay.start()
    server = replay.server
    stop = StopFlag()
    announced = False
    out = sys.stderr
    interactive = out.isatty()
    try:
        with stop_on_signals(stop):  # before the banner: a Ctrl-C right after it stops cleanly
            _serving_banner(len(recording.files), factor, server, token, simulated)
            while not stop.wait(0.5):
                if replay.finished and not announced:
                    announced = True
                    line = replay.finished_line()
                    click.echo(("\r\x1b[2K" if interactive else "") + f"hkticks: {line}", err=True)
                elif interactive and (status := replay.progress()) is not None:
                    out.write(f"\r\x1b[2K{status}")
                    out.flush()
    finally:
        if interactive:
            out.write("\r\x1b[2K")
            out.flush()
        replay.stop()
    failure = replay.failure()
    if failure is not None:
        raise failure
    return replay.tally, stop.reason or ("finished" if replay.finished else "stopped"), replay.clock


def _serving_banner(
    files: int, factor: float | None, server: Any, token: str, simulated: bool
) -> None:
    click.echo(
        f"hkticks replay: serving {files} recording"
        f"{'s' if files != 1 else ''} at "
        f"{'max speed' if factor is None else f'{factor:g}x'} on "
        f"{redact(server.ws_url + '?token=' + token)} (REST: simulated"
        + ("; the trades are simulated: DEMO)" if simulated else ")"),
        err=True,
    )
    click.echo(
        "  playback starts when a client subscribes, e.g.: hkticks watch 00700 "
        f"--url {server.ws_url} --rest-url {server.rest_url} --token ...   Ctrl-C stops.",
        err=True,
    )


def _replay_alerts(
    recording: Any, as_json: bool, history: str | None, history_days: int, flags: dict[str, Any]
) -> None:
    """``hkticks replay FILE... --alerts``: the recording through the alerts engine."""
    from hkticks.analysis.baselines import applied_path, read_applied
    from hkticks.analysis.stats import nothing_read
    from hkticks.cli.alert_lines import Output
    from hkticks.run.alerts_job import build_config, history_baselines, replay_alerts

    cfg = build_config(demo=False, **flags)
    bases = history_baselines(history, cfg, history_days, warn) if history else {}
    output = Output(sys.stdout.buffer, as_json)
    # the baselines a live run applied, at the trade where it applied them
    paths = [getattr(f, "path", None) for f in recording.files]
    applied = read_applied(applied_path(paths[0])) if len(paths) == 1 and paths[0] else []
    trades = replay_alerts(iter(recording), cfg, bases, output.emit, applied)
    unread = nothing_read(recording.reports)
    if unread is not None:
        raise NothingRead(unread)
    for line in recording.problems():
        warn(line)
    if not as_json or sys.stderr.isatty():
        count = output.count
        warn(f"{count} alert{'s' if count != 1 else ''} from {trades:,} trades")
