"""``hkticks validate``: rules a recording must pass, and minute bars to check it against.

Pure: ticks, session events and (optionally) AllTick's 1-minute bars in; a
:class:`Report` out. No I/O here (the command reads files and calls REST).

Rules, per trade, in one streaming pass:

* ``duplicate``: a (symbol, seq) seen before in the files;
* ``seq_backwards``: a seq lower than the highest seen for the symbol (a
  trade delivered out of order);
* ``spike``: a price further from the median of its six nearest prints
  (three each side) than ``k`` times the typical step between consecutive
  prints of its ``window`` neighbours each side, and at least
  ``spike_floor`` of the price and ``spike_ticks`` ticks (a centred window,
  so one wild print can neither hide itself nor drag its neighbours in, and
  a trend does not count as noise);
* ``off_table``: a price that is not on the HKEX spread table;
* ``future_time``: exchange time after the receive time;
* ``lag``: receive time more than ``max_lag_ms`` after the exchange time
  (the lag distribution per shard is reported too);
* ``outside_hours``: a trade outside trading hours by the calendar (off
  under ``--demo``: the simulated market never closes);
* ``never_traded``: a subscribed symbol (from the ``feed_start`` events)
  with no trade, when the recording spans trading time. A note, not a
  problem (illiquid names often do not trade for hours), unless ``strict``.

Reconciliation (:func:`reconcile`): the 1-minute volume and trade count
rebuilt from the trades (each (symbol, seq) once), compared per minute with
AllTick's bars: ``ok``, ``short by N shares``, ``extra N shares``, ``no
bar`` (trades but no bar), ``not served`` (older than the bars AllTick
serves: it returns only the latest 500), or ``partial`` (the recording
started or ended inside that minute, so no verdict). Nothing is made up:
a short minute is reported, never filled.
"""

from __future__ import annotations

import random
import statistics
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hkticks.alltick.rest_frames import Bar
from hkticks.hkex import SPREAD_TABLE, tick_size
from hkticks.market_hours import Calendar, day_date, hk_day
from hkticks.tick import Tick

MINUTE_MS = 60_000
RULES = (
    "duplicate",
    "seq_backwards",
    "spike",
    "off_table",
    "future_time",
    "lag",
    "outside_hours",
    "never_traded",
)
# reported, not counted as problems unless --strict (a universe's illiquid names may not
# trade for hours: a clean recording must not fail for them)
NOTE_RULES = ("never_traded",)
_SPREADS = SPREAD_TABLE  # thousandths of a dollar: (upper bound inclusive, tick)
_LAG_SAMPLE = 100_000
MAX_FLAGS_KEPT = 200_000


def on_spread_table(price: float) -> bool:
    """Whether ``price`` is a valid HKEX price (a multiple of its band's tick)."""
    mills = round(price * 1000)
    if abs(mills - price * 1000) > 1e-6 * max(1.0, price * 1000) or mills <= 0:
        return False
    for upper, tick in _SPREADS:
        if mills <= upper:
            return mills % tick == 0
    return False


@dataclass(frozen=True)
class Flag:
    rule: str
    symbol: str
    seq: int | None
    ts: int
    detail: str

    def record(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "symbol": self.symbol,
            "seq": self.seq,
            "ts": self.ts,
            "detail": self.detail,
        }


@dataclass
class Options:
    k_sigma: float = 4.0
    spike_floor: float = 0.05  # at least this fraction of the price away
    spike_ticks: int = 4  # and at least this many ticks (penny stocks move in big steps)
    window: int = 20  # prints each side
    max_lag_ms: int = 5_000
    calendar: Calendar | None = None  # None: always open (simulated market)


@dataclass
class MinuteCount:
    trades: int = 0
    volume: int = 0


@dataclass
class _Sym:
    seqs: set[int] = field(default_factory=set)
    max_seq: int | None = None
    window: deque[tuple[float, Tick]] = field(default_factory=deque)
    base: int = 0  # index (in this symbol's priced trades) of window[0]
    priced: int = 0  # trades that entered the window
    next: int = 0  # the next one to judge
    trades: int = 0
    flags: dict[str, int] = field(default_factory=dict)


@dataclass
class Report:
    trades: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    flags: list[Flag] = field(default_factory=list)
    per_symbol: dict[str, dict[str, int]] = field(default_factory=dict)
    minutes: dict[tuple[str, int], MinuteCount] = field(default_factory=dict)
    lag: dict[str, dict[str, float]] = field(default_factory=dict)
    never_traded: list[str] = field(default_factory=list)
    first_recv: int | None = None
    last_recv: int | None = None
    gaps: list[dict[str, Any]] = field(default_factory=list)
    reconciled: list[dict[str, Any]] = field(default_factory=list)
    calendar_used: bool = False
    calendar_note: str | None = None  # the calendar lacks the holidays of a year judged
    spike_unjudged: int = 0  # prints of symbols with fewer than 7 prints: no spike verdict
    # never_traded is a note (illiquid names of a universe often do not trade for hours);
    # strict (``validate --strict``) makes it count as a problem like the other rules
    strict: bool = False

    def flagged(self, rule: str) -> set[tuple[str, int | None]]:
        return {(f.symbol, f.seq) for f in self.flags if f.rule == rule}

    def reconcile_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.reconciled:
            out[row["check"]] = out.get(row["check"], 0) + 1
        return out

    @property
    def problems(self) -> int:
        bad = sum(n for rule, n in self.counts.items() if rule not in self.notes())
        return bad + sum(1 for r in self.reconciled if r["check"] in ("short", "extra", "no bar"))

    def notes(self) -> tuple[str, ...]:
        """The rules reported but not counted as problems (none with ``strict``)."""
        return () if self.strict else NOTE_RULES

    def record(self, max_flags: int | None = 1000) -> dict[str, Any]:
        flags = self.flags if max_flags is None else self.flags[:max_flags]
        return {
            "trades": self.trades,
            "problems": self.problems,
            "notes": list(self.notes()),
            "strict": self.strict,
            "first_recv": self.first_recv,
            "last_recv": self.last_recv,
            "calendar": self.calendar_used,
            "calendar_note": self.calendar_note,
            "counts": self.counts,
            "spike_unjudged": self.spike_unjudged,
            "flags": [f.record() for f in flags],
            "flags_shown": len(flags),
            "per_symbol": self.per_symbol,
            "lag_ms": self.lag,
            "never_traded": self.never_traded,
            "gaps": self.gaps,
            "minutes": self.reconciled,
            "minute_checks": self.reconcile_counts(),
        }


class Validator:
    """Feed it the trades in recording order (:meth:`add`), then :meth:`finish`."""

    def __init__(
        self,
        options: Options | None = None,
        *,
        shard_of: dict[str, int] | None = None,
        subscribed: Iterable[str] = (),
        seed: int = 0,
    ) -> None:
        self.opts = options or Options()
        self.report = Report(calendar_used=self.opts.calendar is not None)
        self._syms: dict[str, _Sym] = {}
        self._shard_of = shard_of or {}
        self._subscribed = set(subscribed)
        self._lags: dict[str, list[int]] = {}
        self._lag_seen: dict[str, int] = {}
        self._rng = random.Random(seed)
        self._open_days: dict[int, list[tuple[int, int]]] = {}
        self._saw_open_time = self.opts.calendar is None

    # -- rules -------------------------------------------------------------------

    def _flag(self, st: _Sym, rule: str, tick: Tick, detail: str) -> None:
        self.report.counts[rule] += 1
        st.flags[rule] = st.flags.get(rule, 0) + 1
        if len(self.report.flags) < MAX_FLAGS_KEPT:  # counted always, kept up to a bound
            self.report.flags.append(Flag(rule, tick.symbol, tick.seq, tick.ts, detail))

    def _is_open(self, ts: int) -> bool:
        cal = self.opts.calendar
        if cal is None:
            return True
        day = hk_day(ts)
        spans = self._open_days.get(day)
        if spans is None:
            spans = self._open_days[day] = cal.open_intervals(day)
        return any(s <= ts < e for s, e in spans)

    def add(self, tick: Tick) -> None:
        rep = self.report
        rep.trades += 1
        if rep.first_recv is None or tick.recv_ts < rep.first_recv:
            rep.first_recv = tick.recv_ts
        if rep.last_recv is None or tick.recv_ts > rep.last_recv:
            rep.last_recv = tick.recv_ts
        st = self._syms.get(tick.symbol)
        if st is None:
            st = self._syms[tick.symbol] = _Sym()
        st.trades += 1
        seq = tick.seq
        if seq is not None:
            if seq in st.seqs:
                self._flag(st, "duplicate", tick, f"seq {seq} seen before")
                return  # counted once: no minute volume, no price window
            st.seqs.add(seq)
            if st.max_seq is not None and seq < st.max_seq:
                self._flag(st, "seq_backwards", tick, f"seq {seq} after {st.max_seq}")
            else:
                st.max_seq = seq
        if not on_spread_table(tick.price):
            self._flag(st, "off_table", tick, f"price {tick.price:g} is not on the spread table")
        lag = tick.recv_ts - tick.ts
        if lag < 0:
            self._flag(st, "future_time", tick, f"exchange time {-lag} ms after receive time")
        elif lag > self.opts.max_lag_ms:
            self._flag(st, "lag", tick, f"received {lag / 1000:.1f} s after the trade")
        self._sample_lag(self._shard_name(tick.symbol), lag)
        if not self._is_open(tick.ts):
            self._flag(st, "outside_hours", tick, "outside trading hours")
        else:
            self._saw_open_time = True
        key = (tick.symbol, tick.ts // MINUTE_MS * MINUTE_MS)
        mc = rep.minutes.get(key)
        if mc is None:
            mc = rep.minutes[key] = MinuteCount()
        mc.trades += 1
        mc.volume += tick.volume
        self._window(st, tick)

    def _shard_name(self, symbol: str) -> str:
        shard = self._shard_of.get(symbol)
        return "all" if shard is None else str(shard)

    def _sample_lag(self, shard: str, lag: int) -> None:
        sample = self._lags.get(shard)
        if sample is None:
            sample = self._lags[shard] = []
        seen = self._lag_seen.get(shard, 0) + 1
        self._lag_seen[shard] = seen
        if len(sample) < _LAG_SAMPLE:
            sample.append(lag)
        else:  # reservoir sampling: constant memory, unbiased percentiles
            j = self._rng.randrange(seen)
            if j < _LAG_SAMPLE:
                sample[j] = lag

    def _window(self, st: _Sym, tick: Tick) -> None:
        """Judge each price once the ``window`` prints after it have arrived."""
        w = self.opts.window
        st.window.append((tick.price, tick))
        st.priced += 1
        if len(st.window) > 2 * w + 1:
            st.window.popleft()
            st.base += 1
        while st.next + w < st.priced:
            self._judge(st, st.next)
            st.next += 1

    def _judge(self, st: _Sym, index: int) -> None:
        w = self.opts.window
        items = st.window
        i = index - st.base
        price, tick = items[i]
        before = [items[j][0] for j in range(max(0, i - w), i)]
        after = [items[j][0] for j in range(i + 1, min(len(items), i + w + 1))]
        others = before + after
        if len(others) < 6:
            self.report.spike_unjudged += 1
            return  # too few prints to tell
        # the level: the nearest prints on each side; the noise: how far one print
        # moves from the next among the neighbours (a trend does not widen it)
        med = statistics.median(before[-3:] + after[:3])
        steps = [abs(b - a) for a, b in zip(others, others[1:], strict=False)]
        mad = statistics.median(steps)
        limit = max(
            self.opts.k_sigma * 1.4826 * mad,
            self.opts.spike_floor * med,
            self.opts.spike_ticks * tick_size(med),
        )
        if abs(price - med) > limit + 1e-9 * med:  # float noise is not a tick
            self._flag(
                st,
                "spike",
                tick,
                f"price {price:g} is {abs(price - med) / med:.1%} from the median {med:g} "
                "of its neighbours",
            )

    # -- the end -------------------------------------------------------------------

    def finish(self) -> Report:
        rep = self.report
        cal = self.opts.calendar
        uncovered = sorted(
            d
            for d in self._open_days
            if cal is not None and not cal.covers(d) and day_date(d).year > cal.years[1]
        )
        if cal is not None and uncovered:
            rep.calendar_note = cal.coverage_note(day_date(uncovered[0]).year)
        for st in self._syms.values():  # the last prints: judged with what follows
            while st.next < st.priced:
                self._judge(st, st.next)
                st.next += 1
        for symbol, st in sorted(self._syms.items()):
            rep.per_symbol[symbol] = {"trades": st.trades, **st.flags}
        for shard, sample in sorted(self._lags.items()):
            rep.lag[shard] = _percentiles(sample)
        if self._subscribed and self._saw_open_time:
            rep.never_traded = sorted(self._subscribed - set(self._syms))
            rep.counts["never_traded"] = len(rep.never_traded)
        rep.flags.sort(key=lambda f: (f.ts, f.symbol))
        return rep


def _percentiles(sample: Sequence[int]) -> dict[str, float]:
    if not sample:
        return {}
    ordered = sorted(sample)

    def pct(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))])

    return {
        "n": float(len(ordered)),
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "max": float(ordered[-1]),
    }


# ---------------------------------------------------------------------- events


def subscriptions(events: Iterable[dict[str, Any]]) -> tuple[dict[str, int], set[str]]:
    """(symbol -> shard, subscribed symbols) from the ``feed_start`` events."""
    shard_of: dict[str, int] = {}
    for ev in events:
        if ev.get("event") != "feed_start":
            continue
        shards = ev.get("shard_symbols")
        if isinstance(shards, list):
            for i, shard in enumerate(shards):
                if isinstance(shard, list):
                    for sym in shard:
                        if isinstance(sym, str):
                            shard_of[sym] = i
    return shard_of, set(shard_of)


def gap_minutes(gaps: Iterable[dict[str, Any]]) -> dict[str, set[int]]:
    """Per symbol, the minute starts (ms) a gap touches."""
    out: dict[str, set[int]] = {}
    for gap in gaps:
        first = gap["start"] // MINUTE_MS * MINUTE_MS
        last = gap["end"] // MINUTE_MS * MINUTE_MS
        for sym in gap.get("symbols") or ():
            minutes = out.setdefault(str(sym), set())
            minutes.update(range(first, last + MINUTE_MS, MINUTE_MS))
    return out


# ---------------------------------------------------------------------- minute bars


def reconcile(
    report: Report,
    bars: dict[str, list[Bar] | None],
    gaps: Sequence[dict[str, Any]] = (),
    calendar: Calendar | None = None,
) -> list[dict[str, Any]]:
    """Compare each recorded minute of the symbols in ``bars`` (and each minute a
    gap touches) with AllTick's 1-minute bars; fills ``report.reconciled``.

    Only minutes inside the recording's span count (first to last receive
    time); the ones it starts or ends in are ``partial``. With a calendar,
    minutes outside trading hours with neither trades nor a bar are left out.
    """
    in_gap = gap_minutes(gaps)
    span_lo, span_hi = report.first_recv, report.last_recv
    rows: list[dict[str, Any]] = []
    for symbol, got in sorted(bars.items()):
        by_minute = {b.ts // MINUTE_MS * MINUTE_MS: b for b in got or ()}
        oldest = min(by_minute) if by_minute else None
        recorded = {m: c for (s, m), c in report.minutes.items() if s == symbol}
        minutes = set(recorded) | in_gap.get(symbol, set())
        if span_lo is not None and span_hi is not None:
            lo = span_lo // MINUTE_MS * MINUTE_MS
            hi = span_hi // MINUTE_MS * MINUTE_MS
            minutes |= {m for m in by_minute if lo <= m <= hi}
        for minute in sorted(minutes):
            count = recorded.get(minute, MinuteCount())
            bar = by_minute.get(minute)
            if calendar is not None and bar is None and not count.trades:
                if not calendar.trading_ms_between(minute, minute + MINUTE_MS):
                    continue
            row: dict[str, Any] = {
                "symbol": symbol,
                "minute": minute,
                "trades": count.trades,
                "volume": count.volume,
                "bar_volume": None if bar is None else bar.volume,
                "in_gap": minute in in_gap.get(symbol, ()),
            }
            if (
                span_lo is None
                or span_hi is None
                or minute < span_lo
                or minute + MINUTE_MS > span_hi
            ):
                row["check"], row["status"] = "partial", "partial (recording starts or ends here)"
            elif got is None:
                row["check"], row["status"] = "not served", "no bars (code rejected)"
            elif bar is None and oldest is not None and minute < oldest:
                row["check"], row["status"] = "not served", "older than the bars AllTick serves"
            elif bar is None:
                if count.trades:
                    row["check"], row["status"] = "no bar", "no bar"
                else:
                    row["check"], row["status"] = "ok", "ok"
            elif bar.volume == count.volume:
                row["check"], row["status"] = "ok", "ok"
            elif bar.volume > count.volume:
                row["check"] = "short"
                row["status"] = f"short by {bar.volume - count.volume} shares"
                row["short_by"] = bar.volume - count.volume
            else:
                row["check"] = "extra"
                row["status"] = f"extra {count.volume - bar.volume} shares"
            rows.append(row)
    report.reconciled = rows
    return rows


def kline_symbols(report: Report, gaps: Sequence[dict[str, Any]], limit: int) -> list[str]:
    """Which symbols to fetch bars for: those in gaps first, then the busiest."""
    touched = list(gap_minutes(gaps))
    busiest = sorted(report.per_symbol, key=lambda s: -report.per_symbol[s]["trades"])
    out = list(dict.fromkeys([*sorted(touched), *busiest]))
    return out[:limit]
