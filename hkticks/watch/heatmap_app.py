"""``hkticks watch --heatmap``: the heatmap screen alone, fed by the live feed.

The feed's threads fill the queue; the app drains it every refresh (2 Hz)
into the board's pure model (prices, change, turnover) and the anomaly
engine (alerts flash their tile, show as a toast and in the status line,
and optionally ring the bell). Enter on a tile shows that symbol's figures.
Market caps come from ``static_info``'s ``hk_shares`` when the reference
data has them; otherwise the tiles are sized by turnover.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from textual.app import App
from textual.binding import Binding

from hkticks.analysis.anomaly import Alert, AnomalyEngine
from hkticks.market_hours import hk_time_text
from hkticks.watch.alert_feed import AlertFeed
from hkticks.watch.heatmap import TileData, tiles_from_rows
from hkticks.watch.heatmap_screen import HeatmapMap, HeatmapScreen
from hkticks.watch.model import WatchModel


def shares_of(infos: Mapping[str, Any]) -> dict[str, float]:
    """``hk_shares`` per code from static_info values, read defensively (absent: left out)."""
    out: dict[str, float] = {}
    for code, info in infos.items():
        raw = getattr(info, "hk_shares", None)
        try:
            value = float(raw) if raw not in (None, "") else 0.0
        except (TypeError, ValueError):
            value = 0.0
        if value > 0:
            out[code] = value
    return out


class HeatmapApp(App[None]):
    """A Textual app showing :class:`HeatmapScreen` over a queue of ticks."""

    TITLE = "hkticks heatmap"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        model: WatchModel,
        queue: Any,
        *,
        engine: AnomalyEngine | None = None,
        size: str = "cap",
        equal: bool = False,
        clamp: float = 5.0,
        colors: str = "west",
        lang: str = "en",
        demo: bool = False,
        bell: bool = False,
        on_alert: Callable[[Alert], None] | None = None,
        feed: Any = None,
        deadline: float | None = None,
        refresh_s: float = 0.5,
        groups: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.groups = dict(groups or {})  # code -> watchlist group: one block per group
        self.model = model
        self.queue = queue
        self.engine = engine
        self._alert_feed = AlertFeed(engine) if engine is not None else None
        self.size_mode = size
        self.lang = lang
        self.demo = demo
        self.bell_on = bell
        self.on_alert = on_alert
        self.feed = feed
        self.deadline = deadline
        self.shares: dict[str, float] = {}
        self.alerts: deque[Alert] = deque(maxlen=50)
        self.sized_by = size
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self.heatmap = HeatmapScreen(
            self.tiles,
            equal=equal or size == "equal",
            clamp=clamp,
            colors=colors,
            refresh_s=refresh_s,
            status=self.status_line,
            exit_on_leave=True,
        )

    def on_mount(self) -> None:
        self.push_screen(self.heatmap)
        self.set_interval(0.25, self.pump)

    def set_shares(self, shares: Mapping[str, float]) -> None:
        """From the reference thread (``hk_shares``); read under a lock by :meth:`tiles`."""
        with self._lock:
            self.shares = dict(shares)

    # -- data --------------------------------------------------------------------

    def pump(self) -> None:
        """Drain the queue into the model and the engine; flash the tiles of new alerts."""
        items = self.queue.get_batch(1 << 20, 0)
        now = time.time()
        if items:
            self.model.apply(items, now)
            if self._alert_feed is not None:
                for alert in self._alert_feed.apply(items):
                    self._alert(alert)
        if self.feed is not None:
            if self.feed.fatal is not None:
                self.error = self.feed.fatal
                self.exit()
            elif self.feed.done.is_set():
                self.exit()
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.exit()

    def _alert(self, alert: Alert) -> None:
        self.alerts.appendleft(alert)
        self.heatmap.flash(alert.symbol)
        self.notify(alert.message, title=alert.kind, timeout=4)
        if self.bell_on:
            self.bell()
        if self.on_alert is not None:
            self.on_alert(alert)

    def tiles(self) -> Sequence[TileData]:
        with self._lock:
            shares = self.shares
        size = "turnover" if self.size_mode == "equal" else self.size_mode
        tiles, used = tiles_from_rows(
            self.model.rows.values(), size=size, shares=shares, groups=self.groups, lang=self.lang
        )
        self.sized_by = "equal" if self.size_mode == "equal" else used
        return tiles

    def status_line(self) -> str:
        m = self.model
        demo = "DEMO (simulated prices)  " if self.demo else ""
        sized = {"cap": "area: market cap", "turnover": "area: turnover", "equal": "equal tiles"}[
            self.sized_by
        ]
        last = ""
        if self.alerts:
            a = self.alerts[0]
            last = f"  last alert {hk_time_text(a.ts)} {a.symbol} {a.kind}"
        return f" {demo}{len(m.rows)} symbols  {m.trades:,} trades  {sized}  alerts {len(self.alerts)}{last}"

    def on_heatmap_map_tile_selected(self, message: HeatmapMap.TileSelected) -> None:
        row = self.model.rows.get(message.symbol)
        if row is None:
            return
        chg = "--" if row.change_pct is None else f"{row.change_pct:+.2f}%"
        self.notify(
            f"{row.code} {row.name(self.lang)}\nlast {row.last}  change {chg}\n"
            f"trades {row.trades:,}  volume {row.volume:,}  turnover {row.turnover:,.0f}",
            title="detail",
            timeout=6,
        )


def run_heatmap(
    feed: Any,
    queue: Any,
    codes: Sequence[str],
    names: Mapping[str, tuple[str, str]],
    *,
    rest: Any,
    engine: AnomalyEngine | None,
    size: str,
    clamp: float,
    colors: str,
    lang: str,
    demo: bool,
    duration: float | None,
) -> WatchModel:
    """Run ``hkticks watch --heatmap`` until the user leaves (q, Esc, Ctrl-C) or ``duration``."""
    from hkticks.watch.runner import start_reference_thread

    model = WatchModel(list(codes), names=names, started=time.time())
    deadline = time.monotonic() + duration if duration else None
    app = HeatmapApp(
        model,
        queue,
        engine=engine,
        size=size,
        clamp=clamp,
        colors=colors,
        lang=lang,
        demo=demo,
        feed=feed,
        deadline=deadline,
    )
    stop = threading.Event()
    missing = [c for c in codes if c not in names]

    def shares_worker() -> None:
        try:
            app.set_shares(shares_of(rest.static_info(list(codes))))
        except Exception:  # sizes fall back to turnover; the board's own fetch reports errors
            return

    feed.start()
    start_reference_thread(rest, codes, missing, queue, stop)
    if size == "cap":
        threading.Thread(target=shares_worker, name="hkticks-heatmap-shares", daemon=True).start()
    try:
        app.run()
    finally:
        stop.set()
        feed.stop()
    if app.error is not None:
        raise app.error
    return model
