"""``hkticks validate``: check recordings, and their gaps against AllTick's minute bars."""

from __future__ import annotations

import sys
from typing import Any

import click

from hkticks.cli import common
from hkticks.run.recordings import open_recording
from hkticks.run.source import open_source


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
@common.json_option("One JSON object with every finding.")
@common.events_option("Events sidecar(s) (default: <FILE>.events.jsonl next to each file).")
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
@common.provider_options
def validate(
    files: tuple[str, ...],
    kline: bool,
    kline_max: int,
    as_json: bool,
    events_files: tuple[str, ...],
    top: int,
    **opts: Any,
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
    from hkticks.run.validate_job import (
        ValidateOptions,
        check_against_bars,
        recording_events,
        validate_recording,
    )

    recording = open_recording(files, select=False)
    events = recording_events(recording, events_files)
    rules = {k: opts.pop(k) for k in ("k_sigma", "max_lag", "strict")}
    options = ValidateOptions(always_open=opts.pop("always_open") or opts["demo"], **rules)
    report = validate_recording(recording, events, options)
    for line in recording.problems():
        common.warn(line)
    if kline:
        with open_source(common.source_spec(**opts)) as provider:
            check_against_bars(report, provider, kline_max, options, note=common.warn)
    if as_json:
        common.print_json(report.record())
    else:
        from rich.console import Console

        from hkticks.analysis.validate_view import render

        render(report, Console() if sys.stdout.isatty() else Console(width=200), top)
    if report.problems:
        sys.exit(1)
