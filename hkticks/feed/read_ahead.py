"""The session's WebSocket: websocket-client's ``WebSocket`` reading the socket in
large chunks (:class:`ReadAheadWebSocket`), and the frame opcodes the session
tells apart.

Why not ``WebSocketApp.run_forever``: its dispatcher calls ``select`` before
every frame, and websocket-client reads each frame with two or three
``recv`` calls of a few bytes. Under a busy feed those system calls cost
more than decoding. :class:`ReadAheadWebSocket` reads up to 256 KiB per call
and hands websocket-client's frame parser the bytes it asks for from that
buffer; handshake, framing, masking, pings and close frames remain
websocket-client's. Used by :mod:`hkticks.feed.session` only.
"""

from __future__ import annotations

import socket
from typing import Any

import websocket

from hkticks.feed.guards import (
    MAX_FRAGMENTS,
    MAX_MESSAGE_BYTES,
    BoundedFrameBuffer,
    MessageTooLarge,
)

_BINARY = websocket.ABNF.OPCODE_BINARY
_TEXT = websocket.ABNF.OPCODE_TEXT
_CLOSE = websocket.ABNF.OPCODE_CLOSE
_CONT = websocket.ABNF.OPCODE_CONT
_PING = websocket.ABNF.OPCODE_PING
READ_AHEAD_BYTES = 1 << 18


class ReadAheadWebSocket(websocket.WebSocket):
    """websocket-client's ``WebSocket`` reading the socket in large chunks.

    The library's frame parser asks its ``_recv`` for a frame's few header
    bytes, then for its payload; each ask would be a system call (two with a
    socket timeout: ``poll`` then ``recv``). Here one ``recv`` fetches up to
    :data:`READ_AHEAD_BYTES` and the asks are served from that buffer.

    A socket timeout while waiting for data is not a disconnect: silence is
    the stale-feed watchdog's call, not the socket's, so the read is retried
    until data comes, the peer closes, or :meth:`stop_reading` is called.

    Fragmented messages are joined here, not by websocket-client (which
    copies the whole message so far at every continuation frame): the parts
    are kept in a list and joined once, and a message over ``max_bytes`` in
    all or ``max_fragments`` frames raises :class:`MessageTooLarge` as soon
    as it gets there, so work and memory stay linear and bounded.
    """

    def __init__(
        self,
        *,
        max_bytes: int = MAX_MESSAGE_BYTES,
        max_fragments: int = MAX_FRAGMENTS,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.max_bytes = max_bytes
        self.max_fragments = max_fragments
        self.frame_buffer = BoundedFrameBuffer(
            self._recv, options.get("skip_utf8_validation", False), max_bytes
        )
        self._buf = b""
        self._pos = 0
        self.reading = True

    def stop_reading(self) -> None:
        """Make a blocked read return (from any thread), even mid-handshake."""
        self.reading = False
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def recv_message(self) -> tuple[int, bytes]:
        """The next data message or control frame: ``(opcode, payload)``.

        The common frame, a whole unfragmented unmasked text or binary frame
        already in the buffer, is sliced out here; anything else (a frame
        split across reads, fragments, pings, close) goes through
        websocket-client's own parser, which reads from the same buffer. The
        two never interleave inside a frame: the parser returns only whole
        messages, so the fast path always starts on a frame boundary.
        """
        buf, pos = self._buf, self._pos
        if pos + 4 <= len(buf):
            b0 = buf[pos]
            if b0 == 0x81 or b0 == 0x82:  # FIN, no RSV bits, text or binary
                n = buf[pos + 1]  # the mask bit is 0x80: a masked frame goes the slow way
                if n < 126:
                    start = pos + 2
                elif n == 126:
                    n = (buf[pos + 2] << 8) | buf[pos + 3]
                    start = pos + 4
                else:
                    start = -1
                if start > 0 and start + n <= len(buf):
                    self._pos = start + n
                    return b0 & 0x0F, buf[start : start + n]
        return self._recv_slow()

    def _recv_slow(self) -> tuple[int, bytes]:
        """Frame by frame: a data message joined from its fragments, or a close/pong."""
        parts: list[bytes] = []
        opcode = 0
        size = 0
        while True:
            frame = self.recv_frame()
            op = frame.opcode
            if op == _TEXT or op == _BINARY or op == _CONT:
                if (op == _CONT) != bool(parts):
                    raise websocket.WebSocketProtocolException("continuation frame out of place")
                if not parts:
                    opcode = op
                data = frame.data
                size += len(data)
                if size > self.max_bytes:
                    raise MessageTooLarge("bytes", size, self.max_bytes)
                parts.append(data)
                if frame.fin:
                    return opcode, data if len(parts) == 1 else b"".join(parts)
                if len(parts) >= self.max_fragments:
                    raise MessageTooLarge("fragments", len(parts) + 1, self.max_fragments)
            elif op == _CLOSE:
                self.send_close()
                return op, frame.data
            elif op == _PING:
                if len(frame.data) >= 126:
                    raise websocket.WebSocketProtocolException("ping payload too long")
                self.pong(frame.data)
            else:  # a pong: nothing to do, but the caller sees the connection is alive
                return op, frame.data

    def _recv(self, bufsize: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            buf = self._buf = self._fill()
            pos = 0
        end = pos + bufsize
        self._pos = end
        return buf[pos:end]

    def _fill(self) -> bytes:
        while True:
            sock = self.sock
            if sock is None or not self.reading:
                raise websocket.WebSocketConnectionClosedException("connection aborted")
            try:
                data = sock.recv(READ_AHEAD_BYTES)
            except TimeoutError:
                continue
            if not data:
                raise websocket.WebSocketConnectionClosedException(
                    "Connection to remote host was lost."
                )
            return data
