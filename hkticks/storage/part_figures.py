"""Per-symbol figures of an archive part, kept in the part's own footer.

``compact`` computes, for every symbol of a part it writes, what ``stats``
adds up (trades, first/last exchange time, sum of price x volume, volume,
turnover, high, low, open and close with their ``seq``, volume at the offer
and at the bid, first/last receive time), and stores them in the part's
Parquet key-value metadata (``hkticks.figures``), written in the same atomic
rename as the rows. ``stats`` on the archive then reads a few KiB per part
instead of every row (see :func:`hkticks.analysis.stats_duckdb.footer_figures`),
when the selection takes whole parts (symbols only, or bounds around them):
like Parquet's own column statistics, but per symbol. The figures are the
rows' (one pass when written); the Python engine still reads every row, and
the differential tests hold both to the same reference.

What the footer cannot tell: a part whose pages were damaged after it was
written but whose footer is intact gives its figures here; ``read``,
``replay`` and ``stats --engine python`` read the rows and name the part.

Open and close follow the stats rule: the first and last trade by exchange
time, ties broken by ``seq`` (a missing ``seq`` counts as -1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

FIGURES_KEY = b"hkticks.figures"
# one symbol's figures, in this order (JSON lists: a few KiB per part)
FIELDS = (
    "symbol",
    "trades",
    "first_ts",
    "last_ts",
    "pv",
    "volume",
    "turnover",
    "high",
    "low",
    "open",
    "open_seq",
    "close",
    "close_seq",
    "buy_volume",
    "sell_volume",
    "first_recv",
    "last_recv",
)


class Builder:
    """The figures of a part, built from its row groups as they are written (in the
    part's order: by symbol, then ``ts``, then ``seq``); :meth:`value` is the
    metadata value. A symbol over several row groups is merged by the stats rule."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Any]] = {}

    def add(self, rows: Any) -> None:
        for fig in _figures(rows):
            have = self.rows.get(fig[0])
            if have is None:
                self.rows[fig[0]] = fig
            else:
                _merge(have, fig)

    def value(self) -> bytes:
        return orjson.dumps(list(self.rows.values()))


def _merge(a: list[Any], b: list[Any]) -> None:
    """Add ``b``'s figures (later rows of the same symbol) into ``a``."""
    if (b[2], b[10]) < (a[2], a[10]):
        a[2], a[9], a[10] = b[2], b[9], b[10]
    if (b[3], b[12]) >= (a[3], a[12]):
        a[3], a[11], a[12] = b[3], b[11], b[12]
    a[1] += b[1]
    a[4] += b[4]
    a[5] += b[5]
    a[6] += b[6]
    a[7] = max(a[7], b[7])
    a[8] = min(a[8], b[8])
    a[13] += b[13]
    a[14] += b[14]
    a[15] = min(a[15], b[15])
    a[16] = max(a[16], b[16])


def _figures(rows: Any) -> list[list[Any]]:
    """Per-symbol figures of a table in the part's order."""
    from hkticks.storage.arrow import pyarrow_modules

    pa, pc, _ = pyarrow_modules()
    n = rows.num_rows
    if n == 0:
        return []

    def col(name: str) -> Any:
        c = rows.column(name)
        if name in ("ts", "recv_ts"):
            c = c.cast(pa.int64())
        return c.combine_chunks()

    sym = col("symbol")
    ts = col("ts")
    seq = pc.fill_null(col("seq"), -1)
    price = col("price")
    changed = pc.not_equal(sym.slice(1), sym.slice(0, n - 1))
    starts = [0, *(i + 1 for i in pc.indices_nonzero(changed).to_pylist())]
    ends = [*(s - 1 for s in starts[1:]), n - 1]
    names = sym.take(pa.array(starts)).to_pylist()
    volume = col("volume")
    side = col("side")
    grouped = pa.table(
        {
            "symbol": sym,
            "ts": ts,
            "pv": pc.multiply(price, pc.cast(volume, pa.float64())),
            "volume": volume,
            "turnover": col("turnover"),
            "price": price,
            "buy": pc.fill_null(pc.if_else(pc.equal(side, "buy"), volume, 0), 0),
            "sell": pc.fill_null(pc.if_else(pc.equal(side, "sell"), volume, 0), 0),
            "recv": col("recv_ts"),
        }
    ).group_by("symbol", use_threads=False)
    agg = grouped.aggregate(
        [
            ("ts", "min"),
            ("ts", "max"),
            ("pv", "sum"),
            ("volume", "sum"),
            ("turnover", "sum"),
            ("price", "max"),
            ("price", "min"),
            ("buy", "sum"),
            ("sell", "sum"),
            ("recv", "min"),
            ("recv", "max"),
        ]
    )
    by_symbol = {row["symbol"]: row for row in agg.to_pylist()}  # a few thousand at most
    out = []
    for name, s, e in zip(names, starts, ends, strict=True):
        o, c = _open_close(ts, seq, s, e)
        row = by_symbol[name]
        out.append(
            [
                name,
                e - s + 1,
                row["ts_min"],
                row["ts_max"],
                row["pv_sum"],
                row["volume_sum"],
                row["turnover_sum"],
                row["price_max"],
                row["price_min"],
                price[o].as_py(),
                seq[o].as_py(),
                price[c].as_py(),
                seq[c].as_py(),
                row["buy_sum"],
                row["sell_sum"],
                row["recv_min"],
                row["recv_max"],
            ]
        )
    return out


def _open_close(ts: Any, seq: Any, s: int, e: int) -> tuple[int, int]:
    """Row indices of a symbol's open and close (its rows ``s..e``, sorted by ``ts``;
    equal times are ordered by ``seq`` with the missing ones last, so a tie is
    settled here by the stats rule)."""
    o = s
    if e > s and ts[s].as_py() == ts[s + 1].as_py():
        first = ts[s].as_py()
        i, best = s, None
        while i <= e and ts[i].as_py() == first:
            q = seq[i].as_py()
            if best is None or q < best:
                best, o = q, i
            i += 1
    c = e
    if e > s and ts[e].as_py() == ts[e - 1].as_py():
        last = ts[e].as_py()
        i, best = e, None
        while i >= s and ts[i].as_py() == last:
            q = seq[i].as_py()
            if best is None or q > best:
                best, c = q, i
            i -= 1
        # among equal (ts, seq), the later row is the close
    return o, c


def read(files: Sequence[str]) -> list[list[Any]] | None:
    """The figures of every part of ``files`` (one list per symbol per part), or ``None``
    when a part has none (written before them, or not by ``compact``)."""
    from hkticks.storage.arrow import pyarrow_modules

    _, _, pq = pyarrow_modules()
    out: list[list[Any]] = []
    for f in files:
        try:
            meta = pq.read_metadata(f).metadata or {}
        except Exception:  # a damaged part: the reader names it
            return None
        value = meta.get(FIGURES_KEY)
        if value is None:
            return None
        try:
            rows = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(rows, list) or any(
            not isinstance(r, list) or len(r) != len(FIELDS) for r in rows
        ):
            return None
        out.extend(rows)
    return out
