"""Rich tables for ``hkticks validate``: the rule counts, flags, lag, gaps and minutes."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from hkticks.analysis.validate import Report
from hkticks.market_hours import hk_time_text
from hkticks.storage.readers import hk_datetime


def render(report: Report, console: Console, top: int = 20) -> None:
    console.print(
        f"{report.trades:,} trades checked"
        + ("" if report.calendar_used else " (always open: no trading-hours rules)")
    )
    if report.calendar_note:
        console.print(report.calendar_note, style="yellow")
    counts = Table(title="rules", title_justify="left")
    counts.add_column("rule")
    counts.add_column("flagged", justify="right")
    notes = report.notes()
    for rule, n in report.counts.items():
        style = ("yellow" if rule in notes else "red") if n else None
        counts.add_row(rule + (" (note)" if rule in notes else ""), f"{n:,}", style=style)
    console.print(counts)
    if report.trades and report.counts["outside_hours"] == report.trades:
        console.print(
            "every trade is outside trading hours: a simulated market (--demo, hkticks serve)? "
            "Pass --always-open",
            style="yellow",
        )
    if report.flags and top:
        flags = Table(
            title=f"first {min(top, len(report.flags))} of {len(report.flags):,} flags",
            title_justify="left",
        )
        for name in ("time (HKT)", "symbol", "seq", "rule", "detail"):
            flags.add_column(name)
        for f in report.flags[:top]:
            flags.add_row(hk_datetime(f.ts, True), f.symbol, str(f.seq), f.rule, f.detail)
        console.print(flags)
    if report.lag:
        lag = Table(title="lag, receive - exchange time (ms)", title_justify="left")
        for name in ("shard", "trades", "p50", "p90", "p99", "max"):
            lag.add_column(name, justify="right")
        for shard, p in report.lag.items():
            lag.add_row(
                shard, f"{int(p['n']):,}", *(f"{p[k]:,.0f}" for k in ("p50", "p90", "p99", "max"))
            )
        console.print(lag)
    if report.never_traded:
        n = len(report.never_traded)
        more = f" and {n - top:,} more" if n > top else ""
        why = (
            "counted as a problem (--strict)"
            if "never_traded" not in notes
            else "a note: illiquid or suspended names may not trade for hours "
            "(--strict counts them)"
        )
        console.print(
            f"never traded: {n:,} subscribed symbol{'s' if n != 1 else ''} "
            f"({', '.join(report.never_traded[:top])}{more}); {why}",
            style="yellow",
        )
    if report.gaps:
        gaps = Table(title="gaps", title_justify="left")
        for name in ("shard", "start (HKT)", "end", "trading s", "symbols", "cause"):
            gaps.add_column(name)
        for g in report.gaps[:top]:
            gaps.add_row(
                str(g.get("shard")),
                hk_datetime(g["start"], True),
                hk_time_text(g["end"], with_ms=True),
                f"{g.get('trading_ms', 0) / 1000:.1f}",
                str(len(g.get("symbols") or ())),
                str(g.get("cause", "")),
            )
        console.print(gaps)
    if report.reconciled:
        summary = ", ".join(f"{k} {v:,}" for k, v in sorted(report.reconcile_counts().items()))
        console.print(f"minutes against AllTick's 1-minute bars: {summary}")
        odd = [r for r in report.reconciled if r["check"] not in ("ok", "partial")]
        if odd and top:
            t = Table(title="minutes that do not match", title_justify="left")
            for name in (
                "symbol",
                "minute (HKT)",
                "trades",
                "volume",
                "bar volume",
                "in gap",
                "check",
            ):
                t.add_column(name)
            for r in odd[:top]:
                t.add_row(
                    r["symbol"],
                    hk_datetime(r["minute"])[:-3],
                    str(r["trades"]),
                    f"{r['volume']:,}",
                    "" if r["bar_volume"] is None else f"{r['bar_volume']:,}",
                    "yes" if r["in_gap"] else "",
                    r["status"],
                )
            console.print(t)
