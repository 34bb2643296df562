"""Snapshots of the board (pytest-textual-snapshot) in both colour conventions.

Deterministic: a fixed clock, fixed trades (tests/kit/board.py). After an
intended change of the look, review the report and run
``pytest tests/watch/test_board_snapshot.py --snapshot-update``.
"""

from __future__ import annotations

from typing import Any

import pytest
from kit.board import make_app


@pytest.mark.parametrize("colors", ["west", "cn"])
def test_board_snapshot(snap_compare: Any, colors: str) -> None:
    assert snap_compare(make_app(colors), terminal_size=(150, 16))


def test_detail_snapshot(snap_compare: Any) -> None:
    assert snap_compare(make_app("west"), press=["enter"], terminal_size=(130, 34))
