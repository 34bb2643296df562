"""``hkticks bench --stats``: runs :mod:`hkticks.bench.stats_bench` and prints its figures."""

from __future__ import annotations

import sys
from typing import Any

import orjson


def _spread(d: dict[str, float]) -> str:
    return f"{d['min']:.3f} / {d['median']:.3f} / {d['max']:.3f}"


def run_and_print(rounds: int, as_json: bool, trades: int = 2_000_000) -> dict[str, dict[str, Any]]:
    """Run and print the figures; returns the targets (each with its ``ok``)."""
    from rich.console import Console
    from rich.table import Table

    from hkticks.bench.stats_bench import run_stats_bench

    err = Console(stderr=True)
    if as_json or not err.is_terminal:
        result = run_stats_bench(trades, rounds=rounds)
    else:
        with err.status("starting") as status:
            result = run_stats_bench(trades, rounds=rounds, progress=lambda m: status.update(m))
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
        return dict(result["targets"])
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
    return dict(result["targets"])
