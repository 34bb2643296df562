"""The board's alerts pane: the latest alerts, newest first (``a`` shows or hides it).

It takes focus (Shift-Tab from the table, or a click): ↑/↓ (or j/k) move
the selection and Enter posts :class:`AlertsPane.Chosen` so the app opens
that symbol's detail view marked at the alert's time; Esc goes back to the
table.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from hkticks.analysis.anomaly import Alert
from hkticks.market_hours import hk_time_text

KEEP = 200  # alerts kept in the pane (the engine's counters keep the totals)


class AlertsPane(Widget, can_focus=True):
    """Docked at the bottom of the board; one line per alert: HK time, code, kind, message."""

    DEFAULT_CSS = """
    AlertsPane { dock: bottom; height: 8; border-top: solid $accent; display: none;
                 text-wrap: nowrap; text-overflow: ellipsis; }
    AlertsPane.shown { display: block; }
    AlertsPane:focus { border-top: thick $accent; }
    """

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
        Binding("j", "move(1)", "Down", show=False),
        Binding("enter", "open", "Open alert"),
        Binding("escape", "leave", "Table"),
    ]

    class Chosen(Message):
        """Enter on an alert: open its symbol's detail at its time."""

        def __init__(self, alert: Alert) -> None:
            super().__init__()
            self.alert = alert

    def __init__(self) -> None:
        super().__init__(id="alerts")
        self.alerts: deque[Alert] = deque(maxlen=KEEP)
        self.total = 0
        self.cursor = 0  # index into ``alerts`` (0: the newest)

    @property
    def shown(self) -> bool:
        return self.has_class("shown")

    def toggle(self) -> None:
        self.toggle_class("shown")

    def add(self, alert: Alert) -> None:
        self.alerts.appendleft(alert)
        self.total += 1
        if self.cursor and self.has_focus:
            self.cursor = min(len(self.alerts) - 1, self.cursor + 1)  # stay on the same alert
        if self.shown:
            self.refresh()

    @property
    def selected(self) -> Alert | None:
        if 0 <= self.cursor < len(self.alerts):
            return self.alerts[self.cursor]
        return None

    def lines(self) -> list[str]:
        """What the pane shows, newest first (plain text, for tests and the tmux check)."""
        return [f"{hk_time_text(a.ts)}  {a.symbol}  {a.kind:<12}  {a.message}" for a in self.alerts]

    def _rows(self) -> int:
        return max(1, self.size.height - 2)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" alerts {self.total}", "bold")
        hint = "  (↑↓ choose, Enter opens, Esc table)\n" if self.has_focus else "  (a hides)\n"
        text.append(hint, "dim")
        if not self.alerts:
            text.append(" none yet", "dim")
        rows = self._rows()
        top = max(0, self.cursor - rows + 1)
        for i, line in enumerate(self.lines()[top : top + rows], top):
            style = "reverse" if self.has_focus and i == self.cursor else ""
            text.append(" " + line + "\n", style)
        return text

    def action_move(self, delta: int) -> None:
        if self.alerts:
            self.cursor = max(0, min(len(self.alerts) - 1, self.cursor + delta))
            self.refresh()

    def action_open(self) -> None:
        alert = self.selected
        if alert is not None:
            self.post_message(self.Chosen(alert))

    def action_leave(self) -> None:
        self.screen.focus_next()  # back to the table (the only other focusable widget)

    def on_focus(self, event: events.Focus) -> None:
        self.refresh()

    def on_blur(self, event: events.Blur) -> None:
        self.refresh()
