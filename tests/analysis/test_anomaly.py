"""The anomaly engine on hand-made tick streams: each definition, warm-up, lunch, cooldown."""

from __future__ import annotations

import calendar

import pytest

from hkticks.analysis.alert_config import KINDS, AlertConfig, SymbolBaseline
from hkticks.analysis.anomaly import Alert, AnomalyEngine
from hkticks.analysis.session_clock import phase_span, session_minute
from hkticks.errors import ConfigError
from hkticks.tick import Tick


def hk(h: int, m: int, s: float = 0.0, day: int = 30) -> int:
    """Epoch ms of HH:MM:SS Hong Kong time on 2026-11-<day> (the 30th is a Monday)."""
    return calendar.timegm((2026, 11, day, h - 8, m, 0)) * 1000 + int(s * 1000)


def tk(sym: str, ts: int, price: float = 10.0, vol: int = 100) -> Tick:
    return Tick(sym, ts, price, vol, price * vol, "buy", None, ts, "test")


def steady(sym: str, start: int, seconds: int, per_s: int = 1, **kw: float) -> list[Tick]:
    step = 1000 // per_s
    return [tk(sym, start + i * step, **kw) for i in range(seconds * per_s)]  # type: ignore[arg-type]


def burst(sym: str, start: int, count: int, every_ms: int = 100, **kw: float) -> list[Tick]:
    return [tk(sym, start + i * every_ms, **kw) for i in range(count)]  # type: ignore[arg-type]


def kinds(alerts: list[Alert]) -> list[str]:
    return [a.kind for a in alerts]


# -- the clock and sessions -----------------------------------------------------------


def test_session_minute_and_phases() -> None:
    assert session_minute(hk(9, 0)) == 0.0
    assert session_minute(hk(9, 31)) == 1.0
    assert session_minute(hk(12, 30)) == 150.0  # lunch clamps to the morning's end
    assert session_minute(hk(13, 30)) == 180.0
    assert session_minute(hk(16, 5)) == 330.0
    lo, hi, cont, _ = phase_span(hk(10, 0))
    assert (lo, hi, cont) == (hk(9, 30), hk(12, 0), True)
    assert phase_span(hk(12, 30))[2] is False
    assert phase_span(hk(16, 5))[2] is False  # closing auction
    assert phase_span(hk(9, 15))[2] is False  # pre-opening auction
    assert phase_span(hk(11, 0, day=28))[2] is False  # a Saturday


def test_auction_and_lunch_trades_raise_nothing_and_count_nowhere() -> None:
    e = AnomalyEngine(AlertConfig(block_floor=1000.0, block_min_trades=1))
    # a huge print in the pre-opening auction and at lunch: ignored
    assert e.feed([tk("00700", hk(9, 20), vol=10**6), tk("00700", hk(12, 30), vol=10**6)]) == []
    assert e.stats.counted == 0
    # a burst during lunch counts for nothing either
    e.feed(burst("00700", hk(12, 10), 500))
    assert e.stats.counted == 0


def test_lunch_is_left_out_of_the_trailing_rate() -> None:
    """1 trade/s all morning; after lunch the same rate is normal, not a spike.

    If the lunch hour counted as trading time, the baseline rate would be
    diluted and ordinary afternoon flow would look busier than it is.
    """
    e = AnomalyEngine()
    alerts = e.feed(steady("00700", hk(11, 50), 600))  # 11:50-12:00
    alerts += e.feed(steady("00700", hk(13, 0), 600))  # 13:00-13:10
    assert alerts == []
    # continuous time seen: 10 + 10 minutes, lunch excluded
    assert e._active_ms == pytest.approx(1_199_000, abs=1000)


# -- volume_spike ------------------------------------------------------------------------


def test_volume_spike_after_warmup_on_a_one_trade_per_second_name() -> None:
    e = AnomalyEngine()
    t0 = hk(10, 0)
    assert e.feed(steady("00700", t0, 120)) == []  # 2 minutes of 1 trade/s: warm
    got = e.feed(burst("00700", t0 + 120_000, 150))  # then 10 trades/s
    assert kinds(got) == ["volume_spike"]
    a = got[0]
    assert a.symbol == "00700" and a.threshold == 3.0 and a.window_s == 10.0
    assert a.value >= 3.0
    assert t0 + 120_000 <= a.ts <= t0 + 120_000 + 5_000  # within 5 s of the burst's start
    assert "volume spike" in a.message


def test_no_volume_spike_during_warmup() -> None:
    e = AnomalyEngine()
    t0 = hk(10, 0)
    got = e.feed(steady("00700", t0, 60) + burst("00700", t0 + 60_000, 300))
    assert "volume_spike" not in kinds(got)


def test_warmup_needs_trades_not_only_time() -> None:
    e = AnomalyEngine(AlertConfig(warmup_trades=30))
    t0 = hk(10, 0)
    # a name trading every 10 s: 30 trades take 5 minutes
    quiet = [tk("00001", t0 + i * 10_000) for i in range(20)]
    other = steady("00700", t0, 200)  # keeps the clock going
    stream = sorted(quiet + other, key=lambda t: t.ts)
    stream += burst("00001", t0 + 201_000, 60)
    assert "volume_spike" not in kinds(e.feed(stream))


def test_heavy_single_trade_is_not_a_volume_spike() -> None:
    e = AnomalyEngine(AlertConfig(kinds=("volume_spike",)))
    t0 = hk(10, 0)
    e.feed(steady("00700", t0, 300))
    # one enormous trade: volume ratio huge, trade count ordinary
    assert e.feed([tk("00700", t0 + 300_000, vol=10**6)]) == []


def test_ordinary_steady_flow_raises_nothing() -> None:
    e = AnomalyEngine()
    assert e.feed(steady("00700", hk(10, 0), 1800, per_s=5)) == []


def test_volume_spike_against_history_needs_no_warmup() -> None:
    minute_n = [60.0] * 330  # history: 1 trade/s
    minute_v = [6000.0] * 330
    base = SymbolBaseline(
        days=5, cum=[6000.0 * (m + 1) for m in range(330)], minute_n=minute_n, minute_v=minute_v
    )
    e = AnomalyEngine(baselines={"00700": base})
    got = e.feed(burst("00700", hk(10, 0), 150))  # 10 trades/s from the first second
    assert "volume_spike" in kinds(got)
    assert "history" in got[kinds(got).index("volume_spike")].message


def test_cooldown_per_symbol_and_kind() -> None:
    e = AnomalyEngine(AlertConfig(cooldown_s=60))
    t0 = hk(10, 0)
    warm = sorted(steady("00700", t0, 900) + steady("09988", t0, 900), key=lambda t: t.ts)
    e.feed(warm)
    first = e.feed(burst("00700", t0 + 900_000, 100))  # 10 s of 10 trades/s
    assert kinds(first) == ["volume_spike"]
    # another symbol is not held back by 00700's cooldown
    assert kinds(e.feed(burst("09988", t0 + 910_000, 100))) == ["volume_spike"]
    # 00700 again inside its cooldown: nothing; after it: a new alert
    assert e.feed(burst("00700", t0 + 920_000, 300)) == []
    # (a still-busy window may alert once the cooldown ends: a real, continuing burst)
    e.feed(steady("00700", t0 + 950_000, 120))
    later = e.feed(burst("00700", t0 + 1_070_000, 200, every_ms=50))
    assert kinds(later) == ["volume_spike"]
    assert later[0].ts - first[0].ts >= 60_000


# -- block_trade ---------------------------------------------------------------------------


def test_block_trade_floor() -> None:
    e = AnomalyEngine(AlertConfig(block_floor=5_000_000, block_min_trades=10, block_x=2))
    t0 = hk(10, 0)
    e.feed(steady("00700", t0, 20))
    got = e.feed([tk("00700", t0 + 20_000, vol=800_000)])  # HK$8M
    assert kinds(got) == ["block_trade"]
    assert got[0].value == 8_000_000 and got[0].threshold == 5_000_000
    assert (
        got[0].window_s == 0.0
        and "at 10.00 = HK$8.00M (threshold HK$5.00M: the floor)" in got[0].message
    )
    # below the floor: nothing
    assert e.feed([tk("00700", t0 + 200_000, vol=400_000)]) == []


def test_block_trade_uses_the_symbols_own_percentile_above_the_floor() -> None:
    e = AnomalyEngine(AlertConfig(block_floor=1_000, block_min_trades=100, cooldown_s=0))
    t0 = hk(10, 0)
    # trades of HK$1,000 with every 10th one HK$2,000: the 95th percentile is ~HK$2,000
    stream = [tk("00005", t0 + i * 1000, vol=200 if i % 10 == 0 else 100) for i in range(300)]
    # a HK$50,000 print before the 100th trade: nothing is known of the name yet
    stream[50] = tk("00005", stream[50].ts, vol=5_000)
    # and after: 25x the percentile is below block_x (50x)
    stream[200] = tk("00005", stream[200].ts, vol=5_000)
    assert e.feed(stream) == []
    # 100x the 95th percentile (HK$200,000) is a block
    got = e.feed([tk("00005", t0 + 301_000, vol=20_000)])
    assert kinds(got) == ["block_trade"]
    assert (
        100_000 <= got[0].threshold <= 120_000
    )  # 50 x (2,000 .. 2,180: a histogram bucket's edge)


def test_no_block_trade_before_the_symbol_has_a_size_distribution() -> None:
    e = AnomalyEngine(AlertConfig(block_floor=1_000_000, block_min_trades=100))
    t0 = hk(10, 0)
    assert e.feed(steady("00700", t0, 50) + [tk("00700", t0 + 50_000, vol=10**7)]) == []


def test_block_threshold_from_history() -> None:
    base = SymbolBaseline(days=3, cum=[], block=2_000_000.0)
    e = AnomalyEngine(AlertConfig(block_floor=1_000_000, block_x=1.0), baselines={"00700": base})
    t0 = hk(10, 0)
    assert e.feed([tk("00700", t0, price=100.0, vol=15_000)]) == []  # 1.5M < 2M
    assert kinds(e.feed([tk("00700", t0 + 1000, price=100.0, vol=25_000)])) == ["block_trade"]


# -- price_move ---------------------------------------------------------------------------


def test_price_move_vs_five_minutes_earlier() -> None:
    e = AnomalyEngine()
    t0 = hk(10, 0)
    flat = steady("00700", t0, 400, price=100.0)
    assert e.feed(flat) == []
    got = e.feed([tk("00700", t0 + 400_000, price=109.0), tk("00700", t0 + 401_000, price=110.5)])
    assert kinds(got) == ["price_move"]
    assert got[0].value == pytest.approx(10.5) and got[0].threshold == 10.0
    assert got[0].window_s == 300.0


def test_slow_drift_is_not_a_price_move() -> None:
    """+20% over 20 minutes is never 10% within any 5 minutes."""
    e = AnomalyEngine()
    t0 = hk(10, 0)
    stream = [tk("00700", t0 + i * 1000, price=100.0 * (1 + 0.2 * i / 1200)) for i in range(1200)]
    assert "price_move" not in kinds(e.feed(stream))


def test_price_move_down_and_before_five_minutes_of_history() -> None:
    e = AnomalyEngine()
    t0 = hk(10, 0)
    stream = steady("02318", t0, 60, price=40.0) + [tk("02318", t0 + 61_000, price=35.5)]
    got = e.feed(stream)
    assert kinds(got) == ["price_move"]
    assert got[0].value == pytest.approx(-11.25)


# -- rvol and breakout -----------------------------------------------------------------------


def _base(per_minute: float) -> SymbolBaseline:
    return SymbolBaseline(days=5, cum=[per_minute * (m + 1) for m in range(330)])


def test_rvol_by_time_of_day() -> None:
    e = AnomalyEngine(baselines={"00700": _base(6000.0)})  # usually 100 shares/s
    t0 = hk(10, 0)
    normal = e.feed(steady("00700", t0, 400))  # 100 shares/s: rvol 1
    assert normal == []
    assert e._syms["00700"].rvol == pytest.approx(1.0, rel=0.05)
    e2 = AnomalyEngine(AlertConfig(kinds=("rvol",)), baselines={"00700": _base(6000.0)})
    got = e2.feed(steady("00700", t0, 900, per_s=4))  # 4x the usual volume for 15 min
    assert kinds(got) == ["rvol"]  # once: rvol_cooldown_s is 10 minutes
    a = got[0]
    assert a.value >= 3.0 and a.threshold == 3.0
    assert a.ts >= t0 + 300_000  # not before rvol_min_s


def test_no_rvol_without_a_baseline() -> None:
    e = AnomalyEngine(AlertConfig(kinds=("rvol", "breakout")))
    assert e.feed(steady("00700", hk(10, 0), 600, per_s=10)) == []


def test_breakout_needs_relative_volume() -> None:
    t0 = hk(10, 0)
    rising = [tk("00700", t0 + i * 250, price=100.0 + i * 0.001) for i in range(2400)]
    quiet = AnomalyEngine(AlertConfig(kinds=("breakout",)), baselines={"00700": _base(24_000.0)})
    assert quiet.feed(rising) == []  # new highs, but on ordinary volume
    busy = AnomalyEngine(AlertConfig(kinds=("breakout",)), baselines={"00700": _base(6000.0)})
    got = busy.feed(rising)  # 4x the usual volume
    assert kinds(got)[:1] == ["breakout"]
    assert got[0].ts >= t0 + 120_000  # not during warm-up
    assert "new intraday high" in got[0].message


# -- general ----------------------------------------------------------------------------------


def test_same_ticks_same_alerts() -> None:
    t0 = hk(10, 0)
    stream = steady("00700", t0, 200) + burst("00700", t0 + 200_000, 200)
    stream += [tk("00700", t0 + 230_000, price=12.0)]
    a = AnomalyEngine().feed(stream)
    b = AnomalyEngine().feed(stream)
    assert a == b and len(a) == 2


def test_new_day_resets_state() -> None:
    e = AnomalyEngine()
    e.feed(steady("00700", hk(15, 50), 300, price=100.0))
    # next morning, 12% higher: not a 5-minute move, a new day
    assert e.feed([tk("00700", hk(9, 30, 1, day=31), price=112.0)]) == []


def test_always_open_mode_counts_every_hour() -> None:
    e = AnomalyEngine(AlertConfig(hours="always"))
    t0 = hk(20, 0)  # evening in Hong Kong
    e.feed(steady("00700", t0, 120))
    assert kinds(e.feed(burst("00700", t0 + 120_000, 150))) == ["volume_spike"]
    assert AnomalyEngine().feed(steady("00700", t0, 120) + burst("00700", t0 + 120_000, 150)) == []


def test_alert_record_roundtrip() -> None:
    a = Alert(1, "00700", "block_trade", 2.5, 1.0, 0.0, "m")
    rec = a.record()
    assert list(rec) == ["ts", "symbol", "kind", "value", "threshold", "window_s", "message"]
    assert Alert.from_record(rec) == a


def test_config_from_table_and_errors() -> None:
    cfg = AlertConfig.from_mapping(
        {"cooldown_s": 30, "spike_windows": [15, 60], "kinds": "rvol,block_trade"}
    )
    assert cfg.cooldown_s == 30.0 and cfg.spike_windows == (15, 60)
    assert cfg.kinds == ("rvol", "block_trade")
    with pytest.raises(ConfigError, match="unknown key 'coldown'"):
        AlertConfig.from_mapping({"coldown": 1})
    with pytest.raises(ConfigError, match="move_pct"):
        AlertConfig.from_mapping({"move_pct": "ten"})
    with pytest.raises(ConfigError, match="unknown alert kind"):
        AlertConfig(kinds=("spike",))
    with pytest.raises(ConfigError, match="hours"):
        AlertConfig(hours="night")
    assert AlertConfig().with_overrides(move_pct=5.0, cooldown_s=None).move_pct == 5.0
    assert set(KINDS) == {"volume_spike", "rvol", "block_trade", "price_move", "breakout"}


def test_price_move_ignores_penny_stocks() -> None:
    e = AnomalyEngine()
    t0 = hk(10, 0)
    stream = steady("02047", t0, 60, price=0.66) + [tk("02047", t0 + 61_000, price=0.75)]
    assert e.feed(stream) == []


def test_price_move_reference_restarts_after_an_alert() -> None:
    """A move that sticks is told once, not again every cooldown for five minutes."""
    e = AnomalyEngine(AlertConfig(cooldown_s=10))
    t0 = hk(10, 0)
    stream = steady("00700", t0, 60, price=100.0) + steady("00700", t0 + 60_000, 240, price=113.0)
    assert kinds(e.feed(stream)) == ["price_move"]
    # a further 10 % from the new level is a new move
    assert kinds(e.feed([tk("00700", t0 + 301_000, price=125.0)])) == ["price_move"]


# -- block_trade from a name's first trade (issue 22.4) ------------------------------------


def test_block_trade_from_the_first_trade_on_the_average_day() -> None:
    """Before: a HK$133M print in a quiet name went unflagged for want of 100 trades."""
    quiet = SymbolBaseline(days=20, cum=[], day_turnover=1.5e9)  # 1 % = HK$15M < the floor
    busy = SymbolBaseline(days=20, cum=[], day_turnover=9e9)  # 1 % = HK$90M
    e = AnomalyEngine(AlertConfig(), {"01234": quiet, "00700": busy})
    t0 = hk(10, 0)
    got = e.feed([tk("01234", t0, price=84.0, vol=1_585_000)])  # HK$133M, its first trade
    assert kinds(got) == ["block_trade"]
    assert got[0].threshold == 20_000_000  # the floor is higher than 1 % of its day
    assert "1,585,000 shares at 84.00 = HK$133M (threshold HK$20.0M: the floor)" in got[0].message
    # a busy name: 1 % of its average day, above the floor
    assert e.feed([tk("00700", t0 + 1000, price=377.2, vol=200_000)]) == []  # HK$75M
    got = e.feed([tk("00700", t0 + 2000, price=377.2, vol=300_000)])  # HK$113M
    assert kinds(got) == ["block_trade"] and got[0].threshold == 90_000_000
    assert "at 377.2 = HK$113M (threshold HK$90.0M: 1% of its average day, HK$9.00B)" in (
        got[0].message
    )


def test_block_trade_from_the_market_cap_without_daily_bars() -> None:
    # 20 billion HK shares at HK$84: a HK$1.68T company; 0.4 bp of it is HK$67.2M
    e = AnomalyEngine(AlertConfig(), {"01234": SymbolBaseline(0, [], hk_shares=2e10)})
    t0 = hk(10, 0)
    assert e.feed([tk("01234", t0, price=84.0, vol=700_000)]) == []  # HK$58.8M
    e2 = AnomalyEngine(AlertConfig(), {"01234": SymbolBaseline(0, [], hk_shares=2e10)})
    got = e2.feed([tk("01234", t0, price=84.0, vol=1_000_000)])  # HK$84M
    assert kinds(got) == ["block_trade"] and got[0].threshold == 67_200_000
    assert "0.4 bp of its market cap, HK$1.68T" in got[0].message


def test_block_trade_without_any_reference_still_waits_for_trades() -> None:
    e = AnomalyEngine(AlertConfig())
    assert e.feed([tk("01234", hk(10, 0), price=84.0, vol=1_585_000)]) == []


def test_baselines_arriving_late_apply_at_the_next_threshold_update() -> None:
    from hkticks.analysis.anomaly import THRESHOLDS_EVERY_S

    e = AnomalyEngine(AlertConfig())
    t0 = hk(10, 0)
    assert e.feed([tk("01234", t0, vol=100)]) == []
    e.set_baselines({"01234": SymbolBaseline(days=1, cum=[], day_turnover=1e8)})
    got = e.feed([tk("01234", t0 + THRESHOLDS_EVERY_S * 1000, vol=3_000_000)])  # HK$30M
    assert kinds(got) == ["block_trade"]


def test_the_intraday_percentile_takes_over_once_the_day_has_trades() -> None:
    base = SymbolBaseline(days=5, cum=[], day_turnover=1e8)
    cfg = AlertConfig(block_floor=1_000, block_min_trades=100, block_x=2.0, cooldown_s=0)
    e = AnomalyEngine(cfg, {"00005": base})
    t0 = hk(10, 0)
    e.feed(steady("00005", t0, 150))  # HK$1,000 trades
    # 1 % of its day would be HK$1M; today's 95th percentile x 2 is about HK$2K
    got = e.feed([tk("00005", t0 + 151_000, vol=1_000)])  # HK$10K
    assert kinds(got) == ["block_trade"] and got[0].threshold < 10_000
    assert "x today's 95th percentile trade" in got[0].message


def test_readiness_counts_the_warm_up() -> None:
    e = AnomalyEngine(AlertConfig(warmup_s=60), {"00700": SymbolBaseline(1, [], day_turnover=1e9)})
    t0 = hk(10, 0)
    e.feed(steady("00700", t0, 30) + steady("00005", t0, 30))
    r = e.readiness()
    assert r.warming and 28 <= r.active_s <= 30 and r.warmup_s == 60
    assert (r.symbols, r.spike_ready, r.block_ready) == (2, 0, 1)
    e.feed(steady("00700", t0 + 30_000, 40) + steady("00005", t0 + 30_000, 40))
    r = e.readiness()
    assert not r.warming and r.spike_ready == 2
    # without volume_spike nothing waits for the warm-up
    e = AnomalyEngine(AlertConfig(warmup_s=60, kinds=("block_trade",)))
    e.feed(steady("00700", t0, 5))
    assert not e.readiness().warming


def test_alert_prices_at_the_spread_tables_precision() -> None:
    e = AnomalyEngine(AlertConfig(move_pct=10))
    t0 = hk(10, 0)
    e.feed(steady("00700", t0, 10, price=84.0))
    got = e.feed([tk("00700", t0 + 11_000, price=95.5)])
    assert kinds(got) == ["price_move"]
    assert "+13.7% to 95.50 vs 84.00" in got[0].message


def test_units_and_tick_precision() -> None:
    from hkticks.analysis.units import hkd_text, price_text, shares_text
    from hkticks.hkex import tick_size

    assert [price_text(p) for p in (0.385, 0.5, 4.5, 84, 377.2, 1234)] == [
        "0.385",
        "0.500",
        "4.50",
        "84.00",
        "377.2",
        "1,234",
    ]
    assert (tick_size(0.25), tick_size(0.251), tick_size(20.0), tick_size(9000)) == (
        0.001,
        0.005,
        0.02,
        5.0,
    )
    assert [hkd_text(x) for x in (812, 45_300, 999_960, 4.5e6, 133.2e6, 11.5e9)] == [
        "HK$812",
        "HK$45.3K",
        "HK$1.00M",
        "HK$4.50M",
        "HK$133M",
        "HK$11.5B",
    ]
    assert shares_text(28_630_000) == "28.6M"
