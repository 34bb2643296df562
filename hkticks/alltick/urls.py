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
