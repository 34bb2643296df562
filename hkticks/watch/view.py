"""The quote board's view: a Rich renderable drawn from a :class:`WatchModel`.

The board is laid out by hand in fixed-width columns and emitted as Rich
``Segment`` lines rather than a ``rich.table.Table``: a table measures every
cell of every row on every frame, while a quote board's columns never change
width, so fixed widths are both calmer to read (nothing shifts when a price
gains a digit) and several times cheaper to draw. Only the rows that fit the
terminal are formatted; the rest are counted in a "+N more" line.

The renderable reads the terminal size at render time (``options``), so a
resize is picked up by the next refresh. Columns are dropped by priority
when the terminal is narrow, so code, last price and change always show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

from hkticks.market_hours import format_span, hk_time_text, market_session, simulated_label
from hkticks.watch.model import (
    BASELINE_FIRST,
    DOWN,
    SORT_LABELS,
    UP,
    Row,
    WatchModel,
)

COLOR_SCHEMES = ("west", "cn")
NAME_LANGS = ("en", "cn")
DEMO_BANNER = "DEMO — simulated prices, not market data"
NOTE_TTL_S = 120.0  # feed notes stay in the footer this long
FOOTER_LINES = 2  # totals, then notes


@dataclass(frozen=True)
class Palette:
    """Styles for one colour convention.

    ``west``: green up, red down. ``cn``: red up, green down, as mainland
    investors (and Stock Connect users) read prices.
    """

    up: Style
    down: Style
    flat: Style
    flash_up: Style
    flash_down: Style
    flash_flat: Style
    dim: Style
    header: Style
    title: Style
    banner: Style
    warn: Style
    error: Style
    green: Style
    amber: Style
    red: Style

    @classmethod
    def scheme(cls, name: str = "west") -> Palette:
        if name not in COLOR_SCHEMES:
            raise ValueError(f"colors must be one of {COLOR_SCHEMES}, not {name!r}")
        green, red = Style(color="green"), Style(color="red")
        flash_green = Style(color="black", bgcolor="green", bold=True)
        flash_red = Style(color="white", bgcolor="red", bold=True)
        up, down = (green, red) if name == "west" else (red, green)
        flash_up, flash_down = (
            (flash_green, flash_red) if name == "west" else (flash_red, flash_green)
        )
        return cls(
            up=up,
            down=down,
            flat=Style(),
            flash_up=flash_up,
            flash_down=flash_down,
            flash_flat=Style(reverse=True, bold=True),
            dim=Style(dim=True),
            header=Style(bold=True, underline=True),
            title=Style(bold=True, reverse=True),
            banner=Style(color="black", bgcolor="yellow", bold=True),
            warn=Style(color="yellow"),
            error=Style(color="red", bold=True),
            green=Style(color="green", bold=True),
            amber=Style(color="yellow", bold=True),
            red=Style(color="red", bold=True),
        )


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str
    width: int
    right: bool  # right-aligned (numbers)
    priority: int  # lower is kept first when the terminal is narrow
    book: bool = False  # only with --book


COLUMNS: tuple[Column, ...] = (
    Column("code", "Code", 5, False, 0),
    Column("name", "Name", 16, False, 3),
    Column("last", "Last", 9, True, 0),
    Column("chg", "Chg", 8, True, 4),
    Column("chgp", "Chg%", 8, True, 1),
    Column("size", "Size", 8, True, 5),
    Column("side", "Side", 4, False, 6),
    Column("bid", "Bid", 9, True, 2, book=True),
    Column("bidsz", "BidSz", 7, True, 6, book=True),
    Column("ask", "Ask", 9, True, 2, book=True),
    Column("asksz", "AskSz", 7, True, 6, book=True),
    Column("trades", "Trades", 7, True, 7),
    Column("volume", "Vol seen", 8, True, 5),
    Column("dayvol", "Day vol", 8, True, 6),
    Column("open", "Open", 9, True, 10),
    Column("high", "High", 9, True, 9),
    Column("low", "Low", 9, True, 9),
    Column("time", "Time HKT", 8, False, 2),
    Column("age", "Age", 4, True, 3),
)

_SORT_COLUMN = {"code": "code", "change": "chgp", "volume": "dayvol", "active": "trades"}


def choose_columns(width: int, book: bool) -> list[Column]:
    """The columns that fit ``width`` cells, highest priority first, in display order."""
    candidates = [c for c in COLUMNS if book or not c.book]
    chosen: set[str] = set()
    used = 0
    for col in sorted(candidates, key=lambda c: c.priority):
        need = col.width + (1 if chosen else 0)
        if used + need <= width:
            chosen.add(col.key)
            used += need
    return [c for c in candidates if c.key in chosen]


# -- number formatting ------------------------------------------------------


def fmt_price(p: float | None) -> str:
    """Prices to the precision the HKEX spread table allows (3 dp below 1 HKD)."""
    if p is None:
        return "-"
    return f"{p:.3f}" if p < 1.0 else f"{p:.2f}"


def fmt_change(c: float | None, ref: float | None) -> str:
    if c is None:
        return ""
    if c == 0:
        return "0.000" if ref is not None and ref < 1.0 else "0.00"
    if ref is not None and ref < 1.0:
        return f"{c:+.3f}"
    return f"{c:+.2f}"


def fmt_pct(p: float | None) -> str:
    if p is None:
        return ""
    if -0.005 < p < 0.005:
        return "0.00%"
    if -100 < p < 100:
        return f"{p:+.2f}%"
    if -1000 < p < 1000:
        return f"{p:+.1f}%"
    return f"{p:+.0f}%"


def fmt_qty(n: int, exact_below: int = 1_000_000) -> str:
    """``12,345`` below ``exact_below``, then ``1.23M`` / ``4.56B``."""
    if n < exact_below:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1e3:.1f}K"
    if n < 1_000_000_000:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e9:.2f}B"


def fmt_money(x: float) -> str:
    if x < 1e6:
        return f"HK${x:,.0f}"
    if x < 1e9:
        return f"HK${x / 1e6:.2f}M"
    if x < 1e12:
        return f"HK${x / 1e9:.2f}B"
    return f"HK${x / 1e12:.2f}T"


def fmt_age(seconds: float) -> str:
    s = int(seconds) if seconds > 0 else 0
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86_400:
        return f"{s // 3600}h"
    return f"{s // 86_400}d"


# -- the renderable ---------------------------------------------------------


Line = list[Segment]


def cell(key: str, row: Row, pal: Palette, trend: Style, now: float) -> tuple[str, Style | None]:
    """Text and style of a board cell other than code, name and last, which the Rich frame
    and the Textual table draw alike (they differ only in how a price flashes)."""
    style: Style | None = None
    if key in ("chg", "chgp"):
        change = row.change
        text = fmt_change(change, row.baseline) if key == "chg" else fmt_pct(row.change_pct)
        style = (
            trend + pal.dim if change is not None and row.baseline_kind == BASELINE_FIRST else trend
        )
    elif key == "size":
        text = fmt_qty(row.last_size) if row.last_size else ""
    elif key == "side":
        side = row.last_side
        text = side or ""
        style = pal.up if side == "buy" else pal.down if side == "sell" else None
    elif key == "bid":
        text = fmt_price(row.bid) if row.bid is not None else ""
    elif key == "bidsz":
        text, style = (fmt_qty(row.bid_size, 100_000) if row.bid is not None else ""), pal.dim
    elif key == "ask":
        text = fmt_price(row.ask) if row.ask is not None else ""
    elif key == "asksz":
        text, style = (fmt_qty(row.ask_size, 100_000) if row.ask is not None else ""), pal.dim
    elif key == "trades":
        text = f"{row.trades:,}" if row.trades else ""
    elif key == "volume":
        text = fmt_qty(row.volume, 100_000) if row.volume else ""
    elif key == "dayvol":
        dv = row.day_volume
        text = fmt_qty(dv, 100_000) if dv else ""
    elif key == "open":
        text = fmt_price(row.open) if row.open is not None else ""
    elif key == "high":
        text = fmt_price(row.high) if row.high is not None else ""
    elif key == "low":
        text = fmt_price(row.low) if row.low is not None else ""
    elif key == "time":
        text = hk_time_text(row.last_ts) if row.last_ts else ""
    else:  # age
        text = ""
        if row.last_ts:
            age = now - row.last_ts / 1000.0
            text = fmt_age(age)
            style = pal.dim if age >= 60 else None
    return text, style


class Board:
    """The whole screen: header, optional demo banner, column headers, rows, footer.

    ``clock`` gives the wall time used for ages, flashes and the market
    session (tests pass a fixed one). After each render ``next_wake`` holds
    the time the picture changes by itself (a flash settling, the clock
    ticking), so the caller refreshes only when something changed.
    """

    def __init__(
        self,
        model: WatchModel,
        *,
        colors: str = "west",
        names: str = "en",
        demo: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if names not in NAME_LANGS:
            raise ValueError(f"names must be one of {NAME_LANGS}, not {names!r}")
        self.model = model
        self.palette = Palette.scheme(colors)
        self.names = names
        self.demo = demo
        self.clock = clock
        self.next_wake = 0.0
        self.shown = 0  # rows drawn in the last frame
        self.hidden = 0  # rows that did not fit
        self._width = 160

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        height = options.height or options.size.height
        lines = self.render_lines(self.clock(), width, height)
        last = len(lines) - 1
        newline = Segment.line()
        for i, line in enumerate(lines):
            yield from line
            if i != last:
                yield newline

    # -- frame -----------------------------------------------------------------

    def render_lines(self, now: float, width: int, height: int) -> list[Line]:
        """The frame as lines of segments, each exactly ``width`` cells."""
        model = self.model
        pal = self.palette
        self._width = width
        columns = choose_columns(width, model.book)
        top: list[Line] = [self._header(now)]
        if self.demo or model.simulated:
            top.append([Segment(_fit(DEMO_BANNER, width, False).strip().center(width), pal.banner)])
        top.append(self._column_headers(columns))
        room = max(0, height - len(top) - FOOTER_LINES)
        total = len(model)
        if total > room:
            room = max(0, room - 1)
        rows = model.ordered(room)
        next_wake = float(int(now) + 1)  # the clock and the ages tick every second
        body: list[Line] = []
        for row in rows:
            body.append(self._row(row, columns, now))
            if row.flash_until > now and row.flash_until < next_wake:
                next_wake = row.flash_until
        self.shown = len(rows)
        self.hidden = total - len(rows)
        if self.hidden > 0:
            body.append(
                [Segment(f"+{self.hidden} more (enlarge the terminal to see them)", pal.dim)]
            )
        self.next_wake = next_wake
        lines = top + body + [self._totals(), self._notes(now)]
        if len(lines) > height:  # tiny terminal: keep the header, drop from the bottom
            lines = lines[: max(height, 0)]
        return [Segment.adjust_line_length(line, width, pad=True) for line in lines]

    def _header(self, now: float) -> Line:
        model = self.model
        pal = self.palette
        conns = sorted(model.connections.values(), key=lambda c: c.shard)
        lights: Line = []
        if conns:
            for c in conns:
                health = c.health
                style = (
                    pal.green if health == "green" else pal.red if health == "red" else pal.amber
                )
                lights.append(Segment("●", style))
            up = sum(1 for c in conns if c.state == "up")
            if all(c.state == "done" for c in conns):
                lights.append(Segment(" replay done"))  # played to the end, not a lost link
            else:
                lights.append(Segment(f" {up}/{len(conns)} up"))
        else:
            lights += [Segment("○", pal.amber), Segment(" connecting")]
        session = market_session(now)
        style = pal.green if session.continuous else pal.amber if session.trading else pal.dim
        label = session.label
        if self.demo or model.simulated:
            # the simulation trades around the clock: never "closed" above trades printing now
            label = simulated_label(session)
            if not session.trading:
                style = pal.amber
        # (priority, segments): on a narrow terminal the highest numbers go first
        groups: list[tuple[int, Line]] = [
            (0, [Segment(" hkticks ", pal.title), Segment(" "), *lights]),
            (3, [Segment(f" · reconnects {model.reconnects}", pal.dim)]),
            (1, [Segment(f" │ {model.rate(now):,.0f} ticks/s")]),
            (1, [Segment(" │ HK market: "), Segment(label, style)]),
            (4, [Segment(f", {session.until(now)}", pal.dim)]),
            (2, [Segment(f" │ {hk_time_text(int(now * 1000))} HKT")]),
        ]
        return _fit_groups(groups, self._width)

    def _column_headers(self, columns: list[Column]) -> Line:
        model = self.model
        pal = self.palette
        base = model.baseline_summary()
        marked = _SORT_COLUMN.get(model.sort)
        cells: list[str] = []
        for col in columns:
            text = col.header
            if col.key in ("chg", "chgp"):
                if base == BASELINE_FIRST:
                    text = "Chg/1st" if col.key == "chg" else "%/1st"
                elif base == "mixed":
                    text += "*"
            if col.key == marked:
                text += "▼"
            cells.append(_fit(text, col.width, col.right))
        return [Segment(" ".join(cells), pal.header)]

    def _row(self, row: Row, columns: list[Column], now: float) -> Line:
        pal = self.palette
        change = row.change
        trend = pal.flat
        if change is not None:
            trend = pal.up if change > 0 else pal.down if change < 0 else pal.flat
        out: Line = []
        sep = Segment(" ")
        for i, col in enumerate(columns):
            if i:
                out.append(sep)
            key = col.key
            style: Style | None = None
            if key == "code":
                text = row.code
            elif key == "name":
                if row.rejected:
                    text = _fit(f"✗ {row.rejected}", col.width, False)
                    out.append(Segment(text, pal.error))
                else:
                    out.append(Segment(_fit(row.name(self.names), col.width, False)))
                continue
            elif key == "last":
                if row.last is None and row.day_close is not None:
                    text, style = fmt_price(row.day_close), None  # today's bar, no trade seen
                elif row.last is None:
                    text, style = fmt_price(row.prev_close), pal.dim
                else:
                    text = fmt_price(row.last)
                    if row.flash_until > now:
                        d = row.tick_dir
                        style = (
                            pal.flash_up
                            if d == UP
                            else pal.flash_down
                            if d == DOWN
                            else pal.flash_flat
                        )
                    else:
                        style = trend
            else:
                text, style = cell(key, row, pal, trend, now)
            out.append(Segment(_fit(text, col.width, col.right), style))
        return out

    def _totals(self) -> Line:
        model = self.model
        dim = self.palette.dim
        parts: list[tuple[int, str]] = [
            (0, f" {_count(len(model), 'symbol')}"),
            (2, f" · {model.traded:,} traded"),
            (1, f" · {model.trades:,} trades"),
            (3, f" · vol {fmt_qty(model.volume, 100_000)}"),
            (3, f" · {fmt_money(model.turnover)}"),
            (1, f" · sort: {SORT_LABELS[model.sort]}"),
        ]
        if self.hidden:
            parts.append((0, f" · showing {self.shown} of {len(model)}"))
        parts.append((4, " · Ctrl-C quits"))
        return _fit_groups([(p, [Segment(text, dim)]) for p, text in parts], self._width)

    def _notes(self, now: float) -> Line:
        model = self.model
        pal = self.palette
        out: Line = [Segment(" ")]
        if model.dropped:
            out.append(
                Segment(f"{model.dropped:,} items dropped (board fell behind) · ", pal.error)
            )
        if model.decode_errors:
            out.append(Segment(f"{model.decode_errors:,} undecodable frames · ", pal.warn))
        if model.notes:
            at, text = model.notes[-1]
            if now - at < NOTE_TTL_S:
                out.append(Segment(f"{hk_time_text(int(at * 1000))} {text} · ", pal.warn))
        ref = model.reference
        if ref == "loading":
            out.append(Segment("previous close loading; change from first trade for now", pal.dim))
        elif ref == "ok":
            out.append(Segment("change vs previous close", pal.dim))
        elif ref == "partial":
            out.append(Segment("change vs previous close; * from first trade where none", pal.dim))
        elif ref == "unavailable":
            reason = model.reference_error or "unknown"
            out.append(
                Segment(
                    f"change vs first trade seen: previous close unavailable ({reason})", pal.warn
                )
            )
        else:
            out.append(Segment("change vs first trade seen", pal.dim))
        return out


def _fit_groups(groups: list[tuple[int, Line]], width: int) -> Line:
    """Join segment groups, leaving out the least important until they fit ``width``."""
    sizes = [sum(cell_len(s.text) for s in line) for _, line in groups]
    keep = [True] * len(groups)
    total = sum(sizes)
    for i in sorted(range(len(groups)), key=lambda i: -groups[i][0]):
        if total <= width or groups[i][0] == 0:
            break
        keep[i] = False
        total -= sizes[i]
    return [seg for k, (_, line) in zip(keep, groups, strict=True) if k for seg in line]


def _count(n: int, word: str) -> str:
    """``1 symbol``, ``2 symbols``, ``1,200 trades``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _fit(text: str, width: int, right: bool) -> str:
    """``text`` padded or cut to exactly ``width`` cells (ASCII-fast path)."""
    if text.isascii():
        if len(text) > width:
            # never show a silently cut number: mark the overflow
            return text[: width - 1] + "…" if width > 1 else "…"
        return text.rjust(width) if right else text.ljust(width)
    if cell_len(text) > width:
        # cut to width - 1 cells (a wide character may leave one more free), then the ellipsis
        return set_cell_size(set_cell_size(text, max(0, width - 1)).rstrip() + "…", width)
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


def board_summary(model: WatchModel, now: float, *, demo: bool = False) -> str:
    """The one line printed after the board closes (tagged DEMO for simulated data)."""
    elapsed = max(now - model.started, 0.0)
    rate = model.trades / elapsed if elapsed > 0 else 0.0
    parts = [
        f"watched {len(model):,} symbol{'s' if len(model) != 1 else ''} for {format_span(elapsed)}",
        f"{_count(model.trades, 'trade')} ({rate:,.1f}/s)",
        f"{_count(model.traded, 'symbol')} traded",
        f"{model.reconnects} reconnect{'s' if model.reconnects != 1 else ''}",
    ]
    if model.dropped:
        parts.append(f"{model.dropped:,} dropped")
    tag = " [DEMO: simulated trades, not market data]" if demo or model.simulated else ""
    return "hkticks: " + ", ".join(parts) + tag
