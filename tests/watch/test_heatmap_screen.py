"""HeatmapScreen and ``watch --heatmap`` (the board app on its heatmap screen), with Pilot."""

from __future__ import annotations

import asyncio
import calendar
import threading

from textual.app import App

from hkticks.analysis.alert_config import AlertConfig
from hkticks.analysis.anomaly import AnomalyEngine
from hkticks.analysis.replay import ReplayConn, ReplayStatus
from hkticks.feed.queue import TickQueue
from hkticks.tick import Tick
from hkticks.watch.alert_feed import AlertFeed
from hkticks.watch.app import BoardApp
from hkticks.watch.buffers import Buffers
from hkticks.watch.heatmap import TileData
from hkticks.watch.heatmap_screen import BoardHeatmapScreen, HeatmapMap, HeatmapScreen
from hkticks.watch.model import WatchModel
from hkticks.watch.pump import BoardPump

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


def test_watch_heatmap_is_the_board_app_started_on_its_heatmap_screen() -> None:
    """One app, one pump: ``start="heatmap"`` drains the queue through BoardPump
    (simulated data detected, alerts flash the tile), Esc goes to the table, q quits."""
    t0 = calendar.timegm((2026, 11, 30, 2, 0, 0)) * 1000  # 10:00 in Hong Kong

    def tk(sym: str, ts: int, price: float, vol: int = 100) -> Tick:
        return Tick(sym, ts, price, vol, price * vol, "buy", None, ts, "alltick-sim")

    class Feed:
        fatal = None
        done = threading.Event()

        def status(self) -> ReplayStatus:
            return ReplayStatus(connections=[ReplayConn(0, "up", 0, 1, None)], ticks=0)

    async def go() -> None:
        queue = TickQueue()
        model = WatchModel(["00700", "09988"], names={"00700": ("TENCENT", "")})
        buffers = Buffers(["00700", "09988"])
        alerts = AlertFeed(AnomalyEngine(AlertConfig(hours="always")))
        pump = BoardPump(Feed(), queue, model, buffers, alerts=alerts)  # type: ignore[arg-type]
        for i in range(30):
            queue.put(tk("00700", t0 + i * 1000, 100.0))
            queue.put(tk("09988", t0 + i * 1000, 80.0))
        app = BoardApp(model, pump=pump, buffers=buffers, start="heatmap", frame_s=0.1)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, BoardHeatmapScreen)
            flashed: list[str] = []
            flash = screen.heat.flash
            screen.heat.flash = lambda code: (flashed.append(code), flash(code))  # type: ignore[method-assign,func-returns-value]
            queue.put(tk("00700", t0 + 31_000, 112.0))  # +12 %: a price move
            await wait_until(pilot, lambda: app.alerts_pane.total == 1)
            assert model.trades == 61 and app.simulated  # the pump saw "-sim"
            assert flashed == ["00700"]  # its tile flashed (it fades in 1.5 s)
            screen.tick()
            status = str(screen.query_one("#heatmap-status").render())
            assert (
                "DEMO" in status
                and "price_move" in status
                and "area: turnover seen since" in status
            )
            await pilot.press("escape")  # to the board's table, same app
            await pilot.pause()
            assert not isinstance(app.screen, BoardHeatmapScreen) and app.focused is app.table
            await pilot.press("q")
            await pilot.pause()
        assert app.return_code in (0, None)

    run(go)


async def wait_until(pilot, predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)
