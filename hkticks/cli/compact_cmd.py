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
    from hkticks.run.outputs import parse_file_target
    from hkticks.storage.parquet import compact as run

    dest = parse_file_target(dest, "--to")  # a server address is refused, never a folder name
    started = time.monotonic()
    report = run(list(sources), dest)
    for line in report.problems:
        warn(line)
    if quiet:
        return
    elapsed = time.monotonic() - started
    days = len(report.days)
    warn(
        f"read {report.read:,} trades of {report.sources:,} "
        f"source{'s' if report.sources != 1 else ''} over {days} "
        f"day{'s' if days != 1 else ''}; added {report.added:,} to {dest}, "
        f"{report.already:,} already there, {report.duplicates:,} duplicates dropped "
        f"({elapsed:.1f} s)"
    )
    for day in report.days:
        if day.file:
            parts = ", ".join(day.files)
            warn(f"  {day.date}: +{day.added:,} -> {parts}")
