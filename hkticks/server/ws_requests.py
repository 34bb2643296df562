"""What the embedded WebSocket server answers to each request.

The request rules of :mod:`hkticks.server.wsserver` (its docstring lists them):
the documented header, heartbeats, pacing (605 on the same connection, 606 and
a close across connections of a token), subscribe (which replaces the
connection's list of that kind; unknown codes 600, over the plan's limit
ignored or 603), cancel, and the latest trade re-sent after a subscribe.
:class:`WsRequests` is a part of :class:`~hkticks.server.wsserver.WsServer`:
it runs on the loop's thread and uses the server's state and writers, declared
below for the type checker.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from hkticks.alltick import protocol as alltick
from hkticks.server import frames
from hkticks.server.market import Market, Trade
from hkticks.server.ws_connections import (
    CLOSE_POLICY,
    Conn,
    WsOptions,
    _echo_id,
    _echo_trace,
    header_valid,
)

PACING_GRACE_S = 0.05
_SUBSCRIBE = (alltick.CMD_SUB_BOOK, alltick.CMD_SUB_TRADES)
_PACED = (alltick.CMD_SUB_BOOK, alltick.CMD_SUB_TRADES, alltick.CMD_CANCEL)


class WsRequests:
    """The request side of :class:`~hkticks.server.wsserver.WsServer`."""

    if TYPE_CHECKING:  # provided by WsServer
        market: Market
        opts: WsOptions
        replay: Any
        encoder: frames.FrameEncoder
        stalled: bool
        _conns: dict[int, Conn]
        _trade_subs: dict[str, dict[Conn, None]]
        _book_subs: dict[str, dict[Conn, int]]
        _token_last: dict[str, tuple[float, int]]
        _overrides: dict[int, deque[tuple[int, str | None]]]

        def _send(self, conn: Conn, frame: bytes) -> None: ...
        def _write(self, conn: Conn, framed: list[bytes]) -> None: ...
        def _refresh_firehose(self, conn: Conn) -> None: ...
        def _book_frame(self, symbol: str, depth: int) -> bytes: ...
        def _sent(self, conn: Conn, trade: Trade) -> None: ...

    async def _on_message(self, conn: Conn, message: str | bytes) -> None:
        loop_now = asyncio.get_running_loop().time()
        try:
            obj = orjson.loads(message)
        except orjson.JSONDecodeError:
            obj = None
        cmd = obj.get("cmd_id") if isinstance(obj, dict) else None
        data = obj.get("data") if isinstance(obj, dict) else None
        seq_id = _echo_id(obj.get("seq_id")) if isinstance(obj, dict) else None
        trace = _echo_trace(obj.get("trace")) if isinstance(obj, dict) else None
        cmd_id = cmd if type(cmd) is int else None
        resp_cmd = alltick.RESPONSE_FOR.get(cmd_id, cmd_id) if cmd_id is not None else None

        def reply(ret: int, msg: str | None = None, data: Any = None) -> None:
            conn.requests.append((time.time(), cmd_id, ret))
            self._send(
                conn, frames.response(resp_cmd, ret, msg=msg, seq_id=seq_id, trace=trace, data=data)
            )

        if self.stalled:
            # A frozen server: the frame arrived but nothing answers it.
            conn.requests.append((time.time(), cmd_id, None))
            if cmd_id == alltick.CMD_HEARTBEAT:
                conn.last_heartbeat = loop_now
            return
        if not header_valid(obj) or cmd_id not in alltick.RESPONSE_FOR:
            reply(alltick.RET_BAD_PARAM, alltick.MSG_HEADER_INVALID)
            return
        data = obj["data"]  # header_valid() read a PHP-style [] as {}
        assert isinstance(data, dict)
        override = self._take_override(cmd_id)
        if override is not None and override[0] != alltick.RET_OK:
            ret, msg = override
            odata: Any = None
            if ret == alltick.RET_CODE_INVALID and self.opts.extras:
                odata = {"invalid_codes": self._codes_in(data)}
            reply(ret, msg, odata)
            if ret == alltick.RET_TOKEN_INVALID:
                conn.close_reason = "token invalid"
                await conn.ws.close(CLOSE_POLICY, "token invalid")
            elif ret == alltick.RET_TOO_MANY_REQUESTS_CLOSE:
                conn.close_reason = "too many requests"
                await conn.ws.close(CLOSE_POLICY, "too many requests")
            return
        if cmd_id == alltick.CMD_HEARTBEAT:
            conn.last_heartbeat = loop_now
            reply(alltick.RET_OK)
            return
        if cmd_id not in _PACED:
            reply(alltick.RET_BAD_PARAM, alltick.MSG_HEADER_INVALID)
            return
        if self.opts.enforce_pacing:
            verdict = self._pace(conn, loop_now)
            if verdict is not None:
                reply(verdict)
                if verdict == alltick.RET_TOO_MANY_REQUESTS_CLOSE:
                    conn.close_reason = "too many requests"
                    await conn.ws.close(CLOSE_POLICY, "too many requests")
                return
        if cmd_id == alltick.CMD_CANCEL:
            kind = data.get("cancel_type")  # required (cancel_realtime_quote_subscription.md)
            if type(kind) is not int or kind not in (0, 1, 2):
                reply(alltick.RET_BAD_PARAM, alltick.MSG_DATA_INVALID)
                return
            self._unsubscribe(
                conn,
                trades=kind in (alltick.CANCEL_ALL, alltick.CANCEL_TRADES),
                books=kind in (alltick.CANCEL_ALL, alltick.CANCEL_BOOK),
            )
            reply(alltick.RET_OK)
            self._refresh_firehose(conn)
            return
        self._subscribe(conn, cmd_id, data, reply)

    def _codes_in(self, data: dict[str, Any]) -> list[str]:
        items = data.get("symbol_list")
        if not isinstance(items, list):
            return []
        return [i["code"] for i in items if isinstance(i, dict) and isinstance(i.get("code"), str)]

    def _take_override(self, cmd_id: int) -> tuple[int, str | None] | None:
        queue = self._overrides.get(cmd_id)
        if not queue:
            return None
        return queue.popleft()

    def _pace(self, conn: Conn, loop_now: float) -> int | None:
        """None when the request may proceed, else 605 (too soon on this connection:
        rejected) or 606 (too soon after another connection's request: rejected and
        the connection closed, as error_code_description says of 606)."""
        other = self._token_last.get(conn.token or "")
        if (
            other is not None
            and other[1] != conn.id
            and other[1] in self._conns
            and loop_now - other[0] < alltick.MIN_CONNECTION_INTERVAL_S - PACING_GRACE_S
        ):
            return alltick.RET_TOO_MANY_REQUESTS_CLOSE
        if (
            conn.last_request is not None
            and loop_now - conn.last_request < alltick.MIN_REQUEST_INTERVAL_S - PACING_GRACE_S
        ):
            return alltick.RET_TOO_MANY_REQUESTS
        conn.last_request = loop_now
        self._token_last[conn.token or ""] = (loop_now, conn.id)
        return None

    def _subscribe(
        self, conn: Conn, cmd_id: int, data: dict[str, Any], reply: Callable[..., None]
    ) -> None:
        items = data.get("symbol_list")
        if not isinstance(items, list):
            reply(alltick.RET_BAD_PARAM)
            return
        book = cmd_id == alltick.CMD_SUB_BOOK
        wanted: dict[str, int] = {}
        invalid: list[str] = []
        for item in items:
            code = item.get("code") if isinstance(item, dict) else None
            if not isinstance(code, str):
                reply(alltick.RET_BAD_PARAM)
                return
            depth = 0
            if book:
                # absent: one level; more than there are: all of them (HK: 10)
                depth = item.get("depth_level", 1)
                if type(depth) is not int or not 1 <= depth <= 0xFFFFFFFF:
                    reply(alltick.RET_BAD_PARAM)
                    return
                depth = min(depth, alltick.MAX_BOOK_LEVELS)
            symbol = self._known(code)
            if symbol is None:
                if code not in invalid:
                    invalid.append(code)
            elif symbol not in wanted:
                wanted[symbol] = depth
        assert conn.plan is not None
        limit = conn.plan.max_symbols
        if len(wanted) > limit:
            if self.opts.over_limit == "603":
                extra = {"max_symbols": limit, "requested": len(wanted)}
                reply(alltick.RET_PLAN_TOO_SMALL, data=extra if self.opts.extras else None)
                return
            wanted = dict(list(wanted.items())[:limit])
        previous = set(conn.books) if book else set(conn.trades)
        self._unsubscribe(conn, trades=not book, books=book)
        if book:
            conn.books = dict(wanted)
            for symbol, depth in wanted.items():
                self._book_subs.setdefault(symbol, {})[conn] = depth
        else:
            conn.trades = dict.fromkeys(wanted)
            for symbol in wanted:
                self._trade_subs.setdefault(symbol, {})[conn] = None
        if invalid:
            named = {"invalid_codes": invalid} if self.opts.extras else None
            reply(alltick.RET_CODE_INVALID, data=named)
        else:
            reply(alltick.RET_OK)
        self._refresh_firehose(conn)
        if self.opts.resend_latest and not self.stalled and self.replay is not None:
            if not book:
                latest = [self.replay.latest(s) for s in wanted if s not in previous]
                self._write(conn, [frames.ws_text(p) for p in latest if p is not None])
        elif self.opts.resend_latest and not self.stalled:
            framed = []
            for symbol in wanted:
                st = self.market.state(symbol)
                if symbol in previous or not st.traded:
                    continue
                if book:
                    framed.append(self._book_frame(symbol, wanted[symbol]))
                else:
                    framed.append(frames.ws_text(self.encoder.trade(st.last)))
                    self._sent(conn, st.last)
            self._write(conn, framed)

    def _known(self, code: str) -> str | None:
        """The five-digit symbol for an AllTick code spelled exactly as AllTick does.

        A replay knows every code spelled right: a recording may hold stocks
        the simulated universe lacks.
        """
        try:
            symbol = alltick.from_alltick(code)
        except alltick.CodeError:
            return None
        if self.replay is not None:
            return symbol if alltick.to_alltick(symbol) == code else None
        if symbol not in self.market or alltick.to_alltick(symbol) != code:
            return None
        return symbol

    def _unsubscribe(self, conn: Conn, *, trades: bool, books: bool) -> None:
        if trades:
            for symbol in conn.trades:
                subs = self._trade_subs.get(symbol)
                if subs is not None:
                    subs.pop(conn, None)
                    if not subs:
                        del self._trade_subs[symbol]
            conn.trades = {}
        if books:
            for symbol in conn.books:
                bsubs = self._book_subs.get(symbol)
                if bsubs is not None:
                    bsubs.pop(conn, None)
                    if not bsubs:
                        del self._book_subs[symbol]
            conn.books = {}
