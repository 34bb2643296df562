"""One selection, one answer: random selections x every format x every reader and engine
equal a reference this test computes from the raw rows with ``datetime`` (not with
the selection's own arithmetic).

Formats: JSONL, CSV, SQLite, JSONL.gz, JSONL.zst and the Parquet archive.
Readers: ``hkticks.read`` (the streaming reader ``replay`` uses), ``read_frame``
(pandas and polars) and ``stats`` (the Python pass and DuckDB).
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
import random
import sqlite3
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("pyarrow")
pytest.importorskip("duckdb")
pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
zstandard = pytest.importorskip("zstandard")

import hkticks  # noqa: E402
from hkticks.analysis.stats import summarise  # noqa: E402
from hkticks.api import selection_of, to_frame  # noqa: E402
from hkticks.storage import parquet  # noqa: E402
from hkticks.storage.query import select_table  # noqa: E402
from hkticks.storage.readers import Recording  # noqa: E402
from hkticks.tick import RECORD_FIELDS  # noqa: E402

HK = dt.timezone(dt.timedelta(hours=8))
DAYS = [dt.date(2026, 11, 30), dt.date(2026, 12, 1), dt.date(2026, 12, 2)]
SYMBOLS = ["00005", "00700", "00941", "01299", "02318", "09988"]
ABSENT = "03690"  # never traded: selections of it are empty
LUNCH = [dt.time(11, 59, 59), dt.time(12, 0), dt.time(12, 30), dt.time(13, 0), dt.time(13, 0, 1)]
FORMATS = ["jsonl", "csv", "sqlite", "gz", "zst", "archive"]
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


def _rows() -> list[tuple[Any, ...]]:
    """Trades over three HK days: mostly in the sessions (with the lunch break empty),
    a few at any time of day (so windows past midnight select something), edges
    exactly on whole seconds and on the lunch bounds."""
    rng = random.Random(21)
    rows = []
    seq = dict.fromkeys(SYMBOLS, 0)
    for day in DAYS:
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=HK)
        offsets = []
        for _ in range(700):
            a, b = rng.choice([(9.5, 12.0), (13.0, 16.0)])
            offsets.append(int(rng.uniform(a, b) * 3_600_000))
        offsets += [int(rng.uniform(0, 24) * 3_600_000) for _ in range(80)]
        offsets += [12 * 3_600_000 - 1, 12 * 3_600_000, 13 * 3_600_000, 13 * 3_600_000 - 1, 0]
        for off in sorted(offsets):
            sym = rng.choice(SYMBOLS)
            seq[sym] += 1
            ts = int(midnight.timestamp() * 1000) + off
            price = round(rng.uniform(10, 500), 2)
            vol = 100 * rng.randint(1, 30)
            side = rng.choice(["buy", "sell", None])
            s: int | None = seq[sym] if rng.random() > 0.02 else None
            rows.append(
                (sym, ts, price, vol, round(price * vol, 2), side, s, ts + 7, "alltick-sim")
            )
    return rows


class Data(dict):  # type: ignore[type-arg]
    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return "<the recordings>"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("diff")
    rows = _rows()
    jsonl = b"".join(orjson.dumps(dict(zip(RECORD_FIELDS, r, strict=True))) + b"\n" for r in rows)
    paths = {
        "jsonl": tmp / "d.jsonl",
        "csv": tmp / "d.csv",
        "sqlite": tmp / "d.db",
        "gz": tmp / "d.jsonl.gz",
        "zst": tmp / "d.jsonl.zst",
        "archive": tmp / "archive",
    }
    paths["jsonl"].write_bytes(jsonl)
    paths["gz"].write_bytes(gzip.compress(jsonl))
    paths["zst"].write_bytes(zstandard.ZstdCompressor().compress(jsonl))
    with paths["csv"].open("w") as fh:
        fh.write(",".join(RECORD_FIELDS) + "\n")
        for r in rows:
            fh.write(",".join("" if v is None else str(v) for v in r) + "\n")
    con = sqlite3.connect(paths["sqlite"])
    con.execute(f"CREATE TABLE ticks ({', '.join(RECORD_FIELDS)})")
    con.executemany(f"INSERT INTO ticks VALUES ({', '.join('?' * 9)})", rows)
    con.commit()
    con.close()
    report = parquet.compact([str(paths["jsonl"])], str(paths["archive"]))
    assert report.added == len(rows) and len(report.days) == len(DAYS)
    return Data(rows=rows, paths={k: str(v) for k, v in paths.items()})


# -- the reference ------------------------------------------------------------------------


def _local(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts / 1000, HK)


def reference(rows: list[tuple[Any, ...]], symbols: Any, start: Any, end: Any) -> list[Any]:
    """The rows a selection keeps, decided with datetime comparisons."""
    out = []
    for r in rows:
        if symbols is not None and r[0] not in symbols:
            continue
        when = _local(r[1])
        if isinstance(start, dt.datetime) and when < start:
            continue
        if isinstance(end, dt.datetime) and when >= end:
            continue
        lo = start if isinstance(start, dt.time) else None
        hi = end if isinstance(end, dt.time) else None
        if lo is not None or hi is not None:
            t = when.time()
            lo_t = lo or dt.time(0)
            if hi is None:
                inside = t >= lo_t
            elif lo_t <= hi:
                inside = lo_t <= t < hi
            else:  # past midnight
                inside = t >= lo_t or t < hi
            if not inside:
                continue
        out.append(r)
    return out


# -- the selections ---------------------------------------------------------------------

SPAN_START = dt.datetime(2026, 11, 29, 12, tzinfo=HK)
SPAN_MS = 4 * 86_400_000

instants = st.integers(0, SPAN_MS).map(lambda ms: SPAN_START + dt.timedelta(milliseconds=ms))
clock = st.one_of(st.sampled_from(LUNCH), st.times().map(lambda t: t.replace(microsecond=0)))
bound = st.one_of(st.none(), instants, clock)
symbol_sets = st.one_of(
    st.none(),
    st.sets(st.sampled_from([*SYMBOLS, ABSENT]), min_size=1, max_size=4).map(sorted),
)
selections = st.tuples(symbol_sets, bound, bound)


def _valid(symbols: Any, start: Any, end: Any) -> bool:
    if isinstance(start, dt.datetime) and isinstance(end, dt.datetime) and end <= start:
        return False
    return not (isinstance(start, dt.time) and isinstance(end, dt.time) and start == end)


def _key(r: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple("" if v is None else v for v in r)


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=_key)


def _frame_rows(df: Any) -> list[tuple[Any, ...]]:
    if isinstance(df, pl.DataFrame):
        recs = df.to_dicts()
        rows = []
        for rec in recs:
            rec["ts"] = int(rec["ts"].timestamp() * 1000)
            rec["recv_ts"] = int(rec["recv_ts"].timestamp() * 1000)
            rows.append(tuple(rec[f] for f in RECORD_FIELDS))
        return rows
    out = []
    for rec in df.to_dict("records"):
        rec = {k: None if not isinstance(v, str) and pd.isna(v) else v for k, v in rec.items()}
        rec["ts"] = rec["ts"].value // 1_000_000
        rec["recv_ts"] = rec["recv_ts"].value // 1_000_000
        rec["seq"] = None if rec["seq"] is None else int(rec["seq"])
        out.append(tuple(rec[f] for f in RECORD_FIELDS))
    return out


@SETTINGS
@given(selections)
def test_read_equals_the_reference(data: dict[str, Any], sel: tuple[Any, Any, Any]) -> None:
    symbols, start, end = sel
    assume(_valid(*sel))
    want = _sorted(reference(data["rows"], symbols, start, end))
    for fmt in FORMATS:
        reader = hkticks.read(data["paths"][fmt], symbols=symbols, start=start, end=end)
        got = _sorted([t.row() for t in reader])
        assert got == want, f"read, {fmt}: {len(got)} rows, the reference {len(want)}"
        assert not reader.problems


@SETTINGS
@given(selections)
def test_read_frame_equals_the_reference(data: dict[str, Any], sel: tuple[Any, Any, Any]) -> None:
    symbols, start, end = sel
    assume(_valid(*sel))
    want = _sorted(reference(data["rows"], symbols, start, end))
    for fmt in FORMATS:
        for backend in ("pandas", "polars"):
            df = hkticks.read_frame(
                data["paths"][fmt], symbols=symbols, start=start, end=end, backend=backend
            )
            got = _sorted(_frame_rows(df))
            assert got == want, f"read_frame {backend}, {fmt}: {len(got)} rows, want {len(want)}"
    # the archive without DuckDB: Arrow with the selection pushed down, then its mask
    selected = select_table(
        [data["paths"]["archive"]], selection_of(symbols, start, end), engine="arrow"
    )
    got = _sorted(_frame_rows(to_frame(selected.table)))
    assert got == want, f"the Arrow path: {len(got)} rows, want {len(want)}"


def _figures(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for sym, ts, price, vol, turnover, side, _seq, _recv, _src in rows:
        f = out.setdefault(
            sym,
            {
                "trades": 0,
                "first": ts,
                "last": ts,
                "volume": 0,
                "turnover": 0.0,
                "high": price,
                "low": price,
                "buy_volume": 0,
                "sell_volume": 0,
            },
        )
        f["trades"] += 1
        key = (ts, -1 if _seq is None else _seq)
        if f["trades"] == 1 or key < f["open_key"]:
            f["open_key"], f["open"] = key, price
        if f["trades"] == 1 or key >= f["close_key"]:
            f["close_key"], f["close"] = key, price
        f["first"], f["last"] = min(f["first"], ts), max(f["last"], ts)
        f["volume"] += vol
        f["turnover"] += turnover
        f["high"], f["low"] = max(f["high"], price), min(f["low"], price)
        if side == "buy":
            f["buy_volume"] += vol
        elif side == "sell":
            f["sell_volume"] += vol
    for f in out.values():
        del f["open_key"], f["close_key"]
    return out


@SETTINGS
@given(selections)
def test_stats_equals_the_reference(data: dict[str, Any], sel: tuple[Any, Any, Any]) -> None:
    symbols, start, end = sel
    assume(_valid(*sel))
    want = _figures(reference(data["rows"], symbols, start, end))
    selection = selection_of(symbols, start, end)
    for fmt in FORMATS:
        for engine in ("python", "duckdb"):
            summary = summarise(Recording([data["paths"][fmt]], selection), engine=engine)
            got = {
                sym: {
                    "trades": s.trades,
                    "first": s.first_ts,
                    "last": s.last_ts,
                    "volume": s.volume,
                    "turnover": s.turnover,
                    "high": s.high,
                    "low": s.low,
                    "open": s.open,
                    "close": s.close,
                    "buy_volume": s.buy_volume,
                    "sell_volume": s.sell_volume,
                }
                for sym, s in summary.symbols.items()
            }
            assert got.keys() == want.keys(), f"stats {engine}, {fmt}: symbols differ"
            for sym, figs in want.items():
                for name, value in figs.items():
                    ok = (
                        math.isclose(got[sym][name], value, rel_tol=1e-9)
                        if isinstance(value, float)
                        else got[sym][name] == value
                    )
                    assert ok, f"stats {engine}, {fmt}, {sym} {name}: {got[sym][name]} != {value}"
            assert summary.trades == sum(f["trades"] for f in want.values())
