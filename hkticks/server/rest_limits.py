"""AllTick's REST rate rules as the embedded server enforces them: the sliding
windows one call must fit in (:func:`rest_windows`), the per-token
:class:`RateLimiter` (and the daily total), and how many codes a call may name
(:func:`codes_cap`).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from hkticks.alltick import protocol as alltick

RATE_GRACE = 0.1  # of one call: absorbs network jitter between well-paced calls


def rest_windows(plan: alltick.Plan, endpoint: str) -> list[tuple[str, int, float]]:
    """The sliding windows one call of ``endpoint`` must fit in: (name, calls, seconds).

    AllTick's "request multiple HTTP interfaces" column, per token: the
    combined rate over every endpoint (free: 1 per 10 s; basic 1, premium 10,
    others 20 a second), ``batch-kline``'s own interval and the per-minute
    total. (The daily total is counted by calendar day, not in a window.)
    """
    rate = plan.rest_per_second
    combined = (round(rate), 1.0) if rate >= 1 else (1, 1.0 / rate)
    out = [("combined", *combined), ("minute", plan.rest_per_minute, 60.0)]
    if endpoint == "batch-kline":
        out.append(("batch-kline", 1, plan.rest_batch_kline_interval_s))
    return out


class RateLimiter:
    """AllTick's REST limits per token (``http_interface/interface_limitation.md``).

    One call counts against every window of :func:`rest_windows` at once --
    the combined rate over all endpoints, ``batch-kline``'s interval, the
    per-minute total -- and against the daily total (reset at midnight, Hong
    Kong time). Windows slide: at most N calls in any span of the window's
    length, so a burst of 30 calls on a 20-a-second plan gets 20 through,
    not 20 plus what a token bucket refills meanwhile. A call refused costs
    nothing. ``RATE_GRACE`` of one call's share of a window absorbs network
    jitter between well-paced calls.

    Where the documentation contradicts itself (its basic-plan example lets
    ``kline`` and ``trade-tick`` through in the same second, its table says
    "one request per second" over all interfaces) the strict reading is
    enforced; hkticks' client keeps the combined rate anyway.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], deque[float]] = {}  # (token, window) -> times
        self._days: dict[str, tuple[int, int]] = {}  # token -> (HK day, calls)

    def allow(
        self,
        key: str,
        endpoint: str,
        plan: alltick.Plan,
        now: float | None = None,
        wall: float | None = None,
    ) -> bool:
        now = time.monotonic() if now is None else now
        windows = rest_windows(plan, endpoint)
        with self._lock:
            kept: list[deque[float]] = []
            for name, calls, seconds in windows:
                times = self._calls.setdefault((key, name), deque())
                edge = now - seconds + RATE_GRACE * seconds / calls
                while times and times[0] <= edge:
                    times.popleft()
                if len(times) >= calls:
                    return False
                kept.append(times)
            day = int(((time.time() if wall is None else wall) + 8 * 3600) // 86_400)
            seen_day, calls_today = self._days.get(key, (day, 0))
            if seen_day != day:
                calls_today = 0
            if calls_today >= plan.rest_per_day:
                return False
            self._days[key] = (day, calls_today + 1)
            for times in kept:
                times.append(now)
            return True


def codes_cap(plan: alltick.Plan) -> int | None:
    """Codes one ``trade-tick`` / ``depth-tick`` / ``static_info`` call processes: free 5
    (the first five); paid plans are only *advised* 50 for the URL's length, so no cut."""
    if plan.rest_codes_per_call < alltick.REST_MAX_CODES_PER_CALL:
        return plan.rest_codes_per_call
    return None
