"""The table's pure parts: row selection (filter, watchlist, reverse), flashes and ticks."""

from __future__ import annotations

import threading
from typing import Any

from kit.board import NOW, make_model

from hkticks.analysis.replay import ReplayConn, ReplayStatus
from hkticks.bench.targets import watch_targets
from hkticks.feed.queue import TickQueue
from hkticks.tick import Tick
from hkticks.watch.buffers import Buffers
from hkticks.watch.columns import BY_KEY, ColumnLayout
from hkticks.watch.model import WatchModel
from hkticks.watch.pump import BoardPump
from hkticks.watch.table import FADE_STEPS, TICK_MARK, RowPainter, matches, select_rows
from hkticks.watch.view import Palette


def tick(code: str, price: float, ts: int, src: str = "t") -> Tick:
    return Tick(code, ts, price, 100, price * 100, "buy", None, ts, src)


def test_select_rows_filters_by_code_and_names_and_watchlist() -> None:
    model, _ = make_model()
    assert [r.code for r in select_rows(model, needle="700")] == ["00700"]  # a code: exactly
    assert [r.code for r in select_rows(model, needle="TENCENT")] == ["00700"]
    assert [r.code for r in select_rows(model, needle="小米")] == ["01810"]
    got = select_rows(model, members={"00005", "00700"})
    assert [r.code for r in got] == ["00700", "00005"]  # the board's order, not the list's
    assert matches(model.rows["00700"], "")


def test_reverse_change_keeps_untraded_rows_last() -> None:
    model = WatchModel(["00001", "00002", "00003"], sort="change")
    model.apply([tick("00001", 10.0, 1), tick("00001", 11.0, 2), tick("00002", 5.0, 1)], 0)
    model.apply([tick("00002", 4.0, 2)], 0)
    assert [r.code for r in select_rows(model)] == ["00001", "00002", "00003"]
    assert [r.code for r in select_rows(model, reverse=True)] == ["00002", "00001", "00003"]


def test_flash_only_on_price_change_fading_and_a_tick_mark_for_same_price() -> None:
    model = WatchModel(["00700"])
    painter = RowPainter(Palette.scheme("west"), colors="west")
    row = model.rows["00700"]
    cols, _ = ColumnLayout().fit(200)
    model.apply([tick("00700", 300.0, 1)], 100.0)
    assert painter.flash(row, 100.0, model.flash_s) is None  # first trade: no flash
    cells = painter.cells(row, cols, 100.1, model.flash_s)
    assert any(s.text == TICK_MARK for s in cells)  # but a subtle tick
    model.apply([tick("00700", 301.0, 2)], 101.0)
    levels = [painter.flash(row, 101.0 + dt, model.flash_s) for dt in (0.0, 0.3, 0.6, 0.9, 1.0)]
    assert levels[0] == painter.fade_up[FADE_STEPS] and levels[-1] is None
    bgs = [lv.bgcolor.get_truecolor() for lv in levels[:-1] if lv is not None]  # type: ignore[union-attr]
    assert [g for _, g, _ in bgs] == sorted((g for _, g, _ in bgs), reverse=True)  # fading
    # while the flash runs, no tick mark; a same-price trade later: tick mark, no flash
    assert not any(s.text == TICK_MARK for s in painter.cells(row, cols, 101.1, model.flash_s))
    model.apply([tick("00700", 301.0, 3)], 103.0)
    assert painter.flash(row, 103.0, model.flash_s) is None
    assert any(s.text == TICK_MARK for s in painter.cells(row, cols, 103.1, model.flash_s))
    assert not any(s.text == TICK_MARK for s in painter.cells(row, cols, 103.5, model.flash_s))


class FakeFeed:
    def __init__(self, simulated: bool = False) -> None:
        self.fatal = None
        self.done = threading.Event()
        self.simulated = simulated

    def status(self) -> Any:
        status = ReplayStatus(connections=[ReplayConn(0, "up", 0, 1, None)], ticks=0)
        if not self.simulated:
            return status

        class Simulated:  # a status that says so (as issue 13's feed will)
            simulated = True

            def __getattr__(self, name: str) -> Any:
                return getattr(status, name)

        return Simulated()


def test_pump_feeds_model_and_buffers_and_notices_simulated_data() -> None:
    queue = TickQueue()
    model = WatchModel(["00700"])
    buffers = Buffers(["00700"])
    pump = BoardPump(FakeFeed(), queue, model, buffers)  # type: ignore[arg-type]
    queue.put(tick("00700", 300.0, 1))
    assert pump(NOW) is None and model.trades == 1 and len(buffers.get("00700").trades) == 1
    assert not pump.simulated and model.connections[0].state == "up"
    queue.put(tick("00700", 300.2, 2, src="alltick-sim"))
    pump(NOW)
    assert pump.simulated
    flagged = BoardPump(FakeFeed(simulated=True), TickQueue(), model, buffers)  # type: ignore[arg-type]
    flagged(NOW)
    assert flagged.simulated


def test_watch_targets() -> None:
    figures = {
        "cpu": {"cpu_share": 0.06, "fps": 4.9},
        "keys": {"key_ms": 60.0, "detail_ms": 250.0},
    }
    got = watch_targets(figures)
    assert got["watch_cpu_share"]["ok"] and got["watch_fps"]["ok"] and got["watch_key_ms"]["ok"]
    assert not got["watch_detail_ms"]["ok"] and got["watch_detail_ms"]["target"] == "<= 200"
    assert watch_targets({}) == {}


def test_a_code_query_matches_the_code_exactly_names_by_substring() -> None:
    model = WatchModel(["00700", "04700", "07000", "00005"], names={"00005": ("HSBC 700", "")})
    assert [r.code for r in select_rows(model, needle="700")] == ["00700"]
    assert [r.code for r in select_rows(model, needle="0700.HK")] == ["00700"]
    assert [r.code for r in select_rows(model, needle="4700")] == ["04700"]
    assert [r.code for r in select_rows(model, needle="hsbc")] == ["00005"]


def test_watchlist_in_list_order_keeps_the_lists_order() -> None:
    model = WatchModel(["00700", "09988", "03690", "01810"])
    got = select_rows(model, members=("00700", "09988", "03690", "01810")[::-1])
    assert [r.code for r in got] == ["01810", "03690", "09988", "00700"]


def test_last_before_a_trade_is_todays_close_not_the_previous_one() -> None:
    from hkticks.alltick.rest_frames import Bar
    from hkticks.watch.model import DayStats, ReferenceData, day_stats

    day = 86_400_000
    today = int(NOW * 1000)
    bars = [
        Bar("00700", today - day, 370, 382, 369, 380.0, 1, 1),
        Bar("00700", today, 380, 392, 384, 390.0, 5, 5),
    ]
    stats = day_stats(bars, NOW)
    assert stats.close == 390.0 and stats.prev_close == 380.0
    model = WatchModel(["00700", "00005"])
    model.apply([ReferenceData(stats={"00700": stats, "00005": DayStats(65.0)})], NOW)
    painter = RowPainter(Palette.scheme("west"), colors="west")
    only_last = [BY_KEY["last"]]

    def last_cell(code: str) -> Any:
        (cell,) = painter.cells(model.rows[code], only_last, NOW, 1.0)
        return cell

    cell = last_cell("00700")
    assert cell.text.strip() == "390.00"  # inside today's High/Low (392/384)
    assert cell.style is None or not cell.style.dim
    assert (model.rows["00700"].low, model.rows["00700"].high) == (384, 392)
    prev = last_cell("00005")  # no bar today: the previous close, dim
    assert prev.text.strip() == "65.00" and prev.style is not None and prev.style.dim
