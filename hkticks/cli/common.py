"""Options and set-up shared by the commands that talk to a provider."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from hkticks import config
from hkticks.alltick import protocol as alltick
from hkticks.errors import UsageError
from hkticks.symbols.universe import Universe, normalise_all, try_normalise

F = TypeVar("F", bound=Callable[..., Any])

PLAN_CHOICE = click.Choice(sorted(alltick.PLANS, key=lambda p: alltick.PLANS[p].total_symbols))


def warn(message: str) -> None:
    """One line on stderr, prefixed ``hkticks:``: notes and warnings of a command."""
    click.echo(f"hkticks: {message}", err=True)


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


def feed_token(settings: config.Settings) -> str:
    """The AllTick token, or ``""`` when the trades come from ``--from`` (no token needed)."""
    return "" if remote_source() else settings.require_token()


def open_feed(codes: list[str], *, settings: config.Settings, queue: Any, **kw: Any) -> Any:
    """The feed of a command: AllTick (:class:`Feed`), or the NATS stream of ``--from``.

    ``kw`` are :class:`Feed`'s options (``token``, ``book_depth``, ``max_connections``...);
    a NATS feed uses ``book_depth`` (books wanted) and ``dedup``.
    """
    source = remote_source()
    if source:
        from hkticks.feed.nats_source import NatsFeed, parse_since

        since = _meta("since")
        return NatsFeed(
            source,
            queue,
            codes,
            consumer=_meta("consumer"),
            since_ms=parse_since(since) if since else None,
            books=bool(kw.get("book_depth")),
        )
    from hkticks.feed.shards import Feed

    kw.setdefault("token_source", settings.token_source)
    return Feed(codes, url=settings.url, plan=alltick.PLANS[settings.plan], queue=queue, **kw)


def selection_options(func: F) -> F:
    """``--symbols-file`` and ``--include-suspended``: which symbols a streaming command takes
    (read with :func:`resolve_symbols`)."""
    func = click.option(
        "--include-suspended", is_flag=True, help="With the universe, keep suspended stocks too."
    )(func)
    return click.option(
        "--symbols-file",
        metavar="PATH",
        help="Read symbols from a file (- for stdin), one per line, # comments.",
    )(func)


def provider_options(func: F) -> F:
    """``--token --url --rest-url --plan --demo`` for any command that connects,
    and ``--from --consumer --since --shard`` (read with :func:`remote_source`,
    :func:`open_feed`, :func:`resolve_symbols`; not passed to the command)."""
    options = [
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
        click.option(
            "--from",
            "from_",
            metavar="nats://HOST:4222/PREFIX",
            expose_value=False,
            callback=_remember,
            help="Read trades from a NATS JetStream stream another hkticks publishes "
            "(record --out nats://...) instead of AllTick; no token needed.",
        ),
        click.option(
            "--consumer",
            metavar="NAME",
            expose_value=False,
            callback=_remember,
            help="With --from: a durable consumer that resumes where it stopped.",
        ),
        click.option(
            "--since",
            metavar="HH:MM",
            expose_value=False,
            callback=_remember,
            help="With --from: start from this Hong Kong time today (default: the last "
            "trade of each symbol).",
        ),
        click.option(
            "--shard",
            metavar="I/N",
            expose_value=False,
            callback=_remember,
            help="Only shard I of N of the symbols (split by code, the same on every machine).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@contextlib.contextmanager
def provider_settings(
    *,
    demo: bool,
    token: str | None,
    url: str | None,
    rest_url: str | None,
    plan: str | None,
    demo_rate: float = 200.0,
    demo_seed: int | None = None,
    demo_scenario: str | None = "anomalies",
    demo_truth: str | None = None,
) -> Iterator[config.Settings]:
    """Resolved settings; under ``--demo`` an embedded server runs for the block's lifetime.

    The config file is read and validated in both cases: a broken one is
    reported under ``--demo`` too, not only on the first real run. The demo
    market runs ``demo_scenario`` (default ``anomalies``: volume bursts, block
    trades and sharp moves from its third minute on), its truth logged to
    ``demo_truth`` when given.
    """
    source = remote_source()
    if source:
        if demo:
            raise UsageError("--from and --demo both name where trades come from: give one")
        from hkticks.feed.natsurl import import_nats, parse_nats_url

        parse_nats_url(source)
        import_nats("--from")
    elif _meta("consumer") or _meta("since"):
        raise UsageError("--consumer and --since apply to --from nats://...")
    resolved = config.resolve(token=token, url=url, rest_url=rest_url, plan=plan)
    if not demo:
        yield resolved
        return
    from hkticks.server.demo import start_demo

    demo_plan = plan or "all-hk"
    with start_demo(
        rate=demo_rate,
        seed=demo_seed,
        plan=demo_plan,
        scenario=None if demo_scenario in (None, "none") else demo_scenario,
        scenario_truth=demo_truth,
    ) as server:
        yield config.Settings(
            token=server.token,
            token_source="demo",
            url=server.ws_url,
            rest_url=server.rest_url,
            plan=demo_plan,
            sse_url=server.sse_url,
            szse_url=server.szse_url,
            demo=True,
        )


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


def read_symbols_file(path: str) -> list[str]:
    """Symbols from a file (``-`` = stdin), one per line, ``#`` comments and blank lines ignored."""
    cap = 4 << 20  # every HK code fits in a few KiB: more is not a symbols file
    try:
        if path == "-":
            text = sys.stdin.read(cap + 1)
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read(cap + 1)
        if len(text) > cap:
            raise UsageError(
                f"symbols file {'stdin' if path == '-' else path} is larger than 4 MiB: "
                "give one HK code per line, e.g. 00700"
            )
    except OSError as exc:
        raise UsageError(f"cannot read symbols file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"symbols file {'stdin' if path == '-' else path} is not UTF-8 text (byte "
            f"{exc.start}): give one HK code per line, e.g. 00700"
        ) from None
    out: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        for word in line.replace(",", " ").split():
            if try_normalise(word) is None:
                where = "stdin" if path == "-" else path
                raise UsageError(
                    f"{where}:{lineno}: invalid symbol {word!r}: use HK stock codes such as "
                    "00700, 700 or 0700.HK"
                )
            out.append(word)
    return out


def resolve_symbols(
    args: tuple[str, ...],
    symbols_file: str | None,
    *,
    include_suspended: bool,
    settings: config.Settings,
    warn: Callable[[str], None],
    use_all: bool = False,
) -> tuple[list[str], Universe | None]:
    """The symbols to subscribe to, and the cached universe (for names) if any.

    Symbols given (arguments and/or file) keep their order and are checked
    before anything connects; none given means the Stock Connect universe
    (fetched once if it was never cached), suspended stocks left out unless
    ``include_suspended``.
    """
    codes, universe = _resolve_symbols(
        args,
        symbols_file,
        include_suspended=include_suspended,
        settings=settings,
        warn=warn,
        use_all=use_all,
    )
    spec = _meta("shard")
    if spec:
        from hkticks.symbols.shard import parse_shard

        shard = parse_shard(spec)
        codes = shard.select(codes)
        if not codes:
            raise UsageError(f"shard {shard} of these symbols is empty: use fewer shards")
    return codes, universe


def shard_filter() -> Callable[[str], bool] | None:
    """The ``--shard`` of the running command as a test on a code, if given."""
    spec = _meta("shard")
    if not spec:
        return None
    from hkticks.symbols.shard import parse_shard

    return parse_shard(spec).owns


def _resolve_symbols(
    args: tuple[str, ...],
    symbols_file: str | None,
    *,
    include_suspended: bool,
    settings: config.Settings,
    warn: Callable[[str], None],
    use_all: bool = False,
) -> tuple[list[str], Universe | None]:
    from hkticks.symbols import universe as symbol_service

    given = list(args)
    if symbols_file:
        given += read_symbols_file(symbols_file)
    if given and use_all:
        raise UsageError("give SYMBOLS or --all, not both")
    if given:
        return normalise_all(given), symbol_service.cached_universe(demo=settings.demo)
    source = remote_source()
    if source:  # every symbol the stream has trades of
        from hkticks.feed.nats_source import stream_symbols

        codes = stream_symbols(source)
        if not codes:
            raise UsageError(f"{source}: the stream has no trades yet; give SYMBOLS")
        return codes, symbol_service.cached_universe(demo=False)
    universe = symbol_service.load_universe(settings, refresh_if_missing=True, warn=warn)
    codes = list(universe.codes(include_suspended=include_suspended))
    if not codes:
        raise UsageError("the Stock Connect list is empty: run `hkticks symbols --refresh`")
    return codes, universe
