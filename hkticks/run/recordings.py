"""Recordings a command reads back: the files and the selection opened once, and the
checks every reader makes after reading (``stats``, ``replay``, ``validate``).

:func:`open_recording` refuses a list that holds no trade file; :func:`check_read`
turns "every line skipped" into :class:`~hkticks.errors.NothingRead`;
:func:`data_kind` says whether the trades are simulated, real or mixed.
"""

from __future__ import annotations

from collections.abc import Sequence

from hkticks.errors import NothingRead, UsageError
from hkticks.storage import provenance
from hkticks.storage.readers import Recording, make_selection


def open_recording(
    files: Sequence[str],
    symbols: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    *,
    select: bool = True,
) -> Recording:
    """The trade files of ``files`` (paths, folders, patterns) with their selection
    (``select=False``: no selection at all, every trade read)."""
    selection = make_selection(symbols, start, end) if select else None
    recording = Recording(files, selection)
    if not recording.files:
        raise UsageError("no trade recordings among the files given (only events sidecars)")
    return recording


def check_read(reports: Sequence[object]) -> None:
    """Every trade file had all its lines skipped (or could not be read): one line and a
    non-zero exit, not "0 trades"."""
    from hkticks.analysis.stats import nothing_read

    unread = nothing_read(reports)  # type: ignore[arg-type]
    if unread is not None:
        raise NothingRead(unread)


def data_kind(recording: Recording) -> str | None:
    """``simulated``, ``real``, ``mixed`` or ``None`` (no trades): simulated (demo) data
    says so wherever it is read back."""
    return provenance.kind_of(f.path for f in recording.files)


def is_simulated(kind: str | None) -> bool:
    return kind in (provenance.SIMULATED, provenance.MIXED)


def check_events_files(paths: Sequence[str]) -> None:
    """Refuse an ``--events`` sidecar that does not exist (before anything is read)."""
    import os

    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"no such events file: {path}")
