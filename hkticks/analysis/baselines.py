"""Baselines for the anomaly engine: what previous days say is usual.

Two sources, computed once and cached as JSON under ``$XDG_CACHE_HOME/hkticks/``:

* recordings of previous days (``--history GLOB``, the tool's own files):
  per symbol and minute of the continuous session, the average trades and
  volume, the cumulative volume, and the ``block_percentile`` of one
  trade's turnover. The last ``days`` trading days in the files count;
  today's date (of the newest file) is left out only if asked.
* daily bars (``daily_volumes``: per symbol, the volumes of previous
  sessions): their average volume spread over the session by
  :func:`intraday_profile`, a U-shaped model of Hong Kong's intraday volume
  (busy open, quieter late morning and lunch edges, busy close). It is a
  model, not a measurement: recordings give the real shape.

Only continuous-session trades count (see :func:`hkticks.analysis.session_clock.phase_span`).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from hkticks import config
from hkticks.analysis.alert_config import SymbolBaseline
from hkticks.analysis.session_clock import SESSION_MINUTES, phase_span, session_minute
from hkticks.market_hours import DAY_S, HKT_OFFSET_S
from hkticks.tick import Tick

CACHE_VERSION = 2  # 2: day_turnover


def intraday_profile() -> list[float]:
    """Cumulative share of a day's continuous volume at the end of each session minute."""
    weights = []
    for m in range(SESSION_MINUTES):
        if m < 150:  # morning: a busy open decaying, a small rise before lunch
            w = 1.0 + 2.5 * math.exp(-m / 12.0) + 0.3 * math.exp(-(149 - m) / 10.0)
        else:  # afternoon: a small reopening burst and a busy close
            a = m - 150
            w = 0.9 + 0.6 * math.exp(-a / 8.0) + 1.8 * math.exp(-(179 - a) / 15.0)
        weights.append(w)
    total = sum(weights)
    out, run = [], 0.0
    for w in weights:
        run += w
        out.append(run / total)
    return out


def from_daily_volumes(volumes: Mapping[str, Sequence[float]]) -> dict[str, SymbolBaseline]:
    """Baselines from previous sessions' daily volumes x :func:`intraday_profile`."""
    return from_daily_bars({c: [(v, 0.0) for v in vols] for c, vols in volumes.items()})


def from_daily_bars(
    days: Mapping[str, Sequence[tuple[float, float]]], *, volume_profile: bool = True
) -> dict[str, SymbolBaseline]:
    """Baselines from previous sessions' (volume, turnover) daily bars.

    The average volume spread by :func:`intraday_profile` (rvol, breakout),
    unless ``volume_profile`` is False (bars that do not describe the flow
    the engine will see, e.g. the simulated market's); the average turnover
    (``day_turnover``, block_trade's threshold before the day has trades).
    """
    profile = intraday_profile() if volume_profile else []
    out = {}
    for code, bars in days.items():
        good = [(float(v), float(t or 0.0)) for v, t in bars if v and v > 0]
        if not good:
            continue
        avg = sum(v for v, _ in good) / len(good)
        turnovers = [t for _, t in good if t > 0]
        day_turnover = sum(turnovers) / len(turnovers) if turnovers else 0.0
        out[code] = SymbolBaseline(
            days=len(good), cum=[avg * p for p in profile], day_turnover=day_turnover
        )
    return out


def from_hk_shares(shares: Mapping[str, float | None]) -> dict[str, SymbolBaseline]:
    """Baselines holding only the HK share count (``static_info``): block_trade's
    threshold from the market cap, for names with no daily bars."""
    return {c: SymbolBaseline(days=0, cum=[], hk_shares=float(n)) for c, n in shares.items() if n}


def _hk_day(ts_ms: int) -> int:
    return (ts_ms // 1000 + HKT_OFFSET_S) // DAY_S


def from_ticks(
    ticks: Iterable[Tick],
    *,
    days: int = 20,
    percentile: float = 95.0,
    exclude_day: int | None = None,
) -> dict[str, SymbolBaseline]:
    """Baselines from recorded trades (any order); the newest ``days`` trading days count."""
    # (symbol, day) -> [per-minute trades, per-minute volume]
    per: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
    sizes: dict[str, list[float]] = {}
    money: dict[tuple[str, int], float] = {}  # (symbol, day) -> turnover
    span_lo = span_hi = 0
    cont = False
    for t in ticks:
        ts = t.ts
        if not span_lo <= ts < span_hi:
            span_lo, span_hi, cont, _ = phase_span(ts)
        if not cont:
            continue
        day = _hk_day(ts)
        if day == exclude_day:
            continue
        key = (t.symbol, day)
        row = per.get(key)
        if row is None:
            row = per[key] = ([0] * SESSION_MINUTES, [0] * SESSION_MINUTES)
        m = min(int(session_minute(ts)), SESSION_MINUTES - 1)
        row[0][m] += 1
        row[1][m] += t.volume
        sizes.setdefault(t.symbol, []).append(t.turnover)
        money[key] = money.get(key, 0.0) + t.turnover
    all_days = sorted({d for _, d in per})[-days:]
    keep = set(all_days)
    by_symbol: dict[str, list[tuple[list[int], list[int]]]] = {}
    for (code, day), row in per.items():
        if day in keep:
            by_symbol.setdefault(code, []).append(row)
    turnover: dict[str, float] = {}
    for (code, day), v in money.items():
        if day in keep:
            turnover[code] = turnover.get(code, 0.0) + v
    out = {}
    n_days = len(all_days)
    for code, rows in by_symbol.items():
        minute_n = [sum(r[0][m] for r in rows) / n_days for m in range(SESSION_MINUTES)]
        minute_v = [sum(r[1][m] for r in rows) / n_days for m in range(SESSION_MINUTES)]
        cum, run = [], 0.0
        for v in minute_v:
            run += v
            cum.append(run)
        s = sorted(sizes.get(code, ()))
        block = s[min(len(s) - 1, int(len(s) * percentile / 100.0))] if len(s) >= 100 else 0.0
        day_turnover = turnover.get(code, 0.0) / n_days
        out[code] = SymbolBaseline(n_days, cum, minute_n, minute_v, block, day_turnover)
    return out


def _encode(baselines: Mapping[str, SymbolBaseline]) -> bytes:
    return orjson.dumps(
        {
            "version": CACHE_VERSION,
            "symbols": {
                c: {
                    "days": b.days,
                    "cum": [round(x, 2) for x in b.cum],
                    "minute_n": [round(x, 4) for x in b.minute_n],
                    "minute_v": [round(x, 2) for x in b.minute_v],
                    "block": b.block,
                    "day_turnover": b.day_turnover,
                    "hk_shares": b.hk_shares,
                }
                for c, b in baselines.items()
            },
        }
    )


def _decode(raw: bytes) -> dict[str, SymbolBaseline] | None:
    try:
        data = orjson.loads(raw)
        if data.get("version") != CACHE_VERSION:
            return None
        return {
            c: SymbolBaseline(
                int(v["days"]),
                v["cum"],
                v["minute_n"],
                v["minute_v"],
                float(v["block"]),
                float(v["day_turnover"]),
                float(v.get("hk_shares", 0.0)),
            )
            for c, v in data["symbols"].items()
        }
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def cached(
    kind: str, key: Sequence[Any], build: Callable[[], dict[str, SymbolBaseline]]
) -> tuple[dict[str, SymbolBaseline], bool]:
    """``build()`` once per ``key``, kept in ``$XDG_CACHE_HOME/hkticks/baselines-KIND-HASH.json``.

    Returns (baselines, came from the cache). A damaged cache file is rebuilt;
    a cache directory that cannot be written only costs the rebuild next time.
    """
    digest = hashlib.sha256(orjson.dumps(list(key))).hexdigest()[:16]
    path = config.cache_dir() / f"baselines-{kind}-{digest}.json"
    try:
        got = _decode(path.read_bytes())
        if got is not None:
            return got, True
    except OSError:
        pass
    built = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(_encode(built))
        os.replace(tmp, path)
    except OSError:
        pass
    return built, False


def history_key(paths: Sequence[str], days: int, percentile: float) -> list[Any]:
    """What a history baseline depends on: each file's path, size and mtime, and the settings."""
    key: list[Any] = [days, percentile]
    for p in sorted(paths):
        try:
            st = os.stat(p)
            key.append([os.path.abspath(p), st.st_size, st.st_mtime_ns])
        except OSError:
            key.append([os.path.abspath(p), None, None])
    return key


# -- the baselines a live run applied, beside its recording ---------------------------
#
# A live ``alerts --out FILE`` run receives baselines in the background (daily bars)
# at some point of its stream. Written beside FILE with the number of ticks the engine
# had seen when they arrived, they let ``replay FILE --alerts`` apply the same ones at
# the same tick: the replay's alerts stay the live run's, byte for byte.


def applied_path(recording: str) -> str:
    """``<recording>.baselines.jsonl``."""
    return f"{recording}.baselines.jsonl"


def write_applied(path: str, at_tick: int, got: Mapping[str, SymbolBaseline]) -> None:
    """Append one set: ``{"at_tick": N, "baselines": {...}}`` (N ticks fed before it)."""
    line = orjson.dumps({"at_tick": at_tick, "baselines": orjson.loads(_encode(got))})
    with open(path, "ab") as fh:
        fh.write(line + b"\n")


def read_applied(path: str) -> list[tuple[int, dict[str, SymbolBaseline]]]:
    """The sets of :func:`write_applied`, in order; [] if there is no such file.

    A damaged line ends the list (what follows it cannot be placed)."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return []
    out = []
    for line in raw.splitlines():
        try:
            rec = orjson.loads(line)
            got = _decode(orjson.dumps(rec["baselines"]))
            at = int(rec["at_tick"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            break
        if got is None:
            break
        out.append((at, got))
    return out
