"""``hkticks stats``: what is in a recording, per symbol, and its gaps."""

from __future__ import annotations

import csv
import sys
from typing import Any

import click

from hkticks.cli import common
from hkticks.errors import UsageError
from hkticks.run.recordings import check_events_files, check_read, data_kind, open_recording
from hkticks.storage import provenance

SORTS = {"symbol": "symbol", "trades": "trades", "volume": "volume", "turnover": "turnover"}


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@common.window_options
@common.json_option("One JSON object: files, symbols, gaps.")
@click.option("--csv", "as_csv", is_flag=True, help="The per-symbol table as CSV.")
@click.option(
    "--sort",
    type=click.Choice(list(SORTS)),
    default="symbol",
    show_default=True,
    help="Row order (largest first for the figures).",
)
@click.option(
    "--top", type=click.IntRange(1), default=None, help="Show only the first N rows of the table."
)
@common.events_option(
    "Events sidecar(s) to read gaps from (default: <FILE>.events.jsonl next to each file)."
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "duckdb", "python"]),
    default="auto",
    show_default=True,
    help="Compute with DuckDB (hkticks[fast]) or the streaming Python reader.",
)
def stats(
    files: tuple[str, ...],
    symbols: tuple[str, ...],
    start: str | None,
    end: str | None,
    as_json: bool,
    as_csv: bool,
    sort: str,
    top: int | None,
    events_files: tuple[str, ...],
    engine: str,
) -> None:
    """Summarise recordings per symbol.

    Trades, first and last exchange time, VWAP, volume, turnover, high and
    low per symbol, in one streaming pass (any size, any supported format,
    compressed or not); gaps (disconnects, recorder restarts) from the
    session events sidecars. Invalid or torn lines are skipped and counted.

    \b
    Examples:
      hkticks record 700 9988 --demo --out 'ticks-{date}.csv' --duration 1m
      hkticks stats 'ticks-*.csv'
      hkticks stats 'ticks-*.csv' --sort turnover --top 20
      hkticks stats . --json | jq '.per_symbol[] | select(.symbol=="00700")'
      hkticks stats 'ticks-*.csv' --csv > summary.csv
    """
    from hkticks.analysis.stats import summarise

    if as_json and as_csv:
        raise UsageError("give --json or --csv, not both")
    recording = open_recording(files, common.parse_symbols(symbols), start, end)
    check_events_files(events_files)
    summary = summarise(recording, events_files=list(events_files) or None, engine=engine)
    check_read(summary.files)
    for line in summary.problems:
        click.echo(f"hkticks: {line}", err=True)
    kind = data_kind(recording)
    if as_json:
        _print_json(summary, SORTS[sort], kind)
    elif as_csv:
        _print_csv(summary, SORTS[sort], top, provenance.label(kind))
    else:
        _print_table(summary, SORTS[sort], top, provenance.label(kind))
    failure = recording.failure()  # a part or a file that could not be read: non-zero
    if failure is not None:
        raise failure


def _print_json(summary: Any, sort: str, kind: str | None) -> None:
    from hkticks.analysis.stats import to_json

    doc = to_json(summary, sort)
    doc["data"] = kind or "none"  # simulated | real | mixed | none
    common.print_json(doc)


def _print_csv(summary: Any, sort: str, top: int | None, label: str) -> None:
    """The per-symbol table as CSV on stdout (the DEMO label on stderr)."""
    from hkticks.analysis.stats import csv_rows

    if label:
        click.echo(f"hkticks: {label}", err=True)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    for i, row in enumerate(csv_rows(summary, sort)):
        if top is not None and i > top:
            break
        writer.writerow(row)


def _print_table(summary: Any, sort: str, top: int | None, label: str) -> None:
    """The Rich table; into a pipe or file as wide as the table needs, never cut."""
    from rich.console import Console

    from hkticks.analysis.stats import render
    from hkticks.watch.pump import silence_stdout

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:  # `| head`: a normal way to stop (exit 0)
            silence_stdout()
            raise BrokenPipeError

    console = PipeConsole() if sys.stdout.isatty() else PipeConsole(width=240)
    if label:
        console.print(f"[bold reverse] {label} [/]", highlight=False)
    render(summary, console, sort, top)
