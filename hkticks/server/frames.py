"""The server's own encoder for AllTick frames (responses and pushes).

Deliberately independent of the client's decoder in :mod:`hkticks.alltick.protocol`:
if both sides shared one codec, a mistake in it would pass every test. Only
the constants (command ids, return messages) and the code conversion are
shared.

The default form is AllTick's documented one (``websocket_interface``
22998/22999): ``seq`` and ``tick_time`` JSON integers, ``tick_time`` in
milliseconds, ``price``/``volume``/``turnover`` strings. The quirks (``serve
--quirks``) exist to test the client's tolerance: ``strings`` sends ``seq``
and ``tick_time`` as strings (as the REST answers do), ``seconds`` a
seconds-valued ``tick_time`` (as the documented example shows), ``numbers``
JSON numbers for prices and volumes.

Trade pushes are the hot path (tens of thousands per second in firehose
mode), so the string-numbers forms are built from a pre-split template;
every field is an ASCII number or a code from our own universe, so no JSON
escaping is ever needed. The ``numbers`` quirk goes through orjson.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from hkticks.alltick.spec import PUSH_BOOK, PUSH_TRADE, RET_MESSAGES, to_alltick
from hkticks.server.market import Trade
from hkticks.server.tick_ladder import format_amount, format_price

_TRADE_HEAD = b'{"cmd_id":%d,"data":{"code":"' % PUSH_TRADE


class FrameEncoder:
    """Encodes pushes in one of the wire variants.

    ``tick_time_unit`` is ``"ms"`` (documented) or ``"s"`` (seen in AllTick's
    example); ``numbers_as_strings`` picks AllTick's string prices and volumes
    or plain JSON numbers; ``ids_as_strings`` sends ``seq`` and ``tick_time``
    as strings instead of the documented integers.
    """

    def __init__(
        self,
        *,
        tick_time_unit: str = "ms",
        numbers_as_strings: bool = True,
        ids_as_strings: bool = False,
    ) -> None:
        if tick_time_unit not in ("ms", "s"):
            raise ValueError(f"tick_time_unit must be 'ms' or 's', not {tick_time_unit!r}")
        self.seconds = tick_time_unit == "s"
        self.strings = numbers_as_strings
        self.ids_as_strings = ids_as_strings
        self._codes: dict[str, bytes] = {}
        # the template of a string-numbers trade push: quoted ids or bare integers
        q = b'"' if ids_as_strings else b""
        self._trade_fmt = (
            b'%s%s","seq":'
            + q
            + b"%d"
            + q
            + b',"tick_time":'
            + q
            + b"%d"
            + q
            + b',"price":"%s","volume":"%d","turnover":"%s","trade_direction":%d}}'
        )

    def _code(self, symbol: str) -> bytes:
        code = self._codes.get(symbol)
        if code is None:
            code = self._codes[symbol] = to_alltick(symbol).encode()
        return code

    def _time(self, ts_ms: int) -> int:
        return ts_ms // 1000 if self.seconds else ts_ms

    def trade(self, t: Trade) -> bytes:
        """A 22998 trade push."""
        if self.strings:
            return self._trade_fmt % (
                _TRADE_HEAD,
                self._code(t.symbol),
                t.seq,
                self._time(t.ts),
                format_price(t.price).encode(),
                t.volume,
                format_amount(t.price * t.volume).encode(),
                t.direction,
            )
        return orjson.dumps(
            {
                "cmd_id": PUSH_TRADE,
                "data": {
                    "code": to_alltick(t.symbol),
                    "seq": str(t.seq) if self.ids_as_strings else t.seq,
                    "tick_time": str(self._time(t.ts)) if self.ids_as_strings else self._time(t.ts),
                    "price": t.price / 1000,
                    "volume": t.volume,
                    "turnover": t.price * t.volume / 1000,
                    "trade_direction": t.direction,
                },
            }
        )

    def _level(self, price: int, volume: int) -> dict[str, Any]:
        if self.strings:
            return {"price": format_price(price), "volume": str(volume)}
        return {"price": price / 1000, "volume": volume}

    def book(
        self,
        symbol: str,
        seq: int,
        ts_ms: int,
        bids: Sequence[tuple[int, int]],
        asks: Sequence[tuple[int, int]],
    ) -> bytes:
        """A 22999 order-book push (levels best first, prices in mills)."""
        return orjson.dumps(
            {
                "cmd_id": PUSH_BOOK,
                "data": {
                    "code": to_alltick(symbol),
                    "seq": str(seq) if self.ids_as_strings else seq,
                    "tick_time": (
                        str(self._time(ts_ms)) if self.ids_as_strings else self._time(ts_ms)
                    ),
                    "bids": [self._level(p, v) for p, v in bids],
                    "asks": [self._level(p, v) for p, v in asks],
                },
            }
        )


def ws_text(payload: bytes) -> bytes:
    """``payload`` as one complete, unmasked WebSocket text frame (RFC 6455 5.2).

    Server-to-client frames are never masked, so a push can be framed once
    and many frames written to the socket in one call: per-frame writes (one
    system call each) would make the server, not the client, the bottleneck.
    """
    n = len(payload)
    if n < 126:
        return b"\x81" + _LEN1[n] + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


_LEN1 = tuple(bytes((i,)) for i in range(126))


def response(
    cmd_id: Any,
    ret: int,
    *,
    msg: str | None = None,
    seq_id: Any = None,
    trace: Any = None,
    data: Any = None,
) -> bytes:
    """A response frame. Every answer, errors included, carries ``cmd_id``,
    ``seq_id`` and ``trace`` as AllTick documents it: echoed when known, else
    ``0``, ``0`` and ``""`` (a malformed request may not have them)."""
    return orjson.dumps(
        {
            "ret": ret,
            "msg": msg if msg is not None else RET_MESSAGES.get(ret, ""),
            "cmd_id": 0 if cmd_id is None else cmd_id,
            "seq_id": 0 if seq_id is None else seq_id,
            "trace": "" if trace is None else trace,
            "data": {} if data is None else data,
        }
    )
