"""The Parquet archive: days of trades in the shape research wants.

``hkticks compact SRC... --to DIR`` writes::

    DIR/date=2026-12-01/part-<id>.parquet
    DIR/date=2026-12-02/part-<id>.parquet

one folder per Hong Kong trading date (the date of the exchange time ``ts``
in UTC+8; a hive partition, so pandas, polars, DuckDB and pyarrow read
``DIR`` as one table with a ``date`` column). Each file is lz4-compressed,
encoded column by column (:data:`PART_ENCODING`), sorted by ``(symbol, ts)``
(so a reader of one symbol skips every other row group by its statistics),
in row groups of :data:`ROW_GROUP_ROWS` rows. ``ts``/``recv_ts`` are stored
as UTC timestamps in milliseconds, exactly the recorded epoch ms.

The archive holds exactly the trades of its sources, each once: trades are
de-duplicated by ``(symbol, seq)`` (a trade without ``seq`` by its whole
row), against each other and against what the archive already holds, so a
second run over the same sources adds nothing (it is idempotent), and a
source recorded further after a first compaction adds only its new trades
(a new part file in the day's folder: each part is sorted on its own).

Writing is atomic: a part is written under a hidden temporary name
(``.part-<id>.parquet.tmp``, which no reader lists), flushed to disk, and
renamed into place; a run killed at any moment (even ``kill -9``) leaves no
half file visible, only a temporary file that the next run removes. One run
at a time holds the archive's lock file (``DIR/.hkticks-compact.lock``).

pyarrow is an optional extra: ``pip install 'hkticks[parquet]'``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from hkticks.errors import OutputError, UsageError
from hkticks.storage.archive import (
    _DATE_DIR as _DATE_DIR,
)

# the archive's layout and reading, re-exported (one module for callers of the archive)
from hkticks.storage.archive import (
    BATCH_ROWS as BATCH_ROWS,
)
from hkticks.storage.archive import (
    CHUNK_ROWS as CHUNK_ROWS,
)
from hkticks.storage.archive import (
    DAY_MS as DAY_MS,
)
from hkticks.storage.archive import (
    EVENTS_DIR as EVENTS_DIR,
)
from hkticks.storage.archive import (
    HKT_OFFSET_MS as HKT_OFFSET_MS,
)
from hkticks.storage.archive import (
    LOCK_NAME as LOCK_NAME,
)
from hkticks.storage.archive import (
    ROW_GROUP_ROWS as ROW_GROUP_ROWS,
)
from hkticks.storage.archive import (
    SRC_KEY as SRC_KEY,
)
from hkticks.storage.archive import (
    TMP_SUFFIX as TMP_SUFFIX,
)
from hkticks.storage.archive import (
    ColumnBuffer as ColumnBuffer,
)
from hkticks.storage.archive import (
    ParquetSource as ParquetSource,
)
from hkticks.storage.archive import (
    archive_parts as archive_parts,
)
from hkticks.storage.archive import (
    day_files as day_files,
)
from hkticks.storage.archive import (
    hk_date as hk_date,
)
from hkticks.storage.archive import (
    is_archive as is_archive,
)
from hkticks.storage.archive import (
    is_parquet_path as is_parquet_path,
)
from hkticks.storage.archive import (
    parquet_sources as parquet_sources,
)
from hkticks.storage.archive import (
    part_sources as part_sources,
)
from hkticks.storage.archive import (
    read_parts as read_parts,
)
from hkticks.storage.archive import (
    read_table as read_table,
)
from hkticks.storage.archive import (
    readable_parts as readable_parts,
)
from hkticks.storage.archive import (
    ticks_of as ticks_of,
)
from hkticks.storage.arrow import (
    PARQUET_HINT as PARQUET_HINT,
)
from hkticks.storage.arrow import (
    MissingExtra as MissingExtra,
)
from hkticks.storage.arrow import (
    pyarrow_modules as pyarrow_modules,
)
from hkticks.storage.arrow import (
    schema as schema,
)
from hkticks.tick import RECORD_FIELDS


@dataclass
class DayResult:
    date: str
    read: int = 0  # trades of the sources for this day
    added: int = 0  # written (new to the archive)
    already: int = 0  # already in the archive
    duplicates: int = 0  # repeated within the sources
    file: str | None = None  # the last part written
    files: list[str] = field(default_factory=list)


@dataclass
class CompactReport:
    """What one compaction did, per day; ``problems`` are the sources' skipped lines."""

    days: list[DayResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sources: int = 0
    events_files: list[str] = field(default_factory=list)
    events_added: int = 0

    @property
    def read(self) -> int:
        return sum(d.read for d in self.days)

    @property
    def added(self) -> int:
        return sum(d.added for d in self.days)

    @property
    def already(self) -> int:
        return sum(d.already for d in self.days)

    @property
    def duplicates(self) -> int:
        return sum(d.duplicates for d in self.days)


@contextlib.contextmanager
def archive_lock(root: str) -> Iterator[None]:
    """Hold the archive's lock file (one compaction at a time); clears stale temp files."""
    try:
        os.makedirs(root, exist_ok=True)
        fd = os.open(os.path.join(root, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"cannot write the archive {root}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(fd, fcntl.LOCK_EX)  # another compaction runs: wait for it
        _remove_stale_temp(root)
        yield
    finally:
        os.close(fd)


def _remove_stale_temp(root: str) -> None:
    """Temporary parts a killed run left behind (we hold the lock: nobody writes them)."""
    for name in os.listdir(root):
        folder = os.path.join(root, name)
        if not (_DATE_DIR.match(name) and os.path.isdir(folder)):
            continue
        for f in os.listdir(folder):
            if f.startswith(".") and f.endswith(TMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, f))


def _source_batches(recording: Any, report: CompactReport) -> Iterator[Any]:
    """The valid trades of the sources as Arrow tables of about :data:`BATCH_ROWS` rows
    or more: whole files, gathered until the batch is big enough (memory stays
    bounded by the largest file, not by the number of files).

    A clean JSON Lines file (plain, gzip or zstd) is parsed by Arrow's JSON
    reader; anything it cannot take exactly (a torn or invalid line, a
    missing field, another format) is read through the readers, which skip
    and count what is not a valid trade.
    """
    pa, _, _ = pyarrow_modules()
    pending: list[Any] = []
    rows = 0
    for f in recording.files:
        table = arrow_jsonl(f.path) if f.report.format == "jsonl" and f.path != "-" else None
        if table is not None:
            f.report.rows = table.num_rows
        else:
            buf = ColumnBuffer()
            buf.add_all(iter(f))
            table = buf.table()
        pending.append(table)
        rows += table.num_rows
        if rows >= BATCH_ROWS:
            yield pa.concat_tables(pending)
            pending, rows = [], 0
    if rows:
        yield pa.concat_tables(pending)
    report.problems = recording.problems()


def arrow_jsonl(path: str) -> Any:
    """A JSONL recording parsed by Arrow, or ``None`` when it is not exactly clean.

    Clean: every line a trade with every field of the right type (what
    :meth:`Tick.from_record` would accept unchanged). ``None`` sends the
    file to the tolerant reader.
    """
    pa, pc, _ = pyarrow_modules()
    import pyarrow.json as pj

    sch = schema()
    raw = pa.schema(
        [pa.field(f.name, pa.int64() if f.name in ("ts", "recv_ts") else f.type) for f in sch]
    )
    opts = pj.ParseOptions(explicit_schema=raw, unexpected_field_behavior="ignore")
    try:
        with pa.input_stream(path, compression="detect") as stream:
            reader = pj.open_json(
                stream, parse_options=opts, read_options=pj.ReadOptions(use_threads=False)
            )
            batches = list(reader)
    except (pa.ArrowInvalid, OSError, ValueError):
        return None
    table = pa.Table.from_batches(batches, schema=raw)
    for f in sch:
        if not f.nullable and table.column(f.name).null_count:
            return None
    if table.num_rows and not _in_range(table):
        return None  # the tolerant reader refuses (and counts) what is out of range
    sides = table.column("side")
    if (
        sides.drop_null().length()
        and not pc.all(pc.is_in(sides.drop_null(), value_set=pa.array(["buy", "sell"]))).as_py()
    ):
        return None
    return table.cast(sch)


def _in_range(table: Any) -> bool:
    """Every time within what the readers accept (``checked_tick``), every price a number."""
    from hkticks.tick import MAX_TIME_MS as MAX_TS_MS

    _, pc, _ = pyarrow_modules()
    for name in ("ts", "recv_ts"):
        lo, hi = pc.min_max(table.column(name)).values()
        if lo.as_py() < 0 or hi.as_py() > MAX_TS_MS:
            return False
    return all(
        pc.all(pc.is_finite(table.column(n))).as_py() is not False for n in ("price", "turnover")
    )


def events_file(root: str, date: str) -> str:
    """Where the archive keeps the session events of a day (outside the hive folders)."""
    return os.path.join(root, EVENTS_DIR, f"date={date}.jsonl")


def _compact_events(paths: Sequence[str], root: str) -> int:
    """Copy the sources' session events into the archive, one file per HK day.

    Exact duplicate lines are kept once (a second run adds nothing); each
    day's file is rewritten atomically. Returns the events added.
    """
    import orjson

    from hkticks.storage.sidecars import read_events

    by_day: dict[str, dict[bytes, int]] = {}
    for path in paths:
        for ev in read_events(path):
            line = orjson.dumps(ev)
            by_day.setdefault(hk_date(ev["ts"]), {})[line] = ev["ts"]
    added = 0
    for date, lines in sorted(by_day.items()):
        target = events_file(root, date)
        have: dict[bytes, int] = {}
        if os.path.exists(target):
            for ev in read_events(target):
                have[orjson.dumps(ev)] = ev["ts"]
        new = {k: v for k, v in lines.items() if k not in have}
        if not new:
            continue
        added += len(new)
        have.update(new)
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(target)}.{uuid.uuid4().hex[:8]}.tmp")
        body = b"".join(line + b"\n" for line, _ in sorted(have.items(), key=lambda kv: kv[1]))
        _replace_atomically(tmp, target, functools.partial(_write_bytes, body=body))
    return added


def _dates(table: Any) -> Any:
    """The HK date number (days since 1970-01-01 HKT) of every row."""
    pa, pc, _ = pyarrow_modules()
    ts = table.column("ts").cast(pa.int64())
    return pc.divide(pc.add(ts, HKT_OFFSET_MS), DAY_MS)


def _row_keys(table: Any) -> list[tuple[Any, ...]]:
    """Whole rows as tuples: the key of trades without ``seq`` (rare: done in Python)."""
    pa, _, _ = pyarrow_modules()
    cols = [
        table.column(n).cast(pa.int64()).to_pylist()
        if n in ("ts", "recv_ts")
        else table.column(n).to_pylist()
        for n in RECORD_FIELDS
    ]
    return list(zip(*cols, strict=True))


def _symbol_codes(*columns: Any) -> list[Any]:
    """The symbols of ``columns`` as int32 codes in symbol order (sorting ints is cheap)."""
    pa, pc, _ = pyarrow_modules()
    names: set[str] = set()
    for col in columns:
        names.update(pc.unique(col).to_pylist())
    ordered = pa.array(sorted(n for n in names if n is not None), pa.string())
    return [pc.index_in(col, value_set=ordered) for col in columns]


def _chunks(array: Any) -> list[Any]:
    """The chunks of a (chunked) array."""
    return list(array.chunks) if hasattr(array, "chunks") else [array]


def _new_rows(day: Any, old_files: Sequence[str], result: DayResult) -> Any:
    """Indices of the rows of ``day`` the archive's ``old_files`` lack, each once, in
    the archive's order (symbol, ts, seq); vectorised.

    Trades with a ``seq`` are sorted by ``(symbol, seq)`` together with the
    archive's keys (given index -1, so they sort first in their run): a run
    that starts with -1 is already archived; otherwise its first row is kept
    and the others are duplicates within the sources. Trades without ``seq``
    compare whole rows. Sorts of integers, not a hash table of strings: a
    2M-row day stays small in memory.
    """
    pa, pc, _ = pyarrow_modules()
    n = day.num_rows
    idx = pa.array(range(n), type=pa.int32())
    seq = day.column("seq")
    old = read_table(old_files, columns=["symbol", "seq"]) if old_files else None
    if old is not None:
        old = old.filter(pc.is_valid(old.column("seq")))
    if old is not None and old.num_rows:
        code, old_code = _symbol_codes(day.column("symbol"), old.column("symbol"))
    else:
        (code,) = _symbol_codes(day.column("symbol"))
        old_code = None
    has_seq = pc.is_valid(seq)
    all_seq = seq.null_count == 0
    # the keys as three separate columns (int32 code, int64 seq, int32 row; -1: archived)
    cs, qs, ps = [code], [seq], [idx]
    if not all_seq:
        cs, qs, ps = [code.filter(has_seq)], [seq.filter(has_seq)], [idx.filter(has_seq)]
    n_new = len(ps[0])
    if old_code is not None:
        assert old is not None
        cs.append(old_code)
        qs.append(old.column("seq"))
        ps.append(pa.repeat(pa.scalar(-1, pa.int32()), old.num_rows))
    del old, old_code
    c = pa.chunked_array([x for a in cs for x in _chunks(a)], pa.int32())
    q = pa.chunked_array([x for a in qs for x in _chunks(a)], pa.int64())
    pos = pa.chunked_array([x for a in ps for x in _chunks(a)], pa.int32())
    del cs, qs, ps
    keep = pa.chunked_array([], pa.int32())
    m = len(pos)
    if m:
        sorter = pc.sort_indices(
            pa.table({"c": c, "q": q, "i": pos}),
            sort_keys=[("c", "ascending"), ("q", "ascending"), ("i", "ascending")],
        )
        c = pc.take(c, sorter)
        q = pc.take(q, sorter)
        pos = pc.take(pos, sorter)
        del sorter
        changed = pc.or_(
            pc.not_equal(c.slice(1), c.slice(0, m - 1)),
            pc.not_equal(q.slice(1), q.slice(0, m - 1)),
        )
        del c, q
        starts = pa.chunked_array([pa.array([True]), *_chunks(changed)], pa.bool_())
        del changed
        run = pc.subtract(pc.cumulative_sum(pc.cast(starts, pa.int32())), 1)
        run_first = pc.take(pos.filter(starts), run)
        del run
        archived = pc.less(run_first, 0)  # the run starts with an archived key
        del run_first
        is_new = pc.greater_equal(pos, 0)
        kept = pc.and_(is_new, pc.and_(starts, pc.invert(archived)))
        n_archived = pc.sum(pc.cast(pc.and_(archived, is_new), pa.int64())).as_py() or 0
        keep = pos.filter(kept)
        result.already += n_archived
        result.duplicates += n_new - len(keep) - n_archived
        del starts, archived, kept, pos, is_new
    if not all_seq:
        # trades without seq: whole-row keys (rare: done in Python)
        no_seq_idx = idx.filter(pc.invert(has_seq))
        known: set[tuple[Any, ...]] = set()
        if old_files:
            prior = read_table(old_files)
            known = set(_row_keys(prior.filter(pc.is_null(prior.column("seq")))))
        extra: list[int] = []
        seen: set[tuple[Any, ...]] = set()
        for i, key in zip(no_seq_idx.to_pylist(), _row_keys(day.take(no_seq_idx)), strict=True):
            if key in known:
                result.already += 1
            elif key in seen:
                result.duplicates += 1
            else:
                seen.add(key)
                extra.append(i)
        keep = pa.chunked_array([*keep.chunks, pa.array(extra, type=pa.int32())], pa.int32())
    # the archive's order, the kept rows only (taken a row group at a time when written)
    order = pc.sort_indices(
        pa.table({"c": code, "t": day.column("ts"), "q": seq}),
        sort_keys=[("c", "ascending"), ("t", "ascending"), ("q", "ascending")],
    )
    if len(keep) != n:
        order = order.filter(pc.is_in(order, value_set=keep.combine_chunks()))
    return order


# How a part's columns are stored (measured on 20 days x 2M trades, reading one symbol's
# 3.1M rows with DuckDB: 2.5x less CPU than zstd with plain numbers, and smaller files):
# codes, sides, sources, prices and volumes as dictionaries (few distinct values a row
# group), the times and ``seq`` (sorted within a symbol) as deltas, turnover's bytes split
# by position, all lz4 (decompresses several times faster than zstd). Parts written with
# other encodings (zstd before) are read the same: they are properties of the file.
PART_ENCODING: dict[str, Any] = {
    "compression": "lz4",
    "use_dictionary": ["symbol", "side", "src", "price", "volume"],
    "column_encoding": {
        "ts": "DELTA_BINARY_PACKED",
        "recv_ts": "DELTA_BINARY_PACKED",
        "seq": "DELTA_BINARY_PACKED",
        "turnover": "BYTE_STREAM_SPLIT",
    },
}


def _write_part(folder: str, table: Any, order: Any) -> str:
    """Write the rows ``order`` of ``table`` as a new part of ``folder`` atomically.

    Rows are taken one row group at a time: the day is never copied whole.
    Returns the part's path.
    """
    _, _, pq = pyarrow_modules()
    os.makedirs(folder, exist_ok=True)
    name = f"part-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}"
    tmp = os.path.join(folder, f".{name}{TMP_SUFFIX}")
    final = os.path.join(folder, f"{name}.parquet")

    import orjson

    from hkticks.storage import part_figures

    _, pc, _ = pyarrow_modules()

    def write(fh: IO[bytes]) -> None:
        writer = pq.ParquetWriter(fh, table.schema, write_statistics=True, **PART_ENCODING)
        # in the footer: what the trades are (provenance.sources) and what stats adds
        # up per symbol (read instead of the rows: part_figures), built as written
        srcs: set[str] = set()
        figures = part_figures.Builder()
        try:
            for start in range(0, len(order), ROW_GROUP_ROWS):
                rows = table.take(order.slice(start, ROW_GROUP_ROWS))
                writer.write_table(rows)
                srcs.update(str(v) for v in pc.unique(rows.column("src")).to_pylist())
                figures.add(rows)
            writer.add_key_value_metadata(
                {SRC_KEY: orjson.dumps(sorted(srcs)), part_figures.FIGURES_KEY: figures.value()}
            )
        finally:
            writer.close()

    _replace_atomically(tmp, final, write)
    return final


def _write_bytes(fh: IO[bytes], body: bytes) -> None:
    fh.write(body)


def _replace_atomically(tmp: str, final: str, write: Callable[[IO[bytes]], Any]) -> None:
    """``write`` into ``tmp``, make it durable, then rename it to ``final``: a kill at any
    point leaves either the old ``final`` or the new one, never half a file. A failure
    removes ``tmp`` and is one :class:`OutputError`."""
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(os.path.dirname(final))
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from None


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compact(sources: Sequence[str], root: str) -> CompactReport:
    """Add the trades of ``sources`` (any recording format) to the archive at ``root``.

    See the module docstring: de-duplicated, idempotent, atomic. Returns
    what was read and written per day. Sources are read a batch of files at
    a time; each batch's new trades of a day become one part.
    """
    _, pc, _ = pyarrow_modules()
    from hkticks.storage.readers import Recording
    from hkticks.storage.sidecars import events_sidecar

    if os.path.exists(root) and not os.path.isdir(root):
        raise UsageError(f"--to {root}: not a folder")
    recording = Recording(sources)
    if not recording.files:
        raise UsageError("no trade recordings among the sources (only events sidecars)")
    report = CompactReport(sources=len(recording.files))
    found = list(recording.events_files)
    for f in recording.files:
        side = events_sidecar(f.path)
        if side is not None and side not in found:
            found.append(side)
    report.events_files = found
    days: dict[str, DayResult] = {}
    with archive_lock(root):
        for table in _source_batches(recording, report):
            dates = _dates(table)
            existing = dict(day_files(root))  # with the parts of the batches before
            one_day = pc.min(dates).as_py() == pc.max(dates).as_py()
            for day_no in sorted(pc.unique(dates).to_pylist()):
                day_table = table if one_day else table.filter(pc.equal(dates, day_no))
                date = time.strftime("%Y-%m-%d", time.gmtime(day_no * 86400))
                result = days.setdefault(date, DayResult(date))
                result.read += day_table.num_rows
                order = _new_rows(day_table, existing.get(date, []), result)
                if len(order):
                    folder = os.path.join(root, f"date={date}")
                    result.file = _write_part(folder, day_table, order)
                    result.files.append(result.file)
                    result.added += len(order)
                del day_table, order
            del table, dates
        report.events_added = _compact_events(report.events_files, root)
    report.days = [days[d] for d in sorted(days)]
    return report
