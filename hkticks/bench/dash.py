"""``hkticks bench --dash``: the web dashboard under a full feed, in headless Chromium.

One run starts the simulated market in this process, ``hkticks dash`` on it
(550 symbols at 2,000 trades/s by default) and a page in Debian's Chromium
(Playwright) at 1600x1000, then measures:

- frames/s the page sustains (``requestAnimationFrame`` callbacks while the
  diffs arrive), and its first paint after it was opened;
- trade -> tile: the page stamps each tile it repaints; the trade's exchange
  time is this machine's clock (the simulated market runs here), p50/p99;
- the dash process's CPU share, and beside it, in the same run, the CPU of
  ``hkticks watch --json`` on the same feed (the feed alone): the difference
  is what the dashboard itself costs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

from hkticks.errors import HkticksError

DASH_FPS = 30.0
DASH_FIRST_PAINT_MS = 1000.0
DASH_OWN_CPU = 0.10
DASH_LAG_P99_MS = 250.0


class DashBenchError(HkticksError):
    """The dashboard benchmark cannot run here (no browser, no Playwright)."""

    exit_code = 2


@dataclass
class DashFigures:
    symbols: int
    rate: float
    seconds: float
    fps: float
    first_paint_ms: float
    lag_p50_ms: float
    lag_p99_ms: float
    updates: int
    dash_cpu: float  # share of one core, the whole dash process (feed included)
    feed_cpu: float  # share of one core, `watch --json` on the same feed
    own_cpu: float  # dash_cpu - feed_cpu: the dashboard's own cost


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _env(tmp: str) -> dict[str, str]:
    env = {
        **os.environ,
        "XDG_CACHE_HOME": os.path.join(tmp, "cache"),
        "XDG_CONFIG_HOME": os.path.join(tmp, "config"),
        "HOME": tmp,
    }
    for var in ("HKTICKS_TOKEN", "ALLTICK_TOKEN", "HKTICKS_CONFIG"):
        env.pop(var, None)
    return env


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def dash_figures(
    *, symbols: int = 550, rate: float = 2000.0, seconds: float = 10.0, warmup: float = 3.0
) -> DashFigures:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise DashBenchError(
            "bench --dash needs Playwright: pip install playwright (and Debian's chromium)"
        ) from None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise DashBenchError("bench --dash needs Chromium: apt-get install chromium")
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
        source = [
            *("--symbols-file", symbols_file, "--url", server.ws_url, "--rest-url"),
            *(server.rest_url, "--token", "bench", "--plan", "all-hk"),
        ]
        env = _env(tmp)
        dash = subprocess.Popen(
            [sys.executable, "-m", "hkticks", "dash", *source, "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            url = _dash_url(dash)
            page_figures, dash_cpu = _measure_page(
                sync_playwright, chromium, url, dash.pid, len(codes), seconds, warmup
            )
        finally:
            dash.terminate()
            try:
                dash.wait(15)
            except subprocess.TimeoutExpired:
                dash.kill()
        feed_cpu = _feed_cpu(source, env, seconds, warmup)
    return DashFigures(
        symbols=len(codes),
        rate=rate,
        seconds=seconds,
        dash_cpu=round(dash_cpu, 4),
        feed_cpu=round(feed_cpu, 4),
        own_cpu=round(max(0.0, dash_cpu - feed_cpu), 4),
        **page_figures,
    )


def _dash_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"dashboard at (http://\S+/)", line)
        if m:
            return m.group(1)
    raise DashBenchError("hkticks dash did not start for the benchmark")


def _measure_page(
    sync_playwright: Any,
    chromium: str,
    url: str,
    pid: int,
    symbols: int,
    seconds: float,
    warmup: float,
) -> tuple[dict[str, Any], float]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(url)
        deadline = time.monotonic() + 30
        while not page.evaluate(f"window.hkdash && window.hkdash.tiles.size >= {symbols} * 0.9"):
            if time.monotonic() > deadline:
                raise DashBenchError("the dashboard page did not lay out its tiles in 30 s")
            page.wait_for_timeout(50)
        first_paint = page.evaluate("window.hkdash.firstPaint || NaN")
        page.wait_for_timeout(warmup * 1000)
        cpu0, t0 = _cpu_seconds(pid), time.monotonic()
        result = page.evaluate(
            """(ms) => new Promise((done) => {
                const lags = []; const seen = new Map(); let frames = 0;
                const t0 = performance.now();
                const frame = () => {
                  frames += 1;
                  for (const [code, r] of window.hkdash.rows) {
                    const painted = window.hkdash.tileUpdated[code];
                    if (r.ts && painted > t0 && seen.get(code) !== painted) {
                      seen.set(code, painted);
                      lags.push(performance.timeOrigin + painted - r.ts);
                    }
                  }
                  if (performance.now() - t0 < ms) requestAnimationFrame(frame);
                  else done({frames, lags, ms: performance.now() - t0});
                };
                requestAnimationFrame(frame);
            })""",
            seconds * 1000,
        )
        cpu = (_cpu_seconds(pid) - cpu0) / max(1e-9, time.monotonic() - t0)
        browser.close()
    lags = [float(x) for x in result["lags"]]
    return (
        {
            "fps": round(result["frames"] / (result["ms"] / 1000), 1),
            "first_paint_ms": round(float(first_paint), 1),
            "lag_p50_ms": round(_percentile(lags, 0.5), 1),
            "lag_p99_ms": round(_percentile(lags, 0.99), 1),
            "updates": len(lags),
        },
        cpu,
    )


def _feed_cpu(source: list[str], env: dict[str, str], seconds: float, warmup: float) -> float:
    """CPU share of the feed alone: ``watch --json`` on the same server, to /dev/null."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hkticks", "watch", "--json", *source],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        time.sleep(warmup)  # the thing measured: a window of steady streaming after start-up
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        return (_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def dash_targets(fig: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 23's targets from ``bench --dash`` figures."""
    return {
        "dash_fps": {
            "target": f">= {DASH_FPS:g}",
            "measured": fig["fps"],
            "ok": fig["fps"] >= DASH_FPS,
        },
        "dash_first_paint_ms": {
            "target": f"< {DASH_FIRST_PAINT_MS:g}",
            "measured": fig["first_paint_ms"],
            "ok": fig["first_paint_ms"] < DASH_FIRST_PAINT_MS,
        },
        "dash_own_cpu": {
            "target": f"< {DASH_OWN_CPU:g}",
            "measured": fig["own_cpu"],
            "ok": fig["own_cpu"] < DASH_OWN_CPU,
        },
        "dash_lag_p99_ms": {
            "target": f"< {DASH_LAG_P99_MS:g}",
            "measured": fig["lag_p99_ms"],
            "ok": fig["lag_p99_ms"] < DASH_LAG_P99_MS,
        },
    }


def run_dash_bench(*, rate: float, seconds: float) -> dict[str, Any]:
    fig = asdict(dash_figures(rate=rate, seconds=seconds))
    return {"dash": fig, "targets": dash_targets(fig)}
