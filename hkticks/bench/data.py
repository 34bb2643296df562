"""Recordings made up for the benches: a trading day of trades, fast, reproducible.

Not the embedded server's market (that one makes trades at the pace of a
clock, over sockets); a plain generator that writes a JSONL day of ``n``
trades over ``symbols`` stocks in a few seconds, shaped like a real day:
exchange times spread over the Hong Kong session (09:30-12:00, 13:00-16:00),
per-symbol sequence numbers, receive times a few ms after, board-lot volumes,
a random walk of prices, and ``src`` saying the data is simulated.
"""

from __future__ import annotations

import calendar
import os
import random

import orjson

SRC = "alltick-sim"
_SESSIONS_S = ((9 * 3600 + 1800, 12 * 3600), (13 * 3600, 16 * 3600))


def day_start_ms(date: str) -> int:
    """Midnight of ``YYYY-MM-DD`` in Hong Kong, as epoch ms."""
    y, m, d = (int(x) for x in date.split("-"))
    return (calendar.timegm((y, m, d, 0, 0, 0, 0, 0, 0)) - 8 * 3600) * 1000


def write_day(
    path: str, n: int, *, date: str = "2026-11-30", symbols: int = 500, seed: int = 1
) -> int:
    """Write ``n`` trades of one HK day to ``path`` (JSONL); returns the bytes written."""
    rng = random.Random(seed)
    codes = [f"{c:05d}" for c in sorted(rng.sample(range(1, 10000), symbols))]
    weights = [1.0 / (i + 1) ** 0.8 for i in range(symbols)]
    prices = {c: round(rng.uniform(1, 400), 2) for c in codes}
    seqs = dict.fromkeys(codes, 0)
    base = day_start_ms(date)
    session_ms = sum(b - a for a, b in _SESSIONS_S) * 1000
    step = session_ms / n
    dumps = orjson.dumps
    chosen = rng.choices(codes, weights=weights, k=n)
    sides = ("buy", "sell", None)
    written = 0
    with open(path, "wb") as fh:
        out: list[bytes] = []
        for i, code in enumerate(chosen):
            offset = int(i * step)
            first = (_SESSIONS_S[0][1] - _SESSIONS_S[0][0]) * 1000
            sod = _SESSIONS_S[0][0] * 1000 + offset
            if offset >= first:
                sod = _SESSIONS_S[1][0] * 1000 + offset - first
            ts = base + sod
            p = prices[code] = max(0.01, round(prices[code] * (1 + rng.gauss(0, 0.0005)), 2))
            vol = 100 * rng.randint(1, 40)
            seqs[code] += 1
            rec = {
                "symbol": code,
                "ts": ts,
                "price": p,
                "volume": vol,
                "turnover": round(p * vol, 2),
                "side": sides[rng.random() < 0.48 and 0 or (rng.random() < 0.9 and 1 or 2)],
                "seq": seqs[code],
                "recv_ts": ts + rng.randint(2, 40),
                "src": SRC,
            }
            out.append(dumps(rec))
            if len(out) >= 65536:
                chunk = b"\n".join(out) + b"\n"
                fh.write(chunk)
                written += len(chunk)
                out = []
        if out:
            chunk = b"\n".join(out) + b"\n"
            fh.write(chunk)
            written += len(chunk)
    return written


def size_of(path: str) -> int:
    return os.path.getsize(path)
