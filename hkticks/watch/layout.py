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
