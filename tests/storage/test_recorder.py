"""The Storage Agent on its own: batches, events, dropped ticks, a failing sink."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from hkticks.errors import OutputError
from hkticks.feed.queue import TickQueue
from hkticks.storage.recorder import Recorder
from hkticks.storage.sinks import open_jsonl_sink, open_tick_sink
from hkticks.tick import Event, Tick


def tick(i: int) -> Tick:
    return Tick("00700", 1000 + i, 380.0, 100, 38000.0, "buy", i, 2000 + i, "alltick")


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_ticks_dropped_by_a_full_queue_leave_an_event(tmp_path: Path) -> None:
    q = TickQueue(maxsize=10)
    for i in range(25):
        q.put(tick(i))
    assert q.dropped == 15
    rec = Recorder(
        q,
        [open_tick_sink(str(tmp_path / "t.jsonl"))],
        event_sink=open_jsonl_sink(str(tmp_path / "e.jsonl")),
    )
    rec.start()
    rec.stop()
    assert rec.error is None and len(lines(tmp_path / "t.jsonl")) == 10
    dropped = [e for e in lines(tmp_path / "e.jsonl") if e["event"] == "dropped"]
    assert len(dropped) == 1 and dropped[0]["count"] == 15 and dropped[0]["total"] == 15


class Broken:
    """A sink whose disk is full from the start."""

    path = "broken.jsonl"
    rows = 0
    repaired_bytes = 0

    def write(self, items: Any) -> None:
        raise OutputError("disk full writing broken.jsonl (wrote 0 ticks before the failure)")

    def flush(self, fsync: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_failing_sink_stops_cleanly_and_the_events_still_explain_it(tmp_path: Path) -> None:
    q = TickQueue()
    q.put_event(Event(1, "connected", 0, {}))
    for i in range(5):
        q.put(tick(i))
    errors: list[Exception] = []
    good = open_tick_sink(str(tmp_path / "good.jsonl"))
    rec = Recorder(
        q,
        [good, Broken()],
        event_sink=open_jsonl_sink(str(tmp_path / "e.jsonl")),
        on_error=errors.append,
    )
    rec.start()
    rec.thread.join(5)
    assert not rec.thread.is_alive(), "the writer must not hang after a write error"
    assert isinstance(rec.error, OutputError) and errors == [rec.error]
    assert [e["event"] for e in lines(tmp_path / "e.jsonl")] == ["connected"]
    assert len(lines(tmp_path / "good.jsonl")) == 5  # the healthy sink kept its batch
    rec.stop()
