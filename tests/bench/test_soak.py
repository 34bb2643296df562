"""Soak: a recorder that reconnects over and over must not leak threads, descriptors or memory.

The short soak runs in the default suite: about 20 s of a real ``hkticks
record`` process whose connection the server drops every 2 s (clean closes
and TCP resets in turn; AllTick's 3-second spacing between connection opens,
which the client keeps, sets how soon it is back). The 10-minute memory soak
is marked slow; it is what ``hkticks bench --soak`` runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from kit.waiting import wait_until

from hkticks.server import MarketServer

SYMBOLS = ["00700", "09988", "00005", "03690", "01810", "00939", "02318", "00388"]
SOAK_S = 20.0
CYCLE_S = 2.0


def counts(pid: int) -> tuple[int, int]:
    """(threads, open file descriptors) of a process, from /proc."""
    return len(os.listdir(f"/proc/{pid}/task")), len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def server() -> Iterator[MarketServer]:
    srv = MarketServer(
        token="t", plan="all-hk", rate=300.0, seed=5, enforce_pacing=False, record_sent=True
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def subscribed(server: MarketServer, n: int) -> bool:
    conns = server.connections()
    return len(conns) >= n and conns[-1].closed_at is None and bool(conns[-1].trade_symbols)


def test_reconnects_for_20_s_leak_no_threads_no_descriptors(
    tmp_path: Path, server: MarketServer
) -> None:
    out = tmp_path / "t.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HKTICKS_", "ALLTICK_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hkticks",
            "record",
            *SYMBOLS,
            "--url",
            server.ws_url,
            "--token",
            "t",
            "--out",
            str(out),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    samples: list[tuple[int, int]] = []
    drops = 0
    try:
        started = last_drop = time.monotonic()
        while time.monotonic() - started < SOAK_S:
            wait_until(
                lambda d=drops: proc.poll() is not None or subscribed(server, d + 1),
                20,
                "the recorder to come back",
            )
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            pause = max(0.0, CYCLE_S - (time.monotonic() - last_drop))
            time.sleep(pause)  # under test: one drop every CYCLE_S seconds
            samples.append(counts(proc.pid))
            assert server.disconnect_all(mode="reset" if drops % 2 else "close") == 1
            last_drop = time.monotonic()
            drops += 1
        wait_until(lambda: subscribed(server, drops + 1), 20, "the recorder to come back")
        time.sleep(0.5)  # under test: the last sample half a second after the last drop
        samples.append(counts(proc.pid))
    finally:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert drops >= 5
    threads = [t for t, _ in samples]
    fds = [f for _, f in samples]
    # flat: every connection's thread and socket went away with it
    assert max(threads) == min(threads), samples
    assert max(fds) == min(fds), samples
    assert len(server.connections()) == drops + 1
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    keys = [(r["symbol"], r["seq"]) for r in rows]
    assert len(keys) == len(set(keys)) and len(rows) > 100
    sent = {(sym, seq) for _, sym, seq in server.sent_trades()}
    assert set(keys) <= sent
    events = [orjson.loads(line) for line in Path(f"{out}.events.jsonl").read_bytes().splitlines()]
    assert sum(1 for e in events if e["event"] == "disconnected") == drops
    assert sum(1 for e in events if e["event"] == "subscribed") == drops + 1
    assert f"reconnects {drops}" in err


@pytest.mark.slow
def test_ten_minutes_at_2000_trades_per_second_on_550_symbols_grow_rss_under_20_mb() -> None:
    """``hkticks bench --soak`` as a test (slow: run with ``-m slow``)."""
    from hkticks.bench.processes import bench_symbols
    from hkticks.bench.soak import soak
    from hkticks.bench.targets import SOAK_GROWTH_MB

    with tempfile.TemporaryDirectory() as workdir:
        result = soak(duration=600.0, rate=2000.0, symbols=bench_symbols(550), workdir=workdir)
    assert result["exit_code"] == 0 and result["last_line_valid"]
    assert result["ticks_recorded"] > 600 * 2000 * 0.9
    assert result["growth_mb"] < SOAK_GROWTH_MB, result
