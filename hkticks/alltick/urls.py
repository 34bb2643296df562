"""Secrets in URLs and DSNs: put the token in, and mask every secret out of anything shown.

AllTick carries the token in the query string of every WebSocket and REST
URL; a PostgreSQL or NATS output carries a password in its address; a
webhook may carry ``?key=``. Any URL, DSN or error text that reaches a
screen, a log, an event, a file or a file name goes through :func:`redact`
first: it is the only redaction in hkticks. Kept here, beside the protocol,
so that every part (REST client, sessions, sinks, the symbol sources, the
CLI) can use it without importing the settings module above it.

What is masked (``***``): the password of ``scheme://user:PASSWORD@host``,
the user of ``nats://TOKEN@host`` (NATS token auth), every query value but
those of hkticks's own harmless parameters (``table``, ``stream``,
``max_age``...), and ``password=``/``token=``/``key=``/``secret=`` pairs of a
libpq-style DSN or of free text.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query parameters that name things and never hold a secret: shown as given.
SAFE_PARAMETERS = frozenset(
    {"table", "stream", "max_age", "max_bytes", "dupe_window", "sslmode", "connect_timeout"}
)
_SECRET_WORDS = r"(?:password|passwd|pwd|token|api_?key|key|secret|access_token|auth)"

# scheme://user:PASSWORD@ (the password may hold anything but @ and white space)
_PASSWORD_RE = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)[^/\s'\"]*?(?=@[^@/\s'\"]*(?:[/?#\s'\"]|$))"
)
# nats://TOKEN@host: NATS token authentication puts the secret where the user goes
_NATS_TOKEN_RE = re.compile(
    r"((?:nats|tls)://)[^:/\s'\"]+?(?=@[^@/\s'\"]*(?:[/?#\s'\"]|$))", re.IGNORECASE
)
# ?name=value / &name=value of a URL
_QUERY_RE = re.compile(r"([?&;]([^=&#\s'\"?]*)=)([^&#\s'\"]*)")
# password=value in a DSN or a message (not preceded by ? or &: those are the query's)
_PAIR_RE = re.compile(
    rf"((?<![?&;\w])\w*{_SECRET_WORDS}\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s&#,;'\"]*)", re.IGNORECASE
)
_TOKEN_RE = re.compile(r"(token=)[^&#\s]*", re.IGNORECASE)


def _mask_query(m: re.Match[str]) -> str:
    if m.group(2).lower() in SAFE_PARAMETERS:
        return m.group(0)
    return f"{m.group(1)}{MASK}"


def redact(text: str) -> str:
    """``text`` (URLs, DSNs, error messages) with every secret masked as ``***``."""
    if not text:
        return text
    text = _PASSWORD_RE.sub(rf"\1{MASK}", text)
    text = _NATS_TOKEN_RE.sub(rf"\1{MASK}", text)
    text = _QUERY_RE.sub(_mask_query, text)
    text = _PAIR_RE.sub(rf"\1{MASK}", text)
    return _TOKEN_RE.sub(rf"\1{MASK}", text)


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
