"""The symbols job: which Stock Connect list ``hkticks symbols`` shows, and its summaries.

:func:`universe_to_show` reads the cached list (starting a demo market or asking
the exchanges only when it must be fetched) or refreshes it;
:func:`refresh_summary` and :func:`universe_document` are the refresh line and
the JSON document of a list. The lists themselves live in
:mod:`hkticks.symbols.universe`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from hkticks.run.source import SourceSpec, open_source
from hkticks.symbols import universe as symsvc


def universe_to_show(
    spec: SourceSpec,
    refresh: bool,
    fmt: str,
    *,
    shown: bool = True,
    warn: Callable[[str], None],
) -> symsvc.Universe | None:
    """The list to show: the cache (a demo market or the sources only if it must be
    fetched), or a fresh one with ``refresh`` (``None`` when only the refresh was asked)."""
    universe: symsvc.Universe | None = None
    if not refresh:
        # a cached list needs no server; start one only if it must be fetched
        universe = symsvc.cached_universe(demo=spec.demo, warn=warn)
        if universe is None and not spec.demo and fmt != "codes":
            # only the demo list is cached (e.g. right after `--refresh --demo`): show it,
            # labelled; never as bare codes (those are piped into `record`), and record
            # and watch never default to it without --demo
            universe = symsvc.cached_universe(demo=True, warn=warn)
            if universe is not None:
                warn(
                    "showing the DEMO (simulated) list: no real list is cached yet; "
                    "run `hkticks symbols --refresh` to fetch it from SSE and SZSE"
                )
    if universe is not None:
        return universe
    with open_source(spec) as provider:
        if not refresh:
            return symsvc.load_universe(provider.settings, warn=warn)
        universe = symsvc.refresh_universe(provider.settings, warn=warn)
        warn(refresh_summary(universe))
    return universe if shown else None


def refresh_summary(universe: symsvc.Universe) -> str:
    """``refreshed the Stock Connect list: N stocks (SH, SZ, both); dates; suspensions``."""
    counts = universe.channel_counts()
    dates = ", ".join(f"{name} list of {date}" for name, date in sorted(universe.sources.items()))
    total = len(universe)
    suspended = universe.suspended_count
    if universe.suspended_checked_at is None:
        tail = "suspensions not checked"
    else:
        tail = f"{suspended} suspended, {total - suspended} tradable"
    return (
        f"refreshed the Stock Connect list: {total} stocks (SH {counts['SH']}, "
        f"SZ {counts['SZ']}, both {counts['both']}); {dates}; {tail}; cached in {universe.path}"
    )


def hk_time_iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, symsvc.HK_TZ).isoformat()


def universe_document(universe: symsvc.Universe, stocks: list[symsvc.StockInfo]) -> dict[str, Any]:
    """The JSON document of ``stocks`` of ``universe`` (``symbols --format json``)."""
    checked = universe.suspended_checked_at
    return {
        "fetched_at": hk_time_iso(universe.fetched_at),
        "sources": universe.sources,
        "demo": universe.demo,
        "suspended_checked_at": None if checked is None else hk_time_iso(checked),
        "count": len(stocks),
        "stocks": [
            {
                "code": s.code,
                "name_cn": s.name_cn,
                "name_en": s.name_en,
                "channels": list(s.channels),
                "suspended": s.suspended,
                "last_traded": universe.last_traded.get(s.code) if s.suspended else None,
            }
            for s in stocks
        ],
    }
