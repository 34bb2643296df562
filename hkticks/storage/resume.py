"""What an existing recording already holds, so that a run appending to it
does not write again the trades the server re-sends after subscribing.

AllTick (and the embedded server) may re-send the latest trade of each
symbol after a subscribe. When ``record`` appends to yesterday's or this
morning's file, that trade is usually already in it, possibly far from the
end for a quiet symbol. :func:`last_trades` finds the last (seq, ts) of each
subscribed symbol: exactly for SQLite (an index lookup per symbol), and for
JSONL/CSV by reading the file backwards until every symbol has been seen or
``max_bytes`` were read. Compressed files are only looked at near their end.
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
_CHUNK = 8 << 20
_SEQ = RECORD_FIELDS.index("seq")
_TS = RECORD_FIELDS.index("ts")


@dataclass
class LastTrades:
    """The last (seq, ts) per symbol found, and whether the search was complete
    (the whole file read, or every wanted symbol found)."""

    found: dict[str, tuple[int, int]] = field(default_factory=dict)
    complete: bool = True
    scanned_bytes: int = 0

    def keep(self, symbol: Any, seq: Any, ts: Any) -> None:
        try:
            key, seq_i, ts_i = str(symbol), int(seq), int(ts)
        except (TypeError, ValueError):
            return
        prev = self.found.get(key)
        if prev is None or seq_i > prev[0]:
            self.found[key] = (seq_i, ts_i)


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
            _parse(lines, ext, out)
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
            rows = con.execute(
                "SELECT symbol, MAX(seq), MAX(ts) FROM ticks WHERE seq IS NOT NULL GROUP BY symbol"
            ).fetchall()
        else:
            rows = []
            for symbol in wanted:  # uses the (symbol, ts) index: one lookup each
                row = con.execute(
                    "SELECT symbol, seq, ts FROM ticks WHERE symbol = ? AND seq IS NOT NULL "
                    "ORDER BY ts DESC, seq DESC LIMIT 1",
                    (symbol,),
                ).fetchone()
                if row is not None:
                    rows.append(row)
    finally:
        con.close()
    for symbol, seq, ts in rows:
        out.keep(symbol, seq, ts)


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
            _parse(block.splitlines(), ext, out)
            end = start
            if wanted is not None and wanted <= out.found.keys():
                return
        if carry:
            _parse(carry.splitlines(), ext, out)


def _parse(lines: list[bytes], ext: str, out: LastTrades) -> None:
    if ext == ".csv":
        for line in lines:
            cells = line.split(b",")
            if len(cells) == len(RECORD_FIELDS) and cells[0] != b"symbol":
                out.keep(cells[0].decode("ascii", "replace"), cells[_SEQ], cells[_TS])
    elif ext == ".jsonl":
        for line in lines:
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                out.keep(rec.get("symbol"), rec.get("seq"), rec.get("ts"))
