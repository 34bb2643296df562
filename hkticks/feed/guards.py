"""What a connection refuses: oversized messages and redirects that would leak the token.

Kept beside ``session.py`` (which uses them on every connection) so the
session stays about its life cycle. Both guard against a hostile or broken
server:

* a message of more than :data:`MAX_MESSAGE_BYTES` in all, or of more than
  :data:`MAX_FRAGMENTS` frames, is refused (:class:`MessageTooLarge`); a frame
  header announcing more is refused before its payload is read
  (:class:`BoundedFrameBuffer`): websocket-client would otherwise buffer
  whatever the header claims, 2 GiB included, and join continuation frames
  by copying all that came before at each one (quadratic in the message);
* a handshake redirect is followed only to the same host and port, never from
  ``wss://`` to ``ws://`` (:func:`redirect_target`); every query value of a
  redirect's URL is masked in messages (:func:`hkticks.alltick.urls.redact`), since a
  secret may travel under any name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import websocket

from hkticks.alltick import protocol as alltick
from hkticks.alltick.urls import redact

# A message (all its frames) of more than this is refused: a frame announcing
# more from its header, before its payload is read, and a fragmented message
# as soon as its frames add up to more. Messages between alltick.MAX_FRAME_BYTES
# and this are read, then dropped and counted by the decoder; AllTick's
# messages are a few hundred bytes, in one frame.
MAX_MESSAGE_BYTES = 16 * alltick.MAX_FRAME_BYTES
# ... and a message of more than this many frames (continuations included).
MAX_FRAGMENTS = 4096
MAX_REDIRECTS = 3
_REDIRECTS = (301, 302, 303, 307, 308)


class MessageTooLarge(websocket.WebSocketException):
    """A message over a cap: ``cap`` is ``"bytes"`` (``seen`` bytes so far, or announced
    by one frame's header) or ``"fragments"`` (``seen`` frames so far)."""

    def __init__(self, cap: str, seen: int, limit: int, *, announced: bool = False) -> None:
        what = "frames" if cap == "fragments" else "bytes"
        how = "announced by a frame header" if announced else "in one message"
        super().__init__(f"{seen} {what} {how} (limit {limit} {what})")
        self.cap = cap
        self.seen = seen
        self.limit = limit
        self.announced = announced


class RedirectRefused(websocket.WebSocketException):
    """A handshake redirect that would downgrade TLS or leave the host."""


class BoundedFrameBuffer(websocket._abnf.frame_buffer):
    """websocket-client's frame parser, checking the announced length first."""

    def __init__(
        self, recv_fn: Any, skip_utf8_validation: bool, max_bytes: int = MAX_MESSAGE_BYTES
    ) -> None:
        super().__init__(recv_fn, skip_utf8_validation)
        self.max_bytes = max_bytes

    def recv_length(self) -> None:
        super().recv_length()
        if self.length is not None and self.length > self.max_bytes:
            raise MessageTooLarge("bytes", self.length, self.max_bytes, announced=True)


def redirect_target(url: str, location: str | None) -> str:
    """Where a handshake redirect of ``url`` leads, or :class:`RedirectRefused`.

    Followed only to the same host and port with the same or a stronger
    scheme: ``wss://`` -> ``ws://`` would send the token in clear, another
    host would receive it.
    """
    if not location:
        raise RedirectRefused("a redirect without a Location")
    here = urlsplit(url)
    if location.startswith("/"):
        location = f"{here.scheme}://{here.netloc}{location}"
    there = urlsplit(location)
    shown = redact(location)[:200]  # a redirect may carry a secret under any name
    if there.scheme not in ("ws", "wss"):
        raise RedirectRefused(f"redirected to {shown}, which is not a WebSocket URL")
    if here.scheme == "wss" and there.scheme != "wss":
        raise RedirectRefused(f"redirected from wss:// to {shown}, which is not encrypted")

    def port(u: Any) -> int | None:
        try:
            return u.port or (443 if u.scheme == "wss" else 80)  # type: ignore[no-any-return]
        except ValueError:
            return None

    same = (here.hostname or "").lower() == (there.hostname or "").lower()
    if not same or port(here) != port(there):
        raise RedirectRefused(f"redirected to another host ({shown})")
    return location


def connect_checked(ws: websocket.WebSocket, url: str, timeout: float) -> None:
    """``ws.connect(url)`` following redirects only where :func:`redirect_target` allows."""
    for _ in range(MAX_REDIRECTS + 1):
        ws.handshake_response = None
        try:
            ws.connect(url, timeout=timeout, redirect_limit=0)
            return
        except websocket.WebSocketException:
            resp = ws.handshake_response
            if resp is None or resp.status not in _REDIRECTS:
                raise
            url = redirect_target(url, resp.headers.get("location"))
    raise websocket.WebSocketException(f"more than {MAX_REDIRECTS} redirects")


def untrusted_certificate(shown_url: str, why: str) -> str:
    """The one-line message for a server certificate that failed verification."""
    return (
        f"the TLS certificate of {shown_url} is not trusted ({why}): if you trust that "
        "server, point SSL_CERT_FILE at its certificate or CA "
        "(SSL_CERT_FILE=/path/to/ca.pem hkticks ...) or add the CA to the system's trust store; "
        "TLS verification stays on"
    )
