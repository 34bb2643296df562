"""Signals under hostile conditions: a process started with SIGINT ignored.

A background job of a non-interactive shell (``cmd &`` in a script, some CI
runners and test harnesses) starts with SIGINT ignored, and Python then does
not install its KeyboardInterrupt handler. ``hkticks serve`` relied on that
handler, so ``kill -INT`` did nothing and the process ran on (the cause of
``tests/server/test_server_serve.py::test_serve_done_when`` failing in some full
runs: the serve subprocess did not exit within 10 s at teardown).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from kit.ports import free_port


def _with_sigint_ignored(*argv: str) -> list[str]:
    code = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        f"os.execv(sys.executable, [sys.executable, '-m', 'hkticks', *{list(argv)!r}])"
    )
    return [sys.executable, "-c", code]


def test_serve_stops_on_sigint_even_when_started_with_sigint_ignored() -> None:
    port, rest = free_port(), free_port()
    proc = subprocess.Popen(
        _with_sigint_ignored("serve", "--port", str(port), "--rest-port", str(rest)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        for line in proc.stdout:  # the banner ends with "Press Ctrl-C to stop."
            if "Ctrl-C" in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped after serving 0 connections" in err and "Traceback" not in err
