"""Alerts against the truth of a scenario: recall, precision, latency. Pure.

The truth is what the simulated market injected (records of
``hkticks/server/scenarios.py``'s truth log: ``kind``, ``symbol``,
``start_ms``, ``end_ms``, ``expected_alert``). An event counts as flagged
when an alert of its expected kind on its symbol has a ``ts`` from the
event's start to ``within_s`` later; its latency is that alert's ``ts`` minus
the start. An alert is true when it falls on an event's symbol between its
start and its end plus ``linger_s`` (a burst or a move keeps a window busy
for a while after it ends), whatever its kind; the others are false.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hkticks.analysis.anomaly import Alert

VOLUME_KINDS = ("volume_spike", "block_trade")


@dataclass
class Score:
    events: int = 0
    flagged: int = 0
    alerts: int = 0
    true_alerts: int = 0
    false_by_kind: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[int] = field(default_factory=list)
    missed: list[Mapping[str, Any]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.flagged / self.events if self.events else 1.0

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0

    @property
    def false_volume_block(self) -> int:
        return sum(self.false_by_kind.get(k, 0) for k in VOLUME_KINDS)

    def latency(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        s = sorted(self.latencies_ms)
        return s[min(len(s) - 1, int(q * len(s)))] / 1000.0

    def summary(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "flagged": self.flagged,
            "recall": round(self.recall, 4),
            "alerts": self.alerts,
            "true_alerts": self.true_alerts,
            "precision": round(self.precision, 4),
            "false_by_kind": dict(self.false_by_kind),
            "latency_p50_s": self.latency(0.5),
            "latency_max_s": self.latency(1.0),
        }


def score(
    alerts: Sequence[Alert],
    truth: Iterable[Mapping[str, Any]],
    *,
    within_s: float = 10.0,
    linger_s: float = 90.0,
    until_ms: int | None = None,
) -> Score:
    """Score ``alerts``; events starting later than ``until_ms - within_s`` (cut
    short by the end of the run) are left out."""
    events = list(truth)
    if until_ms is not None:
        events = [e for e in events if int(e["start_ms"]) <= until_ms - within_s * 1000]
    out = Score(events=len(events), alerts=len(alerts))
    by_symbol: dict[str, list[Alert]] = {}
    for a in alerts:
        by_symbol.setdefault(a.symbol, []).append(a)
    within = int(within_s * 1000)
    linger = int(linger_s * 1000)
    for ev in events:
        start = int(ev["start_ms"])
        hits = [
            a
            for a in by_symbol.get(ev["symbol"], ())
            if a.kind == ev["expected_alert"] and start <= a.ts <= start + within
        ]
        if hits:
            out.flagged += 1
            out.latencies_ms.append(min(a.ts for a in hits) - start)
        else:
            out.missed.append(ev)
    for a in alerts:
        true = any(
            ev["symbol"] == a.symbol and int(ev["start_ms"]) <= a.ts <= int(ev["end_ms"]) + linger
            for ev in events
        )
        if true:
            out.true_alerts += 1
        else:
            out.false_by_kind[a.kind] = out.false_by_kind.get(a.kind, 0) + 1
    return out
