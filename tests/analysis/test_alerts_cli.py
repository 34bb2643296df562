"""``hkticks alerts`` and ``hkticks replay --alerts`` end to end (real subprocesses, loopback)."""

from __future__ import annotations

import calendar
import re
import sys
from pathlib import Path

import orjson
import pytest
from kit.hk import run_hk
from test_alerts_delivery import Hook

from hkticks.analysis import baselines
from hkticks.analysis.alert_config import AlertConfig
from hkticks.analysis.anomaly import AnomalyEngine
from hkticks.analysis.scoring import score
from hkticks.tick import Tick

FIELDS = ["ts", "symbol", "kind", "value", "threshold", "window_s", "message"]
# a busy demo market whose scenario starts injecting after 5 s (once the engine has warmed
# up for 4 s), one event every ~2 s
FAST = [
    "--demo",
    "--demo-rate",
    "1000",
    "--demo-seed",
    "5",
    "--scenario",
    "anomalies:warmup_s=5,gap_s=2",
    "--warmup",
    "4s",
]


def test_live_alerts_are_the_replay_alerts_and_reach_every_channel(tmp_path: Path) -> None:
    hook = Hook()
    got = tmp_path / "cmd.jsonl"
    script = "import sys; open(sys.argv[1], 'ab').write(sys.stdin.buffer.read() + b'\\n')"
    try:
        live = run_hk(
            tmp_path,
            "alerts",
            *FAST,
            "--duration",
            "20s",  # scored: the events that start 10 s or more before the end
            "--json",
            "--out",
            "t.jsonl",
            "--truth",
            "truth.jsonl",
            "--webhook",
            hook.url,
            "--alert-cmd",
            f'{sys.executable} -c "{script}" {got}',
            timeout=90,
        )
    finally:
        hook.close()
    assert live.returncode == 0, live.stderr
    lines = live.stdout.splitlines()
    alerts = [orjson.loads(line) for line in lines]
    assert alerts, live.stderr
    assert all(list(a) == FIELDS and len(a["symbol"]) == 5 for a in alerts)
    # the alerts log beside the recording, the webhook and the command saw the same alerts
    assert (tmp_path / "t.jsonl.alerts.jsonl").read_text().splitlines() == lines
    assert [orjson.loads(b) for b in hook.bodies] == alerts
    assert [orjson.loads(x) for x in got.read_bytes().splitlines()] == alerts
    # replaying the recording gives exactly the same alerts
    again = run_hk(
        tmp_path, "replay", "t.jsonl", "--alerts", "--json", "--hours", "always", "--warmup", "4s"
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout == live.stdout
    # and as lines: HH:MM:SS.mmm (Hong Kong time), symbol, kind, message
    plain = run_hk(tmp_path, "replay", "t.jsonl", "--alerts", "--hours", "always", "--warmup", "4s")
    assert plain.returncode == 0 and f"{len(alerts)} alert" in plain.stderr
    for line, a in zip(plain.stdout.splitlines(), alerts, strict=True):
        hhmmss, symbol, kind, message = line.split(None, 3)
        assert len(hhmmss) == 12 and (symbol, kind, message) == (
            a["symbol"],
            a["kind"],
            a["message"],
        )
    # and they flag what the simulated market injected
    truth = [orjson.loads(x) for x in (tmp_path / "truth.jsonl").read_bytes().splitlines()]
    assert truth and all(t["simulated"] for t in truth)
    from hkticks.analysis.anomaly import Alert

    last_ts = orjson.loads((tmp_path / "t.jsonl").read_bytes().splitlines()[-1])["ts"]
    result = score([Alert.from_record(a) for a in alerts], truth, until_ms=last_ts)
    assert result.events >= 1 and result.flagged >= 1, (truth, alerts)


def test_alerts_a_failing_webhook_fails_the_run_and_counts_every_alert(tmp_path: Path) -> None:
    """Before: a webhook answering 500 gave "0 delivered, 1 failed" for 730 alerts and exit 0."""
    hook = Hook([500] * 10_000)
    try:
        out = run_hk(
            tmp_path,
            "alerts",
            *FAST,
            "--duration",
            "10s",
            "--json",
            "--webhook",
            hook.url,
            timeout=90,
        )
    finally:
        hook.close()
    alerts = out.stdout.splitlines()
    assert alerts, out.stderr
    assert out.returncode == 6, out.stderr
    assert "is not taking alerts (HTTP 500)" in out.stderr  # said when it happened
    (line,) = [x for x in out.stderr.splitlines() if f"of {len(alerts)} delivered" in x]
    failed = re.search(r"(\d+) failed", line)
    left = re.search(r"(\d+) not delivered before exit", line)
    assert f"/hook: 0 of {len(alerts)} delivered" in line
    # failed + not delivered (still waiting at exit) = every alert
    assert sum(int(m.group(1)) for m in (failed, left) if m) == len(alerts), line
    assert f"{len(alerts)} alert" in out.stderr.splitlines()[-1]
    assert "did not reach --webhook" in out.stderr.splitlines()[-1]


def test_alerts_a_hanging_command_is_killed_with_its_children_and_counted(
    tmp_path: Path,
) -> None:
    """Before: 707 of 710 alerts unaccounted, and its `sleep 100` outlived hkticks."""
    from test_alerts_delivery import alive

    pids = tmp_path / "pids"
    cmd = f"sh -c 'sleep 100 & echo $! >> {pids}; wait'"
    out = run_hk(
        tmp_path, "alerts", *FAST, "--duration", "10s", "--json", "--alert-cmd", cmd, timeout=90
    )
    alerts = out.stdout.splitlines()
    assert alerts, out.stderr
    assert out.returncode == 6, out.stderr
    (line,) = [x for x in out.stderr.splitlines() if f"of {len(alerts)} delivered" in x]
    assert line.split("hkticks: ", 1)[1].startswith(f"--alert-cmd sh: 0 of {len(alerts)}")
    started = [int(x) for x in pids.read_text().split()]
    assert started and not [p for p in started if alive(p)]  # none outlived hkticks


def test_block_trades_from_a_names_first_trades_with_a_warm_up_status(tmp_path: Path) -> None:
    """Before: block_trade waited for 100 trades of the day, so blocks in quiet names went
    unflagged, and `hkticks alerts --demo` printed nothing for over 2 minutes."""
    out = run_hk(
        tmp_path,
        "alerts",
        "--demo",
        "--demo-seed",
        "7",
        "--scenario",
        "anomalies:warmup_s=4,gap_s=2,kinds=block_trade",
        "--kinds",
        "block_trade,volume_spike",
        "--warmup",
        "2m",
        "--duration",
        "14s",
        "--out",
        "t.jsonl",
        "--truth",
        "truth.jsonl",
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    status = [x for x in out.stderr.splitlines() if "warming up:" in x]
    assert status and "of 2:00 of trading seen" in status[0], out.stderr
    assert "block_trade armed on" in status[0]
    blocks = [x.split(None, 3) for x in out.stdout.splitlines()]
    assert blocks and all(b[2] == "block_trade" for b in blocks), out.stdout
    ticks = [orjson.loads(x) for x in (tmp_path / "t.jsonl").read_bytes().splitlines()]
    alerts = [
        orjson.loads(x) for x in (tmp_path / "t.jsonl.alerts.jsonl").read_bytes().splitlines()
    ]
    truth = [orjson.loads(x) for x in (tmp_path / "truth.jsonl").read_bytes().splitlines()]
    flagged = {a["symbol"]: a for a in alerts}
    early = []
    for ev in truth:
        a = flagged.get(ev["symbol"])
        if a is not None and ev["start_ms"] <= a["ts"] <= ev["start_ms"] + 10_000:
            before = sum(1 for t in ticks if t["symbol"] == ev["symbol"] and t["ts"] < a["ts"])
            early.append(before)
    assert early and min(early) < 100, (truth, alerts)  # flagged before its 100th trade
    # the baselines the run applied are beside the recording: replay gives the same alerts
    assert (tmp_path / "t.jsonl.baselines.jsonl").exists()
    again = run_hk(
        tmp_path,
        "replay",
        "t.jsonl",
        "--alerts",
        "--json",
        "--hours",
        "always",
        "--kinds",
        "block_trade,volume_spike",
        "--warmup",
        "2m",
    )
    assert again.returncode == 0, again.stderr
    assert [orjson.loads(x) for x in again.stdout.splitlines()] == alerts


def test_alerts_says_the_market_is_simulated(tmp_path: Path) -> None:
    out = run_hk(tmp_path, "alerts", "--demo", "--duration", "2s", "--kinds", "block_trade")
    assert out.returncode == 0, out.stderr
    assert "DEMO: simulated market" in out.stderr and "block_trade" in out.stderr


def test_bad_alerts_config_is_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "config" / "hkticks"
    conf.mkdir(parents=True)
    (conf / "config.toml").write_text("[alerts]\ncoldown_s = 5\n")
    out = run_hk(tmp_path, "alerts", "--demo", "--duration", "1s")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("hkticks: error: [alerts] in ")
    assert "unknown key 'coldown_s'" in out.stderr and "Traceback" not in out.stderr
    (conf / "config.toml").write_text("[alerts]\nmove_pct = 5\nkinds = ['price_move']\n")
    out = run_hk(tmp_path, "replay", "nothing.jsonl", "--alerts")
    assert out.returncode != 0 and "Traceback" not in out.stderr


def test_scenario_needs_demo(tmp_path: Path) -> None:
    out = run_hk(tmp_path, "alerts", "00700", "--scenario", "anomalies", "--token", "x")
    assert out.returncode == 2 and "need --demo" in out.stderr
    out = run_hk(tmp_path, "alerts", "--demo", "--scenario", "nope")
    assert out.returncode == 2 and "unknown scenario 'nope'" in out.stderr


# -- baselines from history ---------------------------------------------------------------


def hk(day: int, h: int, m: int, s: int = 0) -> int:
    return calendar.timegm((2026, 11, day, h - 8, m, s)) * 1000


def tk(sym: str, ts: int, vol: int = 100, price: float = 10.0) -> Tick:
    return Tick(sym, ts, price, vol, price * vol, None, None, ts, "alltick")


def test_history_baselines_by_minute_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # two days (Mon 23rd, Tue 24th) of 1 trade/s 10:00-10:10, lunch and auction trades ignored
    ticks = []
    for day in (23, 24):
        ticks += [tk("00700", hk(day, 10, 0) + i * 1000) for i in range(600)]
        ticks += [tk("00700", hk(day, 12, 30), vol=10**6), tk("00700", hk(day, 16, 5), vol=10**6)]
    built = baselines.from_ticks(ticks, days=20)
    b = built["00700"]
    assert b.days == 2
    m10 = 30  # 10:00 is minute 30 of the session
    assert b.minute_n[m10] == 60 and b.minute_v[m10] == 6000
    assert b.cum[-1] == 60_000  # lunch and auction prints left out
    assert b.block == 1000.0
    calls = []

    def build():
        calls.append(1)
        return built

    first, hit1 = baselines.cached("history", ["k"], build)
    second, hit2 = baselines.cached("history", ["k"], build)
    assert (hit1, hit2, len(calls)) == (False, True, 1)
    assert second["00700"].minute_n[m10] == 60 and second["00700"].days == 2
    assert list((tmp_path / "cache" / "hkticks").glob("baselines-history-*.json"))
    # the engine flags a burst against that history from the first minute, no warm-up
    e = AnomalyEngine(AlertConfig(), second)
    alerts = e.feed(tk("00700", hk(25, 10, 0) + i * 100) for i in range(200))
    assert [a.kind for a in alerts][:1] == ["volume_spike"]


def test_intraday_profile_and_daily_volumes() -> None:
    prof = baselines.intraday_profile()
    assert len(prof) == 330 and prof[-1] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(prof, prof[1:], strict=False))
    first_30, mid_30 = prof[29], prof[119] - prof[89]
    assert first_30 > 1.5 * mid_30  # the open is busier than late morning
    got = baselines.from_daily_volumes({"00700": [3_300_000, 0], "00005": []})
    assert list(got) == ["00700"] and got["00700"].cum[-1] == pytest.approx(3_300_000)


def test_day_turnover_and_hk_shares_baselines_survive_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bars = {"00700": [(3e6, 1.1e9), (5e6, 1.9e9)], "00005": [(0, 0)]}
    got = baselines.from_daily_bars(bars, volume_profile=False)
    assert list(got) == ["00700"] and got["00700"].cum == []
    assert got["00700"].day_turnover == pytest.approx(1.5e9)
    got.update(baselines.from_hk_shares({"01234": 2e9, "09999": None}))
    assert got["01234"].hk_shares == 2e9 and "09999" not in got
    first, _ = baselines.cached("kline", ["k"], lambda: got)
    again, hit = baselines.cached("kline", ["k"], lambda: {})
    assert hit and again["00700"].day_turnover == pytest.approx(1.5e9)
    assert again["01234"].hk_shares == 2e9
    # from recordings: the average turnover of the days
    ticks = [tk("00700", hk(day, 10, 0) + i * 1000) for day in (23, 24) for i in range(10)]
    assert baselines.from_ticks(ticks)["00700"].day_turnover == pytest.approx(10 * 1000.0)


def test_replay_alerts_against_history(tmp_path: Path) -> None:
    """--history: yesterday's recordings are the baseline (no warm-up), cached once."""

    def line(ts: int, vol: int = 100) -> bytes:
        return orjson.dumps(tk("00700", ts, vol).record()) + b"\n"

    # Monday and Tuesday: 1 trade/s from 10:00 to 10:20
    for day in (23, 24):
        (tmp_path / f"hist-{day}.jsonl").write_bytes(
            b"".join(line(hk(day, 10, 0) + i * 1000) for i in range(1200))
        )
    # Wednesday: 10 trades/s from 10:00:00 -- a spike against history at once
    (tmp_path / "wed.jsonl").write_bytes(
        b"".join(line(hk(25, 10, 0) + i * 100) for i in range(300))
    )
    out = run_hk(tmp_path, "replay", "wed.jsonl", "--alerts", "--json", "--history", "hist-*.jsonl")
    assert out.returncode == 0, out.stderr
    alerts = [orjson.loads(x) for x in out.stdout.splitlines()]
    assert alerts and alerts[0]["kind"] == "volume_spike" and "history" in alerts[0]["message"]
    assert alerts[0]["ts"] < hk(25, 10, 0) + 5_000  # no 2-minute warm-up
    cached = list((tmp_path / "cache" / "hkticks").glob("baselines-history-*.json"))
    assert len(cached) == 1
    # without history the same day raises nothing in its first 30 s (warm-up)
    plain = run_hk(tmp_path, "replay", "wed.jsonl", "--alerts", "--json")
    assert plain.returncode == 0 and plain.stdout == ""
    missing = run_hk(tmp_path, "replay", "wed.jsonl", "--alerts", "--history", "nope-*.jsonl")
    assert missing.returncode == 2 and "--history: no files match nope-*.jsonl" in missing.stderr


def test_live_alerts_fetch_daily_bar_baselines_once(tmp_path: Path) -> None:
    """Against a provider (not --demo): rvol baselines from daily bars, cached for the day."""
    import time

    from hkticks.market_hours import market_session
    from hkticks.server import MarketServer

    srv = MarketServer(token="t", plan="all-hk", rate=300.0, seed=3)
    srv.start()
    try:
        args = ["alerts", "00700", "09988", "--url", srv.ws_url, "--rest-url", srv.rest_url]
        out = run_hk(tmp_path, *args, "--token", "t", "--duration", "3s", "--hours", "always")
        before = market_session(time.time()).continuous
        hk_hours = run_hk(tmp_path, *args, "--token", "t", "--duration", "1s")
        after = market_session(time.time()).continuous
    finally:
        srv.stop()
    assert hk_hours.returncode == 0, hk_hours.stderr
    note = "only trades of the continuous sessions raise alerts" in hk_hours.stderr
    if before == after:  # (a run across a session edge could go either way)
        assert note == (not before)
    assert out.returncode == 0, out.stderr
    cache = tmp_path / "cache" / "hkticks"
    cached = [p for p in cache.glob("baselines-kline-*.json") if "-days-" not in p.name]
    assert len(cached) == 1
    symbols = orjson.loads(cached[0].read_bytes())["symbols"]
    assert set(symbols) == {"00700", "09988"} and symbols["00700"]["cum"][-1] > 0
    # then the average of the last 20 sessions (GET kline, one code a call) replaces it
    days = list(cache.glob("baselines-kline-days-*.json"))
    assert len(days) == 1
    by_days = orjson.loads(days[0].read_bytes())["symbols"]
    assert set(by_days) == {"00700", "09988"} and by_days["00700"]["days"] == 20
