"""``hkticks watch``: the live quote board (and its JSON stream) over a feed.

The model (:mod:`hkticks.watch.model`) is pure and the board is a Textual
app (:mod:`hkticks.watch.app`); this module owns the I/O around them:

- :class:`BoardPump`, called by the app every frame, drains the feed's queue
  into the model and the detail buffers and reports the feed's fatal error;
  :func:`run_app` runs the app with Ctrl-C/SIGTERM and log warnings routed;
- a background thread fetches the previous close and today's bar (REST
  ``batch-kline``) and missing names (``static_info``) so the board appears
  at once and fills in when they arrive; it refetches when a new HK trading
  day starts, so a board left running overnight measures change correctly;
- ``--json`` (or a stdout that is not a terminal) streams one JSON object per
  trade instead, flushed per line, so ``watch ... | jq`` works.

Errors that stop the feed (token rejected, plan too small) are raised only
after the full-screen display has been left, so the user reads one clear
line on a clean terminal.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, Protocol

import orjson

from hkticks.alltick.urls import redact
from hkticks.errors import HkticksError, TokenRejected, UsageError
from hkticks.feed.queue import TickQueue
from hkticks.feed.tickfeed import TickFeed as FeedLike
from hkticks.market_hours import hk_clock
from hkticks.stopping import StopFlag
from hkticks.tick import Event, Tick
from hkticks.watch.model import ReferenceData, WatchModel, day_stats, describe_event

if TYPE_CHECKING:
    from hkticks.analysis.anomaly import Alert
    from hkticks.watch.alert_feed import AlertFeed

REFERENCE_RETRY_S = 60.0
REFERENCE_ATTEMPTS = 3
_FATAL_RETS = {401, 603}  # the feed stops on these and raises the error itself
_STDERR_EVENTS = {"disconnected", "reconnecting", "stale", "error", "warning"}


class ReferenceSource(Protocol):
    """What the reference thread needs of :class:`hkticks.alltick.rest_client.RestClient`."""

    def daily_bars(self, symbols: Sequence[str]) -> Any: ...

    def static_info(self, symbols: Sequence[str]) -> Any: ...


class _NoteHandler(logging.Handler):
    """Routes log warnings into the queue so they show in the footer, not over the board."""

    def __init__(self, queue: TickQueue) -> None:
        super().__init__(logging.WARNING)
        self._queue = queue

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = redact(record.getMessage())
        except Exception:  # a bad log call must not break the board
            return
        self._queue.put_event(Event(int(time.time() * 1000), "warning", None, {"message": message}))


@contextmanager
def warnings_to_queue(queue: TickQueue) -> Iterator[None]:
    """While the full-screen board is up, log warnings become footer notes."""
    root = logging.getLogger()
    handler = _NoteHandler(queue)
    saved = root.handlers[:]
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved


# -- reference data (REST) -----------------------------------------------------


def next_day_start(now: float) -> float:
    """Epoch second of the next 09:00 Hong Kong time (the pre-open) after ``now``."""
    _day, _wd, sec = hk_clock(now)
    start = now - sec + 9 * 3600
    return start if start > now else start + 86_400


def reference_worker(
    source: ReferenceSource,
    symbols: Sequence[str],
    need_names: Sequence[str],
    queue: TickQueue,
    stop: threading.Event,
    *,
    clock: Callable[[], float] = time.time,
    retry_s: float = REFERENCE_RETRY_S,
) -> None:
    """Fetch previous close / today's bar (and missing names), then again each new day.

    Results go through ``queue`` as :class:`ReferenceData` so only the main
    thread touches the model. A failure is reported once per attempt and
    retried a few times; a rejected token is not retried.
    """
    names_left = list(need_names)
    while not stop.is_set():
        attempts = 0
        while not stop.is_set():
            attempts += 1
            try:
                bars = source.daily_bars(symbols)
                now = clock()
                stats = {code: day_stats(b, now) for code, b in bars.items()}
                queue.put_event(ReferenceData(stats=stats))
                break
            except TokenRejected as exc:
                queue.put_event(ReferenceData(error=_short(exc)))
                return
            except HkticksError as exc:
                queue.put_event(ReferenceData(error=_short(exc)))
            except Exception as exc:  # an unexpected answer must not kill the board
                queue.put_event(ReferenceData(error=redact(f"{type(exc).__name__}: {exc}")[:160]))
            if attempts >= REFERENCE_ATTEMPTS or stop.wait(retry_s):
                break
        if names_left and not stop.is_set():
            try:
                infos = source.static_info(names_left)
                names = {c: (i.name_en, i.name_cn or i.name_hk) for c, i in infos.items()}
                queue.put_event(ReferenceData(names=names, kind="names"))
            except Exception as exc:
                reason = _short(exc) if isinstance(exc, HkticksError) else type(exc).__name__
                queue.put_event(ReferenceData(error=reason, kind="names"))
            names_left = []
        if stop.wait(max(1.0, next_day_start(clock()) - clock())):
            return


def _short(exc: BaseException) -> str:
    return redact(str(exc)).split("\n", 1)[0][:160]


def start_reference_thread(
    source: ReferenceSource,
    symbols: Sequence[str],
    need_names: Sequence[str],
    queue: TickQueue,
    stop: threading.Event,
) -> threading.Thread:
    thread = threading.Thread(
        target=reference_worker,
        args=(source, list(symbols), list(need_names), queue, stop),
        name="hkticks-watch-rest",
        daemon=True,  # it may sit in an HTTP call; never hold up exit for it
    )
    thread.start()
    return thread


# -- the board -----------------------------------------------------------------


def all_rejected(status: Any, symbols: int) -> UsageError | None:
    """A usage error when the server refused every symbol (nothing would ever show)."""
    rejected: dict[str, int] = getattr(status, "rejected", None) or {}
    if symbols and len(rejected) >= symbols:
        shown = ", ".join(sorted(rejected)[:5]) + (
            f" and {len(rejected) - 5} more" if len(rejected) > 5 else ""
        )
        return UsageError(
            f"the server rejected every symbol ({shown}): check the codes, "
            "e.g. `hkticks symbols --search NAME`"
        )
    return None


class BoardPump:
    """What the Textual board calls every frame: queue -> model and detail buffers.

    Returns the error that ends the run (the feed's fatal error, or every
    symbol rejected), else ``None``; :attr:`ended` says the feed stopped by
    itself. :attr:`simulated` turns on when the data says it is simulated
    (a ``src`` ending in ``-sim`` or a feed status with ``simulated``).
    With ``alerts`` (an :class:`~hkticks.watch.alert_feed.AlertFeed`) the
    trades also go through the anomaly engine and each alert raised is
    passed to :attr:`on_alert` (the app sets it), on the app's thread.
    """

    def __init__(
        self,
        feed: FeedLike,
        queue: TickQueue,
        model: WatchModel,
        buffers: Any,
        alerts: AlertFeed | None = None,
    ) -> None:
        self.feed = feed
        self.queue = queue
        self.model = model
        self.buffers = buffers
        self.alerts = alerts
        self.on_alert: Callable[[Alert], None] | None = None
        self.ended = False
        self.simulated = False

    def __call__(self, now: float) -> HkticksError | None:
        model, buffers, queue = self.model, self.buffers, self.queue
        while True:
            batch = queue.get_batch(8192, 0)
            if not batch:
                break
            model.apply(batch, now)
            buffers.apply(batch)
            if not self.simulated:
                first = batch[0]
                if type(first) is Tick and str(first.src).endswith("-sim"):
                    self.simulated = True
                    if self.alerts is not None:
                        self.alerts.simulated()
            if self.alerts is not None:
                raised = self.alerts.apply(batch)
                if raised and self.on_alert is not None:
                    for alert in raised:
                        self.on_alert(alert)
        status = self.feed.status()
        model.set_status(
            status.connections,
            dropped=status.dropped,
            queue_depth=status.queue_depth,
            decode_errors=status.decode_errors,
        )
        if getattr(status, "simulated", False):
            if not self.simulated and self.alerts is not None:
                self.alerts.simulated()
            self.simulated = True
        if self.feed.done.is_set():
            self.ended = True
        return self.feed.fatal or all_rejected(status, len(model))


def run_app(app: Any, queue: TickQueue, stop: StopFlag) -> None:
    """Run the Textual board until it quits; raise its error after the terminal is restored.

    Ctrl-C and SIGTERM set ``stop`` (the app checks it every frame); log
    warnings go to the header's notes, not over the screen.
    """
    from hkticks.stopping import stop_on_signals

    with warnings_to_queue(queue), stop_on_signals(stop):
        app.run()
    if app.error is not None:
        raise app.error
    if app.return_code:  # the app failed (Textual has printed why): not a clean exit
        raise SystemExit(app.return_code)


# -- the JSON stream -----------------------------------------------------------


def run_json(
    feed: FeedLike,
    queue: TickQueue,
    out: IO[bytes],
    err: IO[str],
    stop: StopFlag,
    *,
    deadline: float | None = None,
    symbols: int = 0,
) -> int:
    """One JSON object per trade on ``out``, flushed per line; returns trades written.

    Session problems go to ``err`` as one line each, held back until the end
    of the batch so that an error which ends the run is reported alone, as
    the CLI's single error line. A closed pipe (``| head``) sets
    ``stop.reason`` to ``"pipe closed"`` and returns quietly.
    """
    written = 0
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    with warnings_to_queue(queue):
        while not stop.is_set():
            batch = queue.get_batch(8192, 0.25)
            notes: list[str] = []
            for item in batch:
                cls = type(item)
                if cls is Tick:
                    try:
                        out.write(dumps(item, option=newline))
                        out.flush()
                    except BrokenPipeError:
                        stop.set("pipe closed")
                        return written
                    written += 1
                elif cls is Event and _worth_a_line(item):
                    notes.append(f"hkticks: {describe_event(item)}\n")
            error = feed.fatal or all_rejected(feed.status(), symbols)
            if error is not None:
                raise error
            if notes:
                err.write("".join(notes))
                err.flush()
            if feed.done.is_set():
                break
            if deadline is not None and time.monotonic() >= deadline:
                stop.set("duration reached")
                break
    return written


def _worth_a_line(event: Event) -> bool:
    """Session events the JSON stream reports on stderr."""
    if event.event == "error":
        d = event.details
        if d.get("codes"):
            return False  # the feed logs rejected codes itself (a "warning" event)
        if d.get("ret") in _FATAL_RETS or "http_status" in d:
            return False  # the run ends with this as its one error line
    return event.event in _STDERR_EVENTS


def silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit flush stays quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
