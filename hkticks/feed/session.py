"""One WebSocket connection to AllTick (with :mod:`hkticks.feed.read_ahead`, the only
modules that drive websocket-client).

A :class:`Session` owns one shard of symbols. Its thread opens a
``websocket.WebSocket``, reads frames in a plain loop and reconnects with
capped, jittered backoff until stopped. Each frame is only decoded (with the
protocol core) and enqueued; the thread never touches disk or screen.
Requests (subscriptions, heartbeats) are sent from the feed's shared timer
thread through :meth:`Session.service`, which is also the stale-feed
watchdog.

The socket is read in large chunks by :class:`~hkticks.feed.read_ahead.ReadAheadWebSocket`
(see :mod:`hkticks.feed.read_ahead` for why not ``WebSocketApp.run_forever``).
"""

from __future__ import annotations

import logging
import ssl
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import websocket

from hkticks.alltick import protocol as alltick
from hkticks.alltick.urls import redact, with_token
from hkticks.errors import ConfigError, ConnectFailed, HkticksError, PlanTooSmall, TokenRejected
from hkticks.feed.dedup import Dedup
from hkticks.feed.gap_tracker import GapTracker, market_silence_s
from hkticks.feed.guards import (
    MAX_FRAGMENTS,
    MAX_MESSAGE_BYTES,
    MessageTooLarge,
    RedirectRefused,
    connect_checked,
    untrusted_certificate,
)
from hkticks.feed.pacing import Backoff, ConnectGate, ConnectionPacer, Pacer
from hkticks.feed.queue import TickQueue
from hkticks.feed.read_ahead import _BINARY, _CLOSE, _TEXT, ReadAheadWebSocket
from hkticks.market_hours import Calendar
from hkticks.tick import Book, Event, Tick

_SUBSCRIBE_RESPONSES = (alltick.CMD_SUB_TRADES_RESP, alltick.CMD_SUB_BOOK_RESP)
log = logging.getLogger("hkticks.feed.session")
# websocket-client logs every close at ERROR level; the session reports
# disconnects itself (events, status), so keep the library quiet.
logging.getLogger("websocket").propagate = False


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class SessionConfig:
    """Timings of a session; the defaults are AllTick's rules."""

    heartbeat_interval: float = alltick.HEARTBEAT_INTERVAL_S
    stale_timeout: float = alltick.HEARTBEAT_TIMEOUT_S
    connect_timeout: float = 10.0
    backoff_initial: float = 0.5
    backoff_cap: float = 30.0
    rate_limited_backoff: float = 10.0
    book_depth: int | None = None
    # The trading calendar: silence while the market is shut is no stale feed, and gap
    # records are trimmed to trading time. None: always open (the simulated market).
    calendar: Calendar | None = None
    clock_ms: Callable[[], int] = now_ms  # the wall clock the calendar is read with
    # A server that says it is simulated (hkticks serve) trades around the clock, so the
    # calendar is dropped for it unless this is set (tests of the calendar on our server).
    calendar_on_simulated: bool = False
    # give up after this many failed attempts in a row when no connection was
    # ever made (a wrong URL, a bad certificate); 0: never give up
    max_failed_attempts: int = 5
    # a message over either cap drops the connection (a ``message_too_large`` event)
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_fragments: int = MAX_FRAGMENTS


@dataclass(frozen=True)
class ConnStatus:
    shard: int
    state: str  # connecting | up | backoff | stopped | failed
    reconnects: int
    symbols: int
    last_msg_age: float | None
    reason: str | None = None  # why the last attempt failed, while not up


class Session:
    """One connection serving one shard of symbols."""

    def __init__(
        self,
        shard: int,
        symbols: list[str],
        *,
        url: str,
        token: str,
        queue: TickQueue,
        dedup: Dedup,
        pacer: Pacer,
        gate: ConnectGate,
        stop: threading.Event,
        on_fatal: Callable[[HkticksError], None],
        on_rejected: Callable[[int, list[str]], None],
        config: SessionConfig,
        token_source: str | None = None,
        src: str = alltick.SRC,
        backoff: Backoff | None = None,
        check_server: Callable[[bool], HkticksError | None] | None = None,
    ) -> None:
        self.shard = shard
        self.symbols = list(symbols)
        self._url = with_token(url, token)
        self.shown_url = redact(self._url)
        self._queue = queue
        self._dedup = dedup
        self._pacer = pacer
        self._gate = gate
        self._stop = stop
        self._on_fatal = on_fatal
        self._on_rejected = on_rejected
        self.config = config
        self._token_source = token_source or "the configuration"
        self._src = self._real_src = src
        # set from the handshake: the server says it is simulated (hkticks' own header)
        self.simulated = False
        self._check_server = check_server
        self._backoff = backoff or Backoff(config.backoff_initial, config.backoff_cap)
        self._builder = alltick.RequestBuilder()
        self._ws: ReadAheadWebSocket | None = None
        self._ws_lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"hkticks-ws-{shard}", daemon=True)

        self.state = "connecting"
        self.reconnects = 0
        self.ticks = 0
        self.books = 0
        self.decode_errors: Counter[str] = Counter()
        self._fatal = False
        # per-connection state, reset in _on_open
        # every connection gets its own pacer: after a reconnect, the new
        # connection is "another connection" to the server's 3-second rule
        self._conn_pacer: ConnectionPacer = pacer.connection()
        self._connected_at = 0.0
        self._last_msg = 0.0
        self._last_msg_ms = 0  # the wall-clock time of the last frame (the trades' recv_ts)
        self._last_heartbeat = 0.0
        self._got_data = True
        self._pending: deque[Callable[[], alltick.Request]] = deque()
        self._not_before = 0.0
        self._inflight: dict[int, alltick.Request] = {}
        self._close_reason: str | None = None
        self._rejected: set[str] = set()
        self._reported_rets: set[int] = set()
        self._wanted: frozenset[str] = frozenset(self.symbols)
        self._reported: set[str] = set()
        self._ever_up = False
        self.gaps = GapTracker(shard, lambda: self.symbols, queue.put_event, config.calendar)
        self._ever_connected = False
        self._last_reason: str | None = None
        self._sub_sent: float | None = None  # when an unanswered subscribe went out

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        self.thread.start()

    def abort(self, *, goodbye: bool = False) -> None:
        """Drop the connection now (wakes the session thread). Safe from any thread.

        With ``goodbye`` (a clean stop) a WebSocket close frame is sent first;
        a stale connection is just dropped.
        """
        with self._ws_lock:
            ws = self._ws
        if ws is not None:
            if goodbye and ws.connected:
                try:
                    ws.send_close(reason=b"client stopping")
                except Exception:  # already gone: nobody to say goodbye to
                    pass
            ws.stop_reading()

    def status(self, now: float) -> ConnStatus:
        age = now - self._last_msg if self.state == "up" and self._last_msg else None
        reason = self._last_reason if self.state in ("connecting", "backoff") else None
        return ConnStatus(self.shard, self.state, self.reconnects, len(self.symbols), age, reason)

    def _event(self, name: str, **details: Any) -> None:
        self._queue.put_event(Event(now_ms(), name, self.shard, details))

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            if not self._gate.wait_turn(self._stop):
                break
            attempt += 1
            self.state = "connecting"
            self._close_reason = None
            self._event("connecting", url=self.shown_url, attempt=attempt)
            ws = ReadAheadWebSocket(
                max_bytes=self.config.max_message_bytes,
                max_fragments=self.config.max_fragments,
                skip_utf8_validation=True,
                enable_multithread=True,
            )
            with self._ws_lock:
                self._ws = ws
            try:
                if not self._stop.is_set():
                    connect_checked(ws, self._url, self.config.connect_timeout)
                    if self._on_open(ws):
                        self._read(ws)
            except Exception as exc:
                if ws.reading:  # else we dropped it ourselves, and said why
                    self._on_error(exc)
            finally:
                with self._ws_lock:
                    self._ws = None
                # close the socket now: after a server-initiated close
                # websocket-client would leave it open until garbage
                # collection, and reconnects would accumulate descriptors
                ws.shutdown()
            was_up = self.state == "up"
            if self._fatal:
                self.state = "failed"
                break
            if self._stop.is_set():
                break
            self._last_reason = self._close_reason or "connection closed"
            if self._give_up(attempt):
                break
            self._event(
                "disconnected",
                reason=self._close_reason or "connection closed",
                was_connected=was_up,
                uptime_s=round(time.monotonic() - self._connected_at, 3) if was_up else 0.0,
            )
            if self._ever_up:  # the outage began with the last frame received (its recv_ts)
                start = self._last_msg_ms or now_ms()
                self.gaps.down(start, self._close_reason or "connection closed")
            delay = self._backoff.delay()
            self.state = "backoff"
            self._event("reconnecting", delay_s=round(delay, 3), attempt=self._backoff.attempt)
            log.info("shard %d: reconnecting in %.1f s", self.shard, delay)
            if self._stop.wait(delay):
                break
            self.reconnects += 1
        if self.state != "failed":
            self.state = "stopped"
        self.gaps.finish(now_ms())

    def _give_up(self, attempt: int) -> bool:
        """After ``max_failed_attempts`` failures with no connection ever made: fail."""
        limit = self.config.max_failed_attempts
        if self._ever_connected or limit <= 0 or attempt < limit:
            return False
        self._event("disconnected", reason=self._last_reason, was_connected=False, uptime_s=0.0)
        self._fail(
            ConnectFailed(
                f"could not connect to {self.shown_url} in {attempt} attempts "
                f"(last: {self._last_reason}); check --url and the network"
            )
        )
        return True

    # ------------------------------------------------------------------ callbacks

    def _read(self, ws: ReadAheadWebSocket) -> None:
        """Hand every data frame to :meth:`_on_data` until the connection ends."""
        recv = ws.recv_message
        on_data = self._on_data
        while ws.reading:
            opcode, data = recv()
            if opcode == _TEXT or opcode == _BINARY:
                on_data(data, opcode)
            elif opcode == _CLOSE:  # websocket-client has answered it already
                self._on_close(data)
                return
            # pings are answered while reading (ReadAheadWebSocket); pongs need nothing

    def _on_open(self, ws: websocket.WebSocket) -> bool:
        """Set up a fresh connection; False when the server is refused (a fatal error)."""
        headers = ws.getheaders() or {}
        self.simulated = str(headers.get(alltick.SIMULATED_HEADER.lower(), "")).strip() == "1"
        self._src = alltick.simulated_src(self._real_src) if self.simulated else self._real_src
        # a simulated market trades around the clock: HKEX's calendar does not apply to it
        simulated_clock = self.simulated and not self.config.calendar_on_simulated
        self.gaps.calendar = None if simulated_clock else self.config.calendar
        if self._check_server is not None:
            refused = self._check_server(self.simulated)
            if refused is not None:
                self._close_reason = "refused by the client"
                self._fail(refused)
                return False
        now = time.monotonic()
        self._connected_at = now
        self._last_msg = now
        self._last_msg_ms = now_ms()
        self._last_heartbeat = now
        self._got_data = False
        self._inflight.clear()
        self._conn_pacer = self._pacer.connection()
        self._pending.clear()
        self._reported.clear()
        self._ever_connected = True
        self._last_reason = None
        self._sub_sent = None
        self._dedup.resubscribed(self.symbols)
        self._pending.append(lambda: self._builder.subscribe_trades(self.symbols))
        if self.config.book_depth:
            depth = self.config.book_depth
            self._pending.append(lambda: self._builder.subscribe_book(self.symbols, depth))
        self.state = "up"
        self._ever_up = True
        if self.simulated:
            self._event("connected", url=self.shown_url, simulated=True)
        else:
            self._event("connected", url=self.shown_url)
        return True

    def _on_data(self, data: bytes, opcode: int) -> None:
        """Decode and enqueue: the hot path. No I/O here."""
        self._last_msg = time.monotonic()
        # the receive time of the trades in it, and where an outage after it starts
        self._last_msg_ms = recv = now_ms()
        item = alltick.decode(data, recv, binary=opcode == _BINARY, src=self._src)
        kind = type(item)
        if kind is Tick:
            tick: Tick = item  # type: ignore[assignment]
            if tick.symbol not in self._wanted:
                self._unwanted(tick.symbol)
            elif self._dedup.is_new(tick.symbol, tick.seq, tick.ts, tick.price, tick.volume):
                self.ticks += 1
                self._queue.put(tick)
            if not self._got_data:
                self._data_flows(recv)
        elif kind is Book:
            book: Book = item  # type: ignore[assignment]
            if book.symbol not in self._wanted:
                self._unwanted(book.symbol)
            else:
                self.books += 1
                self._queue.put(book)
            if not self._got_data:
                self._data_flows(recv)
        elif kind is alltick.Response:
            self._on_response(item)  # type: ignore[arg-type]
        else:
            err: alltick.DecodeError = item  # type: ignore[assignment]
            self._undecodable(err.kind, err.message)

    def _undecodable(self, kind: str, message: str) -> None:
        """Count a frame that is not kept; the first of each kind is also an event.

        Such frames are dropped, not recorded, so they make no gap; the
        event (once per kind and connection, so garbage cannot flood the
        sidecar) tells the user the provider sent them.
        """
        self.decode_errors[kind] += 1
        log.debug("shard %d: frame dropped (%s): %s", self.shard, kind, message)
        if kind not in self._reported:
            self._reported.add(kind)
            self._event("dropped_frame", kind=kind, message=message[:200])

    def _unwanted(self, symbol: str) -> None:
        """A push for a symbol this connection did not subscribe: dropped, not recorded."""
        self._undecodable("unsubscribed", f"push for {symbol}, which was not subscribed")

    def _data_flows(self, recv_ms: int) -> None:
        """The first trade or book of a connection: an open outage ends at its recv_ts
        (not at the clock read after it, which a preempted thread reads later than
        the trade it has just queued, putting that trade inside its own outage)."""
        self._got_data = True
        self._backoff.reset()
        self.gaps.up(recv_ms)

    def _on_response(self, resp: alltick.Response) -> None:
        self._conn_pacer.answered(time.monotonic())
        request = self._inflight.pop(resp.seq_id, None) if resp.seq_id is not None else None
        cmd = resp.cmd_id
        if cmd in (alltick.CMD_SUB_TRADES_RESP, alltick.CMD_SUB_BOOK_RESP):
            self._sub_sent = None  # answered, whatever the answer
        if resp.ret == alltick.RET_OK:
            if cmd in (alltick.CMD_SUB_TRADES_RESP, alltick.CMD_SUB_BOOK_RESP):
                self._backoff.clear_floor()  # any rate-limit episode is over
                kind = "trades" if cmd == alltick.CMD_SUB_TRADES_RESP else "book"
                self._event("subscribed", kind=kind, symbols=len(self.symbols))
                self.gaps.resubscribed(now_ms())
            return
        details: dict[str, Any] = {"ret": resp.ret, "msg": resp.msg, "cmd_id": cmd}
        if resp.ret == alltick.RET_TOKEN_INVALID:
            self._event("error", **details)
            self._fail(
                TokenRejected(
                    f"token rejected by the server (ret 401: {resp.msg or 'token invalid'}); "
                    f"the token came from {self._token_source}: check it, or try --demo"
                )
            )
        elif resp.ret == alltick.RET_PLAN_TOO_SMALL:
            self._event("error", **details)
            self._fail(
                PlanTooSmall(
                    f"the server refused {len(self.symbols)} symbols on one connection "
                    f"(ret 603: token level not enough): pass the --plan you have, or fewer symbols"
                )
            )
        elif resp.ret in (alltick.RET_CODE_INVALID, alltick.RET_CODE_UNAUTHORIZED):
            named = resp.codes()
            if not named and len(self.symbols) == 1 and cmd in _SUBSCRIBE_RESPONSES:
                # AllTick names no code in a 600; asked for one, it can only be that one
                named = list(self.symbols)
            codes = [c for c in named if c not in self._rejected]
            details["codes"] = codes
            self._event("error", **details)
            if not codes and resp.ret not in self._reported_rets:
                # the server did not name them: still say so, once
                self._reported_rets.add(resp.ret)
                self._on_rejected(resp.ret, [])
            if codes:
                # report once, and leave them out of later resubscriptions
                self._rejected.update(codes)
                self.symbols = [s for s in self.symbols if s not in self._rejected]
                self._wanted = frozenset(self.symbols)
                self._on_rejected(resp.ret, codes)
        elif resp.ret in (alltick.RET_TOO_MANY_REQUESTS, alltick.RET_TOO_MANY_REQUESTS_CLOSE):
            self._event("error", **details, backoff_s=self.config.rate_limited_backoff)
            self._backoff.at_least(self.config.rate_limited_backoff)
            # the request was not applied: send it again once the pause is over
            if request is not None and request.cmd_id != alltick.CMD_HEARTBEAT:
                self._pending.appendleft(self._resend_for(request.cmd_id))
            self._not_before = time.monotonic() + self.config.rate_limited_backoff
        else:
            self._event("error", **details)
            log.warning("shard %d: server answered ret %s: %s", self.shard, resp.ret, resp.msg)

    def _resend_for(self, cmd_id: int) -> Callable[[], alltick.Request]:
        if cmd_id == alltick.CMD_SUB_BOOK and self.config.book_depth:
            depth = self.config.book_depth
            return lambda: self._builder.subscribe_book(self.symbols, depth)
        return lambda: self._builder.subscribe_trades(self.symbols)

    def _on_error(self, exc: BaseException) -> None:
        status = getattr(exc, "status_code", None)
        if isinstance(exc, MessageTooLarge):
            self._close_reason = f"message too large: {exc}"
            self._event(
                "message_too_large",
                cap=exc.cap,
                seen=exc.seen,
                limit=exc.limit,
                announced=exc.announced,
            )
            return
        if isinstance(exc, RedirectRefused):
            self._close_reason = f"redirect refused: {exc}"
            self._event("error", redirect_refused=str(exc))
            self._fail(
                ConfigError(
                    f"the server at {self.shown_url} {exc}: refused, the token would leak; "
                    "check --url / HKTICKS_URL"
                )
            )
            return
        if isinstance(exc, ssl.SSLCertVerificationError):
            # an untrusted or mismatched certificate does not fix itself: say so now
            why = exc.verify_message or exc.reason or "verification failed"
            self._close_reason = f"TLS certificate not trusted: {why}"
            self._event("error", tls=why)
            self._fail(ConnectFailed(untrusted_certificate(self.shown_url, why)))
            return
        if isinstance(exc, websocket.WebSocketBadStatusException) and status in (401, 403):
            self._close_reason = f"handshake refused with HTTP {status}"
            self._event("error", http_status=status)
            self._fail(
                TokenRejected(
                    f"token rejected: the server refused the connection with HTTP {status}; "
                    f"the token came from {self._token_source}: check it, or try --demo"
                )
            )
            return
        if isinstance(exc, websocket.WebSocketBadStatusException) and status == 404:
            # no WebSocket endpoint at that URL: retrying cannot help
            self._close_reason = "handshake refused with HTTP 404"
            self._event("error", http_status=status)
            self._fail(
                ConfigError(
                    f"there is no quote WebSocket at {self.shown_url} (HTTP 404): "
                    "check --url / HKTICKS_URL"
                )
            )
            return
        if isinstance(exc, websocket.WebSocketBadStatusException):
            self._close_reason = f"handshake refused with HTTP {status}"
        else:
            self._close_reason = redact(f"{type(exc).__name__}: {exc}")[:300]

    def _on_close(self, payload: bytes) -> None:
        """The server's close frame: its code and reason explain the gap."""
        if self._close_reason is not None:
            return
        if len(payload) >= 2:
            code = struct.unpack("!H", payload[:2])[0]
            msg = payload[2:].decode("utf-8", "replace")
            self._close_reason = redact(
                f"closed by server (code {code}{': ' + msg if msg else ''})"
            )[:300]
        else:
            self._close_reason = "closed by server"

    def _fail(self, err: HkticksError) -> None:
        self.gaps.down(now_ms(), f"refused: {err}")
        self._fatal = True
        self.state = "failed"
        self._on_fatal(err)

    # ------------------------------------------------------------------ timer thread

    def service(self, now: float) -> None:
        """Called by the feed's timer thread: send due requests, watch for a stale feed."""
        with self._ws_lock:
            ws = self._ws
        if ws is None or self.state != "up":
            return
        if now - self._last_msg > self.config.stale_timeout and (
            market_silence_s(self.gaps.calendar, self.config.clock_ms(), now - self._last_msg)
            > self.config.stale_timeout
        ):
            self._close_reason = f"stale: nothing received for {self.config.stale_timeout:g} s"
            self._event("stale", silent_s=round(now - self._last_msg, 3))
            self.abort()
            return
        sub = self._sub_sent
        if sub is not None and now - sub > self.config.stale_timeout:
            # a server that swallowed the subscribe (a stall) but answers
            # heartbeats would otherwise keep a connection that never sends data
            self._close_reason = (
                f"stale: subscription not answered within {self.config.stale_timeout:g} s"
            )
            self._event("stale", unanswered_s=round(now - sub, 3))
            self.abort()
            return
        pacer = self._conn_pacer
        if self._pending and now >= self._not_before and pacer.try_acquire(now):
            request = self._pending.popleft()()
            self._send(ws, request, pacer)
            return
        # a heartbeat waits for a late answer at most one interval: the connection must
        # stay alive (AllTick closes it after 30 s without one) while a subscribe is slow
        interval = self.config.heartbeat_interval
        if now - self._last_heartbeat >= interval and pacer.try_acquire(
            now, cross=False, patience=interval
        ):
            self._last_heartbeat = now
            self._send(ws, self._builder.heartbeat(), pacer)

    def _send(
        self, ws: websocket.WebSocket, request: alltick.Request, pacer: ConnectionPacer
    ) -> None:
        """Write one request; only :meth:`service` calls this, after ``pacer`` said yes."""
        self._inflight[request.seq_id] = request
        if request.cmd_id in (alltick.CMD_SUB_TRADES, alltick.CMD_SUB_BOOK):
            self._sub_sent = time.monotonic()
        if len(self._inflight) > 64:  # responses that never came
            self._inflight.pop(next(iter(self._inflight)))
        try:
            ws.send(request.text)
        except Exception as exc:  # the connection is going away; the run loop reconnects
            log.debug("shard %d: send failed: %r", self.shard, exc)
        finally:
            pacer.sent(time.monotonic())
