"""The AllTick-compatible WebSocket server (runs inside one asyncio loop).

It speaks the protocol of ``shared/docs/alltick-protocol.md`` as strictly as
AllTick documents it, because a client that only works against a lenient
simulator breaks on the real service:

* path ``/quote-stock-b-ws-api`` only (others: HTTP 404); the token travels
  in the query string. A missing or unknown token gets the handshake, then
  ``{"ret":401,"msg":"token invalid"}`` and a close (1008, "token invalid").
  ``reject_handshake_status`` refuses the HTTP upgrade instead (401/403/503);
  ``handshake_fault`` drops the TCP connection during the upgrade instead:
  ``"close"`` without answering, ``"partial"`` after half a 101 response.
* one connection more than the plan allows per token gets a 606 frame ("too
  many requests and connection will be closed": error_code_description
  names over-limit connections under 606) and is closed at once, code 1008,
  reason "too many connections: plan X allows N per token".
* every request needs the documented header: ``cmd_id``, ``seq_id`` (uint32),
  ``trace`` (a string of at most 64 characters) and ``data`` (an object;
  ``[]``, PHP's empty array as AllTick's PHP example sends it, reads as ``{}``);
  otherwise ``400 "request header param invalid"``. A header that is fine
  with a ``data`` that is not (``symbol_list`` not a list, a code not a
  string, a bad ``depth_level``, a missing or bad ``cancel_type``: it is
  required) gets ``400 "request data param invalid"``. Every answer echoes
  ``cmd_id``/``seq_id``/``trace`` (``0``/``0``/``""`` when they cannot be
  read).
* ``depth_level`` absent means one level; above the levels there are (10
  for HK) means all of them.
* a subscribe (22002 / 22004) REPLACES that connection's previous list of
  the same kind; symbols beyond the plan's per-connection limit are silently
  ignored (``over_limit="ignore"``, as documented) or, with
  ``over_limit="603"``, the whole request is refused with ret 603 and not
  applied. Unknown codes (including wrong spellings such as ``0700.HK`` or
  ``700.hk``: codes must match AllTick's product list exactly) get a ret 600
  answer while the request's known codes ARE subscribed (the codes are named
  in ``data.invalid_codes`` only with the ``extras`` quirk).
* pacing, for subscribe and cancel requests (the limits are documented for
  the trade and order-book interfaces; heartbeats are exempt): a request
  less than 1 s after the previous accepted one on the same connection is
  answered 605 and not applied ("the second request will be rejected"); one
  less than 3 s after an accepted one on another (still open) connection of
  the same token is answered 606 and the connection closed (1008, "too many
  requests"), as error_code_description says of 606. A grace of
  ``PACING_GRACE_S`` absorbs scheduling jitter. ``enforce_pacing=False``
  turns all this off.
* a connection that sent no heartbeat (22000) for ``heartbeat_timeout``
  seconds is closed (1008, "heartbeat timeout"). WebSocket pings do not
  count, as with AllTick; the server sends no pings of its own.
* after a subscribe, the latest trade (and book) of each newly subscribed
  symbol that traded since the server started is sent again with its
  original ``seq`` (``resend_latest``); clients de-duplicate by ``seq``.

Pushes: in rate mode a timer makes ``rate`` trades per second across the
whole market; each is encoded once and written to every subscribed
connection. In firehose mode each connection gets trades of its own
symbols as fast as its socket drains (flow control through ``send``).

Everything here runs on the loop's thread; :mod:`hkticks.server.marketserver`
offers the thread-safe API on top. The answers to requests live in
:mod:`hkticks.server.ws_requests` (a part of :class:`WsServer`), a connection's
state and the options in :mod:`hkticks.server.ws_connections`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import struct
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from hkticks.alltick import protocol as alltick
from hkticks.server import frames
from hkticks.server.market import Market, Trade
from hkticks.server.ws_connections import (
    CLOSE_POLICY,
    Conn,
    ConnectionInfo,
    WsOptions,
)
from hkticks.server.ws_requests import WsRequests

log = logging.getLogger("hkticks.server")
log.addHandler(logging.NullHandler())

CLOSE_GOING_AWAY = 1001
RATE_TICK_S = 0.02
FIREHOSE_BATCH = 256
# A connection whose unsent pushes exceed this is a stuck reader: drop it
# rather than let the server's memory grow without bound.
SLOW_CONSUMER_BYTES = 32 << 20
MAX_CLOSED_KEPT = 10_000
OVER_LIMIT_MODES = ("ignore", "603")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class WsServer(WsRequests):
    """The protocol server. Create, then ``await start(host, port)`` on the loop."""

    def __init__(self, market: Market, options: WsOptions, *, replay: Any = None) -> None:
        if options.over_limit not in OVER_LIMIT_MODES:
            raise ValueError(f"over_limit must be one of {OVER_LIMIT_MODES}")
        for plan in options.tokens.values():
            if plan not in alltick.PLANS:
                raise ValueError(f"unknown plan {plan!r}")
        self.market = market
        self.opts = options
        # a ReplaySource (hkticks.server.replaysource): recorded trades instead of the simulation
        self.replay = replay
        self.encoder = frames.FrameEncoder(
            tick_time_unit=options.tick_time_unit,
            numbers_as_strings=options.numbers_as_strings,
            ids_as_strings=options.ids_as_strings,
        )
        self.reject_handshake_status: int | None = None
        # a scenario (hkticks.server.scenarios) adding its trades to the rate loop's
        self.scenario: Any = None
        self.stalled = False
        self.sent: list[tuple[int, str, int]] = []
        self.handshake_fault: str | None = None
        self.send_times: list[tuple[str, int, int]] = []
        self._unstamped: list[tuple[str, int]] = []
        self._server: Server | None = None
        self._conns: dict[int, Conn] = {}
        self._closed: deque[Conn] = deque(maxlen=MAX_CLOSED_KEPT)
        self._next_id = 1
        self._trade_subs: dict[str, dict[Conn, None]] = {}
        self._book_subs: dict[str, dict[Conn, int]] = {}
        self._token_last: dict[str, tuple[float, int]] = {}
        self._overrides: dict[int, deque[tuple[int, str | None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Task[Any]] = set()
        self._unstalled = asyncio.Event()
        self._unstalled.set()

    # -- lifecycle ------------------------------------------------------------

    async def start(self, host: str, port: int, *, tls: ssl.SSLContext | None = None) -> int:
        """Listen on ``host:port`` (0: a free port), over TLS with ``tls``; returns the port."""
        self._server = await serve(
            self._handler,
            host,
            port,
            process_request=self._process_request,
            process_response=self._process_response,
            compression=None,
            ping_interval=None,
            close_timeout=1.0,
            max_size=alltick.MAX_FRAME_BYTES,
            max_queue=64,
            write_limit=1 << 18,
            logger=log,
            ssl=tls,
        )
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._watchdog(), name="hkticks-server-watchdog"))
        if self.replay is not None:
            self._tasks.append(loop.create_task(self._replay_loop(), name="hkticks-server-replay"))
        elif not self.opts.firehose:
            self._tasks.append(loop.create_task(self._rate_loop(), name="hkticks-server-rate"))
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])

    async def aclose(self) -> None:
        """Stop pushing, close every connection (1001) and stop listening."""
        for task in self._tasks:
            task.cancel()
        for conn in list(self._conns.values()):
            if conn.firehose is not None:
                conn.firehose.cancel()
            conn.close_reason = conn.close_reason or "server stopped"
        if self._server is not None:
            self._server.close(close_connections=True)
            try:
                await asyncio.wait_for(self._server.wait_closed(), 3.0)
            except TimeoutError:
                for conn in list(self._conns.values()):
                    conn.ws.transport.abort()

    # -- handshake ------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != alltick.WS_PATH:
            return connection.respond(404, "Not Found\n")
        fault = self.handshake_fault
        if fault is not None:
            return self._handshake_fault(connection, fault)
        status = self.reject_handshake_status
        if status is not None:
            return connection.respond(status, "handshake refused by the test server\n")
        return None

    def _process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> Response:
        if self.opts.simulated and response.status_code == 101:
            response.headers[alltick.SIMULATED_HEADER] = "1"
        return response

    # -- connections ------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        tokens = query.get("token")
        token: str | None = tokens[0] if tokens else None
        conn = Conn(self._next_id, ws, token, loop.time())
        self._next_id += 1
        self._conns[conn.id] = conn
        try:
            plan_name = self.opts.tokens.get(token) if token else None
            if plan_name is None:
                conn.close_reason = "token invalid"
                self._send(conn, frames.response(None, alltick.RET_TOKEN_INVALID))
                await ws.close(CLOSE_POLICY, "token invalid")
                return
            conn.plan = alltick.PLANS[plan_name]
            open_same = sum(
                1
                for c in self._conns.values()
                if c.token == token
                and c.plan is not None
                and c is not conn
                and c.close_reason is None
                and c.ws.protocol.state is State.OPEN
            )
            if open_same >= conn.plan.max_connections:
                # error_code_description: 606 is the answer to a connection beyond the
                # plan's count ("ensure you do not exceed the maximum connections")
                conn.close_reason = (
                    f"too many connections: plan {conn.plan.name} allows "
                    f"{conn.plan.max_connections} per token"
                )
                conn.requests.append((time.time(), None, alltick.RET_TOO_MANY_REQUESTS_CLOSE))
                self._send(conn, frames.response(None, alltick.RET_TOO_MANY_REQUESTS_CLOSE))
                await ws.close(CLOSE_POLICY, conn.close_reason[:120])
                return
            if self.opts.firehose:
                conn.firehose = loop.create_task(self._firehose(conn))
            async for message in ws:
                await self._on_message(conn, message)
        except ConnectionClosed:
            pass
        finally:
            self._forget(conn)

    def _forget(self, conn: Conn) -> None:
        if conn.firehose is not None:
            conn.firehose.cancel()
        self._unsubscribe(conn, trades=True, books=True)
        conn.closed_at = time.time()
        if conn.close_reason is None:
            rcvd = conn.ws.protocol.close_rcvd
            conn.close_reason = (
                f"client closed ({rcvd.code})" if rcvd is not None else "connection lost"
            )
        self._conns.pop(conn.id, None)
        self._closed.append(conn)

    def _send(self, conn: Conn, frame: bytes) -> None:
        """Write one text frame now, without waiting (keeps frames in order)."""
        broadcast((conn.ws,), frame, text=True)

    def _handshake_fault(self, connection: ServerConnection, fault: str) -> Response:
        """Drop the TCP connection in the middle of the opening handshake.

        The response returned is never seen: the transport is already gone.
        """
        transport = connection.transport
        if fault == "partial":
            transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs")
        transport.abort()
        return connection.respond(500, "dropped during the handshake\n")

    def _write(self, conn: Conn, framed: list[bytes]) -> None:
        """Write already framed pushes (:func:`frames.ws_text`) in one system call.

        Safe next to the websockets library's own writes: everything runs on
        this loop, each write holds whole frames, and nothing is written once
        the connection has started closing. (Compression is off, so frames
        need no per-connection state.)
        """
        if framed and conn.ws.protocol.state is State.OPEN:
            conn.ws.transport.write(b"".join(framed))
            if self._unstamped:
                now = time.time_ns()
                self.send_times.extend([(s, q, now) for s, q in self._unstamped])
                self._unstamped.clear()

    def _close(self, conn: Conn, reason: str, code: int = CLOSE_POLICY) -> None:
        if conn.close_reason is None:
            conn.close_reason = reason
        self._background(conn.ws.close(code, reason))

    def _background(self, coro: Any) -> None:
        """Run ``coro`` as a task the server keeps a reference to until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # -- pushes -------------------------------------------------------------------

    def _sent(self, conn: Conn, trade: Trade) -> None:
        # only what is really written counts: _write() writes nothing once the
        # connection has started closing, so neither may the log
        if conn.ws.protocol.state is not State.OPEN:
            return
        conn.trades_sent += 1
        if self.opts.record_sent:
            self.sent.append((conn.id, trade.symbol, trade.seq))
        if self.opts.stamp_sent:
            self._unstamped.append((trade.symbol, trade.seq))

    def _book_frame(self, symbol: str, depth: int) -> bytes:
        last = self.market.latest(symbol)
        bids, asks = self.market.book(symbol, depth)
        return frames.ws_text(self.encoder.book(symbol, last.seq, last.ts, bids, asks))

    def _emit(self, n: int) -> None:
        """Make ``n`` market trades and send each (and its book) to its subscribers.

        A push is encoded once whatever the number of subscribers; books are
        taken right after their trade, so they match it; each connection gets
        its share of the batch in one write.
        """
        market = self.market
        ts = now_ms()
        if self.stalled:
            market.next_trades(n, ts)  # the market lives on; nobody hears it
            if self.scenario is not None:
                self.scenario.inject(market, ts)
            return
        out: dict[Conn, list[bytes]] = {}
        encoder = self.encoder
        for symbol in market.pick(n):
            trade = market.next_trade(symbol, ts)
            if trade is None:
                continue
            self._push(trade, out, encoder)
        if self.scenario is not None:  # its trades, each pushed (with its book) as it is made
            self.scenario.inject(market, ts, lambda t: self._push(t, out, encoder))
        for conn, framed in out.items():
            self._write(conn, framed)

    def _push(self, trade: Trade, out: dict[Conn, list[bytes]], encoder: Any) -> None:
        """Queue ``trade`` (and the book right after it) for each subscriber in ``out``."""
        market = self.market
        symbol = trade.symbol
        subs = self._trade_subs.get(symbol)
        if subs:
            frame = frames.ws_text(encoder.trade(trade))
            for conn in subs:
                out.setdefault(conn, []).append(frame)
                self._sent(conn, trade)
        bsubs = self._book_subs.get(symbol)
        if bsubs:
            bids, asks = market.book(symbol, max(bsubs.values()))
            by_depth: dict[int, bytes] = {}
            for conn, depth in bsubs.items():
                book = by_depth.get(depth)
                if book is None:
                    book = by_depth[depth] = frames.ws_text(
                        encoder.book(symbol, trade.seq, trade.ts, bids[:depth], asks[:depth])
                    )
                out.setdefault(conn, []).append(book)

    async def _replay_loop(self) -> None:
        """Push the replay's trades when due, from the first trade subscription on.

        At ``--speed max`` this waits for every subscriber's socket to drain
        between batches (flow control), as firehose mode does.
        """
        loop = asyncio.get_running_loop()
        source = self.replay
        while not self._trade_subs:
            await asyncio.sleep(RATE_TICK_S)
        source.start(loop.time())
        while True:
            if self.stalled:
                await self._unstalled.wait()
            pushes = source.due(loop.time(), FIREHOSE_BATCH)
            if pushes:
                out: dict[Conn, list[bytes]] = {}
                for symbol, payload in pushes:
                    subs = self._trade_subs.get(symbol)
                    if subs:
                        frame = frames.ws_text(payload)
                        for conn in subs:
                            out.setdefault(conn, []).append(frame)
                            conn.trades_sent += 1
                for conn, framed in out.items():
                    self._write(conn, framed)
                    if conn.ws.protocol.state is State.OPEN:
                        try:
                            await conn.ws.drain()
                        except ConnectionClosed:
                            pass
                await asyncio.sleep(0)
                continue
            wait = source.wait(loop.time())
            if wait is None:
                return
            await asyncio.sleep(min(wait, RATE_TICK_S) if wait > 0 else 0)

    async def _rate_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        carry = 0.0
        while True:
            await asyncio.sleep(RATE_TICK_S)
            now = loop.time()
            elapsed = min(now - last, 0.5)  # never burst after a pause
            last = now
            carry += max(self.opts.rate, 0.0) * elapsed
            n = int(carry)
            if n:
                carry -= n
                self._emit(n)

    def _refresh_firehose(self, conn: Conn) -> None:
        if conn.firehose is None:
            return
        conn.live, conn.cum = self.market.chooser(list(dict.fromkeys([*conn.trades, *conn.books])))
        conn.wake.set()

    async def _firehose(self, conn: Conn) -> None:
        """Push trades of ``conn``'s symbols as fast as its socket takes them."""
        try:
            await self._firehose_loop(conn)
        except ConnectionClosed:
            pass

    async def _firehose_loop(self, conn: Conn) -> None:
        ws = conn.ws
        limit = self.opts.firehose_count
        market = self.market
        encoder = self.encoder
        ws_text = frames.ws_text
        while ws.protocol.state is State.OPEN:
            remaining = (
                FIREHOSE_BATCH if limit is None else min(FIREHOSE_BATCH, limit - conn.trades_sent)
            )
            if self.stalled:
                await self._unstalled.wait()
                continue
            if remaining <= 0 or not conn.live:
                conn.wake.clear()
                await conn.wake.wait()
                continue
            ts = now_ms()
            batch: list[bytes] = []
            for symbol in market.pick_from(conn.live, conn.cum, remaining):
                trade = market.next_trade(symbol, ts)
                if trade is None:
                    continue
                if symbol in conn.trades:
                    batch.append(ws_text(encoder.trade(trade)))
                    self._sent(conn, trade)
                depth = conn.books.get(symbol)
                if depth:
                    bids, asks = market.book(symbol, depth)
                    batch.append(ws_text(encoder.book(symbol, trade.seq, trade.ts, bids, asks)))
            self._write(conn, batch)
            # Flow control: wait while the socket's buffer is above the
            # high-water mark, as the websockets library's send() does.
            await conn.ws.drain()
            # drain() only yields when the buffer is full; a fast reader would
            # otherwise let this loop starve heartbeats and other connections.
            await asyncio.sleep(0)

    # -- watchdog ---------------------------------------------------------------------

    async def _watchdog(self) -> None:
        """Close connections that stopped heart-beating or stopped reading."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(0.25, self.opts.heartbeat_timeout / 4))
            now = loop.time()
            for conn in list(self._conns.values()):
                if conn.plan is None or conn.close_reason is not None:
                    continue
                if conn.ws.protocol.state is not State.OPEN:
                    continue
                if not self.stalled and now - conn.last_heartbeat > self.opts.heartbeat_timeout:
                    self._close(conn, "heartbeat timeout")
                elif conn.ws.transport.get_write_buffer_size() > SLOW_CONSUMER_BYTES:
                    conn.close_reason = "slow consumer (write buffer full)"
                    conn.ws.transport.abort()

    # -- control (called on the loop by MarketServer) -------------------------------------

    def connections(self) -> list[ConnectionInfo]:
        conns = sorted([*self._closed, *self._conns.values()], key=lambda c: c.id)
        return [c.snapshot() for c in conns]

    def disconnect_all(self, mode: str) -> int:
        if mode not in ("close", "reset"):
            raise ValueError("mode must be 'close' or 'reset'")
        conns = [c for c in self._conns.values() if c.ws.protocol.state is State.OPEN]
        for conn in conns:
            conn.close_reason = f"disconnect_all({mode})"
            if mode == "close":
                self._close(conn, "server going away", CLOSE_GOING_AWAY)
            else:
                sock = conn.ws.transport.get_extra_info("socket")
                if sock is not None:
                    # SO_LINGER with a zero timeout turns close() into a TCP RST.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.ws.transport.abort()
        return len(conns)

    def stall(self, on: bool) -> None:
        self.stalled = on
        if on:
            self._unstalled.clear()
        else:
            loop_now = asyncio.get_running_loop().time()
            for conn in self._conns.values():
                # the frozen period does not count against the client
                conn.last_heartbeat = max(conn.last_heartbeat, loop_now)
            self._unstalled.set()

    def push_raw(self, data: str | bytes, binary: bool, conn_id: int | None) -> int:
        conns = [
            c
            for c in self._conns.values()
            if c.plan is not None
            and c.ws.protocol.state is State.OPEN
            and (conn_id is None or c.id == conn_id)
        ]
        broadcast([c.ws for c in conns], data, text=not binary)
        return len(conns)

    def push_trade(self, symbol: str, conn_id: int | None) -> int:
        """Make the next market trade of ``symbol`` and push it to every open
        connection (or ``conn_id``) whether or not it subscribed to ``symbol``."""
        trade = self.market.next_trade(symbol, now_ms())
        if trade is None:
            raise ValueError(f"{symbol} is suspended: it does not trade")
        framed = [frames.ws_text(self.encoder.trade(trade))]
        conns = [
            c
            for c in self._conns.values()
            if c.plan is not None
            and c.ws.protocol.state is State.OPEN
            and (conn_id is None or c.id == conn_id)
        ]
        for conn in conns:
            self._write(conn, framed)
        return len(conns)

    def next_ret(self, cmd_id: int, ret: int, msg: str | None) -> None:
        self._overrides.setdefault(cmd_id, deque()).append((ret, msg))

    def set_rate(self, rate: float) -> None:
        if rate < 0:
            raise ValueError("rate must be >= 0")
        self.opts.rate = rate
