"""Alerts as ``hkticks alerts`` and ``replay --alerts`` print them: a line or a JSON object."""

from __future__ import annotations

from typing import IO, Any

import orjson

from hkticks.analysis.anomaly import Alert
from hkticks.market_hours import hk_time_text


def format_alert(alert: Alert) -> str:
    """``HH:MM:SS.mmm  00700  volume_spike  message`` (Hong Kong time)."""
    return (
        f"{hk_time_text(alert.ts, with_ms=True)}  {alert.symbol}  {alert.kind:<12}  {alert.message}"
    )


class Output:
    """Prints alerts (a line or a JSON object each) and hands them to the delivery channels."""

    def __init__(self, out: IO[bytes], as_json: bool, channels: Any = None) -> None:
        self.out = out
        self.as_json = as_json
        self.dispatcher = channels
        self.count = 0

    def emit(self, alert: Alert) -> None:
        line = orjson.dumps(alert.record()) if self.as_json else format_alert(alert).encode()
        self.out.write(line + b"\n")
        self.out.flush()
        self.count += 1
        if self.dispatcher is not None:
            self.dispatcher.send(alert)
