"""Session events sidecars read back: the sidecar of a recording
(``<path>.events.jsonl``, an archive day's ``_events`` file, or the sidecar of
the run that wrote it beside another output, found by its ``outputs`` event)
and its events (:func:`read_events`, bad lines skipped).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from typing import Any

import orjson

from hkticks.storage.file_report import MAX_EXAMPLES as MAX_EXAMPLES  # re-exported
from hkticks.storage.file_report import FileReport as FileReport  # re-exported
from hkticks.storage.readers import TickFile
from hkticks.storage.recording_paths import (
    EVENTS_SUFFIX,
)
from hkticks.storage.selection import make_selection as make_selection  # re-exported
from hkticks.storage.selection import parse_when as parse_when  # re-exported
from hkticks.storage.sinks.compressed import strip_compression


def events_sidecar(path: str) -> str | None:
    """The events sidecar of a recording (``<path>.events.jsonl``) if it exists."""
    if path == "-":
        return None
    base = os.path.basename(path.rstrip(os.sep))
    if base.startswith("date=") and os.path.isdir(path):
        # a day of the Parquet archive: its events are kept beside the day folders
        candidate = os.path.join(os.path.dirname(path.rstrip(os.sep)), "_events", base + ".jsonl")
        return candidate if os.path.isfile(candidate) else None
    candidate = path + EVENTS_SUFFIX
    if os.path.isfile(candidate):
        return candidate
    return _run_sidecar(path)


# the event ``hkticks record`` writes after ``feed_start``: the file outputs of the run
OUTPUTS_EVENT = "outputs"
_EXT_CHAIN = re.compile(r"[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*")


def _run_sidecar(path: str) -> str | None:
    """The sidecar of the run that wrote ``path`` beside another output.

    ``record --out day.jsonl --out day.db`` names its sidecar after the first
    output (``day.jsonl.events.jsonl``): ``day.db`` finds it as a sibling of
    the same stem. A sidecar whose ``outputs`` event does not list ``path`` is
    another run's and is not used.
    """
    folder, base = os.path.split(path)
    stem = strip_compression(base)
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    if not stem:
        return None
    found: list[str] = []
    pattern = glob.escape(os.path.join(folder, stem)) + ".*" + EVENTS_SUFFIX
    for candidate in sorted(glob.glob(pattern)):
        middle = os.path.basename(candidate)[len(stem) + 1 : -len(EVENTS_SUFFIX)]
        if not _EXT_CHAIN.fullmatch(middle) or not os.path.isfile(candidate):
            continue
        listed = _listed_outputs(candidate)
        if listed is None:
            found.append(candidate)  # a rotated file's sidecar, or an older run
        elif any(_names(pat, base) for pat in listed):
            return candidate
    return found[0] if found else None


def _listed_outputs(sidecar: str) -> list[str] | None:
    """The outputs the sidecar's run listed (its first few events), or None."""
    for i, ev in enumerate(read_events(sidecar)):
        if ev["event"] == OUTPUTS_EVENT and isinstance(ev.get("files"), list):
            return [str(f) for f in ev["files"]]
        if i >= 8:
            break
    return None


def _names(listed: str, base: str) -> bool:
    """``listed`` (a file name, or a rotation template ``day-{date}.db``) names ``base``."""
    if "{" not in listed:
        return listed == base
    parts = re.split(r"\{[^}]*\}", listed)
    return re.fullmatch(".+".join(re.escape(p) for p in parts), base) is not None


def read_events(path: str) -> Iterator[dict[str, Any]]:
    """The session events of a sidecar (``ts`` and ``event`` checked), bad lines skipped."""
    for line in TickFile(path)._lines():
        if line is None:
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if type(rec) is dict and type(rec.get("ts")) is int and isinstance(rec.get("event"), str):
            yield rec
