"""File rotation for ``record --rotate daily|hourly|SIZE``: one file per period or per size.

An output path may be a *template* with placeholders:

``{date}``
    the Hong Kong date (UTC+8, the trading date) as ``YYYY-MM-DD``;
``{hour}``
    the Hong Kong hour ``00``-``23``;
``{part}``
    the part number ``0001``, ``0002``, ... of ``--rotate SIZE``.

``--rotate`` adds what its policy needs and the path lacks, before the
extension (``ticks.jsonl.gz`` with ``--rotate daily`` is
``ticks-{date}.jsonl.gz``); placeholders without ``--rotate`` rotate by the
smallest period they name. Directories may hold placeholders too
(``data/{date}/ticks.csv``): they are created as needed.

Which file a tick goes to is decided by the tick's ``recv_ts`` (when it was
received), not by the wall clock at write time, and not by the exchange time
``ts``: the writer thread drains the queue in batches, so the wall clock would
put a tick received at 09:59:59.990 into the 10:00 file when its batch is
written a few milliseconds late; exchange times can go backwards (a late
trade, a re-sent latest trade after a reconnect) and arrive in seconds from
some providers. ``recv_ts`` is stamped once, by this machine, in arrival
order. Periods only move forward: a tick whose ``recv_ts`` falls in an
earlier period than the current file (clock stepped back, threads
interleaving at the boundary) stays in the current file, so files never
overlap and reading them in name order gives back the recording's order.

The old file is flushed and closed (a gzip member finished, a SQLite WAL
checkpointed) before the next one is opened, and the switch is reported as a
``rotated`` event (:meth:`RotatingSink.take_events`) that the recorder writes
to the events sidecar. Files that already exist are appended to, so a
recorder restarted mid-day continues today's file (and the last part of a
size rotation) instead of overwriting it.

Time is injectable: ``time_of`` maps an item to the epoch ms its period is
decided by and ``clock`` gives "now" for the first file, so tests simulate an
hour of recording in seconds.
"""

from __future__ import annotations

import glob
import os
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hkticks.errors import UsageError
from hkticks.storage.sinks.compressed import strip_compression
from hkticks.storage.sinks.failures import open_failed, os_reason
from hkticks.tick import Event

HKT_OFFSET_MS = 8 * 3600 * 1000
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
PLACEHOLDERS = ("date", "hour", "part")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
MIN_ROTATE_BYTES = 1000
DEFAULT_ROW_BYTES = 160  # a first guess at a record's size, until the file tells


MIN_SQLITE_ROTATE_BYTES = 1 << 20


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class RotatePolicy:
    """What ``--rotate`` asked for: a period (``"daily"``/``"hourly"``), a size, or both."""

    period: str | None = None
    max_bytes: int | None = None

    def __str__(self) -> str:
        """``every day``, ``every hour``, ``at 500 MB``, ``every day or at 1 GB``."""
        parts = []
        if self.period:
            parts.append("every day" if self.period == "daily" else "every hour")
        if self.max_bytes:
            parts.append(f"at {human_bytes(self.max_bytes)}")
        return " or ".join(parts)


def human_bytes(n: float) -> str:
    """``1.5 GB``, ``500 MB``, ``20 kB``, ``900 B`` (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" or n == int(n) else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} TB"  # pragma: no cover


def parse_size(text: str) -> int:
    """``500MB`` -> 500_000_000, ``1.5GiB`` -> 1_610_612_736, ``64k``, ``4096``.

    ``k``/``KB``/``M``/``MB``/``G``/``GB``/``T``/``TB`` are powers of 1000;
    ``KiB``/``MiB``/``GiB``/``TiB`` powers of 1024.
    """
    m = _SIZE_RE.match(text)
    if not m:
        raise UsageError(f"invalid size {text!r}: use e.g. 500MB, 2GB or 1GiB")
    number, unit, binary, _ = m.groups()
    if binary and not unit:
        raise UsageError(f"invalid size {text!r}: use e.g. 500MB, 2GB or 1GiB")
    base = 1024 if binary else 1000
    size = int(float(number) * base ** _UNITS[unit.lower()])
    if size < MIN_ROTATE_BYTES:
        raise UsageError(f"size {text!r} is too small: rotate at {MIN_ROTATE_BYTES} bytes or more")
    return size


def parse_rotate(text: str) -> RotatePolicy:
    """``daily``, ``hourly``, a size (``500MB``), or a period and a size (``daily,1GB``)."""
    period: str | None = None
    max_bytes: int | None = None
    for item in (p.strip() for p in text.split(",")):
        word = item.lower()
        if word in ("daily", "hourly"):
            if period is not None:
                raise UsageError(f"--rotate {text!r}: give one period (daily or hourly)")
            period = word
        elif item:
            if max_bytes is not None:
                raise UsageError(f"--rotate {text!r}: give one size")
            try:
                max_bytes = parse_size(item)
            except UsageError as exc:
                raise UsageError(
                    f"--rotate {text!r}: use daily, hourly, a size such as 500MB, "
                    f"or both (daily,500MB); {exc}"
                ) from None
    if period is None and max_bytes is None:
        raise UsageError("--rotate needs daily, hourly or a size such as 500MB")
    return RotatePolicy(period, max_bytes)


def placeholders_in(path: str) -> set[str]:
    """The placeholders of ``path``; :class:`UsageError` for unknown ones (``{day}``)."""
    found = set(_PLACEHOLDER_RE.findall(path))
    unknown = sorted(found - set(PLACEHOLDERS))
    if unknown:
        raise UsageError(
            f"unknown placeholder {{{unknown[0]}}} in {path!r}; use {{date}}, {{hour}} or {{part}}"
        )
    return found


def split_extension(path: str) -> tuple[str, str]:
    """``("dir/ticks", ".jsonl.gz")`` for ``dir/ticks.jsonl.gz``: the format's extension kept whole."""
    base = strip_compression(path)
    root, ext = os.path.splitext(base)
    return root, ext + path[len(base) :]


def template_for(path: str, policy: RotatePolicy | None) -> str | None:
    """The file-name template of an output, or ``None`` when it does not rotate.

    Placeholders the policy needs but the path lacks are added before the
    extension: ``-{date}``, ``-{hour}``, ``-{part}``.
    """
    if path == "-":
        return None
    have = placeholders_in(path)
    if policy is None:
        if not have:
            return None
        if "part" in have:
            raise UsageError(
                f"{{part}} in {path!r} numbers the files of a size rotation: add e.g. --rotate 500MB"
            )
        if "hour" in have and "date" not in have:
            raise UsageError(
                f"{path!r} has {{hour}} but no {{date}}: files of different days would share "
                "a name; add {date}"
            )
        return path
    if "part" in have and not policy.max_bytes:
        raise UsageError(
            f"{{part}} in {path!r} numbers the files of a size rotation: use --rotate SIZE "
            "(or daily,SIZE)"
        )
    if policy.period == "daily" and "hour" in have:
        raise UsageError(
            f"{path!r} has {{hour}} but --rotate daily starts one file a day: "
            "drop {hour}, or use --rotate hourly"
        )
    if policy.max_bytes and policy.max_bytes < MIN_SQLITE_ROTATE_BYTES and _is_sqlite(path):
        # an empty database with its schema and index is already ~12 KB
        raise UsageError(
            f"--rotate {human_bytes(policy.max_bytes)} is too small for SQLite ({path}): "
            f"use at least {human_bytes(MIN_SQLITE_ROTATE_BYTES)}"
        )
    need = []
    if policy.period in ("daily", "hourly") or "hour" in have:
        need.append("date")
    if policy.period == "hourly":
        need.append("hour")
    if policy.max_bytes:
        need.append("part")
    missing = [p for p in need if p not in have]
    if not missing:
        return path
    root, ext = split_extension(path)
    return root + "".join(f"-{{{p}}}" for p in missing) + ext


def period_ms(template: str) -> int | None:
    """The length of a template's period: an hour with ``{hour}``, a day with ``{date}``."""
    if "{hour}" in template:
        return HOUR_MS
    if "{date}" in template:
        return DAY_MS
    return None


def period_index(ts_ms: int, length: int) -> int:
    """Which Hong Kong hour or day ``ts_ms`` falls in (a number that only grows with time)."""
    return (ts_ms + HKT_OFFSET_MS) // length


def expand(template: str, ts_ms: int, part: int = 1) -> str:
    """The file name of ``template`` for the period holding ``ts_ms`` and part ``part``."""
    local = time.gmtime((ts_ms + HKT_OFFSET_MS) // 1000)
    return (
        template.replace("{date}", time.strftime("%Y-%m-%d", local))
        .replace("{hour}", time.strftime("%H", local))
        .replace("{part}", f"{part:04d}")
    )


def _recv_ts(item: Any) -> int:
    return int(item.recv_ts)


def file_size(path: str) -> int:
    """Bytes on disk; for SQLite the database's logical size (pages in use).

    A SQLite file alone grows only at checkpoints (every ~40 MB of changes)
    and its write-ahead log counts every page rewrite, so neither measures
    the data; ``page_count * page_size`` does, WAL included.
    """
    if _is_sqlite(path):
        return _sqlite_size(path)
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _is_sqlite(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in (".db", ".sqlite")


def sqlite_readonly_uri(path: str) -> str:
    """A URI to read a SQLite file without leaving ``-wal``/``-shm`` files behind.

    A database being written has its write-ahead log next to it and is read
    through it; a closed one (no log) is opened ``immutable``: otherwise a
    read-only connection creates the log and index files and, unable to
    checkpoint, leaves them there.
    """
    uri = f"file:{quote(path)}?mode=ro"
    return uri if os.path.exists(path + "-wal") else uri + "&immutable=1"


def _sqlite_size(path: str, con: sqlite3.Connection | None = None) -> int:
    if not os.path.exists(path):
        return 0
    own = con is None
    try:
        if con is None:
            con = sqlite3.connect(sqlite_readonly_uri(path), uri=True, timeout=5.0)
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        size = con.execute("PRAGMA page_size").fetchone()[0]
        return int(pages) * int(size)
    except sqlite3.Error:
        return os.path.getsize(path)
    finally:
        if own and con is not None:
            con.close()


class RotatingSink:
    """A sink that writes through a template, switching files by period and/or size.

    ``open_file(path)`` opens one file's sink (JSONL, CSV, SQLite; compressed
    or not). ``path`` is the file being written now; ``files`` every file
    written in this run, in order; ``rows`` the rows written to all of them.
    """

    def __init__(
        self,
        template: str,
        open_file: Callable[[str], Any],
        *,
        max_bytes: int | None = None,
        time_of: Callable[[Any], int] = _recv_ts,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        placeholders_in(template)
        if max_bytes and "{part}" not in template:
            raise ValueError("a size rotation needs {part} in the template")
        self.template = template
        self.max_bytes = max_bytes
        self.files: list[str] = []
        self._open_file = open_file
        self._time_of = time_of
        self._clock = clock
        self._length = period_ms(template)
        self._make_dirs = "{" in os.path.dirname(template)
        self._events: list[Event] = []
        self._rows_before = 0  # rows of the files already closed in this run
        self._period = 0
        self._part = 1
        self._sink: Any
        self._ts = 0  # a time in the current period (size rotation names its parts with it)
        self._existed = False  # whether the current file was there before (appended to)
        self._size_con: sqlite3.Connection | None = None  # measures a SQLite file's size
        self.path = template
        self.rows = 0
        self._closed = False
        self._size_at_open = 0
        start = clock()
        self._period = period_index(start, self._length) if self._length else 0
        self._open(start, self._first_part(start))
        self.repaired_bytes: int = self._sink.repaired_bytes

    # -- the Sink protocol ---------------------------------------------------------

    def write(self, items: Sequence[Any]) -> None:
        if self._closed:
            raise ValueError(f"write to closed sink {self.template}")
        if not items:
            return
        try:
            self._write(items)
        finally:
            self.rows = self._rows_before + self._sink.rows

    def _write(self, items: Sequence[Any]) -> None:
        length = self._length
        if length is None or period_index(max(map(self._time_of, items)), length) <= self._period:
            self._write_sized(items)
            return
        # The batch crosses into a later period: split it where periods start.
        time_of = self._time_of
        current = self._period
        start = 0
        for i, item in enumerate(items):
            p = period_index(time_of(item), length)
            if p > current:
                if i > start:
                    self._write_sized(items[start:i])
                self._period = current = p
                self._switch(time_of(item), "hour" if length == HOUR_MS else "date")
                start = i
        self._write_sized(items[start:])

    def flush(self, fsync: bool = False) -> None:
        if not self._closed:
            try:
                self._sink.flush(fsync)
            finally:
                self.rows = self._rows_before + self._sink.rows

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_size_con()
        try:
            self._sink.close()
        finally:
            self.rows = self._rows_before + self._sink.rows

    def earlier_files(self, limit: int) -> list[str]:
        """Files of this rotation already on disk before the current one, newest first.

        Names sort in time order (date, hour, part), so "before" is by name;
        resuming reads them for the trades the server re-sends (see
        :func:`hkticks.storage.resume.last_trades_of`).
        """
        pattern = (
            glob.escape(self.template)
            .replace("{date}", "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]")
            .replace("{hour}", "[0-9][0-9]")
            .replace("{part}", "[0-9][0-9][0-9][0-9]")
        )
        names = sorted(p for p in glob.glob(pattern) if p < self.path)
        return names[::-1][:limit]

    def take_events(self) -> list[Event]:
        """The ``rotated`` events since the last call (the recorder writes them)."""
        events, self._events = self._events, []
        return events

    # -- internals -----------------------------------------------------------------

    def _name(self, ts_ms: int, part: int) -> str:
        return expand(self.template, ts_ms, part)

    def _first_part(self, ts_ms: int) -> int:
        """The part to continue in a period: the last one already there, or the next if full."""
        if not self.max_bytes:
            return 1
        part = 1
        while os.path.exists(self._name(ts_ms, part + 1)):
            part += 1
        return self._next_free(ts_ms, part)

    def _next_free(self, ts_ms: int, part: int) -> int:
        assert self.max_bytes
        while file_size(self._name(ts_ms, part)) >= self.max_bytes:
            part += 1
        return part

    def _open(self, ts_ms: int, part: int) -> None:
        path = self._name(ts_ms, part)
        if self._make_dirs:
            parent = os.path.dirname(path)
            if parent:
                try:
                    os.makedirs(parent, exist_ok=True)
                except OSError as exc:
                    raise open_failed(path, os_reason(exc)) from None
        existed = os.path.exists(path)
        self._sink = self._open_file(path)
        self.path = path
        if self.max_bytes and _is_sqlite(path):
            # used by the writer thread, one thread at a time, like the sink itself
            self._size_con = sqlite3.connect(
                f"file:{quote(path)}?mode=ro", uri=True, timeout=5.0, check_same_thread=False
            )
        self._part = part
        self._ts = ts_ms
        self._existed = existed
        self._size_at_open = self._size() if self.max_bytes else 0
        self.files.append(path)

    def _size(self) -> int:
        """The current file's size (see :func:`file_size`)."""
        if self._size_con is not None:
            return _sqlite_size(self.path, self._size_con)
        return file_size(self.path)

    def _close_size_con(self) -> None:
        con, self._size_con = self._size_con, None
        if con is not None:
            try:
                con.close()
            except sqlite3.Error:
                pass  # only a measuring connection: the data is the sink's

    def _switch(self, ts_ms: int, reason: str) -> None:
        """Close the current file completely, then open the next one."""
        old = self._sink
        old_path, old_rows = old.path, old.rows
        self._close_size_con()
        old.close()
        self._rows_before += old_rows
        if reason == "size":
            part = self._next_free(ts_ms, self._part + 1)
        else:
            part = self._first_part(ts_ms)
        self._open(ts_ms, part)
        details: dict[str, Any] = {
            "from": old_path,
            "to": self.path,
            "reason": reason,
            "rows": old_rows,
        }
        if self._existed:
            details["appended"] = True
        if self._sink.repaired_bytes:
            details["repaired_bytes"] = self._sink.repaired_bytes
        self._events.append(Event(self._clock(), "rotated", None, details))

    def _write_sized(self, items: Sequence[Any]) -> None:
        if not items:
            return
        limit = self.max_bytes
        if not limit:
            self._sink.write(items)
            return
        i, n = 0, len(items)
        while i < n:
            size = self._size()
            if size >= limit and self._sink.rows > 0:
                self._switch(self._ts, "size")
                size = self._size()
            written = size - self._size_at_open
            rows = self._sink.rows
            per_row = written / rows if rows and written > 0 else DEFAULT_ROW_BYTES
            take = max(1, int((limit - size) / per_row))
            self._sink.write(items[i : i + take])
            i += take


class FollowerSink:
    """A JSON Lines sidecar that follows a rotating sink: ``<its current file><suffix>``.

    The events of ``ticks-2024-05-02.jsonl`` go to
    ``ticks-2024-05-02.jsonl.events.jsonl``, and so on for every file the
    leader opens; a sidecar switches when it is next written after its
    leader switched (the ``rotated`` event opens the new sidecar).
    """

    def __init__(self, leader: RotatingSink, suffix: str, open_file: Callable[[str], Any]) -> None:
        self.leader = leader
        self.suffix = suffix
        self._open_file = open_file
        self._rows_before = 0
        self._closed = False
        self._sink: Any = open_file(leader.path + suffix)
        self.path: str = self._sink.path
        self.rows = 0
        self.repaired_bytes: int = self._sink.repaired_bytes

    def write(self, items: Sequence[Any]) -> None:
        if self._closed:
            raise ValueError(f"write to closed sink {self.path}")
        want = self.leader.path + self.suffix
        if want != self._sink.path:
            self._rows_before += self._sink.rows
            self._sink.close()
            self._sink = self._open_file(want)
            self.path = want
        try:
            self._sink.write(items)
        finally:
            self.rows = self._rows_before + self._sink.rows

    def flush(self, fsync: bool = False) -> None:
        if not self._closed:
            self._sink.flush(fsync)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sink.close()
