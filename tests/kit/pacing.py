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
        time.sleep(self.busy_after_open)  # under test: a server slow to read a new connection
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


class RawWsServer:
    """A WebSocket server written on a plain socket, for frames no library would send.

    ``serve(conn, n)`` gets the upgraded socket of the ``n``-th connection (from 1)
    and writes raw frames with :func:`frame`; ``sent[n]`` counts the bytes it managed
    to write (the client stops reading a message it refuses).
    """

    def __init__(self, serve: Any) -> None:
        import socket

        self.serve = serve
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.sent: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{alltick.WS_PATH}"

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            n = self.accepted
            threading.Thread(target=self._one, args=(conn, n), daemon=True).start()

    def _one(self, conn: Any, n: int) -> None:
        import base64
        import hashlib

        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            magic = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
            accept = base64.b64encode(hashlib.sha1(key + magic).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.sent[n] = 0
            try:
                self.serve(self, conn, n)
            except OSError:
                pass

    def send(self, conn: Any, n: int, data: bytes) -> None:
        conn.sendall(data)
        self.sent[n] += len(data)

    def stopping(self) -> bool:
        return self._stop.is_set()

    def hold(self) -> None:
        """Keep the connection open (sending nothing more) until the server closes."""
        self._stop.wait()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(5)


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One unmasked server frame (``opcode`` 0 = continuation, 1 = text, 2 = binary)."""
    import struct

    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def trade_text(code: str = "700.HK", seq: int = 1) -> bytes:
    """One 22998 trade push as AllTick documents it."""
    return orjson.dumps(
        {
            "cmd_id": alltick.PUSH_TRADE,
            "data": {
                "code": code,
                "seq": seq,
                "tick_time": time.time_ns() // 1_000_000,
                "price": "380.2",
                "volume": "100",
                "turnover": "38020",
                "trade_direction": 1,
            },
        }
    )
