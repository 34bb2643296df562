"""``hkticks stats`` against figures computed here, independently, from the raw files."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from kit.hk import hk_env, run_hk
from kit.recording import events_named, lines_in
from kit.waiting import wait_until

from hkticks.analysis.stats import Gap, connection_gaps, summarise
from hkticks.server import MarketServer
from hkticks.storage.readers import Recording

T0 = 1_714_613_400_000


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rec")
    r = run_hk(
        d,
        *("record", "00700", "09988", "03690", "01810", "--demo", "--demo-rate", "1500"),
        *("--out", "t.jsonl", "--out", "t.csv.gz", "--out", "t.db", "--duration", "3s"),
    )
    assert r.returncode == 0, r.stderr
    return d


def independent(path: Path) -> dict[str, dict[str, Any]]:
    """Per-symbol figures from the JSONL text, with the json module and plain arithmetic."""
    acc: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"trades": 0, "volume": 0, "turnover": 0.0, "pv": 0.0, "prices": [], "ts": []}
    )
    for line in path.read_text().splitlines():
        r = json.loads(line)
        a = acc[r["symbol"]]
        a["trades"] += 1
        a["volume"] += r["volume"]
        a["turnover"] += r["turnover"]
        a["pv"] += r["price"] * r["volume"]
        a["prices"].append(r["price"])
        a["ts"].append(r["ts"])
    return acc


def test_stats_json_matches_an_independent_count(recorded: Path) -> None:
    want = independent(recorded / "t.jsonl")
    for name in ("t.jsonl", "t.csv.gz", "t.db"):
        r = run_hk(recorded, "stats", name, "--json")
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert got["trades"] == sum(a["trades"] for a in want.values())
        assert got["symbols"] == len(want) == 4
        rows = {row["symbol"]: row for row in got["per_symbol"]}
        assert set(rows) == set(want)
        for sym, a in want.items():
            row = rows[sym]
            assert row["trades"] == a["trades"]
            assert row["volume"] == a["volume"]
            assert row["turnover"] == pytest.approx(a["turnover"], rel=1e-12)
            assert row["vwap"] == pytest.approx(a["pv"] / a["volume"], rel=1e-9)
            assert row["high"] == max(a["prices"]) and row["low"] == min(a["prices"])
            assert row["first"] == min(a["ts"]) and row["last"] == max(a["ts"])
        assert got["files"][0]["invalid"] == 0 and got["gaps"] == []


def test_stats_csv_and_table(recorded: Path) -> None:
    want = independent(recorded / "t.jsonl")
    r = run_hk(recorded, "stats", "t.jsonl", "--csv", "--sort", "trades")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["symbol"] for row in rows] == sorted(want, key=lambda s: (-want[s]["trades"], s))
    for row in rows:
        assert int(row["trades"]) == want[row["symbol"]]["trades"]
        assert int(row["volume"]) == want[row["symbol"]]["volume"]
    r = run_hk(recorded, "stats", "t.jsonl", "t.db", "--top", "2")
    assert r.returncode == 0, r.stderr
    total = sum(a["trades"] for a in want.values()) * 2
    assert f"{total:,} trades of 4 symbols in 2 files" in r.stdout
    assert "total" in r.stdout and "... and 2 more symbols" in r.stdout


def test_stats_counts_skipped_lines_and_keeps_the_rest(recorded: Path, tmp_path: Path) -> None:
    data = (recorded / "t.jsonl").read_bytes()
    (tmp_path / "x.jsonl").write_bytes(b"junk\n" + data + b'{"symbol":"0070')
    r = run_hk(tmp_path, "stats", "x.jsonl", "--json")
    assert r.returncode == 0
    got = json.loads(r.stdout)
    assert got["trades"] == data.count(b"\n")
    assert got["files"][0]["invalid"] == 1 and got["files"][0]["torn"] == 1
    assert "skipped 1 invalid record" in r.stderr


def ev(ts: int, name: str, shard: int | None = 0, **details: Any) -> dict[str, Any]:
    return {"ts": ts, "event": name, "shard": shard, **details}


def test_connection_gaps_from_events() -> None:
    events = [
        ev(T0, "feed_start", None),
        ev(T0 + 10, "subscribed"),
        ev(T0 + 5000, "disconnected", reason="connection reset"),
        ev(T0 + 5600, "reconnecting", delay_s=0.3),
        ev(T0 + 6000, "connected"),
        ev(T0 + 7000, "subscribed"),
        ev(T0 + 9000, "stale", 1, silent_s=30.0),
        ev(T0 + 9500, "disconnected", 1),  # same outage, already counted
        ev(T0 + 20000, "feed_start", None),  # a new run: the old run's outage ends
        ev(T0 + 30000, "fatal", None, reason="token rejected"),
    ]
    gaps = connection_gaps(list(reversed(events)))
    assert gaps == [
        Gap("connection", T0 + 5000, T0 + 7000, 0, "connection reset"),
        Gap("connection", T0 + 9000, T0 + 20000, 1, "nothing for 30.0 s"),
        Gap("connection", T0 + 30000, None, None, "token rejected"),
    ]
    assert gaps[0].seconds == 2.0 and gaps[2].seconds is None


# The server's heartbeat timeout was 5 s: on a busy machine the first phase below took longer,
# the server closed the recorder's connection itself (the client heartbeats every 10 s), and the
# test counted that extra disconnect. Now the default 30 s, and every step waits for its state.
@pytest.mark.market(rate=800.0, seed=5, enforce_pacing=True)
def test_gaps_of_a_real_disconnect_and_a_restart(server: MarketServer, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "hkticks", "record", "00700", "09988", "--url", server.ws_url]
    args += ["--token", "t", "--out", "t.jsonl", "-q"]
    proc = subprocess.Popen(args, env=hk_env(tmp_path), cwd=tmp_path)
    out = tmp_path / "t.jsonl"
    events = tmp_path / "t.jsonl.events.jsonl"

    def recorded_after(ts: int) -> bool:
        data = out.read_bytes()
        lines = data[: data.rfind(b"\n") + 1].splitlines()
        return any(json.loads(line)["recv_ts"] > ts for line in lines)

    try:
        wait_until(lambda: lines_in(out) >= 10, what="10 trades recorded")
        wait_until(lambda: events_named(events, "subscribed"), what="the subscribed event")
        assert server.disconnect_all("reset") == 1
        # reconnect, then resubscribe (paced: up to 3 s)
        again = wait_until(
            lambda: events_named(events, "subscribed")[1:], what="the second subscribed event"
        )
        # the outage ends with the first trade after it: wait for that trade in the file
        wait_until(lambda: recorded_after(again[0]["ts"]), what="a trade after the outage")
    finally:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert len(events_named(events, "subscribed")) == 2  # no other disconnect
    time.sleep(0.3)  # under test: the recorder restarted at least 0.3 s later (the idle gap)
    second = run_hk(tmp_path, *args[3:], "--duration", "1s")  # the recorder restarted: appends
    assert second.returncode == 0, second.stderr
    summary = summarise(Recording([str(out)]))
    kinds = [(g.kind, g.shard) for g in summary.gaps]
    assert ("connection", 0) in kinds and ("not recording", None) in kinds
    down = next(g for g in summary.gaps if g.kind == "connection")
    assert down.end_ms is not None and down.end_ms > down.start_ms
    # no trade was received while the connection was down
    assert not [t for t in Recording([str(out)]) if down.start_ms < t.recv_ts < down.end_ms]
    idle = next(g for g in summary.gaps if g.kind == "not recording")
    assert idle.end_ms is not None and idle.end_ms - idle.start_ms >= 300
    r = run_hk(tmp_path, "stats", "t.jsonl")
    assert r.returncode == 0, r.stderr
    assert "Gaps" in r.stdout and "connection 0" in r.stdout and "recorder not running" in r.stdout
    js = json.loads(run_hk(tmp_path, "stats", "t.jsonl", "--json").stdout)
    assert {g["kind"] for g in js["gaps"]} == {"connection", "not recording"}
    assert js["events_files"] == ["t.jsonl.events.jsonl"]


def test_usage_errors(tmp_path: Path) -> None:
    for args, words in (
        (["stats", "none.jsonl"], "no such file"),
        (["stats"], "hkticks: error: missing argument"),
        (["stats", "t.jsonl", "--json", "--csv"], "not both"),
    ):
        (tmp_path / "t.jsonl").write_text("")
        r = run_hk(tmp_path, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr
