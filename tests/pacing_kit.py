"""An independent AllTick-like WebSocket server that logs when it reads each request.

Written for the pacing tests, apart from hkticks' own embedded server (which
is what is under test elsewhere): the real ``websockets`` library on a free
loopback port, one thread. Every request is answered ``ret 200`` as AllTick
does; ``busy_after_open`` makes the server read a new connection's first
request late (a busy server, or one sharing a CPU with the client), which is
how a client pacing from its own write times ends up closer than 1 s in the
server's eyes. After a subscribe each named symbol gets one trade push, so
commands see data.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from hkticks.alltick import protocol as alltick


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the server read it
    conn: int
    cmd_id: int
    symbols: int


class RecordingServer:
    def __init__(self, *, busy_after_open: float = 0.4) -> None:
        self.busy_after_open = busy_after_open
        self.requests: list[Received] = []
        self.opened: list[float] = []  # when each connection's handler started
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/quote-stock-b-ws-api"

    def start(self) -> None:
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None, max_size=None)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(10)

    def log(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def subscribes(self) -> list[Received]:
        return [r for r in self.log() if r.cmd_id in (alltick.CMD_SUB_TRADES, alltick.CMD_SUB_BOOK)]

    def _handle(self, ws: ServerConnection) -> None:
        conn = next(self._ids)
        self.opened.append(time.monotonic())
        time.sleep(self.busy_after_open)
        try:
            for message in ws:
                at = time.monotonic()
                obj = orjson.loads(message)
                cmd = obj.get("cmd_id")
                items = (obj.get("data") or {}).get("symbol_list") or []
                with self._lock:
                    self.requests.append(Received(at, conn, cmd, len(items)))
                ws.send(
                    orjson.dumps(
                        {
                            "ret": 200,
                            "msg": "ok",
                            "cmd_id": alltick.RESPONSE_FOR.get(cmd, cmd),
                            "seq_id": obj.get("seq_id"),
                            "trace": obj.get("trace"),
                            "data": {},
                        }
                    ).decode()
                )
                if cmd == alltick.CMD_SUB_TRADES:
                    self._push_trades(ws, [i["code"] for i in items])
        except ConnectionClosed:
            pass

    def _push_trades(self, ws: ServerConnection, codes: list[str]) -> None:
        now_ms = time.time_ns() // 1_000_000
        for n, code in enumerate(codes):
            ws.send(
                orjson.dumps(
                    {
                        "cmd_id": alltick.PUSH_TRADE,
                        "data": {
                            "code": code,
                            "seq": str(n + 1),
                            "tick_time": str(now_ms),
                            "price": "10.00",
                            "volume": "100",
                            "turnover": "1000.00",
                            "trade_direction": 1,
                        },
                    }
                ).decode()
            )


@contextmanager
def recording_server(**kw: Any) -> Iterator[RecordingServer]:
    server = RecordingServer(**kw)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def gaps(log: list[Received]) -> tuple[list[float], list[float]]:
    """(gaps between consecutive requests on one connection,
    gaps between consecutive subscribes/cancels on different connections)."""
    same: list[float] = []
    for conn in {r.conn for r in log}:
        times = sorted(r.at for r in log if r.conn == conn)
        same += [b - a for a, b in itertools.pairwise(times)]
    paced = sorted((r for r in log if r.cmd_id != alltick.CMD_HEARTBEAT), key=lambda r: r.at)
    cross = [b.at - a.at for a, b in itertools.pairwise(paced) if a.conn != b.conn]
    return same, cross
