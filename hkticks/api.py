"""The Python API: live trades, recordings and the archive, for research code.

::

    import hkticks

    with hkticks.stream(["00700", "09988"], demo=True) as ticks:
        for tick in ticks:              # hkticks.Tick, as they arrive
            print(tick.symbol, tick.price)

    for tick in hkticks.read(["day.jsonl.gz"], symbols=["700"], start="10:00", end="11:00"):
        ...

    df = hkticks.read_frame("archive/", symbols=["00700"], backend="polars")

Everything here is built on the parts the commands use (``feed.Feed`` and
its bounded queue, ``storage.readers``, ``storage.parquet``): the CLI and
the API share one implementation.

A stream closes cleanly however it ends: leaving a ``with`` block, calling
:meth:`TickStream.close`, ``break`` out of a ``for`` loop over it (the
iterator is dropped and closes itself), or the garbage collector. Closing
stops every connection, joins their threads, and (``demo=True``) stops the
embedded simulated market.

Where the trades come from is a :class:`Source`: something that starts
filling a :class:`~hkticks.feed.queue.TickQueue` and can be stopped.
:func:`feed_source` builds the AllTick one; ``stream(source=...)`` takes any
other (a NATS subject, a replay), so new origins plug in without a second
iterator.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hkticks.errors import UsageError
from hkticks.run.record_job import RecordResult as RecordResult
from hkticks.run.source import Source, SourceSpec, SpecSource, api_spec, since_ms
from hkticks.storage.query import to_frame as to_frame
from hkticks.tick import Tick

if TYPE_CHECKING:
    from hkticks.analysis.anomaly import Alert
    from hkticks.storage.selection import Selection


__all__ = [
    "Source",
    "TickStream",
    "AsyncTickStream",
    "feed_source",
    "nats_source",
    "stream",
    "astream",
    "read",
    "read_frame",
    "record",
    "RecordResult",
    "alerts",
]


# -- live ---------------------------------------------------------------------------


def feed_source(
    symbols: Sequence[str],
    *,
    demo: bool = False,
    token: str | None = None,
    plan: str | None = None,
    url: str | None = None,
    demo_rate: float = 200.0,
    demo_seed: int | None = None,
) -> Source:
    """The AllTick feed as a :class:`Source` (settings: arguments > env > config file)."""
    spec = api_spec(
        demo=demo,
        token=token,
        plan=plan,
        url=url,
        from_=None,
        demo_rate=demo_rate,
        demo_seed=demo_seed,
    )
    return SpecSource(spec, symbols)


def nats_source(
    url: str,
    symbols: Sequence[str] = (),
    *,
    consumer: str | None = None,
    since: Any = None,
) -> Source:
    """The trades a recorder publishes to NATS (``record --out nats://HOST:4222/hk``)
    as a :class:`Source`. ``symbols`` empty: every symbol of the stream.

    Without ``consumer`` and ``since`` it starts from the last trade of each
    symbol; ``since`` (``"09:30"``, a ``datetime``, epoch ms) replays from
    then; ``consumer`` names a durable consumer that resumes where it stopped.
    Needs ``pip install 'hkticks[nats]'``.
    """
    from hkticks.feed.natsurl import import_nats

    import_nats("from_=")
    spec = SourceSpec(nats=url, consumer=consumer, since_ms=since_ms(since))
    return SpecSource(spec, symbols)


class TickStream:
    """An iterator of live :class:`~hkticks.Tick`; a context manager; closes itself.

    ``events=True`` also yields the session events (:class:`~hkticks.tick.Event`:
    connected, disconnected, ...) between the trades.
    """

    def __init__(self, source: Source, *, events: bool = False, queue_size: int = 500_000) -> None:
        from hkticks.feed.queue import TickQueue

        self._source = source
        self._events = events
        self.queue = TickQueue(queue_size)
        self._buffer: list[Any] = []
        self._pos = 0
        self._closed = False
        self._lock = threading.Lock()
        source.start(self.queue)

    @property
    def dropped(self) -> int:
        """Trades lost because this iterator was not read fast enough (queue full)."""
        return self.queue.dropped

    def __iter__(self) -> TickStream:
        return self

    def __next__(self) -> Any:
        while True:
            item = self._take(0.1)
            if item is not None:
                return item

    def _take(self, timeout: float) -> Any:
        """The next item, or ``None`` after ``timeout`` s without one; raises at the end."""
        from hkticks.tick import Event

        while self._pos < len(self._buffer):
            item = self._buffer[self._pos]
            self._pos += 1
            kind = type(item)
            if kind is Tick or (self._events and kind is Event):
                return item
        if self._closed:
            raise StopIteration
        self._buffer = self.queue.get_batch(4096, timeout)
        self._pos = 0
        if not self._buffer:
            fatal = self._source.failure()
            if fatal is not None:
                self.close()
                raise fatal
            if self._source.finished():
                self.close()
                raise StopIteration
        return None

    def close(self) -> None:
        """Stop every connection and join its threads (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._buffer, self._pos = [], 0
        try:
            self._source.stop()
        finally:
            self.queue.close()

    def __enter__(self) -> TickStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def stream(
    symbols: Sequence[str] = (),
    *,
    demo: bool = False,
    token: str | None = None,
    plan: str | None = None,
    url: str | None = None,
    events: bool = False,
    source: Source | None = None,
    queue_size: int = 500_000,
    from_: str | None = None,
    consumer: str | None = None,
    since: Any = None,
) -> TickStream:
    """Live trades of ``symbols`` (``"00700"``, ``"700"``, ``"0700.HK"``) as an iterator.

    ``demo=True`` runs the embedded simulated market (no token, no network;
    simulated prices). Otherwise the token is
    ``token``, else ``$HKTICKS_TOKEN``/``$ALLTICK_TOKEN``, else the config
    file; ``plan`` sets the connection limits. ``source`` replaces the feed
    altogether (see :class:`Source`). ``from_="nats://HOST:4222/hk"`` reads
    what a recorder publishes there instead, as ``--from`` does (``symbols``
    empty: all of them; ``consumer``/``since`` as ``--consumer``/``--since``,
    see :func:`nats_source`). Errors the user can act on (token
    rejected, plan too small) are raised as :class:`hkticks.errors.HkticksError`.
    """
    if source is not None:
        if from_ is not None:
            raise UsageError("from_= replaces the feed: give it without source=")
    else:
        spec = api_spec(
            demo=demo, token=token, plan=plan, url=url, from_=from_, consumer=consumer, since=since
        )
        if from_ is not None:
            from hkticks.feed.natsurl import import_nats

            import_nats("from_=")
        source = SpecSource(spec, symbols)
    return TickStream(source, events=events, queue_size=queue_size)


class AsyncTickStream:
    """``async for tick in hkticks.astream(...)``; ``async with`` closes it.

    The socket threads are the same as :class:`TickStream`'s; waiting for
    the next batch happens in a worker thread, so the event loop never blocks.
    """

    def __init__(self, sync: TickStream) -> None:
        self._sync = sync

    def __aiter__(self) -> AsyncTickStream:
        return self

    async def __anext__(self) -> Any:
        while True:
            try:
                item = self._sync._take(0.0)
                if item is None:
                    item = await asyncio.to_thread(self._sync._take, 0.2)
            except StopIteration:
                raise StopAsyncIteration from None
            if item is not None:
                return item

    async def aclose(self) -> None:
        await asyncio.to_thread(self._sync.close)

    def close(self) -> None:
        self._sync.close()

    async def __aenter__(self) -> AsyncTickStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def astream(
    symbols: Sequence[str] = (),
    *,
    demo: bool = False,
    token: str | None = None,
    plan: str | None = None,
    url: str | None = None,
    events: bool = False,
    source: Source | None = None,
    queue_size: int = 500_000,
    from_: str | None = None,
    consumer: str | None = None,
    since: Any = None,
) -> AsyncTickStream:
    """The ``async`` form of :func:`stream` (same arguments)."""
    return AsyncTickStream(
        stream(
            symbols,
            demo=demo,
            token=token,
            plan=plan,
            url=url,
            events=events,
            source=source,
            queue_size=queue_size,
            from_=from_,
            consumer=consumer,
            since=since,
        )
    )


# -- jobs ---------------------------------------------------------------------------


def _symbols(symbols: Sequence[str] | str) -> list[str]:
    return [symbols] if isinstance(symbols, str) else list(symbols)


def record(
    symbols: Sequence[str] | str,
    outputs: Sequence[str] | str,
    *,
    duration: float | None = None,
    demo: bool = False,
    token: str | None = None,
    plan: str | None = None,
    url: str | None = None,
    from_: str | None = None,
    book_out: str | None = None,
    events: str | None = None,
    rotate: str | None = None,
    **options: Any,
) -> RecordResult:
    """Record live trades of ``symbols`` into ``outputs`` (what ``hkticks record`` does).

    ``outputs`` are what ``--out`` takes (``.jsonl``, ``.csv``, ``.db``, ``.gz``/``.zst``,
    ``{date}`` templates, ``nats://``, ``postgresql://``); ``book_out``, ``events`` and
    ``rotate`` are ``--book-out``, ``--events`` and ``--rotate``; other ``options`` are
    :class:`hkticks.run.record_job.RecordOptions` (``flush_interval``, ``queue_size``,
    ``allow_mixed``, ``compact_to``...). Runs until ``duration`` seconds have passed,
    the feed ends, or Ctrl-C; every trade received is written before it returns.
    Raises :class:`hkticks.errors.HkticksError` (token rejected, an output that cannot
    be written, trades lost).
    """
    from hkticks.run.outputs import RecordOutputs
    from hkticks.run.record_job import RecordOptions, provenance_guard, record_to_end

    if duration is not None and duration <= 0:
        raise UsageError("duration must be positive")
    try:
        opts = RecordOptions(duration=duration, **options)
    except TypeError as exc:
        raise UsageError(f"record(): {exc}") from None
    outs = [outputs] if isinstance(outputs, str) else list(outputs)
    plan_out = RecordOutputs.parse(outs, book_out=book_out, events=events, rotate=rotate)
    guard = provenance_guard(plan_out, demo=demo, allow_mixed=opts.allow_mixed)
    spec = api_spec(demo=demo, token=token, plan=plan, url=url, from_=from_)
    opts.check(plan_out, spec)
    plan_out.check()
    return RecordResult(record_to_end(spec, _symbols(symbols), plan_out, opts, guard))


def alerts(
    symbols: Sequence[str] | str = (),
    *,
    duration: float | None = None,
    demo: bool = False,
    token: str | None = None,
    plan: str | None = None,
    url: str | None = None,
    from_: str | None = None,
    scenario: str | None = "anomalies",
    demo_rate: float = 200.0,
    demo_seed: int | None = None,
    history: str | None = None,
    history_days: int = 20,
    out: str | None = None,
    recordings: Sequence[str] | str = (),
    speed: float | None = None,
    **thresholds: Any,
) -> Iterator[Alert]:
    """The anomaly engine's alerts on live trades, as they come (what ``hkticks alerts`` prints).

    An iterator of :class:`hkticks.analysis.anomaly.Alert` (``ts``, ``symbol``, ``kind``,
    ``value``, ``threshold``, ``message``; ``.record()`` is the ``--json`` object). It
    ends after ``duration`` seconds or when the feed ends; closing it (``break``, ``with
    contextlib.closing(...)``) stops the feed. ``thresholds`` are ``alerts``' flags
    (``kinds="volume_spike,block_trade"``, ``hours``, ``cooldown``, ``spike_ratio``,
    ``block_floor``, ``move_pct``, ``move_window``, ``rvol_threshold``; ``warmup`` and the
    durations in seconds) over ``[alerts]``
    of the config file; ``history`` a pattern of earlier recordings for baselines; ``out``
    also records the trades the engine saw. ``demo=True`` runs the simulated market with
    ``scenario`` (``"anomalies"``: bursts, block trades and moves from its third minute).
    ``recordings`` (files, folders, patterns, the archive) replace the feed: replayed at
    ``speed`` (``None``: as fast as they read), the same engine gives the same alerts.
    """
    from hkticks.run.alerts_job import alerts_of, build_config, history_baselines
    from hkticks.run.outputs import parse_output

    if duration is not None and duration <= 0:
        raise UsageError("duration must be positive")
    cfg = build_config(demo=demo, **thresholds)
    bases = history_baselines(history, cfg, history_days) if history else {}
    spec = api_spec(
        demo=demo,
        token=token,
        plan=plan,
        url=url,
        from_=from_,
        demo_scenario=scenario,
        demo_rate=demo_rate,
        demo_seed=demo_seed,
        recordings=recordings,
        speed=speed,
    )
    target = parse_output(out) if out else None
    if target is not None:
        target.check()

    return alerts_of(spec, _symbols(symbols), cfg, bases, target, duration, not history)


# -- recordings ---------------------------------------------------------------------


def _paths(paths: str | Iterable[str]) -> list[str]:
    import os

    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    out = [os.fspath(p) for p in paths]
    if not out:
        raise UsageError("read() needs at least one file, folder or archive")
    return out


def selection_of(symbols: Iterable[str] | str | None, start: Any, end: Any) -> Selection:
    """A reading :class:`~hkticks.storage.selection.Selection` from API arguments.

    ``start``/``end`` take what ``--from``/``--to`` take (``"10:00"`` every
    day, ``"2026-12-01"``, ``"2026-12-01 10:30"``, Hong Kong time), a
    ``datetime`` (naive ones are Hong Kong time), a ``date``, or epoch ms.
    ``end`` is exclusive.
    """
    from hkticks.storage.selection import selection_from
    from hkticks.symbols.universe import normalise_all

    if isinstance(symbols, str):
        symbols = [symbols]
    syms = normalise_all(symbols) if symbols else None
    return selection_from(syms, start, end, options=("start", "end"))


class Reader:
    """An iterator of :class:`Tick` over recordings; :attr:`problems` says what was skipped."""

    def __init__(self, paths: str | Iterable[str], selection: Selection) -> None:
        from hkticks.storage.readers import Recording

        self.recording = Recording(_paths(paths), selection)

    def __iter__(self) -> Iterator[Tick]:
        return iter(self.recording)

    @property
    def problems(self) -> list[str]:
        """One line per file with skipped lines (invalid, torn) or that could not be read."""
        return self.recording.problems()

    @property
    def data(self) -> str | None:
        """What the trades are: ``"simulated"``, ``"real"``, ``"mixed"`` or ``None`` (none)."""
        from hkticks.storage import provenance

        return provenance.kind_of(f.path for f in self.recording.files)


def read(
    paths: str | Iterable[str],
    symbols: Iterable[str] | str | None = None,
    start: Any = None,
    end: Any = None,
) -> Reader:
    """Trades of recordings in any format (JSONL, CSV, SQLite, compressed, the Parquet
    archive, folders, ``'ticks-*.jsonl.gz'`` patterns), in the recording's time order.

    The same reader as ``hkticks replay`` and ``hkticks stats``: streaming,
    tolerant (bad lines skipped and counted in ``.problems``).
    """
    return Reader(paths, selection_of(symbols, start, end))


# -- DataFrames -----------------------------------------------------------------------


def read_frame(
    paths: str | Iterable[str],
    symbols: Iterable[str] | str | None = None,
    start: Any = None,
    end: Any = None,
    *,
    backend: str = "pandas",
) -> Any:
    """The trades :func:`read` gives, as a pandas (default) or polars DataFrame.

    See :func:`to_frame` for the columns and dtypes; a pandas frame's
    ``attrs["data"]`` says what its rows are (``"simulated"``, ``"real"``,
    ``"mixed"``, ``"none"``), from their ``src``. Needs pyarrow
    (``pip install 'hkticks[parquet]'``) and the backend's package.
    """
    from hkticks.storage.query import frame_of

    if backend not in ("pandas", "polars"):
        raise UsageError(f"backend={backend!r}: use 'pandas' or 'polars'")
    return frame_of(_paths(paths), selection_of(symbols, start, end), backend)
