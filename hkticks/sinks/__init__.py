"""Record sinks: where the recorder's writer thread puts ticks, books and events.

One module per format (``jsonl``, ``csvfile``, ``sqlite``); the format of a
``--out`` comes from its extension. Every sink appends to what is already
there, writes each batch whole, and turns a failed write into one
:class:`~hkticks.errors.OutputError` line that says how much was kept.

Paths are checked with :func:`check_output` before connecting to the
provider, so a typo in ``--out`` costs nothing, not a connection slot.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from hkticks.errors import OutputError, UsageError
from hkticks.sinks.failures import os_reason

FORMATS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".csv": "csv",
    ".db": "sqlite",
    ".sqlite": "sqlite",
}


class Sink(Protocol):
    """What the recorder writes to; used by one thread at a time."""

    path: str  # as given ("-" for stdout)
    rows: int  # rows accepted by write() in this run
    repaired_bytes: int  # bytes of a torn last line removed at open (0 if none)

    def write(self, items: Sequence[Any]) -> None: ...

    def flush(self, fsync: bool = False) -> None: ...

    def close(self) -> None: ...


def tick_format(path: str) -> str:
    """The format of a tick output (``"jsonl"``, ``"csv"``, ``"sqlite"``), from its extension.

    Raises :class:`UsageError` naming the supported extensions.
    """
    if path == "-":
        return "jsonl"
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise UsageError(
            f"cannot tell the format of {path!r} from its extension; "
            f"use {', '.join(FORMATS)} or - for JSON Lines on stdout"
        )
    return FORMATS[ext]


def open_tick_sink(path: str) -> Sink:
    """A sink for ticks, chosen by ``path``'s extension (``-``: JSONL to stdout)."""
    kind = tick_format(path)
    if kind == "csv":
        from hkticks.sinks.csvfile import CsvSink

        return CsvSink(path)
    if kind == "sqlite":
        from hkticks.sinks.sqlite import SqliteSink

        return SqliteSink(path)
    from hkticks.sinks.jsonl import JsonlSink

    return JsonlSink(path)


def open_jsonl_sink(path: str, *, what: str = "records") -> Sink:
    """A JSON Lines sink for order books or session events (items with ``.record()``).

    ``what`` names the items in error messages ("wrote 12 events before ...").
    """
    from hkticks.sinks.jsonl import JsonlSink

    return JsonlSink(path, records=True, what=what)


def check_output(path: str, option: str = "--out") -> None:
    """Raise :class:`OutputError` unless ``path`` can be written; ``-`` is always fine.

    Checked for real, not from permission bits (which mean nothing to root):
    an existing file is opened for appending (and left unchanged), a new one
    is created and removed again. ``option`` names the flag in the message.
    """
    if path == "-":
        return

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
            os.close(os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC))
        except OSError as exc:
            raise fail(os_reason(exc)) from None
    elif not os.access(path, os.W_OK):  # a device or FIFO: opening could block or act
        raise fail("permission denied")
    if FORMATS.get(os.path.splitext(path)[1].lower()) == "sqlite" and not os.access(
        parent, os.W_OK | os.X_OK
    ):
        raise fail(f"directory {parent} is not writable (SQLite keeps its journal there)")


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
