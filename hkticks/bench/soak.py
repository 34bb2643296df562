"""``hkticks bench --soak``: the RSS of a real ``hkticks record`` process sampled
over minutes at a steady rate, growth measured after a warm-up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson

from hkticks.bench.processes import (
    TOKEN,
    BenchError,
    Progress,
    ServerProcess,
    _child_env,
    _quiet,
    cpu_seconds,
    rss_mb,
)


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
