"""What AllTick's documentation fixes, as values: the URLs, command ids, return
codes and their messages, the plans' limits, the pacing rules, the K-line
types, and the conversion of codes at the provider boundary (``00700`` <->
``700.HK``). No I/O. Every name here is also reachable as
``hkticks.alltick.protocol.NAME``, the namespace the rest of hkticks uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from hkticks.tick import MAX_NUMBER, MAX_SEQ, MAX_TIME_MS, MAX_VOLUME

SRC = "alltick"
# hkticks' own extension, not AllTick's: a simulated server (the embedded one)
# says so in this header of its WebSocket handshake answer (and its REST
# answers). AllTick sends no such header, so its trades keep ``SRC``.
SIMULATED_HEADER = "X-Hkticks-Simulated"
SIM_SUFFIX = "-sim"


def simulated_src(src: str) -> str:
    """The ``src`` of trades from a simulated server: ``alltick`` -> ``alltick-sim``."""
    return src if src.endswith(SIM_SUFFIX) else src + SIM_SUFFIX


def is_simulated_src(src: object) -> bool:
    """Whether a recorded ``src`` marks simulated trades (``alltick-sim``)."""
    return isinstance(src, str) and src.endswith(SIM_SUFFIX)


DEFAULT_WS_URL = "wss://quote.alltick.co/quote-stock-b-ws-api"
DEFAULT_REST_URL = "https://quote.alltick.co/quote-stock-b-api/"
WS_PATH = "/quote-stock-b-ws-api"
REST_PATH = "/quote-stock-b-api/"

# Request and response command ids.
CMD_HEARTBEAT = 22000
CMD_HEARTBEAT_RESP = 22001
CMD_SUB_BOOK = 22002
CMD_SUB_BOOK_RESP = 22003
CMD_SUB_TRADES = 22004
CMD_SUB_TRADES_RESP = 22005
CMD_CANCEL = 22006
CMD_CANCEL_RESP = 22007
PUSH_TRADE = 22998
PUSH_BOOK = 22999

RESPONSE_FOR: dict[int, int] = {
    CMD_HEARTBEAT: CMD_HEARTBEAT_RESP,
    CMD_SUB_BOOK: CMD_SUB_BOOK_RESP,
    CMD_SUB_TRADES: CMD_SUB_TRADES_RESP,
    CMD_CANCEL: CMD_CANCEL_RESP,
}

CANCEL_ALL = 0
CANCEL_BOOK = 1
CANCEL_TRADES = 2

# Frames larger than this are refused before parsing (a real push is < 2 KiB).
MAX_FRAME_BYTES = 1 << 20
_MAX_FRAME_CHARS = MAX_FRAME_BYTES // 4
MAX_TRACE_LEN = 64
MAX_BOOK_LEVELS = 10
# tick_time values below this are seconds, above are milliseconds
# (1e11 s is the year 5138; 1e11 ms is 1973).
_SECONDS_LIMIT = 100_000_000_000
# Upper bounds that turn absurd values into a DecodeError instead of a Tick:
# the one rule of hkticks.tick, shared with NATS messages and recorded files.
# No HK price, volume or turnover comes near 1e15, and below it every integer
# is exact as a float, so price * volume can never overflow to infinity.
_MAX_NUMBER = MAX_NUMBER
_MAX_INT = MAX_VOLUME
# tick_time beyond 1e13 ms is after the year 2286: garbage, not a time.
_MAX_TIME_MS = MAX_TIME_MS
# seq is an opaque provider counter, exact, within what every store keeps
# (64-bit signed integers in SQLite and PostgreSQL).
_MAX_SEQ = MAX_SEQ
_UINT32_MAX = (1 << 32) - 1

# Return codes.
RET_OK = 200
RET_BAD_PARAM = 400
RET_TOKEN_INVALID = 401
RET_QUERY_INVALID = 402
RET_RATE_LIMIT = 429
RET_CODE_INVALID = 600
RET_BODY_EMPTY = 601
RET_PLAN_TOO_SMALL = 603
RET_CODE_UNAUTHORIZED = 604
RET_TOO_MANY_REQUESTS = 605
RET_TOO_MANY_REQUESTS_CLOSE = 606

# The two distinct messages of ret 400 (AllTick's error code table).
MSG_HEADER_INVALID = "request header param invalid"
MSG_DATA_INVALID = "request data param invalid"

RET_MESSAGES: dict[int, str] = {
    RET_OK: "ok",
    RET_BAD_PARAM: "request data param invalid",
    RET_TOKEN_INVALID: "token invalid",
    RET_QUERY_INVALID: "query invalid",
    RET_RATE_LIMIT: "rate limit",
    RET_CODE_INVALID: "code invalid",
    RET_BODY_EMPTY: "body empty",
    RET_PLAN_TOO_SMALL: "token level not enough",
    RET_CODE_UNAUTHORIZED: "code unauthorized",
    RET_TOO_MANY_REQUESTS: "too many requests",
    RET_TOO_MANY_REQUESTS_CLOSE: "too many requests and connection will be closed",
}

RET_MEANINGS: dict[int, str] = {
    RET_OK: "success",
    RET_BAD_PARAM: "the request frame is wrong (a bug in hkticks: please report it)",
    RET_TOKEN_INVALID: "the token is wrong or expired",
    RET_QUERY_INVALID: "bad REST query",
    RET_RATE_LIMIT: "REST rate limit hit: slow down",
    RET_CODE_INVALID: "a symbol is not known to AllTick",
    RET_BODY_EMPTY: "bad REST body",
    RET_PLAN_TOO_SMALL: "too many symbols for the plan",
    RET_CODE_UNAUTHORIZED: "the plan does not cover that symbol",
    RET_TOO_MANY_REQUESTS: "more than one request per second on a connection",
    RET_TOO_MANY_REQUESTS_CLOSE: "requests too fast: the connection will be closed",
}


@dataclass(frozen=True, slots=True)
class Plan:
    """One AllTick plan's limits (AllTick's WebSocket and HTTP limitation tables)."""

    name: str
    max_connections: int
    max_symbols: int  # per connection, trades and depth alike
    rest_per_second: float  # REST calls per second, per endpoint and combined
    # REST, per token: /batch-kline's own interval, the per-minute total over
    # every endpoint, the daily total (reset at midnight), the codes one
    # trade-tick / depth-tick / static_info call may carry (more: only the
    # first N are processed) and the code x kline_type items per batch-kline.
    rest_batch_kline_interval_s: float = 1.0
    rest_per_minute: int = 1200
    rest_per_day: int = 1_728_000
    rest_codes_per_call: int = 50
    rest_batch_kline_items: int = 500

    @property
    def total_symbols(self) -> int:
        return self.max_connections * self.max_symbols

    @property
    def rest_interval_s(self) -> float:
        """The least spacing between two calls of one endpoint (and, kept by hkticks, of any)."""
        return 1.0 / self.rest_per_second


PLANS: dict[str, Plan] = {
    "free": Plan("free", 1, 5, 0.1, 10.0, 10, 1_000, 5, 5),
    "basic": Plan("basic", 1, 100, 1.0, 3.0, 60, 86_400, 50, 100),
    "premium": Plan("premium", 3, 200, 10.0, 2.0, 600, 864_000, 50, 200),
    "professional": Plan("professional", 10, 3000, 20.0, 1.0, 1200, 1_728_000, 50, 500),
    "all-hk": Plan("all-hk", 10, 3000, 20.0, 1.0, 1200, 1_728_000, 50, 500),
    "all-cn": Plan("all-cn", 10, 3000, 20.0, 1.0, 1200, 1_728_000, 50, 500),
}
DEFAULT_PLAN = "basic"

# Pacing rules that apply to every plan.
MIN_REQUEST_INTERVAL_S = 1.0  # per connection
MIN_CONNECTION_INTERVAL_S = 3.0  # between requests on different connections
HEARTBEAT_INTERVAL_S = 10.0
HEARTBEAT_TIMEOUT_S = 30.0
REST_MAX_CODES_PER_CALL = 50  # the most any plan takes per trade-tick call

# K-line types (``kline_type``); 6 (2 h) and 7 (4 h) exist but not for stocks.
KLINE_1MIN = 1
KLINE_5MIN = 2
KLINE_15MIN = 3
KLINE_30MIN = 4
KLINE_1H = 5
KLINE_DAY = 8
KLINE_WEEK = 9
KLINE_MONTH = 10
STOCK_KLINE_TYPES: dict[int, str] = {
    KLINE_1MIN: "1 min",
    KLINE_5MIN: "5 min",
    KLINE_15MIN: "15 min",
    KLINE_30MIN: "30 min",
    KLINE_1H: "1 h",
    KLINE_DAY: "day",
    KLINE_WEEK: "week",
    KLINE_MONTH: "month",
}
MAX_KLINE_BARS = 500  # per /kline call
MAX_BATCH_KLINE_BARS = 2  # per code x type item of /batch-kline (the latest two)


class CodeError(ValueError):
    """A code that is not a Hong Kong stock code."""


@lru_cache(maxsize=8192)
def to_alltick(symbol: str) -> str:
    """``"00700"`` -> ``"700.HK"`` (AllTick drops leading zeros)."""
    if not (symbol.isascii() and symbol.isdigit() and 1 <= len(symbol) <= 5):
        raise CodeError(f"not a five-digit HK code: {symbol!r}")
    stripped = symbol.lstrip("0") or "0"
    return f"{stripped}.HK"


@lru_cache(maxsize=8192)
def from_alltick(code: str) -> str:
    """``"700.HK"`` -> ``"00700"``; raises :class:`CodeError` for non-HK codes."""
    if not isinstance(code, str):
        raise CodeError(f"code is not a string: {code!r}")
    if code[:3] == "HK-":
        # the older spelling in AllTick's 22002/22999 examples ("HK-1288")
        head = code[3:]
        if head.isascii() and head.isdigit() and 1 <= len(head) <= 5:
            return head.zfill(5)
        raise CodeError(f"not an HK code: {code!r}")
    head, dot, market = code.rpartition(".")
    if not dot or market.upper() != "HK":
        raise CodeError(f"not an HK code: {code!r}")
    if not (head.isascii() and head.isdigit() and 1 <= len(head) <= 5):
        raise CodeError(f"not an HK code: {code!r}")
    return head.zfill(5)
