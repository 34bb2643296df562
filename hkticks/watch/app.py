"""The trader's terminal: the Textual app around the board's model.

The app owns no data logic. Every frame (``frame_s``, four a second) it
calls ``pump`` -- which drains the feed's queue into the model and the
detail buffers and returns the feed's fatal error, if any -- then redraws:
the header (connections, ticks/s, market phase, DEMO / REPLAY / PAUSED,
advancers and decliners, turnover of what is shown), the column titles and
the table (a line-API widget drawing only the visible rows).

Keys (also in the footer, ``?`` and Ctrl-P): ``q`` quit, ``s``/``S`` sort
column / reverse, ``/`` filter (Esc clears), Tab watchlists, arrows,
PgUp/PgDn/Home/End and ``j``/``k``/``g``/``G``, ``+``/``-`` add to / remove
from the watchlist (saved), ``p`` pause the display, ``b`` book columns,
``c`` columns, ``w`` save the layout, Enter the detail view, ``h`` heatmap,
``a`` the alerts pane (Shift-Tab into it).

With a pump that carries the anomaly engine (:class:`~hkticks.watch.pump.BoardPump`
``alerts``), each alert goes to the alerts pane (newest first), the notices
line (:mod:`hkticks.watch.notices`: no toast covers the data), the
heatmap's tile flash when the heatmap is open, and the terminal bell with
``bell=True`` (``watch --bell``).

The heatmap (:class:`~hkticks.watch.heatmap_screen.BoardHeatmapScreen`,
``h``, or first with ``start="heatmap"``) and the detail view
(:class:`~hkticks.watch.detail.DetailScreen`) are screens of this one app,
over the same model and pump; keys of the table are hidden and inert there.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from hkticks.errors import HkticksError
from hkticks.market_hours import hk_time_text
from hkticks.stopping import StopFlag
from hkticks.watch.alerts_pane import AlertsPane
from hkticks.watch.buffers import Buffers
from hkticks.watch.columns import BY_KEY, ColumnLayout, hidden_notice
from hkticks.watch.detail import DetailScreen
from hkticks.watch.dialogs import AddCodeScreen, ColumnsScreen, HelpScreen
from hkticks.watch.heatmap_screen import DEFAULT_SCALE, BoardHeatmapScreen
from hkticks.watch.model import SORT_KEYS, SORT_LABELS, WatchModel
from hkticks.watch.notices import Notices
from hkticks.watch.table import ColumnHeader, QuoteTable, RowPainter, select_rows
from hkticks.watch.view import DEMO_BANNER, Board, Palette, fmt_money

FRAME_S = 0.2  # five frames a second: flashes fade in steps, keys show at once
ALL = "all"

Pump = Callable[[float], "HkticksError | None"]
# keys of the table: shown and working only on the board itself (not the heatmap or detail)
TABLE_ACTIONS = frozenset(
    {
        "sort",
        "reverse",
        "filter",
        "clear_filter",
        "next_watchlist",
        "detail",
        "pause",
        "book",
        "columns",
        "save_layout",
        "heatmap",
        "alerts",
        "focus_alerts",
        "add_code",
        "remove_code",
    }
)


class BoardHeader(Widget):
    """Three lines: status, what is shown, notes."""

    DEFAULT_CSS = """
    BoardHeader { height: 3; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, board: BoardApp) -> None:
        super().__init__()
        self.board = board

    def render(self) -> Text:
        b = self.board
        now = b.clock()
        width = max(20, self.size.width)
        rich_board = b.rich_board
        rich_board._width = width
        pal = b.palette
        badges: list[Segment] = []
        if b.simulated:
            badges.append(Segment(" DEMO ", pal.banner))
            badges.append(Segment(" "))
        replay = b.replay_status() if b.replay_status is not None else None
        if replay:
            badges.append(Segment(f" REPLAY {replay} ", pal.banner))
            badges.append(Segment(" "))
        if b.paused:
            badges.append(Segment(" PAUSED ", pal.title))
            badges.append(Segment(" "))
        used = sum(len(s.text) for s in badges)
        rich_board._width = max(10, width - used)
        status = badges + rich_board._header(now)
        text = Text()
        for seg in status:
            text.append(seg.text, seg.style)
        text.append("\n")
        rows = b.table.rows
        adv = sum(1 for r in rows if (r.change or 0) > 0)
        dec = sum(1 for r in rows if (r.change or 0) < 0)
        flat = sum(1 for r in rows if r.change == 0)
        whole_day = bool(rows) and all(r.bar_turnover is not None for r in rows)
        turnover = sum(r.day_turnover if whole_day else r.turnover for r in rows)
        text.append(f" ▲ {adv}", pal.up)
        text.append(f"  ▼ {dec}", pal.down)
        text.append(f"  = {flat}", pal.dim)
        text.append(f" · {b.watchlist} {len(rows)}/{len(b.model)}")
        if b.needle:
            text.append(" · filter: ")
            text.append(b.needle, "bold")
        down = (b.model.sort != "code") != b.table.reverse
        arrow = "" if b.model.sort == "given" else (" ▼" if down else " ▲")
        text.append(f" · sort: {SORT_LABELS[b.model.sort]}{arrow}")
        if whole_day:
            text.append(f" · turnover today {fmt_money(turnover)}")
        else:  # only what this board saw: say since when, beside the day's volume
            since = hk_time_text(int(b.model.started * 1000))[:5]
            text.append(f" · turnover seen since {since} {fmt_money(turnover)}")
        text.append("\n")
        notice = hidden_notice(b.hidden_columns)
        if notice:
            text.append(" " + notice + " ·", pal.warn)
        for seg in rich_board._notes(now):
            text.append(seg.text, seg.style)
        text.no_wrap = True  # one line each: a narrow terminal cuts, never wraps
        text.overflow = "ellipsis"
        return text


HEATMAP = "heatmap"  # the installed heatmap screen's name
MY_LIST = "mine"  # the watchlist ``+`` fills when the board shows all symbols


class BoardApp(App[None]):
    """The board: header, column titles, the table, an optional filter line, the footer."""

    TITLE = "hkticks"
    CSS = """
    #filter { dock: bottom; display: none; height: 3; }
    #filter.shown { display: block; }
    """
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse", key_display="S"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear", show=False),
        Binding("tab", "next_watchlist", "List", priority=True),
        Binding("enter", "detail", "Detail"),
        Binding("p", "pause", "Pause"),
        Binding("b", "book", "Book"),
        Binding("c", "columns", "Columns"),
        Binding("w", "save_layout", "Save"),
        Binding("h", "heatmap", "Heatmap"),
        Binding("a", "alerts", "Alerts"),
        Binding("shift+tab", "focus_alerts", "Alerts pane", show=False, priority=True),
        Binding("plus", "add_code", "Add", show=False, key_display="+"),
        Binding("minus", "remove_code", "Remove", show=False, key_display="-"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(
        self,
        model: WatchModel,
        *,
        pump: Pump | None = None,
        buffers: Buffers | None = None,
        colors: str = "west",
        names: str = "en",
        demo: bool = False,
        layout: ColumnLayout | None = None,
        reverse: bool = False,
        watchlists: Mapping[str, Iterable[str]] | None = None,
        watchlist: str = ALL,
        book_feed: bool = False,
        history: Callable[[str, str], Any] | None = None,
        request_shares: Callable[[], None] | None = None,
        sectors: Mapping[str, str] | None = None,
        start: str = "board",
        heatmap_scale: float = DEFAULT_SCALE,
        heatmap_area: str = "cap",
        heatmap_grid: bool = False,
        replay_status: Callable[[], str] | None = None,
        save_layout: Callable[[dict[str, Any]], str] | None = None,
        save_watchlists: Callable[[dict[str, list[str]]], str] | None = None,
        stop: StopFlag | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.time,
        frame_s: float = FRAME_S,
        bell: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.pump = pump
        self.buffers = buffers if buffers is not None else Buffers(model.rows)
        self.color_scheme = colors
        self.names = names
        self.demo = demo
        self.simulated = demo
        self.palette = Palette.scheme(colors)
        self.layout = layout if layout is not None else ColumnLayout(book=model.book)
        self.watchlists: dict[str, tuple[str, ...]] = {  # in the config's order
            name: tuple(dict.fromkeys(codes)) for name, codes in (watchlists or {}).items()
        }
        self.watchlist = watchlist if watchlist in self.watchlists else ALL
        self.book_feed = book_feed
        self.history = history  # (code, timeframe) -> bars: the detail view's history
        self._request_shares = request_shares
        self.sectors: dict[str, str] = dict(sectors or {})  # code -> sector (heatmap groups)
        self.start = start
        self.heatmap_scale = heatmap_scale
        self.heatmap_area = "turnover" if heatmap_area == "turnover" else "cap"
        self.heatmap_grid = heatmap_grid or heatmap_area == "equal"
        self.heatmap_groups = (
            "watchlists" if self.watchlists else "sectors" if self.sectors else "none"
        )
        self.replay_status = replay_status
        self.save_layout_to = save_layout
        self.save_watchlists_to = save_watchlists
        self.stop_flag = stop
        self.deadline = deadline
        self.clock = clock
        self.frame_s = frame_s
        self.needle = ""
        self.paused = False
        self.error: HkticksError | None = None
        self.hidden_columns: list[Any] = []
        self.rich_board = Board(model, colors=colors, names=names, demo=demo, clock=clock)
        self.table = QuoteTable(model, RowPainter(self.palette, names, colors), clock=clock)
        self.table.reverse = reverse
        self.frames = 0
        self.started_perf = time.perf_counter()
        self.bell_on = bell
        self.alerts_pane = AlertsPane()
        if pump is not None and hasattr(pump, "on_alert"):
            pump.on_alert = self.raise_alert  # type: ignore[attr-defined]

    # -- layout -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield BoardHeader(self)
        banner = Static(DEMO_BANNER, id="banner")
        banner.display = self.demo  # shown later too, when the data says it is simulated
        yield banner
        yield ColumnHeader(self.table)
        yield self.table
        yield Input(placeholder="filter: code or name (Enter keeps, Esc clears)", id="filter")
        yield self.alerts_pane
        yield Notices()
        yield Footer()

    def on_mount(self) -> None:
        banner = self.query_one("#banner", Static)
        banner.styles.background = "yellow"
        banner.styles.color = "black"
        banner.styles.text_style = "bold"
        banner.styles.text_align = "center"
        self.table.focus()
        self.redraw()
        self.set_interval(self.frame_s, self.frame)
        if self.start == "heatmap":
            self.action_heatmap()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The table's keys work (and show in the footer) only on the board itself."""
        if action in TABLE_ACTIONS and len(self.screen_stack) > 1:
            return False
        return True

    def request_shares(self) -> None:
        """The heatmap wants market caps: ``hk_shares`` fetched once (if there is REST)."""
        if self._request_shares is not None:
            self._request_shares()
        elif self.model.shares == "none":
            self.model.shares = "unavailable"

    # -- the frame --------------------------------------------------------------

    def show_simulated(self) -> None:
        """The data turned out simulated (a server's handshake, or ``src`` ``*-sim``): say so."""
        self.simulated = True
        self.rich_board.demo = True
        self.query_one("#banner", Static).display = True

    def _refresh_notifications(self) -> None:
        """Textual calls this when a notice is raised or expires: the board shows it on
        its notices line (:mod:`hkticks.watch.notices`), never as a toast over the data."""
        self.show_notices()

    def show_notices(self) -> None:
        try:
            screen = self.screen
        except Exception:  # no screen yet (starting) or any more (closing)
            return
        for line in screen.query(Notices):
            line.show_latest()

    def frame(self) -> None:
        self.show_notices()
        now = self.clock()
        if self.pump is not None:
            error = self.pump(now)
            if error is not None:
                self.error = error
                self.exit()
                return
            if not self.simulated and (
                getattr(self.pump, "simulated", False) or self.model.simulated
            ):
                self.show_simulated()
            if getattr(self.pump, "ended", False):
                self.exit()
                return
        if self.stop_flag is not None and self.stop_flag.is_set():
            self.exit()
            return
        if self.deadline is not None and time.monotonic() >= self.deadline:
            if self.stop_flag is not None:
                self.stop_flag.set("duration reached")
            self.exit()
            return
        if isinstance(self.screen, BoardHeatmapScreen):
            return  # the table is out of sight; the heatmap redraws itself (2 Hz)
        self.redraw()

    def redraw(self) -> None:
        """Recompute what is shown and repaint (paused: only the header moves)."""
        self.frames += 1
        if not self.paused:
            width = self.table.size.width or self.size.width
            shown, hidden = self.layout.fit(max(10, width - 1))
            self.hidden_columns = hidden
            members = self.watchlists.get(self.watchlist)
            rows = select_rows(
                self.model, reverse=self.table.reverse, needle=self.needle, members=members
            )
            self.table.set_rows(rows, shown)
            for w in self.query(ColumnHeader):
                w.refresh()
            screen = self.screen
            if isinstance(screen, DetailScreen):
                screen.update()
        for h in self.query(BoardHeader):
            h.refresh()
        self.model.dirty = False

    # -- actions --------------------------------------------------------------

    def action_sort(self) -> None:
        keys = SORT_KEYS
        self.model.sort = keys[(keys.index(self.model.sort) + 1) % len(keys)]
        self.table.reverse = False
        self.redraw()

    def action_reverse(self) -> None:
        self.table.reverse = not self.table.reverse
        self.redraw()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.value = self.needle
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("shown")
        box.value = ""
        self.needle = ""
        self.table.focus()
        self.redraw()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.needle = event.value.strip()
            self.table.cursor = 0
            self.table.scroll_to(y=0, animate=False)
            self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.remove_class("shown")
            self.needle = event.value.strip()
            self.table.focus()
            self.redraw()

    def on_key(self, event: Any) -> None:
        # Esc inside the filter box clears it (the box would otherwise keep the key)
        if event.key == "escape" and isinstance(self.focused, Input):
            event.stop()
            self.action_clear_filter()

    def action_next_watchlist(self) -> None:
        names = [ALL, *self.watchlists]
        self.watchlist = names[(names.index(self.watchlist) + 1) % len(names)]
        self.table.cursor = 0
        self.table.scroll_to(y=0, animate=False)
        self.redraw()
        self.notify(f"watchlist: {self.watchlist}", timeout=1.5)

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.redraw()

    def action_book(self) -> None:
        if not self.book_feed and not self.layout.book:
            # no order book is streamed: empty Bid/Ask columns would say nothing
            self.notify("no book data: start with --book for bid/ask", severity="warning")
            return
        self.layout.book = not self.layout.book
        self.model.book = self.layout.book
        self.redraw()

    def action_columns(self) -> None:
        def apply(keys: list[str] | None) -> None:
            if keys is not None:
                if not self.layout.book:  # book columns off: keep their choice as it was
                    book = {k for k in self.layout.enabled if BY_KEY[k].book}
                    keys = [k for k in keys if not BY_KEY[k].book] + sorted(book)
                self.layout.set_enabled(keys)
                self.redraw()

        self.push_screen(ColumnsScreen(self.layout.enabled, book=self.layout.book), apply)

    def layout_values(self) -> dict[str, Any]:
        return {
            "sort": self.model.sort,
            "reverse": self.table.reverse,
            "watchlist": self.watchlist,
            "columns": self.layout.saved(),
            "book": self.layout.book,
        }

    def action_save_layout(self) -> None:
        if self.save_layout_to is None:
            self.notify("nowhere to save the layout", severity="warning")
            return
        try:
            where = self.save_layout_to(self.layout_values())
        except (OSError, HkticksError) as exc:
            self.notify(f"layout not saved: {exc}", severity="error")
            return
        self.notify(f"layout saved to {where}")

    def action_detail(self) -> None:
        if isinstance(self.screen, DetailScreen):
            return
        row = self.table.selected
        if row is None:
            self.notify("no row selected", severity="warning")
            return
        self.open_detail(row)

    def open_detail(self, row: Any, *, at: int | None = None) -> None:
        """Push the detail view of ``row`` (a model row), ``at`` an exchange time (epoch ms)
        to mark (an alert's); fetch today's minutes once."""
        buffer = self.buffers.get(row.code)
        screen = DetailScreen(
            row,
            buffer,
            self.palette,
            names=self.names,
            book=self.book_feed,
            clock=self.clock,
            fetch=self.fetch_timeframe,
            at=at,
        )
        self.push_screen(screen)
        self.fetch_timeframe(row.code, "1D")

    def fetch_timeframe(self, code: str, timeframe: str) -> None:
        """Fetch ``code``'s bars for ``timeframe`` once, on a worker thread."""
        if self.history is None or not self.buffers.get(code).wants_history(timeframe):
            return
        self.run_worker(
            lambda: self._fetch(code, timeframe), thread=True, exclusive=False, group="history"
        )

    def _fetch(self, code: str, timeframe: str) -> None:
        """Worker thread: fetch the bars; merged on the app's thread."""
        assert self.history is not None
        try:
            bars = self.history(code, timeframe)
        except Exception:  # e.g. HTTP 404: the server has no /kline; the view says so quietly
            bars = None
        self.call_from_thread(self._merge_history, code, timeframe, bars)

    def _merge_history(self, code: str, timeframe: str, bars: Any) -> None:
        row = self.model.rows.get(code)
        self.buffers.get(code).take_history(
            timeframe, bars, day_volume=row.day_volume if row else None
        )
        if isinstance(self.screen, DetailScreen):
            self.screen.update()

    def action_heatmap(self) -> None:
        """``h``: the heatmap screen, made once and kept (installed): opening it again
        costs no compose, and its tiles keep their place across visits."""
        if not self.is_screen_installed(HEATMAP):
            self.install_screen(BoardHeatmapScreen(self, equal=self.heatmap_grid), HEATMAP)
        self.push_screen(HEATMAP)

    def on_heatmap_map_tile_selected(self, message: Any) -> None:
        """Enter on a heatmap tile: that symbol's detail view (Esc back to the heatmap)."""
        message.stop()
        row = self.model.rows.get(message.symbol)
        if row is not None and not isinstance(self.screen, DetailScreen):
            self.open_detail(row)

    # -- alerts ---------------------------------------------------------------

    def action_alerts(self) -> None:
        self.alerts_pane.toggle()
        if not self.alerts_pane.shown and self.focused is self.alerts_pane:
            self.table.focus()

    def action_focus_alerts(self) -> None:
        """Shift-Tab: into the alerts pane (shown if hidden), or back to the table."""
        pane = self.alerts_pane
        if self.focused is pane:
            self.table.focus()
            return
        if not pane.shown:
            pane.toggle()
        pane.focus()

    def on_alerts_pane_chosen(self, message: AlertsPane.Chosen) -> None:
        """Enter on an alert: its symbol's detail, marked at the alert's time."""
        message.stop()
        row = self.model.rows.get(message.alert.symbol)
        if row is None:
            self.notify(f"{message.alert.symbol} is not on this board", severity="warning")
            return
        self.open_detail(row, at=message.alert.ts)

    # -- watchlists: + and - ----------------------------------------------------

    def action_add_code(self) -> None:
        """``+``: a prompt with completion over the board's codes and names."""
        target = self.watchlist if self.watchlist != ALL else MY_LIST
        choices = [(r.code, r.name_en, r.name_cn) for r in self.model.rows.values()]

        def add(code: str | None) -> None:
            if code:
                self.change_watchlist(target, add=code)

        self.push_screen(AddCodeScreen(choices, target), add)

    def action_remove_code(self) -> None:
        """``-``: take the selected row's code off the current watchlist."""
        row = self.table.selected
        if self.watchlist == ALL:
            self.notify("- removes from a watchlist: Tab to one first", severity="warning")
            return
        if row is None:
            self.notify("no row selected", severity="warning")
            return
        self.change_watchlist(self.watchlist, remove=row.code)

    def change_watchlist(
        self, name: str, *, add: str | None = None, remove: str | None = None
    ) -> None:
        codes = list(self.watchlists.get(name, ()))
        if add is not None:
            if add in codes:
                self.notify(f"{add} is already in {name}")
                return
            codes.append(add)
        if remove is not None:
            if remove not in codes:
                return
            codes.remove(remove)
        self.watchlists[name] = tuple(codes)
        self.watchlist = name
        self.redraw()
        what = f"{add} added to {name}" if add else f"{remove} removed from {name}"
        if self.save_watchlists_to is None:
            self.notify(f"{what} (not saved: no config file)", severity="warning")
            return
        try:
            where = self.save_watchlists_to({k: list(v) for k, v in self.watchlists.items()})
        except (OSError, HkticksError) as exc:
            self.notify(f"{what}; not saved: {exc}", severity="error")
            return
        self.notify(f"{what}; saved to {where}")

    def raise_alert(self, alert: Any) -> None:
        """One alert from the engine: the pane, a toast, the heatmap tile, the bell."""
        self.alerts_pane.add(alert)
        self.notify(alert.message, title=alert.kind, timeout=4)
        for screen in self.screen_stack:
            flash = getattr(screen, "flash", None)
            if callable(flash):
                flash(alert.symbol)
        if self.bell_on:
            self.bell()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key in SORT_KEYS:
            yield SystemCommand(
                f"Sort by {SORT_LABELS[key]}",
                f"order the rows by {SORT_LABELS[key]}",
                lambda key=key: self._set_sort(key),
            )
        yield SystemCommand("Reverse order", "flip the sort order", self.action_reverse)
        yield SystemCommand(
            "Save layout", "columns, sort and watchlist to the config file", self.action_save_layout
        )
        yield SystemCommand("Choose columns", "show or hide columns", self.action_columns)
        yield SystemCommand("Toggle book columns", "bid and ask", self.action_book)
        yield SystemCommand("Pause display", "data keeps flowing", self.action_pause)
        yield SystemCommand("Heatmap", "the board as a heatmap", self.action_heatmap)
        yield SystemCommand("Alerts pane", "show or hide the alerts", self.action_alerts)
        for name in [ALL, *self.watchlists]:
            yield SystemCommand(
                f"Watchlist: {name}", "show this group", lambda name=name: self._set_watchlist(name)
            )

    def _set_sort(self, key: str) -> None:
        self.model.sort = key
        self.redraw()

    def _set_watchlist(self, name: str) -> None:
        self.watchlist = name
        self.redraw()

    # -- the end ----------------------------------------------------------------

    def on_unmount(self) -> None:
        path = os.environ.get("HKTICKS_WATCH_STATS")  # written for `hkticks bench --watch`
        if path:
            seconds = time.perf_counter() - self.started_perf
            stats = {"frames": self.frames, "renders": self.table.renders, "seconds": seconds}
            try:
                with open(path, "w", encoding="utf-8") as fh:
                    json.dump(stats, fh)
            except OSError:
                pass
