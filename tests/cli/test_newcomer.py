"""Small things a newcomer meets: one error style, suggestions, counts, number formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kit.hk import hk_env, run_hk

from hkticks.analysis.stats import price_cells
from hkticks.bench.measure import NOISY_SPREAD, spread
from hkticks.watch.view import _fit


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["wach"], "no command 'wach': did you mean watch?"),
        (["recrod", "700"], "did you mean record?"),
        (["frobnicate"], "commands: serve, record, watch"),
        (["record", "700"], "missing option '--out'"),
        (["watch", "--sort", "sideways"], "invalid value for '--sort'"),
        (["stats"], "missing argument 'FILE...'"),
        (["--bogus"], "no such option '--bogus'"),
        (["record", "700", "--out", "t.jsonl", "--duration", "soon"], "invalid duration 'soon'"),
        (["stats", "t.jsonl", "--json", "--csv"], "give --json or --csv, not both"),
    ],
)
def test_one_error_style_for_every_usage_error(tmp_path: Path, args: list[str], words: str) -> None:
    (tmp_path / "t.jsonl").write_text("")
    r = run_hk(tmp_path, *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hkticks: error: "), r.stderr
    assert words in lines[0]
    assert "Usage:" not in r.stderr and "Traceback" not in r.stderr


def test_hkticks_alone_shows_the_help(tmp_path: Path) -> None:
    r = run_hk(tmp_path)
    assert r.returncode == 0 and "Commands:" in r.stdout and "--demo" in r.stdout, r.stderr


def test_demo_reads_and_validates_the_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "config" / "hkticks" / "config.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text('tokn = "oops"\n')
    r = run_hk(tmp_path, "record", "700", "--demo", "--out", "t.jsonl", "--duration", "1s")
    assert r.returncode == 2 and "unknown keys tokn" in r.stderr, r.stderr
    assert not (tmp_path / "t.jsonl").exists()
    conf.write_text('plan = "premium"\n')  # a valid file does not get in the demo's way
    r = run_hk(tmp_path, "record", "700", "--demo", "--out", "t.jsonl", "--duration", "1s")
    assert r.returncode == 0, r.stderr


def test_stats_into_a_closed_pipe_exits_0(tmp_path: Path) -> None:
    recs = [
        {
            "symbol": f"{i:05d}",
            "ts": 1_700_000_000_000 + i,
            "price": 1.5 + i / 1000,
            "volume": 100,
            "turnover": 150.0,
            "side": None,
            "seq": i,
            "recv_ts": 1_700_000_000_000 + i,
            "src": "alltick",
        }
        for i in range(1, 3001)
    ]
    (tmp_path / "big.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hkticks", "stats", "big.jsonl"],
        cwd=tmp_path,
        env=hk_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # like `| head -1`: read a line, then go away
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0, err
    assert b"3,000 trades" in first and "Traceback" not in err and "error" not in err


def test_stats_table_one_format_per_column(tmp_path: Path) -> None:
    recs = []
    for i, (sym, price, vol) in enumerate(
        [("00700", 368.2, 5800), ("00700", 369.0, 100), ("09988", 81.25, 7100), ("00001", 7.0, 500)]
    ):
        recs.append(
            {
                "symbol": sym,
                "ts": 1_700_000_000_000 + i,
                "price": price,
                "volume": vol,
                "turnover": price * vol,
                "side": "buy",
                "seq": i + 1,
                "recv_ts": 1_700_000_000_000 + i,
                "src": "alltick",
            }
        )
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    r = run_hk(tmp_path, "stats", "t.jsonl")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = next(line for line in lines if line.startswith("Symbol"))
    body = [line for line in lines if line[:5].isdigit()]
    assert len(body) == 3
    high_end = header.index("High") + len("High")
    highs = [line[:high_end].split()[-1] for line in body]
    # the same decimals in every cell of the column, right-aligned on one edge
    assert highs == ["7.00", "369.00", "81.25"], highs
    turnover_end = header.index("Turnover") + len("Turnover")
    turnovers = [line[:turnover_end].split()[-1] for line in body]
    # a unit in every cell: HK$3.50K is not "0.00M" (issue 22.5)
    assert turnovers == ["HK$3.50K", "HK$2.17M", "HK$577K"], turnovers
    volume_end = header.index("Volume") + len("Volume")
    assert [line[:volume_end].split()[-1] for line in body] == ["500", "5,900", "7,100"]


def test_price_and_money_cells() -> None:
    assert price_cells([7.0, 42.3, 81.255]) == ["7.000", "42.300", "81.255"]
    assert price_cells([7.0, 12.0, None]) == ["7", "12", "-"]
    from hkticks.analysis.units import hkd_text, shares_text

    assert [hkd_text(x) for x in (274_650.0, 1_850_000.0, 999.0, 2e9, 4.5e6)] == [
        "HK$275K",
        "HK$1.85M",
        "HK$999",
        "HK$2.00B",
        "HK$4.50M",
    ]
    assert [shares_text(x) for x in (999, 453_200, 28_630_000)] == ["999", "453,200", "28.6M"]


def test_bench_spread_flags_noise() -> None:
    steady = spread([1.0, 1.02, 0.99])
    assert (steady["min"], steady["median"], steady["max"], steady["noisy"]) == (
        0.99,
        1.0,
        1.02,
        False,
    )
    wild = spread([1.44, 1.8, 2.31])
    assert wild["noisy"] and (2.31 - 1.44) / 1.8 > NOISY_SPREAD
    assert spread([]) == {"min": None, "median": None, "max": None, "noisy": False}
    assert spread([3.0])["noisy"] is False  # one round: nothing to compare


def test_cut_names_end_with_an_ellipsis() -> None:
    assert _fit("Tencent Holdings Limited", 10, False) == "Tencent H…"
    cut = _fit("腾讯控股有限公司", 7, False)
    assert cut.endswith("…") and cut.startswith("腾讯控")
    from rich.cells import cell_len

    assert cell_len(cut) == 7
    assert _fit("Tencent", 10, False) == "Tencent   "


def test_counts_are_singular_for_one(tmp_path: Path) -> None:
    r = run_hk(tmp_path, "watch", "700", "--demo", "--duration", "2s", "--json")
    assert r.returncode == 0, r.stderr
    assert "1 symbols" not in r.stderr
    from hkticks.watch.model import WatchModel
    from hkticks.watch.view import board_summary

    model = WatchModel(["00700"], started=0.0)
    text = board_summary(model, 10.0)
    assert "watched 1 symbol " in text and "0 symbols traded" in text and "1 symbols" not in text
