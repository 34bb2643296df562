"""``record --rotate daily --compact DIR``: each day compacted into the archive when it closes.

A rotating output reports each file switch as a ``rotated`` event (see
:mod:`hkticks.storage.sinks.rotating`). :func:`compact_on_rotate` wraps the
sink: when a switch starts a new Hong Kong day, the files of the day just
closed are handed to a :class:`DailyCompactor`, whose own thread runs
:func:`hkticks.storage.parquet.compact` on them, so the writer thread never
waits for Parquet. The day still being written is not compacted (it is not
finished); ``hkticks compact`` adds it later, and adds nothing twice.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from typing import Any

from hkticks.tick import Event

log = logging.getLogger("hkticks.storage.daily_compact")


class DailyCompactor:
    """A worker thread compacting closed days into ``root``; :meth:`close` waits for it."""

    def __init__(self, root: str) -> None:
        from hkticks.storage.parquet import pyarrow_modules

        pyarrow_modules()  # a missing extra is said before anything connects
        self.root = root
        self.days = 0
        self.trades = 0
        self.failed: list[str] = []
        self._jobs: queue.Queue[list[str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="hkticks-compact", daemon=True)
        self._thread.start()

    def submit(self, paths: Sequence[str]) -> None:
        if paths:
            self._jobs.put(list(paths))

    def close(self, timeout: float | None = 300.0) -> None:
        """Finish the compactions asked for, then stop the thread."""
        self._jobs.put(None)
        self._thread.join(timeout)

    def summary(self) -> str:
        """One line for the end of ``record``: what went into the archive."""
        if self.failed:
            return (
                f"compacting {len(self.failed)} file(s) into {self.root} failed; run: "
                f"hkticks compact {' '.join(self.failed)} --to {self.root}"
            )
        if not self.days:
            return (
                f"no day closed during this run: nothing compacted into {self.root} "
                "(the day being written is added when it closes, or by hkticks compact)"
            )
        return f"compacted {self.days} day(s) into {self.root}: {self.trades:,} trades added"

    def _run(self) -> None:
        from hkticks.storage.parquet import compact

        while True:
            paths = self._jobs.get()
            if paths is None:
                return
            try:
                report = compact(paths, self.root)
            except Exception as exc:  # keep recording; say how to finish by hand
                self.failed.extend(paths)
                log.warning(
                    "compacting %s into %s failed (%s); run: hkticks compact %s --to %s",
                    ", ".join(paths),
                    self.root,
                    exc,
                    " ".join(paths),
                    self.root,
                )
                continue
            self.days += 1
            self.trades += report.added
            log.info(
                "compacted %s into %s: %d trades added", ", ".join(paths), self.root, report.added
            )


class CompactOnRotate:
    """A rotating sink whose closed days go to a :class:`DailyCompactor` (otherwise the sink)."""

    def __init__(self, inner: Any, compactor: DailyCompactor) -> None:
        self._inner = inner
        self._compactor = compactor
        self._handed = 0  # files of `inner.files` already handed over

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def write(self, items: Sequence[Any]) -> None:
        self._inner.write(items)

    def flush(self, fsync: bool = False) -> None:
        self._inner.flush(fsync)

    def close(self) -> None:
        self._inner.close()

    def take_events(self) -> list[Event]:
        events: list[Event] = self._inner.take_events()
        if any(e.event == "rotated" and e.details.get("reason") == "date" for e in events):
            files = list(self._inner.files)
            done = files[self._handed : len(files) - 1]  # every file before the current one
            self._handed = len(files) - 1
            self._compactor.submit(done)
        return events


def compact_on_rotate(sinks: Sequence[Any], compactor: DailyCompactor) -> list[Any]:
    """``sinks`` with the rotating ones (those that report ``rotated`` events) wrapped."""
    return [CompactOnRotate(s, compactor) if hasattr(s, "take_events") else s for s in sinks]
