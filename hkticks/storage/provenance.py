"""Whether a recording holds simulated trades, real ones, or both.

Trades from a simulated server carry ``src`` ending in ``-sim``
(``alltick-sim``), also in the Parquet archive, whose parts list their
``src`` values in their key-value metadata (``hkticks.src``); a run under ``--demo`` also writes ``"simulated": true``
in its ``feed_start`` event, and a connection to a server that said it is
simulated writes it in its ``connected`` event. :func:`kind_of` reads the
``src`` of the trades near the end of a file (and its events sidecar), so it
is cheap on any size: it is what ``record`` checks before appending, and the
label ``replay`` and ``stats`` show.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable

import orjson

from hkticks.alltick.spec import is_simulated_src
from hkticks.errors import HkticksError, UsageError
from hkticks.storage.sinks.compressed import compression_of, read_tail, strip_compression
from hkticks.tick import RECORD_FIELDS

SIMULATED = "simulated"
REAL = "real"
MIXED = "mixed"

TAIL_BYTES = 1 << 20
_SRC = RECORD_FIELDS.index("src")


def sources(path: str, max_bytes: int = TAIL_BYTES) -> set[str]:
    """The ``src`` values of the trades in the last ``max_bytes`` of ``path``
    (the last 10,000 rows of a SQLite file); empty when there are none or the
    file cannot be read. Never raises."""
    if path != "-" and (os.path.isdir(path) or path.lower().endswith(".parquet")):
        return _parquet_sources(path)
    if path == "-" or not os.path.isfile(path) or os.path.getsize(path) == 0:
        return set()
    base = strip_compression(path) if compression_of(path) else path
    ext = os.path.splitext(base)[1].lower()
    try:
        if ext in (".db", ".sqlite"):
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = con.execute(
                    "SELECT DISTINCT src FROM "
                    "(SELECT src FROM ticks ORDER BY rowid DESC LIMIT 10000)"
                ).fetchall()
            finally:
                con.close()
            return {str(r[0]) for r in rows if r[0] is not None}
        data = read_tail(path, max_bytes) if compression_of(path) else _tail(path, max_bytes)
    except (OSError, sqlite3.Error, ValueError, EOFError, HkticksError):
        return set()
    found: set[str] = set()
    for line in data.splitlines():
        if ext == ".csv":
            cells = line.split(b",")
            if len(cells) == len(RECORD_FIELDS) and cells[0] != b"symbol":
                found.add(cells[_SRC].decode("utf-8", "replace").strip())
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("src"), str) and "price" in rec:
            found.add(rec["src"])
    return found


def _parquet_sources(path: str) -> set[str]:
    """The ``src`` of an archive folder, one of its days, or a Parquet file (each part's
    metadata, written by ``compact``, else its ``src`` column)."""
    try:
        from hkticks.storage import parquet

        return parquet.part_sources(parquet.archive_parts(path))
    except HkticksError:  # pyarrow missing: reading the archive says so
        return set()


def _tail(path: str, max_bytes: int) -> bytes:
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        start = max(0, end - max_bytes)
        fh.seek(start)
        data = fh.read()
    if start > 0:  # the first line may be cut
        data = data[data.find(b"\n") + 1 :]
    return data


def kind_of_sources(found: Iterable[str]) -> str | None:
    """``simulated``, ``real``, ``mixed`` or ``None`` (no trades) for a set of ``src``."""
    flags = {is_simulated_src(src) for src in found}
    if not flags:
        return None
    if flags == {True}:
        return SIMULATED
    return REAL if flags == {False} else MIXED


def kind_of(paths: Iterable[str]) -> str | None:
    """What the trades of ``paths`` are: ``simulated``, ``real``, ``mixed``, or
    ``None`` when none holds a trade."""
    found: set[str] = set()
    for path in paths:
        found |= sources(path)
    return kind_of_sources(found)


def label(kind: str | None) -> str:
    """The words shown next to what was read back: empty for real data."""
    if kind == SIMULATED:
        return "DEMO: simulated trades, not market data"
    if kind == MIXED:
        return "MIXED: simulated and real trades in the same data (see the src field)"
    return ""


def mixing_guard(existing: str | None, where: str) -> Callable[[bool], HkticksError | None] | None:
    """For ``record`` appending to ``where``, whose trades are ``existing``: a check
    of the server (simulated or not, from its handshake) that refuses to add
    simulated trades to real ones or real to simulated; ``None`` if anything goes."""
    if existing not in (REAL, SIMULATED):
        return None

    def check(simulated: bool) -> HkticksError | None:
        if simulated and existing == REAL:
            return UsageError(
                f"{where} holds real trades and this server is a simulated market: "
                "record the demo to another file, or pass --allow-mixed"
            )
        if not simulated and existing == SIMULATED:
            return UsageError(
                f"{where} holds simulated (demo) trades and this server is a real feed: "
                "record to another file, or pass --allow-mixed"
            )
        return None

    return check
