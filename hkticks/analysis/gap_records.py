"""The ``gap`` records of session events sidecars (written by :mod:`hkticks.feed.gap_tracker`),
for ``stats``, ``replay`` and ``validate``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hkticks.market_hours import hk_time_text
from hkticks.storage.readers import hk_datetime
from hkticks.storage.sidecars import events_sidecar, read_events


def gap_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The well-formed ``gap`` events, in time order of their start."""
    gaps = [
        ev
        for ev in events
        if ev.get("event") == "gap"
        and isinstance(ev.get("start"), int)
        and isinstance(ev.get("end"), int)
    ]
    return sorted(gaps, key=lambda g: g["start"])


def sidecar_events(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Every event of the sidecars next to ``paths`` (each read once)."""
    sidecars = [side for side in map(events_sidecar, paths) if side is not None]
    events: list[dict[str, Any]] = []
    for side in dict.fromkeys(sidecars):
        events.extend(read_events(side))
    return events


def describe(gap: dict[str, Any]) -> str:
    """One line: ``gap 2026-12-01 10:00:02.120 - 10:00:05.300 HKT (3.2 s of trading),
    shard 0, 5 symbols: closed by server``."""
    n = len(gap.get("symbols") or ())
    trading = gap.get("trading_ms")
    secs = f" ({trading / 1000:.1f} s of trading)" if isinstance(trading, int) else ""
    return (
        f"gap {hk_datetime(gap['start'], True)} - {hk_time_text(gap['end'], with_ms=True)} HKT"
        f"{secs}, shard {gap.get('shard')}, {n} symbol{'s' if n != 1 else ''}: "
        f"{gap.get('cause') or 'unknown cause'}"
    )
