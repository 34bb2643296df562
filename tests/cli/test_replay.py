"""``hkticks replay``: exact JSON, a live board, and a real WebSocket server fed by a recording.

Recordings come from real ``record --demo`` runs; ``replay --serve`` is
consumed by a real ``record`` process over loopback. Timing is checked on a
simulated clock (the pure :class:`ReplayClock` and the JSON writer driven
by a fake monotonic clock), never against the wall clock.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kit.hk import hk_env
from kit.hk import run_hk as run_hk_text
from kit.waiting import wait_until

from hkticks.analysis.replay import ReplayClock, parse_speed, replay_json
from hkticks.storage.readers import Recording, TickFile
from hkticks.storage.sinks import open_tick_sink
from hkticks.storage.sinks.jsonl import JsonlSink
from hkticks.storage.sinks.rotating import RotatingSink
from hkticks.tick import Tick

run_hk = partial(run_hk_text, text=False)  # these tests read bytes

T0 = 1_714_613_400_000  # 2024-05-02 09:30:00 HKT


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real demo recording in four formats (same feed, same trades)."""
    d = tmp_path_factory.mktemp("rec")
    r = run_hk(
        d,
        *("record", "00700", "09988", "03690", "--demo", "--demo-rate", "1500"),
        *("--out", "t.jsonl", "--out", "t.csv", "--out", "t.db", "--out", "t.jsonl.gz"),
        *("--duration", "3s"),
    )
    assert r.returncode == 0, r.stderr.decode()
    assert (d / "t.jsonl").stat().st_size > 5000
    return d


@pytest.mark.parametrize("name", ["t.jsonl", "t.csv", "t.db", "t.jsonl.gz"])
def test_replay_json_reproduces_the_recording_exactly(recorded: Path, name: str) -> None:
    r = run_hk(recorded, "replay", name, "--speed", "max", "--json")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == (recorded / "t.jsonl").read_bytes()
    assert r.stderr == b""  # a pipe, nothing happened: quiet


def test_replay_json_selects_symbols_and_time(recorded: Path) -> None:
    ticks = list(TickFile(str(recorded / "t.jsonl")))
    mid = ticks[len(ticks) // 2].ts
    sod = (mid // 1000 + 8 * 3600) % 86_400
    hhmmss = f"{sod // 3600:02d}:{sod // 60 % 60:02d}:{sod % 60:02d}"
    r = run_hk(recorded, "replay", "t.db", "--speed", "max", "--symbols", "700", "--from", hhmmss)
    assert r.returncode == 0, r.stderr.decode()
    got = [json.loads(line) for line in r.stdout.splitlines()]
    start = mid // 1000 * 1000
    want = [t.record() for t in ticks if t.symbol == "00700" and t.ts >= start]
    assert got == want and got


def test_rotated_parts_replay_as_the_single_file(tmp_path: Path) -> None:
    ticks = [
        Tick(
            f"{i % 7:05d}",
            T0 + i * 997 - 2,
            10.0 + i % 13 * 0.02,
            100,
            1000.0,
            None,
            i,
            T0 + i * 997,
            "t",
        )
        for i in range(8000)  # 09:30 .. 11:42 HKT
    ]
    rot = RotatingSink(str(tmp_path / "t-{date}-{hour}.jsonl.gz"), open_tick_sink, clock=lambda: T0)
    single = JsonlSink(str(tmp_path / "single.jsonl"))
    for i in range(0, 8000, 300):
        rot.write(ticks[i : i + 300])
        single.write(ticks[i : i + 300])
    rot.close()
    single.close()
    assert len(rot.files) == 3
    r = run_hk(tmp_path, "replay", *reversed(rot.files), "--speed", "max")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == (tmp_path / "single.jsonl").read_bytes()


def read_until(
    proc: subprocess.Popen[bytes], pattern: bytes, seconds: float, seen: bytearray
) -> bytes:
    """Read ``proc``'s stderr into ``seen`` until ``pattern`` matches; the match."""
    assert proc.stderr is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        m = re.search(pattern, seen)
        if m:
            return m.group(0)
        ready, _, _ = select.select([proc.stderr], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    raise AssertionError(f"{pattern!r} never came: {bytes(seen)!r}")


def test_replay_serve_consumed_by_record_reproduces_the_recording(
    recorded: Path, tmp_path: Path
) -> None:
    original = [json.loads(line) for line in (recorded / "t.jsonl").read_bytes().splitlines()]
    symbols = sorted({r["symbol"] for r in original})
    server = subprocess.Popen(
        [sys.executable, "-m", "hkticks", "replay", str(recorded / "t.jsonl.gz")]
        + ["--serve", "--port", "0", "--speed", "8"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=hk_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        seen = bytearray()
        url = read_until(server, rb"ws://[0-9.]+:\d+/quote-stock-b-ws-api", 20, seen).decode()
        client = subprocess.Popen(
            [sys.executable, "-m", "hkticks", "record", *symbols, "--url", url, "--token", "demo"]
            + ["--out", "again.jsonl", "--out", "again.csv", "-q"],
            env=hk_env(tmp_path),
            cwd=tmp_path,
            stderr=subprocess.PIPE,
        )
        out = tmp_path / "again.jsonl"
        wait_until(
            lambda: out.exists() and out.read_bytes().count(b"\n") >= len(original),
            30,
            "every trade replayed into again.jsonl",
        )
        read_until(server, rb"replay finished: [0-9,]+ trades sent", 30, seen)
        client.send_signal(signal.SIGTERM)
        _, client_err = client.communicate(timeout=20)
        assert client.returncode == 0, client_err.decode()
    finally:
        server.send_signal(signal.SIGTERM)
        _, rest = server.communicate(timeout=20)
    assert server.returncode == 0, rest.decode()
    assert f"replay finished: {len(original):,} trades sent".encode() in bytes(seen)

    def same(rec: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in rec.items() if k != "recv_ts"}  # stamped by the new recorder

    again = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert [same(r) for r in again] == [same(r) for r in original]
    assert [t.record() for t in TickFile(str(tmp_path / "again.csv"))] == again


# -- timing, on a simulated clock --------------------------------------------------------


def test_replay_clock_scales_and_shortens_long_pauses() -> None:
    clock = ReplayClock(speed=2.0, max_gap_ms=1000)
    assert clock.position(5.0) is None
    assert clock.due(T0, now=100.0) == 100.0
    assert clock.due(T0 + 500, now=100.1) == pytest.approx(100.25)
    # 10 s of silence (lunch) becomes 1 s of recording time, 0.5 s at 2x
    assert clock.due(T0 + 10_500, now=100.3) == pytest.approx(100.75)
    assert clock.skipped_ms == 9000
    assert clock.due(T0 + 10_700, now=100.8) == pytest.approx(100.85)
    assert clock.position(100.80) == T0 + 10_600
    assert clock.position(200.0) == T0 + 10_700  # never past the last record scheduled
    fast = ReplayClock(speed=None)
    assert fast.due(T0, 1.0) == 1.0 and fast.due(T0 + 86_400_000, 1.0) == 1.0
    assert fast.position(9.0) == T0 + 86_400_000


@pytest.mark.parametrize(
    ("text", "speed"), [("1", 1.0), ("10", 10.0), ("0.5", 0.5), ("10x", 10.0), ("max", None)]
)
def test_parse_speed(text: str, speed: float | None) -> None:
    assert parse_speed(text) == speed


class FakeTime:
    """A monotonic clock that only moves when the replay waits on it."""

    def __init__(self) -> None:
        self.now = 50.0

    def monotonic(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.now += seconds
        return False

    def is_set(self) -> bool:
        return False


class Timed(io.BytesIO):
    def __init__(self, clock: FakeTime) -> None:
        super().__init__()
        self.clock = clock
        self.writes: list[tuple[float, int]] = []

    def write(self, data: Any) -> int:
        self.writes.append((self.clock.now, bytes(data).count(b"\n")))
        return super().write(data)


def test_replay_json_writes_each_trade_when_due() -> None:
    gaps_ms = [0, 100, 100, 5000, 0, 300]  # a 5 s pause, cut to 2 s
    keys = [T0 + sum(gaps_ms[: i + 1]) for i in range(len(gaps_ms))]
    ticks = [Tick("00700", k - 1, 1.0, 100, 100.0, None, i, k, "t") for i, k in enumerate(keys)]
    fake = FakeTime()
    out = Timed(fake)
    clock = ReplayClock(speed=4.0, max_gap_ms=2000)
    n = replay_json(iter(zip(keys, ticks, strict=True)), out, clock, fake, monotonic=fake.monotonic)
    assert n == 6
    # recording offsets 0, .1, .2, (5.2 -> 2.2), 2.2, 2.5 s at 4x
    expected = [(50.0, 1), (50.025, 1), (50.05, 1), (50.55, 2), (50.625, 1)]
    assert [(round(t, 6), k) for t, k in out.writes] == expected
    assert out.getvalue().count(b"\n") == 6
    assert clock.skipped_ms == 3000


# -- the board -----------------------------------------------------------------------------


def test_replay_on_a_terminal_shows_the_board(recorded: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: hkticks on a pseudo-terminal, as a user would run it
        os.chdir(recorded)
        os.environ.update(hk_env(recorded), COLUMNS="120", LINES="24")
        os.execv(
            sys.executable, [sys.executable, "-m", "hkticks", "replay", "t.csv", "--speed", "max"]
        )
    screen = b""

    def read_for(seconds: float) -> None:
        nonlocal screen
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                screen += chunk

    deadline = time.monotonic() + 20
    while b"replay finished" not in screen and time.monotonic() < deadline:
        read_for(0.2)
    os.kill(pid, signal.SIGINT)
    read_for(2.0)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", screen).decode("utf-8", "replace")
    assert os.WEXITSTATUS(status) == 0, text[-2000:]
    n = len(list(TickFile(str(recorded / "t.jsonl"))))
    assert "replay finished" in text
    assert "REPLAY max" in text  # the header says what feeds the board, at which speed
    assert "00700" in text and "09988" in text and "03690" in text
    assert f"{n:,} trades" in text
    assert "replayed" in text  # the summary after the board


def test_usage_errors(recorded: Path) -> None:
    for args, words in (
        (["replay", "missing.jsonl"], b"no such file"),
        (["replay", "t.jsonl", "--speed", "fast-ish"], b"--speed"),
        (["replay", "t.jsonl", "--serve", "--json"], b"give one of --serve, --dash and --json"),
        (["replay", "t.jsonl", "--dash", "--json"], b"give one of --serve, --dash and --json"),
        (["replay", "t.jsonl.events.jsonl"], b"only events sidecars"),
        (["replay", "t.jsonl", "--from", "9am"], b"--from"),
    ):
        r = run_hk(recorded, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and b"Traceback" not in r.stderr


def test_torn_and_invalid_lines_are_reported_not_fatal(recorded: Path, tmp_path: Path) -> None:
    data = (recorded / "t.jsonl").read_bytes()
    (tmp_path / "bad.jsonl").write_bytes(b"garbage\n" + data + b'{"symbol":"007')
    r = run_hk(tmp_path, "replay", "bad.jsonl", "--speed", "max")
    assert r.returncode == 0
    assert r.stdout == data
    assert b"skipped 1 invalid record" in r.stderr and b"torn" in r.stderr
    assert len(list(Recording([str(tmp_path / "bad.jsonl")]))) == data.count(b"\n")


def test_a_filter_matching_nothing_says_so_and_exits_1(tmp_path: Path) -> None:
    rec = tmp_path / "r.jsonl"
    rec.write_text(
        '{"symbol":"00700","ts":1700000000000,"price":1.0,"volume":100,"turnover":100.0,'
        '"side":"buy","seq":1,"recv_ts":1700000000001,"src":"alltick"}\n'
    )
    r = subprocess.run(
        [sys.executable, "-m", "hkticks", "replay", str(rec), "--json", "--symbols", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and r.stdout == ""
    assert "no trades to replay" in r.stderr and "Traceback" not in r.stderr
