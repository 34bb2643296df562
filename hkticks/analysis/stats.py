"""What is in a recording: per-symbol figures and the gaps the session events explain.

One streaming pass over the trades (constant memory: one small record per
symbol) gives, per symbol: trades, first and last exchange time, VWAP
(sum of price x volume over volume), volume, turnover (the recorded
``turnover`` fields added up), high, low, open and close (the prices of the
first and last trades by exchange time), and the volume traded at the
offer and at the bid. Open and close: ties of exchange time are broken by
``seq``.

The figures are computed by DuckDB when it is installed (``hkticks[fast]``,
see :mod:`hkticks.analysis.stats_duckdb`), file by file, straight from each
file; a file it cannot read exactly, or every file when it is missing, is
read by the tolerant streaming reader here. Both give the same figures (sums
of floats may differ in the last digits: they are added in another order).

Gaps come from the events sidecars (``<file>.events.jsonl``, found next to
each file, or given as files): a connection is *down* from the moment it
was reported ``disconnected`` or ``stale`` until it was ``subscribed``
again; a recorder that was *not running* leaves a gap from the last trade
before a run started (``feed_start``) to that start. A gap still open when
the events end is reported with no end.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hkticks.analysis.gap_records import gap_events
from hkticks.analysis.stats_duckdb import (
    FAST_HINT,
    FileFigures,
    Partial,
    duckdb_module,
    footer_figures,
)
from hkticks.analysis.stats_duckdb import figures as columnar_figures
from hkticks.analysis.units import hkd_text, shares_text
from hkticks.errors import UsageError
from hkticks.storage.readers import FileReport, Recording, Selection, hk_datetime
from hkticks.storage.sidecars import events_sidecar, read_events
from hkticks.tick import Tick

STAT_FIELDS = (
    "symbol",
    "trades",
    "first",
    "last",
    "vwap",
    "volume",
    "turnover",
    "high",
    "low",
    "open",
    "close",
    "buy_volume",
    "sell_volume",
)
_DOWN = ("disconnected", "stale")
# table columns left out first on a narrow terminal (all of them are in --json/--csv)
DROP_ORDER = ("First HKT", "Low", "High", "Turnover", "VWAP", "Last HKT")
_UP = "subscribed"


class SymbolStats:
    """Running figures of one symbol (a slotted class: updated per trade)."""

    __slots__ = (
        "symbol",
        "trades",
        "volume",
        "turnover",
        "pv",
        "high",
        "low",
        "first_ts",
        "last_ts",
        "open",
        "close",
        "buy_volume",
        "sell_volume",
        "open_seq",
        "close_seq",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.trades = 0
        self.volume = 0
        self.turnover = 0.0
        self.pv = 0.0
        self.high = float("-inf")
        self.low = float("inf")
        self.first_ts = 0
        self.last_ts = 0
        self.open = 0.0
        self.close = 0.0
        self.buy_volume = 0
        self.sell_volume = 0
        self.open_seq = -1
        self.close_seq = -1

    def add(self, t: Tick) -> None:
        price = t.price
        volume = t.volume
        ts = t.ts
        if not self.trades or ts <= self.first_ts:
            seq = -1 if t.seq is None else t.seq
            if not self.trades or ts < self.first_ts or seq < self.open_seq:
                self.first_ts = ts
                self.open = price
                self.open_seq = seq
        if not self.trades or ts >= self.last_ts:
            seq = -1 if t.seq is None else t.seq
            if not self.trades or ts > self.last_ts or seq >= self.close_seq:
                self.last_ts = ts
                self.close = price
                self.close_seq = seq
        self.trades += 1
        self.volume += volume
        self.turnover += t.turnover
        self.pv += price * volume
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        if t.side == "buy":
            self.buy_volume += volume
        elif t.side == "sell":
            self.sell_volume += volume

    @property
    def vwap(self) -> float | None:
        return self.pv / self.volume if self.volume else None

    def record(self) -> dict[str, Any]:
        """The figures as a dict (``STAT_FIELDS`` order; times as epoch ms)."""
        return {
            "symbol": self.symbol,
            "trades": self.trades,
            "first": self.first_ts,
            "last": self.last_ts,
            "vwap": self.vwap,
            "volume": self.volume,
            "turnover": self.turnover,
            "high": self.high,
            "low": self.low,
            "open": self.open,
            "close": self.close,
            "buy_volume": self.buy_volume,
            "sell_volume": self.sell_volume,
        }


@dataclass
class Gap:
    """A stretch without data: a connection down, or the recorder not running."""

    kind: str  # "connection" or "not recording"
    start_ms: int
    end_ms: int | None  # None: still open when the events end
    shard: int | None = None
    reason: str = ""

    @property
    def seconds(self) -> float | None:
        return None if self.end_ms is None else (self.end_ms - self.start_ms) / 1000.0

    def record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start": self.start_ms,
            "end": self.end_ms,
            "seconds": self.seconds,
            "shard": self.shard,
            "reason": self.reason,
        }


@dataclass
class Summary:
    """Everything ``stats`` reports."""

    symbols: dict[str, SymbolStats]
    files: list[FileReport]
    events_files: list[str]
    gaps: list[Gap] = field(default_factory=list)
    trades: int = 0
    first_recv: int | None = None
    last_recv: int | None = None
    problems: list[str] = field(default_factory=list)

    def ordered(self, sort: str = "symbol") -> list[SymbolStats]:
        rows = list(self.symbols.values())
        if sort == "symbol":
            return sorted(rows, key=lambda s: s.symbol)
        return sorted(rows, key=lambda s: (-getattr(s, sort), s.symbol))

    @property
    def volume(self) -> int:
        return sum(s.volume for s in self.symbols.values())

    @property
    def turnover(self) -> float:
        return sum(s.turnover for s in self.symbols.values())


def connection_gaps(events: Iterable[dict[str, Any]]) -> list[Gap]:
    """Down periods per connection (``disconnected``/``stale`` .. ``subscribed``), time order.

    A new run (``feed_start``) closes what the previous run left open: its
    connections went away with it. A ``fatal`` event ends the run's
    connections for good (their gap stays open until the next run).
    """
    gaps: list[Gap] = []
    down: dict[int | None, Gap] = {}
    for ev in sorted(events, key=lambda e: e["ts"]):
        name = ev["event"]
        ts = ev["ts"]
        shard = ev.get("shard")
        shard = shard if isinstance(shard, int) else None
        if name == "feed_start":
            for gap in down.values():
                gap.end_ms = ts
            down.clear()
        elif name in _DOWN:
            if shard not in down:
                reason = ev.get("reason") or (
                    f"nothing for {ev['silent_s']} s" if "silent_s" in ev else name
                )
                gap = Gap("connection", ts, None, shard, str(reason))
                down[shard] = gap
                gaps.append(gap)
        elif name == _UP:
            gap_or_none = down.pop(shard, None)
            if gap_or_none is not None:
                gap_or_none.end_ms = ts
        elif name == "fatal":
            reason = str(ev.get("reason") or "fatal error")
            gap = Gap("connection", ts, None, None, reason)
            gaps.append(gap)
            down[None] = gap
    return gaps


def recorded_gaps(events: Iterable[dict[str, Any]]) -> list[Gap]:
    """The ``gap`` records (one per outage, trimmed to trading time), when the
    sidecar has them (recorders from issue 18 on); else [] (derive them)."""
    return [
        Gap("connection", g["start"], g["end"], g.get("shard"), str(g.get("cause", "")))
        for g in gap_events(events)
    ]


def run_starts(events: Iterable[dict[str, Any]]) -> list[int]:
    """When each recorder run started (``feed_start`` times), sorted."""
    return sorted(ev["ts"] for ev in events if ev["event"] == "feed_start")


def summarise(
    recording: Recording,
    *,
    events_files: Sequence[str] | None = None,
    engine: str = "auto",
) -> Summary:
    """Read ``recording`` and its events sidecars; see the module docstring.

    ``events_files`` defaults to the sidecars found next to the recording's
    files plus those given as files. ``engine`` is ``"auto"`` (DuckDB when
    installed), ``"duckdb"`` or ``"python"``.
    """
    if events_files is None:
        found = list(recording.events_files)
        for f in recording.files:
            side = events_sidecar(f.path)
            if side is not None and side not in found:
                found.append(side)
        events_files = found
    events: list[dict[str, Any]] = []
    for path in dict.fromkeys(events_files):
        if os.path.exists(path):
            events.extend(read_events(path))
    starts = run_starts(events)
    summary = Summary({}, [], list(events_files))
    con = _duckdb_connection(engine)
    partials: dict[str, Partial] = {}
    before: list[int | None] = [None] * len(starts)
    first_recv = last_recv = None
    n = 0
    try:
        for f in recording.files:
            figs = None
            if con is not None and f.report.kind == "trades" and f.report.format != "sqlite":
                figs = _duckdb_figures(con, f, recording.selection, starts)
            if figs is None:
                figs = python_figures(f, starts)
            n += figs.selected
            for sym, part in figs.partials.items():
                have = partials.get(sym)
                if have is None:
                    partials[sym] = part
                else:
                    have.merge(part)
            if figs.first_recv is not None:
                first_recv = (
                    figs.first_recv if first_recv is None else min(first_recv, figs.first_recv)
                )
            if figs.last_recv is not None:
                last_recv = figs.last_recv if last_recv is None else max(last_recv, figs.last_recv)
            for i, b in enumerate(figs.before):
                if b is not None:
                    cur = before[i]
                    before[i] = b if cur is None else max(cur, b)
    finally:
        if con is not None:
            con.close()
    summary.symbols = {sym: _stats_of(partials[sym]) for sym in partials}
    summary.trades = n
    summary.first_recv, summary.last_recv = first_recv, last_recv
    summary.files = recording.reports
    summary.problems = recording.problems()
    gaps = recorded_gaps(events) or connection_gaps(events)
    for start, last in zip(starts, before, strict=True):
        if last is not None and last < start:
            gaps.append(Gap("not recording", last, start, None, "recorder not running"))
    gaps.sort(key=lambda g: g.start_ms)
    summary.gaps = gaps
    return summary


def _duckdb_connection(engine: str) -> Any:
    if engine not in ("auto", "duckdb", "python"):
        raise ValueError(f"engine {engine!r}")
    if engine == "python":
        return None
    duckdb = duckdb_module()
    if duckdb is None:
        if engine == "duckdb":
            raise UsageError(f"stats --engine duckdb needs DuckDB: {FAST_HINT}")
        return None
    return _Connection(duckdb)


class _Connection:
    """A DuckDB connection opened on first use: an archive's footers need none (opening
    one costs more than reading the footers of a day)."""

    def __init__(self, duckdb: Any) -> None:
        self._duckdb = duckdb
        self._con: Any = None

    def get(self) -> Any:
        if self._con is None:
            self._con = self._duckdb.connect(config={"preserve_insertion_order": False})
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()


def _duckdb_figures(
    con: _Connection, f: Any, selection: Selection | None, starts: Sequence[int]
) -> FileFigures | None:
    """A file's figures by DuckDB (its report filled in), or ``None``."""
    report = f.report
    if report.format == "parquet":
        figs = footer_figures(f.files, selection, starts)  # whole parts: their footers
        if figs is not None:
            report.rows += figs.valid
            report.done = True
            return figs
    if report.format != "parquet":
        f.first_key()  # a cheap look at the first record: books or events are not trades
        if report.kind != "trades":
            return None
    figs = columnar_figures(
        con.get(),
        f.path,
        report.format,
        report.compression,
        getattr(f, "files", [f.path]),
        selection,
        starts,
    )
    if figs is not None:
        report.rows += figs.valid
        report.bad += figs.invalid
        report.done = True
    return figs


def python_figures(f: Any, starts: Sequence[int]) -> FileFigures:
    """A file's figures by one streaming pass of the tolerant reader."""
    symbols: dict[str, SymbolStats] = {}
    before: list[int | None] = [None] * len(starts)
    first_recv = last_recv = None
    n = 0
    ordered = list(enumerate(starts))
    for tick in f:
        n += 1
        r = tick.recv_ts
        if first_recv is None or r < first_recv:
            first_recv = r
        if last_recv is None or r > last_recv:
            last_recv = r
        for i, s in ordered:
            if r < s:
                b = before[i]
                if b is None or r > b:
                    before[i] = r
        st = symbols.get(tick.symbol)
        if st is None:
            st = symbols[tick.symbol] = SymbolStats(tick.symbol)
        st.add(tick)
    partials = {sym: _partial_of(st) for sym, st in symbols.items()}
    return FileFigures(partials, first_recv, last_recv, before, f.report.rows, f.report.bad, n)


def _partial_of(st: SymbolStats) -> Partial:
    return Partial(
        st.symbol,
        trades=st.trades,
        first_ts=st.first_ts,
        last_ts=st.last_ts,
        pv=st.pv,
        volume=st.volume,
        turnover=st.turnover,
        high=st.high,
        low=st.low,
        open=st.open,
        open_seq=st.open_seq,
        close=st.close,
        close_seq=st.close_seq,
        buy_volume=st.buy_volume,
        sell_volume=st.sell_volume,
    )


def _stats_of(p: Partial) -> SymbolStats:
    st = SymbolStats(p.symbol)
    st.trades, st.first_ts, st.last_ts = p.trades, p.first_ts, p.last_ts
    st.pv, st.volume, st.turnover = p.pv, p.volume, p.turnover
    st.high, st.low, st.open, st.close = p.high, p.low, p.open, p.close
    st.open_seq, st.close_seq = p.open_seq, p.close_seq
    st.buy_volume, st.sell_volume = p.buy_volume, p.sell_volume
    return st


# -- nothing read ------------------------------------------------------------------------


def nothing_read(reports: Sequence[FileReport]) -> str | None:
    """When every trade file had all its lines skipped (or could not be read), say so in
    one line: ``stats`` and ``replay`` then exit non-zero instead of "0 trades"."""
    if not reports or any(r.rows for r in reports):
        return None
    bad = [r for r in reports if r.skipped or r.error]
    if not bad:
        return None  # empty files: nothing was skipped either
    r = bad[0]
    name = "stdin" if r.path == "-" else r.path
    if r.error:
        what = r.error
    else:
        first = f"; first: {r.examples[0]}" if r.examples else ""
        what = f"all {r.skipped:,} of its records were skipped{first}"
    more = f" (and {len(bad) - 1:,} more such files)" if len(bad) > 1 else ""
    return (
        f"{name}: no trade could be read: {what}{more}; "
        "is it a recording of hkticks (.jsonl, .csv, .db, .parquet, maybe .gz/.zst)?"
    )


# -- rendering -------------------------------------------------------------------------


def price_cells(prices: Sequence[float | None]) -> list[str]:
    """One format for a column of prices: as many decimals (up to 3) as its most
    precise price needs, the same for every cell, so the points line up."""
    decimals = 0
    for p in prices:
        if p is None or p != p:
            continue
        text = f"{p:.3f}".rstrip("0")
        decimals = max(decimals, len(text) - text.index(".") - 1)
    return ["-" if p is None or p != p else f"{p:,.{decimals}f}" for p in prices]


def fmt_span(seconds: float | None) -> str:
    if seconds is None:
        return "open"
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def to_json(summary: Summary, sort: str = "symbol") -> dict[str, Any]:
    """The summary as one JSON-serialisable object (times: epoch ms and HK text)."""

    def when(ms: int | None) -> str | None:
        return None if ms is None else hk_datetime(ms, with_ms=True)

    rows = []
    for st in summary.ordered(sort):
        rec = st.record()
        rec["first_hkt"] = when(st.first_ts)
        rec["last_hkt"] = when(st.last_ts)
        rows.append(rec)
    return {
        "files": [
            {
                "path": r.path,
                "format": r.format,
                "compression": r.compression,
                "kind": r.kind,
                "rows": r.rows,
                "invalid": r.bad,
                "torn": r.torn,
                "damaged_blocks": r.corrupt,
                "error": r.error,
            }
            for r in summary.files
        ],
        "events_files": summary.events_files,
        "trades": summary.trades,
        "symbols": len(summary.symbols),
        "volume": summary.volume,
        "turnover": summary.turnover,
        "first_recv": summary.first_recv,
        "last_recv": summary.last_recv,
        "first_recv_hkt": when(summary.first_recv),
        "last_recv_hkt": when(summary.last_recv),
        "per_symbol": rows,
        "gaps": [
            {**g.record(), "start_hkt": when(g.start_ms), "end_hkt": when(g.end_ms)}
            for g in summary.gaps
        ],
    }


def csv_rows(summary: Summary, sort: str = "symbol") -> Iterable[list[Any]]:
    """The per-symbol table as CSV rows, header first (times in HK time)."""
    yield [*STAT_FIELDS]
    for st in summary.ordered(sort):
        rec = st.record()
        rec["first"] = hk_datetime(st.first_ts, with_ms=True)
        rec["last"] = hk_datetime(st.last_ts, with_ms=True)
        yield ["" if rec[k] is None else rec[k] for k in STAT_FIELDS]


def render(summary: Summary, console: Any, sort: str = "symbol", limit: int | None = None) -> None:
    """Rich tables: an overview, the per-symbol figures, and the gaps."""
    from rich import box
    from rich.table import Table

    files = summary.files
    span = ""
    if summary.first_recv is not None and summary.last_recv is not None:
        first = hk_datetime(summary.first_recv)
        last = hk_datetime(summary.last_recv)
        span = f", received {first} - {last[11:] if first[:10] == last[:10] else last} HKT"
    console.print(
        f"[bold]{summary.trades:,}[/bold] trades of [bold]{len(summary.symbols):,}[/bold] "
        f"symbol{'s' if len(summary.symbols) != 1 else ''} in {len(files)} "
        f"file{'s' if len(files) != 1 else ''}{span}",
        highlight=False,
    )
    rows = summary.ordered(sort)
    shown = rows if limit is None else rows[:limit]
    days = {hk_datetime(s.first_ts)[:10] for s in rows}
    days |= {hk_datetime(s.last_ts)[:10] for s in rows}
    cut = 0 if len(days) > 1 else 11  # one day: the time is enough
    # (header, right-aligned, cells, total): columns are left out from the end
    # of DROP_ORDER until the table fits the terminal
    # units in every cell (HK$4.50M beside HK$1.20B), never one unit for the column
    turnover = [hkd_text(st.turnover) for st in shown] + [hkd_text(summary.turnover)]
    vwap = price_cells([st.vwap for st in shown])
    columns: list[tuple[str, bool, list[str], str]] = [
        ("Symbol", False, [st.symbol for st in shown], "total"),
        ("Trades", True, [f"{st.trades:,}" for st in shown], f"{summary.trades:,}"),
        ("First HKT", False, [hk_datetime(st.first_ts)[cut:] for st in shown], ""),
        ("Last HKT", False, [hk_datetime(st.last_ts)[cut:] for st in shown], ""),
        ("VWAP", True, vwap, ""),
        ("Volume", True, [shares_text(st.volume) for st in shown], shares_text(summary.volume)),
        ("Turnover", True, turnover[:-1], turnover[-1]),
        ("High", True, price_cells([st.high for st in shown]), ""),
        ("Low", True, price_cells([st.low for st in shown]), ""),
    ]
    width = getattr(console, "width", 240)
    for name in DROP_ORDER:
        need = sum(max(len(h), len(t), *map(len, c), 1) + 3 for h, _, c, t in columns)
        if need <= width:
            break
        columns = [c for c in columns if c[0] != name]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name, right, _, _ in columns:
        table.add_column(name, justify="right" if right else "left", no_wrap=True)
    for i in range(len(shown)):
        table.add_row(*(c[i] for _, _, c, _ in columns))
    if len(rows) > 1:
        table.add_section()
        table.add_row(*(t for _, _, _, t in columns), style="bold")
    if rows:
        console.print(table)
    if limit is not None and len(rows) > limit:
        console.print(f"... and {len(rows) - limit:,} more symbols (--top shows more)")
    if summary.gaps:
        gaps = Table(
            box=box.SIMPLE_HEAD,
            title="Gaps",
            title_justify="left",
            show_edge=False,
            pad_edge=False,
            header_style="bold",
        )
        for name in ("Start HKT", "End HKT", "Length", "What", "Reason"):
            gaps.add_column(name)
        for g in summary.gaps:
            what = (
                "recorder not running"
                if g.kind == "not recording"
                else ("feed" if g.shard is None else f"connection {g.shard}")
            )
            gaps.add_row(
                hk_datetime(g.start_ms),
                "-" if g.end_ms is None else hk_datetime(g.end_ms),
                fmt_span(g.seconds),
                what,
                g.reason if g.kind != "not recording" else "",
            )
        console.print(gaps)
    elif summary.events_files:
        console.print("no gaps: no disconnects in the session events", style="dim")
    else:
        console.print("no events sidecar found: gaps unknown", style="dim")
