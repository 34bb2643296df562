"""Scenarios of the simulated market, and the engine's detection of what they inject.

Ten simulated minutes at the demo's 200 trades/s, run on a simulated clock
(a second or two each): at least 95% of the injected events flagged within
10 s, and at most one false volume/block alert per 10 minutes of ordinary flow.
"""

from __future__ import annotations

import io

import orjson
import pytest
from kit.waiting import wait_until

from hkticks.analysis.scoring import score
from hkticks.bench.alerts_bench import T0, run_scenario
from hkticks.server import scenarios
from hkticks.server.tick_ladder import is_valid_price

RATE = 200.0
MINUTES_10 = 600


def run(name: str, seed: int, seconds: float = MINUTES_10, truth_file: io.BytesIO | None = None):
    return run_scenario(name, seed, seconds, RATE, truth_file)


def test_registry() -> None:
    assert {"none", "anomalies"} <= set(scenarios.names())
    assert scenarios.DEMO_SCENARIO in scenarios.REGISTRY
    with pytest.raises(ValueError, match="unknown scenario 'nope'; choose one of"):
        scenarios.make("nope")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_injected_events_are_flagged_within_10s(seed: int) -> None:
    _, sc, alerts = run("anomalies", seed)
    result = score(
        alerts, [e.record() for e in sc.truth], within_s=10.0, until_ms=T0 + MINUTES_10 * 1000
    )
    kinds = {e.kind for e in sc.truth}
    assert kinds == set(scenarios.EVENT_KINDS)  # every kind was injected
    assert result.events >= 20
    assert result.recall >= 0.95, result.missed
    assert result.false_volume_block <= 1, result.false_by_kind
    assert result.latency(1.0) is not None and result.latency(1.0) <= 10.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ordinary_flow_has_at_most_one_false_volume_or_block_alert(seed: int) -> None:
    trades, sc, alerts = run("none", seed)
    assert sc.truth == [] and len(trades) == RATE * MINUTES_10
    false = [a for a in alerts if a.kind in ("volume_spike", "block_trade")]
    assert len(false) <= 1, [a.message for a in false]


def test_scenario_trades_are_valid_market_trades_and_the_truth_is_logged() -> None:
    sink = io.BytesIO()
    trades, sc, _ = run("anomalies", 7, seconds=300, truth_file=sink)
    last_seq: dict[str, int] = {}
    for t in trades:
        assert is_valid_price(t.price) and t.volume > 0
        if t.symbol in last_seq:
            assert t.seq == last_seq[t.symbol] + 1  # contiguous, injected trades included
        last_seq[t.symbol] = t.seq
    lines = [orjson.loads(line) for line in sink.getvalue().splitlines()]
    assert lines == [e.record() for e in sc.truth] and lines
    assert all(rec["simulated"] is True and rec["expected_alert"] for rec in lines)
    assert all(rec["start_ms"] >= T0 + 150_000 for rec in lines)  # after the warm-up


def test_same_seed_same_scenario() -> None:
    a = run("anomalies", 11, seconds=240)
    b = run("anomalies", 11, seconds=240)
    assert [e.record() for e in a[1].truth] == [e.record() for e in b[1].truth]
    assert a[2] == b[2]


def test_market_server_runs_a_scenario_and_logs_its_truth(tmp_path) -> None:  # type: ignore[no-untyped-def]

    from hkticks.errors import OutputError
    from hkticks.server import MarketServer

    truth = tmp_path / "truth.jsonl"
    server = MarketServer(
        port=0,
        rest_port=0,
        rate=500,
        seed=3,
        scenario="anomalies:warmup_s=0.2,gap_s=0.2",
        scenario_truth=str(truth),
    )
    server.start()
    try:
        wait_until(
            lambda: truth.exists() and len(truth.read_bytes().splitlines()) >= 3,
            20,
            "3 lines of the scenario's truth file",
        )
    finally:
        server.stop()
    records = [orjson.loads(x) for x in truth.read_bytes().splitlines()]
    assert len(records) >= 3
    assert all(
        r["simulated"] and r["kind"] in scenarios.EVENT_KINDS and len(r["symbol"]) == 5
        for r in records
    )
    with pytest.raises(OutputError, match="cannot write the scenario truth log"):
        MarketServer(
            port=0,
            rest_port=0,
            scenario="anomalies",
            scenario_truth=str(tmp_path / "no" / "t.jsonl"),
        )


def test_scenario_spec_parameters() -> None:
    assert scenarios.parse_spec("anomalies:gap_s=5,kinds=x") == (
        "anomalies",
        {"gap_s": 5.0, "kinds": "x"},
    )
    with pytest.raises(ValueError, match="not KEY=VALUE"):
        scenarios.parse_spec("anomalies:gap_s")
    sc = scenarios.make("anomalies:warmup_s=1,gap_s=2,kinds=block_trade+sharp_move")
    assert isinstance(sc, scenarios.AnomalyScenario) and sc.warmup_s == 1.0 and sc.gap_s == 2.0
    assert sc.kinds == ("block_trade", "sharp_move")
    with pytest.raises(ValueError, match="unknown event kind"):
        scenarios.make("anomalies:kinds=meteor")
