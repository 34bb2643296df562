"""A small websocket-client based AllTick client for the embedded server's tests.

Real sockets on loopback, the real websocket-client library: no mocks.
Frames are checked as raw JSON (what the server put on the wire) and, where
compatibility matters, through hkticks' own decoder.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import websocket

from hkticks.alltick import protocol as alltick


class Client:
    """One AllTick WebSocket connection. ``pushes`` keeps non-response frames seen
    while waiting for responses."""

    def __init__(
        self, url: str, token: str | None = "t", timeout: float = 3.0, **kwargs: Any
    ) -> None:
        full = url if token is None else f"{url}?token={token}"
        self.ws = websocket.create_connection(full, timeout=timeout, **kwargs)
        self.builder = alltick.RequestBuilder()
        self.pushes: list[dict[str, Any]] = []

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        if timeout is not None:
            self.ws.settimeout(timeout)
        text = self.ws.recv()
        if not text:
            raise ConnectionError("closed by the server")
        obj = orjson.loads(text)
        assert isinstance(obj, dict)
        return obj

    def send(self, text: str | bytes) -> None:
        self.ws.send(text)

    def request(self, req: alltick.Request, timeout: float = 3.0) -> dict[str, Any]:
        """Send ``req`` and return its response (matched by seq_id)."""
        self.send(req.text)
        deadline = time.monotonic() + timeout
        while True:
            obj = self.recv(max(0.01, deadline - time.monotonic()))
            if "ret" in obj and obj.get("seq_id") == req.seq_id:
                return obj
            self.pushes.append(obj)

    def subscribe(self, symbols: list[str]) -> dict[str, Any]:
        return self.request(self.builder.subscribe_trades(symbols))

    def collect(self, seconds: float) -> list[dict[str, Any]]:
        """Every frame received during ``seconds`` (plus pushes already seen)."""
        out, self.pushes = self.pushes, []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(self.recv(left))
            except websocket.WebSocketTimeoutException:
                break
        return out

    def collect_until(
        self, done: Any, timeout: float = 30.0, what: str = "the frames"
    ) -> list[dict[str, Any]]:
        """Frames received (plus pushes already seen) until ``done(frames)`` holds."""
        out, self.pushes = self.pushes, []
        deadline = time.monotonic() + timeout
        while not done(out):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
            try:
                out.append(self.recv(left))
            except websocket.WebSocketTimeoutException:
                pass
        return out

    def wait_closed(self, timeout: float) -> tuple[int | None, str]:
        """Read until the server closes; returns (close code, reason)."""
        self.ws.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            opcode, data = self.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                if len(data) >= 2:
                    return int.from_bytes(data[:2], "big"), data[2:].decode()
                return None, ""
        raise AssertionError("the server did not close the connection")

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except Exception:
            pass
        # after a close started by the server, websocket-client's close() does
        # nothing and leaves the socket open: shut it down ourselves
        self.ws.shutdown()


def trades(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f["data"] for f in frames if f.get("cmd_id") == alltick.PUSH_TRADE]


def books(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f["data"] for f in frames if f.get("cmd_id") == alltick.PUSH_BOOK]
