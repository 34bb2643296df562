"""``hkticks bench``: speed measured as ratios against baselines run in the same process.

Owns ``runner.py`` (throughput and latency of the pipeline against
websocket-client's own receive loop) and ``render.py`` (board frame cost and
CPU share).

Must not: be imported by the product (only cli/ imports it).
"""
