"""The board: live quotes on a terminal.

Owns ``model.py`` (pure: ticks and reference data in, rows out), ``view.py``
(rendering the model, only the rows that are visible) and ``runner.py`` (the
loop that feeds the model from the queue and redraws at a fixed rate, and the
REST reference thread); the heatmap: ``heatmap.py`` (pure treemap layout and
its Rich renderable), ``heatmap_screen.py`` (the Textual widget and screen)
and ``heatmap_app.py`` (``watch --heatmap``, alerts from analysis/).

Must not: compute analytics itself (it asks analysis/), write recordings, or
import cli/ or server/.
"""
