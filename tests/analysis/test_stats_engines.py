"""``stats`` on DuckDB and in pure Python give the same figures, in every format."""

from __future__ import annotations

import gzip
import math
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

from hkticks.analysis.stats import summarise, to_json  # noqa: E402
from hkticks.bench.data import day_start_ms, write_day  # noqa: E402
from hkticks.storage import parquet  # noqa: E402
from hkticks.storage.readers import Recording, make_selection  # noqa: E402
from hkticks.tick import RECORD_FIELDS  # noqa: E402

T0 = day_start_ms("2026-11-30")


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("eng")
    jsonl = tmp / "d.jsonl"
    write_day(str(jsonl), 6000, symbols=30, seed=4)
    ticks = list(Recording([str(jsonl)]))
    out = {"jsonl": jsonl}
    csv = tmp / "d.csv"
    with csv.open("w") as fh:
        fh.write(",".join(RECORD_FIELDS) + "\n")
        for t in ticks:
            fh.write(",".join("" if v is None else str(v) for v in t.row()) + "\n")
    out["csv"] = csv
    db = tmp / "d.db"
    con = sqlite3.connect(db)
    con.execute(f"CREATE TABLE ticks ({', '.join(RECORD_FIELDS)})")
    con.executemany(f"INSERT INTO ticks VALUES ({', '.join('?' * 9)})", [t.row() for t in ticks])
    con.commit()
    con.close()
    out["sqlite"] = db
    gz = tmp / "d.jsonl.gz"
    gz.write_bytes(gzip.compress(jsonl.read_bytes()))
    out["gzip"] = gz
    parquet.compact([str(jsonl)], str(tmp / "archive"))
    out["archive"] = tmp / "archive"
    # a damaged copy: an invalid line, a bad side, a torn last line
    bad = tmp / "bad.jsonl"
    lines = jsonl.read_bytes().splitlines(keepends=True)
    lines.insert(10, b"not json\n")
    lines.insert(
        20,
        lines[20]
        .replace(b'"side":"buy"', b'"side":"up"')
        .replace(b'"side":"sell"', b'"side":"up"')
        .replace(b'"side":null', b'"side":"up"'),
    )
    bad.write_bytes(b"".join(lines) + b'{"symbol":"00001","ts":1')
    out["damaged"] = bad
    events = tmp / "d.jsonl.events.jsonl"
    events.write_text(
        f'{{"ts":{T0 + 36_000_000},"event":"feed_start"}}\n'
        f'{{"ts":{T0 + 40_000_000},"event":"disconnected","shard":0,"reason":"reset"}}\n'
        f'{{"ts":{T0 + 40_005_000},"event":"subscribed","shard":0}}\n'
    )
    shutil.copy(events, tmp / "d.csv.events.jsonl")
    return out


@pytest.mark.parametrize("kind", ["jsonl", "csv", "sqlite", "gzip", "archive", "damaged"])
@pytest.mark.parametrize("select", [False, True])
def test_duckdb_and_python_agree(files: dict[str, Path], kind: str, select: bool) -> None:
    syms = sorted({t.symbol for t in Recording([str(files["jsonl"])])})[:3]
    sel = make_selection(syms, "10:00", "15:00") if select else None
    fast = to_json(summarise(Recording([str(files[kind])], sel), engine="duckdb"))
    slow = to_json(summarise(Recording([str(files[kind])], sel), engine="python"))
    assert fast["trades"] > 0
    assert same(fast, slow), (fast, slow)


def test_several_files_of_mixed_formats(files: dict[str, Path]) -> None:
    paths = [str(files["csv"]), str(files["damaged"])]
    fast = to_json(summarise(Recording(paths), engine="duckdb"))
    slow = to_json(summarise(Recording(paths), engine="python"))
    assert same(fast, slow)
    assert fast["files"][1]["invalid"] == 2 and fast["files"][1]["torn"] == 1
    kinds = {g["kind"] for g in fast["gaps"]}
    assert kinds == {"connection", "not recording"}


@pytest.mark.parametrize("kind", ["jsonl", "csv", "gzip", "archive"])
def test_the_fast_path_reads_clean_files(files: dict[str, Path], kind: str) -> None:
    """Clean files are computed by DuckDB, not by the Python fallback."""
    import duckdb

    from hkticks.analysis import stats_duckdb as columnar

    rec = Recording([str(files[kind])])
    f = rec.files[0]
    if kind == "sqlite":
        figs = columnar.sqlite_figures(f.path, None, [])
    else:
        con = duckdb.connect()
        figs = columnar.figures(
            con,
            f.path,
            f.report.format,
            f.report.compression,
            getattr(f, "files", [f.path]),
            None,
            [],
        )
        con.close()
    assert figs is not None and figs.selected == 6000 and figs.invalid == 0


def test_a_damaged_file_falls_back_to_the_python_reader(files: dict[str, Path]) -> None:
    import duckdb

    from hkticks.analysis import stats_duckdb as columnar

    con = duckdb.connect()
    assert columnar.figures(con, str(files["damaged"]), "jsonl", None, [], None, []) is None
    con.close()
