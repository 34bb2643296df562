"""``hkticks serve``: run the embedded AllTick-compatible server until Ctrl-C.

Useful to point any AllTick client (hkticks itself, or your own code) at a
simulated Hong Kong market: same paths, frames, limits and error codes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import click

from hkticks.alltick.urls import redact
from hkticks.cli import common
from hkticks.stopping import StopFlag, stop_on_signals


@click.command("serve")
@common.server_options()
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
    type=common.Duration(),
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
@common.scenario_option()
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
        default_token = ctx.get_parameter_source("token") == click.core.ParameterSource.DEFAULT
        click.echo("\n".join(job.banner(default_token=default_token)))
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
