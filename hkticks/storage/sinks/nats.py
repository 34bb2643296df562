"""The NATS JetStream sink: every trade, book and session event published to a stream.

``--out nats://HOST:4222/hk`` publishes trades to ``hk.trades.<symbol>``,
books to ``hk.books.<symbol>`` and events to ``hk.events``. Each payload is
exactly the item's JSONL line (without the newline), so a consumer in any
language reads it without hkticks. Trades carry ``Nats-Msg-Id:
<symbol>:<seq>`` (books ``book:<symbol>:<seq>``): JetStream's duplicate
window drops a re-send after a reconnect or a recorder restart.

The recorder's writer thread only appends to a deque here (:meth:`NatsSink.write`);
an asyncio loop in its own thread (``hkticks-nats``) publishes with nats-py's
async publish, at most ``max_inflight`` unacknowledged at a time. A message
leaves the buffer only when JetStream acknowledged it. While the server is
down the buffer keeps what was written, up to ``buffer_max`` messages
(beyond that new ones are dropped, counted, and reported when the sink
closes); after a reconnect every message not acknowledged is sent again, so
a NATS restart loses nothing. The stream is created when missing (file
storage, retention by ``max_age`` / ``max_bytes`` from the URL).

A stream that is full and discards new messages (``discard new`` with
``max_msgs`` / ``max_bytes``) refuses each publish: those messages are
dropped as they are refused, counted in ``dropped`` (trades), taken out of
``rows``, and reported at once (a log line, a ``dropped`` event for the
sidecar via :meth:`NatsSink.take_events`, the recorder's status line), not
re-sent for ever behind a normal status line.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Collection, Sequence
from functools import partial
from typing import Any

import orjson

from hkticks.errors import OutputError
from hkticks.feed.natsurl import (
    MSG_ID,
    NatsUrl,
    connect_reason,
    import_nats,
    parse_nats_url,
    probe,
)
from hkticks.storage.resume import LastTrades
from hkticks.storage.sinks.jsonl import encode_lines
from hkticks.tick import Book, Event, Tick

log = logging.getLogger("hkticks.storage.sinks.nats")

DEFAULT_MAX_INFLIGHT = 4096
DEFAULT_BUFFER_MAX = 1_000_000
ACK_TIMEOUT_S = 3.0
CLOSE_TIMEOUT_S = 15.0
RETRY_PAUSE_S = 0.2
# JetStream's answers for a stream at its limits with discard new
STORE_FULL = {10077: "maximum messages exceeded", 10047: "maximum bytes exceeded"}

# (message id or None, subject, payload)
Message = tuple[str | None, str, bytes]


def _payloads(items: Sequence[Any], records: bool) -> list[bytes]:
    return encode_lines(items, records=records)[:-1].split(b"\n")


class NatsSink:
    """Publish to JetStream; the ordinary :class:`~hkticks.storage.sinks.Sink` interface.

    ``write`` takes ticks, books and events alike (each goes to its subject).
    ``rows`` counts what ``write`` accepted, ``acked`` what JetStream stored,
    ``dropped`` what did not fit the buffer while the server was away.
    """

    repaired_bytes = 0
    own_thread = True  # see hkticks.storage.sinks.queued

    def __init__(
        self,
        url: str,
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        buffer_max: int = DEFAULT_BUFFER_MAX,
        what: str = "ticks",
        connect_timeout: float = 5.0,
        ack_timeout: float = ACK_TIMEOUT_S,
        close_timeout: float = CLOSE_TIMEOUT_S,
    ) -> None:
        self._nats = import_nats()
        self.target: NatsUrl = parse_nats_url(url)
        self.path = self.target.shown
        self.what = what
        self.rows = 0
        self.acked = 0
        self.dropped = 0
        self.refused = 0  # messages JetStream refused (stream full, discard new)
        self.refused_trades = 0  # of them trades (also counted in dropped)
        self._refused_why = ""
        self._reported = 0
        self.resent = 0
        self.reconnects = 0
        self.max_inflight = max_inflight
        self.buffer_max = buffer_max
        self.ack_timeout = ack_timeout
        self.close_timeout = close_timeout
        self._run_id = uuid.uuid4().hex[:12]
        self._event_n = 0
        self._backlog: deque[Message] = deque()
        self._inflight: dict[int, tuple[Message, float, asyncio.Future[Any]]] = {}
        self._next_key = 0
        self._closing = False
        self._closed = False
        self._failure: OutputError | None = None
        self._warned_drop = False
        self._connected = False
        self._loop = asyncio.new_event_loop()
        self._wake = asyncio.Event()
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self._nc: Any = None
        self._js: Any = None
        self._connect_timeout = connect_timeout
        self.thread = threading.Thread(target=self._thread_main, name="hkticks-nats", daemon=True)
        self.thread.start()
        self._ready.wait()
        if self._open_error is not None:
            self.thread.join(5.0)
            raise OutputError(
                f"cannot publish to {self.path}: {connect_reason(self._open_error)}; "
                "start nats-server (with -js) or choose another --out"
            )

    # ------------------------------------------------------------------ writer thread side

    @property
    def buffered(self) -> int:
        """Messages written and not yet acknowledged by JetStream."""
        return len(self._backlog) + len(self._inflight)

    def write(self, items: Sequence[Any]) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise ValueError(f"write to closed sink {self.path}")
        if not items:
            return
        messages, ticks = self._messages(items)
        room = self.buffer_max - self.buffered
        if room < len(messages):
            keep = max(room, 0)
            self.dropped += len(messages) - keep
            ticks -= sum(1 for item in items[keep:] if type(item) is Tick)  # one message each
            messages = messages[:keep]
            if not self._warned_drop:
                self._warned_drop = True
                log.warning(
                    "%s: the publish buffer is full (%d messages not acknowledged): "
                    "dropping new ones, counted",
                    self.path,
                    self.buffer_max,
                )
        self._backlog.extend(messages)
        self.rows += ticks
        self._loop.call_soon_threadsafe(self._wake.set)

    def _messages(self, items: Sequence[Any]) -> tuple[list[Message], int]:
        """The messages of a batch, and how many of its items are trades."""
        t = self.target
        out: list[Message] = []
        first = type(items[0])
        if first is Tick and all(type(i) is Tick for i in items):
            for tick, payload in zip(items, _payloads(items, False), strict=True):
                mid = None if tick.seq is None else f"{tick.symbol}:{tick.seq}"
                out.append((mid, t.trades(tick.symbol), payload))
            return out, len(out)
        ticks = 0
        for item in items:
            payload = _payloads([item], type(item) is not Tick)[0]
            kind = type(item)
            if kind is Tick:
                ticks += 1
                mid = None if item.seq is None else f"{item.symbol}:{item.seq}"
                out.append((mid, t.trades(item.symbol), payload))
            elif kind is Book:
                mid = None if item.seq is None else f"book:{item.symbol}:{item.seq}"
                out.append((mid, t.books(item.symbol), payload))
            elif kind is Event:
                self._event_n += 1
                out.append((f"event:{self._run_id}:{self._event_n}", t.events, payload))
            else:
                raise TypeError(f"cannot publish a {kind.__name__}")
        return out, ticks

    def flush(self, fsync: bool = False) -> None:
        """Publishing never waits for the writer; a failure seen meanwhile is raised here."""
        if self._failure is not None and not self._closed:
            raise self._failure

    def wait_acked(self, timeout: float) -> bool:
        """Wait until everything written was acknowledged (tests, benches)."""
        deadline = time.monotonic() + timeout
        while self.buffered and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self.buffered

    def close(self) -> None:
        """Publish what is buffered (up to ``close_timeout`` s), then disconnect; idempotent.

        Raises :class:`OutputError` when messages could not be published.
        """
        if self._closed:
            return
        self._closed = True
        self._closing = True
        self._loop.call_soon_threadsafe(self._wake.set)
        self.thread.join(self.close_timeout + 10.0)
        left = self.buffered
        if (left or self.dropped or self.refused) and self._failure is None:
            why = []
            if left:
                why.append(f"{left:,} not acknowledged when it closed")
            if self.refused:
                why.append(
                    f"{self.refused:,} refused by JetStream ({self._refused_why}: the stream "
                    "is full and discards new messages)"
                )
            if self.dropped > self.refused_trades:
                why.append(
                    f"{self.dropped - self.refused_trades:,} dropped while the server "
                    "was away (buffer full)"
                )
            self._failure = OutputError(
                f"{self.path}: published {self.acked:,} messages, {'; '.join(why)}; "
                "check the NATS server, or record to a file as well (--out ticks.jsonl)"
            )
            raise self._failure

    # ------------------------------------------------------------------ last trades

    def last_trades(self, symbols: Collection[str]) -> LastTrades:
        """The last (seq, ts) of each symbol already in the stream (resume after a restart)."""
        found = LastTrades()
        if not symbols or self._js is None:
            return found
        future = asyncio.run_coroutine_threadsafe(self._last_trades(list(symbols)), self._loop)
        try:
            for rec in future.result(60.0):
                found.keep(rec.get("symbol"), rec.get("seq"), rec.get("ts"))
        except Exception as exc:  # only prevents duplicates; never blocks a recording
            log.warning("%s: could not read the last trades (%s)", self.path, exc)
            found.complete = False
        return found

    async def _last_trades(self, symbols: list[str]) -> list[dict[str, Any]]:
        errors = self._nats.js.errors
        out: list[dict[str, Any]] = []

        async def one(symbol: str) -> None:
            try:
                msg = await self._js.get_last_msg(self.target.stream, self.target.trades(symbol))
            except errors.NotFoundError:
                return
            if msg.data:
                rec = orjson.loads(msg.data)
                if isinstance(rec, dict):
                    out.append(rec)

        for i in range(0, len(symbols), 256):
            await asyncio.gather(*(one(s) for s in symbols[i : i + 256]))
        return out

    # ------------------------------------------------------------------ loop thread

    def _thread_main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported at open or at close
            if not self._ready.is_set():
                self._open_error = exc
            else:
                log.error("%s: the publisher stopped: %r", self.path, exc)
                self._failure = OutputError(f"{self.path}: the publisher stopped: {exc}")
        finally:
            self._ready.set()
            try:
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            finally:
                self._loop.close()

    async def _connect(self) -> None:
        nats = self._nats

        async def disconnected() -> None:
            self._connected = False
            log.info("%s: disconnected; buffering", self.path)

        async def reconnected() -> None:
            self.reconnects += 1
            self._connected = True
            self._requeue_inflight()
            self._wake.set()
            log.info("%s: reconnected; re-sending what was not acknowledged", self.path)

        async def error(exc: Exception) -> None:
            if getattr(exc, "err_code", None) in STORE_FULL:
                self._refused_one(exc)
                return
            log.debug("%s: %r", self.path, exc)

        await probe(self.target, self._connect_timeout)
        self._nc = await nats.connect(
            servers=[self.target.server],
            name="hkticks-recorder",
            connect_timeout=self._connect_timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
            pending_size=64 << 20,
        )
        self._connected = True
        self._js = self._nc.jetstream(publish_async_max_pending=self.max_inflight * 4)
        await self._ensure_stream()

    async def _ensure_stream(self) -> None:
        api = self._nats.js.api
        errors = self._nats.js.errors
        t = self.target
        try:
            info = await self._js.stream_info(t.stream)
        except errors.NotFoundError:
            config = api.StreamConfig(
                name=t.stream,
                subjects=t.subjects,
                storage=api.StorageType.FILE,
                retention=api.RetentionPolicy.LIMITS,
                discard=api.DiscardPolicy.OLD,
                max_age=t.max_age,
                max_bytes=t.max_bytes if t.max_bytes is not None else -1,
                duplicate_window=t.dupe_window,
            )
            await self._js.add_stream(config)
            log.info("%s: created stream %s", self.path, t.stream)
            return
        subjects = info.config.subjects or []
        if not any(s in (f"{t.prefix}.>", ">") for s in subjects):
            raise RuntimeError(
                f"stream {t.stream} exists with subjects {subjects}, not {t.prefix}.>; "
                "name another with ?stream=NAME"
            )

    async def _main(self) -> None:
        await self._connect()
        self._ready.set()
        try:
            await self._publish_loop()
        finally:
            try:
                await asyncio.wait_for(self._nc.close(), 5.0)
            except Exception:  # noqa: BLE001 - closing after the work is done
                pass

    def _requeue_inflight(self) -> None:
        """Put every unacknowledged message back at the front, in order, to be sent again."""
        if not self._inflight:
            return
        entries = [self._inflight[k] for k in sorted(self._inflight)]
        self._inflight.clear()
        self._backlog.extendleft(reversed([m for m, _, _ in entries]))
        self.resent += len(entries)
        for _, _, fut in entries:
            if not fut.done():
                fut.cancel()

    def _refused_one(self, exc: Exception) -> None:
        """JetStream refused a publish (stream full): drop the oldest one in flight.

        nats-py reports the refusal to the error callback and leaves that
        message's future pending; answers come in publish order, so the
        refused one is the oldest still waiting.
        """
        key = next((k for k, (_, _, f) in self._inflight.items() if not f.done()), None)
        if key is None:
            return
        message, _, fut = self._inflight.pop(key)
        fut.cancel()  # releases nats-py's pending slot
        self.refused += 1
        if ".trades." in message[1]:
            self.refused_trades += 1
            self.dropped += 1
            self.rows -= 1
        why = STORE_FULL.get(getattr(exc, "err_code", 0), "refused")
        if not self._refused_why:
            log.warning(
                "%s: JetStream refuses new messages (%s: the stream is full and discards "
                "new ones); dropping them, counted",
                self.path,
                why,
            )
        self._refused_why = why
        if not self._inflight or self._closing:
            self._wake.set()

    def take_events(self) -> list[Event]:
        """A ``dropped`` event for the trades lost since the last call (refused, buffer full)."""
        total = self.dropped
        new = total - self._reported
        if new <= 0:
            return []
        self._reported = total
        if self._refused_why:
            reason = (
                f"JetStream refused them ({self._refused_why}: the stream is full and "
                "discards new messages); raise its limits or let it age out"
            )
        else:
            reason = f"the publish buffer ({self.buffer_max:,} messages) was full"
        return [
            Event(
                time.time_ns() // 1_000_000,
                "dropped",
                None,
                {"count": new, "total": total, "output": self.path, "reason": reason},
            )
        ]

    def _done(self, key: int, fut: asyncio.Future[Any]) -> None:
        entry = self._inflight.get(key)
        if entry is None:
            return  # already requeued
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is None:
            inflight = self._inflight
            del inflight[key]
            self.acked += 1
            # the loop waits for room only when the window was full (or to finish)
            if len(inflight) == self.max_inflight - 1 or self._closing or not inflight:
                self._wake.set()
            return
        # no responders right after a restart (JetStream recovering), or an API error:
        # keep it in flight; the ack timeout sends it again
        log.debug("%s: publish failed: %r", self.path, exc)

    async def _publish_loop(self) -> None:
        backlog = self._backlog
        inflight = self._inflight
        js = self._js
        nc = self._nc
        max_inflight = self.max_inflight
        close_deadline: float | None = None
        while True:
            sent_any = False
            if backlog and self._connected and nc.is_connected and len(inflight) < max_inflight:
                sent_at = time.monotonic()
                done = self._done
                publish = js.publish_async
                for _ in range(min(len(backlog), max_inflight - len(inflight))):
                    message = backlog.popleft()
                    mid = message[0]
                    key = self._next_key
                    self._next_key = key + 1
                    try:
                        fut = await publish(
                            message[1], message[2], headers={MSG_ID: mid} if mid else None
                        )
                    except Exception as exc:  # noqa: BLE001 - disconnected meanwhile: keep it
                        backlog.appendleft(message)
                        log.debug("%s: publish not sent: %r", self.path, exc)
                        break
                    inflight[key] = (message, sent_at, fut)
                    fut.add_done_callback(partial(done, key))
                    sent_any = True
            now = time.monotonic()
            if inflight:
                oldest = inflight[next(iter(inflight))][1]
                if now - oldest > self.ack_timeout and self._connected:
                    self._requeue_inflight()
                    await asyncio.sleep(RETRY_PAUSE_S)
                    continue
            if self._closing:
                if not backlog and not inflight:
                    return
                if close_deadline is None:
                    close_deadline = now + self.close_timeout
                elif now > close_deadline:
                    return
            if sent_any and len(inflight) < max_inflight and backlog:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), 0.05)
            except asyncio.TimeoutError:
                pass


def open_nats_sink(url: str, **kw: Any) -> NatsSink:
    return NatsSink(url, **kw)


def check_nats_output(url: str, option: str = "--out") -> None:
    """Cheap checks before connecting to the provider: the URL parses, nats-py is there."""
    parse_nats_url(url)
    import_nats(option)
