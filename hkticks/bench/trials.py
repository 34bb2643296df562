"""The child side of ``hkticks bench``: one measured client per process.

``python -m hkticks.bench.trials '<json args>'`` runs one trial (a library
receive loop, hkticks' own receive loop, the real pipeline into a sink, or the
latency run) and prints its result as one JSON line; every trial starts from
the same state, and its peak RSS is its own. The parent side is
:mod:`hkticks.bench.measure`.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from hkticks.bench.processes import (
    TOKEN,
    BenchError,
    cpu_seconds,
    peak_rss_mb,
)


def _read_symbols(path: str) -> list[str]:
    with open(path, encoding="ascii") as fh:
        return [line.strip() for line in fh if line.strip()]


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Window:
    """Start and end of a measured window, with this process's and the server's CPU."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.t0 = self.t1 = 0.0
        self.c0 = self.c1 = self.s0 = self.s1 = 0.0

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.c0 = _cpu_self()
        self.s0 = cpu_seconds(self.server_pid)

    def end(self) -> None:
        self.t1 = time.perf_counter()
        self.c1 = _cpu_self()
        self.s1 = cpu_seconds(self.server_pid)

    def result(self, counted: int, **extra: Any) -> dict[str, Any]:
        elapsed = max(self.t1 - self.t0, 1e-9)
        return {
            "rate": counted / elapsed,
            "elapsed": elapsed,
            "client_cpu": (self.c1 - self.c0) / elapsed,
            "server_cpu": (self.s1 - self.s0) / elapsed,
            "rss_peak_mb": peak_rss_mb(),
            **extra,
        }


def _subscribe_text(symbols: list[str]) -> str:
    from hkticks.alltick import protocol as alltick

    return alltick.RequestBuilder().subscribe_trades(symbols).text


def _trial_create_connection(args: dict[str, Any]) -> dict[str, Any]:
    import websocket

    n = args["ticks"]
    ws = websocket.create_connection(
        f"{args['url']}?token={TOKEN}", timeout=30, skip_utf8_validation=True
    )
    ws.send(_subscribe_text(_read_symbols(args["symbols_file"])))
    window = _Window(args["server_pid"])
    recv = ws.recv_data
    recv()  # the subscription's answer
    recv()  # the first trade starts the clock
    window.start()
    for _ in range(n - 1):
        recv()
    window.end()
    ws.close()
    return window.result(n - 1)


def _trial_websocketapp(args: dict[str, Any]) -> dict[str, Any]:
    import websocket

    n = args["ticks"]
    window = _Window(args["server_pid"])
    text = _subscribe_text(_read_symbols(args["symbols_file"]))
    count = [0]

    def on_open(app: Any) -> None:
        app.send(text)

    def on_data(app: Any, data: Any, opcode: int, fin: bool) -> None:
        count[0] += 1
        c = count[0]
        if c == 2:  # after the subscription's answer, the first trade starts the clock
            window.start()
        elif c == n + 1:
            window.end()
            app.keep_running = False

    app = websocket.WebSocketApp(f"{args['url']}?token={TOKEN}", on_open=on_open, on_data=on_data)
    timer = threading.Timer(30.0 + n / 1000.0, app.close)
    timer.start()
    app.run_forever(skip_utf8_validation=True)
    timer.cancel()
    if count[0] < n + 1:
        raise BenchError(f"WebSocketApp received {count[0] - 1} of {n} trades")
    return window.result(n - 1)


def _trial_receive_loop(args: dict[str, Any]) -> dict[str, Any]:
    from hkticks.feed.read_ahead import ReadAheadWebSocket

    n = args["ticks"]
    ws = ReadAheadWebSocket(skip_utf8_validation=True, enable_multithread=True)
    ws.connect(f"{args['url']}?token={TOKEN}", timeout=30)
    ws.send(_subscribe_text(_read_symbols(args["symbols_file"])))
    window = _Window(args["server_pid"])
    recv = ws.recv_message
    recv()
    recv()
    window.start()
    for _ in range(n - 1):
        recv()
    window.end()
    ws.close()
    return window.result(n - 1)


class NullSink:
    """A tick sink that keeps nothing: the pipeline's cost without storage."""

    path = "null"
    repaired_bytes = 0

    def __init__(self) -> None:
        self.rows = 0

    def write(self, items: Sequence[Any]) -> None:
        self.rows += len(items)

    def flush(self, fsync: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


class TimedSink:
    """Wraps a sink: times the first write and the write that reaches ``target`` rows."""

    repaired_bytes = 0

    def __init__(self, inner: Any, target: int, window: _Window) -> None:
        self.inner = inner
        self.path = inner.path
        self.target = target
        self.window = window
        self.rows = 0
        self.first = 0
        self.done = threading.Event()

    def write(self, items: Sequence[Any]) -> None:
        self.inner.write(items)
        if not self.rows:
            self.window.start()
            self.first = len(items)
        self.rows += len(items)
        if self.rows >= self.target and not self.done.is_set():
            self.window.end()
            self.done.set()

    def flush(self, fsync: bool = False) -> None:
        self.inner.flush(fsync)

    def close(self) -> None:
        self.inner.close()


def _feed(url: str, symbols: list[str], queue: Any) -> Any:
    from hkticks.alltick import protocol as alltick
    from hkticks.feed.shards import Feed

    return Feed(
        symbols,
        url=url,
        token=TOKEN,
        plan=alltick.PLANS["all-hk"],
        queue=queue,
        connection_spacing=0.0,
    )


def _trial_pipeline(args: dict[str, Any]) -> dict[str, Any]:
    from hkticks.feed.queue import DEFAULT_MAXSIZE, TickQueue
    from hkticks.storage.recorder import Recorder
    from hkticks.storage.sinks import open_tick_sink

    n = args["ticks"]
    kind = args["kind"]
    window = _Window(args["server_pid"])
    inner = NullSink() if kind == "null" else open_tick_sink(args["out"])
    sink = TimedSink(inner, n, window)
    # a bound above the trial's size: this measures speed, not the drop policy
    queue = TickQueue(max(DEFAULT_MAXSIZE, 2 * n))
    recorder = Recorder(queue, [sink])
    feed = _feed(args["url"], _read_symbols(args["symbols_file"]), queue)
    recorder.start()
    feed.start()
    try:
        finished = sink.done.wait(30.0 + n / 1000.0)
    finally:
        feed.stop()
        recorder.stop()
    st = feed.status()
    if not finished:
        raise BenchError(f"{kind}: {sink.rows} of {n} trades written")
    if recorder.error is not None:
        raise recorder.error
    return window.result(
        n - sink.first,
        dropped=st.dropped,
        high_water=queue.high_water,
        decode_errors=st.decode_errors,
    )


class _StampedQueue:
    """A TickQueue whose consumer side notes when each trade was handed over."""

    def __init__(self, inner: Any, stamps: dict[tuple[str, int], list[int]]) -> None:
        self.inner = inner
        self.stamps = stamps

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __len__(self) -> int:
        return len(self.inner)

    def get_batch(self, max_items: int = 4096, timeout: float | None = 0.1) -> list[Any]:
        from hkticks.tick import Tick

        batch: list[Any] = self.inner.get_batch(max_items, timeout)
        if batch:
            now = time.time_ns()
            stamps = self.stamps
            for item in batch:
                if type(item) is Tick and item.seq is not None:
                    stamps[(item.symbol, item.seq)] = [now, 0, 0]
        return batch


class _StampedSink:
    """Notes when each trade's line was written and when it was next fsync'ed."""

    repaired_bytes = 0

    def __init__(self, inner: Any, stamps: dict[tuple[str, int], list[int]]) -> None:
        self.inner = inner
        self.path = inner.path
        self.rows = 0
        self.stamps = stamps
        self._unsynced: list[list[int]] = []

    def write(self, items: Sequence[Any]) -> None:
        self.inner.write(items)
        now = time.time_ns()
        self.rows += len(items)
        for t in items:
            entry = self.stamps.get((t.symbol, t.seq))
            if entry is not None:
                entry[1] = now
                self._unsynced.append(entry)

    def flush(self, fsync: bool = False) -> None:
        self.inner.flush(fsync)
        if fsync:
            now = time.time_ns()
            for entry in self._unsynced:
                entry[2] = now
            self._unsynced.clear()

    def close(self) -> None:
        self.inner.close()


def _trial_latency(args: dict[str, Any]) -> dict[str, Any]:
    from hkticks.feed.queue import TickQueue
    from hkticks.storage.recorder import Recorder
    from hkticks.storage.sinks import open_tick_sink

    stamps: dict[tuple[str, int], list[int]] = {}
    queue = TickQueue()
    stamped = _StampedQueue(queue, stamps)
    sink = _StampedSink(open_tick_sink(args["out"]), stamps)
    recorder = Recorder(
        stamped,  # type: ignore[arg-type]
        [sink],
        flush_interval=args["flush_interval"],
        fsync=True,
    )
    feed = _feed(args["url"], _read_symbols(args["symbols_file"]), queue)
    window = _Window(args["server_pid"])
    recorder.start()
    feed.start()
    time.sleep(args["warmup"])
    stamps.clear()  # only trades from the measured window count (GIL: atomic)
    window.start()
    time.sleep(args["seconds"])
    window.end()
    feed.stop()
    recorder.stop()
    if recorder.error is not None:
        raise recorder.error
    rows = [[sym, seq, *entry] for (sym, seq), entry in list(stamps.items())]
    with open(args["times_file"], "wb") as fh:
        fh.write(orjson.dumps(rows))
    return window.result(len(rows), received=len(rows))


_TRIALS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "create_connection": _trial_create_connection,
    "websocketapp": _trial_websocketapp,
    "receive_loop": _trial_receive_loop,
    "null": _trial_pipeline,
    "jsonl": _trial_pipeline,
    "csv": _trial_pipeline,
    "sqlite": _trial_pipeline,
    "latency": _trial_latency,
}


def _child_main(argv: list[str]) -> int:
    """``python -m hkticks.bench.trials '<json args>'``: run one trial, print its JSON result."""
    args = json.loads(argv[0])
    try:
        result = _TRIALS[args["kind"]](args)
    except Exception as exc:  # reported to the parent as one line
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
