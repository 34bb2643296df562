"""Hong Kong trading hours as a pure function of an epoch time.

The quote board says whether the market is trading, at lunch or closed, and
how long until that changes, so that a quiet board at 12:30 reads as "lunch
break" rather than "feed broken". Hong Kong has no daylight saving time, so
Hong Kong time is always UTC+8 and no time zone database is needed.

The trading calendar (:class:`Calendar`) knows HKEX's holidays and half-day
sessions (Christmas Eve, New Year's Eve, Lunar New Year's Eve: morning only)
for the years in ``hkticks/data/hk_holidays.toml`` (2025-2028; the file names
its sources and how to extend it), plus a user-editable override file for
days the market did not open (typhoon, black rainstorm) or did. Outside the
years covered every weekday is a trading day, and the first question about
such a year logs a warning (:attr:`Calendar.beyond` keeps the years asked,
for ``validate``'s report). Every part may ask it: the stale watchdog (no alarm
while the market is shut), gap records (trimmed to trading time), validation
and RVOL baselines. The small API: :meth:`Calendar.is_trading_day`,
:meth:`Calendar.sessions`, :meth:`Calendar.phase_at`,
:meth:`Calendar.is_open`, :meth:`Calendar.trading_ms_between` and
:meth:`Calendar.trim`; :func:`calendar` gives the shared default instance.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from hkticks.errors import ConfigError

log = logging.getLogger("hkticks.calendar")

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
HOLIDAY = "holiday"

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

# A half day (the eves of Christmas, New Year and Lunar New Year): morning only,
# the closing auction right after it.
_HALF_DAY: tuple[tuple[int, str], ...] = (
    (0, CLOSED),
    (9 * 3600, PRE_OPEN),
    (9 * 3600 + 30 * 60, MORNING),
    (12 * 3600, CLOSING_AUCTION),
    (12 * 3600 + 10 * 60, CLOSED),
)
HALF_DAY = "half day"  # a day kind, not a phase
FULL_DAY = "full day"
_TRADING_PHASES = (PRE_OPEN, MORNING, AFTERNOON, CLOSING_AUCTION)

_LABELS: dict[str, str] = {
    PRE_OPEN: "pre-opening session",
    MORNING: "open (morning session)",
    LUNCH: "lunch break",
    AFTERNOON: "open (afternoon session)",
    CLOSING_AUCTION: "closing auction",
    CLOSED: "closed",
    WEEKEND: "closed (weekend)",
    HOLIDAY: "closed (holiday)",
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
    HOLIDAY: "pre-open",
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


def market_session(epoch_s: float, cal: Calendar | None = None) -> MarketSession:
    """The market phase at ``epoch_s`` (UTC epoch seconds), by the trading calendar. Pure."""
    cal = cal or calendar()
    day, weekday, sec = hk_clock(epoch_s)
    day_start = epoch_s - sec  # epoch second of this HK midnight
    kind = cal.day_kind(day)
    if kind in (WEEKEND, HOLIDAY):
        nxt = day_start + (cal.next_trading_day(day) - day) * DAY_S + 9 * 3600
        return MarketSession(kind, _LABELS[kind], False, False, nxt, _NEXT_WORD[kind])
    schedule = _HALF_DAY if kind == HALF_DAY else _SCHEDULE
    phase = CLOSED
    nxt_start: float | None = None
    for i, (start, name) in enumerate(schedule):
        if sec >= start:
            phase = name
            nxt_start = schedule[i + 1][0] if i + 1 < len(schedule) else None
    if nxt_start is None:  # after the close: the next trading day's pre-open
        nxt = day_start + (cal.next_trading_day(day) - day) * DAY_S + 9 * 3600
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


# ---------------------------------------------------------------------- the trading calendar

DATA_FILE = Path(__file__).resolve().parent / "data" / "hk_holidays.toml"
OVERRIDE_ENV = "HKTICKS_HOLIDAYS"
_EPOCH_DATE = date(1970, 1, 1)
_MORNING_END_S = 12 * 3600
_PRE_OPEN_S = 9 * 3600


def day_number(d: date | str | int) -> int:
    """Days since 1970-01-01 of a date (``date``, ``"YYYY-MM-DD"`` or a day number)."""
    if isinstance(d, int):
        return d
    if isinstance(d, str):
        d = date.fromisoformat(d)
    return (d - _EPOCH_DATE).days


def day_date(day: int) -> date:
    return _EPOCH_DATE + timedelta(days=day)


def hk_day(epoch_ms: int) -> int:
    """The HK day number of an epoch in ms."""
    return (epoch_ms + HKT_OFFSET_S * 1000) // (DAY_S * 1000)


def default_override_path(env: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """``$HKTICKS_HOLIDAYS``, else ``$XDG_CONFIG_HOME/hkticks/holidays.toml``."""
    env = os.environ if env is None else env
    explicit = env.get(OVERRIDE_ENV)
    if explicit:
        return Path(explicit)
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hkticks" / "holidays.toml"


@dataclass
class Calendar:
    """HKEX trading days and sessions. Day numbers are HK days since 1970-01-01.

    ``closed`` and ``half_days`` map day numbers to names; ``opened`` are days
    an override says the market did trade (a listed holiday that was not).
    ``years`` is the range the data covers (outside it: weekdays only).
    """

    closed: dict[int, str] = field(default_factory=dict)
    half_days: dict[int, str] = field(default_factory=dict)
    opened: set[int] = field(default_factory=set)
    years: tuple[int, int] = (0, -1)
    sources: tuple[str, ...] = ()
    # years asked about that the data does not cover (each warned about once)
    beyond: set[int] = field(default_factory=set, compare=False, repr=False)
    _span: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    # -- days -------------------------------------------------------------------

    def _check_covered(self, day: int) -> None:
        """Warn once per year when asked about a day past the holiday data: its weekdays
        are then all taken as trading days, which is surely wrong. (Days before the data
        are old recordings' business: weekdays, silently, as ever.)"""
        span = self._span
        if span is None:
            lo, hi = self.years
            span = self._span = (
                (day_number(date(lo, 1, 1)), day_number(date(hi, 12, 31))) if lo <= hi else (1, 0)
            )
        if day <= span[1] or span[0] > span[1]:
            return
        year = day_date(day).year
        if year in self.beyond:
            return
        self.beyond.add(year)
        log.warning("%s", self.coverage_note(year))

    def coverage_note(self, year: int | None = None) -> str:
        """One line saying which years the holiday data lacks and how to add them."""
        asked = year if year is not None else (min(self.beyond) if self.beyond else None)
        covered = (
            f"{self.years[0]}-{self.years[1]}" if self.years[0] <= self.years[1] else "no year"
        )
        return (
            f"the HK trading calendar has holidays for {covered} only: {asked} is taken as "
            "weekdays without holidays; add its holidays to the override file "
            f"(${OVERRIDE_ENV} or ~/.config/hkticks/holidays.toml) or to "
            "hkticks/data/hk_holidays.toml (its header says how)"
        )

    def day_kind(self, day: int) -> str:
        """``FULL_DAY``, ``HALF_DAY``, ``HOLIDAY`` or ``WEEKEND`` for a day number."""
        self._check_covered(day)
        if (day + 3) % 7 >= 5:
            return WEEKEND
        if day in self.closed and day not in self.opened:
            return HOLIDAY
        if day in self.half_days:
            return HALF_DAY
        return FULL_DAY

    def is_trading_day(self, d: date | str | int) -> bool:
        return self.day_kind(day_number(d)) in (FULL_DAY, HALF_DAY)

    def holiday_name(self, d: date | str | int) -> str | None:
        day = day_number(d)
        if day in self.opened:
            return None
        return self.closed.get(day) or self.half_days.get(day)

    def covers(self, d: date | str | int) -> bool:
        """Whether the holiday data covers that date's year."""
        return self.years[0] <= day_date(day_number(d)).year <= self.years[1]

    def next_trading_day(self, day: int) -> int:
        for n in range(day + 1, day + 60):
            if self.day_kind(n) in (FULL_DAY, HALF_DAY):
                return n
        return day + 1  # pragma: no cover - no market closes for two months

    # -- sessions ---------------------------------------------------------------

    def sessions(self, d: date | str | int) -> list[tuple[int, int, str]]:
        """``(start_ms, end_ms, phase)`` of each phase in which trades can print,
        in time order (pre-opening, morning, afternoon, closing auction); empty
        on a day without trading."""
        day = day_number(d)
        kind = self.day_kind(day)
        if kind not in (FULL_DAY, HALF_DAY):
            return []
        schedule = _HALF_DAY if kind == HALF_DAY else _SCHEDULE
        base = (day * DAY_S - HKT_OFFSET_S) * 1000
        out = []
        for (start, phase), (end, _next) in zip(schedule, schedule[1:], strict=False):
            if phase in _TRADING_PHASES:
                out.append((base + start * 1000, base + end * 1000, phase))
        return out

    def open_intervals(self, d: date | str | int) -> list[tuple[int, int]]:
        """The day's trading time as merged ``[start_ms, end_ms)`` intervals
        (09:00-12:00 and 13:00-16:10; 09:00-12:10 on a half day)."""
        merged: list[tuple[int, int]] = []
        for start, end, _phase in self.sessions(d):
            if merged and merged[-1][1] == start:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        return merged

    def phase_at(self, epoch_ms: int) -> str:
        """The market phase at an epoch in ms (see the phase names at the top)."""
        return market_session(epoch_ms / 1000, self).phase

    def is_open(self, epoch_ms: int) -> bool:
        """Whether trades can print at ``epoch_ms`` (auctions included)."""
        return any(s <= epoch_ms < e for s, e in self.open_intervals(hk_day(epoch_ms)))

    def trim(self, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """The parts of ``[start_ms, end_ms)`` that are trading time."""
        out: list[tuple[int, int]] = []
        if end_ms <= start_ms:
            return out
        for day in range(hk_day(start_ms), hk_day(end_ms - 1) + 1):
            for s, e in self.open_intervals(day):
                lo, hi = max(s, start_ms), min(e, end_ms)
                if lo < hi:
                    out.append((lo, hi))
        return out

    def trading_ms_between(self, start_ms: int, end_ms: int) -> int:
        """Milliseconds of trading time in ``[start_ms, end_ms)``."""
        return sum(e - s for s, e in self.trim(start_ms, end_ms))


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path} is not valid TOML ({exc}): fix or remove it") from None


def _dates(value: Any, key: str, path: Path) -> dict[int, str]:
    """A list of dates or a table of date = name, as day numbers -> names."""
    items: dict[str, str]
    if isinstance(value, list):
        items = {str(v): key for v in value}
    elif isinstance(value, dict):
        items = {str(k): str(v) for k, v in value.items()}
    else:
        raise ConfigError(f"{path}: {key} must be a list of dates or a table of date = name")
    out: dict[int, str] = {}
    for text, name in items.items():
        try:
            out[day_number(date.fromisoformat(text.strip()))] = name
        except ValueError:
            raise ConfigError(
                f"{path}: {key} holds {text!r}, not a date: write dates as YYYY-MM-DD"
            ) from None
    return out


def load_calendar(override: Path | None = None, *, data_file: Path = DATA_FILE) -> Calendar:
    """The packaged holiday data, plus ``override`` (if that file exists).

    The override file (TOML) may hold ``closed`` (days the market did not
    open: typhoon, black rainstorm), ``half_days`` (morning only) and ``open``
    (listed holidays it traded on anyway), each a list of ``"YYYY-MM-DD"`` or
    a table of date = name. Raises :class:`ConfigError` on a bad file.
    """
    data = _read_toml(data_file, "the holiday data")
    closed = _dates(data.get("closed", {}), "closed", data_file)
    half = _dates(data.get("half_days", {}), "half_days", data_file)
    years = sorted({day_date(d).year for d in (*closed, *half)})
    sources = [str(data_file)]
    opened: set[int] = set()
    if override is not None and override.exists():
        extra = _read_toml(override, "the holidays override file")
        unknown = set(extra) - {"closed", "half_days", "open"}
        if unknown:
            raise ConfigError(
                f"{override}: unknown key {sorted(unknown)[0]!r}: use closed, half_days or open"
            )
        closed.update(_dates(extra.get("closed", []), "closed", override))
        extra_half = _dates(extra.get("half_days", []), "half_days", override)
        half.update(extra_half)
        opened = set(_dates(extra.get("open", []), "open", override))
        # a half day named in the override is no longer closed
        opened.update(day for day in extra_half if day in closed)
        sources.append(str(override))
    return Calendar(
        closed,
        half,
        opened,
        (years[0], years[-1]) if years else (0, -1),
        tuple(sources),
    )


_default: Calendar | None = None
_default_lock = threading.Lock()


def calendar() -> Calendar:
    """The shared calendar: packaged data plus the default override file. Cached."""
    global _default
    cal = _default
    if cal is None:
        with _default_lock:
            if _default is None:
                _default = load_calendar(default_override_path())
            cal = _default
    return cal


def set_calendar(cal: Calendar | None) -> None:
    """Replace the shared calendar (``None``: load it again on next use)."""
    global _default
    with _default_lock:
        _default = cal
