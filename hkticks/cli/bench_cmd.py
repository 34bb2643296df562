"""``hkticks bench``: throughput, latency and memory against the embedded server.

The measurements live in :mod:`hkticks.bench.runner` (usable without the CLI);
this module parses options, shows progress and prints the figures as a Rich
table or, with ``--json``, as one JSON object.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from hkticks.cli.common import Duration


def _parse_kinds(value: str | None) -> tuple[str, ...]:
    from hkticks.bench.runner import THROUGHPUT_KINDS

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
    type=Duration(),
    default=8.0,
    show_default="8s",
    help="Length of the latency run (after --latency-warmup).",
)
@click.option(
    "--latency-warmup",
    type=Duration(),
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
    type=Duration(),
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
    type=Duration(),
    is_flag=False,
    flag_value="10m",
    default=None,
    metavar="[DURATION]",
    help="Also run `record` at --rate on --symbols for DURATION (default 10m) and report RSS growth.",
)
@click.option(
    "--soak-interval",
    type=Duration(),
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every figure.")
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
    seconds: float,
    latency_warmup: float,
    symbols: int,
    flush_interval: float,
    kinds: str | None,
    no_latency: bool,
    watch_cpu: bool,
    soak: float | None,
    soak_interval: float,
    nats: str | None,
    postgres: str | None,
    stats_only: bool,
    with_alerts: bool,
    as_json: bool,
    check: bool,
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
      hkticks bench --check
    """
    if nats is not None or postgres is not None:
        from hkticks.cli.bench_remote import run_remote

        # --ticks/--trials/--seconds size the remote runs only when given (their defaults differ)
        ctx = click.get_current_context()
        sizes = {
            name: value
            for name, value in (("ticks", ticks), ("trials", trials), ("seconds", seconds))
            if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
        }
        figures = run_remote(nats, postgres, rate=rate, as_json=as_json, **sizes)
        _exit_on_missed(check, missed_targets(figures))
        return
    if stats_only:
        from hkticks.cli.bench_stats_view import run_and_print

        # the data figures are of a 2M-trade day unless --ticks says otherwise
        explicit = click.get_current_context().get_parameter_source("ticks")
        day = ticks if explicit is click.core.ParameterSource.COMMANDLINE else 2_000_000
        _exit_on_missed(check, missed_targets(run_and_print(trials, as_json, day)))
        return
    from hkticks.bench.runner import BenchConfig, run

    if seconds <= 0 or flush_interval <= 0:
        raise click.BadParameter("must be positive", param_hint="--seconds/--flush-interval")
    config = BenchConfig(
        ticks=ticks,
        trials=trials,
        rate=rate,
        seconds=seconds,
        latency_warmup=latency_warmup,
        symbols=symbols,
        flush_interval=flush_interval,
        kinds=_parse_kinds(kinds),
        latency=not no_latency,
        watch=True,
        watch_cpu=watch_cpu,
        soak=soak,
        soak_interval=soak_interval,
        alerts=with_alerts,
    )
    from rich.console import Console

    err = Console(stderr=True)
    if as_json or not err.is_terminal:
        result = run(config, progress=lambda msg: None)
    else:
        with err.status("starting") as status:
            result = run(config, progress=lambda msg: status.update(msg))
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        _print_tables(result)
    _exit_on_missed(check, missed_targets(result.get("targets") or {}))


def missed_targets(targets: dict[str, dict[str, Any]]) -> list[str]:
    """The names of the targets a run missed."""
    return [name for name, t in targets.items() if not t["ok"]]


def _exit_on_missed(check: bool, missed: list[str]) -> None:
    """With ``--check``, a missed target is exit status 1 (named on stderr); without it, 0."""
    if check and missed:
        click.echo(f"hkticks bench: missed target(s): {', '.join(missed)}", err=True)
        sys.exit(1)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _spread_text(lo: Any, mid: Any, hi: Any, digits: int = 2) -> str:
    """``1.80 (1.44-2.31)``: the median, then min-max; one figure when the rounds agree."""
    if mid is None:
        return "-"
    if lo is None or hi is None or lo == hi:
        return _fmt(float(mid), digits)
    return f"{_fmt(float(mid), digits)} ({_fmt(float(lo), digits)}-{_fmt(float(hi), digits)})"


def _ratio_text(sp: dict[str, Any] | None) -> str:
    if not sp:
        return "-"
    text = _spread_text(sp["min"], sp["median"], sp["max"])
    return text + (" [yellow]noisy[/]" if sp.get("noisy") else "")


def _ok(ok: bool) -> str:
    return "[green]yes[/]" if ok else "[red]NO[/]"


def _print_tables(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from hkticks.bench.runner import NOISY_SPREAD

    # into a pipe or file: wide enough that no name or figure is cut
    console = Console() if sys.stdout.isatty() else Console(width=200)
    m = result["machine"]
    console.print(
        f"[bold]hkticks bench[/] on {m['cpus']} CPUs, Python {m['python']}, "
        f"websocket-client {m['websocket_client']} ({result['elapsed_s']} s)"
    )
    tp = result.get("throughput")
    if tp:
        ceiling = tp.get("ceiling")
        table = Table(
            title=f"Throughput: {tp['ticks_per_trial']:,} trades x {tp['trials']} rounds, "
            f"{tp['symbols']} symbol{'s' if tp['symbols'] != 1 else ''} (server in its own process)"
        )
        for col in ("kind", "trades/s", "vs ceiling", "vs receive loop"):
            table.add_column(col, justify="left" if col == "kind" else "right", no_wrap=True)
        table.add_column("server CPU", justify="right", no_wrap=True)
        table.add_column("peak RSS MB", justify="right", no_wrap=True)
        ratio_names = {
            "null": "pipeline_vs_ceiling",
            "jsonl": "jsonl_vs_ceiling",
            "csv": "csv_vs_ceiling",
            "sqlite": "sqlite_vs_ceiling",
            "receive_loop": "receive_loop_vs_ceiling",
        }
        spreads = tp.get("spread", {})
        for kind, k in tp["kinds"].items():
            label = kind + ("  (ceiling)" if kind == ceiling else "")
            rates = [k.get("min_per_s"), k["median_per_s"], k.get("max_per_s")]
            table.add_row(
                label,
                _spread_text(rates[0], rates[1], rates[2], digits=0),
                "1.00" if kind == ceiling else _ratio_text(spreads.get(ratio_names.get(kind, ""))),
                _ratio_text(spreads.get(f"{kind}_vs_receive_loop")),
                _fmt(k["server_cpu"]),
                _fmt(k["rss_peak_mb"], 1),
            )
        console.print(table)
        if ceiling:
            console.print(
                f"figures are median (min-max) over {tp['trials']} rounds (ratios within each "
                f"round); ceiling = {ceiling} (the faster websocket-client loop); "
                "receive loop = hkticks' own read-ahead receive path without decoding"
            )
        if tp.get("noisy"):
            console.print(
                f"[bold yellow]too noisy to trust:[/] {', '.join(tp['noisy'])} spread more than "
                f"{NOISY_SPREAD:.0%} between rounds (a busy machine?): run again on an idle "
                "machine, or with more --trials"
            )
    lat = result.get("latency")
    if lat:
        table = Table(
            title=f"Latency from the server's write: {lat['rate']:,.0f} trades/s asked, "
            f"{lat['received_per_s']:,}/s received over {lat['seconds']:g} s"
        )
        for col in ("to", "p50 ms", "p99 ms", "max ms", "trades"):
            table.add_column(col, justify="left" if col == "to" else "right")
        labels = {
            "to_consumer_ms": "handed to the consumer (writer thread)",
            "to_file_ms": "JSONL line written (readable in the file)",
            "to_disk_ms": f"JSONL line fsync'ed (flush every {lat['flush_interval_s']:g} s)",
        }
        for key, label in labels.items():
            p = lat[key]
            table.add_row(
                label, _fmt(p["p50"], 3), _fmt(p["p99"], 3), _fmt(p["max"], 3), _fmt(p["n"])
            )
        console.print(table)
    if "rss_peak_mb" in result:
        console.print(f"peak RSS of a recording process: {result['rss_peak_mb']:.1f} MB")
    sk = result.get("soak")
    if sk:
        console.print(
            f"soak: {sk['duration_s']:g} s at {sk['rate']:,.0f} trades/s on {sk['symbols']} symbol{'s' if sk['symbols'] != 1 else ''}: "
            f"RSS {sk['rss_baseline_mb']} MB after {sk['warmup_s']:g} s warm-up -> "
            f"{sk['rss_end_mb']} MB at the end (growth {sk['growth_mb']} MB, max {sk['rss_max_mb']} MB); "
            f"{sk['ticks_recorded']:,} trades recorded"
        )
    watch = result.get("watch")
    if watch:
        f = watch["frame"]
        console.print(
            f"watch: one {f['width']}x{f['rows']} frame of {f['symbols']} symbol{'s' if f['symbols'] != 1 else ''} renders in "
            f"{f['median_ms']:.2f} ms (p95 {f['p95_ms']:.2f}, max {f['max_ms']:.2f}); "
            f"model update {f['apply_ms_per_1k']:.2f} ms per 1,000 trades"
        )
        if "cpu" in watch:
            c = watch["cpu"]
            console.print(
                f"watch: live board at {c['rate']:,.0f} trades/s on {c['symbols']} symbol{'s' if c['symbols'] != 1 else ''}: "
                f"{c['cpu_share'] * 100:.1f}% of one core, {c.get('fps', 0):.1f} frames/s"
            )
        if "keys" in watch:
            k = watch["keys"]
            console.print(
                f"watch: key press to screen {k['key_ms']:.1f} ms, detail view open "
                f"{k['detail_ms']:.1f} ms (Pilot, {k['rate']:,.0f} trades/s on {k['symbols']} symbols)"
            )
    hm = result.get("heatmap")
    if hm:
        console.print(
            f"heatmap: one {hm['width']}x{hm['height']} frame of {hm['symbols']} names lays out and "
            f"renders in {hm['median_ms']:.2f} ms (p95 {hm['p95_ms']:.2f}, max {hm['max_ms']:.2f})"
        )
    al = result.get("alerts")
    if al:
        d, e = al["detection"], al["engine"]
        console.print(
            f"alerts: {d['seeds']} x {d['minutes']:g} simulated minutes at {d['rate']:g} trades/s: "
            f"{d['flagged_within_10s']}/{d['events']} injected events flagged within 10 s "
            f"(recall {d['recall']:.3f}), precision {d['precision']:.3f}, latency p50 "
            f"{_fmt(d['latency_p50_s'])} s, max {_fmt(d['latency_max_s'])} s; ordinary flow: "
            f"{d['ordinary_false_per_10min']:g} false volume/block alerts per 10 minutes"
        )
        console.print(
            f"alerts: engine {e['us_per_tick_median']:.2f} us per tick (median batch of {e['batch']:,}, median of {e['rounds']} rounds over "
            f"{e['ticks']:,} ticks on {e['symbols']} names), {e['engine_vs_decode']:.2f}x the cost of "
            f"decoding the tick's frame ({e['decode_us_per_tick']:.2f} us)"
        )
    tg = result.get("targets")
    if tg:
        table = Table(title="Targets")
        for col in ("figure", "target", "measured", "met"):
            table.add_column(col, no_wrap=True)
        for name, t in tg.items():
            met = _ok(t["ok"]) + (" [yellow](noisy)[/]" if t.get("noisy") else "")
            table.add_row(name, t["target"], _fmt(t["measured"], 3), met)
        console.print(table)
