"""``hkticks serve`` as a real process, and ``start_demo`` for ``--demo``."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from kit.ports import free_port
from kit.ws_client import Client, trades

from hkticks.alltick import protocol as alltick


class ServeProcess:
    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.rest_port = free_port()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hkticks",
                "serve",
                "--port",
                str(self.port),
                "--rest-port",
                str(self.rest_port),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line)

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(f"serve exited: {self.proc.stderr.read()}") from None  # type: ignore[union-attr]
                continue
            self.stdout.append(line)
            if "Ctrl-C" in line:
                return
        raise AssertionError("serve did not start")

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/quote-stock-b-ws-api"

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=10)
        return self.proc.returncode, err


@pytest.fixture
def serve() -> Iterator[ServeProcess]:
    p = ServeProcess("--token", "t", "--rate", "500", "--heartbeat-timeout", "1.5", "--seed", "1")
    try:
        p.wait_ready()
        yield p
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.communicate(timeout=10)


def test_serve_done_when(serve: ServeProcess) -> None:
    banner = "".join(serve.stdout)
    assert "SIMULATED" in banner
    assert f"ws://127.0.0.1:{serve.port}/quote-stock-b-ws-api?token=***" in banner
    assert "token=t" not in banner

    c = Client(serve.ws_url, token="t")
    try:
        resp = c.subscribe(["00700", "09988"])
        assert resp["ret"] == 200
        got = trades(c.collect(1.0))
        assert {t["code"] for t in got} == {"700.HK", "9988.HK"}
    finally:
        c.close()

    bad = Client(serve.ws_url, token="wrong")
    try:
        assert bad.recv(2.0)["ret"] == 401
    finally:
        bad.close()

    silent = Client(serve.ws_url, token="t")
    try:
        started = time.monotonic()
        assert silent.wait_closed(4.0) == (1008, "heartbeat timeout")
        assert time.monotonic() - started > 1.0  # not before the timeout
    finally:
        silent.close()

    code, err = serve.stop(signal.SIGINT)
    assert code == 0
    assert "Traceback" not in err
    assert "stopped after serving 3 connections" in err


def test_serve_sigterm_exits_cleanly(serve: ServeProcess) -> None:
    code, err = serve.stop(signal.SIGTERM)
    assert code == 0 and "Traceback" not in err


def test_serve_port_in_use(serve: ServeProcess) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "hkticks", "serve", "--port", str(serve.port)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert second.returncode != 0
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "the port is in use" in lines[0]
    assert "Traceback" not in second.stderr


def test_serve_help_mentions_simulation() -> None:
    from click.testing import CliRunner

    from hkticks.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--rest-port", "--token", "--plan", "--rate", "--firehose", "--seed"):
        assert option in result.output
    assert "--heartbeat-timeout" in result.output and "--no-pacing" in result.output
    assert "SIMULATED" in result.output


def test_start_demo() -> None:
    from hkticks.server.demo import start_demo

    with start_demo(rate=1000, seed=3) as demo:
        assert demo.ws_url.startswith("ws://127.0.0.1:") and "token" not in demo.ws_url
        assert demo.rest_url.endswith("/quote-stock-b-api/")
        assert demo.sse_url.startswith("http://127.0.0.1:")
        assert "SGT_GGTBDQD" in demo.szse_url
        assert len(demo.token) >= 16 and demo.token not in repr(demo)
        c = Client(demo.ws_url, token=demo.token)
        try:
            assert c.subscribe(["00700"])["ret"] == 200
            assert trades(c.collect(0.5))
        finally:
            c.close()
    assert not demo.server.running
    with start_demo() as other:
        assert other.token != demo.token


def test_demo_source_uses_the_embedded_server() -> None:
    from hkticks.run.source import SourceSpec, open_source

    with open_source(SourceSpec(demo=True)) as provider:
        s = provider.settings
        assert s.demo and s.token_source == "demo" and s.plan == "all-hk"
        assert s.token and s.token not in repr(s)
        c = Client(s.url, token=s.token)
        try:
            req = alltick.RequestBuilder().heartbeat()
            assert c.request(req)["ret"] == 200
        finally:
            c.close()
