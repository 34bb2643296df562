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
order otherwise. The table has the archive's columns and types, except that
its strings are ``large_string`` (:func:`frame_schema`): what a pandas
``str`` column holds, so a DataFrame takes them without a copy (with plain
strings, pandas' cast of 3M rows costs as much as DuckDB's read of them).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hkticks.errors import UsageError
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

    pa, _, _ = parquet.pyarrow_modules()
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
            table = table.cast(frame_schema())
        return Selected(table, problems, files)
    recording = Recording(list(paths), selection)
    buf = parquet.ColumnBuffer()
    buf.add_all(iter(recording))
    table = buf.table().cast(frame_schema())
    return Selected(table, recording.problems(), [f.path for f in recording.files])


def frame_schema() -> Any:
    """The archive's schema with ``large_string`` strings: the table :func:`select_table` gives."""
    pa, _, _ = parquet.pyarrow_modules()
    sch = parquet.schema()
    return pa.schema(
        [f.with_type(pa.large_string()) if pa.types.is_string(f.type) else f for f in sch]
    )


_local = threading.local()


def _connection(duckdb: Any) -> Any:
    """This thread's DuckDB connection (opening one costs more than a small query)."""
    con = getattr(_local, "con", None)
    if con is None:  # strings to Arrow as large_string: no cast after (see frame_schema)
        con = _local.con = duckdb.connect(config={"arrow_large_buffer_size": True})
    return con


def _duckdb(files: list[str], sel: Selection) -> Any:
    """The selected rows of Parquet parts read by DuckDB, as an Arrow table of the
    archive schema; ``None`` without DuckDB or when a part cannot be read (Arrow then)."""
    try:
        import duckdb
    except ImportError:
        return None
    if not files:
        return frame_schema().empty_table()
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
    sch = frame_schema()
    arrays = [  # us -> ms (whole ms stored); the other columns come as they are
        col.cast(f.type) if (col := table.column(f.name)).type != f.type else col for f in sch
    ]
    return pa.Table.from_arrays(arrays, schema=sch)


# -- as a DataFrame (``hkticks.read_frame``) -------------------------------------------

HK_TZ = "Asia/Hong_Kong"
FRAME_HINT = "pip install 'hkticks[parquet]' (and pandas or polars)"


def frame_of(paths: Sequence[str], selection: Selection, backend: str) -> Any:
    """The trades of ``paths`` that ``selection`` keeps as a DataFrame (:func:`to_frame`);
    parts skipped are warned about (at the caller of ``read_frame``). A pandas
    frame's ``attrs["data"]`` says what its rows are, from their ``src``."""
    import warnings

    from hkticks.storage import provenance

    try:
        _, pc, _ = parquet.pyarrow_modules()
    except UsageError:
        raise UsageError(f"read_frame() needs pyarrow: {FRAME_HINT}") from None
    selected = select_table(paths, selection)
    for line in selected.problems:
        warnings.warn(f"hkticks: {line}", stacklevel=3)
    table = selected.table
    frame = to_frame(table, backend)
    if backend == "pandas":  # what the rows are, as `stats` says it (polars: see `src`)
        srcs = pc.unique(table.column("src")).to_pylist()
        frame.attrs["data"] = provenance.kind_of_sources(srcs) or "none"
    return frame


def to_frame(table: Any, backend: str = "pandas") -> Any:
    """An archive-schema Arrow table as a DataFrame: ``symbol`` a string,
    ``ts``/``recv_ts`` timezone-aware (Asia/Hong_Kong, ms), ``price``/``turnover``
    float64, ``volume`` int64, ``seq`` a nullable int64, ``side``/``src`` strings."""
    pa, _, _ = parquet.pyarrow_modules()
    hk = pa.timestamp("ms", tz=HK_TZ)
    cols = []
    for name in RECORD_FIELDS:
        col = table.column(name)
        if name in ("ts", "recv_ts"):
            col = col.cast(hk)
        cols.append(col)
    table = pa.table(dict(zip(RECORD_FIELDS, cols, strict=True)))
    if backend == "polars":
        try:
            import polars as pl
        except ImportError:
            raise UsageError("backend='polars' needs polars: pip install polars") from None
        return pl.from_arrow(table)
    if backend != "pandas":
        raise UsageError(f"backend={backend!r}: use 'pandas' or 'polars'")
    try:
        import pandas as pd
    except ImportError:
        raise UsageError("backend='pandas' needs pandas: pip install pandas") from None
    df = table.to_pandas()
    if table.column("seq").null_count:  # int64 with holes: nullable Int64, never float
        df["seq"] = pd.array(table.column("seq").to_pylist(), dtype="Int64")
    for name in ("symbol", "side", "src"):
        if not pd.api.types.is_string_dtype(df[name]):
            df[name] = df[name].astype("string")
    return df
