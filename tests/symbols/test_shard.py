"""``--shard i/n``: a deterministic split of the symbols over n recorders."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kit.hk import run_hk

from hkticks.errors import UsageError
from hkticks.symbols.shard import Shard, parse_shard, shard_of

codes = st.lists(st.integers(1, 99999).map(lambda n: f"{n:05d}"), unique=True, max_size=300)


@given(codes, st.integers(1, 12))
def test_the_shards_cover_every_symbol_exactly_once(symbols: list[str], n: int) -> None:
    parts = [Shard(i, n).select(symbols) for i in range(1, n + 1)]
    assert sorted(c for part in parts for c in part) == sorted(symbols)
    for part in parts:  # each keeps the given order
        assert part == [c for c in symbols if c in set(part)]


@given(codes, codes, st.integers(1, 8))
def test_a_symbol_shard_depends_on_its_code_only(a: list[str], b: list[str], n: int) -> None:
    # a universe that gains or loses stocks moves no other stock between recorders
    for code in set(a) & set(b):
        assert Shard(shard_of(code, n), n).owns(code)
        assert (code in Shard(1, n).select(a)) == (code in Shard(1, n).select(b))


def test_known_split_is_stable_across_versions() -> None:
    # the rule is CRC-32 of the five-digit code, so recorders on other machines (and
    # other hkticks versions) agree; these values are fixed by that rule
    import zlib

    for code in ("00700", "09988", "00005", "03690"):
        assert shard_of(code, 4) == zlib.crc32(code.encode()) % 4 + 1
    assert [shard_of(c, 3) for c in ("00700", "09988", "00005")] == [
        zlib.crc32(b"00700") % 3 + 1,
        zlib.crc32(b"09988") % 3 + 1,
        zlib.crc32(b"00005") % 3 + 1,
    ]


def test_the_split_is_balanced_on_the_universe() -> None:
    symbols = [f"{n:05d}" for n in range(1, 3000)]
    sizes = [len(Shard(i, 4).select(symbols)) for i in range(1, 5)]
    assert max(sizes) - min(sizes) < 0.1 * len(symbols) / 4


@pytest.mark.parametrize("bad", ["0/3", "4/3", "1/0", "a/b", "2", "1/3/4"])
def test_bad_specs_are_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(bad)


def test_symbols_shard_shows_each_shard_list(tmp_path: Path) -> None:
    everything = run_hk(tmp_path, "symbols", "--format", "codes", "--demo")
    assert everything.returncode == 0, everything.stderr
    universe = everything.stdout.split()
    parts = []
    for i in (1, 2, 3):
        r = run_hk(tmp_path, "symbols", "--format", "codes", "--demo", "--shard", f"{i}/3")
        assert r.returncode == 0, r.stderr
        parts.append(r.stdout.split())
    assert sorted(sum(parts, [])) == sorted(universe)
    assert parts[1] == Shard(2, 3).select(universe)
    bad = run_hk(tmp_path, "symbols", "--demo", "--shard", "4/3")
    assert bad.returncode == 2 and "invalid --shard '4/3'" in bad.stderr


def test_record_shard_records_only_its_symbols(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    given = ["00700", "09988", "00005", "03690", "01810", "00939", "02318", "00388"]
    r = run_hk(
        tmp_path,
        "record",
        *given,
        "--demo",
        "--shard",
        "2/2",
        "--out",
        str(out),
        "--duration",
        "2s",
    )
    assert r.returncode == 0, r.stderr
    mine = set(Shard(2, 2).select(given))
    assert f"recording {len(mine)} symbols" in r.stderr
    import orjson

    seen = {orjson.loads(line)["symbol"] for line in out.read_bytes().splitlines()}
    assert seen and seen <= mine
