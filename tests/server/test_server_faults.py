"""The embedded server's fault controls, used by other tests to break things on purpose."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest
import websocket
from kit.waiting import wait_until
from kit.ws_client import Client, trades

from hkticks.alltick import protocol as alltick
from hkticks.server import MarketServer


@pytest.fixture
def srv() -> Iterator[MarketServer]:
    with MarketServer(seed=3, rate=1000, enforce_pacing=False, heartbeat_timeout=10) as server:
        yield server


def test_disconnect_all_close_sends_a_close_frame(srv: MarketServer) -> None:
    clients = [Client(srv.ws_url) for _ in range(2)]
    try:
        for c in clients:
            c.subscribe(["00700"])
        assert srv.disconnect_all("close") == 2
        for c in clients:
            assert c.wait_closed(2.0) == (1001, "server going away")
        infos = wait_until(
            lambda: all(i.closed_at for i in srv.connections()) and srv.connections(),
            what="every connection closed",
        )
        assert {i.close_reason for i in infos} == {"disconnect_all(close)"}
        again = Client(srv.ws_url)  # the server still accepts connections
        assert again.subscribe(["00700"])["ret"] == 200
        again.close()
    finally:
        for c in clients:
            c.close()


def test_disconnect_all_reset_is_abrupt(srv: MarketServer) -> None:
    c = Client(srv.ws_url)
    try:
        c.subscribe(["00700"])
        assert srv.disconnect_all("reset") == 1
        # no close frame: the TCP connection is reset (RST)
        with pytest.raises((ConnectionResetError, websocket.WebSocketConnectionClosedException)):
            for _ in range(100_000):
                c.ws.recv()
        info = wait_until(
            lambda: srv.connections()[0].closed_at and srv.connections()[0], what="the close"
        )
        assert info.close_reason == "disconnect_all(reset)"
    finally:
        c.close()


def test_reset_really_sends_rst(srv: MarketServer) -> None:
    """Raw socket view: after a reset, reading fails with ECONNRESET, not a clean EOF."""
    c = Client(srv.ws_url)
    try:
        c.ws.settimeout(2.0)
        srv.disconnect_all("reset")
        sock = c.ws.sock
        assert sock is not None
        with pytest.raises(ConnectionResetError):
            while sock.recv(65536):
                pass
    finally:
        c.close()


def test_stall_freezes_pushes_and_answers(srv: MarketServer) -> None:
    c = Client(srv.ws_url)
    try:
        c.subscribe(["00700", "09988"])
        srv.stall(True)
        c.collect(0.1)  # whatever was already in flight
        hb = c.builder.heartbeat()
        c.send(hb.text)
        assert c.collect(0.5) == []  # no pushes, no answer
        assert srv.connections()[0].closed_at is None  # still open
        assert srv.connections()[0].requests[-1][1:] == (22000, None)
        srv.stall(False)
        resp = c.request(c.builder.heartbeat())
        assert resp["ret"] == 200
        assert trades(c.collect(0.5))  # pushes again
    finally:
        c.close()


def test_stall_suspends_the_heartbeat_timeout() -> None:
    with MarketServer(rate=0, heartbeat_timeout=0.5) as server:
        c = Client(server.ws_url)
        try:
            server.stall(True)
            assert c.collect(0.9) == []  # longer than the timeout: still open
            assert server.connections()[0].closed_at is None
            server.stall(False)
            assert c.request(c.builder.heartbeat())["ret"] == 200
        finally:
            c.close()


def test_push_raw_text_binary_and_targeted(srv: MarketServer) -> None:
    a = Client(srv.ws_url, skip_utf8_validation=True)
    b = Client(srv.ws_url, skip_utf8_validation=True)
    try:
        assert srv.push_raw("not json {") == 2
        for c in (a, b):
            opcode, data = c.ws.recv_data()
            assert (opcode, data) == (websocket.ABNF.OPCODE_TEXT, b"not json {")
            assert isinstance(alltick.decode(data, 0), alltick.DecodeError)
        assert srv.push_raw(b"\x00\xffbin", binary=True, conn_id=2) == 1
        opcode, data = b.ws.recv_data()
        assert (opcode, data) == (websocket.ABNF.OPCODE_BINARY, b"\x00\xffbin")
        assert srv.push_raw(b"\xff\xfe bad utf-8", conn_id=1) == 1
        opcode, data = a.ws.recv_data()
        assert (opcode, data) == (websocket.ABNF.OPCODE_TEXT, b"\xff\xfe bad utf-8")
        assert srv.push_raw("x", conn_id=99) == 0
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("ret", [605, 600, 603, 400])
def test_next_ret_answers_without_applying(srv: MarketServer, ret: int) -> None:
    c = Client(srv.ws_url)
    try:
        srv.next_ret(alltick.CMD_SUB_TRADES, ret, msg="forced")
        req = c.builder.subscribe_trades(["00700"])
        resp = c.request(req)
        assert (resp["ret"], resp["msg"], resp["cmd_id"], resp["seq_id"]) == (
            ret,
            "forced",
            22005,
            req.seq_id,
        )
        assert srv.connections()[0].trade_symbols == ()
        if ret == 600:
            assert resp["data"] == {}  # no undocumented invalid_codes without --quirks extras
        # only the next one: the following request is handled normally
        assert c.subscribe(["00700"])["ret"] == 200
    finally:
        c.close()


def test_next_ret_401_closes_like_a_bad_token(srv: MarketServer) -> None:
    c = Client(srv.ws_url)
    try:
        srv.next_ret(alltick.CMD_HEARTBEAT, 401)
        resp = c.request(c.builder.heartbeat())
        assert (resp["ret"], resp["msg"]) == (401, "token invalid")
        assert c.wait_closed(2.0) == (1008, "token invalid")
    finally:
        c.close()


def test_next_ret_606_closes_after_answering(srv: MarketServer) -> None:
    c = Client(srv.ws_url)
    try:
        srv.next_ret(alltick.CMD_SUB_BOOK, 606)
        resp = c.request(c.builder.subscribe_book(["00700"]))
        assert resp["ret"] == 606
        assert c.wait_closed(2.0) == (1008, "too many requests")
    finally:
        c.close()


def test_next_ret_queues(srv: MarketServer) -> None:
    c = Client(srv.ws_url)
    try:
        srv.next_ret(alltick.CMD_HEARTBEAT, 605)
        srv.next_ret(alltick.CMD_HEARTBEAT, 429)
        rets = [c.request(c.builder.heartbeat())["ret"] for _ in range(3)]
        assert rets == [605, 429, 200]
    finally:
        c.close()


def test_set_rate(srv: MarketServer) -> None:
    c = Client(srv.ws_url)
    try:
        c.subscribe(["00700"])
        srv.set_rate(0)
        c.collect(0.1)
        assert trades(c.collect(0.3)) == []
        srv.set_rate(3000)
        assert trades(c.collect(0.3))
        with pytest.raises(ValueError):
            srv.set_rate(-1)
    finally:
        c.close()


def test_stop_is_idempotent_and_closes_clients() -> None:
    server = MarketServer(rate=0).start()
    c = Client(server.ws_url)
    try:
        server.stop()
        assert c.wait_closed(2.0)[0] == 1001
        server.stop()
        assert not server.running
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        assert server.connections()[0].close_reason == "server stopped"
    finally:
        c.close()


def test_port_in_use_is_a_clear_error() -> None:
    from hkticks.errors import HkticksError

    with MarketServer(rate=0) as first:
        with pytest.raises(HkticksError, match="the port is in use"):
            MarketServer(port=first.port, rate=0).start()
        with pytest.raises(HkticksError, match=f"127.0.0.1:{first.rest_port}"):
            MarketServer(rest_port=first.rest_port, rate=0).start()


def test_frames_stay_whole_under_concurrent_pushes(srv: MarketServer) -> None:
    """Batched writes and the library's own writes interleave without tearing frames."""
    c = Client(srv.ws_url)
    try:
        c.subscribe(["00700", "09988", "03690", "01810"])
        srv.set_rate(5000)
        for i in range(20):
            srv.push_raw(orjson.dumps({"raw": i}))
            c.request(c.builder.heartbeat())
        got = c.collect(0.2)  # includes the pushes seen while waiting for answers
        assert [f["raw"] for f in got if "raw" in f] == list(range(20))
        assert len(trades(got)) > 20
    finally:
        c.close()
