"""The simulated market's k-line history (server/klines.py): pure, no sockets."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from hkticks.market_hours import load_calendar
from hkticks.server import simulated_stocks as universe
from hkticks.server.klines import KlineInputs, KlineSource, session_minutes, spread_over
from hkticks.server.market import Bar, Market
from hkticks.server.tick_ladder import is_valid_price

HKT = dt.timezone(dt.timedelta(hours=8))


def ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=HKT).timestamp() * 1000)


@pytest.mark.parametrize("n", [1, 2, 7, 150, 330])
@pytest.mark.parametrize("seed", range(6))
def test_a_day_spread_over_its_minutes_adds_up(n: int, seed: int) -> None:
    rng = random.Random(seed)
    low = rng.choice([1_500, 38_000, 380_000])
    high = low + rng.choice([0, 10, 2_000, 20_000]) // (10 if low < 10_000 else 1) * 10
    open_, close = rng.choice([low, high]), rng.choice([low, high])
    lot = rng.choice([100, 500, 2000])
    volume = lot * rng.randint(0, 90_000) + rng.choice([0, 37])
    day = Bar(0, open_, high, low, close, volume, volume * (low + high) // 2)
    minutes = [34_200 + 60 * i for i in range(n)]
    bars = spread_over(day, minutes, lot, random.Random(seed))
    assert [b.ts for b in bars] == minutes
    assert bars[0].open == day.open and bars[-1].close == day.close
    assert max(b.high for b in bars) == day.high and min(b.low for b in bars) == day.low
    assert sum(b.volume for b in bars) == day.volume
    assert sum(b.turnover for b in bars) == day.turnover
    for prev, b in zip(bars, bars[1:], strict=False):
        assert b.open == prev.close  # each minute opens where the last one closed
    for b in bars:
        assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
        assert b.volume >= 0 and b.turnover >= 0
        assert all(is_valid_price(p) for p in (b.open, b.high, b.low, b.close))
    assert all(b.volume % lot == 0 for b in bars[:-1])


def test_session_minutes_full_half_and_closed_days() -> None:
    cal = load_calendar(None)
    full = session_minutes(cal, ms(2026, 12, 1) // 1000)
    assert len(full) == 330
    assert full[0] == ms(2026, 12, 1, 9, 30) // 1000 and full[-1] == ms(2026, 12, 1, 15, 59) // 1000
    assert ms(2026, 12, 1, 12, 0) // 1000 not in full  # lunch
    half = session_minutes(cal, ms(2026, 12, 24) // 1000)  # Christmas Eve
    assert len(half) == 150 and half[-1] == ms(2026, 12, 24, 11, 59) // 1000
    assert session_minutes(cal, ms(2026, 12, 25) // 1000) == []  # Christmas
    assert session_minutes(cal, ms(2026, 12, 5) // 1000) == []  # a Saturday


@pytest.mark.parametrize(
    ("start", "today"),
    [
        ((2026, 12, 1, 10, 15), (2026, 12, 1)),  # in the morning session: that day so far
        ((2026, 12, 1, 9, 10), (2026, 11, 30)),  # before the open: the day before
        ((2026, 12, 5, 2, 30), (2026, 12, 4)),  # a Saturday night: Friday
        ((2026, 12, 25, 11, 0), (2026, 12, 24)),  # Christmas: the half day before it
    ],
)
def test_today_is_the_latest_trading_day_and_adds_up(
    start: tuple[int, ...], today: tuple[int, ...]
) -> None:
    start_ms = ms(*start)
    market = Market(universe.stocks(), seed=4, start_ms=start_ms, calendar=load_calendar(None))
    market.track_minutes()
    made = [market.next_trade("00700", start_ms + i * 700) for i in range(300)]
    source = KlineSource(4)
    src = KlineInputs.of(market, "00700", start_ms + 300 * 700)
    prev, day = source.bars(src, 8, 2)
    assert day.ts * 1000 == ms(*today)
    minutes = source.bars(src, 1, 500)
    assert len(minutes) == 500
    mine = [b for b in minutes if b.ts >= day.ts]
    assert sum(b.volume for b in mine) == day.volume
    assert sum(b.turnover for b in mine) == day.turnover
    assert max(b.high for b in mine) == day.high and min(b.low for b in mine) == day.low
    assert mine[-1].close == day.close == made[-1].price  # type: ignore[union-attr]
    live = {t.ts // 60_000 * 60 for t in made if t is not None}
    cal = load_calendar(None)
    for b in minutes:
        in_session = any(
            s <= b.ts * 1000 < e for s, e in cal.open_intervals((b.ts + 28_800) // 86_400)
        )
        assert in_session or b.ts in live  # outside HKEX hours: only minutes trades were served in
