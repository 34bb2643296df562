"""``hkticks watch --demo`` in a real terminal (tmux): an alert in the board's pane, then ``h``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kit.hk import terminal_env
from test_heatmap_tmux import wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def test_board_alerts_pane_and_heatmap_in_tmux(tmp_path: Path) -> None:
    conf = tmp_path / "config" / "hkticks"
    conf.mkdir(parents=True)
    (conf / "config.toml").write_text(
        '[alerts]\nwarmup_s = 8\n\n[watchlists]\ntech = ["00700", "09988", "03690"]\n'
    )
    env = terminal_env(tmp_path)
    session = f"hkA-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]  # a tmux server of our own
    cmd = (
        f"{sys.executable} -m hkticks watch --demo --demo-rate 1000 --demo-seed 3 "
        "--scenario anomalies:warmup_s=8,gap_s=2; echo EXIT=$?; sleep 30"
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "200", "-y", "40", cmd],
        check=True,
        env=env,
        cwd=tmp_path,
    )

    def keys(*k: str) -> None:
        subprocess.run([*tmux, "send-keys", "-t", session, *k], check=True)

    try:
        # the board is up (its footer has no room left for `a Alerts`)
        wait_for(tmux, session, lambda s: "Code  Name" in s and "DEMO" in s, 60)
        keys("a")
        screen = wait_for(tmux, session, lambda s: "(a hides)" in s and " alerts 0" not in s, 60)
        pane = screen.split("(a hides)", 1)[1]
        assert any(k in pane for k in ("price_move", "volume_spike", "block_trade"))
        keys("h")
        screen = wait_for(tmux, session, lambda s: "groups: " in s, 20)
        assert "DEMO (simulated prices)" in screen and "alerts " in screen
        assert "tech" in screen  # the watchlist's block has its name row
        keys("h")
        wait_for(tmux, session, lambda s: "(a hides)" in s and "groups: " not in s, 20)
        keys("q")
        screen = wait_for(tmux, session, lambda s: "EXIT=" in s, 20)
        assert "EXIT=0" in screen and "Traceback" not in screen
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
