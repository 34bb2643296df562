"""``hkticks.record`` and ``hkticks.alerts`` against the embedded server (real sockets).

The jobs are the ones the commands run (:mod:`hkticks.run`): a recording made
from Python is the same as ``hkticks record``'s (sidecar, provenance, dedup),
and the live alerts are the alerts of replaying what the engine saw.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import orjson
import pytest

import hkticks
from hkticks.analysis.baselines import applied_path, read_applied
from hkticks.errors import HkticksError, OutputError, UsageError
from hkticks.run.alerts_job import build_config, replay_alerts


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_record_writes_every_output_and_the_sidecar(tmp_path: Path) -> None:
    jsonl, csv = tmp_path / "t.jsonl", tmp_path / "t.csv"
    result = hkticks.record(
        ["700", "09988"], [str(jsonl), str(csv)], demo=True, duration=3, book_out=None
    )
    assert result.reason == "duration reached"
    rows = _lines(jsonl)
    assert result.written == len(rows) > 0
    assert {r["symbol"] for r in rows} <= {"00700", "09988"}
    assert all(r["src"] != "alltick" for r in rows)  # simulated data says so
    assert len(list(hkticks.read(str(csv)))) == len(rows)
    events = [e["event"] for e in _lines(tmp_path / "t.jsonl.events.jsonl")]
    assert "connected" in events and events[-1] == "feed_stop"
    assert "recorded" in result.summary and str(jsonl) in result.summary
    # a second run appends, and keeps real and simulated trades apart as `record` does
    again = hkticks.record(["700"], str(jsonl), demo=True, duration=1)
    assert len(_lines(jsonl)) == len(rows) + again.written


def test_record_refuses_bad_outputs_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot tell the format"):
        hkticks.record(["700"], str(tmp_path / "t.parquet"), demo=True, duration=1)
    with pytest.raises(OutputError, match="does not exist"):
        hkticks.record(["700"], str(tmp_path / "no" / "t.jsonl"), demo=True, duration=1)
    with pytest.raises(UsageError, match="named twice"):
        hkticks.record(["700"], [str(tmp_path / "a.jsonl")] * 2, demo=True, duration=1)
    with pytest.raises(UsageError, match="record\\(\\)"):
        hkticks.record(["700"], str(tmp_path / "a.jsonl"), demo=True, flush_every=1)
    assert not list(tmp_path.iterdir())  # nothing was created


def test_alerts_iterates_live_alerts_equal_to_the_replay(tmp_path: Path) -> None:
    out = tmp_path / "seen.jsonl"
    flags = {"kinds": "volume_spike,block_trade,price_move", "warmup": 3, "hours": "always"}
    got = list(
        hkticks.alerts(
            demo=True,
            demo_rate=1000,
            demo_seed=5,
            scenario="anomalies:warmup_s=4,gap_s=2",
            duration=14,
            out=str(out),
            **flags,
        )
    )
    assert got, "the anomalies scenario raised no alert in 14 s"
    assert all(a.kind in flags["kinds"].split(",") for a in got)
    # every trade the engine judged was recorded: replaying it gives the same alerts
    replayed: list = []
    cfg = build_config(demo=True, **flags)
    # (with the baselines the live run applied, where it applied them: beside the trades)
    applied = read_applied(applied_path(str(out)))
    replay_alerts(iter(hkticks.read(str(out))), cfg, {}, replayed.append, applied)
    assert [a.record() for a in replayed] == [a.record() for a in got]
    # and the recording as the job's feed (one Feed protocol) gives them too
    again = list(hkticks.alerts(recordings=str(out), **flags))
    assert [a.record() for a in again] == [a.record() for a in got]


def test_alerts_iterator_closes_its_feed() -> None:
    it = hkticks.alerts(["700"], demo=True, duration=30, kinds="block_trade")
    with contextlib.closing(it):
        pass  # never started: closing is a no-op
    it = hkticks.alerts(["99998"], demo=True, duration=30)
    with pytest.raises(HkticksError, match="rejected every symbol"):
        next(iter(it))
