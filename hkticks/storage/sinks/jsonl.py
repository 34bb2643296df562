"""JSON Lines sinks: ticks (``.jsonl`` and ``-`` for stdout), order books and events.

Speed matters here because the writer thread shares the GIL with the socket
threads. A call to ``orjson.dumps`` costs a few microseconds whatever the size
of its argument, so a batch is serialised with ONE call, as a JSON array, and
the array is turned into lines by replacing the ``},{`` between its objects
with ``}\\n{``. That is only correct when no string inside a record contains
``},{``, which is checked for the whole batch at once (the count of ``},{``
must be exactly one less than the number of records); otherwise the batch is
serialised record by record. Ticks and books are dataclasses with slots that
orjson serialises directly, fields in definition order (``RECORD_FIELDS``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, BinaryIO, cast

import orjson

from hkticks.errors import OutputError
from hkticks.storage.sinks.compressed import CompressedLineFile, open_line_file
from hkticks.storage.sinks.failures import display_name
from hkticks.storage.sinks.linefile import LineFile, LineSink, StreamTarget

_SEPARATOR = b"},{"
_NEWLINE_SEPARATOR = b"}\n{"


def _record_of(obj: Any) -> Any:
    """orjson's ``default``: objects that know their record form (``Event``, ``Book``)."""
    record = getattr(obj, "record", None)
    if record is None:
        raise TypeError(f"cannot record a {type(obj).__name__}")
    return record()


def _dumps_records(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_record_of, option=orjson.OPT_PASSTHROUGH_DATACLASS)


def _dumps_direct(obj: Any) -> bytes:
    return orjson.dumps(obj)


def encode_lines(items: Sequence[Any], *, records: bool = False) -> bytes:
    """``items`` as JSON Lines (each line ends with a newline).

    ``records=False`` serialises dataclasses as they are (``Tick``: its
    fields in ``RECORD_FIELDS`` order); ``records=True`` uses each item's
    ``record()`` (``Event`` merges its details into the record).
    """
    n = len(items)
    if n == 0:
        return b""
    dumps = _dumps_records if records else _dumps_direct
    batch = items if isinstance(items, (list, tuple)) else list(items)
    array = dumps(batch)
    if array.count(_SEPARATOR) == n - 1 and array[1:2] == b"{":
        return array[1:-1].replace(_SEPARATOR, _NEWLINE_SEPARATOR) + b"\n"
    return b"\n".join(map(dumps, batch)) + b"\n"


def _is_complete_record(tail: bytes) -> bool:
    """Whether a line without its newline is nonetheless a whole JSON object."""
    try:
        return isinstance(orjson.loads(tail), dict)
    except orjson.JSONDecodeError:
        return False


_HEAD = 1 << 16


def _check_json_lines(head: bytes, path: str) -> None:
    """Refuse to append to a file that is not JSON Lines (one object a line), given
    its first bytes, before anything in it is changed: a binary or other file
    named ``.jsonl`` is not "repaired" into a recording."""
    if not head:
        return
    cut = head.find(b"\n")
    first = head if cut < 0 else head[:cut]
    ok = b"\x00" not in head
    if ok and (cut >= 0 or len(head) < _HEAD):
        try:
            ok = isinstance(orjson.loads(first), dict)
        except orjson.JSONDecodeError:
            # a file holding only a torn first line is a recording cut short
            ok = cut < 0 and first.lstrip().startswith(b"{")
    if not ok:
        raise OutputError(
            f"{display_name(path)} is not a JSON Lines recording (its first line is not a "
            "JSON object); refusing to append to a file hkticks did not write: choose another output"
        )


def check_json_lines_file(path: str) -> None:
    """:func:`_check_json_lines` for a plain file (``check_output``, before connecting)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return  # opening the sink says what is wrong
    _check_json_lines(head, path)


class JsonlSink(LineSink):
    """Records as JSON Lines, appended to ``path`` (``-``: standard output).

    ``records=True`` writes ``item.record()`` (books, events); otherwise the
    items are written as they are (ticks). ``what`` names the items in error
    messages ("wrote 1200 ticks before the failure").
    """

    def __init__(self, path: str, *, records: bool = False, what: str = "ticks") -> None:
        super().__init__(path, what)
        self._records = records
        self._target: LineFile | CompressedLineFile | StreamTarget
        if path == "-":
            # Looked up now, not at import, so a replaced sys.stdout is honoured.
            stream = getattr(sys.stdout, "buffer", None)
            self._target = StreamTarget(
                cast(BinaryIO, stream if stream is not None else sys.stdout)
            )
        else:
            self._target = open_line_file(path)  # .gz/.zst: compressed
            try:
                _check_json_lines(self._target.read_head(_HEAD), path)
                self._target.repair(_is_complete_record)
            except BaseException:
                self._target.close()
                raise
        self.repaired_bytes = self._target.repaired_bytes

    def _encode(self, items: Sequence[Any]) -> bytes:
        return encode_lines(items, records=self._records)
