"""The processes a benchmark runs and what it reads of them.

The embedded server in its own process (:class:`ServerProcess`, ``python -m
hkticks serve`` on a free loopback port), one trial in a fresh interpreter
(:func:`_run_child`, see :mod:`hkticks.bench.trials`), a process's CPU seconds
and RSS from ``/proc``, percentiles, and the simulated universe's trading codes.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import Any

from hkticks.errors import HkticksError

TOKEN = "bench"

Progress = Callable[[str], None]


class BenchError(HkticksError):
    """A benchmark could not run (the server or a trial failed)."""


def _quiet(_: str) -> None:
    pass


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HKTICKS_", "ALLTICK_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from ``/proc``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        stat = fh.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (``VmRSS``)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max (nearest rank) of ``values``, and their count."""
    if not values:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, int(q * n + 0.999999) - 1))]

    return {"n": n, "p50": rank(0.50), "p99": rank(0.99), "max": ordered[-1]}


def bench_symbols(count: int) -> list[str]:
    """The first ``count`` trading (not suspended) codes of the simulated universe."""
    from hkticks.server.simulated_stocks import stocks

    codes = [s.code for s in stocks() if not s.suspended]
    if count > len(codes):
        raise BenchError(f"the simulated market has {len(codes)} trading symbols, not {count}")
    return codes[:count]


class ServerProcess:
    """``python -m hkticks serve ...`` on a free loopback port, in its own process."""

    def __init__(self, *args: str, startup_timeout: float = 20.0) -> None:
        cmd = [
            sys.executable,
            "-m",
            "hkticks",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--no-pacing",
            "--heartbeat-timeout",
            "120s",
            *args,
        ]
        # stderr goes to a file, and stdout is read to the end: a pipe nobody
        # drains would block the server once it filled up
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=_child_env(),
        )
        self.url = ""
        found = threading.Event()
        urls: list[str] = []

        def read_stdout() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                m = re.search(r"WebSocket\s+(ws://\S+?)\?", line)
                if m and not found.is_set():
                    urls.append(m.group(1))
                    found.set()

        self._reader = threading.Thread(target=read_stdout, name="bench-server-out", daemon=True)
        self._reader.start()
        if not found.wait(startup_timeout):
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self._stderr.seek(0)
            err = self._stderr.read().strip().splitlines() or ["no output"]
            self.stop()
            raise BenchError(f"the benchmark server did not start: {err[-1][:300]}")
        self.url = urls[0]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then wait (the server writes its send log on the way out)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5.0)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _run_child(args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one trial in a fresh interpreter; its last stdout line is its JSON result."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hkticks.bench.trials", json.dumps(args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_child_env(),
        )
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"the {args['kind']} trial did not finish within {timeout:.0f} s"
        ) from None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"the {args['kind']} trial failed: {tail[:300]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if "error" in result:
        raise BenchError(f"the {args['kind']} trial failed: {result['error']}")
    return result
