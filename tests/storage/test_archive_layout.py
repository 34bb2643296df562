"""The archive's part encoding changed (zstd with plain numbers -> lz4, dictionaries,
deltas, split bytes: ``parquet.PART_ENCODING``): archives written before, and days
that mix both kinds of parts, read exactly as the recording they came from, by
every reader (``read``, ``read_frame`` on DuckDB and on Arrow, ``stats``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("duckdb")
pytest.importorskip("pandas")

import hkticks  # noqa: E402
from hkticks.analysis.stats import summarise  # noqa: E402
from hkticks.api import selection_of, to_frame  # noqa: E402
from hkticks.bench.data import write_day  # noqa: E402
from hkticks.storage import parquet  # noqa: E402
from hkticks.storage.query import select_table  # noqa: E402
from hkticks.storage.readers import Recording  # noqa: E402

# how compact wrote parts before PART_ENCODING
OLD_ENCODING: dict[str, Any] = {"compression": "zstd", "use_dictionary": ["symbol", "side", "src"]}


def _rows_of_frame(df: Any) -> list[tuple[Any, ...]]:
    out = []
    for r in df.itertuples(index=False):
        seq = None if r.seq is None or r.seq != r.seq else int(r.seq)  # NA/NaN -> None
        side = None if not isinstance(r.side, str) else r.side
        out.append(
            (
                r.symbol,
                int(r.ts.value // 1_000_000),
                float(r.price),
                int(r.volume),
                float(r.turnover),
                side,
                seq,
                int(r.recv_ts.value // 1_000_000),
                r.src,
            )
        )
    return sorted(out, key=repr)


def _codecs(root: Path) -> set[str]:
    found = set()
    for part in root.glob("date=*/*.parquet"):
        meta = pq.ParquetFile(part).metadata
        for i in range(meta.row_group(0).num_columns):
            found.add(meta.row_group(0).column(i).compression)
    return found


def _figures(path: str) -> dict[str, tuple[Any, ...]]:
    summary = summarise(Recording([path]))
    return {
        sym: (s.trades, s.volume, round(s.turnover, 2), s.high, s.low, s.open, s.close)
        for sym, s in summary.symbols.items()
    }


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("layout")
    first, second = tmp / "first.jsonl", tmp / "second.jsonl"
    write_day(str(first), 3000, date="2026-11-30", symbols=12, seed=3)
    write_day(str(second), 2000, date="2026-11-30", symbols=12, seed=4)  # other seqs
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(parquet, "PART_ENCODING", OLD_ENCODING)
        parquet.compact([str(first)], str(tmp / "old"))
        parquet.compact([str(first)], str(tmp / "mixed"))
    finally:
        mp.undo()
    parquet.compact([str(second)], str(tmp / "mixed"))  # a new part in the old day
    parquet.compact([str(first)], str(tmp / "new"))
    rows = {
        "first": sorted((t.row() for t in Recording([str(first)])), key=repr),
        "both": sorted((t.row() for t in Recording([str(first), str(second)])), key=repr),
    }
    return {"tmp": tmp, "rows": rows, "first": str(first), "second": str(second)}


def test_the_layouts_really_differ(archives: dict[str, Any]) -> None:
    tmp = archives["tmp"]
    assert _codecs(tmp / "old") == {"ZSTD"}
    assert _codecs(tmp / "new") == {"LZ4"}
    assert _codecs(tmp / "mixed") == {"ZSTD", "LZ4"}
    assert len(list((tmp / "mixed").glob("date=*/*.parquet"))) == 2


@pytest.mark.parametrize("name", ["old", "new", "mixed"])
def test_every_reader_gives_the_recordings_rows(archives: dict[str, Any], name: str) -> None:
    tmp = archives["tmp"]
    root = str(tmp / name)
    want = archives["rows"]["both" if name == "mixed" else "first"]
    assert sorted((t.row() for t in hkticks.read(root)), key=repr) == want
    assert _rows_of_frame(hkticks.read_frame(root)) == want
    arrow = select_table([root], selection_of(None, None, None), engine="arrow")
    assert _rows_of_frame(to_frame(arrow.table)) == want
    # one symbol, a time of day: DuckDB and Arrow agree with the streaming reader
    sym = want[len(want) // 2][0]
    some = [t.row() for t in hkticks.read(root, symbols=[sym], start="10:00", end="14:00")]
    assert some and all(r[0] == sym for r in some)
    frame = hkticks.read_frame(root, symbols=[sym], start="10:00", end="14:00")
    assert _rows_of_frame(frame) == sorted(some, key=repr)
    sel = selection_of([sym], "10:00", "14:00")
    arrow = select_table([root], sel, engine="arrow")
    assert _rows_of_frame(to_frame(arrow.table)) == sorted(some, key=repr)
    source = [archives["first"]] if name != "mixed" else [archives["first"], archives["second"]]
    jsonl = summarise(Recording(source))
    figs = {
        sym: (s.trades, s.volume, round(s.turnover, 2), s.high, s.low, s.open, s.close)
        for sym, s in jsonl.symbols.items()
    }
    assert _figures(root) == figs


def test_the_frames_types_are_the_same_on_every_layout(archives: dict[str, Any]) -> None:
    tmp = archives["tmp"]
    frames = [hkticks.read_frame(str(tmp / n)) for n in ("old", "new")]
    frames.append(hkticks.read_frame(archives["first"]))  # the JSONL itself
    dtypes = [dict(f.dtypes.astype(str)) for f in frames]
    assert dtypes[0] == dtypes[1] == dtypes[2]
    assert dtypes[0]["ts"] == "datetime64[ms, Asia/Hong_Kong]"
