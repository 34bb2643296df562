"""Test kits: helpers the test modules import (``from kit.waiting import wait_until``).

* :mod:`kit.waiting` - ``wait_until``: every wait for a state, by condition, never a fixed sleep;
* :mod:`kit.hk` - an isolated environment (empty config/cache) and ``run_hk``/``start_hk``;
* :mod:`kit.ports` - a free loopback port;
* :mod:`kit.ws_client` - a websocket-client AllTick client for the embedded server's tests;
* :mod:`kit.services` - real nats-server and PostgreSQL processes;
* :mod:`kit.board` - deterministic boards for the Pilot and snapshot tests.

The fixtures built on them (``server``, ``nats_server``, ``pg_cluster``, ``pg_url``,
``clean_env``, ``free_port``) are in ``tests/conftest.py``.
"""
