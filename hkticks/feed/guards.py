"""What a connection refuses: oversized frames and redirects that would leak the token.

Kept beside ``session.py`` (which uses them on every connection) so the
session stays about its life cycle. Both guard against a hostile or broken
server:

* a frame header announcing more than :data:`MAX_WIRE_FRAME_BYTES` is refused
  before its payload is read (:class:`BoundedFrameBuffer`): websocket-client
  would otherwise buffer whatever the header claims, 2 GiB included;
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

# A frame announcing more than this is refused from its header, before its
# payload is read (websocket-client would buffer all of it: 2 GiB if asked).
# Frames between alltick.MAX_FRAME_BYTES and this are read, then dropped and
# counted by the decoder; AllTick's frames are a few hundred bytes.
MAX_WIRE_FRAME_BYTES = 16 * alltick.MAX_FRAME_BYTES
MAX_REDIRECTS = 3
_REDIRECTS = (301, 302, 303, 307, 308)


class FrameTooLarge(websocket.WebSocketException):
    """A frame header announced more than :data:`MAX_WIRE_FRAME_BYTES`."""

    def __init__(self, length: int) -> None:
        super().__init__(f"frame of {length} bytes announced (limit {MAX_WIRE_FRAME_BYTES})")
        self.length = length


class RedirectRefused(websocket.WebSocketException):
    """A handshake redirect that would downgrade TLS or leave the host."""


class BoundedFrameBuffer(websocket._abnf.frame_buffer):
    """websocket-client's frame parser, checking the announced length first."""

    def recv_length(self) -> None:
        super().recv_length()
        if self.length is not None and self.length > MAX_WIRE_FRAME_BYTES:
            raise FrameTooLarge(self.length)


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
