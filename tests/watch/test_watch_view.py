"""The quote board's view, rendered by Rich into a string and read back."""

from __future__ import annotations

import calendar
import io
import random
from typing import Any

import pytest
from rich.cells import cell_len
from rich.color import Color
from rich.console import Console
from rich.segment import Segment

from hkticks.analysis.replay import ReplayConn
from hkticks.tick import Book, Event, Tick
from hkticks.watch.model import DayStats, ReferenceData, WatchModel
from hkticks.watch.view import (
    DEMO_BANNER,
    Board,
    Palette,
    board_summary,
    choose_columns,
    fmt_pct,
    fmt_price,
    fmt_qty,
)

# Monday 2024-03-04 10:15:00 HKT
NOW = calendar.timegm((2024, 3, 4, 10, 15, 0, 0, 0, 0)) - 8 * 3600
T0 = int(NOW * 1000) - 3000


def tick(sym: str, price: float, ts_ms: int = T0, vol: int = 100, side: str | None = "buy") -> Tick:
    return Tick(sym, ts_ms, price, vol, price * vol, side, None, ts_ms, "test")


def render(board: Board, width: int = 160, height: int = 30) -> str:
    console = Console(
        width=width, height=height, record=True, file=io.StringIO(), color_system=None
    )
    console.print(board)
    return console.export_text()


def segment_with(lines: list[list[Segment]], text: str) -> Segment:
    for line in lines:
        for seg in line:
            if text in seg.text:
                return seg
    raise AssertionError(f"{text!r} not rendered")


def two_symbol_model(**kw: object) -> WatchModel:
    m = WatchModel(
        ["00700", "09988"],
        names={"00700": ("Tencent", "腾讯控股"), "09988": ("Alibaba-W", "阿里巴巴-W")},
        started=NOW - 65,
        **kw,  # type: ignore[arg-type]
    )
    m.apply([Event(1, "connected", 0, {}), Event(2, "subscribed", 0, {"kind": "trades"})], NOW - 60)
    m.apply(
        [tick("00700", 380.0, T0 - 1000, 200), tick("00700", 382.4, T0, 300, "sell")], NOW - 0.1
    )
    m.apply([tick("09988", 80.15, T0 - 61_000, 1000)], NOW - 61)
    return m


def test_board_shows_banner_header_and_rows() -> None:
    board = Board(two_symbol_model(), demo=True, clock=lambda: NOW)
    text = render(board)
    lines = text.splitlines()
    assert "hkticks" in lines[0] and "1/1 up" in lines[0]
    assert "HK market: open (morning session), lunch in 1h45m" in lines[0]
    assert "10:15:00 HKT" in lines[0]
    assert DEMO_BANNER in lines[1]
    assert lines[2].split()[:4] == ["Code", "Name", "Last", "Chg/1st"]
    row700 = next(line for line in lines if line.startswith("00700"))
    cells = row700.split()
    assert cells[:3] == ["00700", "Tencent", "382.40"]
    assert "+2.40" in cells and "+0.63%" in cells and "sell" in cells and "300" in cells
    assert "10:14:57" in cells and "3s" in cells  # exchange time in HKT and its age
    row9988 = next(line for line in lines if line.startswith("09988"))
    assert "80.15" in row9988 and "1m" in row9988.split()
    assert "2 symbols · 2 traded · 3 trades" in text
    assert "change from first trade for now" in text  # previous close still loading
    assert "more (enlarge" not in text  # no "+N more" line when all rows fit


def test_no_demo_banner_without_demo_and_chinese_names() -> None:
    board = Board(two_symbol_model(), names="cn", clock=lambda: NOW)
    text = render(board)
    assert DEMO_BANNER not in text
    assert "腾讯控股" in text and "阿里巴巴-W" in text


def test_previous_close_changes_header_and_change() -> None:
    m = two_symbol_model()
    m.apply([ReferenceData(stats={"00700": DayStats(385.0, 384.0, 386.0, 379.0, 5_000_000)})], NOW)
    text = render(Board(m, clock=lambda: NOW))
    header = text.splitlines()[1]
    assert "Chg*" in header and "Chg%*" in header  # 09988 still from its first trade
    row = next(line for line in text.splitlines() if line.startswith("00700"))
    assert "-2.60" in row and "-0.68%" in row and "386.00" in row and "379.00" in row
    assert "5.00M" in row  # day volume from the bar
    m.apply([ReferenceData(stats={"09988": DayStats(80.0)})], NOW)
    header = render(Board(m, clock=lambda: NOW)).splitlines()[1]
    assert "Chg " in header and "Chg% " in header and "*" not in header
    assert "change vs previous close" in render(Board(m, clock=lambda: NOW))


def test_reference_unavailable_says_so() -> None:
    m = two_symbol_model()
    m.apply([ReferenceData(error="REST API timed out")], NOW)
    text = render(Board(m, clock=lambda: NOW))
    assert "Chg/1st" in text and "%/1st" in text
    assert "previous close unavailable (REST API timed out)" in text


def test_550_symbols_only_visible_rows_and_more_line() -> None:
    codes = [f"{i:05d}" for i in range(1, 551)]
    rng = random.Random(7)
    m = WatchModel(codes, sort="change", started=NOW - 10, names={c: ("N", "") for c in codes})
    first = {c: round(rng.uniform(1, 500), 2) for c in codes}
    m.apply([tick(c, p, T0) for c, p in first.items()], NOW - 5)
    m.apply(
        [tick(c, round(p * rng.uniform(0.9, 1.1), 2), T0 + 1) for c, p in first.items()], NOW - 1
    )
    board = Board(m, demo=True, clock=lambda: NOW)
    text = render(board, 160, 50).splitlines()  # first frame: counts must be right at once
    lines = board.render_lines(NOW, 160, 50)
    assert len(lines) == 50
    assert all(sum(cell_len(s.text) for s in line) == 160 for line in lines)
    rows = [line for line in text if line[:5].isdigit()]
    # 50 lines - header, banner, column headers, "+N more", two footer lines
    assert len(rows) == 44 == board.shown
    assert f"+{550 - 44} more" in text[-3]
    assert "showing 44 of 550" in text[-2]
    # rows come sorted by change %, best first
    pcts = [float(line.split()[4].rstrip("%")) for line in rows]
    assert pcts == sorted(pcts, reverse=True)
    assert pcts[0] == pytest.approx(max(r.change_pct for r in m.rows.values()), abs=0.006)
    # a taller terminal shows more rows, without the "+N more" line when everything fits
    assert len(board.render_lines(NOW, 160, 600)) == 6 + 550 - 1


def test_resize_narrow_drops_low_priority_columns() -> None:
    m = two_symbol_model(book=True)
    m.apply([Book("00700", T0, ((382.2, 1200),), ((382.4, 800),), 1, T0, "t")], NOW)
    wide = [c.key for c in choose_columns(200, book=True)]
    assert {"bid", "ask", "bidsz", "asksz", "open", "high", "low"} <= set(wide)
    narrow = [c.key for c in choose_columns(60, book=True)]
    assert narrow[:2] == ["code", "last"] and {"chgp", "bid", "ask", "time"} <= set(narrow)
    assert "open" not in narrow and "trades" not in narrow
    board = Board(m, clock=lambda: NOW)
    for width in (160, 100, 60, 30):
        lines = board.render_lines(NOW, width, 20)
        assert all(sum(cell_len(s.text) for s in line) == width for line in lines)
    text = render(board, 160, 20)
    row = next(line for line in text.splitlines() if line.startswith("00700"))
    assert "382.20" in row and "1,200" in row and "800" in row
    assert "Bid" in text.splitlines()[1] and "Ask" in text.splitlines()[1]


def test_narrow_header_and_footer_drop_details_not_essentials() -> None:
    board = Board(two_symbol_model(), clock=lambda: NOW)
    wide = render(board, 160, 20).splitlines()
    assert "reconnects 0" in wide[0] and "lunch in" in wide[0] and "Ctrl-C quits" in wide[-2]
    narrow = render(board, 70, 20).splitlines()
    assert narrow[0].startswith(" hkticks  ● 1/1 up │ 1 ticks/s │ HK market: open (morning")
    assert "reconnects" not in narrow[0] and "lunch in" not in narrow[0]
    assert narrow[-2].startswith(" 2 symbols · 2 traded · 3 trades") and "Ctrl-C" not in narrow[-2]


def test_tiny_terminal_never_overflows() -> None:
    board = Board(two_symbol_model(), demo=True, clock=lambda: NOW)
    assert len(board.render_lines(NOW, 40, 3)) == 3
    assert len(board.render_lines(NOW, 40, 0)) == 0


@pytest.mark.parametrize(
    ("scheme", "up", "down"), [("west", "green", "red"), ("cn", "red", "green")]
)
def test_colours_and_flash(scheme: str, up: str, down: str) -> None:
    m = two_symbol_model()
    board = Board(m, colors=scheme, clock=lambda: NOW)
    # 00700 traded up 0.1 s ago: its price cell flashes in the "up" colour
    lines = board.render_lines(NOW, 160, 20)
    flash = segment_with(lines, "382.40")
    assert flash.style is not None and flash.style.bgcolor == Color.parse(up)
    assert board.next_wake == pytest.approx(NOW - 0.1 + 1.0)  # refresh when the flash ends
    # once the flash is over the cell settles to the change colour (up since the first trade)
    later = NOW + 0.9
    settled = segment_with(board.render_lines(later, 160, 20), "382.40")
    assert settled.style is not None and settled.style.bgcolor is None
    assert settled.style.color == Color.parse(up)
    assert board.next_wake == float(int(later) + 1)  # then only the clock ticks
    # a down-tick flashes in the "down" colour
    m.apply([tick("00700", 381.0, T0 + 10)], later)
    down_seg = segment_with(board.render_lines(later, 160, 20), "381.00")
    assert down_seg.style is not None and down_seg.style.bgcolor == Color.parse(down)
    side = segment_with(board.render_lines(later, 160, 20), "buy ")
    assert side.style is not None and side.style.color == Color.parse(up)


def test_connection_indicators() -> None:
    m = two_symbol_model()
    m.apply([Event(5, "disconnected", 1, {"reason": "reset"})], NOW)
    m.apply([Event(6, "fatal", 2, {"reason": "x"})], NOW)
    header = Board(m, clock=lambda: NOW).render_lines(NOW, 160, 20)[0]
    dots = [s.style.color for s in header if s.text == "●" and s.style is not None]
    assert dots == [Color.parse("green"), Color.parse("yellow"), Color.parse("red")]
    assert any("1/3 up" in s.text for s in header)
    footer = render(Board(m, clock=lambda: NOW)).splitlines()[-1]
    assert footer.startswith(" 10:15:00 x · ")  # the latest note, in HK time


def test_sort_marker_and_rejected_row() -> None:
    m = WatchModel(["00700", "99999"], sort="change", started=NOW)
    m.apply([Event(1, "error", 0, {"ret": 600, "msg": "code invalid", "codes": ["99999"]})], NOW)
    text = render(Board(m, clock=lambda: NOW))
    assert "Chg%▼" in text.replace("*", "") or "%/1st▼" in text
    row = next(line for line in text.splitlines() if line.startswith("99999"))
    assert "✗ code invalid" in row
    assert "99999" in text.splitlines()[-1]  # the footer names the rejected code


def test_lunch_and_weekend_header() -> None:
    lunch = NOW + 2 * 3600  # 12:15
    text = render(Board(two_symbol_model(), clock=lambda: lunch))
    assert "HK market: lunch break, reopens in 45m" in text
    saturday = NOW + 5 * 86_400
    assert "closed (weekend)" in render(Board(two_symbol_model(), clock=lambda: saturday))


def test_formatting() -> None:
    assert fmt_price(0.235) == "0.235" and fmt_price(382.4) == "382.40" and fmt_price(None) == "-"
    assert fmt_pct(0.001) == "0.00%" and fmt_pct(-1.234) == "-1.23%" and fmt_pct(None) == ""
    assert fmt_qty(999_999) == "999,999" and fmt_qty(1_234_567) == "1.23M"
    assert fmt_qty(123_456, 100_000) == "123.5K" and fmt_qty(5_000_000_000) == "5.00B"
    with pytest.raises(ValueError):
        Palette.scheme("rainbow")


def test_summary_line() -> None:
    m = two_symbol_model()
    line = board_summary(m, NOW)
    assert line == (
        "hkticks: watched 2 symbols for 1m05s, 3 trades (0.0/s), 2 symbols traded, 0 reconnects"
    )


def test_summary_line_says_demo_for_simulated_data() -> None:
    m = two_symbol_model()
    assert "DEMO" not in board_summary(m, NOW)
    assert board_summary(m, NOW, demo=True).endswith("[DEMO: simulated trades, not market data]")
    m.simulated = True  # the server's handshake said so
    assert "[DEMO" in board_summary(m, NOW)


def test_finished_replay_says_done_not_down() -> None:
    m = two_symbol_model()
    m.set_status([ReplayConn(0, "done", 0, 2, None)])
    header = "".join(s.text for s in Board(m, clock=lambda: NOW).render_lines(NOW, 160, 20)[0])
    assert "replay done" in header and "0/1 up" not in header


def test_replay_feed_reports_done_at_the_end_and_stopped_on_a_reading_error() -> None:
    from hkticks.analysis.replay import ReplayClock, ReplayFeed
    from hkticks.errors import HkticksError
    from hkticks.feed.queue import TickQueue

    def keyed(fail: bool) -> Any:
        yield 1, tick("00700", 300.0, 1)
        if fail:
            raise HkticksError("damaged line 2")

    states = []
    for fail in (False, True):
        feed = ReplayFeed(keyed(fail), TickQueue(), ReplayClock(None), symbols=1)
        assert feed.status().connections[0].state == "up"
        feed.start()
        assert feed.finished.wait(5)
        states.append(feed.status().connections[0].state)
    assert states == ["done", "stopped"]
