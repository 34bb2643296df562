"""``hkticks dash``: the board's heatmap, table, alerts and charts in a local web page."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from hkticks.cli import common


@click.command()
@click.argument("symbols", nargs=-1)
@common.selection_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@common.dash_auth_option(
    "Access token the page asks for once (required with a --host other than loopback)."
)
@click.option("--book", is_flag=True, help="Also subscribe to order books (the depth ladder).")
@common.heatmap_options()
@click.option("--colors", type=click.Choice(["west", "cn"]), default="west", show_default=True)
@common.duration_option("Stop after this long.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@common.scenario_option()
@common.demo_tuning_options
@common.provider_options
def dash(symbols: tuple[str, ...], **opts: Any) -> None:
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
    from hkticks.run.dash_job import DashOptions, run_dash
    from hkticks.run.source import open_source

    symbols_file, include_suspended = opts.pop("symbols_file"), opts.pop("include_suspended")
    open_browser = opts.pop("open_browser")
    options = DashOptions(
        **{k: opts.pop(k) for k in ("host", "port", "auth", "book", "scale", "colors")},
        size=opts.pop("heatmap_size"),
        sectors_file=opts.pop("sectors_file"),
        duration=opts.pop("duration"),
    )
    spec = common.source_spec(demo_scenario=opts.pop("scenario") or "anomalies", **opts)
    with open_source(spec) as provider:
        _ = provider.token  # before any slow universe fetch
        codes, universe = provider.symbols(
            symbols, symbols_file, include_suspended=include_suspended, warn=common.warn
        )
        names = universe.names(codes) if universe is not None else {}
        result = run_dash(
            provider,
            codes,
            names,
            options,
            note=common.warn,
            on_start=_browser if open_browser else None,
        )
    click.echo(f"hkticks: {result.summary()}", err=True)


def _browser(url: str) -> None:
    import webbrowser

    webbrowser.open(url)
