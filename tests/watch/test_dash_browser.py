"""The dashboard in a real browser: Playwright driving Debian's Chromium against
``hkticks dash --demo`` on loopback. Skipped (with the reason) where either is missing;
CI installs both (.ci/run)."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from test_dash import hostport, start_dash, stop

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

# the README's picture: taken by a run with HKTICKS_SCREENSHOT=1 (an ordinary run leaves the source
# tree as it was: tests/watch/__snapshots__ must not change by running the tests)
SCREENSHOT = Path(__file__).parent / "__snapshots__" / "dashboard.png"


def wait_js(page: Any, js: str, timeout: float = 15.0) -> Any:
    """Poll ``js`` in the page until it is truthy (the page's CSP forbids Playwright's own
    string predicates, which need eval); fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(js)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {js}")
        page.wait_for_timeout(50)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("dashb")
    # anomalies early (the scenario's and the engine's warm-ups shortened) for the alerts pane
    proc, url = start_dash(
        tmp,
        *("--demo", "--port", "0", "--demo-rate", "400"),
        *("--scenario", "anomalies:warmup_s=8,gap_s=2"),
        config="[alerts]\nwarmup_s = 5\nwarmup_trades = 5\n",
    )
    yield url
    stop(proc)


class Page:
    """A page with every console error and every request it made recorded."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1600, "height": 1000})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)

    def wait(self, js: str, timeout: float = 15.0) -> Any:
        return wait_js(self.page, js, timeout)

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def page(browser: Any, dash: str) -> Iterator[Page]:
    p = Page(browser, dash)
    yield p
    p.close()


def test_loads_clean_and_asks_nothing_of_another_host(
    page: Page, dash: str, tmp_path: Path
) -> None:
    # the first page of a run waits for the universe's subscription (a busy machine: generous)
    page.wait(
        "window.hkdash.tiles.size > 500 && window.hkdash.header && window.hkdash.header.demo", 60
    )
    assert page.errors == []
    host, port = hostport(dash)
    for url in page.requests:
        parsed = urlparse(url)
        assert parsed.scheme in ("http", "ws", "data"), url
        if parsed.scheme != "data":
            assert (parsed.hostname, parsed.port) == (host, port), url
    # DEMO is shown exactly as the terminal shows it
    assert page.page.locator("#demo-badge").inner_text() == "DEMO"
    assert page.page.locator("#conns .dot.green").count() >= 1
    # the page renders to a picture (the README's only when asked: see SCREENSHOT)
    shot = tmp_path / "dashboard.png"
    if os.environ.get("HKTICKS_SCREENSHOT") == "1":
        page.page.wait_for_timeout(1500)  # let the alerts pane fill for the README's picture
        shot = SCREENSHOT
    page.page.screenshot(path=str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_the_heatmap_follows_trades_within_a_second(page: Page) -> None:
    page.wait("window.hkdash.tiles.size > 500", 60)
    # the page stamps each tile it repaints; a trade's exchange time is the server's clock
    lags = page.page.evaluate(
        """() => new Promise((done) => {
            const lags = [];
            const seen = new Map();
            const t0 = performance.now();
            const poll = () => {
              for (const [code, r] of window.hkdash.rows) {
                const painted = window.hkdash.tileUpdated[code];
                if (r.ts && painted && seen.get(code) !== r.ts && painted > t0) {
                  seen.set(code, r.ts);
                  lags.push(performance.timeOrigin + painted - r.ts);
                }
              }
              if (lags.length >= 50 || performance.now() - t0 > 10000) done(lags);
              else setTimeout(poll, 20);
            };
            poll();
        })"""
    )
    assert len(lags) >= 20, f"only {len(lags)} tile updates seen in 10 s"
    lags.sort()
    assert lags[len(lags) // 2] < 1000, f"median trade -> tile {lags[len(lags) // 2]:.0f} ms"


def test_a_click_on_a_tile_opens_its_chart(page: Page) -> None:
    page.wait("window.hkdash.tiles.has('00700')", 60)
    page.page.click('#heatmap .tile[data-code="00700"]')
    page.page.wait_for_selector("#detail:not([hidden])")
    assert "00700" in page.page.locator("#detail-title").inner_text()
    page.page.wait_for_selector("#chart rect.body", timeout=15000)
    page.page.wait_for_selector("#tape tr", timeout=15000)
    page.page.keyboard.press("Escape")
    page.page.wait_for_selector("#detail", state="hidden")
    assert page.errors == []


def test_the_board_filters_codes_exactly_and_names_loosely(page: Page) -> None:
    page.wait("window.hkdash.rows.size > 500", 60)
    page.page.click("#tab-board")
    page.page.fill("#filter", "700")
    page.wait("document.querySelectorAll('#board tbody tr').length === 1", 5)
    assert page.page.locator("#board tbody tr").first.get_attribute("data-code") == "00700"
    page.page.fill("#filter", "tencent")
    page.wait(
        "[...document.querySelectorAll('#board tbody tr')].some(r => r.dataset.code === '00700')", 5
    )
    # sorting by change puts the top gainer first
    page.page.fill("#filter", "")
    page.page.click('#board th[data-key="chg"]')
    first, second = page.page.evaluate(
        """() => [...document.querySelectorAll('#board tbody tr')].slice(0, 2)
            .map(r => window.hkdash.rows.get(r.dataset.code).chg ?? -1e9)"""
    )
    assert first >= second
    page.page.click('#board tbody tr[data-code="00700"]')
    page.page.wait_for_selector("#detail:not([hidden])")


def test_an_alert_click_opens_the_symbol(page: Page) -> None:
    # the demo's anomalies scenario raises alerts; wait for one (bounded)
    page.page.wait_for_selector("#alert-list li", timeout=60_000)
    symbol = page.page.locator("#alert-list li").first.get_attribute("data-symbol")
    assert symbol
    # newer alerts push the list down while we click: click that symbol's own entry
    page.page.locator(f'#alert-list li[data-symbol="{symbol}"]').first.click()
    page.page.wait_for_selector("#detail:not([hidden])")
    assert symbol in page.page.locator("#detail-title").inner_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_page_reconnects_after_the_server_restarts(browser: Any, tmp_path: Path) -> None:
    port = _free_port()
    proc, url = start_dash(tmp_path, "00700", "00005", "--demo", "--port", str(port))
    p = Page(browser, url)
    try:
        p.wait("window.hkdash.connected && window.hkdash.rows.size === 2")
        stop(proc)
        p.wait("!window.hkdash.connected && !document.getElementById('banner').hidden")
        assert "reconnecting" in p.page.locator("#banner").inner_text()
        proc, _ = start_dash(tmp_path, "00700", "00005", "--demo", "--port", str(port))
        p.wait("window.hkdash.connected && window.hkdash.reconnects >= 1", timeout=30)
        p.wait("document.getElementById('banner').hidden")
        p.wait("[...window.hkdash.rows.values()].some(r => r.last)", timeout=30)
    finally:
        p.close()
        stop(proc)


def test_a_page_from_another_site_cannot_open_the_socket(browser: Any, dash: str) -> None:
    host, port = hostport(dash)
    html = (
        "<!doctype html><script>window.result='pending';"
        f"const ws=new WebSocket('ws://{host}:{port}/ws');"
        "ws.onopen=()=>window.result='open';ws.onerror=()=>window.result='refused';"
        "</script>"
    ).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        wait_js(page, "window.result !== 'pending'", 10)
        assert page.evaluate("window.result") == "refused"
        page.close()
    finally:
        evil.shutdown()
        evil.server_close()


def test_a_rebinding_host_name_gets_403_in_the_browser(browser: Any, dash: str) -> None:
    _host, port = hostport(dash)
    page = browser.new_page()
    # a DNS-rebinding name resolving to 127.0.0.1 (the browser sends it as the Host header)
    resp = page.request.get(f"http://127.0.0.1:{port}/", headers={"Host": f"rebind.example:{port}"})
    assert resp.status == 403
    page.close()


def test_a_replay_in_the_dashboard_says_replay_and_demo(browser: Any, tmp_path: Path) -> None:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "hkticks", "record", "00700", "00005", "--demo"]
        + ["--out", str(tmp_path / "day.jsonl"), "--duration", "4s"],
        check=True,
        capture_output=True,
        timeout=90,
        cwd=tmp_path,
    )
    proc, url = start_dash_replay(tmp_path, str(tmp_path / "day.jsonl"))
    p = Page(browser, url)
    try:
        text = p.wait("document.getElementById('replay-badge')?.textContent", 20)
        assert text.startswith("REPLAY ")
        assert p.page.locator("#demo-badge").inner_text() == "DEMO"  # from the file's provenance
        p.wait("[...window.hkdash.rows.values()].some(r => r.last)", 20)
        p.wait("document.getElementById('replay-badge').textContent.includes('done')", 30)
        assert p.errors == []
    finally:
        p.close()
        stop(proc)


def start_dash_replay(tmp_path: Path, path: str) -> tuple[Any, str]:
    """``hkticks replay FILE --dash`` (it prints the URL like ``hkticks dash``)."""
    import os
    import subprocess
    import sys

    from test_dash import URL_LINE

    proc = subprocess.Popen(
        [sys.executable, "-m", "hkticks", "replay", path, "--dash", "--port", "0"]
        + ["--speed", "4"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, HOME=str(tmp_path)),
        cwd=tmp_path,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        m = URL_LINE.search(line)
        if m:
            return proc, m.group(1)
    raise AssertionError(f"replay --dash printed no URL (exit {proc.wait()})")
