"""``hkticks bench``: throughput, latency and memory against the embedded server.

The measurements live in :mod:`hkticks.bench.measure` (usable without the CLI);
this module parses options, shows progress and prints the figures as a Rich
table or, with ``--json``, as one JSON object.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from hkticks.bench import report
from hkticks.cli import common


def _parse_kinds(value: str | None) -> tuple[str, ...]:
    from hkticks.bench.measure import THROUGHPUT_KINDS

    if value is None:
        return THROUGHPUT_KINDS
    if value.strip().lower() == "none":
        return ()
    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    unknown = [k for k in kinds if k not in THROUGHPUT_KINDS]
    if unknown:
        raise click.BadParameter(
            f"unknown {', '.join(unknown)}; choose from {', '.join(THROUGHPUT_KINDS)} or none",
            param_hint="--kinds",
        )
    return kinds


@click.command("bench")
@click.option(
    "--ticks",
    type=click.IntRange(min=1000),
    default=100_000,
    show_default=True,
    help="Trades per throughput trial (more: steadier figures, longer run).",
)
@click.option(
    "--trials",
    type=click.IntRange(1, 50),
    default=5,
    show_default=True,
    help="Interleaved rounds; each ratio is the median over them.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=1.0),
    default=2000.0,
    show_default=True,
    help="Trades per second for the latency run (and --soak).",
)
@click.option(
    "--seconds",
    type=common.Duration(),
    default=8.0,
    show_default="8s",
    help="Length of the latency run (after --latency-warmup).",
)
@click.option(
    "--latency-warmup",
    type=common.Duration(),
    default=2.0,
    show_default="2s",
    help="Trades before this are not counted in the latency figures.",
)
@click.option(
    "--symbols",
    type=click.IntRange(1, 2000),
    default=550,
    show_default=True,
    help="Symbols subscribed (the Stock Connect universe is about 550).",
)
@click.option(
    "--flush-interval",
    type=common.Duration(),
    default=1.0,
    show_default="1s",
    help="The recorder's flush interval in the latency run.",
)
@click.option(
    "--kinds",
    metavar="LIST",
    default=None,
    help="Throughput kinds to run, comma-separated, or none "
    "(default: create_connection,websocketapp,receive_loop,null,jsonl,csv,sqlite).",
)
@click.option("--no-latency", is_flag=True, help="Skip the latency run.")
@click.option(
    "--watch/--no-watch",
    "watch_cpu",
    default=False,
    help="Also measure a live `watch` board: CPU share, frames/s, key and detail latency (20 s more).",
)
@click.option(
    "--soak",
    type=common.Duration(),
    is_flag=False,
    flag_value="10m",
    default=None,
    metavar="[DURATION]",
    help="Also run `record` at --rate on --symbols for DURATION (default 10m) and report RSS growth.",
)
@click.option(
    "--soak-interval",
    type=common.Duration(),
    default=10.0,
    show_default="10s",
    help="RSS sampling interval of --soak.",
)
@click.option(
    "--nats",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[nats://HOST:4222]",
    help="Only the NATS figures: publish rate against nats-py's own loop, trade -> remote "
    "board latency at --rate (default server: a nats-server started for the run).",
)
@click.option(
    "--postgres",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[postgresql://USER@HOST/DB]",
    help="Only the PostgreSQL figures: trades/s by COPY (default: a cluster started for the run).",
)
@click.option(
    "--stats",
    "stats_only",
    is_flag=True,
    help="Only the data figures: stats vs DuckDB, compact, the Parquet archive, read_frame "
    "(hkticks[fast,parquet]; a 2M-trade day unless --ticks, --trials rounds, ~1 GB of temporary disk).",
)
@click.option(
    "--alerts",
    "with_alerts",
    is_flag=True,
    help="Also measure the anomaly engine: precision, recall and latency on simulated "
    "scenarios, and its cost per tick (about 15 s more).",
)
@click.option(
    "--dash",
    "dash_only",
    is_flag=True,
    help="Only the web dashboard's figures: frames/s and first paint in headless Chromium, "
    "trade -> tile latency, the dash server's CPU (550 symbols at --rate; needs playwright "
    "and Debian's chromium).",
)
@common.json_option("Print one JSON object with every figure.")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when a measured figure misses its target (without it the targets are "
    "reported and the exit status is 0).",
)
def bench(
    ticks: int,
    trials: int,
    rate: float,
    nats: str | None,
    postgres: str | None,
    stats_only: bool,
    dash_only: bool,
    as_json: bool,
    check: bool,
    **figures: Any,
) -> None:
    """Measure throughput, latency and memory against the embedded server.

    Throughput is reported as ratios to the receive ceiling of websocket-client
    itself on this machine; absolute numbers vary by machine, the ratios are
    the contract. The default run takes about a minute.

    \b
    Examples:
      hkticks bench
      hkticks bench --json > bench.json
      hkticks bench --ticks 300000 --trials 5 --seconds 30s
      hkticks bench --kinds none --no-latency --soak 10m
      hkticks bench --nats --postgres
      hkticks bench --stats --trials 3
      hkticks bench --dash
      hkticks bench --check
    """
    if dash_only:
        return _exit_on_missed(check, _dash(rate, figures["seconds"], as_json))
    ctx = click.get_current_context()
    given = {  # the sizes given on the command line (the other runs' defaults differ)
        name
        for name in ("ticks", "trials", "seconds")
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    }
    if nats is not None or postgres is not None:
        sizes = {"ticks": ticks, "trials": trials, "seconds": figures["seconds"]}
        wanted = {name: value for name, value in sizes.items() if name in given}
        return _exit_on_missed(check, _remote(nats, postgres, rate=rate, as_json=as_json, **wanted))
    if stats_only:  # the data figures are of a 2M-trade day unless --ticks says otherwise
        day = ticks if "ticks" in given else 2_000_000
        return _exit_on_missed(check, _stats(trials, as_json, day))
    return _exit_on_missed(check, _throughput(ticks, trials, rate, as_json, figures))


def _throughput(
    ticks: int, trials: int, rate: float, as_json: bool, figures: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The default run: throughput ratios, latency (and --watch, --soak, --alerts);
    returns the targets."""
    from hkticks.bench.measure import BenchConfig, run

    if figures["seconds"] <= 0 or figures["flush_interval"] <= 0:
        raise click.BadParameter("must be positive", param_hint="--seconds/--flush-interval")
    config = BenchConfig(
        ticks=ticks,
        trials=trials,
        rate=rate,
        kinds=_parse_kinds(figures.pop("kinds")),
        latency=not figures.pop("no_latency"),
        watch=True,
        alerts=figures.pop("with_alerts"),
        **figures,
    )
    result = _with_progress(as_json, lambda progress: run(config, progress=progress))
    _show(result, as_json, report.print_figures)
    return dict(result.get("targets") or {})


def _exit_on_missed(check: bool, targets: dict[str, dict[str, Any]]) -> None:
    """With ``--check``, a missed target is exit status 1 (named on stderr); without it, 0."""
    missed = [name for name, t in targets.items() if not t.get("ok", True)]
    if check and missed:
        click.echo(f"hkticks bench: missed target(s): {', '.join(missed)}", err=True)
        sys.exit(1)


def _with_progress(quiet: bool, job: Callable[[Callable[[str], None]], Any]) -> Any:
    """``job(progress)`` with a spinner on a terminal's stderr (none for --json or a pipe)."""
    from rich.console import Console

    err = Console(stderr=True)
    if quiet or not err.is_terminal:
        return job(lambda _msg: None)
    with err.status("starting") as status:
        return job(lambda msg: status.update(msg))


def _show(result: Any, as_json: bool, printer: Callable[[Any], Any]) -> None:
    """``result`` as one JSON object, or as ``printer`` (of :mod:`hkticks.bench.report`) shows it."""
    if as_json:
        common.print_json(result)
    else:
        printer(result)


def _remote(
    nats: str | None, postgres: str | None, *, rate: float, as_json: bool, **sizes: Any
) -> dict[str, dict[str, Any]]:
    """``--nats`` / ``--postgres``: the server outputs' figures; returns them by part
    (each with its ``ok``)."""
    from hkticks.bench.servers_bench import nats_figures, postgres_figures

    def job(progress: Callable[[str], None]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if nats is not None:
            target = None if nats == "local" else nats
            result["nats"] = nats_figures(target, rate=rate, progress=progress, **sizes)
        if postgres is not None:
            target = None if postgres == "local" else postgres
            pg_sizes = {k: v for k, v in sizes.items() if k in ("ticks", "trials")}
            result["postgres"] = postgres_figures(target, progress=progress, **pg_sizes)
        return result

    result = _with_progress(as_json, job)
    _show(result, as_json, report.print_remote)
    return dict(result)


def _stats(rounds: int, as_json: bool, trades: int) -> dict[str, dict[str, Any]]:
    """``--stats``: the data figures of a generated day; returns the targets."""
    from hkticks.bench.stats_bench import run_stats_bench

    result = _with_progress(
        as_json, lambda progress: run_stats_bench(trades, rounds=rounds, progress=progress)
    )
    _show(result, as_json, report.print_stats)
    return dict(result["targets"])


def _dash(rate: float, seconds: float, as_json: bool) -> dict[str, dict[str, Any]]:
    """``--dash``: the web dashboard's figures; returns its targets."""
    from hkticks.bench.dash import run_dash_bench

    result = run_dash_bench(rate=rate, seconds=min(seconds, 20.0))
    _show(result, as_json, report.print_dash)
    return dict(result["targets"])
