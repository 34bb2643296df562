"""Fixtures shared by several test modules: real NATS and PostgreSQL servers."""

from servers_testkit import market, nats_server, pg_cluster, pg_url  # noqa: F401

# Tests that drive a real terminal (tmux) or time the whole machine: CI runs them in a
# second pass on their own, after the parallel pass (see .ci/run), so that the other
# workers' load cannot stretch their waits. A plain `python -m pytest` runs everything.
SERIAL_FILES = {
    "test_board_tmux.py",
    "test_board_tmux_alerts.py",
    "test_heatmap_tmux.py",
    "test_watch_e2e.py",
    "test_bench.py",
    "test_bench_alerts.py",
    "test_soak.py",
}


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    import pytest

    for item in items:
        if item.path.name in SERIAL_FILES:
            item.add_marker(pytest.mark.serial)
