"""The embedded AllTick-compatible server over a simulated Hong Kong market.

Used by ``--demo``, ``hkticks serve``, the tests and the benchmarks. Owns the
WebSocket and REST servers, the simulated market, the Stock Connect list
endpoints and replay as a source.

Must not: be imported by the client side (only cli/ and bench/ start it); it
may use the protocol core, never the client's sessions, storage or screens.
"""

from hkticks.server.marketserver import MarketServer
from hkticks.server.wsserver import ConnectionInfo

__all__ = ["ConnectionInfo", "MarketServer"]
