"""``hkticks alerts``: the anomaly engine on the live feed, headless (the job:
:mod:`hkticks.run.alerts_job`)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from hkticks.analysis.baselines import applied_path
from hkticks.cli import common
from hkticks.cli.alert_lines import Output
from hkticks.errors import UsageError
from hkticks.run.alerts_job import (
    AlertsJob,
    build_config,
    closed_market_note,
    dispatcher,
    history_baselines,
    trades_output,
    watching_line,
)
from hkticks.run.source import open_source
from hkticks.stopping import StopFlag, stop_on_signals


@click.command("alerts")
@click.argument("symbols", nargs=-1)
@common.selection_options
@common.json_option("One JSON object per alert instead of a line.")
@common.duration_option()
@common.engine_options
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
@common.scenario_option()
@click.option(
    "--truth",
    metavar="PATH",
    default=None,
    help="With --demo: log the injected events to PATH (JSONL).",
)
@common.demo_tuning_options
@common.provider_options
def alerts(symbols: tuple[str, ...], as_json: bool, **opts: Any) -> None:
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
    scenario, truth = opts.pop("scenario"), opts.pop("truth")
    if (scenario or truth) and not opts["demo"]:
        raise UsageError("--scenario and --truth need --demo (the simulated market)")
    history, history_days = opts.pop("history"), opts.pop("history_days")
    cfg = build_config(demo=opts["demo"], **{k: opts.pop(k) for k in common.ENGINE_FLAGS})
    bases = history_baselines(history, cfg, history_days, common.warn) if history else {}
    out, log_path, channels = _delivery(opts)
    output = Output(sys.stdout.buffer, as_json, channels)
    choose = {k: opts.pop(k) for k in ("symbols_file", "include_suspended")}
    duration, chatty = opts.pop("duration"), not as_json or sys.stderr.isatty()
    spec = common.source_spec(demo_scenario=scenario or "anomalies", demo_truth=truth, **opts)
    stop, started = StopFlag(), time.monotonic()
    job: AlertsJob | None = None
    try:
        with open_source(spec) as provider:
            _ = provider.token  # none needed with --from nats://...
            codes, _universe = provider.symbols(symbols, warn=common.warn, **choose)
            job = AlertsJob(
                provider,
                codes,
                cfg,
                bases,
                out=out,
                history_days=history_days,
                kline_baselines=not history,
                note=common.warn,
                status=channels if chatty else None,  # the warm-up line (not into a JSON pipe)
                applied_to=applied_path(out.text) if out is not None and out.is_file else None,
            )
            if chatty:
                common.warn(watching_line(len(codes), cfg.kinds, provider.simulated, out, log_path))
            closed = closed_market_note(time.time()) if cfg.hours == "hk" else None
            if closed is not None:
                common.warn(closed)
            with stop_on_signals(stop):
                job.run(output.emit, stop, duration)
    finally:
        if job is not None:
            job.stop()
        channels.close()
    _summary(channels, output, job, stop, started)
    channels.check()  # an alert a channel did not take makes the exit status non-zero


def _delivery(opts: dict[str, Any]) -> tuple[Any, str | None, Any]:
    """The trades' output (``--out``), the alerts log and the delivery channels."""
    out, log_path = trades_output(opts.pop("out_path"), opts.pop("log_path"))
    channels = dispatcher(
        log_path=log_path,
        alert_cmd=opts.pop("alert_cmd"),
        webhook=opts.pop("webhook"),
        bell=sys.stderr if opts.pop("bell") else None,
        note=common.warn,
    )
    return out, log_path, channels


def _summary(
    channels: Any, output: Output, job: AlertsJob | None, stop: StopFlag, started: float
) -> None:
    for line in channels.problems():
        common.warn(line)
    if stop.reason in ("Ctrl-C", "SIGTERM") or sys.stderr.isatty():
        elapsed = time.monotonic() - started
        trades = job.engine.stats.ticks if job is not None else 0
        common.warn(
            f"{output.count} alert{'s' if output.count != 1 else ''} from {trades:,} trades "
            f"in {elapsed:.1f} s ({stop.reason or 'stopped'})"
        )
