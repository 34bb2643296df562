"""The Connection Manager and Tick Processor: from AllTick's WebSocket to the queue.

Owns ``session.py`` (one connection in its own thread: handshake, heartbeat,
reconnect with capped backoff, stale watchdog, events), ``read_ahead.py`` (the
session's websocket-client socket read in large chunks), ``shards.py``
(symbols spread over connections within the plan, and the :class:`Feed` that
runs them), ``pacing.py`` (the one pacer every request passes, one per connection;
connection spacing, backoff), ``gap_tracker.py`` (one ``gap`` event per outage),
``dedup.py`` (re-sent trades dropped by symbol, trading day and seq),
``guards.py`` (oversized messages and token-leaking redirects refused),
``queue.py`` (the bounded queue whose every drop is counted),
``nats_source.py`` and ``natsurl.py`` (the same feed read from a NATS stream)
and ``tickfeed.py`` (the one Feed protocol every consumer sees, whatever the origin).

Must not: know about files, screens or analytics (storage/, watch/,
analysis/ are above it), or import the embedded server.
"""
