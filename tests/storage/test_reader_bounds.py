"""Readers on hostile input (issue 25 "Bounds"): bounded memory, one line, the rest kept.

Files are a few MB (what a 1 GiB file would do is the same per MiB); memory is
measured with tracemalloc as a bound well below the file's size, never a time.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path

import orjson
import pytest

from hkticks.storage.readers import MAX_LINE_BYTES, Recording, TickFile
from hkticks.storage.sidecars import read_events
from hkticks.tick import RECORD_FIELDS

pa = pytest.importorskip("pyarrow")
pytest.importorskip("duckdb")

import hkticks  # noqa: E402
from hkticks.bench.data import day_start_ms, write_day  # noqa: E402
from hkticks.storage import parquet  # noqa: E402

T0 = day_start_ms("2026-11-30") + 34_200_000  # 09:30 HKT
MB = 1 << 20


def hk(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI in a child whose address space is capped (a runaway read fails fast)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    return subprocess.run(
        [sys.executable, "-m", "hkticks", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env=env,
        preexec_fn=cap,
    )


def one_line_error(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip(), "nothing said"


def trade(i: int, **over: object) -> bytes:
    rec = {
        "symbol": "00700",
        "ts": T0 + i,
        "price": 400.0,
        "volume": 100,
        "turnover": 40000.0,
        "side": "buy",
        "seq": i + 1,
        "recv_ts": T0 + i + 5,
        "src": "alltick-sim",
    }
    rec.update(over)
    return orjson.dumps(rec) + b"\n"


def peak_bytes(fn: object) -> int:
    tracemalloc.start()
    try:
        fn()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- NUL bytes, long lines ------------------------------------------------------------------


def test_a_hole_of_nul_bytes_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    hole = 24 * MB
    with path.open("wb") as fh:
        fh.write(b"".join(trade(i) for i in range(100)))
        fh.write(b"\0" * hole)  # what a power cut leaves: no newline for 24 MiB
        fh.write(b"\n" + b"".join(trade(i) for i in range(100, 150)))
    f = TickFile(str(path))
    got: list[object] = []
    peak = peak_bytes(lambda: got.extend(f))
    assert len(got) == 150 and f.report.bad == 1
    assert peak < 6 * MB, f"peak {peak / MB:.1f} MiB reading a {hole // MB} MiB hole"


def test_a_file_of_nul_bytes_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    path = tmp_path / "zeros.jsonl"
    path.write_bytes(b"\0" * (16 * MB))
    for args in (("stats", str(path)), ("stats", str(path), "--engine", "python")):
        r = hk(tmp_path, *args)
        assert r.returncode != 0
        one_line_error(r)
        assert "zeros.jsonl: no trade could be read" in r.stderr, r.stderr
        assert "longer than 1 MiB" in r.stderr  # says why
    r = hk(tmp_path, "replay", str(path), "--json", "--speed", "max")
    assert r.returncode != 0 and r.stdout == ""
    one_line_error(r)


def test_a_nul_hole_in_front_of_a_line_keeps_the_line(tmp_path: Path) -> None:
    path = tmp_path / "hole.jsonl"
    path.write_bytes(trade(0) + b"\0" * 4096 + trade(1) + trade(2))
    f = TickFile(str(path))
    assert [t.seq for t in f] == [1, 2, 3] and f.report.bad == 1


@pytest.mark.parametrize("fmt", ["jsonl", "gz", "csv", "events"])
def test_every_reader_caps_its_lines(tmp_path: Path, fmt: str) -> None:
    long = b"x" * (12 * MAX_LINE_BYTES)
    if fmt == "csv":
        header = ",".join(RECORD_FIELDS).encode() + b"\n"
        rows = [
            f"00700,{T0 + i},400.0,100,40000.0,buy,{i + 1},{T0 + i},alltick-sim\n".encode()
            for i in range(4)
        ]
        body = header + rows[0] + rows[1] + long + b"\n" + rows[2] + rows[3]
        path = tmp_path / "t.csv"
    elif fmt == "events":
        ev = [orjson.dumps({"ts": T0 + i, "event": "connected"}) + b"\n" for i in range(4)]
        path = tmp_path / "t.jsonl.events.jsonl"
        path.write_bytes(ev[0] + ev[1] + long + b"\n" + ev[2] + ev[3])
        peak = peak_bytes(lambda: list(read_events(str(path))))
        assert len(list(read_events(str(path)))) == 4
        assert peak < 8 * MAX_LINE_BYTES
        return
    else:
        body = trade(0) + trade(1) + long + b"\n" + trade(2) + trade(3)
        path = tmp_path / "t.jsonl"
    if fmt == "gz":
        path = tmp_path / "t.jsonl.gz"
        body = gzip.compress(body)
    path.write_bytes(body)
    f = TickFile(str(path))
    got: list[object] = []
    peak = peak_bytes(lambda: got.extend(f))
    assert len(got) == 4
    assert f.report.bad == 1 and "longer than" in f.report.examples[0]
    assert peak < 8 * MAX_LINE_BYTES, f"the long line was held ({peak / MB:.1f} MiB)"


# -- binary files, NaN, out-of-range times ---------------------------------------------------


def test_a_binary_csv_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    noise = os.urandom(2 * MB)
    (tmp_path / "bin.csv").write_bytes(noise)
    (tmp_path / "binh.csv").write_bytes(",".join(RECORD_FIELDS).encode() + b"\n" + noise)
    for name in ("bin.csv", "binh.csv"):
        for args in (
            ("stats", name),
            ("stats", name, "--engine", "python"),
            ("replay", name, "--json", "--speed", "max"),
        ):
            r = hk(tmp_path, *args)
            assert r.returncode != 0, (args, r.stdout[-300:])
            one_line_error(r)
        one_line_error(hk(tmp_path, "validate", name))  # its exit status: validate's rules


def test_nan_prices_are_refused_by_both_engines(tmp_path: Path) -> None:
    path = tmp_path / "nan.csv"
    lines = [",".join(RECORD_FIELDS)]
    for i, price in enumerate(["nan", "400.0", "inf", "401.0", "-inf"]):
        lines.append(f"00700,{T0 + i},{price},100,40000.0,buy,{i + 1},{T0 + i},alltick-sim")
    path.write_text("\n".join(lines) + "\n")
    docs = []
    for engine in ("python", "duckdb"):
        r = hk(tmp_path, "stats", str(path), "--json", "--engine", engine)
        assert r.returncode == 0, r.stderr
        docs.append(json.loads(r.stdout))
    for doc in docs:
        assert doc["trades"] == 2 and doc["files"][0]["invalid"] == 3
        assert doc["per_symbol"][0]["high"] == 401.0
    r = hk(tmp_path, "validate", str(path))
    assert "Traceback" not in r.stderr


def test_a_time_in_year_10000_is_refused_not_archived_out_of_sight(tmp_path: Path) -> None:
    src = tmp_path / "y.jsonl"
    far = 253_402_300_800_000  # 10000-01-01
    src.write_bytes(trade(0) + trade(1) + trade(2, ts=far, recv_ts=far))
    report = parquet.compact([str(src)], str(tmp_path / "arch"))
    assert report.added == 2
    assert any("out of range" in p for p in report.problems)
    assert sorted(p.name for p in (tmp_path / "arch").iterdir() if p.name.startswith("date=")) == [
        "date=2026-11-30"
    ]


def test_the_symbols_file_is_bounded(tmp_path: Path) -> None:
    r = hk(
        tmp_path,
        "record",
        "--demo",
        "--symbols-file",
        "/dev/zero",
        "--duration",
        "1",
        "--out",
        "x.jsonl",
    )
    assert r.returncode == 2
    one_line_error(r)
    assert "larger than" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# -- the archive: damaged parts ------------------------------------------------------------


@pytest.fixture
def two_parts(tmp_path: Path) -> tuple[Path, list[Path]]:
    """An archive day of two parts (3,000 trades each)."""
    for seed in (1, 2):
        src = tmp_path / f"s{seed}.jsonl"
        write_day(str(src), 3000, symbols=10, seed=seed)
        if seed == 2:  # other seq numbers: new trades, not duplicates
            recs = [orjson.loads(x) for x in src.read_bytes().splitlines()]
            src.write_bytes(
                b"".join(orjson.dumps({**r, "seq": r["seq"] + 10**6}) + b"\n" for r in recs)
            )
        parquet.compact([str(src)], str(tmp_path / "arch"))
    parts = sorted((tmp_path / "arch").glob("date=*/*.parquet"))
    assert len(parts) == 2
    return tmp_path / "arch", parts


def _damage(part: Path, how: str) -> None:
    data = bytearray(part.read_bytes())
    if how == "footer":
        data[-12:] = b"x" * 12
        part.write_bytes(bytes(data))
    elif how == "inside":
        n = len(data)
        data[200 : n - 2000] = os.urandom(n - 2200)
        part.write_bytes(bytes(data))
    else:  # a folder where the part was
        part.unlink()
        part.mkdir()


@pytest.mark.parametrize("how", ["footer", "inside", "folder"])
def test_a_damaged_part_costs_its_own_trades_only(
    tmp_path: Path, two_parts: tuple[Path, list[Path]], how: str
) -> None:
    arch, parts = two_parts
    _damage(parts[0], how)
    for engine in ("duckdb", "python"):
        r = hk(tmp_path, "stats", str(arch), "--json", "--engine", engine)
        assert r.returncode != 0, r.stderr
        one_line_error(r)
        assert parts[0].name in r.stderr
        assert json.loads(r.stdout)["trades"] == 3000
    reader = hkticks.read(str(arch))
    assert len(list(reader)) == 3000
    assert any(parts[0].name in p for p in reader.problems)
    with pytest.warns(UserWarning, match=parts[0].name):
        assert len(hkticks.read_frame(str(arch))) == 3000
    r = hk(tmp_path, "replay", str(arch), "--json", "--speed", "max")
    assert r.returncode != 0 and len(r.stdout.splitlines()) == 3000
    one_line_error(r)


# -- provenance ------------------------------------------------------------------------------


@pytest.mark.parametrize("src", ["alltick-sim", "alltick"])
def test_provenance_survives_compact(tmp_path: Path, src: str) -> None:
    day = tmp_path / "d.jsonl"
    day.write_bytes(b"".join(trade(i, src=src) for i in range(50)))
    parquet.compact([str(day)], str(tmp_path / "arch"))
    want = "simulated" if src.endswith("-sim") else "real"
    part = next((tmp_path / "arch").glob("date=*/*.parquet"))
    meta = pa.parquet.read_metadata(part).metadata
    assert json.loads(meta[parquet.SRC_KEY]) == [src]
    for path in (day, tmp_path / "arch"):
        r = hk(tmp_path, "stats", str(path), "--json")
        assert json.loads(r.stdout)["data"] == want, path
        assert hkticks.read(str(path)).data == want
        assert hkticks.read_frame(str(path)).attrs["data"] == want
    label = "DEMO: simulated trades" in hk(tmp_path, "stats", "arch").stdout
    assert label == (want == "simulated")
    assert Recording([str(tmp_path / "arch")]).files[0].report.format == "parquet"
