"""The de-duplication rules of feed/dedup.py, case by case (pure: no I/O)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hkticks.feed.dedup import NOSEQ_WINDOW_S, RESET_GAP_MS, SEQ_WINDOW, Dedup


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_single_out_of_order_trade_does_not_forget_the_highest_seq() -> None:
    d = Dedup()
    assert d.is_new("00700", 1000, 10)
    assert d.is_new("00700", 1001, 11)
    assert d.is_new("00700", 900, 12)  # far below, later time, no resubscribe: out of order
    assert d.out_of_order == 1 and d.resets == 0
    assert not d.is_new("00700", 1001, 11)  # the latest re-sent: still a duplicate
    assert not d.is_new("00700", 900, 12)  # and the out-of-order one too
    assert d.is_new("00700", 1002, 13)


def test_a_late_trade_inside_the_window_is_kept_once() -> None:
    d = Dedup()
    for seq in (10, 11, 13):
        assert d.is_new("00700", seq, seq)
    assert d.is_new("00700", 12, 12)  # arrived late, never seen
    assert not d.is_new("00700", 12, 12)


def test_a_reset_needs_a_resubscribe_or_a_gap_in_time() -> None:
    d = Dedup()
    assert d.is_new("00700", 50_000, 1_000)
    assert d.is_new("00700", 7, 2_000)  # lower, later, no resubscribe, 1 s later: out of order
    assert d.resets == 0
    d.resubscribed(["00700"])
    assert d.is_new("00700", 3, 3_000)  # after a resubscribe: a reset
    assert d.resets == 1
    assert d.is_new("00700", 4, 3_001)
    assert not d.is_new("00700", 3, 3_000)
    # a gap in time alone is a reset too
    assert d.is_new("09988", 80_000, 1_000)
    assert d.is_new("09988", 1, 1_000 + RESET_GAP_MS)
    assert d.resets == 2


def test_a_lower_seq_with_an_earlier_time_is_an_old_resend() -> None:
    d = Dedup()
    assert d.is_new("00700", 500, 5_000)
    d.resubscribed(["00700"])
    assert not d.is_new("00700", 100, 4_000)
    assert d.duplicates == 1


def test_seeding_in_file_order_after_a_reset_knows_the_latest_trade() -> None:
    d = Dedup()
    for seq, ts in [(104, 1), (105, 2), (1, 3), (2, 4), (3, 5)]:  # a reset inside the file
        d.seed("00700", seq, ts)
    d.resubscribed(["00700"])
    assert not d.is_new("00700", 3, 5)  # the re-sent latest trade
    assert not d.is_new("00700", 105, 2)
    assert d.is_new("00700", 4, 6)


def test_trades_without_seq_after_a_resubscribe() -> None:
    clock = Clock()
    d = Dedup(clock)
    assert d.is_new("00700", None, 10, 1.0, 100)
    assert d.is_new("00700", None, 10, 1.0, 100)  # not after a resubscribe: two real trades
    d.resubscribed(["00700"])
    assert not d.is_new("00700", None, 10, 1.0, 100)  # re-sent
    assert d.is_new("00700", None, 10, 1.0, 200)  # another volume: another trade
    clock.t += NOSEQ_WINDOW_S + 1
    assert d.is_new("00700", None, 10, 1.0, 100)  # the window after the resubscribe is over


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["00700", "09988"]),
            st.integers(1, 3 * SEQ_WINDOW),
            st.integers(0, 50),
            st.booleans(),
        ),
        max_size=300,
    )
)
def test_never_the_same_trade_twice_without_a_reset(
    trades: list[tuple[str, int, int, bool]],
) -> None:
    """Whatever the order, a (symbol, seq, ts) is kept at most once unless a
    reset started the symbol over."""
    d = Dedup()
    kept: set[tuple[str, int, int]] = set()
    for sym, seq, ts, resub in trades:
        if resub:
            d.resubscribed([sym])
        resets = d.resets
        if d.is_new(sym, seq, ts):
            if d.resets == resets:
                assert (sym, seq, ts) not in kept
            else:
                kept = {k for k in kept if k[0] != sym}
            kept.add((sym, seq, ts))


# 2026-12-03 10:00 Hong Kong time, and the next trading day
DAY1 = 1_764_727_200_000
DAY2 = DAY1 + 86_400_000


def test_a_quiet_symbol_keeps_the_new_days_trades_across_midnight() -> None:
    """00700 had 50 trades yesterday; today's 30 (seq from 1 again) are all new."""
    d = Dedup()
    for seq in range(1, 51):
        assert d.is_new("00700", seq, DAY1 + seq * 1000)
    kept = sum(d.is_new("00700", seq, DAY2 + seq * 1000) for seq in range(1, 31))
    assert kept == 30 and d.duplicates == 0 and d.resets == 1
    d.resubscribed(["00700"])  # a reconnect: the server re-sends today's latest
    assert not d.is_new("00700", 30, DAY2 + 30 * 1000)
    assert d.is_new("00700", 31, DAY2 + 31 * 1000)


def test_a_new_day_after_a_reconnect_keeps_every_trade() -> None:
    """Up across two days with a reconnect before today's first trade."""
    d = Dedup()
    for seq in range(1, 51):
        assert d.is_new("00700", seq, DAY1 + seq * 1000)
    d.resubscribed(["00700"])
    assert not d.is_new("00700", 50, DAY1 + 50 * 1000)  # yesterday's latest re-sent
    d.resubscribed(["00700"])
    assert not d.is_new("00700", 50, DAY2)  # ... even with a fresh time
    kept = sum(d.is_new("00700", seq, DAY2 + seq * 1000) for seq in range(1, 31))
    assert kept == 30


def test_a_trade_of_an_earlier_day_is_an_old_resend() -> None:
    d = Dedup()
    assert d.is_new("00700", 3, DAY2)
    assert not d.is_new("00700", 40, DAY1)


def test_a_seq_reset_in_mid_run_loses_nothing() -> None:
    """A provider restart: 120 trades, a resubscribe, then a new sequence from 1."""
    d = Dedup()
    for seq in range(1, 121):
        assert d.is_new("00700", seq, DAY1 + seq * 10)
    d.resubscribed(["00700"])
    later = DAY1 + 60_000
    kept = sum(d.is_new("00700", seq, later + seq * 10) for seq in range(1, 121))
    assert kept == 120 and d.duplicates == 0
    # the old sequence's trades re-sent are still duplicates of the new one's
    assert not d.is_new("00700", 120, later + 1200)


def test_seeding_a_file_that_spans_two_days() -> None:
    d = Dedup()
    for seq in range(1, 51):
        d.seed("00700", seq, DAY1 + seq)
    for seq in range(1, 11):
        d.seed("00700", seq, DAY2 + seq)
    d.resubscribed(["00700"])
    assert not d.is_new("00700", 10, DAY2 + 10)
    assert d.is_new("00700", 11, DAY2 + 11)
