"""``hkticks validate``: check recordings, and their gaps against AllTick's minute bars."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
import orjson

from hkticks.cli.common import provider_options, source_spec, warn
from hkticks.errors import UsageError


@click.command("validate")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--kline",
    is_flag=True,
    help="Compare each minute with AllTick's 1-minute bars (needs a token or --demo).",
)
@click.option(
    "--kline-max",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="With --kline: at most this many symbols (one REST call each; those in gaps first).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object with every finding.")
@click.option(
    "--events",
    "events_files",
    multiple=True,
    metavar="PATH",
    help="Events sidecar(s) (default: <FILE>.events.jsonl next to each file).",
)
@click.option(
    "--k-sigma",
    type=click.FloatRange(min=1),
    default=4.0,
    show_default=True,
    help="Spike rule: robust sigmas from the median of the neighbouring prints.",
)
@click.option(
    "--max-lag",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Lag rule: seconds from exchange time to receive time.",
)
@click.option(
    "--always-open",
    is_flag=True,
    help="No trading-hours rules (a simulated market; implied by --demo).",
)
@click.option(
    "--top", type=click.IntRange(min=0), default=20, show_default=True, help="Rows shown per table."
)
@click.option(
    "--strict",
    is_flag=True,
    help="Subscribed symbols that never traded count as problems (exit 1); else a note.",
)
@provider_options
def validate(
    files: tuple[str, ...],
    kline: bool,
    kline_max: int,
    as_json: bool,
    events_files: tuple[str, ...],
    k_sigma: float,
    max_lag: float,
    always_open: bool,
    top: int,
    strict: bool,
    demo: bool,
    token: str | None,
    url: str | None,
    rest_url: str | None,
    plan: str | None,
) -> None:
    """Check recordings trade by trade, and (--kline) minute by minute.

    Rules: duplicates by (symbol, seq), seq going backwards, prices far from
    the neighbouring prints or off the HKEX spread table, exchange time after
    receive time or lag above --max-lag (with the lag distribution per
    connection), subscribed symbols that never traded, trades outside
    trading hours. With --kline, the 1-minute volume rebuilt from the trades
    is compared with AllTick's /kline bars: ok, short by N shares, no bar.
    Nothing is filled in. Exit status 1 when anything is flagged; symbols
    that never traded are a note (exit 0) unless --strict.

    \b
    Examples:
      hkticks record 700 9988 --demo --out day.jsonl --duration 30s
      hkticks validate day.jsonl --always-open
      hkticks validate day.jsonl --always-open --kline --demo --json | jq .minute_checks
      hkticks validate ticks-2026-11-23.jsonl.gz --kline   # needs a token
    """
    from hkticks.analysis.gap_records import gap_events
    from hkticks.analysis.validate import (
        Options,
        Validator,
        kline_symbols,
        reconcile,
        subscriptions,
    )
    from hkticks.market_hours import calendar
    from hkticks.storage.readers import Recording
    from hkticks.storage.sidecars import events_sidecar, read_events

    recording = Recording(files)
    if not recording.files:
        raise UsageError("no trade recordings among the files given (only events sidecars)")
    sidecars = list(events_files) or list(recording.events_files)
    if not events_files:
        for f in recording.files:
            side = events_sidecar(f.path)
            if side is not None:
                sidecars.append(side)
    events: list[dict[str, Any]] = []
    for path in dict.fromkeys(sidecars):
        if not os.path.isfile(path):
            raise UsageError(f"no such events file: {path}")
        events.extend(read_events(path))
    cal = None if (always_open or demo) else calendar()
    shard_of, subscribed = subscriptions(events)
    validator = Validator(
        Options(k_sigma=k_sigma, max_lag_ms=int(max_lag * 1000), calendar=cal),
        shard_of=shard_of,
        subscribed=subscribed,
    )
    for tick in recording:
        validator.add(tick)
    report = validator.finish()
    report.strict = strict
    gaps = gap_events(events)
    report.gaps = gaps
    for line in recording.problems():
        warn(line)
    if kline:
        from hkticks.run.source import open_source

        spec = source_spec(demo=demo, token=token, url=url, rest_url=rest_url, plan=plan)
        with open_source(spec) as provider:
            if provider.simulated:
                warn("--demo: bars come from a fresh simulated market, not the one recorded")
            client = provider.rest_client()
            wanted = kline_symbols(report, gaps, kline_max)
            bars = {symbol: client.minute_bars(symbol) for symbol in wanted}
        reconcile(report, bars, gaps, cal)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report.record(), option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    else:
        from rich.console import Console

        from hkticks.analysis.validate_view import render

        render(report, Console() if sys.stdout.isatty() else Console(width=200), top)
    if report.problems:
        sys.exit(1)
