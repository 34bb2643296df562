"""``hkticks record``: every trade to disk, through disconnects."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from typing import Any, TextIO

import click

from hkticks.alltick import protocol as alltick
from hkticks.alltick.urls import redact
from hkticks.cli.common import (
    Duration,
    feed_token,
    open_feed,
    provider_options,
    provider_settings,
    remote_source,
    resolve_symbols,
    selection_options,
    warn,
)
from hkticks.errors import HkticksError, PipeClosed, TicksLost, UsageError
from hkticks.feed.queue import DEFAULT_MAXSIZE, TickQueue
from hkticks.feed.session import SessionConfig
from hkticks.feed.shards import Feed, FeedStatus
from hkticks.market_hours import calendar as market_calendar
from hkticks.stopping import StopFlag, stop_on_signals
from hkticks.storage import provenance
from hkticks.storage.readers import OUTPUTS_EVENT
from hkticks.storage.recorder import Recorder
from hkticks.storage.resume import last_trades_of
from hkticks.storage.sinks import Sink, check_output, open_jsonl_sink, open_tick_sink
from hkticks.storage.sinks.remote import is_remote, with_publishers
from hkticks.storage.sinks.rotating import (
    FollowerSink,
    RotatePolicy,
    RotatingSink,
    expand,
    now_ms,
    parse_rotate,
    template_for,
)
from hkticks.tick import Event


def events_path_for(
    outs: tuple[str, ...], events: str | None, rotate: RotatePolicy | None = None
) -> str | None:
    """The events sidecar: ``--events``, else ``<first file --out>.events.jsonl``.

    When that output rotates, the sidecar is named after its template
    (``ticks-{date}.jsonl.events.jsonl``) and rotates with it: each file gets
    the sidecar of the events written while it was current, so ``hkticks
    stats FILE`` finds ``FILE.events.jsonl``.
    """
    if events:
        return events
    for out in outs:
        if out != "-" and not is_remote(out):
            return f"{template_for(out, rotate) or out}.events.jsonl"
    return None


def output_names(outs: tuple[str, ...], rotate: RotatePolicy | None) -> list[str]:
    """The file names (rotation templates) of a run's local outputs."""
    local = [o for o in outs if o != "-" and not is_remote(o)]
    return [os.path.basename(template_for(o, rotate) or o) for o in local]


def _event_ts(event: Any) -> int:
    return int(event.ts)


def same_output_twice(outputs: list[tuple[str, str]]) -> None:
    """Refuse one file named twice (``--out a.jsonl --out ./a.jsonl``, ``--events``
    equal to an ``--out``...): both would interleave their lines in it."""
    seen: dict[str, str] = {}
    for option, path in outputs:
        if path == "-":
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise UsageError(
                f"{path} is named twice ({seen[key]} and {option}): give each output its own file"
            )
        seen[key] = option


def status_line(
    st: FeedStatus, rate: float, last_age: float | None, recorder: Recorder | None = None
) -> str:
    age = "-" if last_age is None else f"{last_age:.1f}s"
    behind = recorder.backlog if recorder is not None else 0
    losses = recorder.output_losses() if recorder is not None else []
    return (
        f"conn {st.up}/{len(st.connections)}  ticks {st.ticks:,}  {rate:,.0f}/s  "
        f"queue {st.queue_depth:,}  last {age}  reconnects {st.reconnects}"
        + (f"  dropped {st.dropped:,}" if st.dropped else "")
        + (f"  outputs behind {behind:,}" if behind >= 1000 else "")
        + "".join(f"  LOST {n:,} on {where}" for where, n in losses)
        + next(
            (f"  last error: {c.reason}" for c in st.connections if getattr(c, "reason", None)), ""
        )
    )


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


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _human(n: float) -> str:
    return f"{n:.1f} s" if n < 120 else f"{n / 60:.1f} min"


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
    "or a server: nats://HOST:4222/PREFIX (JetStream), postgresql://USER@HOST/DB?table=ticks. Repeatable.",
)
@click.option(
    "--all",
    "use_all",
    is_flag=True,
    help="Record the whole Stock Connect universe (the default with no SYMBOLS).",
)
@selection_options
@click.option(
    "--duration", type=Duration(), default=None, help="Stop after this long (e.g. 30s, 10m, 6h)."
)
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
    type=Duration(),
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
    type=click.IntRange(1, 10000),
    default=None,
    help="Override the plan's symbols-per-connection limit.",
)
@click.option(
    "--stale-timeout",
    type=Duration(),
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
@click.option("--demo-rate", type=float, default=200.0, hidden=True)
@click.option("--demo-seed", type=int, default=None, hidden=True)
@provider_options
def record(
    symbols: tuple[str, ...],
    outs: tuple[str, ...],
    use_all: bool,
    symbols_file: str | None,
    include_suspended: bool,
    duration: float | None,
    book_out: str | None,
    book_depth: int,
    events_out: str | None,
    flush_interval: float,
    fsync: bool,
    rotate: str | None,
    max_connections: int | None,
    max_symbols_per_connection: int | None,
    stale_timeout: float,
    queue_size: int,
    allow_mixed: bool,
    connect_attempts: int,
    compact_to: str | None,
    quiet: bool,
    verbose: bool,
    demo_rate: float,
    demo_seed: int | None,
    demo: bool,
    token: str | None,
    url: str | None,
    rest_url: str | None,
    plan: str | None,
) -> None:
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
    if flush_interval <= 0:
        raise UsageError("--flush-interval must be positive")
    if stale_timeout <= alltick.HEARTBEAT_INTERVAL_S:
        raise UsageError(
            f"--stale-timeout must be longer than the {alltick.HEARTBEAT_INTERVAL_S:g} s heartbeat "
            "interval (a quiet connection hears only the heartbeat replies)"
        )
    if duration is not None and duration <= 0:
        raise UsageError("--duration must be positive")
    if outs.count("-") > 1:
        raise UsageError("--out - (stdout) can be given once")
    policy = parse_rotate(rotate) if rotate else None
    events_path = events_path_for(outs, events_out, policy)
    same_output_twice(
        [("--out", o) for o in outs]
        + ([("--book-out", book_out)] if book_out else [])
        + ([("--events", events_path)] if events_path else [])
    )
    source = remote_source()
    if source:  # --from X --out X would read back what it publishes
        from hkticks.feed.nats_source import check_not_own_source

        check_not_own_source(source, outs)
    # outputs are checked before anything connects
    for path in outs:
        check_output(path, rotate=policy)
    if book_out:
        check_output(book_out, "--book-out", rotate=policy)
    if events_path:
        # a default sidecar follows its output's files: check the one it names now
        check_output(events_path if events_out else expand(events_path, now_ms()), "--events")
    shown = [template_for(o, policy) or o for o in outs]
    if compact_to and (policy is None or policy.period != "daily"):
        raise UsageError("--compact compacts each day when it closes: add --rotate daily")
    # what the files appended to already hold: simulated and real trades are not mixed
    current = [expand(t, now_ms()) for t in shown if t != "-"]
    existed = {p for p in [*current, events_path or ""] if p and os.path.exists(p)}
    guard = None
    if not allow_mixed:
        existing = provenance.kind_of(current)
        held = next((p for p in current if provenance.sources(p)), "the output")
        if demo and existing == provenance.REAL:
            raise UsageError(
                f"{held} holds real trades and --demo records simulated ones: "
                "record the demo to another file, or pass --allow-mixed"
            )
        guard = provenance.mixing_guard(existing, held)

    with provider_settings(
        demo=demo,
        token=token,
        url=url,
        rest_url=rest_url,
        plan=plan,
        demo_rate=demo_rate,
        demo_seed=demo_seed,
    ) as settings:
        token_value = feed_token(settings)  # before any slow universe fetch
        codes, _ = resolve_symbols(
            symbols,
            symbols_file,
            include_suspended=include_suspended,
            settings=settings,
            warn=warn,
            use_all=use_all,
        )
        queue = TickQueue(queue_size)
        feed = open_feed(
            codes,
            settings=settings,
            queue=queue,
            token=token_value,
            book_depth=book_depth if book_out else None,
            max_connections=max_connections,
            max_symbols=max_symbols_per_connection,
            config=SessionConfig(
                stale_timeout=stale_timeout,
                # the simulated market never closes; AllTick's follows HKEX's calendar
                calendar=None if settings.demo else market_calendar(),
                max_failed_attempts=connect_attempts,
            ),
            simulated=settings.demo,
            check_server=guard,
        )
        sinks: list[Sink] = []
        book_sink: Sink | None = None
        event_sink: Sink | None = None
        try:
            for path in outs:
                sinks.append(open_tick_sink(path, policy))
            book_sink = open_jsonl_sink(book_out, rotate=policy) if book_out else None
            leader = next((s for s, o in zip(sinks, outs, strict=True) if o != "-"), None)
            if events_path and not events_out and isinstance(leader, RotatingSink):
                event_sink = FollowerSink(leader, ".events.jsonl", open_jsonl_sink)
            elif events_path:
                event_sink = open_jsonl_sink(events_path, time_of=_event_ts)
            book_sink, event_sink = with_publishers(sinks, book_sink, event_sink)
        except HkticksError:
            for s in (*sinks, book_sink, event_sink):
                if s is not None:
                    s.close()
            raise
        compactor = None
        if compact_to:
            from hkticks.storage.daily_compact import DailyCompactor, compact_on_rotate

            compactor = DailyCompactor(compact_to)
            sinks = compact_on_rotate(sinks, compactor)
        # a run appending to an existing recording must not write again the
        # trades the server re-sends after subscribing (a rotating output:
        # the file it writes now)
        for sink in sinks:
            remote_tail = getattr(sink, "last_trades", None)  # NATS, PostgreSQL
            # a rotation: its earlier files too
            known = remote_tail(codes) if remote_tail else last_trades_of(sink, codes)
            for symbol, pairs in known.recent.items():
                for seq, ts in pairs:
                    feed.dedup.seed(symbol, seq, ts)
            if not known.complete and not quiet:
                warn(
                    f"{sink.path}: read the last {known.scanned_bytes >> 20} MB for trades already "
                    f"recorded, not the whole file; a trade of a symbol quiet since then that the "
                    "server re-sends may be written again"
                )
        run = StopFlag()
        recorder = Recorder(
            queue,
            sinks,
            book_sink=book_sink,
            event_sink=event_sink,
            flush_interval=flush_interval,
            fsync=fsync,
            output_rows=queue_size,
            on_error=lambda exc: run.set(
                "stdout closed" if isinstance(exc, PipeClosed) else "write error"
            ),
        )
        if not quiet:
            # the files opened now (a rotating output: its current file)
            where = ", ".join(written_files(s, o) for s, o in zip(sinks, outs, strict=True))
            if policy is not None:
                where += f" (new file {policy})"
            demo_note = f" (DEMO: simulated prices; {demo_session_note()})" if settings.demo else ""
            warn(
                f"recording {_plural(len(codes), 'symbol')} on "
                f"{_plural(len(feed.shards), 'connection')} "
                f"from {feed.shown_url}{demo_note} -> {where}"
                + (
                    f" (events: {event_sink.path if event_sink else events_path})"
                    if events_path
                    else ""
                )
            )
        for opened in (*sinks, book_sink, event_sink):
            if opened is not None and opened.repaired_bytes:
                warn(
                    f"{opened.path}: removed a torn last line ({opened.repaired_bytes} bytes) "
                    "before appending"
                )
        started = time.monotonic()
        recorder.start()
        feed.start()
        if event_sink is not None:  # readers find this run's sidecar from every output
            queue.put_event(
                Event(now_ms(), OUTPUTS_EVENT, None, {"files": output_names(outs, policy)})
            )
        # the handlers stay in place while the queue drains: a second Ctrl-C
        # then still means "exit now", a second SIGTERM is ignored
        with stop_on_signals(run, second_ctrl_c="exit"):
            try:
                _wait(run, feed, recorder, duration, started, quiet, interactive, status_out)
            finally:
                feed.stop()
                queue.put_event(
                    Event(now_ms(), "feed_stop", None, {"reason": run.reason or "stopped"})
                )
                recorder.stop()
                if compactor is not None:
                    compactor.close()
                    if not quiet:
                        warn(compactor.summary())
                if interactive:
                    status_out.write("\r\x1b[2K")
                    status_out.flush()
        elapsed = time.monotonic() - started
        st = feed.status()
        written = tuple(written_files(sink, out) for sink, out in zip(sinks, outs, strict=True))
        if feed.fatal is not None and recorder.ticks == 0:
            # refused before anything was recorded (a rejected token): leave no empty files
            remove_new_empty_files(sinks, event_sink, book_sink, existed)
            written = ("no new file kept",)
        if not quiet:
            warn(_summary(st, recorder, elapsed, written, run.reason, sinks))
        if feed.fatal is not None:
            raise feed.fatal
        if recorder.error is not None and not isinstance(recorder.error, PipeClosed):
            raise recorder.error
        _check_nothing_lost(st, recorder)


def _check_nothing_lost(st: FeedStatus, recorder: Recorder) -> None:
    """Exit 6 (:class:`TicksLost`) when ticks received were dropped, saying how many."""
    parts = []
    if st.dropped:
        parts.append(
            f"{st.dropped:,} by the full queue (the writer fell behind: raise --queue-size)"
        )
    several = len(recorder.tick_sinks) > 1
    others = "; the other outputs have them" if several else ""
    for where, n in recorder.output_losses():
        parts.append(
            f"{n:,} on {where}{' only' if several else ''} "
            f"(it fell behind or was unavailable{others})"
        )
    if recorder.unwritten:
        parts.append(f"{recorder.unwritten:,} still queued when the writer was given up on")
    if parts:
        total = st.dropped + recorder.sink_dropped + recorder.unwritten
        raise TicksLost(f"{total:,} ticks were dropped: " + "; ".join(parts))


def demo_session_note(now: float | None = None) -> str:
    """What the simulated market is doing: its own session when HK is closed."""
    from hkticks.market_hours import market_session, simulated_label

    session = market_session(time.time() if now is None else now)
    return simulated_label(session) if not session.trading else f"HK market {session.label}"


def written_files(sink: Sink, out: str) -> str:
    """The files a sink wrote (a rotating one: the first and last), for the summary."""
    if out == "-":
        return "stdout"
    files = list(getattr(sink, "files", None) or [sink.path])
    if len(files) == 1:
        return files[0]
    return f"{files[0]} ... {files[-1]} ({len(files)} files)"


def remove_new_empty_files(
    sinks: list[Sink], event_sink: Sink | None, book_sink: Sink | None, existed: set[str]
) -> None:
    """Delete the files this run created and wrote no trade to (the sinks are closed)."""
    paths: list[str] = []
    for sink in (*sinks, book_sink, event_sink):
        if sink is not None and sink.path != "-":
            paths += list(getattr(sink, "files", None) or [sink.path])
    for path in paths:
        if path in existed or not os.path.isfile(path):
            continue
        for extra in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(path + extra)
            except OSError:
                pass


def _wait(
    run: StopFlag,
    feed: Feed,
    recorder: Recorder,
    duration: float | None,
    started: float,
    quiet: bool,
    interactive: bool,
    out: TextIO,
) -> None:
    last_report = started
    last_ticks = 0
    last_time = started
    rate = 0.0
    while not run.wait(0.25):
        now = time.monotonic()
        if duration is not None and now - started >= duration:
            run.set("duration reached")
            break
        if feed.done.is_set() or feed.fatal is not None:
            run.set("fatal error")
            break
        if recorder.error is not None or not recorder.thread.is_alive():
            run.set("stdout closed" if isinstance(recorder.error, PipeClosed) else "write error")
            break
        if quiet:
            continue
        if now - last_time >= 1.0:
            st = feed.status()
            rate = (st.ticks - last_ticks) / (now - last_time)
            last_ticks, last_time = st.ticks, now
            last_age = (
                time.time() - recorder.last_tick_recv_ts / 1000
                if recorder.last_tick_recv_ts
                else None
            )
            line = status_line(st, rate, last_age, recorder)
            if interactive:
                width = shutil.get_terminal_size((100, 24)).columns
                out.write("\r\x1b[2K" + line[: max(10, width - 1)])
                out.flush()
            elif now - last_report >= 10.0:
                out.write(f"hkticks: {line}\n")
                out.flush()
                last_report = now
    run.set("stopped")  # keeps the first reason given


def _summary(
    st: FeedStatus,
    recorder: Recorder,
    elapsed: float,
    outs: tuple[str, ...],
    reason: str,
    sinks: list[Sink],
) -> str:
    where = ", ".join(outs)
    parts = [
        f"recorded {_plural(recorder.written, 'tick')} of {_plural(len(recorder.symbols), 'symbol')} "
        f"in {_human(elapsed)} -> {where} ({reason})",
        f"reconnects {st.reconnects}",
        f"decode errors {st.decode_errors}",
        f"duplicates dropped {st.duplicates}",
    ]
    if recorder.books:
        parts.append(f"books {recorder.books:,}")
    if st.dropped:
        parts.append(f"DROPPED {st.dropped:,} (queue full)")
    for where, n in recorder.output_losses():
        parts.append(f"DROPPED {n:,} on {where} (too slow or unavailable)")
    if st.rejected:
        parts.append(f"rejected codes {', '.join(sorted(st.rejected))}")
    if len({sink.rows for sink in sinks}) > 1:  # a write failed part-way: say what each holds
        parts.append("rows written: " + ", ".join(f"{sink.path} {sink.rows:,}" for sink in sinks))
    return "; ".join(parts)
