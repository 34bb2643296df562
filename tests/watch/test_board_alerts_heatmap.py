"""The board's heatmap (``h``) and alerts (pane ``a``, toast, tile flash, ``--bell``), with Pilot."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from click.testing import CliRunner
from kit.board import NAMES, NOW, T0, make_app, make_model
from textual.pilot import Pilot

from hkticks.analysis.alert_config import AlertConfig
from hkticks.analysis.anomaly import AnomalyEngine
from hkticks.analysis.replay import ReplayConn, ReplayStatus
from hkticks.cli.watch_cmd import watch
from hkticks.feed.queue import TickQueue
from hkticks.tick import Tick
from hkticks.watch.alert_feed import AlertFeed, watchlist_groups
from hkticks.watch.app import BoardApp
from hkticks.watch.columns import ColumnLayout
from hkticks.watch.detail import DetailScreen
from hkticks.watch.heatmap_screen import BoardHeatmapScreen
from hkticks.watch.pump import BoardPump

Script = Callable[[BoardApp, Pilot[None]], Awaitable[None]]


def drive(app: BoardApp, script: Script, size: tuple[int, int] = (160, 40)) -> None:
    async def main() -> None:
        async with app.run_test(size=size, notifications=True) as pilot:
            await pilot.pause()
            await script(app, pilot)

    asyncio.run(main())


class FakeFeed:
    """The feed as the pump sees it: one connection up, never fatal."""

    def __init__(self, simulated: bool = False) -> None:
        self.fatal = None
        self.done = threading.Event()
        self.simulated = simulated

    def status(self) -> Any:
        return ReplayStatus(connections=[ReplayConn(0, "up", 0, 1, None)], ticks=0)


def alerting_app(*, hours: str = "always", **kw: Any) -> tuple[BoardApp, TickQueue, AlertFeed]:
    model, buffers = make_model()
    queue = TickQueue()
    alerts = AlertFeed(AnomalyEngine(AlertConfig(hours=hours)))  # type: ignore[arg-type]
    pump = BoardPump(FakeFeed(), queue, model, buffers, alerts=alerts)  # type: ignore[arg-type]
    app = BoardApp(
        model,
        pump=pump,
        buffers=buffers,
        demo=True,
        layout=ColumnLayout(book=True),
        book_feed=True,
        watchlists={"tech": ["00700", "09988", "03690", "01810"]},
        clock=lambda: NOW,
        frame_s=3600.0,  # frames only when the test calls app.frame()
        **kw,
    )
    return app, queue, alerts


def sharp_move(queue: TickQueue, code: str = "00700", start: float = 380.0) -> None:
    """20 trades a second apart at one price, then one 10.5 % above: a ``price_move``."""
    ts = T0 + 1000
    for i in range(20):
        t = ts + i * 1000
        queue.put(Tick(code, t, start, 100, start * 100, "buy", 10_000 + i, t, "t"))
    t = ts + 21_000
    up = round(start * 1.105, 2)
    queue.put(Tick(code, t, up, 100, up * 100, "buy", 10_100, t, "t"))


def block_trade(queue: TickQueue, code: str = "09988") -> None:
    """120 ordinary HK$8,000 trades, then one HK$40M print: above the HK$20M floor."""
    for i in range(120):
        t = T0 + 2000 + i * 200
        queue.put(Tick(code, t, 80.0, 100, 8_000.0, "sell", 20_000 + i, t, "t"))
    t = T0 + 30_000
    queue.put(Tick(code, t, 80.0, 500_000, 40_000_000.0, "buy", 20_200, t, "t"))


def test_h_opens_the_heatmap_of_the_board_enter_opens_detail_and_back() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("h")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BoardHeatmapScreen)
        tiles = {t.code: t for t in screen.heat._tiles}
        assert set(tiles) == set(NAMES)  # every symbol of the board
        assert tiles["00700"].group == "tech" and tiles["00005"].group == ""
        assert tiles["01810"].change_pct == pytest.approx(3.0)  # the board's change %
        assert screen.heat.scheme == "cn"  # the board's colour convention
        status = str(screen.query_one("#heatmap-status").render())
        assert "DEMO" in status and "6 symbols" in status
        await pilot.press("right")  # move off the first tile: Enter opens the one selected
        chosen = screen.heat.selected
        assert chosen is not None
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen) and app.screen.row.code == chosen
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen  # Esc from the detail goes back to the heatmap
        await pilot.press("h")
        await pilot.pause()
        assert not isinstance(app.screen, BoardHeatmapScreen)
        assert app.focused is app.table
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, BoardHeatmapScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is app.table

    drive(make_app(colors="cn"), script)


def test_heatmap_says_demo_only_for_simulated_data() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        await pilot.press("h")
        await pilot.pause()
        status = str(app.screen.query_one("#heatmap-status").render())
        assert "DEMO" not in status
        app.show_simulated()
        app.screen.tick()  # type: ignore[attr-defined]
        assert "DEMO" in str(app.screen.query_one("#heatmap-status").render())

    app = make_app()
    app.demo = app.simulated = False
    drive(app, script)


def test_alert_from_a_sharp_move_reaches_pane_toast_and_heatmap_tile() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        pane = app.alerts_pane
        assert not pane.shown and pane.total == 0
        await pilot.press("a")
        assert pane.shown
        await pilot.press("h")
        await pilot.pause()
        heat = app.screen
        assert isinstance(heat, BoardHeatmapScreen)
        sharp_move(queue)
        app.frame()
        await pilot.pause()
        assert pane.total == 1
        assert "00700" in pane.lines()[0] and "price_move" in pane.lines()[0]
        assert any(n.title == "price_move" for n in app._notifications)
        assert "00700" in heat.heat.flashing()
        heat.tick()
        assert "alerts 1" in str(heat.query_one("#heatmap-status").render())
        block_trade(queue)
        app.frame()
        await pilot.pause()
        assert pane.total == 2
        assert "block_trade" in pane.lines()[0] and "09988" in pane.lines()[0]  # newest first
        assert "price_move" in pane.lines()[1]
        await pilot.press("h")
        await pilot.pause()
        assert pane.shown and pane.region.height > 0  # on screen under the table
        await pilot.press("a")
        assert not pane.shown
        assert rang == []  # no --bell: no bell

    app, queue, _alerts = alerting_app()
    rang: list[int] = []
    app.bell = lambda: rang.append(1)  # type: ignore[method-assign]
    drive(app, script)


def test_bell_rings_per_alert_only_with_bell() -> None:
    async def script(app: BoardApp, pilot: Pilot[None]) -> None:
        sharp_move(queue)
        app.frame()
        await pilot.pause()
        assert app.alerts_pane.total == 1 and rang == [1]

    app, queue, _alerts = alerting_app(bell=True)
    rang: list[int] = []
    app.bell = lambda: rang.append(1)  # type: ignore[method-assign]
    drive(app, script)


def test_bell_is_off_by_default() -> None:
    model, _buffers = make_model()
    assert BoardApp(model).bell_on is False
    ctx = watch.make_context("watch", ["--demo"])  # parsed, not run
    assert ctx.params["bell"] is False
    assert watch.make_context("watch", ["--demo", "--bell"]).params["bell"] is True
    result = CliRunner().invoke(watch, ["--help"])
    assert "--bell" in result.output


def test_simulated_data_switches_the_engine_to_every_hour() -> None:
    # 03:00 HKT: outside the continuous sessions, nothing counts with hours="hk" ...
    night = T0 - 8 * 3600 * 1000 - 30 * 60 * 1000
    feed = AlertFeed(AnomalyEngine(AlertConfig(hours="hk")), auto_hours=True)
    ticks = [
        Tick("00700", night + i * 1000, 380.0, 100, 38000.0, "buy", i, night, "alltick-sim")
        for i in range(20)
    ]
    ticks.append(Tick("00700", night + 21_000, 420.0, 100, 42000.0, "buy", 21, night, "x-sim"))
    assert AlertFeed(AnomalyEngine(AlertConfig(hours="hk"))).apply(ticks) == []
    # ... but the simulated market never closes: the board's pump says so before feeding it
    model, buffers = make_model()
    queue = TickQueue()
    pump = BoardPump(FakeFeed(), queue, model, buffers, alerts=feed)  # type: ignore[arg-type]
    got: list[Any] = []
    pump.on_alert = got.append
    for t in ticks:
        queue.put(t)
    pump(NOW)
    assert pump.simulated and feed.engine.config.hours == "always"
    assert [a.kind for a in got] == ["price_move"]
    # a config file that sets hours is obeyed
    fixed = AlertFeed(AnomalyEngine(AlertConfig(hours="hk")), auto_hours=False)
    fixed.simulated()
    assert fixed.engine.config.hours == "hk"


def test_watchlist_groups_first_list_wins() -> None:
    groups = watchlist_groups({"tech": ["00700", "09988"], "mine": ["00700", "00005"]})
    assert groups == {"00700": "tech", "09988": "tech", "00005": "mine"}
