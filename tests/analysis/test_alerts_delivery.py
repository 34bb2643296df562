"""Alert delivery against real things: a loopback HTTP server, real processes, real files."""

from __future__ import annotations

import http.server
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from hkticks.analysis.alerts import (
    AlertLog,
    Bell,
    CommandSink,
    Dispatcher,
    WebhookSink,
    alerts_log_path,
)
from hkticks.analysis.anomaly import Alert
from hkticks.errors import OutputError, UsageError

ALERT = Alert(1796004120000, "00700", "volume_spike", 4.2, 3.0, 10.0, "00700 volume spike: ...")


class Hook:
    """A loopback HTTP server that records POSTs and answers from a script of status codes."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.statuses = list(statuses or [])
        self.release = threading.Event()
        self.release.set()
        self.arrived = threading.Event()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                hook.bodies.append(self.rfile.read(n))
                hook.headers.append(dict(self.headers))
                hook.arrived.set()
                hook.release.wait(10)
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", f"http://127.0.0.1:{hook.port}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def no_sleep(seconds: float) -> None:
    pass


def test_webhook_posts_the_alert_json(hook: Hook) -> None:
    sink = WebhookSink(hook.url, sleep=no_sleep)
    sink.send(ALERT)
    sink.close()
    assert [orjson.loads(b) for b in hook.bodies] == [ALERT.record()]
    assert hook.headers[0]["Content-Type"] == "application/json"
    assert (sink.sent, sink.failed, sink.dropped) == (1, 0, 0)


def test_webhook_retries_5xx_and_429_then_delivers(hook: Hook) -> None:
    hook.statuses = [503, 429, 200]
    sink = WebhookSink(hook.url, retries=3, sleep=no_sleep)
    sink.send(ALERT)
    sink.close()
    assert len(hook.bodies) == 3 and sink.sent == 1 and sink.failed == 0


def test_webhook_gives_up_after_its_retries(hook: Hook) -> None:
    hook.statuses = [500] * 10
    sink = WebhookSink(hook.url, retries=2, sleep=no_sleep)
    sink.send(ALERT)
    sink.close()
    assert len(hook.bodies) == 3 and sink.failed == 1
    assert Dispatcher([sink]).problems() == [
        f"--webhook {hook.url}: 0 delivered, 1 failed; last error: HTTP 500"
    ]


def test_webhook_does_not_retry_4xx_nor_follow_redirects(hook: Hook) -> None:
    hook.statuses = [400, 302]
    sink = WebhookSink(hook.url, retries=3, sleep=no_sleep)
    sink.send(ALERT)
    sink.send(ALERT)
    sink.close()
    assert len(hook.bodies) == 2  # one each: no retry, no request to /elsewhere
    assert sink.failed == 2


def test_webhook_unreachable_is_counted_not_raised() -> None:
    h = Hook()
    url = h.url
    h.close()  # nothing listens there any more
    sink = WebhookSink(url, retries=1, timeout_s=2.0, sleep=no_sleep)
    sink.send(ALERT)
    sink.close()
    assert sink.failed == 1 and "unreachable" in (sink.last_error or "")


def test_webhook_never_blocks_the_caller(hook: Hook) -> None:
    """With the receiver stuck, send() still returns at once: alerts beyond the queue are dropped."""
    hook.release.clear()
    sink = WebhookSink(hook.url, maxsize=10, sleep=no_sleep)
    sink.send(ALERT)
    assert hook.arrived.wait(5)  # the worker is now blocked inside the POST
    for _ in range(100):
        sink.send(ALERT)  # returns although nothing can be delivered
    assert sink.dropped == 90  # 10 fit in the queue
    hook.release.set()
    sink.close(timeout=10)
    assert sink.sent == 11 and len(hook.bodies) == 11


def test_webhook_refuses_a_non_http_url() -> None:
    with pytest.raises(UsageError, match="not an http"):
        WebhookSink("ftp://example.org/x")


def test_alert_cmd_gets_the_json_on_stdin_without_a_shell(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    marker = tmp_path / "shell-ran"
    script = "import sys; open(sys.argv[1], 'ab').write(sys.stdin.buffer.read() + b'\\n')"
    # a shell would run the `touch`; with argv it is just an extra argument
    sink = CommandSink([sys.executable, "-c", script, str(out), ";", "touch", str(marker)])
    sink.send(ALERT)
    sink.send(ALERT)
    sink.close(timeout=30)
    assert [orjson.loads(x) for x in out.read_bytes().splitlines()] == [ALERT.record()] * 2
    assert not marker.exists()
    assert sink.sent == 2


def test_alert_cmd_string_is_split_like_argv(tmp_path: Path) -> None:
    out = tmp_path / "o"
    cmd = f"{sys.executable} -c 'import sys; open(sys.argv[1], \"wb\").write(sys.stdin.buffer.read())' {out}"
    sink = CommandSink(cmd)
    sink.send(ALERT)
    sink.close(timeout=30)
    assert orjson.loads(out.read_bytes()) == ALERT.record()


def test_alert_cmd_failures_are_counted(tmp_path: Path) -> None:
    bad = CommandSink([sys.executable, "-c", "import sys; sys.exit(3)"])
    missing = CommandSink([str(tmp_path / "no-such-program")])
    stuck = "import time; time.sleep(30)"  # under test: a command slower than its timeout
    slow = CommandSink([sys.executable, "-c", stuck], timeout_s=0.5)
    for s in (bad, missing, slow):
        s.send(ALERT)
        s.close(timeout=30)
        assert s.failed == 1 and s.sent == 0
    assert "exit status 3" in (bad.last_error or "")
    assert "not found" in (missing.last_error or "")
    assert "timed out" in (slow.last_error or "")
    with pytest.raises(UsageError):
        CommandSink("")


def test_alerts_log_beside_the_recording(tmp_path: Path) -> None:
    path = alerts_log_path(str(tmp_path / "day.jsonl"))
    assert path.endswith("day.jsonl.alerts.jsonl")
    log = AlertLog(path)
    log.send(ALERT)
    log.close()
    log = AlertLog(path)  # appends
    log.send(ALERT)
    log.close()
    assert [Alert.from_record(orjson.loads(x)) for x in Path(path).read_bytes().splitlines()] == [
        ALERT
    ] * 2
    with pytest.raises(OutputError, match="cannot write the alerts log"):
        AlertLog(str(tmp_path / "missing-dir" / "a.jsonl"))


def test_bell_and_dispatcher(tmp_path: Path) -> None:
    import io

    stream = io.StringIO()
    log = AlertLog(str(tmp_path / "a.jsonl"))
    d = Dispatcher([Bell(stream), log])
    d.send(ALERT)
    d.close()
    assert stream.getvalue() == "\a" and log.written == 1 and d.problems() == []


def test_close_waits_for_delivery_in_flight(hook: Hook) -> None:
    sink = WebhookSink(hook.url, sleep=no_sleep)
    for _ in range(20):
        sink.send(ALERT)
    sink.close(timeout=10)
    assert sink.sent == 20 and len(hook.bodies) == 20
