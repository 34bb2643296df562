"""How fast the quote board draws, and what a live board costs in CPU.

Two measurements (figures, not pass/fail tests: wall-clock numbers depend
on the machine and its load):

- :func:`frame_benchmark` builds a board of many symbols (every one traded,
  with previous closes and books), then times building and rendering one
  full-screen frame, ANSI colours included, as ``rich.live`` would draw it.
  Between frames it applies a quarter-second of trades at the given rate,
  so sorting works on changing data. Reported: median, p95 and max per
  frame, and the cost of applying the trades.
- :func:`watch_cpu` runs ``hkticks watch`` (the Textual board) as a child
  process in a pseudo terminal of the given size against the embedded
  server (in this process) at a given trade rate, and reads the child's CPU
  time from ``/proc``: the share of one core the board takes, feed threads
  included. The child writes its frame count at exit to the file named by
  ``HKTICKS_WATCH_STATS``, which gives frames per second.
- :func:`pilot_latency` runs the board headless under a synthetic 2,000
  trades/s and times, with Pilot, a key press until the table is drawn anew
  and Enter until the detail view's chart is drawn (:func:`key_latency`).
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.screen import Screen

from hkticks.tick import Book, Event, Tick
from hkticks.watch.model import DayStats, ReferenceData, WatchModel
from hkticks.watch.view import Board


@dataclass(frozen=True)
class FrameStats:
    symbols: int
    rows: int
    width: int
    frames: int
    median_ms: float
    p95_ms: float
    max_ms: float
    apply_ms_per_1k: float  # applying 1,000 trades to the model
    shown_rows: int

    def __str__(self) -> str:
        return (
            f"frame ({self.symbols} symbols, {self.width}x{self.rows} terminal, "
            f"{self.shown_rows} rows drawn): median {self.median_ms:.2f} ms, "
            f"p95 {self.p95_ms:.2f} ms, max {self.max_ms:.2f} ms over {self.frames} frames; "
            f"model update {self.apply_ms_per_1k:.2f} ms per 1,000 trades"
        )


def _synthetic_codes(n: int) -> list[str]:
    return [f"{i:05d}" for i in range(1, n + 1)]


def frame_benchmark(
    *,
    symbols: int = 550,
    rows: int = 50,
    width: int = 160,
    frames: int = 100,
    rate: float = 2000.0,
    sort: str = "change",
    book: bool = True,
    seed: int = 1,
) -> FrameStats:
    """Median time to build and render one frame of the board (see module doc)."""
    rng = random.Random(seed)
    codes = _synthetic_codes(symbols)
    now = time.time()
    names = {c: (f"Company {c} Holdings", f"公司{c}控股") for c in codes}
    model = WatchModel(codes, names=names, sort=sort, book=book, started=now)
    price = {c: round(rng.uniform(0.5, 600.0), 2) for c in codes}
    model.apply(
        [
            Event(int(now * 1000), "connected", 0, {}),
            ReferenceData(
                stats={
                    c: DayStats(p, p, p * 1.01, p * 0.99, rng.randrange(1_000, 10_000_000))
                    for c, p in price.items()
                }
            ),
        ],
        now,
    )
    console = Console(
        width=width,
        height=rows,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
    )
    board = Board(model, demo=True, colors="west", clock=time.time)
    screen = Screen(board)
    per_frame = max(1, int(rate / 4))  # trades arriving between two frames at ~4 refreshes/s
    seq = 0
    frame_times: list[float] = []
    apply_times: list[float] = []
    for _ in range(frames + 5):
        batch: list[object] = []
        ts = int(time.time() * 1000)
        for _ in range(per_frame):
            code = codes[int(rng.paretovariate(1.2)) % symbols]  # large caps trade most
            p = price[code] = max(0.01, round(price[code] * (1 + rng.uniform(-0.002, 0.002)), 2))
            seq += 1
            batch.append(Tick(code, ts, p, 100 * rng.randint(1, 20), p * 100, "buy", seq, ts, "b"))
            if book:
                batch.append(Book(code, ts, ((p - 0.01, 1000),), ((p + 0.01, 800),), seq, ts, "b"))
        t0 = time.perf_counter()
        model.apply(batch, time.time())
        t1 = time.perf_counter()
        console.file = io.StringIO()
        console.print(screen)
        t2 = time.perf_counter()
        apply_times.append((t1 - t0) / per_frame * 1000.0)
        frame_times.append(t2 - t1)
    frame_times = frame_times[5:]  # warm-up
    ms = sorted(t * 1000.0 for t in frame_times)
    return FrameStats(
        symbols=symbols,
        rows=rows,
        width=width,
        frames=frames,
        median_ms=statistics.median(ms),
        p95_ms=ms[min(len(ms) - 1, int(len(ms) * 0.95))],
        max_ms=ms[-1],
        apply_ms_per_1k=statistics.median(apply_times) * 1000.0,
        shown_rows=board.shown,
    )


# -- CPU of a live board ---------------------------------------------------------


@dataclass(frozen=True)
class CpuStats:
    symbols: int
    rate: float  # the server's trade rate asked for
    seconds: float  # measured window
    cpu_share: float  # of one core, 0.0-1.0+ (feed threads included)
    trades_per_s: float  # what the board reported receiving over the whole run
    output_kib_per_s: float  # terminal output the board wrote
    fps: float = 0.0  # table frames drawn per second over the app's life (HKTICKS_WATCH_STATS)

    def __str__(self) -> str:
        return (
            f"watch ({self.symbols} symbols at {self.rate:,.0f} trades/s asked, "
            f"{self.trades_per_s:,.0f}/s received): {self.cpu_share * 100:.1f}% of one core "
            f"over {self.seconds:.0f} s, {self.fps:.1f} frames/s, "
            f"{self.output_kib_per_s:.1f} KiB/s to the terminal"
        )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all threads), from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        stat = fh.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def _set_winsize(fd: int, rows: int, cols: int) -> None:
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


_SUMMARY = re.compile(r"([\d,]+) trades \(([\d,.]+)/s\)")


def watch_cpu(
    *,
    symbols: int = 550,
    rate: float = 2000.0,
    seconds: float = 10.0,
    warmup: float = 4.0,
    rows: int = 50,
    cols: int = 160,
    book: bool = False,
    heatmap: bool = False,
) -> CpuStats:
    """CPU share of ``hkticks watch`` on ``symbols`` at ``rate`` trades/s (Linux: /proc);
    with ``heatmap``, the board opened on its heatmap (``watch --heatmap``)."""
    import pty

    from hkticks.server import MarketServer
    from hkticks.server.simulated_stocks import stocks

    codes = [s.code for s in stocks() if not s.suspended][:symbols]
    with (
        tempfile.TemporaryDirectory() as tmp,
        MarketServer(token="bench", plan="all-hk", rate=rate, seed=1) as server,
    ):
        symbols_file = os.path.join(tmp, "symbols.txt")
        with open(symbols_file, "w", encoding="ascii") as fh:
            fh.write("\n".join(codes) + "\n")
        stats_file = os.path.join(tmp, "stats.json")
        env = {
            **os.environ,
            "HKTICKS_WATCH_STATS": stats_file,
            "XDG_CACHE_HOME": os.path.join(tmp, "cache"),
            "XDG_CONFIG_HOME": os.path.join(tmp, "config"),
            "TERM": "xterm-256color",
            "COLUMNS": str(cols),
            "LINES": str(rows),
        }
        for var in ("HKTICKS_TOKEN", "ALLTICK_TOKEN", "HKTICKS_CONFIG"):
            env.pop(var, None)
        master, slave = pty.openpty()
        _set_winsize(slave, rows, cols)
        args = (
            [
                sys.executable,
                "-m",
                "hkticks",
                "watch",
                "--symbols-file",
                symbols_file,
                "--url",
                server.ws_url,
                "--rest-url",
                server.rest_url,
                "--token",
                "bench",
                "--plan",
                "all-hk",
                "--sort",
                "active",
            ]
            + (["--book"] if book else [])
            + (["--heatmap"] if heatmap else [])
        )
        proc = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        output = bytearray()
        counted = [0]

        def reader() -> None:
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                counted[0] += len(chunk)
                output.extend(chunk[-4096:] if len(output) > 1 << 20 else chunk)

        thread = threading.Thread(target=reader, name="bench-pty-reader", daemon=True)
        thread.start()
        try:
            time.sleep(warmup)
            cpu0, bytes0, t0 = _cpu_seconds(proc.pid), counted[0], time.monotonic()
            time.sleep(seconds)
            cpu1, bytes1, t1 = _cpu_seconds(proc.pid), counted[0], time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            thread.join(2)
            os.close(master)
        fps = 0.0
        try:
            with open(stats_file, encoding="utf-8") as fh:
                stats = json.load(fh)
            fps = stats["renders"] / max(stats["seconds"], 1e-9)
        except (OSError, ValueError, KeyError):
            pass
    text = output.decode("utf-8", "replace")
    match = _SUMMARY.search(text)
    received = float(match.group(2).replace(",", "")) if match else 0.0
    return CpuStats(
        symbols=len(codes),
        rate=rate,
        seconds=t1 - t0,
        cpu_share=(cpu1 - cpu0) / (t1 - t0),
        trades_per_s=received,
        output_kib_per_s=(bytes1 - bytes0) / (t1 - t0) / 1024,
        fps=fps,
    )


def main() -> None:  # pragma: no cover - manual use: python -m hkticks.bench.render
    print(frame_benchmark())
    print(frame_benchmark(book=False, sort="code"))
    if "--cpu" in sys.argv:
        print(watch_cpu())


if __name__ == "__main__":  # pragma: no cover
    main()


# -- the Textual board: key latency and detail open time (Pilot) -------------------


async def key_latency(app: Any, pilot: Any, *, presses: int = 10) -> dict[str, float]:
    """Median ms from a key press to the table drawn anew (``s``), from Enter to the
    detail view's chart drawn, and from ``h`` to the heatmap drawn, measured with
    Pilot on a running app."""
    import asyncio

    from hkticks.watch.detail import DetailScreen, LinesWidget

    table = app.table

    async def until(cond: Any, timeout: float = 5.0) -> None:
        end = time.perf_counter() + timeout
        while not cond():
            if time.perf_counter() > end:
                raise TimeoutError("the board did not redraw within 5 s of a key press")
            await asyncio.sleep(0.0005)

    keys: list[float] = []
    for _ in range(presses):
        before = table.renders
        t0 = time.perf_counter()
        await pilot.press("s")
        await until(lambda before=before: table.renders > before)
        keys.append((time.perf_counter() - t0) * 1000)
    opens: list[float] = []
    for _ in range(max(1, presses // 2)):
        t0 = time.perf_counter()
        await pilot.press("enter")

        def drawn() -> bool:
            screen = app.screen
            if not isinstance(screen, DetailScreen):
                return False
            charts = list(screen.query(LinesWidget))
            return bool(charts) and charts[0].renders > 0

        await until(drawn)
        opens.append((time.perf_counter() - t0) * 1000)
        await pilot.press("escape")
        await pilot.pause()
    from hkticks.watch.heatmap_screen import BoardHeatmapScreen

    maps: list[float] = []
    for _ in range(max(1, presses // 2)):
        kept = app.get_screen("heatmap") if app.is_screen_installed("heatmap") else None
        painted = kept.heat.renders if isinstance(kept, BoardHeatmapScreen) else 0
        t0 = time.perf_counter()
        await pilot.press("h")

        def mapped(painted: int = painted) -> bool:
            screen = app.screen
            return isinstance(screen, BoardHeatmapScreen) and screen.heat.renders > painted

        await until(mapped)
        maps.append((time.perf_counter() - t0) * 1000)
        await pilot.press("escape")
        await pilot.pause()
    return {
        "key_ms": statistics.median(keys),
        "detail_ms": statistics.median(opens),
        "heatmap_ms": statistics.median(maps),
    }


@dataclass(frozen=True)
class KeyStats:
    symbols: int
    rate: float
    key_ms: float  # median, key press -> table drawn anew
    detail_ms: float  # median, Enter -> detail chart drawn
    fps: float  # table frames per second while trades flowed
    heatmap_ms: float = 0.0  # median, h -> heatmap drawn

    def __str__(self) -> str:
        return (
            f"board keys ({self.symbols} symbols at {self.rate:,.0f} trades/s, Pilot): "
            f"key press to screen {self.key_ms:.1f} ms, detail view open {self.detail_ms:.1f} ms, "
            f"heatmap open {self.heatmap_ms:.1f} ms, {self.fps:.1f} frames/s"
        )


def pilot_latency(
    *,
    symbols: int = 550,
    rate: float = 2000.0,
    presses: int = 10,
    size: tuple[int, int] = (160, 50),
) -> KeyStats:
    """Key-press-to-screen and detail-open times of the real app, headless, under load.

    A producer thread puts ``rate`` trades a second over ``symbols`` into the
    board's queue (as a feed would); the app drains it every frame.
    """
    import asyncio

    from hkticks.errors import HkticksError
    from hkticks.feed.queue import TickQueue
    from hkticks.watch.app import BoardApp
    from hkticks.watch.buffers import Buffers
    from hkticks.watch.pump import BoardPump

    rng = random.Random(7)
    codes = _synthetic_codes(symbols)
    names = {c: (f"Company {c}", f"公司{c}") for c in codes}
    now = time.time()
    model = WatchModel(codes, names=names, sort="change", started=now)
    price = {c: round(rng.uniform(0.5, 600.0), 2) for c in codes}
    queue = TickQueue()
    queue.put_event(ReferenceData(stats={c: DayStats(p) for c, p in price.items()}))
    stop = threading.Event()

    def produce() -> None:
        seq = 0
        per = max(1, int(rate / 50))
        while not stop.wait(0.02):
            ts = int(time.time() * 1000)
            for _ in range(per):
                code = codes[int(rng.paretovariate(1.2)) % symbols]
                p = price[code] = max(
                    0.01, round(price[code] * (1 + rng.uniform(-0.002, 0.002)), 2)
                )
                seq += 1
                queue.put(Tick(code, ts, p, 100, p * 100, "buy", seq, ts, "bench"))

    class _Feed:
        def __init__(self) -> None:
            self.fatal: HkticksError | None = None
            self.done = threading.Event()

        def status(self) -> Any:
            from hkticks.analysis.replay import ReplayConn, ReplayStatus

            return ReplayStatus(connections=[ReplayConn(0, "up", 0, symbols, None)], ticks=0)

    buffers = Buffers(codes)
    app = BoardApp(model, pump=BoardPump(_Feed(), queue, model, buffers), buffers=buffers)
    result: dict[str, float] = {}

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause(1.0)
            r0, t0 = app.table.renders, time.perf_counter()
            await asyncio.sleep(2.0)
            result["fps"] = (app.table.renders - r0) / (time.perf_counter() - t0)
            result.update(await key_latency(app, pilot, presses=presses))

    producer = threading.Thread(target=produce, name="bench-producer", daemon=True)
    producer.start()
    try:
        asyncio.run(main())
    finally:
        stop.set()
        producer.join(2)
    return KeyStats(
        symbols, rate, result["key_ms"], result["detail_ms"], result["fps"], result["heatmap_ms"]
    )
