"""The AllTick quote protocol, sans-I/O.

Pure functions and small value types: build request frames, decode incoming
frames into :class:`~hkticks.tick.Tick`, :class:`~hkticks.tick.Book`,
:class:`Response` or :class:`DecodeError`, convert symbol codes at the
provider boundary, and describe the plans' limits and the return codes.

Nothing here touches a socket, a thread or a clock (callers pass
``recv_ts``). The decoder never raises on bad input: hostile or malformed
frames come back as a :class:`DecodeError` that the caller counts.
See ``shared/docs/alltick-protocol.md`` for the wire format.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from hkticks.tick import MAX_NUMBER, MAX_SEQ, MAX_TIME_MS, MAX_VOLUME, Book, Tick

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


# ---------------------------------------------------------------------------
# Plans


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


# ---------------------------------------------------------------------------
# Codes


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


# ---------------------------------------------------------------------------
# Requests


@dataclass(frozen=True, slots=True)
class Request:
    """A request frame ready to send: ``text`` is the JSON text frame."""

    cmd_id: int
    seq_id: int
    trace: str
    text: str


class RequestBuilder:
    """Builds request frames with unique ``seq_id`` (uint32) and ``trace``.

    One builder per connection keeps ``seq_id`` increasing on that
    connection; the trace carries a random prefix so traces are unique
    across connections and runs.
    """

    def __init__(self, trace_prefix: str | None = None) -> None:
        if trace_prefix is None:
            trace_prefix = "hkt-" + os.urandom(6).hex()
        # leave room for "-" and a 10-digit counter
        self._prefix = trace_prefix[: MAX_TRACE_LEN - 11]
        self._counter = itertools.count(1)

    def _build(self, cmd_id: int, data: Mapping[str, Any]) -> Request:
        n = next(self._counter)
        # 1 .. 2**32-1, then back to 1: never 0 and never the same twice in a row
        seq_id = (n - 1) % _UINT32_MAX + 1
        trace = f"{self._prefix}-{n}"
        body = {"cmd_id": cmd_id, "seq_id": seq_id, "trace": trace, "data": data}
        return Request(cmd_id, seq_id, trace, orjson.dumps(body).decode())

    def heartbeat(self) -> Request:
        return self._build(CMD_HEARTBEAT, {})

    def subscribe_trades(self, symbols: Iterable[str]) -> Request:
        """Subscribe trades for ``symbols`` (five-digit codes). Replaces the previous list."""
        return self._build(
            CMD_SUB_TRADES, {"symbol_list": [{"code": to_alltick(s)} for s in symbols]}
        )

    def subscribe_book(self, symbols: Iterable[str], depth: int = 5) -> Request:
        """Subscribe order books ``depth`` levels deep. Replaces the previous list."""
        if not 1 <= depth <= MAX_BOOK_LEVELS:
            raise ValueError(f"depth must be 1..{MAX_BOOK_LEVELS}, not {depth}")
        return self._build(
            CMD_SUB_BOOK,
            {"symbol_list": [{"code": to_alltick(s), "depth_level": depth} for s in symbols]},
        )

    def cancel(self, cancel_type: int = CANCEL_ALL) -> Request:
        if cancel_type not in (CANCEL_ALL, CANCEL_BOOK, CANCEL_TRADES):
            raise ValueError(f"cancel_type must be 0, 1 or 2, not {cancel_type}")
        return self._build(CMD_CANCEL, {"cancel_type": cancel_type})


# ---------------------------------------------------------------------------
# Decoding


@dataclass(frozen=True, slots=True)
class Response:
    """A response to one of our requests (it carries ``ret``)."""

    ret: int
    msg: str
    cmd_id: int | None
    seq_id: int | None
    trace: str | None
    data: Any = None

    @property
    def ok(self) -> bool:
        return self.ret == RET_OK

    def codes(self) -> list[str]:
        """Codes named in ``data`` (e.g. the rejected ones of a 600/604), as five-digit codes
        where they convert, otherwise as sent."""
        found: list[str] = []
        data = self.data
        items: Any = None
        if isinstance(data, dict):
            for key in ("symbol_list", "code_list", "invalid_codes", "codes"):
                if isinstance(data.get(key), list):
                    items = data[key]
                    break
            if items is None and isinstance(data.get("code"), str):
                items = [data["code"]]
        elif isinstance(data, list):
            items = data
        for item in items or ():
            code = item.get("code") if isinstance(item, dict) else item
            if isinstance(code, str):
                try:
                    found.append(from_alltick(code))
                except CodeError:
                    found.append(code)
        return found


@dataclass(frozen=True, slots=True)
class DecodeError:
    """A frame that could not be decoded. ``kind`` is a short stable tag to count by."""

    kind: str
    message: str
    cmd_id: int | None = None


Decoded = Tick | Book | Response | DecodeError

_DIRECTIONS: dict[Any, str | None] = {
    0: None,
    1: "buy",
    2: "sell",
    "0": None,
    "1": "buy",
    "2": "sell",
    None: None,
}


class _Bad(Exception):
    """Internal: a field failed validation."""


def _number(value: Any, name: str) -> float:
    """A number in ``[0, 1e15]`` from a JSON number or a numeric string.

    One chained comparison rejects NaN, infinities, negatives and absurdly
    large values alike (NaN compares false with everything).
    """
    t = type(value)
    if t is str:
        try:
            x = float(value)
        except ValueError:
            raise _Bad(f"{name} is not a number: {value[:40]!r}") from None
    elif t is float:
        x = value
    elif t is int:
        if not 0 <= value <= _MAX_INT:  # also keeps float() from overflowing
            raise _Bad(f"{name} out of range")
        return float(value)
    else:
        raise _Bad(f"{name} has type {t.__name__}")
    if not 0.0 <= x <= _MAX_NUMBER:
        raise _Bad(f"{name} out of range: {x}")
    return x  # type: ignore[no-any-return]


def _integer(value: Any, name: str) -> int:
    """A non-negative integer from an int, an integral float or a numeric string."""
    t = type(value)
    if t is int:
        if not 0 <= value <= _MAX_INT:
            raise _Bad(f"{name} out of range")
        return value  # type: ignore[no-any-return]
    x = _number(value, name)
    if x != int(x):
        raise _Bad(f"{name} is not whole: {x}")
    return int(x)


def _time_ms(value: Any) -> int:
    """``tick_time`` in seconds or milliseconds (number or string) -> epoch ms."""
    if type(value) is int and _SECONDS_LIMIT <= value <= _MAX_TIME_MS:
        return value  # type: ignore[no-any-return]
    x = _number(value, "tick_time")
    ms = round(x * 1000) if x < _SECONDS_LIMIT else int(x)
    if not 0 < ms <= _MAX_TIME_MS:  # zero, sub-millisecond or after 2286
        raise _Bad(f"tick_time out of range: {x}")
    return ms


def _seq(value: Any) -> int | None:
    """The provider's sequence number, exact over the whole uint64 range.

    Digit strings are parsed with ``int`` (``float`` would round values
    above 2**53 and break de-duplication by ``seq``).
    """
    t = type(value)
    if t is int:
        if 0 <= value <= _MAX_SEQ:
            return value  # type: ignore[no-any-return]
        raise _Bad("seq out of range")
    if value is None:
        return None
    if t is str:
        if not value:
            return None
        if len(value) <= 20 and value.isascii() and value.isdigit():
            n = int(value)
            if n <= _MAX_SEQ:
                return n
            raise _Bad("seq out of range")
    return _integer(value, "seq")


def _ret(value: Any) -> int | None:
    """``ret`` as an int (JSON number or ASCII digit string), else ``None``."""
    t = type(value)
    if t is int:
        return value  # type: ignore[no-any-return]
    if t is str and 0 < len(value) <= 9 and value.isascii() and value.isdigit():
        return int(value)
    return None


def _code(value: Any) -> str:
    try:
        return from_alltick(value)
    except (CodeError, TypeError) as exc:
        raise _Bad(str(exc)) from None


def _trade(data: Any, recv_ts: int, src: str) -> Tick:
    if type(data) is not dict:
        raise _Bad("data is not an object")
    try:
        code = data["code"]
        price_raw = data["price"]
        volume_raw = data["volume"]
        time_raw = data["tick_time"]
    except KeyError as exc:
        raise _Bad(f"missing field {exc.args[0]}") from None
    price = _number(price_raw, "price")
    if price <= 0:
        raise _Bad("price is zero")
    volume = _integer(volume_raw, "volume")
    turnover_raw = data.get("turnover")
    turnover = price * volume if turnover_raw is None else _number(turnover_raw, "turnover")
    direction = data.get("trade_direction")
    try:
        side = _DIRECTIONS[direction]
        if type(direction) is bool:  # True == 1 must not read as "buy"
            raise KeyError(direction)
    except (KeyError, TypeError):  # TypeError: unhashable (list, object)
        raise _Bad(f"trade_direction invalid: {str(direction)[:40]}") from None
    return Tick(
        _code(code),
        _time_ms(time_raw),
        price,
        volume,
        turnover,
        side,
        _seq(data.get("seq")),
        recv_ts,
        src,
    )


def _level_volume(value: Any, where: str, odd: list[str]) -> int:
    """A level's volume: whole shares as documented; a fractional one (the docs' own
    example has ``"9.12"``) rounded down and a missing one (FX books carry none) read
    as 0, each noted in ``odd``. Negative, NaN or non-numeric volumes still fail."""
    if value is None or value == "":
        odd.append(f"{where}.volume missing")
        return 0
    x = _number(value, f"{where}.volume")
    whole = int(x)
    if whole != x:
        odd.append(f"{where}.volume {value} is not whole")
    return whole


def _levels(raw: Any, name: str, odd: list[str]) -> tuple[tuple[float, int], ...]:
    if raw is None:
        return ()
    if type(raw) is not list:
        raise _Bad(f"{name} is not a list")
    out = []
    for i, level in enumerate(raw[:MAX_BOOK_LEVELS]):
        if type(level) is dict:
            p, v = level.get("price"), level.get("volume")
        elif type(level) is list and len(level) >= 2:
            p, v = level[0], level[1]
        else:
            raise _Bad(f"{name} level malformed")
        out.append((_number(p, f"{name}.price"), _level_volume(v, f"{name}[{i}]", odd)))
    return tuple(out)


def _book(data: Any, recv_ts: int, src: str) -> Book:
    if type(data) is not dict:
        raise _Bad("data is not an object")
    if "code" not in data:
        raise _Bad("missing field code")
    if "tick_time" not in data:
        raise _Bad("missing field tick_time")
    odd: list[str] = []
    return Book(
        _code(data["code"]),
        _time_ms(data["tick_time"]),
        _levels(data.get("bids"), "bids", odd),
        _levels(data.get("asks"), "asks", odd),
        _seq(data.get("seq")),
        recv_ts,
        src,
        tuple(odd),
    )


def _response(obj: dict[str, Any]) -> Response:
    raw = obj.get("ret")
    ret = _ret(raw)
    if ret is None:
        raise _Bad(f"ret is not an integer: {str(raw)[:40]}")
    cmd = obj.get("cmd_id")
    seq_id = obj.get("seq_id")
    trace = obj.get("trace")
    msg = obj.get("msg")
    return Response(
        ret=ret,
        msg=msg if isinstance(msg, str) else RET_MESSAGES.get(ret, ""),
        cmd_id=cmd if type(cmd) is int else None,
        seq_id=seq_id if type(seq_id) is int else None,
        trace=trace if isinstance(trace, str) else None,
        data=obj.get("data"),
    )


def decode(frame: bytes | str, recv_ts: int, *, binary: bool = False, src: str = SRC) -> Decoded:
    """Decode one WebSocket message.

    Returns a :class:`Tick` (22998), a :class:`Book` (22999), a
    :class:`Response` (anything carrying ``ret``) or a :class:`DecodeError`.
    ``binary`` says the frame arrived with the binary opcode (AllTick only
    sends text). Never raises.
    """
    if binary:
        return DecodeError("binary_frame", f"binary frame of {len(frame)} bytes")
    size = len(frame)
    if size > _MAX_FRAME_CHARS and type(frame) is str:
        # a str counts characters; UTF-8 takes up to 4 bytes each, so measure
        # the bytes only for the (rare) text frames that could exceed the cap
        size = len(frame.encode("utf-8", "surrogatepass"))
    if size > MAX_FRAME_BYTES:
        return DecodeError("too_large", f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        return DecodeError("invalid_json", str(exc)[:200])
    except Exception as exc:  # pragma: no cover - orjson raises JSONDecodeError only
        return DecodeError("invalid_json", repr(exc)[:200])
    if type(obj) is not dict:
        return DecodeError("not_object", f"top level is {type(obj).__name__}")
    cmd = obj.get("cmd_id")
    try:
        if cmd == PUSH_TRADE:
            return _trade(obj.get("data"), recv_ts, src)
        if "ret" in obj:
            return _response(obj)
        if cmd == PUSH_BOOK:
            return _book(obj.get("data"), recv_ts, src)
    except _Bad as exc:
        return DecodeError("bad_field", str(exc)[:200], cmd if type(cmd) is int else None)
    except Exception as exc:  # defensive: the decoder must never raise
        return DecodeError("bad_field", repr(exc)[:200], cmd if type(cmd) is int else None)
    return DecodeError(
        "unknown_cmd", f"unknown cmd_id {cmd!r}"[:200], cmd if type(cmd) is int else None
    )


# ---------------------------------------------------------------------------
# REST (pure parts: query building and answer decoding)


def rest_query(data: Mapping[str, Any], trace: str | None = None) -> str:
    """The JSON ``query`` parameter of a REST GET (not yet URL-encoded)."""
    if trace is None:
        trace = "hkt-" + os.urandom(8).hex()
    return orjson.dumps({"trace": trace, "data": data}).decode()


def _code_list(symbols: Iterable[str], limit: int) -> dict[str, Any]:
    codes = [{"code": to_alltick(s)} for s in symbols]
    if len(codes) > limit:
        raise ValueError(f"at most {limit} codes per call")
    return {"symbol_list": codes}


def rest_trade_tick_query(
    symbols: Iterable[str], trace: str | None = None, *, limit: int = REST_MAX_CODES_PER_CALL
) -> str:
    """``GET trade-tick``: the latest trade of each code (``limit``: the plan's codes per call)."""
    return rest_query(_code_list(symbols, limit), trace)


def rest_depth_tick_query(
    symbols: Iterable[str], trace: str | None = None, *, limit: int = REST_MAX_CODES_PER_CALL
) -> str:
    """``GET depth-tick``: the latest order book of each code."""
    return rest_query(_code_list(symbols, limit), trace)


def rest_static_info_query(symbols: Iterable[str], trace: str | None = None) -> str:
    return rest_query({"symbol_list": [{"code": to_alltick(s)} for s in symbols]}, trace)


def _kline_item(symbol: str, kline_type: int, count: int, limit: int) -> dict[str, Any]:
    if kline_type not in STOCK_KLINE_TYPES:
        raise ValueError(f"kline_type {kline_type} is not offered for stocks")
    if not 1 <= count <= limit:
        raise ValueError(f"query_kline_num must be 1..{limit}, not {count}")
    return {
        "code": to_alltick(symbol),
        "kline_type": kline_type,
        "kline_timestamp_end": 0,  # stocks cannot query from a timestamp
        "query_kline_num": count,
        "adjust_type": 0,
    }


def rest_kline_query(
    symbol: str, kline_type: int = KLINE_DAY, count: int = MAX_KLINE_BARS, trace: str | None = None
) -> str:
    """``GET kline``: up to 500 bars of one code, the latest last."""
    return rest_query(_kline_item(symbol, kline_type, count, MAX_KLINE_BARS), trace)


def rest_kline_body(
    symbols: Iterable[str],
    kline_type: int | Iterable[int] = KLINE_DAY,
    count: int = 2,
    trace: str | None = None,
) -> bytes:
    """The JSON body of ``POST batch-kline`` (daily bars by default): one item per
    code x type, each the latest ``count`` (1 or 2) bars."""
    types = [kline_type] if isinstance(kline_type, int) else list(kline_type)
    items = [_kline_item(s, t, count, MAX_BATCH_KLINE_BARS) for s in symbols for t in types]
    if trace is None:
        trace = "hkt-" + os.urandom(8).hex()
    return orjson.dumps({"trace": trace, "data": {"data_list": items}})


@dataclass(frozen=True, slots=True)
class RestAnswer:
    """A decoded REST answer envelope."""

    ret: int
    msg: str
    data: Any
    trace: str | None = None

    @property
    def ok(self) -> bool:
        return self.ret == RET_OK

    @property
    def header_invalid(self) -> bool:
        """ret 400 about the envelope (trace, data) rather than what ``data`` holds."""
        return self.ret == RET_BAD_PARAM and self.msg == MSG_HEADER_INVALID


def decode_rest(body: bytes | str) -> RestAnswer | DecodeError:
    """Decode a REST answer envelope (``ret``, ``msg``, ``data``). Never raises."""
    if len(body) > 32 * MAX_FRAME_BYTES:
        return DecodeError("too_large", f"answer of {len(body)} bytes")
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return DecodeError("invalid_json", str(exc)[:200])
    if type(obj) is not dict:
        return DecodeError("not_object", f"top level is {type(obj).__name__}")
    raw = obj.get("ret")
    ret = _ret(raw)
    if ret is None:
        return DecodeError("bad_field", f"ret is not an integer: {str(raw)[:40]}")
    msg = obj.get("msg")
    trace = obj.get("trace")
    return RestAnswer(
        ret,
        msg if isinstance(msg, str) else RET_MESSAGES.get(ret, ""),
        obj.get("data"),
        trace if isinstance(trace, str) else None,
    )


def decode_trade_ticks(data: Any, recv_ts: int, src: str = SRC) -> tuple[list[Tick], int]:
    """``trade-tick`` answer data -> (ticks, number of entries that failed to decode)."""
    items = data.get("tick_list") if isinstance(data, dict) else None
    ticks: list[Tick] = []
    bad = 0
    for item in items if isinstance(items, list) else ():
        try:
            ticks.append(_trade(item, recv_ts, src))
        except (_Bad, Exception):
            bad += 1
    return ticks, bad


def decode_depth_ticks(data: Any, recv_ts: int, src: str = SRC) -> tuple[list[Book], int]:
    """``depth-tick`` answer data -> (books, number of entries that failed to decode)."""
    items = data.get("tick_list") if isinstance(data, dict) else None
    books: list[Book] = []
    bad = 0
    for item in items if isinstance(items, list) else ():
        try:
            books.append(_book(item, recv_ts, src))
        except (_Bad, Exception):
            bad += 1
    return books, bad


@dataclass(frozen=True, slots=True)
class Bar:
    """One kline bar; ``ts`` in epoch ms."""

    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    turnover: float


def bar_of(symbol: str, raw: Any) -> Bar:
    """One documented kline bar (``timestamp`` in seconds, prices, ``volume``,
    ``turnover``); raises ``_Bad``/``KeyError``/``TypeError`` on a bad one."""
    if not isinstance(raw, dict):
        raise _Bad("bar is not an object")
    return Bar(
        symbol,
        _time_ms(raw["timestamp"]),
        _number(raw["open_price"], "open_price"),
        _number(raw["high_price"], "high_price"),
        _number(raw["low_price"], "low_price"),
        _number(raw["close_price"], "close_price"),
        _integer(raw.get("volume", 0), "volume"),
        _number(raw.get("turnover", 0), "turnover"),
    )


BAR_ERRORS = (_Bad, KeyError, TypeError, ValueError)  # what bar_of() raises on a bad bar


def _bars(symbol: str, raw_bars: Any) -> list[Bar]:
    if raw_bars is None:
        raw_bars = []
    if not isinstance(raw_bars, list):
        raise _Bad("bar list is not a list")
    bars = [bar_of(symbol, raw) for raw in raw_bars]
    bars.sort(key=lambda b: b.ts)
    return bars


def _kline_type(value: Any) -> int:
    if value is None:
        return KLINE_DAY
    t = _integer(value, "kline_type")
    if t not in STOCK_KLINE_TYPES and t not in (6, 7):
        raise _Bad(f"kline_type {t} unknown")
    return t


def decode_batch_klines(data: Any) -> tuple[dict[tuple[str, int], list[Bar]], int]:
    """``batch-kline`` answer data -> ({(symbol, kline_type): bars oldest first}, bad count)."""
    out: dict[tuple[str, int], list[Bar]] = {}
    bad = 0
    items = data.get("kline_list") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else ():
        try:
            if not isinstance(item, dict):
                raise _Bad("kline entry is not an object")
            symbol = _code(item.get("code"))
            out[(symbol, _kline_type(item.get("kline_type")))] = _bars(
                symbol, item.get("kline_data")
            )
        except (_Bad, KeyError, TypeError):
            bad += 1
    return out, bad


def decode_klines(data: Any, kline_type: int = KLINE_DAY) -> tuple[dict[str, list[Bar]], int]:
    """``batch-kline`` answer data -> ({symbol: bars oldest first}, bad entry count), for
    one ``kline_type`` (entries without a type count as daily)."""
    typed, bad = decode_batch_klines(data)
    return {s: bars for (s, t), bars in typed.items() if t == kline_type}, bad


def decode_kline(
    data: Any, kline_type: int | None = None
) -> tuple[str, int, list[Bar]] | DecodeError:
    """``kline`` answer data (one code) -> (symbol, kline_type, bars oldest first).

    ``kline_type`` is the type asked for: an answer of another type (daily bars
    when minutes were asked) is refused rather than read as the wrong bars; an
    answer without one is taken as the type asked (or daily)."""
    try:
        if not isinstance(data, dict):
            raise _Bad("data is not an object")
        symbol = _code(data.get("code"))
        raw_type = data.get("kline_type")
        got = _kline_type(raw_type) if raw_type is not None or kline_type is None else kline_type
        if kline_type is not None and got != kline_type:
            raise _Bad(f"kline_type {got} answered, {kline_type} asked")
        return symbol, got, _bars(symbol, data.get("kline_list"))
    except (_Bad, KeyError, TypeError) as exc:
        return DecodeError("bad_field", str(exc)[:200])


@dataclass(frozen=True, slots=True)
class StaticInfo:
    """One ``static_info`` entry. Shares are counts; ``eps``/``bps`` in the currency;
    ``dividend_yield`` in percent. ``None``: AllTick left it out (or empty)."""

    symbol: str
    name_en: str
    name_cn: str
    name_hk: str
    lot_size: int | None
    currency: str
    exchange: str = ""
    board: str = ""
    total_shares: int | None = None
    circulating_shares: int | None = None
    hk_shares: int | None = None
    eps: float | None = None
    eps_ttm: float | None = None
    bps: float | None = None
    dividend_yield: float | None = None

    def market_cap(self, price: float) -> float | None:
        """Market capitalisation at ``price``: HK shares x price (total shares if no HK count)."""
        shares = self.hk_shares or self.total_shares
        return None if shares is None else shares * price


def _opt_int(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return None if value in (None, "") else _integer(value, name)


def _opt_float(item: dict[str, Any], name: str) -> float | None:
    """A signed figure (EPS can be negative) as a float, or ``None``."""
    value = item.get(name)
    if value in (None, ""):
        return None
    if type(value) is str and value[:1] == "-":
        return -_number(value[1:], name)
    if type(value) in (int, float) and value < 0:
        return -_number(-value, name)
    return _number(value, name)


def decode_static_info(data: Any) -> tuple[dict[str, StaticInfo], int]:
    """``static_info`` answer data -> ({symbol: info}, bad entry count).

    AllTick keys each entry by ``symbol`` (``"700.HK"``); ``code`` is accepted too.
    """
    out: dict[str, StaticInfo] = {}
    bad = 0
    items = data.get("static_info_list") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else ():
        try:
            if not isinstance(item, dict):
                raise _Bad("entry is not an object")
            raw = item.get("symbol")
            if raw in (None, ""):
                raw = item.get("code")
            symbol = _code(raw)
            out[symbol] = StaticInfo(
                symbol,
                str(item.get("name_en") or ""),
                str(item.get("name_cn") or ""),
                str(item.get("name_hk") or ""),
                _opt_int(item, "lot_size"),
                str(item.get("currency") or ""),
                str(item.get("exchange") or ""),
                str(item.get("board") or ""),
                _opt_int(item, "total_shares"),
                _opt_int(item, "circulating_shares"),
                _opt_int(item, "hk_shares"),
                _opt_float(item, "eps"),
                _opt_float(item, "eps_ttm"),
                _opt_float(item, "bps"),
                _opt_float(item, "dividend_yield"),
            )
        except (_Bad, TypeError):
            bad += 1
    return out, bad
