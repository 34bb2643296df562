"""One archive query: a :class:`~hkticks.storage.selection.Selection` over recordings
-> the selected rows as one Arrow table (the archive's schema).

``hkticks.read_frame`` is this table as a DataFrame. Parquet (the archive, or
hkticks Parquet files) is read by DuckDB when it is installed (faster than
Arrow's dataset scan on two cores, measured), else by Arrow with the
selection pushed down; every other format goes through the streaming reader
(:class:`~hkticks.storage.readers.Recording`). Whichever path reads it, the
selection means the same (it translates itself, see
:mod:`hkticks.storage.selection`).

Rows come in the archive's order on Parquet (day by day, each by
``(symbol, ts)``: one symbol is in exchange-time order), in the recording's
order otherwise.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hkticks.storage import parquet
from hkticks.storage.selection import Selection
from hkticks.tick import RECORD_FIELDS


@dataclass
class Selected:
    """The rows a query selected, and one line per file or part it had to skip."""

    table: Any
    problems: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # what was read (for provenance)


def all_parquet(paths: Sequence[str]) -> bool:
    """Whether every path is an archive folder or a Parquet file."""
    return all(
        (os.path.isdir(p) and parquet.is_archive(p))
        or (os.path.isfile(p) and parquet.is_parquet_path(p))
        for p in paths
    )


def select_table(paths: Sequence[str], selection: Selection, *, engine: str = "auto") -> Selected:
    """The trades of ``paths`` that ``selection`` keeps, as an Arrow table.

    ``engine`` for Parquet: ``"auto"`` (DuckDB when installed) or ``"arrow"``."""
    from hkticks.storage.readers import Recording
    from hkticks.storage.recording_paths import expand_paths

    parquet.pyarrow_modules()
    if paths and all_parquet(paths):
        files: list[str] = []
        problems: list[str] = []
        for p in expand_paths(paths):
            for source in parquet.parquet_sources(p, selection):
                files.extend(source.files)
                problems.extend(source.problems)
        table = _duckdb(files, selection) if engine == "auto" else None
        if table is None:  # no DuckDB, or a part damaged inside: Arrow, part by part
            table, damaged = parquet.read_parts(files, selection)
            problems.extend(damaged)
            if selection.by_time_of_day:
                table = table.filter(selection.arrow_mask(table))
        return Selected(table, problems, files)
    recording = Recording(list(paths), selection)
    buf = parquet.ColumnBuffer()
    buf.add_all(iter(recording))
    return Selected(buf.table(), recording.problems(), [f.path for f in recording.files])


_local = threading.local()


def _connection(duckdb: Any) -> Any:
    """This thread's DuckDB connection (opening one costs more than a small query)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
    return con


def _duckdb(files: list[str], sel: Selection) -> Any:
    """The selected rows of Parquet parts read by DuckDB, as an Arrow table of the
    archive schema; ``None`` without DuckDB or when a part cannot be read (Arrow then)."""
    try:
        import duckdb
    except ImportError:
        return None
    if not files:
        return parquet.schema().empty_table()
    pa, _, _ = parquet.pyarrow_modules()
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    # the columns as stored (timestamps stay timestamps: no conversion per row); the
    # symbols filter on the raw column (pushed to the row groups), the time bounds on
    # epoch ms, the unit every engine compares in
    where = "TRUE" if sel.everything else sel.sql(ts="epoch_ms(ts)")
    query = f"SELECT {', '.join(RECORD_FIELDS)} FROM read_parquet([{listed}]) WHERE {where}"
    try:
        rel = _connection(duckdb).sql(query)
        table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    except duckdb.Error:
        return None  # a part damaged inside: the Arrow path names and skips it
    sch = parquet.schema()
    arrays = [table.column(f.name).cast(f.type) for f in sch]  # us -> ms: whole ms stored
    return pa.Table.from_arrays(arrays, schema=sch)
