"""Reading recordings back: streaming, tolerant, several files in time order.

``replay`` and ``stats`` read what ``record`` wrote, possibly years of it, so
reading must:

* stream: a file is read a megabyte at a time (decompressed on the fly for
  ``.gz`` and ``.zst``; SQLite through a cursor), so memory does not grow
  with the file. Several files are merged by time, but a file is only opened
  once the merge reaches its first record, so a year of daily files is read
  one file at a time;
* never crash on bad data: a line that is not a valid trade is skipped and
  counted (:class:`FileReport`), a torn last line (the recorder was killed) is
  counted apart, a compressed file cut short gives every complete line it
  holds, and a damaged compressed block is skipped to the next one;
* keep the recording's order: within a file, records come in the order they
  were written, exactly (``replay --json`` reproduces a JSONL recording byte
  for byte). Files are merged on their receive times (``recv_ts``): each
  record's key is the largest ``recv_ts`` of its file so far, which never
  decreases, so the merge is well defined even where a recording's receive
  times step back by a millisecond (two connections' threads interleaving).
  Parts of a rotation by period come back in the order they were written
  (the rotation cuts by receive time, forward only); parts of a rotation by
  size too, unless receive times step back right across a cut, where trades
  of those few milliseconds may come back in another order.

Selections (``--symbols``, ``--from``, ``--to``) are applied while reading,
by :class:`hkticks.storage.selection.Selection` (the one translation every
reader and engine uses).
"""

from __future__ import annotations

import csv
import heapq
import os
import re
import sqlite3
import sys
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from hkticks.errors import HkticksError, UsageError
from hkticks.storage.file_report import MAX_EXAMPLES as MAX_EXAMPLES  # re-exported
from hkticks.storage.file_report import FileReport as FileReport  # re-exported
from hkticks.storage.recording_paths import (
    expand_paths,
    is_events_file,
    recording_format,
)
from hkticks.storage.selection import Selection
from hkticks.storage.selection import make_selection as make_selection  # re-exported
from hkticks.storage.selection import parse_when as parse_when  # re-exported
from hkticks.storage.sinks.compressed import Decoder
from hkticks.storage.sinks.rotating import sqlite_readonly_uri
from hkticks.tick import RECORD_FIELDS, Tick

if TYPE_CHECKING:
    from hkticks.storage.archive import ParquetSource

CHUNK_BYTES = 1 << 20
# a trade is a line of ~200 bytes: a longer line is not one, and is never held whole
MAX_LINE_BYTES = 1 << 20
TOO_LONG = f"a line longer than {MAX_LINE_BYTES >> 20} MiB (not a trade)"
HKT_OFFSET_S = 8 * 3600
DAY_S = 86_400

_GZIP_MAGIC = b"\x1f\x8b"
_JSONL_SYMBOL = re.compile(rb'"symbol":"([^"\\\n]{1,32})"')
_CSV_SYMBOL = re.compile(rb"\n([^,\n\"]{1,32}),")
_ZSTD_MAGICS = (b"\x28\xb5\x2f\xfd", b"\x5b\x2a\x4d\x18")


# -- one file ----------------------------------------------------------------------


def _read_error(path: str, exc: OSError) -> HkticksError:
    reason = (exc.strerror or str(exc)).lower()
    return UsageError(f"cannot read {'stdin' if path == '-' else path}: {reason}")


class TickFile:
    """One recording, read as a stream of :class:`~hkticks.tick.Tick` in file order."""

    def __init__(self, path: str, selection: Selection | None = None) -> None:
        fmt, compression = recording_format(path)
        self.path = path
        self.selection = selection if selection is not None and not selection.everything else None
        self.report = FileReport(path, fmt, compression)
        self.tail = b""  # a last line without its newline (set once the lines are read)
        self.truncated = False  # a compressed stream that stops inside a block
        self.probing = False  # first_key's look: stop at a line too long to be a trade
        if fmt != "sqlite" and is_events_file(path):
            self.report.kind = "events"

    # -- bytes -> lines -----------------------------------------------------------

    def _open(self) -> BinaryIO:
        if self.path == "-":
            return sys.stdin.buffer
        try:
            return open(self.path, "rb")  # closed by _lines
        except OSError as exc:
            raise _read_error(self.path, exc) from None

    def _pieces(self) -> Iterator[bytes | None]:
        """The file's (decompressed) bytes in pieces; ``None`` where damaged data was skipped.

        Sets ``self.truncated`` when a compressed stream stopped inside a block.
        """
        self.truncated = False
        fh = self._open()
        report = self.report
        try:
            first = self._read(fh)
            kind = report.compression
            if self.path == "-" and first:
                if first.startswith(_GZIP_MAGIC):
                    kind = report.compression = "gzip"
                elif first.startswith(_ZSTD_MAGICS):
                    kind = report.compression = "zstd"
            if kind is None:
                chunk = first
                while chunk:
                    yield chunk
                    chunk = self._read(fh)
                return
            decoder = Decoder(kind)
            chunk = first
            while chunk:
                yield from decoder.decode(chunk)
                chunk = self._read(fh)
            decoder.end()
            report.corrupt += decoder.corrupt
            self.truncated = decoder.truncated
        finally:
            if fh is not sys.stdin.buffer:
                fh.close()

    def _lines(self) -> Iterator[bytes | None]:
        """Complete lines (without the newline); the torn tail is left in ``self.tail``.

        A line longer than :data:`MAX_LINE_BYTES` is ``None`` (the caller counts
        it as invalid): it is skipped as it is read, never held whole, so a file
        of NUL bytes with no newline (what a power cut can leave) costs one
        chunk of memory and goes by at the speed of the disk.
        """
        self.tail = b""
        partial = b""
        skipping = False  # inside a line already too long: drop up to its newline
        cap = MAX_LINE_BYTES
        for piece in self._pieces():
            if piece is None:  # damaged data skipped: the line in progress is lost
                partial = b""
                continue
            if skipping:
                cut = piece.find(b"\n")
                if cut < 0:
                    continue
                skipping = False
                piece = piece[cut + 1 :]
            lines = (partial + piece).split(b"\n") if partial else piece.split(b"\n")
            partial = lines.pop()
            for line in lines:
                yield line if len(line) <= cap else None
            if len(partial) > cap:
                yield None
                partial, skipping = b"", True
        if self.truncated:
            self.report.torn += 1  # the compressed stream stops short (a crash, a cut copy)
        self.tail = partial

    def symbols(self) -> set[str]:
        """Every symbol in the file, found fast (a pattern over the raw text, or SQL)."""
        fmt = self.report.format
        if self.report.kind != "trades":
            return set()
        if fmt == "sqlite":
            try:
                con = _connect_ro(self.path)
            except UsageError:
                return set()  # reading it says why
            try:
                return {str(r[0]) for r in con.execute("SELECT DISTINCT symbol FROM ticks")}
            except sqlite3.Error:
                return set()
            finally:
                con.close()
        pattern = _JSONL_SYMBOL if fmt == "jsonl" else _CSV_SYMBOL
        found: set[bytes] = set()
        carry = b"\n"
        for piece in self._pieces():
            if piece is None:
                carry = b"\n"
                continue
            text = carry + piece
            found.update(pattern.findall(text))
            cut = text.rfind(b"\n")
            carry = text[cut:] if cut >= 0 else text[-64:]
        found.discard(b"symbol")  # the CSV header
        return {s.decode("utf-8", "replace") for s in found}

    def _read(self, fh: BinaryIO) -> bytes:
        try:
            return fh.read(CHUNK_BYTES)
        except OSError as exc:
            raise _read_error(self.path, exc) from None

    # -- records --------------------------------------------------------------------

    def __iter__(self) -> Iterator[Tick]:
        """Every valid trade, in file order (the selection applied)."""
        for _, tick in self.keyed():
            yield tick

    def keyed(self) -> Generator[tuple[int, Tick], None, None]:
        """``(merge key, tick)``: the key is the largest ``recv_ts`` of this file so far."""
        report = self.report
        if report.kind != "trades":
            report.done = True
            return
        fmt = report.format
        ticks = self._jsonl() if fmt == "jsonl" else self._csv() if fmt == "csv" else self._sqlite()
        sel = self.selection
        key = -(1 << 62)
        n = 0
        try:
            for tick in ticks:
                n += 1
                if tick.recv_ts > key:
                    key = tick.recv_ts
                if sel is None or sel.keep(tick):
                    yield key, tick
        finally:
            report.rows += n
            report.done = True

    def first_key(self) -> int | None:
        """The ``recv_ts`` of the first valid record (cheap: reads the first chunk or row)."""
        if self.path == "-" or self.report.kind != "trades":
            return None
        probe = TickFile(self.path)
        probe.probing = True
        it = probe.keyed()
        try:
            first = next(it, None)
        finally:
            it.close()
        if probe.report.kind != "trades":
            self.report.kind = probe.report.kind
            self.report.error = probe.report.error
        return None if first is None else first[0]

    def _jsonl(self) -> Iterator[Tick]:
        loads = orjson.loads
        from_record = checked_tick
        report = self.report
        lineno = 0
        checked = False
        for line in self._lines():
            lineno += 1
            if line is None:
                report.problem(f"line {lineno}", TOO_LONG)
                if self.probing:
                    return  # a first look: not worth reading the rest for
                continue
            if line[:1] == b"\x00":  # NUL bytes where a power cut left a hole
                report.problem(f"line {lineno}", "NUL bytes (a hole left by a crash?)")
                line = line.lstrip(b"\x00")  # a record appended after the hole is kept
            if not line.strip():
                continue
            try:
                rec = loads(line)
            except orjson.JSONDecodeError:
                report.problem(f"line {lineno}", "not JSON")
                continue
            if not checked and type(rec) is dict:
                checked = True
                kind = _jsonl_kind(rec)
                if kind != "trades":
                    report.kind = kind
                    return
            try:
                yield from_record(rec)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                report.problem(f"line {lineno}", _why(exc))
        tail = self.tail
        if tail.strip():
            # a last line without its newline: kept if it is a whole record,
            # as the recorder itself does when it appends to such a file
            try:
                rec = loads(tail)
                yield from_record(rec)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                if not self.truncated:  # else counted already
                    report.torn += 1

    def _csv(self) -> Iterator[Tick]:
        report = self.report
        lineno = 0

        def texts() -> Iterator[str]:
            nonlocal lineno
            for line in self._lines():
                lineno += 1
                if line is None:
                    report.problem(f"line {lineno}", TOO_LONG)
                    if self.probing:
                        return
                    continue
                yield line.decode("utf-8", "replace") + "\n"

        reader = csv.reader(texts())

        def rows() -> Iterator[list[str]]:
            while True:
                try:
                    yield next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:  # binary data, a stray carriage return...
                    report.problem(f"line {lineno}", f"not CSV ({str(exc).split(' - ')[0]})")

        it = rows()
        try:
            header = next(reader, None)
        except csv.Error:
            report.kind = "unknown"
            report.error = "not a hkticks CSV recording (its first line is not CSV text)"
            return
        if header is None:
            if self.tail and not self.truncated:
                report.torn += 1
            return
        names = [h.strip() for h in header]
        missing = [f for f in RECORD_FIELDS if f not in names]
        if missing:
            report.kind = "unknown"
            report.error = (
                f"not a hkticks CSV recording (no {', '.join(missing)} column"
                f"{'s' if len(missing) > 1 else ''} in its header)"
            )
            return
        from_record = checked_tick
        width = len(names)
        for row in it:
            if not row:
                continue
            if len(row) != width:
                report.problem(f"line {lineno}", f"{len(row)} fields, expected {width}")
                continue
            try:
                yield from_record(dict(zip(names, row, strict=True)))
            except (KeyError, TypeError, ValueError) as exc:
                report.problem(f"line {lineno}", _why(exc))
        if self.tail and not self.truncated:
            report.torn += 1  # a CSV line cut short may still parse: never trust it

    def _sqlite(self) -> Iterator[Tick]:
        report = self.report
        try:
            con = _connect_ro(self.path)
        except UsageError as exc:  # one bad file among many: reported, the others read
            report.kind = "unknown"
            why = str(exc).removeprefix(f"cannot read {self.path}: ")
            report.error = f"not readable as SQLite ({why}): skipped"
            return
        try:
            try:
                cols = [r[1] for r in con.execute("PRAGMA table_info(ticks)")]
            except sqlite3.Error as exc:
                report.kind = "unknown"
                report.error = f"not readable as SQLite ({str(exc).lower()})"
                return
            missing = [f for f in RECORD_FIELDS if f not in cols]
            if not cols or missing:
                report.kind = "unknown"
                report.error = (
                    "not a hkticks database (no ticks table)"
                    if not cols
                    else f"its ticks table lacks {', '.join(missing)}"
                )
                return
            query = f"SELECT {', '.join(RECORD_FIELDS)} FROM ticks"
            sel = self.selection
            if sel is not None and sel.symbols is not None:
                # the symbols pushed down to SQLite (the selection's own SQL); keep() decides
                query += f" WHERE {Selection(sel.symbols).sql()}"
            query += " ORDER BY rowid"
            try:
                cur = con.execute(query)
                from_record = checked_tick
                rowid = 0
                while True:
                    rows = cur.fetchmany(4096)
                    if not rows:
                        break
                    for row in rows:
                        rowid += 1
                        try:
                            yield from_record(dict(zip(RECORD_FIELDS, row, strict=True)))
                        except (KeyError, TypeError, ValueError) as exc:
                            report.problem(f"row {rowid}", _why(exc))
            except sqlite3.DatabaseError as exc:
                report.corrupt += 1
                report.examples.append(f"database error: {str(exc).lower()}")
        finally:
            con.close()


# A record whose numbers no recorder writes is invalid (skipped and counted),
# not a crash later: "ts": 1e20 overflows every date function, a seq of 2**64
# cannot be written back. The rule is hkticks.tick's, shared with AllTick
# frames and NATS messages.
checked_tick = Tick.from_record


def _connect_ro(path: str) -> sqlite3.Connection:
    """A read-only connection that leaves nothing behind (see :func:`sqlite_readonly_uri`)."""
    try:
        con = sqlite3.connect(sqlite_readonly_uri(path), uri=True, timeout=5.0)
        con.execute("PRAGMA schema_version").fetchone()
        return con
    except sqlite3.Error as exc:
        raise UsageError(f"cannot read {path}: {str(exc).lower()}") from None


def _jsonl_kind(rec: dict[str, Any]) -> str:
    """What a JSON Lines file holds, from its first record."""
    if "price" in rec:
        return "trades"
    if "bids" in rec or "asks" in rec:
        return "books"
    if "event" in rec:
        return "events"
    return "trades"  # let the record check say what is wrong


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} field"
    text = str(exc)
    return text[:80] if text else type(exc).__name__


# -- several files ------------------------------------------------------------------


class Recording:
    """Trades of several files, merged in time order; :attr:`reports` says what was skipped.

    Session events sidecars given as files are set aside in
    :attr:`events_files` (``stats`` reads them); order books are reported and
    skipped.
    """

    def __init__(self, paths: Sequence[str], selection: Selection | None = None) -> None:
        self.selection = selection
        self.events_files: list[str] = []
        self.files: list[TickFile | ParquetSource] = []
        for path in expand_paths(paths):
            if path != "-" and is_events_file(path):
                self.events_files.append(path)
                continue
            if path != "-" and (os.path.isdir(path) or path.lower().endswith(".parquet")):
                from hkticks.storage.archive import parquet_sources

                self.files.extend(parquet_sources(path, selection))
                continue
            self.files.append(TickFile(path, selection))

    @property
    def reports(self) -> list[FileReport]:
        return [f.report for f in self.files]

    def __iter__(self) -> Iterator[Tick]:
        for _, tick in self.keyed():
            yield tick

    def keyed(self) -> Iterator[tuple[int, Tick]]:
        """``(key, tick)`` of every selected trade, merged by key (see the module docstring)."""
        files = self.files
        if len(files) == 1:
            yield from files[0].keyed()
            return
        yield from merge([(f.first_key(), f.keyed) for f in files])

    def problems(self) -> list[str]:
        """One line per file that had something skipped or could not be read."""
        out = []
        for r in self.reports:
            if r.kind in ("books", "events"):
                out.append(
                    f"{r.path}: holds {'order books' if r.kind == 'books' else 'session events'}, "
                    "not trades: skipped"
                )
                continue
            line = r.summary()
            if line:
                out.append(line)
        return out

    def symbols(self) -> list[str]:
        """Every symbol in the files (or the selected ones), sorted: one fast pass per file."""
        sel = self.selection
        if sel is not None and sel.symbols is not None:
            return sorted(sel.symbols)
        found: set[str] = set()
        for f in self.files:
            found |= f.symbols()
        return sorted(found)

    def failure(self) -> HkticksError | None:
        """Why reading went wrong beyond a few bad lines, once every file was read:
        a part of the archive that could not be read (the rest of its day was), or
        a file with nothing readable in it (a file of NUL bytes, binary data).
        ``None`` otherwise. Commands exit non-zero with it after their output."""
        parts = sum(r.corrupt for r in self.reports if r.format == "parquet")
        empty = [
            r.path
            for r in self.reports
            if r.format != "parquet"
            and (
                (r.done and r.kind == "trades" and not r.rows and r.skipped)
                or (r.kind == "unknown" and r.error)
            )
        ]
        if not parts and not empty:
            return None
        said = []
        if parts:
            said.append(f"{parts} archive part{'s' if parts != 1 else ''} could not be read")
        if empty:
            said.append(
                f"nothing readable in {', '.join(empty[:3])}{' ...' if len(empty) > 3 else ''}"
            )
        return HkticksError(
            "; ".join(said) + ": what was shown leaves them out (see the lines above)"
        )

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.reports)

    @property
    def skipped(self) -> int:
        return sum(r.skipped for r in self.reports)


def merge(
    sources: Sequence[tuple[int | None, Callable[[], Iterator[tuple[int, Tick]]]]],
) -> Iterator[tuple[int, Tick]]:
    """Merge keyed streams by key, opening each only when the merge reaches its first key.

    ``sources`` are ``(first key or None, open)``; a source's first key must
    not be above the key of anything it yields (its first record's
    ``recv_ts`` is such a bound). On equal keys the earlier source comes
    first. Sources whose times do not overlap are read one after another, so
    only overlapping files are open at once.
    """
    lowest = -(1 << 62)
    order = sorted(
        range(len(sources)),
        key=lambda i: (lowest if sources[i][0] is None else sources[i][0], i),
    )
    pending = deque(order)
    heap: list[tuple[int, int, Tick, Iterator[tuple[int, Tick]]]] = []
    while heap or pending:
        while pending:
            i = pending[0]
            first = sources[i][0]
            if heap and first is not None and first > heap[0][0]:
                break
            pending.popleft()
            it = sources[i][1]()
            item = next(it, None)
            if item is not None:
                heapq.heappush(heap, (item[0], i, item[1], it))
        if not heap:
            continue
        key, i, tick, it = heap[0]
        yield key, tick
        item = next(it, None)
        if item is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (item[0], i, item[1], it))


def hk_datetime(ms: int, with_ms: bool = False) -> str:
    """``YYYY-MM-DD HH:MM:SS[.mmm]`` in Hong Kong time for an epoch in ms."""
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000 + HKT_OFFSET_S))
    return f"{text}.{ms % 1000:03d}" if with_ms else text
