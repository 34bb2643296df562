"""Splitting a symbol set over connections by plan limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hkticks.alltick import protocol as alltick
from hkticks.errors import PlanTooSmall, UsageError
from hkticks.feed.shards import plan_shards

CODES = [f"{i:05d}" for i in range(1, 3001)]


def test_premium_550_symbols_use_three_even_connections() -> None:
    p = alltick.PLANS["premium"]
    shards = plan_shards(CODES[:550], p.max_connections, p.max_symbols)
    assert [len(s) for s in shards] == [184, 183, 183]
    assert sum(shards, []) == CODES[:550]


def test_basic_plan_too_small_names_the_limit_and_a_plan_that_fits() -> None:
    p = alltick.PLANS["basic"]
    with pytest.raises(PlanTooSmall) as exc:
        plan_shards(CODES[:550], p.max_connections, p.max_symbols, "the basic plan")
    msg = str(exc.value)
    assert "550 symbols" in msg and "100 symbols" in msg and "--plan premium" in msg


def test_free_plan_fits_five() -> None:
    p = alltick.PLANS["free"]
    assert plan_shards(CODES[:5], p.max_connections, p.max_symbols) == [CODES[:5]]
    with pytest.raises(PlanTooSmall):
        plan_shards(CODES[:6], p.max_connections, p.max_symbols)


def test_empty_symbol_set_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        plan_shards([], 1, 100)


@given(n=st.integers(1, 3000), conns=st.integers(1, 10), per=st.integers(1, 400))
def test_shards_cover_everything_within_limits(n: int, conns: int, per: int) -> None:
    symbols = CODES[:n]
    try:
        shards = plan_shards(symbols, conns, per)
    except PlanTooSmall:
        assert n > conns * per
        return
    assert sum(shards, []) == symbols
    assert len(shards) <= conns
    assert all(1 <= len(s) <= per for s in shards)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
