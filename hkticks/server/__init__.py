"""The embedded AllTick-compatible server over a simulated Hong Kong market.

Used by ``--demo``, ``hkticks serve``, the tests and the benchmarks. Owns
``marketserver.py`` (:class:`MarketServer`: the market, both servers and a
thread-safe control API), ``demo.py`` (the in-process market of ``--demo``),
the WebSocket server ``wsserver.py`` with ``ws_requests.py`` (what it answers
to each request) and ``ws_connections.py`` (a connection's state, the
options, the header check), ``frames.py`` (its encoder of AllTick frames), the
REST server ``rest_server.py`` with ``rest_answers.py`` (the answers' data)
and ``rest_limits.py`` (the REST rate rules), the simulated market
``market.py`` over ``simulated_stocks.py`` (its stocks) and ``tick_ladder.py``
(the HKEX tick ladder in integer mills), ``klines.py`` (its K-line bars),
``stocklists.py`` (the Stock Connect list endpoints), ``replaysource.py``
(replay as a source), the named scenarios ``scenarios.py`` that inject
anomalies with their truth and ``dirty_scenario.py`` (data-quality faults),
and ``chaos.py`` (socket kills at seeded times).

Must not: be imported by the client side (only cli/ and bench/ start it); it
may use the protocol core, never the client's sessions, storage or screens.

Charter: AllTick's documentation (its repository's ``websocket_interface``,
``http_interface`` and ``error_code_description``) is the authority, not
this server. Where the documentation is silent or contradicts itself, the
client tolerates every reading and this server picks the strict one, so a
client that passes here passes there:

* REST rates: the table's combined rate over all endpoints (free 1 per 10 s,
  basic 1/s, premium 10/s, others 20/s), not the basic-plan example that lets
  two endpoints through in one second; plus ``batch-kline``'s interval, the
  per-minute and the daily totals (``rest_limits.py``).
* WebSocket pacing: 605 (rejected) for a second request within 1 s on a
  connection; 606 and a close for a request within 3 s of another
  connection's and for a connection beyond the plan's count (606 is what
  the error table gives for both); no invented "three strikes" rule.
  Heartbeats are exempt (the limits are stated for the trade and order-book
  interfaces) and ``"data": []`` -- what AllTick's PHP example sends -- is
  read as the empty object.
* ``cancel_type`` is required (400 "request data param invalid" without).
* Fields AllTick does not document (``invalid_codes``, ``max_items``,
  ``max_symbols``, ``reason``) are sent only with ``--quirks extras``;
  without them a 600 names no code and the client must cope.
* Paid plans are *advised* 50 codes per REST call: not cut (free: the first 5).
* K-lines: a made-up history of minute bars only in the continuous sessions
  of trading days (HKEX calendar), daily bars on trading days only, at most
  500 bars a call however many are asked. The simulation trades around the
  clock, and bars must agree with the trades served (``validate --kline``),
  so the minutes in which this server served trades outside HKEX hours have
  bars too: those are its simulated session's, and the only ones.
"""

from hkticks.server.marketserver import MarketServer
from hkticks.server.ws_connections import ConnectionInfo

__all__ = ["ConnectionInfo", "MarketServer"]
