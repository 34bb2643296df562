"""``hkticks bench --nats`` / ``--postgres``: run :mod:`hkticks.bench.remote` and print it."""

from __future__ import annotations

import sys
from typing import Any

import orjson


def run_remote(
    nats: str | None,
    postgres: str | None,
    *,
    rate: float,
    as_json: bool,
    **sizes: Any,
) -> dict[str, dict[str, Any]]:
    """Run and print the figures; returns them by part (each with its ``ok``)."""
    from rich.console import Console

    from hkticks.bench.remote import nats_figures, postgres_figures

    err = Console(stderr=True)
    result: dict[str, Any] = {}
    with err.status("starting") as status:
        progress = (lambda msg: None) if as_json else status.update
        if nats is not None:
            result["nats"] = nats_figures(
                None if nats == "local" else nats, rate=rate, progress=progress, **sizes
            )
        if postgres is not None:
            pg_sizes = {k: v for k, v in sizes.items() if k in ("ticks", "trials")}
            result["postgres"] = postgres_figures(
                None if postgres == "local" else postgres, progress=progress, **pg_sizes
            )
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
        return result
    from rich.table import Table

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
    return result
