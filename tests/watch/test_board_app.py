"""The Textual board driven headless with Pilot: every binding and the detail view."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from kit.board import NOW, make_app
from textual.pilot import Pilot
from textual.widgets import Input

from hkticks.config import tomllib
from hkticks.errors import SourceError
from hkticks.watch import layout as saved
from hkticks.watch.app import BoardApp
from hkticks.watch.detail import DetailScreen, LinesWidget
from hkticks.watch.dialogs import ColumnsScreen, HelpScreen

Script = Callable[[BoardApp, Pilot[None]], Awaitable[None]]


def drive(app: BoardApp, script: Script, size: tuple[int, int] = (160, 40)) -> None:
    async def main() -> None:
        async with app.run_test(size=size, notifications=True) as pilot:
            await pilot.pause()
            await script(app, pilot)

    asyncio.run(main())


def codes(app: BoardApp) -> list[str]:
    return [r.code for r in app.table.rows]


def header_line(app: BoardApp) -> str:
    from hkticks.watch.table import header_text

    return header_text(app.table.columns, app.model, app.table.reverse)


def test_sort_cycles_and_reverses_with_the_arrow() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        assert app.model.sort == "given" and "▼" not in header_line(app)
        await pilot.press("s")
        assert app.model.sort == "code" and header_line(app).startswith("Code▲")
        assert codes(app) == sorted(codes(app))
        await pilot.press("s")
        assert app.model.sort == "change" and "Chg%▼" in header_line(app)
        assert codes(app)[0] == "01810"  # +3.00%, the top gainer first
        await pilot.press("S")  # reverse: the losers first, not only gainers
        assert "Chg%▲" in header_line(app) and codes(app)[0] == "07000"  # -1.33%
        for _ in range(3):
            await pilot.press("s")
        assert app.model.sort == "given" and not app.table.reverse

    drive(make_app(), script)


def test_filter_by_code_and_name_then_escape_clears() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("7", "0", "0")
        assert codes(app) == ["00700"]  # live while typing; a code matches exactly (not 07000)
        await pilot.press("enter")
        assert app.needle == "700" and app.focused is app.table
        await pilot.press("escape")
        assert app.needle == "" and len(codes(app)) == 6
        await pilot.press("slash", *"meituan", "enter")
        assert codes(app) == ["03690"]
        await pilot.press("slash")
        await pilot.press(*["backspace"] * 7, *"汇丰", "enter")
        assert codes(app) == ["00005"]
        await pilot.press("slash", "escape")  # Esc inside the box clears too
        assert app.needle == "" and len(codes(app)) == 6 and app.focused is app.table

    drive(make_app(), script)


def test_tab_cycles_watchlists_and_all() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        assert app.watchlist == "all" and len(codes(app)) == 6
        await pilot.press("tab")
        assert app.watchlist == "tech" and codes(app) == ["00700", "09988", "03690", "01810"]
        await pilot.press("tab")
        assert app.watchlist == "all"

    drive(make_app(), script)


def test_arrows_pages_home_end_move_and_scroll() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        t = app.table
        assert t.cursor == 0
        await pilot.press("down", "down")
        assert t.cursor == 2
        await pilot.press("up")
        assert t.cursor == 1
        await pilot.press("end")
        assert t.cursor == 5 and t.scroll_y > 0  # 6 rows in a table 3 rows high
        await pilot.press("home")
        assert t.cursor == 0 and t.scroll_y == 0
        await pilot.press("pagedown")
        assert t.cursor == 2
        await pilot.press("pageup")
        assert t.cursor == 0

    # a short terminal: header 3 + banner 1 + titles 1 + footer 1 leaves 3 rows
    drive(make_app(), script, size=(160, 9))


def test_pause_freezes_the_rows_not_the_data() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("p")
        assert app.paused
        before = app.table.rows
        row = app.model.rows["00700"]
        from hkticks.tick import Tick

        app.model.apply(
            [Tick("00700", row.last_ts + 1, 390.0, 100, 39000.0, "buy", 9, 0, "t")], NOW
        )
        app.redraw()
        assert app.table.rows is before and row.last == 390.0  # data flowed, display held
        await pilot.press("p")
        assert not app.paused

    drive(make_app(), script)


def test_book_toggle_and_column_chooser() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        keys = [c.key for c in app.table.columns]
        assert "bid" in keys
        await pilot.press("b")
        assert "bid" not in [c.key for c in app.table.columns]
        await pilot.press("b")
        await pilot.press("c")
        assert isinstance(app.screen, ColumnsScreen)
        # the first entry is Name: untick it and apply
        await pilot.press("space", "enter")
        assert not isinstance(app.screen, ColumnsScreen)
        assert "name" not in [c.key for c in app.table.columns]
        assert "code" in [c.key for c in app.table.columns]

    drive(make_app(), script)


def test_narrow_terminal_says_which_columns_are_hidden() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        assert app.hidden_columns
        keys = [c.key for c in app.table.columns]
        assert keys[:1] == ["code"] and "last" in keys and "chgp" in keys
        from hkticks.watch.columns import hidden_notice

        assert "(c: columns)" in hidden_notice(app.hidden_columns)

    drive(make_app(), script, size=(60, 20))


def test_w_saves_the_layout_and_it_is_restored(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('token = "secret"\n\n[watchlists]\ntech = ["700", "9988"]\n')

    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("s", "s", "S", "tab", "w")
        await pilot.pause()

    app = make_app(save_layout=lambda v: saved.save(v, path), watchlists={"tech": ["00700"]})
    drive(app, script)
    conf = tomllib.loads(path.read_text())
    assert conf["token"] == "secret" and conf["watchlists"]["tech"] == ["700", "9988"]
    assert conf["board"]["sort"] == "change" and conf["board"]["reverse"] is True
    assert conf["board"]["watchlist"] == "tech"
    restored = saved.load(path)
    assert (restored.sort, restored.reverse, restored.watchlist) == ("change", True, "tech")
    assert restored.watchlists == {"tech": ["00700", "09988"]}
    assert restored.columns == app.layout.saved()


def test_enter_opens_the_detail_view_with_chart_tape_and_ladder() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen) and screen.row.code == "00700"
        chart = screen.query_one("#chart", LinesWidget)
        tape = screen.query_one("#tape", LinesWidget)
        ladder = screen.query_one("#ladder", LinesWidget)
        text = "".join(s.text for line in chart._lines for s in line)
        assert "█" in text and "┄" in text  # candles and the previous-close line
        tape_text = "".join(s.text for s in tape._lines[0])
        assert "382.40" in tape_text and tape_text.rstrip().endswith("B")
        assert "A10" in "".join(s.text for s in ladder._lines[0])
        summary = screen.summary()
        assert "VWAP" in summary and "prev close 380.00" in summary and "range" in summary
        await pilot.press("l")
        assert screen.mode == "line"
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)

    drive(make_app(), script)


def test_detail_back_fill_merges_history_and_a_404_degrades_quietly() -> None:
    from hkticks.alltick.rest_frames import Bar

    start = int(NOW * 1000) - 3 * 3600_000
    history = [
        Bar("00700", start + i * 60_000, 380, 381, 379, 380.5, 1000, 380_000) for i in range(5)
    ]

    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        buf = app.buffers.get("00700")
        assert buf.backfill == "ok" and buf.bars[0].ts == start and len(buf.bars) == 35
        await pilot.press("escape", "down", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        other = app.buffers.get("09988")
        assert other.backfill == "unavailable" and len(other.bars) == 30
        assert "history unavailable" in app.screen.summary()  # type: ignore[attr-defined]

    def backfill(code: str) -> list[Bar]:
        if code == "00700":
            return history
        raise SourceError("REST kline failed: HTTP 404 Not Found")

    drive(make_app(history=lambda code, tf: backfill(code)), script)


def test_help_heatmap_palette_and_quit() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("x")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark", "x", "y")  # two fast keys close it once, no crash
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("h")
        await pilot.pause()
        assert type(app.screen).__name__ == "BoardHeatmapScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is app.table
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert type(app.screen).__name__ == "CommandPalette"
        await pilot.press(*"Sort by code", "enter")
        await pilot.pause()
        assert app.model.sort == "code"
        await pilot.press("q")
        await pilot.pause()
        assert app._exit

    drive(make_app(), script)


def shown_keys(app: BoardApp) -> set[str]:
    """The keys the footer shows on the current screen."""
    return {k for k, b in app.screen.active_bindings.items() if b.binding.show}


def test_heatmap_is_a_screen_of_the_app_and_shows_only_its_working_keys() -> None:
    from hkticks.watch.heatmap_screen import BoardHeatmapScreen

    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        assert {"s", "slash", "b", "c", "h"} <= shown_keys(app)
        await pilot.press("h")
        assert isinstance(app.screen, BoardHeatmapScreen)
        keys = shown_keys(app)
        assert not keys & {"s", "S", "slash", "b", "c", "w", "p", "a", "tab"}
        assert {"g", "m", "t", "escape", "q", "question_mark"} <= keys
        sort = app.model.sort
        await pilot.press("s", "slash", "b")  # the table's keys do nothing here
        assert app.model.sort == sort and isinstance(app.screen, BoardHeatmapScreen)
        assert not any("book" in n.message for n in app._notifications)
        await pilot.press("escape")
        assert app.focused is app.table

    drive(make_app(), script)


def test_key_press_reaches_the_screen_quickly_and_detail_opens_from_the_buffer() -> None:
    """Latency figures are reported by ``hkticks bench --watch``; here: they are measured."""
    got: dict[str, Any] = {}

    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        from hkticks.bench.render import key_latency

        got.update(await key_latency(app, pilot, presses=3))

    drive(make_app(), script)
    # key_latency raises when the table or the chart is not drawn anew within 5 s
    assert 0 < got["key_ms"] < 5000 and 0 < got["detail_ms"] < 5000


def test_ctrl_c_quits_and_backspace_leaves_the_detail_view() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("backspace")
        assert not isinstance(app.screen, DetailScreen)
        await pilot.press("enter", "enter")  # Enter on the detail view opens no second one
        assert len(app.screen_stack) == 2
        await pilot.press("escape", "ctrl+c")
        await pilot.pause()
        assert app._exit

    drive(make_app(), script)


def test_stop_flag_and_pump_error_end_the_app() -> None:
    from hkticks.errors import TokenRejected
    from hkticks.stopping import StopFlag

    stop = StopFlag()
    calls: list[float] = []

    def pump(now: float) -> Any:
        calls.append(now)
        return TokenRejected("token rejected") if len(calls) >= 2 else None

    app = make_app(pump=pump, stop=stop)
    app.frame_s = 0.05

    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        deadline = time.monotonic() + 5
        while not app._exit and time.monotonic() < deadline:
            await pilot.pause(0.05)

    drive(app, script)
    assert isinstance(app.error, TokenRejected) and len(calls) >= 2


# -- QA pass (issue 14): each test below failed before its fix ----------------------------


def test_detail_view_says_demo_and_counts_bars_right() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        summary = screen.summary()
        assert summary.startswith("DEMO") and "30 one-minute bars" in summary
        app.buffers.get("00700").bars.clear()
        app.buffers.get("00700").bars.append(app.buffers.get("09988").bars[0])
        assert "1 one-minute bar ·" in screen.summary()

    drive(make_app(), script)


def test_detail_view_has_no_demo_label_for_real_data() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        assert "DEMO" not in app.screen.summary()  # type: ignore[attr-defined]

    app = make_app()
    app.demo = app.simulated = False
    drive(app, script)


def _ladder_and_tape(app: BoardApp) -> tuple[list[str], int, int]:
    screen = app.screen
    assert isinstance(screen, DetailScreen)
    ladder = screen.query_one("#ladder", LinesWidget)
    tape = screen.query_one("#tape", LinesWidget)
    labels = ["".join(s.text for s in line).split()[0] for line in ladder._lines]
    assert len(ladder._lines) <= ladder.size.height  # nothing cut off below
    return labels, tape.size.height, len(tape._lines)


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
def test_detail_ladder_and_tape_both_fit(size: tuple[int, int]) -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await pilot.pause()
        labels, tape_h, tape_lines = _ladder_and_tape(app)
        levels = sum(1 for x in labels if x.startswith("B"))
        assert labels[-1] == f"B{levels}" and f"A{levels}" == labels[0]  # whole, best levels
        assert "spread" in labels
        if size == (200, 50):
            assert levels == 10 and tape_h >= 20 and tape_lines == min(tape_h, 31)
        else:
            assert 3 <= levels < 10 and tape_h >= 5 and tape_lines == tape_h
            title = str(app.screen.query_one("#depth-title").render())
            assert f"{levels} of 10 levels" in title

    drive(make_app(), script, size=size)


def test_help_lists_every_binding() -> None:
    named = {"slash": "/", "escape": "Esc", "question_mark": "?", "ctrl+p": "Ctrl-P"}
    shown = {token for k, _ in HelpScreen.KEYS for token in k.split()}
    shown |= {"Ctrl-P"} if any("Ctrl-P" in k for k, _ in HelpScreen.KEYS) else set()
    from hkticks.watch.heatmap_screen import BoardHeatmapScreen, HeatmapMap

    named |= {"plus": "+", "minus": "-", "shift+tab": "Shift-Tab"}
    named |= {"left": "←", "right": "→", "up": "↑", "down": "↓"}
    screens: list[Any] = [BoardApp, DetailScreen, BoardHeatmapScreen, HeatmapMap]
    for owner in screens:
        for binding in owner.BINDINGS:
            if binding.key == "ctrl+c":  # Ctrl-C quits everywhere, as in every terminal program
                continue
            name = named.get(binding.key, binding.key)
            assert name in shown or name.capitalize() in shown, (owner.__name__, binding.key)


def test_b_without_the_book_feed_says_so_and_adds_no_columns() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        before = [c.key for c in app.table.columns]
        assert "bid" not in before
        await pilot.press("b")
        await pilot.pause()
        assert [c.key for c in app.table.columns] == before and not app.layout.book
        assert any("--book" in str(n.message) for n in app._notifications)

    app = make_app()
    app.book_feed = app.layout.book = app.model.book = False
    drive(app, script)


def test_column_chooser_respects_the_book_state(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"

    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("b")  # book off
        await pilot.press("c")
        screen = app.screen
        assert isinstance(screen, ColumnsScreen)
        from textual.widgets import SelectionList

        listed = [o.value for o in screen.query_one(SelectionList).options]  # type: ignore[attr-defined]
        assert "name" in listed and not {"bid", "bidsz", "ask", "asksz"} & set(listed)
        await pilot.press("enter")
        keys = [c.key for c in app.table.columns]
        assert not app.layout.book and "bid" not in keys and "last" in keys
        await pilot.press("w")
        await pilot.pause()
        restored = saved.load(path)
        assert restored.book is False and restored.columns is not None
        assert "bid" not in restored.columns and "last" in restored.columns
        await pilot.press("b")  # book back on: its columns come back as they were
        assert "bid" in [c.key for c in app.table.columns]

    drive(make_app(save_layout=lambda v: saved.save(v, path)), script)
    # a layout saved with the book off, opened with --book, shows the book columns
    from hkticks.watch.columns import ColumnLayout

    restored = saved.load(path)
    assert "bid" in [c.key for c in ColumnLayout(book=True, enabled=restored.columns).fit(400)[0]]


def test_watchlist_keeps_the_config_order_in_list_order() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("tab")
        assert codes(app) == ["01810", "00700", "03690"]  # as in the config file
        await pilot.press("s")  # sorted by code: the sort wins
        assert codes(app) == ["00700", "01810", "03690"]

    # the board's own order (00700, 09988, 03690, 00005, 01810, ...) differs from the list's
    drive(make_app(watchlists={"tech": ["01810", "00700", "03690"]}), script)
