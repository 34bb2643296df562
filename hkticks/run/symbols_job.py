"""The symbols job: which Stock Connect list ``hkticks symbols`` shows, which of its
stocks, and the list as a document, CSV text or a table.

:func:`universe_to_show` reads the cached list (starting a demo market or asking
the exchanges only when it must be fetched) or refreshes it; :func:`stocks_to_show`
selects (channel, search, suspended, ``--shard``); :func:`refresh_summary`,
:func:`universe_document`, :func:`universe_csv` and :func:`universe_table` are
what the command prints. The lists themselves live in :mod:`hkticks.symbols.universe`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
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


def stocks_to_show(
    universe: symsvc.Universe,
    spec: SourceSpec,
    *,
    include_suspended: bool,
    channel: str,
    search: str | None,
) -> list[symsvc.StockInfo]:
    """The stocks of ``universe`` selected, and only those of the spec's ``--shard i/n``
    (the list one of n recorders takes)."""
    stocks = universe.select(include_suspended=include_suspended, channel=channel, search=search)
    in_shard = spec.shard_filter()
    return stocks if in_shard is None else [s for s in stocks if in_shard(s.code)]


def universe_csv(universe: symsvc.Universe, stocks: list[symsvc.StockInfo]) -> str:
    """``code,name_cn,name_en,channels,suspended`` and a row per stock."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["code", "name_cn", "name_en", "channels", "suspended"])
    for s in stocks:
        writer.writerow(
            [s.code, s.name_cn, s.name_en, " ".join(s.channels), "yes" if s.suspended else ""]
        )
    return buf.getvalue()


def _hk_time(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, symsvc.HK_TZ).strftime("%Y-%m-%d %H:%M HKT")


def universe_table(
    universe: symsvc.Universe,
    stocks: list[symsvc.StockInfo],
    *,
    hidden: int,
    search: str | None,
) -> tuple[Any, list[str]]:
    """The Rich table of ``stocks`` and its two footer lines (counts; sources and checks);
    ``hidden``: suspended stocks that match but were left out."""
    from rich.table import Table

    title = "Stock Connect (southbound)" + (" · demo list" if universe.demo else "")
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("Code", style="cyan", no_wrap=True)
    table.add_column("Name")
    table.add_column("English name")
    table.add_column("Channels", no_wrap=True)
    table.add_column("Suspended", no_wrap=True)
    for s in stocks:
        mark = ""
        if s.suspended:
            since = universe.last_traded.get(s.code)
            mark = "[red]suspended[/]" + (f" (last trade {since})" if since else "")
        table.add_row(s.code, s.name_cn, s.name_en, " ".join(s.channels), mark)
    counts = [f"{len(stocks)} shown" + (f" for {search!r}" if search else "")]
    if hidden:
        counts.append(f"{hidden} suspended hidden (--include-suspended)")
    parts = [f"{k} list {v}" for k, v in sorted(universe.sources.items())]
    parts.append(f"fetched {_hk_time(universe.fetched_at)}")
    if universe.suspended_checked_at is None:
        parts.append("suspensions not checked")
    else:
        parts.append(f"suspensions checked {_hk_time(universe.suspended_checked_at)}")
    return table, [" · ".join(counts), " · ".join(parts)]
