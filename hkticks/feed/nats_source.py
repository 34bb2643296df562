"""A feed that reads a NATS JetStream stream another hkticks publishes (``--from nats://...``).

One recorder holds the AllTick token and publishes (``record --out
nats://HOST:4222/hk``); any number of boards and recorders elsewhere read
the stream through :class:`NatsFeed`, which puts the same :class:`Tick` /
:class:`Book` values into the same :class:`TickQueue` as the AllTick
:class:`~hkticks.feed.shards.Feed`, so ``watch``, ``record`` and ``alerts``
work unchanged.

Where a reader starts:

* ``consumer=NAME``: a durable JetStream consumer of that name. It resumes
  where it stopped (JetStream remembers what was acknowledged); created the
  first time with the start below.
* otherwise an ephemeral consumer, removed by the server when the reader
  goes away.
* a new consumer starts from the last trade of each symbol
  (``DeliverPolicy.LAST_PER_SUBJECT``), or from ``since_ms`` (``--since
  09:30``: every trade since then, Hong Kong time).

Every message is validated like an AllTick frame (:meth:`Tick.from_record`,
:meth:`Book.from_record`: one rule for shapes, types and ranges): one that
is not a trade or a book (``[1,2,3]``, ``ts`` 1e20, a NaN price) is skipped,
counted in ``decode_errors`` and reported (a log line and a
``bad_message`` event, for the first few), never fatal; a durable consumer
terminates it (``term``) so it is not delivered again at every restart.

A durable consumer's messages are acknowledged (``AckPolicy.ALL``) once the
queue has been emptied past them, so what a killed reader had not taken comes
again; trades re-delivered are dropped by (symbol, seq) like the provider's
re-sends (``record`` seeds that from the file it appends to).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson

from hkticks.errors import HkticksError, SourceError, UsageError
from hkticks.feed.dedup import Dedup
from hkticks.feed.natsurl import NatsUrl, connect_reason, import_nats, parse_nats_url, probe
from hkticks.feed.queue import TickQueue
from hkticks.feed.session import ConnStatus, now_ms
from hkticks.feed.shards import FeedStatus
from hkticks.market_hours import hk_clock
from hkticks.tick import Book, Event, Tick

log = logging.getLogger("hkticks.feed.nats_source")

FETCH_BATCH = 2048
FETCH_TIMEOUT_S = 0.5
ACK_DELAY_S = 0.5  # what was taken off the queue this long ago has been written
# above this many symbols the consumer takes <prefix>.trades.* and filters here
MAX_FILTER_SUBJECTS = 64
REPORTED_BAD = 10  # bad messages each reported with an event; then every 1000th
_CONSUMER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SINCE = re.compile(r"^(?:(\d{4}-\d{2}-\d{2})[T ])?(\d{1,2}):(\d{2})$")


def parse_since(text: str, now: float | None = None) -> int:
    """``"09:30"`` (today, Hong Kong time; yesterday if that is still ahead) or
    ``"2026-12-01 09:30"`` -> epoch milliseconds."""
    m = _SINCE.match(text.strip())
    if not m:
        raise UsageError(
            f"invalid --since {text!r}: use HH:MM (Hong Kong time) or YYYY-MM-DD HH:MM"
        )
    hour, minute = int(m.group(2)), int(m.group(3))
    if hour > 23 or minute > 59:
        raise UsageError(f"invalid --since {text!r}: not a time of day")
    if m.group(1):
        try:
            day = dt.date.fromisoformat(m.group(1))
        except ValueError:
            raise UsageError(f"invalid --since {text!r}: not a date") from None
        hk = dt.timezone(dt.timedelta(hours=8))
        start = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=hk)
        return int(start.timestamp() * 1000)
    t = time.time() if now is None else now
    _day, _wd, sec = hk_clock(t)
    start_s = t - sec + hour * 3600 + minute * 60
    if start_s > t:
        start_s -= 86_400
    return int(start_s * 1000)


def check_consumer_name(name: str) -> str:
    if not _CONSUMER.match(name):
        raise UsageError(
            f"invalid --consumer {name!r}: use letters, digits, - and _ (at most 64), e.g. desk-board-1"
        )
    return name


class NatsFeed:
    """Reads ``<prefix>.trades.*`` (and books) from JetStream into ``queue``.

    Shaped like :class:`~hkticks.feed.shards.Feed` for the commands: ``start``,
    ``stop``, ``status``, ``done``, ``fatal``, ``dedup``, ``shards``,
    ``shown_url``. ``symbols`` ``None`` (or empty) means every symbol in the stream.
    """

    def __init__(
        self,
        url: str,
        queue: TickQueue,
        symbols: Sequence[str] | None = None,
        *,
        consumer: str | None = None,
        since_ms: int | None = None,
        books: bool = False,
        dedup: Dedup | None = None,
        connect_timeout: float = 5.0,
        follow_new: bool = False,
    ) -> None:
        self._nats = import_nats("--from")
        self.target: NatsUrl = parse_nats_url(url)
        self.queue = queue
        self.symbols = list(symbols or [])
        self.consumer = check_consumer_name(consumer) if consumer else None
        self.since_ms = since_ms
        self.books_wanted = books
        self.dedup = dedup or Dedup()
        self.shown_url = self.target.shown
        self.shards = [self.symbols]
        self.fatal: HkticksError | None = None
        self.done = threading.Event()
        self.ticks = 0
        self.books = 0
        self.decode_errors = 0
        self.reconnects = 0
        self.state = "connecting"
        self.last_msg_mono: float | None = None
        # follow_new: the symbols are what the stream had at the start; take every
        # subject, also those first published later
        self.follow_new = follow_new
        self._wanted = set() if follow_new else set(self.symbols)
        self._unacked: Any = None  # the last message delivered, not yet seen taken
        self._taken: list[tuple[float, Any]] = []  # (when seen taken, message), oldest first
        self._connect_timeout = connect_timeout
        self._stop = threading.Event()
        self._started = False
        self._loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self._thread_main, name="hkticks-nats-in", daemon=True
        )

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        if self._started:
            raise RuntimeError("feed already started")
        self._started = True
        self.queue.put_event(
            Event(
                now_ms(),
                "feed_start",
                None,
                {
                    "url": self.shown_url,
                    "source": "nats",
                    "consumer": self.consumer,
                    "symbols": len(self.symbols) or None,
                },
            )
        )
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if (
            self._started
            and self.thread.is_alive()
            and self.thread is not threading.current_thread()
        ):
            self.thread.join(timeout)
        self.state = "stopped"
        self.done.set()

    def status(self) -> FeedStatus:
        age = None if self.last_msg_mono is None else time.monotonic() - self.last_msg_mono
        conn = ConnStatus(0, self.state, self.reconnects, len(self.symbols), age)
        return FeedStatus(
            connections=[conn],
            ticks=self.ticks,
            books=self.books,
            duplicates=self.dedup.duplicates,
            decode_errors=self.decode_errors,
            dropped=self.queue.dropped,
            queue_depth=len(self.queue),
            reconnects=self.reconnects,
        )

    # ------------------------------------------------------------------ thread

    def _thread_main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except HkticksError as exc:
            self._fail(exc)
        except Exception as exc:  # noqa: BLE001 - one line for the user, details in the log
            log.debug("nats source failed", exc_info=True)
            self._fail(
                SourceError(
                    f"cannot read {self.shown_url}: {connect_reason(exc)}; "
                    "check the address, or that a recorder publishes there (--out nats://...)"
                )
            )
        finally:
            self.state = "stopped"
            self._loop.close()
            self.done.set()

    def _fail(self, exc: HkticksError) -> None:
        if self.fatal is None:
            self.fatal = exc
            self.queue.put_event(Event(now_ms(), "fatal", None, {"reason": str(exc)}))

    def _filters(self) -> list[str]:
        t = self.target
        if self.symbols and not self.follow_new and len(self.symbols) <= MAX_FILTER_SUBJECTS:
            out = [t.trades(s) for s in self.symbols]
            if self.books_wanted:
                out += [t.books(s) for s in self.symbols]
            return out
        out = [f"{t.prefix}.trades.*"]
        if self.books_wanted:
            out.append(f"{t.prefix}.books.*")
        return out

    def _config(self) -> Any:
        api = self._nats.js.api
        filters = self._filters()
        kw: dict[str, Any] = {}
        if len(filters) == 1:
            kw["filter_subject"] = filters[0]
        else:
            kw["filter_subjects"] = filters
        if self.since_ms is not None:
            kw["deliver_policy"] = api.DeliverPolicy.BY_START_TIME
            kw["opt_start_time"] = dt.datetime.fromtimestamp(self.since_ms / 1000, dt.timezone.utc)
        else:
            kw["deliver_policy"] = api.DeliverPolicy.LAST_PER_SUBJECT
        if self.consumer:
            kw["durable_name"] = self.consumer
            kw["ack_policy"] = api.AckPolicy.ALL
            kw["ack_wait"] = 30.0
            kw["max_ack_pending"] = 200_000
        else:
            kw["ack_policy"] = api.AckPolicy.NONE
            kw["inactive_threshold"] = 60.0
        return api.ConsumerConfig(**kw)

    async def _main(self) -> None:
        nats = self._nats

        async def disconnected() -> None:
            self.state = "backoff"
            self.queue.put_event(
                Event(now_ms(), "disconnected", 0, {"reason": "NATS connection lost"})
            )

        async def reconnected() -> None:
            self.reconnects += 1
            self.state = "up"
            self.queue.put_event(Event(now_ms(), "connected", 0, {"url": self.shown_url}))

        async def error(exc: Exception) -> None:
            log.debug("nats: %r", exc)

        await probe(self.target, self._connect_timeout)
        nc = await nats.connect(
            servers=[self.target.server],
            name="hkticks-reader",
            connect_timeout=self._connect_timeout,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
        )
        try:
            js = nc.jetstream()
            try:
                await js.stream_info(self.target.stream)
            except nats.js.errors.NotFoundError:
                raise SourceError(
                    f"{self.shown_url}: no stream {self.target.stream} there yet; start the "
                    f"recorder that publishes it (record ... --out {self.shown_url})"
                ) from None
            sub = await self._subscribe(js)
            self.state = "up"
            self.queue.put_event(
                Event(now_ms(), "connected", 0, {"url": self.shown_url, "consumer": self.consumer})
            )
            await self._read(sub)
        finally:
            try:
                await asyncio.wait_for(nc.close(), 5.0)
            except Exception:  # noqa: BLE001 - closing
                pass

    async def _subscribe(self, js: Any) -> Any:
        errors = self._nats.js.errors
        stream = self.target.stream
        if self.consumer:
            try:
                info = await js.consumer_info(stream, self.consumer)
            except errors.NotFoundError:
                await js.add_consumer(stream, config=self._config())
            else:
                await self._rewind(js, info)
            return await js.pull_subscribe_bind(durable=self.consumer, stream=stream)
        config = self._config()
        info = await js.add_consumer(stream, config=config)
        return await js.pull_subscribe_bind(stream=stream, name=info.name)

    async def _rewind(self, js: Any, info: Any) -> None:
        """Resume a durable consumer right after what was acknowledged.

        JetStream would send what a killed reader had been given but not
        acknowledged only after the ack wait, behind newer trades, which the
        per-symbol seq check would then drop: so the consumer is made again,
        starting at its ack floor (same name, same filter).
        """
        api = self._nats.js.api
        delivered = info.delivered.stream_seq if info.delivered else 0
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        if delivered <= floor and not info.num_ack_pending:
            return
        config = info.config
        if floor > 0:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = floor + 1
            config.opt_start_time = None
        await js.delete_consumer(self.target.stream, self.consumer)
        await js.add_consumer(self.target.stream, config=config)
        log.info("consumer %s: resuming after stream seq %d", self.consumer, floor)

    async def _read(self, sub: Any) -> None:
        errors = self._nats.errors
        prefix_trades = f"{self.target.prefix}.trades."
        prefix_books = f"{self.target.prefix}.books."
        while not self._stop.is_set():
            try:
                msgs = await sub.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_S)
            except (asyncio.TimeoutError, errors.TimeoutError):
                await self._ack_taken()
                continue
            except (errors.ConnectionClosedError, errors.ConnectionReconnectingError):
                await asyncio.sleep(0.1)
                continue
            except Exception as exc:  # noqa: BLE001 - a reconnect in progress; try again
                if self._stop.is_set():
                    break
                log.debug("fetch failed: %r", exc)
                await asyncio.sleep(0.1)
                continue
            if not msgs:
                continue
            self.last_msg_mono = time.monotonic()
            await self._ack_taken()  # the previous batches, if the consumer took them
            bad = self._deliver(msgs, prefix_trades, prefix_books)
            if bad and self.consumer:
                await self._terminate(bad)
            if self.consumer:
                self._unacked = msgs[-1]
        await self._ack_taken(stopping=True)

    async def _ack_taken(self, stopping: bool = False) -> None:
        """Acknowledge (``AckPolicy.ALL``: up to one message) what the consumer has
        taken off the queue at least ``ACK_DELAY_S`` ago.

        The queue found empty means the recorder (or board) has taken everything
        delivered before; the delay gives its writer time to write what it took.
        What a reader killed or stopped had not taken stays unacknowledged and
        comes again next time; ``record`` drops it against the file it appends to
        (the seq of each symbol's last trade there), so the copy has every trade once.
        """
        now = time.monotonic()
        if self._unacked is not None and not len(self.queue):
            self._taken.append((now, self._unacked))  # everything up to it was taken
            self._unacked = None
        msg = None
        while self._taken and (stopping or now - self._taken[0][0] >= ACK_DELAY_S):
            msg = self._taken.pop(0)[1]
        if msg is None:
            return
        try:
            await msg.ack()
        except Exception as exc:  # noqa: BLE001 - re-delivered later, dropped by seq
            log.debug("ack failed: %r", exc)

    async def _terminate(self, bad: list[Any]) -> None:
        """``term`` what cannot be parsed: a durable consumer is not given it again."""
        for msg in bad:
            try:
                await msg.term()
            except Exception as exc:  # noqa: BLE001 - acknowledged with the next ones anyway
                log.debug("term failed: %r", exc)

    def _deliver(self, msgs: list[Any], prefix_trades: str, prefix_books: str) -> list[Any]:
        """Put the trades and books of ``msgs`` on the queue; return the bad messages."""
        queue = self.queue
        dedup = self.dedup
        wanted = self._wanted
        bad: list[Any] = []
        for msg in msgs:
            subject = msg.subject
            try:
                if subject.startswith(prefix_trades):
                    tick = Tick.from_record(orjson.loads(msg.data))
                    if wanted and tick.symbol not in wanted:
                        continue
                    if not dedup.is_new(tick.symbol, tick.seq, tick.ts, tick.price, tick.volume):
                        continue
                    self.ticks += 1
                    queue.put(tick)
                elif subject.startswith(prefix_books):
                    book = Book.from_record(orjson.loads(msg.data))
                    if wanted and book.symbol not in wanted:
                        continue
                    self.books += 1
                    queue.put(book)
            except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                # ValueError: orjson's JSONDecodeError and BadRecord among them
                bad.append(msg)
                self._bad_message(subject, exc)
        return bad

    def _bad_message(self, subject: str, exc: BaseException) -> None:
        """Count a message that is not a trade or a book; report the first ones."""
        self.decode_errors += 1
        n = self.decode_errors
        if n > REPORTED_BAD and n % 1000:
            return
        reason = f"no {exc.args[0]!r} field" if isinstance(exc, KeyError) else str(exc)[:120]
        shown = subject[:120]
        log.warning(
            "%s: skipped a message on %s that is not a trade or a book (%s); %d so far",
            self.shown_url,
            shown,
            reason,
            n,
        )
        self.queue.put_event(
            Event(now_ms(), "bad_message", 0, {"subject": shown, "reason": reason, "total": n})
        )


def check_not_own_source(source: str, outs: Sequence[str]) -> None:
    """Refuse ``--from X --out X``: the recorder would read back what it publishes, for ever."""
    src = parse_nats_url(source)
    for out in outs:
        if not out.lower().startswith(("nats://", "tls://")):
            continue
        dst = parse_nats_url(out)
        if _endpoint(dst.server) == _endpoint(src.server) and dst.stream == src.stream:
            raise UsageError(
                f"--from {src.shown} and --out {dst.shown} are the same stream: the recorder would "
                "read back every trade it publishes; publish to another prefix (e.g. /hk2)"
            )


def _endpoint(server: str) -> tuple[str, int | None]:
    parts = urlsplit(server)
    host = (parts.hostname or "").lower()
    if host in ("localhost", "::1", "0.0.0.0"):
        host = "127.0.0.1"
    return host, parts.port


def stream_symbols(url: str, timeout: float = 5.0) -> list[str]:
    """Every symbol with trades in the stream at ``url`` (``--from`` with no SYMBOLS)."""
    nats = import_nats("--from")
    target = parse_nats_url(url)

    async def run() -> list[str]:
        await probe(target, timeout)
        nc = await nats.connect(
            servers=[target.server], connect_timeout=timeout, max_reconnect_attempts=1
        )
        try:
            js = nc.jetstream()
            try:
                info = await js.stream_info(
                    target.stream, subjects_filter=f"{target.prefix}.trades.*"
                )
            except nats.js.errors.NotFoundError:
                raise SourceError(
                    f"{target.shown}: no stream {target.stream} there yet; start the recorder "
                    f"that publishes it (record ... --out {target.shown})"
                ) from None
            subjects = info.state.subjects or {}
            cut = len(f"{target.prefix}.trades.")
            return sorted(s[cut:] for s in subjects)
        finally:
            await nc.close()

    try:
        return asyncio.run(run())
    except HkticksError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise SourceError(
            f"cannot read {target.shown}: {connect_reason(exc)}; check the address"
        ) from None
