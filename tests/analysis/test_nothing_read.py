"""A file whose every line was skipped is not "0 trades": stats and replay say so in one
line and exit non-zero (issue 22.5); a file with some good lines still succeeds."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from kit.hk import run_hk

from hkticks.tick import Tick

GOOD = Tick("00700", 1_796_004_000_000, 377.2, 100, 37_720.0, "buy", 1, 1_796_004_000_020, "x")


def junk(path: Path, lines: int = 778) -> Path:
    path.write_text("".join(f'{{"symbol": "00700", "broken": {i}\n' for i in range(lines)))
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("stats",),
        ("stats", "--json"),
        ("replay", "--speed", "max", "--json"),
        ("replay", "--alerts"),
    ],
)
def test_all_lines_skipped_is_an_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    bad = junk(tmp_path / "day.jsonl")
    out = run_hk(tmp_path, args[0], str(bad), *args[1:])
    assert out.returncode == 1, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert "day.jsonl: no trade could be read: all 778 of its records were skipped" in lines[0]
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_some_good_lines_are_not_an_error(tmp_path: Path) -> None:
    bad = junk(tmp_path / "day.jsonl", 5)
    with bad.open("ab") as fh:
        fh.write(orjson.dumps(GOOD.record()) + b"\n")
    out = run_hk(tmp_path, "stats", str(bad))
    assert out.returncode == 0, out.stderr
    assert "skipped 5 invalid records" in out.stderr and "1 trades" in out.stdout


def test_an_empty_file_is_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    out = run_hk(tmp_path, "stats", "empty.jsonl")
    assert out.returncode == 0, out.stderr
