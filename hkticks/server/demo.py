"""An in-process simulated market for ``--demo``.

``start_demo`` starts a :class:`~hkticks.server.MarketServer` on free
loopback ports with a random token made for this run, so a demo needs no
account, no network and no configuration, and cannot collide with another
demo running at the same time.
"""

from __future__ import annotations

import secrets
from types import TracebackType
from typing import Any

from hkticks.server.marketserver import MarketServer


class DemoServer:
    """A running demo server. Use as a context manager or call :meth:`stop`."""

    def __init__(self, server: MarketServer, token: str) -> None:
        self.server = server
        self.token = token

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    @property
    def rest_url(self) -> str:
        return self.server.rest_url

    @property
    def sse_url(self) -> str:
        return self.server.sse_url

    @property
    def szse_url(self) -> str:
        return self.server.szse_url

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:  # never show the token
        return f"DemoServer(ws_url={self.ws_url!r}, rest_url={self.rest_url!r})"


def start_demo(
    *,
    rate: float = 200.0,
    seed: int | None = None,
    plan: str = "all-hk",
    heartbeat_timeout: float = 30.0,
    **server_kwargs: Any,
) -> DemoServer:
    """Start a simulated market on 127.0.0.1 (free ports); returns once it listens."""
    token = secrets.token_hex(16)
    server = MarketServer(
        host="127.0.0.1",
        port=0,
        rest_port=0,
        token=token,
        plan=plan,
        rate=rate,
        seed=seed,
        heartbeat_timeout=heartbeat_timeout,
        **server_kwargs,
    )
    server.start()
    return DemoServer(server, token)
