"""The AllTick quote protocol, sans-I/O.

Pure functions and small value types: build request frames, decode incoming
frames into :class:`~hkticks.tick.Tick`, :class:`~hkticks.tick.Book`,
:class:`Response` or :class:`DecodeError`, convert symbol codes at the
provider boundary, and describe the plans' limits and the return codes.

Nothing here touches a socket, a thread or a clock (callers pass
``recv_ts``). The decoder never raises on bad input: hostile or malformed
frames come back as a :class:`DecodeError` that the caller counts.
See ``shared/docs/alltick-protocol.md`` for the wire format.

This module holds the WebSocket requests and frame decoding; the documented
values live in :mod:`hkticks.alltick.spec`, the field checks in
:mod:`hkticks.alltick.fields` and the REST frames in
:mod:`hkticks.alltick.rest_frames`, all re-exported here: every part uses
``from hkticks.alltick import protocol as alltick`` as the one namespace.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

# The one namespace of AllTick for the rest of hkticks (protocol as alltick):
# the values of spec.py, the field decoders of fields.py and the REST frames of
# rest_frames.py are re-exported here.
from hkticks.alltick.fields import (
    DecodeError,
    _Bad,
    _book,
    _ret,
    _trade,
)
from hkticks.alltick.rest_frames import (
    BAR_ERRORS,
    Bar,
    RestAnswer,
    StaticInfo,
    _kline_type,
    bar_of,
    decode_batch_klines,
    decode_depth_ticks,
    decode_kline,
    decode_klines,
    decode_rest,
    decode_static_info,
    decode_trade_ticks,
    rest_depth_tick_query,
    rest_kline_body,
    rest_kline_query,
    rest_query,
    rest_static_info_query,
    rest_trade_tick_query,
)
from hkticks.alltick.spec import (
    _MAX_FRAME_CHARS,
    _UINT32_MAX,
    CANCEL_ALL,
    CANCEL_BOOK,
    CANCEL_TRADES,
    CMD_CANCEL,
    CMD_CANCEL_RESP,
    CMD_HEARTBEAT,
    CMD_HEARTBEAT_RESP,
    CMD_SUB_BOOK,
    CMD_SUB_BOOK_RESP,
    CMD_SUB_TRADES,
    CMD_SUB_TRADES_RESP,
    DEFAULT_PLAN,
    DEFAULT_REST_URL,
    DEFAULT_WS_URL,
    HEARTBEAT_INTERVAL_S,
    HEARTBEAT_TIMEOUT_S,
    KLINE_1H,
    KLINE_1MIN,
    KLINE_5MIN,
    KLINE_15MIN,
    KLINE_30MIN,
    KLINE_DAY,
    KLINE_MONTH,
    KLINE_WEEK,
    MAX_BATCH_KLINE_BARS,
    MAX_BOOK_LEVELS,
    MAX_FRAME_BYTES,
    MAX_KLINE_BARS,
    MAX_TRACE_LEN,
    MIN_CONNECTION_INTERVAL_S,
    MIN_REQUEST_INTERVAL_S,
    MSG_DATA_INVALID,
    MSG_HEADER_INVALID,
    PLANS,
    PUSH_BOOK,
    PUSH_TRADE,
    RESPONSE_FOR,
    REST_MAX_CODES_PER_CALL,
    REST_PATH,
    RET_BAD_PARAM,
    RET_BODY_EMPTY,
    RET_CODE_INVALID,
    RET_CODE_UNAUTHORIZED,
    RET_MEANINGS,
    RET_MESSAGES,
    RET_OK,
    RET_PLAN_TOO_SMALL,
    RET_QUERY_INVALID,
    RET_RATE_LIMIT,
    RET_TOKEN_INVALID,
    RET_TOO_MANY_REQUESTS,
    RET_TOO_MANY_REQUESTS_CLOSE,
    SIM_SUFFIX,
    SIMULATED_HEADER,
    SRC,
    STOCK_KLINE_TYPES,
    WS_PATH,
    CodeError,
    Plan,
    from_alltick,
    is_simulated_src,
    simulated_src,
    to_alltick,
)
from hkticks.tick import Book, Tick

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


Decoded = Tick | Book | Response | DecodeError


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


__all__ = [
    "BAR_ERRORS",
    "Bar",
    "Book",
    "CANCEL_ALL",
    "CANCEL_BOOK",
    "CANCEL_TRADES",
    "CMD_CANCEL",
    "CMD_CANCEL_RESP",
    "CMD_HEARTBEAT",
    "CMD_HEARTBEAT_RESP",
    "CMD_SUB_BOOK",
    "CMD_SUB_BOOK_RESP",
    "CMD_SUB_TRADES",
    "CMD_SUB_TRADES_RESP",
    "CodeError",
    "DEFAULT_PLAN",
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "DecodeError",
    "Decoded",
    "HEARTBEAT_INTERVAL_S",
    "HEARTBEAT_TIMEOUT_S",
    "KLINE_15MIN",
    "KLINE_1H",
    "KLINE_1MIN",
    "KLINE_30MIN",
    "KLINE_5MIN",
    "KLINE_DAY",
    "KLINE_MONTH",
    "KLINE_WEEK",
    "MAX_BATCH_KLINE_BARS",
    "MAX_BOOK_LEVELS",
    "MAX_FRAME_BYTES",
    "MAX_KLINE_BARS",
    "MAX_TRACE_LEN",
    "MIN_CONNECTION_INTERVAL_S",
    "MIN_REQUEST_INTERVAL_S",
    "MSG_DATA_INVALID",
    "MSG_HEADER_INVALID",
    "PLANS",
    "PUSH_BOOK",
    "PUSH_TRADE",
    "Plan",
    "RESPONSE_FOR",
    "REST_MAX_CODES_PER_CALL",
    "REST_PATH",
    "RET_BAD_PARAM",
    "RET_BODY_EMPTY",
    "RET_CODE_INVALID",
    "RET_CODE_UNAUTHORIZED",
    "RET_MEANINGS",
    "RET_MESSAGES",
    "RET_OK",
    "RET_PLAN_TOO_SMALL",
    "RET_QUERY_INVALID",
    "RET_RATE_LIMIT",
    "RET_TOKEN_INVALID",
    "RET_TOO_MANY_REQUESTS",
    "RET_TOO_MANY_REQUESTS_CLOSE",
    "Request",
    "RequestBuilder",
    "Response",
    "RestAnswer",
    "SIMULATED_HEADER",
    "SIM_SUFFIX",
    "SRC",
    "STOCK_KLINE_TYPES",
    "StaticInfo",
    "Tick",
    "WS_PATH",
    "_kline_type",
    "bar_of",
    "decode",
    "decode_batch_klines",
    "decode_depth_ticks",
    "decode_kline",
    "decode_klines",
    "decode_rest",
    "decode_static_info",
    "decode_trade_ticks",
    "from_alltick",
    "is_simulated_src",
    "rest_depth_tick_query",
    "rest_kline_body",
    "rest_kline_query",
    "rest_query",
    "rest_static_info_query",
    "rest_trade_tick_query",
    "simulated_src",
    "to_alltick",
]
