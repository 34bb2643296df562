"""Every command that subscribes paces its requests, measured by the server.

400 symbols on the premium plan (2 connections of 200) against an
independent server (tests/kit/pacing.py) that logs when it READS each
request and reads a new connection's first request late, as a busy server
does. No two requests on one connection may be read < 1 s apart, and no two
subscribes on different connections < 3 s apart (AllTick's rules), whatever
path the command subscribes through: ``record --book-out``, the board and the
heatmap on a real pseudo-terminal, ``watch --json``, ``alerts`` and ``hkticks.stream``.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

from kit.pacing import RecordingServer, gaps, recording_server
from kit.ports import free_port
from kit.waiting import wait_until

from hkticks.alltick import protocol as alltick

SYMBOLS = [f"{n:05d}" for n in range(1, 401)]
PER_CONNECTION = 200  # the premium plan: 400 symbols on 2 connections


def shows_605(text: str) -> bool:
    """Whether the user was shown AllTick's 605 (a port number like 60529 is not it)."""
    return re.search(r"\b605\b", text) is not None or "too many requests" in text


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HKTICKS_", "ALLTICK_"))}
    env.update(
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        PYTHONUNBUFFERED="1",
        TERM="xterm-256color",
    )
    return env


def _source_args(server: RecordingServer, tmp: Path) -> list[str]:
    symbols = tmp / "symbols.txt"
    symbols.write_text("\n".join(SYMBOLS) + "\n")
    return [
        "--symbols-file",
        str(symbols),
        "--url",
        server.url,
        "--rest-url",
        f"http://127.0.0.1:{free_port()}/",  # nothing listens: no reference data
        "--token",
        "pacing-test-token",
        "--plan",
        "premium",
    ]


def _subscribed(server: RecordingServer, kinds: int) -> bool:
    """Both connections sent every subscribe they will send (``kinds`` each) and then a
    heartbeat (10 s after they opened): every kind of request was measured."""
    subs = server.subscribes()
    beats = {r.conn for r in server.log() if r.cmd_id == alltick.CMD_HEARTBEAT}
    return (
        len(subs) >= 2 * kinds
        and all(r.symbols == PER_CONNECTION for r in subs)
        and len(beats) >= 2
    )


def _assert_paced(server: RecordingServer, kinds: int) -> None:
    log = server.log()
    same, cross = gaps(log)
    assert {r.conn for r in log} == {0, 1}, log
    assert len(server.subscribes()) == 2 * kinds, log  # nothing re-sent: no 605 episode
    assert same and min(same) >= 1.0, (sorted(same)[:5], log)
    assert cross and min(cross) >= 3.0, (sorted(cross)[:5], log)
    print(f"gaps on one connection: min {min(same):.3f} s; across: min {min(cross):.3f} s")


def _run_until(argv: list[str], env: dict[str, str], done, timeout: float) -> str:  # type: ignore[no-untyped-def]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        wait_until(lambda: done() or proc.poll() is not None, timeout=timeout)
        assert proc.poll() is None, proc.communicate(timeout=10)[1].decode()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    text = err.decode("utf-8", "replace")
    assert "Traceback" not in text and not shows_605(text), text
    return text


HKTICKS = [sys.executable, "-m", "hkticks"]


def test_record_with_books_is_paced(tmp_path: Path) -> None:
    with recording_server() as server:
        argv = [
            *HKTICKS,
            "record",
            *_source_args(server, tmp_path),
            "--out",
            str(tmp_path / "t.jsonl"),
            "--book-out",
            str(tmp_path / "b.jsonl"),
            "-q",
        ]
        _run_until(argv, _env(tmp_path), lambda: _subscribed(server, 2), 40)
        _assert_paced(server, kinds=2)
    assert (tmp_path / "t.jsonl").read_text().count('"00001"') == 1


def test_watch_json_is_paced(tmp_path: Path) -> None:
    with recording_server() as server:
        argv = [*HKTICKS, "watch", "--json", *_source_args(server, tmp_path)]
        _run_until(argv, _env(tmp_path), lambda: _subscribed(server, 1), 40)
        _assert_paced(server, kinds=1)


def test_alerts_is_paced(tmp_path: Path) -> None:
    with recording_server() as server:
        argv = [*HKTICKS, "alerts", *_source_args(server, tmp_path)]
        _run_until(argv, _env(tmp_path), lambda: _subscribed(server, 1), 40)
        _assert_paced(server, kinds=1)


def _on_pty(
    argv: list[str], env: dict[str, str], until: Any, timeout: float, quit_key: bytes = b""
) -> tuple[int, str]:
    """Run ``argv`` on a real pseudo-terminal until ``until()`` (then 1.5 s more and
    SIGTERM, or ``quit_key`` typed), or, with ``until=None``, until it exits;
    (exit status, all it drew)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the board, on the pseudo-terminal
        try:
            os.execve(sys.executable, argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    screen = bytearray()
    status: int | None = None

    def drain(wait: float) -> None:
        nonlocal status
        readable, _, _ = select.select([fd], [], [], wait)
        if readable:
            try:
                screen.extend(os.read(fd, 1 << 16))
            except OSError:  # the child closed the terminal
                pass
        if status is None:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = code

    try:
        deadline = time.monotonic() + timeout
        while status is None and not (until and until()) and time.monotonic() < deadline:
            drain(0.05)
        if until is not None:
            assert until(), "the condition was not met on the terminal"
            settle = time.monotonic() + 1.5  # the answers reach the screen
            while status is None and time.monotonic() < settle:
                drain(0.05)
            if status is None and quit_key:
                os.write(fd, quit_key)
            elif status is None:
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while status is None and time.monotonic() < deadline:
            drain(0.05)
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    text = screen.decode("utf-8", "replace")
    assert status is not None, text[-2000:]
    return os.waitstatus_to_exitcode(status), text


def test_the_board_on_a_terminal_with_books_is_paced(tmp_path: Path) -> None:
    with recording_server() as server:
        argv = [*HKTICKS, "watch", "--book", *_source_args(server, tmp_path)]
        code, text = _on_pty(argv, _env(tmp_path), lambda: _subscribed(server, 2), 40)
        assert code == 0, text[-2000:]
        assert not shows_605(text)
        _assert_paced(server, kinds=2)


def test_the_heatmap_on_a_terminal_is_paced(tmp_path: Path) -> None:
    with recording_server() as server:
        argv = [*HKTICKS, "watch", "--heatmap", *_source_args(server, tmp_path)]
        # left with q, as a user leaves it
        code, text = _on_pty(argv, _env(tmp_path), lambda: _subscribed(server, 1), 40, b"q")
        assert code == 0, text[-2000:]
        _assert_paced(server, kinds=1)


def test_watch_book_demo_on_a_terminal_never_shows_605(tmp_path: Path) -> None:
    """The universe on the embedded simulated market, in this process: the board got
    605 every time (its first subscribe read late by a server sharing the CPU)."""
    argv = [*HKTICKS, "watch", "--book", "--demo", "--duration", "12s"]
    code, text = _on_pty(argv, _env(tmp_path), None, 60)
    assert code == 0, text[-2000:]
    assert not shows_605(text), text[-2000:]
    # the universe was watched to the end (trades may take long on a loaded machine:
    # the demo server computes the board's K-lines on the loop that answers subscribes)
    assert re.search(r"watched [1-9]\d\d+ symbols for \d+s", text), text[-2000:]


def test_hkticks_stream_is_paced() -> None:
    import hkticks

    with recording_server() as server:
        stream = hkticks.stream(SYMBOLS, url=server.url, token="pacing-test-token", plan="premium")
        try:
            wait_until(lambda: _subscribed(server, 1), timeout=40)
            first = next(iter(stream))
            assert first.symbol in SYMBOLS
        finally:
            stream.close()
        _assert_paced(server, kinds=1)
