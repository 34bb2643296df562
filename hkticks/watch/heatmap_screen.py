"""The heatmap as a Textual widget and screen (for the board, and ``watch --heatmap``).

:class:`HeatmapScreen` asks a ``source`` callable for the tiles at each
refresh (1-2 Hz, default 2), draws them with :class:`~hkticks.watch.heatmap.HeatmapView`,
moves a selection with the arrow keys (or a click), flashes a tile when
:meth:`HeatmapScreen.flash` is called for its symbol (an alert), toggles the
equal grid sorted by change with ``g``, and posts
:class:`HeatmapMap.TileSelected` naming the symbol on Enter, for the app to
open its detail view.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.console import RenderableType
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from hkticks.watch.heatmap import HeatmapView, Layout, Placed, TileData, layout

FLASH_S = 1.5


class HeatmapMap(Widget, can_focus=True):
    """The treemap itself."""

    DEFAULT_CSS = """
    HeatmapMap { width: 1fr; height: 1fr; }
    """

    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("left", "move(-1, 0)", "Left", show=False),
        Binding("right", "move(1, 0)", "Right", show=False),
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
        Binding("g", "toggle_grid", "Grid/treemap"),
    ]

    class TileSelected(Message):
        """Enter (or a double click) on a tile: open ``symbol``'s detail."""

        def __init__(self, symbol: str) -> None:
            super().__init__()
            self.symbol = symbol

    def __init__(
        self,
        source: Callable[[], Sequence[TileData]],
        *,
        equal: bool = False,
        clamp: float = 5.0,
        colors: str = "west",
        clock: Callable[[], float] = time.monotonic,
        id: str | None = None,  # noqa: A002 - Textual's name
    ) -> None:
        super().__init__(id=id)
        self.source = source
        self.equal = equal
        self.clamp = clamp
        self.scheme = colors
        self.clock = clock
        self.selected: str | None = None
        self._chosen = False  # until the user moves, the selection follows the biggest tile
        self._flash: dict[str, float] = {}
        self._tiles: Sequence[TileData] = ()
        self._layout: Layout | None = None

    # -- data --------------------------------------------------------------------

    def update_tiles(self) -> None:
        self._tiles = self.source()
        if not self._chosen and self._tiles:
            best = max(self._tiles, key=lambda t: t.weight)
            self.selected = best.code
        self.refresh()

    def flash(self, symbol: str) -> None:
        self._flash[symbol] = self.clock() + FLASH_S
        self.refresh()

    def flashing(self) -> set[str]:
        now = self.clock()
        for code in [c for c, until in self._flash.items() if until <= now]:
            del self._flash[code]
        return set(self._flash)

    @property
    def current_layout(self) -> Layout:
        w, h = self.size.width, self.size.height
        if self._layout is None:
            self._layout = layout(self._tiles, w, h, equal=self.equal)
        return self._layout

    def render(self) -> RenderableType:
        w, h = self.size.width, self.size.height
        self._layout = layout(self._tiles, w, h, equal=self.equal)
        view = HeatmapView(
            self._tiles,
            equal=self.equal,
            clamp=self.clamp,
            colors=self.scheme,
            flash=self.flashing(),
            selected=self.selected,
            height=h,
        )
        return view

    # -- actions -----------------------------------------------------------------

    def _placed(self, code: str | None) -> Placed | None:
        for p in self.current_layout.tiles:
            if p.tile.code == code:
                return p
        return None

    def action_open(self) -> None:
        if self.selected is not None:
            self.post_message(self.TileSelected(self.selected))

    def action_toggle_grid(self) -> None:
        self.equal = not self.equal
        self._layout = None
        self.refresh()

    def action_move(self, dx: int, dy: int) -> None:
        """Select the nearest tile in that direction (by tile centres)."""
        cur = self._placed(self.selected)
        tiles = self.current_layout.tiles
        if cur is None:
            if tiles:
                self.selected = tiles[0].tile.code
                self.refresh()
            return
        cx = cur.rect.x + cur.rect.w / 2
        cy = (cur.rect.y + cur.rect.h / 2) * 2
        best, best_d = None, float("inf")
        for p in tiles:
            if p is cur:
                continue
            px = p.rect.x + p.rect.w / 2
            py = (p.rect.y + p.rect.h / 2) * 2
            ax, ay = px - cx, py - cy
            along = ax * dx + ay * dy
            if along <= 0:
                continue
            across = abs(ax * dy) + abs(ay * dx)
            d = along + 2 * across
            if d < best_d:
                best, best_d = p, d
        if best is not None:
            self.selected = best.tile.code
            self._chosen = True
            self.refresh()

    def on_click(self, event: events.Click) -> None:
        hit = self.current_layout.at(event.x, event.y)
        if hit is None:
            return
        if hit.tile.code == self.selected and getattr(event, "chain", 1) >= 2:
            self.post_message(self.TileSelected(hit.tile.code))
        self.selected = hit.tile.code
        self._chosen = True
        self.refresh()


class HeatmapScreen(Screen[None]):
    """All symbols at once; Enter on a tile posts :class:`HeatmapMap.TileSelected`."""

    TileSelected = HeatmapMap.TileSelected

    BINDINGS = [Binding("escape", "leave", "Back")]

    DEFAULT_CSS = """
    HeatmapScreen #heatmap-status { height: 1; background: $panel; }
    """

    def __init__(
        self,
        source: Callable[[], Sequence[TileData]],
        *,
        equal: bool = False,
        clamp: float = 5.0,
        colors: str = "west",
        refresh_s: float = 0.5,
        status: Callable[[], str] | None = None,
        exit_on_leave: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.exit_on_leave = exit_on_leave
        self.heat = HeatmapMap(source, equal=equal, clamp=clamp, colors=colors, id="heatmap")
        self.refresh_s = refresh_s
        self.status_source = status

    def compose(self) -> ComposeResult:
        yield Static("", id="heatmap-status")
        yield self.heat
        yield Footer()

    def on_mount(self) -> None:
        self.heat.focus()
        self.tick()
        self.set_interval(self.refresh_s, self.tick)

    def tick(self) -> None:
        self.heat.update_tiles()
        if self.status_source is not None:
            self.query_one("#heatmap-status", Static).update(self.status_source())

    def flash(self, symbol: str) -> None:
        """Flash ``symbol``'s tile (an alert)."""
        self.heat.flash(symbol)

    def action_leave(self) -> None:
        if self.exit_on_leave:
            self.app.exit()
        else:
            self.app.pop_screen()
