"""``hkticks dash``: the board's heatmap, table, alerts and charts in a local web page."""

from __future__ import annotations

import logging
import sys
import time

import click

from hkticks.cli.common import (
    Duration,
    provider_options,
    scenario_option,
    selection_options,
    source_spec,
    warn,
)


@click.command()
@click.argument("symbols", nargs=-1)
@selection_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option(
    "--auth",
    metavar="TOKEN",
    envvar="HKTICKS_DASH_AUTH",
    default=None,
    help="Access token the page asks for once (required with a --host other than loopback).",
)
@click.option("--book", is_flag=True, help="Also subscribe to order books (the depth ladder).")
@click.option(
    "--size",
    "heatmap_size",
    type=click.Choice(["cap", "turnover"]),
    default="cap",
    show_default=True,
    help="Heatmap tile area: market cap, or the day's turnover.",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0.1),
    default=3.0,
    show_default=True,
    help="Heatmap: change in percent at full colour.",
)
@click.option("--colors", type=click.Choice(["west", "cn"]), default="west", show_default=True)
@click.option(
    "--sectors",
    "sectors_file",
    metavar="CSV",
    default=None,
    help="Heatmap groups from a CSV of code,sector (else the config's [sectors] table).",
)
@click.option("--duration", type=Duration(), default=None, help="Stop after this long.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@scenario_option()
@click.option("--demo-rate", type=float, default=200.0, hidden=True)
@click.option("--demo-seed", type=int, default=None, hidden=True)
@provider_options
def dash(
    symbols: tuple[str, ...],
    symbols_file: str | None,
    include_suspended: bool,
    host: str,
    port: int,
    auth: str | None,
    book: bool,
    heatmap_size: str,
    scale: float,
    colors: str,
    sectors_file: str | None,
    duration: float | None,
    open_browser: bool,
    scenario: str | None,
    demo_rate: float,
    demo_seed: int | None,
    demo: bool,
    token: str | None,
    url: str | None,
    rest_url: str | None,
    plan: str | None,
) -> None:
    """Live dashboard in the browser: heatmap, board, alerts and charts.

    Serves one local page (every script and style from hkticks itself) that
    updates over one WebSocket. Binds 127.0.0.1 unless --host says otherwise;
    a non-loopback --host requires --auth.

    \b
    Examples:
      hkticks dash --demo                 # then open the URL it prints
      hkticks dash 00700 09988 03690 --demo --port 8800
      hkticks dash --from nats://127.0.0.1:4222   # needs nats-server
    """
    logging.basicConfig(level=logging.WARNING, format="hkticks: %(message)s", stream=sys.stderr)
    from hkticks.feed.queue import TickQueue
    from hkticks.feed.session import SessionConfig
    from hkticks.market_hours import calendar as market_calendar
    from hkticks.run.alerts_job import board_alerts
    from hkticks.run.source import open_source
    from hkticks.stopping import StopFlag
    from hkticks.watch import layout as saved
    from hkticks.watch.live import LiveBoard
    from hkticks.watch.runner import warnings_to_queue
    from hkticks.watch.web.server import DashServer, serve_until_stopped

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
        token_value = provider.token  # before any slow universe fetch
        codes, universe = provider.symbols(
            symbols, symbols_file, include_suspended=include_suspended, warn=warn
        )
        names = universe.names(codes) if universe is not None else {}
        queue = TickQueue()
        feed = provider.feed(
            codes,
            queue,
            book_depth=10 if book else None,
            config=SessionConfig(calendar=None if provider.simulated else market_calendar()),
        )
        rest = provider.rest_client() if token_value else None  # --from: no REST
        # the same board as `hkticks watch`: model, buffers, pump, reference data
        board = LiveBoard(
            feed,
            queue,
            codes,
            names=names,
            rest=rest,
            no_reference="reading --from NATS",
            alerts=board_alerts(provider.simulated),
            book=book,
        )
        layout = saved.load()
        server = DashServer(
            pump=board.pump,
            model=board.model,
            buffers=board.buffers,
            host=host,
            port=port,
            auth=auth,
            size=heatmap_size,
            clamp=scale,
            colors=colors,
            watchlists=layout.watchlists,
            sectors=saved.load_sectors(sectors_file),
            history=board.history if rest is not None else None,
            request_shares=board.request_shares,
            simulated=provider.simulated,  # DEMO from the first frame, before any trade
        )
        stop = StopFlag()
        server.start()
        if open_browser:
            import webbrowser

            webbrowser.open(server.url)
        board.start()
        deadline = time.monotonic() + duration if duration else None
        try:
            with warnings_to_queue(queue):
                serve_until_stopped(server, stop, deadline=deadline, announce=warn)
        finally:
            board.stop()
        if server.error is not None:
            raise server.error
        tag = " [DEMO: simulated trades, not market data]" if server.is_simulated else ""
        click.echo(
            f"hkticks: dashboard closed ({stop.reason or 'stopped'}): {board.model.trades:,} "
            f"trade{'s' if board.model.trades != 1 else ''} of {len(codes)} "
            f"symbol{'s' if len(codes) != 1 else ''}, {len(server.alerts)} "
            f"alert{'s' if len(server.alerts) != 1 else ''}{tag}",
            err=True,
        )
