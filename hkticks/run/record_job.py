"""The record job: a feed into every output of a recording, through disconnects.

:class:`RecordJob` wires what ``hkticks record`` and ``hkticks.record()``
run: the outputs (:class:`~hkticks.run.outputs.RecordOutputs`: tick sinks,
books, the events sidecar and the one that follows a rotating file), the
provenance guard (simulated and real trades never mixed in one file), the
de-duplication seeded from what the outputs already hold, the daily
compactor, the writer thread, and at the end the removal of files a refused
run created empty. It prints nothing: the caller shows :meth:`RecordJob.banner`,
the status lines and :meth:`RecordJob.summary`, and raises
:meth:`RecordJob.failure`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hkticks.alltick import protocol as alltick
from hkticks.errors import HkticksError, PipeClosed, TicksLost, UsageError
from hkticks.feed.queue import DEFAULT_MAXSIZE, TickQueue
from hkticks.feed.session import SessionConfig
from hkticks.feed.shards import FeedStatus
from hkticks.market_hours import calendar as market_calendar
from hkticks.run.outputs import OpenedOutputs, RecordOutputs
from hkticks.run.source import Provider, SourceSpec, open_source
from hkticks.stopping import StopFlag
from hkticks.storage import provenance
from hkticks.storage.recorder import Recorder
from hkticks.storage.resume import last_trades_of
from hkticks.storage.sidecars import OUTPUTS_EVENT
from hkticks.storage.sinks import Sink
from hkticks.storage.sinks.rotating import now_ms
from hkticks.tick import Event


@dataclass(frozen=True)
class RecordOptions:
    """How a recording runs (the ``record`` flags that are not outputs or the source)."""

    duration: float | None = None
    book_depth: int = 5
    flush_interval: float = 1.0
    fsync: bool = False
    max_connections: int | None = None
    max_symbols: int | None = None
    stale_timeout: float = alltick.HEARTBEAT_TIMEOUT_S
    queue_size: int = DEFAULT_MAXSIZE
    allow_mixed: bool = False
    connect_attempts: int = 5
    compact_to: str | None = None

    def check(self, outputs: RecordOutputs, source: SourceSpec | None = None) -> None:
        """Refuse what cannot run, before anything connects (``source``: where the trades
        come from; ``--from X --out X`` would read back every trade it publishes)."""
        if source is not None and source.nats:
            from hkticks.feed.nats_source import check_not_own_source

            check_not_own_source(source.nats, [o.text for o in outputs.ticks])
        if self.flush_interval <= 0:
            raise UsageError("--flush-interval must be positive")
        if self.stale_timeout <= alltick.HEARTBEAT_INTERVAL_S:
            raise UsageError(
                f"--stale-timeout must be longer than the {alltick.HEARTBEAT_INTERVAL_S:g} s "
                "heartbeat interval (a quiet connection hears only the heartbeat replies)"
            )
        if self.duration is not None and self.duration <= 0:
            raise UsageError("--duration must be positive")
        if self.compact_to and (outputs.rotate is None or outputs.rotate.period != "daily"):
            raise UsageError("--compact compacts each day when it closes: add --rotate daily")
        if self.compact_to:
            from hkticks.run.outputs import parse_file_target

            parse_file_target(self.compact_to, "--compact")


def provenance_guard(
    outputs: RecordOutputs, *, demo: bool, allow_mixed: bool
) -> Callable[[bool], HkticksError | None] | None:
    """What the files appended to already hold: simulated and real trades are not mixed.

    Raises now when ``demo`` would append to real trades; else a check the
    feed runs on the server's first answer (a real URL that turns out simulated).
    """
    if allow_mixed:
        return None
    current = outputs.current_files()
    existing = provenance.kind_of(current)
    held = next((p for p in current if provenance.sources(p)), "the output")
    if demo and existing == provenance.REAL:
        raise UsageError(
            f"{held} holds real trades and --demo records simulated ones: "
            "record the demo to another file, or pass --allow-mixed"
        )
    return provenance.mixing_guard(existing, held)


def status_line(
    st: FeedStatus, rate: float, last_age: float | None, recorder: Recorder | None = None
) -> str:
    """The live status of a recording: connections, ticks, rate, queue, last trade's age,
    and an output that fell behind or lost ticks (each output has its own queue)."""
    age = "-" if last_age is None else f"{last_age:.1f}s"
    behind = recorder.backlog if recorder is not None else 0
    losses = recorder.output_losses() if recorder is not None else []
    side = recorder.side_losses() if recorder is not None else []
    return (
        f"conn {st.up}/{len(st.connections)}  ticks {st.ticks:,}  {rate:,.0f}/s  "
        f"queue {st.queue_depth:,}  last {age}  reconnects {st.reconnects}"
        + (f"  dropped {st.dropped:,}" if st.dropped else "")
        + (f"  outputs behind {behind:,}" if behind >= 1000 else "")
        + "".join(f"  LOST {n:,} on {where}" for where, n in losses)
        + "".join(f"  LOST {n:,} {kind} on {where}" for where, n, kind in side)
        + next(
            (f"  last error: {c.reason}" for c in st.connections if getattr(c, "reason", None)), ""
        )
    )


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _human(n: float) -> str:
    return f"{n:.1f} s" if n < 120 else f"{n / 60:.1f} min"


def demo_session_note(now: float | None = None) -> str:
    """What the simulated market is doing: its own session when HK is closed."""
    from hkticks.market_hours import market_session, simulated_label

    session = market_session(time.time() if now is None else now)
    return simulated_label(session) if not session.trading else f"HK market {session.label}"


def written_files(sink: Sink, shown: str) -> str:
    """The files a sink wrote (a rotating one: the first and last), for the summary."""
    if shown == "stdout":
        return "stdout"
    files = list(getattr(sink, "files", None) or [sink.path])
    if len(files) == 1:
        return str(files[0])
    return f"{files[0]} ... {files[-1]} ({len(files)} files)"


def remove_new_empty_files(sinks: Sequence[Sink], existed: set[str]) -> None:
    """Delete the files this run created and wrote no trade to (the sinks are closed)."""
    paths: list[str] = []
    for sink in sinks:
        if sink.path != "-":
            paths += list(getattr(sink, "files", None) or [sink.path])
    for path in paths:
        if path in existed or not os.path.isfile(path):
            continue
        for extra in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(path + extra)
            except OSError:
                pass


class RecordJob:
    """One recording: built (outputs opened, dedup seeded), started, waited on, finished."""

    def __init__(
        self,
        provider: Provider,
        codes: Sequence[str],
        outputs: RecordOutputs,
        options: RecordOptions,
        *,
        guard: Callable[[bool], HkticksError | None] | None = None,
        note: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.provider, self.codes, self.outputs, self.options = (
            provider,
            list(codes),
            outputs,
            options,
        )
        self.stop_flag = StopFlag()
        self.queue = TickQueue(options.queue_size)
        demo = provider.simulated
        self.feed = provider.feed(
            self.codes,
            self.queue,
            book_depth=options.book_depth if outputs.books else None,
            max_connections=options.max_connections,
            max_symbols=options.max_symbols,
            config=SessionConfig(
                stale_timeout=options.stale_timeout,
                # the simulated market never closes; AllTick's follows HKEX's calendar
                calendar=None if demo else market_calendar(),
                max_failed_attempts=options.connect_attempts,
            ),
            check_server=guard,
        )
        self.opened: OpenedOutputs = outputs.open()
        self.compactor: Any = None
        self.sinks: list[Sink] = list(self.opened.ticks)
        if options.compact_to:
            from hkticks.storage.daily_compact import DailyCompactor, compact_on_rotate

            self.compactor = DailyCompactor(options.compact_to)
            self.sinks = compact_on_rotate(self.sinks, self.compactor)
        self._seed_dedup(note)
        self.recorder = Recorder(
            self.queue,
            self.sinks,
            book_sink=self.opened.books,
            event_sink=self.opened.events,
            flush_interval=options.flush_interval,
            fsync=options.fsync,
            output_rows=options.queue_size,  # each output's own queue
            on_error=lambda exc: self.stop_flag.set(
                "stdout closed" if isinstance(exc, PipeClosed) else "write error"
            ),
        )
        # said even by a quiet run: a file was changed
        self.repairs = [
            f"{o.path}: removed a torn last line ({o.repaired_bytes} bytes) before appending"
            for o in self.opened.all()
            if o.repaired_bytes
        ]
        self.started = 0.0
        self.elapsed = 0.0

    def _seed_dedup(self, note: Callable[[str], None]) -> None:
        """A run appending to an existing recording must not write again the trades the
        server re-sends after subscribing (a rotating output: its earlier files too)."""
        for sink in self.sinks:
            remote_tail = getattr(sink, "last_trades", None)  # NATS, PostgreSQL
            known = remote_tail(self.codes) if remote_tail else last_trades_of(sink, self.codes)
            for symbol, pairs in known.recent.items():
                for seq, ts in pairs:
                    self.feed.dedup.seed(symbol, seq, ts)
            if not known.complete:
                note(
                    f"{sink.path}: read the last {known.scanned_bytes >> 20} MB for trades already "
                    f"recorded, not the whole file; a trade of a symbol quiet since then that the "
                    "server re-sends may be written again"
                )

    def banner(self) -> str:
        """``recording N symbols on M connections from URL -> files``."""
        where = ", ".join(
            written_files(s, o.shown) for s, o in zip(self.sinks, self.outputs.ticks, strict=True)
        )
        if self.outputs.rotate is not None:
            where += f" (new file {self.outputs.rotate})"
        demo = self.provider.simulated
        demo_note = f" (DEMO: simulated prices; {demo_session_note()})" if demo else ""
        events = self.opened.events.path if self.opened.events else None
        return (
            f"recording {plural(len(self.codes), 'symbol')} on "
            f"{plural(len(self.feed.shards), 'connection')} "
            f"from {self.feed.shown_url}{demo_note} -> {where}"
            + (f" (events: {events})" if events else "")
        )

    def start(self) -> None:
        self.started = time.monotonic()
        self.recorder.start()
        self.feed.start()
        if self.opened.events is not None:  # readers find this run's sidecar from every output
            self.queue.put_event(
                Event(now_ms(), OUTPUTS_EVENT, None, {"files": self.outputs.file_names()})
            )

    def wait(self, on_status: Callable[[str], None] | None = None) -> None:
        """Until the duration, a stop (:attr:`stop_flag`), a fatal error or a failed write;
        ``on_status`` gets the status line about once a second."""
        duration = self.options.duration
        last_ticks, last_time = 0, self.started
        while not self.stop_flag.wait(0.25):
            now = time.monotonic()
            if duration is not None and now - self.started >= duration:
                self.stop_flag.set("duration reached")
                break
            if self.feed.done.is_set() or self.feed.fatal is not None:
                self.stop_flag.set("fatal error")
                break
            recorder = self.recorder
            if recorder.error is not None or not recorder.thread.is_alive():
                closed = isinstance(recorder.error, PipeClosed)
                self.stop_flag.set("stdout closed" if closed else "write error")
                break
            if on_status is not None and now - last_time >= 1.0:
                st = self.feed.status()
                rate = (st.ticks - last_ticks) / (now - last_time)
                last_ticks, last_time = st.ticks, now
                recv = recorder.last_tick_recv_ts
                age = time.time() - recv / 1000 if recv else None
                on_status(status_line(st, rate, age, self.recorder))
        self.stop_flag.set("stopped")  # keeps the first reason given

    def stop(self) -> None:
        """Stop the feed, drain the queue into the outputs, close them (and the compactor)."""
        try:
            self.feed.stop()
            reason = self.stop_flag.reason or "stopped"
            self.queue.put_event(Event(now_ms(), "feed_stop", None, {"reason": reason}))
            self.recorder.stop()
        finally:
            if self.compactor is not None:
                self.compactor.close()
            self.elapsed = time.monotonic() - self.started if self.started else 0.0
            if self.feed.fatal is not None and self.recorder.ticks == 0:
                # refused before anything was recorded (a rejected token): no empty files
                remove_new_empty_files(self.opened.all(), self.outputs.existed)
                self._written: tuple[str, ...] = ("no new file kept",)
            else:
                self._written = tuple(
                    written_files(s, o.shown)
                    for s, o in zip(self.sinks, self.outputs.ticks, strict=True)
                )

    def compaction_summary(self) -> str | None:
        return None if self.compactor is None else str(self.compactor.summary())

    def summary(self) -> str:
        """The one line said at the end: what was recorded, where, and what was lost."""
        st, recorder = self.feed.status(), self.recorder
        reason = self.stop_flag.reason
        parts = [
            f"recorded {plural(recorder.written, 'tick')} of "
            f"{plural(len(recorder.symbols), 'symbol')} in {_human(self.elapsed)} -> "
            f"{', '.join(self._written)} ({reason})",
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
        for where, n, kind in recorder.side_losses():
            parts.append(f"DROPPED {n:,} {kind} on {where} (too slow or unavailable)")
        if st.rejected:
            parts.append(f"rejected codes {', '.join(sorted(st.rejected))}")
        if len({sink.rows for sink in self.sinks}) > 1:  # a write failed part-way
            parts.append(
                "rows written: " + ", ".join(f"{sink.path} {sink.rows:,}" for sink in self.sinks)
            )
        return "; ".join(parts)

    def failure(self) -> HkticksError | None:
        """Why the run failed (fatal feed error, write error, ticks lost), or ``None``."""
        if self.feed.fatal is not None:
            return self.feed.fatal
        error = self.recorder.error
        if error is not None and not isinstance(error, PipeClosed):
            return error
        st, recorder = self.feed.status(), self.recorder
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
        side = [
            f"{n:,} {kind} on {where} (it fell behind or was unavailable)"
            for where, n, kind in recorder.side_losses()
        ]
        if parts:
            total = st.dropped + recorder.sink_dropped + recorder.unwritten
            also = f"; and {'; '.join(side)}" if side else ""
            return TicksLost(f"{total:,} ticks were dropped: " + "; ".join(parts) + also)
        if side:  # every trade was written; a book output or the sidecar lost some
            return TicksLost("not written: " + "; ".join(side) + "; every tick was written")
        return None


def record_to_end(
    spec: SourceSpec,
    symbols: Sequence[str],
    outputs: RecordOutputs,
    opts: RecordOptions,
    guard: Any,
) -> RecordJob:
    """Open ``spec``, record ``symbols`` until the job ends (its duration, the feed's end,
    Ctrl-C) and stop it; raises its failure (``hkticks.record``)."""
    with open_source(spec) as provider:
        _ = provider.token
        codes, _universe = provider.symbols(list(symbols))
        job = RecordJob(provider, codes, outputs, opts, guard=guard)
        job.start()
        try:
            job.wait()
        except KeyboardInterrupt:
            job.stop_flag.set("Ctrl-C")
        finally:
            job.stop()
    failure = job.failure()
    if failure is not None:
        raise failure
    return job


class RecordResult:
    """What :func:`record` did: ``written`` trades of ``symbols`` into ``files``;
    ``summary`` is the line ``hkticks record`` prints at the end."""

    def __init__(self, job: Any) -> None:
        st = job.feed.status()
        self.written: int = job.recorder.written
        self.symbols: int = len(job.recorder.symbols)
        self.books: int = job.recorder.books
        self.duplicates: int = st.duplicates
        self.dropped: int = st.dropped + job.recorder.sink_dropped
        self.reconnects: int = st.reconnects
        self.files: list[str] = [str(getattr(s, "path", "")) for s in job.sinks]
        self.reason: str = job.stop_flag.reason
        self.summary: str = job.summary()

    def __repr__(self) -> str:
        return f"RecordResult({self.summary!r})"
