"""The Storage Agent: recordings written and read back.

Owns ``recorder.py`` (the writer thread draining the queue), ``sinks/`` (one
module per output format, rotation, compression), ``resume.py`` (where an
existing output stopped, so appends repeat nothing), ``readers.py`` (every
recorded format read back as ticks, in time order), ``selection.py`` (the one
selection every reader and engine applies), ``query.py`` (a selection over
recordings -> an Arrow table, for ``read_frame``), ``parquet.py`` (the archive:
compact, parts, reading) and ``part_figures.py`` (per-symbol figures kept in
each part's footer).

Must not: block a socket thread, or import watch/, analysis/, cli/ or server/.
"""
