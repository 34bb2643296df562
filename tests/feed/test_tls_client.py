"""The client against real TLS servers on loopback: an untrusted certificate, a downgrade."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kit.hk import run_hk

from hkticks.alltick import protocol as alltick
from hkticks.server import MarketServer

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made now (trusted by nobody)."""
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key)]
        + ["-out", str(crt), "-days", "1", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost"],
        check=True,
        capture_output=True,
    )
    return crt, key


@pytest.fixture
def tls_server(cert: tuple[Path, Path]) -> Iterator[str]:
    crt, key = cert
    with MarketServer(token="t", rate=300.0, seed=3, tls_cert=str(crt), tls_key=str(key)) as srv:
        yield f"wss://localhost:{srv.port}{alltick.WS_PATH}"


def _no_ssl_env() -> dict[str, str]:
    return {"SSL_CERT_FILE": "/nonexistent-hkticks-test-ca.pem", "SSL_CERT_DIR": "/nonexistent"}


@pytest.mark.parametrize("command", ["record", "watch"])
def test_an_untrusted_certificate_fails_at_once_with_what_to_do(
    tmp_path: Path, tls_server: str, command: str
) -> None:
    out = tmp_path / "x.jsonl"
    args = ["--out", str(out)] if command == "record" else ["--json"]
    proc = run_hk(
        tmp_path,
        command,
        "700",
        "--url",
        tls_server,
        "--token",
        "t",
        *args,
        "--duration",
        "20s",
        timeout=30,
        **_no_ssl_env(),
    )
    assert proc.returncode == 7, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    assert "certificate" in errors[0] and "not trusted" in errors[0]
    assert "SSL_CERT_FILE=" in errors[0]
    assert "Traceback" not in proc.stderr and "token=t" not in proc.stderr
    # no retries of a certificate that will not change
    assert "reconnecting" not in proc.stderr
    # the run recorded nothing: no empty file left behind
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == []
    assert proc.stdout == ""


def test_the_certificate_trusted_through_ssl_cert_file_records(
    tmp_path: Path, tls_server: str, cert: tuple[Path, Path]
) -> None:
    out = tmp_path / "x.jsonl"
    proc = run_hk(
        tmp_path,
        "record",
        "700",
        "--url",
        tls_server,
        "--token",
        "t",
        "--out",
        str(out),
        "--duration",
        "2s",
        SSL_CERT_FILE=str(cert[0]),
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().count("\n") > 0


class _TlsRedirector:
    """A real TLS listener answering every handshake with a redirect to ``ws://``."""

    def __init__(self, cert: tuple[Path, Path], target_port: int) -> None:
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.target_port = target_port
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(raw, server_side=True) as conn:
                    head = b""
                    while b"\r\n\r\n" not in head:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    conn.sendall(
                        b"HTTP/1.1 302 Found\r\nLocation: ws://localhost:%d%s?token=t\r\n"
                        b"Content-Length: 0\r\n\r\n" % (self.target_port, alltick.WS_PATH.encode())
                    )
            except (OSError, ssl.SSLError):
                continue

    def close(self) -> None:
        self.sock.close()


def test_a_redirect_from_wss_to_ws_is_refused_by_a_real_tls_server(
    tmp_path: Path, cert: tuple[Path, Path]
) -> None:
    plain = socket.create_server(("127.0.0.1", 0))
    plain.settimeout(0.0)
    redirector = _TlsRedirector(cert, plain.getsockname()[1])
    try:
        proc = run_hk(
            tmp_path,
            "record",
            "700",
            "--url",
            f"wss://localhost:{redirector.port}{alltick.WS_PATH}",
            "--token",
            "SECRETTOKEN",
            "--out",
            str(tmp_path / "x.jsonl"),
            "--duration",
            "20s",
            timeout=30,
            SSL_CERT_FILE=str(cert[0]),
        )
        with pytest.raises(BlockingIOError):
            plain.accept()  # the clear-text server was never contacted
    finally:
        redirector.close()
        plain.close()
    assert proc.returncode == 2, proc.stderr
    assert "not encrypted" in proc.stderr and "SECRETTOKEN" not in proc.stderr
