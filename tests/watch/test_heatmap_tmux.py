"""``hkticks watch --demo --heatmap`` in a real terminal (tmux): the treemap, then an alert."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kit.waiting import wait_until

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


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


def test_heatmap_board_shows_tiles_and_an_alert(tmp_path: Path) -> None:
    conf = tmp_path / "config" / "hkticks"
    conf.mkdir(parents=True)
    (conf / "config.toml").write_text("[alerts]\nwarmup_s = 8\n")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("HKTICKS_", "ALLTICK_", "TMUX"))
    }
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        TERM="xterm-256color",
    )
    session = f"hk15-{uuid.uuid4().hex[:8]}"
    # a tmux server of our own: other tmux users on the machine cannot touch it
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    cmd = (
        f"{sys.executable} -m hkticks watch --demo --heatmap --demo-rate 1000 --demo-seed 3 "
        "--scenario anomalies:warmup_s=8,gap_s=2; echo EXIT=$?; sleep 30"
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "140", "-y", "40", cmd],
        check=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        # tiles grow with the turnover seen: the busiest name soon has room for its name
        screen = wait_for(
            tmux, session, lambda s: "DEMO (simulated prices)" in s and "TENCENT" in s, 60
        )
        assert "00700" in screen and "%" in screen and "Grid/treemap" in screen
        screen = wait_for(tmux, session, lambda s: "last alert" in s, 60)
        line = next(x for x in screen.splitlines() if "last alert" in x)
        assert any(k in line for k in ("price_move", "volume_spike", "block_trade"))
        subprocess.run([*tmux, "send-keys", "-t", session, "g"], check=True)
        wait_for(tmux, session, lambda s: "Grid/treemap" in s, 10)
        subprocess.run([*tmux, "send-keys", "-t", session, "Escape"], check=True)
        screen = wait_for(tmux, session, lambda s: "EXIT=" in s, 20)
        assert "EXIT=0" in screen and "heatmap of" in screen and "Traceback" not in screen
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
