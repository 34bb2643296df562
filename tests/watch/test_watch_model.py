"""The quote board's model and the HK market clock (pure: no sockets, no terminal)."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hkticks.alltick.rest_frames import Bar
from hkticks.market_hours import (
    AFTERNOON,
    CLOSED,
    CLOSING_AUCTION,
    HOLIDAY,
    LUNCH,
    MORNING,
    PRE_OPEN,
    WEEKEND,
    format_span,
    hk_time_text,
    market_session,
)
from hkticks.tick import Book, Event, Tick
from hkticks.watch.model import (
    BASELINE_CLOSE,
    BASELINE_FIRST,
    DOWN,
    FLAT,
    UP,
    DayStats,
    ReferenceData,
    WatchModel,
    day_stats,
    describe_event,
)


def hkt(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    """Epoch seconds of a Hong Kong wall-clock time (UTC+8)."""
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) - 8 * 3600


def tick(sym: str, price: float, ts_ms: int, vol: int = 100, side: str | None = "buy") -> Tick:
    return Tick(sym, ts_ms, price, vol, price * vol, side, None, ts_ms, "test")


# 2024-03-04 was a Monday, 2024-03-08 a Friday, 2024-03-09 a Saturday.
MON = (2024, 3, 4)


@pytest.mark.parametrize(
    ("hms", "phase", "trading"),
    [
        ((0, 0, 0), CLOSED, False),
        ((8, 59, 59), CLOSED, False),
        ((9, 0, 0), PRE_OPEN, True),
        ((9, 29, 59), PRE_OPEN, True),
        ((9, 30, 0), MORNING, True),
        ((11, 59, 59), MORNING, True),
        ((12, 0, 0), LUNCH, False),
        ((12, 59, 59), LUNCH, False),
        ((13, 0, 0), AFTERNOON, True),
        ((15, 59, 59), AFTERNOON, True),
        ((16, 0, 0), CLOSING_AUCTION, True),
        ((16, 9, 59), CLOSING_AUCTION, True),
        ((16, 10, 0), CLOSED, False),
        ((23, 59, 59), CLOSED, False),
    ],
)
def test_market_session_weekday_phases(
    hms: tuple[int, int, int], phase: str, trading: bool
) -> None:
    s = market_session(hkt(*MON, *hms))
    assert s.phase == phase
    assert s.trading is trading
    assert s.continuous is (phase in (MORNING, AFTERNOON))


def test_market_session_next_change() -> None:
    assert market_session(hkt(*MON, 10, 0)).next_change == hkt(*MON, 12, 0)
    assert market_session(hkt(*MON, 10, 0)).until(hkt(*MON, 10, 0)) == "lunch in 2h00m"
    assert market_session(hkt(*MON, 12, 30)).next_change == hkt(*MON, 13, 0)
    # after Monday's close: Tuesday's pre-open
    assert market_session(hkt(*MON, 17, 0)).next_change == hkt(2024, 3, 5, 9, 0)
    # after Friday's close, Saturday and Sunday: Monday's pre-open
    assert market_session(hkt(2024, 3, 8, 17, 0)).next_change == hkt(2024, 3, 11, 9, 0)
    sat = market_session(hkt(2024, 3, 9, 11, 0))
    assert sat.phase == WEEKEND and not sat.trading
    assert sat.next_change == hkt(2024, 3, 11, 9, 0)
    assert market_session(hkt(2024, 3, 10, 23, 59)).phase == WEEKEND


@given(st.floats(min_value=0, max_value=4e9))
def test_market_session_next_change_is_in_the_future_and_changes_phase(t: float) -> None:
    s = market_session(t)
    assert t < s.next_change <= t + 8 * 86_400  # Lunar New Year and a weekend
    after = market_session(s.next_change)
    closed = {CLOSED, WEEKEND, HOLIDAY}
    assert after.phase != s.phase
    if s.phase in closed:
        assert after.phase == PRE_OPEN
    # a moment before the change the phase is still the same (closed nights run into weekends)
    before = market_session(s.next_change - 0.001).phase
    assert before == s.phase or {before, s.phase} <= closed


def test_hk_time_text_and_spans() -> None:
    ms = int(hkt(*MON, 9, 30, 5) * 1000) + 42
    assert hk_time_text(ms) == "09:30:05"
    assert hk_time_text(ms, with_ms=True) == "09:30:05.042"
    assert format_span(5) == "5s"
    assert format_span(125) == "2m05s"
    assert format_span(3725) == "1h02m"
    assert format_span(90_000) == "1d01h"


# -- day stats ----------------------------------------------------------------


def bar(
    sym: str, day: tuple[int, int, int], o: float, h: float, lo: float, c: float, v: int
) -> Bar:
    return Bar(sym, int(hkt(*day) * 1000), o, h, lo, c, v, c * v)


def test_day_stats_with_todays_bar() -> None:
    bars = [
        bar("00700", (2024, 3, 1), 1, 2, 0.5, 300.0, 10),
        bar("00700", MON, 301, 310, 299, 305, 7),
    ]
    s = day_stats(bars, hkt(*MON, 10, 0))
    assert s == DayStats(300.0, 301, 310, 299, 7, 305, 305 * 7)  # and its turnover


def test_day_stats_before_todays_bar_exists() -> None:
    # Monday 08:00: the last bar is Friday's; it is the previous session
    bars = [
        bar("00700", (2024, 2, 29), 1, 2, 0.5, 290.0, 10),
        bar("00700", (2024, 3, 1), 1, 2, 1, 300.0, 9),
    ]
    assert day_stats(bars, hkt(*MON, 8, 0)) == DayStats(300.0)
    assert day_stats([], hkt(*MON, 8, 0)) == DayStats(None)
    # only today's bar: no previous close known
    assert day_stats([bar("00700", MON, 1, 2, 1, 1.5, 3)], hkt(*MON, 10)).prev_close is None


def test_day_stats_with_utc_midnight_bar_timestamps() -> None:
    # some feeds stamp daily bars at 00:00 UTC (08:00 HKT): still the same HK date
    ts = calendar.timegm((2024, 3, 4, 0, 0, 0, 0, 0, 0)) * 1000
    bars = [
        Bar("00700", ts - 3 * 86_400_000, 1, 1, 1, 300.0, 1, 1),
        Bar("00700", ts, 301, 302, 300, 301, 5, 1),
    ]
    assert day_stats(bars, hkt(*MON, 15, 0)).prev_close == 300.0


# -- the model ------------------------------------------------------------------

T0 = int(hkt(*MON, 10, 0) * 1000)


def test_change_from_first_trade_until_previous_close_arrives() -> None:
    m = WatchModel(["00700", "09988"])
    m.apply([tick("00700", 300.0, T0), tick("00700", 303.0, T0 + 1000)], now=T0 / 1000)
    row = m.rows["00700"]
    assert row.baseline_kind == BASELINE_FIRST
    assert row.change == pytest.approx(3.0)
    assert row.change_pct == pytest.approx(1.0)
    assert m.baseline_summary() == BASELINE_FIRST
    m.apply([ReferenceData(stats={"00700": DayStats(306.0, 301.0, 307.0, 299.0, 50_000)})], now=0)
    assert row.baseline_kind == BASELINE_CLOSE
    assert row.change == pytest.approx(-3.0)
    assert row.change_pct == pytest.approx(-3 / 306 * 100)
    assert (row.open, row.high, row.low) == (301.0, 307.0, 299.0)
    # 09988 has no bar and no trade: overall "partial"
    assert m.reference == "partial"
    assert m.baseline_summary() == BASELINE_CLOSE
    m.apply([tick("09988", 80.0, T0)], now=0)
    assert m.baseline_summary() == "mixed"


def test_reference_failure_is_recorded() -> None:
    m = WatchModel(["00700"])
    m.apply([ReferenceData(error="REST timed out")], now=0)
    assert m.reference == "unavailable"
    assert m.reference_error == "REST timed out"
    assert m.baseline_summary() == BASELINE_FIRST


def test_last_trade_fields_counts_and_flash() -> None:
    m = WatchModel(["00700"], flash_s=0.5)
    n = m.apply([tick("00700", 300.0, T0, 200, "sell")], now=100.0)
    row = m.rows["00700"]
    assert n == 1 and row.trades == 1 and row.volume == 200
    assert (row.last, row.last_size, row.last_side, row.tick_dir) == (300.0, 200, "sell", FLAT)
    # the first trade and same-price trades do not flash; every trade ticks
    assert row.flash_until == 0.0 and row.tick_until == pytest.approx(100.0 + 0.3 * 0.5)
    m.apply([tick("00700", 300.0, T0 + 1, 100, "buy")], now=100.5)
    assert row.flash_until == 0.0 and row.tick_until == pytest.approx(100.5 + 0.15)
    m.apply([tick("00700", 300.2, T0 + 1, 100, "buy")], now=101.0)
    assert row.tick_dir == UP and row.flash_until == 101.5
    m.apply([tick("00700", 299.8, T0 + 2, 300, None)], now=102.0)
    assert row.tick_dir == DOWN and row.last_side is None
    assert (row.trades, row.volume, m.trades, m.traded) == (4, 700, 4, 1)
    assert (row.high, row.low) == (300.2, 299.8)
    assert row.turnover == pytest.approx(300.0 * 300 + 300.2 * 100 + 299.8 * 300)


def test_late_trade_counts_but_keeps_newer_last_price() -> None:
    m = WatchModel(["00700"])
    m.apply([tick("00700", 300.0, T0 + 5000), tick("00700", 250.0, T0, 400)], now=0)
    row = m.rows["00700"]
    assert row.last == 300.0 and row.last_ts == T0 + 5000
    assert row.trades == 2 and row.volume == 500 and row.low == 250.0


def test_items_for_other_symbols_are_ignored_and_counted() -> None:
    m = WatchModel(["00700"])
    m.dirty = False
    m.apply([tick("00005", 60.0, T0), Book("00005", T0, ((1.0, 1),), (), None, T0, "t")], now=0)
    assert m.ignored == 2 and m.trades == 0 and not m.dirty


def test_book_top_of_book_and_empty_side() -> None:
    m = WatchModel(["00700"], book=True)
    m.apply([Book("00700", T0, ((299.8, 500), (299.6, 100)), ((300.0, 700),), 1, T0, "t")], now=0)
    row = m.rows["00700"]
    assert (row.bid, row.bid_size, row.ask, row.ask_size) == (299.8, 500, 300.0, 700)
    m.apply([Book("00700", T0, ((299.8, 500),), (), 2, T0, "t")], now=0)  # limit up: no asks
    assert row.ask is None and row.ask_size == 0 and m.books == 2


def test_day_volume_does_not_double_count_trades_seen_before_the_bar() -> None:
    m = WatchModel(["00700"])
    m.apply([tick("00700", 300.0, T0, 1000)], now=0)  # seen before the bar was fetched
    m.apply([ReferenceData(stats={"00700": DayStats(299.0, 298.0, 301.0, 297.0, 10_000)})], now=0)
    row = m.rows["00700"]
    assert row.day_volume == 10_000  # the bar already includes that trade
    m.apply([tick("00700", 300.0, T0 + 10, 500)], now=0)
    assert row.day_volume == 10_500
    assert row.volume == 1500


def test_sorting() -> None:
    m = WatchModel(["09988", "00700", "00005", "03690"], sort="given")
    m.apply(
        [
            ReferenceData(
                stats={
                    "09988": DayStats(100.0, volume=10),
                    "00700": DayStats(100.0, volume=5000),
                    "00005": DayStats(100.0, volume=300),
                }
            ),
            tick("09988", 101.0, T0),  # +1%
            tick("00700", 97.0, T0),  # -3%
            tick("00005", 105.0, T0),  # +5%
            tick("00005", 105.0, T0 + 1),
            tick("00005", 105.0, T0 + 2),
            tick("00700", 97.0, T0 + 3),
        ],
        now=0,
    )
    codes = lambda: [r.code for r in m.ordered()]  # noqa: E731
    assert codes() == ["09988", "00700", "00005", "03690"]
    m.sort = "code"
    assert codes() == ["00005", "00700", "03690", "09988"]
    m.sort = "change"
    assert codes() == ["00005", "09988", "00700", "03690"]  # untraded last
    m.sort = "volume"
    assert codes() == ["00700", "00005", "09988", "03690"]
    m.sort = "active"
    assert codes() == ["00005", "00700", "09988", "03690"]
    assert [r.code for r in m.ordered(2)] == ["00005", "00700"]
    with pytest.raises(ValueError):
        WatchModel(["00700"], sort="price")


def test_rate_over_the_window() -> None:
    m = WatchModel(["00700"], started=1000.0)
    assert m.rate(1000.0) == 0.0
    for i in range(10):
        m.apply([tick("00700", 1.0, T0 + i)] * 20, now=1000.0 + i)  # 20 trades/s for 10 s
    assert m.rate(1009.5) == pytest.approx(100 / 5.0)  # last 5 s window
    assert m.rate(1030.0) == 0.0


def test_events_drive_connection_state_and_notes() -> None:
    m = WatchModel(["00700", "99999"])
    m.apply([Event(1, "connecting", 0, {"url": "ws://x?token=***"})], now=10.0)
    assert m.connections[0].state == "connecting" and m.connections[0].health == "amber"
    m.apply([Event(2, "connected", 0, {}), Event(3, "subscribed", 0, {"kind": "trades"})], now=11.0)
    assert m.connections[0].health == "green"
    assert not m.notes  # routine events leave no note
    m.apply(
        [
            Event(4, "disconnected", 0, {"reason": "connection reset", "was_connected": True}),
            Event(5, "reconnecting", 0, {"delay_s": 0.5, "attempt": 1}),
        ],
        now=12.0,
    )
    assert m.connections[0].state == "backoff" and m.reconnects == 1
    assert m.notes[-1] == (12.0, "conn 0 reconnecting in 0.5s")
    assert m.notes[-2][1] == "conn 0 disconnected: connection reset"
    m.apply(
        [
            Event(
                6,
                "error",
                0,
                {"ret": 600, "msg": "code invalid", "cmd_id": 22005, "codes": ["99999"]},
            )
        ],
        now=13.0,
    )
    assert m.rows["99999"].rejected == "code invalid"
    assert m.rows["00700"].rejected is None
    assert m.notes[-1][1] == "conn 0: server answered ret 600 (code invalid): 99999"
    m.apply([Event(7, "fatal", None, {"reason": "token rejected"})], now=14.0)
    assert m.notes[-1][1] == "token rejected"


def test_describe_event_never_shows_url_or_token() -> None:
    text = describe_event(
        Event(1, "odd", 2, {"url": "wss://h/?token=SECRET", "token": "SECRET", "n": 3})
    )
    assert "SECRET" not in text and text == "conn 2 odd: n 3"


class _Conn:
    def __init__(self, shard: int, state: str, reconnects: int, age: float | None) -> None:
        self.shard, self.state, self.reconnects, self.symbols, self.last_msg_age = (
            shard,
            state,
            reconnects,
            5,
            age,
        )


def test_set_status_takes_the_feeds_view() -> None:
    m = WatchModel(["00700"])
    m.set_status([_Conn(0, "up", 0, 0.1), _Conn(1, "backoff", 2, None)], dropped=0)
    assert [c.health for c in m.connections.values()] == ["green", "amber"]
    assert m.reconnects == 2
    m.dirty = False
    m.set_status([_Conn(0, "up", 0, 0.2), _Conn(1, "backoff", 2, None)])
    assert not m.dirty  # nothing visible changed
    m.set_status([_Conn(0, "up", 0, 45.0), _Conn(1, "failed", 2, None)], dropped=7)
    assert [c.health for c in m.connections.values()] == ["amber", "red"]
    assert m.dropped == 7 and m.dirty
