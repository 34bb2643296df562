"""The alerts job: the anomaly engine over a live feed, its config, baselines and channels.

:func:`build_config` reads ``[alerts]`` of the config file with the flags
over it (``alerts``, ``replay --alerts``, the board and the heatmap all take
it from here); :func:`history_baselines` and :func:`start_kline_baselines`
give the engine its baselines; :class:`AlertsJob` runs a feed through the
engine (and into an optional recording of the trades it saw) for
``hkticks alerts`` and ``hkticks.alerts()``; :func:`replay_alerts` runs a
recording through the same engine. Nothing here prints: alerts and notes go
to the callbacks the caller gives.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

from hkticks.alltick import protocol as alltick
from hkticks.analysis.alert_config import AlertConfig, SymbolBaseline
from hkticks.analysis.anomaly import Alert, AnomalyEngine
from hkticks.errors import UsageError
from hkticks.feed.queue import TickQueue
from hkticks.run.outputs import OutputSpec
from hkticks.run.source import Provider, SourceSpec, open_source
from hkticks.tick import Event, Tick

Note = Callable[[str], None]


def _quiet(_line: str) -> None:
    return None


def build_config(*, demo: bool, **flags: Any) -> AlertConfig:
    """``[alerts]`` from the config file, then the flags over it."""
    from hkticks import config

    table, where = config.config_table("alerts")
    cfg = AlertConfig.from_mapping(table, where)
    kinds = flags.pop("kinds", None)
    hours = flags.pop("hours", None)
    if hours is None and "hours" not in table:
        hours = "always" if demo else "hk"
    overrides: dict[str, Any] = {
        "hours": hours,
        "cooldown_s": flags.get("cooldown"),
        "warmup_s": flags.get("warmup"),
        "spike_ratio": flags.get("spike_ratio"),
        "block_floor": flags.get("block_floor"),
        "move_pct": flags.get("move_pct"),
        "move_window_s": None if flags.get("move_window") is None else int(flags["move_window"]),
        "rvol_threshold": flags.get("rvol_threshold"),
    }
    if kinds:
        overrides["kinds"] = tuple(k.strip() for k in kinds.split(",") if k.strip())
    return cfg.with_overrides(**overrides)


def board_alerts(demo: bool) -> Any:
    """The anomaly engine of a board (terminal or web): ``[alerts]`` of the config file,
    as ``hkticks alerts``, over the board's drained batches."""
    from hkticks import config
    from hkticks.watch.alert_feed import AlertFeed

    table, _where = config.config_table("alerts")
    return AlertFeed(AnomalyEngine(build_config(demo=demo)), auto_hours="hours" not in table)


def history_baselines(
    glob: str, cfg: AlertConfig, days: int, note: Note = _quiet
) -> dict[str, SymbolBaseline]:
    """Baselines from recordings matched by ``glob`` (cached by files, sizes and mtimes)."""
    from hkticks.analysis import baselines
    from hkticks.storage.readers import Recording
    from hkticks.storage.recording_paths import expand_paths

    try:
        paths = expand_paths([glob])
    except UsageError as exc:
        raise UsageError(f"--history: {exc}") from None
    if not paths:
        raise UsageError(f"--history {glob!r} matches no recordings")

    def build() -> dict[str, SymbolBaseline]:
        return baselines.from_ticks(Recording(paths), days=days, percentile=cfg.block_percentile)

    got, _from_cache = baselines.cached(
        "history", baselines.history_key(paths, days, cfg.block_percentile), build
    )
    if not got:
        note(f"--history {glob}: no continuous-session trades in {len(paths)} file(s)")
    return got


def start_kline_baselines(
    provider: Provider,
    codes: list[str],
    late: dict[str, Any],
    days: int = 20,
    note: Note = _quiet,
    kinds: Sequence[str] = (),
) -> None:
    """rvol, breakout and block_trade baselines from AllTick's daily bars, in the
    background (cached for the day).

    First the previous session's bar of every code (``batch-kline``, many codes a
    call: rvol and block_trade work within seconds; ``static_info``'s HK shares for
    a code without one), then the average of the last ``days`` sessions
    (``kline``, one code a call within the plan's REST rate) replaces it when
    complete. Under the simulated market only block_trade's day turnover is used.
    Each result lands in ``late["bars"]``.
    """
    from dataclasses import replace

    from hkticks.analysis import baselines
    from hkticks.market_hours import hk_date

    # the simulated market's daily bars do not follow its flow: block sizes only
    flow = not provider.simulated
    rest_url = provider.settings.rest_url

    def work() -> None:
        rest = provider.rest_client()
        today = hk_date(time.time())

        def previous_session() -> dict[str, SymbolBaseline]:
            bars = rest.daily_bars(codes)
            # the previous session's bar: today's is still growing
            got = baselines.from_daily_bars(
                {
                    c: [(x.volume, x.turnover) for x in b if hk_date(x.ts / 1000) != today][-1:]
                    for c, b in bars.items()
                },
                volume_profile=flow,
            )
            # no daily turnover (e.g. listed today): block_trade from the market cap instead
            missing = [c for c in codes if c not in got or not got[c].day_turnover]
            if missing and "block_trade" in kinds:
                try:
                    infos = rest.static_info(missing)
                except Exception as exc:
                    note(f"no static_info for {len(missing)} names without daily bars: {exc}")
                    infos = {}
                shares = {c: i.hk_shares or i.total_shares for c, i in infos.items()}
                for code, base in baselines.from_hk_shares(shares).items():
                    got[code] = (
                        replace(got[code], hk_shares=base.hk_shares) if code in got else base
                    )
            return got

        def last_sessions() -> dict[str, SymbolBaseline]:
            got: dict[str, list[tuple[float, float]]] = {}
            for code in codes:
                bars = rest.klines(code, alltick.KLINE_DAY, min(days + 1, alltick.MAX_KLINE_BARS))
                past = [b for b in bars if hk_date(b.ts / 1000) != today][-days:]
                if past:
                    got[code] = [(b.volume, b.turnover) for b in past]
            return baselines.from_daily_bars(got)

        try:
            key = [today, rest_url, flow, sorted(codes)]
            got, _ = baselines.cached("kline", key, previous_session)
        except Exception as exc:  # the alerts go on without these baselines; say why once
            note(f"no daily bars for the rvol/breakout/block_trade baselines: {exc}")
            return
        late["bars"] = got
        if not flow:
            return
        try:
            key = [today, days, rest_url, sorted(codes)]
            got, _ = baselines.cached("kline-days", key, last_sessions)
        except Exception as exc:  # keep the one-session baselines
            note(f"rvol stays on the previous session only ({days}-day bars failed: {exc})")
            return
        late["bars"] = got

    threading.Thread(target=work, name="hkticks-baselines", daemon=True).start()


def dispatcher(
    *,
    log_path: str | None = None,
    alert_cmd: str | None = None,
    webhook: str | None = None,
    bell: IO[str] | None = None,
    note: Note = _quiet,
) -> Any:
    """The delivery channels of a run: a JSONL log, a command, a webhook, the bell
    (``note`` hears a channel's trouble as it happens)."""
    from hkticks.analysis.alerts import AlertLog, Bell, CommandSink, Dispatcher, WebhookSink

    channels: list[Any] = []
    if log_path:
        channels.append(AlertLog(log_path))
    if alert_cmd:
        channels.append(CommandSink(alert_cmd, report=note))
    if webhook:
        channels.append(WebhookSink(webhook, report=note))
    if bell is not None:
        channels.append(Bell(bell))
    return Dispatcher(channels)


def trades_output(
    out_path: str | None, log_path: str | None
) -> tuple[OutputSpec | None, str | None]:
    """The recording of the trades the engine sees (``--out``; checked before anything
    connects) and the alerts log (default with ``--out``: ``OUT.alerts.jsonl``)."""
    from hkticks.analysis.alerts import alerts_log_path
    from hkticks.run.outputs import parse_output

    if not out_path:
        return None, log_path
    out = parse_output(out_path)
    out.check()
    return out, log_path or alerts_log_path(out_path)


class AlertsJob:
    """A feed through the anomaly engine; the trades also recorded to ``out`` if given."""

    def __init__(
        self,
        provider: Provider,
        codes: Sequence[str],
        cfg: AlertConfig,
        bases: dict[str, SymbolBaseline] | None = None,
        *,
        out: OutputSpec | None = None,
        history_days: int = 20,
        kline_baselines: bool = True,
        note: Note = _quiet,
        status: Any = None,
        applied_to: str | None = None,
    ) -> None:
        """``status`` (the dispatcher) makes :meth:`run` say the warm-up status line;
        ``applied_to`` records the baselines applied live, where they were applied, so
        that ``replay --alerts`` applies them at the same trade."""
        self.codes = list(codes)
        self.cfg = cfg
        self.engine = AnomalyEngine(cfg, bases or {})
        self.queue = TickQueue()
        self.feed = provider.feed(self.codes, self.queue)
        self.late: dict[str, dict[str, SymbolBaseline]] = {}
        self._note = note
        from hkticks.analysis.baselines import applied_path, read_applied

        self.status = status
        # the baselines applied live go beside the trades recorded (``out``), where they
        # were applied; a recording replayed as the feed gets them at the same trade
        if applied_to is None and out is not None and out.is_file:
            applied_to = applied_path(out.text)
        self.applied_to = applied_to
        recordings = list(provider.spec.recordings or ())
        self._pending = (
            read_applied(applied_path(recordings[0]))
            if len(recordings) == 1 and os.path.isfile(recordings[0])
            else []
        )
        self.alerts_seen = 0
        if (
            kline_baselines
            and provider.token
            and ({"rvol", "breakout", "block_trade"} & set(cfg.kinds))
        ):
            start_kline_baselines(provider, self.codes, self.late, history_days, note, cfg.kinds)
        self.sink = out.open_ticks() if out is not None else None
        self._last_flush = time.monotonic()
        self._stopped = False

    def start(self) -> None:
        self.feed.start()

    def _consume(self, batch: Iterable[Any]) -> tuple[list[Alert], list[str]]:
        from hkticks.watch.model import describe_event

        ticks: list[Tick] = []
        alerts: list[Alert] = []
        notes: list[str] = []
        on_tick = self.engine.on_tick
        pending = self._pending
        for item in batch:
            if type(item) is Tick:
                while pending and pending[0][0] <= self.engine.stats.ticks:
                    self.engine.set_baselines(pending.pop(0)[1])
                ticks.append(item)
                got = on_tick(item)
                if got:
                    alerts.extend(got)
            elif type(item) is Event and item.event in ("error", "fatal", "disconnected"):
                notes.append(describe_event(item))
        if self.sink is not None and ticks:
            self.sink.write(ticks)
        return alerts, notes

    def poll(self, timeout: float = 0.25) -> list[Alert]:
        """The alerts of the next batch (waiting up to ``timeout``); raises a fatal error."""
        from hkticks.watch.pump import all_rejected

        if "bars" in self.late:
            bars = self.late.pop("bars")
            if self.applied_to:  # so that replay --alerts applies them at the same tick
                from hkticks.analysis.baselines import write_applied

                write_applied(self.applied_to, self.engine.stats.ticks, bars)
            self.engine.set_baselines(bars)
        alerts, notes = self._consume(self.queue.get_batch(8192, timeout))
        self.alerts_seen += len(alerts)
        for line in notes:
            self._note(line)
        error = self.feed.fatal or all_rejected(self.feed.status(), len(self.codes))
        if error is not None:
            raise error
        now = time.monotonic()
        if self.sink is not None and now - self._last_flush >= 1.0:
            self.sink.flush()
            self._last_flush = now
        return alerts

    @property
    def finished(self) -> bool:
        return self.feed.done.is_set()

    def stop(self) -> list[Alert]:
        """Stop the feed; every tick received is still judged (and recorded): their alerts."""
        if self._stopped:
            return []
        self._stopped = True
        try:
            self.feed.stop()
            alerts, _ = self._consume(self.queue.get_batch(1 << 30, 0))
        finally:
            if self.sink is not None:
                sink, self.sink = self.sink, None
                sink.flush()
                sink.close()
        return alerts

    def run(self, emit: Callable[[Alert], None], stop: Any, duration: float | None = None) -> None:
        """Alerts to ``emit`` until ``stop`` is set, the duration passes or the feed ends."""
        from hkticks.analysis.alerts import WarmupStatus, status_text

        warming = WarmupStatus()
        deadline = time.monotonic() + duration if duration else None
        self.start()
        try:
            while not stop.is_set():
                for alert in self.poll():
                    emit(alert)
                if self.status is not None and not warming.done:
                    ready = self.engine.readiness()
                    if warming.due(time.monotonic(), ready):
                        self._note(
                            status_text(
                                ready,
                                self.engine.stats.ticks,
                                self.alerts_seen,
                                self.cfg.kinds,
                                self.status.status(),
                            )
                        )
                if self.finished:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    stop.set("duration reached")
                    break
        finally:
            for alert in self.stop():
                emit(alert)

    def __iter__(self) -> Iterator[Alert]:
        """The alerts as they come (the feed is started; closing the iterator stops it)."""
        self.start()
        try:
            while not self.finished:
                yield from self.poll()
            yield from self.stop()
        finally:
            self.stop()


def watching_line(
    symbols: int, kinds: Sequence[str], simulated: bool, out: Any, log_path: str | None
) -> str:
    """``watching N symbols for KINDS`` (DEMO, and where the trades and alerts go)."""
    where = f" (trades to {out.shown}, alerts to {log_path})" if out is not None else ""
    return (
        f"watching {symbols} symbol{'s' if symbols != 1 else ''} for "
        f"{', '.join(kinds)}{' (DEMO: simulated market)' if simulated else ''}{where}"
    )


def closed_market_note(now: float) -> str | None:
    """Outside the continuous sessions (``hours = "hk"``): why no alert comes yet."""
    from hkticks.market_hours import market_session

    session = market_session(now)
    if session.continuous:
        return None
    return (
        f"the Hong Kong market is {session.label} ({session.until(now)}): "
        "only trades of the continuous sessions raise alerts (--hours always counts every hour)"
    )


def replay_alerts(
    ticks: Iterable[Tick],
    cfg: AlertConfig,
    bases: dict[str, SymbolBaseline],
    emit: Callable[[Alert], None],
    applied: Any = (),
) -> int:
    """A recording through the engine, as fast as it reads (with the baselines the live
    run applied, where it applied them: ``applied``); returns the trades judged."""
    from hkticks.analysis.anomaly import replay

    engine = AnomalyEngine(cfg, bases)
    for a in replay(engine, ticks, applied):
        emit(a)
    return engine.stats.ticks


def alerts_of(
    spec: SourceSpec,
    symbols: Sequence[str],
    cfg: AlertConfig,
    bases: dict[str, SymbolBaseline],
    out: OutputSpec | None,
    duration: float | None,
    kline_baselines: bool,
) -> Iterator[Alert]:
    """The alerts of a job on ``spec`` as they come, for ``duration`` seconds or until
    the feed ends (``hkticks.alerts``); closing the iterator stops the feed."""
    with open_source(spec) as provider:
        _ = provider.token
        codes, _universe = provider.symbols(list(symbols))
        job = AlertsJob(provider, codes, cfg, bases, out=out, kline_baselines=kline_baselines)
        deadline = None if duration is None else time.monotonic() + duration
        job.start()
        try:
            while not job.finished and (deadline is None or time.monotonic() < deadline):
                yield from job.poll()
            yield from job.stop()
        finally:
            job.stop()
