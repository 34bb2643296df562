"""Alert delivery: a command, a webhook, the alerts log, the terminal bell.

None of them may hold back the feed: the command and the webhook each run
in their own named thread behind a bounded queue (``QUEUE_MAX`` alerts).
Every alert handed to a channel ends in exactly one count, so the summary
adds up and a run that lost any exits non-zero (:class:`~hkticks.errors.AlertsLost`):

* ``delivered``: the receiver took it (HTTP 2xx, the command exited 0);
* ``failed``: tried and refused (4xx, retries used up, non-zero exit, timeout);
* ``dropped``: pushed out of a full queue (the OLDEST waiting alert goes, as
  Prometheus' notifier does: the newest alert is the one worth having);
* ``not delivered``: still queued (or in flight) when the run ended and the
  drain time (``close(timeout)``) ran out.

Problems are reported as they happen (``report``, once per kind of problem):
the first failure, the receiver going down and coming back, the first drop,
and a backlog that says the receiver is slower than the alerts.

* ``--alert-cmd 'notify-send hkticks'``: the command is split like a shell
  would (``shlex``) but run WITHOUT a shell, one process per alert, the
  alert's JSON on its stdin, in a process group of its own. Its stdout goes
  to /dev/null and only the last ``STDERR_TAIL`` bytes of its stderr are
  kept (a command flooding stderr costs CPU, never memory). One that outlives
  ``timeout_s``, or is still running when hkticks stops, is killed with its
  whole process group (a ``sleep`` it started dies with it).
* ``--webhook URL``: an HTTP POST of the alert's JSON
  (``Content-Type: application/json``), retried ``retries`` times with
  exponential backoff on a network error or a 5xx/429 answer (a
  ``Retry-After`` of up to ``max_backoff_s`` is honoured). A receiver that
  used up an alert's retries is *down*: from then on each alert gets one
  try, after a pause that doubles up to ``max_backoff_s``, until one gets
  through; the queue fills meanwhile and its oldest alerts are dropped.
  Redirects are not followed (a POST must not silently become a GET
  elsewhere); TLS is verified.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from typing import IO, Any

import orjson

from hkticks.alltick.urls import redact
from hkticks.analysis.anomaly import Alert
from hkticks.analysis.anomaly_state import Readiness
from hkticks.errors import AlertsLost, OutputError, UsageError

log = logging.getLogger("hkticks.alerts")

QUEUE_MAX = 1000
STDERR_TAIL = 4096  # bytes of a command's stderr kept for the error message
BACKLOG_WARN = 100  # waiting alerts that make a channel "slower than the alerts"
DRAIN_S = 5.0


def alert_json(alert: Alert) -> bytes:
    return orjson.dumps(alert.record())


def alerts_log_path(recording: str) -> str:
    """Where the alerts of a recording go: beside it, ``<recording>.alerts.jsonl``."""
    return f"{recording}.alerts.jsonl"


def _log_report(message: str) -> None:
    log.warning("%s", message)


class _Worker:
    """One thread delivering alerts from a bounded queue; :meth:`send` never blocks.

    Counts (see the module's docstring): ``received`` = ``sent`` + ``failed``
    + ``dropped`` + ``undelivered`` once :meth:`close` returned; before it,
    the difference is :attr:`pending`.
    """

    name = "worker"

    def __init__(
        self,
        thread_name: str,
        maxsize: int = QUEUE_MAX,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.maxsize = max(1, maxsize)
        self._items: deque[Alert] = deque()
        self._cv = threading.Condition()
        self._report = report or _log_report
        self.received = 0
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.undelivered = 0
        self.busy_s = 0.0  # time spent delivering (for "x s per alert")
        self.last_error: str | None = None
        self._warned: set[str] = set()
        self._in_flight = False
        self._closing = False
        self._closed = False
        # set when the drain time is up: stop retrying, kill a running command
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    # -- the feed's side -------------------------------------------------------------

    def send(self, alert: Alert) -> None:
        with self._cv:
            self.received += 1
            if self._closed:
                self.undelivered += 1
                return
            if len(self._items) >= self.maxsize:
                self._items.popleft()
                self.dropped += 1
                self._once(
                    "dropped",
                    f"{self.name}: queue full ({self.maxsize} alerts waiting): "
                    "dropping the oldest; counted in the summary",
                )
            self._items.append(alert)
            waiting = len(self._items)
            self._cv.notify()
        if waiting == BACKLOG_WARN and not getattr(self, "down", False):  # down: said so
            per = f" ({self.busy_s / self.done:.1f} s per alert)" if self.done else ""
            self._once(
                "backlog",
                f"{self.name} is slower than the alerts{per}: {waiting} waiting "
                f"(at most {self.maxsize}, then the oldest are dropped)",
            )

    @property
    def done(self) -> int:
        return self.sent + self.failed

    @property
    def pending(self) -> int:
        """Alerts queued or in flight."""
        with self._cv:
            return len(self._items) + (1 if self._in_flight else 0)

    def close(self, timeout: float = DRAIN_S) -> None:
        """Deliver what is queued for up to ``timeout`` s, then stop; the rest is counted
        ``undelivered`` (a running command is killed with its process group)."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        self._thread.join(max(0.0, timeout))
        if self._thread.is_alive():
            self._abort.set()
            with self._cv:
                self._cv.notify_all()
            self._thread.join(2.0)
        with self._cv:
            if not self._closed:
                self._closed = True
                self._items.clear()
                self.undelivered = self.received - self.sent - self.failed - self.dropped

    # -- the worker thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._items and not self._closing:
                    self._cv.wait()
                if not self._items or self._abort.is_set():
                    return
                alert = self._items.popleft()
                self._in_flight = True
            t0 = time.monotonic()
            ok: bool | None
            try:
                ok = self._deliver(alert)
            except Exception as exc:  # a bug in delivery must not kill the thread
                ok = False
                self._problem(f"unexpected error: {exc!r}")
            with self._cv:
                self._in_flight = False
                if self._closed or ok is None:
                    return  # stopped at exit: close() counts it undelivered
                self.busy_s += time.monotonic() - t0
                if ok:
                    self.sent += 1
                else:
                    self.failed += 1

    def _deliver(self, alert: Alert) -> bool | None:  # pragma: no cover - overridden
        """True: delivered; False: failed; None: stopped because the run is over."""
        raise NotImplementedError

    def _once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._report(message)

    def _problem(self, what: str) -> None:
        self.last_error = what
        self._once("problem:" + what.split(":", 1)[0], f"{self.name}: {what}")

    # -- the summary -------------------------------------------------------------------

    def lost(self) -> int:
        """Alerts not delivered (failed, dropped, or left at exit)."""
        return self.failed + self.dropped + self.undelivered

    def summary(self) -> str:
        """``--webhook URL: 12 of 698 delivered, ...`` (every alert in one count)."""
        parts = [f"{self.sent:,} of {self.received:,} delivered"]
        if self.failed:
            parts.append(f"{self.failed:,} failed")
        if self.dropped:
            parts.append(f"{self.dropped:,} dropped (queue full)")
        if self.undelivered:
            parts.append(f"{self.undelivered:,} not delivered before exit")
        text = f"{self.name}: " + ", ".join(parts)
        if self.done and self.undelivered:
            text += f" ({self.busy_s / self.done:.2g} s per alert)"
        if self.last_error and self.lost():
            text += f"; last error: {self.last_error}"
        return text


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command's process group (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
        pass


class CommandSink(_Worker):
    """Run ``argv`` (no shell) once per alert with the alert's JSON on stdin."""

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        timeout_s: float = 10.0,
        maxsize: int = QUEUE_MAX,
        report: Callable[[str], None] | None = None,
    ) -> None:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv:
            raise UsageError(
                "--alert-cmd is empty: give a command, e.g. --alert-cmd 'notify-send hkticks'"
            )
        self.argv = argv
        self.timeout_s = timeout_s
        self.name = f"--alert-cmd {argv[0]}"
        self.stderr_bytes = 0  # all the stderr read (only its tail is kept)
        super().__init__("hkticks-alert-cmd", maxsize, report)

    def _deliver(self, alert: Alert) -> bool | None:
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv list, no shell, by design
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, killed as one
            )
        except FileNotFoundError:
            self._problem(f"not found: {self.argv[0]}")
            return False
        except PermissionError:
            self._problem(f"not executable: {self.argv[0]}")
            return False
        except OSError as exc:
            self._problem(f"cannot start: {exc.strerror}")
            return False
        assert proc.stdin is not None and proc.stderr is not None
        try:
            proc.stdin.write(alert_json(alert))  # a few hundred bytes: fits the pipe
            proc.stdin.close()
        except OSError:  # it did not read its stdin: its business
            pass
        code, tail = self._wait(proc)
        proc.stderr.close()
        if code is None:
            return None if self._abort.is_set() else False
        if code != 0:
            lines = tail.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            self._problem(f"exit status {code}: {lines[0][:200]}")
            return False
        return True

    def _wait(self, proc: subprocess.Popen[bytes]) -> tuple[int | None, bytes]:
        """Read its stderr (keeping the tail) until it exits; kill its group on a timeout
        or when the run is over. Returns (exit status or None if killed, stderr tail)."""
        assert proc.stderr is not None
        fd = proc.stderr.fileno()
        os.set_blocking(fd, False)
        tail = bytearray()
        deadline = time.monotonic() + self.timeout_s
        eof = False
        while True:
            if self._abort.is_set():
                _kill_group(proc)
                self._problem("still running when hkticks stopped (killed with its process group)")
                return None, bytes(tail)
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_group(proc)
                self._problem(
                    f"timed out after {self.timeout_s:g} s (killed with its process group)"
                )
                return None, bytes(tail)
            step = min(left, 0.1)
            if eof:
                try:
                    return proc.wait(step), bytes(tail)
                except subprocess.TimeoutExpired:
                    continue
            ready, _, _ = select.select([fd], [], [], step)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    eof = True
                    continue
                self.stderr_bytes += len(chunk)
                tail += chunk
                if len(tail) > STDERR_TAIL:
                    del tail[:-STDERR_TAIL]
            elif proc.poll() is not None:
                # it exited; a child it left behind may hold stderr open: not waited for
                return proc.returncode, bytes(tail)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx is returned as an HTTPError and counted as a failure


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    raw = exc.headers.get("Retry-After") if exc.headers is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class WebhookSink(_Worker):
    """POST each alert's JSON to ``url``, retried with backoff, in its own thread."""

    def __init__(
        self,
        url: str,
        *,
        retries: int = 3,
        timeout_s: float = 5.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        maxsize: int = QUEUE_MAX,
        sleep: Callable[[float], Any] | None = None,
        report: Callable[[str], None] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--webhook {redact(url)!r} is not an http:// or https:// URL")
        self.url = url
        self.retries = retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.name = f"--webhook {redact(url)}"
        self.down = False  # the last alert used up its retries: one try each until one passes
        self._pause = 0.0
        self._opener = urllib.request.build_opener(_NoRedirect())
        super().__init__("hkticks-webhook", maxsize, report)
        # the pause ends early when the run is over (the drain time is up)
        self._sleep: Callable[[float], Any] = sleep or self._abort.wait

    def _deliver(self, alert: Alert) -> bool | None:
        body = alert_json(alert)
        tries = 1 if self.down else self.retries + 1
        wait = self._pause if self.down else 0.0
        retryable = False
        for attempt in range(tries):
            if attempt or wait:
                self._sleep(min(self.max_backoff_s, wait or self.backoff_s * 2 ** (attempt - 1)))
                wait = 0.0
            if self._abort.is_set():
                return None
            ok, retryable, hint = self._post(body)
            if ok:
                if self.down:
                    self.down = False
                    self._warned.discard("down")
                    self._report(f"{self.name}: delivering again")
                return True
            if not retryable:
                return False
            if hint is not None:
                wait = hint
        if retryable:
            if not self.down:
                self.down = True
                self._pause = self.backoff_s
                self._once(
                    "down",
                    f"{self.name} is not taking alerts ({self.last_error}): one try per alert "
                    f"with a pause of up to {self.max_backoff_s:g} s; they queue meanwhile",
                )
            self._pause = min(self.max_backoff_s, max(self._pause * 2, self.backoff_s))
        return False

    def _post(self, body: bytes) -> tuple[bool, bool, float | None]:
        """(delivered, worth retrying, the receiver's Retry-After)."""
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "hkticks-alerts"},
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as resp:
                resp.read(65536)
            return True, False, None
        except urllib.error.HTTPError as exc:
            retry = exc.code >= 500 or exc.code == 429
            self._problem(f"HTTP {exc.code}")
            return False, retry, _retry_after(exc) if retry else None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            self._problem(f"unreachable: {redact(str(reason))}")
            return False, True, None


class AlertLog:
    """Append alerts to a JSONL file, one object per line, flushed per alert."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._fh: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise OutputError(f"cannot write the alerts log {path}: {exc.strerror}") from None
        self.written = 0

    def send(self, alert: Alert) -> None:
        try:
            self._fh.write(alert_json(alert) + b"\n")
            self._fh.flush()
        except OSError as exc:
            raise OutputError(
                f"cannot write the alerts log {self.path}: {exc.strerror}; "
                f"{self.written} alerts were written"
            ) from None
        self.written += 1

    def close(self) -> None:
        self._fh.close()


class Bell:
    """The terminal bell, once per alert (``--bell``; off by default)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def send(self, alert: Alert) -> None:
        try:
            self.stream.write("\a")
            self.stream.flush()
        except OSError:
            pass

    def close(self) -> None:
        pass


class Dispatcher:
    """Hands each alert to every channel; :meth:`close` drains and stops them."""

    def __init__(self, sinks: Sequence[Any] = (), drain_s: float = DRAIN_S) -> None:
        self.sinks = list(sinks)
        self.drain_s = drain_s

    def send(self, alert: Alert) -> None:
        for sink in self.sinks:
            sink.send(alert)

    def close(self) -> None:
        """Drain every channel; together at most about ``drain_s`` (they drain in parallel)."""
        deadline = time.monotonic() + self.drain_s
        workers = [s for s in self.sinks if isinstance(s, _Worker)]
        for s in workers:
            with s._cv:
                s._closing = True
                s._cv.notify_all()
        for sink in self.sinks:
            if isinstance(sink, _Worker):
                sink.close(max(0.0, deadline - time.monotonic()))
            else:
                sink.close()

    def workers(self) -> list[_Worker]:
        return [s for s in self.sinks if isinstance(s, _Worker)]

    def status(self) -> str:
        """``webhook 40 delivered, 12 waiting`` for a status line ("" with no worker)."""
        bits = []
        for w in self.workers():
            bit = f"{w.name.split()[0].lstrip('-')} {w.sent:,} delivered"
            pending = w.pending
            if pending:
                bit += f", {pending:,} waiting"
            if w.failed or w.dropped:
                bit += f", {w.failed + w.dropped:,} lost"
            bits.append(bit)
        return "; ".join(bits)

    def problems(self) -> list[str]:
        """One line per channel that lost alerts (for the end-of-run summary)."""
        return [w.summary() for w in self.workers() if w.lost()]

    def lost(self) -> int:
        return sum(w.lost() for w in self.workers())

    def check(self) -> None:
        """Raise :class:`AlertsLost` if any channel did not deliver every alert (after close)."""
        lost = self.lost()
        if lost:
            names = ", ".join(w.name for w in self.workers() if w.lost())
            raise AlertsLost(
                f"{lost:,} alert{'s' if lost != 1 else ''} did not reach {names} "
                "(see above); every alert was still printed"
            )


def _mmss(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def status_text(
    ready: Readiness, trades: int, alerts: int, kinds: Sequence[str], delivery: str = ""
) -> str:
    """The ``hkticks alerts`` status line: the warm-up while it lasts, then the counts.

    ``warming up: 0:40 of 2:00 of trading seen (volume_spike waits for it); 8,123 trades,
    310 symbols; block_trade armed on 290; 0 alerts``
    """
    bits = []
    if "volume_spike" in kinds and ready.warming:
        bits.append(
            f"warming up: {_mmss(ready.active_s)} of {_mmss(ready.warmup_s)} of trading seen "
            "(volume_spike waits for it)"
        )
    elif "volume_spike" in kinds:
        bits.append(f"volume_spike armed on {ready.spike_ready:,} of {ready.symbols:,} symbols")
    if trades == 0:
        bits.append("no trades yet")
    else:
        bits.append(f"{trades:,} trades, {ready.symbols:,} symbols")
    if "block_trade" in kinds:
        bits.append(f"block_trade armed on {ready.block_ready:,}")
    bits.append(f"{alerts:,} alert{'s' if alerts != 1 else ''}")
    if delivery:
        bits.append(delivery)
    return "; ".join(bits)


class WarmupStatus:
    """When ``hkticks alerts`` prints its status line: every ``every_s`` while the
    engine warms up (backing off, doubling up to ``MAX_GAP_S``, while its clock
    stands still, e.g. with the market closed), then once when the warm-up is over."""

    MAX_GAP_S = 300.0

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self._gap = every_s
        self._next: float | None = None
        self._seen = -1.0
        self.done = False

    def due(self, now: float, ready: Readiness) -> bool:
        if self.done:
            return False
        if self._next is None:
            self._next = now + self._gap
            return False
        if not ready.warming and ready.symbols:
            self.done = True
            return True
        if now < self._next:
            return False
        moved = ready.active_s > self._seen
        self._gap = self.every_s if moved else min(self.MAX_GAP_S, self._gap * 2)
        self._seen = ready.active_s
        self._next = now + self._gap
        return True
