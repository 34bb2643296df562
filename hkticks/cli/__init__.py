"""The ``hkticks`` command line.

Commands live in their own modules and are imported only when run, so
``hkticks --help`` stays fast. :func:`main` maps every
:class:`~hkticks.errors.HkticksError` to one clear line on stderr and its
exit code: no tracebacks for expected failures.

Commands turn options into the specs of :mod:`hkticks.run` (source, outputs,
the record and alerts jobs), run them, print and map errors to exit codes.

Must not: hold pipeline, protocol, storage or analysis logic; import another
command (shared options and printing live in ``common.py`` and
``alert_lines.py``); be imported by the library.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from typing import Any

import click

from hkticks import __version__
from hkticks.alltick.urls import redact
from hkticks.errors import HkticksError

# name -> "module:attribute"; each module owns one command.
COMMANDS: dict[str, str] = {
    "serve": "hkticks.cli.serve_cmd:serve",
    "record": "hkticks.cli.record_cmd:record",
    "watch": "hkticks.cli.watch_cmd:watch",
    "symbols": "hkticks.cli.symbols_cmd:symbols",
    "bench": "hkticks.cli.bench_cmd:bench",
    "replay": "hkticks.cli.replay_cmd:replay",
    "stats": "hkticks.cli.stats_cmd:stats",
    "alerts": "hkticks.cli.alerts_cmd:alerts",
    "compact": "hkticks.cli.compact_cmd:compact",
    "validate": "hkticks.cli.validate_cmd:validate",
    "dash": "hkticks.cli.dash_cmd:dash",
}

HELP_SUMMARIES: dict[str, str] = {
    "serve": "Run the embedded AllTick-compatible server (simulated HK market).",
    "record": "Record live trades to JSONL, CSV or SQLite.",
    "watch": "Live quote board in the terminal.",
    "symbols": "The Stock Connect (southbound) universe: list, search, refresh.",
    "bench": "Measure throughput and latency against the embedded server.",
    "replay": "Replay recordings as a live board, JSONL, or over a WebSocket.",
    "stats": "Summarise recordings per symbol.",
    "alerts": "Volume spikes, block trades, sharp moves, rvol and breakouts, live.",
    "compact": "Add recordings to a Parquet archive (one folder per HK trading day).",
    "validate": "Check recordings: duplicates, order, prices, lag, gaps vs minute bars.",
    "dash": "Live dashboard in the browser: heatmap, board, alerts and charts.",
}


def _available(name: str) -> bool:
    module = COMMANDS[name].partition(":")[0]
    return importlib.util.find_spec(module) is not None


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not _available(cmd_name):
            return None
        module_name, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if args and self.get_command(ctx, name) is None and not name.startswith("-"):
            known = self.list_commands(ctx)
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"commands: {', '.join(known)}"
            raise click.UsageError(f"no command {name!r}: {hint}", ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, HELP_SUMMARIES.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hkticks")
def cli() -> None:
    """Stream live Hong Kong Stock Connect trades over one WebSocket.

    \b
    Try it with the built-in simulated market (no token, no network):
      hkticks watch 00700 09988 --demo
      hkticks record 00700 09988 --demo --out ticks.jsonl --duration 30s
    """


def fail(message: str, code: int = 1) -> None:
    click.echo(f"hkticks: error: {redact(message)}", err=True)
    sys.exit(code)


def usage_message(exc: click.UsageError) -> str:
    """``Missing option '--out'`` -> ``missing option '--out' (see hkticks record --help)``."""
    text = " ".join(exc.format_message().split()).rstrip(".")
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    ctx = exc.ctx
    if ctx is not None and "--help" not in text:
        text += f" (see {ctx.command_path} --help)"
    return text


def main(argv: list[str] | None = None) -> Any:
    """Console entry point."""
    try:
        return cli.main(args=argv, prog_name="hkticks", standalone_mode=False)
    except HkticksError as exc:
        fail(str(exc), exc.exit_code)
    except click.exceptions.Abort:
        click.echo("hkticks: aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
            click.echo(exc.ctx.get_help())  # `hkticks` alone asks for the help
            sys.exit(0)
        # Click's own usage errors in the same one-line style as ours
        fail(usage_message(exc), exc.exit_code)
    except click.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except KeyboardInterrupt:
        click.echo("hkticks: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): exit quietly
        try:
            sys.stdout = None  # type: ignore[assignment]
        finally:
            sys.exit(0)
    return None
