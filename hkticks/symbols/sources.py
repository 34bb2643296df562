"""Fetching the two Stock Connect (southbound) lists: SSE and SZSE.

Each mainland exchange publishes its own list of the Hong Kong stocks its
investors may trade (see ``shared/docs/stock-connect-sources.md``). This
module owns the HTTP side (stdlib ``urllib`` with a verifying TLS context,
browser-like headers, bounded time-outs, a couple of retries) and the parsing
and validation of each exchange's answer. Merging and caching live in
:mod:`hkticks.symbols.universe`.

Both sites are sometimes slow, down, or answer an HTML error page instead of
JSON, so every answer is validated before anyone may trust it: the row count
must match the source's own total, the list date must not change while we
page through it, there must be at least :data:`MIN_ROWS` rows, and every code
must be a 1-5 digit HK code. Anything else raises :class:`ListError`, which
names the source and says what went wrong, so the caller can keep its last
good list.
"""

from __future__ import annotations

import datetime as dt
import html
import http.client
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from hkticks.alltick.urls import redact
from hkticks.errors import SourceError

SSE = "SSE"
SZSE = "SZSE"
SOURCES: tuple[str, ...] = (SSE, SZSE)
# The Stock Connect channel each exchange's list stands for.
CHANNEL: dict[str, str] = {SSE: "SH", SZSE: "SZ"}

SSE_URL = (
    "https://query.sse.com.cn/commonQuery.do?sqlId=COMMON_SSE_JYFW_HGT_XXPL_BDZQQD_L"
    "&isPagination=true&pageHelp.pageSize=2000&pageHelp.pageNo=1&pageHelp.beginPage=1"
    "&pageHelp.endPage=1&pageHelp.cacheSize=1"
)
SZSE_URL = (
    "https://www.szse.cn/api/report/ShowReport/data?SHOWTYPE=JSON&CATALOGID=SGT_GGTBDQD&TABKEY=tab1"
)
DEFAULT_URLS: dict[str, str] = {SSE: SSE_URL, SZSE: SZSE_URL}
# Both sites refuse (or answer oddly) without the page that embeds the list as Referer.
REFERERS: dict[str, str] = {
    SSE: "https://www.sse.com.cn/services/hkexsc/disclo/eligible/",
    SZSE: "https://www.szse.cn/szhk/hkbussiness/underlylist/",
}
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)

MIN_ROWS = 100  # a list shorter than this is broken, not a market event
DEFAULT_TIMEOUT = 15.0  # seconds, per request (connect + whole body)
DEFAULT_RETRIES = 2  # extra tries after the first one
DEFAULT_BACKOFF = 0.5  # seconds before the first retry; doubles after
MAX_BODY_BYTES = 16 << 20  # a page is ~100 KiB; refuse anything absurd
MAX_PAGES = 500  # SZSE pages of 20 rows: ~30 in practice

_HK_TZ = dt.timezone(dt.timedelta(hours=8))
_CODE_RE = re.compile(r"^\d{1,5}$")
_DATE_RE = re.compile(r"(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*[-/.月]?\s*(\d{1,2})")
_TAG_RE = re.compile(r"<[^>]*>")
_JSONP_RE = re.compile(rb"^\s*[A-Za-z_$][\w$.]*\s*\((.*)\)\s*;?\s*$", re.DOTALL)


class ListError(SourceError):
    """One exchange's list could not be fetched or failed validation.

    ``source`` is ``"SSE"`` or ``"SZSE"``; ``reason`` is the short cause
    (e.g. ``"timed out after 15 s, 3 tries"``) so callers can build their own
    one-line message around it.
    """

    def __init__(self, source: str, reason: str, message: str | None = None) -> None:
        self.source = source
        self.reason = reason
        super().__init__(message or f"could not fetch the {source} list ({reason})")


@dataclass(frozen=True)
class ListRow:
    """One stock as an exchange lists it (``code`` is five digits)."""

    code: str
    name_cn: str
    name_en: str


@dataclass(frozen=True)
class SourceList:
    """A validated list from one exchange. ``date`` is the list's own date (ISO)."""

    source: str
    date: str
    rows: tuple[ListRow, ...]
    pages: int = 1


class BadList(ValueError):
    """Internal: an answer failed parsing or validation (the message is the reason)."""


class _Transient(Exception):
    """Internal: a failure worth retrying (time-out, connection, 5xx, broken page)."""


class _Refused(Exception):
    """Internal: the server said no (4xx): retrying will not help."""


# ---------------------------------------------------------------------------
# Pure parsing and validation


def clean_name(value: Any) -> str:
    """A display name: HTML stripped, full-width spaces removed, other spaces collapsed.

    SSE pads two-character names to the width of three (``长\u3000和``): the
    padding is layout, not part of the name, so it goes entirely.
    """
    if value is None:
        return ""
    text = html.unescape(_TAG_RE.sub("", str(value)))
    return " ".join(text.replace("\u3000", "").split())


def clean_code(value: Any) -> str:
    """A list's code field -> five-digit code; raises :class:`BadList` otherwise."""
    text = _TAG_RE.sub("", str(value if value is not None else "")).strip()
    if not _CODE_RE.match(text) or int(text) == 0:
        raise BadList(f"invalid code {text[:20]!r}")
    return text.zfill(5)


def parse_date(value: Any) -> str:
    """``2026-11-20``, ``20261120``, ``2026/11/20 00:00:00``, ``2026年11月20日`` -> ISO date."""
    m = _DATE_RE.search(str(value if value is not None else ""))
    if not m:
        raise BadList(f"no list date in {str(value)[:40]!r}")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        raise BadList(f"invalid list date {m.group(0)!r}") from None


def _load_json(body: bytes) -> Any:
    """Parse JSON, tolerating a BOM and a JSONP wrapper; an HTML page is a broken page."""
    body = body.removeprefix(b"\xef\xbb\xbf")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        m = _JSONP_RE.match(body)
        if m:
            try:
                return orjson.loads(m.group(1))
            except orjson.JSONDecodeError:
                pass
    head = body[:200].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<")):
        raise BadList("got an HTML page instead of JSON")
    if not body.strip():
        raise BadList("empty answer")
    raise BadList("answer is not valid JSON")


def _int_field(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise BadList(f"{name} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise BadList(f"{name} missing or not a number: {str(value)[:20]!r}")


@dataclass(frozen=True)
class SsePage:
    rows: tuple[ListRow, ...]
    dates: frozenset[str]
    total: int
    page_count: int


def parse_sse_page(body: bytes) -> SsePage:
    """One SSE ``commonQuery.do`` answer -> rows, their dates, total and page count."""
    obj = _load_json(body)
    if not isinstance(obj, dict):
        raise BadList("answer is not a JSON object")
    result = obj.get("result")
    page_help = obj.get("pageHelp")
    if not isinstance(result, list):
        raise BadList("no 'result' list")
    if not isinstance(page_help, dict):
        raise BadList("no 'pageHelp' object")
    total = _int_field(page_help.get("total"), "pageHelp.total")
    raw_count = page_help.get("pageCount")
    page_count = 1 if raw_count in (None, "", 0, "0") else _int_field(raw_count, "pageCount")
    rows: list[ListRow] = []
    dates: set[str] = set()
    for raw in result:
        if not isinstance(raw, dict):
            raise BadList("a row is not an object")
        rows.append(
            ListRow(
                clean_code(raw.get("SECURITY_CODE")),
                clean_name(raw.get("ABBR_CN")),
                clean_name(raw.get("ABBR_EN")),
            )
        )
        dates.add(parse_date(raw.get("UPDATE_DATE")))
    return SsePage(tuple(rows), frozenset(dates), total, max(page_count, 1))


@dataclass(frozen=True)
class SzsePage:
    rows: tuple[ListRow, ...]
    date: str
    record_count: int
    page_count: int
    page_no: int


def parse_szse_page(body: bytes) -> SzsePage:
    """One SZSE ``ShowReport/data`` page -> rows, list date, record count, page count."""
    obj = _load_json(body)
    if not isinstance(obj, list) or not obj or not isinstance(obj[0], dict):
        raise BadList("answer is not a list of report tabs")
    tab = obj[0]
    meta = tab.get("metadata")
    data = tab.get("data")
    if not isinstance(meta, dict):
        raise BadList("no 'metadata' object")
    if not isinstance(data, list):
        raise BadList("no 'data' list")
    rows: list[ListRow] = []
    for raw in data:
        if not isinstance(raw, dict):
            raise BadList("a row is not an object")
        rows.append(
            ListRow(
                clean_code(raw.get("zqdm")),
                clean_name(raw.get("zqjc")),
                clean_name(raw.get("zqywjc")),
            )
        )
    raw_pageno = meta.get("pageno")
    return SzsePage(
        tuple(rows),
        parse_date(meta.get("subname")),
        _int_field(meta.get("recordcount"), "recordcount"),
        _int_field(meta.get("pagecount"), "pagecount"),
        0 if raw_pageno in (None, "") else _int_field(raw_pageno, "pageno"),
    )


def validate(
    source: str,
    rows: list[ListRow],
    total: int,
    date: str,
    *,
    today: dt.date | None = None,
    min_rows: int = MIN_ROWS,
) -> SourceList:
    """Check a complete list; returns it as a :class:`SourceList` or raises :class:`BadList`.

    The count must equal the source's own total (a dropped page would
    otherwise shrink the universe silently), the list must be long enough to
    be real, codes must not repeat with different names, and the date must not
    lie in the future (in Hong Kong time, allowing one day of clock skew).
    """
    if len(rows) != total:
        raise BadList(f"got {len(rows)} rows but the list says {total}")
    if total < min_rows:
        raise BadList(f"only {total} rows, expected at least {min_rows}")
    if today is None:
        today = dt.datetime.now(_HK_TZ).date()
    if dt.date.fromisoformat(date) > today + dt.timedelta(days=1):
        raise BadList(f"list date {date} is in the future")
    seen: dict[str, ListRow] = {}
    for row in rows:
        if row.code in seen and seen[row.code] != row:
            raise BadList(f"code {row.code} listed twice with different names")
        seen.setdefault(row.code, row)
    return SourceList(source, date, tuple(seen.values()))


# ---------------------------------------------------------------------------
# HTTP


def _ssl_context() -> ssl.SSLContext:
    """The default, verifying context (certificate and host name checked)."""
    return ssl.create_default_context()


_OPENER_LOCK = threading.Lock()
_OPENER: urllib.request.OpenerDirector | None = None


def _opener() -> urllib.request.OpenerDirector:
    global _OPENER
    with _OPENER_LOCK:
        if _OPENER is None:
            _OPENER = urllib.request.build_opener(
                urllib.request.HTTPSHandler(context=_ssl_context())
            )
        return _OPENER


def http_get(url: str, *, referer: str, timeout: float) -> bytes:
    """GET ``url`` and return the body, within ``timeout`` seconds in total.

    Raises :class:`_Transient` for failures worth retrying and
    :class:`_Refused` for 4xx answers. ``timeout`` bounds each socket
    operation and, checked between reads, the whole body, so a server that
    trickles bytes cannot hold us for ever.
    """
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        url,
        headers={
            "User-Agent": USER_AGENT,
            "Referer": referer,
            "Accept": "application/json, text/javascript, */*; q=0.01",
            "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
        },
    )
    try:
        with _opener().open(request, timeout=timeout) as resp:
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise _Transient(f"timed out after {timeout:g} s")
                chunk = resp.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _Transient(f"answer larger than {MAX_BODY_BYTES >> 20} MiB")
                chunks.append(chunk)
            if time.monotonic() > deadline:
                raise _Transient(f"timed out after {timeout:g} s")
            return b"".join(chunks)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in (408, 429) or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code}") from None
        hint = " (the site wants its Referer header)" if exc.code == 403 else ""
        raise _Refused(f"HTTP {exc.code} {exc.reason}{hint}") from None
    except TimeoutError:
        raise _Transient(f"timed out after {timeout:g} s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise _Transient(f"timed out after {timeout:g} s") from None
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise _Refused(f"TLS certificate not trusted: {reason.verify_message}") from None
        raise _Transient(f"cannot connect: {getattr(reason, 'strerror', None) or reason}") from None
    except (ConnectionError, ssl.SSLError, OSError, http.client.HTTPException) as exc:
        raise _Transient(f"connection failed: {exc.__class__.__name__}") from None
    except ValueError as exc:  # malformed URL
        raise _Refused(f"bad URL: {exc}") from None


def with_params(url: str, **params: str) -> str:
    """``url`` with query parameters set (replaced if present, appended otherwise)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = set(params)
    kept = [(k, v) for k, v in query if k not in names]
    return urlunsplit(parts._replace(query=urlencode(kept + list(params.items()), safe="")))


Getter = Callable[[str], bytes]


def _walk_sse(url: str, get: Getter) -> tuple[list[ListRow], int, str, int]:
    first = parse_sse_page(get(url))
    pages = [first]
    if first.page_count > MAX_PAGES:
        raise BadList(f"{first.page_count} pages is not plausible")
    for n in range(2, first.page_count + 1):
        page_url = with_params(
            url,
            **{"pageHelp.pageNo": str(n), "pageHelp.beginPage": str(n), "pageHelp.endPage": str(n)},
        )
        page = parse_sse_page(get(page_url))
        if page.total != first.total:
            raise _Transient(f"list changed while paging (total {first.total} -> {page.total})")
        pages.append(page)
    rows = [row for page in pages for row in page.rows]
    dates = set().union(*(page.dates for page in pages))
    if len(dates) > 1:
        raise _Transient(f"rows carry different dates ({', '.join(sorted(dates))})")
    if not dates:
        raise BadList(f"no rows (the list says {first.total})")
    return rows, first.total, dates.pop(), len(pages)


def _walk_szse(url: str, get: Getter) -> tuple[list[ListRow], int, str, int]:
    first = parse_szse_page(get(with_params(url, PAGENO="1")))
    if first.page_count > MAX_PAGES:
        raise BadList(f"{first.page_count} pages is not plausible")
    rows = list(first.rows)
    for n in range(2, first.page_count + 1):
        page = parse_szse_page(get(with_params(url, PAGENO=str(n))))
        if page.date != first.date:
            raise _Transient(f"list date changed while paging ({first.date} -> {page.date})")
        if page.record_count != first.record_count:
            raise _Transient(
                f"list changed while paging ({first.record_count} -> {page.record_count} rows)"
            )
        if page.page_no and page.page_no != n:
            raise BadList(f"asked for page {n}, got page {page.page_no}")
        rows.extend(page.rows)
    return rows, first.record_count, first.date, max(first.page_count, 1)


def fetch_list(
    source: str,
    url: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    min_rows: int = MIN_ROWS,
    today: dt.date | None = None,
) -> SourceList:
    """Fetch and validate one exchange's whole list (all pages).

    A failed try (time-out, connection error, 5xx, broken page, a list that
    changed while we paged) restarts the walk from page 1 after a short
    backoff, ``retries`` times at most. 4xx answers and lists that are
    complete but wrong (short, miscounted, bad codes) are not retried: asking
    again would return the same. Raises :class:`ListError`.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    target = url or DEFAULT_URLS[source]
    if urlsplit(target).scheme not in ("http", "https") or not urlsplit(target).netloc:
        raise ListError(source, f"{redact(target)!r} is not an http(s) URL")
    referer = REFERERS[source]

    def get(page_url: str) -> bytes:
        return http_get(page_url, referer=referer, timeout=timeout)

    walk = _walk_sse if source == SSE else _walk_szse
    tries = retries + 1
    last = "no attempt"
    for attempt in range(1, tries + 1):
        try:
            rows, total, date, pages = walk(target, get)
            try:
                checked = validate(source, rows, total, date, today=today, min_rows=min_rows)
            except BadList as exc:
                raise ListError(source, str(exc)) from None
            return SourceList(source, checked.date, checked.rows, pages)
        except _Refused as exc:
            raise ListError(source, f"{exc} from {redact(target)}") from None
        except BadList as exc:
            # A broken page (HTML, truncated JSON) is often a transient hiccup.
            last = str(exc)
        except _Transient as exc:
            last = str(exc)
        if attempt < tries:
            time.sleep(backoff * (2 ** (attempt - 1)))
    plural = "try" if tries == 1 else "tries"
    raise ListError(source, f"{last}, {tries} {plural}")


def fetch_both(
    urls: dict[str, str | None],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    min_rows: int = MIN_ROWS,
    today: dt.date | None = None,
) -> dict[str, SourceList]:
    """Fetch SSE and SZSE at the same time (two threads: the waits are network waits).

    Returns both lists or raises :class:`ListError` for the first source that
    failed (both reasons in the message when both failed): a half-fetched
    universe would mislabel the channels, so it is all or nothing.
    """
    results: dict[str, SourceList] = {}
    errors: dict[str, ListError] = {}

    def run(source: str) -> None:
        try:
            results[source] = fetch_list(
                source,
                urls.get(source),
                timeout=timeout,
                retries=retries,
                backoff=backoff,
                min_rows=min_rows,
                today=today,
            )
        except ListError as exc:
            errors[source] = exc
        except Exception as exc:  # never lose a thread's failure
            errors[source] = ListError(source, f"unexpected {exc.__class__.__name__}: {exc}")

    threads = [
        threading.Thread(target=run, args=(s,), name=f"hkticks-fetch-{s}", daemon=True)
        for s in SOURCES
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        failed = [errors[s] for s in SOURCES if s in errors]
        if len(failed) == 1:
            raise failed[0]
        reason = "; ".join(f"{e.source}: {e.reason}" for e in failed)
        raise ListError(
            "SSE and SZSE", reason, f"could not fetch the Stock Connect lists ({reason})"
        )
    return results
