"""``hkticks watch``: the live quote board (the job: :mod:`hkticks.run.watch_job`)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from hkticks.cli import common
from hkticks.run.source import open_source
from hkticks.run.watch_job import BoardOptions, StreamResult, run_board, stream_json


@click.command()
@click.argument("symbols", nargs=-1)
@common.selection_options
@click.option(
    "--book", is_flag=True, help="Also show the best bid and ask with their sizes (board only)."
)
@common.board_options(
    "Row order: code, change (top gainers first), volume (day volume), active (most trades). "
    "Default: the order given."
)
@common.json_option(
    "Stream one JSON object per trade instead of the board (automatic when stdout is not a terminal)."
)
@common.duration_option()
@click.option(
    "--heatmap",
    is_flag=True,
    help="Show the market heatmap (treemap of every symbol) instead of the table.",
)
@common.heatmap_options(("cap", "turnover", "equal"))
@click.option(
    "--bell", is_flag=True, help="Ring the terminal bell on each alert (board; off by default)."
)
@common.scenario_option()
@common.demo_tuning_options
@common.provider_options
def watch(symbols: tuple[str, ...], as_json: bool, **opts: Any) -> None:
    """Live quote board in the terminal.

    One row per symbol: last price, change against the previous close, last
    trade size and side, trades and volume seen, the day's range, bid/ask
    with --book, the exchange time in Hong Kong time and its age. With no
    SYMBOLS, the Stock Connect (southbound) universe.

    \b
    Examples:
      hkticks watch 00700 09988 --demo
      hkticks watch 700 9988 3690 --book --colors cn --demo
      hkticks watch --sort change --demo
      hkticks watch 00700 --json --demo | jq .price
      hkticks watch 700 9988 --plan premium     # needs a token
    """
    json_mode = as_json or not sys.stdout.isatty()
    logging.basicConfig(level=logging.WARNING, format="hkticks: %(message)s", stream=sys.stderr)
    choose = {k: opts.pop(k) for k in ("symbols_file", "include_suspended")}
    heatmap = opts.pop("heatmap")
    options = BoardOptions(
        **{k: opts.pop(k) for k in ("book", "sort", "colors", "name_lang", "duration", "bell")},
        start="heatmap" if heatmap else "board",
        heatmap_area=opts.pop("heatmap_size"),
        heatmap_scale=opts.pop("scale"),
        sectors_file=opts.pop("sectors_file"),
    )
    spec = common.source_spec(demo_scenario=opts.pop("scenario") or "anomalies", **opts)
    with open_source(spec) as provider:
        _ = provider.token  # before the universe fetch
        codes, universe = provider.symbols(symbols, warn=common.warn, **choose)
        if json_mode:
            _report_stream(
                stream_json(provider, codes, options.duration, sys.stdout.buffer, sys.stderr),
                len(codes),
            )
            return
        names = universe.names(codes) if universe is not None else {}
        click.echo(run_board(provider, codes, names, options), err=True)


def _report_stream(result: StreamResult, symbols: int) -> None:
    """The summary of a JSON stream: on a terminal, or when a signal stopped it."""
    if result.reason == "pipe closed":
        return
    if result.reason in ("Ctrl-C", "SIGTERM") or sys.stderr.isatty():
        click.echo(
            f"hkticks: streamed {result.written:,} trades of {symbols} symbol"
            f"{'s' if symbols != 1 else ''} in {result.elapsed:.1f} s "
            f"({result.reason or 'stopped'})",
            err=True,
        )
