"""``hkticks bench --alerts`` and the heatmap frame: measured in this run, on a simulated clock.

* detection: the ``anomalies`` scenario for ``minutes`` simulated minutes at
  the demo's 200 trades/s, several seeds, scored against its truth
  (precision, recall within 10 s, latency) and the ``none`` scenario for the
  false volume/block alerts of ordinary flow;
* the engine's cost per tick: the median over rounds of (time / ticks) on a
  simulated 2,000 trades/s market of 550+ names, beside the cost of decoding
  the same trades' AllTick frames (``engine_vs_decode``: how much the engine
  adds to the one thing every tick already costs);
* the heatmap: one 200x50 frame of 550 names, layout and rendering.
"""

from __future__ import annotations

import io
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from hkticks.alltick import protocol as alltick
from hkticks.analysis.alert_config import AlertConfig
from hkticks.analysis.anomaly import AnomalyEngine
from hkticks.analysis.scoring import Score, score
from hkticks.server import frames, scenarios, simulated_stocks
from hkticks.server.market import Market, Trade
from hkticks.tick import Tick

T0 = 1_796_004_000_000  # a Monday, 10:00 in Hong Kong
ENGINE_US_TARGET = 2.0
HEATMAP_MS_TARGET = 20.0
RECALL_TARGET = 0.95
FALSE_PER_10MIN_TARGET = 1.0


def trade_tick(tr: Trade) -> Tick:
    """A simulated trade as the feed delivers it (mills to HK$, ``demo`` source)."""
    return Tick(
        tr.symbol,
        tr.ts,
        tr.price / 1000,
        tr.volume,
        tr.turnover / 1000,
        None,
        tr.seq,
        tr.ts,
        "demo",
    )


def run_scenario(
    name: str,
    seed: int,
    seconds: float,
    rate: float,
    truth_file: io.BytesIO | None = None,
) -> tuple[list[Trade], Any, list[Any]]:
    """Scenario ``name`` on the simulated clock from :data:`T0`, and the alerts the
    engine raises on its trades: (trades, the scenario with its truth, alerts)."""
    market = Market(simulated_stocks.stocks(), seed=seed, start_ms=T0)
    sc = scenarios.make(
        name, scenarios.ScenarioOptions(seed=seed, rate=rate, truth_file=truth_file)
    )
    trades = scenarios.simulate(market, sc, start_ms=T0, seconds=seconds, rate=rate)
    engine = AnomalyEngine(AlertConfig(hours="always"))
    alerts = engine.feed(trade_tick(t) for t in trades)
    return trades, sc, alerts


def detection(
    *,
    minutes: float = 10.0,
    seeds: int = 3,
    rate: float = 200.0,
    progress: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    total = Score()
    runs = []
    false_ordinary = []
    for seed in range(1, seeds + 1):
        progress(f"alerts: scenario run {seed}/{seeds}")
        _, sc, alerts = run_scenario("anomalies", seed, minutes * 60, rate)
        s = score(alerts, [e.record() for e in sc.truth], until_ms=T0 + int(minutes * 60_000))
        runs.append(s.summary())
        total.events += s.events
        total.flagged += s.flagged
        total.alerts += s.alerts
        total.true_alerts += s.true_alerts
        total.latencies_ms += s.latencies_ms
        for k, v in s.false_by_kind.items():
            total.false_by_kind[k] = total.false_by_kind.get(k, 0) + v
        _, _, plain = run_scenario("none", seed, minutes * 60, rate)
        false_ordinary.append(sum(1 for a in plain if a.kind in ("volume_spike", "block_trade")))
    per_10 = sum(false_ordinary) / (seeds * minutes / 10.0)
    return {
        "minutes": minutes,
        "seeds": seeds,
        "rate": rate,
        "events": total.events,
        "flagged_within_10s": total.flagged,
        "recall": round(total.recall, 4),
        "precision": round(total.precision, 4),
        "latency_p50_s": total.latency(0.5),
        "latency_p95_s": total.latency(0.95),
        "latency_max_s": total.latency(1.0),
        "false_by_kind": total.false_by_kind,
        "ordinary_false_volume_block": false_ordinary,
        "ordinary_false_per_10min": round(per_10, 3),
        "runs": runs,
    }


def engine_cost(
    *,
    rate: float = 2000.0,
    seconds: float = 120.0,
    rounds: int = 3,
    batch: int = 1000,
    progress: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    """Per-tick cost: each round feeds every tick once, timed per batch of ``batch`` ticks;
    the figure is the median batch (robust to a neighbour's burst of CPU), median over rounds."""
    progress("alerts: engine cost per tick")
    market = Market(simulated_stocks.stocks(), seed=42, start_ms=T0)
    trades = scenarios.simulate(
        market, scenarios.make("none"), start_ms=T0, seconds=seconds, rate=rate
    )
    ticks = [trade_tick(t) for t in trades]
    encoder = frames.FrameEncoder()
    payloads = [encoder.trade(t) for t in trades]
    perf = time.perf_counter
    engine_us, decode_us = [], []
    for _ in range(rounds):
        engine = AnomalyEngine(AlertConfig(hours="always"))
        on_tick = engine.on_tick
        per_batch = []
        for i in range(0, len(ticks) - batch + 1, batch):
            chunk = ticks[i : i + batch]
            started = perf()
            for t in chunk:
                on_tick(t)
            per_batch.append((perf() - started) / batch * 1e6)
        engine_us.append(statistics.median(per_batch))
        per_batch = []
        decode = alltick.decode
        for i in range(0, min(len(payloads), 50_000) - batch + 1, batch):
            chunk_p = payloads[i : i + batch]
            started = perf()
            for p in chunk_p:
                decode(p, T0)
            per_batch.append((perf() - started) / batch * 1e6)
        decode_us.append(statistics.median(per_batch))
    med = statistics.median(engine_us)
    dec = statistics.median(decode_us)
    return {
        "ticks": len(ticks),
        "symbols": len({t.symbol for t in ticks}),
        "rate": rate,
        "rounds": rounds,
        "batch": batch,
        "us_per_tick_median": round(med, 3),
        "us_per_tick_rounds": [round(x, 3) for x in engine_us],
        "decode_us_per_tick": round(dec, 3),
        "engine_vs_decode": round(med / dec, 3) if dec else None,
    }


def heatmap_frame(
    *, symbols: int = 550, width: int = 200, height: int = 50, frames_: int = 30
) -> dict[str, Any]:
    """Median time of one heatmap frame (to a string buffer): ``median_ms`` a frame
    as the screen draws it (the layout kept, :class:`StableLayout`; colours and
    changes new), ``layout_ms`` one with the treemap computed afresh (a resize)."""
    from rich.console import Console

    from hkticks.watch.heatmap import HeatmapView, StableLayout, TileData

    rng = random.Random(7)
    tiles = [
        TileData(
            f"{i:05d}", f"Company {i:05d} Holdings", rng.gauss(0, 2.5), rng.paretovariate(1.0) * 1e9
        )
        for i in range(symbols)
    ]
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
    )
    fresh = []
    for _ in range(frames_):
        started = time.perf_counter()
        console.print(HeatmapView(tiles, height=height, flash={"00007"}, selected="00001"))
        fresh.append((time.perf_counter() - started) * 1000)
        console.file = io.StringIO()
    stable = StableLayout()
    times = []
    for i in range(frames_):
        moved = [  # every frame: new changes and slightly new areas, as a live market
            TileData(t.code, t.name, (t.change_pct or 0.0) + rng.gauss(0, 0.05), t.weight * 1.001)
            for t in tiles
        ]
        started = time.perf_counter()
        placed = stable.get(moved, width, height, now=float(i))
        console.print(
            HeatmapView(moved, height=height, flash={"00007"}, selected="00001", placed=placed)
        )
        times.append((time.perf_counter() - started) * 1000)
        console.file = io.StringIO()
    times.sort()
    return {
        "symbols": symbols,
        "width": width,
        "height": height,
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 2),
        "max_ms": round(times[-1], 2),
        "layout_ms": round(statistics.median(fresh), 2),
        "layouts": stable.layouts,
    }


def alerts_figures(progress: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    return {"detection": detection(progress=progress), "engine": engine_cost(progress=progress)}


def alert_targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    al = result.get("alerts")
    if al:
        d, e = al["detection"], al["engine"]
        out["alerts_recall_within_10s"] = {
            "target": f">= {RECALL_TARGET}",
            "measured": d["recall"],
            "ok": d["recall"] >= RECALL_TARGET,
        }
        out["alerts_ordinary_false_per_10min"] = {
            "target": f"<= {FALSE_PER_10MIN_TARGET:g}",
            "measured": d["ordinary_false_per_10min"],
            "ok": d["ordinary_false_per_10min"] <= FALSE_PER_10MIN_TARGET,
        }
        out["alerts_engine_us_per_tick"] = {
            "target": f"< {ENGINE_US_TARGET:g}",
            "measured": e["us_per_tick_median"],
            "ok": e["us_per_tick_median"] < ENGINE_US_TARGET,
        }
    hm = result.get("heatmap")
    if hm:
        out["heatmap_frame_ms"] = {
            "target": f"< {HEATMAP_MS_TARGET:g}",
            "measured": hm["median_ms"],
            "ok": hm["median_ms"] < HEATMAP_MS_TARGET,
        }
    return out
