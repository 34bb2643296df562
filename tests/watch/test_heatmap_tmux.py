"""``hkticks watch --demo --heatmap`` in a real terminal (tmux, 160x50): whole codes, a legend,
tiles that keep their place, an alert, then Esc to the board's table and q to quit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kit.hk import terminal_env
from kit.waiting import wait_until

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

CODE = re.compile(r"(?<![\d.])\d{5}(?![\d.%])")


def capture(tmux: list[str], session: str) -> str:
    out = subprocess.run(
        [*tmux, "capture-pane", "-t", session, "-p"], capture_output=True, text=True
    )
    return out.stdout


def wait_for(tmux: list[str], session: str, predicate, timeout: float) -> str:  # type: ignore[no-untyped-def]
    last = [""]

    def seen() -> bool:
        last[0] = capture(tmux, session)
        return bool(predicate(last[0]))

    try:
        wait_until(seen, timeout, "the screen", interval=0.2)
    except AssertionError:
        raise AssertionError(f"timed out; the screen was:\n{last[0]}") from None
    return last[0]


def map_lines(screen: str) -> list[str]:
    """The treemap's rows: between the header line and the status line + footer."""
    return screen.splitlines()[1:-2]


def tile_places(screen: str) -> dict[str, tuple[int, int]]:
    """Where each code is written on the map: (row, column)."""
    places: dict[str, tuple[int, int]] = {}
    for y, line in enumerate(map_lines(screen)):
        for m in CODE.finditer(line):
            places.setdefault(m.group(), (y, m.start()))
    return places


def cut_codes(screen: str) -> list[str]:
    """Digit runs on the map that are not a whole five-digit code (nor part of a change)."""
    bad = []
    for line in map_lines(screen):
        for word in re.split(r"[\s\u2595]+", line):
            if word.isdigit() and len(word) != 5:
                bad.append(word)
    return bad


def settled(screen: str) -> bool:
    head = screen.splitlines()[0] if screen else ""
    return "area: market cap" in head and "loading" not in head and len(tile_places(screen)) > 20


def test_heatmap_whole_codes_legend_stable_tiles_then_board_and_quit(tmp_path: Path) -> None:
    conf = tmp_path / "config" / "hkticks"
    conf.mkdir(parents=True)
    (conf / "config.toml").write_text("[alerts]\nwarmup_s = 8\n")
    env = terminal_env(tmp_path)
    session = f"hk15-{uuid.uuid4().hex[:8]}"
    # a tmux server of our own: other tmux users on the machine cannot touch it
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    cmd = (
        f"{sys.executable} -m hkticks watch --demo --heatmap --demo-rate 1000 --demo-seed 3 "
        "--scenario anomalies:warmup_s=8,gap_s=2; echo EXIT=$?; sleep 30"
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "50", cmd],
        check=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        screen = wait_for(
            tmux, session, lambda s: "DEMO (simulated prices)" in s and settled(s), 60
        )
        head = screen.splitlines()[0]
        assert "-3% " in head and " +3%" in head and " 0 " in head  # the one-line legend
        assert cut_codes(screen) == []
        assert "Grid/treemap" in screen and "Sort" not in screen.splitlines()[-1]
        before = tile_places(screen)
        started = time.monotonic()
        # 12 s of live prices later (polled, every capture checked), every tile is where it was
        while time.monotonic() - started < 12.0:
            screen = capture(tmux, session)
            assert cut_codes(screen) == [], screen
            time.sleep(0.5)  # under test: a capture every half second for 12 s
        after = tile_places(screen)
        moved = [c for c, at in before.items() if after.get(c) != at]
        assert len(before) > 20 and moved == [], (moved, screen)
        screen = wait_for(tmux, session, lambda s: "last alert" in s, 60)
        line = next(x for x in screen.splitlines() if "last alert" in x)
        assert any(k in line for k in ("price_move", "volume_spike", "block_trade"))
        subprocess.run([*tmux, "send-keys", "-t", session, "Escape"], check=True)
        wait_for(tmux, session, lambda s: "Sort" in s and "Last" in s, 20)  # the board's table
        subprocess.run([*tmux, "send-keys", "-t", session, "q"], check=True)
        screen = wait_for(tmux, session, lambda s: "EXIT=" in s, 20)
        assert "EXIT=0" in screen and "Traceback" not in screen
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
