"""The Storage Agent: recordings written and read back.

Owns ``recorder.py`` (the writer thread draining the queue), ``sinks/`` (one
module per output format, rotation, compression), ``resume.py`` (where an
existing output stopped, so appends repeat nothing) and ``readers.py`` (every
recorded format read back as ticks, in time order).

Must not: block a socket thread, or import watch/, analysis/, cli/ or server/.
"""
