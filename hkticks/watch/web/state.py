"""What the dashboard page is sent: pure functions of the board's model, buffers and alerts.

The page gets one ``snapshot`` when it connects (and again after every
reconnect), then a ``diff`` at most every :data:`DIFF_INTERVAL_S` with only
the rows whose shown values changed, the header and the new alerts: so a
tile is redrawn at most about four times a second however busy its symbol.

The heatmap is laid out by the terminal heatmap's engine
(:func:`hkticks.watch.heatmap.layout`), in a grid fine enough for pixels: a
page of ``w`` x ``h`` pixels is laid out as ``w`` x ``h/2`` cells (a cell is
twice as tall as wide there), so the same squarified treemap, groups and
sizes show in both views. :class:`StableLayout` recomputes it only when the
page is resized, the size mode or grouping changes, or the areas drifted by
more than :data:`DRIFT` (at most once every :data:`RELAYOUT_S`), so tiles
keep their place while prices move.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hkticks.hkex import SPREAD_TABLE
from hkticks.market_hours import market_session, simulated_label
from hkticks.watch.heatmap import CELL_ASPECT, TileData, layout, tiles_from_rows

DIFF_INTERVAL_S = 0.25  # at most ~4 updates a second per tile
RELAYOUT_S = 60.0
DRIFT = 0.25  # total variation of the area shares that forces a relayout
MAX_ALERTS = 200  # the page keeps this many; a new page gets them all
TIMEFRAMES = ("1D", "5D", "1M", "6M", "1Y")


def price_text(price: float | None) -> str | None:
    """A price at its HKEX spread table's precision (``0.355``, ``84.00``, ``377.2``, ``1024``)."""
    if price is None or not math.isfinite(price) or price <= 0:
        return None
    mills = round(price * 1000)
    step = next((tick for bound, tick in SPREAD_TABLE if mills <= bound), SPREAD_TABLE[-1][1])
    places = 3 if step < 10 else 2 if step < 100 else 1 if step < 1000 else 0
    return f"{price:.{places}f}"


def row_message(row: Any) -> dict[str, Any]:
    """One board row as the page shows it (table and tile)."""
    return {
        "code": row.code,
        "en": row.name_en or "",
        "cn": row.name_cn or "",
        "last": row.last,
        "px": price_text(row.last),
        "chg": None if row.change_pct is None else round(row.change_pct, 3),
        "prev": row.baseline,
        "vol": row.day_volume,
        "to": round(row.turnover, 2),
        "n": row.trades,
        "hi": row.high,
        "lo": row.low,
        "ts": row.last_ts or None,
        "size": row.last_size or None,
        "side": row.last_side,
        "bid": row.bid,
        "ask": row.ask,
    }


def conn_message(conn: Any) -> dict[str, Any]:
    return {
        "shard": conn.shard,
        "state": conn.state,
        "health": conn.health,
        "reconnects": conn.reconnects,
        "symbols": conn.symbols,
    }


def alert_message(alert: Any) -> dict[str, Any]:
    return {
        "ts": alert.ts,
        "symbol": alert.symbol,
        "kind": alert.kind,
        "text": getattr(alert, "message", "") or getattr(alert, "text", "") or str(alert.kind),
        "score": getattr(alert, "score", None),
    }


def header_message(
    model: Any, now: float, *, simulated: bool, replay: str | None, ended: bool
) -> dict[str, Any]:
    """The header: one dot per connection, ticks/s, market phase, DEMO/REPLAY labels."""
    session = market_session(now)
    phase = simulated_label(session) if simulated else session.label
    return {
        "demo": bool(simulated),
        "replay": replay,
        "ended": ended,
        "conns": [conn_message(c) for _, c in sorted(model.connections.items())],
        "rate": round(model.rate(now), 1),
        "phase": phase,
        "trades": model.trades,
        "symbols": len(model),
        "traded": model.traded,
        "dropped": model.dropped,
        "reference": model.reference,
        "notes": [text for _ts, text in list(model.notes)[-3:]],
    }


class RowDiffer:
    """Remembers what was last sent per row; :meth:`changed` gives the rows that differ."""

    def __init__(self) -> None:
        self._sent: dict[str, tuple[Any, ...]] = {}

    def reset(self) -> None:
        self._sent.clear()

    def changed(self, rows: Iterable[Any]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            key = (
                row.last,
                row.trades,
                row.bid,
                row.ask,
                row.baseline,
                row.name_en,
                row.name_cn,
                row.day_volume,
            )
            if self._sent.get(row.code) != key:
                self._sent[row.code] = key
                out.append(row_message(row))
        return out


@dataclass
class StableLayout:
    """The heatmap layout for one page, recomputed only when it must be."""

    width: int = 0
    height: int = 0
    size: str = "cap"
    grouped: bool = True
    computed_at: float = -math.inf
    shares: dict[str, float] = field(default_factory=dict)
    message: dict[str, Any] | None = None

    def wants(self, width: int, height: int, size: str, grouped: bool) -> None:
        """The page's size or options changed: the next :meth:`update` recomputes."""
        if (width, height, size, grouped) != (self.width, self.height, self.size, self.grouped):
            self.width, self.height, self.size, self.grouped = width, height, size, grouped
            self.message = None

    def update(self, tiles: Sequence[TileData], sized_by: str, now: float) -> dict[str, Any] | None:
        """A new ``layout`` message when the layout was recomputed, else ``None``."""
        if self.width <= 0 or self.height <= 0:
            return None
        total = sum(max(t.weight, 0.0) for t in tiles) or 1.0
        shares = {t.code: max(t.weight, 0.0) / total for t in tiles}
        if self.message is not None:
            if now - self.computed_at < RELAYOUT_S:
                return None
            drift = sum(abs(shares.get(c, 0.0) - self.shares.get(c, 0.0)) for c in shares)
            if drift <= DRIFT and set(shares) == set(self.shares):
                return None
        self.shares = shares
        self.computed_at = now
        self.message = layout_message(tiles, self.width, self.height, sized_by)
        return self.message


def layout_message(
    tiles: Sequence[TileData], width: int, height: int, sized_by: str
) -> dict[str, Any]:
    """Tile rectangles in page pixels, by the terminal heatmap's engine."""
    rows = max(1, int(height / CELL_ASPECT))
    placed = layout(tiles, width, rows)
    sy = height / rows
    return {
        "type": "layout",
        "width": width,
        "height": height,
        "sized_by": sized_by,
        "tiles": [
            [p.tile.code, p.rect.x, round(p.rect.y * sy, 1), p.rect.w, round(p.rect.h * sy, 1)]
            for p in placed.tiles
        ],
        "headers": [
            [h.group, h.rect.x, round(h.rect.y * sy, 1), h.rect.w, round(h.rect.h * sy, 1)]
            for h in placed.headers
        ],
        "hidden": placed.hidden,
    }


def heatmap_tiles(
    model: Any,
    *,
    size: str,
    shares: Mapping[str, float],
    groups: Mapping[str, str] | None,
) -> tuple[list[TileData], str]:
    """The tiles of the board's rows, sized by market cap or turnover, grouped or not."""
    return tiles_from_rows(model.rows.values(), size=size, shares=shares, groups=groups or {})


def detail_message(
    code: str,
    buffer: Any,
    row: Any,
    *,
    timeframe: str = "1D",
    history: Sequence[Any] | None = None,
    simulated: bool = False,
) -> dict[str, Any]:
    """One symbol's chart and tape: 1-minute candles from the buffers (1D) or the
    fetched bars of the longer timeframes, VWAP, previous close, the tape and the book."""
    if timeframe == "1D" or history is None:
        bars = [[b.ts, b.open, b.high, b.low, b.close, b.volume] for b in buffer.bars]
        vwap = buffer.vwap()
    else:
        bars = [[b.ts, b.open, b.high, b.low, b.close, b.volume] for b in history]
        vol = sum(b.volume for b in history)
        vwap = (sum(b.turnover for b in history) / vol) if vol else None
    trades = [[t.ts, price_text(t.price), t.volume, t.side] for t in list(buffer.trades)[-60:]]
    trades.reverse()  # newest first
    book = None
    if buffer.book is not None:
        book = {
            "bids": [[price_text(p), v] for p, v in buffer.book.bids],
            "asks": [[price_text(p), v] for p, v in buffer.book.asks],
        }
    return {
        "type": "detail",
        "code": code,
        "timeframe": timeframe,
        "name": row.name_en if row is not None else "",
        "name_cn": row.name_cn if row is not None else "",
        "prev_close": row.baseline if row is not None else None,
        "last": row.last if row is not None else None,
        "px": price_text(row.last) if row is not None else None,
        "chg": None if row is None or row.change_pct is None else round(row.change_pct, 3),
        "vwap": vwap,
        "bars": bars,
        "trades": trades,
        "book": book,
        "demo": simulated,
    }
