"""The compact job: recordings added to the Parquet archive, and what it did in words.

``hkticks compact`` calls :func:`compact_into` (the archive folder checked to be
a folder, not a server address) and shows :func:`compact_lines`. The archive
itself is :mod:`hkticks.storage.parquet`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def compact_into(sources: Sequence[str], dest: str) -> tuple[Any, str]:
    """Add ``sources`` (any recording format, folders, patterns) to the archive ``dest``;
    returns the report and the folder written."""
    from hkticks.run.outputs import parse_file_target
    from hkticks.storage.parquet import compact

    dest = parse_file_target(dest, "--to")  # a server address is refused, never a folder name
    return compact(list(sources), dest), dest


def compact_lines(report: Any, dest: str, elapsed: float) -> list[str]:
    """``read N trades of S sources over D days; added ...`` then one line per day written."""
    days = len(report.days)
    lines = [
        f"read {report.read:,} trades of {report.sources:,} "
        f"source{'s' if report.sources != 1 else ''} over {days} "
        f"day{'s' if days != 1 else ''}; added {report.added:,} to {dest}, "
        f"{report.already:,} already there, {report.duplicates:,} duplicates dropped "
        f"({elapsed:.1f} s)"
    ]
    lines += [f"  {d.date}: +{d.added:,} -> {', '.join(d.files)}" for d in report.days if d.file]
    return lines
