"""The heatmap's pure layout, colours and Rich rendering."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.segment import Segment

from hkticks.watch.heatmap import (
    GREENS,
    REDS,
    HeatmapView,
    StableLayout,
    TileData,
    change_color,
    change_step,
    layout,
    legend,
    squarify,
    step_color,
    tile_lines,
    tile_weight,
    tiles_from_rows,
)
from hkticks.watch.live import shares_of


def tiles(n: int, seed: int = 1, groups: int = 0) -> list[TileData]:
    rng = random.Random(seed)
    return [
        TileData(
            f"{i:05d}",
            f"Name {i}",
            rng.gauss(0, 3),
            rng.paretovariate(1.0),
            f"G{i % groups}" if groups else "",
        )
        for i in range(n)
    ]


def coverage(lay, width: int, height: int) -> list[list[int]]:
    grid = [[0] * width for _ in range(height)]
    for p in lay.tiles:
        r = p.rect
        assert r.x >= 0 and r.y >= 0 and r.x + r.w <= width and r.y + r.h <= height, r
        for y in range(r.y, r.y + r.h):
            for x in range(r.x, r.x + r.w):
                grid[y][x] += 1
    for hd in lay.headers:
        r = hd.rect
        for x in range(r.x, r.x + r.w):
            grid[r.y][x] += 1
    return grid


def test_squarify_areas_are_proportional_and_fill_the_rectangle() -> None:
    values = [6, 6, 4, 3, 2, 2, 1]
    rects = squarify(values, 0, 0, 6, 4)
    total = sum(values)
    for v, (x, y, w, h) in zip(values, rects, strict=False):
        assert w * h == pytest.approx(v / total * 24)
        assert 0 <= x and x + w <= 6 + 1e-9 and 0 <= y and y + h <= 4 + 1e-9
    assert sum(w * h for _, _, w, h in rects) == pytest.approx(24)
    # squarified: no sliver worse than 1:4 here
    assert max(max(w / h, h / w) for _, _, w, h in rects) < 4


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1e9, allow_nan=False), min_size=1, max_size=120),
    st.integers(min_value=1, max_value=220),
    st.integers(min_value=1, max_value=60),
)
def test_layout_tiles_the_area_exactly(weights: list[float], width: int, height: int) -> None:
    data = [TileData(f"{i:05d}", "", 0.0, w) for i, w in enumerate(weights)]
    lay = layout(data, width, height)
    grid = coverage(lay, width, height)
    assert all(c == 1 for row in grid for c in row)  # no gap, no overlap
    assert len(lay.tiles) + lay.hidden == len(data)


def test_550_names_at_200x50_all_fit_and_bigger_weighs_more() -> None:
    data = tiles(550)
    lay = layout(data, 200, 50)
    assert lay.hidden == 0 and len(lay.tiles) == 550
    area = {p.tile.code: p.rect.w * p.rect.h for p in lay.tiles}
    biggest = max(data, key=lambda t: t.weight)
    smallest = min(data, key=lambda t: t.weight)
    assert area[biggest.code] > 20 * area[smallest.code]


def test_groups_get_their_own_blocks_with_a_header() -> None:
    data = tiles(60, groups=3)
    lay = layout(data, 120, 40)
    assert sorted(h.group for h in lay.headers) == ["G0", "G1", "G2"]
    grid = coverage(lay, 120, 40)
    assert all(c == 1 for row in grid for c in row)
    for hd in lay.headers:  # each group's tiles sit under its header, within its columns
        mine = [p for p in lay.tiles if p.tile.group == hd.group]
        assert mine and all(hd.rect.x <= p.rect.x < hd.rect.x + hd.rect.w for p in mine)


def test_equal_grid_is_sorted_by_change() -> None:
    data = tiles(30)
    lay = layout(data, 100, 30, equal=True)
    order = sorted(lay.tiles, key=lambda p: (p.rect.y, p.rect.x))
    changes = [p.tile.change_pct for p in order]
    assert changes == sorted(changes, reverse=True)
    assert len({(p.rect.w, p.rect.h) for p in lay.tiles}) <= 4  # equal up to rounding
    assert all(c <= 1 for row in coverage(lay, 100, 30) for c in row)  # no overlap
    assert lay.hidden == 0


def test_colours_diverge_in_steps_clamped_at_the_scale_and_flip_with_cn() -> None:
    neutral = change_color(0.0)
    assert change_color(3.0) == change_color(12.0)  # clamped at +-3 % by default
    up, down = change_color(3.0), change_color(-3.0)
    assert up[1] > up[0] and down[0] > down[1]  # west: green up, red down
    assert change_color(3.0, colors="cn") == down and change_color(-3.0, colors="cn") == up
    half = change_color(1.5)
    assert neutral[1] < half[1] < up[1]
    assert change_color(2.0, clamp=2.0) == up and change_color(5.0, clamp=5.0) == up
    assert change_color(None) != neutral
    # +1 % is clearly coloured, not nearly grey; small moves are flat
    assert change_step(1.0) == 2 and change_step(0.1) == 0 and change_step(-0.2) == -1
    # the pair: -1.68 % and +0.88 % are distinct 256-colour entries
    a, b = step_color(change_step(-1.68)), step_color(change_step(0.88))
    assert a != b and a in REDS and b in GREENS
    # every step is its own xterm-256 colour: distinguishable in a 256-colour terminal
    steps = [step_color(s) for s in range(-5, 6)]
    assert len(set(steps)) == 11 and all(16 <= n < 256 for n in steps)


def test_legend_is_one_line_from_minus_to_plus_the_scale() -> None:
    text = "".join(seg.text for seg in legend(3.0))
    assert text.startswith("-3% ") and text.endswith(" +3%") and " 0 " in text
    assert "\n" not in text and len(text) < 40
    assert "".join(seg.text for seg in legend(2.5)).endswith("+2.5%")


def test_tile_text_shows_the_code_only_whole_then_name_and_change_if_they_fit() -> None:
    t = TileData("00700", "TENCENT", 1.234, 1.0)
    assert tile_lines(t, 20, 5) == ["00700", "TENCENT", "+1.23%"]
    assert tile_lines(t, 8, 2) == ["00700", "+1.23%"]
    assert tile_lines(t, 7, 3) == ["00700", "+1.23%"]  # the name does not fit whole
    assert tile_lines(t, 6, 3) == ["00700"]  # neither the name nor the change fits whole
    assert tile_lines(t, 6, 1) == ["00700"]
    assert tile_lines(t, 5, 1) == []  # a cut code would mislead: colour only
    assert tile_lines(t, 3, 5) == []
    assert tile_lines(TileData("00700", "", None, 1.0), 20, 3) == ["00700", "--"]


def test_no_cut_code_anywhere_in_a_busy_map() -> None:
    data = [TileData(t.code, "Name", t.change_pct, t.weight) for t in tiles(550)]
    lines = render(HeatmapView(data, height=50), 200, 50)
    codes = {t.code for t in data}
    for line in lines:
        text = "".join(s.text for s in line)
        for word in text.replace("\u2595", " ").split():
            if word[:1].isdigit() and "%" not in word:
                assert word in codes, word  # whole five-digit codes only


def test_stable_layout_keeps_tiles_until_size_basis_or_drift() -> None:
    data = tiles(80)
    stable = StableLayout(threshold=0.15, every_s=60.0)
    first = {p.tile.code: p.rect for p in stable.get(data, 160, 50, now=0.0).tiles}
    # the areas change a little and the prices move: same places
    moved = [TileData(t.code, t.name, (t.change_pct or 0) + 1, t.weight * 1.05) for t in data]
    again = stable.get(moved, 160, 50, now=30.0)
    assert {p.tile.code: p.rect for p in again.tiles} == first
    assert {p.tile.code: p.tile.change_pct for p in again.tiles} == {
        t.code: t.change_pct for t in moved
    }  # the tiles show the new change
    # a big drift inside the minute: still put
    skewed = [
        TileData(t.code, t.name, t.change_pct, t.weight * (50 if i < 5 else 1))
        for i, t in enumerate(data)
    ]
    assert {p.tile.code: p.rect for p in stable.get(skewed, 160, 50, now=59.0).tiles} == first
    assert stable.layouts == 1
    # ... relaid out once the minute is up
    after = {p.tile.code: p.rect for p in stable.get(skewed, 160, 50, now=61.0).tiles}
    assert after != first and stable.layouts == 2
    # a new size or a new basis: at once
    stable.get(skewed, 120, 40, now=62.0)
    stable.get(skewed, 120, 40, now=63.0, basis="turnover")
    assert stable.layouts == 4


def render(view: HeatmapView, width: int, height: int) -> list[list[Segment]]:
    console = Console(
        width=width, height=height, color_system="truecolor", file=open("/dev/null", "w")
    )
    segs = list(console.render(view, console.options.update(width=width, height=height)))
    return list(Segment.split_lines(segs))


def test_render_rows_are_exactly_the_width() -> None:
    lines = render(HeatmapView(tiles(550), height=50), 200, 50)
    assert len(lines) == 50
    assert all(Segment.get_line_length(line) == 200 for line in lines)


def test_render_shows_codes_flash_and_selection() -> None:
    data = [TileData("00700", "TENCENT", 2.0, 10.0), TileData("09988", "BABA", -3.0, 5.0)]
    view = HeatmapView(data, flash={"09988"}, selected="00700", height=10)
    lines = render(view, 40, 10)
    text = "\n".join("".join(s.text for s in line) for line in lines)
    assert "00700" in text and "TENCENT" in text and "-3.00%" in text
    styles = {s.text.strip(): s.style for line in lines for s in line if s.text.strip()}
    assert styles["09988"].reverse and styles["00700"].underline


def test_weights_cap_turnover_equal_and_fallback() -> None:
    assert tile_weight("cap", shares=1000, price=10.0, turnover=5) == 10_000
    assert tile_weight("cap", shares=None, price=10.0, turnover=5) == 5
    assert tile_weight("turnover", shares=1000, price=10.0, turnover=5) == 5
    assert tile_weight("equal", shares=1000, price=10.0, turnover=5) == 1

    def row(
        code: str, last: float | None, turnover: float, shares: float | None
    ) -> SimpleNamespace:
        return SimpleNamespace(
            code=code,
            last=last,
            day_close=None,
            prev_close=None,
            day_turnover=turnover,
            hk_shares=shares,
            change_pct=0.0,
            name=lambda lang: code,
        )

    rows = [
        row("00001", 10.0, 100.0, 1000),
        row("00002", 20.0, 400.0, 500),
        row("00003", 5.0, 50.0, None),
    ]
    got, mode = tiles_from_rows(rows, size="cap")
    w = {t.code: t.weight for t in got}
    assert mode == "cap" and w["00001"] == 10_000 and w["00002"] == 10_000
    # 00003 has no shares: its turnover x the median cap/turnover ratio (25 and 100 -> 100)
    assert w["00003"] == 50.0 * 100
    bare = [row(r.code, r.last, r.day_turnover, None) for r in rows]
    got, mode = tiles_from_rows(bare, size="cap")
    assert mode == "turnover" and [t.weight for t in got] == [100.0, 400.0, 50.0]
    got, mode = tiles_from_rows(rows, size="turnover")
    assert mode == "turnover" and [t.weight for t in got] == [100.0, 400.0, 50.0]


def test_hk_shares_read_defensively() -> None:
    infos = {
        "00700": SimpleNamespace(hk_shares="9200000000"),
        "00005": SimpleNamespace(hk_shares=""),
        "00001": SimpleNamespace(name_en="CKH"),  # an older StaticInfo without the field
        "00002": SimpleNamespace(hk_shares="n/a"),
    }
    assert shares_of(infos) == {"00700": 9_200_000_000.0}
