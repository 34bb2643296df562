"""The HKEX spread table, in integer thousandths of a dollar ("mills").

Hong Kong prices move in steps that depend on the price band. Working in
integer mills (every HK tick is a multiple of 0.001) keeps the simulation
exact: no float drift can ever produce an off-tick price, and turnover
(price x volume) is an exact integer too.
"""

from __future__ import annotations

from bisect import bisect_left

from hkticks.hkex import SPREAD_TABLE

MIN_PRICE = 10  # 0.010: the smallest price the simulation quotes
MAX_PRICE = 9_995_000  # 9995.000: the top of the spread table

_BOUNDS = tuple(bound for bound, _ in SPREAD_TABLE)
_TICKS = tuple(tick for _, tick in SPREAD_TABLE)


def tick_size(price: int) -> int:
    """The tick of the band ``price`` falls in (bands are open below, closed above)."""
    i = bisect_left(_BOUNDS, price)
    return _TICKS[min(i, len(_TICKS) - 1)]


def is_valid_price(price: int) -> bool:
    """True when ``price`` (mills) is a positive multiple of its band's tick and in range."""
    return 0 < price <= MAX_PRICE and price % tick_size(price) == 0


def tick_up(price: int) -> int:
    """The next valid price above ``price`` (a valid price); may exceed MAX_PRICE."""
    # Above a band's upper bound the next band's tick applies.
    return price + tick_size(price + 1)


def tick_down(price: int) -> int:
    """The next valid price below ``price`` (a valid price); may be <= 0."""
    return price - tick_size(price)


def snap(price: int) -> int:
    """The valid price nearest to ``price`` (mills), clamped to the table's range."""
    price = max(MIN_PRICE, min(MAX_PRICE, price))
    tick = tick_size(price)
    below = price - price % tick
    above = below + tick if price % tick else below
    best = below if price - below <= above - price else above
    return best if best >= MIN_PRICE else tick_up(best)


def format_price(price: int) -> str:
    """Mills -> ``"382.4"`` (at least one decimal, no trailing zeros beyond it)."""
    whole, frac = divmod(price, 1000)
    text = f"{frac:03d}".rstrip("0") or "0"
    return f"{whole}.{text}"


def format_amount(amount: int) -> str:
    """Mills -> ``"38240.000"`` (always three decimals: exact turnover)."""
    whole, frac = divmod(amount, 1000)
    return f"{whole}.{frac:03d}"
