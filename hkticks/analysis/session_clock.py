"""The continuous sessions of the Hong Kong day as the anomaly engine and the
baselines count them: minutes into the session (:func:`session_minute`) and
the phase holding an instant (:func:`phase_span`). Pure.
"""

from __future__ import annotations

from hkticks.market_hours import DAY_S, HKT_OFFSET_S

# Continuous sessions, seconds into the HK day, and their minutes of session.
_AM_OPEN, _AM_CLOSE = 9 * 3600 + 1800, 12 * 3600
_PM_OPEN, _PM_CLOSE = 13 * 3600, 16 * 3600
SESSION_MINUTES = 330  # 150 in the morning + 180 in the afternoon


def session_minute(ts_ms: int) -> float:
    """Minutes into the continuous session (0..330) at ``ts_ms``; lunch and
    auctions clamp to the nearest session edge."""
    sec = ((ts_ms // 1000) + HKT_OFFSET_S) % DAY_S
    if sec < _AM_OPEN:
        return 0.0
    if sec < _AM_CLOSE:
        return (sec - _AM_OPEN) / 60.0
    if sec < _PM_OPEN:
        return 150.0
    if sec < _PM_CLOSE:
        return 150.0 + (sec - _PM_OPEN) / 60.0
    return float(SESSION_MINUTES)


def phase_span(ts_ms: int) -> tuple[int, int, bool, int]:
    """(start ms, end ms, continuous?, HK day number) of the phase holding ``ts_ms``.

    Weekends are not continuous. Pure; the engine caches one span at a time.
    """
    local_s = ts_ms // 1000 + HKT_OFFSET_S
    day = local_s // DAY_S
    sec = local_s - day * DAY_S
    base_ms = (day * DAY_S - HKT_OFFSET_S) * 1000
    weekday = (day + 3) % 7
    if weekday >= 5:
        return base_ms, base_ms + DAY_S * 1000, False, day
    edges = (0, _AM_OPEN, _AM_CLOSE, _PM_OPEN, _PM_CLOSE, DAY_S)
    for i in range(5):
        if edges[i] <= sec < edges[i + 1]:
            return base_ms + edges[i] * 1000, base_ms + edges[i + 1] * 1000, i in (1, 3), day
    raise AssertionError("unreachable")  # pragma: no cover
