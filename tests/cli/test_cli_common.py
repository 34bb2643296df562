"""Shared command-line parsing: durations and symbol files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hkticks.cli.common import parse_duration
from hkticks.errors import PlanTooSmall, UsageError
from hkticks.feed.shards import plan_shards
from hkticks.run.source import read_symbols_file


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("90", 90),
        ("2S", 2),
        ("500ms", 0.5),
        ("1d", 86400),
        (" 1m 30s ", 90),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "0s", "", "1x", "m", "-5s", "1h-"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_symbols_file_with_comments_commas_and_blank_lines(tmp_path: Path) -> None:
    f = tmp_path / "s.txt"
    f.write_text("# my list\n00700\n\n9988.HK, 3690  # meituan\n")
    assert read_symbols_file(str(f)) == ["00700", "9988.HK", "3690"]


def test_a_bad_symbol_in_a_file_names_the_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "s.txt"
    f.write_text("00700\n# fine\nTSLA\n")
    with pytest.raises(UsageError, match=r"s\.txt:3: invalid symbol 'TSLA'"):
        read_symbols_file(str(f))


def test_limits_given_by_flags_get_no_plan_advice() -> None:
    with pytest.raises(PlanTooSmall) as exc:
        plan_shards(["00001", "00002", "00005"], 2, 1, "the limits given", suggest_plan=False)
    assert "--plan" not in str(exc.value) and "2 connections x 1 symbol = 2" in str(exc.value)
