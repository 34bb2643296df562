"""``hkticks watch``: the live quote board."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import click

from hkticks import config
from hkticks.alltick import protocol as alltick
from hkticks.cli.common import (
    Duration,
    heatmap_options,
    provider_options,
    scenario_option,
    selection_options,
    source_spec,
    warn,
)
from hkticks.feed.queue import TickQueue
from hkticks.feed.session import SessionConfig
from hkticks.feed.tickfeed import StartableFeed as Feed
from hkticks.market_hours import calendar as market_calendar
from hkticks.run.source import Provider, open_source

SORT_CHOICES = ("code", "change", "volume", "active")


@click.command()
@click.argument("symbols", nargs=-1)
@selection_options
@click.option(
    "--book", is_flag=True, help="Also show the best bid and ask with their sizes (board only)."
)
@click.option(
    "--sort",
    type=click.Choice(SORT_CHOICES),
    default=None,
    help="Row order: code, change (top gainers first), volume (day volume), active (most trades). Default: the order given.",
)
@click.option(
    "--colors",
    type=click.Choice(["west", "cn"]),
    default="west",
    show_default=True,
    help="west: green up, red down; cn: red up, green down (mainland convention).",
)
@click.option(
    "--names",
    "name_lang",
    type=click.Choice(["en", "cn"]),
    default="en",
    show_default=True,
    help="Show English or Chinese names.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Stream one JSON object per trade instead of the board (automatic when stdout is not a terminal).",
)
@click.option(
    "--duration", type=Duration(), default=None, help="Stop after this long (e.g. 30s, 10m)."
)
@click.option(
    "--heatmap",
    is_flag=True,
    help="Show the market heatmap (treemap of every symbol) instead of the table.",
)
@heatmap_options(("cap", "turnover", "equal"))
@click.option(
    "--bell", is_flag=True, help="Ring the terminal bell on each alert (board; off by default)."
)
@scenario_option()
@click.option("--demo-rate", type=float, default=200.0, hidden=True)
@click.option("--demo-seed", type=int, default=None, hidden=True)
@provider_options
def watch(
    symbols: tuple[str, ...],
    symbols_file: str | None,
    include_suspended: bool,
    book: bool,
    sort: str | None,
    colors: str,
    name_lang: str,
    as_json: bool,
    duration: float | None,
    heatmap: bool,
    heatmap_size: str,
    scale: float,
    sectors_file: str | None,
    bell: bool,
    scenario: str | None,
    demo_rate: float,
    demo_seed: int | None,
    demo: bool,
    token: str | None,
    url: str | None,
    rest_url: str | None,
    plan: str | None,
) -> None:
    """Live quote board in the terminal.

    One row per symbol: last price, change against the previous close, last
    trade size and side, trades and volume seen, the day's range, bid/ask
    with --book, the exchange time in Hong Kong time and its age. With no
    SYMBOLS, the Stock Connect (southbound) universe.

    \b
    Examples:
      hkticks watch 00700 09988 --demo
      hkticks watch 700 9988 3690 --book --colors cn --demo
      hkticks watch --sort change --demo
      hkticks watch 00700 --json --demo | jq .price
      hkticks watch 700 9988 --plan premium     # needs a token
    """
    json_mode = as_json or not sys.stdout.isatty()
    logging.basicConfig(level=logging.WARNING, format="hkticks: %(message)s", stream=sys.stderr)

    spec = source_spec(
        demo=demo,
        token=token,
        url=url,
        rest_url=rest_url,
        plan=plan,
        demo_rate=demo_rate,
        demo_seed=demo_seed,
        demo_scenario=scenario or "anomalies",
    )
    with open_source(spec) as provider:
        settings, token_value = provider.settings, provider.token  # before the universe fetch
        codes, universe = provider.symbols(
            symbols, symbols_file, include_suspended=include_suspended, warn=warn
        )
        names = universe.names(codes) if universe is not None else {}
        queue = TickQueue()
        feed = make_feed(codes, provider, queue, book=book and not json_mode)
        if json_mode:
            _watch_json(feed, queue, codes, duration)
        else:
            _watch_board(
                feed,
                queue,
                codes,
                names,
                settings=settings,
                token=token_value,
                book=book,
                sort=sort,
                colors=colors,
                name_lang=name_lang,
                duration=duration,
                bell=bell,
                heatmap=dict(
                    start="heatmap" if heatmap else "board",
                    heatmap_area=heatmap_size,
                    heatmap_scale=scale,
                    sectors_file=sectors_file,
                ),
            )


BOOK_LEVELS = 10  # the detail view's depth ladder


def make_feed(codes: list[str], provider: Provider, queue: TickQueue, *, book: bool) -> Feed:
    """The feed the board and the JSON stream read: AllTick, or the NATS stream of ``--from``."""
    return provider.feed(
        codes,
        queue,
        book_depth=BOOK_LEVELS if book else None,
        # no stale alarm while HKEX is shut (the simulated market never is)
        config=SessionConfig(calendar=None if provider.simulated else market_calendar()),
    )


def _watch_json(feed: Feed, queue: TickQueue, codes: list[str], duration: float | None) -> None:
    from hkticks.stopping import StopFlag, stop_on_signals
    from hkticks.watch.pump import run_json, silence_stdout

    stop = StopFlag()
    started = time.monotonic()
    deadline = started + duration if duration else None
    written = 0
    feed.start()
    try:
        with stop_on_signals(stop):
            written = run_json(
                feed,
                queue,
                sys.stdout.buffer,
                sys.stderr,
                stop,
                deadline=deadline,
                symbols=len(codes),
            )
    finally:
        feed.stop()
    if stop.reason == "pipe closed":
        silence_stdout()
        return
    if stop.reason in ("Ctrl-C", "SIGTERM") or sys.stderr.isatty():
        elapsed = time.monotonic() - started
        click.echo(
            f"hkticks: streamed {written:,} trades of {len(codes)} symbol"
            f"{'s' if len(codes) != 1 else ''} in {elapsed:.1f} s ({stop.reason or 'stopped'})",
            err=True,
        )


def _watch_board(
    feed: Feed,
    queue: TickQueue,
    codes: list[str],
    names: dict[str, tuple[str, str]],
    *,
    settings: config.Settings,
    token: str,
    book: bool,
    sort: str | None,
    colors: str,
    name_lang: str,
    duration: float | None,
    bell: bool = False,
    heatmap: dict[str, Any] | None = None,
) -> None:
    from hkticks.alltick.rest_client import RestClient
    from hkticks.run.alerts_job import board_alerts
    from hkticks.stopping import StopFlag
    from hkticks.watch import layout as saved
    from hkticks.watch.app import BoardApp
    from hkticks.watch.columns import ColumnLayout
    from hkticks.watch.live import LiveBoard
    from hkticks.watch.pump import run_app
    from hkticks.watch.view import board_summary

    options = dict(heatmap or {})
    layout = saved.load()
    sectors = saved.load_sectors(options.pop("sectors_file", None))
    rest = RestClient(
        settings.rest_url, token, alltick.PLANS[settings.plan], token_source=settings.token_source
    )
    live = LiveBoard(
        feed,
        queue,
        codes,
        names=names,
        rest=rest if token else None,  # --from: no token, no REST, no previous close
        no_reference="reading --from NATS",
        alerts=board_alerts(settings.demo),
        sort=sort or layout.sort or "given",
        book=book,
    )
    stop = StopFlag()
    app = BoardApp(
        live.model,
        pump=live.pump,
        buffers=live.buffers,
        colors=colors,
        names=name_lang,
        demo=settings.demo,
        layout=ColumnLayout(book=book, enabled=layout.columns),
        reverse=layout.reverse if sort is None else False,
        watchlists=layout.watchlists,
        watchlist=layout.watchlist,
        book_feed=book,
        history=live.history,
        request_shares=live.request_shares,
        sectors=sectors,
        save_layout=saved.save,
        save_watchlists=saved.save_watchlists,
        stop=stop,
        deadline=time.monotonic() + duration if duration else None,
        bell=bell,
        **options,
    )
    live.start()
    try:
        run_app(app, queue, stop)
    finally:
        live.stop()
    # only after a clean stop: an error is reported by the CLI as its one line
    click.echo(board_summary(live.model, time.time(), demo=app.simulated), err=True)
