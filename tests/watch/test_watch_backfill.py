"""The detail view's 1-minute history over real HTTP: AllTick's documented ``GET kline``.

A loopback HTTP server answers ``kline`` in the documented shape (and a
second base URL answers 404, as a server without the endpoint does); the
real :class:`RestClient` calls it and the board's app merges or degrades.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kit.board import NOW, make_app

from hkticks.alltick import protocol as alltick
from hkticks.alltick.rest_client import RestClient
from hkticks.errors import SourceError
from hkticks.watch.detail import DetailScreen

TOKEN = "kline-token"
M0 = int(NOW) // 60 * 60 - 3 * 3600  # three hours before the board's clock, seconds


class KlineServer:
    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                args = parse_qs(parts.query)
                if not parts.path.startswith("/api/") or not parts.path.endswith("/kline"):
                    self.send_error(404, "Not Found")
                    return
                if args.get("token") != [TOKEN]:
                    body: dict[str, Any] = {"ret": 401, "msg": "token invalid"}
                else:
                    query = json.loads(args["query"][0])
                    server.queries.append(query)
                    n = query["data"]["query_kline_num"]
                    body = {
                        "ret": 200,
                        "msg": "ok",
                        "trace": query["trace"],
                        "data": {
                            "code": query["data"]["code"],
                            "kline_type": query["data"]["kline_type"],
                            "kline_list": [
                                {
                                    "timestamp": str(M0 + 60 * i),
                                    "open_price": "380.0",
                                    "close_price": "380.4",
                                    "high_price": "380.8",
                                    "low_price": "379.6",
                                    "volume": "1500",
                                    "turnover": "570300.00",
                                }
                                for i in range(min(n, 10))
                            ],
                        },
                    }
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}/api/"
        self.missing_url = f"http://127.0.0.1:{port}/old/"


@pytest.fixture
def kline_server() -> Iterator[KlineServer]:
    srv = KlineServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def client(url: str) -> RestClient:
    return RestClient(url, TOKEN, alltick.PLANS["premium"], timeout=2.0, backoff=0.0)


def test_minute_bars_over_http(kline_server: KlineServer) -> None:
    bars = client(kline_server.url).minute_bars("00700") or []
    assert len(bars) == 10 and bars[0].ts == M0 * 1000 and bars[0].symbol == "00700"
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close) == (380.0, 380.8, 379.6, 380.4)
    (query,) = kline_server.queries
    assert query["data"]["code"] == "700.HK" and query["data"]["kline_type"] == 1


def test_a_server_without_kline_is_a_source_error(kline_server: KlineServer) -> None:
    with pytest.raises(SourceError, match="HTTP 404"):
        client(kline_server.missing_url).minute_bars("00700")


@pytest.mark.parametrize("present", [True, False])
def test_detail_view_back_fills_or_degrades_quietly(
    kline_server: KlineServer, present: bool
) -> None:
    rest = client(kline_server.url if present else kline_server.missing_url)
    app = make_app(history=lambda code, tf: rest.minute_bars(code) or [])

    async def main() -> None:
        async with app.run_test(size=(140, 40), notifications=True) as pilot:
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, DetailScreen)
            buf = app.buffers.get("00700")
            if present:
                assert buf.backfill == "ok" and buf.bars[0].ts == M0 * 1000
                assert "history: 1-min bars from /kline" in screen.summary()
            else:
                assert buf.backfill == "unavailable" and len(buf.bars) == 30
                assert "history unavailable" in screen.summary()
                assert not app._notifications  # quietly: no toast, no error
            await pilot.press("escape")

    asyncio.run(main())
