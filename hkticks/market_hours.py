"""Hong Kong trading hours as a pure function of an epoch time.

The quote board says whether the market is trading, at lunch or closed, and
how long until that changes, so that a quiet board at 12:30 reads as "lunch
break" rather than "feed broken". Hong Kong has no daylight saving time, so
Hong Kong time is always UTC+8 and no time zone database is needed.

Public holidays and half-day sessions (Christmas Eve, New Year's Eve, Lunar
New Year's Eve) are not known here: on those days the board shows the normal
weekday schedule. The board watches trades, so the only cost is a label.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

HKT_OFFSET_S = 8 * 3600
DAY_S = 86_400

# Phase names, in the order they happen on a trading day.
PRE_OPEN = "pre-opening"
MORNING = "morning"
LUNCH = "lunch"
AFTERNOON = "afternoon"
CLOSING_AUCTION = "closing auction"
CLOSED = "closed"
WEEKEND = "weekend"

# (start second of the HK day, phase) for a weekday; each phase lasts until the next start.
_SCHEDULE: tuple[tuple[int, str], ...] = (
    (0, CLOSED),
    (9 * 3600, PRE_OPEN),
    (9 * 3600 + 30 * 60, MORNING),
    (12 * 3600, LUNCH),
    (13 * 3600, AFTERNOON),
    (16 * 3600, CLOSING_AUCTION),
    (16 * 3600 + 10 * 60, CLOSED),
)

_LABELS: dict[str, str] = {
    PRE_OPEN: "pre-opening session",
    MORNING: "open (morning session)",
    LUNCH: "lunch break",
    AFTERNOON: "open (afternoon session)",
    CLOSING_AUCTION: "closing auction",
    CLOSED: "closed",
    WEEKEND: "closed (weekend)",
}

# What comes next, as the board words it ("lunch in 1h02m").
_NEXT_WORD: dict[str, str] = {
    PRE_OPEN: "open",
    MORNING: "lunch",
    LUNCH: "reopens",
    AFTERNOON: "auction",
    CLOSING_AUCTION: "close",
    CLOSED: "pre-open",
    WEEKEND: "pre-open",
}


@dataclass(frozen=True, slots=True)
class MarketSession:
    """Where the HK market is at one instant.

    ``trading`` is true while trades can print (continuous sessions and the
    auctions); ``continuous`` only during 09:30-12:00 and 13:00-16:00.
    ``next_change`` is the epoch second of the next phase change and
    ``next_word`` names it; while closed (nights, weekends) that is the next
    pre-open, since that is what a trader waits for.
    """

    phase: str
    label: str
    trading: bool
    continuous: bool
    next_change: float
    next_word: str

    def until(self, now: float) -> str:
        """``"until next: 1h02m"`` style text: how long until the next phase."""
        return f"{self.next_word} in {format_span(self.next_change - now)}"


SIMULATED_CLOSED_LABEL = "simulated session, HK market is closed"


def simulated_label(session: MarketSession) -> str:
    """What a simulated market is doing: it trades around the clock, so outside
    HK hours its trades belong to a simulated session, not to the real phase."""
    if session.trading:
        return session.label
    if session.phase == WEEKEND:
        return SIMULATED_CLOSED_LABEL + " (weekend)"
    return SIMULATED_CLOSED_LABEL


def hk_clock(epoch_s: float) -> tuple[int, int, float]:
    """(days since 1970-01-01 in HK, weekday 0=Monday, seconds into the HK day)."""
    local = epoch_s + HKT_OFFSET_S
    day = int(local // DAY_S)
    return day, (day + 3) % 7, local - day * DAY_S  # 1970-01-01 was a Thursday


def hk_time_text(epoch_ms: int, *, with_ms: bool = False) -> str:
    """``HH:MM:SS`` (or ``HH:MM:SS.mmm``) in Hong Kong time for an epoch in ms."""
    ms = (epoch_ms + HKT_OFFSET_S * 1000) % (DAY_S * 1000)
    s, milli = divmod(ms, 1000)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if with_ms:
        return f"{h:02d}:{m:02d}:{sec:02d}.{milli:03d}"
    return f"{h:02d}:{m:02d}:{sec:02d}"


def hk_date(epoch_s: float) -> str:
    """The Hong Kong calendar date ``YYYY-MM-DD`` of an epoch second."""
    return time.strftime("%Y-%m-%d", time.gmtime(epoch_s + HKT_OFFSET_S))


def market_session(epoch_s: float) -> MarketSession:
    """The market phase at ``epoch_s`` (UTC epoch seconds). Pure."""
    day, weekday, sec = hk_clock(epoch_s)
    day_start = epoch_s - sec  # epoch second of this HK midnight
    if weekday >= 5:
        days_to_monday = 7 - weekday
        nxt = day_start + days_to_monday * DAY_S + 9 * 3600
        return MarketSession(WEEKEND, _LABELS[WEEKEND], False, False, nxt, _NEXT_WORD[WEEKEND])
    phase = CLOSED
    nxt_start: float | None = None
    for i, (start, name) in enumerate(_SCHEDULE):
        if sec >= start:
            phase = name
            nxt_start = _SCHEDULE[i + 1][0] if i + 1 < len(_SCHEDULE) else None
    if nxt_start is None:  # after the close: the next weekday's pre-open
        days = 3 if weekday == 4 else 1
        nxt = day_start + days * DAY_S + 9 * 3600
    else:
        nxt = day_start + nxt_start
    trading = phase in (PRE_OPEN, MORNING, AFTERNOON, CLOSING_AUCTION)
    continuous = phase in (MORNING, AFTERNOON)
    return MarketSession(phase, _LABELS[phase], trading, continuous, nxt, _NEXT_WORD[phase])


def format_span(seconds: float) -> str:
    """A short duration: ``45s``, ``12m``, ``1h02m``, ``2d03h``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < DAY_S:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // DAY_S}d{(s % DAY_S) // 3600:02d}h"
