"""The SQLite sink: ticks in table ``ticks`` of a WAL-mode database (``.db``, ``.sqlite``).

Each batch is one transaction, so a crash leaves the database with whole
batches only, and SQLite's own journal does what torn-line repair does for
the line formats. WAL mode with ``synchronous=NORMAL`` makes a commit cost
no ``fsync`` (a commit can be lost on power failure, never half-applied);
:meth:`SqliteSink.flush` with ``fsync=True`` checkpoints, which syncs.

Cost grows with the number of pages a commit dirties, mostly in the
``(symbol, ts)`` index, so large batches are much cheaper per tick than small
ones; the recorder's batching (whatever has queued since the last write)
gives large batches exactly when the feed is fast.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from hkticks.errors import OutputError
from hkticks.storage.sinks.failures import (
    display_name,
    lock_exclusive,
    open_failed,
    os_reason,
    sqlite_reason,
    write_failed,
)
from hkticks.storage.sinks.linefile import gone, output_gone
from hkticks.tick import RECORD_FIELDS

COLUMNS: tuple[tuple[str, str], ...] = (
    ("symbol", "TEXT"),
    ("ts", "INTEGER"),
    ("price", "REAL"),
    ("volume", "INTEGER"),
    ("turnover", "REAL"),
    ("side", "TEXT"),
    ("seq", "INTEGER"),
    ("recv_ts", "INTEGER"),
    ("src", "TEXT"),
)
assert tuple(name for name, _ in COLUMNS) == RECORD_FIELDS

_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS ticks ("
    + ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    + ")"
)
_CREATE_INDEX = "CREATE INDEX IF NOT EXISTS ticks_symbol_ts ON ticks (symbol, ts)"
_INSERT = (
    f"INSERT INTO ticks ({', '.join(RECORD_FIELDS)}) "
    f"VALUES ({', '.join('?' for _ in RECORD_FIELDS)})"
)
_row = attrgetter(*RECORD_FIELDS)
WAL_CHECKPOINT_PAGES = 10_000
CACHE_KIB = 32_768


class SqliteSink:
    """Ticks inserted into ``path``'s ``ticks`` table, one transaction per batch.

    The connection is made here and may then be used by another thread (the
    recorder's writer thread), one thread at a time.
    """

    repaired_bytes = 0  # SQLite recovers its own journal

    def __init__(self, path: str, *, what: str = "ticks") -> None:
        self.path = path
        self.rows = 0
        self.what = what
        self._closed = False
        self._failure: Exception | None = None
        try:
            self._con = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=5.0
            )
        except sqlite3.Error as exc:
            raise open_failed(path, sqlite_reason(exc)) from None
        self._lock_fd: int | None = None
        try:
            self._prepare()
            # a separate descriptor holds hkticks' writer lock (flock does not
            # interfere with SQLite's own fcntl locks); closed after the database
            self._lock_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            lock_exclusive(self._lock_fd, path)
        except sqlite3.Error as exc:
            self._release()
            raise open_failed(path, sqlite_reason(exc)) from None
        except OSError as exc:
            self._release()
            raise open_failed(path, os_reason(exc)) from None
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        self._con.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _prepare(self) -> None:
        con = self._con
        mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise OutputError(
                f"cannot use WAL mode for {display_name(self.path)} (SQLite kept {mode!r}); "
                "choose a file on a local disk"
            )
        con.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint less often and keep the index's pages cached: together
        # about 1.5x the insert rate (the WAL may grow to ~40 MB between
        # checkpoints; closing the database folds it back and removes it).
        con.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        con.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        con.execute(_CREATE_TABLE)
        found = tuple(
            (name, kind.upper()) for _, name, kind, *_ in con.execute("PRAGMA table_info(ticks)")
        )
        if found != COLUMNS:
            have = ", ".join(f"{name} {kind}".strip() for name, kind in found)
            raise OutputError(
                f"{display_name(self.path)} has a ticks table with other columns ({have}); "
                "choose another output"
            )
        con.execute(_CREATE_INDEX)

    def write(self, items: Sequence[Any]) -> None:
        """Insert one batch of ticks in one transaction."""
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise ValueError(f"write to closed sink {display_name(self.path)}")
        if not items:
            return
        con = self._con
        try:
            con.execute("BEGIN")
            con.executemany(_INSERT, map(_row, items))
            con.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            self._failure = write_failed(self.path, sqlite_reason(exc), self.rows, self.what)
            raise self._failure from None
        except BaseException:
            self._rollback()
            raise
        self.rows += len(items)

    def _rollback(self) -> None:
        if self._con.in_transaction:
            try:
                self._con.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite rolls back by itself when a commit fails hard

    def flush(self, fsync: bool = False) -> None:
        """Every batch is already committed; ``fsync`` checkpoints the WAL, which syncs.

        Also checks that the database is still at its path (deleted, moved or
        replaced: the recording stops, see :func:`~hkticks.storage.sinks.linefile.gone`).
        """
        if self._closed or self._failure is not None:
            return
        how = gone(self._lock_fd, self.path) if self._lock_fd is not None else None
        if how is not None:
            lost = self.rows
            if how == "deleted":
                self.rows = 0
            self._failure = output_gone(self.path, how, lost, self.what)
            raise self._failure
        if not fsync:
            return
        try:
            self._con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            self._failure = write_failed(self.path, sqlite_reason(exc), self.rows, self.what)
            raise self._failure from None

    def close(self) -> None:
        """Close the connection (SQLite checkpoints and removes the WAL); idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._rollback()
            self._release()
        except sqlite3.Error as exc:
            if self._failure is None:
                self._failure = write_failed(self.path, sqlite_reason(exc), self.rows, self.what)
                raise self._failure from None
