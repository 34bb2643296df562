"""Backoff, request pacing, connection spacing and de-duplication (pure, fake clock)."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hkticks.feed.dedup import Dedup
from hkticks.feed.pacing import Backoff, ConnectGate, ConnectionPacer, Pacer


def test_backoff_grows_exponentially_and_caps() -> None:
    b = Backoff(0.5, 30.0, random.Random(1))
    ceilings = []
    for _ in range(10):
        ceilings.append(b.ceiling())
        b.delay()
    assert ceilings[:7] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert ceilings[7:] == [30.0, 30.0, 30.0]


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), steps=st.integers(1, 60))
def test_backoff_full_jitter_stays_within_bounds(seed: int, steps: int) -> None:
    b = Backoff(0.5, 30.0, random.Random(seed))
    for _ in range(steps):
        upper = b.ceiling()
        d = b.delay()
        assert 0.0 <= d <= upper <= 30.0


def test_backoff_jitter_is_spread_not_constant() -> None:
    b = Backoff(0.5, 30.0, random.Random(7))
    b.attempt = 10
    delays = {round(b.delay(), 3) for _ in range(50) if not b.reset()}
    assert len(delays) > 1  # full jitter: not every client retries at the same instant


def test_backoff_reset_and_floor() -> None:
    b = Backoff(0.5, 30.0, random.Random(3))
    for _ in range(5):
        b.delay()
    b.reset()
    assert b.ceiling() == 0.5
    b.at_least(10.0)
    assert b.delay() >= 10.0  # after 605/606
    assert b.delay() <= 1.0  # the floor applies once


def test_backoff_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)


def _answered(c: ConnectionPacer, at: float) -> None:
    c.sent(at)
    c.answered(at)


def test_pacer_one_request_per_second_per_connection() -> None:
    c = Pacer(1.0, 3.0).connection()
    assert c.try_acquire(100.0)
    _answered(c, 100.0)
    assert not c.try_acquire(100.5)
    assert c.try_acquire(101.0)


def test_pacer_default_spacing_has_a_margin_over_alltick_rules() -> None:
    p = Pacer()
    assert p.request_spacing >= 1.05 and p.connection_spacing >= 3.05
    c = p.connection()
    assert c.try_acquire(100.0)
    _answered(c, 100.0)
    assert not c.try_acquire(101.0)
    assert c.try_acquire(101.06)


def test_pacer_counts_from_the_answer_and_waits_for_it() -> None:
    c = Pacer(1.0, 3.0, answer_timeout=5.0).connection()
    assert c.try_acquire(100.0)
    c.sent(100.2)  # a large request took 0.2 s to write
    assert not c.try_acquire(101.1)  # no answer yet
    c.answered(100.9)  # the server read it late: the gap counts from its answer
    assert not c.try_acquire(101.5)
    assert c.try_acquire(101.9)


def test_pacer_unanswered_request_holds_the_connection_until_the_timeout() -> None:
    c = Pacer(1.0, 3.0, answer_timeout=5.0).connection()
    assert c.try_acquire(100.0)
    c.sent(100.0)
    assert not c.try_acquire(104.9)
    assert c.try_acquire(105.0)


def test_pacer_waits_long_for_a_subscribe_answer_and_briefly_for_a_heartbeat_one() -> None:
    p = Pacer(1.0, 3.0)
    assert p.answer_timeout >= 30.0 and p.heartbeat_answer_timeout <= 2.0
    c = p.connection()
    assert c.try_acquire(100.0)
    c.sent(100.0)
    assert not c.try_acquire(129.9, cross=False)  # a server reading late: no heartbeat either
    assert c.try_acquire(130.0, cross=False)
    c.sent(130.0)
    assert not c.try_acquire(131.9)  # a heartbeat never answered holds 2 s
    assert c.try_acquire(132.0)


def test_a_heartbeat_waits_for_a_late_subscribe_answer_only_its_patience() -> None:
    c = Pacer(1.0, 3.0).connection()
    assert c.try_acquire(100.0)
    c.sent(100.0)
    assert not c.try_acquire(109.9, cross=False, patience=10.0)
    assert c.try_acquire(110.0, cross=False, patience=10.0)  # the connection must stay alive
    c.sent(110.0)
    assert not c.try_acquire(125.0)  # the subscribe's answer is still awaited
    c.answered(125.5)  # answers come in order: the subscribe's, then the heartbeat's
    assert not c.try_acquire(126.0)
    assert c.try_acquire(126.6)


def test_pacer_three_seconds_between_connections() -> None:
    p = Pacer(1.0, 3.0)
    c0, c1 = p.connection(), p.connection()
    assert c0.try_acquire(100.0)
    _answered(c0, 100.0)
    assert not c1.try_acquire(101.0)
    assert not c1.try_acquire(102.9)
    assert c1.try_acquire(103.0)
    _answered(c1, 103.0)
    # back on connection 0 needs 3 s after connection 1 too
    assert not c0.try_acquire(105.0)
    assert c0.try_acquire(106.0)


def test_pacer_cross_connection_spacing_counts_from_the_answer() -> None:
    p = Pacer(1.0, 3.0)
    c0, c1 = p.connection(), p.connection()
    assert c0.try_acquire(100.0)
    c0.sent(100.0)
    c0.answered(100.7)
    assert not c1.try_acquire(103.5)
    assert c1.try_acquire(103.7)


def test_pacer_heartbeats_skip_the_cross_connection_rule_only() -> None:
    p = Pacer(1.0, 3.0)
    c0, c1, c2 = p.connection(), p.connection(), p.connection()
    assert c0.try_acquire(100.0)
    _answered(c0, 100.0)
    assert c1.try_acquire(100.1, cross=False)  # heartbeat on another connection
    _answered(c1, 100.1)
    assert not c1.try_acquire(100.5, cross=False)  # but 1/s on its own connection holds
    assert not c2.try_acquire(101.0)  # a subscribe still waits 3 s after conn 0's


def test_pacer_new_connection_has_no_history() -> None:
    p = Pacer(1.0, 3.0)
    c = p.connection()
    assert c.try_acquire(100.0)
    assert p.connection().try_acquire(100.2, cross=False)


def test_connect_gate_spaces_slots() -> None:
    g = ConnectGate(3.0)
    assert g.reserve(10.0) == 10.0
    assert g.reserve(10.0) == 13.0
    assert g.reserve(11.0) == 16.0
    assert g.reserve(30.0) == 30.0


def test_connect_gate_wait_turn_returns_false_when_stopped() -> None:
    g = ConnectGate(60.0)
    stop = threading.Event()
    assert g.wait_turn(stop)
    stop.set()
    assert not g.wait_turn(stop)  # would wait 60 s; the stop wins at once


def test_dedup_drops_resent_latest_trade() -> None:
    d = Dedup()
    assert d.is_new("00700", 1, 1000)
    assert d.is_new("00700", 2, 1001)
    assert not d.is_new("00700", 2, 1001)  # re-sent after resubscribe
    assert not d.is_new("00700", 1, 1000)
    assert d.is_new("09988", 2, 1001)  # other symbol, same seq
    assert d.duplicates == 2


def test_dedup_keeps_sequence_reset_with_later_time() -> None:
    d = Dedup()
    assert d.is_new("00700", 50_000, 1_000)
    assert d.is_new("00700", 1, 90_000_000)  # next day: seq restarts
    assert d.resets == 1
    assert not d.is_new("00700", 1, 90_000_000)


def test_dedup_passes_trades_without_seq_and_seed() -> None:
    d = Dedup()
    assert d.is_new("00700", None, 1)
    assert d.is_new("00700", None, 1)
    d.seed("00700", 10, 500)
    assert not d.is_new("00700", 10, 500)
    assert d.is_new("00700", 11, 501)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["00700", "09988", "00005"]), st.integers(1, 40))))
def test_dedup_never_keeps_the_same_symbol_seq_twice(trades: list[tuple[str, int]]) -> None:
    d = Dedup()
    kept = set()
    for sym, seq in trades:
        if d.is_new(sym, seq, 1000):  # same time: a lower or equal seq is always a duplicate
            assert (sym, seq) not in kept
            kept.add((sym, seq))


def test_backoff_reset_clears_a_rate_limit_floor() -> None:
    b = Backoff(0.5, 30.0, random.Random(5))
    b.at_least(10.0)
    b.reset()  # data flowed again after the 605: the next drop starts from 0.5 s
    assert b.delay() <= 0.5


def test_backoff_clear_floor_after_an_accepted_request() -> None:
    b = Backoff(0.5, 30.0, random.Random(5))
    b.at_least(10.0)
    b.clear_floor()
    assert b.delay() <= 0.5


def test_dedup_same_seq_with_a_fresh_time_is_still_a_duplicate() -> None:
    d = Dedup()
    assert d.is_new("00700", 9, 1000)
    assert not d.is_new("00700", 9, 5000)  # re-sent with a new tick_time
    assert d.resets == 0


def test_requests_are_built_and_sent_in_one_place() -> None:
    """One path for requests: only the session (through its pacer) builds them; the
    bench's raw receive loop sends one subscribe on its own, to time the server."""
    from pathlib import Path

    import hkticks

    root = Path(hkticks.__file__).parent
    users = {
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "RequestBuilder" in p.read_text(encoding="utf-8")
        and p.parent.name != "server"  # the embedded server answers requests, sends none
    }
    assert users == {"alltick/protocol.py", "feed/session.py", "bench/trials.py"}, users
