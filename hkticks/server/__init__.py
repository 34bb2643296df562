"""The embedded AllTick-compatible server over a simulated Hong Kong market.

Used by ``--demo``, ``hkticks serve``, the tests and the benchmarks. The
client side of hkticks must never import this package.
"""

from hkticks.server.marketserver import MarketServer
from hkticks.server.wsserver import ConnectionInfo

__all__ = ["ConnectionInfo", "MarketServer"]
