"""The board: live quotes on a terminal.

Owns ``model.py`` (pure: ticks and reference data in, rows out),
``buffers.py`` (pure: per-symbol 1-minute bars and trades for the detail
view), ``columns.py`` and ``layout.py`` (which columns, the saved layout and
watchlists), ``view.py`` (number formatting and the Rich frame), the Textual
app ``app.py`` with its widgets ``table.py`` (only the visible rows are
drawn) and ``detail.py`` (chart, tape, depth ladder), and ``runner.py`` (the
queue pump the app calls each frame, and the REST reference thread); the heatmap:
``heatmap.py`` (pure treemap layout and its Rich renderable),
``heatmap_screen.py`` (the Textual widget and screen) and ``heatmap_app.py``
(``watch --heatmap``, alerts from analysis/).

Must not: compute analytics itself (it asks analysis/), write recordings, or
import cli/ or server/.
"""
