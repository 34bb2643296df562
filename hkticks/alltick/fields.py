"""Field by field, the tolerant decoding of AllTick's payloads: numbers, times,
seqs, codes, one trade and one order book, each checked against hkticks'
bounds. A bad field raises the internal :class:`_Bad`, which the frame decoders
turn into a :class:`DecodeError` (never an exception to the caller).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hkticks.alltick.spec import (
    _MAX_INT,
    _MAX_NUMBER,
    _MAX_SEQ,
    _MAX_TIME_MS,
    _SECONDS_LIMIT,
    MAX_BOOK_LEVELS,
    CodeError,
    from_alltick,
)
from hkticks.tick import Book, Tick


@dataclass(frozen=True, slots=True)
class DecodeError:
    """A frame that could not be decoded. ``kind`` is a short stable tag to count by."""

    kind: str
    message: str
    cmd_id: int | None = None


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
