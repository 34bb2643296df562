"""Deterministic boards for the Pilot and snapshot tests: fixed clock, fixed trades."""

from __future__ import annotations

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
