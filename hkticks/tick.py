"""Provider-neutral value types: :class:`Tick`, :class:`Book` and :class:`Event`.

These are what flows through the queue from the feed to the consumers. They
know nothing about any provider. ``RECORD_FIELDS`` is the order and the names
of a trade in every record format (JSONL, CSV, SQLite).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

RECORD_FIELDS: tuple[str, ...] = (
    "symbol",
    "ts",
    "price",
    "volume",
    "turnover",
    "side",
    "seq",
    "recv_ts",
    "src",
)

BOOK_FIELDS: tuple[str, ...] = ("symbol", "ts", "bids", "asks", "seq", "recv_ts", "src")

SIDES = ("buy", "sell")

# The numbers a trade may carry, wherever it comes from (an AllTick frame, a
# NATS message, a recorded file): one rule, checked when the value is built,
# so no sink meets a number it cannot store (SQLite and PostgreSQL integers
# are 64-bit signed; NaN is not a price) and no date function overflows.
MAX_SEQ = (1 << 63) - 1
MAX_TIME_MS = 10**13  # 2286-11-20: beyond any exchange time
MAX_NUMBER = 1e15  # price, turnover
MAX_VOLUME = 10**15
MAX_TEXT = 64  # symbol and src


class BadRecord(ValueError):
    """A trade record that cannot be a trade (wrong shape, type or range)."""


def _whole(value: Any, name: str, high: int) -> int:
    """An integer in ``[0, high]`` from an int, an integral float or a digit string."""
    t = type(value)
    if t is int:
        n = value
    elif t is float:
        if not (math.isfinite(value) and value.is_integer()):
            raise BadRecord(f"{name} {value!r} is not a whole number")
        n = int(value)
    elif t is str:
        text = value.strip()
        try:
            n = int(text) if len(text) <= 20 else int(text[:21])
        except ValueError:
            try:
                x = float(text[:40])
            except ValueError:
                raise BadRecord(f"{name} {value[:40]!r} is not a number") from None
            return _whole(x, name, high)
    else:
        raise BadRecord(f"{name} has type {t.__name__}")
    if not 0 <= n <= high:
        if name in ("ts", "recv_ts"):
            raise BadRecord(f"time out of range ({name} {n}, 0 to {high})")
        raise BadRecord(f"{name} {n} out of range (0 to {high})")
    return n


def _real(value: Any, name: str) -> float:
    """A finite number in ``[0, MAX_NUMBER]`` (NaN and infinities refused)."""
    t = type(value)
    if t is int:
        if not 0 <= value <= MAX_VOLUME:
            raise BadRecord(f"{name} {value} out of range")
        return float(value)
    if t is str:
        try:
            x = float(value[:40])
        except ValueError:
            raise BadRecord(f"{name} {value[:40]!r} is not a number") from None
    elif t is float:
        x = value
    else:
        raise BadRecord(f"{name} has type {t.__name__}")
    if not 0.0 <= x <= MAX_NUMBER:  # NaN compares false with everything
        raise BadRecord(f"{name} {x!r} out of range")
    return x


def _text(value: Any, name: str) -> str:
    if type(value) is not str or not 0 < len(value) <= MAX_TEXT:
        raise BadRecord(f"{name} {str(value)[:40]!r} is not a short text")
    return value


@dataclass(slots=True)
class Tick:
    """One trade.

    ``ts`` is the exchange time and ``recv_ts`` the local receive time, both
    epoch milliseconds (UTC). ``volume`` is the shares in this trade and
    ``turnover`` its value. ``side`` is ``"buy"``, ``"sell"`` or ``None``.
    """

    symbol: str
    ts: int
    price: float
    volume: int
    turnover: float
    side: str | None
    seq: int | None
    recv_ts: int
    src: str

    def record(self) -> dict[str, Any]:
        """The record form: a dict with ``RECORD_FIELDS`` in order."""
        return {
            "symbol": self.symbol,
            "ts": self.ts,
            "price": self.price,
            "volume": self.volume,
            "turnover": self.turnover,
            "side": self.side,
            "seq": self.seq,
            "recv_ts": self.recv_ts,
            "src": self.src,
        }

    def row(self) -> tuple[Any, ...]:
        """The record as a tuple in ``RECORD_FIELDS`` order (CSV, SQLite)."""
        return (
            self.symbol,
            self.ts,
            self.price,
            self.volume,
            self.turnover,
            self.side,
            self.seq,
            self.recv_ts,
            self.src,
        )

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Tick:
        """Rebuild a tick from its record form, validated like an AllTick frame.

        Raises ``KeyError`` for a missing field and :class:`BadRecord` (a
        ``ValueError``) for anything else wrong: not an object, a wrong type,
        a number out of range (``ts`` 1e20, ``seq`` 2**63, ``volume`` 1e19,
        a NaN price). An empty string reads as ``None`` for ``side`` and
        ``seq``: that is how CSV writes a null, and replay reads CSV rows back
        through here.
        """
        if not isinstance(rec, dict):
            raise BadRecord(f"a trade is an object, not {type(rec).__name__}")
        side = rec.get("side")
        if side == "":
            side = None
        elif side not in (None, "buy", "sell") or type(side) is bool:
            raise BadRecord(f"bad side {str(side)[:40]!r}")
        seq = rec.get("seq")
        return cls(
            symbol=_text(rec["symbol"], "symbol"),
            ts=_whole(rec["ts"], "ts", MAX_TIME_MS),
            price=_real(rec["price"], "price"),
            volume=_whole(rec["volume"], "volume", MAX_VOLUME),
            turnover=_real(rec["turnover"], "turnover"),
            side=side,
            seq=None if seq is None or seq == "" else _whole(seq, "seq", MAX_SEQ),
            recv_ts=_whole(rec["recv_ts"], "recv_ts", MAX_TIME_MS),
            src=_text(rec["src"], "src"),
        )


@dataclass(slots=True)
class Book:
    """An order book snapshot; ``bids`` and ``asks`` are (price, volume) pairs, best first.

    ``odd`` names levels kept although their volume was not a whole number of
    shares (AllTick's own 22999 example has ``"volume": "9.12"``) or was
    missing: the volume is then rounded down (or 0) and the book flagged, not
    dropped.
    """

    symbol: str
    ts: int
    bids: tuple[tuple[float, int], ...]
    asks: tuple[tuple[float, int], ...]
    seq: int | None
    recv_ts: int
    src: str
    odd: tuple[str, ...] = ()

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Book:
        """Rebuild a book from its record form, with the numbers rule of trades
        (``KeyError`` for a missing field, :class:`BadRecord` for anything else)."""
        if not isinstance(rec, dict):
            raise BadRecord(f"a book is an object, not {type(rec).__name__}")

        def levels(name: str) -> tuple[tuple[float, int], ...]:
            raw = rec[name]
            if not isinstance(raw, list) or len(raw) > 50:
                raise BadRecord(f"{name} is not a list of levels")
            out = []
            for level in raw:
                if not isinstance(level, list) or len(level) != 2:
                    raise BadRecord(f"{name} has a level that is not [price, volume]")
                out.append((_real(level[0], "price"), _whole(level[1], "volume", MAX_VOLUME)))
            return tuple(out)

        seq = rec.get("seq")
        return cls(
            symbol=_text(rec["symbol"], "symbol"),
            ts=_whole(rec["ts"], "ts", MAX_TIME_MS),
            bids=levels("bids"),
            asks=levels("asks"),
            seq=None if seq is None or seq == "" else _whole(seq, "seq", MAX_SEQ),
            recv_ts=_whole(rec["recv_ts"], "recv_ts", MAX_TIME_MS),
            src=_text(rec["src"], "src"),
        )

    def record(self) -> dict[str, Any]:
        """The record form (bids/asks as lists of [price, volume])."""
        return {
            "symbol": self.symbol,
            "ts": self.ts,
            "bids": [list(level) for level in self.bids],
            "asks": [list(level) for level in self.asks],
            "seq": self.seq,
            "recv_ts": self.recv_ts,
            "src": self.src,
            **({"odd": list(self.odd)} if self.odd else {}),
        }


@dataclass(slots=True)
class Event:
    """A session event (connected, subscribed, disconnected, stale, error, ...).

    ``shard`` is the connection index or ``None`` for feed-wide events;
    ``details`` is free-form, JSON-serialisable and never holds the token.
    """

    ts: int
    event: str
    shard: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"ts": self.ts, "event": self.event, "shard": self.shard}
        rec.update(self.details)
        return rec
