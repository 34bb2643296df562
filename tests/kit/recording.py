"""Recording under faults: start ``hkticks record`` against the embedded server, check what it wrote.

Shared by the fault tests (tests/test_faults*.py), the NATS and the PostgreSQL tests.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from hkticks.alltick import protocol as alltick
from hkticks.feed.queue import TickQueue
from hkticks.feed.session import SessionConfig
from hkticks.feed.shards import Feed
from hkticks.server import MarketServer
from hkticks.storage.recorder import Recorder
from hkticks.storage.sinks import open_jsonl_sink, open_tick_sink
from kit.hk import start_hk
from kit.waiting import wait_until

SYMBOLS = ["00700", "09988", "00005", "03690", "01810", "00939"]


def record_args(server: MarketServer, out: Path, *extra: str) -> list[str]:
    """``record`` of :data:`SYMBOLS` (all-hk plan) to ``out``."""
    return [*record_from(server, *SYMBOLS), "--plan", "all-hk", "--out", str(out), *extra]


def record_from(server: MarketServer, *symbols: str) -> list[str]:
    """``record SYMBOLS --url <the embedded server> --token t``: the start of a recording's args."""
    return ["record", *symbols, "--url", server.ws_url, "--token", "t"]


def busy_universe(server: MarketServer, home: Path, rate: float, n: int = 300) -> list[str]:
    """The server set to ``rate`` trades a second; its first ``n`` trading codes (returned), also
    written to ``home/symbols.txt`` for :func:`record_universe`."""
    server.set_rate(rate)
    codes = [s.code for s in server.stocks if not s.suspended][:n]
    (home / "symbols.txt").write_text("\n".join(codes) + "\n")
    return codes


def record_universe(server: MarketServer, home: Path, out: Path, *extra: str) -> list[str]:
    """``record`` of the codes :func:`busy_universe` wrote (all-hk plan) to ``out``."""
    return [
        *record_from(server),
        "--symbols-file",
        str(home / "symbols.txt"),
        "--plan",
        "all-hk",
        "--out",
        str(out),
        *extra,
    ]


def start_record(tmp_path: Path, args: Sequence[str], **kw: Any) -> subprocess.Popen[str]:
    """``hkticks ARGS`` (a recording) started in ``tmp_path``, stdout and stderr piped."""
    return start_hk(tmp_path, args, **kw)


def finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """Wait for the recorder to exit on its own; its stderr."""
    _, err = proc.communicate(timeout=timeout)
    return err


def let_trades_flow(server: MarketServer, n: int = 40) -> int:
    """Wait until the server (``record_sent=True``) has sent ``n`` trades more than it had;
    returns its sent log's length then. Use it where a recording must have had trades."""
    start = len(server.sent_trades())
    wait_until(lambda: len(server.sent_trades()) >= start + n, what=f"{n} more trades sent")
    return len(server.sent_trades())


def lines_in(path: Path) -> int:
    """How many whole lines ``path`` holds (0 when it does not exist yet)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def events_named(path: Path, name: str) -> list[dict[str, Any]]:
    """The whole lines of an events sidecar whose ``event`` is ``name`` (none yet: [])."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    rows = [orjson.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]
    return [r for r in rows if r.get("event") == name]


def read_jsonl(path: Path, *, torn_tail: bool = False) -> list[dict[str, Any]]:
    """Every line of ``path``; fails on a torn or invalid line. ``torn_tail``: the last
    line may be torn (a writer killed with -9 mid-write; its next run repairs it) and is
    left out; every whole line must still be valid."""
    data = path.read_bytes()
    if torn_tail:
        data = data[: data.rfind(b"\n") + 1]
    assert data == b"" or data.endswith(b"\n"), "the file ends with a torn line"
    return [orjson.loads(line) for line in data.splitlines()]


def keys_of(rows: Sequence[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(r["symbol"], r["seq"]) for r in rows]


def summary_count(stderr: str) -> int:
    """The N of the recorder's 'recorded N ticks' summary."""
    marker = "recorded "
    i = stderr.rindex(marker) + len(marker)
    return int(stderr[i : stderr.index(" ", i)].replace(",", ""))


def check_recording(
    keys: Sequence[tuple[str, int]],
    sent: Sequence[tuple[int, str, int]],
    symbols: Sequence[str] = SYMBOLS,
    *,
    allowed_missing: Callable[[tuple[str, int]], bool] = lambda key: False,
) -> set[tuple[str, int]]:
    """What must hold for every recording; returns the trades sent but not recorded.

    No trade twice; only trades the server sent, of the symbols asked for;
    each symbol's trades in sequence order; and nothing missing before a
    symbol's last recorded trade unless ``allowed_missing`` says the gap is
    explained. Trades sent after a symbol's last recorded one were in flight
    when the recording stopped.
    """
    assert len(keys) == len(set(keys)), "a trade was recorded twice"
    sent_keys = {(sym, seq) for _, sym, seq in sent}
    assert set(keys) <= sent_keys, "a recorded trade was never sent"
    assert {sym for sym, _ in keys} <= set(symbols)
    last: dict[str, int] = {}
    for sym, seq in keys:
        assert seq > last.get(sym, -1), f"{sym}: seq {seq} after {last.get(sym)}"
        last[sym] = seq
    missing = sent_keys - set(keys)
    unexplained = sorted(
        k for k in missing if k[0] in last and k[1] < last[k[0]] and not allowed_missing(k)
    )
    assert not unexplained, f"lost although later trades were recorded: {unexplained[:10]}"
    return missing


def subscribed(server: MarketServer, n: int = 1) -> bool:
    """At least ``n`` connections so far, the latest open and subscribed."""
    conns = server.connections()
    return len(conns) >= n and conns[-1].closed_at is None and bool(conns[-1].trade_symbols)


def run_feed(
    server: MarketServer,
    tmp_path: Path,
    *,
    sink_wrapper: Callable[[Any], Any] = lambda s: s,
    queue_size: int = 100_000,
    config: SessionConfig | None = None,
    symbols: Sequence[str] = SYMBOLS,
    output_rows: int = 100_000,
) -> tuple[Feed, Recorder, Path, Path]:
    """A Feed and a Recorder writing JSONL and an events sidecar, in this process."""
    out, events = tmp_path / "t.jsonl", tmp_path / "t.events.jsonl"
    queue = TickQueue(queue_size)
    feed = Feed(
        list(symbols),
        url=server.ws_url,
        token="t",
        plan=alltick.PLANS["all-hk"],
        queue=queue,
        config=config or SessionConfig(heartbeat_interval=1.0, backoff_initial=0.1),
        connection_spacing=0.2,
        request_spacing=0.2,
    )
    recorder = Recorder(
        queue,
        [sink_wrapper(open_tick_sink(str(out)))],
        event_sink=open_jsonl_sink(str(events), what="events"),
        flush_interval=0.2,
        output_rows=output_rows,
    )
    recorder.start()
    feed.start()
    return feed, recorder, out, events


def limited_fsize(limit_bytes: int, argv: Sequence[str]) -> list[str]:
    """argv run under a file size limit (RLIMIT_FSIZE), set in the child itself."""
    code = (
        "import resource, runpy, sys; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes})); "
        f"sys.argv = ['hkticks', *{list(argv)!r}]; "
        "runpy.run_module('hkticks', run_name='__main__')"
    )
    return [sys.executable, "-c", code]
