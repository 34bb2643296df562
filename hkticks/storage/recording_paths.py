"""Which recordings a list of paths names: each file's format and compression
from its name (:func:`recording_format`), sidecars told apart
(:func:`is_events_file`), and directories, archives and unexpanded patterns
turned into files (:func:`expand_paths`), checked before anything is read.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from hkticks.errors import UsageError
from hkticks.storage.file_report import MAX_EXAMPLES as MAX_EXAMPLES  # re-exported
from hkticks.storage.file_report import FileReport as FileReport  # re-exported
from hkticks.storage.selection import make_selection as make_selection  # re-exported
from hkticks.storage.selection import parse_when as parse_when  # re-exported
from hkticks.storage.sinks import FORMATS
from hkticks.storage.sinks.compressed import compression_of, strip_compression, zstd_module

EVENTS_SUFFIX = ".events.jsonl"


def recording_format(path: str) -> tuple[str, str | None]:
    """``(format, compression)`` of a recording from its name: ``("jsonl", "gzip")``.

    ``-`` is standard input (JSON Lines; compression is recognised from the
    first bytes). Raises :class:`UsageError` naming the supported extensions.
    """
    if path == "-":
        return "jsonl", None
    if path.lower().endswith(".parquet"):
        return "parquet", None
    compression = compression_of(path)
    ext = os.path.splitext(strip_compression(path))[1].lower()
    if ext not in FORMATS:
        raise UsageError(
            f"cannot tell the format of {path!r} from its extension; hkticks reads "
            f"{', '.join(FORMATS)}, and .jsonl/.csv compressed as .gz or .zst"
        )
    if compression is not None and FORMATS[ext] == "sqlite":
        raise UsageError(f"{path!r}: decompress SQLite databases before reading them")
    if compression == "zstd":
        zstd_module()
    return FORMATS[ext], compression


def is_events_file(path: str) -> bool:
    """Whether ``path`` is named like a session events sidecar (``*.events.jsonl[.gz]``)."""
    return strip_compression(path).lower().endswith(EVENTS_SUFFIX)


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Paths as given, directories replaced by the recordings in them, patterns
    (``'ticks-2024-05-*.jsonl.gz'``) by the files they match (sorted).

    A missing path is a :class:`UsageError` (checked before anything is read).
    """
    out: list[str] = []
    for path in paths:
        if path == "-":
            out.append(path)
            continue
        if os.path.isdir(path) and _is_archive(path):
            out.append(path)  # a Parquet archive (date=YYYY-MM-DD folders): read as one
            continue
        if os.path.isdir(path):
            found = []
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if not os.path.isfile(full):
                    continue
                ext = os.path.splitext(strip_compression(name))[1].lower()
                if (ext in FORMATS or ext == ".parquet") and name[:1] != ".":
                    found.append(full)
            if not found:
                raise UsageError(f"no recordings in directory {path}")
            out.extend(found)
            continue
        if not os.path.exists(path) and glob.has_magic(path):
            # a pattern the shell did not expand (quoted, or no shell at all)
            matches = [p for p in sorted(glob.glob(path)) if os.path.isfile(p)]
            if not matches:
                raise UsageError(f"no files match {path}")
            for p in matches:
                recording_format(p)
            out.extend(matches)
            continue
        if not os.path.exists(path):
            raise UsageError(f"no such file: {path}")
        recording_format(path)
        out.append(path)
    return out


def _is_archive(path: str) -> bool:
    from hkticks.storage.archive import is_archive

    return is_archive(path)
