"""The local stand-in for the exchanges' list pages and AllTick's REST API (tests/kit/exchange.py)
checks itself: these would catch a stand-in that serves nothing or refuses nothing, which would
make the symbol and REST tests meaningless."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from kit.exchange import FakeExchange

from hkticks.symbols import sources


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_fixture_refuses_without_referer(exchange: FakeExchange) -> None:
    status, _ = _get(exchange.sse_url)
    assert status == 403
    status, body = _get(exchange.sse_url, {"Referer": sources.REFERERS[sources.SSE]})
    assert status == 200
    obj = json.loads(body)
    assert obj["pageHelp"]["total"] == len(obj["result"]) == len(exchange.sse_rows())


def test_fixture_szse_pages_cover_the_list(exchange: FakeExchange) -> None:
    headers = {"Referer": sources.REFERERS[sources.SZSE]}
    _, first = _get(exchange.szse_url + "&PAGENO=1", headers)
    meta = json.loads(first)[0]["metadata"]
    codes: list[str] = []
    for n in range(1, meta["pagecount"] + 1):
        _, body = _get(exchange.szse_url + f"&PAGENO={n}", headers)
        codes += [row["zqdm"] for row in json.loads(body)[0]["data"]]
    assert len(codes) == meta["recordcount"] == len(set(codes)) == len(exchange.szse_rows())
