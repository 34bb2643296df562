"""HKEX's published trading rules that both sides need: the spread table.

A fact of the exchange, not of AllTick nor of our simulation: the embedded
server walks prices on it, ``hkticks validate`` flags prices that are off it.
Source: HKEX, "Spread Table" (Trading Mechanism, Securities Market).
"""

from __future__ import annotations

# (upper bound of the band, inclusive; tick size), both in thousandths of a dollar
# (mills). A band runs from the previous bound (exclusive) to its own bound (inclusive).
SPREAD_TABLE: tuple[tuple[int, int], ...] = (
    (250, 1),
    (500, 5),
    (10_000, 10),
    (20_000, 20),
    (100_000, 50),
    (200_000, 100),
    (500_000, 200),
    (1_000_000, 500),
    (2_000_000, 1_000),
    (5_000_000, 2_000),
    (9_995_000, 5_000),
)


def tick_size(price: float) -> float:
    """The spread-table tick (HK$) of the band holding ``price`` (the top band above it)."""
    mills = round(price * 1000)
    for bound, tick in SPREAD_TABLE:
        if mills <= bound:
            return tick / 1000
    return SPREAD_TABLE[-1][1] / 1000


def tick_decimals(price: float) -> int:
    """Decimals a price in ``price``'s band can have: 3 up to HK$0.50, 2 up to HK$100,
    1 up to HK$1,000, none above (ticks of 0.001/0.005, 0.01-0.05, 0.1-0.5, 1-5)."""
    tick = round(tick_size(price) * 1000)
    if tick % 1000 == 0:
        return 0
    if tick % 100 == 0:
        return 1
    if tick % 10 == 0:
        return 2
    return 3
