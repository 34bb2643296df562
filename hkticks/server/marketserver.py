"""``MarketServer``: the simulated market, its WebSocket and REST servers, and
a thread-safe control API for tests.

The WebSocket side and the market run on one asyncio loop in a named daemon
thread ("hkticks-server"); the REST side runs in its own thread and hands
market reads to the loop. Every public method may be called from any other
thread: it is marshalled onto the loop and waits for the result, so a test
sees the state after its call took effect.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import IO, Any, TypeVar

from hkticks.alltick import protocol as alltick
from hkticks.errors import HkticksError, OutputError
from hkticks.server import simulated_stocks
from hkticks.server.market import Market
from hkticks.server.replaysource import ReplaySource
from hkticks.server.rest_server import MAX_CONNECTIONS, READ_TIMEOUT_S, RestApp, RestServer
from hkticks.server.stocklists import SSE_SQL_ID, SZSE_CATALOG_ID
from hkticks.server.ws_connections import ConnectionInfo, WsOptions
from hkticks.server.wsserver import WsServer

T = TypeVar("T")
QUIRKS: dict[str, str] = {
    "strings": "seq and tick_time as strings (as the REST answers send them)",
    "seconds": "tick_time in seconds (as AllTick's documented example shows)",
    "numbers": "price, volume and turnover as JSON numbers",
    "extras": "undocumented answer fields: invalid_codes, max_items/max_symbols, reasons",
}
HKT = timezone(timedelta(hours=8))
CALL_TIMEOUT_S = 10.0


class MarketServer:
    """An AllTick-compatible server over a simulated Hong Kong market.

    See ``hkticks/server/wsserver.py`` for the protocol rules it enforces.
    ``token``/``plan`` and ``tokens`` (token -> plan name) say which tokens
    are valid; ``rate`` is trades per second across the whole market;
    ``firehose`` instead pushes each connection's symbols as fast as it
    reads (``firehose_count``: stop after that many trades per connection).
    ``replay`` pushes the trades of a recording instead of simulated ones
    (``hkticks replay --serve``); REST answers stay simulated.

    Pushes carry AllTick's documented types; ``quirks`` (any of
    :data:`QUIRKS`) sends the variants a client must tolerate instead.
    ``tls_cert``/``tls_key`` (PEM files) serve ``wss://`` and ``https://``.
    ``scenario``
    names a :mod:`hkticks.server.scenarios` scenario injected into the rate
    loop's trades (its truth appended to ``scenario_truth`` as JSONL).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        rest_port: int = 0,
        token: str | None = "t",
        plan: str = "all-hk",
        tokens: dict[str, str] | None = None,
        rate: float = 200.0,
        firehose: bool = False,
        firehose_count: int | None = None,
        seed: int | None = None,
        heartbeat_timeout: float = alltick.HEARTBEAT_TIMEOUT_S,
        enforce_pacing: bool = True,
        over_limit: str = "ignore",
        resend_latest: bool = True,
        tick_time_unit: str = "ms",
        numbers_as_strings: bool = True,
        record_sent: bool = False,
        stamp_sent: bool = False,
        enforce_rest_rate: bool = True,
        reject_handshake_status: int | None = None,
        replay: ReplaySource | None = None,
        ids_as_strings: bool = False,
        quirks: Iterable[str] = (),
        tls_cert: str | None = None,
        tls_key: str | None = None,
        rest_max_connections: int | None = None,
        rest_read_timeout: float | None = None,
        simulated: bool = True,
        scenario: str | None = None,
        scenario_truth: str | None = None,
    ) -> None:
        if plan not in alltick.PLANS:
            raise ValueError(f"unknown plan {plan!r}; choose one of {', '.join(alltick.PLANS)}")
        if heartbeat_timeout <= 0:
            raise ValueError("heartbeat_timeout must be positive")
        if rate < 0:
            raise ValueError("rate must be >= 0")
        quirks = set(quirks)
        unknown = quirks - set(QUIRKS)
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}; choose from {', '.join(QUIRKS)}")
        if "strings" in quirks:
            ids_as_strings = True
        if "seconds" in quirks:
            tick_time_unit = "s"
        if "numbers" in quirks:
            numbers_as_strings = False
        extras = "extras" in quirks
        self.tls: ssl.SSLContext | None = None
        if tls_cert or tls_key:
            self.tls = _tls_context(tls_cert, tls_key)
        all_tokens = dict(tokens or {})
        if token:
            all_tokens[token] = plan
        self.host = host
        self._want_port = port
        self._want_rest_port = rest_port
        self.port = 0
        self.rest_port = 0
        self.stocks = simulated_stocks.stocks()
        start_ms = time.time_ns() // 1_000_000
        self.market = Market(self.stocks, seed=seed, start_ms=start_ms)
        if not firehose:
            # minute bars of every trade from the start, so `kline` type 1 agrees with any
            # recording made against this server (validate --kline); the firehose (bench)
            # keeps trade generation free of them until a client asks
            self.market.track_minutes()
        self.list_date = datetime.fromtimestamp(start_ms / 1000, HKT).strftime("%Y-%m-%d")
        self._ws = WsServer(
            self.market,
            WsOptions(
                tokens=all_tokens,
                rate=rate,
                firehose=firehose,
                firehose_count=firehose_count,
                heartbeat_timeout=heartbeat_timeout,
                enforce_pacing=enforce_pacing,
                over_limit=over_limit,
                resend_latest=resend_latest,
                tick_time_unit=tick_time_unit,
                numbers_as_strings=numbers_as_strings,
                ids_as_strings=ids_as_strings,
                record_sent=record_sent,
                stamp_sent=stamp_sent,
                simulated=simulated,
                extras=extras,
            ),
            replay=replay,
        )
        self._ws.reject_handshake_status = reject_handshake_status
        self._truth_file: IO[bytes] | None = None
        self.dirty: Any = None  # the data-quality faults of --scenario dirty
        if scenario is not None:
            from hkticks.server import scenarios

            if scenario_truth is not None:
                try:
                    self._truth_file = open(scenario_truth, "ab")  # noqa: SIM115 (stop() closes it)
                except OSError as exc:
                    raise OutputError(
                        f"cannot write the scenario truth log {scenario_truth}: {exc.strerror}"
                    ) from None
            self._ws.scenario = scenarios.make(
                scenario,
                scenarios.ScenarioOptions(seed=seed, rate=rate, truth_file=self._truth_file),
            )
            if scenarios.parse_spec(scenario)[0] == "dirty":
                from hkticks.server.dirty_scenario import DirtyFeed

                self.dirty = DirtyFeed(
                    self.market, seed=seed, truth_file=self._truth_file
                ).install()
        self._rest_app = RestApp(
            tokens=all_tokens,
            stocks=self.stocks,
            call=self.call,
            list_date=self.list_date,
            enforce_rate=enforce_rest_rate,
            seed=seed,
            extras=extras,
        )
        self._rest_limits: dict[str, float] = {}
        if rest_max_connections is not None:
            self._rest_limits["max_connections"] = rest_max_connections
        if rest_read_timeout is not None:
            self._rest_limits["read_timeout"] = rest_read_timeout
        self._rest: RestServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    # -- URLs -------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        """``ws://HOST:PORT/quote-stock-b-ws-api`` (no token: the client adds it)."""
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{self.host}:{self.port}{alltick.WS_PATH}"

    @property
    def rest_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.rest_port}{alltick.REST_PATH}"

    @property
    def sse_url(self) -> str:
        return (
            f"http://{self.host}:{self.rest_port}/commonQuery.do?sqlId={SSE_SQL_ID}"
            "&isPagination=true&pageHelp.pageSize=2000&pageHelp.pageNo=1"
            "&pageHelp.beginPage=1&pageHelp.endPage=1&pageHelp.cacheSize=1"
        )

    @property
    def szse_url(self) -> str:
        return (
            f"http://{self.host}:{self.rest_port}/api/report/ShowReport/data"
            f"?SHOWTYPE=JSON&CATALOGID={SZSE_CATALOG_ID}&TABKEY=tab1"
        )

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> MarketServer:
        """Start listening; returns once both ports accept connections.

        Raises :class:`~hkticks.errors.HkticksError` when a port cannot be bound.
        """
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("MarketServer already started")
            loop = asyncio.new_event_loop()
            ready: concurrent.futures.Future[int] = concurrent.futures.Future()
            self._loop = loop
            self._thread = threading.Thread(
                target=self._run, args=(loop, ready), name="hkticks-server", daemon=True
            )
            self._thread.start()
            try:
                self.port = ready.result(timeout=CALL_TIMEOUT_S)
            except OSError as exc:
                self._thread.join(CALL_TIMEOUT_S)
                self._stopped = True
                raise _bind_error(self.host, self._want_port, exc, "WebSocket", "--port") from None
            try:
                self._rest = RestServer(
                    self.host,
                    self._want_rest_port,
                    self._rest_app,
                    tls=self.tls,
                    max_connections=int(self._rest_limits.get("max_connections", MAX_CONNECTIONS)),
                    read_timeout=self._rest_limits.get("read_timeout", READ_TIMEOUT_S),
                )
            except OSError as exc:
                self._stop_loop()
                self._stopped = True
                raise _bind_error(
                    self.host, self._want_rest_port, exc, "REST", "--rest-port"
                ) from None
            self.rest_port = self._rest.port
            self._rest.start()
        return self

    def _run(self, loop: asyncio.AbstractEventLoop, ready: concurrent.futures.Future[int]) -> None:
        asyncio.set_event_loop(loop)
        try:
            port = loop.run_until_complete(self._ws.start(self.host, self._want_port, tls=self.tls))
        except BaseException as exc:
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(port)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(self._ws.aclose())
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=2.0))
            finally:
                loop.close()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(CALL_TIMEOUT_S)

    def stop(self) -> None:
        """Close every connection, stop both servers and join their threads. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._rest is not None:
                self._rest.stop()
            self._stop_loop()
            if self._truth_file is not None:
                self._truth_file.close()

    def __enter__(self) -> MarketServer:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopped

    # -- running code on the loop ---------------------------------------------------

    def call(self, fn: Callable[[Market], T]) -> T:
        """Run ``fn(market)`` on the server's loop and return its result.

        The market is not thread-safe; this is the way for other threads
        (tests, the REST handlers) to read it.
        """
        return self._on_loop(lambda: fn(self.market))

    def _on_loop(self, fn: Callable[[], T]) -> T:
        loop = self._loop
        if loop is None or self._thread is None or not self._thread.is_alive():
            return fn()  # not running: nothing else touches the state
        if threading.current_thread() is self._thread:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=CALL_TIMEOUT_S)

    # -- test and fault controls ------------------------------------------------------

    def connections(self) -> list[ConnectionInfo]:
        """Snapshots of every connection so far (open and closed), oldest first."""
        return self._on_loop(self._ws.connections)

    def sent_trades(self) -> list[tuple[int, str, int]]:
        """With ``record_sent=True``: (connection id, five-digit symbol, seq) in send order."""
        return self._on_loop(lambda: list(self._ws.sent))

    def sent_times(self) -> list[tuple[str, int, int]]:
        """With ``stamp_sent=True``: (five-digit symbol, seq, ``time.time_ns()``
        when the push was written to the socket) for every trade, in send order.

        For latency benchmarks: ``tick_time`` only has millisecond resolution.
        """
        return self._on_loop(lambda: list(self._ws.send_times))

    def disconnect_all(self, mode: str = "close") -> int:
        """Drop every open connection: ``"close"`` sends a close frame (1001),
        ``"reset"`` aborts the TCP connection (RST). Returns how many."""
        return self._on_loop(lambda: self._ws.disconnect_all(mode))

    def stall(self, on: bool = True) -> None:
        """Freeze (``True``) or unfreeze the WebSocket side: no pushes, no answers,
        connections stay open and heart-beat timeouts are suspended."""
        self._on_loop(lambda: self._ws.stall(on))

    def push_raw(self, data: str | bytes, binary: bool = False, conn_id: int | None = None) -> int:
        """Send ``data`` as one frame (text unless ``binary``) to every open
        connection or to ``conn_id``; bytes in a text frame are sent as they are,
        valid UTF-8 or not. Returns how many connections got it."""
        return self._on_loop(lambda: self._ws.push_raw(data, binary, conn_id))

    def push_trade(self, symbol: str, conn_id: int | None = None) -> int:
        """Push the next simulated trade of ``symbol`` (five-digit code) to every
        open connection or to ``conn_id``, subscribed to it or not: a provider
        sending what was never asked for. Not in :meth:`sent_trades`. Returns
        how many connections got it."""
        return self._on_loop(lambda: self._ws.push_trade(symbol, conn_id))

    def next_ret(self, cmd_id: int, ret: int, msg: str | None = None) -> None:
        """Answer the next request with ``cmd_id`` (any connection) with ``ret``
        instead of handling it; 401 and 606 then close the connection. Calls queue."""
        self._on_loop(lambda: self._ws.next_ret(cmd_id, ret, msg))

    def set_rate(self, rate: float) -> None:
        """Change the market's trades per second on the fly."""
        self._on_loop(lambda: self._ws.set_rate(rate))

    @property
    def reject_handshake_status(self) -> int | None:
        """``None`` or an HTTP status (401, 403, 503) with which to refuse upgrades."""
        return self._ws.reject_handshake_status

    @reject_handshake_status.setter
    def reject_handshake_status(self, status: int | None) -> None:
        self._ws.reject_handshake_status = status  # one attribute store: atomic

    @property
    def handshake_fault(self) -> str | None:
        """``None``, ``"close"`` or ``"partial"``: drop every new connection during
        its opening handshake, without an answer or after half a 101 response."""
        return self._ws.handshake_fault

    @handshake_fault.setter
    def handshake_fault(self, fault: str | None) -> None:
        if fault not in (None, "close", "partial"):
            raise ValueError("handshake_fault must be None, 'close' or 'partial'")
        self._ws.handshake_fault = fault


def _tls_context(cert: str | None, key: str | None) -> ssl.SSLContext:
    """A server TLS context from PEM files; a one-line error when they do not load."""
    if not cert:
        raise HkticksError("--tls-key needs --tls-cert (the certificate, PEM)")
    for path, option in ((cert, "--tls-cert"), (key, "--tls-key")):
        if path and not os.path.isfile(path):
            raise HkticksError(f"cannot read {path}: no such file; check {option}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    asked: list[bool] = []

    def no_passphrase() -> bytes:
        # called only for an encrypted key: refuse here instead of OpenSSL's tty prompt
        asked.append(True)
        raise ValueError("encrypted key")

    try:
        ctx.load_cert_chain(cert, key or None, password=no_passphrase)
    except (ssl.SSLError, OSError, ValueError):
        if asked:
            raise HkticksError(
                f"the TLS key {key or cert} is encrypted (it needs a passphrase): give an "
                "unencrypted key with --tls-key, e.g. openssl pkey -in KEY -out plain.pem"
            ) from None
        raise HkticksError(
            f"cannot load the TLS certificate {cert} (not a PEM certificate with its key?): "
            "give a PEM certificate with --tls-cert and its private key with --tls-key"
        ) from None
    return ctx


def _bind_error(host: str, port: int, exc: OSError, what: str, option: str) -> HkticksError:
    if exc.errno == errno.EADDRINUSE:
        return HkticksError(
            f"cannot listen on {host}:{port} for {what}: the port is in use; "
            f"choose another with {option}"
        )
    if isinstance(exc, socket.gaierror) or not exc.errno:  # the host name did not resolve
        reason = str(exc.strerror or exc).lower()
    else:
        reason = os.strerror(exc.errno).lower()
    return HkticksError(
        f"cannot listen on {host}:{port} for {what} ({reason}): check --host and {option}"
    )
