"""What ``hkticks bench`` measures: throughput against the client library's
own ceiling, latency at a steady rate, and the recorder's memory.

Absolute figures depend on the machine; the contract is the ratios. Every
measurement talks to the embedded server over loopback, and the server runs
in its own process (``python -m hkticks serve``) so that it never competes
for the measured client's GIL. Every measured client also runs in a process
of its own (``python -m hkticks.bench.measure trial ...``): each trial starts from
the same state, and its peak RSS is its own.

Throughput (``--ticks N`` trades per trial, ``--trials`` rounds): the server
runs in firehose mode with ``--firehose-count N``, so every new connection
gets exactly N trades of its 550 symbols as fast as it reads. One round runs,
interleaved so that machine noise hits every kind alike:

* ``create_connection``: a bare websocket-client loop,
  ``websocket.create_connection(...)`` then ``recv_data()`` until N trades
  (``skip_utf8_validation=True``, as hkticks uses);
* ``websocketapp``: websocket-client's ``WebSocketApp`` with an empty
  ``on_data``;
* ``receive_loop``: hkticks' own receive loop
  (:class:`hkticks.feed.session.ReadAheadWebSocket`) that only counts frames;
* ``null``, ``jsonl``, ``csv``, ``sqlite``: the real pipeline, a
  :class:`~hkticks.feed.shards.Feed`, a :class:`~hkticks.feed.queue.TickQueue` and a
  :class:`~hkticks.storage.recorder.Recorder` writing to no file or to a temporary
  file of that format, timed from the first batch written to the N-th trade
  written.

The ceiling, the denominator of every ``*_vs_ceiling`` ratio, is the faster
(by median) of the two library loops; which one is reported. Each ratio is
the median over rounds of (kind's rate / ceiling's rate in the same round).
``*_vs_receive_loop`` ratios say what decoding, queueing and storage cost on
top of hkticks' own receive path.

Latency (``--rate`` trades/s for ``--seconds``): the server runs in rate
mode and writes, on exit, the instant each trade was written to the socket
(``hkticks serve --send-log``; ``tick_time`` has only millisecond
resolution). The client records, per trade, when the recorder's writer
thread took it off the queue (handed to the consumer), when the write of its
JSONL line returned (the line is in the file, readable by any reader: the
sinks keep no user-space buffer), and when the next flush with ``fsync``
returned (on disk; the recorder flushes every ``flush_interval``).

Memory: the peak RSS (``ru_maxrss``) of each recording child, and in
``--soak`` mode the RSS of a real ``hkticks record`` process sampled over
minutes at a steady rate.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from hkticks.errors import HkticksError

TOKEN = "bench"
THROUGHPUT_KINDS = (
    "create_connection",
    "websocketapp",
    "receive_loop",
    "null",
    "jsonl",
    "csv",
    "sqlite",
)
CEILING_KINDS = ("create_connection", "websocketapp")
PIPELINE_KINDS = ("null", "jsonl", "csv", "sqlite")
RATIO_NAMES = {
    "null": "pipeline_vs_ceiling",
    "jsonl": "jsonl_vs_ceiling",
    "csv": "csv_vs_ceiling",
    "sqlite": "sqlite_vs_ceiling",
}
TARGETS = {
    "pipeline_vs_ceiling": 0.80,
    "jsonl_vs_ceiling": 0.70,
    "csv_vs_ceiling": 0.60,
    "sqlite_vs_ceiling": 0.50,
}
LATENCY_CONSUMER_P99_MS = 5.0
LATENCY_FLUSH_SLACK_MS = 10.0
SOAK_GROWTH_MB = 20.0
SUFFIX = {"jsonl": ".jsonl", "csv": ".csv", "sqlite": ".db"}

Progress = Callable[[str], None]


class BenchError(HkticksError):
    """A benchmark could not run (the server or a trial failed)."""


# ---------------------------------------------------------------------- helpers


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
            [sys.executable, "-m", "hkticks.bench.measure", json.dumps(args)],
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


# ---------------------------------------------------------------------- results


@dataclass
class KindResult:
    """One throughput kind over all rounds."""

    kind: str
    rates: list[float] = field(default_factory=list)  # trades/s, one per round
    server_cpu: list[float] = field(default_factory=list)  # share of one core
    client_cpu: list[float] = field(default_factory=list)
    rss_peak_mb: list[float] = field(default_factory=list)
    dropped: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    def summary(self) -> dict[str, Any]:
        rates = spread(self.rates)
        return {
            "median_per_s": round(self.median),
            "min_per_s": None if rates["min"] is None else round(rates["min"]),
            "max_per_s": None if rates["max"] is None else round(rates["max"]),
            "trials_per_s": [round(r) for r in self.rates],
            "server_cpu": round(statistics.median(self.server_cpu), 2) if self.server_cpu else None,
            "client_cpu": round(statistics.median(self.client_cpu), 2) if self.client_cpu else None,
            "rss_peak_mb": round(max(self.rss_peak_mb), 1) if self.rss_peak_mb else None,
            "dropped": self.dropped,
        }


def _ratio(num: KindResult, den: KindResult) -> float:
    """Median over rounds of num/den within each round."""
    pairs = _pairs(num, den)
    return statistics.median(pairs) if pairs else 0.0


def _pairs(num: KindResult, den: KindResult) -> list[float]:
    return [a / b for a, b in zip(num.rates, den.rates, strict=False) if b > 0]


# A ratio whose rounds spread wider than this (max - min, relative to the
# median) comes from a machine too busy to trust the run: say so.
NOISY_SPREAD = 0.25


def spread(values: Sequence[float]) -> dict[str, Any]:
    """``{"min", "median", "max", "noisy"}`` of per-round figures (3 decimals)."""
    if not values:
        return {"min": None, "median": None, "max": None, "noisy": False}
    med = statistics.median(values)
    lo, hi = min(values), max(values)
    noisy = len(values) > 1 and med > 0 and (hi - lo) / med > NOISY_SPREAD
    return {"min": round(lo, 3), "median": round(med, 3), "max": round(hi, 3), "noisy": noisy}


def throughput(
    *,
    ticks: int,
    trials: int,
    symbols: Sequence[str],
    workdir: str,
    kinds: Sequence[str] = THROUGHPUT_KINDS,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Interleaved throughput rounds against a firehose server (see module doc)."""
    if ticks < 100:
        raise BenchError("--ticks must be at least 100")
    if trials < 1:
        raise BenchError("--trials must be at least 1")
    symbols_file = os.path.join(workdir, "symbols.txt")
    with open(symbols_file, "w", encoding="ascii") as fh:
        fh.write("\n".join(symbols) + "\n")
    results = {kind: KindResult(kind) for kind in kinds}
    timeout = 60.0 + ticks / 2000.0
    with ServerProcess("--firehose", "--firehose-count", str(ticks), "--seed", "1") as server:
        for round_no in range(trials):
            for kind in kinds:
                progress(f"throughput round {round_no + 1}/{trials}: {kind}")
                out = os.path.join(workdir, f"t{round_no}{SUFFIX.get(kind, '')}")
                res = _run_child(
                    {
                        "kind": kind,
                        "url": server.url,
                        "ticks": ticks,
                        "symbols_file": symbols_file,
                        "out": out,
                        "server_pid": server.pid,
                    },
                    timeout,
                )
                kr = results[kind]
                kr.rates.append(res["rate"])
                kr.server_cpu.append(res["server_cpu"])
                kr.client_cpu.append(res["client_cpu"])
                kr.rss_peak_mb.append(res["rss_peak_mb"])
                kr.dropped += res.get("dropped", 0)
                for path in (out, out + "-wal", out + "-shm"):
                    if os.path.exists(path):
                        os.unlink(path)
    ceilings = [results[k] for k in CEILING_KINDS if k in results]
    spreads: dict[str, dict[str, Any]] = {}
    out_doc: dict[str, Any] = {
        "ticks_per_trial": ticks,
        "trials": trials,
        "symbols": len(symbols),
        "kinds": {k: r.summary() for k, r in results.items()},
    }
    if ceilings:
        ceiling = max(ceilings, key=lambda r: r.median)
        out_doc["ceiling"] = ceiling.kind
        out_doc["ceiling_per_s"] = round(ceiling.median)
        for kind, name in RATIO_NAMES.items():
            if kind in results:
                out_doc[name] = round(_ratio(results[kind], ceiling), 3)
                spreads[name] = spread(_pairs(results[kind], ceiling))
    if "receive_loop" in results:
        loop = results["receive_loop"]
        if ceilings:
            out_doc["receive_loop_vs_ceiling"] = round(_ratio(loop, ceiling), 3)
            spreads["receive_loop_vs_ceiling"] = spread(_pairs(loop, ceiling))
        for kind in PIPELINE_KINDS:
            if kind in results:
                out_doc[f"{kind}_vs_receive_loop"] = round(_ratio(results[kind], loop), 3)
                spreads[f"{kind}_vs_receive_loop"] = spread(_pairs(results[kind], loop))
    # each ratio's per-round spread; "noisy" names those too spread to trust
    out_doc["spread"] = spreads
    out_doc["noisy"] = sorted(name for name, sp in spreads.items() if sp["noisy"])
    return out_doc


def latency(
    *,
    rate: float,
    seconds: float,
    symbols: Sequence[str],
    workdir: str,
    flush_interval: float = 1.0,
    warmup: float = 2.0,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Server send -> consumer / file / disk latencies at a steady rate (see module doc)."""
    if rate <= 0:
        raise BenchError("--rate must be positive")
    if seconds <= 0:
        raise BenchError("--seconds must be positive")
    symbols_file = os.path.join(workdir, "symbols.txt")
    with open(symbols_file, "w", encoding="ascii") as fh:
        fh.write("\n".join(symbols) + "\n")
    send_log = os.path.join(workdir, "send.log")
    times_file = os.path.join(workdir, "times.bin")
    progress(f"latency: {rate:,.0f} trades/s for {seconds:g} s (+{warmup:g} s warm-up)")
    server = ServerProcess("--rate", str(rate), "--seed", "2", "--send-log", send_log)
    try:
        res = _run_child(
            {
                "kind": "latency",
                "url": server.url,
                "symbols_file": symbols_file,
                "out": os.path.join(workdir, "latency.jsonl"),
                "times_file": times_file,
                "seconds": seconds,
                "warmup": warmup,
                "flush_interval": flush_interval,
                "server_pid": server.pid,
            },
            timeout=seconds + warmup + 60.0,
        )
    finally:
        server.stop()
    sent: dict[tuple[str, int], int] = {}
    with open(send_log, encoding="ascii") as fh:
        for line in fh:
            symbol, seq, ns = line.rstrip("\n").split(",")
            sent.setdefault((symbol, int(seq)), int(ns))
    with open(times_file, "rb") as bf:
        rows = orjson.loads(bf.read())
    to_consumer: list[float] = []
    to_file: list[float] = []
    to_disk: list[float] = []
    unmatched = 0
    for symbol, seq, consumer_ns, file_ns, disk_ns in rows:
        sent_ns = sent.get((symbol, seq))
        if sent_ns is None:
            unmatched += 1
            continue
        to_consumer.append((consumer_ns - sent_ns) / 1e6)
        if file_ns:
            to_file.append((file_ns - sent_ns) / 1e6)
        if disk_ns:
            to_disk.append((disk_ns - sent_ns) / 1e6)

    def rounded(d: dict[str, float]) -> dict[str, float]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}

    return {
        "rate": rate,
        "seconds": seconds,
        "received": res["received"],
        "received_per_s": round(res["received"] / seconds),
        "unmatched": unmatched,
        "flush_interval_s": flush_interval,
        "to_consumer_ms": rounded(percentiles(to_consumer)),
        "to_file_ms": rounded(percentiles(to_file)),
        "to_disk_ms": rounded(percentiles(to_disk)),
        "rss_peak_mb": round(res["rss_peak_mb"], 1),
        "client_cpu": round(res["client_cpu"], 3),
        "server_cpu": round(res["server_cpu"], 3),
    }


def soak(
    *,
    duration: float,
    rate: float,
    symbols: Sequence[str],
    workdir: str,
    interval: float = 10.0,
    warmup: float | None = None,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """RSS of a real ``hkticks record`` process over ``duration`` seconds at ``rate``.

    Growth is measured from the end of a warm-up (default: 10% of the run,
    30 s at most): until then caches, the queue and the allocator's pools
    fill up, which is not a leak.
    """
    if duration <= 0:
        raise BenchError("the soak duration must be positive")
    warm = min(30.0, duration * 0.1) if warmup is None else warmup
    symbols_file = os.path.join(workdir, "symbols.txt")
    with open(symbols_file, "w", encoding="ascii") as fh:
        fh.write("\n".join(symbols) + "\n")
    out = os.path.join(workdir, "soak.jsonl")
    with ServerProcess("--rate", str(rate), "--seed", "3") as server:
        env = _child_env()
        env["XDG_CONFIG_HOME"] = os.path.join(workdir, "config")
        env["XDG_CACHE_HOME"] = os.path.join(workdir, "cache")
        rec = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hkticks",
                "record",
                "--symbols-file",
                symbols_file,
                "--url",
                server.url,
                "--token",
                TOKEN,
                "--plan",
                "all-hk",
                "--out",
                out,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        samples: list[tuple[float, float]] = []
        started = time.monotonic()
        try:
            next_sample = started + 1.0
            while True:
                now = time.monotonic()
                if now - started >= duration:
                    break
                if rec.poll() is not None:
                    err = rec.stderr.read() if rec.stderr else ""
                    raise BenchError(f"hkticks record exited during the soak: {err.strip()[:300]}")
                if now >= next_sample:
                    samples.append((round(now - started, 1), rss_mb(rec.pid)))
                    progress(
                        f"soak: {now - started:,.0f}/{duration:,.0f} s, RSS {samples[-1][1]:.1f} MB"
                    )
                    next_sample = now + interval
                time.sleep(min(0.5, max(0.05, next_sample - time.monotonic())))
            samples.append((round(time.monotonic() - started, 1), rss_mb(rec.pid)))
            cpu = cpu_seconds(rec.pid)
        finally:
            if rec.poll() is None:
                rec.send_signal(signal.SIGINT)
                try:
                    rec.wait(30)
                except subprocess.TimeoutExpired:
                    rec.kill()
                    rec.wait()
            err_text = rec.stderr.read() if rec.stderr else ""
            if rec.stderr is not None:
                rec.stderr.close()
    lines = 0
    last = b""
    # a soak shorter than the recorder's start (a busy machine) has written nothing yet
    with contextlib.suppress(FileNotFoundError), open(out, "rb") as fh:
        for line in fh:
            lines += 1
            last = line
    try:
        valid_tail = isinstance(orjson.loads(last), dict)
    except orjson.JSONDecodeError:
        valid_tail = False
    base = [mb for t, mb in samples if t >= warm]
    baseline = base[0] if base else samples[-1][1]
    end = samples[-1][1]
    return {
        "duration_s": duration,
        "rate": rate,
        "symbols": len(symbols),
        "warmup_s": warm,
        "rss_first_mb": round(samples[0][1], 1),
        "rss_baseline_mb": round(baseline, 1),
        "rss_end_mb": round(end, 1),
        "rss_max_mb": round(max(mb for _, mb in samples), 1),
        "growth_mb": round(end - baseline, 1),
        "samples": samples,
        "ticks_recorded": lines,
        "last_line_valid": valid_tail,
        "cpu_share": round(cpu / duration, 3),
        "exit_code": rec.returncode,
        "summary": err_text.strip().splitlines()[-1] if err_text.strip() else "",
    }


def watch_figures(*, cpu: bool, progress: Progress = _quiet) -> dict[str, Any]:
    """The quote board's render cost (and with ``cpu``, a live board's CPU share)."""
    from hkticks.bench.render import frame_benchmark, pilot_latency, watch_cpu

    progress("watch: render benchmark")
    out: dict[str, Any] = {"frame": asdict(frame_benchmark())}
    if cpu:
        progress("watch: CPU of a live board (14 s)")
        out["cpu"] = asdict(watch_cpu())
        progress("watch: CPU of a live board on its heatmap (14 s)")
        out["cpu_heatmap"] = asdict(watch_cpu(heatmap=True))
        progress("watch: key and detail latency with Pilot (5 s)")
        out["keys"] = asdict(pilot_latency())
    return out


WATCH_CPU_SHARE = 0.25  # issue 14: 550 symbols at 2,000 trades/s under a quarter of a core
WATCH_HEATMAP_CPU_SHARE = 0.10  # issue 22: the same with the heatmap open, under a tenth
WATCH_FPS = 4.0
WATCH_KEY_MS = 100.0
WATCH_DETAIL_MS = 200.0


def watch_targets(watch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 14's board targets from ``bench --watch`` figures."""
    out: dict[str, dict[str, Any]] = {}
    cpu, keys = watch.get("cpu"), watch.get("keys")
    if cpu:
        share = cpu["cpu_share"]
        out["watch_cpu_share"] = {
            "target": f"< {WATCH_CPU_SHARE}",
            "measured": share,
            "ok": share < WATCH_CPU_SHARE,
        }
        out["watch_fps"] = {
            "target": f">= {WATCH_FPS:g}",
            "measured": cpu["fps"],
            "ok": cpu["fps"] >= WATCH_FPS,
        }
    hm = watch.get("cpu_heatmap")
    if hm:
        out["watch_heatmap_cpu_share"] = {
            "target": f"< {WATCH_HEATMAP_CPU_SHARE}",
            "measured": hm["cpu_share"],
            "ok": hm["cpu_share"] < WATCH_HEATMAP_CPU_SHARE,
        }
    if keys:
        limits = [("key_ms", WATCH_KEY_MS), ("detail_ms", WATCH_DETAIL_MS)]
        if "heatmap_ms" in keys:
            limits.append(("heatmap_ms", WATCH_KEY_MS))
        for name, limit in limits:
            out[f"watch_{name}"] = {
                "target": f"<= {limit:g}",
                "measured": keys[name],
                "ok": keys[name] <= limit,
            }
    return out


def targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with the measured figure and whether it is met (``noisy``: the
    rounds spread too widely for the figure to be trusted)."""
    out: dict[str, dict[str, Any]] = {}
    tp = result.get("throughput", {})
    for name, minimum in TARGETS.items():
        if name in tp:
            out[name] = {
                "target": f">= {minimum}",
                "measured": tp[name],
                "ok": tp[name] >= minimum,
                "noisy": name in tp.get("noisy", ()),
            }
    lat = result.get("latency")
    if lat:
        p99 = lat["to_consumer_ms"]["p99"]
        out["latency_consumer_p99_ms"] = {
            "target": f"<= {LATENCY_CONSUMER_P99_MS}",
            "measured": p99,
            "ok": p99 <= LATENCY_CONSUMER_P99_MS,
        }
        limit = lat["flush_interval_s"] * 1000 + LATENCY_FLUSH_SLACK_MS
        for key in ("to_file_ms", "to_disk_ms"):
            p99 = lat[key]["p99"]
            out[f"latency_{key[:-3]}_p99_ms"] = {
                "target": f"<= {limit:g}",
                "measured": p99,
                "ok": p99 <= limit,
            }
    if result.get("watch"):
        out.update(watch_targets(result["watch"]))
    sk = result.get("soak")
    if sk:
        out["soak_growth_mb"] = {
            "target": f"< {SOAK_GROWTH_MB:g}",
            "measured": sk["growth_mb"],
            "ok": sk["growth_mb"] < SOAK_GROWTH_MB,
        }
    return out


def machine() -> dict[str, Any]:
    import platform

    import websocket

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "websocket_client": websocket.__version__,
        "orjson": orjson.__version__,
    }


@dataclass
class BenchConfig:
    ticks: int = 100_000
    trials: int = 5
    rate: float = 2000.0
    seconds: float = 8.0
    latency_warmup: float = 2.0
    symbols: int = 550
    flush_interval: float = 1.0
    kinds: tuple[str, ...] = THROUGHPUT_KINDS
    latency: bool = True
    watch: bool = True
    watch_cpu: bool = False
    soak: float | None = None
    soak_interval: float = 10.0
    alerts: bool = False


def run(config: BenchConfig, progress: Progress = _quiet) -> dict[str, Any]:
    """Every measurement ``config`` asks for, as one JSON-serialisable object."""
    started = time.monotonic()
    symbols = bench_symbols(config.symbols)
    result: dict[str, Any] = {"machine": machine(), "config": asdict(config)}
    with tempfile.TemporaryDirectory(prefix="hkticks-bench-") as workdir:
        if config.kinds:
            tp = throughput(
                ticks=config.ticks,
                trials=config.trials,
                symbols=symbols,
                workdir=workdir,
                kinds=config.kinds,
                progress=progress,
            )
            result["throughput"] = tp
            for name in RATIO_NAMES.values():
                if name in tp:
                    result[name] = tp[name]
        if config.latency:
            result["latency"] = latency(
                rate=config.rate,
                seconds=config.seconds,
                symbols=symbols,
                workdir=workdir,
                flush_interval=config.flush_interval,
                warmup=config.latency_warmup,
                progress=progress,
            )
        peaks = [
            k["rss_peak_mb"]
            for name, k in result.get("throughput", {}).get("kinds", {}).items()
            if name in PIPELINE_KINDS and k["rss_peak_mb"] is not None
        ]
        if "latency" in result:
            peaks.append(result["latency"]["rss_peak_mb"])
        if peaks:
            result["rss_peak_mb"] = max(peaks)
        if config.watch:
            from hkticks.bench.alerts_bench import heatmap_frame

            result["watch"] = watch_figures(cpu=config.watch_cpu, progress=progress)
            progress("heatmap: render benchmark")
            result["heatmap"] = heatmap_frame()
        if config.alerts:
            from hkticks.bench.alerts_bench import alerts_figures

            result["alerts"] = alerts_figures(progress)
        if config.soak:
            result["soak"] = soak(
                duration=config.soak,
                rate=config.rate,
                symbols=symbols,
                workdir=workdir,
                interval=config.soak_interval,
                progress=progress,
            )
    from hkticks.bench.alerts_bench import alert_targets

    result["targets"] = {**targets(result), **alert_targets(result)}
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


# ---------------------------------------------------------------------- trials (child side)


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
    from hkticks.feed.session import ReadAheadWebSocket

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
    """``python -m hkticks.bench.measure '<json args>'``: run one trial, print its JSON result."""
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
