"""``hkticks record``: every trade to disk, through disconnects (the job: :mod:`hkticks.run.record_job`)."""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import fields
from typing import Any, TextIO

import click

from hkticks.alltick import protocol as alltick
from hkticks.alltick.urls import redact
from hkticks.cli import common
from hkticks.feed.queue import DEFAULT_MAXSIZE
from hkticks.run.outputs import RecordOutputs
from hkticks.run.record_job import RecordJob, RecordOptions, provenance_guard
from hkticks.run.source import open_source
from hkticks.stopping import stop_on_signals

RECORD_OPTIONS = tuple(f.name for f in fields(RecordOptions))


class StatusAwareHandler(logging.Handler):
    """Log lines on stderr that first clear the live status line (when there is one)."""

    def __init__(self, stream: TextIO, interactive: bool) -> None:
        super().__init__()
        self.stream = stream
        self.prefix = "\r\x1b[2K" if interactive else ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(f"{self.prefix}hkticks: {redact(record.getMessage())}\n")
            self.stream.flush()
        except Exception:
            self.handleError(record)


class StatusPrinter:
    """The live status line: redrawn in place on a terminal, every 10 s otherwise."""

    def __init__(self, out: TextIO, interactive: bool) -> None:
        self.out, self.interactive = out, interactive
        self.last_report = 0.0

    def __call__(self, line: str) -> None:
        if self.interactive:
            width = shutil.get_terminal_size((100, 24)).columns
            self.out.write("\r\x1b[2K" + line[: max(10, width - 1)])
            self.out.flush()
        elif time.monotonic() - self.last_report >= 10.0:
            if self.last_report:
                self.out.write(f"hkticks: {redact(line)}\n")
                self.out.flush()
            self.last_report = time.monotonic()

    def clear(self) -> None:
        if self.interactive:
            self.out.write("\r\x1b[2K")
            self.out.flush()


@click.command()
@click.argument("symbols", nargs=-1)
@click.option(
    "--out",
    "-o",
    "outs",
    multiple=True,
    required=True,
    metavar="PATH",
    help="Output file; format from the extension: .jsonl, .csv, .db/.sqlite, or - (JSONL to stdout); "
    "or a server: nats://HOST:4222/PREFIX (JetStream), postgresql://USER@HOST/DB?table=ticks. "
    "Repeatable.",
)
@click.option(
    "--all",
    "use_all",
    is_flag=True,
    help="Record the whole Stock Connect universe (the default with no SYMBOLS).",
)
@common.selection_options
@common.duration_option("Stop after this long (e.g. 30s, 10m, 6h).")
@click.option(
    "--book-out", metavar="PATH", help="Also subscribe to order books and write them as JSONL here."
)
@click.option(
    "--book-depth",
    type=click.IntRange(1, 10),
    default=5,
    show_default=True,
    help="Order book levels.",
)
@click.option(
    "--events",
    "events_out",
    metavar="PATH",
    help="Session events sidecar (default: <first --out>.events.jsonl).",
)
@click.option(
    "--flush-interval",
    type=common.Duration(),
    default=1.0,
    show_default="1s",
    help="Flush outputs at least this often.",
)
@click.option("--fsync", is_flag=True, help="fsync on every flush (safer on power loss, slower).")
@click.option(
    "--rotate",
    metavar="daily|hourly|SIZE",
    default=None,
    help="Start a new file every Hong Kong day, every hour, or at SIZE (e.g. 500MB; or daily,1GB). "
    "Name files with {date}, {hour}, {part} in --out (added before the extension if missing), "
    "e.g. --out 'ticks-{date}.jsonl.gz'.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1, 100),
    default=None,
    help="Override the plan's connection limit.",
)
@click.option(
    "--max-symbols-per-connection",
    "max_symbols",
    type=click.IntRange(1, 10000),
    default=None,
    help="Override the plan's symbols-per-connection limit.",
)
@click.option(
    "--stale-timeout",
    type=common.Duration(),
    default=alltick.HEARTBEAT_TIMEOUT_S,
    show_default="30s",
    help="Reconnect a connection silent for this long.",
)
@click.option(
    "--queue-size",
    type=click.IntRange(1000, 50_000_000),
    default=DEFAULT_MAXSIZE,
    show_default=True,
    help="Bound of the in-memory queue, and of each output's own queue (ticks beyond it "
    "are dropped and counted).",
)
@click.option(
    "--allow-mixed",
    is_flag=True,
    help="Append simulated (demo) trades to a file of real ones, or real to simulated.",
)
@click.option(
    "--connect-attempts",
    type=click.IntRange(0, 1_000_000),
    default=5,
    show_default=True,
    help="Give up after this many failed attempts when no connection was ever made (0: never).",
)
@click.option(
    "--compact",
    "compact_to",
    metavar="DIR",
    default=None,
    help="With --rotate daily: add each day to this Parquet archive when it closes "
    "(hkticks[parquet]).",
)
@click.option("--quiet", "-q", is_flag=True, help="No status line and no summary.")
@click.option("--verbose", "-v", is_flag=True, help="Log session details to stderr.")
@common.demo_tuning_options
@common.provider_options
def record(symbols: tuple[str, ...], quiet: bool, verbose: bool, **opts: Any) -> None:
    """Record live trades to JSONL, CSV or SQLite.

    \b
    Examples:
      hkticks record 700 9988 --demo --out t.jsonl --out t.csv --duration 10s
      hkticks record 00700 09988 --out ticks.jsonl          # needs a token
      hkticks record --all --plan premium --out day.jsonl --out day.db   # needs a token
    """
    status_out: TextIO = sys.stderr
    interactive = status_out.isatty() and not quiet
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING,
        handlers=[StatusAwareHandler(status_out, interactive)],
        force=True,
    )
    outputs = RecordOutputs.parse(
        opts.pop("outs"),
        book_out=opts.pop("book_out"),
        events=opts.pop("events_out"),
        rotate=opts.pop("rotate"),
    )
    choose = {k: opts.pop(k) for k in ("symbols_file", "include_suspended", "use_all")}
    options = RecordOptions(**{k: opts.pop(k) for k in RECORD_OPTIONS})
    guard = provenance_guard(outputs, demo=opts["demo"], allow_mixed=options.allow_mixed)
    spec = common.source_spec(**opts)
    options.check(outputs, spec)
    outputs.check()  # before anything connects
    note = (lambda _line: None) if quiet else common.warn
    with open_source(spec) as provider:
        _ = provider.token  # before any slow universe fetch
        codes, _ = provider.symbols(symbols, warn=common.warn, **choose)
        job = RecordJob(provider, codes, outputs, options, guard=guard, note=note)
        note(job.banner())
        for line in job.repairs:
            common.warn(line)
        status = StatusPrinter(status_out, interactive)
        job.start()
        # the handlers stay in place while the queue drains: a second Ctrl-C
        # then still means "exit now", a second SIGTERM is ignored
        with stop_on_signals(job.stop_flag, second_ctrl_c="exit"):
            try:
                job.wait(None if quiet else status)
            finally:
                job.stop()
                compaction = job.compaction_summary()
                if compaction:
                    note(compaction)
                status.clear()
        note(job.summary())
        failure = job.failure()
        if failure is not None:
            raise failure
