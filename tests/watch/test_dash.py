"""``hkticks dash``: the dashboard's server over real sockets (HTTP, WebSocket, security)
and its pure message building. The page itself is driven in a real browser by
tests/test_dash_browser.py."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from hkticks.watch.model import WatchModel
from hkticks.watch.web import state as st

URL_LINE = re.compile(r"dashboard at (http://[^/\s]+/)")


def start_dash(tmp_path: Path, *args: str, config: str = "") -> tuple[subprocess.Popen[str], str]:
    """Start ``hkticks dash`` (with ``config`` as its config file) and return it with the
    URL it printed."""
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    env.pop("HKTICKS_CONFIG", None)
    if config:
        (tmp_path / "cfg" / "hkticks").mkdir(parents=True, exist_ok=True)
        (tmp_path / "cfg" / "hkticks" / "config.toml").write_text(config)
    env.pop("HKTICKS_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hkticks", "dash", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = URL_LINE.search(line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise AssertionError(f"dash printed no URL (exit {proc.wait()})")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("dash")
    proc, url = start_dash(tmp, "00700", "09988", "00005", "--demo", "--port", "0")
    yield url
    stop(proc)


def hostport(url: str) -> tuple[str, int]:
    m = re.match(r"http://([^:/]+):(\d+)/", url)
    assert m
    return m.group(1), int(m.group(2))


def get(url: str, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    host, port = hostport(url)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    resp.read()
    return resp


def test_the_page_and_its_files_are_served_with_a_strict_policy(dash: str) -> None:
    resp = get(dash, "/")
    assert resp.status == 200
    assert resp.getheader("Content-Type", "").startswith("text/html")
    csp = resp.getheader("Content-Security-Policy", "")
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    for name in ("dash.js", "dash.css"):
        assert get(dash, f"/static/{name}").status == 200
    assert get(dash, "/static/../server.py").status == 404
    assert get(dash, "/static/%2e%2e%2fserver.py").status == 404
    assert get(dash, "/nowhere").status == 404


def test_the_page_loads_nothing_from_another_host() -> None:
    from importlib import resources

    folder = resources.files("hkticks.watch.web") / "static"
    for item in folder.iterdir():
        text = item.read_text(encoding="utf-8")
        # the SVG namespace is a name, not a request; nothing else may name a host
        others = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text)) - {
            "http://www.w3.org"
        }
        assert not others, f"{item.name} names {others}"


def test_a_foreign_host_header_is_refused(dash: str) -> None:
    _host, port = hostport(dash)
    assert get(dash, "/", {"Host": f"evil.example:{port}"}).status == 403
    assert get(dash, "/", {"Host": f"127.0.0.1.nip.io:{port}"}).status == 403
    assert get(dash, "/", {"Host": f"localhost:{port}"}).status == 200


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "ws"


def test_a_websocket_from_another_origin_is_refused(dash: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(dash), origin="http://evil.example")  # type: ignore[arg-type]
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        connect(ws_url(dash))  # no Origin at all: not a page of ours


def test_a_page_gets_a_snapshot_then_diffs_labelled_demo(dash: str) -> None:
    origin = dash.rstrip("/")
    with connect(ws_url(dash), origin=origin) as ws:  # type: ignore[arg-type]
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "snapshot"
        assert {r["code"] for r in first["rows"]} == {"00700", "09988", "00005"}
        assert first["options"]["clamp"] == 3.0 and first["options"]["palette"]["steps"] == 5
        ws.send(json.dumps({"type": "size", "w": 800, "h": 500}))
        seen_layout = seen_demo = seen_trade = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (seen_layout and seen_demo and seen_trade):
            msg = json.loads(ws.recv(timeout=10))
            if msg["type"] == "layout":
                seen_layout = True
                assert {t[0] for t in msg["tiles"]} == {"00700", "09988", "00005"}
                for _code, x, y, w, h in msg["tiles"]:
                    assert 0 <= x and x + w <= 800 and 0 <= y and y + h <= 500.5
            elif msg["type"] == "diff":
                seen_demo = seen_demo or msg["header"]["demo"]
                seen_trade = seen_trade or any(r["last"] for r in msg["rows"])
                assert "token" not in json.dumps(msg)
        assert seen_layout and seen_demo and seen_trade
        ws.send(json.dumps({"type": "detail", "code": "00700"}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the open chart follows the trades each second
            msg = json.loads(ws.recv(timeout=10))
            if msg["type"] == "detail":
                assert msg["code"] == "00700" and msg["demo"] is True
                if msg["trades"] and msg["bars"]:
                    break
        else:
            raise AssertionError("no detail answer with 00700's trades in 30 s")


def test_wrong_tokens_are_limited(tmp_path: Path) -> None:
    proc, url = start_dash(tmp_path, "00700", "--demo", "--port", "0", "--auth", "right-one")
    try:
        codes = [get(url, "/login", {"X-Hkticks-Auth": f"guess{i}"}).status for i in range(7)]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
        # bound beyond loopback any host name reaches the form (the token guards the board)
    finally:
        stop(proc)


def test_bound_to_every_interface_any_name_reaches_the_login_form(tmp_path: Path) -> None:
    proc, url = start_dash(
        tmp_path, "00700", "--demo", "--port", "0", "--host", "0.0.0.0", "--auth", "pw-123"
    )
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        local = f"http://127.0.0.1:{port}/"
        for host in (f"127.0.0.1:{port}", f"some-machine.lan:{port}", f"192.0.2.7:{port}"):
            assert get(local, "/", {"Host": host}).status == 200
            assert get(local, "/static/dash.js", {"Host": host}).status == 401
    finally:
        stop(proc)


def test_a_flooding_page_does_not_freeze_the_others(dash: str) -> None:
    import threading

    origin = dash.rstrip("/")
    done = threading.Event()

    def flood() -> None:
        try:
            with connect(ws_url(dash), origin=origin) as ws:  # type: ignore[arg-type]
                msg = json.dumps({"type": "detail", "code": "00700"})
                while not done.is_set():
                    ws.send(msg)
        except Exception:
            pass  # closed by the server for flooding: what it should do

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    try:
        with connect(ws_url(dash), origin=origin) as ws:  # type: ignore[arg-type]
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
            diffs, deadline = 0, time.monotonic() + 5
            while time.monotonic() < deadline:
                if json.loads(ws.recv(timeout=5))["type"] == "diff":
                    diffs += 1
            assert diffs >= 8  # ~4 a second while another page floods
        assert get(dash, "/static/dash.css").status == 200
    finally:
        done.set()
        t.join(10)


def test_headers_given_twice_are_a_bad_request(dash: str) -> None:
    host, port = hostport(dash)
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nHost: evil.example\r\n\r\n".encode())
        assert s.recv(100).split(b"\r\n", 1)[0].split()[1] in (b"400", b"403")


def test_a_non_loopback_host_needs_auth(tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-m", "hkticks", "dash", "00700", "--demo", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--auth" in lines[0]
    assert "Traceback" not in out.stderr


def test_auth_is_asked_once_and_kept_in_an_httponly_cookie(tmp_path: Path) -> None:
    proc, url = start_dash(tmp_path, "00700", "--demo", "--port", "0", "--auth", "s3cret-pass")
    try:
        front = get(url, "/")  # the login form, not the board
        assert front.status == 200 and get(url, "/session").status == 401
        assert get(url, "/static/dash.js").status == 401
        assert get(url, "/login", {"X-Hkticks-Auth": "wrong"}).status == 401
        assert get(url, "/login?token=s3cret-pass").status == 401  # never in a URL
        resp = get(url, "/login", {"X-Hkticks-Auth": "s3cret-pass"})
        assert resp.status == 204
        cookie = resp.getheader("Set-Cookie", "")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "s3cret-pass" not in cookie  # a session value, not the token
        value = cookie.split(";", 1)[0]
        assert get(url, "/session", {"Cookie": value}).status == 204
        assert get(url, "/static/dash.js", {"Cookie": value}).status == 200
        assert get(url, "/session", {"Cookie": "hkticks_dash=\u00e9"}).status == 401
        origin = url.rstrip("/")
        with pytest.raises(InvalidStatus) as info:
            connect(ws_url(url), origin=origin)  # type: ignore[arg-type]
        assert info.value.response.status_code == 401
        with connect(
            ws_url(url),
            origin=origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": value},
        ) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
    finally:
        stop(proc)


# -- pure parts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "text"),
    [(0.355, "0.355"), (84.0, "84.00"), (377.0, "377.0"), (377.2, "377.2"), (1024, "1024")],
)
def test_prices_are_shown_at_the_spread_tables_precision(price: float, text: str) -> None:
    assert st.price_text(price) == text


def test_the_differ_sends_only_rows_that_changed() -> None:
    from hkticks.tick import Tick

    model = WatchModel(["00700", "00005"], started=0.0)
    differ = st.RowDiffer()
    assert {r["code"] for r in differ.changed(model.rows.values())} == {"00700", "00005"}
    assert differ.changed(model.rows.values()) == []
    model.apply([Tick("00700", 1_000, 380.2, 100, 38_020.0, "buy", 1, 1_001, "demo-sim")], 1.0)
    changed = differ.changed(model.rows.values())
    assert [r["code"] for r in changed] == ["00700"] and changed[0]["px"] == "380.2"


def test_the_pages_layout_is_the_terminal_engines_in_pixels() -> None:
    from hkticks.watch.heatmap import TileData, layout

    tiles = [
        TileData(f"{i:05d}", "", 0.0, float(100 - i), "A" if i < 20 else "B") for i in range(1, 40)
    ]
    rows = st.cell_rows(500)
    placed = layout(tiles, 800, rows)
    msg = st.layout_message(placed, 800, 500, rows, "cap")
    assert {t[0] for t in msg["tiles"]} | set() == {p.tile.code for p in placed.tiles}
    area = sum(w * h for _c, _x, _y, w, h in msg["tiles"]) + sum(
        w * h for _g, _x, _y, w, h in msg["headers"]
    )
    assert abs(area - 800 * 500) < 1e-6 * 800 * 500  # the page is tiled exactly
    for _code, x, y, w, h in msg["tiles"]:
        assert 0 <= x and x + w <= 800 and 0 <= y and y + h <= 500 + 1e-9


def test_the_palette_is_the_terminal_heatmaps_steps() -> None:
    from hkticks.watch.heatmap import STEPS, change_color, change_step

    pal = st.palette("west")
    assert set(pal["rgb"]) == {str(s) for s in range(-STEPS, STEPS + 1)}
    for pct in (-4.0, -1.68, 0.0, 0.88, 2.5):
        step = change_step(pct, scale=3.0)
        assert tuple(pal["rgb"][str(step)]) == change_color(pct, clamp=3.0)
