"""Gaps and validation on the embedded server, over real loopback sockets.

Socket kills (``server/chaos.py``, time-compressed: about one every 1.5 s)
give one ``gap`` record per outage, every symbol resubscribed within 5 s,
no duplicates, and ``validate --kline`` finds exactly the gap minutes short;
a stall over lunch (calendar with an injected clock) raises no stale alarm;
the ``dirty`` scenario's faults are found by ``validate``.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
import websocket
from click.testing import CliRunner
from kit.waiting import wait_until

from hkticks.alltick import protocol as alltick
from hkticks.alltick.kline import decode_kline, minute_kline_query
from hkticks.alltick.rest_client import RestClient
from hkticks.analysis.gap_records import gap_events
from hkticks.analysis.validate import (
    MINUTE_MS,
    Options,
    Validator,
    on_spread_table,
    reconcile,
)
from hkticks.cli import cli
from hkticks.feed.queue import TickQueue
from hkticks.feed.session import SessionConfig, now_ms
from hkticks.feed.shards import Feed
from hkticks.market_hours import calendar
from hkticks.server import MarketServer
from hkticks.server.chaos import Chaos
from hkticks.server.dirty_scenario import DirtyFeed
from hkticks.storage.recorder import Recorder
from hkticks.storage.sinks import open_jsonl_sink, open_tick_sink
from hkticks.tick import Event, Tick

HKT = timezone(timedelta(hours=8))
BUSY = ["00700", "09988", "03690", "01810", "00005"]
IN_FLIGHT_MS = 100


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def record(server: MarketServer, tmp_path: Path, config: SessionConfig) -> tuple[Feed, Recorder]:
    queue = TickQueue(200_000)
    feed = Feed(
        BUSY,
        url=server.ws_url,
        token="t",
        plan=alltick.PLANS["all-hk"],
        queue=queue,
        config=config,
        connection_spacing=0.2,
        request_spacing=0.2,
    )
    recorder = Recorder(
        queue,
        [open_tick_sink(str(tmp_path / "t.jsonl"))],
        event_sink=open_jsonl_sink(str(tmp_path / "t.jsonl.events.jsonl"), what="events"),
        flush_interval=0.2,
    )
    recorder.start()
    feed.start()
    return feed, recorder


def stop(feed: Feed, recorder: Recorder) -> None:
    feed.stop()
    recorder.stop()


# ---------------------------------------------------------------------- chaos


def run_chaos(tmp_path: Path, seconds: float, full_minute: bool) -> list[dict[str, Any]]:
    """Record under chaos; check the gap records; return the minute reconciliation."""
    with MarketServer(token="t", rate=1500, seed=11, enforce_pacing=False) as server:
        if full_minute:  # start just before a minute boundary: the next minute is whole
            # the chaos must span a whole clock minute: wait for a wall-clock moment, not a state
            time.sleep((58 - time.time() % 60) % 60)  # under test: the start, at hh:mm:58
        cfg = SessionConfig(heartbeat_interval=1.0, backoff_initial=0.2, backoff_cap=0.5)
        feed, recorder = record(server, tmp_path, cfg)
        wait_until(lambda: feed.status().ticks > 50, what="first trades")
        # time compressed: 1800 kills an hour is one every 2 s on average (1-3 s apart)
        chaos = Chaos(server, 1800, seed=5).start()
        time.sleep(seconds)  # under test: this long of chaos
        chaos.stop()
        wait_until(lambda: feed.status().up == 1, what="the connection back")
        kills = [k for k in chaos.history() if k.connections]
        # the last outage closes with the first trade after the resubscribe
        wait_until(
            lambda: sum(s.gaps.gaps for s in feed.sessions) >= len(kills), what="last gap record"
        )
        n = feed.status().ticks
        wait_until(lambda: feed.status().ticks > n + 50, what="trades after the last gap")
        stop(feed, recorder)
        assert len(kills) >= 3
        events = read_jsonl(tmp_path / "t.jsonl.events.jsonl")
        gaps = gap_events(events)
        ticks = [Tick.from_record(r) for r in read_jsonl(tmp_path / "t.jsonl")]

        # one gap record per outage: each kill inside exactly one gap, each gap holds one kill
        assert len(gaps) == len(kills), (gaps, kills)
        for i, (kill, gap) in enumerate(zip(kills, gaps, strict=True)):
            # the gap starts at the last frame read before the reset was noticed: frames
            # the kernel had already delivered are read after the kill, never much later
            assert kill.ts - 1 <= gap["end"] and gap["start"] <= kill.ts + IN_FLIGHT_MS, (kill, gap)
            if i + 1 < len(kills):
                assert gap["end"] < kills[i + 1].ts  # each outage over before the next kill
            assert gap["symbols"] == BUSY
            assert gap["cause"]
            # every symbol resubscribed within 5 s of the outage
            assert gap["resubscribed"] - kill.ts < 5000
        # zero duplicates, no stale alarm
        keys = [(t.symbol, t.seq) for t in ticks]
        assert len(keys) == len(set(keys))
        assert not [e for e in events if e["event"] == "stale"]

        v = Validator(Options(calendar=None))
        for t in ticks:
            v.add(t)
        report = v.finish()
        client = RestClient(server.rest_url, "t", "all-hk")
        bars = {s: client.minute_bars(s) for s in BUSY}
        rows = reconcile(report, bars, gaps)
    resub = sorted(g["resubscribed"] - k.ts for k, g in zip(kills, gaps, strict=True))
    print(
        {
            "kills": len(kills),
            "gaps": len(gaps),
            "trades": len(ticks),
            "duplicates": 0,
            "resubscribed_ms_median": resub[len(resub) // 2],
            "resubscribed_ms_max": resub[-1],
        }
    )
    # never more than the exchange's bar: nothing made up, nothing doubled
    assert all(r["bar_volume"] is not None and r["volume"] <= r["bar_volume"] for r in rows)
    return rows


def test_chaos_one_gap_record_per_outage(tmp_path: Path) -> None:
    rows = run_chaos(tmp_path, 9.0, full_minute=False)
    assert rows


@pytest.mark.slow
def test_chaos_kline_finds_the_gap_minutes_short_and_the_rest_ok(tmp_path: Path) -> None:
    rows = run_chaos(tmp_path, 64.0, full_minute=True)
    checked = [r for r in rows if r["check"] != "partial"]
    assert checked, rows
    short = [r for r in checked if r["check"] == "short"]
    assert short, "kills lost no trades?"
    assert all(r["in_gap"] for r in short)
    assert all(r["check"] == "ok" for r in checked if not r["in_gap"])
    assert all(r["check"] in ("ok", "short") for r in checked)


# ---------------------------------------------------------------------- stale over lunch


def _clock_at(hkt_hour: int, hkt_minute: int) -> Any:
    """A wall clock that reads a Tuesday (1 Dec 2026) at that HK time, running at real speed."""
    base = int(datetime(2026, 12, 1, hkt_hour, hkt_minute, tzinfo=HKT).timestamp() * 1000)
    t0 = now_ms()
    return lambda: base + (now_ms() - t0)


@pytest.mark.parametrize(("hour", "minute", "alarm"), [(12, 20, False), (10, 20, True)])
def test_no_stale_alarm_over_lunch(tmp_path: Path, hour: int, minute: int, alarm: bool) -> None:
    with MarketServer(token="t", rate=500, seed=3, enforce_pacing=False) as server:
        cfg = SessionConfig(
            heartbeat_interval=0.5,
            stale_timeout=0.8,
            calendar=calendar(),
            clock_ms=_clock_at(hour, minute),
            calendar_on_simulated=True,  # our server says it is simulated
        )
        feed, recorder = record(server, tmp_path, cfg)
        wait_until(lambda: feed.status().ticks > 20, what="first trades")
        server.stall(True)  # silence: no pushes, no answers
        time.sleep(2.0)  # under test: 2 s of silence, longer than the 0.8 s stale timeout
        server.stall(False)
        n = feed.status().ticks
        wait_until(lambda: feed.status().ticks > n, what="trades after the silence")
        stop(feed, recorder)
    events = read_jsonl(tmp_path / "t.jsonl.events.jsonl")
    stale = [e for e in events if e["event"] == "stale"]
    assert bool(stale) is alarm, stale
    assert bool(gap_events(events)) is alarm


# ---------------------------------------------------------------------- the dirty scenario


def capture_raw(server: MarketServer, seconds: float) -> list[Tick]:
    """Every trade pushed, decoded but not de-duplicated: the stream as sent.

    After ``seconds`` the market stops pushing and the socket is read until it
    has been quiet for a second, so every fault the server logged was received.
    """
    ws = websocket.create_connection(server.ws_url + "?token=t", timeout=1)
    builder = alltick.RequestBuilder()
    ws.send(builder.subscribe_trades(list(server.market.active)).text)
    ticks: list[Tick] = []
    end = time.monotonic() + seconds
    draining = False
    beat = time.monotonic()
    try:
        while True:
            if time.monotonic() - beat > 5.0:  # the server closes after 30 s without one
                ws.send(builder.heartbeat().text)
                beat = time.monotonic()
            if not draining and time.monotonic() >= end:
                server.set_rate(0)
                draining = True
            try:
                item = alltick.decode(ws.recv(), now_ms())
            except websocket.WebSocketTimeoutException:
                if draining:
                    break
                continue
            if type(item) is Tick:
                ticks.append(item)
    finally:
        ws.close()
    return ticks


def run_dirty(tmp_path: Path, seconds: float) -> dict[str, Any]:
    """Capture the dirty scenario raw, validate it, check it against the truth log."""
    server = MarketServer(token="t", rate=3000, seed=7)
    dirty = DirtyFeed(server.market, seed=7, truth_path=str(tmp_path / "truth.jsonl")).install()
    with server:
        ticks = capture_raw(server, seconds)
    dirty.close()
    assert len(ticks) > 1500 * seconds
    first = min(t.recv_ts for t in ticks)
    seen = {(t.symbol, t.seq) for t in ticks}
    truth: dict[str, set[tuple[str, int]]] = {}
    for rec in read_jsonl(tmp_path / "truth.jsonl"):
        # faults of trades made while this client was subscribed (a duplicate of a
        # trade made before it subscribed is no duplicate in its stream)
        if rec["ts"] >= first and rec["sent"] >= first and (rec["symbol"], rec["seq"]) in seen:
            truth.setdefault(rec["fault"], set()).add((rec["symbol"], rec["seq"]))
    # a spike needs at least six other prints of its symbol to be told from a move
    prints = Counter(t.symbol for t in {(t.symbol, t.seq): t for t in ticks}.values())
    truth["spike"] = {k for k in truth["spike"] if prints[k[0]] >= 7}
    v = Validator(Options(calendar=None))
    for t in ticks:
        v.add(t)
    report = v.finish()
    found = {
        "duplicate": report.flagged("duplicate"),
        "out_of_order": report.flagged("seq_backwards"),
        "spike": report.flagged("spike"),
    }
    assert set(truth) == set(found)
    figures: dict[str, Any] = {"trades": len(ticks)}
    false_flags = 0
    for fault, keys in truth.items():
        assert len(keys) >= 10, (fault, len(keys))
        missed = keys - found[fault]
        context = {k: [t.price for t in ticks if t.symbol == k[0]][:60] for k in sorted(missed)[:3]}
        assert len(keys & found[fault]) >= 0.99 * len(keys), (fault, missed, context)
        false_flags += len(found[fault] - keys)
        figures[fault] = f"{len(keys & found[fault])}/{len(keys)}"
    assert false_flags <= 0.001 * len(ticks)
    assert report.counts["off_table"] == 0
    figures["false_flags"] = false_flags
    print(
        figures
    )  # the README's figures: python -m pytest -m slow -s tests/analysis/test_gaps_validate.py
    return figures


def test_dirty_scenario_faults_are_found(tmp_path: Path) -> None:
    run_dirty(tmp_path, 8.0)


@pytest.mark.slow
def test_dirty_scenario_faults_are_found_long(tmp_path: Path) -> None:
    run_dirty(tmp_path, 30.0)


# ---------------------------------------------------------------------- the command


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def test_validate_command_rules_and_json(tmp_path: Path) -> None:
    base = int(datetime(2026, 12, 1, 10, 0, tzinfo=HKT).timestamp() * 1000)

    def trade(seq: int, dt: int, price: float = 300.0, lag: int = 20) -> dict[str, Any]:
        return Tick(
            "00700", base + dt, price, 100, price * 100, "buy", seq, base + dt + lag, "alltick"
        ).record()

    rows = [trade(i, i * 1000) for i in range(1, 30)]
    rows.insert(10, trade(5, 10_500))  # a duplicate
    rows.insert(20, trade(40, 20_500))  # seq jumps ahead: the next ones go backwards
    rows.append(trade(100, 40_000, price=300.3))  # off the spread table (0.2 steps)
    rows.append(trade(101, 41_000, lag=9000))  # late
    rows.append(trade(102, 42_000, lag=-50))  # from the future
    night = int(datetime(2026, 12, 1, 20, 0, tzinfo=HKT).timestamp() * 1000)
    rows.append({**trade(103, 0), "ts": night, "recv_ts": night + 10})
    rec = tmp_path / "day.jsonl"
    _write(rec, rows)
    _write(
        tmp_path / "day.jsonl.events.jsonl",
        [
            Event(
                base - 1000, "feed_start", None, {"shard_symbols": [["00700", "09988"]]}
            ).record(),
            Event(
                base + 5000,
                "gap",
                0,
                {
                    "symbols": ["00700"],
                    "start": base + 2000,
                    "end": base + 5000,
                    "cause": "closed by server",
                    "trading_ms": 3000,
                },
            ).record(),
        ],
    )
    result = CliRunner().invoke(cli, ["validate", str(rec), "--json"])
    assert result.exit_code == 1, result.output
    out = orjson.loads(result.stdout)
    counts = out["counts"]
    assert counts["duplicate"] == 1
    assert counts["seq_backwards"] == 10  # seqs 20..29 after 40
    assert counts["off_table"] == 1 and counts["lag"] == 1 and counts["future_time"] == 1
    assert counts["outside_hours"] == 1
    assert out["never_traded"] == ["09988"]
    assert out["gaps"][0]["cause"] == "closed by server"
    assert set(out["lag_ms"]) == {"0"}
    # a table too
    table = CliRunner().invoke(cli, ["validate", str(rec)])
    assert table.exit_code == 1 and "seq_backwards" in table.stdout and "gaps" in table.stdout


def test_validate_never_traded_is_a_note_unless_strict(tmp_path: Path) -> None:
    """Before: a clean universe recording exited 1 because illiquid names never traded."""
    base = int(datetime(2026, 12, 1, 10, 0, tzinfo=HKT).timestamp() * 1000)
    rows = [
        Tick(
            "00700",
            base + i * 1000,
            300.0,
            100,
            30_000.0,
            "buy",
            i + 1,
            base + i * 1000 + 20,
            "alltick",
        ).record()
        for i in range(30)
    ]
    rec = tmp_path / "day.jsonl"
    _write(rec, rows)
    subscribed = {"shard_symbols": [["00700", "09988", "01234"]]}
    _write(
        tmp_path / "day.jsonl.events.jsonl",
        [Event(base - 1000, "feed_start", None, subscribed).record()],
    )
    plain = CliRunner().invoke(cli, ["validate", str(rec)])
    assert plain.exit_code == 0, plain.output
    assert "never traded: 2 subscribed symbols (01234, 09988); a note" in plain.stdout
    js = CliRunner().invoke(cli, ["validate", str(rec), "--json"])
    out = orjson.loads(js.stdout)
    assert js.exit_code == 0 and out["never_traded"] == ["01234", "09988"]
    assert out["problems"] == 0 and out["notes"] == ["never_traded"]
    strict = CliRunner().invoke(cli, ["validate", str(rec), "--strict"])
    assert strict.exit_code == 1 and "counted as a problem (--strict)" in strict.stdout


def test_validate_kline_against_the_server(tmp_path: Path) -> None:
    with MarketServer(token="t", rate=800, seed=2, enforce_pacing=False) as server:
        feed, recorder = record(server, tmp_path, SessionConfig(heartbeat_interval=1.0))
        wait_until(lambda: feed.status().ticks > 800, what="800 trades")
        stop(feed, recorder)
        result = CliRunner().invoke(
            cli,
            [
                "validate",
                str(tmp_path / "t.jsonl"),
                "--kline",
                "--json",
                "--always-open",
                "--rest-url",
                server.rest_url,
                "--token",
                "t",
                "--plan",
                "all-hk",
            ],
        )
    out = orjson.loads(result.stdout)
    assert out["counts"]["duplicate"] == 0
    checks = out["minute_checks"]
    assert set(checks) <= {"ok", "partial"}, out["minutes"]
    assert result.exit_code == 0, result.output


def test_spread_table() -> None:
    assert on_spread_table(0.011) and on_spread_table(300.2) and on_spread_table(9995)
    assert not on_spread_table(300.3) and not on_spread_table(0.2505) and not on_spread_table(0)
    assert MINUTE_MS == 60_000


def test_stats_and_replay_list_the_gap_records(tmp_path: Path) -> None:
    base = int(datetime(2026, 12, 1, 10, 0, tzinfo=HKT).timestamp() * 1000)
    rec = tmp_path / "day.jsonl"
    ticks = [
        Tick("00700", base + i * 1000, 300.0, 100, 30000.0, None, i, base + i * 1000 + 5, "alltick")
        for i in range(1, 10)
    ]
    _write(rec, [t.record() for t in ticks])
    gap = {
        "symbols": ["00700"],
        "start": base + 2500,
        "end": base + 6500,
        "cause": "stale: nothing received for 30 s",
        "trading_ms": 4000,
    }
    _write(
        tmp_path / "day.jsonl.events.jsonl",
        [
            Event(base, "feed_start", None, {"shard_symbols": [["00700"]]}).record(),
            Event(base + 2600, "disconnected", 0, {"reason": "x"}).record(),
            Event(base + 6500, "gap", 0, gap).record(),
        ],
    )
    stats = CliRunner().invoke(cli, ["stats", str(rec), "--json"])
    assert stats.exit_code == 0, stats.output
    gaps = orjson.loads(stats.stdout)["gaps"]
    assert [(g["start"], g["end"], g["reason"]) for g in gaps] == [
        (base + 2500, base + 6500, "stale: nothing received for 30 s")
    ]
    replay = CliRunner().invoke(cli, ["replay", str(rec), "--json", "--speed", "max"])
    assert replay.exit_code == 0, replay.output
    assert replay.stdout.count("\n") == 9
    assert (
        "gap 2026-12-01 10:00:02.500 - 10:00:06.500 HKT (4.0 s of trading), shard 0, 1 symbol: stale"
        in replay.stderr
    )


def test_kline_decoder_reads_alltick_documented_answer() -> None:
    # the documented answer shape: strings, timestamp in seconds
    data = {
        "code": "700.HK",
        "kline_type": 1,
        "kline_list": [
            {
                "timestamp": "1677830520",
                "open_price": "320.2",
                "close_price": "320.4",
                "high_price": "320.6",
                "low_price": "320.0",
                "volume": "123400",
                "turnover": "39537000.0",
            },
            {
                "timestamp": 1677830460,
                "open_price": 320.0,
                "close_price": 320.2,
                "high_price": 320.2,
                "low_price": 319.8,
                "volume": 1000,
                "turnover": 320100,
            },
            {"timestamp": "1677830580", "open_price": "x"},
        ],
    }
    bars, bad = decode_kline(data, "00700")
    assert bad == 1
    assert [(b.ts, b.volume) for b in bars] == [(1677830460000, 1000), (1677830520000, 123400)]
    assert decode_kline({**data, "code": "9988.HK"}, "00700") == ([], 3)
    q = orjson.loads(minute_kline_query("00700", 500, trace="t1"))
    assert q == {
        "trace": "t1",
        "data": {
            "code": "700.HK",
            "kline_type": 1,
            "kline_timestamp_end": 0,
            "query_kline_num": 500,
            "adjust_type": 0,
        },
    }
    with pytest.raises(ValueError):
        minute_kline_query("00700", 501)


def test_server_kline_answers_and_refusals() -> None:
    with MarketServer(token="t", rate=1000, seed=4) as server:
        wait_until(lambda: server.call(lambda m: m.state("00700").last.volume > 0), what="a trade")
        client = RestClient(server.rest_url, "t", "all-hk")
        bars = client.minute_bars("00700", 3)
        assert bars and all(b.ts % MINUTE_MS == 0 for b in bars)
        assert sum(b.volume for b in bars) <= server.call(lambda m: m.state("00700").volume)
        assert client.minute_bars("99999") is None and "99999" in client.skipped

        def get(data: dict[str, Any]) -> dict[str, Any]:
            from urllib.parse import urlencode
            from urllib.request import urlopen

            url = (
                server.rest_url
                + "kline?"
                + urlencode(
                    {"token": "t", "query": orjson.dumps({"trace": "a", "data": data}).decode()}
                )
            )
            with urlopen(url, timeout=5) as resp:
                return dict(orjson.loads(resp.read()))

        assert get({"code": "700.HK", "kline_type": 6, "query_kline_num": 2})["ret"] == 400
        many = get({"code": "700.HK", "kline_type": 1, "query_kline_num": 501})
        assert many["ret"] != 200 or len(many["data"]["kline_list"]) <= 500
        assert (
            get(
                {"code": "700.HK", "kline_type": 1, "query_kline_num": 1, "kline_timestamp_end": 5}
            )["ret"]
            == 400
        )
        ok = get({"code": "700.HK", "kline_type": 1, "query_kline_num": 2})
        assert ok["ret"] == 200 and ok["data"]["code"] == "700.HK" and ok["data"]["kline_type"] == 1
