"""Which board columns show: the user's choice, then priority when the width is short.

The columns themselves (keys, headers, widths, priorities) are
:data:`hkticks.watch.view.COLUMNS`. A :class:`ColumnLayout` holds what the
user chose (``c`` chooser, ``b`` book toggle, the saved layout) and
:meth:`ColumnLayout.fit` drops the least important chosen columns until
the rest fit, returning the dropped ones so the board can say which are
hidden. Pure: no widgets here.
"""

from __future__ import annotations

from collections.abc import Iterable

from hkticks.watch.view import COLUMNS, Column

BY_KEY = {c.key: c for c in COLUMNS}
ALWAYS = ("code",)  # never hidden by the chooser
DEFAULT_HIDDEN = frozenset({"open"})  # shown only when asked for


class ColumnLayout:
    """The chosen columns and the book toggle."""

    def __init__(self, *, book: bool = False, enabled: Iterable[str] | None = None) -> None:
        self.book = book
        if enabled is None:
            keys = [c.key for c in COLUMNS if c.key not in DEFAULT_HIDDEN]
        else:
            keys = [k for k in enabled if k in BY_KEY]
            if not any(BY_KEY[k].book for k in keys):
                # saved with the book off: the book toggle (--book, b) decides about them
                keys += [c.key for c in COLUMNS if c.book]
        self.enabled: set[str] = set(keys) | set(ALWAYS)

    def candidates(self) -> list[Column]:
        """Chosen columns in display order (book columns only with the book on)."""
        return [c for c in COLUMNS if c.key in self.enabled and (self.book or not c.book)]

    def fit(self, width: int) -> tuple[list[Column], list[Column]]:
        """(columns that fit ``width`` cells in display order, chosen ones hidden for width)."""
        candidates = self.candidates()
        chosen: set[str] = set()
        used = 0
        for col in sorted(candidates, key=lambda c: c.priority):
            need = col.width + (1 if chosen else 0)
            if used + need <= width:
                chosen.add(col.key)
                used += need
        shown = [c for c in candidates if c.key in chosen]
        hidden = [c for c in candidates if c.key not in chosen]
        return shown, hidden

    def set_enabled(self, keys: Iterable[str]) -> None:
        self.enabled = {k for k in keys if k in BY_KEY} | set(ALWAYS)

    def saved(self) -> list[str]:
        """The chosen keys in display order, as the config file keeps them.

        With the book off no book column is written (they would show empty).
        """
        return [c.key for c in self.candidates()]


def hidden_notice(hidden: list[Column]) -> str:
    """``"hidden: High, Low, Open (c: columns)"`` or ``""``."""
    if not hidden:
        return ""
    names = ", ".join(c.header for c in hidden[:4])
    more = f" +{len(hidden) - 4}" if len(hidden) > 4 else ""
    return f"hidden for width: {names}{more} (c: columns)"
