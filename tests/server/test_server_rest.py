"""The embedded server's REST endpoints and Stock Connect lists, over real HTTP.

Answers are checked through hkticks' own REST decoders (the client must be
able to read them) and, for the exchange lists, against the documented shapes.
"""

from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from hkticks.alltick import protocol as alltick
from hkticks.market_hours import calendar
from hkticks.server import MarketServer
from hkticks.server import simulated_stocks as universe
from hkticks.server import tick_ladder as spread
from hkticks.server.market import latest_trading_day

SSE_REFERER = "https://www.sse.com.cn/services/hkexsc/disclo/eligible/"


@pytest.fixture(scope="module")
def srv() -> Iterator[MarketServer]:
    with MarketServer(
        seed=12, rate=500, enforce_rest_rate=False, tokens={"free": "free"}
    ) as server:
        yield server


def get(url: str, headers: dict[str, str] | None = None) -> bytes:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return bytes(resp.read())


def post(url: str, body: bytes) -> bytes:
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return bytes(resp.read())


def rest_get(srv: MarketServer, endpoint: str, query: str, token: str = "t") -> Any:
    raw = get(f"{srv.rest_url}{endpoint}?token={token}&query={quote(query)}")
    answer = alltick.decode_rest(raw)
    assert isinstance(answer, alltick.RestAnswer), answer
    return answer


def test_trade_tick_decodes(srv: MarketServer) -> None:
    suspended = next(s.code for s in universe.stocks() if s.suspended)
    query = alltick.rest_trade_tick_query(["00700", "09988", suspended], trace="tr-1")
    answer = rest_get(srv, "trade-tick", query)
    assert answer.ret == 200
    assert orjson.loads(get(f"{srv.rest_url}trade-tick?token=t&query={quote(query)}"))["trace"] == (
        "tr-1"
    )
    ticks, bad = alltick.decode_trade_ticks(answer.data, recv_ts=0)
    assert bad == 0
    by = {t.symbol: t for t in ticks}
    assert set(by) == {"00700", "09988", suspended}
    now_ms = time.time() * 1000
    for t in ticks:
        assert spread.is_valid_price(round(t.price * 1000))
        assert t.volume > 0 and t.seq is not None
    assert now_ms - by["00700"].ts < 120_000
    assert now_ms - by[suspended].ts > 2 * 86_400_000  # suspended: days old
    raw = answer.data["tick_list"][0]
    assert all(isinstance(raw[k], str) for k in ("seq", "tick_time", "price", "volume", "turnover"))
    assert isinstance(raw["trade_direction"], int)
    # the REST view and the market agree
    latest = srv.call(lambda m: m.latest("09988"))
    assert by["09988"].seq is not None and by["09988"].seq <= latest.seq


def test_trade_tick_limits_and_unknown_codes(srv: MarketServer) -> None:
    codes = [s.code for s in universe.stocks()[:51]]
    too_many = alltick.rest_query({"symbol_list": [{"code": alltick.to_alltick(c)} for c in codes]})
    answer = rest_get(srv, "trade-tick", too_many)  # paid plans: 50 advised, not cut
    assert answer.ret == 200
    assert [t["code"] for t in answer.data["tick_list"]] == [alltick.to_alltick(c) for c in codes]
    free = rest_get(srv, "trade-tick", too_many, token="free")  # free plan: the first 5
    assert [t["code"] for t in free.data["tick_list"]] == [alltick.to_alltick(c) for c in codes[:5]]
    mixed = alltick.rest_query({"symbol_list": [{"code": "700.HK"}, {"code": "99999.HK"}]})
    answer = rest_get(srv, "trade-tick", mixed)
    assert answer.ret == 200
    assert [t["code"] for t in answer.data["tick_list"]] == ["700.HK"]
    unknown = alltick.rest_query({"symbol_list": [{"code": "99999.HK"}, {"code": "0700.HK"}]})
    answer = rest_get(srv, "trade-tick", unknown)
    assert answer.ret == 600
    assert answer.data == {}  # AllTick names no codes (``--quirks extras`` does)
    bad_data = alltick.rest_query({"symbol_list": "700.HK"})
    assert rest_get(srv, "trade-tick", bad_data).data == {}  # no undocumented "reason" either
    with MarketServer(rate=0, enforce_rest_rate=False, quirks=["extras"]) as extras:
        named = rest_get(extras, "trade-tick", unknown)
        reason = rest_get(extras, "trade-tick", bad_data)
    assert (named.ret, named.data) == (600, {"invalid_codes": ["99999.HK", "0700.HK"]})
    assert reason.ret == 400 and "symbol_list" in reason.data["reason"]


def test_rest_token_and_query_errors(srv: MarketServer) -> None:
    query = alltick.rest_trade_tick_query(["00700"])
    assert rest_get(srv, "trade-tick", query, token="nope").ret == 401
    raw = get(f"{srv.rest_url}trade-tick?query={quote(query)}")
    assert orjson.loads(raw)["ret"] == 401
    assert orjson.loads(get(f"{srv.rest_url}trade-tick?token=t"))["ret"] == 402
    assert orjson.loads(get(f"{srv.rest_url}trade-tick?token=t&query=%7Bbad"))["ret"] == 402
    assert orjson.loads(post(f"{srv.rest_url}batch-kline?token=t", b""))["ret"] == 601
    assert orjson.loads(post(f"{srv.rest_url}batch-kline?token=t", b"{nope"))["ret"] == 400
    with pytest.raises(urllib.error.HTTPError) as err:
        get(f"{srv.rest_url}no-such-endpoint?token=t")
    assert err.value.code == 404


def test_static_info_decodes(srv: MarketServer) -> None:
    answer = rest_get(srv, "static_info", alltick.rest_static_info_query(["00700", "00005"]))
    assert answer.ret == 200
    infos, bad = alltick.decode_static_info(answer.data)
    assert bad == 0
    assert infos["00700"].name_en == "TENCENT"
    assert infos["00700"].name_cn == "腾讯控股"
    assert infos["00700"].name_hk == "騰訊控股"
    assert infos["00700"].lot_size == 100 and infos["00700"].currency == "HKD"
    assert infos["00005"].lot_size == 400
    raw = answer.data["static_info_list"][0]
    assert raw["symbol"] == "700.HK" and "code" not in raw  # keyed as AllTick keys it
    assert raw["exchange"] == "SEHK" and raw["board"] == "HKEquity"
    assert all(isinstance(v, str) for v in raw.values())
    assert int(raw["total_shares"]) >= int(raw["hk_shares"]) > 0
    assert int(raw["total_shares"]) >= int(raw["circulating_shares"]) > 0
    tencent = infos["00700"]
    assert tencent.hk_shares and tencent.eps and tencent.bps and tencent.dividend_yield is not None
    assert tencent.market_cap(400.0) == tencent.hk_shares * 400.0


def test_static_info_fundamentals_are_short_decimal_strings(srv: MarketServer) -> None:
    """``bps``/``eps``... as a quote vendor writes them: 2 to 4 places, no float noise."""
    codes = [s.code for s in universe.stocks()][:40]
    answer = rest_get(srv, "static_info", alltick.rest_static_info_query(codes))
    rows = answer.data["static_info_list"]
    assert len(rows) == len(codes)
    for raw in rows:
        for key in ("bps", "eps", "eps_ttm", "dividend_yield"):
            text = raw[key]
            whole, _, places = text.partition(".")
            assert whole.lstrip("-").isdigit() and places.isdigit(), (key, text)
            assert 2 <= len(places) <= 4, (key, text)


def test_batch_kline_gives_previous_and_today(srv: MarketServer) -> None:
    suspended = next(s.code for s in universe.stocks() if s.suspended)
    body = alltick.rest_kline_body(["00700", suspended], trace="k1")
    raw = post(f"{srv.rest_url}batch-kline?token=t", body)
    answer = alltick.decode_rest(raw)
    assert isinstance(answer, alltick.RestAnswer) and answer.ret == 200
    bars, bad = alltick.decode_klines(answer.data)
    assert bad == 0
    prev, today = bars["00700"]
    assert prev.ts < today.ts
    assert (today.ts - prev.ts) % 86_400_000 == 0
    # the latest trading day (Hong Kong date): on a Saturday, Friday's
    latest = latest_trading_day(calendar(), int(time.time() * 1000))
    assert today.ts == latest * 1000 and prev.ts < today.ts
    for bar in (prev, today):
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.volume > 0
    state = srv.call(lambda m: (m.state("00700").prev_close, m.latest("00700").price))
    assert round(prev.close * 1000) == state[0]
    assert today.close > 0
    s_prev, s_last = bars[suspended]
    assert time.time() * 1000 - s_last.ts > 2 * 86_400_000
    assert s_prev.ts < s_last.ts
    one = alltick.rest_kline_body(["00700"], count=1)
    data = orjson.loads(post(f"{srv.rest_url}batch-kline?token=t", one))["data"]
    assert len(data["kline_list"][0]["kline_data"]) == 1
    two_hours = orjson.dumps(
        {
            "trace": "k2",
            "data": {
                "data_list": [
                    {
                        "code": "700.HK",
                        "kline_type": 6,
                        "kline_timestamp_end": 0,
                        "query_kline_num": 2,
                        "adjust_type": 0,
                    }
                ]
            },
        }
    )
    refused = orjson.loads(post(f"{srv.rest_url}batch-kline?token=t", two_hours))
    assert (refused["ret"], refused["msg"], refused["trace"]) == (
        400,
        "request data param invalid",
        "k2",
    )


def test_rest_rate_limit_per_plan() -> None:
    with MarketServer(rate=0, token="f", plan="free") as server:
        query = alltick.rest_trade_tick_query(["00700"])
        assert rest_get(server, "trade-tick", query, token="f").ret == 200
        second = rest_get(server, "trade-tick", query, token="f")
        assert (second.ret, second.msg) == (429, "rate limit")


def test_sse_refuses_without_referer(srv: MarketServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        get(srv.sse_url)
    assert err.value.code == 403


def test_sse_list_shape(srv: MarketServer) -> None:
    answer = orjson.loads(get(srv.sse_url, {"Referer": SSE_REFERER}))
    rows = answer["result"]
    sh = [s for s in universe.stocks() if "SH" in s.channels]
    assert answer["pageHelp"]["total"] == len(rows) == len(sh)
    assert 550 <= len(rows) <= 600
    assert [r["SECURITY_CODE"] for r in rows] == [s.code for s in sh]
    dates = {r["UPDATE_DATE"] for r in rows}
    assert dates == {srv.list_date}
    for r in rows:
        assert set(r) >= {"SECURITY_CODE", "ABBR_CN", "ABBR_EN", "UPDATE_DATE"}
        assert len(r["SECURITY_CODE"]) == 5 and r["SECURITY_CODE"].isdigit()
    padded = [r for r in rows if "\u3000" in r["ABBR_CN"]]
    assert 1 <= len(padded) < 20
    assert {"SECURITY_CODE": "00001", "ABBR_CN": "长\u3000和"}.items() <= next(
        r for r in rows if r["SECURITY_CODE"] == "00001"
    ).items()
    suspended = {s.code for s in universe.stocks() if s.suspended and "SH" in s.channels}
    assert suspended and suspended <= {r["SECURITY_CODE"] for r in rows}


def test_szse_paging(srv: MarketServer) -> None:
    first = orjson.loads(get(srv.szse_url + "&PAGENO=1"))
    meta = first[0]["metadata"]
    sz = [s for s in universe.stocks() if "SZ" in s.channels]
    assert meta["recordcount"] == len(sz)
    assert meta["pagecount"] == math.ceil(len(sz) / 20)
    assert meta["subname"] == srv.list_date
    codes = []
    for page in range(1, meta["pagecount"] + 1):
        block = orjson.loads(get(srv.szse_url + f"&PAGENO={page}"))[0]
        assert block["metadata"]["pageno"] == page
        assert block["metadata"]["subname"] == meta["subname"]
        assert len(block["data"]) == (20 if page < meta["pagecount"] else len(sz) - 20 * (page - 1))
        for row in block["data"]:
            assert set(row) == {"zqdm", "zqjc", "zqywjc"}
        codes.extend(row["zqdm"] for row in block["data"])
    assert codes == [s.code for s in sz]
    beyond = orjson.loads(get(srv.szse_url + f"&PAGENO={meta['pagecount'] + 1}"))
    assert beyond[0]["data"] == []


def test_channels_overlap_almost_entirely(srv: MarketServer) -> None:
    sse = {
        r["SECURITY_CODE"]
        for r in orjson.loads(get(srv.sse_url, {"Referer": SSE_REFERER}))["result"]
    }
    szse: set[str] = set()
    page = 1
    while True:
        block = orjson.loads(get(srv.szse_url + f"&PAGENO={page}"))[0]
        if not block["data"]:
            break
        szse |= {row["zqdm"] for row in block["data"]}
        page += 1
    assert sse - szse and szse - sse  # a handful only on one list
    assert len(sse & szse) > 0.97 * len(sse | szse)
