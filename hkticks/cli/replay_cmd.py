"""``hkticks replay``: recordings as a live board, as JSON Lines, or over a WebSocket."""

from __future__ import annotations

import sys
import time

import click

from hkticks.alltick.urls import redact
from hkticks.analysis.replay import ReplayClock, Tally, parse_speed
from hkticks.cli.alerts_cmd import engine_options
from hkticks.cli.common import PLAN_CHOICE, Duration, warn
from hkticks.errors import HkticksError, UsageError
from hkticks.stopping import StopFlag, stop_on_signals
from hkticks.storage import provenance
from hkticks.storage.readers import Recording, make_selection

SORT_CHOICES = ("code", "change", "volume", "active")


def parse_symbols(values: tuple[str, ...]) -> list[str] | None:
    """``--symbols 700,9988 --symbols 3690`` -> five-digit codes (``None`` when not given)."""
    given = [s for v in values for s in v.replace(",", " ").split()]
    if not given:
        return None
    from hkticks.symbols.universe import normalise_all

    return normalise_all(given)


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
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: address.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="With --serve: WebSocket port (0: any free port).",
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
    """
    factor = parse_speed(speed)
    selection = make_selection(parse_symbols(symbols), start, end)
    recording = Recording(files, selection)
    if not recording.files:
        raise UsageError("no trade recordings among the files given (only events sidecars)")
    if serve and as_json:
        raise UsageError("give --serve or --json, not both")
    max_gap_ms = int(max_gap * 1000) if max_gap > 0 else None
    clock = ReplayClock(factor, max_gap_ms)
    if with_alerts:
        from hkticks.cli.alerts_cmd import replay_alerts_command

        replay_alerts_command(recording, as_json, history, history_days, engine_flags)
        return

    started = time.monotonic()
    json_mode = not serve and (as_json or not sys.stdout.isatty())
    # simulated (demo) trades say so when read back: on the board, in the summary, to clients
    kind = provenance.kind_of(f.path for f in recording.files)
    simulated = kind in (provenance.SIMULATED, provenance.MIXED)
    if serve:
        tally, reason, clock = _serve(
            recording, factor, max_gap_ms, host, port, rest_port, token, plan, simulated
        )
    elif json_mode:
        tally, reason = _json(recording, clock)
        if reason == "pipe closed":
            return
    else:
        tally, reason = _board(recording, clock, factor, sort, colors, name_lang, simulated)
    for line in recording.problems():
        warn(line)
    if tally.trades == 0 and not reason:
        # like grep: nothing matched is worth saying, and a non-zero exit for scripts
        warn(
            "no trades to replay: check --symbols, --from and --to against what "
            "`hkticks stats FILE` says the files hold"
        )
        sys.exit(1)
    from hkticks.analysis.gaps import describe, gap_events, sidecar_events

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
    from hkticks.watch.runner import silence_stdout

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


def _board(
    recording: Recording,
    clock: ReplayClock,
    factor: float | None,
    sort: str | None,
    colors: str,
    name_lang: str,
    simulated: bool = False,
) -> tuple[Tally, str]:
    from hkticks.analysis.replay import ReplayFeed
    from hkticks.feed.queue import TickQueue
    from hkticks.market_hours import hk_time_text
    from hkticks.watch.app import BoardApp
    from hkticks.watch.buffers import Buffers
    from hkticks.watch.model import FLASH_S, ReferenceData, WatchModel
    from hkticks.watch.runner import BoardPump, run_app

    codes = recording.symbols()
    if not codes:
        raise UsageError("the recordings hold no trades")
    first = [k for k in (f.first_key() for f in recording.files) if k is not None]
    start_ms = min(first) if first else None
    queue = TickQueue()
    tally = Tally(recording.keyed())
    feed = ReplayFeed(iter(tally), queue, clock, symbols=len(codes))
    feed.start_ms = start_ms
    model = WatchModel(
        codes,
        names=_names(codes),
        sort=sort or "code",
        flash_s=FLASH_S * (factor or 1.0),  # a second on screen whatever the speed
        started=feed.now(),
    )
    # a recording has no previous close: say so, and measure change from the first trade
    queue.put_event(ReferenceData(error="not in a recording"))
    speed = "max" if factor is None else f"{factor:g}x"

    def replay_status() -> str:
        if feed.finished.is_set():
            return f"{speed} · done · {feed.ticks:,} trades"
        return f"{speed} · {hk_time_text(int(feed.now() * 1000))} · {feed.ticks:,} trades"

    buffers = Buffers(codes)
    stop = StopFlag()
    app = BoardApp(
        model,
        pump=BoardPump(feed, queue, model, buffers),
        buffers=buffers,
        colors=colors,
        names=name_lang,
        replay_status=replay_status,
        stop=stop,
        clock=feed.now,
        demo=simulated,
    )
    feed.start()
    try:
        run_app(app, queue, stop)
    finally:
        feed.stop()
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
    from hkticks.server import MarketServer
    from hkticks.server.replaysource import ReplaySource
    from hkticks.storage.readers import hk_datetime

    if rest_port is None:
        rest_port = port + 1 if port else 0
    if rest_port and rest_port == port:
        raise click.BadParameter("must differ from --port", param_hint="--rest-port")
    tally = Tally(recording.keyed())
    source = ReplaySource(iter(tally), speed=factor, max_gap_ms=max_gap_ms)
    server = MarketServer(
        host=host,
        port=port,
        rest_port=rest_port,
        token=token,
        plan=plan,
        rate=0,
        replay=source,
        simulated=simulated,
    )
    server.start()  # a one-line error when the port is taken
    stop = StopFlag()
    announced = False
    out = sys.stderr
    interactive = out.isatty()
    try:
        with stop_on_signals(stop):  # before the banner: a Ctrl-C right after it stops cleanly
            click.echo(
                f"hkticks replay: serving {len(recording.files)} recording"
                f"{'s' if len(recording.files) != 1 else ''} at "
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
            while not stop.wait(0.5):
                if source.finished and not announced:
                    announced = True
                    line = f"replay finished: {source.sent:,} trades sent; still serving (Ctrl-C stops)"
                    if source.error is not None:
                        line = f"replay stopped: {source.error}"
                    click.echo(("\r\x1b[2K" if interactive else "") + f"hkticks: {line}", err=True)
                elif interactive and source.started and not source.finished:
                    pos = source.position()
                    when = hk_datetime(pos) if pos is not None else "-"
                    out.write(f"\r\x1b[2Kreplaying {when} HKT  sent {source.sent:,}")
                    out.flush()
    finally:
        if interactive:
            out.write("\r\x1b[2K")
            out.flush()
        server.stop()
    if isinstance(source.error, HkticksError):
        raise source.error
    return tally, stop.reason or ("finished" if source.finished else "stopped"), source.clock
