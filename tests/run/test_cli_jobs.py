"""The jobs the CLI's commands run (run/recordings, replay_job, validate_job, serve_job,
symbols_job, compact_job), driven directly: real files, a real server on free ports."""

from __future__ import annotations

import socket
from pathlib import Path

import orjson
import pytest

from hkticks.analysis.replay import ReplayClock, Tally
from hkticks.errors import NothingRead, UsageError
from hkticks.run import compact_job, recordings, replay_job, serve_job, symbols_job, validate_job
from hkticks.run.source import SourceSpec
from hkticks.storage.parquet import CompactReport, DayResult
from hkticks.storage.sinks.jsonl import JsonlSink
from hkticks.symbols.universe import StockInfo, Universe
from hkticks.tick import Tick

T0 = 1_714_613_400_000  # 2024-05-02 09:30:00 HKT


def write_ticks(path: Path, n: int, src: str = "alltick") -> list[Tick]:
    ticks = [
        Tick(f"{i % 3:05d}", T0 + i * 1000, 10.0, 100, 1000.0, None, i, T0 + i * 1000 + 5, src)
        for i in range(n)
    ]
    sink = JsonlSink(str(path))
    sink.write(ticks)
    sink.close()
    return ticks


def test_a_list_of_sidecars_only_is_refused(tmp_path: Path) -> None:
    side = tmp_path / "t.jsonl.events.jsonl"
    side.write_text('{"ts": 1, "event": "feed_start"}\n', encoding="utf-8")
    with pytest.raises(UsageError, match="only events sidecars"):
        recordings.open_recording([str(side)])


def test_the_window_selects_and_the_kind_is_read_back(tmp_path: Path) -> None:
    write_ticks(tmp_path / "real.jsonl", 30)
    write_ticks(tmp_path / "demo.jsonl", 30, src="alltick-sim")
    rec = recordings.open_recording([str(tmp_path / "real.jsonl")], ["00001"])
    assert {t.symbol for t in rec} == {"00001"}
    assert recordings.data_kind(rec) == "real" and not recordings.is_simulated("real")
    both = recordings.open_recording([str(tmp_path / "real.jsonl"), str(tmp_path / "demo.jsonl")])
    assert recordings.data_kind(both) == "mixed" and recordings.is_simulated("mixed")


def test_every_line_skipped_is_nothing_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\nnor this\n", encoding="utf-8")
    rec = recordings.open_recording([str(bad)])
    assert list(rec) == []
    with pytest.raises(NothingRead):
        recordings.check_read(rec.reports)
    write_ticks(tmp_path / "ok.jsonl", 3)
    good = recordings.open_recording([str(bad), str(tmp_path / "ok.jsonl")])
    assert len(list(good)) == 3
    recordings.check_read(good.reports)  # some rows read: no error


def test_a_missing_events_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such events file"):
        recordings.check_events_files([str(tmp_path / "nope.events.jsonl")])


def test_validate_reads_the_sidecar_next_to_the_file(tmp_path: Path) -> None:
    write_ticks(tmp_path / "t.jsonl", 12)
    event = {
        "ts": T0,
        "event": "feed_start",
        "shard_symbols": [["00000", "00001", "00002", "00003"]],
    }
    (tmp_path / "t.jsonl.events.jsonl").write_bytes(orjson.dumps(event) + b"\n")
    rec = recordings.open_recording([str(tmp_path / "t.jsonl")], select=False)
    events = validate_job.recording_events(rec)
    assert [e["event"] for e in events] == ["feed_start"]
    options = validate_job.ValidateOptions(always_open=True, strict=True)
    report = validate_job.validate_recording(rec, events, options)
    assert report.trades == 12 and report.strict
    assert report.record()["trades"] == 12
    # --events given: only those, and a missing one is refused
    with pytest.raises(UsageError):
        validate_job.recording_events(rec, [str(tmp_path / "other.events.jsonl")])


def test_replay_json_writes_every_selected_trade(tmp_path: Path) -> None:
    ticks = write_ticks(tmp_path / "t.jsonl", 20)
    rec = recordings.open_recording([str(tmp_path / "t.jsonl")], ["00002"])
    out = tmp_path / "out.jsonl"
    with out.open("wb") as fh:
        tally, reason = replay_job.replay_json(rec, ReplayClock(None, None), fh)
    want = [t.record() for t in ticks if t.symbol == "00002"]
    assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == want
    assert tally.trades == len(want) and reason == ""
    line = replay_job.summary_line(tally, 1, 0.5, ReplayClock(None, None), "", "simulated")
    demo = "[DEMO: simulated trades, not market data]"
    assert line == f"replayed {tally.describe()} from 1 file in 0.5 s {demo}"
    assert tally.describe().startswith(f"{len(want)} trades of 1 symbol (2024-05-02 09:30")


def test_replay_summary_says_why_it_stopped(tmp_path: Path) -> None:
    write_ticks(tmp_path / "t.jsonl", 4)
    tally = Tally(recordings.open_recording([str(tmp_path / "t.jsonl")]).keyed())
    list(tally)
    line = replay_job.summary_line(tally, 2, 1.0, ReplayClock(1.0, None), "Ctrl-C", "real")
    assert "from 2 files" in line and line.endswith("(Ctrl-C)")


def test_a_recording_without_sidecars_has_no_gap_lines(tmp_path: Path) -> None:
    write_ticks(tmp_path / "t.jsonl", 4)
    assert replay_job.gap_lines(recordings.open_recording([str(tmp_path / "t.jsonl")])) == []


def _universe() -> Universe:
    stocks = [
        StockInfo(code, f"名{code}", f"Name {code}", ("SH",), suspended=code == "00005")
        for code in ("00001", "00005", "00700", "09988")
    ]
    return Universe(stocks=stocks, fetched_at=1_700_000_000.0, sources={"SSE": "2024-05-02"})


def test_the_shard_keeps_its_part_of_the_stocks() -> None:
    universe = _universe()
    every = symbols_job.stocks_to_show(
        universe, SourceSpec(), include_suspended=True, channel="any", search=None
    )
    assert [s.code for s in every] == ["00001", "00005", "00700", "09988"]
    parts = [
        symbols_job.stocks_to_show(
            universe, SourceSpec(shard=f"{i}/2"), include_suspended=True, channel="any", search=None
        )
        for i in (1, 2)
    ]
    assert sorted(s.code for part in parts for s in part) == [s.code for s in every]
    assert all(parts)
    shown = symbols_job.stocks_to_show(
        universe, SourceSpec(), include_suspended=False, channel="any", search=None
    )
    assert "00005" not in [s.code for s in shown]


def test_the_list_as_csv_and_document() -> None:
    universe = _universe()
    stocks = list(universe.select(include_suspended=True))
    text = symbols_job.universe_csv(universe, stocks)
    assert text.splitlines()[0] == "code,name_cn,name_en,channels,suspended"
    assert "00005,名00005,Name 00005,SH,yes" in text.splitlines()
    doc = symbols_job.universe_document(universe, stocks)
    assert doc["count"] == 4 and doc["fetched_at"].endswith("+08:00")
    table, footer = symbols_job.universe_table(universe, stocks, hidden=1, search="Name")
    assert table.row_count == 4
    assert footer[0] == "4 shown for 'Name' · 1 suspended hidden (--include-suspended)"


def test_compact_lines_name_every_day_written() -> None:
    day = DayResult("2024-05-02", read=10, added=7, already=2, duplicates=1)
    day.file, day.files = "a/part-1.parquet", ["a/part-0.parquet", "a/part-1.parquet"]
    report = CompactReport(days=[day, DayResult("2024-05-03", read=3, already=3)], sources=1)
    lines = compact_job.compact_lines(report, "arch", 1.0)
    assert lines[0].startswith("read 13 trades of 1 source over 2 days; added 7 to arch, ")
    assert lines[1:] == ["  2024-05-02: +7 -> a/part-0.parquet, a/part-1.parquet"]


def test_compact_refuses_a_server_address(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        compact_job.compact_into([str(tmp_path)], "nats://127.0.0.1:4222/x")


def test_the_serve_job_listens_next_to_its_port_and_writes_the_send_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    log = tmp_path / "sent.csv"
    job = serve_job.ServeJob(
        port=free_port, token="t", plan="all-hk", scenario="anomalies", send_log=str(log)
    )
    assert job.truth == str(tmp_path / "cache" / "hkticks" / "scenario-anomalies-truth.jsonl")
    job.start()
    try:
        assert f":{free_port + 1}/" in job.server.rest_url  # the REST port next to the WebSocket's
        with socket.create_connection(("127.0.0.1", free_port), timeout=5):
            pass
        banner = job.banner(default_token=True)
        assert banner[2].startswith("  WebSocket  ") and banner[2].endswith("?token=***")
        assert any(line.startswith("  scenario   anomalies: ") for line in banner)
        assert any("public default" in line for line in banner)
    finally:
        job.stop()
    assert log.exists()


def test_the_alerts_log_defaults_to_beside_the_trades(tmp_path: Path) -> None:
    from hkticks.run.alerts_job import trades_output

    assert trades_output(None, "a.jsonl") == (None, "a.jsonl")
    out, log = trades_output(str(tmp_path / "day.jsonl"), None)
    assert out is not None and out.is_file and log == str(tmp_path / "day.jsonl.alerts.jsonl")
    _, given = trades_output(str(tmp_path / "day.jsonl"), str(tmp_path / "mine.jsonl"))
    assert given == str(tmp_path / "mine.jsonl")
