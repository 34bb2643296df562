"""The Storage Agent: recordings written and read back.

Owns ``recorder.py`` (the writer thread draining the queue), ``sinks/`` (one
module per output format, rotation, compression), ``resume.py`` (where an
existing output stopped, so appends repeat nothing), ``recording_paths.py``
(which files a list of paths names, and their formats), ``readers.py`` (every
recorded format read back as ticks, in time order), ``sidecars.py`` (session
events sidecars read back), ``selection.py`` (the one selection every reader
and engine applies), ``query.py`` (a selection over recordings -> an Arrow
table, for ``read_frame``), ``archive.py`` (the Parquet archive's layout and
reading), ``parquet.py`` (compaction into it), ``daily_compact.py`` (each day
compacted when it closes), ``arrow.py`` (pyarrow and the schema),
``part_figures.py`` (per-symbol figures kept in each part's footer),
``file_report.py`` (what a read skipped) and ``provenance.py`` (real or
simulated data).

Must not: block a socket thread, or import watch/, analysis/, cli/ or server/.
"""
