"""SIGTERM/SIGINT are seen within a second in every state.

The race this guards against: a signal handler that called ``threading.Event.set``
deadlocked whenever the signal landed while the main thread was inside
``Event.wait`` holding the event's condition lock; the recorder then ignored
SIGTERM (once in 47 under 3-byte TCP segments). A main loop doing nothing but
``wait`` hits it about every other signal, so that is the first test; the second
repeats it on ``hkticks record`` reading the embedded server through a proxy that
cuts every server write into 3-byte TCP segments.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from kit.waiting import wait_until

from hkticks.server import MarketServer

LOOP = textwrap.dedent(
    """
    import sys, threading, time
    from hkticks.stopping import StopFlag, stop_on_signals

    stop = StopFlag()
    woken = []
    other = threading.Thread(target=lambda: woken.append(stop.event.wait(3600)))
    other.start()
    with stop_on_signals(stop):
        print("ready", flush=True)
        while not stop.wait(float(sys.argv[1])):
            pass
    other.join(5)
    print("stopped", stop.reason, woken, flush=True)
    """
)


def alive(proc: subprocess.Popen[str]) -> bool:
    """True while it runs; a run that ended early fails the wait with its stderr."""
    if proc.poll() is not None:
        raise AssertionError(f"exited {proc.returncode}: {proc.communicate()[1]}")
    return True


def _exit_time(proc: subprocess.Popen[str], sig: int, limit: float) -> float:
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise AssertionError(f"still running {limit} s after signal {sig}") from None
    return time.monotonic() - sent


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_at_a_random_moment_of_a_waiting_loop_stops_it(tmp_path: Path, sig: int) -> None:
    script = tmp_path / "loop.py"
    script.write_text(LOOP)
    rng = random.Random(sig)
    times = []
    for i in range(12):
        # a tight wait(0) loop (the lock held most of the time) and the recorder's wait(0.25)
        timeout = "0" if i % 2 == 0 else "0.25"
        proc = subprocess.Popen(
            [sys.executable, str(script), timeout], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))  # a random moment: what is under test is a race
        times.append(_exit_time(proc, sig, 2.0))
        out = proc.stdout.read()
        reason = "SIGTERM" if sig == signal.SIGTERM else "Ctrl-C"
        assert out.strip() == f"stopped {reason} [True]", out  # the other thread woke too
        assert proc.returncode == 0
    print(f"exit after the signal: max {max(times):.3f} s")


class SlicingProxy:
    """TCP proxy: client -> server as it comes; server -> client in 3-byte segments."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server, 1 << 16), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, 3), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, segment: int) -> None:
        try:
            while not self._stop.is_set():
                data = src.recv(1 << 16)
                if not data:
                    break
                for i in range(0, len(data), segment):
                    dst.sendall(data[i : i + segment])
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for s in self._socks:
            s.close()


@pytest.fixture
def sliced() -> Iterator[str]:
    server = MarketServer(token="t", plan="all-hk", rate=60.0, seed=5, enforce_pacing=False)
    server.start()
    url = urlsplit(server.ws_url)
    assert url.port is not None
    proxy = SlicingProxy(url.port)
    try:
        yield url._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
    finally:
        proxy.close()
        server.stop()


def test_record_under_3_byte_segments_stops_on_sigterm_at_random_moments(
    tmp_path: Path, sliced: str
) -> None:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_CACHE_HOME=str(tmp_path / "k"))
    rng = random.Random(47)
    times = []
    for i in range(6):
        out = tmp_path / f"t{i}.jsonl"
        proc = subprocess.Popen(
            [sys.executable, "-m", "hkticks", "record", "00700", "00005", "09988", "--url", sliced,
             "--token", "t", "--plan", "all-hk", "--out", str(out), "--flush-interval", "0.1s", "-q"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=env,
        )  # fmt: skip
        try:
            wait_until(
                lambda p=proc, o=out: alive(p) and o.exists() and o.stat().st_size > 0,
                what="a trade recorded through the proxy",
            )
            time.sleep(rng.uniform(0.0, 1.0))  # under test: a signal at a random moment
            times.append(_exit_time(proc, signal.SIGTERM, 2.5))
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert out.read_text().endswith("\n")  # every line whole
    print(f"record exit after SIGTERM: max {max(times):.3f} s")


class SilentServer:
    """Accepts TCP connections and reads, never answering: a handshake that hangs."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests = 0  # handshake requests read (and never answered)
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
            self.requests += 1

    def close(self) -> None:
        self.sock.close()
        for c in self._conns:
            c.close()


def _record(url: str, tmp_path: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_CACHE_HOME=str(tmp_path / "k"))
    return subprocess.Popen(
        [sys.executable, "-m", "hkticks", "record", "00700", "--url", url, "--token", "t",
         "--out", str(tmp_path / "t.jsonl"), "--connect-attempts", "0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=env,
    )  # fmt: skip


def test_record_stops_on_sigterm_during_a_handshake_that_hangs(tmp_path: Path) -> None:
    server = SilentServer()
    proc = _record(f"ws://127.0.0.1:{server.port}/quote-stock-b-ws-api", tmp_path)
    try:
        # then the client waits inside the handshake
        wait_until(lambda: alive(proc) and server.requests > 0, what="the handshake's request")
        took = _exit_time(proc, signal.SIGTERM, 2.0)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=10)
        server.close()
    assert "Traceback" not in err
    print(f"stopped in the handshake after {took:.3f} s")


def test_record_stops_on_sigterm_while_backing_off_from_a_refused_port(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _record(f"ws://127.0.0.1:{port}/quote-stock-b-ws-api", tmp_path)
    try:
        wait_until(  # a refused attempt, then the backoff: its event is on disk
            lambda: (
                alive(proc)
                and any("reconnecting" in p.read_text() for p in tmp_path.glob("*events*"))
            ),
            what="the reconnecting event",
        )
        took = _exit_time(proc, signal.SIGTERM, 2.0)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err
    print(f"stopped while backing off after {took:.3f} s")


def test_a_second_ctrl_c_during_a_long_drain_exits_at_once(tmp_path: Path) -> None:
    script = tmp_path / "drain.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            from hkticks.stopping import StopFlag, stop_on_signals

            stop = StopFlag()
            with stop_on_signals(stop, second_ctrl_c="exit"):
                print("ready", flush=True)
                stop.wait(60)
                print("draining", flush=True)
                deadline = time.monotonic() + 60  # a drain that would take a minute
                while time.monotonic() < deadline:
                    time.sleep(0.01)  # under test: a drain that would take a minute
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline().strip() == "draining"
    _exit_time(proc, signal.SIGINT, 2.0)
    assert proc.returncode == 130
    assert proc.communicate(timeout=10)[1] == "\nhkticks: second Ctrl-C, exiting now\n"
