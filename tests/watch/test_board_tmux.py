"""The real binary in tmux, driven by keys as a trader would: `hkticks watch --demo`.

tmux renders what the app writes into a screen we can read back
(``capture-pane``), so these checks are on what a person sees, not on the
byte stream. Skipped, with the reason, when tmux is not installed (CI
installs it: see .ci/run).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kit.waiting import wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"
)


def hkticks_command() -> list[str]:
    script = Path(sys.executable).with_name("hkticks")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hkticks"]


class Tmux:
    def __init__(self, tmp: Path) -> None:
        self.name = f"hkt-{uuid.uuid4().hex[:8]}"
        self.socket = str(tmp / "tmux.sock")

    def run(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=True
        )
        return out.stdout

    def start(self, command: str, env: dict[str, str], cols: int = 150, rows: int = 40) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        shell = f"env {exports} {command}; echo EXIT=$?; sleep 60"
        self.run("new-session", "-d", "-s", self.name, "-x", str(cols), "-y", str(rows), shell)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name)

    def flag(self, name: str) -> str:
        return self.run("display-message", "-p", "-t", self.name, f"#{{{name}}}").strip()

    def wait(self, check: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        last = [""]

        def seen() -> bool:
            last[0] = self.screen()
            return check(last[0])

        try:
            wait_until(seen, timeout, what, interval=0.1)
        except AssertionError:
            raise AssertionError(f"{what} not seen; screen:\n{last[0]}") from None
        return last[0]

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, check=False)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(tmp_path)
    yield t
    t.kill()


def clean_env(tmp: Path) -> dict[str, str]:
    return {
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "HKTICKS_TOKEN": "",
        "ALLTICK_TOKEN": "",
        "TERM": "xterm-256color",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }


def board_rows(screen: str) -> list[str]:
    """Codes at the start of the table's lines (below the column titles)."""
    lines = screen.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Code"))
    return [
        line[:5]
        for line in lines[start + 1 :]
        if len(line) > 5 and line[:5].isdigit() and line[5] == " "
    ]


def title_line(screen: str) -> str:
    return next(line for line in screen.splitlines() if line.startswith("Code"))


def test_filter_sort_detail_and_quit_in_the_real_binary(tmux: Tmux, tmp_path: Path) -> None:
    codes = ["00700", "09988", "03690", "00005", "01810", "04700"]  # 04700: not "700"
    command = " ".join(
        shlex.quote(a)
        for a in [*hkticks_command(), "watch", *codes, "--demo", "--demo-rate", "300"]
    )
    tmux.start(command, clean_env(tmp_path))
    screen = tmux.wait(lambda s: "DEMO" in s and "1/1 up" in s, "the board")
    screen = tmux.wait(lambda s: len(board_rows(s)) == 6, "six rows")
    assert tmux.flag("alternate_on") == "1"
    # `/` + 700 + Enter leaves only 00700 (a code matches exactly: not 04700)
    tmux.keys("/")
    tmux.wait(lambda s: "filter: code or name" in s, "the filter box")
    tmux.keys("700", "Enter")
    screen = tmux.wait(lambda s: board_rows(s) == ["00700"], "only 00700")
    assert "filter: 700" in screen
    # `s` changes the sort arrow: from list order (no arrow) to code (Code▲)
    assert "▲" not in title_line(screen) and "▼" not in title_line(screen)
    tmux.keys("s")
    screen = tmux.wait(lambda s: title_line(s).startswith("Code▲"), "the sort arrow on Code")
    tmux.keys("s")
    tmux.wait(lambda s: "Chg%▼" in title_line(s), "the sort arrow on Chg%")
    # Enter opens the detail view: chart (price scale, candles or volume) and the tape
    tmux.keys("Enter")
    screen = tmux.wait(lambda s: "Time and sales" in s, "the detail view")
    assert "00700" in screen.splitlines()[0] and "one-minute bar" in screen
    assert screen.splitlines()[0].startswith("DEMO")  # simulated data labelled here too
    tmux.wait(lambda s: any(ch in s for ch in "█│━▁▂▃▄▅▆▇"), "the chart")
    # q in the detail view goes back to the board; q on the board exits 0 and restores
    # the terminal (main screen, cursor visible, one summary line)
    tmux.keys("q")
    tmux.wait(lambda s: "Time and sales" not in s and board_rows(s) == ["00700"], "the board")
    tmux.keys("q")
    screen = tmux.wait(lambda s: "EXIT=" in s, "the exit")
    assert "EXIT=0" in screen, screen
    assert tmux.flag("alternate_on") == "0" and tmux.flag("cursor_flag") == "1"
    assert "hkticks: watched 6 symbols" in screen and "Traceback" not in screen
    assert "[DEMO: simulated trades, not market data]" in screen
