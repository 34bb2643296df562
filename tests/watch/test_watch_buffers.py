"""Detail-view buffers, the /kline decoder (AllTick's documented shape), chart drawing, columns."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from hkticks import config
from hkticks.alltick.kline import decode_kline, kline_query
from hkticks.alltick.rest_frames import Bar
from hkticks.errors import ConfigError
from hkticks.tick import Book, Tick
from hkticks.watch import layout as saved
from hkticks.watch.buffers import MINUTE_MS, Buffers, SymbolBuffer
from hkticks.watch.columns import ColumnLayout, hidden_notice
from hkticks.watch.detail import chart_lines, ladder_lines, tape_lines
from hkticks.watch.view import Palette

M0 = 1_714_620_000_000  # a minute boundary


def t(price: float, ts: int, volume: int = 100, side: str | None = "buy") -> Tick:
    return Tick("00700", ts, price, volume, price * volume, side, None, ts, "t")


def test_minute_bars_ohlcv_and_bounded_tape() -> None:
    buf = SymbolBuffer("00700", max_bars=3, max_trades=4)
    for i, p in enumerate([10.0, 10.5, 9.8, 10.1]):
        buf.add_trade(t(p, M0 + i * 1000, 100))
    (bar,) = buf.bars
    assert (bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        M0,
        10.0,
        10.5,
        9.8,
        10.1,
        400,
    )
    for m in range(1, 5):
        buf.add_trade(t(11.0 + m, M0 + m * MINUTE_MS))
    assert [b.ts for b in buf.bars] == [M0 + m * MINUTE_MS for m in (2, 3, 4)]  # a day at most
    assert len(buf.trades) == 4 and buf.trades[-1].price == 15.0
    # a late trade updates its minute's range and volume, not its close, and makes no new bar
    buf.add_trade(t(20.0, M0 + 3 * MINUTE_MS + 5, 50))
    bar3 = buf.bars[1]
    assert bar3.high == 20.0 and bar3.close == 14.0 and bar3.volume == 150 and len(buf.bars) == 3


def test_vwap_and_range() -> None:
    buf = SymbolBuffer("00700")
    buf.add_trade(t(10.0, M0, 100))
    buf.add_trade(t(12.0, M0 + MINUTE_MS, 300))
    assert buf.vwap() == pytest.approx((1000 + 3600) / 400)
    assert buf.day_range() == (10.0, 12.0)
    assert SymbolBuffer("x").vwap() is None and SymbolBuffer("x").day_range() is None


def test_history_goes_under_the_live_minutes_never_over() -> None:
    buf = SymbolBuffer("00700")
    buf.add_trade(t(10.0, M0 + 2 * MINUTE_MS + 30_000, 100))  # board started mid-minute 2
    buf.add_trade(t(10.2, M0 + 3 * MINUTE_MS, 100))
    history = [
        Bar("00700", M0 + m * MINUTE_MS, 9.0 + m, 9.5 + m, 8.5 + m, 9.2 + m, 1000, 9000.0)
        for m in range(4)
    ]
    assert buf.merge_history(history) == 2
    assert [b.ts for b in buf.bars] == [M0 + m * MINUTE_MS for m in range(4)]
    first_live = buf.bars[2]
    assert first_live.open == 11.0 and first_live.low == 10.0 and first_live.high == 11.5
    assert first_live.close == 10.0 and first_live.volume == 1000  # the fuller count
    assert buf.bars[3].open == 10.2 and buf.bars[3].volume == 100  # seen whole: left alone


def test_buffers_keep_only_board_symbols_and_the_latest_book() -> None:
    bufs = Buffers(["00700"])
    book = Book("00700", M0, ((10.0, 100),), ((10.1, 200),), None, M0, "t")
    other = Tick("09988", M0, 80.0, 100, 8000.0, "buy", None, M0, "t")
    bufs.apply([t(10.0, M0), other, book])
    assert "09988" not in bufs and bufs.get("00700").book is book and len(bufs) == 1


def test_kline_query_and_decoder_follow_alltick_docs() -> None:
    q = orjson.loads(kline_query("00700"))
    assert q["data"] == {
        "code": "700.HK",
        "kline_type": 1,
        "kline_timestamp_end": 0,
        "query_kline_num": 500,
        "adjust_type": 0,
    }
    with pytest.raises(ValueError):
        kline_query("00700", count=501)
    # the answer's data as documented: code, kline_type, kline_list of string fields
    data = {
        "code": "700.HK",
        "kline_type": 1,
        "kline_list": [
            {
                "timestamp": "1714620060",
                "open_price": "380.2",
                "close_price": "380.6",
                "high_price": "381.0",
                "low_price": "380.0",
                "volume": "12000",
                "turnover": "4566000.5",
            },
            {
                "timestamp": "1714620000",
                "open_price": "380.0",
                "close_price": "380.2",
                "high_price": "380.4",
                "low_price": "379.8",
                "volume": "9000",
                "turnover": "3420000",
            },
            {"timestamp": "x", "open_price": "1"},
        ],
    }
    bars, bad = decode_kline(data, "00700")
    assert bad == 1 and [b.ts for b in bars] == [1714620000000, 1714620060000]
    assert (bars[1].open, bars[1].high, bars[1].low, bars[1].close) == (380.2, 381.0, 380.0, 380.6)
    assert bars[1].volume == 12000 and bars[1].turnover == 4566000.5
    assert decode_kline({**data, "code": "9988.HK"}, "00700") == ([], 3)  # not what we asked
    assert decode_kline(None, "00700") == ([], 1)


def test_chart_has_candles_volume_prev_close_and_vwap_lines() -> None:
    buf = SymbolBuffer("00700")
    for m in range(20):
        buf.add_trade(t(100.0 + m % 5, M0 + m * MINUTE_MS, 100 * (m + 1)))
        buf.add_trade(t(100.5 + m % 5, M0 + m * MINUTE_MS + 1000, 100))
    pal = Palette.scheme("west")
    lines = chart_lines(buf.bars, 60, 20, pal, prev_close=98.0, vwap=buf.vwap())
    assert len(lines) == 20 and all(sum(len(s.text) for s in line) == 60 for line in lines)
    text = ["".join(s.text for s in line) for line in lines]
    assert any("┄" in row for row in text) and any("╌" in row for row in text)
    assert any("█" in row for row in text[:15])
    assert "98.00" in "".join(text)  # the previous close on the scale
    assert text[-1].strip().startswith("11:20")  # first minute (HKT) on the time axis
    up = [s for line in lines for s in line if s.text == "█" and s.style == pal.up]
    assert up  # bars closing above their open are in the up colour
    line_mode = chart_lines(buf.bars, 60, 20, pal, mode="line")
    assert any("•" in s.text for line in line_mode for s in line)
    empty = chart_lines([], 40, 5, pal)
    assert "no trades yet" in "".join(s.text for s in empty[0]) and len(empty) == 5


def test_tape_coloured_by_aggressor_and_ladder_levels() -> None:
    pal = Palette.scheme("cn")
    trades = [t(10.0, M0, 100, "buy"), t(9.9, M0 + 1, 200, "sell"), t(9.9, M0 + 2, 300, None)]
    lines = tape_lines(trades, 40, 10, pal)
    assert [line[0].style for line in lines] == [pal.dim, pal.down, pal.up]  # newest first
    assert lines[1][0].text.rstrip().endswith("S") and lines[2][0].text.rstrip().endswith("B")
    bids = tuple((10.0 - i * 0.1, 100 * (i + 1)) for i in range(10))
    asks = tuple((10.1 + i * 0.1, 100 * (i + 1)) for i in range(10))
    ladder = ladder_lines(Book("00700", M0, bids, asks, None, M0, "t"), 40, pal)
    text = ["".join(s.text for s in line) for line in ladder]
    assert text[0].lstrip().startswith("A10") and text[9].lstrip().startswith("A1 ")
    assert "spread" in text[10] and text[11].lstrip().startswith("B1 ") and len(ladder) == 21
    assert "no book yet" in "".join(s.text for s in ladder_lines(None, 40, pal)[0])


def test_columns_drop_by_priority_and_say_which() -> None:
    layout = ColumnLayout(book=True)
    shown, hidden = layout.fit(60)
    keys = [c.key for c in shown]
    assert keys[0] == "code" and "last" in keys and "chgp" in keys
    assert hidden and "(c: columns)" in hidden_notice(hidden)
    assert hidden_notice([]) == ""
    wide, none_hidden = layout.fit(400)
    assert not none_hidden and "bid" in [c.key for c in wide]
    layout.set_enabled(["last"])
    assert [c.key for c in layout.fit(400)[0]] == ["code", "last"]  # code always stays
    assert "bid" not in [c.key for c in ColumnLayout(book=False).fit(400)[0]]


def test_layout_saved_keeps_the_rest_of_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('token = "tok"  # mine\n[board]\nsort = "code"\n\n[watchlists]\nhk = ["5"]\n')
    path.chmod(0o600)
    saved.save({"sort": "volume", "reverse": True, "columns": ["code", "last"]}, path)
    text = path.read_text()
    assert 'token = "tok"  # mine' in text and text.count("[board]") == 1
    layout = saved.load(path)
    assert (layout.sort, layout.reverse, layout.columns) == ("volume", True, ["code", "last"])
    assert layout.watchlists == {"hk": ["00005"]} and (path.stat().st_mode & 0o777) == 0o600
    fresh = tmp_path / "new" / "config.toml"
    saved.save({"sort": "code"}, fresh)
    assert (fresh.stat().st_mode & 0o777) == 0o600 and saved.load(fresh).sort == "code"
    assert saved.load(tmp_path / "absent.toml").sort is None


def test_bad_watchlists_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[watchlists]\ntech = "00700"\n')
    with pytest.raises(ConfigError, match="must be a list of codes"):
        saved.load(path)
    path.write_text('[watchlists]\ntech = ["not-a-code"]\n')
    with pytest.raises(ConfigError, match="watchlist 'tech'"):
        saved.load(path)
    path.write_text("watchlists = 3\n")
    with pytest.raises(ConfigError, match=r"\[watchlists\] must be a table"):
        config.load_config_file(path)
