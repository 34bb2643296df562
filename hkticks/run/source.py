"""Source specs: where trades come from, turned into one running feed.

A :class:`SourceSpec` names the origin (AllTick with a token and a plan,
the embedded simulated market for the run's lifetime, a NATS stream
another hkticks publishes, or recordings replayed as a feed); :func:`open_source` resolves it (settings, the
demo server) into a :class:`Provider` that resolves symbols and builds the
:class:`~hkticks.feed.tickfeed.StartableFeed`. The CLI (``--demo --token
--from ...``) and the Python API (``hkticks.stream``, ``hkticks.record``,
``hkticks.alerts``) build the same spec, and every job sees one
:class:`~hkticks.feed.tickfeed.StartableFeed` whatever the origin.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hkticks import config
from hkticks.alltick import protocol as alltick
from hkticks.analysis.replay import ReplayFeed
from hkticks.errors import HkticksError, UsageError
from hkticks.feed.queue import TickQueue
from hkticks.feed.tickfeed import StartableFeed
from hkticks.symbols.universe import Universe, normalise_all, try_normalise


@dataclass(frozen=True)
class SourceSpec:
    """Where a job's trades come from (settings not given: env, then the config file)."""

    demo: bool = False
    token: str | None = None
    url: str | None = None
    rest_url: str | None = None
    plan: str | None = None
    nats: str | None = None  # ``nats://HOST:4222/PREFIX``: read what a recorder publishes
    consumer: str | None = None  # with nats: a durable consumer
    since_ms: int | None = None  # with nats: replay from then
    shard: str | None = None  # ``I/N``: only that shard of the symbols
    demo_rate: float = 200.0
    demo_seed: int | None = None
    demo_scenario: str | None = "anomalies"
    demo_truth: str | None = None  # the scenario's injected events logged here
    recordings: tuple[str, ...] = ()  # replay these files (any format) instead of a feed
    speed: float | None = None  # with recordings: times faster than recorded (None: at once)

    def check(self) -> None:
        """Contradictions and a bad NATS address, refused before anything starts."""
        if self.recordings and (self.demo or self.nats):
            raise UsageError("recordings replace the feed: give them without demo or NATS")
        if self.nats:
            if self.demo:
                raise UsageError("--from and --demo both name where trades come from: give one")
            from hkticks.feed.natsurl import import_nats, parse_nats_url

            parse_nats_url(self.nats)
            import_nats("--from")
        elif self.consumer or self.since_ms is not None:
            raise UsageError("--consumer and --since apply to --from nats://...")
        if self.shard:
            from hkticks.symbols.shard import parse_shard

            parse_shard(self.shard)

    def shard_filter(self) -> Callable[[str], bool] | None:
        """``shard`` as a test on a code, if given."""
        if not self.shard:
            return None
        from hkticks.symbols.shard import parse_shard

        return parse_shard(self.shard).owns


@dataclass
class Provider:
    """A resolved source: its settings, token, symbols and feeds."""

    spec: SourceSpec
    settings: config.Settings
    _token: str | None = field(default=None, repr=False)
    # every symbol of a NATS stream: the feed follows the subjects first published later too
    _follow_new: bool = field(default=False, repr=False)

    @property
    def simulated(self) -> bool:
        return self.settings.demo

    @property
    def token(self) -> str:
        """The AllTick token, or ``""`` when the trades come from NATS (no token needed)."""
        if self.spec.nats or self.spec.recordings:
            return ""
        if self._token is None:
            self._token = self.settings.require_token()
        return self._token

    def rest_client(self) -> Any:
        """AllTick's REST API for this source (reference data, bars)."""
        from hkticks.alltick.rest_client import RestClient

        return RestClient(
            self.settings.rest_url,
            self.token,
            alltick.PLANS[self.settings.plan],
            token_source=self.settings.token_source,
        )

    def symbols(
        self,
        given: Sequence[str] = (),
        symbols_file: str | None = None,
        *,
        include_suspended: bool = False,
        use_all: bool = False,
        warn: Callable[[str], None] = lambda _line: None,
    ) -> tuple[list[str], Universe | None]:
        """The symbols to subscribe to, and the cached universe (for names) if any.

        Symbols given (arguments and/or file) keep their order and are checked
        before anything connects; none given means every symbol of the NATS
        stream, else the Stock Connect universe (fetched once if it was never
        cached), suspended stocks left out unless ``include_suspended``. A
        shard keeps its part.
        """
        codes, universe = self._all_symbols(
            list(given),
            symbols_file,
            include_suspended=include_suspended,
            use_all=use_all,
            warn=warn,
        )
        if self.spec.shard:
            from hkticks.symbols.shard import parse_shard

            shard = parse_shard(self.spec.shard)
            codes = shard.select(codes)
            if not codes:
                raise UsageError(f"shard {shard} of these symbols is empty: use fewer shards")
        return codes, universe

    def _all_symbols(
        self,
        given: list[str],
        symbols_file: str | None,
        *,
        include_suspended: bool,
        use_all: bool,
        warn: Callable[[str], None],
    ) -> tuple[list[str], Universe | None]:
        from hkticks.symbols import universe as symbol_service

        if symbols_file:
            given += read_symbols_file(symbols_file)
        if given and use_all:
            raise UsageError("give SYMBOLS or --all, not both")
        if given:
            return normalise_all(given), symbol_service.cached_universe(demo=self.settings.demo)
        if self.spec.recordings:  # every symbol the files hold
            from hkticks.storage.readers import Recording

            codes = Recording(list(self.spec.recordings)).symbols()
            if not codes:
                raise UsageError("the recordings hold no trades")
            return codes, None
        if self.spec.nats:  # every symbol the stream has trades of
            from hkticks.alltick.urls import redact
            from hkticks.feed.nats_source import stream_symbols

            codes = stream_symbols(self.spec.nats)
            if not codes:
                raise UsageError(
                    f"{redact(self.spec.nats)}: the stream has no trades yet; give SYMBOLS"
                )
            self._follow_new = True
            return codes, symbol_service.cached_universe(demo=False)
        universe = symbol_service.load_universe(self.settings, refresh_if_missing=True, warn=warn)
        codes = list(universe.codes(include_suspended=include_suspended))
        if not codes:
            raise UsageError("the Stock Connect list is empty: run `hkticks symbols --refresh`")
        return codes, universe

    def feed(
        self,
        codes: Sequence[str],
        queue: TickQueue,
        *,
        book_depth: int | None = None,
        **options: Any,
    ) -> StartableFeed:
        """The feed of ``codes`` into ``queue`` (not started).

        AllTick's :class:`~hkticks.feed.shards.Feed` takes ``options``
        (``max_connections``, ``config``, ``check_server``...); a NATS feed reads
        books when ``book_depth`` is given.
        """
        if self.spec.recordings:
            return RecordingFeed(self.spec.recordings, codes, queue, self.spec.speed)
        if self.spec.nats:
            from hkticks.feed.nats_source import NatsFeed

            return NatsFeed(
                self.spec.nats,
                queue,
                list(codes),
                consumer=self.spec.consumer,
                since_ms=self.spec.since_ms,
                books=bool(book_depth),
                follow_new=self._follow_new,
            )
        from hkticks.feed.shards import Feed

        options.setdefault("token_source", self.settings.token_source)
        options.setdefault("simulated", self.settings.demo)
        return Feed(
            list(codes),
            url=self.settings.url,
            plan=alltick.PLANS[self.settings.plan],
            queue=queue,
            token=self.token,
            book_depth=book_depth,
            **options,
        )


class RecordingFeed(ReplayFeed):
    """Recordings replayed as a feed (at ``speed``, or as fast as they read), ending with them."""

    def __init__(
        self, paths: Sequence[str], codes: Sequence[str], queue: TickQueue, speed: float | None
    ) -> None:
        from hkticks.analysis.replay import ReplayClock
        from hkticks.feed.dedup import Dedup
        from hkticks.storage.readers import Recording, Selection

        recording = Recording(list(paths), Selection(frozenset(codes)) if codes else None)
        super().__init__(
            recording.keyed(), queue, ReplayClock(speed), symbols=len(codes), finish_done=True
        )
        self.recording = recording
        self.shown_url = (
            f"{len(recording.files)} recording{'s' if len(recording.files) != 1 else ''}"
        )
        self.shards = [list(codes)]
        self.dedup = Dedup()


@contextlib.contextmanager
def open_source(spec: SourceSpec) -> Iterator[Provider]:
    """The resolved source; a demo market runs for the block's lifetime.

    The config file is read and validated in every case: a broken one is
    reported under ``demo`` too, not only on the first real run. The demo
    market runs ``spec.demo_scenario`` (default ``anomalies``: volume bursts,
    block trades and sharp moves from its third minute on).
    """
    spec.check()
    resolved = config.resolve(
        token=spec.token, url=spec.url, rest_url=spec.rest_url, plan=spec.plan
    )
    if not spec.demo:
        yield Provider(spec, resolved)
        return
    from hkticks.server.demo import start_demo

    demo_plan = spec.plan or "all-hk"
    with start_demo(
        rate=spec.demo_rate,
        seed=spec.demo_seed,
        plan=demo_plan,
        scenario=None if spec.demo_scenario in (None, "none") else spec.demo_scenario,
        scenario_truth=spec.demo_truth,
    ) as server:
        yield Provider(
            spec,
            config.Settings(
                token=server.token,
                token_source="demo",
                url=server.ws_url,
                rest_url=server.rest_url,
                plan=demo_plan,
                sse_url=server.sse_url,
                szse_url=server.szse_url,
                demo=True,
            ),
        )


def read_symbols_file(path: str) -> list[str]:
    """Symbols from a file (``-`` = stdin), one per line, ``#`` comments and blank lines ignored."""
    cap = 4 << 20  # every HK code fits in a few KiB: more is not a symbols file
    try:
        if path == "-":
            text = sys.stdin.read(cap + 1)
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read(cap + 1)
        if len(text) > cap:
            raise UsageError(
                f"symbols file {'stdin' if path == '-' else path} is larger than 4 MiB: "
                "give one HK code per line, e.g. 00700"
            )
    except OSError as exc:
        raise UsageError(f"cannot read symbols file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"symbols file {'stdin' if path == '-' else path} is not UTF-8 text (byte "
            f"{exc.start}): give one HK code per line, e.g. 00700"
        ) from None
    out: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        for word in line.replace(",", " ").split():
            if try_normalise(word) is None:
                where = "stdin" if path == "-" else path
                raise UsageError(
                    f"{where}:{lineno}: invalid symbol {word!r}: use HK stock codes such as "
                    "00700, 700 or 0700.HK"
                )
            out.append(word)
    return out


# -- the Python API's sources ---------------------------------------------------------


class Source(Protocol):
    """Where a stream's trades come from: it fills ``queue`` between start and stop.

    ``hkticks.stream(source=...)`` takes any object of this shape; the
    built-in one is :class:`SpecSource` (a :class:`SourceSpec` and symbols).
    """

    def start(self, queue: TickQueue) -> None: ...

    def stop(self) -> None: ...

    def failure(self) -> HkticksError | None:
        """The error that ended the source for good (token rejected...), else ``None``."""
        ...

    def finished(self) -> bool:
        """Whether the source stopped on its own (nothing more will come)."""
        ...


class SpecSource:
    """A :class:`SourceSpec` as a :class:`Source`: opened on start, closed on stop."""

    def __init__(self, spec: SourceSpec, symbols: Sequence[str] | str = ()) -> None:
        spec.check()  # a bad address is refused now, not in the reading thread
        if isinstance(symbols, str):
            symbols = [symbols]
        self.spec = spec
        self.codes = normalise_all(symbols) if symbols else []
        if not self.codes and not spec.nats:
            raise UsageError("stream() needs at least one symbol, e.g. ['00700']")
        self.feed: StartableFeed | None = None
        self._opened: contextlib.ExitStack | None = None

    def start(self, queue: TickQueue) -> None:
        stack = contextlib.ExitStack()
        self._opened = stack
        try:
            provider = stack.enter_context(open_source(self.spec))
            self.feed = provider.feed(self.codes, queue)
            self.feed.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        feed, self.feed = self.feed, None
        try:
            if feed is not None:
                feed.stop()
        finally:
            stack, self._opened = self._opened, None
            if stack is not None:
                stack.close()

    def failure(self) -> HkticksError | None:
        return None if self.feed is None else self.feed.fatal

    def finished(self) -> bool:
        return self.feed is not None and self.feed.done.is_set()


def api_spec(
    *,
    demo: bool,
    token: str | None,
    plan: str | None,
    url: str | None,
    from_: str | None,
    consumer: str | None = None,
    since: Any = None,
    demo_scenario: str | None = "anomalies",
    demo_rate: float = 200.0,
    demo_seed: int | None = None,
    recordings: Sequence[str] | str = (),
    speed: float | None = None,
) -> SourceSpec:
    """The :class:`SourceSpec` of the Python API's keyword arguments (``from_=`` is
    ``--from``), with the contradictions the API refuses."""
    if from_ is not None:
        if demo or url is not None or token is not None:
            raise UsageError("from_= replaces the feed: give it without demo=, url= or token=")
        if not from_.startswith("nats://"):
            raise UsageError(
                f"from_={from_!r}: give a NATS address, e.g. 'nats://127.0.0.1:4222/hk'"
            )
    elif consumer is not None or since is not None:
        raise UsageError("consumer= and since= apply to from_='nats://...'")
    return SourceSpec(
        demo=demo,
        token=token,
        plan=plan,
        url=url,
        nats=from_,
        consumer=consumer,
        since_ms=since_ms(since),
        demo_scenario=demo_scenario,
        demo_rate=demo_rate,
        demo_seed=demo_seed,
        recordings=(recordings,) if isinstance(recordings, str) else tuple(recordings),
        speed=speed,
    )


def since_ms(since: Any) -> int | None:
    """``since=``: ``"09:30"``/``"2026-12-01 09:30"`` (Hong Kong time, as ``--since``),
    a ``datetime`` (naive: Hong Kong time) or epoch ms."""
    if since is None:
        return None
    if isinstance(since, bool):
        raise UsageError(f"since: not a time: {since!r}")
    if isinstance(since, int):
        return since
    if isinstance(since, dt.datetime) or hasattr(since, "to_pydatetime"):
        from hkticks.storage.selection import bound_of

        return bound_of(since, end=False, option="since")[0]
    if isinstance(since, str):
        from hkticks.feed.nats_source import parse_since

        return parse_since(since)
    raise UsageError(f"since: not a time: {since!r} (use 'HH:MM', a datetime or epoch ms)")
