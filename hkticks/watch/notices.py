"""One line for the board's notices, instead of toasts that float over the data.

Textual's toasts sit in the bottom-right corner, over price cells and tiles
for seconds. The board keeps ``notify`` (so every notice is recorded and
timed as usual) but hides the toast rack and shows the newest notice that
has not expired on this line, docked above the footer on every screen; it
takes room only while there is something to say.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class Notices(Widget):
    """The newest live notice (``title: message``) on one line, or nothing."""

    DEFAULT_CSS = """
    Notices { dock: bottom; height: 1; display: none; background: $boost;
              text-wrap: nowrap; text-overflow: ellipsis; }
    Notices.shown { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(classes="notices")
        self._text = ""
        self._severity = "information"

    def show_latest(self) -> None:
        """Show the newest notification that has not expired (hide when there is none)."""
        latest = None
        for note in self.app._notifications:
            if not note.has_expired:
                latest = note
        if latest is None:
            if self.has_class("shown"):
                self.remove_class("shown")
            return
        title = f"{latest.title}: " if latest.title else ""
        text = title + " · ".join(line for line in latest.message.splitlines() if line)
        if text != self._text or latest.severity != self._severity:
            self._text, self._severity = text, latest.severity
            self.refresh()
        if not self.has_class("shown"):
            self.add_class("shown")

    def render(self) -> Text:
        style = {"error": "bold red", "warning": "bold yellow"}.get(self._severity, "bold")
        return Text(" " + self._text, style=style, no_wrap=True, overflow="ellipsis")
