"""Simulated data is labelled at the source and wherever it is read back.

Real servers on loopback (the embedded one, with and without its
"simulated" handshake header), the real client, real files and real
subprocesses.
"""

from __future__ import annotations

import calendar
import gzip
import io
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kit.hk import hk_env, run_hk
from kit.ports import listening
from kit.waiting import wait_until
from rich.console import Console

from hkticks.alltick import protocol as alltick
from hkticks.errors import UsageError
from hkticks.feed.queue import TickQueue
from hkticks.feed.session import SessionConfig
from hkticks.feed.shards import Feed
from hkticks.market_hours import SIMULATED_CLOSED_LABEL, market_session, simulated_label
from hkticks.server import MarketServer
from hkticks.storage import provenance
from hkticks.tick import Event, Tick
from hkticks.watch.model import WatchModel
from hkticks.watch.view import DEMO_BANNER, Board

FAST = SessionConfig(heartbeat_interval=0.5, backoff_initial=0.1, backoff_cap=0.5)


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def trade(symbol: str, seq: int, src: str, ts: int = 1_700_000_000_000) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "ts": ts + seq,
        "price": 380.2,
        "volume": 100,
        "turnover": 38020.0,
        "side": "buy",
        "seq": seq,
        "recv_ts": ts + seq,
        "src": src,
    }


def write_jsonl(path: Path, recs: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


@pytest.fixture(params=[True, False], ids=["simulated-server", "real-like-server"])
def any_server(request: pytest.FixtureRequest) -> Iterator[MarketServer]:
    srv = MarketServer(
        token="t", plan="all-hk", rate=300.0, seed=5, enforce_pacing=False, simulated=request.param
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def sim_server() -> Iterator[MarketServer]:
    srv = MarketServer(token="t", plan="all-hk", rate=300.0, seed=6, enforce_pacing=False)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def drain(feed: Feed, want_ticks: int, timeout: float = 10.0) -> list[Any]:
    items: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and feed.fatal is None:
        items += feed.queue.get_batch(10_000, 0.05)
        if sum(isinstance(i, Tick) for i in items) >= want_ticks:
            break
    items += feed.queue.get_batch(10_000, 0.05)
    return items


# -- the source: handshake header -> src, events ------------------------------------


def test_the_server_hint_labels_trades_and_events(any_server: MarketServer) -> None:
    simulated = any_server._ws.opts.simulated
    feed = Feed(
        ["00700", "09988"],
        url=any_server.ws_url,
        token="t",
        plan=alltick.PLANS["all-hk"],
        queue=TickQueue(),
        config=FAST,
        connection_spacing=0.2,
        request_spacing=0.2,
    )
    feed.start()
    try:
        items = drain(feed, 5)
    finally:
        feed.stop()
    ticks = [i for i in items if isinstance(i, Tick)]
    assert len(ticks) >= 5
    # a server that sends no hint (as AllTick) is the real "alltick"
    assert {t.src for t in ticks} == {"alltick-sim" if simulated else "alltick"}
    events = {i.event: i for i in items if isinstance(i, Event)}
    assert events["feed_start"].details["simulated"] is False  # not known up front here
    assert events["connected"].details.get("simulated", False) is simulated
    assert feed.simulated_server is simulated


def test_demo_feed_start_says_simulated(sim_server: MarketServer) -> None:
    feed = Feed(
        ["00700"],
        url=sim_server.ws_url,
        token="t",
        plan=alltick.PLANS["all-hk"],
        queue=TickQueue(),
        config=FAST,
        simulated=True,
    )
    feed.start()
    try:
        items = drain(feed, 1)
    finally:
        feed.stop()
    start = next(i for i in items if isinstance(i, Event) and i.event == "feed_start")
    assert start.details["simulated"] is True


def test_a_refused_server_fails_before_any_trade(sim_server: MarketServer) -> None:
    seen: list[bool] = []

    def check(simulated: bool) -> UsageError | None:
        seen.append(simulated)
        return UsageError("refused: simulated") if simulated else None

    feed = Feed(
        ["00700", "09988"],
        url=sim_server.ws_url,
        token="t",
        plan=alltick.PLANS["all-hk"],
        queue=TickQueue(),
        config=FAST,
        check_server=check,
    )
    feed.start()
    try:
        assert feed.done.wait(10)
    finally:
        feed.stop()
    items = feed.queue.get_batch(10_000, 0.05)
    assert seen == [True]
    assert isinstance(feed.fatal, UsageError) and "refused" in str(feed.fatal)
    assert not [i for i in items if isinstance(i, Tick)]
    assert "subscribed" not in {i.event for i in items if isinstance(i, Event)}
    # nothing was subscribed on the server either
    assert all(not c.trade_symbols for c in sim_server.connections())


# -- record: labelled rows, no mixing, nothing left behind ---------------------------


def test_demo_recording_is_labelled_in_rows_and_sidecar(tmp_path: Path) -> None:
    r = run_hk(tmp_path, "record", "700", "--demo", "--out", "d.jsonl", "--duration", "2s")
    assert r.returncode == 0, r.stderr
    assert {row["src"] for row in rows(tmp_path / "d.jsonl")} == {"alltick-sim"}
    events = rows(tmp_path / "d.jsonl.events.jsonl")
    start = next(e for e in events if e["event"] == "feed_start")
    assert start["simulated"] is True
    assert any(e["event"] == "connected" and e.get("simulated") is True for e in events)
    assert provenance.kind_of([str(tmp_path / "d.jsonl")]) == provenance.SIMULATED


def test_demo_refuses_to_append_to_real_trades_unless_allowed(tmp_path: Path) -> None:
    real = tmp_path / "r.jsonl"
    write_jsonl(real, [trade("00700", i, "alltick") for i in range(1, 4)])
    before = real.read_bytes()
    r = run_hk(tmp_path, "record", "700", "--demo", "--out", "r.jsonl", "--duration", "2s")
    assert r.returncode == 2, r.stderr
    assert "holds real trades" in r.stderr and "--allow-mixed" in r.stderr
    assert r.stderr.startswith("hkticks: error:") and "Traceback" not in r.stderr
    assert real.read_bytes() == before and not (tmp_path / "r.jsonl.events.jsonl").exists()
    r = run_hk(
        tmp_path, "record", "700", "--demo", "--out", "r.jsonl", "--duration", "2s", "--allow-mixed"
    )
    assert r.returncode == 0, r.stderr
    assert {row["src"] for row in rows(real)} == {"alltick", "alltick-sim"}
    assert provenance.kind_of([str(real)]) == provenance.MIXED


def test_a_simulated_server_is_refused_for_a_real_file_and_vice_versa(
    tmp_path: Path, any_server: MarketServer
) -> None:
    simulated = any_server._ws.opts.simulated
    out = tmp_path / "x.csv"
    # a file of the other kind: CSV this time
    other = "alltick" if simulated else "alltick-sim"
    header = "symbol,ts,price,volume,turnover,side,seq,recv_ts,src\n"
    out.write_text(header + f"00700,1700000000000,380.2,100,38020.0,buy,1,1700000000001,{other}\n")
    before = out.read_bytes()
    r = run_hk(
        tmp_path,
        "record",
        "700",
        "--url",
        any_server.ws_url,
        "--token",
        "t",
        "--out",
        "x.csv",
        "--duration",
        "3s",
    )
    assert r.returncode == 2, r.stderr
    words = "this server is a simulated market" if simulated else "this server is a real feed"
    assert words in r.stderr and "--allow-mixed" in r.stderr
    assert out.read_bytes() == before


def test_a_rejected_token_leaves_no_new_files(tmp_path: Path, sim_server: MarketServer) -> None:
    r = run_hk(
        tmp_path,
        "record",
        "700",
        "--url",
        sim_server.ws_url,
        "--token",
        "wrong",
        "--out",
        "t.jsonl",
        "--out",
        "t.db",
    )
    assert r.returncode == 3, r.stderr
    assert "token rejected" in r.stderr
    left = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert left == [], left
    assert "no new file kept" in r.stderr


def test_a_rejected_token_keeps_files_that_were_there(
    tmp_path: Path, sim_server: MarketServer
) -> None:
    old = tmp_path / "t.jsonl"
    write_jsonl(old, [trade("00700", 1, "alltick-sim")])
    r = run_hk(
        tmp_path, "record", "700", "--url", sim_server.ws_url, "--token", "no", "--out", "t.jsonl"
    )
    assert r.returncode == 3, r.stderr
    assert len(rows(old)) == 1


def test_record_summary_names_the_rotated_files_written(tmp_path: Path) -> None:
    r = run_hk(
        tmp_path,
        "record",
        "700",
        "--demo",
        "--rotate",
        "daily,1GB",
        "--out",
        "day.db",
        "--duration",
        "2s",
    )
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in tmp_path.glob("day-*.db"))
    assert len(files) == 1 and files[0].endswith("-0001.db"), files  # as the README says
    summary = [line for line in r.stderr.splitlines() if "recorded" in line][0]
    assert files[0] in summary and "{" not in summary


# -- read back: stats, replay, the board ---------------------------------------------


def test_stats_labels_demo_data_and_not_real(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "demo.jsonl", [trade("00700", i, "alltick-sim") for i in range(1, 5)])
    write_jsonl(tmp_path / "real.jsonl", [trade("00700", i, "alltick") for i in range(1, 5)])
    demo = run_hk(tmp_path, "stats", "demo.jsonl")
    real = run_hk(tmp_path, "stats", "real.jsonl")
    both = run_hk(tmp_path, "stats", "demo.jsonl", "real.jsonl")
    assert demo.returncode == real.returncode == both.returncode == 0
    assert "DEMO" in demo.stdout.splitlines()[0]
    assert "DEMO" not in real.stdout and "MIXED" not in real.stdout
    assert "MIXED" in both.stdout.splitlines()[0]
    js = json.loads(run_hk(tmp_path, "stats", "demo.jsonl", "--json").stdout)
    assert js["data"] == "simulated"
    assert json.loads(run_hk(tmp_path, "stats", "real.jsonl", "--json").stdout)["data"] == "real"
    csv_run = run_hk(tmp_path, "stats", "demo.jsonl", "--csv")
    assert "DEMO" in csv_run.stderr and "DEMO" not in csv_run.stdout


@pytest.mark.parametrize("src", ["alltick", "alltick-sim"])
def test_replay_serve_keeps_what_the_recording_was(tmp_path: Path, src: str) -> None:
    import socket

    now = int(time.time() * 1000)
    write_jsonl(tmp_path / "in.jsonl", [trade("00700", i, src, ts=now) for i in range(1, 30)])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        # REST on any free port: port + 1 (the default) may be taken
        [
            *(sys.executable, "-m", "hkticks", "replay", "in.jsonl", "--serve"),
            *("--port", str(port), "--rest-port", "0"),
        ],
        cwd=tmp_path,
        env=hk_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: server.poll() is not None or listening(port), 30, f"serve to listen on {port}"
        )
        assert server.poll() is None, server.communicate()[1]
        r = run_hk(
            tmp_path,
            "record",
            "700",
            "--url",
            f"ws://127.0.0.1:{port}/quote-stock-b-ws-api",
            "--token",
            "demo",
            "--out",
            "again.jsonl",
            "--duration",
            "3s",
        )
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
    assert r.returncode == 0, r.stderr
    got = {row["src"] for row in rows(tmp_path / "again.jsonl")}
    assert got == {src}, (r.stderr, err)
    assert ("DEMO" in err) is (src == "alltick-sim")


def test_replay_summary_says_demo(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [trade("00700", i, "alltick-sim") for i in range(1, 5)])
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))",
            sys.executable,
            "-m",
            "hkticks",
            "replay",
            "d.jsonl",
            "--speed",
            "max",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=hk_env(tmp_path),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "replayed 4 trades" in r.stdout and "DEMO: simulated trades" in r.stdout


# 2024-03-04 is a Monday; 22:30 HKT is after the close
CLOSED = calendar.timegm((2024, 3, 4, 22, 30, 0, 0, 0, 0)) - 8 * 3600
OPEN = calendar.timegm((2024, 3, 4, 10, 15, 0, 0, 0, 0)) - 8 * 3600


def render(board: Board, now: float, width: int = 160) -> str:
    console = Console(width=width, height=20, record=True, file=io.StringIO(), color_system=None)
    board.clock = lambda: now
    console.print(board)
    return console.export_text()


def test_board_learns_simulated_from_the_trades_and_says_so() -> None:
    model = WatchModel(["00700"], started=CLOSED - 10)
    board = Board(model)  # not started with --demo: e.g. `watch` against `hkticks serve`
    assert DEMO_BANNER not in render(board, CLOSED)
    ts = int(CLOSED * 1000)
    model.apply([Tick("00700", ts, 380.0, 100, 38000.0, "buy", 1, ts, "alltick-sim")], CLOSED)
    text = render(board, CLOSED)
    assert DEMO_BANNER in text
    # trades print at 22:30 HKT: the header does not say "closed" above them
    assert SIMULATED_CLOSED_LABEL in text and "HK market: closed" not in text
    assert "22:30" in text


def test_board_learns_simulated_from_the_events() -> None:
    model = WatchModel(["00700"], started=OPEN)
    model.apply([Event(1, "connected", 0, {"url": "ws://x", "simulated": True})], OPEN)
    assert model.simulated
    text = render(Board(model), OPEN)
    assert DEMO_BANNER in text and "open (morning session)" in text


def test_real_data_at_night_is_closed() -> None:
    model = WatchModel(["00700"], started=CLOSED)
    ts = int(CLOSED * 1000)
    model.apply([Tick("00700", ts, 380.0, 100, 38000.0, "buy", 1, ts, "alltick")], CLOSED)
    text = render(Board(model), CLOSED)
    assert not model.simulated and DEMO_BANNER not in text and "HK market: closed" in text


def test_simulated_label_follows_the_phase() -> None:
    assert simulated_label(market_session(OPEN)) == "open (morning session)"
    assert simulated_label(market_session(CLOSED)) == SIMULATED_CLOSED_LABEL
    saturday = CLOSED + 5 * 86400
    assert simulated_label(market_session(saturday)).endswith("(weekend)")


# -- provenance on every format ------------------------------------------------------


def test_sources_of_every_format(tmp_path: Path) -> None:
    recs = [trade("00700", i, "alltick-sim") for i in range(1, 4)]
    write_jsonl(tmp_path / "a.jsonl", recs)
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in recs))
    header = "symbol,ts,price,volume,turnover,side,seq,recv_ts,src\n"
    (tmp_path / "a.csv").write_text(
        header + "".join(",".join(str(v) for v in r.values()) + "\n" for r in recs)
    )
    con = sqlite3.connect(tmp_path / "a.db")
    con.execute(
        "CREATE TABLE ticks (symbol TEXT, ts INTEGER, price REAL, volume INTEGER, turnover REAL, "
        "side TEXT, seq INTEGER, recv_ts INTEGER, src TEXT)"
    )
    con.executemany(
        "INSERT INTO ticks VALUES (?,?,?,?,?,?,?,?,?)", [tuple(r.values()) for r in recs]
    )
    con.commit()
    con.close()
    for name in ("a.jsonl", "a.jsonl.gz", "a.csv", "a.db"):
        assert provenance.sources(str(tmp_path / name)) == {"alltick-sim"}, name
    assert provenance.sources(str(tmp_path / "missing.jsonl")) == set()
    assert provenance.kind_of([]) is None
    assert provenance.kind_of_sources({"alltick"}) == provenance.REAL
    assert provenance.label(provenance.REAL) == ""
    assert provenance.mixing_guard(None, "x") is None
    guard = provenance.mixing_guard(provenance.REAL, "f.jsonl")
    assert guard is not None and guard(False) is None and "f.jsonl" in str(guard(True))
