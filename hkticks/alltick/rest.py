"""The AllTick REST client: the I/O half of the REST API.

Query building and answer decoding are pure and live in
:mod:`hkticks.alltick.protocol`; this module sends the calls (stdlib ``urllib``,
verifying TLS), paces them to the plan's REST rate, splits symbol lists into
batches of at most :data:`~hkticks.alltick.protocol.REST_MAX_CODES_PER_CALL`, and turns
failures into :class:`~hkticks.errors.HkticksError` subclasses with one line
saying what to do.

The token travels in the query string, as AllTick requires, so every URL that
could reach a message goes through :func:`hkticks.alltick.urls.redact` first, and
messages never name the token, only where it came from.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

from hkticks.alltick import protocol as alltick
from hkticks.alltick.kline import decode_kline, minute_kline_query
from hkticks.alltick.urls import redact
from hkticks.errors import SourceError, TokenRejected
from hkticks.tick import Tick

MAX_ANSWER_BYTES = 32 << 20
MAX_RATE_WAIT_S = 30.0  # longest we honour a Retry-After before giving up on a call


class RateLimiter:
    """Spaces calls at least ``1 / per_second`` apart, across all threads.

    Each caller reserves the next free slot under a lock and sleeps outside
    it, so concurrent callers queue up in order instead of spinning. After a
    429 the server asked us to slow down: :meth:`hold_off` pushes the next
    slot further out for everyone. ``clock`` and ``sleep`` are injectable so
    the pacing can be checked without waiting.
    """

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = float("-inf")

    def acquire(self) -> float:
        """Wait for this caller's slot; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def hold_off(self, seconds: float) -> None:
        """No call may start within ``seconds`` from now."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


class _CodesRejected(Exception):
    """Internal: ret 600/604 for a batch; ``codes`` are the ones the answer named."""

    def __init__(self, ret: int, codes: list[str]) -> None:
        super().__init__(ret)
        self.ret = ret
        self.codes = codes


def _batches(symbols: Sequence[str], size: int) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(symbols))
    for i in range(0, len(unique), size):
        yield unique[i : i + size]


class RestClient:
    """AllTick REST calls for one token, paced to ``plan.rest_per_second``.

    Thread-safe: one instance may be shared by threads; they share the rate
    limiter. Symbols are five-digit codes in and out. Codes AllTick rejects
    (ret 600 "code invalid", 604 "code unauthorized") are left out of the
    results and listed in :attr:`skipped`, so one odd code cannot sink a
    whole batch.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        plan: alltick.Plan | str,
        *,
        timeout: float = 15.0,
        token_source: str | None = None,
        retries: int = 2,
        backoff: float = 1.0,
        limiter: RateLimiter | None = None,
        batch_size: int = alltick.REST_MAX_CODES_PER_CALL,
    ) -> None:
        if isinstance(plan, str):
            plan = alltick.PLANS[plan]
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._token = token
        self.plan = plan
        self.timeout = timeout
        self.token_source = token_source or "settings"
        self.retries = retries
        self.backoff = backoff
        self.batch_size = max(1, min(batch_size, alltick.REST_MAX_CODES_PER_CALL))
        self.limiter = limiter or RateLimiter(plan.rest_per_second)
        self._lock = threading.Lock()
        self.calls = 0
        self.skipped: list[str] = []
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ssl.create_default_context())
        )

    def __repr__(self) -> str:
        return f"RestClient({redact(self.base_url)!r}, token=***, plan={self.plan.name!r})"

    # -- public API ---------------------------------------------------------

    def latest_trades(self, symbols: Sequence[str]) -> dict[str, Tick]:
        """The latest trade of each symbol (``trade-tick``, 50 codes per call).

        Symbols with no trade in the answer are absent from the result.
        """
        out: dict[str, Tick] = {}

        def call(batch: list[str]) -> Any:
            return self._get("trade-tick", alltick.rest_trade_tick_query(batch))

        for batch, data in self._each_batch(symbols, call):
            ticks, _bad = alltick.decode_trade_ticks(data, int(time.time() * 1000))
            wanted = set(batch)
            for tick in ticks:
                if tick.symbol in wanted:
                    seen = out.get(tick.symbol)
                    if seen is None or tick.ts > seen.ts:
                        out[tick.symbol] = tick
        return out

    def static_info(self, symbols: Sequence[str]) -> dict[str, alltick.StaticInfo]:
        """Names, board lot and currency per symbol (``static_info``)."""
        out: dict[str, alltick.StaticInfo] = {}

        def call(batch: list[str]) -> Any:
            return self._get("static_info", alltick.rest_static_info_query(batch))

        for batch, data in self._each_batch(symbols, call):
            infos, _bad = alltick.decode_static_info(data)
            wanted = set(batch)
            out.update({s: info for s, info in infos.items() if s in wanted})
        return out

    def daily_bars(self, symbols: Sequence[str]) -> dict[str, list[alltick.Bar]]:
        """The last two daily bars per symbol, oldest first (``batch-kline``, type 8).

        The first is the previous session (its close is the previous close),
        the second today's so far.
        """
        out: dict[str, list[alltick.Bar]] = {}

        def call(batch: list[str]) -> Any:
            return self._post("batch-kline", alltick.rest_kline_body(batch, 8, 2))

        for batch, data in self._each_batch(symbols, call):
            bars, _bad = alltick.decode_klines(data)
            wanted = set(batch)
            out.update({s: b for s, b in bars.items() if s in wanted})
        return out

    def minute_bars(self, symbol: str, count: int = 500) -> list[alltick.Bar] | None:
        """The latest ``count`` (<= 500) 1-minute bars of one symbol (``GET kline``,
        type 1), oldest first; ``None`` when AllTick rejects the code (600/604)."""
        try:
            data = self._get("kline", minute_kline_query(symbol, count))
        except _CodesRejected:
            self._skip([symbol])
            return None
        bars, _bad = decode_kline(data, symbol)
        return bars

    # -- batching -------------------------------------------------------------

    def _each_batch(
        self, symbols: Sequence[str], call: Callable[[list[str]], Any]
    ) -> Iterator[tuple[list[str], Any]]:
        for batch in _batches(symbols, self.batch_size):
            try:
                yield batch, call(batch)
            except _CodesRejected as exc:
                named = [c for c in exc.codes if c in batch]
                rest = [c for c in batch if c not in named]
                if named and rest:
                    # drop the codes AllTick named and ask once more for the others
                    self._skip(named)
                    try:
                        yield rest, call(rest)
                    except _CodesRejected:
                        self._skip(rest)
                else:
                    self._skip(batch)

    def _skip(self, codes: list[str]) -> None:
        with self._lock:
            self.skipped.extend(codes)

    # -- HTTP -----------------------------------------------------------------

    def _get(self, endpoint: str, query: str) -> Any:
        url = self.base_url + endpoint + "?" + urlencode({"token": self._token, "query": query})
        return self._call(endpoint, urllib.request.Request(url, method="GET"))

    def _post(self, endpoint: str, body: bytes) -> Any:
        url = self.base_url + endpoint + "?" + urlencode({"token": self._token})
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        return self._call(endpoint, request)

    def _rejected(self) -> TokenRejected:
        return TokenRejected(
            f"token rejected by the REST API (token from {self.token_source}): "
            "check the token and that your AllTick plan is active"
        )

    def _call(self, endpoint: str, request: urllib.request.Request) -> Any:
        """One REST call with pacing and a few retries; returns the answer's ``data``."""
        shown = redact(self.base_url + endpoint)
        tries = self.retries + 1
        last = ""
        for attempt in range(1, tries + 1):
            self.limiter.acquire()
            with self._lock:
                self.calls += 1
            wait = self.backoff * (2 ** (attempt - 1))
            try:
                body = self._fetch(request)
            except urllib.error.HTTPError as exc:
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                exc.close()
                if exc.code in (401, 403):
                    raise self._rejected() from None
                if exc.code == 429:
                    last = "rate limited (HTTP 429)"
                    self.limiter.hold_off(_retry_after(retry_after, wait))
                    wait = 0.0  # the limiter now holds every caller back
                elif exc.code >= 500 or exc.code == 408:
                    last = f"HTTP {exc.code}"
                else:
                    raise SourceError(
                        f"REST {endpoint} failed: HTTP {exc.code} {exc.reason} from {shown}; "
                        "check --rest-url"
                    ) from None
            except _Timeout:
                last = f"timed out after {self.timeout:g} s"
            except urllib.error.URLError as exc:
                reason = exc.reason
                if isinstance(reason, TimeoutError):
                    last = f"timed out after {self.timeout:g} s"
                elif isinstance(reason, ssl.SSLCertVerificationError):
                    raise SourceError(
                        f"REST {endpoint}: TLS certificate of {shown} not trusted "
                        f"({reason.verify_message}); check --rest-url"
                    ) from None
                else:
                    last = f"cannot connect: {getattr(reason, 'strerror', None) or reason}"
            except TimeoutError:
                last = f"timed out after {self.timeout:g} s"
            except (ConnectionError, ssl.SSLError, OSError, http.client.HTTPException) as exc:
                last = f"connection failed: {exc.__class__.__name__}"
            else:
                answer = alltick.decode_rest(body)
                if isinstance(answer, alltick.DecodeError):
                    last = f"malformed answer ({answer.kind})"
                elif answer.ret == alltick.RET_OK:
                    return answer.data
                elif answer.ret == alltick.RET_TOKEN_INVALID:
                    raise self._rejected()
                elif answer.ret in (alltick.RET_RATE_LIMIT, alltick.RET_TOO_MANY_REQUESTS):
                    last = f"rate limited (ret {answer.ret})"
                    self.limiter.hold_off(max(wait, self.limiter.interval * 2))
                    wait = 0.0
                elif answer.ret in (alltick.RET_CODE_INVALID, alltick.RET_CODE_UNAUTHORIZED):
                    response = alltick.Response(
                        answer.ret, answer.msg, None, None, None, answer.data
                    )
                    raise _CodesRejected(answer.ret, response.codes())
                else:
                    meaning = alltick.RET_MEANINGS.get(answer.ret, answer.msg or "unknown error")
                    raise SourceError(
                        f"REST {endpoint} answered ret {answer.ret} ({meaning}) from {shown}"
                    )
            if attempt < tries and wait > 0:
                time.sleep(wait)
        raise SourceError(
            f"REST {endpoint} failed ({last}, {tries} tries) at {shown}; "
            "check your network or --rest-url and try again"
        )

    def _fetch(self, request: urllib.request.Request) -> bytes:
        deadline = time.monotonic() + self.timeout
        with self._opener.open(request, timeout=self.timeout) as resp:
            chunks: list[bytes] = []
            size = 0
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise SourceError(f"REST answer larger than {MAX_ANSWER_BYTES >> 20} MiB")
                if time.monotonic() > deadline:
                    raise _Timeout()
                chunks.append(chunk)
            return b"".join(chunks)


class _Timeout(Exception):
    """Internal: the whole answer did not arrive within the time-out."""


def _retry_after(header: str | None, default: float) -> float:
    if header and header.strip().isdigit():
        return min(float(header.strip()), MAX_RATE_WAIT_S)
    return default
