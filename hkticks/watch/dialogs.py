"""The board's dialogs: ``?`` help, ``c`` columns, ``+`` add a code (with completion).

Modal screens over the board, each closing with the user's answer (or
``None``): they hold no data of their own beyond what they are given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, OptionList, SelectionList, Static
from textual.widgets.selection_list import Selection

from hkticks.watch.columns import ALWAYS
from hkticks.watch.table import code_query
from hkticks.watch.view import COLUMNS


class HelpScreen(ModalScreen[None]):
    """``?``: every key, any key closes."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static { width: 84; height: auto; border: round $accent; padding: 1 2; background: $surface; }
    """

    KEYS = (
        ("q", "quit (detail view: back)"),
        ("s / S", "next sort column / reverse the order"),
        ("/", "filter by code or name (CN/EN); Enter keeps it, Esc clears"),
        ("Tab", "next watchlist ([watchlists] in the config file) or all"),
        ("← → ↑ ↓ PgUp PgDn Home End", "move and scroll (heatmap: between tiles)"),
        ("j k g G", "down / up / first / last row, as in less"),
        ("+ -", "add a code to the current watchlist / remove the selected row's code"),
        ("Enter", "detail: chart, time and sales, depth (--book)"),
        ("Esc / Backspace", "detail view: back to the board (Esc on the board clears the filter)"),
        ("1 2 3 4 5", "detail view: 1D, 5D, 1M, 6M, 1Y"),
        ("l", "detail view: chart as line or candles"),
        ("p", "pause the display (data keeps flowing)"),
        ("b", "book columns (bid/ask) on or off (needs --book)"),
        ("c", "choose columns"),
        ("w", "save columns, sort and watchlist to the config file"),
        ("h", "heatmap (h or Esc back)"),
        ("g", "heatmap: equal grid sorted by change, or treemap"),
        ("m", "heatmap: area by market cap or the day's turnover"),
        ("t", "heatmap: groups by watchlist, sector ([sectors] / --sectors) or none"),
        (
            "a / Shift-Tab",
            "alerts pane on or off / into it: ↑↓ choose, Enter opens the detail at its time",
        ),
        ("Ctrl-P", "command palette"),
        ("?", "this help"),
    )

    def __init__(self) -> None:
        super().__init__()
        self._dismissing = False  # (not "_closing": Textual's message pump owns that name)

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("hkticks board keys\n\n", "bold")
        for k, what in self.KEYS:
            text.append(f"{k:<24}", "bold")
            text.append(what + "\n")
        text.append("\nany key closes", "dim")
        yield Static(text)

    def on_key(self, event: Any) -> None:
        event.stop()
        if not self._dismissing:  # keys typed fast arrive before it is gone
            self._dismissing = True
            self.dismiss()


class ColumnsScreen(ModalScreen[list[str] | None]):
    """``c``: tick the columns to show (Enter or Esc closes and applies)."""

    DEFAULT_CSS = """
    ColumnsScreen { align: center middle; }
    ColumnsScreen > SelectionList { width: 40; height: auto; max-height: 80%; border: round $accent; }
    """
    BINDINGS = [
        Binding("escape", "done", "Apply", priority=True),
        Binding("enter", "done", "Apply", priority=True),
        Binding("c", "done", "Apply", show=False),
    ]

    def __init__(self, enabled: Iterable[str], *, book: bool = True) -> None:
        super().__init__()
        self.initial = set(enabled)
        self.book = book  # book columns are listed only while the book is on (b)

    def compose(self) -> ComposeResult:
        yield SelectionList[str](
            *[
                Selection(
                    f"{c.header}" + (" (book)" if c.book else ""), c.key, c.key in self.initial
                )
                for c in COLUMNS
                if c.key not in ALWAYS and (self.book or not c.book)
            ]
        )
        yield Footer()

    def action_done(self) -> None:
        chosen = self.query_one(SelectionList).selected
        self.dismiss([*ALWAYS, *chosen])


MATCHES = 8  # completions shown under the prompt


def completions(
    choices: Iterable[tuple[str, str, str]], typed: str, limit: int = MATCHES
) -> list[tuple[str, str]]:
    """(code, label) of the choices matching ``typed``: a code (``700``, ``0700.HK``) or its
    start, else a part of the English or Chinese name (any case). Pure."""
    needle = typed.strip()
    if not needle:
        return []
    code = code_query(needle)
    low = needle.lower()
    exact, starts, named = [], [], []
    for c, en, cn in choices:
        label = f"{c}  {en}  {cn}".rstrip()
        if code is not None and c == code:
            exact.append((c, label))
        elif needle.isdigit() and c.lstrip("0").startswith(needle.lstrip("0") or "0"):
            starts.append((c, label))
        elif low in en.lower() or (cn and needle in cn):
            named.append((c, label))
    return (exact + starts + named)[:limit]


class AddCodeScreen(ModalScreen[str | None]):
    """``+``: type a code or a name; the matches show below, Enter adds the first
    (or the one chosen with ↓), Esc cancels."""

    DEFAULT_CSS = """
    AddCodeScreen { align: center middle; }
    AddCodeScreen > Vertical { width: 64; height: auto; border: round $accent; background: $surface; }
    AddCodeScreen OptionList { height: auto; max-height: 10; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", priority=True)]

    def __init__(self, choices: Iterable[tuple[str, str, str]], target: str) -> None:
        super().__init__()
        self.choices = list(choices)
        self.target = target
        self.matches: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f" add to watchlist {self.target}: a code or a name (EN/CN)")
            yield Input(placeholder="e.g. 700, tencent, 腾讯", id="add-code")
            yield OptionList(id="add-matches")

    def on_mount(self) -> None:
        self.query_one("#add-code", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.matches = completions(self.choices, event.value)
        options = self.query_one("#add-matches", OptionList)
        options.clear_options()
        options.add_options([label for _code, label in self.matches])
        if self.matches:
            options.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(self.matches[0][0] if self.matches else None)

    def on_key(self, event: Any) -> None:
        if event.key == "down" and isinstance(self.focused, Input) and self.matches:
            event.stop()
            self.query_one("#add-matches", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.matches[event.option_index][0])

    def action_cancel(self) -> None:
        self.dismiss(None)
