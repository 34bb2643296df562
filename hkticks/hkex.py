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
