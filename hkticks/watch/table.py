"""The board's table: a line-API widget that formats only the rows on screen.

:class:`QuoteTable` is a Textual ``ScrollView``: its virtual height is the
number of rows that pass the filter and watchlist, and ``render_line(y)``
formats row ``scroll_y + y`` only, so 550 symbols cost what the 40 visible
ones cost. :func:`select_rows` (pure) decides which rows, in which order.

Price cells flash only when the price changed, fading over the model's
``flash_s``; a trade at the same price shows a subtle mark beside the price
for a moment instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from hkticks.symbols.universe import try_normalise
from hkticks.watch.model import BASELINE_FIRST, DOWN, UP, Row, WatchModel
from hkticks.watch.view import (
    Column,
    Palette,
    _fit,
    cell,
    fmt_price,
)

SORT_COLUMN = {"code": "code", "change": "chgp", "volume": "dayvol", "active": "trades"}
FADE_STEPS = 4  # flash background levels over the fade
TICK_MARK = "·"


def code_query(needle: str) -> str | None:
    """The stock code a query of digits (``700``, ``0700.HK``) means, else ``None``."""
    return try_normalise(needle) if any(ch.isdigit() for ch in needle) else None


def matches(row: Row, needle: str, code: str | None = None) -> bool:
    """Filter by code or by English / Chinese name (any case, substring).

    A query that is a stock code (``700``) matches that code exactly (00700,
    not 04700 or 07000); ``code`` is :func:`code_query` of ``needle``, when
    the caller computed it once for many rows.
    """
    if not needle:
        return True
    code = code if code is not None else code_query(needle)
    if code is not None:
        return row.code == code
    n = needle.casefold()
    return n in row.name_en.casefold() or (bool(row.name_cn) and n in row.name_cn)


def select_rows(
    model: WatchModel,
    *,
    reverse: bool = False,
    needle: str = "",
    members: Collection[str] | None = None,
) -> list[Row]:
    """Rows in sort order, filtered by ``needle`` and the watchlist ``members``.

    In "list order" (sort ``given``) a watchlist's rows come in the order the
    watchlist gives them (``members`` a sequence, as in the config file).
    Reversed, rows without a value for the sort key (no trade yet) stay last.
    """
    rows = model.ordered()
    if members is not None:
        if model.sort == "given" and isinstance(members, Sequence):
            position = {code: i for i, code in enumerate(members)}
            rows = sorted((r for r in rows if r.code in position), key=lambda r: position[r.code])
        else:
            rows = [r for r in rows if r.code in members]
    if needle:
        needle = needle.strip()
        code = code_query(needle)
        rows = [r for r in rows if matches(r, needle, code)]
    if reverse:
        if model.sort == "change":
            have = [r for r in rows if r.change_pct is not None]
            rest = [r for r in rows if r.change_pct is None]
            rows = have[::-1] + rest
        else:
            rows = rows[::-1]
    return rows


def _blend(a: Color, b: Color, t: float) -> Style:
    ta, tb = a.get_truecolor(), b.get_truecolor()
    mix = tuple(int(x + (y - x) * t) for x, y in zip(ta, tb, strict=True))
    return Style(bgcolor=Color.from_rgb(*mix), bold=True)


class RowPainter:
    """Formats one row as segments for the current columns (no widget state)."""

    def __init__(self, palette: Palette, names: str = "en", colors: str = "west") -> None:
        self.palette = palette
        self.names = names
        base = Color.parse("#1c1c1c")
        green, red = Color.parse("#00a000"), Color.parse("#c00000")
        up, down = (green, red) if colors == "west" else (red, green)
        grey = Color.parse("#707070")
        # fade levels: index 1 (almost gone) .. FADE_STEPS (just changed)
        self.fade_up = [_blend(base, up, i / FADE_STEPS) for i in range(FADE_STEPS + 1)]
        self.fade_down = [_blend(base, down, i / FADE_STEPS) for i in range(FADE_STEPS + 1)]
        self.fade_flat = [_blend(base, grey, i / FADE_STEPS) for i in range(FADE_STEPS + 1)]
        self.tick_style = Style(dim=True)

    def flash(self, row: Row, now: float, flash_s: float) -> Style | None:
        left = row.flash_until - now
        if left <= 0:
            return None
        level = min(FADE_STEPS, max(1, math.ceil(left / flash_s * FADE_STEPS)))
        d = row.tick_dir
        fades = self.fade_up if d == UP else self.fade_down if d == DOWN else self.fade_flat
        return fades[level]

    def cells(self, row: Row, columns: list[Column], now: float, flash_s: float) -> list[Segment]:
        pal = self.palette
        change = row.change
        trend = pal.flat
        if change is not None:
            trend = pal.up if change > 0 else pal.down if change < 0 else pal.flat
        out: list[Segment] = []
        sep = Segment(" ")
        for i, col in enumerate(columns):
            key = col.key
            style: Style | None = None
            if key == "last":
                # the separator before the price carries the same-price tick mark
                ticking = row.tick_until > now and row.flash_until <= now
                if i:
                    out.append(Segment(TICK_MARK, self.tick_style) if ticking else sep)
                if row.last is None and row.day_close is not None:
                    # no trade seen yet: today's close so far, from the daily bar
                    text, style = fmt_price(row.day_close), None
                elif row.last is None:
                    # nothing today yet: the previous close, dim (as in the Rich board)
                    text, style = fmt_price(row.prev_close), pal.dim
                else:
                    text = fmt_price(row.last)
                    flash = self.flash(row, now, flash_s)
                    style = trend + flash if flash is not None else trend
                out.append(Segment(_fit(text, col.width, col.right), style))
                continue
            if i:
                out.append(sep)
            if key == "code":
                text = row.code
            elif key == "name":
                if row.rejected:
                    text, style = f"✗ {row.rejected}", pal.error
                else:
                    text = row.name(self.names)
            else:
                text, style = cell(key, row, pal, trend, now)
            out.append(Segment(_fit(text, col.width, col.right), style))
        return out


def header_text(columns: list[Column], model: WatchModel, reverse: bool) -> str:
    """Column titles with the sort arrow (▼ normal order, ▲ reversed)."""
    base = model.baseline_summary()
    marked = SORT_COLUMN.get(model.sort)
    arrow_down = model.sort != "code"  # code sorts A->Z; the others largest first
    if reverse:
        arrow_down = not arrow_down
    cells: list[str] = []
    for col in columns:
        text = col.header
        if col.key in ("chg", "chgp"):
            if base == BASELINE_FIRST:
                text = "Chg/1st" if col.key == "chg" else "%/1st"
            elif base == "mixed":
                text += "*"
        if col.key == marked:
            text += "▼" if arrow_down else "▲"
        cells.append(_fit(text, col.width, col.right))
    return " ".join(cells)


class ColumnHeader(Widget):
    """One line of column titles above the table."""

    DEFAULT_CSS = """
    ColumnHeader { height: 1; text-style: bold underline; }
    """

    def __init__(self, table: QuoteTable) -> None:
        super().__init__()
        self.table = table

    def render(self) -> str:
        t = self.table
        return header_text(t.columns, t.model, t.reverse)


class QuoteTable(ScrollView, can_focus=True):
    """The rows: cursor, scrolling, and drawing only what is visible."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "PgUp", show=False),
        Binding("pagedown", "page(1)", "PgDn", show=False),
        Binding("home", "edge(0)", "Home", show=False),
        Binding("end", "edge(1)", "End", show=False),
        Binding("j", "cursor(1)", "Down", show=False),  # as in less / vim
        Binding("k", "cursor(-1)", "Up", show=False),
        Binding("g", "edge(0)", "First", show=False),
        Binding("G", "edge(1)", "Last", show=False),
    ]

    DEFAULT_CSS = """
    QuoteTable { height: 1fr; scrollbar-size-vertical: 1; }
    """

    def __init__(
        self,
        model: WatchModel,
        painter: RowPainter,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.model = model
        self.painter = painter
        self.clock = clock
        self.columns: list[Column] = []
        self.rows: list[Row] = []
        self.reverse = False
        self.cursor = 0
        self.renders = 0  # frames drawn (line renders of row 0), for the bench
        self.last_render = 0.0  # perf_counter of the last frame drawn
        self._now = clock()
        self.cursor_style = Style(reverse=True)

    # -- data -----------------------------------------------------------------

    def set_rows(self, rows: list[Row], columns: list[Column]) -> None:
        """New frame: the rows that pass the filter, in order, and the columns that fit."""
        self.rows = rows
        self.columns = columns
        if self.cursor >= len(rows):
            self.cursor = max(0, len(rows) - 1)
        width = sum(c.width for c in columns) + max(0, len(columns) - 1) + 1
        self.virtual_size = Size(width, len(rows))
        self._now = self.clock()
        self.refresh()

    @property
    def selected(self) -> Row | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor]
        return None

    # -- drawing --------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = y + scroll_y
        width = self.size.width
        if y == 0:
            self.renders += 1
            self.last_render = time.perf_counter()
        if index >= len(self.rows):
            return Strip.blank(width)
        row = self.rows[index]
        segments = self.painter.cells(row, self.columns, self._now, self.model.flash_s)
        strip = Strip(segments)
        if index == self.cursor and self.has_focus:
            strip = strip.apply_style(self.cursor_style)
        elif index == self.cursor:
            strip = strip.apply_style(Style(underline=True))
        return strip.crop_extend(scroll_x, scroll_x + width, None)

    # -- movement ---------------------------------------------------------------

    def _move_to(self, index: int) -> None:
        n = len(self.rows)
        self.cursor = max(0, min(n - 1, index)) if n else 0
        height = max(1, self.size.height)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(1, self.size.height - 1))

    def action_edge(self, end: int) -> None:
        self._move_to(len(self.rows) - 1 if end else 0)
