"""``hkticks serve``: run the embedded AllTick-compatible server until Ctrl-C.

Useful to point any AllTick client (hkticks itself, or your own code) at a
simulated Hong Kong market: same paths, frames, limits and error codes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING

import click

from hkticks.alltick import protocol as alltick
from hkticks.alltick.urls import redact
from hkticks.cli.common import PLAN_CHOICE, Duration, scenario_option
from hkticks.market_hours import market_session, simulated_label
from hkticks.stopping import StopFlag, stop_on_signals

if TYPE_CHECKING:
    from hkticks.server import MarketServer


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="WebSocket port (0: any free port).",
)
@click.option(
    "--rest-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="REST and Stock Connect list port  [default: --port + 1]",
)
@click.option(
    "--token",
    default="demo",
    show_default=True,
    metavar="TOKEN",
    help="The token clients must send.",
)
@click.option("--plan", type=PLAN_CHOICE, default="all-hk", show_default=True, help="Plan limits.")
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
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    rest_port: int | None,
    token: str,
    plan: str,
    rate: float,
    firehose: bool,
    firehose_count: int | None,
    seed: int | None,
    heartbeat_timeout: float,
    no_pacing: bool,
    over_limit: str,
    quirks: tuple[str, ...],
    tls_cert: str | None,
    tls_key: str | None,
    chaos: float | None,
    scenario: str | None,
    truth: str | None,
    send_log: str | None,
) -> None:
    """Run the embedded AllTick-compatible server (simulated HK market).

    Prices are SIMULATED, not real quotes. Stop with Ctrl-C.

    \b
    Examples:
      hkticks serve --port 8765 --token t
      hkticks serve --rate 2000 --seed 42 --plan premium
    """
    from hkticks.server import MarketServer

    if rest_port is None:
        rest_port = port + 1 if port else 0
    if rest_port and rest_port == port:
        raise click.BadParameter("must differ from --port", param_hint="--rest-port")
    if heartbeat_timeout <= 0:
        raise click.BadParameter("must be positive", param_hint="--heartbeat-timeout")
    if scenario is not None and scenario != "none" and truth is None:
        from hkticks.config import cache_dir

        cache_dir().mkdir(parents=True, exist_ok=True)
        truth = str(cache_dir() / f"scenario-{scenario.partition(':')[0]}-truth.jsonl")
    server = MarketServer(
        host=host,
        port=port,
        rest_port=rest_port,
        token=token,
        plan=plan,
        rate=rate,
        firehose=firehose,
        firehose_count=firehose_count,
        seed=seed,
        heartbeat_timeout=heartbeat_timeout,
        enforce_pacing=not no_pacing,
        over_limit=over_limit,
        stamp_sent=send_log is not None,
        quirks=quirks,
        tls_cert=tls_cert,
        tls_key=tls_key,
        scenario=None if scenario in (None, "none") else scenario,
        scenario_truth=truth,
    )
    _log_warnings()
    server.start()  # HkticksError (one line, non-zero exit) when a port is taken
    chaos_thread = None
    if chaos:
        from hkticks.server.chaos import Chaos

        chaos_thread = Chaos(server, chaos, seed).start()
    stop = StopFlag()
    signals = contextlib.ExitStack()
    # SIGINT too, explicitly (stop_on_signals sets both): a process started with SIGINT
    # ignored (a background job of a non-interactive shell, some test runners) never
    # gets the KeyboardInterrupt Python installs only when SIGINT is at its default
    signals.enter_context(stop_on_signals(stop))
    try:
        _banner(server, token, plan, rate, firehose, token_source=ctx.get_parameter_source("token"))
        if chaos:
            click.echo(f"  chaos      {chaos:g} socket kills an hour (every open connection reset)")
        if scenario not in (None, "none"):
            click.echo(f"  scenario   {scenario}: injected events logged to {truth}")
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signals.close()
        started = time.monotonic()
        connections = len(server.connections())
        if chaos_thread is not None:
            chaos_thread.stop()
        server.stop()
        if server.dirty is not None:
            server.dirty.close()
        if send_log is not None:
            _write_send_log(send_log, server.sent_times())
        click.echo(
            f"stopped after serving {connections} connection{'s' if connections != 1 else ''} "
            f"(shutdown took {time.monotonic() - started:.1f} s)",
            err=True,
        )


def _write_send_log(path: str, times: list[tuple[str, int, int]]) -> None:
    """The send time of every trade push, for ``hkticks bench``'s latency figures
    (``tick_time`` has only millisecond resolution)."""
    with open(path, "w", encoding="ascii") as fh:
        fh.writelines(f"{symbol},{seq},{ns}\n" for symbol, seq, ns in times)


def _banner(
    server: MarketServer,
    token: str,
    plan: str,
    rate: float,
    firehose: bool,
    *,
    token_source: click.core.ParameterSource | None,
) -> None:
    limits = alltick.PLANS[plan]
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
