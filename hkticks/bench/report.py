"""The figures of ``hkticks bench`` as Rich tables: the main run, ``--nats``/``--postgres``
and ``--stats`` (the CLI parses options and calls these; ``--json`` prints the dicts)."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table


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


def print_figures(result: dict[str, Any]) -> None:
    """The figures of :func:`hkticks.bench.measure.run` as Rich tables and lines on stdout."""
    # into a pipe or file: wide enough that no name or figure is cut
    console = Console() if sys.stdout.isatty() else Console(width=200)
    m = result["machine"]
    console.print(
        f"[bold]hkticks bench[/] on {m['cpus']} CPUs, Python {m['python']}, "
        f"websocket-client {m['websocket_client']} ({result['elapsed_s']} s)"
    )
    if result.get("throughput"):
        _throughput(console, result["throughput"])
    if result.get("latency"):
        _latency(console, result["latency"])
    _process_lines(console, result)
    if result.get("watch"):
        _watch_lines(console, result["watch"])
    _heatmap_line(console, result)
    if result.get("alerts"):
        _alerts_lines(console, result["alerts"])
    if result.get("targets"):
        _targets(console, result["targets"])


def _throughput(console: Console, tp: dict[str, Any]) -> None:
    from hkticks.bench.measure import NOISY_SPREAD

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


def _latency(console: Console, lat: dict[str, Any]) -> None:
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
        table.add_row(label, _fmt(p["p50"], 3), _fmt(p["p99"], 3), _fmt(p["max"], 3), _fmt(p["n"]))
    console.print(table)


def _process_lines(console: Console, result: dict[str, Any]) -> None:
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


def _watch_lines(console: Console, watch: dict[str, Any]) -> None:
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
    if "cpu_heatmap" in watch:
        c = watch["cpu_heatmap"]
        console.print(
            f"watch --heatmap: live heatmap at {c['rate']:,.0f} trades/s on {c['symbols']} "
            f"symbols: {c['cpu_share'] * 100:.1f}% of one core"
        )
    if "keys" in watch:
        k = watch["keys"]
        console.print(
            f"watch: key press to screen {k['key_ms']:.1f} ms, detail view open "
            f"{k['detail_ms']:.1f} ms, heatmap open {k.get('heatmap_ms', 0):.1f} ms "
            f"(Pilot, {k['rate']:,.0f} trades/s on {k['symbols']} symbols)"
        )


def _alerts_lines(console: Console, al: dict[str, Any]) -> None:
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


def _targets(console: Console, tg: dict[str, Any]) -> None:
    table = Table(title="Targets")
    for col in ("figure", "target", "measured", "met"):
        table.add_column(col, no_wrap=True)
    for name, t in tg.items():
        met = _ok(t["ok"]) + (" [yellow](noisy)[/]" if t.get("noisy") else "")
        table.add_row(name, t["target"], _fmt(t["measured"], 3), met)
    console.print(table)


def print_remote(result: dict[str, Any]) -> bool:
    """The server outputs' figures (:mod:`hkticks.bench.servers_bench`); whether every target was met."""
    table = Table(title="hkticks bench: server outputs", title_justify="left")
    for col in ("figure", "measured", "target", "met"):
        table.add_column(col)

    def ok(flag: bool) -> str:
        return "[green]yes[/]" if flag else "[red]NO[/]"

    if "nats" in result:
        n = result["nats"]
        lat = n["latency"]
        table.add_row(
            "NATS publish / nats-py's own loop",
            f"{n['publish_ratio']:.2f} ({n['publish_per_s']:,.0f} vs {n['nats_py_publish_per_s']:,.0f}/s)",
            f">= {n['publish_ratio_target']}",
            ok(n["publish_ratio"] >= n["publish_ratio_target"]),
        )
        table.add_row(
            f"trade -> remote board at {n['latency_rate']:,.0f}/s",
            f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, {lat['missing']:.0f} missing",
            f"p99 < {n['latency_p99_target_ms']:g} ms",
            ok(lat["p99_ms"] < n["latency_p99_target_ms"] and lat["missing"] == 0),
        )
    if "postgres" in result:
        p = result["postgres"]
        table.add_row(
            "PostgreSQL COPY + ON CONFLICT",
            f"{p['rows_per_s']:,.0f} trades/s",
            f">= {p['rows_per_s_target']:,.0f}/s",
            ok(p["ok"]),
        )
    Console().print(table)
    return all(part["ok"] for part in result.values())


def _spread(d: dict[str, float]) -> str:
    return f"{d['min']:.3f} / {d['median']:.3f} / {d['max']:.3f}"


def print_stats(result: dict[str, Any]) -> None:
    """The data figures of :func:`hkticks.bench.stats_bench.run_stats_bench`."""
    console = Console()
    r: dict[str, Any] = result
    console.print(
        f"[bold]hkticks bench --stats[/]: a generated day of {r['trades']:,} trades "
        f"({r['jsonl_mb']} MB of JSONL), {r['rounds']} rounds (min / median / max); "
        f"load average {r['load_average']:.1f} at the end"
    )
    table = Table(show_edge=False)
    for col in ("figure", "seconds or ratio"):
        table.add_column(col)
    table.add_row("stats on the JSONL (s)", _spread(r["stats_jsonl_s"]))
    table.add_row("DuckDB read_json + GROUP BY (s)", _spread(r["duckdb_read_json_group_by_s"]))
    table.add_row("stats / DuckDB (ratio per round)", _spread(r["stats_vs_duckdb"]))
    table.add_row("stats on the archive's day (s)", _spread(r["stats_archive_s"]))
    table.add_row(
        f"read_frame {r['read_frame_symbol']} over 20 days, {r['read_frame_rows']:,} rows (s)",
        _spread(r["read_frame_20_days_s"]),
    )
    table.add_row(
        f"read_frame {r['read_frame_typical_symbol']} (median symbol), "
        f"{r['read_frame_typical_rows']:,} rows (s)",
        _spread(r["read_frame_typical_20_days_s"]),
    )
    table.add_row(
        "compact the day (s, peak RSS MB)", f"{r['compact_s']:.2f} s, {r['compact_rss_mb']} MB"
    )
    console.print(table)
    targets = Table(title="Targets", title_justify="left", show_edge=False)
    for col in ("figure", "target", "measured", "met"):
        targets.add_column(col)
    for name, t in r["targets"].items():
        targets.add_row(
            name, t["target"], str(t["measured"]), "[green]yes[/]" if t["ok"] else "[red]NO[/]"
        )
    console.print(targets)


def _heatmap_line(console: Console, result: dict[str, Any]) -> None:
    hm = result.get("heatmap")
    if hm:
        console.print(
            f"heatmap: one {hm['width']}x{hm['height']} frame of {hm['symbols']} names renders in "
            f"{hm['median_ms']:.2f} ms with its layout kept (p95 {hm['p95_ms']:.2f}, max "
            f"{hm['max_ms']:.2f}); {hm.get('layout_ms', 0):.2f} ms with a fresh layout"
        )


def print_dash(result: dict[str, Any]) -> None:
    """``bench --dash``: the web dashboard's figures and its targets."""
    console = Console() if sys.stdout.isatty() else Console(width=200)
    d = result["dash"]
    console.print(
        f"dash: {d['symbols']} tiles at {d['rate']:,.0f} trades/s in headless Chromium 1600x1000: "
        f"{d['fps']:.1f} frames/s, first paint {d['first_paint_ms']:.0f} ms, trade -> tile "
        f"p50 {d['lag_p50_ms']:.0f} ms p99 {d['lag_p99_ms']:.0f} ms ({d['updates']:,} tile updates)"
    )
    console.print(
        f"dash: CPU {d['dash_cpu']:.1%} of a core; the feed alone (watch --json) "
        f"{d['feed_cpu']:.1%}: the dashboard's own {d['own_cpu']:.1%}"
    )
    for name, t in result["targets"].items():
        mark = "[green]yes[/]" if t["ok"] else "[red]NO[/]"
        console.print(f"target {name}: {t['measured']} (target {t['target']}) met: {mark}")
