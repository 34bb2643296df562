"""``hkticks symbols``: list, search and refresh the Stock Connect universe."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from typing import Any

import click
import orjson

from hkticks.cli.common import provider_options, remote_source, source_spec, warn
from hkticks.errors import UsageError
from hkticks.run.symbols_job import universe_document, universe_to_show
from hkticks.symbols import universe as symsvc

FORMATS = ("table", "json", "csv", "codes")


def _hk_time(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, symsvc.HK_TZ).strftime("%Y-%m-%d %H:%M HKT")


@click.command("symbols")
@click.option(
    "--refresh", is_flag=True, help="Fetch both lists (SSE and SZSE) now and update the cache."
)
@click.option(
    "--search",
    metavar="TEXT",
    default=None,
    help="Only stocks whose code or Chinese/English name contains TEXT (any case).",
)
@click.option(
    "--channel",
    type=click.Choice(["sh", "sz", "any"], case_sensitive=False),
    default="any",
    show_default=True,
    help="Only stocks listed by Shanghai (sh) or Shenzhen (sz) Stock Connect.",
)
@click.option(
    "--include-suspended",
    is_flag=True,
    help="Also list stocks marked suspended (hidden by default).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS, case_sensitive=False),
    default=None,
    help="table, json, csv, or codes (one per line, for `record --symbols-file -`). "
    "Default: table on a terminal, csv otherwise.",
)
@provider_options
def symbols(
    refresh: bool,
    search: str | None,
    channel: str,
    include_suspended: bool,
    fmt: str | None,
    **provider: Any,
) -> None:
    """The Stock Connect (southbound) universe: list, search, refresh.

    The list is the merge of the Shanghai (SH) and Shenzhen (SZ) Stock
    Connect lists, cached in $XDG_CACHE_HOME/hkticks. Without --refresh the
    cache is read (and fetched once if there is none). With a token (or
    --demo) a refresh also marks suspended stocks: those whose latest trade
    is older than the previous trading day. `record` and `watch` skip them
    when they default to the universe.

    \b
    Examples:
      hkticks symbols --refresh --demo
      hkticks symbols --search tencent --demo
      hkticks symbols --format codes --channel sz --demo > sz.txt
      hkticks symbols --refresh                 # needs network
      hkticks symbols --format codes --shard 2/3 --demo
    """
    if remote_source():
        raise UsageError(
            "--from applies to watch and record; symbols lists the Stock Connect universe"
        )
    spec = source_spec(demo_rate=20.0, **provider)
    shown = search is not None or fmt is not None
    universe = universe_to_show(spec, refresh, (fmt or "").lower(), shown=shown, warn=warn)
    if universe is None:  # refreshed, and nothing more asked
        return
    stocks = universe.select(include_suspended=include_suspended, channel=channel, search=search)
    in_shard = spec.shard_filter()  # --shard i/n: the list one of n recorders takes
    if in_shard is not None:
        stocks = [s for s in stocks if in_shard(s.code)]
    if fmt is None:
        fmt = "table" if sys.stdout.isatty() else "csv"
    fmt = fmt.lower()
    if fmt == "codes":
        if stocks:
            click.echo("\n".join(s.code for s in stocks))
    elif fmt == "json":
        click.echo(
            orjson.dumps(universe_document(universe, stocks), option=orjson.OPT_INDENT_2).decode()
        )
    elif fmt == "csv":
        click.echo(_csv(universe, stocks), nl=False)
    else:
        matching = universe.select(include_suspended=True, channel=channel, search=search)
        _table(universe, stocks, hidden=len(matching) - len(stocks), search=search)
    if search is not None and not stocks:
        hidden = universe.select(include_suspended=True, channel=channel, search=search)
        extra = " (only suspended ones: add --include-suspended)" if hidden else ""
        warn(f"no stock matches {search!r}{extra}")
        sys.exit(1)


def _csv(universe: symsvc.Universe, stocks: list[symsvc.StockInfo]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["code", "name_cn", "name_en", "channels", "suspended"])
    for s in stocks:
        writer.writerow(
            [s.code, s.name_cn, s.name_en, " ".join(s.channels), "yes" if s.suspended else ""]
        )
    return buf.getvalue()


def _table(
    universe: symsvc.Universe,
    stocks: list[symsvc.StockInfo],
    *,
    hidden: int,
    search: str | None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 120))
    title = "Stock Connect (southbound)" + (" · demo list" if universe.demo else "")
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("Code", style="cyan", no_wrap=True)
    table.add_column("Name")
    table.add_column("English name")
    table.add_column("Channels", no_wrap=True)
    table.add_column("Suspended", no_wrap=True)
    for s in stocks:
        mark = ""
        if s.suspended:
            since = universe.last_traded.get(s.code)
            mark = "[red]suspended[/]" + (f" (last trade {since})" if since else "")
        table.add_row(s.code, s.name_cn, s.name_en, " ".join(s.channels), mark)
    counts = [f"{len(stocks)} shown" + (f" for {search!r}" if search else "")]
    if hidden:  # suspended stocks that match but were left out
        counts.append(f"{hidden} suspended hidden (--include-suspended)")
    parts = [f"{k} list {v}" for k, v in sorted(universe.sources.items())]
    parts.append(f"fetched {_hk_time(universe.fetched_at)}")
    if universe.suspended_checked_at is None:
        parts.append("suspensions not checked")
    else:
        parts.append(f"suspensions checked {_hk_time(universe.suspended_checked_at)}")
    console.print(table)
    for line in (counts, parts):
        console.print(" · ".join(line), style="dim", markup=False, highlight=False)
