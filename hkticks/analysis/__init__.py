"""Analysis of ticks, live or recorded: the same answers either way.

Owns ``stats.py`` (per-symbol summaries of recordings) with
``stats_duckdb.py`` (the same figures computed by DuckDB from the files),
``gap_records.py`` (the ``gap`` records of events sidecars), ``validate.py``
and ``validate_view.py`` (data-quality rules and their tables), ``replay.py``
(recordings played back at a chosen speed into the same queue a live feed
fills), ``anomaly.py`` (the pure anomaly engine: ticks in, alerts out) with
``alert_config.py`` (its thresholds and per-symbol baselines),
``anomaly_state.py`` (its per-symbol state and readiness) and
``session_clock.py`` (the continuous sessions' minutes), ``baselines.py``
(what previous days say is usual, cached), ``alerts.py`` (delivery: command,
webhook, log, bell), ``scoring.py`` (alerts against a scenario's truth) and
``units.py`` (numbers as a trader reads them).

Must not: do I/O inside a pure engine, render screens (watch/ does), or import
watch/, cli/ or server/.
"""
