"""The board: live quotes on a terminal.

Owns ``model.py`` (pure: ticks and reference data in, rows out),
``buffers.py`` (pure: per-symbol 1-minute bars and trades for the detail
view), ``columns.py`` and ``layout.py`` (which columns, the saved layout and
watchlists), ``view.py`` (number formatting and the Rich frame), the Textual
app ``app.py`` (one app; the heatmap and detail are its screens) with its
widgets ``table.py`` (only the visible rows are drawn), ``detail.py``
(chart with timeframes, tape, depth ladder), ``alerts_pane.py``,
``notices.py`` (one line instead of toasts) and ``dialogs.py`` (help,
columns, the ``+`` prompt), ``pump.py`` (the queue pump the app calls each
frame, the REST reference thread, and ``--json``), ``alert_feed.py`` (the
anomaly engine over drained batches) and ``live.py`` (the board without a
screen: model, buffers, pump, reference data; no Textual import); the
heatmap: ``heatmap.py`` (pure treemap layout, stable placement and its Rich
renderable) and ``heatmap_screen.py`` (the Textual widget and screens).

Must not: compute analytics itself (it asks analysis/), write recordings, or
import cli/ or server/.
"""
