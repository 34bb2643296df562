"""A short smoke run of ``hkticks bench`` with tiny numbers.

It checks that every figure is produced and that the ratios are consistent
numbers, never how fast anything is: speed depends on the machine and its
load, and the bench itself reports it.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from hkticks.bench.measure import CEILING_KINDS, PIPELINE_KINDS, RATIO_NAMES, THROUGHPUT_KINDS
from hkticks.bench.processes import percentiles


def run_bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HKTICKS_", "ALLTICK_"))}
    env["COLUMNS"] = "200"  # a wide table: no cell wrapped
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return subprocess.run(
        [sys.executable, "-m", "hkticks", "bench", *args],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )


def number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_bench_json_has_every_figure(tmp_path: Path) -> None:
    r = run_bench(
        tmp_path,
        "--json",
        "--ticks",
        "10000",
        "--trials",
        "3",
        "--symbols",
        "200",
        "--seconds",
        "1s",
        "--latency-warmup",
        "0.5s",
        "--rate",
        "500",
    )
    assert r.returncode == 0, r.stderr.decode()
    result = orjson.loads(r.stdout)

    tp = result["throughput"]
    assert (tp["ticks_per_trial"], tp["trials"], tp["symbols"]) == (10000, 3, 200)
    assert list(tp["kinds"]) == list(THROUGHPUT_KINDS)
    for kind in THROUGHPUT_KINDS:
        k = tp["kinds"][kind]
        assert len(k["trials_per_s"]) == 3 and all(r > 0 for r in k["trials_per_s"])
        assert k["median_per_s"] == round(statistics.median(k["trials_per_s"]))
        assert number(k["server_cpu"]) and number(k["client_cpu"]) and k["rss_peak_mb"] > 0
        assert k["dropped"] == 0
    # the ceiling is the faster of the two websocket-client loops
    assert tp["ceiling"] == max(CEILING_KINDS, key=lambda c: tp["kinds"][c]["median_per_s"])
    assert tp["ceiling_per_s"] == tp["kinds"][tp["ceiling"]]["median_per_s"]
    ceiling = tp["kinds"][tp["ceiling"]]["trials_per_s"]
    loop = tp["kinds"]["receive_loop"]["trials_per_s"]
    for kind, name in RATIO_NAMES.items():
        ratio = result[name]
        assert ratio == tp[name] and number(ratio) and ratio > 0
        rates = tp["kinds"][kind]["trials_per_s"]
        # each ratio is the median of the per-round ratios (rounded rates: close, not equal)
        expected = statistics.median(a / b for a, b in zip(rates, ceiling, strict=True))
        assert math.isclose(ratio, expected, rel_tol=1e-3, abs_tol=2e-3)
    for kind in PIPELINE_KINDS:
        # a ratio of two timings: positive (no bound on it: a busy machine skews the rounds)
        ratio = tp[f"{kind}_vs_receive_loop"]
        assert number(ratio) and ratio > 0, (kind, ratio, tp["kinds"][kind], loop)
    assert number(tp["receive_loop_vs_ceiling"]) and tp["receive_loop_vs_ceiling"] > 0
    # every ratio's spread over the rounds, and the noisy ones named
    for name, sp in tp["spread"].items():
        assert sp["min"] <= sp["median"] <= sp["max"], (name, sp)
        assert math.isclose(sp["median"], tp[name], abs_tol=2e-3)
        assert sp["noisy"] is (name in tp["noisy"])
    assert set(RATIO_NAMES.values()) <= set(tp["spread"])
    for kind in THROUGHPUT_KINDS:
        k = tp["kinds"][kind]
        assert k["min_per_s"] == min(k["trials_per_s"]) and k["max_per_s"] == max(k["trials_per_s"])

    lat = result["latency"]
    assert lat["rate"] == 500 and lat["seconds"] == 1 and lat["received"] > 0
    assert lat["unmatched"] == 0  # every trade's server send time was found
    for key in ("to_consumer_ms", "to_file_ms", "to_disk_ms"):
        p = lat[key]
        assert p["n"] > 0 and 0 < p["p50"] <= p["p99"] <= p["max"]
    # later stages of one trade's journey are never earlier than earlier ones
    assert lat["to_consumer_ms"]["p50"] <= lat["to_file_ms"]["p50"] <= lat["to_disk_ms"]["p50"]
    assert result["rss_peak_mb"] > 0
    frame = result["watch"]["frame"]
    assert frame["median_ms"] > 0 and frame["symbols"] == 550

    names = set(result["targets"])
    assert (
        set(RATIO_NAMES.values())
        | {
            "latency_consumer_p99_ms",
            "latency_to_file_p99_ms",
            "latency_to_disk_p99_ms",
        }
        <= names
    )
    assert all(isinstance(t["ok"], bool) for t in result["targets"].values())


def test_bench_table_output(tmp_path: Path) -> None:
    r = run_bench(
        tmp_path,
        "--ticks",
        "2000",
        "--trials",
        "1",
        "--symbols",
        "50",
        "--kinds",
        "create_connection,null",
        "--no-latency",
    )
    assert r.returncode == 0, r.stderr.decode()
    text = r.stdout.decode()
    assert "Throughput" in text and "create_connection" in text and "(ceiling)" in text
    assert "pipeline_vs_ceiling" in text and "Targets" in text
    assert "issue" not in text  # no internal issue numbers


def test_bench_check_exits_1_exactly_when_a_target_is_missed(tmp_path: Path) -> None:
    """Without ``--check`` a missed target is reported, exit 0 (the docs examples run so);
    with it the exit status says whether every target reported in the JSON was met."""
    args = ("--json", "--ticks", "2000", "--trials", "1", "--symbols", "50")
    args += ("--kinds", "create_connection,null", "--no-latency")
    plain = run_bench(tmp_path, *args)
    assert plain.returncode == 0, plain.stderr.decode()
    checked = run_bench(tmp_path, *args, "--check")
    targets = orjson.loads(checked.stdout)["targets"]
    assert targets, "the run reports no target to check"
    missed = [name for name, t in targets.items() if not t["ok"]]
    assert checked.returncode == (1 if missed else 0), checked.stderr.decode()
    for name in missed:
        assert name in checked.stderr.decode()
    assert b"Traceback" not in checked.stderr


def test_bench_rejects_unknown_kinds(tmp_path: Path) -> None:
    r = run_bench(tmp_path, "--kinds", "jsonl,parquet")
    assert r.returncode == 2
    assert b"parquet" in r.stderr and b"Traceback" not in r.stderr


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"n": 100, "p50": 50.0, "p99": 99.0, "max": 100.0}
    assert percentiles([3.0]) == {"n": 1, "p50": 3.0, "p99": 3.0, "max": 3.0}
    assert percentiles([])["n"] == 0
