"""The board's reference data (names, previous close) from REST answers shaped exactly
as AllTick documents them, served by a tiny loopback HTTP server in this test, not
by our own server (which could share a mistake with the client).

The shapes are AllTick's ``static_query.md`` (entries keyed by ``symbol``, every
value a string) and ``batch_kline_query.md`` (``kline_list`` of ``code``,
``kline_type``, ``kline_data`` with seconds timestamps as strings); the values
are ours (two daily bars ending today, so the change has a previous close).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kit.documented import STATIC_700

from hkticks.alltick import protocol as alltick
from hkticks.alltick.rest_client import RestClient, RestPacer
from hkticks.feed.queue import TickQueue
from hkticks.market_hours import hk_clock
from hkticks.tick import Tick
from hkticks.watch.model import BASELINE_CLOSE, ReferenceData, WatchModel
from hkticks.watch.pump import reference_worker

TOKEN = "documented"

STATIC = {
    "700.HK": STATIC_700,  # as static_query.md prints it
    "9988.HK": {
        "board": "HKEquity",
        "currency": "HKD",
        "exchange": "SEHK",
        "lot_size": "100",
        "name_cn": "",
        "name_en": "BABA-W",
        "name_hk": "阿里巴巴－Ｗ",
        "symbol": "9988.HK",
    },
}
PREV_CLOSE = {"700.HK": "380.2", "9988.HK": "80.15"}


def today_midnight_s() -> int:
    now = time.time()
    _day, _wd, sec = hk_clock(now)
    return int(now - sec)


def bars(code: str) -> list[dict[str, str]]:
    today = today_midnight_s()
    prev = {
        "timestamp": str(today - 86_400),
        "open_price": "378.0",
        "close_price": PREV_CLOSE[code],
        "high_price": "390.0",
        "low_price": "70.0",
        "volume": "18000000",
        "turnover": "6840000000",
    }
    now = {
        "timestamp": str(today),
        "open_price": "381.0",
        "close_price": "384.6",
        "high_price": "386.0",
        "low_price": "79.0",
        "volume": "5000000",
        "turnover": "1920000000",
    }
    return [prev, now]


class DocumentedRest:
    """Answers ``static_info`` and ``batch-kline`` in AllTick's documented shapes."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, obj: Any) -> None:
                body = json.dumps(obj, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                params = parse_qs(parts.query)
                outer.calls.append(parts.path)
                query = json.loads(params["query"][0])
                assert params["token"] == [TOKEN]
                assert parts.path == "/quote-stock-b-api/static_info"
                codes = [c["code"] for c in query["data"]["symbol_list"]]
                self._answer(
                    {
                        "ret": 200,
                        "msg": "ok",
                        "trace": query["trace"],
                        "data": {"static_info_list": [STATIC[c] for c in codes if c in STATIC]},
                    }
                )

            def do_POST(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                outer.calls.append(parts.path)
                assert parts.path == "/quote-stock-b-api/batch-kline"
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                items = body["data"]["data_list"]
                self._answer(
                    {
                        "ret": 200,
                        "msg": "ok",
                        "trace": body["trace"],
                        "data": {
                            "kline_list": [
                                {
                                    "code": i["code"],
                                    "kline_type": i["kline_type"],
                                    "kline_data": bars(i["code"])[-i["query_kline_num"] :],
                                }
                                for i in items
                            ]
                        },
                    }
                )

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/quote-stock-b-api/"


@pytest.fixture
def documented() -> Iterator[DocumentedRest]:
    server = DocumentedRest()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def test_board_shows_names_and_change_from_documented_shapes(documented: DocumentedRest) -> None:
    fast = RestPacer(alltick.Plan("t", 1, 5, 1000.0, 0.001, 10_000, 10_000, 50, 500))
    client = RestClient(documented.url, TOKEN, "all-hk", timeout=3, pacer=fast)
    symbols = ["00700", "09988"]
    queue = TickQueue()
    stop = threading.Event()
    worker = threading.Thread(
        target=reference_worker, args=(client, symbols, symbols, queue, stop), daemon=True
    )
    worker.start()
    got: list[ReferenceData] = []
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        got.extend(i for i in queue.get_batch(100, 0.1) if isinstance(i, ReferenceData))
    stop.set()
    worker.join(5)
    assert [r.kind for r in got] == ["bars", "names"] and not any(r.error for r in got)
    assert documented.calls == ["/quote-stock-b-api/batch-kline", "/quote-stock-b-api/static_info"]

    now = time.time()
    model = WatchModel(symbols, started=now)
    model.apply(got, now)
    model.apply(
        [
            Tick(
                "00700", int(now * 1000), 384.6, 100, 38460.0, "buy", 1, int(now * 1000), "alltick"
            ),
            Tick(
                "09988", int(now * 1000), 79.5, 100, 7950.0, "sell", 2, int(now * 1000), "alltick"
            ),
        ],
        now,
    )
    tencent, baba = model.rows["00700"], model.rows["09988"]
    assert (tencent.name("en"), tencent.name("cn")) == ("TENCENT", "腾讯控股")
    assert (baba.name("en"), baba.name("cn")) == (
        "BABA-W",
        "阿里巴巴－Ｗ",
    )  # name_cn empty: name_hk
    assert tencent.baseline_kind == baba.baseline_kind == BASELINE_CLOSE
    assert tencent.prev_close == 380.2 and baba.prev_close == 80.15
    assert tencent.change == pytest.approx(4.4) and tencent.change_pct == pytest.approx(4.4 / 3.802)
    assert baba.change == pytest.approx(-0.65)
    assert model.reference == "ok"
    # and the share count the heatmap sizes tiles by
    infos = client.static_info(["00700"])
    assert infos["00700"].market_cap(384.6) == pytest.approx(9267359712 * 384.6)
