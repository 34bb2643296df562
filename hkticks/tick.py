"""Provider-neutral value types: :class:`Tick`, :class:`Book` and :class:`Event`.

These are what flows through the queue from the feed to the consumers. They
know nothing about any provider. ``RECORD_FIELDS`` is the order and the names
of a trade in every record format (JSONL, CSV, SQLite).
"""

from __future__ import annotations

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
        """Rebuild a tick from its record form (raises KeyError/TypeError/ValueError if bad).

        An empty string reads as ``None`` for ``side`` and ``seq``: that is how
        CSV writes a null, and replay reads CSV rows back through here.
        """
        side = rec.get("side")
        if side == "":
            side = None
        elif side not in (None, "buy", "sell"):
            raise ValueError(f"bad side {side!r}")
        seq = rec.get("seq")
        if seq == "":
            seq = None
        return cls(
            symbol=str(rec["symbol"]),
            ts=int(rec["ts"]),
            price=float(rec["price"]),
            volume=int(rec["volume"]),
            turnover=float(rec["turnover"]),
            side=side,
            seq=None if seq is None else int(seq),
            recv_ts=int(rec["recv_ts"]),
            src=str(rec["src"]),
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
