"""The use-case layer: the jobs the CLI and the Python API both run.

Owns: source specs turned into one feed (``source.py``: AllTick, the demo
market for the run's lifetime, a NATS stream), output specs parsed once from
``--out`` with their redacted names (``outputs.py``), the record job
(``record_job.py``: sinks, sidecar, follower sink, dedup seeded from the outputs,
provenance guard, compactor, empty-file cleanup) and the alerts job
(``alerts_job.py``: the anomaly engine over a feed, its config and baselines,
delivery channels). ``cli/`` turns options into these specs and prints;
``api.py`` builds the same specs from Python arguments.

Must not: parse command-line options, print, or call ``sys.exit``; import
``cli`` or ``api``; hold protocol, storage or analysis logic of its own (that
stays in ``alltick/``, ``feed/``, ``storage/``, ``analysis/``).
"""
