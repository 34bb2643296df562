"""Append-only files of whole lines: the storage under the JSONL and CSV sinks.

The recording must survive a crash: after ``kill -9`` (or a full disk) every
complete line in the file has to be a valid record. Three things make that so:

* each batch is one ``write(2)`` of complete lines on an ``O_APPEND``
  descriptor, so a killed process never leaves half a batch behind;
* when a write fails part-way (disk full, file size limit) the partial last
  line of that write is cut off again at once;
* when an existing file is opened its torn last line (left by a power loss or
  an older crash) is removed before anything is appended to it, and the number
  of bytes dropped is reported so the recorder can log it.

There is no user-space buffer: a batch reaches the kernel when it is written,
which keeps :meth:`LineFile.flush` free unless an ``fsync`` is asked for.

At every flush the output is also checked to still be where it was opened
(:func:`gone`): a file deleted (``rm -rf`` of its folder), moved or replaced
while recording would otherwise take every later tick with it, silently. The
recording then stops with one line saying so (exit 5), and a deleted file's
ticks are not counted as recorded.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from hkticks.errors import OutputError
from hkticks.storage.sinks.failures import (
    display_name,
    lock_exclusive,
    open_failed,
    os_reason,
    write_failed,
)

# A torn last line longer than this means the file is not one of ours (our
# records are well under a kilobyte): refuse rather than cut off someone's data.
MAX_TORN_BYTES = 1 << 20
_CHUNK = 1 << 16


def gone(fd: int, path: str) -> str | None:
    """How the file open as ``fd`` left ``path`` (``"deleted"``, ``"moved away"``,
    ``"replaced by another file"``), or ``None`` while it is still there."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if st.st_nlink == 0:
        return "deleted"
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return "moved away"
    except OSError:
        return None  # cannot tell (a permission change): keep writing
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        return "replaced by another file"
    return None


def output_gone(path: str, how: str, rows: int, what: str) -> OutputError:
    """The error for an output deleted, moved or replaced while recording."""
    if how == "deleted":
        kept = f"the {rows:,} {what} written to it are lost with it"
    else:
        kept = f"the {rows:,} {what} written to it are in the file that was moved, not at {path}"
    return OutputError(
        f"{display_name(path)} was {how} while recording ({kept}); recording stopped: "
        "write to a folder nothing else cleans up or rotates"
    )


class PartialWrite(Exception):
    """A write failed; ``lines`` complete lines of that write stayed in the file."""

    def __init__(self, error: OSError, lines: int) -> None:
        super().__init__(error)
        self.error = error
        self.lines = lines


def open_for_append(path: str) -> tuple[int, bool, int]:
    """Open an output for appending: ``(fd, regular file?, size)``.

    A regular file is also locked against a second recorder (see
    :func:`lock_exclusive`); special files (``/dev/full``, FIFOs) are not.
    Failures are one-line :class:`OutputError`s and leave no descriptor open.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise open_failed(path, os_reason(exc)) from None
    try:
        st = os.fstat(fd)
        regular = stat.S_ISREG(st.st_mode)
        if regular:
            lock_exclusive(fd, path)
    except OSError as exc:
        os.close(fd)
        raise open_failed(path, os_reason(exc)) from None
    except OutputError:
        os.close(fd)
        raise
    return fd, regular, st.st_size if regular else 0


class LineFile:
    """A file opened for appending whole lines.

    Opening does not change the file: the sink first checks what is there
    (the CSV header), then calls :meth:`repair`, so a file that is not a
    recording is refused untouched. Special files (``/dev/full``, FIFOs) are
    written as they are.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.repaired_bytes = 0
        self.fd, self.regular, self.size = open_for_append(path)

    def repair(self, keep_tail: Callable[[bytes], bool] | None = None) -> None:
        """Cut the last line if it has no newline; ``repaired_bytes`` says how much went.

        ``keep_tail`` (optional) is asked about such a line first: if it says
        the bytes are a complete record (JSONL can tell: a cut JSON object does
        not parse), the line is terminated instead of dropped.
        """
        fd, size = self.fd, self.size
        if not self.regular or size == 0:
            return
        try:
            if os.pread(fd, 1, size - 1) == b"\n":
                return
            end = size
            keep = 0
            while end > 0 and size - end < MAX_TORN_BYTES:
                start = max(0, end - _CHUNK)
                i = os.pread(fd, end - start, start).rfind(b"\n")
                if i >= 0:
                    keep = start + i + 1
                    break
                end = start
            else:
                if end > 0:
                    raise open_failed(
                        self.path,
                        "its last line is over 1 MiB long, so it is not a recording "
                        "(refusing to cut it)",
                    )
            if keep_tail is not None and keep_tail(os.pread(fd, size - keep, keep)):
                done, error = self._write_all(b"\n")
                if error is not None:
                    raise error
                self.size += 1
                return
            os.ftruncate(fd, keep)
        except OSError as exc:
            raise open_failed(
                self.path, f"cannot repair its last line ({os_reason(exc)})"
            ) from None
        self.repaired_bytes = size - keep
        self.size = keep

    def read_head(self, n: int) -> bytes:
        """The first ``n`` bytes of the file (fewer if it is shorter)."""
        if not self.regular:
            return b""
        try:
            return os.pread(self.fd, n, 0)
        except OSError as exc:
            raise open_failed(self.path, os_reason(exc)) from None

    def _write_all(self, data: bytes) -> tuple[int, OSError | None]:
        """Write all of ``data``: the bytes written, and the error that stopped it if any."""
        view = memoryview(data)
        done = 0
        total = len(data)
        try:
            while done < total:
                n = os.write(self.fd, view[done:])
                if n == 0:  # pragma: no cover - regular files never do this
                    return done, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += n
        except OSError as exc:
            return done, exc
        return done, None

    def write(self, data: bytes) -> None:
        """Append ``data`` (complete lines) in one write; on failure keep only whole lines."""
        done, error = self._write_all(data)
        if error is None:
            self.size += done
            return
        keep = data.rfind(b"\n", 0, done) + 1
        if self.regular and keep < done:
            try:
                os.ftruncate(self.fd, os.fstat(self.fd).st_size - done + keep)
            except OSError:
                pass  # the torn line is repaired at the next open
        self.size += keep
        raise PartialWrite(error, data.count(b"\n", 0, keep))

    def flush(self, fsync: bool = False) -> None:
        """Nothing is buffered here; with ``fsync`` ask the kernel to reach the disk."""
        if fsync:
            try:
                os.fsync(self.fd)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # not a file (/dev/*, FIFO)
                    raise

    def gone(self) -> str | None:
        return gone(self.fd, self.path) if self.regular else None

    def close(self) -> None:
        os.close(self.fd)


class StreamTarget:
    """A binary stream (stdout) written like a :class:`LineFile`.

    The stream is flushed by :meth:`flush` (the recorder calls it at least
    every second), not after every batch.
    """

    regular = False
    repaired_bytes = 0

    def __init__(self, stream: BinaryIO, path: str = "-") -> None:
        self.path = path
        self.stream = stream

    def write(self, data: bytes) -> None:
        try:
            self.stream.write(data)
        except OSError as exc:
            raise PartialWrite(exc, 0) from None

    def flush(self, fsync: bool = False) -> None:
        self.stream.flush()

    def gone(self) -> str | None:
        return None

    def close(self) -> None:
        """Flush only: stdout belongs to the process, not to the sink."""
        self.flush()


class LineSink:
    """What the JSONL and CSV sinks share: one write of whole lines per batch.

    Subclasses set ``_target`` (a :class:`LineFile`, a compressed line file
    or a :class:`StreamTarget`) and implement :meth:`_encode`. A failed
    write keeps the whole lines that made it (``rows`` counts them) and is
    raised again on every later call; ``close`` never raises twice.
    """

    _target: Any

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        self.rows = 0
        self.what = what
        self.repaired_bytes = 0
        self._closed = False
        self._failure: Exception | None = None

    def _encode(self, items: Sequence[Any]) -> bytes:
        raise NotImplementedError

    def write(self, items: Sequence[Any]) -> None:
        """Append one batch with one write."""
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise ValueError(f"write to closed sink {display_name(self.path)}")
        if not items:
            return
        data = self._encode(items)
        try:
            self._target.write(data)
        except PartialWrite as exc:
            self.rows += exc.lines - self._lost()
            self._failure = write_failed(self.path, os_reason(exc.error), self.rows, self.what)
            raise self._failure from None
        self.rows += len(items)

    def _lost(self) -> int:
        """Rows counted earlier that a failure took back (a compressor's unflushed lines)."""
        lost = int(getattr(self._target, "lost_lines", 0))
        if lost:
            self._target.lost_lines = 0
        return lost

    def flush(self, fsync: bool = False) -> None:
        """Cheap: files have no user-space buffer (stdout's is flushed); ``fsync`` syncs.

        Also checks that the file is still at its path (see :func:`gone`).
        """
        if self._closed:
            return
        if self._failure is not None:
            raise self._failure
        try:
            self._target.flush(fsync)
        except OSError as exc:
            self.rows -= self._lost()
            self._failure = write_failed(self.path, os_reason(exc), self.rows, self.what)
            raise self._failure from None
        how = self._target.gone()
        if how is not None:
            lost = self.rows
            if how == "deleted":
                self.rows = 0
            self._failure = output_gone(self.path, how, lost, self.what)
            raise self._failure

    def close(self) -> None:
        """Flush and close; idempotent. After a failure it closes without raising again."""
        if self._closed:
            return
        self._closed = True
        try:
            self._target.close()
        except OSError as exc:
            self.rows -= self._lost()
            if self._failure is None:
                self._failure = write_failed(self.path, os_reason(exc), self.rows, self.what)
                raise self._failure from None
