"""``hkticks record`` end to end: a real subprocess, a real server on loopback, real files."""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kit.hk import hk_env, run_hk, start_hk
from kit.recording import let_trades_flow, record_from, subscribed
from kit.waiting import wait_until

from hkticks.server import MarketServer
from hkticks.tick import RECORD_FIELDS


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# the embedded server of this module's tests (see conftest.py): pacing enforced as AllTick does
pytestmark = pytest.mark.market(rate=300.0, seed=3, heartbeat_timeout=2.0, enforce_pacing=True)


def test_demo_record_writes_the_same_trades_to_all_three_formats(tmp_path: Path) -> None:
    r = run_hk(
        tmp_path,
        "record",
        "00700",
        "9988.HK",
        "--demo",
        "--demo-rate",
        "400",
        "--out",
        "t.jsonl",
        "--out",
        "t.csv",
        "--out",
        "t.db",
        "--duration",
        "4s",
    )
    assert r.returncode == 0, r.stderr
    rows_jsonl = read_jsonl(tmp_path / "t.jsonl")
    assert rows_jsonl, "no trades recorded"
    assert all(list(row) == list(RECORD_FIELDS) for row in rows_jsonl)
    with open(tmp_path / "t.csv", newline="") as fh:
        rows_csv = list(csv.reader(fh))
    assert rows_csv[0] == list(RECORD_FIELDS)
    db = sqlite3.connect(tmp_path / "t.db")
    rows_db = db.execute(f"SELECT {', '.join(RECORD_FIELDS)} FROM ticks ORDER BY rowid").fetchall()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    n = len(rows_jsonl)
    assert len(rows_csv) - 1 == n == len(rows_db)
    for j, c, d in zip(rows_jsonl, rows_csv[1:], rows_db, strict=True):
        assert (j["symbol"], j["seq"], j["price"], j["volume"]) == (
            c[0],
            int(c[6]),
            float(c[2]),
            int(c[3]),
        )
        assert tuple(j.values()) == tuple(d)
    assert {row["symbol"] for row in rows_jsonl} == {"00700", "09988"}
    # the summary on stderr matches the files
    assert f"recorded {n:,} ticks of 2 symbols" in r.stderr
    assert "DEMO" in r.stderr
    events = read_jsonl(tmp_path / "t.jsonl.events.jsonl")
    assert {"feed_start", "connected", "subscribed"} <= {e["event"] for e in events}
    assert "token=***" in json.dumps(events) and "token=" in json.dumps(events)


def test_forced_disconnects_lose_and_duplicate_nothing(
    tmp_path: Path, server: MarketServer
) -> None:
    out = tmp_path / "t.jsonl"
    proc = start_hk(
        tmp_path,
        [
            *record_from(server, "00700", "09988", "00005", "03690"),
            "--plan",
            "all-hk",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    try:
        wait_until(lambda: subscribed(server), what="the subscription")
        let_trades_flow(server, 20)
        for n in range(2, 5):
            server.disconnect_all(mode="close")
            wait_until(lambda n=n: subscribed(server, n), what=f"connection {n}")
            let_trades_flow(server, 20)
    finally:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    text = out.read_text()
    assert text.endswith("\n")
    rows = [json.loads(line) for line in text.splitlines()]  # no torn line
    keys = [(r["symbol"], r["seq"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicate (symbol, seq) in the recording"
    sent = {(sym, seq) for _, sym, seq in server.sent_trades()}
    assert set(keys) <= sent
    # every trade the server sent while a connection was up reached the file; the only
    # ones missing are those still in flight when the recorder stopped at --duration
    last_kept: dict[str, int] = {}
    for sym, seq in keys:
        last_kept[sym] = max(seq, last_kept.get(sym, 0))
    missing = sent - set(keys)
    assert all(seq > last_kept[sym] for sym, seq in missing), sorted(missing)[:10]
    assert len(missing) < 50
    events = read_jsonl(Path(str(out) + ".events.jsonl"))
    assert sum(1 for e in events if e["event"] == "disconnected") >= 3
    assert sum(1 for e in events if e["event"] == "reconnecting") >= 3
    assert all({"ts", "event", "shard"} <= set(e) for e in events)


def test_sigterm_flushes_everything_and_exits_zero(tmp_path: Path, server: MarketServer) -> None:
    out = tmp_path / "t.jsonl"
    proc = start_hk(
        tmp_path,
        [
            *record_from(server, "00700", "09988"),
            "--out",
            str(out),
            "--flush-interval",
            "30s",
        ],
    )
    wait_until(lambda: subscribed(server), what="the subscription")
    let_trades_flow(server, 20)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    rows = read_jsonl(out)
    assert rows  # written although the flush interval was never reached
    assert f"recorded {len(rows):,} ticks" in err and "SIGTERM" in err


def test_appends_after_repairing_a_torn_last_line(tmp_path: Path, server: MarketServer) -> None:
    out = tmp_path / "t.jsonl"
    out.write_text(
        '{"symbol":"00700","ts":1,"price":1.0,"volume":1,"turnover":1.0,"side":null,"seq":1,"recv_ts":1,"src":"alltick-sim"}\n{"symbol":"007'
    )
    r = run_hk(
        tmp_path,
        *record_from(server, "00700"),
        "--out",
        str(out),
        "--duration",
        "2s",
    )
    assert r.returncode == 0, r.stderr
    rows = read_jsonl(out)  # every line parses
    assert rows[0]["seq"] == 1 and len(rows) > 1
    assert "torn" in r.stderr


def test_wrong_token_exits_non_zero_with_one_line(tmp_path: Path, server: MarketServer) -> None:
    r = run_hk(
        tmp_path,
        "record",
        "00700",
        "--url",
        server.ws_url,
        "--out",
        "t.jsonl",
        "--quiet",
        HKTICKS_TOKEN="nope",
    )
    assert r.returncode == 3
    assert "token rejected" in r.stderr and "HKTICKS_TOKEN" in r.stderr
    assert "nope" not in r.stderr and "Traceback" not in r.stderr
    assert len(server.connections()) == 1


def test_no_token_and_no_demo_says_what_to_do(tmp_path: Path) -> None:
    r = run_hk(tmp_path, "record", "00700", "--out", "t.jsonl")
    assert r.returncode == 2
    assert "HKTICKS_TOKEN" in r.stderr and "--demo" in r.stderr
    assert "Traceback" not in r.stderr


def test_invalid_symbol_is_a_usage_error_before_connecting(tmp_path: Path) -> None:
    r = run_hk(tmp_path, "record", "00700", "TSLA", "--demo", "--out", "t.jsonl")
    assert r.returncode == 2
    assert "'TSLA'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "t.jsonl").exists() or (tmp_path / "t.jsonl").read_text() == ""


def test_unwritable_output_fails_before_connecting(tmp_path: Path, server: MarketServer) -> None:
    (tmp_path / "afile").write_text("x")
    r = run_hk(
        tmp_path,
        *record_from(server, "00700"),
        "--out",
        str(tmp_path / "afile" / "t.jsonl"),
    )
    assert r.returncode == 5
    assert "Traceback" not in r.stderr and "t.jsonl" in r.stderr
    assert server.connections() == []


def test_disk_full_mid_run_keeps_what_was_written(tmp_path: Path, server: MarketServer) -> None:
    out = tmp_path / "t.jsonl"
    full = tmp_path / "full.jsonl"
    full.symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    r = run_hk(
        tmp_path,
        *record_from(server, "00700", "09988"),
        "--out",
        str(out),
        "--out",
        str(full),
        "--duration",
        "10s",
    )
    assert r.returncode == 5, r.stderr
    assert "disk full" in r.stderr and "full.jsonl" in r.stderr and "Traceback" not in r.stderr
    for line in out.read_text().splitlines():
        json.loads(line)


def test_plan_too_small_fails_before_connecting(tmp_path: Path, server: MarketServer) -> None:
    codes = [f"{i:05d}" for i in range(1, 8)]
    r = run_hk(
        tmp_path,
        "record",
        *codes,
        "--url",
        server.ws_url,
        "--token",
        "t",
        "--plan",
        "free",
        "--out",
        "t.jsonl",
    )
    assert r.returncode == 4
    assert "7 symbols" in r.stderr and "5 symbols" in r.stderr
    assert server.connections() == []


def test_stdout_output_is_jsonl(tmp_path: Path, server: MarketServer) -> None:
    r = run_hk(
        tmp_path,
        *record_from(server, "00700"),
        "--out",
        "-",
        "--duration",
        "2s",
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows and all(row["symbol"] == "00700" for row in rows)


def test_book_out_records_order_books(tmp_path: Path, server: MarketServer) -> None:
    r = run_hk(
        tmp_path,
        *record_from(server, "00700"),
        "--out",
        "t.jsonl",
        "--book-out",
        "b.jsonl",
        "--book-depth",
        "5",
        "--duration",
        "4s",
    )
    assert r.returncode == 0, r.stderr
    books = read_jsonl(tmp_path / "b.jsonl")
    assert books
    for b in books:
        assert b["symbol"] == "00700" and len(b["bids"]) <= 5 and len(b["asks"]) <= 5
        if b["bids"] and b["asks"]:
            assert b["bids"][0][0] < b["asks"][0][0]


@pytest.mark.parametrize("ext", ["jsonl", "csv", "db"])
def test_a_second_run_appending_holds_no_trade_twice(
    tmp_path: Path, server: MarketServer, ext: str
) -> None:
    out = tmp_path / f"t.{ext}"
    args = ["record", "00700", "09988", "--url", server.ws_url, "--token", "t", "--out", str(out)]
    first = subprocess.Popen(
        [sys.executable, "-m", "hkticks", *args, "--duration", "3s", "--quiet"],
        env=hk_env(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: subscribed(server), what="the first run's subscription")
    let_trades_flow(server, 10)
    server.set_rate(0)  # the market goes quiet: every trade sent reaches the first run
    assert first.wait(30) == 0, first.stderr.read() if first.stderr else ""
    # the second run gets each symbol's latest trade re-sent after it subscribes
    r = run_hk(tmp_path, *args, "--duration", "2s", "--quiet")
    assert r.returncode == 0, r.stderr
    if ext == "db":
        con = sqlite3.connect(out)
        keys = con.execute("SELECT symbol, seq FROM ticks").fetchall()
        con.close()
    elif ext == "csv":
        with open(out, newline="") as fh:
            keys = [(row["symbol"], row["seq"]) for row in csv.DictReader(fh)]
    else:
        keys = [(r["symbol"], r["seq"]) for r in read_jsonl(out)]
    assert len(keys) > 4
    assert len(keys) == len(set(keys)), "the re-sent latest trades were recorded again"


@pytest.mark.parametrize(
    "extra",
    [
        ["--out", "./same.jsonl"],
        ["--events", "same.jsonl"],
        ["--book-out", "same.jsonl"],
    ],
)
def test_one_file_named_twice_is_a_usage_error(tmp_path: Path, extra: list[str]) -> None:
    r = run_hk(tmp_path, "record", "00700", "--demo", "--out", "same.jsonl", *extra)
    assert r.returncode == 2
    assert "named twice" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "same.jsonl").exists()


@pytest.mark.parametrize("ext", ["jsonl", "csv", "db", "jsonl.gz"])
def test_a_second_recorder_on_the_same_file_is_refused(
    tmp_path: Path, server: MarketServer, ext: str
) -> None:
    out = tmp_path / f"two.{ext}"
    args = ["record", "00700", "--url", server.ws_url, "--token", "t", "--out", str(out)]
    first = subprocess.Popen(
        [sys.executable, "-m", "hkticks", *args, "--duration", "8s", "--quiet"],
        env=hk_env(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: out.exists() and out.stat().st_size > 0, what="the first run writing the file"
        )
        second = run_hk(tmp_path, *args, "--duration", "2s")
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
    assert second.returncode == 5, second.stderr
    assert "already being written by another hkticks process" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.returncode == 0


def test_rejected_codes_are_reported_while_recording(tmp_path: Path) -> None:
    r = run_hk(
        tmp_path, "record", "00700", "99998", "--demo", "--out", "u.jsonl", "--duration", "3s"
    )
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    # AllTick's 600 names no code (our server names them only with --quirks extras)
    warned = [i for i, line in enumerate(lines) if "rejected some symbols (ret 600" in line]
    summary = [i for i, line in enumerate(lines) if line.startswith("hkticks: recorded")]
    assert warned and summary and warned[0] < summary[0]
    events = read_jsonl(tmp_path / "u.jsonl.events.jsonl")
    assert events[-1]["event"] == "feed_stop" and events[-1]["reason"] == "duration reached"


@pytest.mark.parametrize(
    ("value", "says"),
    [("0", "longer than zero"), ("5s", "heartbeat"), ("10s", "heartbeat")],
)
def test_stale_timeout_must_exceed_the_heartbeat_interval(
    tmp_path: Path, value: str, says: str
) -> None:
    r = run_hk(tmp_path, "record", "00700", "--demo", "--out", "t.jsonl", "--stale-timeout", value)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr


def test_stdout_reader_going_away_ends_the_run_quietly(
    tmp_path: Path, server: MarketServer
) -> None:
    rec = start_hk(
        tmp_path,
        [
            *record_from(server, "00700", "09988"),
            "--out",
            "-",
            "--out",
            "t.jsonl",
        ],
    )
    head = subprocess.Popen(["head", "-3"], stdin=rec.stdout, stdout=subprocess.PIPE, text=True)
    assert rec.stdout is not None
    rec.stdout.close()  # only head reads it now: when head exits, the pipe closes
    out, _ = head.communicate(timeout=60)
    _, err = rec.communicate(timeout=60)
    proc = subprocess.CompletedProcess(rec.args, rec.returncode, out, err)
    assert rec.returncode == 0, err
    assert len(proc.stdout.splitlines()) == 3
    assert "hkticks: error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "stdout closed" in proc.stderr
    for line in (tmp_path / "t.jsonl").read_text().splitlines():
        json.loads(line)
