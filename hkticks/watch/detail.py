"""The detail view of one symbol: intraday chart, time and sales, depth ladder.

Drawn from the in-memory :class:`~hkticks.watch.buffers.SymbolBuffer`
(nothing is fetched to open it; the 1-minute history back-fill arrives
later and is merged in). The drawing functions are pure (buffer in, lines
of Rich segments out) so they are tested without a terminal:

- :func:`chart_lines`: 1-minute bars as candles or a line, volume bars
  below, the previous close (``┄``) and VWAP (``╌``) across, the price
  scale on the left and the day's first and last minute below;
- :func:`tape_lines`: the latest trades, newest first, coloured by the
  aggressor side (buyer-initiated in the "up" colour);
- :func:`ladder_lines`: ten levels of asks above ten levels of bids, with
  size bars.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Static

from hkticks.alltick.spec import KLINE_1MIN, KLINE_DAY
from hkticks.market_hours import hk_time_text
from hkticks.tick import Book, Tick
from hkticks.watch.buffers import TIMEFRAMES, MinuteBar, SymbolBuffer, Timeframe
from hkticks.watch.model import Row
from hkticks.watch.notices import Notices
from hkticks.watch.view import Palette, fmt_pct, fmt_price, fmt_qty

Line = list[Segment]
LABEL_W = 9  # price scale on the left
EIGHTHS = " ▁▂▃▄▅▆▇█"
LADDER_LEVELS = 10


def _pad(line: Line, width: int) -> Line:
    return list(Segment.adjust_line_length(line, width, pad=True))


class Axis:
    """The chart's columns: each the bars that fell in it merged (``None``: nothing),
    labels under given columns, and a column to mark (an alert's time)."""

    def __init__(
        self,
        columns: list[MinuteBar | None],
        labels: Sequence[tuple[int, str]] = (),
        mark: int | None = None,
    ) -> None:
        self.columns = columns
        self.labels = list(labels)
        self.mark = mark

    def label_line(self, indent: int, width: int) -> str:
        cells = [" "] * width
        for col, text in self.labels:
            col = max(0, min(col, width - len(text)))
            if all(c == " " for c in cells[max(0, col - 1) : col + len(text) + 1]):
                cells[col : col + len(text)] = list(text)
        return " " * indent + "".join(cells).rstrip()


def _merge(into: MinuteBar | None, b: MinuteBar) -> MinuteBar:
    if into is None:
        m = MinuteBar(b.ts, b.open, b.volume, b.turnover)
        m.high, m.low, m.close = b.high, b.low, b.close
        return m
    into.high = max(into.high, b.high)
    into.low = min(into.low, b.low)
    into.close = b.close
    into.volume += b.volume
    into.turnover += b.turnover
    return into


def _columns(
    slotted: Sequence[tuple[int, MinuteBar]], slots: int, width: int
) -> list[MinuteBar | None]:
    cols: list[MinuteBar | None] = [None] * width
    for slot, b in slotted:
        x = min(width - 1, slot * width // max(1, slots))
        cols[x] = _merge(cols[x], b)
    return cols


def latest_axis(bars: Sequence[MinuteBar], width: int) -> Axis:
    """The latest ``width`` bars, one a column, first and last minute under them."""
    shown = list(bars)[-width:]
    labels = [(0, hk_time_text(shown[0].ts)[:5])] if shown else []
    if len(shown) > 12:
        last = hk_time_text(shown[-1].ts)[:5]
        labels.append((len(shown) - len(last), last))
    return Axis(list(shown), labels)


# the session axis of 1D: 09:30-12:00 and 13:00-16:10 (the closing auction), lunch left out
MORNING = (9 * 60 + 30, 12 * 60)
AFTERNOON = (13 * 60, 16 * 60 + 10)
SESSION_MINUTES = (MORNING[1] - MORNING[0]) + (AFTERNOON[1] - AFTERNOON[0])


def session_slot(ts_ms: int) -> int | None:
    """Minutes into the session axis of an exchange time (``None``: outside the session;
    the opening auction counts as 09:30)."""
    minute = int((ts_ms // 60_000 + 8 * 60) % (24 * 60))
    if 9 * 60 <= minute < MORNING[1]:
        return max(0, minute - MORNING[0])
    if AFTERNOON[0] <= minute < AFTERNOON[1]:
        return (MORNING[1] - MORNING[0]) + minute - AFTERNOON[0]
    return None


def session_axis(bars: Sequence[MinuteBar], width: int, *, mark_ts: int | None = None) -> Axis:
    """1D: the whole trading day across the chart, lunch compressed to nothing.

    When most bars fall outside HKEX hours (the simulated market trades
    around the clock) the axis is the same length from the first bar, so the
    day still fills from the left at one minute per slot.
    """
    inside = [(session_slot(b.ts), b) for b in bars]
    if bars and sum(1 for s, _ in inside if s is not None) * 2 >= len(bars):
        slotted = [(s, b) for s, b in inside if s is not None]
        noon = MORNING[1] - MORNING[0]
        labels = [(0, "09:30"), (noon * width // SESSION_MINUTES, "13:00")]
        labels.append((width - 5, "16:10"))
        mark = session_slot(mark_ts) if mark_ts is not None else None
    else:
        t0 = bars[0].ts if bars else 0
        slotted = [((b.ts - t0) // 60_000, b) for b in bars]
        slotted = [(s, b) for s, b in slotted if s < SESSION_MINUTES]
        labels = [(0, hk_time_text(t0)[:5])] if bars else []
        mark = (mark_ts - t0) // 60_000 if mark_ts is not None and bars else None
    mark_col = (
        mark * width // SESSION_MINUTES
        if mark is not None and 0 <= mark < SESSION_MINUTES
        else None
    )
    return Axis(_columns(slotted, SESSION_MINUTES, width), labels, mark_col)


def index_axis(bars: Sequence[MinuteBar], width: int, slots: int, *, daily: bool) -> Axis:
    """5D / 1M / 6M / 1Y: the bars side by side in time order (no gaps for nights or
    weekends), ``slots`` wide (the timeframe's expected bar count) or the bars' count."""
    n = max(slots, len(bars), 1)
    cols = _columns(list(enumerate(bars)), n, width)
    labels: list[tuple[int, str]] = []
    last_day = None
    step = max(12, width // 6)
    for i, b in enumerate(bars):
        day = _day_text(b.ts)
        x = i * width // n
        if day != last_day and (not labels or x - labels[-1][0] >= step):
            labels.append((x, day))
        last_day = day
    return Axis(cols, labels)


def _day_text(ts_ms: int) -> str:
    import datetime as dt

    d = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.timezone(dt.timedelta(hours=8)))
    return f"{d.day:02d}/{d.month:02d}"


def chart_lines(
    bars: Sequence[MinuteBar],
    width: int,
    height: int,
    palette: Palette,
    *,
    prev_close: float | None = None,
    vwap: float | None = None,
    mode: str = "candles",
    axis: Axis | None = None,
    empty: str = "no trades yet: the chart fills in as trades arrive",
) -> list[Line]:
    """The chart as ``height`` lines of ``width`` cells.

    Without ``axis`` the latest bars fill the columns one each; with an
    :class:`Axis` (see :func:`session_axis`, :func:`index_axis`) each column
    is the bars that fall in it (an empty column where nothing traded).
    """
    if height <= 0 or width <= 0:
        return []
    plot_w = max(1, width - LABEL_W)
    if not bars:
        return [_pad([Segment(empty[:width], palette.dim)], width)] + [
            [Segment(" " * width)] for _ in range(height - 1)
        ]
    if axis is None:
        axis = latest_axis(bars, plot_w)
    cols = axis.columns
    shown = [b for b in cols if b is not None]
    if not shown:
        shown = list(bars)[-1:]
        cols = list[MinuteBar | None](shown)
    vol_h = max(1, height // 5)
    price_h = max(2, height - vol_h - 1)
    lo = min(b.low for b in shown)
    hi = max(b.high for b in shown)
    for extra in (prev_close, vwap):
        if extra is not None:
            lo, hi = min(lo, extra), max(hi, extra)
    if hi - lo < 1e-9:
        hi, lo = hi + 0.01, max(0.0, lo - 0.01)
    span = hi - lo

    def y_of(p: float) -> int:
        return max(0, min(price_h - 1, round((hi - p) / span * (price_h - 1))))

    grid: list[list[tuple[str, Style | None]]] = [[(" ", None)] * plot_w for _ in range(price_h)]
    prev_bar: MinuteBar | None = None
    for x, b in enumerate(cols[:plot_w]):
        if b is None:
            continue
        style = palette.up if b.close >= b.open else palette.down
        if mode == "line":
            y = y_of(b.close)
            if prev_bar is not None:
                py = y_of(prev_bar.close)
                for yy in range(min(py, y) + 1, max(py, y)):
                    grid[yy][x] = ("│", style)
            grid[y][x] = ("•", style)
            prev_bar = b
        else:
            top, bottom = y_of(b.high), y_of(b.low)
            for yy in range(top, bottom + 1):
                grid[yy][x] = ("│", style)
            bt, bb = y_of(max(b.open, b.close)), y_of(min(b.open, b.close))
            for yy in range(bt, bb + 1):
                grid[yy][x] = ("█" if bt != bb else "━", style)
    guides: list[tuple[float, str, Style | None]] = []
    if prev_close is not None:
        guides.append((prev_close, "┄", palette.dim))
    if vwap is not None:
        guides.append((vwap, "╌", Style(color="magenta")))
    for price, char, guide in guides:
        y = y_of(price)
        grid[y] = [(char, guide) if c == " " else (c, st) for c, st in grid[y]]
    if axis.mark is not None and 0 <= axis.mark < plot_w:
        marker = Style(color="yellow", bold=True)
        for yy in range(price_h):
            if grid[yy][axis.mark][0] in (" ", "┄", "╌"):
                grid[yy][axis.mark] = ("┆", marker)

    labels: dict[int, tuple[str, Style | None]] = {0: (fmt_price(hi), None)}
    labels[price_h - 1] = (fmt_price(lo), None)
    if prev_close is not None:
        labels[y_of(prev_close)] = (fmt_price(prev_close), palette.dim)
    lines: list[Line] = []
    for y in range(price_h):
        text, label_style = labels.get(y, ("", None))
        line: Line = [Segment(text.rjust(LABEL_W - 1)[: LABEL_W - 1] + " ", label_style)]
        line += [Segment(c, s) for c, s in grid[y]]
        lines.append(line)
    # volume: bars in eighths of a cell, tallest minute = full height
    top_vol = max((b.volume for b in shown), default=0) or 1
    for level in range(vol_h):
        row_from_bottom = vol_h - 1 - level
        line = [
            Segment(
                (fmt_qty(top_vol, 100_000) if level == 0 else "").rjust(LABEL_W - 1) + " ",
                palette.dim,
            )
        ]
        for b in cols[:plot_w]:
            if b is None:
                line.append(Segment(" "))
                continue
            eighths = b.volume / top_vol * vol_h * 8 - row_from_bottom * 8
            ch = EIGHTHS[max(0, min(8, int(round(eighths))))]
            line.append(Segment(ch, palette.up if b.close >= b.open else palette.down))
        lines.append(line)
    lines.append([Segment(axis.label_line(LABEL_W, plot_w), palette.dim)])
    out = [_pad(line, width) for line in lines[:height]]
    while len(out) < height:
        out.append([Segment(" " * width)])
    return out


def tape_lines(trades: Sequence[Tick], width: int, height: int, palette: Palette) -> list[Line]:
    """Time and sales, newest first: ``HH:MM:SS  price  size  B``."""
    out: list[Line] = []
    for t in list(trades)[-height:][::-1] if height > 0 else ():
        side = t.side
        style = palette.up if side == "buy" else palette.down if side == "sell" else palette.dim
        mark = "B" if side == "buy" else "S" if side == "sell" else "·"
        text = (
            f"{hk_time_text(t.ts)} {fmt_price(t.price):>9} {fmt_qty(t.volume, 100_000):>8} {mark}"
        )
        out.append(_pad([Segment(text, style)], width))
    return out


def ladder_levels(height: int | None) -> int:
    """How many levels a side fits in ``height`` lines (asks, spread, bids): 10 at most."""
    if height is None:
        return LADDER_LEVELS
    return max(1, min(LADDER_LEVELS, (height - 1) // 2))


def ladder_lines(
    book: Book | None, width: int, palette: Palette, height: int | None = None
) -> list[Line]:
    """Ten ask levels (best at the bottom) over ten bid levels (best at the top).

    Given a ``height`` shorter than 21 lines, only the best levels that fit
    are drawn (the nearest to the spread), so none is cut off mid-ladder.
    """
    if book is None:
        return [_pad([Segment("no book yet (start with --book)", palette.dim)], width)]
    levels = ladder_levels(height)
    asks = list(book.asks[:levels])
    bids = list(book.bids[:levels])
    top = max([v for _, v in asks + bids], default=0) or 1
    bar_w = max(0, width - 20)
    out: list[Line] = []

    def level(label: str, price: float, vol: int, style: Style) -> Line:
        n = round(vol / top * bar_w)
        return _pad(
            [
                Segment(f"{label:>3} {fmt_price(price):>8} {fmt_qty(vol, 100_000):>7} ", style),
                Segment("█" * n, style),
            ],
            width,
        )

    for i in range(len(asks) - 1, -1, -1):
        p, v = asks[i]
        out.append(level(f"A{i + 1}", p, v, palette.down))
    if asks and bids:
        spread = asks[0][0] - bids[0][0]
        out.append(_pad([Segment(f"    spread {fmt_price(spread)}", palette.dim)], width))
    for i, (p, v) in enumerate(bids):
        out.append(level(f"B{i + 1}", p, v, palette.up))
    return out


class LinesWidget(Widget):
    """Shows lines produced by a function of the widget's size (line API).

    The lines are turned into strips once per update (runs of one style
    merged), so a repaint does no drawing work.
    """

    def __init__(self, draw: Callable[[int, int], list[Line]], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.draw = draw
        self._lines: list[Line] = []
        self._strips: list[Strip] = []
        self._drawn_size = Size(-1, -1)
        self.renders = 0

    def _redraw(self) -> None:
        width, height = self.size.width, self.size.height
        self._lines = self.draw(width, height) if width > 0 and height > 0 else []
        self._strips = [Strip(list(Segment.simplify(line)), width) for line in self._lines]
        self._drawn_size = self.size

    def update(self) -> None:
        self._redraw()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if self._drawn_size != self.size:
            self._redraw()
        if y == 0:
            self.renders += 1
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width)


class DetailScreen(Screen[None]):
    """One symbol: summary line, chart, tape and (with --book) the ladder."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
        Binding("backspace", "app.pop_screen", "Back", show=False),
        Binding("1", "timeframe('1D')", "1D"),
        Binding("2", "timeframe('5D')", "5D"),
        Binding("3", "timeframe('1M')", "1M"),
        Binding("4", "timeframe('6M')", "6M"),
        Binding("5", "timeframe('1Y')", "1Y"),
        Binding("l", "toggle_mode", "Line/candles"),
    ]

    DEFAULT_CSS = """
    DetailScreen #summary { height: 3; }
    DetailScreen #chart { width: 1fr; }
    DetailScreen #side { width: 40; }
    DetailScreen #tape { height: 1fr; min-height: 4; }
    DetailScreen #ladder { height: 21; }
    DetailScreen .title { height: 1; text-style: bold; }
    """

    def __init__(
        self,
        row: Row,
        buffer: SymbolBuffer,
        palette: Palette,
        *,
        names: str = "en",
        book: bool = False,
        clock: Callable[[], float],
        fetch: Callable[[str, str], None] | None = None,
        at: int | None = None,
        timeframe: str = "1D",
    ) -> None:
        super().__init__()
        self.fetch = fetch  # (code, timeframe): the app fetches that history once
        self.at = at  # an exchange time to mark on 1D (the alert that opened the view)
        self.timeframe = timeframe
        self.row = row
        self.buffer = buffer
        self.palette = palette
        self.names = names
        self.book = book
        self.clock = clock
        self.mode = "candles"

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        with Horizontal():
            yield LinesWidget(self._draw_chart, id="chart")
            with Vertical(id="side"):
                yield Static("Time and sales", classes="title")
                yield LinesWidget(self._draw_tape, id="tape")
                if self.book:
                    yield Static("Depth (10 levels)", classes="title", id="depth-title")
                    yield LinesWidget(self._draw_ladder, id="ladder")
        yield Notices()
        yield Footer()

    def on_mount(self) -> None:
        self._fit_ladder()
        self.update()

    def on_resize(self) -> None:
        self._fit_ladder()

    def _fit_ladder(self) -> None:
        """Give the ladder what it needs (21 lines, 10 levels) while the tape keeps a quarter
        of the side column (at least 5 lines); a short terminal shows fewer levels."""
        if not self.book:
            return
        side = self.size.height - 3 - 2 - 1  # the summary, two titles, the footer
        tape = max(5, side // 4)
        height = max(3, min(2 * LADDER_LEVELS + 1, side - tape))
        for ladder in self.query("#ladder").results(LinesWidget):
            ladder.styles.height = height

    @property
    def frame(self) -> Timeframe:
        return TIMEFRAMES[self.timeframe]

    def _draw_chart(self, width: int, height: int) -> list[Line]:
        tf = self.frame
        bars = self.buffer.timeframe_bars(tf)
        plot_w = max(1, width - LABEL_W)
        if tf.kline_type == KLINE_1MIN:
            axis = session_axis(bars, plot_w, mark_ts=self.at)
            return chart_lines(
                bars,
                width,
                height,
                self.palette,
                prev_close=self.row.prev_close,
                vwap=self.buffer.vwap(),
                mode=self.mode,
                axis=axis,
            )
        state = self.buffer.klines.get(tf.kline_type, ("none", []))[0]
        empty = {
            "loading": f"{tf.label}: loading…",
            "unavailable": f"{tf.label}: history unavailable (no /kline on this server)",
        }.get(state, f"{tf.label}: no bars")
        slots = tf.days if tf.kline_type == KLINE_DAY else tf.days * 23
        axis = index_axis(bars, plot_w, slots, daily=tf.kline_type == KLINE_DAY)
        return chart_lines(
            bars, width, height, self.palette, mode=self.mode, axis=axis, empty=empty
        )

    def _draw_tape(self, width: int, height: int) -> list[Line]:
        return tape_lines(self.buffer.trades, width, height, self.palette)

    def _draw_ladder(self, width: int, height: int) -> list[Line]:
        levels = ladder_levels(height)
        shown = (
            "10 levels" if levels == LADDER_LEVELS else f"{levels} of 10 levels: taller shows all"
        )
        for title in self.query("#depth-title").results(Static):
            title.update(f"Depth ({shown})")
        return ladder_lines(self.buffer.book, width, self.palette, height)

    @property
    def simulated(self) -> bool:
        """The board's data is simulated (``--demo``, or the server said so)."""
        return bool(getattr(self.app, "simulated", False))

    def summary(self) -> str:
        row, buf = self.row, self.buffer
        parts = ["DEMO (simulated data)"] if self.simulated else []
        parts.append(f"{row.code} {row.name(self.names)}".strip())
        parts.append(f"last {fmt_price(row.last)}")
        if row.change_pct is not None:
            parts.append(fmt_pct(row.change_pct))
        if row.prev_close:
            parts.append(f"prev close {fmt_price(row.prev_close)}")
        vwap = buf.vwap()
        if vwap is not None:
            parts.append(f"VWAP {fmt_price(vwap)}")
        rng = buf.day_range()
        lo, hi = (row.low, row.high) if row.low is not None else (None, None)
        if rng is not None:
            lo = rng[0] if lo is None else min(lo, rng[0])
            hi = rng[1] if hi is None else max(hi, rng[1])
        if lo is not None and hi is not None:
            parts.append(f"range {fmt_price(lo)}–{fmt_price(hi)}")
        parts.append(f"vol {fmt_qty(row.day_volume, 100_000)}")
        history = {
            "loading": "history loading…",
            "ok": "history: 1-min bars from /kline",
            "unavailable": "history unavailable: since the board started",
            "none": "since the board started",
        }[buf.backfill]
        tf = self.frame
        tabs = " ".join(f"[{k}]" if k == tf.key else k for k in TIMEFRAMES)
        if tf.kline_type == KLINE_1MIN:
            n = len(buf.bars)
            what = f"{n} one-minute bar{'' if n == 1 else 's'} · {history}"
            if buf.dropped:
                what += " · a first bar holding the day so far left out"
        else:
            n = len(buf.timeframe_bars(tf))
            what = f"{tf.label}: {n} bar{'' if n == 1 else 's'} from /kline"
        mark = f" · ┆ alert at {hk_time_text(self.at)}" if self.at is not None else ""
        line2 = f"{tabs} · {what}{mark} · 1-5 timeframe · l line/candles · q/Esc back"
        return "  ·  ".join(parts) + "\n" + line2

    def update(self) -> None:
        """Redraw from the buffer (the app calls this every frame while shown)."""
        self.query_one("#summary", Static).update(self.summary())
        for widget in self.query(LinesWidget):
            widget.update()

    def action_timeframe(self, key: str) -> None:
        if key not in TIMEFRAMES:
            return
        self.timeframe = key
        if self.fetch is not None:
            self.fetch(self.row.code, key)
        self.update()

    def action_toggle_mode(self) -> None:
        self.mode = "line" if self.mode == "candles" else "candles"
        self.update()
