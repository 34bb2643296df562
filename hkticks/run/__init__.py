"""The use-case layer: the jobs the CLI and the Python API both run.

Owns: source specs turned into one feed (``source.py``: AllTick, the demo
market for the run's lifetime, a NATS stream), output specs parsed once from
``--out`` with their redacted names (``outputs.py``), the record job
(``record_job.py``: sinks, sidecar, follower sink, dedup seeded from the outputs,
provenance guard, compactor, empty-file cleanup) and the alerts job
(``alerts_job.py``: the anomaly engine over a feed, its config and baselines,
delivery channels), and the jobs of the other commands: the live board and
JSON stream (``watch_job.py``), the web dashboard (``dash_job.py``), a recording
played back (``replay_job.py``; served by the embedded server: ``replay_serve.py``),
recordings opened and checked once for every reader (``recordings.py``), the
checks of ``validate`` (``validate_job.py``), the embedded server with its chaos
and send log (``serve_job.py``), the Stock Connect list shown (``symbols_job.py``)
and the Parquet compaction (``compact_job.py``). ``cli/`` turns options into
these specs and prints; ``api.py`` builds the same specs from Python arguments.

Must not: parse command-line options, print, or call ``sys.exit``; import
``cli`` or ``api``; hold protocol, storage or analysis logic of its own (that
stays in ``alltick/``, ``feed/``, ``storage/``, ``analysis/``).
"""
