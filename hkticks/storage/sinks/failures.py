"""Turn OS and SQLite errors into one-line :class:`~hkticks.errors.OutputError` messages.

A write that fails mid-run must tell the user what happened, how much was
kept and what to do, in one line and without a traceback; every sink builds
that line here so the wording is the same for every format.
"""

from __future__ import annotations

import errno
import fcntl
import sqlite3

from hkticks.alltick.urls import redact
from hkticks.errors import OutputError, PipeClosed

_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file size limit reached",
    errno.EISDIR: "it is a directory",
    errno.ENOTDIR: "a parent of it is not a directory",
    errno.ENOENT: "no such file or directory",
    errno.EPIPE: "the reader closed the pipe",
    errno.EIO: "I/O error",
    errno.ENXIO: "no reader on the other end",
}

_ADVICE = {
    "disk full": "free some space or write elsewhere",
    "disk quota exceeded": "free some space or write elsewhere",
    "file size limit reached": "raise the file size limit (ulimit -f) or write elsewhere",
    "the reader closed the pipe": "nothing more will be written there",
}

# Primary SQLite result codes (the low byte of an extended code).
_SQLITE_REASONS = {
    3: "permission denied",  # SQLITE_PERM
    5: "the database is locked by another process",  # SQLITE_BUSY
    6: "the database is locked by another process",  # SQLITE_LOCKED
    8: "read-only database",  # SQLITE_READONLY
    10: "I/O error",  # SQLITE_IOERR
    11: "the database file is corrupt",  # SQLITE_CORRUPT
    13: "disk full",  # SQLITE_FULL
    14: "cannot open the database file",  # SQLITE_CANTOPEN
    23: "permission denied",  # SQLITE_AUTH
    26: "it is not a SQLite database",  # SQLITE_NOTADB
}


def display_name(path: str) -> str:
    """How a path appears in messages: ``stdout`` for ``-``, else as given, secrets masked."""
    return "stdout" if path == "-" else redact(path)


def os_reason(exc: OSError) -> str:
    """A short lower-case reason for an OS error, e.g. ``"permission denied"``."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    return (exc.strerror or str(exc)).lower()


def sqlite_reason(exc: sqlite3.Error) -> str:
    """A short reason for a SQLite error, from its result code when Python exposes it."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _SQLITE_REASONS:
        return _SQLITE_REASONS[code & 0xFF]
    return str(exc).lower() or type(exc).__name__


def write_failed(path: str, reason: str, count: int, what: str) -> OutputError:
    """The error for a write that failed after ``count`` records were kept."""
    advice = _ADVICE.get(reason, "check the disk or write elsewhere")
    cls = PipeClosed if reason == _REASONS[errno.EPIPE] else OutputError
    return cls(
        f"{reason} writing {display_name(path)} (wrote {count} {what} before the failure); {advice}"
    )


def open_failed(path: str, reason: str) -> OutputError:
    """The error for an output that cannot be opened."""
    return OutputError(f"cannot write {display_name(path)}: {reason}; choose another output")


def lock_exclusive(fd: int, path: str) -> None:
    """Hold an advisory lock on an output for as long as ``fd`` is open.

    Two recorders appending to one file would interleave every trade twice;
    the second one is refused instead. File systems without ``flock`` (some
    network mounts) are written without the lock.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputError(
            f"{display_name(path)} is already being written by another hkticks process; "
            "stop that one, or choose another output"
        ) from None
    except OSError:
        pass
