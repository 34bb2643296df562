"""What ``hkticks bench`` measures: throughput against the client library's
own ceiling, latency at a steady rate, and the recorder's memory.

Absolute figures depend on the machine; the contract is the ratios. Every
measurement talks to the embedded server over loopback, and the server runs
in its own process (``python -m hkticks serve``) so that it never competes
for the measured client's GIL. Every measured client also runs in a process
of its own (``python -m hkticks.bench.trials ...``, :mod:`hkticks.bench.trials`): each trial starts from
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
  (:class:`hkticks.feed.read_ahead.ReadAheadWebSocket`) that only counts frames;
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

import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from hkticks.bench.processes import (
    BenchError,
    Progress,
    ServerProcess,
    _quiet,
    _run_child,
    bench_symbols,
    percentiles,
)
from hkticks.bench.soak import soak
from hkticks.bench.targets import targets

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
SUFFIX = {"jsonl": ".jsonl", "csv": ".csv", "sqlite": ".db"}


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
