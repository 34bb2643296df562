"""The CSV sink: ticks as rows under a ``RECORD_FIELDS`` header (``.csv``).

Named ``csvfile`` so it does not shadow the standard library's ``csv``.

Rows are formatted with one f-string per tick, which is about twice as fast
as ``csv.writer`` and gives the same bytes whenever no text field needs
quoting: numbers are written with ``str()`` (for floats that is the
shortest round-trip form, the same values as orjson writes in JSONL) and
``None`` as the empty field. Whether any field needed quoting is checked for
the whole batch at once (exactly eight commas and one newline per row, no
quote or carriage return); if one did, the batch is written again with
RFC 4180 quoting. (Not by ``csv.writer``: with ``lineterminator="\\n"`` it
leaves a carriage return unquoted, which readers take for a line break.)
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from hkticks.errors import OutputError
from hkticks.storage.sinks.compressed import open_line_file
from hkticks.storage.sinks.failures import display_name, os_reason, write_failed
from hkticks.storage.sinks.linefile import LineSink, PartialWrite
from hkticks.tick import RECORD_FIELDS

HEADER = (",".join(RECORD_FIELDS) + "\n").encode()
_row = attrgetter(*RECORD_FIELDS)
_COMMAS = len(RECORD_FIELDS) - 1
_SPECIAL = (",", '"', "\r", "\n")


def _field(value: Any) -> str:
    """One CSV field: ``None`` empty, text quoted when it must be, numbers as ``str()``."""
    if value is None:
        return ""
    if isinstance(value, str):
        if any(c in value for c in _SPECIAL):
            return '"' + value.replace('"', '""') + '"'
        return value
    return str(value)


def encode_rows(ticks: Sequence[Any]) -> bytes:
    """``ticks`` as CSV lines (no header), ``None`` as the empty field."""
    text = "".join(
        [
            f"{t.symbol},{t.ts},{t.price},{t.volume},{t.turnover},"
            f"{'' if t.side is None else t.side},{'' if t.seq is None else t.seq},"
            f"{t.recv_ts},{t.src}\n"
            for t in ticks
        ]
    )
    n = len(ticks)
    if text.count(",") != _COMMAS * n or text.count("\n") != n or '"' in text or "\r" in text:
        text = "".join([",".join(map(_field, _row(t))) + "\n" for t in ticks])
    return text.encode()


class CsvSink(LineSink):
    """Ticks appended to a CSV file; a new or empty file gets the header first.

    An existing file must start with exactly this header, else it is refused
    before anything in it is changed.
    """

    def __init__(self, path: str, *, what: str = "ticks") -> None:
        super().__init__(path, what)
        self._target = open_line_file(path)  # .gz/.zst: compressed
        try:
            self._open_existing()
        except BaseException:
            self._target.close()
            raise
        self.repaired_bytes = self._target.repaired_bytes

    def _open_existing(self) -> None:
        f = self._target
        head = f.read_head(len(HEADER))
        # A file holding only part of the header is a torn new recording.
        if head != HEADER and not (f.size < len(HEADER) and HEADER.startswith(head)):
            first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
            raise OutputError(
                f"{display_name(self.path)} already holds other CSV data (its first line is "
                f"{first[:60]!r}, expected {HEADER.decode().strip()!r}); choose another output"
            )
        f.repair()
        if f.size == 0:
            try:
                f.write(HEADER)
            except PartialWrite as exc:
                raise write_failed(self.path, os_reason(exc.error), 0, self.what) from None

    def _encode(self, items: Sequence[Any]) -> bytes:
        return encode_rows(items)
