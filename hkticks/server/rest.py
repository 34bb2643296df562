"""The REST side: AllTick's quote REST endpoints and the Stock Connect lists.

Served by a stdlib ``ThreadingHTTPServer`` on its own port. The simulated
market lives on the WebSocket loop's thread, so every read of it is handed
to that thread (``call``) instead of taking locks in the hot path of trade
generation.

AllTick semantics kept here: the token in the query string (wrong or
missing: ``{"ret":401}``), a JSON ``query`` parameter for GETs (bad or
missing: 402), a JSON body for ``batch-kline`` (empty: 601, invalid: 400),
at most 50 codes per ``trade-tick`` call (more: 400), and the plan's REST
rate (exceeded: 429; token bucket per token). Unknown codes are skipped;
a request naming only unknown codes gets 600 with ``data.invalid_codes``.
Answers are HTTP 200 with the ``ret`` inside, like AllTick's.

The request log of ``http.server`` is silenced: it would print every URL,
token included.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from hkticks.alltick import protocol as alltick
from hkticks.server import stocklists
from hkticks.server.market import Bar, Market
from hkticks.server.minutebars import KLINE_1MIN, kline_answer
from hkticks.server.spread import format_amount, format_price
from hkticks.server.universe import Stock

TRADE_TICK_PATH = alltick.REST_PATH + "trade-tick"
STATIC_INFO_PATH = alltick.REST_PATH + "static_info"
KLINE_PATH = alltick.REST_PATH + "batch-kline"
MINUTE_KLINE_PATH = alltick.REST_PATH + "kline"
SSE_PATH = "/commonQuery.do"
SZSE_PATH = "/api/report/ShowReport/data"
KLINE_DAILY = 8
MAX_BODY = 1 << 20

Answer = tuple[int, str, bytes]  # HTTP status, content type, body
JSON_TYPE = "application/json;charset=UTF-8"


class RateLimiter:
    """Token buckets per AllTick token: ``rate`` calls per second, bursts up to
    ``max(1, rate)`` (so the free plan's 0.1/s means one call per 10 s)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # token -> (tokens, at)

    def allow(self, key: str, rate: float, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        cap = max(1.0, rate)
        with self._lock:
            level, at = self._buckets.get(key, (cap, now))
            level = min(cap, level + (now - at) * rate)
            if level < 1.0:
                self._buckets[key] = (level, now)
                return False
            self._buckets[key] = (level - 1.0, now)
            return True


def _envelope(ret: int, trace: Any, data: Any, msg: str | None = None) -> bytes:
    return orjson.dumps(
        {
            "ret": ret,
            "msg": msg if msg is not None else alltick.RET_MESSAGES.get(ret, ""),
            "trace": trace if isinstance(trace, str) else "",
            "data": data if data is not None else {},
        }
    )


def _bar(b: Bar) -> dict[str, str]:
    return {
        "timestamp": str(b.ts),
        "open_price": format_price(b.open),
        "close_price": format_price(b.close),
        "high_price": format_price(b.high),
        "low_price": format_price(b.low),
        "volume": str(b.volume),
        "turnover": format_amount(b.turnover),
    }


def _codes(data: Any) -> list[str] | None:
    """The code strings of ``data.symbol_list`` / ``data.data_list``; None if malformed."""
    if not isinstance(data, dict):
        return None
    items = data.get("symbol_list", data.get("data_list"))
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        code = item.get("code") if isinstance(item, dict) else None
        if not isinstance(code, str):
            return None
        out.append(code)
    return out


def _split(market: Market, codes: list[str]) -> tuple[list[str], list[str]]:
    """(known five-digit symbols, unknown codes as sent); codes must be spelled as AllTick does."""
    known: list[str] = []
    unknown: list[str] = []
    for code in codes:
        try:
            symbol = alltick.from_alltick(code)
        except alltick.CodeError:
            unknown.append(code)
            continue
        if symbol in market and alltick.to_alltick(symbol) == code:
            if symbol not in known:
                known.append(symbol)
        else:
            unknown.append(code)
    return known, unknown


def trade_tick_data(market: Market, symbols: list[str]) -> dict[str, Any]:
    """``trade-tick`` answer data: the latest trade of each symbol (run on the loop)."""
    ticks = []
    for symbol in symbols:
        t = market.latest(symbol)
        ticks.append(
            {
                "code": alltick.to_alltick(symbol),
                "seq": str(t.seq),
                "tick_time": str(t.ts),
                "price": format_price(t.price),
                "volume": str(t.volume),
                "turnover": format_amount(t.turnover),
                "trade_direction": t.direction,
            }
        )
    return {"tick_list": ticks}


def static_info_data(market: Market, symbols: list[str]) -> dict[str, Any]:
    """``static_info`` answer data (reads only immutable stock facts)."""
    out = []
    for symbol in symbols:
        s: Stock = market.state(symbol).stock
        out.append(
            {
                "code": alltick.to_alltick(symbol),
                "name_en": s.name_en,
                "name_cn": s.name_cn,
                "name_hk": s.name_hk,
                "lot_size": str(s.lot),
                "currency": "HKD",
                "exchange": "HKEX",
                "board": s.board,
                "total_shares": str(s.total_shares),
                "circulating_shares": str(s.circulating_shares),
            }
        )
    return {"static_info_list": out}


def kline_data(market: Market, requests: list[tuple[str, int, int]]) -> dict[str, Any]:
    """``batch-kline`` answer data for (symbol, bars wanted, end timestamp s or 0)."""
    out = []
    for symbol, count, end in requests:
        bars = [b for b in market.bars(symbol) if end <= 0 or b.ts <= end]
        out.append(
            {
                "code": alltick.to_alltick(symbol),
                "kline_type": KLINE_DAILY,
                "kline_data": [_bar(b) for b in bars[-count:]] if count > 0 else [],
            }
        )
    return {"kline_list": out}


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
    ) -> None:
        self.tokens = tokens
        self.stocks = stocks
        self.call = call
        self.list_date = list_date
        self.enforce_rate = enforce_rate
        self.limiter = RateLimiter()

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        """Answer one HTTP request (``headers`` with lower-case names)."""
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path
        if path == SSE_PATH and method == "GET":
            return self._sse(query, headers)
        if path == SZSE_PATH and method == "GET":
            return self._szse(query)
        routes = {
            TRADE_TICK_PATH: "GET",
            STATIC_INFO_PATH: "GET",
            KLINE_PATH: "POST",
            MINUTE_KLINE_PATH: "GET",
        }
        if path not in routes:
            return 404, "text/plain", b"not found\n"
        if method != routes[path]:
            return 405, "text/plain", b"method not allowed\n"
        token = (query.get("token") or [""])[0]
        plan = self.tokens.get(token) if token else None
        if plan is None:
            return 200, JSON_TYPE, _envelope(alltick.RET_TOKEN_INVALID, None, None)
        if self.enforce_rate and not self.limiter.allow(token, alltick.PLANS[plan].rest_per_second):
            return 200, JSON_TYPE, _envelope(alltick.RET_RATE_LIMIT, None, None)
        if path == KLINE_PATH:
            return self._kline(body)
        if path == MINUTE_KLINE_PATH:
            return self._minute_kline((query.get("query") or [""])[0])
        raw = (query.get("query") or [""])[0]
        try:
            q = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            q = None
        if not isinstance(q, dict):
            return 200, JSON_TYPE, _envelope(alltick.RET_QUERY_INVALID, None, None)
        trace = q.get("trace")
        codes = _codes(q.get("data"))
        if codes is None:
            return 200, JSON_TYPE, _envelope(alltick.RET_QUERY_INVALID, trace, None)
        if path == TRADE_TICK_PATH and len(codes) > alltick.REST_MAX_CODES_PER_CALL:
            msg = f"request data param invalid: at most {alltick.REST_MAX_CODES_PER_CALL} codes"
            return 200, JSON_TYPE, _envelope(alltick.RET_BAD_PARAM, trace, None, msg)
        fn = trade_tick_data if path == TRADE_TICK_PATH else static_info_data

        def answer(market: Market) -> bytes:
            known, unknown = _split(market, codes)
            if unknown and not known:
                data = {"invalid_codes": unknown}
                return _envelope(alltick.RET_CODE_INVALID, trace, data)
            return _envelope(alltick.RET_OK, trace, fn(market, known))

        return 200, JSON_TYPE, self.call(answer)

    def _kline(self, body: bytes) -> Answer:
        if not body.strip():
            return 200, JSON_TYPE, _envelope(alltick.RET_BODY_EMPTY, None, None)
        try:
            q = orjson.loads(body)
        except orjson.JSONDecodeError:
            q = None
        if not isinstance(q, dict):
            return 200, JSON_TYPE, _envelope(alltick.RET_BAD_PARAM, None, None)
        trace = q.get("trace")
        data = q.get("data")
        items = data.get("data_list") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return 200, JSON_TYPE, _envelope(alltick.RET_BAD_PARAM, trace, None)
        wanted: list[tuple[str, int, int]] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("code"), str):
                return 200, JSON_TYPE, _envelope(alltick.RET_BAD_PARAM, trace, None)
            kline_type = item.get("kline_type", KLINE_DAILY)
            count = item.get("query_kline_num", 2)
            end = item.get("kline_timestamp_end", 0)
            if kline_type != KLINE_DAILY:
                msg = f"request data param invalid: kline_type {kline_type} is not simulated (only 8, daily)"
                return 200, JSON_TYPE, _envelope(alltick.RET_BAD_PARAM, trace, None, msg)
            if type(count) is not int or type(end) is not int or count < 1:
                return 200, JSON_TYPE, _envelope(alltick.RET_BAD_PARAM, trace, None)
            wanted.append((item["code"], min(count, 2), end))
        codes = [code for code, _, _ in wanted]

        def answer(market: Market) -> bytes:
            known, unknown = _split(market, codes)
            if unknown and not known:
                return _envelope(alltick.RET_CODE_INVALID, trace, {"invalid_codes": unknown})
            req = []
            for code, count, end in wanted:
                if code in unknown:
                    continue
                symbol = alltick.from_alltick(code)
                req.append((symbol, count, end))
            return _envelope(alltick.RET_OK, trace, kline_data(market, req))

        return 200, JSON_TYPE, self.call(answer)

    def _minute_kline(self, raw: str) -> Answer:
        """``GET kline`` for one code: 1-minute bars (``kline_type`` 1) only, the
        latest ``query_kline_num`` (at most 500) of the trades the market made;
        ``kline_timestamp_end`` must be 0 (stocks cannot query from a time)."""
        try:
            q = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            q = None
        data = q.get("data") if isinstance(q, dict) else None
        if not isinstance(q, dict) or not isinstance(data, dict):
            return 200, JSON_TYPE, _envelope(alltick.RET_QUERY_INVALID, None, None)
        trace = q.get("trace")
        code, kline_type = data.get("code"), data.get("kline_type")
        count, end = data.get("query_kline_num", 1), data.get("kline_timestamp_end", 0)
        if not isinstance(code, str) or type(count) is not int or not 1 <= count <= 500:
            return 200, JSON_TYPE, _envelope(alltick.RET_BAD_PARAM, trace, None)
        if kline_type != KLINE_1MIN or end != 0:
            msg = "request data param invalid: only kline_type 1 with kline_timestamp_end 0 is simulated"
            return 200, JSON_TYPE, _envelope(alltick.RET_BAD_PARAM, trace, None, msg)

        def answer(market: Market) -> bytes:
            known, _unknown = _split(market, [code])
            if not known:
                return _envelope(alltick.RET_CODE_INVALID, trace, {"invalid_codes": [code]})
            return _envelope(
                alltick.RET_OK, trace, kline_answer(market.minutes, code, known[0], count)
            )

        return 200, JSON_TYPE, self.call(answer)

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


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    server_version = "hkticks-sim/1"

    def _serve(self, method: str) -> None:
        length = _int(self.headers.get("Content-Length") or "0", 0)
        if length > MAX_BODY:
            self._reply(413, "text/plain", b"body too large\n")
            return
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, ctype, payload = self.server.app.handle(method, self.path, headers, body)
        except Exception:  # a bug or the server stopping: answer, never hang the client
            status, ctype, payload = 500, "text/plain", b"internal error\n"
        self._reply(status, ctype, payload)

    def _reply(self, status: int, ctype: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        # The default logs each request line, token included: never.
        return


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: RestApp) -> None:
        self.app = app
        super().__init__(address, _Handler)


class RestServer:
    """The HTTP server thread. Binding happens in the constructor (errors surface there)."""

    def __init__(self, host: str, port: int, app: RestApp) -> None:
        self._httpd = _HttpServer((host, port), app)
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
