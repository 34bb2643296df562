"""Alert delivery: a command, a webhook, the alerts log, the terminal bell.

None of them may hold back the feed: the command and the webhook each run
in their own named thread behind a bounded queue; when a queue is full the
alert is dropped for that channel and counted (``dropped``), never waited
for. The log is an append-only JSONL file flushed per alert (alerts are
rare), and the bell is one byte.

* ``--alert-cmd 'notify-send hkticks'``: the command is split like a shell
  would (``shlex``) but run WITHOUT a shell, one process per alert, the
  alert's JSON on its stdin; a command that fails or outlives ``timeout_s``
  is reported once per kind of failure, not per alert.
* ``--webhook URL``: an HTTP POST of the alert's JSON
  (``Content-Type: application/json``), retried ``retries`` times with
  backoff on a network error or a 5xx/429 answer; redirects are not
  followed (a POST must not silently become a GET elsewhere); TLS is
  verified.
"""

from __future__ import annotations

import logging
import queue
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import IO, Any

import orjson

from hkticks.alltick.urls import redact
from hkticks.analysis.anomaly import Alert
from hkticks.errors import OutputError, UsageError

log = logging.getLogger("hkticks.alerts")

QUEUE_MAX = 1000
_STOP = object()


def alert_json(alert: Alert) -> bytes:
    return orjson.dumps(alert.record())


def alerts_log_path(recording: str) -> str:
    """Where the alerts of a recording go: beside it, ``<recording>.alerts.jsonl``."""
    return f"{recording}.alerts.jsonl"


class _Worker:
    """One thread delivering alerts from a bounded queue; never blocks :meth:`send`."""

    name = "worker"

    def __init__(self, thread_name: str, maxsize: int = QUEUE_MAX) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize)
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._warned: set[str] = set()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    def send(self, alert: Alert) -> None:
        try:
            self._q.put_nowait(alert)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout`` s), then stop the thread."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._q.put(_STOP, timeout=max(0.01, deadline - time.monotonic()))
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                return
            try:
                ok = self._deliver(item)
            except Exception as exc:  # a bug in delivery must not kill the thread
                ok = False
                self._problem(f"unexpected error: {exc!r}")
            if ok:
                self.sent += 1
            else:
                self.failed += 1

    def _deliver(self, alert: Alert) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def _problem(self, what: str) -> None:
        self.last_error = what
        key = what.split(":", 1)[0]
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s: %s", self.name, what)


class CommandSink(_Worker):
    """Run ``argv`` (no shell) once per alert with the alert's JSON on stdin."""

    def __init__(self, command: str | Sequence[str], *, timeout_s: float = 10.0) -> None:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv:
            raise UsageError(
                "--alert-cmd is empty: give a command, e.g. --alert-cmd 'notify-send hkticks'"
            )
        self.argv = argv
        self.timeout_s = timeout_s
        self.name = f"--alert-cmd {argv[0]}"
        super().__init__("hkticks-alert-cmd")

    def _deliver(self, alert: Alert) -> bool:
        try:
            done = subprocess.run(  # noqa: S603 - argv list, no shell, by design
                self.argv,
                input=alert_json(alert),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError:
            self._problem(f"not found: {self.argv[0]}")
            return False
        except PermissionError:
            self._problem(f"not executable: {self.argv[0]}")
            return False
        except subprocess.TimeoutExpired:
            self._problem(f"timed out after {self.timeout_s:g} s (killed)")
            return False
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            self._problem(f"exit status {done.returncode}: {tail[0][:200]}")
            return False
        return True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx is returned as an HTTPError and counted as a failure


class WebhookSink(_Worker):
    """POST each alert's JSON to ``url``, retried with backoff, in its own thread."""

    def __init__(
        self,
        url: str,
        *,
        retries: int = 3,
        timeout_s: float = 5.0,
        backoff_s: float = 0.5,
        maxsize: int = QUEUE_MAX,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--webhook {redact(url)!r} is not an http:// or https:// URL")
        self.url = url
        self.retries = retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self._sleep = sleep
        self.name = f"--webhook {redact(url)}"
        self._opener = urllib.request.build_opener(_NoRedirect())
        super().__init__("hkticks-webhook", maxsize)

    def _deliver(self, alert: Alert) -> bool:
        body = alert_json(alert)
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(
                self.url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "hkticks-alerts"},
            )
            try:
                with self._opener.open(request, timeout=self.timeout_s) as resp:
                    resp.read()
                return True
            except urllib.error.HTTPError as exc:
                retry = exc.code >= 500 or exc.code == 429
                self._problem(f"HTTP {exc.code}")
                if not retry:
                    return False
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                self._problem(f"unreachable: {redact(str(reason))}")
        return False


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

    def __init__(self, sinks: Sequence[Any] = ()) -> None:
        self.sinks = list(sinks)

    def send(self, alert: Alert) -> None:
        for sink in self.sinks:
            sink.send(alert)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

    def problems(self) -> list[str]:
        """One line per channel that failed or dropped alerts (for the end-of-run summary)."""
        out = []
        for sink in self.sinks:
            if isinstance(sink, _Worker) and (sink.failed or sink.dropped):
                out.append(
                    f"{sink.name}: {sink.sent} delivered, {sink.failed} failed"
                    + (f", {sink.dropped} dropped (queue full)" if sink.dropped else "")
                    + (f"; last error: {sink.last_error}" if sink.last_error else "")
                )
        return out
