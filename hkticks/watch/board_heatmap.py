"""``h`` on the board: the heatmap of the board's symbols.

The tiles come from the board's own model (prices, change, turnover),
grouped by the config's watchlists (``[watchlists]``: one block per group,
the rest in one block), coloured by the board's convention (``--colors``).
``h`` or Esc goes back to the table; Enter on a tile opens that symbol's
detail view (the board handles :class:`HeatmapMap.TileSelected`). The status
line says DEMO while the data is simulated, and counts the board's alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.binding import Binding

from hkticks.market_hours import hk_time_text
from hkticks.watch.alert_feed import watchlist_groups
from hkticks.watch.heatmap import TileData, tiles_from_rows
from hkticks.watch.heatmap_screen import HeatmapScreen

if TYPE_CHECKING:
    from hkticks.watch.app import BoardApp


class BoardHeatmapScreen(HeatmapScreen):
    """The heatmap screen of the board (``h`` again, or Esc, goes back)."""

    BINDINGS = [Binding("h", "leave", "Board")]


class BoardTiles:
    """The tile source: the board's rows now, sized by turnover (the board has no ``hk_shares``)."""

    def __init__(self, app: BoardApp) -> None:
        self.app = app
        self.groups = watchlist_groups(app.watchlists)
        self.sized_by = "turnover"

    def __call__(self) -> Sequence[TileData]:
        app = self.app
        tiles, self.sized_by = tiles_from_rows(
            app.model.rows.values(), size="cap", groups=self.groups, lang=app.names
        )
        return tiles

    def status(self) -> str:
        app = self.app
        demo = "DEMO (simulated prices)  " if app.simulated else ""
        sized = "area: market cap" if self.sized_by == "cap" else "area: turnover"
        pane = app.alerts_pane
        last = ""
        if pane.alerts:
            a = pane.alerts[0]
            last = f"  last alert {hk_time_text(a.ts)} {a.symbol} {a.kind}"
        return (
            f" {demo}{len(app.model.rows)} symbols  {app.model.trades:,} trades  {sized}"
            f"  alerts {pane.total}{last}  ·  h/Esc board, Enter detail"
        )


def make_screen(app: BoardApp) -> BoardHeatmapScreen:
    """The factory the board's ``h`` calls."""
    source = BoardTiles(app)
    return BoardHeatmapScreen(source, colors=app.color_scheme, status=source.status)
