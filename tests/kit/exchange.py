"""A local stand-in for the SSE and SZSE list pages and AllTick's REST API.

The symbol and REST tests run against this real HTTP server on loopback
(stdlib ``http.server`` in a thread, port 0). It serves the documented
shapes, and can be told to misbehave in the ways the real sites do: broken
pages, short lists, totals that do not match, a date that changes while a
client pages through, slow or trickling answers, HTTP errors, and refusals
when the Referer is missing. tests/symbols/test_fake_exchange.py checks the stand-in
itself, so the other tests' failures mean what they say; the ``exchange``
fixture (conftest.py) starts one per test.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hkticks.symbols import sources

HK_TZ = dt.timezone(dt.timedelta(hours=8))
TOKEN = "tok-SECRET-1234567890"


@dataclass
class FakeStock:
    code: str
    name_cn: str
    name_en: str
    channels: tuple[str, ...]


def make_stocks(n: int = 150) -> list[FakeStock]:
    """``n`` stocks: a few real names first, then generated ones. Most are on both
    channels; every 25th only on SH, every 30th only on SZ."""
    known = [
        FakeStock("00700", "腾讯控股\u3000", "TENCENT", ("SH", "SZ")),
        FakeStock("09988", "阿里巴巴－Ｗ", "BABA-W", ("SH", "SZ")),
        FakeStock("00005", "汇丰控股", "HSBC HOLDINGS", ("SH", "SZ")),
        FakeStock("02318", "中国平安", "PING AN", ("SH", "SZ")),
        FakeStock("03690", "美团－Ｗ", "MEITUAN-W", ("SH", "SZ")),
    ]
    out = list(known)
    i = 0
    while len(out) < n:
        i += 1
        code = f"{1000 + i:05d}"
        if i % 25 == 0:
            channels: tuple[str, ...] = ("SH",)
        elif i % 30 == 0:
            channels = ("SZ",)
        else:
            channels = ("SH", "SZ")
        out.append(FakeStock(code, f"测试{i}号", f"TEST CO {i}", channels))
    return out


@dataclass
class Behaviour:
    """How one endpoint misbehaves. ``times`` limits a fault to the first N hits
    (``None``: every hit)."""

    mode: str = "ok"  # ok, html, truncated, short, count, date_change, slow, trickle,
    # status, bad_code, empty
    times: int | None = None
    status: int = 500
    delay: float = 0.0
    page: int = 2  # the SZSE page the fault hits (page-specific modes)
    hits: int = 0

    def active(self) -> bool:
        return self.mode != "ok" and (self.times is None or self.hits < self.times)


@dataclass
class Seen:
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    at: float = field(default_factory=time.monotonic)


class FakeExchange:
    """SSE list, SZSE list and AllTick REST on one loopback port."""

    def __init__(self, stocks: list[FakeStock] | None = None, *, szse_page_size: int = 20) -> None:
        self.stocks = stocks if stocks is not None else make_stocks()
        self.today = dt.datetime.now(HK_TZ).date()
        self.sse_date = self.today.isoformat()
        self.szse_date = self.today.isoformat()
        self.szse_page_size = szse_page_size
        self.sse_page_size: int | None = None  # None: as asked by the client
        self.require_referer = True
        self.sse = Behaviour()
        self.szse = Behaviour()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        # REST state
        self.token = TOKEN
        self.trade_age_s: dict[str, float] = {}  # code -> age of its last trade; default 60 s
        self.no_trade: set[str] = set()
        self.rest_faults: list[dict[str, Any]] = []  # popped one per REST call
        self.max_codes = 50
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-exchange",
            daemon=True,
        )

    # -- lifecycle --

    def start(self) -> FakeExchange:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def sse_url(self) -> str:
        return self.base + sources.SSE_URL.split("query.sse.com.cn", 1)[1]

    @property
    def szse_url(self) -> str:
        return self.base + sources.SZSE_URL.split("www.szse.cn", 1)[1]

    @property
    def rest_url(self) -> str:
        return self.base + "/quote-stock-b-api/"

    def hits(self, prefix: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path.startswith(prefix)]

    # -- list payloads --

    def sse_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "SECURITY_CODE": s.code,
                "ABBR_CN": s.name_cn,
                "ABBR_EN": s.name_en,
                "UPDATE_DATE": self.sse_date.replace("-", ""),
                "SECURITY_TYPE": "ORDINARY",
                "TRADE_FLAG": "1",
            }
            for s in self.stocks
            if "SH" in s.channels
        ]

    def szse_rows(self) -> list[dict[str, Any]]:
        return [
            {"zqdm": s.code, "zqjc": s.name_cn, "zqywjc": s.name_en}
            for s in self.stocks
            if "SZ" in s.channels
        ]

    def _sse_answer(self, params: dict[str, str]) -> tuple[int, bytes, bool]:
        b = self.sse
        fault = b.active()
        if fault:
            b.hits += 1
        rows = self.sse_rows()
        total = len(rows)
        if fault and b.mode == "short":
            rows = rows[:50]
            total = len(rows)
        if fault and b.mode == "count":
            total += 7
        if fault and b.mode == "bad_code":
            rows[3] = dict(rows[3], SECURITY_CODE="ABC12")
        if fault and b.mode == "date_change":
            rows[-1] = dict(rows[-1], UPDATE_DATE="20200101")
        size = self.sse_page_size or int(params.get("pageHelp.pageSize", "2000"))
        page_no = int(params.get("pageHelp.pageNo", "1"))
        page_count = max(1, -(-len(rows) // size))
        page = rows[(page_no - 1) * size : page_no * size]
        obj = {
            "actionErrors": [],
            "isPagination": "true",
            "pageHelp": {
                "beginPage": page_no,
                "pageCount": page_count,
                "pageNo": page_no,
                "pageSize": size,
                "total": total,
                "data": page,
            },
            "result": page,
        }
        return self._maybe_break(b, fault, json.dumps(obj, ensure_ascii=False).encode())

    def _szse_answer(self, params: dict[str, str]) -> tuple[int, bytes, bool]:
        b = self.szse
        page_no = int(params.get("PAGENO", "1"))
        whole = ("short", "count", "slow", "trickle", "status")
        fault = b.active() and (b.mode in whole or page_no == b.page)
        if fault:
            b.hits += 1
        rows = self.szse_rows()
        total = len(rows)
        if fault and b.mode == "short":
            rows = rows[:40]
            total = len(rows)
        date = self.szse_date
        if fault and b.mode == "date_change":
            date = (self.today - dt.timedelta(days=1)).isoformat()
        size = self.szse_page_size
        page_count = max(1, -(-len(rows) // size))
        if fault and b.mode == "count":
            total -= 3
        page = rows[(page_no - 1) * size : page_no * size]
        if fault and b.mode == "bad_code":
            page[0] = dict(page[0], zqdm="1234567")
        obj = [
            {
                "metadata": {
                    "catalogid": "SGT_GGTBDQD",
                    "name": "港股通标的证券名单",
                    "pagecount": page_count,
                    "recordcount": total,
                    "pageno": page_no,
                    "pagesize": size,
                    "subname": date,
                },
                "data": page,
                "error": None,
            }
        ]
        return self._maybe_break(b, fault, json.dumps(obj, ensure_ascii=False).encode())

    def _maybe_break(self, b: Behaviour, fault: bool, body: bytes) -> tuple[int, bytes, bool]:
        if not fault:
            return 200, body, False
        if b.mode == "html":
            return 200, b"<!DOCTYPE html><html><body>System busy</body></html>", True
        if b.mode == "truncated":
            return 200, body[: len(body) // 2], True
        if b.mode == "empty":
            return 200, b"", True
        if b.mode == "status":
            return b.status, b"error", True
        return 200, body, True

    # -- REST --

    def _rest_answer(
        self, endpoint: str, params: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            fault = self.rest_faults.pop(0) if self.rest_faults else None
        if fault:
            if "sleep" in fault:
                self.stopping.wait(fault["sleep"])
            if "status" in fault:
                return fault["status"], b"{}", fault.get("headers", {})
            if "ret" in fault:
                obj = {"ret": fault["ret"], "msg": fault.get("msg", "x"), "data": fault.get("data")}
                return 200, json.dumps(obj).encode(), {}
            if "raw" in fault:
                return 200, fault["raw"], {}
        if params.get("token") != self.token:
            return 200, json.dumps({"ret": 401, "msg": "token invalid", "data": None}).encode(), {}
        if endpoint == "batch-kline":
            query = json.loads(body)
            items = query["data"]["data_list"]
            codes = [item["code"] for item in items]
        else:
            query = json.loads(params["query"])
            codes = [item["code"] for item in query["data"]["symbol_list"]]
        if len(codes) > self.max_codes:
            return 200, json.dumps({"ret": 400, "msg": "too many codes"}).encode(), {}
        known = {s.code.lstrip("0") + ".HK": s for s in self.stocks}
        now = time.time()
        if endpoint == "trade-tick":
            ticks = []
            for i, code in enumerate(codes):
                stock = known.get(code)
                if stock is None or stock.code in self.no_trade:
                    continue
                age = self.trade_age_s.get(stock.code, 60.0)
                ticks.append(
                    {
                        "code": code,
                        "seq": str(1000 + i),
                        "tick_time": str(int((now - age) * 1000)),
                        "price": "10.5",
                        "volume": "200",
                        "turnover": "2100.0",
                        "trade_direction": 1,
                    }
                )
            data: dict[str, Any] = {"tick_list": ticks}
        elif endpoint == "static_info":
            data = {
                "static_info_list": [
                    {
                        "code": code,
                        "name_en": known[code].name_en,
                        "name_cn": known[code].name_cn.strip(),
                        "name_hk": known[code].name_cn.strip(),
                        "lot_size": "100",
                        "currency": "HKD",
                    }
                    for code in codes
                    if code in known
                ]
            }
        elif endpoint == "batch-kline":
            day = 86400
            today0 = int(now // day * day)
            data = {
                "kline_list": [
                    {
                        "code": code,
                        "kline_type": 8,
                        # newest first, as some servers send: the client sorts
                        "kline_data": [
                            {
                                "timestamp": str(today0),
                                "open_price": "10.2",
                                "close_price": "10.5",
                                "high_price": "10.6",
                                "low_price": "10.1",
                                "volume": "5000",
                                "turnover": "52000",
                            },
                            {
                                "timestamp": str(today0 - day),
                                "open_price": "10.0",
                                "close_price": "10.1",
                                "high_price": "10.3",
                                "low_price": "9.9",
                                "volume": "9000",
                                "turnover": "90900",
                            },
                        ],
                    }
                    for code in codes
                    if code in known
                ]
            }
        else:
            return 404, b"not found", {}
        obj = {"ret": 200, "msg": "ok", "trace": query.get("trace"), "data": data}
        return 200, json.dumps(obj, ensure_ascii=False).encode(), {}

    # -- HTTP handler --

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fx = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (a time-out test): nothing to report

            def _trickle(self, body: bytes, delay: float) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(0, len(body), 64):
                    if fx.stopping.wait(delay):
                        return
                    try:
                        self.wfile.write(body[i : i + 64])
                        self.wfile.flush()
                    except OSError:
                        return

            def _serve(self, body_in: bytes) -> None:
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with fx.lock:
                    fx.seen.append(Seen(parts.path, params, dict(self.headers.items()), body_in))
                if parts.path.startswith("/quote-stock-b-api/"):
                    endpoint = parts.path.rsplit("/", 1)[1]
                    status, body, headers = fx._rest_answer(endpoint, params, body_in)
                    self._send(status, body, headers)
                    return
                if parts.path == "/commonQuery.do":
                    source = sources.SSE
                elif parts.path == "/api/report/ShowReport/data":
                    source = sources.SZSE
                else:
                    self._send(404, b"not found")
                    return
                referer = sources.REFERERS[source]
                if fx.require_referer and self.headers.get("Referer") != referer:
                    self._send(403, b"<html>Forbidden</html>")
                    return
                with fx.lock:
                    if source == sources.SSE:
                        behaviour = fx.sse
                        status, body, fault = fx._sse_answer(params)
                    else:
                        behaviour = fx.szse
                        status, body, fault = fx._szse_answer(params)
                if fault and behaviour.mode == "slow":
                    if fx.stopping.wait(behaviour.delay):
                        return
                if fault and behaviour.mode == "trickle":
                    self._trickle(body, behaviour.delay)
                    return
                self._send(status, body)

            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._serve(self.rfile.read(length))

        return Handler
