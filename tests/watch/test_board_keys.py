"""The board's new keys, driven headless with Pilot: j/k/g/G, + and -, the alerts pane,
the heatmap's m and t, the detail view's timeframes and q."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import tomllib
from kit.board import NAMES, NOW, SECTORS, T0, history_bars, make_app, with_reference
from textual.pilot import Pilot

from hkticks.analysis.anomaly import Alert
from hkticks.tick import Tick
from hkticks.watch import layout as saved
from hkticks.watch.app import BoardApp
from hkticks.watch.buffers import TIMEFRAMES
from hkticks.watch.detail import DetailScreen
from hkticks.watch.dialogs import AddCodeScreen, completions
from hkticks.watch.heatmap_screen import BoardHeatmapScreen

Script = Callable[[BoardApp, Pilot[None]], Awaitable[None]]


def drive(app: BoardApp, script: Script, size: tuple[int, int] = (160, 40)) -> None:
    async def main() -> None:
        async with app.run_test(size=size, notifications=True) as pilot:
            await pilot.pause()
            await script(app, pilot)

    asyncio.run(main())


def test_j_k_g_G_move_as_in_less() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        t = app.table
        assert t.cursor == 0
        await pilot.press("j", "j")
        assert t.cursor == 2
        await pilot.press("k")
        assert t.cursor == 1
        await pilot.press("G")
        assert t.cursor == len(NAMES) - 1
        await pilot.press("g")
        assert t.cursor == 0

    drive(make_app(), script)


def test_completions_over_codes_and_english_and_chinese_names() -> None:
    choices = [(c, en, cn) for c, (en, cn) in NAMES.items()]
    assert [c for c, _ in completions(choices, "700")] == ["00700", "07000"]  # exact first
    assert [c for c, _ in completions(choices, "0700.HK")] == ["00700"]
    assert [c for c, _ in completions(choices, "tenc")] == ["00700"]
    assert [c for c, _ in completions(choices, "阿里")] == ["09988"]
    assert {c for c, _ in completions(choices, "-w")} == {"09988", "03690", "01810"}
    assert completions(choices, "") == [] and completions(choices, "zzz") == []


def test_plus_adds_a_code_with_completion_and_minus_removes_saved_atomically(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "config.toml"
    conf.write_text('token = "secret"\n\n[watchlists]\ntech = ["00700", "09988"]\n')
    conf.chmod(0o600)

    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("tab")  # to the "tech" watchlist
        assert app.watchlist == "tech"
        await pilot.press("plus")
        assert isinstance(app.screen, AddCodeScreen)
        await pilot.press(*"xiao")
        await pilot.pause()
        assert [c for c, _ in app.screen.matches] == ["01810"]
        await pilot.press("enter")
        await pilot.pause()
        assert app.watchlists["tech"] == ("00700", "09988", "01810")
        on_disk = tomllib.loads(conf.read_text())
        assert on_disk["watchlists"]["tech"] == ["00700", "09988", "01810"]
        assert on_disk["token"] == "secret" and conf.stat().st_mode & 0o777 == 0o600
        assert not list(tmp_path.glob("*.tmp"))  # replaced atomically, nothing left behind
        assert [r.code for r in app.table.rows] == ["00700", "09988", "01810"]
        # - takes the selected row off the list
        await pilot.press("j")
        assert app.table.selected is not None and app.table.selected.code == "09988"
        await pilot.press("minus")
        await pilot.pause()
        assert app.watchlists["tech"] == ("00700", "01810")
        assert tomllib.loads(conf.read_text())["watchlists"]["tech"] == ["00700", "01810"]
        # Esc cancels the prompt; ↓ then Enter picks a match from the list
        await pilot.press("plus", *"w", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, AddCodeScreen)
        assert app.watchlists["tech"] == ("00700", "01810")
        await pilot.press("plus", *"-w", "down", "down", "enter")
        await pilot.pause()
        assert len(app.watchlists["tech"]) == 3
        notes = " ".join(str(n.message) for n in app._notifications)
        assert "saved to" in notes and "secret" not in notes

    app = make_app(watchlists=saved.load(conf).watchlists)
    app.save_watchlists_to = lambda lists: saved.save_watchlists(lists, conf)
    drive(app, script)


def test_plus_on_all_fills_mine_and_minus_on_all_says_what_to_do(tmp_path: Path) -> None:
    conf = tmp_path / "config.toml"

    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        assert app.watchlist == "all"
        await pilot.press("minus")
        assert any("Tab to one" in str(n.message) for n in app._notifications)
        await pilot.press("plus", *"700", "enter")
        await pilot.pause()
        assert app.watchlist == "mine" and app.watchlists["mine"] == ("00700",)
        assert tomllib.loads(conf.read_text())["watchlists"] == {"mine": ["00700"]}

    app = make_app(watchlists={})
    app.save_watchlists_to = lambda lists: saved.save_watchlists(lists, conf)
    drive(app, script)


def alert(code: str, ts: int, kind: str = "block_trade") -> Alert:
    return Alert(ts, code, kind, 1.0, 1.0, 60.0, f"{code} {kind}")


def test_alerts_pane_takes_focus_and_enter_opens_the_detail_at_the_alerts_time() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        app.raise_alert(alert("00700", T0 - 600_000, "price_move"))
        app.raise_alert(alert("09988", T0 - 300_000))  # newest first
        await pilot.press("shift+tab")
        pane = app.alerts_pane
        assert pane.shown and app.focused is pane and pane.selected.symbol == "09988"  # type: ignore[union-attr]
        await pilot.press("down")
        assert pane.selected.symbol == "00700"  # type: ignore[union-attr]
        await pilot.press("up", "j")
        assert pane.selected.symbol == "00700"  # type: ignore[union-attr]
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailScreen) and screen.row.code == "00700"
        assert screen.at == T0 - 600_000 and "alert at" in screen.summary()
        chart = screen.query_one("#chart")
        assert any("┆" in "".join(s.text for s in line) for line in chart._lines)  # type: ignore[attr-defined]
        await pilot.press("escape")
        assert app.focused is pane
        await pilot.press("escape")  # back to the table
        assert app.focused is app.table

    drive(make_app(), script)


def test_heatmap_keys_m_area_t_groups_and_the_selected_tile_line() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("h")
        screen = app.screen
        assert isinstance(screen, BoardHeatmapScreen)
        head = lambda: str(screen.query_one("#heatmap-status").render())  # noqa: E731
        line = lambda: str(screen.query_one("#heatmap-selected").render())  # noqa: E731
        assert "area: market cap" in head() and "-3%" in head() and "+3%" in head()
        # the biggest cap first: 00700 (9.2B shares x 382.4)
        assert screen.heat.selected == "00700"
        assert "00700 Tencent" in line() and "+0.63%" in line() and "market cap HK$3.52T" in line()
        first = dict((p.tile.code, p.rect) for p in screen.heat.current_layout.tiles)
        await pilot.press("m")
        await pilot.pause()
        assert app.heatmap_area == "turnover" and "area: day's turnover" in head()
        assert "day's turnover HK$9." in line()  # the daily bar's, not the board's minutes
        assert dict((p.tile.code, p.rect) for p in screen.heat.current_layout.tiles) != first
        assert app.heatmap_groups == "sectors" and "groups: sectors" in head()  # no watchlists
        assert {h.group for h in screen.heat.current_layout.headers} >= {"Financials"}
        await pilot.press("t")
        await pilot.pause()
        assert app.heatmap_groups == "none" and "groups: none" in head()
        assert screen.heat.current_layout.headers == []
        await pilot.press("t")
        assert app.heatmap_groups == "sectors"
        await pilot.press("right")
        await pilot.pause()
        assert screen.heat.selected != "00700" and screen.heat.selected in line()

    drive(with_reference(make_app(watchlists={}, sectors=SECTORS)), script)


def test_heatmap_asks_for_market_caps_once() -> None:
    asked: list[int] = []

    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("h", "escape", "h", "m", "m")
        # the screen is made once (h again reuses it); m back to cap asks again: the app
        # forwards, LiveBoard fetches once (test_board_live)
        assert asked == [1, 1]
        assert "market caps loading" in str(app.screen.query_one("#heatmap-status").render())

    app = make_app()
    app._request_shares = lambda: asked.append(1)
    drive(app, script)


@pytest.mark.parametrize(
    "key,tf", [("1", "1D"), ("2", "5D"), ("3", "1M"), ("4", "6M"), ("5", "1Y")]
)
def test_detail_timeframe_keys(key: str, tf: str) -> None:
    asked: list[tuple[str, str]] = []

    def history(code: str, timeframe: str) -> Any:
        asked.append((code, timeframe))
        return history_bars(code, timeframe)

    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter", key)
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailScreen) and screen.timeframe == tf
        assert f"[{tf}]" in screen.summary()
        bars = screen.buffer.timeframe_bars(TIMEFRAMES[tf])
        want = {"1D": 90, "5D": 115, "1M": 22, "6M": 126, "1Y": 250}[tf]
        assert len(bars) == want
        assert ("00700", tf) in asked and asked.count(("00700", tf)) == 1
        await pilot.press(key)  # the same timeframe again: no second fetch
        await app.workers.wait_for_complete()
        assert asked.count(("00700", tf)) == 1
        await pilot.press("q")  # q goes back to the board, not out of the app
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen) and not app._exit
        await pilot.press("q")  # q on the board quits
        await pilot.pause()
        assert app._exit

    drive(with_reference(make_app(history=history)), script)


def test_1d_axis_is_the_whole_session_with_lunch_compressed() -> None:
    from hkticks.watch.buffers import MinuteBar
    from hkticks.watch.detail import SESSION_MINUTES, session_axis, session_slot

    day0 = (int(NOW) // 86_400) * 86_400 - 8 * 3600
    at = lambda h, m: (day0 + h * 3600 + m * 60) * 1000  # noqa: E731
    assert SESSION_MINUTES == 340
    assert session_slot(at(9, 30)) == 0 and session_slot(at(9, 20)) == 0  # the auction: 09:30
    assert session_slot(at(11, 59)) == 149 and session_slot(at(12, 30)) is None
    assert session_slot(at(13, 0)) == 150 and session_slot(at(16, 9)) == 339
    bars = [MinuteBar(at(9, 30), 1.0, 10, 10.0), MinuteBar(at(13, 0), 1.0, 10, 10.0)]
    bars.append(MinuteBar(at(16, 9), 1.0, 10, 10.0))
    axis = session_axis(bars, 170)
    filled = [i for i, c in enumerate(axis.columns) if c is not None]
    assert filled == [0, 75, 169]  # 13:00 right after 12:00: no lunch gap
    text = axis.label_line(0, 170)
    assert text.startswith("09:30") and "13:00" in text and text.endswith("16:10")


def test_a_first_bar_holding_the_day_so_far_is_left_out() -> None:
    from hkticks.alltick.rest_frames import Bar
    from hkticks.watch.buffers import SymbolBuffer

    buf = SymbolBuffer("00700")
    day0 = (int(NOW) // 86_400) * 86_400 - 8 * 3600
    m = lambda i: (day0 + 9 * 3600 + 1800 + i * 60) * 1000  # noqa: E731
    history = [Bar("00700", m(0), 380, 381, 379, 380, 28_500_000, 380 * 28_500_000)]
    history += [Bar("00700", m(i), 380, 381, 379, 380, 1000, 380_000) for i in range(1, 6)]
    buf.merge_history(history)
    assert [b.volume for b in buf.bars] == [1000] * 5 and buf.dropped == 1
    assert buf.vwap() == pytest.approx(380.0)
    # a genuine busy opening minute among enough others is kept
    ok = SymbolBuffer("00700")
    busy = [Bar("00700", m(0), 380, 381, 379, 380, 3000, 1_140_000)]
    busy += [Bar("00700", m(i), 380, 381, 379, 380, 1000, 380_000) for i in range(1, 6)]
    ok.merge_history(busy)
    assert len(ok.bars) == 6 and ok.dropped == 0
    # the embedded server's answer today: one bar, the whole day, a minute into the board
    late = (day0 + 19 * 3600 + 31 * 60) * 1000  # 19:31 HKT (the simulated market never shuts)
    live = SymbolBuffer("00700")
    live.add_trade(Tick("00700", late + 60_000, 380.0, 500, 190_000.0, "buy", 1, late, "x-sim"))
    day = [Bar("00700", late, 380, 381, 379, 380, 18_447_000, 380 * 18_447_000)]
    live.merge_history(day, day_volume=18_447_500)
    assert [b.volume for b in live.bars] == [500] and live.dropped == 1
    # the opening auction's minute may be most of an early day: kept
    opening = SymbolBuffer("00700")
    auction = [Bar("00700", m(0), 380, 381, 379, 380, 900_000, 380 * 900_000)]
    opening.merge_history(auction, day_volume=1_000_000)
    assert len(opening.bars) == 1 and opening.dropped == 0


def test_notices_show_on_their_own_line_never_over_price_cells() -> None:
    from hkticks.watch.notices import Notices

    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        line = app.screen.query_one(Notices)
        assert not line.display or line.region.height == 0
        await pilot.press("b")  # a key that answers with a notice
        await pilot.pause()
        assert line.has_class("shown") and line.region.height == 1
        assert "--book" in str(line.render())
        table = app.table.region
        assert not line.region.overlaps(table)  # below the rows, above the footer
        assert not app.screen.query("Toast")  # no toast floats over the data

    app = make_app()
    app.book_feed = app.layout.book = app.model.book = False
    drive(app, script, size=(120, 30))


def test_sectors_from_csv_or_the_config_table(tmp_path: Path) -> None:
    from hkticks.errors import ConfigError

    csv_file = tmp_path / "sectors.csv"
    csv_file.write_text("code,sector\n700,Information Technology\n0005.HK,Financials\n\n")
    assert saved.load_sectors(csv_file) == {
        "00700": "Information Technology",
        "00005": "Financials",
    }
    conf = tmp_path / "config.toml"
    conf.write_text('[sectors]\n"00700" = "Tech"\nBanks = ["00005", "00011"]\n')
    assert saved.load_sectors(path=conf) == {"00700": "Tech", "00005": "Banks", "00011": "Banks"}
    assert saved.load_sectors(path=tmp_path / "absent.toml") == {}
    (tmp_path / "bad.csv").write_text("tencent,Tech\n")
    with pytest.raises(ConfigError, match="line 1.*not an HK code"):
        saved.load_sectors(tmp_path / "bad.csv")
    with pytest.raises(ConfigError, match="sectors file"):
        saved.load_sectors(tmp_path / "missing.csv")
    conf.write_text("[sectors]\nTech = 3\n")
    with pytest.raises(ConfigError, match=r"\[sectors\]"):
        saved.load_sectors(path=conf)
