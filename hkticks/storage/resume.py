"""What an existing recording already holds, so that a run appending to it
does not write again the trades the server re-sends after subscribing.

AllTick (and the embedded server) may re-send the latest trade of each
symbol after a subscribe. When ``record`` appends to yesterday's or this
morning's file, that trade is usually already in it, possibly far from the
end for a quiet symbol. :func:`last_trades` finds each subscribed symbol's
latest trade -- its last line in the file, not its highest seq: after a
provider's sequence reset the latest trade has a low seq -- and the few before
it (:data:`RECENT`), so the de-duplicator (``feed/dedup.py``) is seeded as it
was when they were recorded: exactly for SQLite (an index lookup per symbol),
and for JSONL/CSV by reading the file backwards until every symbol has been
seen or ``max_bytes`` were read. Compressed files are only looked at near
their end.

A rotating output (``--rotate``) starts a new file each day, hour or part; the
new one is empty, but the server re-sends the latest trades anyway. So
:func:`last_trades_of` reads the current file and then the files of the
rotation before it (newest first, at most :data:`MAX_EARLIER_FILES`), each
symbol taken from the newest file that holds it: a (symbol, seq) is never
written twice across the files.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import orjson

from hkticks.storage.sinks.compressed import compression_of, read_tail, strip_compression
from hkticks.tick import RECORD_FIELDS

log = logging.getLogger("hkticks.storage.resume")

MAX_SCAN_BYTES = 256 << 20
RECENT = 16  # trades per symbol handed to the de-duplicator
MAX_EARLIER_FILES = 8
_CHUNK = 8 << 20
_SEQ = RECORD_FIELDS.index("seq")
_TS = RECORD_FIELDS.index("ts")


@dataclass
class LastTrades:
    """Per symbol: its latest trade's (seq, ts) (``found``) and the last few in
    file order (``recent``); and whether the search was complete (the whole
    file read, or every wanted symbol found)."""

    found: dict[str, tuple[int, int]] = field(default_factory=dict)
    recent: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    complete: bool = True
    scanned_bytes: int = 0

    def keep(self, symbol: Any, seq: Any, ts: Any) -> None:
        """Note one recorded trade (a remote output's answer: NATS, PostgreSQL)."""
        pair = _pair(seq, ts)
        if pair is None:
            return
        key = str(symbol)
        prev = self.found.get(key)
        if prev is None or pair[0] > prev[0]:
            self.found[key] = pair
        self.recent[key] = [*self.recent.get(key, []), pair][-RECENT:]

    def earlier(self, block: dict[str, list[tuple[int, int]]]) -> None:
        """Add the trades of a part of the file that comes before what was seen."""
        for key, pairs in block.items():
            merged = (pairs + self.recent.get(key, []))[-RECENT:]
            self.recent[key] = merged
            self.found[key] = merged[-1]

    def older_file(self, other: LastTrades) -> None:
        """Take the symbols this search lacks from an earlier file's search."""
        for key, pairs in other.recent.items():
            if key not in self.recent:
                self.recent[key] = pairs
                self.found[key] = pairs[-1]
        self.scanned_bytes += other.scanned_bytes


def _pair(seq: Any, ts: Any) -> tuple[int, int] | None:
    """``(seq, ts)`` as integers, or ``None`` for anything else (a float, text, 1e20)."""
    if isinstance(seq, float) or isinstance(ts, float):
        return None
    try:
        return int(seq), int(ts)
    except (TypeError, ValueError, OverflowError):
        return None


def last_trades(
    path: str, symbols: Collection[str] | None = None, max_bytes: int = MAX_SCAN_BYTES
) -> LastTrades:
    """The last trade of each of ``symbols`` (all symbols when ``None``) in ``path``.

    Never raises: an unreadable file yields what could be read, marked
    incomplete. This only prevents duplicates; it never blocks a recording.
    """
    out = LastTrades()
    if path == "-" or not os.path.isfile(path) or os.path.getsize(path) == 0:
        return out
    wanted = set(symbols) if symbols is not None else None
    try:
        base = strip_compression(path) if compression_of(path) else path
        ext = os.path.splitext(base)[1].lower()
        if ext in (".db", ".sqlite"):
            _from_sqlite(path, wanted, out)
        elif compression_of(path) is not None:
            data = read_tail(path, max_bytes)
            out.scanned_bytes = len(data)
            lines = data.splitlines()
            if len(data) >= max_bytes:
                lines = lines[1:]  # the first may be cut
            out.earlier(_parse(lines, ext))
            # the whole file was decoded, or every wanted symbol was found near its end
            out.complete = len(data) < max_bytes or (
                wanted is not None and wanted <= out.found.keys()
            )
        else:
            _backwards(path, ext, wanted, max_bytes, out)
    except (OSError, sqlite3.Error, ValueError) as exc:
        log.debug("could not read the end of %s: %r", path, exc)
        out.complete = False
    return out


def _from_sqlite(path: str, wanted: set[str] | None, out: LastTrades) -> None:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if wanted is None:
            wanted = {r[0] for r in con.execute("SELECT DISTINCT symbol FROM ticks")}
        rows: dict[str, list[tuple[int, int]]] = {}
        for symbol in wanted:  # uses the (symbol, ts) index: one lookup each
            found = con.execute(
                "SELECT seq, ts FROM ticks WHERE symbol = ? AND seq IS NOT NULL "
                f"ORDER BY ts DESC, seq DESC LIMIT {RECENT}",
                (symbol,),
            ).fetchall()
            pairs = [p for p in (_pair(q, t) for q, t in reversed(found)) if p is not None]
            if pairs:
                rows[str(symbol)] = pairs
    finally:
        con.close()
    out.earlier(rows)


def _backwards(
    path: str, ext: str, wanted: set[str] | None, max_bytes: int, out: LastTrades
) -> None:
    """Read ``path`` from its end in chunks until every wanted symbol was seen."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        carry = b""
        while end > 0:
            if out.scanned_bytes >= max_bytes:
                out.complete = False
                return
            start = max(0, end - _CHUNK)
            fh.seek(start)
            block = fh.read(end - start) + carry
            out.scanned_bytes += end - start
            if start > 0:
                cut = block.find(b"\n")
                if cut < 0:
                    carry, end = block, start
                    continue
                carry, block = block[: cut + 1], block[cut + 1 :]
            out.earlier(_parse(block.splitlines(), ext))
            end = start
            if wanted is not None and wanted <= out.found.keys():
                return
        if carry:
            out.earlier(_parse(carry.splitlines(), ext))


def _parse(lines: list[bytes], ext: str) -> dict[str, list[tuple[int, int]]]:
    """The (seq, ts) of each symbol's trades in ``lines``, in file order (the last few)."""
    got: dict[str, list[tuple[int, int]]] = {}

    def keep(symbol: str, pair: tuple[int, int] | None) -> None:
        if pair is not None:
            got.setdefault(symbol, []).append(pair)

    if ext == ".csv":
        for line in lines:
            cells = line.split(b",")
            if len(cells) == len(RECORD_FIELDS) and cells[0] != b"symbol":
                keep(cells[0].decode("ascii", "replace"), _pair(cells[_SEQ], cells[_TS]))
    elif ext == ".jsonl":
        for line in lines:
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("symbol"), str):
                keep(rec["symbol"], _pair(rec.get("seq"), rec.get("ts")))
    return {k: v[-RECENT:] for k, v in got.items()}


def last_trades_of(
    sink: Any, symbols: Collection[str] | None = None, max_bytes: int = MAX_SCAN_BYTES
) -> LastTrades:
    """:func:`last_trades` of a sink's file and, for a rotating sink, of the
    files of its rotation before it (see the module docstring)."""
    out = last_trades(sink.path, symbols, max_bytes)
    earlier = getattr(sink, "earlier_files", None)
    if earlier is None:
        return out
    wanted = set(symbols) if symbols is not None else None
    for path in earlier(MAX_EARLIER_FILES):
        if wanted is not None and wanted <= out.found.keys():
            break
        left = [s for s in wanted if s not in out.found] if wanted is not None else None
        older = last_trades(path, left, max_bytes)
        out.older_file(older)
        out.complete = out.complete and older.complete
    return out
