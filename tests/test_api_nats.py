"""``hkticks.stream(from_="nats://...")``: the Python API reading what a recorder publishes."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from kit.hk import run_hk
from kit.services import NatsServer

import hkticks
from hkticks.errors import UsageError

pytest.importorskip("nats", reason="pip install 'hkticks[nats]'")

SYMBOLS = ["00700", "09988", "00005"]


def record_to_nats(tmp_path: Path, server: Any, url: str) -> list[tuple[str, int]]:
    """``record --out x.jsonl --out nats://...`` for 2 s: the trades of the file."""
    proc = run_hk(
        tmp_path, "record", *SYMBOLS, "--url", server.ws_url, "--token", "t", "--plan", "all-hk",
        "--out", "x.jsonl", "--out", url, "--duration", "2s",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert rows
    return [(r["symbol"], r["seq"]) for r in rows]


def take(ticks: Any, expect: int, quiet_s: float = 0.4) -> list[tuple[str, int]]:
    """Trades until ``expect`` came, then until ``quiet_s`` passes without one more."""
    got: list[tuple[str, int]] = []
    deadline = time.monotonic() + 20
    last = time.monotonic()
    while time.monotonic() < deadline:
        item = ticks._take(0.1)
        if item is not None:
            got.append((item.symbol, item.seq))
            last = time.monotonic()
        elif len(got) >= expect and time.monotonic() - last > quiet_s:
            break
    return got


def test_stream_from_nats_gives_every_recorded_trade(
    tmp_path: Path, nats_server: NatsServer, server: Any
) -> None:
    url = f"{nats_server.url}/hk"
    recorded = record_to_nats(tmp_path, server, url)
    with hkticks.stream(from_=url, since=0) as ticks:
        got = take(ticks, len(recorded))
    assert sorted(got) == sorted(recorded)
    # a subset of symbols; without since: the last trade of each symbol
    with hkticks.stream(["700"], from_=url) as ticks:
        latest = take(ticks, 1)
    assert latest == [max(t for t in recorded if t[0] == "00700")]


def test_a_durable_consumer_resumes_and_astream_reads_too(
    tmp_path: Path, nats_server: NatsServer, server: Any
) -> None:
    url = f"{nats_server.url}/hk"
    first = record_to_nats(tmp_path, server, url)
    with hkticks.stream(from_=url, consumer="research", since="2000-01-01 00:00") as ticks:
        assert sorted(take(ticks, len(first))) == sorted(first)
    (tmp_path / "2").mkdir()
    second = record_to_nats(tmp_path / "2", server, url)
    new = sorted(set(second) - set(first))
    assert new

    async def run() -> list[tuple[str, int]]:
        got: list[tuple[str, int]] = []
        async with hkticks.astream(from_=url, consumer="research") as ticks:
            deadline = time.monotonic() + 20
            async for tick in ticks:
                got.append((tick.symbol, tick.seq))
                if len(got) >= len(new) or time.monotonic() > deadline:
                    break
            # nothing already read comes again
            await asyncio.sleep(0.4)  # under test: a window in which nothing more may arrive
            while (item := ticks._sync._take(0.1)) is not None:
                got.append((item.symbol, item.seq))
        return got

    assert sorted(asyncio.run(run())) == new


def test_a_nats_server_that_is_not_there_is_one_line_error() -> None:
    with hkticks.stream(from_="nats://127.0.0.1:1/hk", since=0) as ticks:
        with pytest.raises(hkticks.HkticksError) as exc:
            take(ticks, 1)
    assert "\n" not in str(exc.value) and "nats://127.0.0.1:1" in str(exc.value)


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"consumer": "x"}, "apply to from_="),
        ({"since": "09:30"}, "apply to from_="),
        ({"from_": "nats://127.0.0.1:4222/hk", "demo": True}, "replaces the feed"),
        ({"from_": "ws://127.0.0.1:1/x"}, "NATS address"),
        ({"from_": "nats://127.0.0.1:4222/hk", "since": "25:00"}, "invalid --since"),
        ({"from_": "nats://127.0.0.1:4222/hk", "since": 1.5}, "not a time"),
    ],
)
def test_bad_arguments_are_refused_up_front(kw: dict[str, Any], says: str) -> None:
    with pytest.raises(UsageError, match=says):
        hkticks.stream(**kw)
