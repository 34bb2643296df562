"""The board without a screen (:mod:`hkticks.watch.live`) against the embedded server's REST API."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kit.waiting import wait_until

from hkticks.alltick import protocol as alltick
from hkticks.alltick.rest_client import RestClient
from hkticks.analysis.replay import ReplayConn, ReplayStatus
from hkticks.feed.queue import TickQueue
from hkticks.watch.heatmap import tiles_from_rows
from hkticks.watch.live import LiveBoard

CODES = ["00700", "09988", "00005", "03690"]


class IdleFeed:
    """A feed that is up and sends nothing (the REST side is what is tested here)."""

    fatal = None

    def __init__(self) -> None:
        self.done = threading.Event()
        self.started = self.stopped = False

    def status(self) -> Any:
        return ReplayStatus(connections=[ReplayConn(0, "up", 0, 1, None)], ticks=0)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def server() -> Iterator[Any]:
    from hkticks.server import MarketServer

    srv = MarketServer(token="t", plan="all-hk", rate=50.0, seed=5, enforce_pacing=False)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def pump_until(board: LiveBoard, predicate: Any, timeout: float = 15.0) -> None:
    """Pump the board (as the app's timer does) until ``predicate()`` holds."""

    def pumped() -> Any:
        board.pump(time.time())
        return predicate()

    wait_until(pumped, timeout, "the board's state")


def test_live_board_fetches_market_caps_once_and_history_per_timeframe(server: Any) -> None:
    rest = RestClient(server.rest_url, "t", alltick.PLANS["all-hk"])
    feed = IdleFeed()
    board = LiveBoard(feed, TickQueue(), CODES, rest=rest)  # type: ignore[arg-type]
    board.start()
    try:
        assert feed.started
        # the reference thread: previous close and today's bar (with its turnover)
        pump_until(board, lambda: board.model.reference == "ok")
        row = board.model.rows["00700"]
        assert row.prev_close
        # today's bar exists only once today's HK session has opened (the server's latest
        # trading day is yesterday on a weekend or before 09:30 HKT)
        assert row.bar_turnover is None or row.day_turnover > 0
        # market caps: asked once, answered through the queue
        assert all(r.hk_shares is None for r in board.model.rows.values())
        board.request_shares()
        board.request_shares()
        pump_until(board, lambda: board.model.shares == "ok")
        assert all(r.hk_shares and r.hk_shares > 0 for r in board.model.rows.values())
        tiles, sized = tiles_from_rows(board.model.rows.values(), size="cap")
        assert sized == "cap"
        want = {
            c: r.hk_shares * (r.last or r.day_close or r.prev_close)
            for c, r in board.model.rows.items()
        }  # type: ignore[operator]
        assert {t.code: t.weight for t in tiles} == pytest.approx(want)
        # the detail timeframes: minute bars and daily bars from GET kline
        minutes = board.history("00700", "1D")
        days = board.history("00700", "1Y")
        assert minutes is not None and days is not None and len(days) > 20
        assert days[-1].ts - days[0].ts > 20 * 86_400_000  # daily, not minutes
    finally:
        board.stop()
    assert feed.stopped


def test_live_board_without_rest_says_so() -> None:
    board = LiveBoard(IdleFeed(), TickQueue(), CODES)  # type: ignore[arg-type]
    board.start()
    board.request_shares()
    assert board.model.reference == "unavailable" and board.model.shares == "unavailable"
    assert board.history("00700", "1D") is None
    board.stop()


def test_the_board_imports_no_ui_toolkit() -> None:
    code = "import sys, hkticks.watch.live; print(sorted({'textual', 'rich'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
