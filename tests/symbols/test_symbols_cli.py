"""``hkticks symbols`` end to end: the real command against a local HTTP server
(tests/kit/exchange.py), and against the embedded demo server when it exists."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from kit.exchange import TOKEN, Behaviour, FakeExchange

from hkticks.cli import cli
from hkticks.symbols import universe as symbols


@pytest.fixture
def exchange(exchange: FakeExchange) -> FakeExchange:
    """conftest's exchange, with one suspended stock."""
    exchange.trade_age_s["01002"] = 12 * 86400
    return exchange


@pytest.fixture
def env(tmp_path: Path, exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for var in ("HKTICKS_TOKEN", "ALLTICK_TOKEN", "HKTICKS_CONFIG", "HKTICKS_PLAN"):
        monkeypatch.delenv(var, raising=False)
    values = {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "HKTICKS_SSE_URL": exchange.sse_url,
        "HKTICKS_SZSE_URL": exchange.szse_url,
        "HKTICKS_REST_URL": exchange.rest_url,
        "HKTICKS_TOKEN": TOKEN,
        "HKTICKS_PLAN": "all-hk",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_refresh_then_search(env: dict[str, str], exchange: FakeExchange) -> None:
    code, out, err = run("symbols", "--refresh")
    assert code == 0, err
    assert out == ""  # --refresh alone prints only the summary (on stderr)
    n = len(exchange.stocks)
    assert f"refreshed the Stock Connect list: {n} stocks" in err
    assert f"1 suspended, {n - 1} tradable" in err
    assert TOKEN not in err

    code, out, err = run("symbols", "--search", "tencent", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows == [
        {
            "code": "00700",
            "name_cn": "腾讯控股",
            "name_en": "TENCENT",
            "channels": "SH SZ",
            "suspended": "",
        }
    ]


def test_codes_count_matches_the_merged_count(env: dict[str, str], exchange: FakeExchange) -> None:
    assert run("symbols", "--refresh")[0] == 0
    uni = symbols.cached_universe()
    assert uni is not None
    code, out, _ = run("symbols", "--format", "codes")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(uni) - uni.suspended_count == len(exchange.stocks) - 1
    assert "01002" not in lines
    _, out, _ = run("symbols", "--format", "codes", "--include-suspended")
    assert len(out.splitlines()) == len(uni) and "01002" in out.splitlines()
    _, out, _ = run("symbols", "--format", "codes", "--channel", "sz", "--include-suspended")
    assert out.splitlines() == sorted(s.code for s in exchange.stocks if "SZ" in s.channels)


def test_json_and_table_formats(env: dict[str, str], exchange: FakeExchange) -> None:
    assert run("symbols", "--refresh")[0] == 0
    code, out, _ = run("symbols", "--search", "腾讯", "--format", "json")
    assert code == 0
    obj = json.loads(out)
    assert obj["count"] == 1 and obj["sources"]["SSE"] == exchange.sse_date
    assert obj["stocks"][0]["name_en"] == "TENCENT" and obj["stocks"][0]["channels"] == ["SH", "SZ"]
    code, out, _ = run("symbols", "--search", "01002", "--include-suspended", "--format", "table")
    assert code == 0
    assert "01002" in out and "suspended" in out and "last trade" in out
    code, out, _ = run("symbols", "--format", "table", "--search", "HSBC")
    assert "00005" in out and "汇丰控股" in out and "HSBC HOLDINGS" in out


def test_no_match_exits_1_and_explains_suspended(env: dict[str, str]) -> None:
    assert run("symbols", "--refresh")[0] == 0
    code, out, err = run("symbols", "--search", "01002", "--format", "codes")
    assert code == 1 and out == ""
    assert "add --include-suspended" in err


def _subprocess(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "hkticks", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_failed_refresh_is_one_line_and_non_zero(
    env: dict[str, str], exchange: FakeExchange
) -> None:
    assert run("symbols", "--refresh")[0] == 0
    exchange.szse = Behaviour("short")
    proc = _subprocess(env, "symbols", "--refresh")
    assert proc.returncode == 6
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("hkticks: error: could not fetch the SZSE list (only 40 rows")
    assert "kept the cached list from" in lines[0]
    # the listing still works from the kept cache
    proc = _subprocess(env, "symbols", "--format", "codes", "--search", "tencent")
    assert proc.returncode == 0 and proc.stdout.split() == ["00700"]


def test_without_cache_and_unreachable_sources_says_what_to_do(env: dict[str, str]) -> None:
    env = {
        **env,
        "HKTICKS_SSE_URL": "http://127.0.0.1:9/x",
        "HKTICKS_SZSE_URL": "http://127.0.0.1:9/y",
    }
    proc = _subprocess(env, "symbols", "--search", "tencent")
    assert proc.returncode == 6, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "cannot connect" in last and "hkticks symbols --refresh" in last
    assert "Traceback" not in proc.stderr


def test_demo_refresh_then_search(env: dict[str, str]) -> None:
    code, out, err = run("symbols", "--refresh", "--demo")
    assert code == 0, err
    assert "refreshed the Stock Connect list" in err
    demo = symbols.cached_universe(demo=True)
    assert demo is not None and demo.demo and len(demo) >= 550
    assert symbols.cached_universe() is None  # the real cache is untouched
    code, out, err = run("symbols", "--search", "tencent", "--demo", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    tencent = [r for r in rows if r["code"] == "00700"]
    assert tencent and tencent[0]["name_en"] and tencent[0]["name_cn"] and tencent[0]["channels"]
    code, out, _ = run("symbols", "--demo", "--format", "codes")
    assert len(out.splitlines()) == len(demo) - demo.suspended_count


def test_plain_search_after_a_demo_refresh_shows_the_labelled_demo_list(
    env: dict[str, str],
) -> None:
    """The issue's sequence: `symbols --refresh --demo`, then `symbols --search tencent`."""
    code, _, err = run("symbols", "--refresh", "--demo")
    assert code == 0, err
    code, out, err = run("symbols", "--search", "tencent", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["code"] for r in rows] == ["00700"]
    assert rows[0]["name_cn"] == "腾讯控股" and rows[0]["name_en"] == "TENCENT"
    assert rows[0]["channels"] == "SH SZ"
    assert "DEMO" in err and "hkticks symbols --refresh" in err
    # the demo list never became the real cache: a real load still has none
    assert symbols.cached_universe() is None


def test_bare_codes_never_come_from_the_demo_list(env: dict[str, str]) -> None:
    """`symbols --format codes` feeds `record --symbols-file -`: simulated codes must not leak."""
    code, _, err = run("symbols", "--refresh", "--demo")
    assert code == 0, err
    unreachable = {
        **env,
        "HKTICKS_SSE_URL": "http://127.0.0.1:9/x",
        "HKTICKS_SZSE_URL": "http://127.0.0.1:9/y",
    }
    proc = _subprocess(unreachable, "symbols", "--format", "codes")
    assert proc.returncode != 0 and proc.stdout == ""
    assert "hkticks symbols --refresh" in proc.stderr and "Traceback" not in proc.stderr
