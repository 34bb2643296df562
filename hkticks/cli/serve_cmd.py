"""``hkticks serve``: run the embedded AllTick-compatible server until Ctrl-C.

Useful to point any AllTick client (hkticks itself, or your own code) at a
simulated Hong Kong market: same paths, frames, limits and error codes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import click

from hkticks.alltick import protocol as alltick
from hkticks.alltick.urls import redact
from hkticks.cli.common import Duration, scenario_option, server_options
from hkticks.market_hours import market_session, simulated_label
from hkticks.stopping import StopFlag, stop_on_signals

if TYPE_CHECKING:
    from hkticks.run.serve_job import ServeJob


@click.command("serve")
@server_options()
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=200.0,
    show_default=True,
    help="Trades per second across the whole market.",
)
@click.option(
    "--firehose", is_flag=True, help="Push each connection's symbols as fast as it reads."
)
@click.option(
    "--firehose-count",
    type=click.IntRange(min=1),
    default=None,
    help="With --firehose: stop after this many trades per connection.",
)
@click.option("--seed", type=int, default=None, help="Make the simulation reproducible.")
@click.option(
    "--heartbeat-timeout",
    type=Duration(),
    default="30s",
    show_default=True,
    help="Close connections silent for this long (no 22000 heartbeat).",
)
@click.option("--no-pacing", is_flag=True, help="Do not enforce the 1 s / 3 s request spacing.")
@click.option(
    "--over-limit",
    type=click.Choice(["ignore", "603"]),
    default="ignore",
    show_default=True,
    help="Symbols beyond the plan: ignore them (as AllTick does) or answer 603.",
)
@scenario_option()
@click.option(
    "--truth",
    metavar="PATH",
    default=None,
    help="With --scenario: append each injected event to PATH (JSONL)  "
    "[default: $XDG_CACHE_HOME/hkticks/scenario-NAME-truth.jsonl]",
)
@click.option(
    "--quirks",
    "quirks",
    multiple=True,
    type=click.Choice(["strings", "seconds", "numbers", "extras"]),
    help="Push a variant a client must tolerate instead of AllTick's documented types "
    "(seq/tick_time integers, ms; prices strings): 'strings' seq/tick_time as strings, "
    "'seconds' tick_time in seconds, 'numbers' prices/volumes as JSON numbers, 'extras' "
    "undocumented answer fields (invalid_codes, limits, reasons). Repeatable.",
)
@click.option(
    "--tls-cert",
    metavar="PEM",
    type=click.Path(dir_okay=False),
    default=None,
    help="Serve wss:// and https:// with this certificate (PEM; may hold the key too).",
)
@click.option(
    "--tls-key",
    metavar="PEM",
    type=click.Path(dir_okay=False),
    default=None,
    help="Its key.",
)
@click.option(
    "--chaos",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="N",
    help="Kill every open socket N times an hour, at seeded random times (--seed).",
)
@click.option(
    "--send-log",
    metavar="PATH",
    default=None,
    hidden=True,
    help="Benchmarks: on exit, write 'symbol,seq,send_ns' for every trade pushed.",
)
@click.pass_context
def serve(ctx: click.Context, no_pacing: bool, **opts: Any) -> None:
    """Run the embedded AllTick-compatible server (simulated HK market).

    Prices are SIMULATED, not real quotes. Stop with Ctrl-C.

    \b
    Examples:
      hkticks serve --port 8765 --token t
      hkticks serve --rate 2000 --seed 42 --plan premium
    """
    from hkticks.run.serve_job import ServeJob

    if opts["rest_port"] and opts["rest_port"] == opts["port"]:
        raise click.BadParameter("must differ from --port", param_hint="--rest-port")
    if opts["heartbeat_timeout"] <= 0:
        raise click.BadParameter("must be positive", param_hint="--heartbeat-timeout")
    job = ServeJob(enforce_pacing=not no_pacing, **opts)
    _log_warnings()
    job.start()  # HkticksError (one line, non-zero exit) when a port is taken
    stop = StopFlag()
    signals = contextlib.ExitStack()
    # SIGINT too, explicitly (stop_on_signals sets both): a process started with SIGINT
    # ignored (a background job of a non-interactive shell, some test runners) never
    # gets the KeyboardInterrupt Python installs only when SIGINT is at its default
    signals.enter_context(stop_on_signals(stop))
    try:
        _banner(job, opts, token_source=ctx.get_parameter_source("token"))
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signals.close()
        started = time.monotonic()
        connections = job.stop()
        click.echo(
            f"stopped after serving {connections} connection{'s' if connections != 1 else ''} "
            f"(shutdown took {time.monotonic() - started:.1f} s)",
            err=True,
        )


def _banner(
    job: ServeJob, opts: dict[str, Any], *, token_source: click.core.ParameterSource | None
) -> None:
    server, token, plan = job.server, opts["token"], opts["plan"]
    limits = alltick.PLANS[plan]
    rate, firehose = opts["rate"], opts["firehose"]
    mode = "firehose (as fast as each client reads)" if firehose else f"{rate:g} trades/s"
    click.echo(
        f"hkticks serve: SIMULATED Hong Kong market (not real prices): "
        f"{len(server.stocks)} stocks, {mode}"
    )
    session = market_session(time.time())
    click.echo(
        f"  session    {simulated_label(session)}"
        + (
            ""
            if session.trading
            else f"; trades carry the time they are made ({session.until(time.time())})"
        )
    )
    click.echo(f"  WebSocket  {redact(server.ws_url + '?token=' + token)}")
    click.echo(f"  REST       {server.rest_url}")
    click.echo(f"  SSE list   {server.sse_url}")
    click.echo(f"  SZSE list  {server.szse_url}")
    if token_source == click.core.ParameterSource.DEFAULT:
        click.echo("  token      the public default shown by --help; set your own with --token")
    else:
        click.echo("  token      the one given with --token (shown as ***)")
    click.echo(
        f"  plan       {plan}: {limits.max_connections} connections per token, "
        f"{limits.max_symbols} symbols per connection"
    )
    click.echo(
        f"Point a client at it, e.g.: hkticks watch 00700 --url {server.ws_url} "
        f"--rest-url {server.rest_url} --token ...   Press Ctrl-C to stop."
    )
    if job.chaos:
        click.echo(f"  chaos      {job.chaos:g} socket kills an hour (every open connection reset)")
    if job.scenario is not None:
        click.echo(f"  scenario   {job.scenario}: injected events logged to {job.truth}")


class _RedactingFormatter(logging.Formatter):
    """Server warnings on stderr, with any ``token=...`` masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _log_warnings() -> None:
    """Show the server's warnings and errors (a long-running server should not fail silently)."""
    handler = logging.StreamHandler()
    handler.setFormatter(_RedactingFormatter("hkticks serve: %(levelname)s: %(message)s"))
    logger = logging.getLogger("hkticks.server")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
