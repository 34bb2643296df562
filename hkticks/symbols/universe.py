"""Symbol Service: code normalisation and the Stock Connect universe.

:func:`normalise` is the one function every command uses to turn what a user
typed into hkticks' canonical five-digit HK code.

The universe is the merged southbound list of both Stock Connect channels
(fetched by :mod:`hkticks.symbols.sources`), cached as JSON in the user cache
directory, with the stocks that have stopped trading marked suspended from
AllTick's latest trades (:mod:`hkticks.alltick.rest_client`). ``record`` and ``watch`` take
their default symbols from :func:`load_universe`. A failed refresh never
replaces a good cache: it is all or nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from hkticks import config
from hkticks.alltick import protocol as alltick
from hkticks.alltick.rest_client import RestClient
from hkticks.errors import HkticksError, OutputError, SourceError, UsageError
from hkticks.symbols import sources
from hkticks.symbols.sources import SourceList

# [0-9], not \d: \d also matches other scripts' digits ("٧٠٠", "７００"), which
# int() accepts but which would leak into the code ("00٧٠٠").
_FORMS = (
    re.compile(r"^([0-9]{1,5})$"),  # 700, 0700, 00700
    re.compile(r"^([0-9]{1,5})\.HK$", re.IGNORECASE),  # 700.HK, 0700.HK, 00700.HK
    re.compile(r"^HK[.:]?([0-9]{1,5})$", re.IGNORECASE),  # HK.00700, HK:700, HK00700
)


def try_normalise(text: str) -> str | None:
    """The five-digit code for ``text``, or ``None`` if it is not an HK stock code."""
    s = text.strip()
    for form in _FORMS:
        m = form.match(s)
        if m:
            digits = m.group(1)
            if int(digits) == 0:
                return None
            return digits.zfill(5)
    return None


def normalise(text: str) -> str:
    """``700``, ``0700``, ``00700``, ``0700.HK``, ``700.HK``, ``HK.00700`` -> ``00700``.

    Raises :class:`UsageError` naming the bad input for anything else.
    """
    code = try_normalise(text)
    if code is None:
        raise UsageError(
            f"invalid symbol {text!r}: use an HK stock code such as 00700, 700 or 0700.HK"
        )
    return code


def normalise_all(texts: Iterable[str]) -> list[str]:
    """Normalise many symbols, keeping first-seen order and dropping repeats.

    All bad inputs are named in one error.
    """
    seen: dict[str, None] = {}
    bad: list[str] = []
    for text in texts:
        code = try_normalise(text)
        if code is None:
            bad.append(text)
        else:
            seen.setdefault(code, None)
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5]) + (
            f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        )
        raise UsageError(
            f"invalid symbol{'s' if len(bad) > 1 else ''} {shown}: "
            "use HK stock codes such as 00700, 700 or 0700.HK"
        )
    return list(seen)


# ---------------------------------------------------------------------------
# The Stock Connect universe

CACHE_FILE = "symbols.json"
DEMO_CACHE_FILE = "demo-symbols.json"  # --demo never touches the real cache
CACHE_VERSION = 1
STALE_AFTER_S = 7 * 86400
CHANNELS: tuple[str, ...] = ("SH", "SZ")
HK_TZ = dt.timezone(dt.timedelta(hours=8))

# Weekday HKEX full-day closures (Hong Kong general holidays) for 2025-2026
# and New Year 2027. Weekends are skipped anyway. Dates after this list are
# treated as trading days; :func:`suspension_cutoff` also never demands a
# trade later than the market's own latest trade, so an unlisted holiday or
# a typhoon closure cannot mark the whole market suspended.
HK_HOLIDAYS: frozenset[dt.date] = frozenset(
    dt.date.fromisoformat(d)
    for d in (
        "2025-01-01 2025-01-29 2025-01-30 2025-01-31 2025-04-04 2025-04-18 2025-04-21 "
        "2025-05-01 2025-05-05 2025-07-01 2025-10-01 2025-10-07 2025-10-29 2025-12-25 "
        "2025-12-26 2026-01-01 2026-02-17 2026-02-18 2026-02-19 2026-04-03 2026-04-06 "
        "2026-04-07 2026-05-01 2026-05-25 2026-06-19 2026-07-01 2026-10-01 2026-10-19 "
        "2026-12-25 2027-01-01"
    ).split()
)


@dataclass(frozen=True)
class StockInfo:
    """One southbound-eligible stock. ``channels`` lists ``"SH"`` and/or ``"SZ"``."""

    code: str
    name_cn: str
    name_en: str
    channels: tuple[str, ...]
    suspended: bool = False


@dataclass
class Universe:
    """The merged Stock Connect list, as cached.

    ``fetched_at`` is when it was fetched (epoch seconds), ``sources`` maps
    ``"SSE"``/``"SZSE"`` to each list's own date. ``suspended_checked_at`` is
    when suspensions were last checked (``None``: never), ``last_traded``
    the last trade date (ISO, Hong Kong) of each suspended stock.
    """

    stocks: list[StockInfo]
    fetched_at: float
    sources: dict[str, str]
    demo: bool = False
    suspended_checked_at: float | None = None
    suspension_note: str = ""
    last_traded: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    _by_code: dict[str, StockInfo] = field(default_factory=dict, init=False, repr=False)
    _haystacks: list[tuple[StockInfo, str, str, str]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        """Sort by code and rebuild the look-ups (after ``stocks`` was replaced)."""
        self.stocks = sorted(self.stocks, key=lambda s: s.code)
        self._by_code = {s.code: s for s in self.stocks}
        self._haystacks = [
            (s, _fold(s.name_cn), _fold(s.name_en), _compact(_fold(s.name_cn + s.name_en)))
            for s in self.stocks
        ]

    def __len__(self) -> int:
        return len(self.stocks)

    def codes(self, *, include_suspended: bool = False, channel: str = "any") -> list[str]:
        """Codes in order, for ``record``/``watch``: suspended ones only if asked."""
        return [s.code for s in self.select(include_suspended=include_suspended, channel=channel)]

    def select(
        self, *, include_suspended: bool = False, channel: str = "any", search: str | None = None
    ) -> list[StockInfo]:
        """Stocks filtered by channel (``sh``, ``sz``, ``any``), suspension and search text."""
        want = _channel(channel)
        stocks = self.search(search) if search else self.stocks
        return [
            s
            for s in stocks
            if (include_suspended or not s.suspended) and (want is None or want in s.channels)
        ]

    def get(self, code: str) -> StockInfo | None:
        """The stock for ``code`` in any accepted form (``700``, ``0700.HK``...), or ``None``."""
        canonical = try_normalise(code)
        return self._by_code.get(canonical) if canonical else None

    def names(self, codes: Iterable[str]) -> dict[str, tuple[str, str]]:
        """``{code: (name_en, name_cn)}`` for the codes this list names."""
        out: dict[str, tuple[str, str]] = {}
        for code in codes:
            info = self.get(code)
            if info is not None and (info.name_en or info.name_cn):
                out[code] = (info.name_en, info.name_cn)
        return out

    def search(self, text: str) -> list[StockInfo]:
        """Stocks whose code or either name contains ``text``, case-insensitively.

        Width and case are folded (``baba-w`` finds ``阿里巴巴－Ｗ``), spaces and
        punctuation are ignored in names (``pingan`` finds ``PING AN``), and a
        code in any form (``700.HK``) finds its stock first.
        """
        needle = _fold(text.strip())
        if not needle:
            return list(self.stocks)
        compact = _compact(needle)
        exact = try_normalise(text)
        first: list[StockInfo] = []
        rest: list[StockInfo] = []
        for s, name_cn, name_en, names in self._haystacks:
            if s.code == exact:
                first.append(s)
            elif (
                needle in s.code
                or needle in name_cn
                or needle in name_en
                or (compact and compact in names)
            ):
                rest.append(s)
        return first + rest

    @property
    def suspended_count(self) -> int:
        return sum(1 for s in self.stocks if s.suspended)

    def channel_counts(self) -> dict[str, int]:
        """Stocks per channel, plus ``"both"``."""
        counts = {c: 0 for c in CHANNELS}
        counts["both"] = 0
        for s in self.stocks:
            for c in s.channels:
                counts[c] = counts.get(c, 0) + 1
            if len(s.channels) > 1:
                counts["both"] += 1
        return counts

    def age_seconds(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.fetched_at)

    def describe_age(self, now: float | None = None) -> str:
        """``"from 2026-11-20 (4 days old)"``: when it was fetched, in Hong Kong time."""
        return f"from {hk_date(self.fetched_at)} ({_age_text(self.age_seconds(now))} old)"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CACHE_VERSION,
            "fetched_at": self.fetched_at,
            "sources": dict(self.sources),
            "demo": self.demo,
            "suspended_checked_at": self.suspended_checked_at,
            "suspension_note": self.suspension_note,
            "count": len(self.stocks),
            "stocks": [
                {
                    "code": s.code,
                    "name_cn": s.name_cn,
                    "name_en": s.name_en,
                    "channels": list(s.channels),
                    "suspended": s.suspended,
                    **(
                        {"last_traded": self.last_traded[s.code]}
                        if s.code in self.last_traded
                        else {}
                    ),
                }
                for s in self.stocks
            ],
        }

    @classmethod
    def from_json(cls, obj: Any, path: Path | None = None) -> Universe:
        """Rebuild from :meth:`to_json` output; raises ``ValueError`` if it is not one."""
        if not isinstance(obj, dict) or obj.get("version") != CACHE_VERSION:
            raise ValueError("not a hkticks symbol cache of this version")
        raw_stocks = obj.get("stocks")
        if not isinstance(raw_stocks, list) or not raw_stocks:
            raise ValueError("no stocks")
        stocks: list[StockInfo] = []
        last_traded: dict[str, str] = {}
        for raw in raw_stocks:
            if not isinstance(raw, dict):
                raise ValueError("a stock is not an object")
            code = try_normalise(str(raw.get("code", "")))
            channels = raw.get("channels")
            if code is None or not isinstance(channels, list):
                raise ValueError(f"bad stock entry {str(raw)[:60]}")
            stocks.append(
                StockInfo(
                    code,
                    str(raw.get("name_cn") or ""),
                    str(raw.get("name_en") or ""),
                    tuple(c for c in CHANNELS if c in channels),
                    bool(raw.get("suspended", False)),
                )
            )
            if isinstance(raw.get("last_traded"), str):
                last_traded[code] = raw["last_traded"]
        fetched_at = obj.get("fetched_at")
        sources = obj.get("sources")
        checked = obj.get("suspended_checked_at")
        if not isinstance(fetched_at, (int, float)) or not isinstance(sources, dict):
            raise ValueError("no fetch time or sources")
        return cls(
            stocks=stocks,
            fetched_at=float(fetched_at),
            sources={str(k): str(v) for k, v in sources.items()},
            demo=bool(obj.get("demo", False)),
            suspended_checked_at=float(checked) if isinstance(checked, (int, float)) else None,
            suspension_note=str(obj.get("suspension_note") or ""),
            last_traded=last_traded,
            path=path,
        )


def _channel(channel: str) -> str | None:
    c = channel.strip().upper()
    if c in ("", "ANY", "ALL"):
        return None
    if c in CHANNELS:
        return c
    raise UsageError(f"invalid channel {channel!r}: use sh, sz or any")


_NON_WORD = re.compile(r"[\W_]+")


def _compact(text: str) -> str:
    return _NON_WORD.sub("", text)


def _fold(text: str) -> str:
    """Fold width and case: full-width ``Ｗ``/``－`` match ASCII ``w``/``-``."""
    return unicodedata.normalize("NFKC", text).casefold()


def _age_text(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if seconds < 86400:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days != 1 else ''}"


def hk_date(epoch_s: float) -> dt.date:
    """The Hong Kong calendar date of an epoch time (seconds)."""
    return dt.datetime.fromtimestamp(epoch_s, HK_TZ).date()


def merge(lists: Mapping[str, SourceList]) -> list[StockInfo]:
    """Merge the exchanges' lists by code, remembering which channels list each stock.

    Names come from the SSE list when it has them (both exchanges use the
    same mainland short names), otherwise from SZSE.
    """
    merged: dict[str, dict[str, Any]] = {}
    for source in sources.SOURCES:
        lst = lists.get(source)
        if lst is None:
            continue
        channel = sources.CHANNEL[source]
        for row in lst.rows:
            entry = merged.setdefault(row.code, {"name_cn": "", "name_en": "", "channels": set()})
            entry["name_cn"] = entry["name_cn"] or row.name_cn
            entry["name_en"] = entry["name_en"] or row.name_en
            entry["channels"].add(channel)
    return [
        StockInfo(
            code,
            e["name_cn"],
            e["name_en"],
            tuple(c for c in CHANNELS if c in e["channels"]),
        )
        for code, e in sorted(merged.items())
    ]


# -- cache ------------------------------------------------------------------


def cache_path(demo: bool = False, env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/hkticks/symbols.json`` (``demo-symbols.json`` under --demo)."""
    return config.cache_dir(env) / (DEMO_CACHE_FILE if demo else CACHE_FILE)


class CacheUnreadable(ValueError):
    """The cache file exists but cannot be used (the message says why)."""


def read_cache(path: Path) -> Universe | None:
    """The cached universe, ``None`` if there is no cache; :class:`CacheUnreadable` if bad."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheUnreadable(exc.strerror or str(exc)) from None
    try:
        return Universe.from_json(orjson.loads(raw), path)
    except orjson.JSONDecodeError:
        raise CacheUnreadable("not valid JSON") from None
    except (ValueError, TypeError) as exc:
        raise CacheUnreadable(str(exc)) from None


def write_cache(universe: Universe, path: Path) -> None:
    """Write atomically: a temporary file in the same directory, then ``os.replace``.

    A reader (or a crash) sees either the old file or the new one, never a
    half-written list.
    """
    data = orjson.dumps(universe.to_json(), option=orjson.OPT_INDENT_2)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(
            f"cannot write the symbol cache in {path.parent}: {exc.strerror}; "
            "check its permissions or set XDG_CACHE_HOME"
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(
            f"cannot write the symbol cache {path}: {exc.strerror}; "
            "check free space and permissions or set XDG_CACHE_HOME"
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    universe.path = path


def _read_or_warn(path: Path, warn: Callable[[str], None]) -> Universe | None:
    try:
        return read_cache(path)
    except CacheUnreadable as exc:
        warn(f"ignoring the symbol cache {path}: {exc}")
        return None


def _stale_warning(universe: Universe, now: float | None) -> str | None:
    if universe.age_seconds(now) > STALE_AFTER_S:
        return (
            f"the Stock Connect list is {_age_text(universe.age_seconds(now))} old "
            f"(fetched {hk_date(universe.fetched_at)}): run `hkticks symbols --refresh"
            f"{' --demo' if universe.demo else ''}`"
        )
    return None


def _no_warn(message: str) -> None:
    """Default ``warn``: say nothing."""


def cached_universe(
    *, demo: bool = False, warn: Callable[[str], None] | None = None, now: float | None = None
) -> Universe | None:
    """The cached universe without any network access, or ``None`` if there is none.

    Warns (through ``warn``) when the cache is unreadable or older than 7 days.
    """
    say = warn or _no_warn
    universe = _read_or_warn(cache_path(demo), say)
    if universe is not None:
        stale = _stale_warning(universe, now)
        if stale:
            say(stale)
    return universe


def load_universe(
    settings: config.Settings,
    *,
    refresh_if_missing: bool = True,
    warn: Callable[[str], None] | None = None,
    now: float | None = None,
) -> Universe:
    """The cached universe; if there is none, refresh once (unless told not to).

    Warns when the cache is older than 7 days. Raises :class:`SourceError`
    saying what to do when there is no list and none can be fetched.
    """
    say = warn or _no_warn
    universe = cached_universe(demo=settings.demo, warn=say, now=now)
    if universe is not None:
        return universe
    demo_flag = " --demo" if settings.demo else ""
    if not refresh_if_missing:
        raise SourceError(
            f"no Stock Connect list cached yet: run `hkticks symbols --refresh{demo_flag}` first"
        )
    where = "the demo server's simulated exchanges" if settings.demo else "SSE and SZSE"
    say(f"no Stock Connect list cached yet: fetching it from {where}")
    return refresh_universe(settings, warn=say, now=now)


def refresh_universe(
    settings: config.Settings,
    *,
    mark_suspended: bool = True,
    warn: Callable[[str], None] | None = None,
    timeout: float = sources.DEFAULT_TIMEOUT,
    retries: int = sources.DEFAULT_RETRIES,
    backoff: float = sources.DEFAULT_BACKOFF,
    min_rows: int = sources.MIN_ROWS,
    now: float | None = None,
) -> Universe:
    """Fetch both lists, validate and merge them, mark suspensions, write the cache.

    The cache is only replaced by a complete, validated list: on any
    failure the old cache stays as it was and the :class:`SourceError` says
    how old it is (or what to do when there is none). Suspension marks of
    the previous list are kept for stocks the new check cannot judge.
    """
    say = warn or _no_warn
    path = cache_path(settings.demo)
    old = _read_or_warn(path, say)
    try:
        lists = sources.fetch_both(
            {sources.SSE: settings.sse_url, sources.SZSE: settings.szse_url},
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            min_rows=min_rows,
            today=hk_date(time.time() if now is None else now),
        )
    except sources.ListError as exc:
        raise SourceError(f"{exc}; {_fallback_advice(settings, old, now)}") from None
    fetched_at = time.time() if now is None else now
    previous = {s.code: s for s in old.stocks} if old else {}
    stocks = [
        replace(s, suspended=previous[s.code].suspended) if s.code in previous else s
        for s in merge(lists)
    ]
    universe = Universe(
        stocks=stocks,
        fetched_at=fetched_at,
        sources={name: lst.date for name, lst in lists.items()},
        demo=settings.demo,
        suspended_checked_at=old.suspended_checked_at if old else None,
        suspension_note=old.suspension_note if old else "",
        last_traded={c: d for c, d in (old.last_traded if old else {}).items() if c in previous},
    )
    dates = sorted(set(universe.sources.values()))
    if len(dates) > 1 and (
        dt.date.fromisoformat(dates[-1]) - dt.date.fromisoformat(dates[0])
    ) > dt.timedelta(days=7):
        say(
            "the SSE and SZSE lists are dated "
            + " and ".join(f"{k} {v}" for k, v in sorted(universe.sources.items()))
            + ": one exchange may not have published its latest list"
        )
    write_cache(universe, path)  # the lists are safe before the (slower) suspension check
    if mark_suspended:
        if mark_suspensions(universe, settings, warn=say, timeout=timeout, now=now):
            write_cache(universe, path)
    return universe


def _fallback_advice(settings: config.Settings, old: Universe | None, now: float | None) -> str:
    if old is not None:
        return f"kept the cached list {old.describe_age(now)}"
    if settings.demo:
        return "no list is cached yet: the embedded demo server did not answer; try again"
    hint = ""
    if cache_path(demo=True).exists():
        hint = " (a demo list is cached: add --demo to use it)"
    return (
        "no list is cached yet: check your network, or point HKTICKS_SSE_URL / HKTICKS_SZSE_URL "
        "(or sse_url / szse_url in the config file) at a reachable mirror, then run "
        f"`hkticks symbols --refresh`{hint}"
    )


# -- suspensions --------------------------------------------------------------


def is_trading_day(day: dt.date) -> bool:
    """A weekday that is not in :data:`HK_HOLIDAYS`."""
    return day.weekday() < 5 and day not in HK_HOLIDAYS


def previous_trading_day(day: dt.date) -> dt.date:
    """The last trading day strictly before ``day``."""
    d = day - dt.timedelta(days=1)
    while not is_trading_day(d):
        d -= dt.timedelta(days=1)
    return d


def suspension_cutoff(now: float, last_trade_days: Iterable[dt.date]) -> dt.date:
    """A stock whose last trade is on a date before this one counts as suspended.

    That is the previous trading day in Hong Kong, except that it is never
    later than the most recent trade seen across the market: if nothing at
    all traded on the "previous trading day" (an unlisted holiday, a
    typhoon), the market was shut, not every stock suspended.
    """
    cutoff = previous_trading_day(hk_date(now))
    latest = max(last_trade_days, default=None)
    if latest is not None and latest < cutoff:
        return latest
    return cutoff


def mark_suspensions(
    universe: Universe,
    settings: config.Settings,
    *,
    warn: Callable[[str], None] | None = None,
    timeout: float = 15.0,
    now: float | None = None,
) -> bool:
    """Mark the stocks whose latest trade (REST ``trade-tick``) is older than the
    previous trading day. Returns ``True`` if the marks were updated.

    Needs a token (or ``--demo``); without one, or when the REST API fails,
    the previous marks stay and ``warn`` says why. Stocks the API has no
    trade for keep their previous mark: no data is no evidence.
    """
    say = warn or _no_warn
    if not settings.token:
        universe.suspension_note = "not checked: no AllTick token"
        say(
            "skipped the suspension check: no AllTick token (set HKTICKS_TOKEN or pass --token); "
            "kept the previous suspension marks"
        )
        return False
    plan = alltick.PLANS[settings.plan]
    codes = [s.code for s in universe.stocks]
    calls = -(-len(codes) // plan.rest_codes_per_call)
    estimate = (calls - 1) / plan.rest_per_second
    if estimate > 10:
        say(
            f"checking {len(codes)} stocks for suspensions: {calls} REST calls at the "
            f"{plan.name} plan's {plan.rest_per_second:g}/s, "
            + ("under a minute" if estimate < 60 else f"about {_age_text(estimate)}")
        )
    client = RestClient(
        settings.rest_url,
        settings.token,
        plan,
        timeout=timeout,
        token_source=settings.token_source,
    )
    try:
        trades = client.latest_trades(codes)
    except HkticksError as exc:
        say(f"suspension check failed: {exc}; kept the previous suspension marks")
        return False
    checked_at = time.time() if now is None else now
    days = {code: hk_date(tick.ts / 1000) for code, tick in trades.items()}
    cutoff = suspension_cutoff(checked_at, days.values())
    stocks: list[StockInfo] = []
    last_traded: dict[str, str] = {}
    for s in universe.stocks:
        day = days.get(s.code)
        if day is None:
            stocks.append(s)  # no data: keep the previous mark
            if s.suspended and s.code in universe.last_traded:
                last_traded[s.code] = universe.last_traded[s.code]
            continue
        suspended = day < cutoff
        stocks.append(replace(s, suspended=suspended) if suspended != s.suspended else s)
        if suspended:
            last_traded[s.code] = day.isoformat()
    missing = len(codes) - len(trades)
    universe.stocks = stocks
    universe.reindex()
    universe.last_traded = last_traded
    universe.suspended_checked_at = checked_at
    n = universe.suspended_count
    universe.suspension_note = f"{n} with no trade since before {cutoff.isoformat()}" + (
        f"; {missing} without trade data kept their previous mark" if missing else ""
    )
    if missing:
        say(f"no trade data for {missing} stocks: they keep their previous suspension mark")
    return True
