"""``hkticks watch --heatmap``: builds the parts for :mod:`hkticks.watch.heatmap_app`."""

from __future__ import annotations

import time
from typing import Any

import click

from hkticks import config
from hkticks.alltick import protocol as alltick


def watch_heatmap(
    feed: Any,
    queue: Any,
    codes: list[str],
    names: dict[str, tuple[str, str]],
    settings: config.Settings,
    token: str,
    size: str,
    clamp: float,
    colors: str,
    lang: str,
    duration: float | None,
) -> None:
    from hkticks.alltick.rest import RestClient
    from hkticks.analysis.anomaly import AnomalyEngine
    from hkticks.run.alerts_job import build_config
    from hkticks.watch.heatmap_app import run_heatmap

    rest = RestClient(
        settings.rest_url, token, alltick.PLANS[settings.plan], token_source=settings.token_source
    )
    engine = AnomalyEngine(build_config(demo=settings.demo))
    started = time.monotonic()
    model = run_heatmap(
        feed,
        queue,
        codes,
        names,
        rest=rest,
        engine=engine,
        size=size,
        clamp=clamp,
        colors=colors,
        lang=lang,
        demo=settings.demo,
        duration=duration,
    )
    alerts = sum(engine.stats.alerts.values())
    click.echo(
        f"hkticks: heatmap of {len(codes)} symbols: {model.trades:,} trades, {alerts} alerts "
        f"in {time.monotonic() - started:.1f} s",
        err=True,
    )
