"""Analysis of ticks, live or recorded: the same answers either way.

Owns ``stats.py`` (per-symbol summaries of recordings), ``replay.py``
(recordings played back at a chosen speed into the same queue a live feed
fills), ``anomaly.py`` (the pure anomaly engine: ticks in, alerts out),
``baselines.py`` (what previous days say is usual, cached), ``alerts.py``
(delivery: command, webhook, log, bell) and ``scoring.py`` (alerts against a
scenario's truth).

Must not: do I/O inside a pure engine, render screens (watch/ does), or import
watch/, cli/ or server/.
"""
