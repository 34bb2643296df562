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


# How a parallel run (``-n N --dist loadgroup``, pyproject.toml) shares the tests out: each xdist
# group runs on one worker, in order, so a group's module fixtures are built once.
#
# * Tests that drive a real terminal or a browser carry the ``terminal`` marker; each file of them
#   is a group of its own (every tmux test starts a tmux server on its own socket).
# * Tests that time the whole machine (a benchmark, a soak) are one group, ``bench``: one worker
#   runs them one after another, never two of them at once.
# * The long files in PER_TEST, whose tests share no module fixture and use nothing fixed (each
#   its own tmp_path, free ports, servers of its own), are one group per test, so the workers
#   share them; a test of theirs that uses a module (or class) fixture stays in its file's group.
# * Every other test is grouped by its file (as --dist loadfile would).
#
# The groups are sent out longest first (pytest_configure turns xdist's own reordering, by
# number of tests, off): a long group started last would keep one worker busy after the others
# have finished.
TERMINAL_FILES = {
    "test_board_tmux.py",
    "test_board_tmux_alerts.py",
    "test_heatmap_tmux.py",
    "test_watch_e2e.py",
    "test_dash_browser.py",  # a real browser, and a trade -> tile time
}
BENCH_FILES = {"test_bench.py", "test_bench_alerts.py", "test_soak.py"}
PER_TEST = {
    "test_docs_examples.py",  # every README/--help example group (the benchmarks one each)
    "test_alerts_cli.py",
    "test_pacing_commands.py",
    "test_faults.py",
}
# Seconds a group took (a run on the 2-core machine, 2026-12-04): only the order they give matters,
# and only for the long ones; any other group counts SECONDS_PER_TEST for each of its tests.
GROUP_SECONDS = {
    "bench": 70.0,
    "test_faults_recorder": 69.0,
    "test_record": 59.0,
    "test_reader_bounds": 53.0,
    "test_gaps_validate": 38.0,
    "test_secrets": 34.0,
    "test_outputs_isolated": 34.0,
    "test_board_keys": 33.0,
    "test_nats": 32.0,
    "test_dash_browser": 26.0,
    "test_stats": 26.0,
    "test_readme_recipes": 22.0,
    "test_api_jobs": 20.0,
    "test_selection_differential": 20.0,
}
# the slowest tests of the PER_TEST files, by the start of their group's name
TEST_SECONDS = {
    "test_alerts_cli::test_live_alerts": 20.0,
    "test_alerts_cli::test_alerts_a_hanging": 17.0,
    "test_alerts_cli::test_block_trades": 16.0,
    "test_alerts_cli::test_alerts_a_failing": 13.0,
    "test_pacing_commands::": 15.0,
    "test_faults::test_slow_sink_queue": 15.0,
    "test_faults::test_kill_9": 12.0,
    "test_docs_examples::test_every_example_runs_offline[hkticks replay --help]": 18.0,
    "test_docs_examples::test_every_example_runs_offline[hkticks stats --help]": 16.0,
    "test_docs_examples::test_every_example_runs_offline[hkticks bench --help: hkticks bench --dash]": 14.0,
    "test_docs_examples::test_every_example_runs_offline": 8.0,
}
SECONDS_PER_TEST = 0.05  # most tests take milliseconds


def _shares_a_fixture(item: pytest.Item) -> bool:
    """Whether the test uses a fixture built once for its module, package or class."""
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info is not None else []
    return any(d and d[-1].scope in ("module", "package", "class") for d in defs)


def xdist_group(item: pytest.Item) -> str:
    name = item.path.name
    if name in BENCH_FILES:
        return "bench"
    if name in PER_TEST and not _shares_a_fixture(item):
        return f"{item.path.stem}::{item.name}"
    return item.path.stem


def _group_seconds(group: str, tests: int) -> float:
    if group in GROUP_SECONDS:
        return GROUP_SECONDS[group]
    known = [s for start, s in TEST_SECONDS.items() if group.startswith(start)]
    return known[0] if known else SECONDS_PER_TEST * tests


def pytest_configure(config: pytest.Config) -> None:
    # xdist >= 3.8 sends the groups with the most tests first unless told not to
    # (--no-loadscope-reorder); older ones keep the collection order, which is set below
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        if item.path.name in TERMINAL_FILES | BENCH_FILES:
            item.add_marker(pytest.mark.terminal)
        group = xdist_group(item)
        item.add_marker(pytest.mark.xdist_group(group))
        groups.setdefault(group, []).append(item)
    # longest first (sorted() is stable: otherwise in collection order)
    ordered = sorted(groups.items(), key=lambda g: -_group_seconds(g[0], len(g[1])))
    items[:] = [item for _, group_items in ordered for item in group_items]
