"""``hkticks stats``: what is in a recording, per symbol, and its gaps."""

from __future__ import annotations

import csv
import os
import sys

import click
import orjson

from hkticks.cli.common import parse_symbols
from hkticks.errors import NothingRead, UsageError
from hkticks.storage import provenance
from hkticks.storage.readers import Recording, make_selection

SORTS = {"symbol": "symbol", "trades": "trades", "volume": "volume", "turnover": "turnover"}


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--symbols", "symbols", multiple=True, metavar="CODES", help="Only these symbols (repeatable)."
)
@click.option(
    "--from", "start", metavar="HH:MM", help="From this exchange time (HK; or YYYY-MM-DD[ HH:MM])."
)
@click.option(
    "--to", "end", metavar="HH:MM", help="Before this exchange time (HK; or YYYY-MM-DD[ HH:MM])."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: files, symbols, gaps.")
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
@click.option(
    "--events",
    "events_files",
    multiple=True,
    metavar="PATH",
    help="Events sidecar(s) to read gaps from (default: <FILE>.events.jsonl next to each file).",
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
    from hkticks.analysis.stats import csv_rows, nothing_read, render, summarise, to_json
    from hkticks.watch.pump import silence_stdout

    if as_json and as_csv:
        raise UsageError("give --json or --csv, not both")
    selection = make_selection(parse_symbols(symbols), start, end)
    recording = Recording(files, selection)
    if not recording.files:
        raise UsageError("no trade recordings among the files given (only events sidecars)")
    for path in events_files:
        if not os.path.isfile(path):
            raise UsageError(f"no such events file: {path}")
    summary = summarise(recording, events_files=list(events_files) or None, engine=engine)
    unread = nothing_read(summary.files)
    if unread is not None:  # every line skipped: one line and a non-zero exit, not "0 trades"
        raise NothingRead(unread)
    for line in summary.problems:
        click.echo(f"hkticks: {line}", err=True)
    # simulated (demo) data says so wherever it is read back
    kind = provenance.kind_of(f.path for f in recording.files)
    label = provenance.label(kind)
    if as_json:
        doc = to_json(summary, SORTS[sort])
        doc["data"] = kind or "none"  # simulated | real | mixed | none
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    elif as_csv:
        if label:
            click.echo(f"hkticks: {label}", err=True)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        rows = csv_rows(summary, SORTS[sort])
        for i, row in enumerate(rows):
            if top is not None and i > top:
                break
            writer.writerow(row)
    else:
        from rich.console import Console

        class PipeConsole(Console):
            def on_broken_pipe(self) -> None:  # `| head`: a normal way to stop (exit 0)
                silence_stdout()
                raise BrokenPipeError

        # into a pipe or file: as wide as the table needs, never cut
        console = PipeConsole() if sys.stdout.isatty() else PipeConsole(width=240)
        if label:
            console.print(f"[bold reverse] {label} [/]", highlight=False)
        render(summary, console, SORTS[sort], top)
    failure = recording.failure()  # a part or a file that could not be read: non-zero
    if failure is not None:
        raise failure
