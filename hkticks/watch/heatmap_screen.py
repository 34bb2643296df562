"""The heatmap as a Textual widget and screens (``h`` on the board, ``watch --heatmap``).

:class:`HeatmapMap` asks a ``source`` callable for the tiles at each
refresh (2 Hz by default) and keeps them in place (:class:`~hkticks.watch.heatmap.StableLayout`):
it moves a selection with the arrow keys (or a click), flashes a tile when
:meth:`HeatmapScreen.flash` is called for its symbol (an alert), toggles the
equal grid sorted by change with ``g``, and posts
:class:`HeatmapMap.TileSelected` naming the symbol on Enter, for the app to
open its detail view. :class:`HeatmapScreen` adds a header line with the
legend (``-3% ... 0 ... +3%``) and a status line for the selected tile;
:class:`BoardHeatmapScreen` is the board's: tiles from the board's model,
area (``m``: market cap or the day's turnover), groups (``t``: watchlists,
sectors or none), ``h``/Esc back to the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Static

from hkticks.market_hours import hk_time_text
from hkticks.watch.heatmap import (
    Layout,
    Placed,
    Rect,
    StableLayout,
    TileData,
    change_step,
    legend,
    render_rows,
    tile_lines,
    tiles_from_rows,
)
from hkticks.watch.notices import Notices
from hkticks.watch.view import fmt_money, fmt_price

FLASH_S = 1.5
DEFAULT_SCALE = 3.0


class HeatmapMap(Widget, can_focus=True):
    """The treemap itself."""

    DEFAULT_CSS = """
    HeatmapMap { width: 1fr; height: 1fr; }
    """

    BINDINGS = [
        Binding("enter", "open", "Detail"),
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

    class Moved(Message):
        """The selection moved (the screen's status line follows it)."""

    def __init__(
        self,
        source: Callable[[], Sequence[TileData]],
        *,
        equal: bool = False,
        clamp: float = DEFAULT_SCALE,
        colors: str = "west",
        basis: Callable[[], Hashable] | None = None,
        clock: Callable[[], float] = time.monotonic,
        id: str | None = None,  # noqa: A002 - Textual's name
    ) -> None:
        super().__init__(id=id)
        self.source = source
        self.basis = basis
        self.equal = equal
        self.clamp = clamp
        self.scheme = colors
        self.clock = clock
        self.stable = StableLayout()
        self.selected: str | None = None
        self._chosen = False  # until the user moves, the selection follows the biggest tile
        self._flash: dict[str, float] = {}
        self._tiles: Sequence[TileData] = ()
        self._layout: Layout | None = None
        self._layout_size = (-1, -1)
        self._strips: list[Strip] = []
        self._drawn_size = (-1, -1)
        # (code, rect) -> what the tile shows: only tiles whose look changed are repainted
        self._looks: dict[tuple[str, Rect], tuple[object, ...]] = {}
        self.renders = 0  # frames drawn (``hkticks bench --watch`` times h -> map)

    # -- data --------------------------------------------------------------------

    def update_tiles(self) -> None:
        self._tiles = self.source()
        if not self._chosen and self._tiles:
            best = max(self._tiles, key=lambda t: t.weight)
            self.selected = best.code
        self._layout = None
        self.refresh_map()

    def tile(self, code: str | None) -> TileData | None:
        for t in self._tiles:
            if t.code == code:
                return t
        return None

    def flash(self, symbol: str) -> None:
        self._flash[symbol] = self.clock() + FLASH_S
        self.refresh_map()

    def flashing(self) -> set[str]:
        now = self.clock()
        for code in [c for c, until in self._flash.items() if until <= now]:
            del self._flash[code]
        return set(self._flash)

    @property
    def current_layout(self) -> Layout:
        size = (self.size.width, self.size.height)
        if self._layout is None or self._layout_size != size:
            basis = self.basis() if self.basis is not None else None
            self._layout = self.stable.get(
                self._tiles, size[0], size[1], now=self.clock(), equal=self.equal, basis=basis
            )
            self._layout_size = size
        return self._layout

    def refresh_map(self) -> None:
        """Draw the map anew and repaint only the rows that changed (the line API):
        the terminal gets the rows whose colours or numbers moved, not the whole map."""
        old, old_size, old_looks = self._strips, self._drawn_size, self._looks
        self._draw()
        if old_size != self._drawn_size or len(old) != len(self._strips):
            self.refresh()
            return
        looks = self._looks
        if looks.keys() == old_looks.keys():  # the same tiles in the same places: repaint
            for key, look in looks.items():  # only the tiles that look different now
                if old_looks[key] != look:
                    r = key[1]
                    self.refresh(Region(r.x, r.y, r.w, r.h))
            return
        width = self._drawn_size[0]
        for y, (a, b) in enumerate(zip(old, self._strips, strict=True)):
            if a != b:
                self.refresh(Region(0, y, width, 1))

    def _draw(self) -> None:
        width, height = self.size.width, self.size.height
        self._drawn_size = (width, height)
        if width <= 0 or height <= 0:
            self._strips = []
            return
        lay = self.current_layout
        flash = self.flashing()
        self._looks = {
            (p.tile.code, p.rect): (
                change_step(p.tile.change_pct, scale=self.clamp),
                tuple(tile_lines(p.tile, p.rect.w, p.rect.h)),
                p.tile.code in flash,
                p.tile.code == self.selected,
            )
            for p in lay.tiles
        }
        segments = render_rows(
            lay,
            width,
            height,
            clamp=self.clamp,
            colors=self.scheme,
            flash=flash,
            selected=self.selected,
        )
        self._strips = [
            Strip(list(Segment.simplify(line)), width) for line in Segment.split_lines(segments)
        ]
        self.renders += 1

    def render_line(self, y: int) -> Strip:
        if self._drawn_size != (self.size.width, self.size.height):
            self._draw()
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width)

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
        self.refresh_map()
        self.post_message(self.Moved())

    def action_move(self, dx: int, dy: int) -> None:
        """Select the nearest tile in that direction (by tile centres)."""
        cur = self._placed(self.selected)
        tiles = self.current_layout.tiles
        if cur is None:
            if tiles:
                self.selected = tiles[0].tile.code
                self.refresh_map()
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
            self.refresh_map()
            self.post_message(self.Moved())

    def on_click(self, event: events.Click) -> None:
        hit = self.current_layout.at(event.x, event.y)
        if hit is None:
            return
        if hit.tile.code == self.selected and getattr(event, "chain", 1) >= 2:
            self.post_message(self.TileSelected(hit.tile.code))
        self.selected = hit.tile.code
        self._chosen = True
        self.refresh_map()
        self.post_message(self.Moved())


class HeatmapScreen(Screen[None]):
    """All symbols at once: a header with the legend, the map, the selected tile's line."""

    TileSelected = HeatmapMap.TileSelected

    BINDINGS = [Binding("escape", "leave", "Back")]

    DEFAULT_CSS = """
    HeatmapScreen #heatmap-status { height: 1; width: 100%; background: $panel; }
    HeatmapScreen #heatmap-selected { height: 1; width: 100%; background: $panel; }
    """

    def __init__(
        self,
        source: Callable[[], Sequence[TileData]],
        *,
        equal: bool = False,
        clamp: float = DEFAULT_SCALE,
        colors: str = "west",
        refresh_s: float = 0.5,
        status: Callable[[], str] | None = None,
        describe: Callable[[TileData], str] | None = None,
        basis: Callable[[], Hashable] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.heat = HeatmapMap(
            source, equal=equal, clamp=clamp, colors=colors, basis=basis, id="heatmap"
        )
        self.refresh_s = refresh_s
        self.status_source = status
        self.describe = describe or _describe

    def compose(self) -> ComposeResult:
        yield Static("", id="heatmap-status")
        yield self.heat
        yield Static("", id="heatmap-selected")
        yield Notices()
        yield Footer()

    def on_mount(self) -> None:
        self.heat.focus()
        self.tick()
        self._timer = self.set_interval(self.refresh_s, self.tick)

    def on_screen_suspend(self) -> None:
        """Out of sight (the board, a detail view on top): no work until shown again."""
        self._timer.pause()

    def on_screen_resume(self) -> None:
        self.tick()
        self._timer.resume()
        self.heat.focus()

    def header(self) -> Text:
        """The one-line legend first (it must survive a narrow terminal), then the status."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" ")
        for seg in legend(self.heat.clamp, self.heat.scheme):
            text.append(seg.text, seg.style)
        if self.status_source is not None:
            text.append(" ")
            text.append(self.status_source())
        return text

    def selected_line(self) -> str:
        tile = self.heat.tile(self.heat.selected)
        return self.describe(tile) if tile is not None else " no tile selected"

    def tick(self) -> None:
        self.heat.update_tiles()
        self.query_one("#heatmap-status", Static).update(self.header())
        self.query_one("#heatmap-selected", Static).update(self.selected_line())

    def on_heatmap_map_moved(self, message: HeatmapMap.Moved) -> None:
        self.query_one("#heatmap-selected", Static).update(self.selected_line())

    def flash(self, symbol: str) -> None:
        """Flash ``symbol``'s tile (an alert)."""
        self.heat.flash(symbol)

    def action_leave(self) -> None:
        self.app.pop_screen()


def _describe(tile: TileData) -> str:
    chg = "--" if tile.change_pct is None else f"{tile.change_pct:+.2f}%"
    return f" {tile.code} {tile.name}  {chg}  area {tile.weight:,.0f}"


# -- the board's heatmap ------------------------------------------------------------


class HeatmapHost(Protocol):
    """What the board's heatmap reads from the app that shows it."""

    model: Any
    names: str
    simulated: bool
    alerts_pane: Any
    color_scheme: str
    heatmap_scale: float
    heatmap_area: str
    heatmap_groups: str

    @property
    def watchlists(self) -> Mapping[str, Sequence[str]]: ...

    @property
    def sectors(self) -> Mapping[str, str]: ...

    def request_shares(self) -> None: ...


AREAS = {"cap": "market cap", "turnover": "day's turnover"}
GROUPINGS = ("watchlists", "sectors", "none")


class BoardHeatmapScreen(HeatmapScreen):
    """The board's heatmap: ``m`` area, ``t`` groups, ``g`` grid, ``h``/Esc back."""

    BINDINGS = [
        Binding("escape", "leave", "Board"),
        Binding("h", "leave", "Board", show=False),
        Binding("m", "area", "Area"),
        Binding("t", "groups", "Groups"),
    ]

    def __init__(self, host: HeatmapHost, *, equal: bool = False, refresh_s: float = 0.5) -> None:
        self.host = host
        self.sized_by = host.heatmap_area
        super().__init__(
            self.tiles,
            equal=equal,
            clamp=host.heatmap_scale,
            colors=host.color_scheme,
            refresh_s=refresh_s,
            status=self.status,
            describe=self.describe_tile,
            basis=self.basis,
        )
        if host.heatmap_area == "cap":
            host.request_shares()

    def groups(self) -> dict[str, str]:
        from hkticks.watch.alert_feed import watchlist_groups

        how = self.host.heatmap_groups
        if how == "watchlists":
            return watchlist_groups(self.host.watchlists)
        if how == "sectors":
            return dict(self.host.sectors)
        return {}

    def tiles(self) -> Sequence[TileData]:
        host = self.host
        tiles, self.sized_by = tiles_from_rows(
            host.model.rows.values(),
            size=host.heatmap_area,
            groups=self.groups(),
            lang=host.names,
        )
        return tiles

    def basis(self) -> Hashable:
        """What the layout is computed from: a change relays out at once."""
        m = self.host.model
        return (self.host.heatmap_area, self.sized_by, self.host.heatmap_groups, m.reference)

    def status(self) -> str:
        host = self.host
        demo = "DEMO (simulated prices)  " if host.simulated else ""
        sized = f"area: {AREAS.get(self.sized_by, 'equal')}"
        rows = host.model.rows.values()
        if self.sized_by == "turnover" and not all(r.bar_turnover is not None for r in rows):
            since = hk_time_text(int(host.model.started * 1000))[:5]
            sized = f"area: turnover seen since {since}"  # until today's bars arrive
        if host.heatmap_area == "cap" and self.sized_by != "cap":
            sized += " (market caps loading)" if host.model.shares != "unavailable" else ""
        pane = host.alerts_pane
        last = ""
        if pane.alerts:
            a = pane.alerts[0]
            last = f"  last alert {hk_time_text(a.ts)} {a.symbol} {a.kind}"
        return (  # what the map means first: a narrow terminal cuts the end
            f"{demo}{sized}  groups: {host.heatmap_groups}  {len(host.model.rows)} symbols"
            f"  alerts {pane.total}{last}"
        )

    def describe_tile(self, tile: TileData) -> str:
        row = self.host.model.rows.get(tile.code)
        chg = "--" if tile.change_pct is None else f"{tile.change_pct:+.2f}%"
        what = AREAS.get(self.sized_by, "")
        area = f"{what} {fmt_money(tile.weight)}" if what and tile.weight else ""
        last = f"  last {fmt_price(row.last)}" if row is not None and row.last is not None else ""
        group = f"  [{tile.group}]" if tile.group else ""
        return f" {tile.code} {tile.name}  {chg}{last}  {area}{group}"

    def action_area(self) -> None:
        host = self.host
        host.heatmap_area = "turnover" if host.heatmap_area == "cap" else "cap"
        if host.heatmap_area == "cap":
            host.request_shares()
        self.tick()

    def action_groups(self) -> None:
        host = self.host
        have = {"watchlists": bool(host.watchlists), "sectors": bool(host.sectors), "none": True}
        order = [g for g in GROUPINGS if have[g]]
        now = host.heatmap_groups if host.heatmap_groups in order else order[0]
        host.heatmap_groups = order[(order.index(now) + 1) % len(order)]
        self.tick()
        self.notify(f"groups: {host.heatmap_groups}", timeout=1.5)
