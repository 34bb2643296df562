"""The simulated market, pure parts: spread table, universe, trades, books, frames."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hkticks.alltick import protocol as alltick
from hkticks.market_hours import calendar
from hkticks.server import frames, stocklists
from hkticks.server import simulated_stocks as universe
from hkticks.server import tick_ladder as spread
from hkticks.server.market import (
    Market,
    Trade,
    hk_midnight,
    latest_trading_day,
    previous_trading_day,
    previous_weekday,
)

START_MS = 1_780_000_000_000  # a fixed "now" keeps these tests deterministic

# --------------------------------------------------------------------------- spread table


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        (10, 1),
        (250, 1),
        (251, 5),
        (500, 5),
        (505, 10),
        (10_000, 10),
        (10_020, 20),
        (20_000, 20),
        (20_050, 50),
        (100_000, 50),
        (100_100, 100),
        (200_000, 100),
        (200_200, 200),
        (500_000, 200),
        (500_500, 500),
        (1_000_000, 500),
        (1_001_000, 1_000),
        (2_000_000, 1_000),
        (2_002_000, 2_000),
        (5_000_000, 2_000),
        (5_005_000, 5_000),
        (9_995_000, 5_000),
    ],
)
def test_tick_size_follows_the_hkex_spread_table(price: int, tick: int) -> None:
    assert spread.tick_size(price) == tick


def test_valid_prices() -> None:
    assert spread.is_valid_price(382_400)  # 382.4 on a 0.2 tick
    assert not spread.is_valid_price(382_500)  # 382.5 is off the 0.2 grid
    assert spread.is_valid_price(10_000)  # 10.00 ends the 0.01 band
    assert not spread.is_valid_price(10_010)  # 10.01 is inside the 0.02 band
    assert not spread.is_valid_price(0)
    assert not spread.is_valid_price(10_000_000)


def test_ticks_cross_band_boundaries() -> None:
    assert spread.tick_up(9_990) == 10_000
    assert spread.tick_up(10_000) == 10_020
    assert spread.tick_down(10_020) == 10_000
    assert spread.tick_down(10_000) == 9_990
    assert spread.tick_up(250) == 255
    assert spread.tick_down(255) == 250


_valid = st.integers(spread.MIN_PRICE, spread.MAX_PRICE).map(spread.snap)


@settings(max_examples=300, deadline=None)
@given(_valid)
def test_tick_up_and_down_are_adjacent_valid_prices(price: int) -> None:
    assert spread.is_valid_price(price)
    up = spread.tick_up(price)
    if up <= spread.MAX_PRICE:
        assert spread.is_valid_price(up)
        assert not any(spread.is_valid_price(p) for p in range(price + 1, up))
        assert spread.tick_down(up) == price
    down = spread.tick_down(price)
    if down > 0:
        assert spread.is_valid_price(down)
        assert not any(spread.is_valid_price(p) for p in range(down + 1, price))


@settings(max_examples=300, deadline=None)
@given(st.integers(-5, 20_000_000))
def test_snap_always_gives_a_valid_price(price: int) -> None:
    snapped = spread.snap(price)
    assert spread.is_valid_price(snapped)
    if spread.MIN_PRICE <= price <= spread.MAX_PRICE:
        assert abs(snapped - price) <= spread.tick_size(price)


def test_price_formats() -> None:
    assert spread.format_price(382_400) == "382.4"
    assert spread.format_price(380_000) == "380.0"
    assert spread.format_price(395) == "0.395"
    assert spread.format_amount(38_240_000) == "38240.000"
    assert spread.format_amount(1) == "0.001"


# --------------------------------------------------------------------------- universe


def test_universe_size_names_and_flags() -> None:
    stocks = universe.stocks()
    codes = [s.code for s in stocks]
    assert len(stocks) >= 550
    assert len(set(codes)) == len(codes)
    assert codes == sorted(codes)
    by = universe.by_code()
    assert (by["00700"].name_en, by["00700"].name_cn, by["00700"].name_hk) == (
        "TENCENT",
        "腾讯控股",
        "騰訊控股",
    )
    assert by["09988"].name_cn == "阿里巴巴-W"
    assert by["00005"].lot == 400
    real = [s for s in stocks if not s.demo]
    assert len(real) >= 80
    for s in stocks:
        assert len(s.code) == 5 and s.code.isdigit() and s.code != "00000"
        assert spread.is_valid_price(s.ref_price)
        assert s.lot > 0 and s.weight > 0
        assert s.channels in (("SH", "SZ"), ("SH",), ("SZ",))
        if s.demo:
            assert s.name_en == f"DEMO {int(s.code):04d} Holdings"
            assert s.name_cn == f"演示{int(s.code):04d}"
    suspended = [s for s in stocks if s.suspended]
    assert 5 <= len(suspended) <= 8
    assert all(s.demo for s in suspended)
    assert any(s.channels == ("SH",) for s in stocks)
    assert any(s.channels == ("SZ",) for s in stocks)
    # the biggest names trade most
    assert by["00700"].weight > max(s.weight for s in stocks if s.demo)


def test_universe_does_not_depend_on_anything_random() -> None:
    universe.stocks.cache_clear()
    universe.by_code.cache_clear()
    first = universe.stocks()
    universe.stocks.cache_clear()
    assert universe.stocks() == first


def test_sse_pads_short_names_with_full_width_spaces() -> None:
    assert stocklists.sse_name("长和") == "长\u3000和"
    assert stocklists.sse_name("快手-W") == "快\u3000手-W"
    assert stocklists.sse_name("腾讯控股") == "腾讯控股"


# --------------------------------------------------------------------------- market


def _run(seed: int | None, n: int = 3000) -> list[Trade]:
    market = Market(universe.stocks(), seed=seed, start_ms=START_MS)
    out: list[Trade] = []
    for i in range(n // 100):
        out.extend(market.next_trades(100, START_MS + i * 10))
    return out


def test_same_seed_same_market() -> None:
    assert _run(42) == _run(42)
    a = Market(universe.stocks(), seed=5, start_ms=START_MS)
    b = Market(universe.stocks(), seed=5, start_ms=START_MS)
    assert [a.latest(s) for s in a.symbols] == [b.latest(s) for s in b.symbols]
    assert a.book("00700") == b.book("00700")


def test_different_seeds_differ() -> None:
    assert _run(1, 500) != _run(2, 500)


def test_trades_are_well_formed() -> None:
    stocks = universe.by_code()
    trades = _run(7, 20_000)
    assert len(trades) == 20_000
    last_seq: dict[str, int] = {}
    last_ts: dict[str, int] = {}
    directions: Counter[int] = Counter()
    for t in trades:
        stock = stocks[t.symbol]
        assert not stock.suspended
        assert spread.is_valid_price(t.price), t
        assert t.volume > 0 and t.volume % stock.lot == 0, t
        assert t.turnover == t.price * t.volume
        assert t.seq > last_seq.get(t.symbol, 0)
        assert t.ts >= last_ts.get(t.symbol, 0)
        last_seq[t.symbol] = t.seq
        last_ts[t.symbol] = t.ts
        directions[t.direction] += 1
    assert set(directions) == {0, 1, 2}
    assert directions[0] < directions[1] and directions[0] < directions[2]
    per_symbol = Counter(t.symbol for t in trades)
    demo_max = max(n for s, n in per_symbol.items() if stocks[s].demo)
    assert per_symbol["00700"] > demo_max  # activity follows the weights


def test_prices_stay_near_the_previous_close() -> None:
    market = Market(universe.stocks(), seed=3, start_ms=START_MS)
    for i in range(50_000):
        market.next_trade("00700", START_MS + i)
    state = market.state("00700")
    assert abs(math.log(state.last.price / state.prev_close)) < 0.2


def test_day_statistics_follow_trades() -> None:
    market = Market(universe.stocks(), seed=11, start_ms=START_MS)
    before = market.state("09988")
    volume, turnover = before.volume, before.turnover
    made = [market.next_trade("09988", START_MS + i) for i in range(500)]
    assert all(t is not None for t in made)
    prev, today = market.bars("09988")
    assert today.volume == volume + sum(t.volume for t in made if t)
    assert today.turnover == turnover + sum(t.turnover for t in made if t)
    assert today.high >= max(t.price for t in made if t)
    assert today.low <= min(t.price for t in made if t)
    last = made[-1]
    assert last is not None and today.close == last.price
    assert prev.close == market.state("09988").prev_close
    # START_MS is a Friday 04:26 in Hong Kong, before the open: the latest trading day
    # is Thursday, the previous one Wednesday (the HKEX calendar's days, not the clock's)
    assert today.ts == hk_midnight(START_MS / 1000) - 86_400
    assert prev.ts == previous_weekday(today.ts)
    assert today.ts == latest_trading_day(calendar(), START_MS)
    assert prev.ts == previous_trading_day(calendar(), today.ts)


def test_suspended_stocks_never_trade_and_are_days_old() -> None:
    market = Market(universe.stocks(), seed=1, start_ms=START_MS)
    suspended = [s.code for s in universe.stocks() if s.suspended]
    for code in suspended:
        assert code not in market.active
        assert market.next_trade(code, START_MS) is None
        assert START_MS - market.latest(code).ts > 2 * 86_400_000
        prev, last_day = market.bars(code)
        assert prev.ts < last_day.ts < hk_midnight(START_MS / 1000)
    picked = set(market.pick(20_000))
    assert not picked & set(suspended)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_books_are_consistent_with_trades(seed: int) -> None:
    market = Market(universe.stocks(), seed=seed, start_ms=START_MS)
    stocks = universe.by_code()
    checked = 0
    for symbol in market.pick(3000):
        trade = market.next_trade(symbol, START_MS)
        assert trade is not None
        bids, asks = market.book(trade.symbol, 10)
        lot = stocks[trade.symbol].lot
        assert bids and asks
        assert len(bids) <= 10 and len(asks) <= 10
        assert bids[0][0] < asks[0][0]
        assert bids[0][0] <= trade.price <= asks[0][0]
        assert all(b1[0] > b2[0] for b1, b2 in zip(bids, bids[1:], strict=False))
        assert all(a1[0] < a2[0] for a1, a2 in zip(asks, asks[1:], strict=False))
        for price, volume in bids + asks:
            assert spread.is_valid_price(price)
            assert volume > 0 and volume % lot == 0
        assert market.book(trade.symbol, 3) == (bids[:3], asks[:3])
        checked += 1
    assert checked == 3000


def test_trade_sides_match_the_book() -> None:
    """A buy lifts the ask, a sell hits the bid."""
    market = Market(universe.stocks(), seed=9, start_ms=START_MS)
    sides: dict[int, list[bool]] = defaultdict(list)
    for i in range(2000):
        t = market.next_trade("00700", START_MS + i)
        assert t is not None
        bids, asks = market.book("00700", 1)
        if t.direction == 1:
            sides[1].append(t.price == asks[0][0])
        elif t.direction == 2:
            sides[2].append(t.price == bids[0][0])
    assert sides[1] and all(sides[1])
    assert sides[2] and all(sides[2])


# --------------------------------------------------------------------------- frames


def test_trade_frame_default_form() -> None:
    enc = frames.FrameEncoder()
    trade = Trade("00700", 123456, START_MS, 382_400, 100, 1)
    raw = enc.trade(trade)
    assert orjson.loads(raw) == {
        "cmd_id": 22998,
        "data": {
            "code": "700.HK",
            "seq": 123456,
            "tick_time": START_MS,
            "price": "382.4",
            "volume": "100",
            "turnover": "38240.000",
            "trade_direction": 1,
        },
    }
    tick = alltick.decode(raw, recv_ts=START_MS + 5)
    assert isinstance(tick, alltick.Tick)
    assert (tick.symbol, tick.ts, tick.price, tick.volume, tick.side, tick.seq) == (
        "00700",
        START_MS,
        382.4,
        100,
        "buy",
        123456,
    )
    assert tick.turnover == pytest.approx(38240.0)


def test_trade_frame_variants_decode() -> None:
    trade = Trade("09988", 7, START_MS + 999, 81_050, 300, 0)
    numbers = frames.FrameEncoder(numbers_as_strings=False).trade(trade)
    data = orjson.loads(numbers)["data"]
    assert data["price"] == 81.05 and data["volume"] == 300 and data["seq"] == 7
    seconds = frames.FrameEncoder(tick_time_unit="s").trade(trade)
    assert orjson.loads(seconds)["data"]["tick_time"] == (START_MS + 999) // 1000
    strings = frames.FrameEncoder(ids_as_strings=True).trade(trade)
    data = orjson.loads(strings)["data"]
    assert (data["seq"], data["tick_time"], data["price"]) == ("7", str(START_MS + 999), "81.05")
    strings_seconds = frames.FrameEncoder(ids_as_strings=True, tick_time_unit="s").trade(trade)
    assert orjson.loads(strings_seconds)["data"]["tick_time"] == str((START_MS + 999) // 1000)
    both = frames.FrameEncoder(numbers_as_strings=False, ids_as_strings=True).trade(trade)
    assert orjson.loads(both)["data"]["seq"] == "7"
    for raw in (numbers, seconds, strings, strings_seconds, both):
        tick = alltick.decode(raw, recv_ts=0)
        assert isinstance(tick, alltick.Tick)
        assert tick.symbol == "09988" and tick.price == 81.05 and tick.side is None
    with pytest.raises(ValueError):
        frames.FrameEncoder(tick_time_unit="us")


def test_book_frame_decodes() -> None:
    raw = frames.FrameEncoder().book("00005", 9, START_MS, [(65_200, 400)], [(65_250, 800)])
    data = orjson.loads(raw)["data"]
    assert (data["seq"], data["tick_time"]) == (9, START_MS)  # integers, as documented
    assert data["bids"] == [{"price": "65.2", "volume": "400"}]
    book = alltick.decode(raw, recv_ts=0)
    assert isinstance(book, alltick.Book)
    assert book.symbol == "00005" and book.bids == ((65.2, 400),) and book.asks == ((65.25, 800),)


def test_response_frame_always_carries_the_header() -> None:
    full = orjson.loads(frames.response(22005, 600, seq_id=3, trace="x", data={"a": 1}))
    assert full == {
        "ret": 600,
        "msg": "code invalid",
        "cmd_id": 22005,
        "seq_id": 3,
        "trace": "x",
        "data": {"a": 1},
    }
    bare = orjson.loads(frames.response(None, 401))
    # unknown header fields: 0 / 0 / "" (AllTick's documented error answer)
    assert bare == {
        "ret": 401,
        "msg": "token invalid",
        "cmd_id": 0,
        "seq_id": 0,
        "trace": "",
        "data": {},
    }


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_ws_text_frame_header(size: int) -> None:
    payload = b"x" * size
    framed = frames.ws_text(payload)
    assert framed[0] == 0x81  # FIN + text, unmasked
    if size < 126:
        assert framed[1] == size and framed[2:] == payload
    elif size < 65536:
        assert framed[1] == 126 and int.from_bytes(framed[2:4], "big") == size
        assert framed[4:] == payload
    else:
        assert framed[1] == 127 and int.from_bytes(framed[2:10], "big") == size
        assert framed[10:] == payload
