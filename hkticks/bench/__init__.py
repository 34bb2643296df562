"""``hkticks bench``: speed measured as ratios against baselines run in the same process.

Owns ``runner.py`` (throughput and latency of the pipeline against
websocket-client's own receive loop), ``render.py`` (board frame cost and
CPU share), ``alerts_bench.py`` (the anomaly engine's precision, recall and
cost), ``servers_bench.py`` (NATS and PostgreSQL outputs), ``stats_bench.py``
(stats, read_frame and compact on a generated day), ``data.py`` (that day)
and ``report.py`` (every figure as Rich tables, for the CLI).

Must not: be imported by the product (only cli/ imports it).
"""
