"""The Symbol Service: which stocks exist and which can trade.

Owns ``universe.py`` (code normalisation, the cached Stock Connect list,
search over codes and CN/EN names, suspension from REST) and ``sources.py``
(the SSE and SZSE southbound lists as published) and ``shard.py``
(``--shard i/n``: a symbol list split deterministically over recorders).

Must not: open WebSockets, or import feed/, storage/, watch/, cli/ or server/.
"""
