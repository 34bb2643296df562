"""The embedded AllTick server (hkticks.server.MarketServer) with the suite's defaults."""

from __future__ import annotations

from typing import Any

from hkticks.server import MarketServer

# every fault test's server: fast enough for many trades a second, records what it sent
# (to compare with what was written), a heartbeat timeout no test trips by accident
SERVER_DEFAULTS: dict[str, Any] = {
    "token": "t",
    "plan": "all-hk",
    "rate": 400.0,
    "seed": 11,
    "heartbeat_timeout": 30.0,
    "enforce_pacing": False,
    "record_sent": True,
}


def start_server(**options: Any) -> MarketServer:
    """A started server on free loopback ports: ``options`` over :data:`SERVER_DEFAULTS`.
    The caller stops it (the ``server``/``make_server`` fixtures of conftest.py do)."""
    return MarketServer(**{**SERVER_DEFAULTS, **options}).start()
