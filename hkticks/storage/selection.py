"""Which trades a reader keeps: one selection, one meaning, in every engine.

``read``, ``read_frame``, ``stats`` (the Python pass and DuckDB) and
``replay`` all take a :class:`Selection` and ask it, here, how to apply
itself: :meth:`Selection.keep` for a :class:`~hkticks.tick.Tick`,
:meth:`Selection.sql` for a DuckDB ``WHERE`` over a column ``ts`` in epoch
ms, :meth:`Selection.arrow_mask` for an Arrow table, :meth:`Selection.pushed`
for what a Parquet reader may push down to its row groups. The differential
tests (``tests/test_selection_differential.py``) hold every translation to a
reference computed from the raw rows.

The rules, whatever the engine:

* ``symbols``: the five-digit codes to keep (``None``: every symbol);
* ``start_ms``/``end_ms``: bounds of the exchange time ``ts`` (epoch ms),
  start inclusive, end exclusive;
* ``day_start_s``/``day_end_s``: bounds of the seconds into the Hong Kong day
  (UTC+8, no daylight saving) of ``ts``, on every day, end exclusive;
  ``start > end`` wraps past midnight. A window over the lunch break is
  simply one that contains it: the rows are whatever traded in it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hkticks.errors import UsageError
from hkticks.tick import Tick

HKT_OFFSET_S = 8 * 3600
DAY_S = 86_400
HKT = dt.timezone(dt.timedelta(hours=8), "HKT")


@dataclass(frozen=True)
class Selection:
    """Which trades to keep: symbols, an absolute time range, a time of day (HK).

    ``start_ms``/``end_ms`` bound the exchange time ``ts`` (end exclusive);
    ``day_start_s``/``day_end_s`` bound its seconds into the Hong Kong day,
    on every day (wrapping past midnight when start > end).
    """

    symbols: frozenset[str] | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    day_start_s: int | None = None
    day_end_s: int | None = None

    @property
    def everything(self) -> bool:
        return (
            self.symbols is None
            and self.start_ms is None
            and self.end_ms is None
            and not self.by_time_of_day
        )

    @property
    def by_time_of_day(self) -> bool:
        return self.day_start_s is not None or self.day_end_s is not None

    def _day_bounds(self) -> tuple[int, int]:
        lo = self.day_start_s if self.day_start_s is not None else 0
        hi = self.day_end_s if self.day_end_s is not None else DAY_S
        return lo, hi

    def pushed(self) -> Selection:
        """The part a Parquet reader pushes down to row groups (symbols, absolute bounds)."""
        return Selection(self.symbols, self.start_ms, self.end_ms)

    # -- Python ---------------------------------------------------------------------

    def keep(self, tick: Tick) -> bool:
        if self.symbols is not None and tick.symbol not in self.symbols:
            return False
        ts = tick.ts
        if self.start_ms is not None and ts < self.start_ms:
            return False
        if self.end_ms is not None and ts >= self.end_ms:
            return False
        if self.by_time_of_day:
            sod = (ts // 1000 + HKT_OFFSET_S) % DAY_S
            lo, hi = self._day_bounds()
            if lo <= hi:
                return lo <= sod < hi
            return sod >= lo or sod < hi
        return True

    # -- SQL (DuckDB) ---------------------------------------------------------------

    def sql(self, ts: str = "ts", symbol: str = "symbol") -> str:
        """The selection as a SQL condition over ``symbol`` and ``ts`` (epoch ms, BIGINT).

        Values are literals (integers, and codes quoted with ``'`` doubled), so
        the condition composes into any query.
        """
        parts = []
        if self.symbols is not None:
            quoted = ", ".join("'" + s.replace("'", "''") + "'" for s in sorted(self.symbols))
            parts.append(f"{symbol} IN ({quoted})" if quoted else "FALSE")
        if self.start_ms is not None:
            parts.append(f"{ts} >= {int(self.start_ms)}")
        if self.end_ms is not None:
            parts.append(f"{ts} < {int(self.end_ms)}")
        if self.by_time_of_day:
            lo, hi = self._day_bounds()
            sod = f"(({ts} // 1000 + {HKT_OFFSET_S}) % {DAY_S})"
            join = "AND" if lo <= hi else "OR"
            parts.append(f"({sod} >= {int(lo)} {join} {sod} < {int(hi)})")
        return " AND ".join(parts) if parts else "TRUE"

    # -- Arrow ----------------------------------------------------------------------

    def arrow_expression(self) -> Any:
        """The pushed part (:meth:`pushed`) as a ``pyarrow.dataset`` filter, or ``None``."""
        from hkticks.storage.arrow import pyarrow_modules, schema

        pa, pc, _ = pyarrow_modules()
        ts_type = schema().field("ts").type
        cond = None
        if self.symbols is not None:
            cond = pc.field("symbol").isin(sorted(self.symbols))
        for bound, is_start in ((self.start_ms, True), (self.end_ms, False)):
            if bound is None:
                continue
            value = pa.scalar(bound, pa.int64()).cast(ts_type)
            c = pc.field("ts") >= value if is_start else pc.field("ts") < value
            cond = c if cond is None else cond & c
        return cond

    def arrow_mask(self, table: Any) -> Any:
        """A boolean array: which rows of an Arrow table (archive schema: ``ts`` a
        timestamp of any unit, or epoch ms as int64) the selection keeps."""
        from hkticks.storage.arrow import pyarrow_modules

        pa, pc, _ = pyarrow_modules()
        col = table.column("ts")
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("ms", tz=col.type.tz))
        ts = col.cast(pa.int64())
        mask = pa.chunked_array([pa.repeat(pa.scalar(True), table.num_rows)], pa.bool_())
        if self.symbols is not None:
            mask = pc.and_(
                mask, pc.is_in(table.column("symbol"), value_set=pa.array(sorted(self.symbols)))
            )
        if self.start_ms is not None:
            mask = pc.and_(mask, pc.greater_equal(ts, self.start_ms))
        if self.end_ms is not None:
            mask = pc.and_(mask, pc.less(ts, self.end_ms))
        if self.by_time_of_day:
            local_s = pc.add(pc.floor(pc.divide(pc.cast(ts, pa.float64()), 1000.0)), HKT_OFFSET_S)
            sod = pc.cast(
                pc.subtract(local_s, pc.multiply(pc.floor(pc.divide(local_s, DAY_S)), DAY_S)),
                pa.int64(),
            )
            lo, hi = self._day_bounds()
            window = (
                pc.and_(pc.greater_equal(sod, lo), pc.less(sod, hi))
                if lo <= hi
                else pc.or_(pc.greater_equal(sod, lo), pc.less(sod, hi))
            )
            mask = pc.and_(mask, window)
        return mask

    # -- the archive's day folders --------------------------------------------------

    def dates(self) -> tuple[str | None, str | None]:
        """The first and last Hong Kong dates (``YYYY-MM-DD``) the bounds can reach."""
        lo = None if self.start_ms is None else _hk_date(self.start_ms)
        hi = None if self.end_ms is None else _hk_date(self.end_ms - 1)
        return lo, hi


def _hk_date(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms // 1000 + HKT_OFFSET_S, dt.timezone.utc).strftime(
        "%Y-%m-%d"
    )


# -- from what users type -------------------------------------------------------------

_CLOCK_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_when(text: str, *, end: bool, option: str) -> tuple[int | None, int | None]:
    """``--from``/``--to`` in Hong Kong time: ``(absolute ms, None)`` or ``(None, seconds of day)``.

    ``HH:MM[:SS]`` is a time of day (every day); ``YYYY-MM-DD`` a day (as
    ``--to``: up to the end of that day); ``YYYY-MM-DD HH:MM[:SS]`` (or with
    ``T``) an instant.
    """
    s = text.strip()
    m = _CLOCK_RE.match(s)
    if m:
        h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if h > 24 or mi > 59 or sec > 59 or (h == 24 and (mi or sec)):
            raise UsageError(f"{option} {text!r}: not a time of day")
        return None, h * 3600 + mi * 60 + sec
    m = _DATE_RE.match(s)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        try:
            if not 1 <= mo <= 12 or not 1 <= d <= calendar.monthrange(y, mo)[1]:
                raise ValueError
            day = calendar.timegm((y, mo, d, 0, 0, 0, 0, 0, 0)) - HKT_OFFSET_S
        except (ValueError, OverflowError):
            raise UsageError(f"{option} {text!r}: not a date") from None
        if m.group(4) is None:
            return (day + (DAY_S if end else 0)) * 1000, None
        h, mi, sec = int(m.group(4)), int(m.group(5)), int(m.group(6) or 0)
        if h > 23 or mi > 59 or sec > 59:
            raise UsageError(f"{option} {text!r}: not a time of day")
        return (day + h * 3600 + mi * 60 + sec) * 1000, None
    raise UsageError(
        f"{option} {text!r}: use HH:MM (Hong Kong time, every day), YYYY-MM-DD "
        "or 'YYYY-MM-DD HH:MM'"
    )


def bound_of(value: Any, *, end: bool, option: str) -> tuple[int | None, int | None]:
    """A bound given from Python: ``(absolute ms, None)`` or ``(None, seconds of the HK day)``.

    Takes what :func:`parse_when` takes, a ``datetime`` (naive: Hong Kong
    time), a ``date``, a ``time`` (of the HK day), a pandas ``Timestamp`` or
    epoch ms.
    """
    if value is None:
        return None, None
    if isinstance(value, bool):
        raise UsageError(f"{option}: not a time: {value!r}")
    if isinstance(value, int):
        return value, None  # epoch ms
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=HKT)
        delta = aware - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return delta // dt.timedelta(milliseconds=1), None
    if isinstance(value, dt.date):
        return parse_when(value.isoformat(), end=end, option=option)
    if isinstance(value, dt.time):
        return parse_when(value.strftime("%H:%M:%S"), end=end, option=option)
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        return bound_of(value.to_pydatetime(), end=end, option=option)
    return parse_when(str(value), end=end, option=option)


def selection_from(
    symbols: Iterable[str] | None,
    start: Any,
    end: Any,
    *,
    options: tuple[str, str] = ("--from", "--to"),
) -> Selection:
    """A :class:`Selection` from normalised ``symbols`` and two bounds of any form
    :func:`bound_of` takes; ``options`` name them in error messages."""
    start_ms, day_start = bound_of(start, end=False, option=options[0])
    end_ms, day_end = bound_of(end, end=True, option=options[1])
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise UsageError(f"{options[1]} must be after {options[0]}")
    if day_start is not None and day_end is not None and day_start == day_end:
        raise UsageError(
            f"{options[0]} and {options[1]} are the same time of day: nothing would be selected"
        )
    syms = frozenset(symbols) if symbols is not None else None
    return Selection(syms, start_ms, end_ms, day_start, day_end)


def make_selection(
    symbols: Iterable[str] | None = None, start: str | None = None, end: str | None = None
) -> Selection:
    """A :class:`Selection` from command-line values (symbols already normalised)."""
    return selection_from(list(symbols) if symbols else None, start or None, end or None)
