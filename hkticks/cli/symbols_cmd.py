"""``hkticks symbols``: list, search and refresh the Stock Connect universe."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from hkticks.cli import common
from hkticks.errors import UsageError
from hkticks.run.symbols_job import (
    stocks_to_show,
    universe_csv,
    universe_document,
    universe_table,
    universe_to_show,
)

FORMATS = ("table", "json", "csv", "codes")


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
@common.provider_options
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
    if common.remote_source():
        raise UsageError(
            "--from applies to watch and record; symbols lists the Stock Connect universe"
        )
    spec = common.source_spec(demo_rate=20.0, **provider)
    shown = search is not None or fmt is not None
    universe = universe_to_show(spec, refresh, (fmt or "").lower(), shown=shown, warn=common.warn)
    if universe is None:  # refreshed, and nothing more asked
        return
    select: dict[str, Any] = dict(channel=channel, search=search)
    stocks = stocks_to_show(universe, spec, include_suspended=include_suspended, **select)
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
        click.echo(universe_csv(universe, stocks), nl=False)
    else:
        matching = universe.select(include_suspended=True, **select)
        hidden = len(matching) - len(stocks)
        _print_table(*universe_table(universe, stocks, hidden=hidden, search=search))
    if search is not None and not stocks:
        suspended = universe.select(include_suspended=True, **select)
        extra = " (only suspended ones: add --include-suspended)" if suspended else ""
        common.warn(f"no stock matches {search!r}{extra}")
        sys.exit(1)


def _print_table(table: Any, footer: list[str]) -> None:
    """The table, at least 120 columns wide into a pipe or file, then its dim footer."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 120))
    console.print(table)
    for line in footer:
        console.print(line, style="dim", markup=False, highlight=False)
