"""The REST side: AllTick's quote REST endpoints and the Stock Connect lists.

Served by a stdlib ``ThreadingHTTPServer`` on its own port. The simulated
market lives on the WebSocket loop's thread, so every read of it is handed
to that thread (``call``) instead of taking locks in the hot path of trade
generation.

AllTick semantics kept here (``http_interface/*.md`` of AllTick's
documentation): the token in the query string (wrong or missing:
``{"ret":401}``); a JSON ``query`` parameter for GETs (bad or missing: 402)
whose header needs ``trace`` (a string of at most 64 characters) and
``data`` (an object), else ``400 "request header param invalid"``, and
whose ``data`` must hold what the endpoint needs, else ``400 "request data
param invalid"``; a JSON body for ``batch-kline`` (empty: 601). Every
answer echoes ``trace``. ``trade-tick``, ``depth-tick`` and ``static_info``
on free process the first 5 codes of a longer list (paid plans are advised
50 a call for the URL's length, not cut); ``kline`` answers one code with up to 500 bars;
``batch-kline`` answers the latest 1 or 2 bars per code x type item, at most
the plan's items per query (free 5, basic 100, premium 200, others 500;
more: 603). ``kline_type`` 1, 2, 3, 4, 5, 8, 9, 10 (6 and 7, 2 h and 4 h,
are not offered for stocks: 400). Rates per token (:class:`~hkticks.server.rest_limits.RateLimiter`):
the plan's combined rate over every endpoint, ``batch-kline``'s own
interval, a per-minute total and a daily cap (reset at midnight, Hong Kong
time); beyond any of them: 429. Unknown codes are skipped; a
request naming only unknown codes gets 600 (``data.invalid_codes`` only
with the ``extras`` quirk: AllTick documents no such field).
Answers are HTTP 200 with the ``ret`` inside, like AllTick's.

The request log of ``http.server`` is silenced: it would print every URL,
token included. A client that resets its connection or goes idle costs no
traceback: sockets have a read timeout and the number of connections
served at once is capped (more are answered 503 and closed; on the TLS
port the 503 is sent inside TLS, after a handshake bounded in time).
"""

from __future__ import annotations

import logging
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from hkticks.alltick import protocol as alltick
from hkticks.server import stocklists
from hkticks.server.klines import KlineInputs, KlineSource
from hkticks.server.market import Market
from hkticks.server.rest_answers import (
    _bar,
    _codes,
    _data_invalid,
    _envelope,
    _kline_item,
    _Refused,
    _split,
    depth_tick_data,
    static_info_data,
    trade_tick_data,
)
from hkticks.server.rest_limits import RateLimiter, codes_cap
from hkticks.server.simulated_stocks import Stock

log = logging.getLogger("hkticks.server")

TRADE_TICK_PATH = alltick.REST_PATH + "trade-tick"
DEPTH_TICK_PATH = alltick.REST_PATH + "depth-tick"
STATIC_INFO_PATH = alltick.REST_PATH + "static_info"
KLINE_PATH = alltick.REST_PATH + "kline"
BATCH_KLINE_PATH = alltick.REST_PATH + "batch-kline"
SSE_PATH = "/commonQuery.do"
SZSE_PATH = "/api/report/ShowReport/data"
KLINE_DAILY = alltick.KLINE_DAY
MAX_BODY = 1 << 20
READ_TIMEOUT_S = 10.0  # an idle or slow client's socket is closed after this
MAX_CONNECTIONS = 64  # REST connections served at once
_ENDPOINTS = {
    TRADE_TICK_PATH: ("trade-tick", "GET"),
    DEPTH_TICK_PATH: ("depth-tick", "GET"),
    STATIC_INFO_PATH: ("static_info", "GET"),
    KLINE_PATH: ("kline", "GET"),
    BATCH_KLINE_PATH: ("batch-kline", "POST"),
}

Answer = tuple[int, str, bytes]  # HTTP status, content type, body
JSON_TYPE = "application/json;charset=UTF-8"


class RestApp:
    """Routes and answers requests. ``call(fn)`` runs ``fn(market)`` where the market lives."""

    def __init__(
        self,
        *,
        tokens: dict[str, str],
        stocks: tuple[Stock, ...],
        call: Callable[[Callable[[Market], Any]], Any],
        list_date: str,
        enforce_rate: bool = True,
        seed: int | None = None,
        extras: bool = False,
    ) -> None:
        self.tokens = tokens
        # undocumented answer fields (reasons, ``invalid_codes``, ``max_items``): quirks only
        self.extras = extras
        self.stocks = stocks
        self.call = call
        self.list_date = list_date
        self.enforce_rate = enforce_rate
        self.limiter = RateLimiter()
        self.klines = KlineSource(seed or 0)

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        """Answer one HTTP request (``headers`` with lower-case names)."""
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path
        if path == SSE_PATH and method == "GET":
            return self._sse(query, headers)
        if path == SZSE_PATH and method == "GET":
            return self._szse(query)
        if path not in _ENDPOINTS:
            return 404, "text/plain", b"not found\n"
        endpoint, wanted_method = _ENDPOINTS[path]
        if method != wanted_method:
            return 405, "text/plain", b"method not allowed\n"
        trace: Any = None
        try:
            malformed: _Refused | None = None
            q: Any = None
            try:
                q = self._body(body) if path == BATCH_KLINE_PATH else self._query(query)
                trace = q.get("trace")
            except _Refused as exc:
                malformed = exc
            token = (query.get("token") or [""])[0]
            plan_name = self.tokens.get(token) if token else None
            if plan_name is None:
                raise _Refused(alltick.RET_TOKEN_INVALID)
            if malformed is not None:
                raise malformed
            plan = alltick.PLANS[plan_name]
            _header(q)
            if self.enforce_rate and not self.limiter.allow(token, endpoint, plan):
                raise _Refused(alltick.RET_RATE_LIMIT)
            data = q["data"]
            if path == KLINE_PATH:
                return self._ok(trace, self._kline(data))
            if path == BATCH_KLINE_PATH:
                return self._ok(trace, self._batch_kline(data, plan))
            codes = _codes(data)
            cap = codes_cap(plan)
            if cap is not None:
                codes = codes[:cap]  # the first N, as documented
            fn = {
                TRADE_TICK_PATH: trade_tick_data,
                DEPTH_TICK_PATH: depth_tick_data,
                STATIC_INFO_PATH: static_info_data,
            }[path]

            def answer(market: Market) -> Any:
                known, unknown = _split(market, codes)
                if unknown and not known:
                    raise _Refused(alltick.RET_CODE_INVALID, None, {"invalid_codes": unknown})
                return fn(market, known)

            return self._ok(trace, self.call(answer))
        except _Refused as exc:
            # what a refusal explains beyond ret/msg (the reason, the codes, the limits) is
            # not in AllTick's answers: sent only with the ``extras`` quirk
            data = exc.data if self.extras else None
            return 200, JSON_TYPE, _envelope(exc.ret, trace, data, exc.msg)

    @staticmethod
    def _ok(trace: Any, data: Any) -> Answer:
        return 200, JSON_TYPE, _envelope(alltick.RET_OK, trace, data)

    @staticmethod
    def _query(query: dict[str, list[str]]) -> Any:
        raw = (query.get("query") or [""])[0]
        try:
            q = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            q = None
        if not isinstance(q, dict):
            raise _Refused(alltick.RET_QUERY_INVALID)
        return q

    @staticmethod
    def _body(body: bytes) -> Any:
        if not body.strip():
            raise _Refused(alltick.RET_BODY_EMPTY)
        try:
            q = orjson.loads(body)
        except orjson.JSONDecodeError:
            q = None
        if not isinstance(q, dict):
            raise _Refused(alltick.RET_BAD_PARAM, alltick.MSG_HEADER_INVALID)
        return q

    def _kline(self, data: dict[str, Any]) -> Any:
        code, kline_type, count = _kline_item(data, alltick.MAX_KLINE_BARS)

        def inputs(market: Market) -> KlineInputs:
            known, _unknown = _split(market, [code])
            if not known:
                raise _Refused(alltick.RET_CODE_INVALID, None, {"invalid_codes": [code]})
            return KlineInputs.of(market, known[0], _now_ms())

        # read on the market's loop, made up here (a long history must not stall pushes)
        bars = self.klines.bars(self.call(inputs), kline_type, count)
        return {"code": code, "kline_type": kline_type, "kline_list": [_bar(b) for b in bars]}

    def _batch_kline(self, data: dict[str, Any], plan: alltick.Plan) -> Any:
        items = data.get("data_list")
        if not isinstance(items, list) or not items:
            raise _data_invalid("data_list must be a non-empty list")
        wanted = [_kline_item(item, alltick.MAX_BATCH_KLINE_BARS) for item in items]
        if len(wanted) > plan.rest_batch_kline_items:
            raise _Refused(
                alltick.RET_PLAN_TOO_SMALL,
                None,
                {"max_items": plan.rest_batch_kline_items, "requested": len(wanted)},
            )
        codes = [code for code, _, _ in wanted]

        def inputs(market: Market) -> dict[str, KlineInputs]:
            known, unknown = _split(market, codes)
            if unknown and not known:
                raise _Refused(alltick.RET_CODE_INVALID, None, {"invalid_codes": unknown})
            now = _now_ms()
            return {alltick.to_alltick(s): KlineInputs.of(market, s, now) for s in known}

        sources = self.call(inputs)
        out = []
        for code, kline_type, count in wanted:
            src = sources.get(code)
            if src is None:
                continue
            bars = self.klines.bars(src, kline_type, count)
            out.append(
                {"code": code, "kline_type": kline_type, "kline_data": [_bar(b) for b in bars]}
            )
        return {"kline_list": out}

    def _sse(self, query: dict[str, list[str]], headers: dict[str, str]) -> Answer:
        # SSE refuses requests that do not come from its own pages.
        if "sse.com.cn" not in headers.get("referer", ""):
            page = b"<html><body><h1>403 Forbidden</h1></body></html>\n"
            return 403, "text/html", page
        if (query.get("sqlId") or [""])[0] != stocklists.SSE_SQL_ID:
            return 404, "text/plain", b"unknown sqlId\n"
        page_no = _int((query.get("pageHelp.pageNo") or ["1"])[0], 1)
        size = _int((query.get("pageHelp.pageSize") or ["25"])[0], 25)
        answer = stocklists.sse_answer(self.stocks, self.list_date, page_no, size)
        return 200, JSON_TYPE, orjson.dumps(answer)

    def _szse(self, query: dict[str, list[str]]) -> Answer:
        if (query.get("CATALOGID") or [""])[0] != stocklists.SZSE_CATALOG_ID:
            return 404, "text/plain", b"unknown catalog\n"
        page_no = _int((query.get("PAGENO") or ["1"])[0], 1)
        answer = stocklists.szse_answer(self.stocks, self.list_date, page_no)
        return 200, JSON_TYPE, orjson.dumps(answer)


def _header(q: Any) -> None:
    """The documented request header: ``trace`` a string of 1..64 characters, ``data`` an object."""
    trace = q.get("trace")
    if (
        type(trace) is not str
        or not 0 < len(trace) <= alltick.MAX_TRACE_LEN
        or type(q.get("data")) is not dict
    ):
        raise _Refused(alltick.RET_BAD_PARAM, alltick.MSG_HEADER_INVALID)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    server_version = "hkticks-sim/1"
    # None: setup() leaves alone the read timeout _HttpServer.finish_request set
    # (an idle keep-alive client is let go after it)
    timeout = None

    def _serve(self, method: str) -> None:
        length = _int(self.headers.get("Content-Length") or "0", 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._reply(413, "text/plain", b"body too large\n")
            return
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, ctype, payload = self.server.app.handle(method, self.path, headers, body)
        except Exception:  # a bug or the server stopping: answer, never hang the client
            log.warning("REST %s %s failed", method, urlsplit(self.path).path, exc_info=False)
            status, ctype, payload = 500, "text/plain", b"internal error\n"
        self._reply(status, ctype, payload)

    def _reply(self, status: int, ctype: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header(alltick.SIMULATED_HEADER, "1")  # REST answers are always simulated
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        # The default logs each request line, token included: never.
        return


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 25\r\nConnection: close\r\n\r\ntoo many connections, retry"
)


MAX_REFUSERS = 16  # TLS connections being told 503 at once (each needs a handshake)
REFUSE_TIMEOUT_S = 2.0


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        app: RestApp,
        *,
        tls: ssl.SSLContext | None = None,
        max_connections: int = MAX_CONNECTIONS,
        read_timeout: float = READ_TIMEOUT_S,
    ) -> None:
        self.app = app
        self.tls = tls
        self.read_timeout = read_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._refusers = threading.BoundedSemaphore(MAX_REFUSERS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Cap the threads: a client beyond the cap gets a 503 and the door.
        if not self._slots.acquire(blocking=False):
            if self.tls is None:
                try:
                    request.setblocking(False)
                    request.send(_BUSY)
                except OSError:
                    pass
            elif self._refusers.acquire(blocking=False):
                # on the TLS port the 503 goes inside TLS (plain text there is garbage to
                # the client): the handshake runs in a short-lived thread of its own
                threading.Thread(
                    target=self._refuse_over_tls,
                    args=(request,),
                    name="hkticks-server-rest-busy",
                    daemon=True,
                ).start()
                return
            # else: even the refusers are busy (a flood): the door, without a word
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def _refuse_over_tls(self, request: Any) -> None:
        """Handshake, read the request, answer 503 over TLS, close (bounded in time)."""
        assert self.tls is not None
        try:
            request.settimeout(REFUSE_TIMEOUT_S)
            with self.tls.wrap_socket(request, server_side=True) as tls_sock:
                try:
                    tls_sock.recv(MAX_BODY)  # the request, so that closing sends no RST
                except (OSError, ssl.SSLError):
                    pass
                tls_sock.sendall(_BUSY)
        except (OSError, ssl.SSLError, ValueError):
            pass  # a failed handshake was answered by TLS itself (an alert)
        finally:
            self._refusers.release()
            self.shutdown_request(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.read_timeout)
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # the TLS handshake runs here, in the connection's thread, not in accept
        tls_sock = self.tls.wrap_socket(request, server_side=True)
        try:
            super().finish_request(tls_sock, client_address)
        finally:
            tls_sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client resetting, timing out or failing TLS is its business: no
        # traceback on the server's stderr. Anything else: one line.
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ssl.SSLError, ValueError)):
            return
        log.warning("REST connection failed: %s", type(exc).__name__)


class RestServer:
    """The HTTP server thread. Binding happens in the constructor (errors surface there)."""

    def __init__(
        self,
        host: str,
        port: int,
        app: RestApp,
        *,
        tls: ssl.SSLContext | None = None,
        max_connections: int = MAX_CONNECTIONS,
        read_timeout: float = READ_TIMEOUT_S,
    ) -> None:
        self._httpd = _HttpServer(
            (host, port), app, tls=tls, max_connections=max_connections, read_timeout=read_timeout
        )
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="hkticks-server-rest",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()
