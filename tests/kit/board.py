"""Deterministic boards for the Pilot and snapshot tests: fixed clock, fixed trades."""

from __future__ import annotations

from hkticks.alltick.rest_frames import Bar
from hkticks.tick import Book, Event, Tick
from hkticks.watch.app import BoardApp
from hkticks.watch.buffers import Buffers
from hkticks.watch.columns import ColumnLayout
from hkticks.watch.model import DayStats, ReferenceData, WatchModel

NOW = 1_714_620_000.0 + 1800  # 2024-05-02 11:30 HKT, a Thursday: continuous trading
T0 = int(NOW * 1000)

NAMES = {
    "00700": ("Tencent", "腾讯控股"),
    "09988": ("Alibaba-W", "阿里巴巴-W"),
    "03690": ("Meituan-W", "美团-W"),
    "00005": ("HSBC Holdings", "汇丰控股"),
    "01810": ("Xiaomi-W", "小米集团-W"),
    "07000": ("Seven Thousand", "七千"),
}
PREV = {"00700": 380.0, "09988": 80.0, "03690": 120.0, "00005": 65.0, "01810": 20.0, "07000": 1.5}
LAST = {"00700": 382.4, "09988": 79.5, "03690": 121.0, "00005": 65.0, "01810": 20.6, "07000": 1.48}


def trades(now: float = NOW) -> list[object]:
    items: list[object] = [Event(T0 - 60_000, "connected", 0, {})]
    items.append(ReferenceData(stats={c: DayStats(p) for c, p in PREV.items()}))
    seq = 0
    for minute in range(30):
        for code, last in LAST.items():
            seq += 1
            ts = T0 - (30 - minute) * 60_000
            drift = (minute - 15) / 15 * 0.01
            price = round(last * (1 + drift), 3 if last < 1 else 2)
            side = "buy" if minute % 3 else "sell"
            items.append(
                Tick(code, ts, price, 100 * (1 + minute % 5), price * 100, side, seq, ts, "t")
            )
    for code, last in LAST.items():
        seq += 1
        items.append(Tick(code, T0 - 500, last, 300, last * 300, "buy", seq, T0 - 500, "t"))
        bids = tuple((round(last - 0.02 * (i + 1), 2), 1000 * (i + 1)) for i in range(10))
        asks = tuple((round(last + 0.02 * (i + 1), 2), 800 * (i + 1)) for i in range(10))
        items.append(Book(code, T0 - 400, bids, asks, seq, T0 - 400, "t"))
    return items


def make_model(book: bool = True) -> tuple[WatchModel, Buffers]:
    model = WatchModel(list(NAMES), names=NAMES, book=book, started=NOW - 1800)
    buffers = Buffers(list(NAMES))
    items = trades()
    # old trades applied long ago (no flash on screen); the last ones 10 s ago
    model.apply(items, NOW - 10)
    buffers.apply(items)
    return model, buffers


def make_app(colors: str = "west", **kw: object) -> BoardApp:
    model, buffers = make_model()
    kw.setdefault("watchlists", {"tech": ["00700", "09988", "03690", "01810"]})
    return BoardApp(
        model,
        buffers=buffers,
        colors=colors,
        demo=True,
        layout=ColumnLayout(book=True),
        book_feed=True,
        clock=lambda: NOW,
        frame_s=3600.0,  # frames only when a test asks (deterministic)
        **kw,  # type: ignore[arg-type]
    )


SHARES = {  # HK shares (static_info's hk_shares), for the heatmap's market cap
    "00700": 9_200_000_000,
    "09988": 19_000_000_000,
    "03690": 6_000_000_000,
    "00005": 18_000_000_000,
    "01810": 25_000_000_000,
    "07000": 900_000_000,
}
DAY_TURNOVER = {  # today's turnover so far from the daily bar (HK$)
    "00700": 9.1e9,
    "09988": 6.2e9,
    "03690": 4.0e9,
    "00005": 2.5e9,
    "01810": 3.3e9,
    "07000": 2.0e6,
}
SECTORS = {
    "00700": "Information Technology",
    "09988": "Consumer Discretionary",
    "03690": "Consumer Discretionary",
    "00005": "Financials",
    "01810": "Information Technology",
    "07000": "Industrials",
}


def with_reference(app: BoardApp) -> BoardApp:
    """The board after the REST answers: the day's bars (with turnover) and hk_shares."""
    stats = {
        c: DayStats(p, p, LAST[c] * 1.01, p * 0.99, int(DAY_TURNOVER[c] / p), None, DAY_TURNOVER[c])
        for c, p in PREV.items()
    }
    app.model.apply(
        [ReferenceData(stats=stats), ReferenceData(shares=SHARES, kind="shares")], NOW - 5
    )
    return app


def history_bars(code: str, timeframe: str) -> list[Bar]:
    """Deterministic ``GET kline`` answers for the detail view's timeframes."""
    from hkticks.alltick.rest_frames import Bar as KBar

    last = LAST[code]
    day0 = (int(NOW) // 86_400) * 86_400 - 8 * 3600  # today 00:00 HKT, epoch s
    out: list[KBar] = []
    if timeframe == "1D":
        for i in range(60):  # 09:30 .. 10:29, then the board's own minutes follow
            ts = (day0 + 9 * 3600 + 1800 + i * 60) * 1000
            p = round(last * (0.985 + 0.0003 * i), 2)
            out.append(
                KBar(
                    code,
                    ts,
                    p,
                    p * 1.001,
                    p * 0.999,
                    p,
                    1000 + 37 * (i % 7),
                    p * (1000 + 37 * (i % 7)),
                )
            )
        return out
    if timeframe == "5D":
        for d in range(5):
            for k in range(23):
                minute = 9 * 60 + 30 + k * 15 if k < 10 else 13 * 60 + (k - 10) * 15
                ts = (day0 - (4 - d) * 86_400 + minute * 60) * 1000
                p = round(last * (0.96 + 0.002 * (d * 23 + k) % 0.08), 2)
                out.append(
                    KBar(
                        code,
                        ts,
                        p,
                        p * 1.003,
                        p * 0.997,
                        p * 1.001,
                        20_000 + 900 * (k % 5),
                        p * 20_000,
                    )
                )
        return out
    for d in range(250):
        ts = (day0 - (249 - d) * 86_400) * 1000
        p = round(last * (0.7 + 0.3 * ((d * 7) % 100) / 100 + 0.001 * d), 2)
        out.append(
            KBar(code, ts, p, p * 1.02, p * 0.98, p * 1.005, 5_000_000 + 70_000 * (d % 9), p * 5e6)
        )
    return out
