"""The anomaly engine over what the board's pump drains from the queue.

The pump (:class:`~hkticks.watch.pump.BoardPump`) drains the feed's queue
in batches on the app's thread, whichever screen is shown; an
:class:`AlertFeed` passes the batch's trades to
:class:`~hkticks.analysis.anomaly.AnomalyEngine` and returns the alerts they
raised, in order. With ``auto_hours`` (the ``[alerts]`` table did not set
``hours``) the engine switches to ``hours="always"`` once the data turns out
simulated (the embedded market never closes): this can only happen before
the engine has counted anything worth keeping, at the first batches.

:func:`watchlist_groups` turns the config's ``[watchlists]`` into the
heatmap's code -> group mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from hkticks.analysis.anomaly import Alert, AnomalyEngine
from hkticks.tick import Tick


class AlertFeed:
    """``apply(batch)`` -> the alerts the batch's trades raised."""

    def __init__(self, engine: AnomalyEngine, *, auto_hours: bool = False) -> None:
        self.engine = engine
        self.auto_hours = auto_hours

    def apply(self, items: Iterable[object]) -> list[Alert]:
        on_tick = self.engine.on_tick
        out: list[Alert] = []
        for item in items:
            if type(item) is Tick:
                raised = on_tick(item)
                if raised:
                    out.extend(raised)
        return out

    def simulated(self) -> None:
        """The data is simulated: count every hour unless the config file said otherwise."""
        engine = self.engine
        if self.auto_hours and engine.config.hours != "always":
            fresh = AnomalyEngine(replace(engine.config, hours="always"), engine.baselines)
            self.engine = fresh
        self.auto_hours = False


def watchlist_groups(watchlists: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Code -> the first watchlist (in config order) that holds it; others in no group."""
    groups: dict[str, str] = {}
    for name, codes in watchlists.items():
        for code in sorted(codes):
            groups.setdefault(code, name)
    return groups
