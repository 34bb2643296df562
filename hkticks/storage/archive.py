"""The Parquet archive's layout and its reading: day folders, parts, their sources
(``src`` in the footer), and :class:`ParquetSource`, the reader every command uses.

Writing (``compact``) is :mod:`hkticks.storage.parquet`; the layout is described there.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from hkticks.errors import HkticksError
from hkticks.storage.arrow import MissingExtra, pyarrow_modules, schema
from hkticks.storage.file_report import FileReport
from hkticks.storage.selection import Selection
from hkticks.tick import RECORD_FIELDS, Tick

__all__ = ["MissingExtra", "pyarrow_modules", "schema"]

HKT_OFFSET_MS = 8 * 3600 * 1000
DAY_MS = 86_400_000
ROW_GROUP_ROWS = 131_072
CHUNK_ROWS = 65_536
BATCH_ROWS = 1_000_000
LOCK_NAME = ".hkticks-compact.lock"
TMP_SUFFIX = ".parquet.tmp"
EVENTS_DIR = "_events"
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def hk_date(ts_ms: int) -> str:
    """The Hong Kong date of an epoch in ms: ``YYYY-MM-DD``."""
    return time.strftime("%Y-%m-%d", time.gmtime((ts_ms + HKT_OFFSET_MS) // 1000))


# -- finding the archive ------------------------------------------------------------


def is_parquet_path(path: str) -> bool:
    return path.lower().endswith(".parquet")


def is_archive(path: str) -> bool:
    """Whether ``path`` is an archive folder (it holds ``date=YYYY-MM-DD`` folders)."""
    if not os.path.isdir(path):
        return False
    try:
        names = os.listdir(path)
    except OSError:
        return False
    return any(_DATE_DIR.match(n) and os.path.isdir(os.path.join(path, n)) for n in names)


def day_files(root: str) -> list[tuple[str, list[str]]]:
    """``(date, [part files])`` of an archive, oldest date first (temporary files never)."""
    out = []
    for name in sorted(os.listdir(root)):
        m = _DATE_DIR.match(name)
        folder = os.path.join(root, name)
        if not m or not os.path.isdir(folder):
            continue
        parts = sorted(
            os.path.join(folder, f)
            for f in os.listdir(folder)
            if f.endswith(".parquet") and not f.startswith((".", "_"))
        )
        if parts:
            out.append((m.group(1), parts))
    return out


# -- Arrow <-> ticks -----------------------------------------------------------------


class ColumnBuffer:
    """Ticks gathered column by column, turned into Arrow record batches."""

    def __init__(self) -> None:
        self.cols: tuple[list[Any], ...] = tuple([] for _ in RECORD_FIELDS)
        self.batches: list[Any] = []
        self.rows = 0

    def add_all(self, ticks: Iterable[Tick]) -> None:
        # the hot loop of every non-Arrow read: bound appends, no per-field lookups
        # (a loop over the fields per tick, or one map per field a chunk, is ~40% slower)
        sa, ta, pa_, va, tua, sda, qa, ra, sra = (c.append for c in self.cols)
        n = len(self.cols[0])
        for tick in ticks:
            sa(tick.symbol)
            ta(tick.ts)
            pa_(tick.price)
            va(tick.volume)
            tua(tick.turnover)
            sda(tick.side)
            qa(tick.seq)
            ra(tick.recv_ts)
            sra(tick.src)
            n += 1
            if n >= CHUNK_ROWS:
                self._cut()  # new lists: bind their appends
                sa, ta, pa_, va, tua, sda, qa, ra, sra = (c.append for c in self.cols)
                n = 0

    def _cut(self) -> None:
        pa, _, _ = pyarrow_modules()
        if self.cols[0]:
            sch = schema()
            arrays = [
                pa.array(col, type=f.type)
                if f.name not in ("ts", "recv_ts")
                else pa.array(col, type=pa.int64()).cast(f.type)
                for col, f in zip(self.cols, sch, strict=True)
            ]
            self.batches.append(pa.RecordBatch.from_arrays(arrays, schema=sch))
            self.rows += len(self.cols[0])
        self.cols = tuple([] for _ in RECORD_FIELDS)

    def table(self) -> Any:
        pa, _, _ = pyarrow_modules()
        self._cut()
        return pa.Table.from_batches(self.batches, schema=schema())


def ticks_of(table: Any) -> Iterator[Tick]:
    """The rows of an archive table (in its order) as :class:`Tick`."""
    pa, _, _ = pyarrow_modules()
    for batch in table.to_batches(max_chunksize=CHUNK_ROWS):
        cols = []
        for name in RECORD_FIELDS:
            col = batch.column(batch.schema.get_field_index(name))
            if name in ("ts", "recv_ts"):
                col = col.cast(pa.int64())
            cols.append(col.to_pylist())
        for row in zip(*cols, strict=True):
            yield Tick(*row)


# -- reading -------------------------------------------------------------------------


def read_table(
    files: Sequence[str],
    selection: Selection | None = None,
    *,
    columns: Sequence[str] | None = None,
) -> Any:
    """The rows of ``files`` (archive parts or any hkticks Parquet) as one Arrow table.

    The selection's symbols and absolute bounds (:meth:`Selection.pushed`)
    are pushed down: row groups whose statistics rule them out are not read
    (the archive is sorted by symbol, so one symbol reads little). The time
    of day is not applied here (:meth:`Selection.arrow_mask` does it).
    """
    pa, pc, pq = pyarrow_modules()
    import pyarrow.dataset as ds

    if not files:
        return schema().empty_table()
    sch = schema()
    cond = None if selection is None else selection.arrow_expression()
    try:
        dataset = ds.dataset(list(files), schema=sch, format="parquet")
        return dataset.to_table(columns=list(columns) if columns else None, filter=cond)
    except (OSError, pa.ArrowInvalid) as exc:
        raise HkticksError(f"cannot read the Parquet files: {exc}") from None


def read_parts(
    files: Sequence[str],
    selection: Selection | None = None,
    *,
    columns: Sequence[str] | None = None,
) -> tuple[Any, list[str]]:
    """:func:`read_table`, and when that fails, each part on its own: ``(the rows of
    the parts that could be read, one line per part that could not)``."""
    try:
        return read_table(files, selection, columns=columns), []
    except HkticksError:
        pass  # which part? each on its own
    tables, problems = [], []
    for f in files:
        try:
            tables.append(read_table([f], selection, columns=columns))
        except HkticksError as exc:
            why = str(exc).removeprefix("cannot read the Parquet files: ").splitlines()[0][:120]
            problems.append(f"{f}: not a readable Parquet file ({why}): skipped")
    pa, _, _ = pyarrow_modules()
    if not tables:
        sch = schema()
        empty = sch.empty_table()
        return (empty.select(list(columns)) if columns else empty), problems
    return pa.concat_tables(tables), problems


def readable_parts(files: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(readable, problems)``: the parts whose footer can be read, and one line per
    part that cannot (damaged, cut short, a folder where a part should be), by name.

    A damaged part costs its own trades only: the rest of its day is read.
    """
    _, _, pq = pyarrow_modules()
    ok: list[str] = []
    bad: list[str] = []
    for f in files:
        if os.path.isdir(f):
            bad.append(f"{f}: a folder where a Parquet part should be: skipped")
            continue
        try:
            pq.read_metadata(f)
        except Exception as exc:  # pyarrow raises several kinds for a damaged file
            why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            bad.append(f"{f}: not a readable Parquet file ({why}): skipped")
            continue
        ok.append(f)
    return ok, bad


# -- provenance ------------------------------------------------------------------------

SRC_KEY = b"hkticks.src"  # the part's distinct `src` values, JSON


def part_sources(files: Sequence[str]) -> set[str]:
    """The ``src`` values of Parquet parts: from each part's key-value metadata
    (written by ``compact``), else from its ``src`` column. Never raises."""
    import orjson

    _, pc, pq = pyarrow_modules()
    found: set[str] = set()
    for f in files:
        try:
            meta = pq.read_metadata(f).metadata or {}
            listed = meta.get(SRC_KEY)
            if listed is not None:
                found.update(str(v) for v in orjson.loads(listed))
                continue
            col = pq.read_table(f, columns=["src"]).column("src")
            found.update(str(v) for v in pc.unique(col).to_pylist() if v is not None)
        except Exception:  # a damaged part: its reader says so
            continue
    return found


def archive_parts(path: str) -> list[str]:
    """The part files of an archive folder, of one of its ``date=`` folders, or a file."""
    if os.path.isfile(path):
        return [path]
    if _DATE_DIR.match(os.path.basename(path.rstrip(os.sep))):
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return []
        return [
            os.path.join(path, f)
            for f in names
            if f.endswith(".parquet") and not f.startswith((".", "_"))
        ]
    if is_archive(path):
        return [f for _, parts in day_files(path) for f in parts]
    return []


class ParquetSource:
    """One day of an archive (or one Parquet file) read back as ticks, by receive time.

    The same reading interface as :class:`~hkticks.storage.readers.TickFile`
    (``path``, ``report``, ``keyed()``, ``first_key()``, ``symbols()``), so
    ``replay``, ``stats`` and the API read an archive like any recording. A
    day is read whole (the columns only, the selected symbols only) and
    given back in receive-time order, as it was recorded.
    """

    def __init__(self, path: str, files: Sequence[str], selection: Any = None) -> None:

        self.path = path
        self.selection = selection
        self.report = FileReport(path, "parquet", None)
        self.files, self.problems = readable_parts(files)
        if self.problems:
            self.report.corrupt += len(self.problems)
            self.report.examples.extend(self.problems)

    def _table(self, columns: Sequence[str] | None = None) -> Any:
        table, problems = read_parts(self.files, self.selection, columns=columns)
        for line in problems:  # damaged inside (its footer was fine): dropped by name
            if line not in self.problems:
                self.problems.append(line)
                self.report.corrupt += 1
                self.report.examples.append(line)
        return table

    def keyed(self) -> Iterator[tuple[int, Tick]]:
        _, pc, _ = pyarrow_modules()
        table = self._table()
        report = self.report
        if table is None:
            report.done = True
            return
        table = table.sort_by(
            [("recv_ts", "ascending"), ("symbol", "ascending"), ("ts", "ascending")]
        )
        sel = self.selection
        n = 0
        try:
            for tick in ticks_of(table):
                n += 1
                if sel is None or sel.keep(tick):
                    yield tick.recv_ts, tick
        finally:
            report.rows += n
            report.done = True

    def __iter__(self) -> Iterator[Tick]:
        for _, tick in self.keyed():
            yield tick

    def first_key(self) -> int | None:
        _, pc, _ = pyarrow_modules()
        table = self._table(["recv_ts"])
        if table is None or table.num_rows == 0:
            return None
        value = pc.min(table.column("recv_ts").cast("int64")).as_py()
        return None if value is None else int(value)

    def symbols(self) -> set[str]:
        _, pc, _ = pyarrow_modules()
        table = self._table(["symbol"])
        if table is None:
            return set()
        return {str(s) for s in pc.unique(table.column("symbol")).to_pylist()}


def parquet_sources(path: str, selection: Any = None) -> list[ParquetSource]:
    """The sources of an archive folder (one per day in the selected range) or a file."""
    pyarrow_modules()
    if os.path.isfile(path):
        return [ParquetSource(path, [path], selection)]
    out = []
    lo, hi = (None, None) if selection is None else selection.dates()
    for day, parts in day_files(path):
        if (lo is not None and day < lo) or (hi is not None and day > hi):
            continue
        out.append(ParquetSource(os.path.join(path, f"date={day}"), parts, selection))
    if not out:  # no day in the range asked for: an archive with nothing selected
        out.append(ParquetSource(path, [], selection))
    return out


# -- compaction -----------------------------------------------------------------------
