"""``hkticks watch`` end to end: real processes, real loopback sockets, a real pseudo terminal.

The JSON stream is read through a real pipe (``watch | head -5``); the board
is run in a pseudo terminal the way a person's terminal would run it, then
resized and interrupted.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import orjson
import pytest
from kit.hk import hk_env
from kit.waiting import wait_until

from hkticks.alltick.rest_client import RestClient
from hkticks.feed.queue import TickQueue
from hkticks.market_hours import hk_clock, market_session
from hkticks.server import MarketServer
from hkticks.tick import RECORD_FIELDS
from hkticks.watch.model import ReferenceData
from hkticks.watch.pump import (
    REFERENCE_ATTEMPTS,
    next_day_start,
    reference_worker,
    start_reference_thread,
)

HKTICKS = [sys.executable, "-m", "hkticks"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment (kit.hk): temp cache/config, no token, no terminal size overrides."""
    e = hk_env(tmp_path)
    for var in ("COLUMNS", "LINES"):
        e.pop(var, None)
    e["TERM"] = "xterm-256color"
    return e


# one embedded server for the module (``module_server``, conftest.py)
pytestmark = pytest.mark.market(
    token="right", rate=1000.0, seed=3, enforce_pacing=True, record_sent=False
)


def run(
    args: list[str], env: dict[str, str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        HKTICKS + args, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


# -- the JSON stream -------------------------------------------------------------


def test_json_through_head_5_prints_five_lines_and_exits_cleanly(env: dict[str, str]) -> None:
    watch = subprocess.Popen(
        HKTICKS + ["watch", "00700", "09988", "--demo", "--json", "--demo-rate", "2000"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert watch.stdout is not None
    head = subprocess.Popen(["head", "-5"], stdin=watch.stdout, stdout=subprocess.PIPE, env=env)
    watch.stdout.close()  # head owns the read end now, as in a shell pipeline
    out, _ = head.communicate(timeout=30)
    rc = watch.wait(timeout=30)
    err = watch.stderr.read().decode() if watch.stderr else ""
    lines = out.decode().splitlines()
    assert len(lines) == 5
    for line in lines:
        rec = orjson.loads(line)
        assert tuple(rec) == RECORD_FIELDS
        assert rec["symbol"] in ("00700", "09988")
        assert rec["price"] > 0 and rec["volume"] > 0 and rec["src"] == "alltick-sim"
        assert rec["side"] in ("buy", "sell", None)
    assert rc == 0
    assert "Traceback" not in err and "Exception ignored" not in err and "Broken pipe" not in err


def test_stdout_not_a_terminal_streams_json_per_trade(env: dict[str, str]) -> None:
    proc = run(
        ["watch", "700", "9988.HK", "--demo", "--duration", "2s", "--demo-rate", "2000"], env
    )
    assert proc.returncode == 0, proc.stderr
    recs = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert len(recs) >= 5
    assert {r["symbol"] for r in recs} <= {"00700", "09988"}
    # de-duplicated and in order per symbol: sequence numbers strictly increase
    for sym in ("00700", "09988"):
        seqs = [r["seq"] for r in recs if r["symbol"] == sym]
        assert seqs == sorted(set(seqs))


def test_no_symbols_means_the_stock_connect_universe(env: dict[str, str]) -> None:
    proc = run(["watch", "--demo", "--duration", "3s", "--demo-rate", "3000"], env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    symbols = {orjson.loads(line)["symbol"] for line in proc.stdout.splitlines()}
    assert len(symbols) > 50  # trades from across the universe, not a fixed list
    assert all(len(s) == 5 and s.isdigit() for s in symbols)


# -- errors: one line, non-zero exit ----------------------------------------------


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("hkticks: error: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_invalid_symbol_is_a_usage_error(env: dict[str, str]) -> None:
    proc = run(["watch", "00700", "tencent", "--demo", "--json"], env)
    assert proc.returncode == 2
    assert "invalid symbol 'tencent'" in one_error_line(proc)
    assert proc.stdout == ""


def test_plan_too_small_before_connecting(env: dict[str, str]) -> None:
    proc = run(
        ["watch", "1", "2", "3", "5", "700", "9988", "--demo", "--plan", "free", "--json"], env
    )
    assert proc.returncode == 4
    assert "6 symbols do not fit the free plan" in one_error_line(proc)


def test_symbols_the_server_rejects_all_of(env: dict[str, str]) -> None:
    proc = run(["watch", "99998", "--demo", "--json", "--duration", "20s"], env)
    assert proc.returncode == 2
    assert "the server rejected every symbol (99998)" in one_error_line(proc)


def test_token_rejected(env: dict[str, str], module_server: MarketServer) -> None:
    args = ["watch", "00700", "--url", module_server.ws_url, "--rest-url", module_server.rest_url]
    proc = run([*args, "--token", "wrong-secret", "--json", "--duration", "20s"], env)
    assert proc.returncode == 3
    line = one_error_line(proc)
    assert "token rejected" in line and "--token" in line
    assert "wrong-secret" not in proc.stderr + proc.stdout


# -- the board in a pseudo terminal ----------------------------------------------


class Terminal:
    """A child process on a pseudo terminal, its output collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str], rows: int, cols: int) -> None:
        self.master, slave = pty.openpty()
        self.resize(rows, cols)
        self.proc = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.buf.extend(chunk)

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def text(self, start: int = 0) -> str:
        with self.lock:
            return self.buf[start:].decode("utf-8", "replace")

    def mark(self) -> int:
        with self.lock:
            return len(self.buf)

    def wait_for(self, needle: str, start: int = 0, timeout: float = 20.0) -> str:
        def seen() -> bool:
            return needle in self.text(start) or self.proc.poll() is not None

        wait_until(seen, timeout, f"{needle!r} on the screen")
        text = self.text(start)
        if needle not in text:
            raise AssertionError(f"{needle!r} not seen; output tail: {text[-2000:]!r}")
        return text

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.thread.join(5)
        os.close(self.master)


def test_board_in_a_terminal_shows_rows_and_quits_cleanly_on_sigint(env: dict[str, str]) -> None:
    """The raw terminal stream: alternate screen in and out, cursor restored, one summary.

    What the screen shows (filter, sort arrow, detail view) is checked on the
    rendered screen in tests/watch/test_board_tmux.py and with Pilot in tests/watch/test_board_app.py.
    """
    term = Terminal(
        HKTICKS + ["watch", "00700", "09988", "--demo", "--book", "--demo-rate", "2000"],
        env,
        rows=40,
        cols=170,
    )
    try:
        term.wait_for("\x1b[?1049h")  # it switched to the alternate screen
        term.wait_for("DEMO — simulated prices")
        for code in ("00700", "09988"):
            term.wait_for(code)
        # Ctrl-C (as a signal): leaves the alternate screen, shows the cursor, one summary line
        mark = term.mark()
        term.proc.send_signal(signal.SIGINT)
        assert term.proc.wait(20) == 0
        term.thread.join(5)
        tail = term.text(mark)
        assert "\x1b[?1049l" in tail and "\x1b[?25h" in tail
        after = tail[tail.rindex("\x1b[?1049l") :]
        summary = [line for line in after.splitlines() if "hkticks:" in line]
        assert len(summary) == 1 and "watched 2 symbols" in summary[0]
        assert "Traceback" not in term.text()
    finally:
        term.close()


def test_board_against_a_simulated_server_says_demo(
    env: dict[str, str], module_server: MarketServer
) -> None:
    """Not started with --demo: the server's handshake says it is simulated (hkticks serve)."""
    args = ["watch", "00700", "--url", module_server.ws_url, "--rest-url", module_server.rest_url]
    term = Terminal(HKTICKS + [*args, "--token", "right"], env, rows=20, cols=150)
    try:
        term.wait_for("1/1 up")
        term.wait_for("DEMO — simulated prices")
        text = term.wait_for("HK market: ")
        closed = not market_session(time.time()).trading
        assert ("simulated session" in text) is closed  # never "closed" above trades printing
        term.proc.send_signal(signal.SIGINT)
        assert term.proc.wait(20) == 0
    finally:
        term.close()


def test_board_fatal_error_is_one_line_after_the_screen_is_restored(
    env: dict[str, str], module_server: MarketServer
) -> None:
    args = ["watch", "00700", "--url", module_server.ws_url, "--rest-url", module_server.rest_url]
    term = Terminal(HKTICKS + [*args, "--token", "nope"], env, rows=30, cols=120)
    try:
        assert term.proc.wait(30) == 3
        term.thread.join(5)
        text = term.text()
        assert "\x1b[?1049l" in text
        after = text[text.rindex("\x1b[?1049l") :]
        lines = [line for line in after.replace("\r", "").splitlines() if line.strip("\x1b[?25h ")]
        errors = [line for line in lines if "hkticks: error:" in line]
        assert len(errors) == 1 and "token rejected" in errors[0]
        assert "Traceback" not in text and "nope" not in text
    finally:
        term.close()


# -- reference data over REST (real HTTP against the embedded server) -----------


def collect(queue: TickQueue, want: int, timeout: float = 15.0) -> list[ReferenceData]:
    got: list[ReferenceData] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += [i for i in queue.get_batch(100, 0.2) if isinstance(i, ReferenceData)]
    return got


def test_reference_worker_fetches_previous_close_and_missing_names(
    module_server: MarketServer,
) -> None:
    rest = RestClient(module_server.rest_url, "right", "all-hk", timeout=5)
    queue = TickQueue()
    stop = threading.Event()
    thread = start_reference_thread(rest, ["00700", "09988"], ["09988"], queue, stop)
    try:
        bars_ref, names_ref = collect(queue, 2)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()  # it was waiting for the next day, and stopped at once
    assert bars_ref.kind == "bars" and bars_ref.error is None
    # the previous close is the close of the bar before today's, as the REST API reports it
    expected = rest.daily_bars(["00700"])["00700"]
    stats = bars_ref.stats["00700"]
    if hk_clock(expected[-1].ts / 1000)[0] >= hk_clock(time.time())[0]:
        assert stats.prev_close == expected[-2].close
        assert stats.volume == pytest.approx(expected[-1].volume, rel=0.5)
    else:  # before the open, a weekend or a holiday: the latest bar is the previous session
        # (the simulated session's trades keep moving its close: within a few ticks)
        assert stats.prev_close == pytest.approx(expected[-1].close, rel=0.02)
        assert stats.volume is None
    assert names_ref.kind == "names" and set(names_ref.names) == {"09988"}
    en, cn = names_ref.names["09988"]
    assert en and cn


def test_reference_worker_reports_failure_then_stops(module_server: MarketServer) -> None:
    # a wrong token: one error, no retry loop
    queue = TickQueue()
    stop = threading.Event()
    rest = RestClient(module_server.rest_url, "wrong", "all-hk", timeout=5)
    reference_worker(rest, ["00700"], [], queue, stop, retry_s=0.05)
    (ref,) = [i for i in queue.get_batch(100, 0) if isinstance(i, ReferenceData)]
    assert ref.kind == "bars" and "token" in (ref.error or "") and "wrong" not in (ref.error or "")
    # nobody listening: retried a few times, each failure reported, then it waits for tomorrow
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = RestClient(
        f"http://127.0.0.1:{port}/quote-stock-b-api/", "t", "all-hk", timeout=1, retries=0
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=reference_worker, args=(dead, ["00700"], [], queue, stop), kwargs={"retry_s": 0.05}
    )
    thread.start()
    try:
        refs = collect(queue, REFERENCE_ATTEMPTS, timeout=20)
        time.sleep(0.3)  # under test: a window in which no further attempt may come
        refs += [i for i in queue.get_batch(100, 0) if isinstance(i, ReferenceData)]
        assert thread.is_alive()  # now waiting for the next trading day
    finally:
        stop.set()
        thread.join(5)
    assert len(refs) == REFERENCE_ATTEMPTS and all(r.error for r in refs)


def test_next_day_start() -> None:
    import calendar

    mon_10 = calendar.timegm((2024, 3, 4, 10, 0, 0, 0, 0, 0)) - 8 * 3600
    assert next_day_start(mon_10) == mon_10 + 23 * 3600
    assert next_day_start(mon_10 - 3600 * 2) == mon_10 - 3600  # 08:00 -> 09:00 the same day
