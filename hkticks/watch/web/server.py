"""The dashboard's local server: the page, its files and one WebSocket, on one port.

One asyncio loop (its own thread) owns everything the page sees: every
:data:`PUMP_S` it runs the board's pump (the same
:class:`~hkticks.watch.pump.BoardPump` as the terminal board: queue ->
model, buffers and the anomaly engine), and every
:data:`~hkticks.watch.web.state.DIFF_INTERVAL_S` it sends each page a diff.
Only that loop touches the model, so nothing is locked.

Security (the page is a view of a trading feed on someone's machine):

- it binds ``127.0.0.1`` by default; the Host header must name the address
  it was bound to (or ``localhost``), so a DNS-rebinding host name gets 403;
- the WebSocket's Origin must be this server's own origin: a page served by
  another site cannot read the feed (403);
- bound beyond loopback it requires an access token (``--auth``): asked once
  by a small form, then kept in an HttpOnly, SameSite=Strict cookie;
- every answer carries a Content-Security-Policy allowing only this origin,
  and the page gets no AllTick token nor any URL with one.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from importlib import resources
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers, MultipleValuesError
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from hkticks.errors import HkticksError, UsageError
from hkticks.watch.alert_feed import watchlist_groups
from hkticks.watch.buffers import TIMEFRAMES
from hkticks.watch.heatmap import StableLayout, tiles_from_rows
from hkticks.watch.web import state as st

log = logging.getLogger(__name__)

PUMP_S = 0.025
COOKIE = "hkticks_dash"
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
MAX_CLIENT_MESSAGE = 4096
MAX_CLIENTS = 64  # pages open at once
MAX_OUTBOX = 64  # messages queued for a page before it is resynchronised by a snapshot
MAX_FAILED_LOGINS = 5  # wrong tokens a minute
CLIENT_RATE = 20.0  # messages a second a page may send (a burst of twice that)
GROUPINGS = ("watchlists", "sectors", "none")


def socket_errors() -> tuple[type[BaseException], ...]:
    """The errors of a host name that does not resolve (not a port in use)."""
    import socket

    return (socket.gaierror,)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def static_file(name: str) -> bytes | None:
    """A file of the page (``static/``), or ``None``: no path leaves that folder."""
    if "/" in name or "\\" in name or name.startswith(".") or not name:
        return None
    try:
        return (resources.files("hkticks.watch.web") / "static" / name).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


class _Client:
    """One page: its heatmap's size and options (kept in place by its own
    :class:`~hkticks.watch.heatmap.StableLayout`) and the symbol it shows in detail."""

    __slots__ = (
        "ws",
        "layout",
        "width",
        "height",
        "size",
        "grouping",
        "detail",
        "timeframe",
        "outbox",
        "wake",
        "resync",
    )

    def __init__(self, ws: ServerConnection, size: str, grouping: str) -> None:
        self.ws = ws
        # what is to be sent, written by the page's own task: a page that reads slowly
        # never holds up the others; one that falls behind gets a new snapshot instead
        self.outbox: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.resync = False
        # a group's name row: 8 cells of 2 px in the page's grid, as one row is in a terminal
        self.layout = StableLayout(header_rows=st.HEADER_CELLS)
        self.width = self.height = 0
        self.size = size
        self.grouping = grouping
        self.detail: str | None = None
        self.timeframe = "1D"


class DashServer:
    """Serve the board to browsers until :meth:`stop` (or the feed ends)."""

    def __init__(
        self,
        *,
        pump: Any,
        model: Any,
        buffers: Any,
        host: str = "127.0.0.1",
        port: int = 8765,
        auth: str | None = None,
        size: str = "cap",
        clamp: float = 3.0,
        colors: str = "west",
        watchlists: Mapping[str, Sequence[str]] | None = None,
        sectors: Mapping[str, str] | None = None,
        history: Callable[[str, str], Sequence[Any] | None] | None = None,
        request_shares: Callable[[], None] | None = None,
        replay_status: Callable[[], str | None] | None = None,
        simulated: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not is_loopback(host) and not auth:
            raise UsageError(
                f"--host {host} makes the dashboard reachable from other machines: "
                "set an access token with --auth TOKEN (or HKTICKS_DASH_AUTH)"
            )
        self.pump = pump
        self.model = model
        self.buffers = buffers
        self.host = host
        self.port = port
        self.auth = auth
        self.size = size
        self.clamp = clamp
        self.colors = colors
        self.groupings = {
            "watchlists": watchlist_groups(watchlists or {}),
            "sectors": dict(sectors or {}),
            "none": {},
        }
        self.grouping = next(g for g in GROUPINGS if self.groupings[g] or g == "none")
        self.history = history
        self.request_shares = request_shares
        self.replay_status = replay_status
        self.simulated = simulated  # known before any trade (a recording's provenance)
        self.clock = clock
        self.alerts: deque[dict[str, Any]] = deque(maxlen=st.MAX_ALERTS)
        self.error: HkticksError | None = None
        self.ended = False
        self.frames_sent = 0
        self._session = secrets.token_urlsafe(24)
        self._failed_logins: deque[float] = deque()
        self._alert_id = 0
        self._clients: set[_Client] = set()
        self._differ = st.RowDiffer(clamp)
        self._new_alerts: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._start_error: BaseException | None = None
        self._stop_requested: asyncio.Event | None = None
        pump.on_alert = self._on_alert

    # -- life cycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The address to open: bound to every interface, the machine's own name."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            import socket

            host = socket.gethostname()
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Bind and start serving (raises a :class:`UsageError` when the port is taken)."""
        self._thread = threading.Thread(target=self._run, name="hkticks-dash", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            err = self._start_error
            if isinstance(err, socket_errors()):
                raise UsageError(
                    f"--host {self.host} is not an address of this machine ({err}): give an "
                    "IP address such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
                ) from None
            if isinstance(err, OSError):
                raise UsageError(
                    f"cannot listen on {self.host}:{self.port} ({err.strerror or err}): "
                    "choose another --port"
                ) from None
            raise err

    def stop(self) -> None:
        loop, ev = self._loop, self._stop_requested
        if loop is not None and ev is not None and not self._stopped.is_set():
            loop.call_soon_threadsafe(ev.set)
        if self._thread is not None:
            self._thread.join(10)

    def wait(self, timeout: float | None = None) -> bool:
        """Until the server stopped (the feed ended with an error, or :meth:`stop`)."""
        return self._stopped.wait(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start() or after the run
            if not self._ready.is_set():
                self._start_error = exc
                self._ready.set()
            else:
                log.warning("dashboard stopped: %s", exc)
        finally:
            self._stopped.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        self._server = await serve(
            self._handle,
            # one address family: "localhost" could bind ::1 and 127.0.0.1 on two ports
            "127.0.0.1" if self.host == "localhost" else self.host.strip("[]"),
            self.port,
            process_request=self._process_request,
            max_size=MAX_CLIENT_MESSAGE,
            compression=None,
            ping_interval=20,
            ping_timeout=20,
        )
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        pump_task = asyncio.create_task(self._pump_loop())
        await self._stop_requested.wait()
        pump_task.cancel()
        self._server.close()
        await self._server.wait_closed()

    # -- HTTP ------------------------------------------------------------------------

    def _host_allowed(self, host: str) -> bool:
        """Bound to loopback, the Host header must name this server (a DNS-rebinding name
        gets 403); bound beyond it, any name reaches the login form (``--auth`` guards)."""
        if not is_loopback(self.host.strip("[]")):
            return bool(host)
        port = str(self.port)
        names = {"localhost", "127.0.0.1", "[::1]", self.host}
        if ":" in self.host and not self.host.startswith("["):
            names.add(f"[{self.host}]")
        allowed = {f"{n}:{port}" for n in names}
        if port == "80":  # a browser leaves the default port out
            allowed |= names
        return host in allowed

    def _authorised(self, request: Request) -> bool:
        if not self.auth:
            return True
        expected = self._session.encode()
        for header in request.headers.get_all("Cookie"):
            for part in header.split(";"):
                name, _, value = part.strip().partition("=")
                # bytes: a cookie of any characters compares, never raises
                if name == COOKIE and hmac.compare_digest(
                    value.encode("utf-8", "surrogateescape"), expected
                ):
                    return True
        return False

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        try:
            return self._route(request)
        except MultipleValuesError:  # two Host or Origin headers: not a browser's request
            return _text(HTTPStatus.BAD_REQUEST, "400: a header given twice\n")

    def _route(self, request: Request) -> Response | None:
        host = request.headers.get("Host", "")
        if not self._host_allowed(host):
            return _text(
                HTTPStatus.FORBIDDEN, "403: this dashboard answers only to its own address\n"
            )
        path, _, _query = request.path.partition("?")
        if path == "/ws":
            origin = request.headers.get("Origin")
            if origin is None or origin != f"http://{host}":
                return _text(HTTPStatus.FORBIDDEN, "403: WebSocket from another origin refused\n")
            if not self._authorised(request):
                return _text(HTTPStatus.UNAUTHORIZED, "401: log in first\n")
            if len(self._clients) >= MAX_CLIENTS:
                return _text(HTTPStatus.SERVICE_UNAVAILABLE, "503: too many pages open\n")
            return None  # the handshake goes on
        if request.headers.get("Upgrade"):
            return _text(HTTPStatus.NOT_FOUND, "404\n")
        if path == "/login":
            return self._login(request)
        if path == "/session":  # the page asks whether it must log in again (a restart)
            ok = self._authorised(request)
            return _text(HTTPStatus.NO_CONTENT if ok else HTTPStatus.UNAUTHORIZED, "")
        if not self._authorised(request):
            if path in ("/", "/index.html"):
                return _page(static_file("login.html") or b"")
            if not (path.startswith("/static/") and path[8:] in ("dash.css", "login.js")):
                return _text(HTTPStatus.UNAUTHORIZED, "401: log in first\n")
        if path in ("/", "/index.html"):
            return _page(static_file("index.html") or b"")
        if path.startswith("/static/"):
            name = path[len("/static/") :]
            body = static_file(name)
            kind = STATIC_TYPES.get(name[name.rfind(".") :] if "." in name else "")
            if body is None or kind is None:
                return _text(HTTPStatus.NOT_FOUND, "404: no such file\n")
            return _response(HTTPStatus.OK, body, kind, cache=True)
        if path == "/favicon.ico":
            return _response(HTTPStatus.NO_CONTENT, b"", "text/plain")
        return _text(HTTPStatus.NOT_FOUND, "404: no such page\n")

    def _login(self, request: Request) -> Response:
        """The token comes in a header sent by the login form's script (never in a URL, so
        never in the browser's history); wrong tokens are limited to a few a minute."""
        now = time.monotonic()
        while self._failed_logins and now - self._failed_logins[0] > 60:
            self._failed_logins.popleft()
        if len(self._failed_logins) >= MAX_FAILED_LOGINS:
            return _text(
                HTTPStatus.TOO_MANY_REQUESTS, "429: too many wrong tokens, wait a minute\n"
            )
        given = request.headers.get("X-Hkticks-Auth", "").encode("utf-8", "surrogateescape")
        if not self.auth or not hmac.compare_digest(given, self.auth.encode()):
            self._failed_logins.append(now)
            return _text(HTTPStatus.UNAUTHORIZED, "401: wrong token\n")
        resp = _response(HTTPStatus.NO_CONTENT, b"", "text/plain")
        resp.headers["Set-Cookie"] = (
            f"{COOKIE}={self._session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=86400"
        )
        return resp

    # -- the feed --------------------------------------------------------------------

    def _on_alert(self, alert: Any) -> None:
        self._alert_id += 1  # the page drops an alert it already has (snapshot, then diff)
        msg = {**st.alert_message(alert), "id": self._alert_id}
        self.alerts.appendleft(msg)
        self._new_alerts.append(msg)

    async def _pump_loop(self) -> None:
        last_diff = 0.0
        last_detail = 0.0
        while True:
            now = self.clock()
            error = self.pump(now)
            if error is not None and self.error is None:
                self.error = error
                await self._broadcast({"type": "fatal", "message": str(error)})
                assert self._stop_requested is not None
                self._stop_requested.set()
                return
            if self.pump.ended and not self.ended:
                self.ended = True
            mono = time.monotonic()
            if mono - last_diff >= st.DIFF_INTERVAL_S:
                last_diff = mono
                await self._send_diffs(now)
            if mono - last_detail >= 1.0:
                last_detail = mono  # an open chart follows the trades once a second
                for client in list(self._clients):
                    await self._send_detail(client)
            await asyncio.sleep(PUMP_S)

    def _header(self, now: float) -> dict[str, Any]:
        replay = self.replay_status() if self.replay_status is not None else None
        return st.header_message(
            self.model, now, simulated=self.is_simulated, replay=replay, ended=self.ended
        )

    @property
    def is_simulated(self) -> bool:
        return self.simulated or bool(self.pump.simulated)

    def _layout(self, client: _Client, now: float) -> dict[str, Any] | None:
        """The page's heatmap layout when it was (re)computed, else ``None``."""
        if not client.width or not client.height:
            return None
        tiles, sized_by = tiles_from_rows(
            self.model.rows.values(), size=client.size, groups=self.groupings[client.grouping]
        )
        rows = st.cell_rows(client.height)
        m = self.model
        basis = (client.size, sized_by, client.grouping, m.reference, getattr(m, "shares", None))
        before = client.layout.layouts
        placed = client.layout.get(tiles, client.width, rows, now=now, basis=basis)
        if client.layout.layouts == before:
            return None
        msg = st.layout_message(placed, client.width, client.height, rows, sized_by)
        msg["shares"] = getattr(m, "shares", None)  # market caps: none | loading | ok | unavailable
        return msg

    def snapshot(self, client: _Client, now: float) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "header": self._header(now),
            "rows": [st.row_message(r) for r in self.model.rows.values()],
            "alerts": list(self.alerts),
            "options": {
                "size": client.size,
                "grouping": client.grouping,
                "groupings": [g for g in GROUPINGS if self.groupings[g] or g == "none"],
                "clamp": self.clamp,
                "colors": self.colors,
                "palette": st.palette(self.colors),
                "book": bool(getattr(self.model, "book", False)),
                "timeframes": {k: tf.label for k, tf in TIMEFRAMES.items()},
            },
        }

    async def _send_diffs(self, now: float) -> None:
        rows = self._differ.changed(self.model.rows.values())
        alerts, self._new_alerts = self._new_alerts, []
        if not self._clients:
            return
        message = orjson.dumps(
            {"type": "diff", "header": self._header(now), "rows": rows, "alerts": alerts}
        )
        for client in list(self._clients):
            await self._send(client, message)
            lay = self._layout(client, now)
            if lay is not None:
                await self._send(client, orjson.dumps(lay))

    async def _send(self, client: _Client, message: bytes) -> None:
        """Queue ``message`` for the page (never waits for it to be read)."""
        if len(client.outbox) >= MAX_OUTBOX:
            client.outbox.clear()  # behind: what it missed comes whole in a snapshot
            client.resync = True
        client.outbox.append(message)
        client.wake.set()

    async def _writer(self, client: _Client) -> None:
        """Send a page's queued messages, in order, as fast as it reads them."""
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                if client.resync:
                    client.resync = False
                    client.outbox.appendleft(orjson.dumps(self.snapshot(client, self.clock())))
                while client.outbox:
                    await client.ws.send(client.outbox.popleft().decode())
                    self.frames_sent += 1
        except ConnectionClosed:
            self._clients.discard(client)

    async def _broadcast(self, payload: dict[str, Any]) -> None:
        message = orjson.dumps(payload)
        for client in list(self._clients):
            await self._send(client, message)

    # -- one page --------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        client = _Client(ws, self.size, self.grouping)
        if client.size == "cap" and self.request_shares is not None:
            self.request_shares()  # once: the board fetches share counts on first need
        # a new page (or a page back after a reconnect) gets everything whole
        await self._send(client, orjson.dumps(self.snapshot(client, self.clock())))
        self._clients.add(client)
        writer = asyncio.create_task(self._writer(client))
        allowance, last = 2 * CLIENT_RATE, time.monotonic()
        ignored = 0
        try:
            async for raw in ws:
                # a page sends a few messages a second: a flood is ignored (then closed),
                # and every message yields to the loop, so no page can freeze the others
                now = time.monotonic()
                allowance = min(2 * CLIENT_RATE, allowance + (now - last) * CLIENT_RATE)
                last = now
                if allowance < 1.0:
                    ignored += 1
                    if ignored > 10 * CLIENT_RATE:
                        await ws.close(1008, "too many messages")
                        break
                    await asyncio.sleep(0)
                    continue
                allowance -= 1.0
                ignored = 0
                try:
                    msg = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(msg, dict):
                    await self._on_message(client, msg)
                await asyncio.sleep(0)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            writer.cancel()

    async def _on_message(self, client: _Client, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "size":
            w, h = _int(msg.get("w")), _int(msg.get("h"))
            if msg.get("size") in ("cap", "turnover"):
                client.size = str(msg["size"])
                if client.size == "cap" and self.request_shares is not None:
                    self.request_shares()
            if msg.get("grouping") in GROUPINGS:
                client.grouping = str(msg["grouping"])
            if 0 < w <= 10_000 and 0 < h <= 10_000:
                client.width, client.height = w, h
                lay = self._layout(client, self.clock())
                if lay is not None:
                    await self._send(client, orjson.dumps(lay))
        elif kind == "detail":
            code = msg.get("code")
            if isinstance(code, str) and code in self.model.rows:
                client.detail = code
                tf = msg.get("timeframe")
                client.timeframe = tf if isinstance(tf, str) and tf in TIMEFRAMES else "1D"
                self._fetch(code, client.timeframe)
                await self._send_detail(client)
            else:
                client.detail = None
        elif kind == "close_detail":
            client.detail = None

    async def _send_detail(self, client: _Client) -> None:
        code = client.detail
        if code is None:
            return
        detail = st.detail_message(
            code,
            self.buffers.get(code),
            self.model.rows.get(code),
            timeframe=client.timeframe,
            simulated=self.is_simulated,
        )
        await self._send(client, orjson.dumps(detail))

    def _fetch(self, code: str, timeframe: str) -> None:
        """The timeframe's bars from REST, once per symbol and timeframe (as the terminal's
        detail view fetches them), on a worker thread; merged on this loop."""
        buffer = self.buffers.get(code)
        if self.history is None or not buffer.wants_history(timeframe):
            return
        assert self._loop is not None
        loop, fetch = self._loop, self.history

        def work() -> None:
            try:
                bars = fetch(code, timeframe)
            except Exception as exc:  # REST trouble: the chart shows what the board saw
                log.warning(
                    "no %s bars for %s: %s", timeframe, code, str(exc).split("\n", 1)[0][:120]
                )
                bars = None
            loop.call_soon_threadsafe(buffer.take_history, timeframe, bars)

        loop.run_in_executor(None, work)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _response(status: HTTPStatus, body: bytes, kind: str, *, cache: bool = False) -> Response:
    headers = Headers()
    headers["Content-Type"] = kind
    headers["Content-Length"] = str(len(body))
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cache-Control"] = "no-cache" if not cache else "max-age=60"
    return Response(status.value, status.phrase, headers, body)


def _text(status: HTTPStatus, text: str) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8")


def _page(body: bytes, status: HTTPStatus = HTTPStatus.OK) -> Response:
    return _response(status, body, STATIC_TYPES[".html"])


def serve_until_stopped(
    server: DashServer,
    stop: Any,
    *,
    deadline: float | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Block until Ctrl-C/SIGTERM (``stop``), ``deadline`` (monotonic) or the server ends;
    then stop the server. The signal handler only sets the flag; ``announce`` gets the
    "dashboard at URL" line once it is installed (so a Ctrl-C right after it is clean)."""
    from hkticks.stopping import stop_on_signals

    try:
        with stop_on_signals(stop):
            if announce is not None:
                announce(f"dashboard at {server.url}  (Ctrl-C to stop)")
            while not stop.is_set() and not server.wait(0.2):
                if deadline is not None and time.monotonic() >= deadline:
                    stop.set("duration reached")
    finally:
        server.stop()
