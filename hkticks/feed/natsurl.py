"""``nats://HOST:PORT/PREFIX?...``: where a JetStream feed lives, shared by the
publishing sink (:mod:`hkticks.storage.sinks.nats`) and the consuming source
(:mod:`hkticks.feed.nats_source`).

Subjects are ``<prefix>.trades.<symbol>``, ``<prefix>.books.<symbol>`` and
``<prefix>.events``, all in one stream (default: the prefix in capitals,
``hk`` -> ``HK``). Query parameters tune the stream when the sink creates it:
``stream=NAME``, ``max_age=7d`` (retention by age), ``max_bytes=20GB``
(retention by size), ``dupe_window=2m`` (JetStream's duplicate window, which
drops re-sends with the same ``Nats-Msg-Id``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType
from urllib.parse import parse_qsl, urlsplit

from hkticks.alltick.urls import redact
from hkticks.errors import UsageError

SCHEMES = ("nats://", "tls://")
DEFAULT_PORT = 4222
MSG_ID = "Nats-Msg-Id"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "B": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", re.IGNORECASE)
_AGE_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_KNOWN = {"stream", "max_age", "max_bytes", "dupe_window"}


def is_nats_url(text: str) -> bool:
    return text.lower().startswith(SCHEMES)


@dataclass(frozen=True)
class NatsUrl:
    server: str  # nats://[user:pass@]host:port, what nats-py connects to
    shown: str  # the same without a password, for messages
    prefix: str
    stream: str
    max_age: float | None = None  # seconds
    max_bytes: int | None = None
    dupe_window: float = 120.0

    def trades(self, symbol: str) -> str:
        return f"{self.prefix}.trades.{symbol}"

    def books(self, symbol: str) -> str:
        return f"{self.prefix}.books.{symbol}"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def subjects(self) -> list[str]:
        return [f"{self.prefix}.>"]


def _bad(text: str, why: str) -> UsageError:
    return UsageError(
        redact(f"invalid NATS address {text!r}: {why}; use e.g. nats://127.0.0.1:4222/hk")
    )


def parse_age(text: str) -> float:
    pos, total = 0, 0.0
    for m in _AGE.finditer(text.strip()):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _AGE_UNITS[m.group(2).lower()]
        pos = m.end()
    if pos != len(text.strip()) or total <= 0:
        raise ValueError(text)
    return total


def parse_size(text: str) -> int:
    m = _SIZE.match(text)
    if not m:
        raise ValueError(text)
    unit = m.group(2).upper().rstrip("B").rstrip("I")
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def parse_nats_url(text: str) -> NatsUrl:
    """Parse ``nats://HOST[:PORT]/PREFIX[?stream=..&max_age=..&max_bytes=..]``."""
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("nats", "tls"):
        raise _bad(text, "it must start with nats://")
    try:
        host, port = parts.hostname, parts.port or DEFAULT_PORT
    except ValueError:
        raise _bad(text, "the port is not a number") from None
    if not host:
        raise _bad(text, "no host")
    prefix = parts.path.strip("/")
    if not prefix:
        raise _bad(text, "no subject prefix after the host (e.g. /hk)")
    if not all(_TOKEN.match(p) for p in prefix.split(".")):
        raise _bad(text, f"the prefix {prefix!r} may hold only letters, digits, - and _")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise _bad(text, f"unknown parameter {unknown[0]!r} (known: {', '.join(sorted(_KNOWN))})")
    stream = params.get("stream") or prefix.replace(".", "_").upper()
    if not _TOKEN.match(stream):
        raise _bad(text, f"the stream name {stream!r} may hold only letters, digits, - and _")
    try:
        max_age = parse_age(params["max_age"]) if "max_age" in params else None
    except ValueError:
        raise _bad(
            text, f"max_age={params['max_age']!r} is not a duration (e.g. 7d, 12h)"
        ) from None
    try:
        max_bytes = parse_size(params["max_bytes"]) if "max_bytes" in params else None
    except ValueError:
        raise _bad(text, f"max_bytes={params['max_bytes']!r} is not a size (e.g. 20GB)") from None
    try:
        window = parse_age(params["dupe_window"]) if "dupe_window" in params else 120.0
    except ValueError:
        raise _bad(text, f"dupe_window={params['dupe_window']!r} is not a duration") from None
    userinfo = ""
    if parts.username:
        userinfo = parts.username + (f":{parts.password}" if parts.password else "") + "@"
    scheme = parts.scheme.lower()
    return NatsUrl(
        server=f"{scheme}://{userinfo}{host}:{port}",
        shown=redact(f"{scheme}://{userinfo}{host}:{port}/{prefix}"),
        prefix=prefix,
        stream=stream,
        max_age=max_age,
        max_bytes=max_bytes,
        dupe_window=window,
    )


def import_nats(option: str = "--out") -> ModuleType:
    """The ``nats`` package (nats-py), or a :class:`UsageError` saying how to install it."""
    try:
        import nats
        import nats.js  # noqa: F401
    except ImportError:
        raise UsageError(
            f"{option} nats://... needs the NATS client: pip install 'hkticks[nats]'"
        ) from None
    return nats


def connect_reason(exc: BaseException) -> str:
    """A short reason for a failed NATS connection."""
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower() or type(exc).__name__ in (
        "NoServersError",
        "ConnectionRefusedError",
    ):
        return "connection refused (is nats-server running there?)"
    if isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower():
        return "timed out"
    return redact(text.splitlines()[0])


async def probe(target: NatsUrl, timeout: float) -> None:
    """Fail fast (``ConnectionRefusedError``, ``TimeoutError``) when nothing listens.

    nats-py retries a first connection for ever when reconnecting is allowed;
    this one TCP connection gives the user a clear answer instead.
    """
    import asyncio
    from urllib.parse import urlsplit

    parts = urlsplit(target.server)
    _reader, writer = await asyncio.wait_for(
        asyncio.open_connection(parts.hostname, parts.port), timeout
    )
    writer.close()
