"""The token in AllTick URLs: put it in, and mask it out of anything shown.

AllTick carries the token in the query string of every WebSocket and REST
URL, so any URL or error text that reaches a screen, a log or a file must go
through :func:`redact` first. Kept here, beside the protocol, so that every
part (REST client, sessions, the symbol sources, the CLI) can use it without
importing the settings module above it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TOKEN_RE = re.compile(r"(token=)[^&#\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    """Mask every ``token=...`` in ``text`` (URLs, error messages) as ``token=***``."""
    return _TOKEN_RE.sub(r"\1***", text)


def with_token(url: str, token: str) -> str:
    """``url`` with ``token`` set in its query string (replacing any present)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
    query.append(("token", token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def split_token(url: str) -> tuple[str, str | None]:
    """``url`` without its ``token`` query parameter, and that token (None if absent)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    tokens = [v for k, v in pairs if k.lower() == "token" and v]
    if not any(k.lower() == "token" for k, _ in pairs):
        return url, None
    query = urlencode([(k, v) for k, v in pairs if k.lower() != "token"])
    return urlunsplit(parts._replace(query=query)), (tokens[-1] if tokens else None)
