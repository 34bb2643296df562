"""``hkticks bench --stats``: the quant-data figures, measured in one run.

On a generated 2M-trade JSONL day (:mod:`hkticks.bench.data`, in a temporary
folder removed afterwards):

* ``stats`` on the JSONL vs DuckDB's own ``read_json`` + ``GROUP BY`` on the
  same file, alternated round by round: the ratio (min/median/max; target
  <= 1.5);
* ``compact`` of the day in a child process: seconds (< 10) and peak RSS
  (< 500 MB), and the round trip (row count and an order-free checksum of
  every field of every row, JSONL vs archive, must be equal);
* ``stats`` on the archive's day (< 0.5 s), and vs DuckDB's own
  ``read_parquet`` + ``GROUP BY`` on the same parts (target <= 1.2; stats
  reads the per-symbol figures ``compact`` keeps in each part's footer, see
  :mod:`hkticks.storage.part_figures`); for the record, the same figures
  computed from the rows (what a time-of-day selection does) vs that baseline;
* ``read_frame`` of the busiest symbol over 20 days of archive (< 1 s; the
  other 19 days are the first shifted by whole days), and vs DuckDB's own
  ``read_parquet ... WHERE symbol = ...`` to Arrow on the same parts (a ratio
  that a loaded machine does not move much).

That last part alone (about a minute): ``python -m hkticks.bench.stats_bench
--frame --rounds 5`` (JSON on stdout; :func:`run_frame_bench`).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import orjson

from hkticks.errors import HkticksError

Progress = Callable[[str], None]
DAY_MS = 86_400_000
_ROW_SUM = (
    "SELECT count(*), sum(hash(symbol, ts, price, volume, turnover, side, seq, recv_ts, src)) "
    "FROM {src}"
)
_CHILD = """
import resource, sys, time, orjson
from hkticks.storage.parquet import compact
t = time.perf_counter()
r = compact([sys.argv[1]], sys.argv[2])
print(orjson.dumps({"seconds": time.perf_counter() - t, "added": r.added,
                    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}).decode())
"""


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run_stats_bench(
    trades: int = 2_000_000, rounds: int = 3, progress: Progress = lambda _: None
) -> dict[str, Any]:
    """Every figure above as one JSON-serialisable dict (with ``targets``)."""
    try:
        import duckdb
        import pyarrow  # noqa: F401
    except ImportError:
        raise HkticksError(
            "bench --stats needs DuckDB and pyarrow: pip install 'hkticks[fast,parquet]'"
        ) from None
    from hkticks.analysis.stats import summarise
    from hkticks.analysis.stats_duckdb import figures
    from hkticks.bench.data import write_day
    from hkticks.storage import parquet
    from hkticks.storage.readers import Recording

    tmp = tempfile.mkdtemp(prefix="hkticks-bench-stats-")
    try:
        day = os.path.join(tmp, "day.jsonl")
        archive = os.path.join(tmp, "archive")
        progress(f"writing a {trades:,}-trade JSONL day")
        size = write_day(day, trades)
        # compact in a child process: its own peak RSS
        progress("compact")
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, day, archive],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise HkticksError(f"bench --stats: compact failed: {child.stderr.strip()[-300:]}")
        comp = orjson.loads(child.stdout.strip().splitlines()[-1])
        con = duckdb.connect()
        quoted = day.replace("'", "''")
        src_sum = con.execute(_ROW_SUM.format(src=f"read_json('{quoted}')")).fetchone()
        arch_sum = con.execute(
            _ROW_SUM.format(
                src=f"(SELECT symbol, epoch_ms(ts) AS ts, price, volume, turnover, side, seq, "
                f"epoch_ms(recv_ts) AS recv_ts, src FROM read_parquet('{archive}/**/*.parquet'))"
            )
        ).fetchone()
        exact = src_sum == arch_sum and comp["added"] == trades
        baseline_sql = (
            "SELECT symbol, count(*), sum(volume), sum(turnover), min(price), max(price) "
            f"FROM read_json('{quoted}') GROUP BY symbol"
        )
        parts = [f for _, p in parquet.day_files(archive) for f in p]
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in parts)
        parquet_sql = (
            "SELECT symbol, count(*), sum(volume), sum(turnover), min(price), max(price) "
            f"FROM read_parquet([{listed}]) GROUP BY symbol"
        )
        ours, theirs, ratios, arch_times = [], [], [], []
        pq_base, arch_ratios, rows_times = [], [], []
        fig_con = duckdb.connect(config={"preserve_insertion_order": False})
        for i in range(rounds):
            progress(f"stats vs DuckDB, round {i + 1}/{rounds}")
            b = _timed(lambda: con.execute(baseline_sql).fetchall())
            s = _timed(lambda: summarise(Recording([day])))
            theirs.append(b)
            ours.append(s)
            ratios.append(s / b)
            pb = _timed(lambda: con.execute(parquet_sql).fetchall())
            a = _timed(lambda: summarise(Recording([archive])))
            pq_base.append(pb)
            arch_times.append(a)
            arch_ratios.append(a / pb)
            # the same figures from the rows (what a selection by time of day reads)
            rows_times.append(
                _timed(lambda: figures(fig_con, archive, "parquet", None, parts, None, [])) / pb
            )
        fig_con.close()
        frame = _frame_figures(archive, con, rounds, progress)
        con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result: dict[str, Any] = {
        "trades": trades,
        "jsonl_mb": round(size / 1e6, 1),
        "rounds": rounds,
        "stats_jsonl_s": _spread(ours),
        "duckdb_read_json_group_by_s": _spread(theirs),
        "stats_vs_duckdb": _spread(ratios),
        "stats_archive_s": _spread(arch_times),
        "duckdb_read_parquet_group_by_s": _spread(pq_base),
        "stats_archive_vs_duckdb": _spread(arch_ratios),
        "stats_archive_rows_vs_duckdb": _spread(rows_times),
        "compact_s": round(comp["seconds"], 3),
        "compact_rss_mb": round(comp["rss_mb"], 1),
        "compact_round_trip_exact": exact,
        **frame,
    }
    result["targets"] = {
        "stats JSONL / DuckDB read_json+GROUP BY": {
            "target": "<= 1.5",
            "measured": result["stats_vs_duckdb"]["median"],
            "ok": result["stats_vs_duckdb"]["median"] <= 1.5,
        },
        "stats archive / DuckDB read_parquet+GROUP BY": {
            "target": "<= 1.2",
            "measured": result["stats_archive_vs_duckdb"]["median"],
            "ok": result["stats_archive_vs_duckdb"]["median"] <= 1.2,
        },
        "stats on the archive's day (s)": {
            "target": "< 0.5",
            "measured": result["stats_archive_s"]["median"],
            "ok": result["stats_archive_s"]["median"] < 0.5,
        },
        "read_frame busiest symbol, 20 days (s)": {
            "target": "< 1",
            "measured": result["read_frame_20_days_s"]["median"],
            "ok": result["read_frame_20_days_s"]["median"] < 1.0,
        },
        "compact a 2M-trade day (s)": {
            "target": "< 10",
            "measured": result["compact_s"],
            "ok": result["compact_s"] < 10,
        },
        "compact peak RSS (MB)": {
            "target": "< 500",
            "measured": result["compact_rss_mb"],
            "ok": result["compact_rss_mb"] < 500,
        },
        "compact round trip exact": {
            "target": "yes",
            "measured": exact,
            "ok": bool(exact),
        },
    }
    return result


def _arrow_of(rel: Any) -> Any:
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


def parquet_day_ms(date: str) -> int:
    from hkticks.bench.data import day_start_ms

    return day_start_ms(date)


def _twenty_days(archive: str) -> tuple[str, str]:
    """Make the archive's one day 20 (the others shifted by whole days); returns
    ``(the busiest symbol, the median symbol)``."""
    from hkticks.storage import parquet

    files = [f for _, parts in parquet.day_files(archive) for f in parts]
    table = parquet.read_table(files)
    pa, pc, _ = parquet.pyarrow_modules()
    order = pa.array(range(table.num_rows), type=pa.int64())
    date0 = parquet.day_files(archive)[0][0]
    for k in range(1, 20):
        shifted = table
        for i, name in ((1, "ts"), (7, "recv_ts")):
            col = pc.add(table.column(name).cast(pa.int64()), k * DAY_MS)
            shifted = shifted.set_column(i, name, col.cast(table.schema.field(name).type))
        date = parquet.hk_date(parquet_day_ms(date0) + k * DAY_MS)
        parquet._write_part(os.path.join(archive, f"date={date}"), shifted, order)
    counts = sorted(pc.value_counts(table.column("symbol")).to_pylist(), key=lambda c: -c["counts"])
    return counts[0]["values"], counts[len(counts) // 2]["values"]


def _frame_figures(archive: str, con: Any, rounds: int, progress: Progress) -> dict[str, Any]:
    """``read_frame`` of the busiest and of the median symbol over 20 days, and DuckDB's
    own query of the busiest to Arrow, alternated round by round."""
    from hkticks.api import read_frame
    from hkticks.storage import parquet

    progress("20 days of archive")
    symbol, typical = _twenty_days(archive)
    import pandas  # noqa: F401  (imported once by any user: not read_frame's cost)

    frame_times, typical_times, rows, typical_rows = [], [], 0, 0
    frame_ratios: list[float] = []
    # CPU seconds of the process (DuckDB's threads included): what a loaded machine moves least
    frame_cpu: list[float] = []
    own_cpu: list[float] = []
    all_parts = [f for _, p in parquet.day_files(archive) for f in p]
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in all_parts)
    # DuckDB's own: the symbol's rows of the 20 days' parts, as Arrow
    own_sql = f"SELECT * FROM read_parquet([{listed}]) WHERE symbol = '{symbol}'"
    for i in range(rounds):
        progress(f"read_frame of {symbol} over 20 days, round {i + 1}/{rounds}")
        c = time.process_time()
        own = _timed(lambda: _arrow_of(con.sql(own_sql)))
        own_cpu.append(time.process_time() - c)
        c, t = time.process_time(), time.perf_counter()
        df = read_frame(archive, symbols=[symbol])
        frame_times.append(time.perf_counter() - t)
        frame_cpu.append(time.process_time() - c)
        frame_ratios.append(frame_times[-1] / own)
        rows = len(df)
        del df
        t = time.perf_counter()
        typical_rows = len(read_frame(archive, symbols=[typical]))
        typical_times.append(time.perf_counter() - t)
    return {
        "read_frame_symbol": symbol,
        "read_frame_rows": rows,
        "read_frame_20_days_s": _spread(frame_times),
        "read_frame_vs_duckdb_arrow": _spread(frame_ratios),
        "read_frame_20_days_cpu_s": _spread(frame_cpu),
        "duckdb_arrow_20_days_cpu_s": _spread(own_cpu),
        "read_frame_typical_symbol": typical,
        "read_frame_typical_rows": typical_rows,
        "read_frame_typical_20_days_s": _spread(typical_times),
        "load_average": os.getloadavg()[0],
    }


def run_frame_bench(
    trades: int = 2_000_000, rounds: int = 3, progress: Progress = lambda _: None
) -> dict[str, Any]:
    """Only the ``read_frame`` figures (a day compacted in this process, made 20):
    ``python -m hkticks.bench.stats_bench --frame [--rounds N] [--trades N]``."""
    import duckdb

    from hkticks.bench.data import write_day
    from hkticks.storage import parquet

    tmp = tempfile.mkdtemp(prefix="hkticks-bench-frame-")
    try:
        day = os.path.join(tmp, "day.jsonl")
        archive = os.path.join(tmp, "archive")
        progress(f"writing a {trades:,}-trade JSONL day")
        write_day(day, trades)
        progress("compact")
        parquet.compact([day], archive)
        os.unlink(day)
        con = duckdb.connect()
        try:
            result = {"trades": trades, "rounds": rounds}
            result.update(_frame_figures(archive, con, rounds, progress))
        finally:
            con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _main(argv: list[str]) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m hkticks.bench.stats_bench")
    ap.add_argument("--frame", action="store_true", help="only the read_frame figures")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trades", type=int, default=2_000_000)
    args = ap.parse_args(argv)
    run = run_frame_bench if args.frame else run_stats_bench
    result = run(args.trades, rounds=args.rounds, progress=lambda m: print(m, file=sys.stderr))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    _main(sys.argv[1:])
