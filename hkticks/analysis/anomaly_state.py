"""The anomaly engine's state: one symbol's running state (:class:`_Sym`: the
hot path touches only this, internal to :mod:`hkticks.analysis.anomaly`) with
the turnover histogram its intraday percentile comes from, and what the engine
reports of itself: its warm-up (:class:`Readiness`) and counts (:class:`EngineStats`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from hkticks.analysis.alert_config import KINDS, SymbolBaseline

_INF = float("inf")

# Turnover histogram for the intraday percentile: 8 buckets per doubling.
_HBUCKETS_PER_2X = 8
_HSCALE = _HBUCKETS_PER_2X / math.log(2.0)
_HSIZE = 320  # up to 2**40 HK$


def _bucket_edge(b: int) -> float:
    return math.exp((b + 1) / _HSCALE)


class _Sym:
    """One symbol's running state (the engine's hot path touches only this)."""

    __slots__ = (
        "symbol",
        "sec",
        "bucket",
        "wins",
        "sums_n",
        "sums_v",
        "thr_n",
        "thr_v",
        "trig",
        "next_thr",
        "next_pct",
        "exp_n",
        "exp_v",
        "tot_n",
        "tot_v",
        "hist",
        "hist_top",
        "block_thr",
        "block_why",
        "px",
        "ref_px",
        "band_hi",
        "band_lo",
        "hi",
        "lo",
        "rvol",
        "rvol_base",
        "last",
        "base",
    )

    def __init__(self, symbol: str, nwin: int, base: SymbolBaseline | None) -> None:
        self.symbol = symbol
        self.sec = -1
        self.bucket: list[int] = [0, 0, 0]  # [sec, trades, volume]
        self.wins: list[deque[list[int]]] = [deque() for _ in range(nwin)]
        self.sums_n = [0] * nwin
        self.sums_v = [0] * nwin
        self.thr_n = [_INF] * nwin
        self.thr_v = [_INF] * nwin
        self.trig = _INF  # trades in the current second that make a window worth checking
        self.next_thr = -1  # the second from which thresholds are recomputed
        self.next_pct = 0  # the trade count from which the size percentile is recomputed
        self.exp_n = [0.0] * nwin
        self.exp_v = [0.0] * nwin
        self.tot_n = 0
        self.tot_v = 0
        self.hist: list[int] | None = None
        self.hist_top = -1
        self.block_thr = _INF
        self.block_why = ""
        self.px: deque[tuple[int, float]] = deque()
        self.ref_px = 0.0
        self.band_hi = _INF
        self.band_lo = -_INF
        self.hi = -_INF
        self.lo = _INF
        self.rvol = 0.0
        self.rvol_base = 0.0
        self.last: dict[str, int] = {}
        self.base = base


@dataclass(frozen=True)
class Readiness:
    """The engine's warm-up: continuous-session seconds seen of the ``warmup_s`` that
    volume_spike's intraday rate needs; symbols seen, and how many of them have a
    volume_spike and a block_trade threshold yet."""

    active_s: float
    warmup_s: float
    symbols: int
    spike_ready: int
    block_ready: int

    @property
    def warming(self) -> bool:
        return self.active_s < self.warmup_s


@dataclass
class EngineStats:
    """``ticks`` seen; ``counted`` today's ticks in the continuous sessions; alerts by kind."""

    ticks: int = 0
    counted: int = 0
    alerts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
