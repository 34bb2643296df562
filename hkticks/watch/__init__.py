"""The board: live quotes on a terminal.

Owns ``model.py`` (pure: ticks and reference data in, rows out), ``view.py``
(rendering the model, only the rows that are visible) and ``runner.py`` (the
loop that feeds the model from the queue and redraws at a fixed rate, and the
REST reference thread).

Must not: compute analytics itself (it asks analysis/), write recordings, or
import cli/ or server/.
"""
