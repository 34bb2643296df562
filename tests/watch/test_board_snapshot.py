"""Snapshots of the board (pytest-textual-snapshot) in both colour conventions.

Deterministic: a fixed clock, fixed trades (tests/kit/board.py). After an
intended change of the look, review the report and run
``pytest tests/watch/test_board_snapshot.py --snapshot-update``.
"""

from __future__ import annotations

from typing import Any

import pytest
from kit.board import SECTORS, history_bars, make_app, with_reference


@pytest.mark.parametrize("colors", ["west", "cn"])
def test_board_snapshot(snap_compare: Any, colors: str) -> None:
    assert snap_compare(make_app(colors), terminal_size=(150, 16))


def test_detail_snapshot(snap_compare: Any) -> None:
    assert snap_compare(make_app("west"), press=["enter"], terminal_size=(130, 34))


def test_heatmap_snapshot_market_cap(snap_compare: Any) -> None:
    app = with_reference(make_app("west", watchlists={}))
    assert snap_compare(app, press=["h"], terminal_size=(120, 30))


def test_heatmap_snapshot_day_turnover(snap_compare: Any) -> None:
    app = with_reference(make_app("west", watchlists={}))
    assert snap_compare(app, press=["h", "m"], terminal_size=(120, 30))


def test_heatmap_snapshot_grouped_by_sector(snap_compare: Any) -> None:
    app = with_reference(make_app("cn", watchlists={}, sectors=SECTORS))
    assert snap_compare(app, press=["h"], terminal_size=(120, 30))


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"])
def test_detail_snapshot_per_timeframe(snap_compare: Any, key: str) -> None:
    async def open_timeframe(pilot: Any) -> None:
        await pilot.press("enter", key)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    app = with_reference(make_app("west", history=history_bars))
    assert snap_compare(app, run_before=open_timeframe, terminal_size=(130, 34))
