"""``hkticks compact``: recordings into the Parquet archive (see :mod:`hkticks.storage.parquet`)."""

from __future__ import annotations

import time

import click

from hkticks.cli.common import warn


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="SRC...")
@click.option(
    "--to",
    "dest",
    required=True,
    metavar="DIR",
    help="The archive folder (created if missing): DIR/date=YYYY-MM-DD/part-*.parquet.",
)
@click.option("--quiet", "-q", is_flag=True, help="No summary.")
def compact(sources: tuple[str, ...], dest: str, quiet: bool) -> None:
    """Add recordings to a Parquet archive, one folder per Hong Kong trading day.

    Any recording format (JSONL, CSV, SQLite, compressed, folders,
    patterns). Trades are de-duplicated by (symbol, seq), against each
    other and against what the archive holds: running it again adds
    nothing. Files are zstd Parquet sorted by (symbol, ts), written under a
    temporary name and renamed, so an interrupted run leaves no half file.
    Needs pyarrow: pip install 'hkticks[parquet]'.

    \b
    Examples:
      hkticks record 700 9988 --demo --out t.jsonl --duration 10s
      hkticks compact t.jsonl --to archive
      hkticks stats archive
    """
    from hkticks.run.compact_job import compact_into, compact_lines

    started = time.monotonic()
    report, dest = compact_into(sources, dest)
    for line in report.problems:
        warn(line)
    if not quiet:
        for line in compact_lines(report, dest, time.monotonic() - started):
            warn(line)
