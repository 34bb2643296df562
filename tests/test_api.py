"""The Python API: live streams against the embedded server, recordings in every format."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kit.hk import hk_env
from kit.waiting import wait_until

import hkticks
from hkticks.errors import TokenRejected
from hkticks.server.demo import DemoServer, start_demo
from hkticks.tick import Tick

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
pytest.importorskip("pyarrow")


def hk_threads() -> list[str]:
    names = [t.name for t in threading.enumerate() if t.name.startswith("hkticks")]
    return [n for n in names if not n.startswith("hkticks-server")]  # the fixture's server


def wait_no_threads(timeout: float = 5.0) -> list[str]:
    try:
        wait_until(lambda: not hk_threads(), timeout, "hkticks' threads to end")
    except AssertionError:
        pass  # the caller says which are left
    return hk_threads()


def test_import_is_cheap_and_lazy() -> None:
    code = "import sys, hkticks; print(int('hkticks.api' in sys.modules)); hkticks.stream; print(int('hkticks.api' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "1"]
    with pytest.raises(AttributeError):
        _ = hkticks.no_such_name  # type: ignore[attr-defined]


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with start_demo(rate=400.0, seed=3) as srv:
        yield srv


def test_stream_from_the_embedded_server_closes_its_threads(server: DemoServer) -> None:
    got: list[Tick] = []
    with hkticks.stream(["700", "09988"], token=server.token, url=server.ws_url) as ticks:
        for tick in ticks:
            got.append(tick)
            if len(got) == 20:
                break
        assert hk_threads()  # connected while inside
    assert wait_no_threads() == []
    assert all(type(t) is Tick for t in got)
    assert {t.symbol for t in got} <= {"00700", "09988"}
    assert all(isinstance(t.ts, int) and t.price > 0 and t.volume > 0 for t in got)


def test_break_out_of_a_for_loop_closes_the_stream(server: DemoServer) -> None:
    for _tick in hkticks.stream(["00700"], token=server.token, url=server.ws_url):
        break
    gc.collect()
    assert wait_no_threads() == []


def test_demo_stream_and_async_stream() -> None:
    async def first(n: int) -> list[Tick]:
        out: list[Tick] = []
        async with hkticks.astream(["00700"], demo=True) as ticks:
            async for tick in ticks:
                out.append(tick)
                if len(out) == n:
                    break
        return out

    got = asyncio.run(first(5))
    assert len(got) == 5 and all(t.symbol == "00700" for t in got)
    assert wait_no_threads() == []


def test_a_rejected_token_is_raised(server: DemoServer) -> None:
    with (
        pytest.raises(TokenRejected),
        hkticks.stream(["00700"], token="wrong", url=server.ws_url) as s,
    ):
        next(iter(s))
    assert wait_no_threads() == []


# -- recordings --------------------------------------------------------------------------

FORMATS = ("t.jsonl", "t.csv", "t.db", "t.jsonl.gz")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo recording written to every format at once, and its archive."""
    tmp = tmp_path_factory.mktemp("rec")
    args = [sys.executable, "-m", "hkticks", "record", "00700", "00005", "02800", "--demo"]
    for f in FORMATS:
        args += ["--out", f]
    args += ["--duration", "2s", "-q", "--demo-rate", "400"]
    subprocess.run(args, cwd=tmp, env=hk_env(tmp), check=True, timeout=60)
    compact = [sys.executable, "-m", "hkticks", "compact", "t.jsonl", "--to", "archive", "-q"]
    subprocess.run(compact, cwd=tmp, env=hk_env(tmp), check=True, timeout=60)
    return tmp


def rows_of(ticks: object) -> list[tuple[object, ...]]:
    return sorted((t.row() for t in ticks), key=repr)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", [*FORMATS, "archive"])
def test_read_gives_the_same_trades_in_every_format(recorded: Path, name: str) -> None:
    reference = rows_of(hkticks.read(str(recorded / "t.jsonl")))
    assert len(reference) >= 20
    got = rows_of(hkticks.read(str(recorded / name)))
    assert got == reference
    only = rows_of(hkticks.read([str(recorded / name)], symbols=["5"]))
    assert only == [r for r in reference if r[0] == "00005"]


def test_read_selects_by_time(recorded: Path) -> None:
    ticks = list(hkticks.read(str(recorded / "t.jsonl")))
    mid = sorted(t.ts for t in ticks)[len(ticks) // 2]
    for name in ("t.csv", "archive"):
        late = list(hkticks.read(str(recorded / name), start=mid))
        assert late and all(t.ts >= mid for t in late)
        assert len(late) == sum(1 for t in ticks if t.ts >= mid)
        early = list(hkticks.read(str(recorded / name), end=mid))
        assert len(early) + len(late) == len(ticks)


@pytest.mark.parametrize("name", [*FORMATS, "archive"])
def test_read_frame_dtypes_pandas(recorded: Path, name: str) -> None:
    df = hkticks.read_frame(str(recorded / name))
    assert pd.api.types.is_string_dtype(df["symbol"])
    expected = {t.symbol for t in hkticks.read(str(recorded / "t.jsonl"))}
    assert set(df["symbol"]) == expected and "00700" in expected  # leading zeros kept
    for col in ("ts", "recv_ts"):
        assert isinstance(df[col].dtype, pd.DatetimeTZDtype)
        assert str(df[col].dt.tz) == "Asia/Hong_Kong"
    assert df["price"].dtype == "float64" and df["turnover"].dtype == "float64"
    assert df["volume"].dtype == "int64" and df["seq"].dtype in ("int64", "Int64")
    first = next(iter(hkticks.read(str(recorded / "t.jsonl"), symbols=[df["symbol"].iloc[0]])))
    assert isinstance(first, Tick)
    ms = int(df["ts"].astype("int64").min())
    assert ms == min(t.ts for t in hkticks.read(str(recorded / "t.jsonl")))


@pytest.mark.parametrize("name", ["t.jsonl", "t.db", "archive"])
def test_read_frame_dtypes_polars(recorded: Path, name: str) -> None:
    df = hkticks.read_frame(str(recorded / name), symbols=["00700"], backend="polars")
    assert df.schema["symbol"] == pl.String
    assert df.schema["ts"] == pl.Datetime("ms", "Asia/Hong_Kong")
    assert df.schema["recv_ts"] == pl.Datetime("ms", "Asia/Hong_Kong")
    assert df.schema["price"] == pl.Float64 and df.schema["volume"] == pl.Int64
    assert df.schema["seq"] == pl.Int64
    assert df["symbol"].unique().to_list() == ["00700"]
    assert df.height == sum(1 for _ in hkticks.read(str(recorded / "t.jsonl"), symbols=["700"]))


def test_read_frame_bad_backend(recorded: Path) -> None:
    with pytest.raises(hkticks.HkticksError, match="pandas"):
        hkticks.read_frame(str(recorded / "t.jsonl"), backend="spark")


def test_read_frame_of_the_archive_selects_like_read(recorded: Path) -> None:
    ticks = list(hkticks.read(str(recorded / "t.jsonl")))
    mid = sorted(t.ts for t in ticks)[len(ticks) // 2]
    for kw in ({"start": mid}, {"end": mid}, {"symbols": ["700"], "start": mid}):
        want = rows_of(hkticks.read(str(recorded / "t.jsonl"), **kw))
        df = hkticks.read_frame(str(recorded / "archive"), backend="polars", **kw)
        df = df.with_columns(pl.col("ts").dt.epoch("ms"), pl.col("recv_ts").dt.epoch("ms"))
        got = sorted(df.iter_rows(), key=repr)
        assert got == want, kw
