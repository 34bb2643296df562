"""The simulated market's universe: which stocks exist, their names and traits.

The best-known southbound Stock Connect names come with their real HKEX
codes, short names (English, simplified and traditional Chinese) and board
lots from ``data/stocks.csv``; their reference prices are only plausible
levels, not quotes. The rest of the universe is generated deterministically
(the same list on every run, whatever the market seed) and is clearly marked
as demo data: ``DEMO 1234 Holdings`` / ``演示1234``.

Why so many symbols: the client has to cope with the real list's size
(550-600 stocks per channel), plan limits and sharding, so the simulation
must be as big as the real thing. A few generated stocks are suspended (they
stay on the Stock Connect lists but never trade), and a handful are listed by
only one of the two channels, as in real life.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from hkticks.server.tick_ladder import snap

UNIVERSE_SIZE = 560
SUSPENDED_COUNT = 6
SH_ONLY_COUNT = 4
SZ_ONLY_COUNT = 5

# Fixed seed for the generated part of the universe: the list of stocks must
# not depend on the market seed (a cache built from one demo run stays valid).
_UNIVERSE_SEED = 20_240_601

_DEMO_LOTS = (100, 200, 400, 500, 1000, 2000, 4000)


@dataclass(frozen=True, slots=True)
class Stock:
    """One stock of the simulated market.

    ``ref_price`` is the reference previous close in thousandths of a dollar
    (always on a valid HKEX tick); ``weight`` its relative trading activity.
    """

    code: str  # five-digit HKEX code
    name_en: str
    name_cn: str  # simplified Chinese short name (as on the SSE/SZSE lists)
    name_hk: str  # traditional Chinese short name (as on HKEX)
    lot: int
    ref_price: int
    weight: float
    channels: tuple[str, ...]  # "SH", "SZ" or both
    suspended: bool = False
    demo: bool = False
    board: str = "MAIN"

    @property
    def total_shares(self) -> int:
        """A plausible share count: market capitalisation grows with activity."""
        cap = 2e9 + self.weight * 4e10  # HKD
        shares = int(cap / max(self.ref_price / 1000, 0.01))
        return max(self.lot, shares // self.lot * self.lot)

    @property
    def hk_shares(self) -> int:
        """Shares listed in Hong Kong: all of them, except for one stock in five
        (like an H share, whose mainland A shares trade elsewhere)."""
        if int(self.code) % 5 == 1:
            return max(self.lot, self.total_shares * 3 // 10 // self.lot * self.lot)
        return self.total_shares

    @property
    def circulating_shares(self) -> int:
        return self.total_shares // 10 * 7 // self.lot * self.lot or self.lot


def _real_stocks() -> list[Stock]:
    text = resources.files("hkticks.server").joinpath("data/stocks.csv").read_text("utf-8")
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        out.append(
            Stock(
                code=row["code"],
                name_en=row["name_en"],
                name_cn=row["name_cn"],
                name_hk=row["name_hk"],
                lot=int(row["lot"]),
                ref_price=snap(round(float(row["price"]) * 1000)),
                weight=float(row["weight"]),
                channels=("SH", "SZ"),
            )
        )
    return out


def _demo_stocks(taken: set[str], count: int, rng: random.Random) -> list[Stock]:
    free = [f"{n:05d}" for n in range(1, 10000) if f"{n:05d}" not in taken]
    codes = sorted(rng.sample(free, count))
    out = []
    for code in codes:
        n = int(code)
        # log-uniform prices from 0.20 to 300 dollars, snapped to the spread table
        price = 10 ** rng.uniform(-0.7, 2.48)
        out.append(
            Stock(
                code=code,
                name_en=f"DEMO {n:04d} Holdings",
                name_cn=f"演示{n:04d}",
                name_hk=f"演示{n:04d}",
                lot=rng.choice(_DEMO_LOTS),
                ref_price=snap(round(price * 1000)),
                weight=round(0.2 + rng.paretovariate(2.0) - 1.0, 3),
                channels=("SH", "SZ"),
                demo=True,
            )
        )
    return out


def _mark(stocks: list[Stock], rng: random.Random) -> list[Stock]:
    """Mark a few demo stocks suspended and a handful as listed by one channel only."""
    demo_idx = [i for i, s in enumerate(stocks) if s.demo]
    picks = rng.sample(demo_idx, SUSPENDED_COUNT + SH_ONLY_COUNT + SZ_ONLY_COUNT)
    suspended = set(picks[:SUSPENDED_COUNT])
    sh_only = set(picks[SUSPENDED_COUNT : SUSPENDED_COUNT + SH_ONLY_COUNT])
    sz_only = set(picks[SUSPENDED_COUNT + SH_ONLY_COUNT :])
    out = []
    for i, s in enumerate(stocks):
        channels = ("SH",) if i in sh_only else ("SZ",) if i in sz_only else s.channels
        out.append(
            Stock(
                code=s.code,
                name_en=s.name_en,
                name_cn=s.name_cn,
                name_hk=s.name_hk,
                lot=s.lot,
                ref_price=s.ref_price,
                weight=s.weight,
                channels=channels,
                suspended=i in suspended,
                demo=s.demo,
                board=s.board,
            )
        )
    return out


@lru_cache(maxsize=1)
def stocks() -> tuple[Stock, ...]:
    """The whole universe, sorted by code; identical on every call and every run."""
    real = _real_stocks()
    rng = random.Random(_UNIVERSE_SEED)
    generated = _demo_stocks({s.code for s in real}, UNIVERSE_SIZE - len(real), rng)
    everything = sorted(real + generated, key=lambda s: s.code)
    return tuple(_mark(everything, rng))


@lru_cache(maxsize=1)
def by_code() -> dict[str, Stock]:
    """Five-digit code -> :class:`Stock`."""
    return {s.code: s for s in stocks()}
