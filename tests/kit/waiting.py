"""``wait_until``: the suite's one way to wait for a state (a busy machine only makes it slower)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

WAIT_S = 30.0  # upper bound for states that normally hold within a second or two


def wait_until(
    predicate: Callable[[], T],
    timeout: float = WAIT_S,
    what: str = "the condition",
    interval: float = 0.02,
) -> T:
    """Poll ``predicate()`` until it returns something truthy, and return that.

    On timeout, fail with an AssertionError naming ``what`` was waited for and the
    predicate's last value. An exception raised by the predicate propagates.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what} (last: {value!r})"
            )
        time.sleep(interval)  # the polling interval of wait_until itself, not a wait for a state
