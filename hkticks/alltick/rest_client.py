"""The AllTick REST client: the I/O half of the REST API.

Query building and answer decoding are pure and live in
:mod:`hkticks.alltick.protocol`; this module sends the calls (stdlib ``urllib``,
verifying TLS), paces them per token as AllTick's HTTP limitation table says
(:class:`RestPacer`: the plan's rate per endpoint and combined, ``batch-kline``
on its own interval, the per-minute total, the daily cap), splits symbol lists
into batches of the plan's codes per call (free 5, others 50), and turns
failures into :class:`~hkticks.errors.HkticksError` subclasses with one line
saying what to do. A 429 backs every caller of the token off and is logged
once (``hkticks.rest`` warning), not once per call.

The token travels in the query string, as AllTick requires, so every URL that
could reach a message goes through :func:`hkticks.alltick.urls.redact` first, and
messages never name the token, only where it came from.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

from hkticks.alltick import protocol as alltick
from hkticks.alltick.kline import decode_kline, minute_kline_query
from hkticks.alltick.urls import redact
from hkticks.errors import SourceError, TokenRejected
from hkticks.tick import Book, Tick

log = logging.getLogger("hkticks.rest")

MAX_ANSWER_BYTES = 32 << 20
MAX_BACKOFF_S = 60.0  # longest a run of 429 answers pushes the next call out
HKT_OFFSET_S = 8 * 3600
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


class DailyCapReached(SourceError):
    """The plan's REST calls for today are spent (AllTick resets them at midnight)."""


class RestPacer:
    """AllTick's REST limits for one token, kept by the client.

    Every call takes a slot that respects, at once: the plan's rate between
    any two calls (AllTick counts it per endpoint and combined; keeping it
    combined is the safe reading), ``batch-kline``'s own interval, the
    per-minute total over every endpoint and the daily total (counted per Hong
    Kong calendar day, by this process: calls made elsewhere with the same
    token are not seen). Callers reserve under a lock and sleep outside it.
    ``clock``/``sleep``/``wall`` are injectable so the rules can be checked
    without waiting.
    """

    def __init__(
        self,
        plan: alltick.Plan,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.plan = plan
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
        self._lock = threading.Lock()
        self._next = float("-inf")
        self._next_endpoint: dict[str, float] = {}
        self._minute: deque[float] = deque()
        self._day = -1
        self.today = 0  # calls counted for the current HK day
        self._backoff = 0.0

    def interval(self, endpoint: str) -> float:
        if endpoint == "batch-kline":
            return max(self.plan.rest_batch_kline_interval_s, self.plan.rest_interval_s)
        return self.plan.rest_interval_s

    def acquire(self, endpoint: str) -> float:
        """Wait for this call's slot; returns the seconds waited.

        Raises :class:`DailyCapReached` when today's calls are spent.
        """
        with self._lock:
            day = int((self._wall() + HKT_OFFSET_S) // 86_400)
            if day != self._day:
                self._day, self.today = day, 0
            if self.today >= self.plan.rest_per_day:
                raise DailyCapReached(
                    f"the {self.plan.name} plan's {self.plan.rest_per_day:,} REST calls for "
                    "today are used up; they reset at midnight (Hong Kong time) or use a "
                    "larger --plan"
                )
            now = self._clock()
            slot = max(now, self._next, self._next_endpoint.get(endpoint, float("-inf")))
            window = self._minute
            while window and window[0] <= slot - 60.0:
                window.popleft()
            if len(window) >= self.plan.rest_per_minute:
                slot = max(slot, window[len(window) - self.plan.rest_per_minute] + 60.0)
            window.append(slot)
            self._next = slot + self.plan.rest_interval_s
            self._next_endpoint[endpoint] = slot + self.interval(endpoint)
            self.today += 1
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def rate_limited(self) -> float:
        """A 429 came back: hold every call off, twice as long each time in a row
        (from 2 intervals, at most :data:`MAX_BACKOFF_S`). Returns the hold-off."""
        with self._lock:
            base = max(2 * self.plan.rest_interval_s, 1.0)
            self._backoff = min(MAX_BACKOFF_S, self._backoff * 2 if self._backoff else base)
            self._next = max(self._next, self._clock() + self._backoff)
            return self._backoff

    def answered(self) -> None:
        """A call went through: the next 429 starts the back-off afresh."""
        self._backoff = 0.0

    def hold_off(self, seconds: float) -> None:
        """No call may start within ``seconds`` from now (a ``Retry-After``)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


_PACERS: dict[tuple[str, str, str], RestPacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(base_url: str, token: str, plan: alltick.Plan) -> RestPacer:
    """The one pacer of this token at this REST base, shared by every client in the process."""
    key = (base_url, plan.name, hashlib.sha256(token.encode()).hexdigest())
    with _PACERS_LOCK:
        pacer = _PACERS.get(key)
        if pacer is None:
            pacer = _PACERS[key] = RestPacer(plan)
        return pacer


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
    """AllTick REST calls for one token, paced by :class:`RestPacer`.

    Thread-safe: one instance may be shared by threads, and clients of the
    same token and base URL share one pacer. ``limiter`` (a
    :class:`RateLimiter`) adds a spacing of its own on top, for tests. Symbols are five-digit codes in and out. Codes AllTick rejects
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
        pacer: RestPacer | None = None,
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
        self.batch_size = max(1, min(batch_size, plan.rest_codes_per_call))
        self.limiter = limiter
        self.pacer = pacer or pacer_for(self.base_url, token, plan)
        self.rate_limited = 0  # 429 answers seen
        self._told_rate_limited = False
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
            return self._get(
                "trade-tick", alltick.rest_trade_tick_query(batch, limit=self.batch_size)
            )

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

    def latest_books(self, symbols: Sequence[str]) -> dict[str, Book]:
        """The latest order book of each symbol (``depth-tick``)."""
        out: dict[str, Book] = {}

        def call(batch: list[str]) -> Any:
            return self._get(
                "depth-tick", alltick.rest_depth_tick_query(batch, limit=self.batch_size)
            )

        for batch, data in self._each_batch(symbols, call):
            books, _bad = alltick.decode_depth_ticks(data, int(time.time() * 1000))
            wanted = set(batch)
            out.update({b.symbol: b for b in books if b.symbol in wanted})
        return out

    def daily_bars(self, symbols: Sequence[str]) -> dict[str, list[alltick.Bar]]:
        """The last two daily bars per symbol, oldest first (``batch-kline``, type 8).

        The first is the previous session (its close is the previous close),
        the second today's so far.
        """
        out: dict[str, list[alltick.Bar]] = {}

        def call(batch: list[str]) -> Any:
            return self._post("batch-kline", alltick.rest_kline_body(batch, 8, 2))

        size = max(1, self.plan.rest_batch_kline_items)
        for batch, data in self._each_batch(symbols, call, size):
            bars, _bad = alltick.decode_klines(data)
            wanted = set(batch)
            out.update({s: b for s, b in bars.items() if s in wanted})
        return out

    def klines(
        self, symbol: str, kline_type: int = alltick.KLINE_DAY, count: int = alltick.MAX_KLINE_BARS
    ) -> list[alltick.Bar]:
        """Up to 500 bars of one symbol, oldest first (``kline``): fetch history once with
        this, then keep it fresh with :meth:`daily_bars` / ``batch-kline``, as AllTick advises."""
        data = self._get("kline", alltick.rest_kline_query(symbol, kline_type, count))
        decoded = alltick.decode_kline(data, kline_type)
        if isinstance(decoded, alltick.DecodeError):
            raise SourceError(f"REST kline answer malformed ({decoded.message})")
        return decoded[2]

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
        self, symbols: Sequence[str], call: Callable[[list[str]], Any], size: int | None = None
    ) -> Iterator[tuple[list[str], Any]]:
        for batch in _batches(symbols, size or self.batch_size):
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
            self.pacer.acquire(endpoint)
            if self.limiter is not None:
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
                    held = self._backed_off(endpoint)
                    if retry_after:
                        self.pacer.hold_off(_retry_after(retry_after, held))
                    wait = 0.0  # the pacer now holds every caller back
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
                    self.pacer.answered()
                    return answer.data
                elif answer.ret == alltick.RET_TOKEN_INVALID:
                    raise self._rejected()
                elif answer.ret in (alltick.RET_RATE_LIMIT, alltick.RET_TOO_MANY_REQUESTS):
                    last = f"rate limited (ret {answer.ret})"
                    self._backed_off(endpoint)
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

    def _backed_off(self, endpoint: str) -> float:
        """Count a 429, back every caller off, and say so the first time only."""
        held = self.pacer.rate_limited()
        with self._lock:
            self.rate_limited += 1
            tell = not self._told_rate_limited
            self._told_rate_limited = True
        if tell:
            log.warning(
                "AllTick REST rate limit hit (%s, %s plan): backing off %.0f s and slowing "
                "down; further rate limits are not reported",
                endpoint,
                self.plan.name,
                held,
            )
        return held

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
