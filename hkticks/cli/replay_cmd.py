"""``hkticks replay``: recordings as a live board, as JSON Lines, or over a WebSocket
(the job: :mod:`hkticks.run.replay_job`)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from hkticks.analysis.replay import ReplayClock, Tally, parse_speed
from hkticks.cli import common
from hkticks.errors import UsageError
from hkticks.run import replay_job as job
from hkticks.run.recordings import check_read, data_kind, is_simulated, open_recording
from hkticks.stopping import StopFlag, stop_on_signals
from hkticks.storage.readers import Recording


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--speed",
    default="1",
    show_default=True,
    metavar="1|10|max",
    help="Replay this many times faster than recorded (0.5 is slower); max: no waiting.",
)
@common.window_options
@click.option(
    "--max-gap",
    type=common.Duration(),
    default="60s",
    show_default=True,
    help="Shorten pauses longer than this (lunch, nights, disconnects); e.g. 1d keeps them.",
)
@common.json_option(
    "Print the trades as JSON Lines, as record writes them (automatic when stdout is not a terminal)."
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
@common.dash_auth_option(
    "With --dash and a non-loopback --host: the access token the page asks for."
)
@common.server_options("With --serve: ", listen="With --serve or --dash: ")
@common.board_options("Board row order (default: code).")
@click.option(
    "--alerts",
    "with_alerts",
    is_flag=True,
    help="Print the anomaly engine's alerts instead (as fast as the files read; the same "
    "alerts as the live `hkticks alerts` run; --json for JSON).",
)
@common.engine_options
def replay(files: tuple[str, ...], speed: str, max_gap: float, **opts: Any) -> None:
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
    window = (common.parse_symbols(opts.pop("symbols")), opts.pop("start"), opts.pop("end"))
    recording = open_recording(files, *window)
    serve, as_dash, as_json = opts.pop("serve"), opts.pop("as_dash"), opts.pop("as_json")
    if sum((serve, as_json, as_dash)) > 1:
        raise UsageError("give one of --serve, --dash and --json")
    max_gap_ms = int(max_gap * 1000) if max_gap > 0 else None
    if opts.pop("with_alerts"):
        return _replay_alerts(recording, as_json, opts)
    started, kind = time.monotonic(), data_kind(recording)
    json_mode = not serve and not as_dash and (as_json or not sys.stdout.isatty())
    clock = ReplayClock(factor, max_gap_ms)
    view = job.ReplayView(opts["sort"], opts["colors"], opts["name_lang"], is_simulated(kind))
    if serve:
        tally, reason, clock = _serve(recording, factor, max_gap_ms, view.simulated, opts)
    elif as_dash:
        listen = {k: opts[k] for k in ("host", "port", "auth")}
        tally, reason = job.replay_on_dash(
            recording, clock, factor, view, announce=common.warn, **listen
        )
    elif json_mode:
        tally, reason = job.replay_json(recording, clock, sys.stdout.buffer)
        if reason == "pipe closed":
            return None
    else:
        tally, reason = job.replay_on_board(recording, clock, factor, view)
    return _report(recording, tally, reason, clock, started, kind, quiet=json_mode)


def _report(
    recording: Recording,
    tally: Tally,
    reason: str,
    clock: ReplayClock,
    started: float,
    kind: str | None,
    *,
    quiet: bool,
) -> None:
    """What the replay read, skipped and lost, and the summary line (a JSON stream into a
    pipe stays quiet on stderr unless something happened)."""
    check_read(recording.reports)
    for line in recording.problems():
        common.warn(line)
    if tally.trades == 0 and not reason:
        # like grep: nothing matched is worth saying, and a non-zero exit for scripts
        common.warn(
            "no trades to replay: check --symbols, --from and --to against what "
            "`hkticks stats FILE` says the files hold"
        )
        sys.exit(1)
    for line in job.gap_lines(recording):  # said even into a pipe
        common.warn(line)
    if not quiet or sys.stderr.isatty() or reason:
        elapsed = time.monotonic() - started
        common.warn(job.summary_line(tally, len(recording.files), elapsed, clock, reason, kind))
    failure = recording.failure()  # a part or a file that could not be read: non-zero
    if failure is not None:
        raise failure


def _serve(
    recording: Recording,
    factor: float | None,
    max_gap_ms: int | None,
    simulated: bool,
    opts: dict[str, Any],
) -> tuple[Tally, str, ReplayClock]:
    """``--serve``: the banner, then the progress line on a terminal until Ctrl-C."""
    from hkticks.run.replay_serve import ReplayServer

    where = {k: opts[k] for k in ("host", "port", "rest_port", "token", "plan")}
    replay = ReplayServer(recording, factor, max_gap_ms, simulated=simulated, **where)
    replay.start()
    stop, out = StopFlag(), sys.stderr
    clear = "\r\x1b[2K" if out.isatty() else ""

    def progress(line: str) -> None:
        out.write(f"{clear}{line}")
        out.flush()

    try:
        with stop_on_signals(stop):  # before the banner: a Ctrl-C right after it stops cleanly
            click.echo("\n".join(replay.banner(len(recording.files))), err=True)
            replay.wait(
                stop,
                on_finished=lambda line: click.echo(f"{clear}hkticks: {line}", err=True),
                on_progress=progress if clear else None,
            )
    finally:
        out.write(clear)
        out.flush()
        replay.stop()
    failure = replay.failure()
    if failure is not None:
        raise failure
    return replay.tally, stop.reason or ("finished" if replay.finished else "stopped"), replay.clock


def _replay_alerts(recording: Recording, as_json: bool, opts: dict[str, Any]) -> None:
    """``hkticks replay FILE... --alerts``: the recording through the alerts engine."""
    from hkticks.cli.alert_lines import Output
    from hkticks.run.alerts_job import build_config, history_baselines

    cfg = build_config(demo=False, **{k: opts[k] for k in common.ENGINE_FLAGS})
    history = opts["history"]
    bases = history_baselines(history, cfg, opts["history_days"], common.warn) if history else {}
    output = Output(sys.stdout.buffer, as_json)
    trades = job.recording_alerts(recording, cfg, bases, output.emit)
    check_read(recording.reports)
    for line in recording.problems():
        common.warn(line)
    if not as_json or sys.stderr.isatty():
        count = output.count
        common.warn(f"{count} alert{'s' if count != 1 else ''} from {trades:,} trades")
