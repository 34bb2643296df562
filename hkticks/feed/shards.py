"""The Connection Manager: a symbol set split into shards by plan limits,
one :class:`~hkticks.feed.session.Session` per shard, and one queue out.

Shards are opened ``connection_spacing`` seconds apart and every request
respects AllTick's pacing (see :mod:`hkticks.feed.pacing`). One timer thread
sends heartbeats and subscriptions and watches for stale connections. A
fatal answer (token rejected, plan too small) stops every connection and is
kept in :attr:`Feed.fatal` for the command to report.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hkticks.alltick import protocol as alltick
from hkticks.errors import HkticksError, PlanTooSmall, UsageError
from hkticks.feed.dedup import Dedup
from hkticks.feed.pacing import CONNECTION_SPACING_S, REQUEST_SPACING_S, ConnectGate, Pacer
from hkticks.feed.queue import TickQueue
from hkticks.feed.session import ConnStatus, Session, SessionConfig, now_ms
from hkticks.tick import Event

log = logging.getLogger("hkticks.feed.shards")


def plan_shards(
    symbols: Sequence[str],
    max_connections: int,
    max_symbols: int,
    plan_name: str = "your plan",
    *,
    suggest_plan: bool = True,
) -> list[list[str]]:
    """Split ``symbols`` over as few connections as the limits allow, evenly.

    Raises :class:`PlanTooSmall` (before anything connects) when they do not fit,
    naming a plan that would fit when ``suggest_plan`` (not when the limits came
    from explicit flags, which no plan changes).
    """
    n = len(symbols)
    if n == 0:
        raise UsageError("no symbols to subscribe to")
    if max_connections < 1 or max_symbols < 1:
        raise UsageError("connection and symbol limits must be positive")
    needed = math.ceil(n / max_symbols)
    if needed > max_connections:
        allowed = max_connections * max_symbols
        hint = ""
        if suggest_plan:
            bigger = [
                p.name
                for p in alltick.PLANS.values()
                if p.total_symbols >= n and p.name != "all-cn"
            ]
            if bigger:
                hint = f"use --plan {bigger[0]} if you have it, or "
        conns = f"{max_connections} connection{'s' if max_connections != 1 else ''}"
        raise PlanTooSmall(
            f"{n} symbols do not fit {plan_name}: it allows {conns} x {max_symbols} "
            f"symbol{'s' if max_symbols != 1 else ''} = {allowed} symbols; "
            f"{hint}pass at most {allowed} symbols"
        )
    base, extra = divmod(n, needed)
    shards, start = [], 0
    for i in range(needed):
        size = base + (1 if i < extra else 0)
        shards.append(list(symbols[start : start + size]))
        start += size
    return shards


@dataclass(frozen=True)
class FeedStatus:
    connections: list[ConnStatus]
    ticks: int
    books: int
    duplicates: int
    decode_errors: int
    dropped: int
    queue_depth: int
    reconnects: int
    rejected: dict[str, int] = field(default_factory=dict)

    @property
    def up(self) -> int:
        return sum(1 for c in self.connections if c.state == "up")


class Feed:
    """All connections for one symbol set, feeding one :class:`TickQueue`."""

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        url: str,
        token: str,
        plan: alltick.Plan,
        queue: TickQueue,
        book_depth: int | None = None,
        token_source: str | None = None,
        max_connections: int | None = None,
        max_symbols: int | None = None,
        config: SessionConfig | None = None,
        request_spacing: float = REQUEST_SPACING_S,
        connection_spacing: float = CONNECTION_SPACING_S,
        src: str = alltick.SRC,
        dedup: Dedup | None = None,
        simulated: bool = False,
        check_server: Callable[[bool], HkticksError | None] | None = None,
    ) -> None:
        self.plan = plan
        self.queue = queue
        # known up front (--demo); a server's handshake may also say so (``connected`` events)
        self.simulated = simulated
        by_plan = not (max_connections or max_symbols)
        self.shards = plan_shards(
            symbols,
            max_connections or plan.max_connections,
            max_symbols or plan.max_symbols,
            f"the {plan.name} plan" if by_plan else "the limits given",
            suggest_plan=by_plan,
        )
        cfg = config or SessionConfig()
        if book_depth:
            cfg = SessionConfig(**{**cfg.__dict__, "book_depth": book_depth})
        self.config = cfg
        self.dedup = dedup or Dedup()
        self.fatal: HkticksError | None = None
        self.rejected: dict[str, int] = {}
        self.done = threading.Event()
        self._stop = threading.Event()
        self._started = False
        self._lock = threading.Lock()
        pacer = Pacer(request_spacing, connection_spacing)
        gate = ConnectGate(connection_spacing)
        self.sessions = [
            Session(
                i,
                shard,
                url=url,
                token=token,
                queue=queue,
                dedup=self.dedup,
                pacer=pacer,
                gate=gate,
                stop=self._stop,
                on_fatal=self._on_fatal,
                on_rejected=self._on_rejected,
                config=cfg,
                token_source=token_source,
                src=src,
                check_server=check_server,
            )
            for i, shard in enumerate(self.shards)
        ]
        self.shown_url = self.sessions[0].shown_url
        self._timer = threading.Thread(target=self._run_timer, name="hkticks-timer", daemon=True)

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        if self._started:
            raise RuntimeError("feed already started")
        self._started = True
        self.queue.put_event(
            Event(
                now_ms(),
                "feed_start",
                None,
                {
                    "url": self.shown_url,
                    "plan": self.plan.name,
                    "shards": [len(s) for s in self.shards],
                    "shard_symbols": self.shards,  # validate: lag per shard, never traded
                    "symbols": sum(len(s) for s in self.shards),
                    "simulated": self.simulated,
                },
            )
        )
        for session in self.sessions:
            session.start()
        self._timer.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every connection and join every thread. Idempotent."""
        self._stop.set()
        for session in self.sessions:
            session.abort(goodbye=True)
        if not self._started:
            self.done.set()
            return
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        for session in self.sessions:
            if session.thread is not current and session.thread.is_alive():
                session.thread.join(max(0.0, deadline - time.monotonic()))
        if self._timer is not current and self._timer.is_alive():
            self._timer.join(max(0.0, deadline - time.monotonic()))
        self.done.set()

    @property
    def simulated_server(self) -> bool:
        """Known simulated (``--demo``), or a connection's server said so in its handshake."""
        return self.simulated or any(s.simulated for s in self.sessions)

    def status(self) -> FeedStatus:
        now = time.monotonic()
        conns = [s.status(now) for s in self.sessions]
        return FeedStatus(
            connections=conns,
            ticks=sum(s.ticks for s in self.sessions),
            books=sum(s.books for s in self.sessions),
            duplicates=self.dedup.duplicates,
            decode_errors=sum(sum(s.decode_errors.values()) for s in self.sessions),
            dropped=self.queue.dropped,
            queue_depth=len(self.queue),
            reconnects=sum(s.reconnects for s in self.sessions),
            rejected=dict(self.rejected),
        )

    # ------------------------------------------------------------------ internals

    def _on_fatal(self, err: HkticksError) -> None:
        with self._lock:
            if self.fatal is None:
                self.fatal = err
                self.queue.put_event(Event(now_ms(), "fatal", None, {"reason": str(err)}))
        # stop everything; the session threads exit their loops, the timer sets done
        self._stop.set()
        for session in self.sessions:
            session.abort()

    def _on_rejected(self, ret: int, codes: list[str]) -> None:
        if not codes:
            log.warning(
                "the server rejected some symbols (ret %d: %s) without naming them; "
                "continuing with the others",
                ret,
                alltick.RET_MESSAGES.get(ret, ""),
            )
            return
        with self._lock:
            for code in codes:
                self.rejected[code] = ret
        log.warning(
            "the server rejected %s (ret %d: %s); continuing with the other symbols",
            ", ".join(codes),
            ret,
            alltick.RET_MESSAGES.get(ret, ""),
        )

    def _run_timer(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            for session in self.sessions:
                try:
                    session.service(now)
                except Exception:  # never let the timer die: it is the heartbeat
                    log.exception("shard %d: service failed", session.shard)
        for session in self.sessions:
            session.thread.join(5.0)
        self.done.set()
