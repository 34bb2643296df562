"""The AllTick REST client against a real local HTTP server (tests/kit/exchange.py)."""

from __future__ import annotations

import json
import threading

import pytest
from kit.exchange import TOKEN, FakeExchange

from hkticks.alltick import protocol as alltick
from hkticks.alltick.rest_client import RateLimiter, RestClient
from hkticks.errors import SourceError, TokenRejected


def client_for(fx: FakeExchange, token: str = TOKEN, **kw: object) -> RestClient:
    opts: dict = {"timeout": 2.0, "token_source": "HKTICKS_TOKEN", "backoff": 0.0}
    opts.update(kw)
    # premium: 10 calls/s, so the tests pace for real but quickly
    return RestClient(fx.rest_url, token, alltick.PLANS["premium"], **opts)


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def time(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)


# ---------------------------------------------------------------------------
# Rate limiter


def test_rate_limiter_spaces_calls_by_the_plan_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        alltick.PLANS["basic"].rest_per_second, clock=clock.time, sleep=clock.sleep
    )
    waits = [limiter.acquire() for _ in range(4)]
    assert waits == [0.0, 1.0, 2.0, 3.0]  # basic: one call per second
    clock.now += 10  # idle for a while: the next call goes at once
    assert limiter.acquire() == 0.0


def test_rate_limiter_free_plan_and_hold_off() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        alltick.PLANS["free"].rest_per_second, clock=clock.time, sleep=clock.sleep
    )
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == pytest.approx(10.0)  # free: one call per 10 s
    limiter.hold_off(60.0)
    assert limiter.acquire() == pytest.approx(60.0)


def test_rate_limiter_is_thread_safe() -> None:
    clock = FakeClock()
    limiter = RateLimiter(20.0, clock=clock.time, sleep=clock.sleep)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            w = limiter.acquire()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 100 calls from 4 threads got 100 distinct slots, 1/20 s apart
    slots = sorted(round(w / 0.05) for w in waits)
    assert slots == list(range(100))


def test_rate_limiter_rejects_a_zero_rate() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)


# ---------------------------------------------------------------------------
# Calls


def test_latest_trades_batches_fifty_codes_per_call(exchange: FakeExchange) -> None:
    codes = [s.code for s in exchange.stocks[:120]]
    client = client_for(exchange)
    trades = client.latest_trades(codes + codes[:3])  # repeats are asked once
    assert sorted(trades) == sorted(codes)
    tencent = trades["00700"]
    assert tencent.symbol == "00700" and tencent.price == 10.5 and tencent.volume == 200
    assert tencent.side == "buy" and tencent.src == "alltick"
    calls = exchange.hits("/quote-stock-b-api/trade-tick")
    assert [len(json.loads(c.params["query"])["data"]["symbol_list"]) for c in calls] == [
        50,
        50,
        20,
    ]
    first = json.loads(calls[0].params["query"])
    assert first["data"]["symbol_list"][0] == {"code": "700.HK"}
    assert isinstance(first["trace"], str) and first["trace"]
    assert all(c.params["token"] == TOKEN for c in calls)
    assert client.calls == 3


def test_latest_trades_leaves_out_codes_without_trades(exchange: FakeExchange) -> None:
    exchange.no_trade.add("00005")
    trades = client_for(exchange).latest_trades(["00700", "00005"])
    assert set(trades) == {"00700"}


def test_static_info(exchange: FakeExchange) -> None:
    infos = client_for(exchange).static_info(["00700", "09988"])
    assert infos["00700"].name_en == "TENCENT"
    assert infos["00700"].name_cn == "腾讯控股"
    assert infos["09988"].lot_size == 100 and infos["09988"].currency == "HKD"


def test_daily_bars_posts_kline_type_8_and_sorts_oldest_first(exchange: FakeExchange) -> None:
    bars = client_for(exchange).daily_bars(["00700", "02318"])
    assert set(bars) == {"00700", "02318"}
    prev, today = bars["00700"]
    assert prev.ts < today.ts and prev.close == 10.1 and today.open == 10.2
    (call,) = exchange.hits("/quote-stock-b-api/batch-kline")
    assert call.params == {"token": TOKEN}
    body = json.loads(call.body)
    item = body["data"]["data_list"][0]
    assert item == {
        "code": "700.HK",
        "kline_type": 8,
        "kline_timestamp_end": 0,
        "query_kline_num": 2,
        "adjust_type": 0,
    }


def test_ret_401_raises_token_rejected_without_the_token(exchange: FakeExchange) -> None:
    client = client_for(exchange, token="not-the-token-QQQ")
    with pytest.raises(TokenRejected) as err:
        client.latest_trades(["00700"])
    message = str(err.value)
    assert message.startswith("token rejected by the REST API (token from HKTICKS_TOKEN)")
    assert "not-the-token-QQQ" not in message and err.value.exit_code == 3
    assert "not-the-token-QQQ" not in repr(client)


def test_http_401_raises_token_rejected(exchange: FakeExchange) -> None:
    exchange.rest_faults.append({"status": 401})
    with pytest.raises(TokenRejected):
        client_for(exchange).static_info(["00700"])


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 429, "headers": {"Retry-After": "0"}},
        {"ret": 429, "msg": "rate limit"},
        {"ret": 605, "msg": "too many requests"},
        {"status": 503},
        {"raw": b"<html>gateway</html>"},
    ],
)
def test_rate_limits_and_hiccups_are_retried(exchange: FakeExchange, fault: dict) -> None:
    exchange.rest_faults.append(fault)
    client = client_for(exchange)
    trades = client.latest_trades(["00700", "09988"])
    assert set(trades) == {"00700", "09988"}
    assert client.calls == 2


def test_persistent_failure_is_a_source_error_with_the_url_redacted(
    exchange: FakeExchange,
) -> None:
    exchange.rest_faults.extend([{"status": 500}] * 3)
    client = client_for(exchange, retries=2)
    with pytest.raises(SourceError) as err:
        client.latest_trades(["00700"])
    message = str(err.value)
    assert "HTTP 500, 3 tries" in message and exchange.rest_url in message
    assert TOKEN not in message and "\n" not in message
    assert client.calls == 3


def test_timeout_is_a_source_error(exchange: FakeExchange) -> None:
    exchange.rest_faults.extend([{"sleep": 3.0}, {"sleep": 3.0}])
    client = client_for(exchange, timeout=0.3, retries=1)
    with pytest.raises(SourceError, match=r"timed out after 0.3 s, 2 tries"):
        client.latest_trades(["00700"])


def test_other_ret_codes_explain_themselves(exchange: FakeExchange) -> None:
    exchange.rest_faults.append({"ret": 603, "msg": "token level not enough"})
    with pytest.raises(SourceError, match=r"ret 603 \(too many symbols for the plan\)"):
        client_for(exchange).latest_trades(["00700"])


def test_rejected_codes_are_skipped_not_fatal(exchange: FakeExchange) -> None:
    exchange.rest_faults.append({"ret": 600, "data": {"invalid_codes": ["5.HK"]}})
    client = client_for(exchange)
    trades = client.latest_trades(["00700", "00005", "09988"])
    assert set(trades) == {"00700", "09988"}
    assert client.skipped == ["00005"]
    # a rejection that names nothing skips its batch only
    exchange.rest_faults.append({"ret": 604, "data": None})
    codes = [s.code for s in exchange.stocks[:60]]
    client = client_for(exchange)
    trades = client.latest_trades(codes)
    assert sorted(trades) == sorted(codes[50:])
    assert client.skipped == codes[:50]


def test_client_accepts_a_plan_name(exchange: FakeExchange) -> None:
    client = RestClient(exchange.rest_url.rstrip("/"), TOKEN, "all-hk", timeout=2.0)
    assert client.pacer.plan.rest_interval_s == pytest.approx(1 / 20)
    assert set(client.latest_trades(["00700"])) == {"00700"}


def test_concurrent_callers_share_the_limiter(exchange: FakeExchange) -> None:
    client = client_for(exchange)
    results: list[int] = []

    def work() -> None:
        results.append(len(client.latest_trades(["00700", "09988"])))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [2, 2, 2] and client.calls == 3
