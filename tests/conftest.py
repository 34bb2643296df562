"""Fixtures shared by several test modules: real NATS and PostgreSQL servers."""

from servers_testkit import market, nats_server, pg_cluster, pg_url  # noqa: F401
