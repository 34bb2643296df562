"""A token in ``--url`` (AllTick's documented ``...-ws-api?token=...`` form) is used, never shown."""

from __future__ import annotations

from pathlib import Path

from kit.hk import run_hk

from hkticks.alltick.urls import split_token
from hkticks.config import resolve
from hkticks.server import MarketServer

SECRET = "s3cr3t-URL-token"


def test_split_token() -> None:
    assert split_token("wss://h/p?token=abc") == ("wss://h/p", "abc")
    assert split_token("wss://h/p?a=1&token=abc&b=2") == ("wss://h/p?a=1&b=2", "abc")
    assert split_token("wss://h/p?a=1") == ("wss://h/p?a=1", None)
    assert split_token("wss://h/p?token=") == ("wss://h/p", None)


def test_the_url_token_is_the_lowest_explicit_source(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:1/quote-stock-b-ws-api?token={SECRET}"
    no_file = tmp_path / "none.toml"
    s = resolve(url=url, env={}, file=no_file)
    assert (s.token, s.token_source) == (SECRET, "the token in --url")
    assert SECRET not in s.url and "token" not in s.url and SECRET not in repr(s)
    assert resolve(url=url, token="flag", env={}, file=no_file).token == "flag"
    assert resolve(url=url, env={"HKTICKS_TOKEN": "env"}, file=no_file).token == "env"
    s = resolve(env={"HKTICKS_URL": url}, file=no_file)
    assert (s.token, s.token_source) == (SECRET, "the token in HKTICKS_URL")
    conf = tmp_path / "c.toml"
    conf.write_text('token = "file"\n')
    assert resolve(url=url, env={}, file=conf).token == SECRET  # --url is explicit
    conf.write_text(f'token = "file"\nurl = "{url}"\n')
    assert resolve(env={}, file=conf).token == "file"  # both in the file: the key wins


def test_record_and_watch_use_the_token_of_the_url(tmp_path: Path) -> None:
    with MarketServer(token=SECRET, rate=300.0, seed=3) as srv:
        url = f"{srv.ws_url}?token={SECRET}"
        rec = run_hk(
            tmp_path, "record", "700", "--url", url, "--out", "x.jsonl", "--duration", "2s"
        )
        watch = run_hk(tmp_path, "watch", "700", "--url", url, "--json", "--duration", "2s")
    assert rec.returncode == 0, rec.stderr
    assert "no AllTick token" not in rec.stderr
    assert (tmp_path / "x.jsonl").read_text().count("\n") > 0
    assert watch.returncode == 0, watch.stderr
    assert watch.stdout.count("\n") > 0
    shown = rec.stderr + watch.stderr
    assert SECRET not in shown and "token=***" in rec.stderr
    for f in tmp_path.iterdir():
        if f.is_file():
            assert SECRET not in f.read_text(errors="replace"), f


def test_a_wrong_url_token_says_where_it_came_from(tmp_path: Path) -> None:
    with MarketServer(token=SECRET, rate=300.0, seed=3) as srv:
        url = f"{srv.ws_url}?token=WRONGTOKEN"
        rec = run_hk(
            tmp_path, "record", "700", "--url", url, "--out", "x.jsonl", "--duration", "5s"
        )
    assert rec.returncode == 3, rec.stderr
    assert "the token in --url" in rec.stderr and "WRONGTOKEN" not in rec.stderr
