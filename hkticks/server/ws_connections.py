"""One WebSocket connection of the embedded server: its state (:class:`Conn`),
its snapshot for tests and diagnostics (:class:`ConnectionInfo`), the WebSocket
side's options (:class:`WsOptions`) and the documented request header check.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection

from hkticks.alltick import protocol as alltick

CLOSE_POLICY = 1008

MAX_REQUEST_LOG = 10_000


@dataclass(frozen=True)
class ConnectionInfo:
    """A snapshot of one connection, for tests and diagnostics.

    ``requests`` holds ``(wall time, cmd_id, ret)``; ``ret`` is ``None`` for a
    request left unanswered (stalled server) and ``cmd_id`` ``None`` for a
    frame that was not a request.
    """

    id: int
    token: str | None = field(repr=False)
    plan: str | None
    opened_at: float
    closed_at: float | None
    close_reason: str | None
    trade_symbols: tuple[str, ...]
    book_symbols: tuple[str, ...]
    requests: tuple[tuple[float, int | None, int | None], ...]
    trades_sent: int = 0


class Conn:
    """Server-side state of one WebSocket connection."""

    def __init__(self, cid: int, ws: ServerConnection, token: str | None, loop_now: float) -> None:
        self.id = cid
        self.ws = ws
        self.token = token
        self.plan: alltick.Plan | None = None
        self.opened_at = time.time()
        self.closed_at: float | None = None
        self.close_reason: str | None = None
        self.trades: dict[str, None] = {}
        self.books: dict[str, int] = {}
        self.requests: deque[tuple[float, int | None, int | None]] = deque(maxlen=MAX_REQUEST_LOG)
        self.last_heartbeat = loop_now
        self.last_request: float | None = None
        self.trades_sent = 0
        self.firehose: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.live: list[str] = []
        self.cum: list[float] = []

    def snapshot(self) -> ConnectionInfo:
        return ConnectionInfo(
            id=self.id,
            token=self.token,
            plan=self.plan.name if self.plan else None,
            opened_at=self.opened_at,
            closed_at=self.closed_at,
            close_reason=self.close_reason,
            trade_symbols=tuple(self.trades),
            book_symbols=tuple(self.books),
            requests=tuple(self.requests),
            trades_sent=self.trades_sent,
        )


@dataclass
class WsOptions:
    """Behaviour switches of the WebSocket side (see :class:`MarketServer`)."""

    tokens: dict[str, str]
    rate: float = 200.0
    firehose: bool = False
    firehose_count: int | None = None
    heartbeat_timeout: float = alltick.HEARTBEAT_TIMEOUT_S
    enforce_pacing: bool = True
    over_limit: str = "ignore"
    resend_latest: bool = True
    tick_time_unit: str = "ms"
    numbers_as_strings: bool = True
    ids_as_strings: bool = False
    record_sent: bool = False
    # Say "simulated" in the handshake answer (SIMULATED_HEADER): the client labels the trades
    # ``alltick-sim``. Off only when replaying a recording of a real feed.
    simulated: bool = True
    # Benchmarks: (symbol, seq, time.time_ns() when written) for every trade push.
    stamp_sent: bool = False
    # Undocumented answer fields (``invalid_codes`` on 600, the limits on 603): --quirks extras
    extras: bool = False


def _echo_id(value: Any) -> int | None:
    """``seq_id`` as the client sent it when it is the documented uint32, else None
    (answered as ``0``): an answer never carries a ``seq_id`` of another type or range."""
    if type(value) is int and 0 <= value <= 0xFFFFFFFF:
        return value
    return None


def _echo_trace(value: Any) -> str | None:
    return value[:256] if isinstance(value, str) else None


def header_valid(obj: Any) -> bool:
    """The documented request header: ``cmd_id`` and ``seq_id`` uint32, ``trace`` a
    string of 1..64 characters, ``data`` an object (or ``[]``: PHP's ``json_encode``
    of an empty array, which AllTick's own PHP example sends as a heartbeat's data).
    Normalises that ``[]`` to ``{}`` in place."""
    if type(obj) is not dict:
        return False
    if obj.get("data") == []:
        obj["data"] = {}
    cmd, seq_id, trace = obj.get("cmd_id"), obj.get("seq_id"), obj.get("trace")
    return (
        type(cmd) is int
        and 0 <= cmd <= 0xFFFFFFFF
        and type(seq_id) is int
        and 0 <= seq_id <= 0xFFFFFFFF
        and type(trace) is str
        and 0 < len(trace) <= alltick.MAX_TRACE_LEN
        and type(obj.get("data")) is dict
    )
