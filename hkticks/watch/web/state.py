"""What the dashboard page is sent: pure functions of the board's model, buffers and alerts.

The page gets one ``snapshot`` when it connects (and again after every
reconnect), then a ``diff`` at most every :data:`DIFF_INTERVAL_S` with only
the rows whose shown values changed, the header and the new alerts: so a
tile is redrawn at most five times a second however busy its symbol.

The heatmap is laid out by the terminal heatmap's engine
(:func:`hkticks.watch.heatmap.layout`), in a grid fine enough for pixels: a
page of ``w`` x ``h`` pixels is laid out as ``w`` x ``h/2`` cells (a cell is
twice as tall as wide there), so the same squarified treemap, groups and
sizes show in both views, kept in place by the same
:class:`~hkticks.watch.heatmap.StableLayout`; the tiles are coloured in the
terminal heatmap's steps and palette.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from hkticks.hkex import tick_decimals
from hkticks.market_hours import market_session, simulated_label
from hkticks.watch.buffers import TIMEFRAMES
from hkticks.watch.heatmap import (
    CELL_ASPECT,
    STEPS,
    Layout,
    change_step,
    step_rgb,
)

DIFF_INTERVAL_S = 0.2  # at most 5 updates a second per tile (a trade shows within ~0.25 s)
MAX_ALERTS = 200  # the page keeps this many; a new page gets them all
HEADER_CELLS = 8  # a heatmap group's name row, in the page's 2-pixel cells (16 px)


def price_text(price: float | None) -> str | None:
    """A price at its HKEX spread table's precision (``0.355``, ``84.00``, ``377.2``, ``1024``:
    :func:`hkticks.hkex.tick_decimals`); ``None`` for no price."""
    if price is None or not math.isfinite(price) or price <= 0:
        return None
    return f"{price:.{tick_decimals(price)}f}"


def row_message(row: Any, scale: float = 3.0) -> dict[str, Any]:
    """One board row as the page shows it (table and tile; ``step``: the tile's colour
    step, as the terminal heatmap colours it)."""
    return {
        "code": row.code,
        "en": row.name_en or "",
        "cn": row.name_cn or "",
        "last": row.last,
        "px": price_text(row.last),
        "chg": None if row.change_pct is None else round(row.change_pct, 3),
        "step": change_step(row.change_pct, scale=scale),
        "prev": row.baseline,
        "vol": row.day_volume,
        "to": round(row.turnover, 2),
        "dayto": round(row.day_turnover, 2),
        "n": row.trades,
        "hi": row.high,
        "lo": row.low,
        "ts": row.last_ts or None,
        "size": row.last_size or None,
        "side": row.last_side,
        "bid": row.bid,
        "ask": row.ask,
        "bidpx": price_text(row.bid),
        "askpx": price_text(row.ask),
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

    def __init__(self, scale: float = 3.0) -> None:
        self.scale = scale
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
                out.append(row_message(row, self.scale))
        return out


def palette(colors: str) -> dict[str, Any]:
    """The terminal heatmap's colour steps as RGB, for the page (one palette, two views)."""
    return {
        "steps": STEPS,
        "rgb": {str(step): step_rgb(step, colors) for step in range(-STEPS, STEPS + 1)},
        "unknown": step_rgb(None, colors),
    }


def layout_message(
    placed: Layout, width: int, height: int, rows: int, sized_by: str
) -> dict[str, Any]:
    """Tile rectangles in page pixels from a layout of ``width`` x ``rows`` cells."""
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


def cell_rows(height: int) -> int:
    """A page ``height`` pixels high is laid out in this many cells (twice as tall as wide)."""
    return max(1, int(height / CELL_ASPECT))


def detail_message(
    code: str, buffer: Any, row: Any, *, timeframe: str = "1D", simulated: bool = False
) -> dict[str, Any]:
    """One symbol's chart and tape: the timeframe's bars as the terminal's detail view
    draws them (:meth:`~hkticks.watch.buffers.SymbolBuffer.timeframe_bars`), VWAP, the
    previous close, the tape and the book."""
    tf = TIMEFRAMES.get(timeframe, TIMEFRAMES["1D"])
    history = buffer.timeframe_bars(tf)
    bars = [[b.ts, b.open, b.high, b.low, b.close, b.volume] for b in history]
    vol = sum(b.volume for b in history)
    vwap = (sum(b.turnover for b in history) / vol) if vol else None
    state = buffer.backfill if tf.key == "1D" else buffer.klines.get(tf.kline_type, ("none",))[0]
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
        "timeframe": tf.key,
        "label": tf.label,
        "history": state,
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
