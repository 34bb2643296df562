"""``hkticks alerts``: the anomaly engine on the live feed, headless; and ``replay --alerts``."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import IO, Any, TypeVar

import click
import orjson

from hkticks.alltick import protocol as alltick
from hkticks.analysis.anomaly import HOURS, KINDS, Alert, AlertConfig, AnomalyEngine, SymbolBaseline
from hkticks.cli.common import (
    Duration,
    feed_token,
    open_feed,
    provider_options,
    provider_settings,
    resolve_symbols,
    scenario_option,
    selection_options,
    warn,
)
from hkticks.errors import UsageError
from hkticks.market_hours import hk_time_text
from hkticks.tick import Event, Tick

F = TypeVar("F", bound=Callable[..., Any])


def engine_options(func: F) -> F:
    """The engine's flags (over ``[alerts]`` in the config file), shared with ``replay --alerts``."""
    options = [
        click.option(
            "--kinds",
            metavar="LIST",
            default=None,
            help=f"Alert kinds to raise, comma-separated (default: all: {','.join(KINDS)}).",
        ),
        click.option(
            "--hours",
            type=click.Choice(HOURS),
            default=None,
            help="hk: only the continuous sessions count (auctions, lunch, nights left out); "
            "always: every hour (the simulated market). Default: always with --demo, else hk.",
        ),
        click.option(
            "--history",
            metavar="GLOB",
            default=None,
            help="Recordings of previous days: baselines for rvol, breakout, volume_spike and "
            "block_trade (computed once, cached).",
        ),
        click.option(
            "--history-days",
            type=click.IntRange(1, 250),
            default=20,
            show_default=True,
            help="With --history: the last N trading days count.",
        ),
        click.option(
            "--cooldown",
            type=Duration(),
            default=None,
            help="Quiet time per (symbol, kind) after an alert [60s].",
        ),
        click.option(
            "--warmup",
            type=Duration(),
            default=None,
            help="Trading time seen before volume_spike vs the intraday rate [2m].",
        ),
        click.option(
            "--spike-ratio",
            type=click.FloatRange(min=1),
            default=None,
            help="volume_spike: trades in a window vs expected [3].",
        ),
        click.option(
            "--block-floor",
            type=click.FloatRange(min=0),
            default=None,
            help="block_trade: minimum turnover, HK$ [20000000].",
        ),
        click.option(
            "--move-pct",
            type=click.FloatRange(min=0),
            default=None,
            help="price_move: percent vs --move-window earlier [10].",
        ),
        click.option(
            "--move-window",
            type=Duration(),
            default=None,
            help="price_move: compared with the price this long before [5m].",
        ),
        click.option(
            "--rvol",
            "rvol_threshold",
            type=click.FloatRange(min=0),
            default=None,
            help="rvol: relative volume to alert at [3].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_config(*, demo: bool, **flags: Any) -> AlertConfig:
    """``[alerts]`` from the config file, then the flags over it."""
    from hkticks import config

    table, where = config.config_table("alerts")
    cfg = AlertConfig.from_mapping(table, where)
    kinds = flags.pop("kinds", None)
    hours = flags.pop("hours", None)
    if hours is None and "hours" not in table:
        hours = "always" if demo else "hk"
    overrides: dict[str, Any] = {
        "hours": hours,
        "cooldown_s": flags.get("cooldown"),
        "warmup_s": flags.get("warmup"),
        "spike_ratio": flags.get("spike_ratio"),
        "block_floor": flags.get("block_floor"),
        "move_pct": flags.get("move_pct"),
        "move_window_s": None if flags.get("move_window") is None else int(flags["move_window"]),
        "rvol_threshold": flags.get("rvol_threshold"),
    }
    if kinds:
        overrides["kinds"] = tuple(k.strip() for k in kinds.split(",") if k.strip())
    return cfg.with_overrides(**overrides)


def history_baselines(glob: str, cfg: AlertConfig, days: int) -> dict[str, SymbolBaseline]:
    """Baselines from recordings matched by ``glob`` (cached by files, sizes and mtimes)."""
    from hkticks.analysis import baselines
    from hkticks.storage.readers import Recording, expand_paths

    try:
        paths = expand_paths([glob])
    except UsageError as exc:
        raise UsageError(f"--history: {exc}") from None
    if not paths:
        raise UsageError(f"--history {glob!r} matches no recordings")

    def build() -> dict[str, SymbolBaseline]:
        return baselines.from_ticks(Recording(paths), days=days, percentile=cfg.block_percentile)

    got, from_cache = baselines.cached(
        "history", baselines.history_key(paths, days, cfg.block_percentile), build
    )
    if not got:
        warn(f"--history {glob}: no continuous-session trades in {len(paths)} file(s)")
    return got


def format_alert(alert: Alert) -> str:
    """``HH:MM:SS.mmm  00700  volume_spike  message`` (Hong Kong time)."""
    return (
        f"{hk_time_text(alert.ts, with_ms=True)}  {alert.symbol}  {alert.kind:<12}  {alert.message}"
    )


class Output:
    """Prints alerts (a line or a JSON object each) and hands them to the delivery channels."""

    def __init__(self, out: IO[bytes], as_json: bool, dispatcher: Any = None) -> None:
        self.out = out
        self.as_json = as_json
        self.dispatcher = dispatcher
        self.count = 0

    def emit(self, alert: Alert) -> None:
        line = orjson.dumps(alert.record()) if self.as_json else format_alert(alert).encode()
        self.out.write(line + b"\n")
        self.out.flush()
        self.count += 1
        if self.dispatcher is not None:
            self.dispatcher.send(alert)


@click.command("alerts")
@click.argument("symbols", nargs=-1)
@selection_options
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per alert instead of a line."
)
@click.option(
    "--duration", type=Duration(), default=None, help="Stop after this long (e.g. 30s, 10m)."
)
@engine_options
@click.option(
    "--alert-cmd",
    metavar="CMD",
    default=None,
    help="Run CMD (no shell) per alert, the alert's JSON on its stdin.",
)
@click.option(
    "--webhook",
    metavar="URL",
    default=None,
    help="POST each alert's JSON to URL (retried; never blocks the feed).",
)
@click.option("--bell", is_flag=True, help="Ring the terminal bell on each alert.")
@click.option(
    "--log",
    "log_path",
    metavar="PATH",
    default=None,
    help="Append the alerts to PATH (JSONL) [with --out: OUT.alerts.jsonl].",
)
@click.option(
    "--out",
    "out_path",
    metavar="PATH",
    default=None,
    help="Also record the trades the engine saw to PATH (.jsonl, .csv, .db), for replay --alerts.",
)
@scenario_option()
@click.option(
    "--truth",
    metavar="PATH",
    default=None,
    help="With --demo: log the injected events to PATH (JSONL).",
)
@click.option("--demo-rate", type=float, default=200.0, hidden=True)
@click.option("--demo-seed", type=int, default=None, hidden=True)
@provider_options
def alerts(
    symbols: tuple[str, ...],
    symbols_file: str | None,
    include_suspended: bool,
    as_json: bool,
    duration: float | None,
    history: str | None,
    history_days: int,
    alert_cmd: str | None,
    webhook: str | None,
    bell: bool,
    log_path: str | None,
    out_path: str | None,
    scenario: str | None,
    truth: str | None,
    demo_rate: float,
    demo_seed: int | None,
    demo: bool,
    token: str | None,
    url: str | None,
    rest_url: str | None,
    plan: str | None,
    **engine_flags: Any,
) -> None:
    """Volume spikes, relative volume, block trades, sharp moves and breakouts, live.

    One line per alert (or a JSON object with --json): ts (epoch ms of the
    trade that raised it), symbol, kind, value, threshold, window_s, message.
    The same engine gives the same alerts on `hkticks replay FILE --alerts`.
    Thresholds: flags over [alerts] in the config file. Every alert handed to
    --webhook or --alert-cmd is counted (delivered, failed, dropped, not
    delivered before exit); exit status 6 if any was not delivered.

    \b
    Examples:
      hkticks alerts --demo
      hkticks alerts 700 9988 --demo --json --duration 1m
      hkticks alerts 700 9988 --json --webhook http://127.0.0.1:9000/hook   # needs a token
      hkticks alerts --plan premium --history 'ticks-2026-11-*.jsonl.gz' --out today.jsonl   # needs a token
      hkticks alerts --demo --alert-cmd 'notify-send hkticks'   # needs notify-send
    """
    from hkticks.analysis.alerts import (
        AlertLog,
        Bell,
        CommandSink,
        Dispatcher,
        WebhookSink,
        alerts_log_path,
    )
    from hkticks.analysis.baselines import applied_path as baselines_path
    from hkticks.feed.queue import TickQueue
    from hkticks.stopping import StopFlag, stop_on_signals

    if (scenario or truth) and not demo:
        raise UsageError("--scenario and --truth need --demo (the simulated market)")
    cfg = build_config(demo=demo, **engine_flags)
    bases = history_baselines(history, cfg, history_days) if history else {}
    sink = None
    if out_path:
        from hkticks.storage.sinks import check_output, open_tick_sink

        check_output(out_path)
        if log_path is None:
            log_path = alerts_log_path(out_path)
    channels: list[Any] = []
    if log_path:
        channels.append(AlertLog(log_path))
    if alert_cmd:
        channels.append(CommandSink(alert_cmd, report=warn))
    if webhook:
        channels.append(WebhookSink(webhook, report=warn))
    if bell:
        channels.append(Bell(sys.stderr))
    dispatcher = Dispatcher(channels)
    engine = AnomalyEngine(cfg, bases)
    output = Output(sys.stdout.buffer, as_json, dispatcher)
    stop = StopFlag()
    started = time.monotonic()
    try:
        with provider_settings(
            demo=demo,
            token=token,
            url=url,
            rest_url=rest_url,
            plan=plan,
            demo_rate=demo_rate,
            demo_seed=demo_seed,
            demo_scenario=scenario or "anomalies",
            demo_truth=truth,
        ) as settings:
            token_value = feed_token(settings)  # none needed with --from nats://...
            codes, _universe = resolve_symbols(
                symbols,
                symbols_file,
                include_suspended=include_suspended,
                settings=settings,
                warn=warn,
            )
            queue = TickQueue()
            feed = open_feed(
                codes, settings=settings, queue=queue, token=token_value, simulated=settings.demo
            )
            late: dict[str, dict[str, SymbolBaseline]] = {}
            if (
                not history
                and token_value
                and ({"rvol", "breakout", "block_trade"} & set(cfg.kinds))
            ):
                _start_kline_baselines(settings, token_value, codes, late, history_days, cfg.kinds)
            if out_path:
                sink = open_tick_sink(out_path)
            if not as_json or sys.stderr.isatty():
                where = f" (trades to {out_path}, alerts to {log_path})" if out_path else ""
                warn(
                    f"watching {len(codes)} symbol{'s' if len(codes) != 1 else ''} for "
                    f"{', '.join(cfg.kinds)}{' (DEMO: simulated market)' if settings.demo else ''}{where}"
                )
            if cfg.hours == "hk":
                from hkticks.market_hours import market_session

                session = market_session(time.time())
                if not session.continuous:
                    warn(
                        f"the Hong Kong market is {session.label} ({session.until(time.time())}): "
                        "only trades of the continuous sessions raise alerts (--hours always counts every hour)"
                    )
            feed.start()
            try:
                with stop_on_signals(stop):
                    show = dispatcher if not as_json or sys.stderr.isatty() else None
                    applied = baselines_path(out_path) if out_path else None
                    _run(
                        feed,
                        queue,
                        engine,
                        output,
                        sink,
                        stop,
                        duration,
                        len(codes),
                        late,
                        show,
                        applied,
                    )
            finally:
                feed.stop()
                # every tick received is kept and judged, also those still queued
                _consume(queue.get_batch(1 << 30, 0), engine, output, sink)
    finally:
        if sink is not None:
            sink.flush()
            sink.close()
        dispatcher.close()
    for line in dispatcher.problems():
        warn(line)
    if stop.reason in ("Ctrl-C", "SIGTERM") or sys.stderr.isatty():
        elapsed = time.monotonic() - started
        warn(
            f"{output.count} alert{'s' if output.count != 1 else ''} from {engine.stats.ticks:,} trades "
            f"in {elapsed:.1f} s ({stop.reason or 'stopped'})"
        )
    dispatcher.check()  # an alert a channel did not take makes the exit status non-zero


def _start_kline_baselines(
    settings: Any,
    token: str,
    codes: list[str],
    late: dict[str, Any],
    days: int = 20,
    kinds: tuple[str, ...] = (),
) -> None:
    """rvol, breakout and block_trade baselines from AllTick's daily bars, in the
    background (cached for the day).

    First the previous session's bar of every code (``batch-kline``, many codes a
    call: rvol and block_trade work within seconds; ``static_info``'s HK shares for
    a code without one), then the average of the last ``days`` sessions
    (``kline``, one code a call within the plan's REST rate) replaces it when
    complete. Under ``--demo`` only block_trade's day turnover is used.
    """
    from hkticks.alltick.rest import RestClient
    from hkticks.analysis import baselines
    from hkticks.market_hours import hk_date

    def work() -> None:
        rest = RestClient(
            settings.rest_url,
            token,
            alltick.PLANS[settings.plan],
            token_source=settings.token_source,
        )
        today = hk_date(time.time())

        # the simulated market's daily bars do not follow its flow: block sizes only
        flow = not settings.demo

        def previous_session() -> dict[str, SymbolBaseline]:
            bars = rest.daily_bars(codes)
            # the previous session's bar: today's is still growing
            got = baselines.from_daily_bars(
                {
                    c: [(x.volume, x.turnover) for x in b if hk_date(x.ts / 1000) != today][-1:]
                    for c, b in bars.items()
                },
                volume_profile=flow,
            )
            # no daily turnover (e.g. listed today): block_trade from the market cap instead
            missing = [c for c in codes if c not in got or not got[c].day_turnover]
            if missing and "block_trade" in kinds:
                try:
                    infos = rest.static_info(missing)
                except Exception as exc:
                    warn(f"no static_info for {len(missing)} names without daily bars: {exc}")
                    infos = {}
                shares = {c: i.hk_shares or i.total_shares for c, i in infos.items()}
                for code, base in baselines.from_hk_shares(shares).items():
                    got[code] = (
                        replace(got[code], hk_shares=base.hk_shares) if code in got else base
                    )
            return got

        def last_sessions() -> dict[str, SymbolBaseline]:
            got: dict[str, list[tuple[float, float]]] = {}
            for code in codes:
                bars = rest.klines(code, alltick.KLINE_DAY, min(days + 1, alltick.MAX_KLINE_BARS))
                past = [b for b in bars if hk_date(b.ts / 1000) != today][-days:]
                if past:
                    got[code] = [(b.volume, b.turnover) for b in past]
            return baselines.from_daily_bars(got)

        try:
            key = [today, settings.rest_url, flow, sorted(codes)]
            got, _ = baselines.cached("kline", key, previous_session)
        except Exception as exc:  # the alerts go on without these baselines; say why once
            warn(f"no daily bars for the rvol/breakout/block_trade baselines: {exc}")
            return
        late["bars"] = got
        if not flow:
            return
        try:
            key = [today, days, settings.rest_url, sorted(codes)]
            got, _ = baselines.cached("kline-days", key, last_sessions)
        except Exception as exc:  # keep the one-session baselines
            warn(f"rvol stays on the previous session only ({days}-day bars failed: {exc})")
            return
        late["bars"] = got

    threading.Thread(target=work, name="hkticks-baselines", daemon=True).start()


def _consume(batch: Iterable[Any], engine: AnomalyEngine, output: Output, sink: Any) -> list[str]:
    ticks: list[Tick] = []
    notes: list[str] = []
    on_tick = engine.on_tick
    for item in batch:
        if type(item) is Tick:
            ticks.append(item)
            got = on_tick(item)
            if got:
                for a in got:
                    output.emit(a)
        elif type(item) is Event and item.event in ("error", "fatal", "disconnected"):
            from hkticks.watch.model import describe_event

            notes.append(describe_event(item))
    if sink is not None and ticks:
        sink.write(ticks)
    return notes


def _run(
    feed: Any,
    queue: Any,
    engine: AnomalyEngine,
    output: Output,
    sink: Any,
    stop: Any,
    duration: float | None,
    symbols: int,
    late: dict[str, Any],
    status: Any = None,
    applied_to: str | None = None,
) -> None:
    """The loop; ``status`` (the dispatcher) prints the warm-up status line when given."""
    from hkticks.analysis.alerts import WarmupStatus, status_text
    from hkticks.watch.runner import all_rejected

    warming = WarmupStatus()
    deadline = time.monotonic() + duration if duration else None
    last_flush = time.monotonic()
    while not stop.is_set():
        if "bars" in late:
            bars = late.pop("bars")
            if applied_to:  # so that replay --alerts applies them at the same tick
                from hkticks.analysis.baselines import write_applied

                write_applied(applied_to, engine.stats.ticks, bars)
            engine.set_baselines(bars)
        for note in _consume(queue.get_batch(8192, 0.25), engine, output, sink):
            warn(note)
        error = feed.fatal or all_rejected(feed.status(), symbols)
        if error is not None:
            raise error
        now = time.monotonic()
        if status is not None and not warming.done:
            ready = engine.readiness()
            if warming.due(now, ready):
                kinds = engine.config.kinds
                warn(status_text(ready, engine.stats.ticks, output.count, kinds, status.status()))
        if sink is not None and now - last_flush >= 1.0:
            sink.flush()
            last_flush = now
        if feed.done.is_set():
            break
        if deadline is not None and now >= deadline:
            stop.set("duration reached")
            break


def replay_alerts(
    ticks: Iterable[Tick],
    cfg: AlertConfig,
    bases: dict[str, SymbolBaseline],
    as_json: bool,
    applied: Any = (),
) -> tuple[int, int]:
    """``hkticks replay FILE --alerts``: the recording through the engine, as fast as it reads
    (with the baselines the live run applied, where it applied them). Returns (trades, alerts)."""
    from hkticks.analysis.anomaly import replay

    engine = AnomalyEngine(cfg, bases)
    output = Output(sys.stdout.buffer, as_json)
    for a in replay(engine, ticks, applied):
        output.emit(a)
    return engine.stats.ticks, output.count


def replay_alerts_command(
    recording: Any, as_json: bool, history: str | None, history_days: int, flags: dict[str, Any]
) -> None:
    """The body of ``hkticks replay FILE... --alerts``."""
    cfg = build_config(demo=False, **flags)
    from hkticks.analysis.baselines import applied_path, read_applied

    bases = history_baselines(history, cfg, history_days) if history else {}
    paths = [getattr(f, "path", None) for f in recording.files]
    applied = read_applied(applied_path(paths[0])) if len(paths) == 1 and paths[0] else []
    trades, count = replay_alerts(iter(recording), cfg, bases, as_json, applied)
    from hkticks.analysis.stats import nothing_read
    from hkticks.errors import NothingRead

    unread = nothing_read(recording.reports)
    if unread is not None:
        raise NothingRead(unread)
    for line in recording.problems():
        warn(line)
    if not as_json or sys.stderr.isatty():
        warn(f"{count} alert{'s' if count != 1 else ''} from {trades:,} trades")
