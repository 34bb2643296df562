"""The board's alerts pane: the latest alerts, newest first (``a`` shows or hides it)."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widget import Widget

from hkticks.analysis.anomaly import Alert
from hkticks.market_hours import hk_time_text

KEEP = 200  # alerts kept in the pane (the engine's counters keep the totals)


class AlertsPane(Widget):
    """Docked at the bottom of the board; one line per alert: HK time, code, kind, message."""

    DEFAULT_CSS = """
    AlertsPane { dock: bottom; height: 8; border-top: solid $accent; display: none;
                 text-wrap: nowrap; text-overflow: ellipsis; }
    AlertsPane.shown { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(id="alerts")
        self.alerts: deque[Alert] = deque(maxlen=KEEP)
        self.total = 0

    @property
    def shown(self) -> bool:
        return self.has_class("shown")

    def toggle(self) -> None:
        self.toggle_class("shown")

    def add(self, alert: Alert) -> None:
        self.alerts.appendleft(alert)
        self.total += 1
        if self.shown:
            self.refresh()

    def lines(self) -> list[str]:
        """What the pane shows, newest first (plain text, for tests and the tmux check)."""
        return [f"{hk_time_text(a.ts)}  {a.symbol}  {a.kind:<12}  {a.message}" for a in self.alerts]

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" alerts {self.total}", "bold")
        text.append("  (a hides)\n", "dim")
        if not self.alerts:
            text.append(" none yet", "dim")
        rows = max(1, self.size.height - 2)
        for line in self.lines()[:rows]:
            text.append(" " + line + "\n")
        return text
