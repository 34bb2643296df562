"""``hkticks bench``: speed measured as ratios against baselines run in the same process.

Owns ``measure.py`` (throughput and latency of the pipeline against
websocket-client's own receive loop, and ``run``, every measurement asked
for), ``processes.py`` (the server process, one trial per child, CPU and RSS
from ``/proc``), ``trials.py`` (the child side: one measured client per
process), ``targets.py`` (every target and its check), ``soak.py`` (a real
recorder's RSS over minutes), ``render.py`` (board frame cost and CPU share),
``dash.py`` (the web dashboard in headless Chromium), ``alerts_bench.py`` (the
anomaly engine's precision, recall and cost), ``servers_bench.py`` (NATS and
PostgreSQL outputs), ``stats_bench.py`` (stats, read_frame and compact on a
generated day), ``data.py`` (that day) and ``report.py`` (every figure as Rich
tables, for the CLI).

Must not: be imported by the product (only cli/ imports it).
"""
