"""``hkticks bench --stats`` on a small day: every figure is there and the round trip is exact."""

from __future__ import annotations

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")
pytest.importorskip("pandas")

from hkticks.bench.stats_bench import run_stats_bench  # noqa: E402


def test_bench_stats_figures_on_a_small_day() -> None:
    r = run_stats_bench(trades=20_000, rounds=1)
    assert r["compact_round_trip_exact"] is True
    assert r["trades"] == 20_000 and r["read_frame_rows"] > r["read_frame_typical_rows"] > 0
    for key in (
        "stats_vs_duckdb",
        "stats_archive_s",
        "stats_archive_vs_duckdb",
        "stats_archive_rows_vs_duckdb",
        "read_frame_20_days_s",
        "read_frame_vs_duckdb_arrow",
    ):
        assert 0 < r[key]["min"] <= r[key]["median"] <= r[key]["max"]
    assert set(r["targets"]) == {
        "stats JSONL / DuckDB read_json+GROUP BY",
        "stats on the archive's day (s)",
        "stats archive / DuckDB read_parquet+GROUP BY",
        "read_frame busiest symbol, 20 days (s)",
        "compact a 2M-trade day (s)",
        "compact peak RSS (MB)",
        "compact round trip exact",
    }
    # 20 days: the busiest symbol's rows are 20 times its trades of the day
    assert r["read_frame_rows"] % 20 == 0
