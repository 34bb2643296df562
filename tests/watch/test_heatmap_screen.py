"""HeatmapScreen and the ``watch --heatmap`` app driven headless with Textual's Pilot."""

from __future__ import annotations

import asyncio
import calendar

from textual.app import App

from hkticks.analysis.anomaly import AlertConfig, AnomalyEngine
from hkticks.feed.queue import TickQueue
from hkticks.tick import Tick
from hkticks.watch.heatmap import TileData
from hkticks.watch.heatmap_app import HeatmapApp
from hkticks.watch.heatmap_screen import HeatmapMap, HeatmapScreen
from hkticks.watch.model import WatchModel

TILES = [
    TileData("00700", "TENCENT", 2.0, 100.0),
    TileData("09988", "BABA-W", -1.0, 60.0),
    TileData("03690", "MEITUAN-W", 4.0, 40.0),
    TileData("00005", "HSBC", 0.5, 30.0),
]


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []
        self.screen_ = HeatmapScreen(lambda: TILES, refresh_s=0.5)

    def on_mount(self) -> None:
        self.push_screen(self.screen_)

    def on_heatmap_map_tile_selected(self, message: HeatmapMap.TileSelected) -> None:
        self.opened.append(message.symbol)


def run(coro_fn) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(coro_fn())


def test_enter_on_a_tile_posts_its_symbol_and_arrows_move() -> None:
    async def go() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            heat = app.screen_.heat
            assert heat.selected == "00700"  # the biggest tile is selected first
            await pilot.press("enter")
            await pilot.pause()
            assert app.opened == ["00700"]
            await pilot.press("right")
            moved = heat.selected
            assert moved != "00700"
            await pilot.press("enter")
            await pilot.pause()
            assert app.opened == ["00700", moved]
            # the selection survives a refresh of the data
            app.screen_.tick()
            assert heat.selected == moved

    run(go)


def test_grid_toggle_flash_and_click() -> None:
    async def go() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            heat = app.screen_.heat
            await pilot.press("g")
            await pilot.pause()
            assert heat.equal
            first = min(heat.current_layout.tiles, key=lambda p: (p.rect.y, p.rect.x))
            assert first.tile.code == "03690"  # the grid starts with the biggest gainer
            app.screen_.flash("09988")
            assert "09988" in heat.flashing()
            target = next(p for p in heat.current_layout.tiles if p.tile.code == "00005")
            await pilot.click(HeatmapMap, offset=(target.rect.x + 1, target.rect.y + 1))
            await pilot.pause()
            assert heat.selected == "00005"
            await pilot.press("escape")  # pops back to the host's screen
            await pilot.pause()
            assert app.screen is not app.screen_

    run(go)


def test_heatmap_app_drains_the_queue_and_flashes_alerts() -> None:
    t0 = calendar.timegm((2026, 11, 30, 2, 0, 0)) * 1000  # 10:00 in Hong Kong

    def tk(sym: str, ts: int, price: float, vol: int = 100) -> Tick:
        return Tick(sym, ts, price, vol, price * vol, "buy", None, ts, "alltick")

    async def go() -> None:
        queue = TickQueue()
        model = WatchModel(["00700", "09988"], names={"00700": ("TENCENT", "")})
        engine = AnomalyEngine(AlertConfig())
        for i in range(30):
            queue.put(tk("00700", t0 + i * 1000, 100.0))
            queue.put(tk("09988", t0 + i * 1000, 80.0))
        queue.put(tk("00700", t0 + 31_000, 112.0))  # +12 %: a price move
        seen = []
        app = HeatmapApp(
            model, queue, engine=engine, size="turnover", on_alert=seen.append, refresh_s=0.25
        )
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(20):
                await pilot.pause(0.1)
                if seen:
                    break
            assert model.trades == 61
            assert [a.kind for a in seen] == ["price_move"]
            assert "00700" in app.heatmap.heat.flashing()
            assert "price_move" in app.status_line() and "area: turnover" in app.status_line()
            tiles = {t.code: t for t in app.tiles()}
            assert (
                tiles["00700"].name == "TENCENT" and tiles["00700"].weight > tiles["09988"].weight
            )
            await pilot.press("escape")  # leaves the app
        assert app.return_code in (0, None)

    run(go)


def test_heatmap_app_groups_tiles_into_blocks() -> None:
    async def go() -> None:
        model = WatchModel(["00700", "09988", "00005", "00011"])
        groups = {"00700": "Tech", "09988": "Tech", "00005": "Banks", "00011": "Banks"}
        app = HeatmapApp(model, TickQueue(), size="turnover", groups=groups)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            lay = app.heatmap.heat.current_layout
            assert sorted(h.group for h in lay.headers) == ["Banks", "Tech"]
            assert {t.group for t in app.tiles()} == {"Tech", "Banks"}

    run(go)
