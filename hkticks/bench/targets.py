"""The targets ``hkticks bench`` checks, each with the measured figure and
whether it is met: throughput ratios, latency, the board's cost, the soak's growth.
"""

from __future__ import annotations

from typing import Any

TARGETS = {
    "pipeline_vs_ceiling": 0.80,
    "jsonl_vs_ceiling": 0.70,
    "csv_vs_ceiling": 0.60,
    "sqlite_vs_ceiling": 0.50,
}
LATENCY_CONSUMER_P99_MS = 5.0
LATENCY_FLUSH_SLACK_MS = 10.0
SOAK_GROWTH_MB = 20.0

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
