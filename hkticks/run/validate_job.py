"""The validate job: a recording checked trade by trade, and minute by minute against
AllTick's 1-minute bars.

``hkticks validate`` opens the recording, calls :func:`validate_recording` (the
session events of its sidecars, the :class:`~hkticks.analysis.validate.Validator`
pass, the gaps), then with ``--kline`` :func:`check_against_bars` over the
source's REST API; it shows or prints the :class:`~hkticks.analysis.validate.Report`.
The rules themselves live in :mod:`hkticks.analysis.validate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hkticks.analysis.validate import Report
from hkticks.run.recordings import check_events_files
from hkticks.run.source import Provider
from hkticks.storage.readers import Recording


@dataclass(frozen=True)
class ValidateOptions:
    """The thresholds of the rules (the ``validate`` flags)."""

    k_sigma: float = 4.0
    max_lag: float = 5.0  # seconds
    always_open: bool = False  # no trading-hours rules (a simulated market)
    strict: bool = False  # subscribed symbols that never traded are problems

    def calendar(self) -> Any:
        from hkticks.market_hours import calendar

        return None if self.always_open else calendar()


def recording_events(recording: Recording, given: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The session events of ``given`` sidecars, else of those given among the files and
    those next to each file (``<FILE>.events.jsonl``)."""
    from hkticks.storage.sidecars import events_sidecar, read_events

    sidecars = list(given) or list(recording.events_files)
    if not given:
        sidecars += [s for s in (events_sidecar(f.path) for f in recording.files) if s]
    paths = list(dict.fromkeys(sidecars))
    check_events_files(paths)
    return [event for path in paths for event in read_events(path)]


def validate_recording(
    recording: Recording, events: list[dict[str, Any]], options: ValidateOptions
) -> Report:
    """Every trade of ``recording`` through the rules; the report holds its gaps."""
    from hkticks.analysis.gap_records import gap_events
    from hkticks.analysis.validate import Options, Validator, subscriptions

    shard_of, subscribed = subscriptions(events)
    validator = Validator(
        Options(
            k_sigma=options.k_sigma,
            max_lag_ms=int(options.max_lag * 1000),
            calendar=options.calendar(),
        ),
        shard_of=shard_of,
        subscribed=subscribed,
    )
    for tick in recording:
        validator.add(tick)
    report = validator.finish()
    report.strict = options.strict
    report.gaps = gap_events(events)
    return report


def check_against_bars(
    report: Report,
    provider: Provider,
    kline_max: int,
    options: ValidateOptions,
    note: Callable[[str], None],
) -> None:
    """Each recorded minute of at most ``kline_max`` symbols (those in gaps first) against
    the source's 1-minute bars (one REST call each), into ``report``."""
    from hkticks.analysis.validate import kline_symbols, reconcile

    if provider.simulated:
        note("--demo: bars come from a fresh simulated market, not the one recorded")
    client = provider.rest_client()
    wanted = kline_symbols(report, report.gaps, kline_max)
    bars = {symbol: client.minute_bars(symbol) for symbol in wanted}
    reconcile(report, bars, report.gaps, options.calendar())
