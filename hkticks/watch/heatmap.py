"""The market heatmap: a squarified treemap of every symbol, as a pure layout and a Rich renderable.

Tile area is market capitalisation (``hk_shares`` x last price) with
``size="cap"``, falling back to the day's turnover for the names whose
shares are unknown (and the day's turnover for all with
``size="turnover"``); ``size="equal"`` gives an equal grid sorted by change.
Tiles are grouped (watchlists or sectors) into blocks laid out first,
otherwise one block. Colour is the change against the previous close in
:data:`STEPS` distinct xterm-256 steps each side of flat, clamped at
+-``clamp`` % (3 by default): green up / red down (``west``) or red up /
green down (``cn``); :func:`legend` is the one-line key. A tile shows its
code only whole (:func:`tile_lines`). :class:`StableLayout` keeps tiles in
place between frames.

:func:`squarify` follows Bruls, Huizing and van Wijk's squarified treemaps:
rows of tiles are laid along the shorter side while that improves the worst
aspect ratio. Terminal cells are about twice as tall as wide, so the layout
works in "square" units (a row counts twice) and is then snapped to whole
cells, edges rounded once, so tiles tile the area exactly with no gaps or
overlaps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

SIZES = ("cap", "turnover", "equal")
CELL_ASPECT = 2.0  # a terminal cell is about twice as tall as it is wide
NEUTRAL = (58, 58, 58)
UP_WEST = (0, 170, 70)
DOWN_WEST = (210, 40, 40)


@dataclass(frozen=True, slots=True)
class TileData:
    """What one tile shows: ``change_pct`` None until the symbol has a price and a baseline."""

    code: str
    name: str
    change_pct: float | None
    weight: float
    group: str = ""


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.w and self.y <= y < self.y + self.h


@dataclass(frozen=True, slots=True)
class Placed:
    tile: TileData
    rect: Rect


@dataclass(frozen=True, slots=True)
class Header:
    """A group's name row at the top of its block."""

    group: str
    rect: Rect


@dataclass
class Layout:
    tiles: list[Placed]
    headers: list[Header]
    hidden: int  # tiles too small to get a cell

    def at(self, x: int, y: int) -> Placed | None:
        for p in self.tiles:
            if p.rect.contains(x, y):
                return p
        return None


def tile_weight(size: str, *, shares: float | None, price: float | None, turnover: float) -> float:
    """The area of a tile: market cap (shares x price) or turnover, or 1 (equal)."""
    if size == "equal":
        return 1.0
    if size == "cap" and shares and price:
        return float(shares) * float(price)
    return float(turnover)


# -- squarified treemap (floats) --------------------------------------------------------


def _worst(row: Sequence[float], side: float) -> float:
    s = sum(row)
    if s <= 0 or side <= 0:
        return math.inf
    side2 = side * side
    s2 = s * s
    worst = 0.0
    for r in row:
        d = side2 * r
        if d <= 0.0 or s2 <= 0.0:
            return math.inf
        worst = max(worst, d / s2, s2 / d)
    return worst


def squarify(
    values: Sequence[float], x: float, y: float, w: float, h: float
) -> list[tuple[float, float, float, float]]:
    """Rectangles (x, y, w, h) with areas proportional to ``values`` (sorted largest first
    by the caller for the best shapes), filling the rectangle exactly."""
    top = max(values, default=0.0)
    if not values or top <= 0 or w <= 0 or h <= 0:
        return [(x, y, 0.0, 0.0) for _ in values]
    values = [v / top for v in values]  # relative sizes: no overflow for extreme weights
    total = sum(values)
    scale = w * h / total
    areas = [v * scale for v in values]
    out: list[tuple[float, float, float, float]] = []
    i = 0
    n = len(areas)
    while i < n:
        side = min(w, h)
        row = [areas[i]]
        j = i + 1
        while j < n and _worst(row + [areas[j]], side) <= _worst(row, side):
            row.append(areas[j])
            j += 1
        s = sum(row)
        if w >= h:  # lay the row as a column on the left
            cw = s / h if h else 0.0
            yy = y
            for a in row:
                ch = a / cw if cw else 0.0
                out.append((x, yy, cw, ch))
                yy += ch
            x += cw
            w -= cw
        else:  # a row along the top
            rh = s / w if w else 0.0
            xx = x
            for a in row:
                rw = a / rh if rh else 0.0
                out.append((xx, y, rw, rh))
                xx += rw
            y += rh
            h -= rh
        i = j
        if j < n and (w <= 1e-9 or h <= 1e-9):
            out.extend((x, y, 0.0, 0.0) for _ in range(n - j))
            break
    return out


def _floored(weights: Sequence[float]) -> list[float]:
    """Weights with a floor: a symbol with nothing to size it by yet (no trade, no cap)
    still gets a sliver (half the smallest known weight), so every name has a place."""
    known = [w for w in weights if w > 0]
    floor = min(known) / 2 if known else 1.0
    return [w if w > 0 else floor for w in weights]


def _snap(r: tuple[float, float, float, float]) -> Rect:
    x, y, w, h = r
    x0, y0 = round(x), round(y / CELL_ASPECT)
    x1, y1 = round(x + w), round((y + h) / CELL_ASPECT)
    return Rect(x0, y0, x1 - x0, y1 - y0)


def layout(
    tiles: Iterable[TileData],
    width: int,
    height: int,
    *,
    equal: bool = False,
    header_rows: int = 1,
) -> Layout:
    """Place ``tiles`` in a ``width`` x ``height`` cell area; a group's name takes
    ``header_rows`` rows atop its block (the web page's cells are finer). Pure."""
    items = [t for t in tiles]
    out = Layout([], [], 0)
    if width <= 0 or height <= 0 or not items:
        out.hidden = len(items)
        return out
    if equal:
        return _grid(items, width, height)
    groups: dict[str, list[TileData]] = {}
    for t in items:
        groups.setdefault(t.group, []).append(t)
    for g in groups.values():
        g.sort(key=lambda t: (-t.weight, t.code))
    names = sorted(groups, key=lambda g: (-sum(max(t.weight, 0) for t in groups[g]), g))
    totals = [sum(_floored([t.weight for t in groups[g]])) for g in names]
    W, H = float(width), float(height) * CELL_ASPECT
    blocks = (
        [_snap(r) for r in squarify(totals, 0.0, 0.0, W, H)]
        if len(names) > 1
        else [Rect(0, 0, width, height)]
    )
    for gname, block in zip(names, blocks, strict=False):
        members = groups[gname]
        area = block
        if gname and len(names) > 1 and block.h >= 2 + header_rows and block.w >= 4:
            out.headers.append(Header(gname, Rect(block.x, block.y, block.w, header_rows)))
            area = Rect(block.x, block.y + header_rows, block.w, block.h - header_rows)
        weights = _floored([t.weight for t in members])
        rects = squarify(
            weights,
            float(area.x),
            float(area.y) * CELL_ASPECT,
            float(area.w),
            float(area.h) * CELL_ASPECT,
        )
        for t, r in zip(members, rects, strict=False):
            cell = _snap(r)
            if cell.w <= 0 or cell.h <= 0:
                out.hidden += 1
            else:
                out.tiles.append(Placed(t, cell))
    return out


def _grid(items: list[TileData], width: int, height: int) -> Layout:
    """Equal tiles, sorted by change (highest first; unknown change last), row by row."""
    items = sorted(items, key=lambda t: (t.change_pct is None, -(t.change_pct or 0.0), t.code))
    n = len(items)
    # columns so that tiles come out as square as the cells allow
    cols = max(1, min(n, round(math.sqrt(n * width / (height * CELL_ASPECT)))))
    rows = math.ceil(n / cols)
    while rows > height and cols < n:
        cols += 1
        rows = math.ceil(n / cols)
    out = Layout([], [], 0)
    for i, t in enumerate(items):
        r, c = divmod(i, cols)
        if r >= height:
            out.hidden += 1
            continue
        x0, x1 = c * width // cols, (c + 1) * width // cols
        y0, y1 = r * height // rows, (r + 1) * height // rows
        if x1 > x0 and y1 > y0:
            out.tiles.append(Placed(t, Rect(x0, y0, x1 - x0, y1 - y0)))
        else:
            out.hidden += 1
    return out


# -- colour ---------------------------------------------------------------------------------

STEPS = 5  # colour steps on each side of "flat"
FLAT_BAND = 0.05  # |change| under this fraction of the scale counts as flat
# xterm-256 palette entries, darkest first: distinct cells in any 256-colour terminal
GREENS = (22, 28, 34, 40, 46)
REDS = (52, 88, 124, 160, 196)
FLAT_COLOR = 238
UNKNOWN_COLOR = 236


def _xterm_rgb(n: int) -> tuple[int, int, int]:
    """RGB of xterm-256 colour ``n`` (the 6x6x6 cube and the grey ramp)."""
    if n >= 232:
        v = 8 + (n - 232) * 10
        return (v, v, v)
    n -= 16
    levels = (0, 95, 135, 175, 215, 255)
    return (levels[n // 36], levels[(n // 6) % 6], levels[n % 6])


def change_step(change_pct: float | None, *, scale: float = 3.0) -> int | None:
    """The colour step of a change: -STEPS..STEPS (0 flat), clamped at +-``scale`` %."""
    if change_pct is None:
        return None
    if scale <= 0:
        return (change_pct > 0) - (change_pct < 0)
    t = min(1.0, abs(change_pct) / scale)
    if t < FLAT_BAND:
        return 0
    step = min(STEPS, max(1, math.ceil(t * STEPS - 1e-9)))
    return step if change_pct > 0 else -step


def step_color(step: int | None, colors: str = "west") -> int:
    """The xterm-256 colour of a step (``west``: green up; ``cn``: red up)."""
    if step is None:
        return UNKNOWN_COLOR
    if step == 0:
        return FLAT_COLOR
    up, down = (GREENS, REDS) if colors == "west" else (REDS, GREENS)
    return (up if step > 0 else down)[abs(step) - 1]


def step_rgb(step: int | None, colors: str = "west") -> tuple[int, int, int]:
    """The RGB of a step's colour (the web dashboard draws the terminal's palette)."""
    return _xterm_rgb(step_color(step, colors))


def change_color(
    change_pct: float | None, *, clamp: float = 3.0, colors: str = "west"
) -> tuple[int, int, int]:
    """RGB of a change's step on the diverging scale (full colour at +-``clamp`` %)."""
    return _xterm_rgb(step_color(change_step(change_pct, scale=clamp), colors))


def _fg_for(rgb: tuple[int, int, int]) -> str:
    r, g, b = rgb
    return "black" if (0.299 * r + 0.587 * g + 0.114 * b) > 150 else "white"


def legend(scale: float = 3.0, colors: str = "west") -> list[Segment]:
    """One line: ``-3% ▇▇ ... 0 ... ▇▇ +3%``, a swatch per colour step."""
    s = f"{scale:g}%"
    out = [Segment(f"-{s} ")]
    for step in range(-STEPS, STEPS + 1):
        if step == 0:
            out.append(Segment(" 0 ", Style(bgcolor=f"color({FLAT_COLOR})", color="white")))
            continue
        out.append(Segment("  ", Style(bgcolor=f"color({step_color(step, colors)})")))
    out.append(Segment(f" +{s}"))
    return out


def tile_lines(tile: TileData, w: int, h: int) -> list[str]:
    """The text of a tile (its last column is the edge): the code only whole, then the
    name and the change only where they fit whole; a tile too small for its code is blank."""
    room = w - 1
    code = tile.code
    if room < len(code) or h < 1:
        return []  # its colour says enough; a cut code would mislead
    chg = "--" if tile.change_pct is None else f"{tile.change_pct:+.2f}%"
    name = tile.name
    if h == 1:
        both = f"{code} {chg}"
        return [both if len(both) <= room else code]
    lines = [code]
    if h >= 3 and name and len(name) <= room:
        lines.append(name)
    if len(chg) <= room:
        lines.append(chg)
    return lines[:h]


class HeatmapView:
    """A Rich renderable drawing the heatmap in the space it is given."""

    def __init__(
        self,
        tiles: Sequence[TileData],
        *,
        equal: bool = False,
        clamp: float = 3.0,
        colors: str = "west",
        flash: Iterable[str] = (),
        selected: str | None = None,
        height: int | None = None,
        placed: Layout | None = None,
    ) -> None:
        self.tiles = tiles
        self.equal = equal
        self.clamp = clamp
        self.colors = colors
        self.flash = set(flash)
        self.selected = selected
        self.height = height
        self.placed = placed  # a layout kept from an earlier frame (stable tiles)
        self.last_layout: Layout | None = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        height = self.height or options.height or console.height
        lay = self.placed or layout(self.tiles, width, height, equal=self.equal)
        self.last_layout = lay
        yield from render_rows(
            lay,
            width,
            height,
            clamp=self.clamp,
            colors=self.colors,
            flash=self.flash,
            selected=self.selected,
        )


_STYLES: dict[tuple[int, bool, bool, bool], Style] = {}


def _tile_style(n: int, flashing: bool, chosen: bool, *, edge: bool = False) -> Style:
    """A tile's style on xterm colour ``n`` (made once: 11 colours x 4 states + edges)."""
    key = (n, flashing, chosen, edge)
    style = _STYLES.get(key)
    if style is None:
        if edge:
            style = Style(color="color(234)", bgcolor=f"color({n})")
        else:
            style = Style(
                color=_fg_for(_xterm_rgb(n)),
                bgcolor=f"color({n})",
                bold=chosen or flashing,
                reverse=flashing,
                underline=chosen,
            )
        _STYLES[key] = style
    return style


def render_rows(
    lay: Layout,
    width: int,
    height: int,
    *,
    clamp: float,
    colors: str,
    flash: set[str],
    selected: str | None,
) -> Iterable[Segment]:
    """The segments of every row, each row exactly ``width`` cells, ``height`` rows."""
    # per row: (x, w, text, style) runs
    rows: list[list[tuple[int, int, str, Style]]] = [[] for _ in range(height)]
    for p in lay.tiles:
        t, r = p.tile, p.rect
        n = step_color(change_step(t.change_pct, scale=clamp), colors)
        flashing = t.code in flash
        chosen = t.code == selected
        style = _tile_style(n, flashing, chosen)
        edge = _tile_style(n, False, False, edge=True)
        lines = tile_lines(t, r.w, r.h)
        for dy in range(r.h):
            y = r.y + dy
            if y >= height:
                break
            text = lines[dy] if dy < len(lines) else ""
            if r.w >= 3:
                body = text.ljust(r.w - 1)[: r.w - 1]
                rows[y].append((r.x, r.w - 1, body, style))
                rows[y].append((r.x + r.w - 1, 1, "\u2595", edge))
            else:
                rows[y].append((r.x, r.w, text.ljust(r.w)[: r.w], style))
    head_style = Style(color="black", bgcolor="grey70", bold=True)
    for hd in lay.headers:
        if hd.rect.y < height:
            rows[hd.rect.y].append(
                (hd.rect.x, hd.rect.w, f" {hd.group}".ljust(hd.rect.w)[: hd.rect.w], head_style)
            )
    blank = Style(bgcolor="grey11")
    newline = Segment.line()
    for runs in rows:
        runs.sort(key=lambda run: run[0])
        x = 0
        for rx, rw, text, style in runs:
            if rx > x:
                yield Segment(" " * (rx - x), blank)
            elif rx < x:  # overlap can only come from rounding at an edge: crop
                cut = x - rx
                text, rw, rx = text[cut:], rw - cut, x
                if rw <= 0:
                    continue
            yield Segment(text, style)
            x = rx + rw
        if x < width:
            yield Segment(" " * (width - x), blank)
        yield newline


def tiles_from_rows(
    rows: Iterable[object],
    *,
    size: str = "cap",
    groups: Mapping[str, str] | None = None,
    lang: str = "en",
) -> tuple[list[TileData], str]:
    """Tiles from the board model's rows (:class:`hkticks.watch.model.Row`), and what sizes them.

    ``size="cap"``: market cap, the row's ``hk_shares`` (``static_info``) x its
    last price; a name whose shares are unknown gets the cap its day's
    turnover suggests (turnover x the median cap/turnover of the names with
    both); when no name has shares yet the map is sized by the day's
    turnover and the second value says ``"turnover"``. ``size="turnover"``:
    the day's turnover (the daily bar and what traded since).
    """
    groups = groups or {}
    rows = list(rows)
    prices = {r.code: (r.last or r.day_close or r.prev_close) for r in rows}  # type: ignore[attr-defined]
    caps = {
        r.code: r.hk_shares * prices[r.code]  # type: ignore[attr-defined]
        for r in rows
        if size == "cap" and r.hk_shares and prices[r.code]  # type: ignore[attr-defined]
    }
    mode = "cap" if caps else ("equal" if size == "equal" else "turnover")
    ratio = None
    if mode == "cap":
        ratios = sorted(
            caps[r.code] / r.day_turnover  # type: ignore[attr-defined]
            for r in rows
            if r.code in caps and r.day_turnover > 0  # type: ignore[attr-defined]
        )
        ratio = ratios[len(ratios) // 2] if ratios else None
    out = []
    for row in rows:
        code = row.code  # type: ignore[attr-defined]
        turnover = float(row.day_turnover)  # type: ignore[attr-defined]
        if mode == "equal":
            weight = 1.0
        elif mode == "cap":
            weight = caps.get(code) or (turnover * ratio if ratio else 0.0)
        else:
            weight = turnover
        out.append(TileData(code, row.name(lang), row.change_pct, weight, groups.get(code, "")))  # type: ignore[attr-defined]
    return out, mode


# -- a layout that stays put --------------------------------------------------------------

DRIFT = 0.15  # share of the total area that must have moved between tiles to relayout
RELAYOUT_S = 60.0  # and at most this often


def drift(old: Mapping[str, float], new: Mapping[str, float]) -> float:
    """Half the L1 distance between two normalised weight maps: 0 same, 1 disjoint."""
    a, b = sum(old.values()) or 1.0, sum(new.values()) or 1.0
    keys = old.keys() | new.keys()
    return 0.5 * sum(abs(old.get(k, 0.0) / a - new.get(k, 0.0) / b) for k in keys)


class StableLayout:
    """Keeps tiles where they are: the treemap is recomputed only on a new size, a new
    ``basis`` (area measure, grouping, reference data arriving, grid), a new set of
    names, or when areas drifted by more than :data:`DRIFT`, at most every
    :data:`RELAYOUT_S` seconds. Between recomputes each tile keeps its rectangle and
    shows its current change. Pure: the caller passes the clock."""

    def __init__(
        self, *, threshold: float = DRIFT, every_s: float = RELAYOUT_S, header_rows: int = 1
    ) -> None:
        self.header_rows = header_rows
        self.threshold = threshold
        self.every_s = every_s
        self.layouts = 0  # how many times the treemap was computed (tests, bench)
        self._key: tuple[object, ...] | None = None
        self._weights: dict[str, float] = {}
        self._rects: dict[str, Rect] = {}
        self._headers: list[Header] = []
        self._hidden = 0
        self._at = 0.0

    def get(
        self,
        tiles: Sequence[TileData],
        width: int,
        height: int,
        *,
        now: float,
        equal: bool = False,
        basis: object = None,
    ) -> Layout:
        key = (width, height, equal, basis, frozenset(t.code for t in tiles))
        weights = {t.code: max(0.0, t.weight) for t in tiles}
        if key != self._key or (
            now - self._at >= self.every_s and drift(self._weights, weights) > self.threshold
        ):
            fresh = layout(tiles, width, height, equal=equal, header_rows=self.header_rows)
            self._key, self._weights, self._at = key, weights, now
            self._rects = {p.tile.code: p.rect for p in fresh.tiles}
            self._headers, self._hidden = fresh.headers, fresh.hidden
            self.layouts += 1
            return fresh
        rects = self._rects
        placed = [Placed(t, rects[t.code]) for t in tiles if t.code in rects]
        return Layout(placed, self._headers, self._hidden)

    def reset(self) -> None:
        self._key = None
