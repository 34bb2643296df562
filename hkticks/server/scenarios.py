"""Named scenarios: anomalies the simulated market injects, with the truth logged.

A scenario is asked, at every push of the rate loop, for the extra trades it
wants made now (:meth:`Scenario.inject`). It makes them through the market,
so prices stay on the spread table, ``seq`` stays contiguous and books stay
consistent. Pure like the market: the time is passed in and the randomness
is seeded, so a scenario can run on a simulated clock (tests, the bench) as
well as inside ``hkticks serve --scenario NAME`` and ``--demo``.

The registry (:data:`REGISTRY`, :func:`register`) maps a name to a factory,
so other scenarios (data-quality faults, chaos) can be added beside these
without touching the server.

Built in:

``anomalies``
    From ``warmup_s`` on, one event every ``gap_s`` seconds on average, at a
    random name: a ``volume_burst`` (``burst_x`` times the name's usual
    trade rate for ``burst_s`` seconds, names trading at least once a
    second), a ``block_trade`` (one print of at least HK$25M and 3-6 times
    the largest the name trades normally, on the same names) or a
    ``sharp_move`` (13-16 % up or down within 3-6 seconds on a name of HK$1
    or more; the move sticks, as after news). Each event
    is written to the truth log (JSONL, ``simulated: true``) when it starts.
``none``
    Ordinary flow only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import orjson

from hkticks.server.market import Market, Trade
from hkticks.server.tick_ladder import MAX_PRICE, MIN_PRICE, snap, tick_up

# What each injected event should be flagged as by the anomaly engine.
EXPECTED_ALERT = {
    "volume_burst": "volume_spike",
    "block_trade": "block_trade",
    "sharp_move": "price_move",
}
EVENT_KINDS = tuple(EXPECTED_ALERT)
_MAX_NATURAL_LOTS = 400  # the market's cap on one ordinary trade


@dataclass
class TruthEvent:
    """One injected anomaly: what, where, from when to when (epoch ms)."""

    kind: str
    symbol: str
    start_ms: int
    end_ms: int
    detail: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "symbol": self.symbol,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "expected_alert": EXPECTED_ALERT.get(self.kind),
            "simulated": True,
            **self.detail,
        }


class Scenario(Protocol):
    name: str
    truth: list[TruthEvent]

    def inject(
        self, market: Market, now_ms: int, emit: Callable[[Trade], None] | None = None
    ) -> list[Trade]:
        """The extra trades to make now (applied to ``market``).

        With ``emit`` each trade is handed over as soon as it is made (the
        server pushes it with the book of that moment) and ``[]`` returned."""
        ...


@dataclass(frozen=True)
class ScenarioOptions:
    """What every scenario factory gets: the seed, the server's trade rate, a truth sink."""

    seed: int | None = None
    rate: float = 200.0
    truth_file: IO[bytes] | None = None
    params: dict[str, Any] = field(default_factory=dict)


class NoScenario:
    name = "none"

    def __init__(self, opts: ScenarioOptions) -> None:
        self.truth: list[TruthEvent] = []

    def inject(
        self, market: Market, now_ms: int, emit: Callable[[Trade], None] | None = None
    ) -> list[Trade]:
        return []


class AnomalyScenario:
    """Volume bursts, block trades and sharp moves at random names and times (seeded)."""

    name = "anomalies"

    def __init__(self, opts: ScenarioOptions) -> None:
        p = opts.params
        self.rng = random.Random(opts.seed)
        self.rate = opts.rate
        self.truth_file = opts.truth_file
        self.warmup_s = float(p.get("warmup_s", 150.0))
        self.gap_s = float(p.get("gap_s", 15.0))
        self.burst_s = float(p.get("burst_s", 20.0))
        self.burst_x = float(p.get("burst_x", 8.0))
        kinds = p.get("kinds", EVENT_KINDS)
        if isinstance(kinds, str):  # "volume_burst+block_trade" in a NAME:key=value spec
            kinds = kinds.split("+")
        self.kinds: tuple[str, ...] = tuple(kinds)
        bad = [k for k in self.kinds if k not in EVENT_KINDS]
        if bad:
            raise ValueError(f"unknown event kind {bad[0]!r}; choose from {', '.join(EVENT_KINDS)}")
        self.truth: list[TruthEvent] = []
        self._t0: int | None = None
        self._next_ms = 0
        self._bursts: list[list[Any]] = []  # [symbol, until_ms, per_ms, carry, last_ms]
        self._moves: list[list[Any]] = []  # [symbol, target mills, steps left, next_ms]
        self._names: tuple[list[str], list[str]] | None = None

    # -- scheduling ------------------------------------------------------------------

    def _pools(self, market: Market) -> tuple[list[str], list[str]]:
        """(names trading >= 1 trade/s, names trading >= 0.2 trade/s) at this rate."""
        if self._names is None:
            weights = {c: market.state(c).stock.weight for c in market.active}
            total = sum(weights.values()) or 1.0
            per_s = {c: self.rate * w / total for c, w in weights.items()}
            busy = [c for c, r in per_s.items() if r >= 1.0] or list(market.active[:5])
            alive = [c for c, r in per_s.items() if r >= 0.2] or busy
            self._names = (busy, alive)
        return self._names

    def _usual_rate(self, market: Market, code: str) -> float:
        total = sum(market.state(c).stock.weight for c in market.active) or 1.0
        return self.rate * market.state(code).stock.weight / total

    def inject(
        self, market: Market, now_ms: int, emit: Callable[[Trade], None] | None = None
    ) -> list[Trade]:
        if self._t0 is None:
            self._t0 = now_ms
            self._next_ms = now_ms + int(self.warmup_s * 1000)
        got: list[Trade] = []
        out = emit if emit is not None else got.append
        if now_ms >= self._next_ms and self.kinds:
            self._start_event(market, now_ms, out)
            self._next_ms = now_ms + int(self.rng.uniform(0.5, 1.5) * self.gap_s * 1000)
        self._run_bursts(market, now_ms, out)
        self._run_moves(market, now_ms, out)
        return got

    def _busy_symbols(self, now_ms: int) -> set[str]:
        """Names with an event still under way (never two at once on one name)."""
        return {e.symbol for e in self.truth if e.end_ms + 60_000 > now_ms}

    def _start_event(self, market: Market, now_ms: int, out: Callable[[Trade], None]) -> None:
        busy_names, alive = self._pools(market)
        kind = self.rng.choice(self.kinds)
        taken = self._busy_symbols(now_ms)
        # bursts and blocks on names the engine has a rate and a size distribution for
        # (>= 1 trade/s); moves on any live name of HK$1 or more
        if kind == "sharp_move":
            pool = [c for c in alive if market.state(c).bid >= 1000 and c not in taken]
        else:
            pool = [c for c in busy_names if c not in taken]
        if not pool:
            return
        code = self.rng.choice(pool)
        st = market.state(code)
        if kind == "volume_burst":
            usual = self._usual_rate(market, code)
            per_s = max(3.0, usual * (self.burst_x - 1.0))
            until = now_ms + int(self.burst_s * 1000)
            self._bursts.append([code, until, per_s / 1000.0, 0.0, now_ms])
            event = TruthEvent(
                kind,
                code,
                now_ms,
                until,
                {"extra_per_s": round(per_s, 2), "usual_per_s": round(usual, 3)},
            )
        elif kind == "block_trade":
            price = st.ask / 1000.0
            lot_value = price * st.stock.lot
            notional = max(25e6, 3 * _MAX_NATURAL_LOTS * lot_value) * self.rng.uniform(1.0, 2.0)
            lots = math.ceil(notional / lot_value)
            trade = market.next_trade(code, now_ms)
            if trade is None:
                return
            big = Trade(
                code, trade.seq, trade.ts, trade.price, st.stock.lot * lots, trade.direction
            )
            st.last = big
            st.volume += big.volume - trade.volume
            st.turnover += big.turnover - trade.turnover
            out(big)
            event = TruthEvent(
                kind, code, now_ms, now_ms, {"volume": big.volume, "turnover": big.turnover / 1000}
            )
        else:
            up = self.rng.random() < 0.5
            pct = self.rng.uniform(0.13, 0.16)
            target = snap(round(st.bid * (1 + pct if up else 1 - pct)))
            target = min(max(target, MIN_PRICE), MAX_PRICE)
            steps = self.rng.randint(3, 6)
            self._moves.append([code, target, steps, now_ms])
            event = TruthEvent(
                kind,
                code,
                now_ms,
                now_ms + steps * 1000,
                {"from": st.bid / 1000, "to": target / 1000},
            )
        self.truth.append(event)
        if self.truth_file is not None:
            self.truth_file.write(orjson.dumps(event.record()) + b"\n")
            self.truth_file.flush()

    def _run_bursts(self, market: Market, now_ms: int, out: Callable[[Trade], None]) -> None:
        keep = []
        for b in self._bursts:
            code, until, per_ms, carry, last = b
            end = min(now_ms, until)
            carry += per_ms * max(0, end - last)
            n = int(carry)
            b[3], b[4] = carry - n, end
            for _ in range(n):
                trade = market.next_trade(code, now_ms)
                if trade is not None:
                    out(trade)
            if now_ms < until:
                keep.append(b)
        self._bursts = keep

    def _run_moves(self, market: Market, now_ms: int, out: Callable[[Trade], None]) -> None:
        keep = []
        for m in self._moves:
            code, target, steps, due = m
            if now_ms < due:
                keep.append(m)
                continue
            st = market.state(code)
            bid = snap(round(st.bid + (target - st.bid) / steps))
            bid = min(max(bid, MIN_PRICE), MAX_PRICE - 10_000)
            st.bid = bid
            st.ask = tick_up(bid)
            st.prev_close = bid  # the move sticks: the walk's anchor moves with it
            trade = market.next_trade(code, now_ms)
            if trade is not None:
                out(trade)
            if steps > 1:
                m[2], m[3] = steps - 1, now_ms + 1000
                keep.append(m)
        self._moves = keep


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    description: str
    factory: Callable[[ScenarioOptions], Scenario]


REGISTRY: dict[str, ScenarioInfo] = {}


def register(name: str, description: str, factory: Callable[[ScenarioOptions], Scenario]) -> None:
    """Add a named scenario (e.g. a data-quality one) for ``--scenario NAME``."""
    REGISTRY[name] = ScenarioInfo(name, description, factory)


register("none", "ordinary flow only", NoScenario)
register(
    "anomalies",
    "volume bursts, block trades and sharp moves at random names and times",
    AnomalyScenario,
)

# Data-quality faults (hkticks/server/dirty_scenario.py): the market server wraps its trade
# generator when this name is asked for; the rate loop itself injects nothing.
register(
    "dirty",
    "1% duplicates, 0.5% out-of-order trades and 0.1% price spikes (validate's test stream)",
    NoScenario,
)

DEMO_SCENARIO = "anomalies"


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"anomalies:gap_s=5,warmup_s=30"`` -> ("anomalies", {"gap_s": 5.0, "warmup_s": 30.0})."""
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise ValueError(f"scenario parameter {part!r} is not KEY=VALUE")
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = value
    return name, params


def make(spec: str, opts: ScenarioOptions | None = None) -> Scenario:
    """The scenario named by ``spec`` (``NAME`` or ``NAME:key=value,...``).

    ValueError naming the choices when the name is not registered."""
    name, params = parse_spec(spec)
    info = REGISTRY.get(name)
    if info is None:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(sorted(REGISTRY))}")
    opts = opts or ScenarioOptions()
    if params:
        opts = ScenarioOptions(opts.seed, opts.rate, opts.truth_file, {**opts.params, **params})
    return info.factory(opts)


def names() -> list[str]:
    return sorted(REGISTRY)


def simulate(
    market: Market,
    scenario: Scenario,
    *,
    start_ms: int,
    seconds: float,
    rate: float,
    step_ms: int = 20,
) -> list[Trade]:
    """Run the market and the scenario on a simulated clock, as the rate loop would.

    Every ``step_ms`` the market makes ``rate`` x step trades and the scenario
    its extra ones; ten simulated minutes take a second or two.
    """
    out: list[Trade] = []
    carry = 0.0
    end = start_ms + int(seconds * 1000)
    now = start_ms
    while now < end:
        now += step_ms
        carry += rate * step_ms / 1000.0
        n = int(carry)
        carry -= n
        if n:
            out.extend(market.next_trades(n, now))
        out.extend(scenario.inject(market, now))
    return out
