"""The suite's fixtures, in one place: the embedded AllTick server, real NATS and PostgreSQL
servers, an isolated environment and a free port. Helpers without fixtures live in tests/kit/.

The embedded server's options come from the closest ``market`` marker, e.g. a module's
``pytestmark = pytest.mark.market(rate=800.0, seed=5)`` or a test's
``@pytest.mark.market(heartbeat_timeout=2.0)``, over kit.embedded.SERVER_DEFAULTS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kit.embedded import start_server
from kit.hk import hk_env as _hk_env
from kit.ports import free_port as _free_port
from kit.services import nats_server, pg_cluster, pg_url  # noqa: F401  (fixtures)


def server_options(node: pytest.Item | pytest.Collector) -> dict[str, Any]:
    """The options of the closest ``market`` marker."""
    marker = node.get_closest_marker("market")
    return dict(marker.kwargs) if marker else {}


def _serve(options: dict[str, Any]) -> Iterator[Any]:
    srv = start_server(**options)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The embedded AllTick server on free loopback ports (options: the ``market`` marker)."""
    yield from _serve(server_options(request.node))


@pytest.fixture(scope="module")
def module_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One embedded server for every test of a module (options: the module's ``market`` marker)."""
    yield from _serve(server_options(request.node))


@pytest.fixture
def make_server(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``make_server(**options)``: more embedded servers (options over the ``market`` marker's),
    each stopped at the end of the test."""
    started: list[Any] = []

    def make(**options: Any) -> Any:
        started.append(start_server(**{**server_options(request.node), **options}))
        return started[-1]

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def exchange() -> Iterator[Any]:
    """The local stand-in for the SSE/SZSE list pages and AllTick's REST API (kit/exchange.py)."""
    from kit.exchange import FakeExchange

    fx = FakeExchange().start()
    try:
        yield fx
    finally:
        fx.stop()


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """An environment with config and cache in the test's directory and no HKTICKS_/ALLTICK_."""
    return _hk_env(tmp_path)


@pytest.fixture
def free_port() -> int:
    return _free_port()


# Tests that drive a real terminal (tmux) or time the whole machine: one xdist group, so one
# worker runs them one after another while the others share the rest. Every other test is
# grouped by its file (as --dist loadfile would): a module's fixtures are built once.
TERMINAL_FILES = {
    "test_board_tmux.py",
    "test_board_tmux_alerts.py",
    "test_heatmap_tmux.py",
    "test_watch_e2e.py",
    "test_bench.py",
    "test_bench_alerts.py",
    "test_soak.py",
    "test_dash_browser.py",  # a real browser, and a trade -> tile time
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        terminal = item.path.name in TERMINAL_FILES
        if terminal:
            item.add_marker(pytest.mark.terminal)
        item.add_marker(pytest.mark.xdist_group("terminal" if terminal else item.path.stem))
