"""The board's saved layout and watchlists, from and to the config file.

``[board]`` (written by ``w``) holds ``sort``, ``reverse``, ``watchlist``,
``columns`` and ``book``; ``[watchlists]`` maps names to lists of codes.
A flag given on the command line wins over the saved layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hkticks import config
from hkticks.errors import ConfigError
from hkticks.symbols.universe import normalise_all
from hkticks.watch.columns import BY_KEY
from hkticks.watch.model import SORT_KEYS


@dataclass
class Layout:
    sort: str | None = None
    reverse: bool = False
    watchlist: str = "all"
    columns: list[str] | None = None
    book: bool = False
    watchlists: dict[str, list[str]] = field(default_factory=dict)


def load(path: Path | None = None) -> Layout:
    """The saved layout and the watchlists (codes normalised); defaults when absent."""
    path = path or config.config_path()
    conf = config.load_config_file(path)
    lists: dict[str, list[str]] = {}
    for name, codes in config.watchlists(conf, path).items():
        try:
            lists[name] = normalise_all(codes)
        except Exception as exc:
            raise ConfigError(f"config file {path}: watchlist {name!r}: {exc}") from None
    board: Mapping[str, Any] = conf.get("board") or {}
    sort = board.get("sort")
    columns = board.get("columns")
    return Layout(
        sort=sort if sort in SORT_KEYS else None,
        reverse=board.get("reverse") is True,
        watchlist=str(board.get("watchlist") or "all"),
        columns=[c for c in columns if isinstance(c, str) and c in BY_KEY]
        if isinstance(columns, list)
        else None,
        book=board.get("book") is True,
        watchlists=lists,
    )


def save(values: Mapping[str, Any], path: Path | None = None) -> str:
    """Write ``[board]``; returns the file's path for the toast."""
    path = path or config.config_path()
    config.save_table(path, "board", dict(values))
    return str(path)


def save_watchlists(lists: Mapping[str, list[str]], path: Path | None = None) -> str:
    """Write ``[watchlists]`` (``+``/``-`` on the board), atomically; returns the path."""
    path = path or config.config_path()
    config.save_table(path, "watchlists", {name: list(codes) for name, codes in lists.items()})
    return str(path)


def load_sectors(csv_path: str | Path | None = None, path: Path | None = None) -> dict[str, str]:
    """Code -> sector for the heatmap's groups: a CSV of ``code,sector`` (a header line
    is skipped), else the config's ``[sectors]`` table, either ``"00700" = "Tech"`` or
    ``Tech = ["00700", "09988"]``. Empty when neither is given."""
    out: dict[str, str] = {}
    if csv_path is not None:
        import csv

        where = Path(csv_path)
        try:
            with where.open(encoding="utf-8-sig", newline="") as fh:
                rows = list(csv.reader(fh))
        except OSError as exc:
            raise ConfigError(f"sectors file {where}: {exc.strerror or exc}") from None
        for n, row in enumerate(rows, 1):
            if len(row) < 2 or not row[0].strip() or row[0].strip().lower() == "code":
                continue
            try:
                code = normalise_all([row[0].strip()])[0]
            except Exception:
                raise ConfigError(
                    f"sectors file {where} line {n}: {row[0]!r} is not an HK code "
                    "(expected code,sector, e.g. 00700,Technology)"
                ) from None
            out[code] = row[1].strip()
        return out
    path = path or config.config_path()
    table = config.load_config_file(path).get("sectors") or {}
    for key, value in table.items():
        try:
            if isinstance(value, str):
                out[normalise_all([str(key)])[0]] = value
            elif isinstance(value, list):
                for code in normalise_all([str(c) for c in value]):
                    out.setdefault(code, str(key))
            else:
                raise ValueError(value)
        except Exception:
            raise ConfigError(
                f'config file {path}: [sectors] {key!r}: expected "00700" = "Tech" '
                'or Tech = ["00700", "09988"]'
            ) from None
    return out
