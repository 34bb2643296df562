"""Every output of a ``record`` run finds the run's events sidecar (named after the first)."""

from __future__ import annotations

import json
from pathlib import Path

from kit.hk import run_hk

from hkticks.storage.sidecars import events_sidecar


def test_stats_of_the_second_output_reads_the_runs_sidecar(tmp_path: Path) -> None:
    proc = run_hk(
        tmp_path, "record", "700", "5", "--demo", "--out", "day.jsonl", "--out", "day.db",
        "--duration", "2s",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    side = tmp_path / "day.jsonl.events.jsonl"
    assert side.is_file() and not (tmp_path / "day.db.events.jsonl").exists()
    events = [json.loads(line) for line in side.read_text().splitlines()]
    assert events[0]["event"] == "feed_start"
    assert {"event": "outputs", "files": ["day.jsonl", "day.db"]}.items() <= next(
        e for e in events if e["event"] == "outputs"
    ).items()
    assert events_sidecar(str(tmp_path / "day.db")) == str(side)
    stats = run_hk(tmp_path, "stats", "day.db")
    assert stats.returncode == 0, stats.stderr
    text = stats.stdout + stats.stderr
    assert "no events sidecar" not in text and "gaps unknown" not in text
    assert "no gaps" in text


def test_another_runs_sidecar_of_the_same_stem_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "day.db").write_bytes(b"")
    other = tmp_path / "day.jsonl.events.jsonl"
    other.write_text(
        '{"ts":1,"event":"feed_start","shard":null}\n'
        '{"ts":1,"event":"outputs","shard":null,"files":["day.jsonl"]}\n'
    )
    assert events_sidecar(str(tmp_path / "day.db")) is None
    # a rotation template names the files it made
    other.write_text(
        '{"ts":1,"event":"outputs","shard":null,"files":["x.jsonl","day-{date}.db"]}\n'
    )
    (tmp_path / "day-2026-12-01.db").write_bytes(b"")
    assert events_sidecar(str(tmp_path / "day-2026-12-01.db")) is None  # another stem
    side = tmp_path / "day-2026-12-01.jsonl.events.jsonl"
    side.write_text('{"ts":1,"event":"outputs","shard":null,"files":["x.jsonl","day-{date}.db"]}\n')
    assert events_sidecar(str(tmp_path / "day-2026-12-01.db")) == str(side)
