"""The anomaly engine: ticks in, alerts out. Pure: no I/O, no threads, no wall clock.

The clock is the trades' own exchange time (``Tick.ts``): the engine's "now"
is the latest trade time it has seen. So a live run and a replay of its
recording, fed the same ticks in the same order, raise exactly the same
alerts (``hkticks replay FILE --alerts``).

Definitions (thresholds in :class:`AlertConfig`; ``[alerts]`` in the config
file and the ``alerts`` command's flags):

``volume_spike``
    In a 30 s and a 1 min window (``spike_windows``), a symbol's trade count
    is at least ``spike_ratio`` times what its trailing intraday rate
    predicts, ``spike_z`` standard deviations (Poisson) above it and at least
    ``spike_min_trades``, and its volume at least ``spike_volume_ratio``
    times the expected volume. The count leads because single trades are
    heavy-tailed: one big print is a ``block_trade``, not a burst; the volume
    condition keeps a flurry of odd lots out. ``value`` is the count ratio. The baseline is the symbol's trades before
    the window, over the continuous-session time the engine has seen; it
    needs ``warmup_s`` of that (default 120 s) and ``warmup_trades`` trades
    (default 30) first, which a name trading once a second has after 2
    minutes. With history (:class:`SymbolBaseline` ``minute_n``/``minute_v``)
    the expectation is the average at the same minute of the session instead,
    with no warm-up.
``rvol``
    Relative volume: the volume since the engine started / the volume the
    baseline expects over the same minutes of the session (``cum``,
    cumulative by minute, from recordings of previous days or daily bars x an
    intraday profile). Raised at ``rvol_threshold`` after ``rvol_min_s``,
    at most once per ``rvol_cooldown_s`` (it stays high for a while).
``block_trade``
    One trade whose turnover is above max(``block_floor`` HK$, the symbol's
    own high percentile of trade turnover): ``block_x`` times its
    ``block_percentile`` of trade turnover, from history when given, else
    intraday (default 50 x the 95th percentile: trade sizes are
    so heavy-tailed that a 99.9th percentile is crossed every thousand
    trades, and a higher one cannot be estimated from a morning's trades).
    Until a symbol has ``block_min_trades`` trades of the day (and without
    a history percentile) its threshold comes from its average daily
    turnover instead (:class:`SymbolBaseline` ``day_turnover``, from daily
    bars or recordings): max(``block_floor``, ``block_adv_pct`` % of it), so
    a block in a quiet name is flagged from its first trade; with no daily
    figure but its HK share count (``hk_shares``, from ``static_info``),
    ``block_cap_bp`` basis points of its market capitalisation at the
    trade's price (0.4 bp: Hong Kong trades about 0.4 % of its market value
    a day, so this is about 1 % of a usual day). With none of them, nothing
    says what is big for it yet.
``price_move``
    The price is ``move_pct`` % or more away from the price ``move_window_s``
    earlier (default 10 % vs 5 minutes, after HKEX's volatility control
    mechanism); while the symbol is younger than the window, from its first
    price. After an alert the reference restarts at the alert's price. Names priced under ``move_min_price`` (HK$1) are left out: one
    spread-table tick is 1-2 % of a penny stock, so 10 % is a few ticks.
``breakout``
    A new intraday high or low (after ``warmup_s``) while ``rvol`` >
    ``breakout_rvol``.

Only trades in the continuous sessions (09:30-12:00, 13:00-16:00 Hong Kong
time, :mod:`hkticks.market_hours`) count and raise alerts: auctions and lunch
stay out of every baseline. ``hours="always"`` treats every instant as
continuous (the simulated market of ``--demo`` never closes). Each
(symbol, kind) is quiet for ``cooldown_s`` after an alert. The state resets
at each Hong Kong midnight.

Cost: the hot path is a few additions and comparisons per tick: the trades
of the current second go into one bucket, folded into the windows when the
second changes, and thresholds are recomputed every ``THRESHOLDS_EVERY_S``
seconds of a symbol's trading (``hkticks bench --alerts`` measures it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hkticks.analysis.alert_config import KINDS, AlertConfig, SymbolBaseline
from hkticks.analysis.anomaly_state import (
    _HSCALE,
    _HSIZE,
    _INF,
    EngineStats,
    Readiness,
    _bucket_edge,
    _Sym,
)
from hkticks.analysis.session_clock import SESSION_MINUTES, phase_span, session_minute
from hkticks.analysis.units import hkd_text, price_text, shares_text
from hkticks.market_hours import DAY_S, HKT_OFFSET_S
from hkticks.tick import Tick

# Thresholds follow slowly moving baselines: recomputed every 2 s of a symbol's
# trading (and the size percentile every 32 trades), not on every second.
THRESHOLDS_EVERY_S = 2
PERCENTILE_EVERY_TRADES = 32
_log = math.log


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. ``ts`` is the exchange time (epoch ms) of the trade that raised it."""

    ts: int
    symbol: str
    kind: str
    value: float
    threshold: float
    window_s: float
    message: str

    def record(self) -> dict[str, Any]:
        """The JSON form (``hkticks alerts --json``, webhooks, the alerts log)."""
        return {
            "ts": self.ts,
            "symbol": self.symbol,
            "kind": self.kind,
            "value": self.value,
            "threshold": self.threshold,
            "window_s": self.window_s,
            "message": self.message,
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Alert:
        return cls(
            int(rec["ts"]),
            str(rec["symbol"]),
            str(rec["kind"]),
            float(rec["value"]),
            float(rec["threshold"]),
            float(rec["window_s"]),
            str(rec["message"]),
        )


class AnomalyEngine:
    """Feed it ticks (:meth:`on_tick`); it returns the alerts each one raised.

    ``baselines`` maps five-digit codes to :class:`SymbolBaseline` (history
    or daily bars); without one a symbol still gets ``volume_spike`` (vs its
    intraday rate), ``block_trade`` and ``price_move``; ``rvol`` and
    ``breakout`` need a baseline.
    """

    def __init__(
        self,
        config: AlertConfig | None = None,
        baselines: Mapping[str, SymbolBaseline] | None = None,
    ) -> None:
        self.config = cfg = config or AlertConfig()
        self.baselines: dict[str, SymbolBaseline] = dict(baselines or {})
        self._ticks = 0
        self._alerts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._always = cfg.hours == "always"
        self._on = frozenset(cfg.kinds)
        self._spike_on = "volume_spike" in self._on
        self._block_on = "block_trade" in self._on
        self._windows = tuple(int(w) for w in cfg.spike_windows)
        self._cool_ms = int(cfg.cooldown_s * 1000)
        self._rvol_cool_ms = int(cfg.rvol_cooldown_s * 1000)
        self._move = cfg.move_pct / 100.0
        self._move_s = int(cfg.move_window_s)
        self._tail = 1.0 - cfg.block_percentile / 100.0
        self._syms: dict[str, _Sym] = {}
        self._clock = 0  # latest trade time seen (ms)
        self._active_ms = 0  # continuous-session time seen since the start (ms)
        self._start_min = -1.0  # session minute of the engine's first counted trade
        self._span_lo = 1
        self._span_hi = 0
        self._cont = False
        self._day = -1

    def set_baselines(self, baselines: Mapping[str, SymbolBaseline]) -> None:
        """Baselines that arrived after the start (e.g. fetched in the background)."""
        self.baselines.update(baselines)
        for code, st in self._syms.items():
            if code in baselines:
                st.base = baselines[code]

    @property
    def stats(self) -> EngineStats:
        counted = sum(st.tot_n + st.bucket[1] for st in self._syms.values())
        return EngineStats(self._ticks, counted, dict(self._alerts))

    @property
    def now_ms(self) -> int:
        return self._clock

    # -- the clock ----------------------------------------------------------------

    def _span(self, ts: int) -> bool:
        """Cache the phase holding ``ts``; True if it starts a new HK day (state reset)."""
        if self._always:
            day = (ts // 1000 + HKT_OFFSET_S) // DAY_S
            lo = (day * DAY_S - HKT_OFFSET_S) * 1000
            hi, cont = lo + DAY_S * 1000, True
        else:
            lo, hi, cont, day = phase_span(ts)
        self._span_lo, self._span_hi, self._cont = lo, hi, cont
        if day != self._day:
            self._new_day(day)
            return True
        return False

    def _advance(self, ts: int) -> None:
        """Move the clock forwards to ``ts`` across phase edges, counting continuous time."""
        prev = self._clock
        if prev == 0:
            self._span(ts)
            self._clock = ts
            return
        while ts >= self._span_hi:
            if self._cont:
                self._active_ms += self._span_hi - prev
            prev = self._span_hi
            self._span(prev)
        if self._cont:
            self._active_ms += ts - prev
        self._clock = ts

    def _new_day(self, day: int) -> None:
        self._day = day
        self._syms.clear()
        self._active_ms = 0
        self._start_min = -1.0

    def _minute(self, ts: int) -> float:
        if self._always:
            return min(self._active_ms / 60_000.0, float(SESSION_MINUTES))
        return session_minute(ts)

    # -- ticks ------------------------------------------------------------------

    def on_tick(self, t: Tick) -> Sequence[Alert]:
        """The alerts raised by this trade (usually none: an empty tuple)."""
        self._ticks += 1
        ts = t.ts
        if ts > self._clock:
            if ts >= self._span_hi or self._clock == 0:
                self._advance(ts)
            else:
                if self._cont:
                    self._active_ms += ts - self._clock
                self._clock = ts
        elif ts < self._span_lo:
            return ()  # older than the current phase: out of order across a phase edge
        if not self._cont:
            return ()
        st = self._syms.get(t.symbol)
        if st is None:
            st = self._syms[t.symbol] = _Sym(
                t.symbol, len(self._windows), self.baselines.get(t.symbol)
            )
            if self._start_min < 0:
                self._start_min = self._minute(ts)
        out: list[Alert] | None = None
        if ts // 1000 > st.sec:
            a = self._roll(st, ts // 1000, t)
            if a is not None:
                out = [a]
        b = st.bucket
        n = b[1] = b[1] + 1
        b[2] += t.volume
        if n >= st.trig:
            a = self._spike_check(st, t)
            if a is not None:
                out = [a] if out is None else out + [a]
        turnover = t.turnover
        hist = st.hist
        if hist is not None and turnover >= 1.0:
            k = int(_log(turnover) * _HSCALE)
            if k >= _HSIZE:
                k = _HSIZE - 1
            hist[k] += 1
            if k > st.hist_top:
                st.hist_top = k
        if turnover > st.block_thr:
            a = self._block(st, t)
            if a is not None:
                out = [a] if out is None else out + [a]
        price = t.price
        if price > st.band_hi or price < st.band_lo:
            a = self._price_move(st, t)
            if a is not None:
                out = [a] if out is None else out + [a]
        if price > st.hi or price < st.lo:
            a = self._breakout(st, t)
            if a is not None:
                out = [a] if out is None else out + [a]
        return out or ()

    def _spike_check(self, st: _Sym, t: Tick) -> Alert | None:
        """The current second's count reached a window's threshold: check them all."""
        b = st.bucket
        for i in range(len(self._windows)):
            if st.sums_n[i] + b[1] >= st.thr_n[i] and st.sums_v[i] + b[2] >= st.thr_v[i]:
                return self._spike(st, i, t)
        return None

    def feed(self, ticks: Iterable[Tick]) -> list[Alert]:
        """All alerts of a stream of ticks, in order (tests, replay)."""
        out: list[Alert] = []
        for t in ticks:
            got = self.on_tick(t)
            if got:
                out.extend(got)
        return out

    # -- once per symbol-second: windows, thresholds ------------------------------

    def _roll(self, st: _Sym, sec: int, t: Tick) -> Alert | None:
        cfg = self.config
        price = t.price
        first = st.sec < 0
        st.sec = sec
        done = st.bucket  # the second that just ended joins the windows and the totals
        st.bucket = [sec, 0, 0]
        st.tot_n += done[1]
        st.tot_v += done[2]
        for i, w in enumerate(self._windows):
            d = st.wins[i]
            if done[1] and done[0] > sec - w:
                d.append(done)
                st.sums_n[i] += done[1]
                st.sums_v[i] += done[2]
            while d and d[0][0] <= sec - w:
                old = d.popleft()
                st.sums_n[i] -= old[1]
                st.sums_v[i] -= old[2]
        # price reference: the last price at or before move_window_s ago
        px = st.px
        if not px or px[-1][1] != price:
            px.append((sec, price))
        while len(px) > 1 and px[1][0] <= sec - self._move_s:
            px.popleft()
        ref = px[0][1]
        if ref != st.ref_px:
            st.ref_px = ref
            if "price_move" in self._on and ref >= cfg.move_min_price:
                st.band_hi = ref * (1.0 + self._move)
                st.band_lo = ref * (1.0 - self._move)
            else:
                st.band_hi, st.band_lo = _INF, -_INF
        if first:
            st.hi = st.lo = price
        base = st.base
        nwin = len(self._windows)
        if sec < st.next_thr:  # thresholds are fresh: only the trigger moves with the windows
            if self._spike_on:
                st.trig = min(st.thr_n[i] - st.sums_n[i] for i in range(nwin))
            return None
        st.next_thr = sec + THRESHOLDS_EVERY_S
        minute = self._minute(sec * 1000)
        # volume spike thresholds
        if self._spike_on:
            hist_rate = base is not None and base.minute_n and not self._always
            active_s = self._active_ms / 1000.0
            for i, w in enumerate(self._windows):
                if hist_rate:
                    assert base is not None
                    m = min(int(minute), SESSION_MINUTES - 1)
                    exp_n = base.minute_n[m] * w / 60.0
                    exp_v = base.minute_v[m] * w / 60.0
                    warm = base.days > 0
                else:
                    span = active_s - w
                    base_n = st.tot_n - st.sums_n[i]
                    warm = active_s >= cfg.warmup_s and base_n >= cfg.warmup_trades and span > 0
                    exp_n = base_n / span * w if warm else 0.0
                    exp_v = (st.tot_v - st.sums_v[i]) / span * w if warm else 0.0
                if warm and exp_n > 0:
                    st.thr_n[i] = max(
                        float(cfg.spike_min_trades),
                        cfg.spike_ratio * exp_n,
                        exp_n + cfg.spike_z * math.sqrt(exp_n),
                    )
                    st.thr_v[i] = cfg.spike_volume_ratio * exp_v
                else:
                    st.thr_n[i] = _INF
                st.exp_n[i] = exp_n
                st.exp_v[i] = exp_v
            st.trig = min(st.thr_n[i] - st.sums_n[i] for i in range(nwin))
        # block threshold
        if self._block_on:
            if base is not None and base.block > 0:
                self._set_block(st, cfg.block_x * base.block, "x its usual large trade")
                st.hist = None
            else:
                if st.hist is None:
                    st.hist = [0] * _HSIZE
                if st.tot_n >= cfg.block_min_trades:
                    if st.tot_n >= st.next_pct:
                        st.next_pct = st.tot_n + PERCENTILE_EVERY_TRADES
                        self._set_block(st, cfg.block_x * self._percentile(st), "x today's")
                elif base is not None and base.day_turnover > 0:
                    share = cfg.block_adv_pct / 100.0 * base.day_turnover
                    self._set_block(st, share, "adv")
                elif base is not None and base.hk_shares > 0:
                    cap = base.hk_shares * price
                    self._set_block(st, cfg.block_cap_bp / 1e4 * cap, "cap")
        # relative volume
        if base is not None and base.cum and self._start_min >= 0:
            expected = _cum_at(base.cum, minute) - _cum_at(base.cum, self._start_min)
            st.rvol_base = expected
            st.rvol = st.tot_v / expected if expected > 0 else 0.0
            if (
                "rvol" in self._on
                and st.rvol >= cfg.rvol_threshold
                and self._active_ms >= cfg.rvol_min_s * 1000
            ):
                return self._rvol_alert(st, t.ts)
        return None

    def _set_block(self, st: _Sym, own: float, why: str) -> None:
        """The block threshold: the floor or the symbol's own figure, whichever is higher."""
        cfg = self.config
        if own > cfg.block_floor:
            st.block_thr = own
            base = st.base
            if why == "adv" and base is not None:
                st.block_why = (
                    f"{cfg.block_adv_pct:g}% of its average day, {hkd_text(base.day_turnover)}"
                )
            elif why == "cap" and base is not None:
                st.block_why = (
                    f"{cfg.block_cap_bp:g} bp of its market cap, "
                    f"{hkd_text(own / cfg.block_cap_bp * 1e4)}"
                )
            else:
                st.block_why = f"{cfg.block_x:g}{why} {cfg.block_percentile:g}th percentile trade"
        else:
            st.block_thr = cfg.block_floor
            st.block_why = "the floor"

    def readiness(self) -> Readiness:
        """How far the warm-up is (for a status line while nothing can be said yet)."""
        spike = block = 0
        for st in self._syms.values():
            if min(st.thr_n) < _INF:
                spike += 1
            if st.block_thr < _INF:
                block += 1
        warmup = self.config.warmup_s if self._spike_on else 0.0  # only volume_spike waits
        return Readiness(self._active_ms / 1000.0, warmup, len(self._syms), spike, block)

    def _percentile(self, st: _Sym) -> float:
        hist = st.hist
        assert hist is not None
        need = st.tot_n * self._tail
        seen = 0
        k = st.hist_top
        while k > 0:
            seen += hist[k]
            if seen >= need:
                return _bucket_edge(k)
            k -= 1
        return 0.0

    # -- the alerts ----------------------------------------------------------------

    def _cool(self, st: _Sym, kind: str, ts: int) -> bool:
        """True (and the cooldown starts) if ``kind`` may fire for this symbol now."""
        if kind not in self._on:
            return False
        last = st.last.get(kind)
        cool = self._rvol_cool_ms if kind == "rvol" else self._cool_ms
        if last is not None and ts - last < cool:
            return False
        st.last[kind] = ts
        self._alerts[kind] += 1
        return True

    def _spike(self, st: _Sym, i: int, t: Tick) -> Alert | None:
        if not self._cool(st, "volume_spike", t.ts):
            return None
        w = self._windows[i]
        n, v = st.sums_n[i] + st.bucket[1], st.sums_v[i] + st.bucket[2]
        ratio = n / st.exp_n[i] if st.exp_n[i] > 0 else _INF
        vratio = v / st.exp_v[i] if st.exp_v[i] > 0 else _INF
        basis = "history" if st.base is not None and st.base.minute_n else "intraday rate"
        return Alert(
            t.ts,
            st.symbol,
            "volume_spike",
            round(ratio, 2),
            self.config.spike_ratio,
            float(w),
            f"{st.symbol} volume spike: {n} trades ({v:,} shares) in {w}s, "
            f"{ratio:.1f}x the trades and {vratio:.1f}x the volume of its {basis}",
        )

    def _block(self, st: _Sym, t: Tick) -> Alert | None:
        if not self._cool(st, "block_trade", t.ts):
            return None
        return Alert(
            t.ts,
            st.symbol,
            "block_trade",
            round(t.turnover, 2),
            round(st.block_thr, 2),
            0.0,
            f"{st.symbol} block trade: {t.volume:,} shares at {price_text(t.price)} = "
            f"{hkd_text(t.turnover)} (threshold {hkd_text(st.block_thr)}: {st.block_why})",
        )

    def _price_move(self, st: _Sym, t: Tick) -> Alert | None:
        if not self._cool(st, "price_move", t.ts):
            return None
        pct = (t.price / st.ref_px - 1.0) * 100.0
        w = self._move_s
        ref = st.ref_px
        # the move is told: the next one is measured from here (as after a VCM cool-off)
        st.px.clear()
        st.px.append((t.ts // 1000, t.price))
        st.ref_px = t.price
        st.band_hi = t.price * (1.0 + self._move)
        st.band_lo = t.price * (1.0 - self._move)
        return Alert(
            t.ts,
            st.symbol,
            "price_move",
            round(pct, 2),
            self.config.move_pct,
            float(w),
            f"{st.symbol} price move: {pct:+.1f}% to {price_text(t.price)} vs {price_text(ref)} "
            f"up to {w // 60} min earlier",
        )

    def _breakout(self, st: _Sym, t: Tick) -> Alert | None:
        up = t.price > st.hi
        if up:
            st.hi = t.price
        else:
            st.lo = t.price
        cfg = self.config
        if (
            st.rvol <= cfg.breakout_rvol
            or self._active_ms < cfg.warmup_s * 1000
            or not self._cool(st, "breakout", t.ts)
        ):
            return None
        word = "high" if up else "low"
        return Alert(
            t.ts,
            st.symbol,
            "breakout",
            round(st.rvol, 2),
            cfg.breakout_rvol,
            0.0,
            f"{st.symbol} breakout: new intraday {word} {price_text(t.price)} on relative volume {st.rvol:.1f}",
        )

    def _rvol_alert(self, st: _Sym, ts: int) -> Alert | None:
        if not self._cool(st, "rvol", ts):
            return None
        return Alert(
            ts,
            st.symbol,
            "rvol",
            round(st.rvol, 2),
            self.config.rvol_threshold,
            round(self._active_ms / 1000.0, 1),
            f"{st.symbol} relative volume {st.rvol:.1f}x: {shares_text(st.tot_v)} shares vs "
            f"{shares_text(st.rvol_base)} usual for the same minutes",
        )


def replay(
    engine: AnomalyEngine,
    ticks: Iterable[Tick],
    applied: Sequence[tuple[int, Mapping[str, SymbolBaseline]]] = (),
) -> Iterator[Alert]:
    """The alerts of ``ticks``, with each baseline set of ``applied`` given to the engine
    once it has seen ``at_tick`` ticks (as the live run did: see
    :func:`hkticks.analysis.baselines.write_applied`)."""
    pending = sorted(applied, key=lambda x: x[0])
    i = 0
    n = 0
    on_tick = engine.on_tick
    for t in ticks:
        while i < len(pending) and pending[i][0] <= n:
            engine.set_baselines(pending[i][1])
            i += 1
        n += 1
        got = on_tick(t)
        if got:
            yield from got


def _cum_at(cum: Sequence[float], minute: float) -> float:
    """The baseline's cumulative volume at ``minute`` (linear within a minute)."""
    if minute <= 0:
        return 0.0
    m = int(minute)
    if m >= len(cum):
        return float(cum[-1]) if cum else 0.0
    before = cum[m - 1] if m > 0 else 0.0
    return before + (cum[m] - before) * (minute - m)
