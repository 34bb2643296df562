"""Running ``hkticks`` as a user would, in an isolated environment.

Every run gets an empty config and cache under the test's directory and no
``HKTICKS_*``/``ALLTICK_*`` variables of the machine, so nothing of the person
running the tests leaks in (a token, a config file, a cached symbol list).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, overload


def hk_env(home: Path, **extra: str) -> dict[str, str]:
    """The machine's environment without HKTICKS_/ALLTICK_ variables, config and cache in ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HKTICKS_", "ALLTICK_"))}
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["XDG_CACHE_HOME"] = str(home / "cache")
    env.update(extra)
    return env


def terminal_env(home: Path) -> dict[str, str]:
    """:func:`hk_env` for hkticks in a tmux pane: no TMUX_ (a server of the test's own), and no
    COLUMNS/LINES (xdist workers set 80x24, which would fix the app's size below the pane's)."""
    env = {
        k: v
        for k, v in hk_env(home).items()
        if not k.startswith("TMUX") and k not in ("COLUMNS", "LINES")
    }
    env["TERM"] = "xterm-256color"
    return env


HK = [sys.executable, "-m", "hkticks"]


@overload
def run_hk(
    cwd: Path,
    *args: str,
    timeout: float = ...,
    input: str | None = ...,
    text: Literal[True] = ...,
    **env: str,
) -> subprocess.CompletedProcess[str]: ...


@overload
def run_hk(
    cwd: Path,
    *args: str,
    timeout: float = ...,
    input: bytes | None = ...,
    text: Literal[False],
    **env: str,
) -> subprocess.CompletedProcess[bytes]: ...


def run_hk(
    cwd: Path,
    *args: str,
    timeout: float = 60,
    input: Any = None,
    text: bool = True,
    **env: str,
) -> subprocess.CompletedProcess[Any]:
    """``hkticks ARGS`` run to its end in ``cwd`` (its isolated home too); ``env`` adds variables."""
    return subprocess.run(
        [*HK, *args],
        capture_output=True,
        text=text,
        timeout=timeout,
        env=hk_env(cwd, **env),
        cwd=cwd,
        input=input,
    )


def start_hk(cwd: Path, args: Sequence[str], **kw: Any) -> subprocess.Popen[str]:
    """``hkticks ARGS`` started in ``cwd`` with its output piped (text); ``kw`` goes to Popen."""
    kw.setdefault("env", hk_env(cwd))
    return subprocess.Popen(
        [*HK, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )
