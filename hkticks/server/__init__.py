"""The embedded AllTick-compatible server over a simulated Hong Kong market.

Used by ``--demo``, ``hkticks serve``, the tests and the benchmarks. Owns the
WebSocket and REST servers, the simulated market, the Stock Connect list
endpoints, replay as a source and the named scenarios (``scenarios.py``)
that inject anomalies with their truth.

Must not: be imported by the client side (only cli/ and bench/ start it); it
may use the protocol core, never the client's sessions, storage or screens.
"""

from hkticks.server.marketserver import MarketServer
from hkticks.server.wsserver import ConnectionInfo

__all__ = ["ConnectionInfo", "MarketServer"]
