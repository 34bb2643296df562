"""Alert delivery against real things: a loopback HTTP server, real processes, real files."""

from __future__ import annotations

import http.server
import sys
import threading
import time
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
from hkticks.errors import AlertsLost, OutputError, UsageError

ALERT = Alert(1796004120000, "00700", "volume_spike", 4.2, 3.0, 10.0, "00700 volume spike: ...")


class Hook:
    """A loopback HTTP server that records POSTs and answers from a script of status codes."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.statuses = list(statuses or [])
        self.delay_s = 0.0
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
                if hook.delay_s:
                    time.sleep(hook.delay_s)  # the receiver under test is slow
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
        f"--webhook {hook.url}: 0 of 1 delivered, 1 failed; last error: HTTP 500"
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
    assert (sink.received, sink.undelivered) == (101, 0)


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


# -- every alert accounted (issue 25.5) ---------------------------------------------------


def alerts(n: int) -> list[Alert]:
    return [
        Alert(ALERT.ts + i, "00700", "volume_spike", 4.2, 3.0, 10.0, f"alert {i}") for i in range(n)
    ]


def accounted(sink: WebhookSink | CommandSink) -> bool:
    return sink.received == sink.sent + sink.failed + sink.dropped + sink.undelivered


def test_a_hanging_webhook_accounts_for_every_alert_and_fails_the_run(hook: Hook) -> None:
    """Before: 730 alerts, "0 delivered, 1 failed", the rest silently abandoned, exit 0."""
    hook.release.clear()  # the receiver takes the POST and never answers
    said: list[str] = []
    sink = WebhookSink(hook.url, timeout_s=0.3, retries=1, backoff_s=0.05, report=said.append)
    for a in alerts(300):
        sink.send(a)
    t0 = time.monotonic()
    d = Dispatcher([sink], drain_s=1.0)
    d.close()
    assert time.monotonic() - t0 < 15  # the drain time is a bound, not 300 x the timeout
    assert sink.received == 300 and accounted(sink)
    assert sink.sent == 0 and sink.undelivered > 250
    (line,) = d.problems()
    assert "0 of 300 delivered" in line and "not delivered before exit" in line
    assert "timed out" in line or "unreachable" in line
    assert any("is not taking alerts" in s for s in said)  # said while it happened
    with pytest.raises(AlertsLost, match="300 alerts did not reach --webhook") as err:
        d.check()
    assert err.value.exit_code != 0


def test_a_webhook_answering_500_goes_down_then_recovers(hook: Hook) -> None:
    hook.statuses = [500] * 6
    said: list[str] = []
    sink = WebhookSink(hook.url, retries=2, backoff_s=0.01, max_backoff_s=0.05, report=said.append)
    for a in alerts(6):
        sink.send(a)
    sink.close(timeout=20)
    # the first alert used its 3 tries; then one try each (a pause between) until one passed
    assert accounted(sink) and sink.undelivered == 0
    assert (sink.failed, sink.sent) == (4, 2)
    assert len(hook.bodies) == 3 + 3 + 2
    assert not sink.down
    assert [s for s in said if "not taking alerts" in s] and said[-1].endswith("delivering again")


def test_a_slow_webhook_says_so_and_counts_what_it_never_reached(hook: Hook) -> None:
    """Before: a 3 s webhook delivered 12 of 698 and nothing was said."""
    hook.delay_s = 0.2
    said: list[str] = []
    sink = WebhookSink(hook.url, report=said.append)
    for a in alerts(150):
        sink.send(a)
    d = Dispatcher([sink], drain_s=2.0)
    d.close()
    assert accounted(sink) and 0 < sink.sent < 40 and sink.undelivered == 150 - sink.sent
    assert any("slower than the alerts" in s and "100 waiting" in s for s in said)
    (line,) = d.problems()
    assert f"{sink.sent} of 150 delivered" in line and "s per alert" in line


def test_a_full_queue_drops_the_oldest_alerts(hook: Hook) -> None:
    hook.release.clear()
    said: list[str] = []
    sink = WebhookSink(hook.url, maxsize=5, report=said.append)
    batch = alerts(50)
    sink.send(batch[0])
    assert hook.arrived.wait(5)  # the first is in flight
    for a in batch[1:]:
        sink.send(a)
    hook.release.set()
    sink.close(timeout=10)
    got = [orjson.loads(b)["message"] for b in hook.bodies]
    assert got == ["alert 0"] + [f"alert {i}" for i in range(45, 50)]  # the newest kept
    assert (sink.sent, sink.dropped, sink.undelivered) == (6, 44, 0)
    assert sum("dropping the oldest" in s for s in said) == 1


def test_webhook_honours_retry_after(hook: Hook) -> None:
    hook.statuses = [429, 200]
    waits: list[float] = []
    sink = WebhookSink(hook.url, retries=1, sleep=waits.append)
    sink.send(ALERT)
    sink.close()
    assert sink.sent == 1 and waits == [0.5]  # no Retry-After header: our own first backoff


def test_alert_cmd_flooding_stderr_keeps_only_a_tail(tmp_path: Path) -> None:
    """Before: a command writing to stderr without end took RSS from 41 to 610 MB."""
    import resource

    script = (
        "import sys\n"
        "chunk = b'x' * 65535 + b'\\n'\n"
        "for _ in range(3200): sys.stderr.buffer.write(chunk)\n"  # 200 MiB
        "sys.stderr.buffer.write(b'the last words\\n'); sys.exit(4)\n"
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sink = CommandSink([sys.executable, "-c", script], timeout_s=120)
    sink.send(ALERT)
    sink.close(timeout=120)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert sink.failed == 1 and sink.stderr_bytes > 200 * 2**20
    assert grown_mib < 32
    assert sink.last_error == "exit status 4: the last words"


def alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of a killed child counts as gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def gone(pid: int) -> None:
    """The grandchild was sent SIGKILL with its group; it ends when the kernel next
    runs it, which on a busy machine is a moment after killpg returns (CI saw it
    still running): wait for that, briefly."""
    from kit.waiting import wait_until

    wait_until(lambda: not alive(pid), timeout=5, what=f"pid {pid} killed with its group")


def child_pid(path: Path) -> int:
    from kit.waiting import wait_until

    return int(wait_until(lambda: path.exists() and path.read_text().strip(), timeout=20))


def test_a_hanging_command_is_killed_with_its_children(tmp_path: Path) -> None:
    """Before: 707 of 710 alerts unaccounted and its `sleep 100` outlived hkticks."""
    from kit.waiting import wait_until

    pidfile = tmp_path / "child.pid"
    cmd = ["sh", "-c", f"sleep 100 & echo $! > {pidfile}; wait"]
    sink = CommandSink(cmd, timeout_s=1.0)
    for a in alerts(5):
        sink.send(a)
    pid = child_pid(pidfile)
    wait_until(lambda: sink.failed >= 1, timeout=20)
    gone(pid)  # the group went with the timed-out command
    assert "timed out after 1 s (killed with its process group)" in (sink.last_error or "")
    sink.close(timeout=0.2)
    assert accounted(sink) and sink.received == 5 and sink.sent == 0


def test_a_command_still_running_at_exit_is_killed_and_counted(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    cmd = ["sh", "-c", f"sleep 100 & echo $! > {pidfile}; wait"]
    sink = CommandSink(cmd, timeout_s=300)
    sink.send(ALERT)
    sink.send(ALERT)
    pid = child_pid(pidfile)
    t0 = time.monotonic()
    sink.close(timeout=0.3)
    assert time.monotonic() - t0 < 10
    gone(pid)
    assert (sink.sent, sink.failed, sink.undelivered) == (0, 0, 2)
    assert "not delivered before exit" in sink.summary()


def test_warm_up_status_every_10_s_backing_off_while_the_clock_stands_still() -> None:
    from hkticks.analysis.alerts import WarmupStatus, status_text
    from hkticks.analysis.anomaly_state import Readiness

    w = WarmupStatus(10)
    moving = [Readiness(float(t), 120, 10, 0, 5) for t in range(0, 100, 10)]
    assert [w.due(t * 10 + 0.1, r) for t, r in enumerate(moving[:4])] == [False, True, True, True]
    still = Readiness(30.0, 120, 10, 0, 5)  # the market closed: no trading time passes
    seen = [t for t in range(40, 200) if w.due(float(t), still)]
    assert seen == [41, 61, 101, 181]  # 10 s after the last, then 20, 40, 80 s apart
    done = Readiness(121.0, 120, 10, 8, 9)
    assert w.due(200, done) and w.done and not w.due(500, done)  # once when it is over
    text = status_text(Readiness(40, 120, 310, 0, 290), 8123, 0, ("volume_spike", "block_trade"))
    assert text == (
        "warming up: 0:40 of 2:00 of trading seen (volume_spike waits for it); "
        "8,123 trades, 310 symbols; block_trade armed on 290; 0 alerts"
    )
