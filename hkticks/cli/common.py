"""Options and set-up shared by the commands that talk to a provider."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
import orjson

from hkticks.alltick import protocol as alltick
from hkticks.alltick.urls import redact
from hkticks.analysis.alert_config import HOURS, KINDS
from hkticks.errors import UsageError
from hkticks.run.source import SourceSpec

F = TypeVar("F", bound=Callable[..., Any])

PLAN_CHOICE = click.Choice(sorted(alltick.PLANS, key=lambda p: alltick.PLANS[p].total_symbols))


def warn(message: str) -> None:
    """One line on stderr, prefixed ``hkticks:``: notes and warnings of a command
    (secrets masked, as in every line hkticks shows)."""
    click.echo(f"hkticks: {redact(message)}", err=True)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Keep a source option in ``ctx.meta`` (so commands inherit it without a new argument)."""
    if value is not None:
        ctx.meta[f"hkticks.{param.name}"] = value
    return value


def _meta(name: str) -> Any:
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(f"hkticks.{name}")


def remote_source() -> str | None:
    """``--from nats://HOST:4222/PREFIX`` of the running command, if given."""
    value = _meta("from_")
    return str(value) if value else None


def source_spec(
    *,
    demo: bool,
    token: str | None,
    url: str | None,
    rest_url: str | None,
    plan: str | None,
    **demo_options: Any,
) -> SourceSpec:
    """The :class:`SourceSpec` of the running command's provider options
    (``--from --consumer --since --shard`` included); ``demo_options`` are its
    ``demo_rate``, ``demo_seed``, ``demo_scenario``, ``demo_truth``."""
    since = _meta("since")
    if since and remote_source():
        from hkticks.feed.nats_source import parse_since

        since_ms: int | None = parse_since(since)
    else:
        since_ms = 0 if since else None  # refused by the spec: --since needs --from
    spec = SourceSpec(
        demo=demo,
        token=token,
        url=url,
        rest_url=rest_url,
        plan=plan,
        nats=remote_source(),
        consumer=_meta("consumer"),
        since_ms=since_ms,
        shard=_meta("shard"),
        **demo_options,
    )
    spec.check()
    return spec


def _apply(options: Sequence[Callable[[Any], Any]], func: F) -> F:
    """``func`` under every decorator of ``options``, the first outermost (as written)."""
    for option in reversed(options):
        func = option(func)
    return func


def heatmap_options(sizes: tuple[str, ...] = ("cap", "turnover")) -> Callable[[F], F]:
    """``--size --scale --sectors``: the heatmap's tile area, colour scale and groups, the
    same for the terminal board and the web dashboard."""
    what = {
        "cap": "market cap (HK shares x price)",
        "turnover": "the day's turnover",
        "equal": "an equal grid sorted by change",
    }
    return lambda func: _apply(
        [
            click.option(
                "--size",
                "heatmap_size",
                type=click.Choice(list(sizes)),
                default="cap",
                show_default=True,
                help="Heatmap tile area: " + ", ".join(what[s] for s in sizes) + ".",
            ),
            click.option(
                "--scale",
                type=click.FloatRange(min=0.1),
                default=3.0,
                show_default=True,
                help="Heatmap: change in percent at full colour (the legend's ends).",
            ),
            click.option(
                "--sectors",
                "sectors_file",
                type=click.Path(dir_okay=False),
                default=None,
                help="Heatmap groups from a CSV of code,sector (else the config's [sectors] table).",
            ),
        ],
        func,
    )


def selection_options(func: F) -> F:
    """``--symbols-file`` and ``--include-suspended``: which symbols a streaming command takes
    (passed to :meth:`hkticks.run.source.Provider.symbols`)."""
    func = click.option(
        "--include-suspended", is_flag=True, help="With the universe, keep suspended stocks too."
    )(func)
    return click.option(
        "--symbols-file",
        metavar="PATH",
        help="Read symbols from a file (- for stdin), one per line, # comments.",
    )(func)


def _remembered(*names: str, metavar: str, help: str) -> Any:  # noqa: A002 (click's name)
    """A source option kept in ``ctx.meta`` (see :func:`_remember`), not passed to the command."""
    return click.option(*names, metavar=metavar, expose_value=False, callback=_remember, help=help)


_PROVIDER_OPTIONS = [
    click.option(
        "--demo", is_flag=True, help="Use the built-in simulated market (no token, no network)."
    ),
    click.option(
        "--token",
        metavar="TOKEN",
        default=None,
        help="AllTick token (default: $HKTICKS_TOKEN, $ALLTICK_TOKEN, config file).",
    ),
    click.option(
        "--url",
        metavar="URL",
        default=None,
        help="WebSocket endpoint (default: $HKTICKS_URL or AllTick's).",
    ),
    click.option(
        "--rest-url",
        metavar="URL",
        default=None,
        help="REST base URL (default: $HKTICKS_REST_URL or AllTick's).",
    ),
    click.option(
        "--plan",
        type=PLAN_CHOICE,
        default=None,
        help="Your AllTick plan; sets connection and symbol limits (default: basic).",
    ),
    _remembered(
        "--from",
        "from_",
        metavar="nats://HOST:4222/PREFIX",
        help="Read trades from a NATS JetStream stream another hkticks publishes "
        "(record --out nats://...) instead of AllTick; no token needed.",
    ),
    _remembered(
        "--consumer",
        metavar="NAME",
        help="With --from: a durable consumer that resumes where it stopped.",
    ),
    _remembered(
        "--since",
        metavar="HH:MM",
        help="With --from: start from this Hong Kong time today (default: the last "
        "trade of each symbol).",
    ),
    _remembered(
        "--shard",
        metavar="I/N",
        help="Only shard I of N of the symbols (split by code, the same on every machine).",
    ),
]


def provider_options(func: F) -> F:
    """``--token --url --rest-url --plan --demo`` for any command that connects,
    and ``--from --consumer --since --shard`` (read with :func:`remote_source`,
    :func:`source_spec`; not passed to the command)."""
    return _apply(_PROVIDER_OPTIONS, func)


def _check_scenario(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from hkticks.server import scenarios

    try:
        scenarios.make(value)  # the name and its parameters, checked before anything starts
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def scenario_option(default: str | None = None) -> Callable[[F], F]:
    """``--scenario NAME``: a named scenario of the simulated market (see ``hkticks serve -h``)."""
    return click.option(
        "--scenario",
        metavar="NAME",
        default=default,
        callback=_check_scenario,
        help="Simulated market only: a named scenario to inject (anomalies, none, ...; "
        "NAME:key=value,... sets its parameters)"
        + ("" if default is None else f"  [default: {default}]"),
    )


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``"30s"``, ``"10m"``, ``"1.5h"``, ``"1h30m"``, ``"90"`` (seconds) -> seconds (> 0)."""
    s = text.strip()
    total, pos = 0.0, 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m or m.end() == pos:
            break
        total += float(m.group(1)) * _UNITS[(m.group(2) or "").lower()]
        pos = m.end()
        while pos < len(s) and s[pos] == " ":
            pos += 1
    if not s or pos != len(s):
        raise UsageError(f"invalid duration {text!r}: use e.g. 30s, 10m, 1h30m, 2h")
    if total <= 0:
        raise UsageError(f"invalid duration {text!r}: it must be longer than zero")
    return total


class Duration(click.ParamType):
    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


# the engine's flags as the command receives them (see hkticks.run.alerts_job.build_config)
ENGINE_FLAGS = (
    "kinds",
    "hours",
    "cooldown",
    "warmup",
    "spike_ratio",
    "block_floor",
    "move_pct",
    "move_window",
    "rvol_threshold",
)


def _threshold(name: str, kind: click.ParamType, help_text: str, dest: str | None = None) -> Any:
    """An engine flag that overrides ``[alerts]`` of the config file (``None``: not given;
    the help ends with the built-in default in brackets)."""
    return click.option(name, *([dest] if dest else []), type=kind, default=None, help=help_text)


_ENGINE_OPTIONS = [
    click.option(
        "--kinds",
        metavar="LIST",
        default=None,
        help=f"Alert kinds to raise, comma-separated (default: all: {','.join(KINDS)}).",
    ),
    click.option(
        "--hours",
        type=click.Choice(HOURS),
        default=None,
        help="hk: only the continuous sessions count (auctions, lunch, nights left out); "
        "always: every hour (the simulated market). Default: always with --demo, else hk.",
    ),
    click.option(
        "--history",
        metavar="GLOB",
        default=None,
        help="Recordings of previous days: baselines for rvol, breakout, volume_spike and "
        "block_trade (computed once, cached).",
    ),
    click.option(
        "--history-days",
        type=click.IntRange(1, 250),
        default=20,
        show_default=True,
        help="With --history: the last N trading days count.",
    ),
    _threshold("--cooldown", Duration(), "Quiet time per (symbol, kind) after an alert [60s]."),
    _threshold(
        "--warmup", Duration(), "Trading time seen before volume_spike vs the intraday rate [2m]."
    ),
    _threshold(
        "--spike-ratio",
        click.FloatRange(min=1),
        "volume_spike: trades in a window vs expected [3].",
    ),
    _threshold(
        "--block-floor", click.FloatRange(min=0), "block_trade: minimum turnover, HK$ [20000000]."
    ),
    _threshold(
        "--move-pct", click.FloatRange(min=0), "price_move: percent vs --move-window earlier [10]."
    ),
    _threshold(
        "--move-window", Duration(), "price_move: compared with the price this long before [5m]."
    ),
    _threshold(
        "--rvol",
        click.FloatRange(min=0),
        "rvol: relative volume to alert at [3].",
        "rvol_threshold",
    ),
]


def engine_options(func: F) -> F:
    """The engine's flags (over ``[alerts]`` in the config file), shared by ``alerts`` and ``replay --alerts``."""
    return _apply(_ENGINE_OPTIONS, func)


def parse_symbols(values: tuple[str, ...]) -> list[str] | None:
    """``--symbols 700,9988 --symbols 3690`` -> five-digit codes (``None`` when not given)."""
    given = [s for v in values for s in v.replace(",", " ").split()]
    if not given:
        return None
    from hkticks.symbols.universe import normalise_all

    return normalise_all(given)


def window_options(func: F) -> F:
    """``--symbols --from --to``: which trades of a recording a reading command takes
    (``symbols``, ``start``, ``end``; see :func:`parse_symbols`)."""
    bound = "exchange time (HK time, every day; or YYYY-MM-DD[ HH:MM])."
    return _apply(
        [
            click.option(
                "--symbols",
                "symbols",
                multiple=True,
                metavar="CODES",
                help="Only these symbols (e.g. 700,9988; repeatable).",
            ),
            click.option("--from", "start", metavar="HH:MM", help="From this " + bound),
            click.option("--to", "end", metavar="HH:MM", help="Before this " + bound),
        ],
        func,
    )


SORT_CHOICES = ("code", "change", "volume", "active")


def board_options(sort_help: str) -> Callable[[F], F]:
    """``--sort --colors --names``: the board's row order, colours and names (``sort``,
    ``colors``, ``name_lang``)."""
    return lambda func: _apply(
        [
            click.option("--sort", type=click.Choice(SORT_CHOICES), default=None, help=sort_help),
            click.option(
                "--colors",
                type=click.Choice(["west", "cn"]),
                default="west",
                show_default=True,
                help="west: green up, red down; cn: red up, green down (mainland convention).",
            ),
            click.option(
                "--names",
                "name_lang",
                type=click.Choice(["en", "cn"]),
                default="en",
                show_default=True,
                help="Show English or Chinese names.",
            ),
        ],
        func,
    )


def server_options(what: str = "", listen: str | None = None) -> Callable[[F], F]:
    """``--host --port --rest-port --token --plan`` of the embedded AllTick-compatible
    server (``what``: the help's prefix, e.g. ``"With --serve: "``; ``listen``: that of
    ``--host --port``, default ``what``)."""
    at = what if listen is None else listen
    return lambda func: _apply(
        [
            click.option(
                "--host", default="127.0.0.1", show_default=True, help=at + "Address to listen on."
            ),
            click.option(
                "--port",
                type=click.IntRange(0, 65535),
                default=8765,
                show_default=True,
                help=at + "WebSocket port (0: any free port).",
            ),
            click.option(
                "--rest-port",
                type=click.IntRange(0, 65535),
                default=None,
                help=what + "REST and Stock Connect list port  [default: --port + 1]",
            ),
            click.option(
                "--token",
                default="demo",
                show_default=True,
                metavar="TOKEN",
                help=what + "The token clients must send.",
            ),
            click.option(
                "--plan",
                type=PLAN_CHOICE,
                default="all-hk",
                show_default=True,
                help=what + "Plan limits.",
            ),
        ],
        func,
    )


def demo_tuning_options(func: F) -> F:
    """The hidden ``--demo-rate --demo-seed`` of the simulated market (tests, benchmarks)."""
    return _apply(
        [
            click.option("--demo-rate", type=float, default=200.0, hidden=True),
            click.option("--demo-seed", type=int, default=None, hidden=True),
        ],
        func,
    )


def events_option(help_text: str) -> Callable[[F], F]:
    """``--events PATH`` (repeatable, ``events_files``): session events sidecars to read."""
    return click.option("--events", "events_files", multiple=True, metavar="PATH", help=help_text)


def duration_option(help_text: str = "Stop after this long (e.g. 30s, 10m).") -> Callable[[F], F]:
    """``--duration``: how long a streaming command runs (``None``: until stopped)."""
    return click.option("--duration", type=Duration(), default=None, help=help_text)


def dash_auth_option(help_text: str) -> Callable[[F], F]:
    """``--auth TOKEN`` (or ``$HKTICKS_DASH_AUTH``): the access token the dashboard asks for."""
    return click.option(
        "--auth", metavar="TOKEN", envvar="HKTICKS_DASH_AUTH", default=None, help=help_text
    )


def json_option(help_text: str) -> Callable[[F], F]:
    """``--json`` (``as_json``): JSON instead of the command's lines or tables."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def print_json(doc: Any) -> None:
    """``doc`` as one indented JSON object on stdout."""
    sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()
