"""The README's "Reading recordings" snippets run as written, and load the data right.

The commands of the ``hkticks compact`` section make the files (a demo
recording, its archive); each ```python block of "Reading recordings" then
runs in a fresh interpreter, followed by a check of every DataFrame it left:
``symbol`` a five-digit string, ``ts`` timezone-aware in Asia/Hong_Kong.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("polars")
pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

README = Path(__file__).resolve().parent.parent / "README.md"

CHECK = """
import pandas as _pd, polars as _pl
_seen = 0
for _name, _v in list(globals().items()):
    if isinstance(_v, _pd.DataFrame):
        _seen += 1
        assert len(_v) > 0, _name
        assert all(isinstance(s, str) and len(s) == 5 for s in _v["symbol"]), _name
        if "ts" in _v:
            assert str(_v["ts"].dt.tz) == "Asia/Hong_Kong", (_name, _v["ts"].dtype)
    elif isinstance(_v, _pl.DataFrame):
        _seen += 1
        assert _v.height > 0, _name
        assert _v.schema["symbol"] == _pl.String, _name
        assert all(len(s) == 5 for s in _v["symbol"]), _name
        assert _v.schema["ts"].time_zone == "Asia/Hong_Kong", (_name, _v.schema["ts"])
print("frames", _seen)
"""


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(title)
    nxt = re.search(r"^## ", text[start + len(title) :], re.M)
    return text[start : start + len(title) + (nxt.start() if nxt else len(text))]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.M | re.S)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("readme")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HKTICKS_", "ALLTICK_"))}
    env["XDG_CONFIG_HOME"] = str(tmp / "config")
    env["XDG_CACHE_HOME"] = str(tmp / "cache")
    (commands,) = blocks(section("### `hkticks compact`"), "sh")
    for line in commands.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("hkticks "):
            args = shlex.split(line)[1:]
            subprocess.run(
                [sys.executable, "-m", "hkticks", *args], cwd=tmp, env=env, check=True, timeout=60
            )
    assert (tmp / "ticks.jsonl").exists() and (tmp / "archive").is_dir()
    return tmp


RECIPES = blocks(section("## Reading recordings"), "python")


def test_the_section_has_the_recipes() -> None:
    text = "\n".join(RECIPES)
    assert len(RECIPES) >= 4
    for needle in (
        'dtype={"symbol": str}',
        "pl.read_ndjson",
        "duckdb.sql",
        "read_frame",
        "stream(",
    ):
        assert needle in text


@pytest.mark.parametrize("code", RECIPES, ids=[f"block{i}" for i in range(len(RECIPES))])
def test_recipe_runs_and_loads_right(workdir: Path, code: str) -> None:
    r = subprocess.run(
        [sys.executable, "-c", code + CHECK],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    frames = int(r.stdout.split("frames")[-1])
    assert frames >= 1 or "stream(" in code
