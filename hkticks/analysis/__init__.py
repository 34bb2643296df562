"""Analysis of ticks, live or recorded: the same answers either way.

Owns ``stats.py`` (per-symbol summaries of recordings) and ``replay.py``
(recordings played back at a chosen speed into the same queue a live feed
fills).

Must not: do I/O inside a pure engine, render screens (watch/ does), or import
watch/, cli/ or server/.
"""
