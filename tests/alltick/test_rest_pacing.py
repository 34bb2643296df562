"""The REST client keeps AllTick's HTTP limits per token (``interface_limitation.md``).

Pacing is checked on a fake clock (no waiting); the 429 back-off, the codes per
call and the once-only warning against a real loopback HTTP server.
"""

from __future__ import annotations

import json
import logging

import pytest
from kit.exchange import TOKEN, FakeExchange
from test_rest import FakeClock

from hkticks.alltick import protocol as alltick
from hkticks.alltick.rest_client import DailyCapReached, RestClient, RestPacer, pacer_for


def pacer(plan: str | alltick.Plan, wall: float = 0.0) -> tuple[RestPacer, FakeClock]:
    clock = FakeClock()
    p = alltick.PLANS[plan] if isinstance(plan, str) else plan
    return RestPacer(p, clock=clock.time, sleep=clock.sleep, wall=lambda: wall), clock


def slots(p: RestPacer, clock: FakeClock, endpoints: list[str]) -> list[float]:
    """The start time of each call, the clock advancing to each slot as a caller would."""
    out = []
    for e in endpoints:
        waited = p.acquire(e)
        clock.now += waited
        out.append(round(clock.now - 100.0, 6))
    return out


def test_basic_plan_one_per_second_and_batch_kline_every_three() -> None:
    p, clock = pacer("basic")
    got = slots(
        p, clock, ["batch-kline", "trade-tick", "batch-kline", "static_info", "batch-kline"]
    )
    assert got == [0.0, 1.0, 3.0, 4.0, 6.0]


@pytest.mark.parametrize(
    ("plan", "interval", "batch"),
    [("free", 10.0, 10.0), ("premium", 0.1, 2.0), ("professional", 0.05, 1.0)],
)
def test_each_plan_rate(plan: str, interval: float, batch: float) -> None:
    p, clock = pacer(plan)
    assert slots(p, clock, ["kline", "kline", "depth-tick"]) == pytest.approx(
        [0.0, interval, 2 * interval]
    )
    p, clock = pacer(plan)
    assert slots(p, clock, ["batch-kline", "batch-kline"]) == pytest.approx([0.0, batch])


def test_per_minute_total() -> None:
    plan = alltick.Plan("tight", 1, 5, 100.0, 0.01, 3, 1000, 5, 5)  # 3 calls a minute
    p, clock = pacer(plan)
    assert slots(p, clock, ["a", "b", "c", "d", "e"]) == pytest.approx(
        [0.0, 0.01, 0.02, 60.0, 60.01]
    )


def test_daily_cap_and_reset_at_hong_kong_midnight() -> None:
    plan = alltick.Plan("tiny", 1, 5, 100.0, 0.01, 1000, 2, 5, 5)
    wall = [15 * 3600.0]  # 23:00 HKT on 1970-01-01
    clock = FakeClock()
    p = RestPacer(plan, clock=clock.time, sleep=clock.sleep, wall=lambda: wall[0])
    p.acquire("a")
    p.acquire("b")
    with pytest.raises(DailyCapReached, match=r"tiny plan's 2 REST calls for today are used up"):
        p.acquire("c")
    wall[0] += 3600.0  # 00:00 HKT: a new day
    assert p.acquire("c") >= 0 and p.today == 1


def test_rate_limited_backs_off_doubling_to_a_cap() -> None:
    p, clock = pacer("premium")
    holds = [p.rate_limited() for _ in range(8)]
    assert holds == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert p.acquire("kline") == pytest.approx(60.0)
    p.answered()
    assert p.rate_limited() == 1.0


def test_clients_of_one_token_share_a_pacer() -> None:
    a = pacer_for("http://x/", "tok", alltick.PLANS["basic"])
    assert pacer_for("http://x/", "tok", alltick.PLANS["basic"]) is a
    assert pacer_for("http://x/", "other", alltick.PLANS["basic"]) is not a


def test_free_plan_asks_five_codes_per_trade_tick(exchange: FakeExchange) -> None:
    codes = [s.code for s in exchange.stocks[:7]]
    fast = RestPacer(alltick.Plan("free", 1, 5, 1000.0, 0.001, 10_000, 10_000, 5, 5))
    client = RestClient(exchange.rest_url, TOKEN, "free", timeout=2, pacer=fast)
    assert client.batch_size == 5
    assert sorted(client.latest_trades(codes)) == sorted(codes)
    calls = exchange.hits("/quote-stock-b-api/trade-tick")
    assert [len(json.loads(c.params["query"])["data"]["symbol_list"]) for c in calls] == [5, 2]


def test_a_429_backs_off_and_says_so_once(
    exchange: FakeExchange, caplog: pytest.LogCaptureFixture
) -> None:
    exchange.rest_faults.extend(
        [{"ret": 429, "msg": "rate limit"}, {"ret": 429, "msg": "rate limit"}]
    )
    clock = FakeClock()
    p = RestPacer(alltick.PLANS["premium"], clock=clock.time, sleep=clock.sleep)
    client = RestClient(exchange.rest_url, TOKEN, "premium", timeout=2, backoff=0.0, pacer=p)
    with caplog.at_level(logging.WARNING, logger="hkticks.rest"):
        assert set(client.latest_trades(["00700"])) == {"00700"}
        exchange.rest_faults.append({"ret": 429, "msg": "rate limit"})
        assert set(client.static_info(["00700"])) == {"00700"}
    warnings = [r for r in caplog.records if r.name == "hkticks.rest"]
    assert len(warnings) == 1
    assert "rate limit hit (trade-tick, premium plan): backing off 1 s" in warnings[0].getMessage()
    assert client.rate_limited == 3
    assert clock.sleeps[:2] == [pytest.approx(1.0), pytest.approx(2.0)]  # 1 s, then doubled
