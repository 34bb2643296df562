"""Record sinks: where the recorder's writer thread puts ticks, books and events.

One module per format (``jsonl``, ``csvfile``, ``sqlite``); the format of a
``--out`` comes from its extension. Every sink appends to what is already
there, writes each batch whole, and turns a failed write into one
:class:`~hkticks.errors.OutputError` line that says how much was kept.

Paths are checked with :func:`check_output` before connecting to the
provider, so a typo in ``--out`` costs nothing, not a connection slot.

``.jsonl`` and ``.csv`` outputs may be compressed: ``.jsonl.gz``,
``.csv.gz`` (gzip) or ``.zst`` (with the optional ``zstandard`` package);
see :mod:`hkticks.storage.sinks.compressed`. An output path may be a template with
``{date}``, ``{hour}`` and ``{part}`` and rotate (``--rotate``); see
:mod:`hkticks.storage.sinks.rotating`.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from hkticks.errors import OutputError, UsageError
from hkticks.storage.sinks.compressed import compression_of, strip_compression, zstd_module
from hkticks.storage.sinks.failures import lock_exclusive, os_reason, sqlite_reason
from hkticks.storage.sinks.rotating import RotatePolicy, RotatingSink, expand, now_ms, template_for
from hkticks.storage.sinks.servers import check_remote, is_remote, open_remote

FORMATS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".csv": "csv",
    ".db": "sqlite",
    ".sqlite": "sqlite",
}


class Sink(Protocol):
    """What the recorder writes to; used by one thread at a time."""

    path: str  # as given ("-" for stdout)
    rows: int  # rows written by this run and still in the output (readable)
    repaired_bytes: int  # bytes of a torn last line removed at open (0 if none)
    # Optional, read with getattr: ``dropped`` (rows a sink with its own
    # buffer dropped: stdout, NATS, or the QueuedSink the recorder puts around
    # every other output, see sinks/queued.py), ``take_events()`` (events for
    # the sidecar), ``earlier_files(n)`` (a rotation's files before the current
    # one), ``interrupt()`` (stop retrying: PostgreSQL).

    def write(self, items: Sequence[Any]) -> None: ...

    def flush(self, fsync: bool = False) -> None: ...

    def close(self) -> None: ...


def tick_format(path: str) -> str:
    """The format of a tick output (``"jsonl"``, ``"csv"``, ``"sqlite"``), from its extension.

    Raises :class:`UsageError` naming the supported extensions.
    """
    if path == "-":
        return "jsonl"
    compression = compression_of(path)
    ext = os.path.splitext(strip_compression(path))[1].lower()
    if ext not in FORMATS:
        raise UsageError(
            f"cannot tell the format of {path!r} from its extension; "
            f"use {', '.join(FORMATS)} (.jsonl and .csv may end in .gz or .zst) "
            "or - for JSON Lines on stdout"
        )
    if compression is not None:
        if FORMATS[ext] == "sqlite":
            raise UsageError(
                f"{path!r}: SQLite databases cannot be compressed while recording; "
                "use .jsonl.gz or .csv.gz, or compress the .db afterwards"
            )
        if compression == "zstd":
            zstd_module()  # a UsageError saying how to install it
    return FORMATS[ext]


def open_tick_sink(
    path: str,
    rotate: RotatePolicy | None = None,
    *,
    time_of: Callable[[Any], int] | None = None,
    clock: Callable[[], int] | None = None,
) -> Sink:
    """A sink for ticks, chosen by ``path``'s extension (``-``: JSONL to stdout).

    A path with placeholders, or any path with ``rotate``, gives a
    :class:`~hkticks.storage.sinks.rotating.RotatingSink`; ``time_of`` and ``clock``
    replace its time source (tests simulate hours with them).
    """
    if is_remote(path):  # nats://, postgresql:// (see storage/sinks/servers.py)
        check_remote(path, rotate=rotate)
        return open_remote(path)  # type: ignore[no-any-return]
    template = template_for(path, rotate)
    if template is not None:
        tick_format(template)
        return _rotating(template, _open_tick_file, rotate, time_of, clock)
    return _open_tick_file(path)


def _rotating(
    template: str,
    open_file: Callable[[str], Sink],
    rotate: RotatePolicy | None,
    time_of: Callable[[Any], int] | None,
    clock: Callable[[], int] | None,
) -> Sink:
    extra: dict[str, Any] = {}
    if time_of is not None:
        extra["time_of"] = time_of
    if clock is not None:
        extra["clock"] = clock
    return RotatingSink(
        template, open_file, max_bytes=rotate.max_bytes if rotate else None, **extra
    )


def _open_tick_file(path: str) -> Sink:
    if path == "-":  # its own thread and bounded buffer: a slow reader holds back nothing else
        from hkticks.storage.sinks.stdout import StdoutSink

        return StdoutSink()
    kind = tick_format(path)
    if kind == "csv":
        from hkticks.storage.sinks.csvfile import CsvSink

        return CsvSink(path)
    if kind == "sqlite":
        from hkticks.storage.sinks.sqlite import SqliteSink

        return SqliteSink(path)
    from hkticks.storage.sinks.jsonl import JsonlSink

    return JsonlSink(path)


def open_jsonl_sink(
    path: str,
    *,
    what: str = "records",
    rotate: RotatePolicy | None = None,
    time_of: Callable[[Any], int] | None = None,
    clock: Callable[[], int] | None = None,
) -> Sink:
    """A JSON Lines sink for order books or session events (items with ``.record()``).

    ``what`` names the items in error messages ("wrote 12 events before ...").
    A template path (or ``rotate``) rotates like :func:`open_tick_sink`;
    ``time_of`` picks the time an item's file is chosen by (events: ``ts``).
    """
    from hkticks.storage.sinks.jsonl import JsonlSink

    def open_file(p: str) -> Sink:
        if p != "-" and tick_format(p) != "jsonl":
            raise UsageError(f"{p!r}: {what} are written as JSON Lines: use .jsonl (or .jsonl.gz)")
        return JsonlSink(p, records=True, what=what)

    template = template_for(path, rotate)
    if template is not None:
        return _rotating(template, open_file, rotate, time_of, clock)
    return open_file(path)


def check_output(path: str, option: str = "--out", rotate: RotatePolicy | None = None) -> None:
    """Raise :class:`OutputError` unless ``path`` can be written; ``-`` is always fine.

    Checked for real, not from permission bits (which mean nothing to root):
    an existing file is opened for appending (and left unchanged), a new one
    is created and removed again. ``option`` names the flag in the message.
    A template (see :mod:`hkticks.storage.sinks.rotating`) is checked as the file it
    names now; directories named by placeholders are created.
    """
    if path == "-":
        return
    if is_remote(path):
        return check_remote(path, option, rotate)
    template = template_for(path, rotate)
    if template is not None:
        path = expand(template, now_ms())
        parent = os.path.dirname(path)
        if "{" in os.path.dirname(template) and parent:
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as exc:
                raise OutputError(
                    f"cannot write {path}: {os_reason(exc)}; choose another {option}"
                ) from None

    def fail(reason: str) -> OutputError:
        return OutputError(f"cannot write {path or repr(path)}: {reason}; choose another {option}")

    if not path:
        raise fail("the path is empty")
    parent = os.path.dirname(path) or "."
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise fail(os_reason(exc)) from None
    if st is None:
        try:
            parent_st = os.stat(parent)
        except FileNotFoundError:
            raise fail(f"directory {parent} does not exist") from None
        except OSError as exc:
            raise fail(os_reason(exc)) from None
        if not stat.S_ISDIR(parent_st.st_mode):
            raise fail(f"{parent} is not a directory")
        _probe_create(path, parent, fail)
    elif stat.S_ISDIR(st.st_mode):
        raise fail("it is a directory")
    elif stat.S_ISREG(st.st_mode):
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            raise fail(os_reason(exc)) from None
        try:
            lock_exclusive(fd, path)  # another hkticks writing it: refused now, not later
        finally:
            os.close(fd)
        ext = os.path.splitext(path)[1].lower()
        if FORMATS.get(ext) == "sqlite":
            _check_sqlite_unlocked(path)
        elif ext == ".jsonl":
            from hkticks.storage.sinks.jsonl import check_json_lines_file

            check_json_lines_file(path)
    elif not os.access(path, os.W_OK):  # a device or FIFO: opening could block or act
        raise fail("permission denied")
    if FORMATS.get(os.path.splitext(path)[1].lower()) == "sqlite" and not os.access(
        parent, os.W_OK | os.X_OK
    ):
        raise fail(f"directory {parent} is not writable (SQLite keeps its journal there)")


def _check_sqlite_unlocked(path: str) -> None:
    """Refuse a database another process holds a write lock on, before connecting
    (else the recorder would wait, connected, and fail with nothing recorded)."""
    try:
        con = sqlite3.connect(path, isolation_level=None, timeout=0.2)
    except sqlite3.Error:
        return  # opening the sink says what is wrong with it
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
    except sqlite3.Error as exc:
        reason = sqlite_reason(exc)
        if "locked" in reason:
            raise OutputError(
                f"cannot write {path}: {reason} (it holds a write transaction open); "
                "stop that process, or choose another output"
            ) from None
    finally:
        con.close()


def _probe_create(path: str, parent: str, fail: Callable[[str], OutputError]) -> None:
    """Create ``path`` and remove it again: the only reliable test, root included."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except FileExistsError:
        return  # appeared meanwhile (or a dangling symlink): opening will tell
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise fail(f"files cannot be created in {parent}") from None
        raise fail(os_reason(exc)) from None
    os.close(fd)
    try:
        os.unlink(path)
    except OSError:
        pass
