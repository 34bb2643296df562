"""Settings: flags > environment (``HKTICKS_*``) > config file > defaults.

The config file is TOML at ``$XDG_CONFIG_HOME/hkticks/config.toml``
(default ``~/.config/hkticks/config.toml``); ``HKTICKS_CONFIG`` points
elsewhere. Keys (all optional)::

    token = "..."
    url = "wss://quote.alltick.co/quote-stock-b-ws-api"
    rest_url = "https://quote.alltick.co/quote-stock-b-api/"
    plan = "basic"
    sse_url = "..."
    szse_url = "..."

    [watchlists]            # named groups for the board (Tab cycles them)
    tech = ["00700", "09988", "03690"]

    [board]                 # written by the board's `w` key; restored on start
    sort = "change"
    reverse = false
    watchlist = "tech"
    columns = ["code", "name", "last", "chgp"]

    [alerts]            # thresholds of the anomaly engine (hkticks.analysis.alert_config.AlertConfig)
    cooldown_s = 60

The token is a secret: this module never prints it, and :func:`hkticks.alltick.urls.redact`
masks it in every URL shown to the user.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hkticks.alltick import protocol as alltick
from hkticks.alltick.urls import redact, split_token
from hkticks.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOKEN_ENV_VARS = ("HKTICKS_TOKEN", "ALLTICK_TOKEN")
KNOWN_KEYS = {"token", "url", "rest_url", "plan", "sse_url", "szse_url", "alerts"}
# tables: [watchlists]/[board]/[sectors] read by the board (see watchlists()), [alerts] checked by
# its owner (AlertConfig.from_mapping)
TABLE_KEYS = {"watchlists", "board", "alerts", "sectors"}


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hkticks"


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hkticks"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    explicit = env.get("HKTICKS_CONFIG")
    return Path(explicit) if explicit else config_dir(env) / "config.toml"


def load_config_file(path: Path) -> dict[str, Any]:
    """The config file's table, ``{}`` when it does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - KNOWN_KEYS - TABLE_KEYS)
    if unknown:
        raise ConfigError(
            f"config file {path} has unknown keys {', '.join(unknown)}; "
            f"known keys: {', '.join(sorted(KNOWN_KEYS))}; "
            f"tables: {', '.join(f'[{t}]' for t in sorted(TABLE_KEYS))}"
        )
    for key, value in data.items():
        if key in TABLE_KEYS:
            if not isinstance(value, dict):
                raise ConfigError(f"config file {path}: [{key}] must be a table")
        elif not isinstance(value, str):
            raise ConfigError(f"config file {path}: {key} must be a string")
    return data


def config_table(name: str, env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], str]:
    """The ``[name]`` table of the config file (``{}`` if none) and where it came from."""
    path = config_path(env)
    table = load_config_file(path).get(name, {})
    return dict(table), f"[{name}] in {path}"


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``token_source`` says where the token came from
    (e.g. ``"--token"``, ``"HKTICKS_TOKEN"``, ``"config file ~/.config/..."``,
    ``"demo"``), never the token itself."""

    token: str | None
    token_source: str | None
    url: str
    rest_url: str
    plan: str
    sse_url: str | None
    szse_url: str | None
    demo: bool = False

    def __repr__(self) -> str:  # never show the token
        return (
            f"Settings(token={'***' if self.token else None}, token_source={self.token_source!r}, "
            f"url={redact(self.url)!r}, rest_url={redact(self.rest_url)!r}, plan={self.plan!r}, "
            f"demo={self.demo})"
        )

    def require_token(self) -> str:
        if not self.token:
            raise ConfigError(
                'no AllTick token: set HKTICKS_TOKEN, pass --token, or put token = "..." in '
                f"{config_path()}; or try the simulated market with --demo"
            )
        return self.token


def resolve(
    *,
    token: str | None = None,
    url: str | None = None,
    rest_url: str | None = None,
    plan: str | None = None,
    env: Mapping[str, str] | None = None,
    file: Path | None = None,
) -> Settings:
    """Resolve settings from flags (the arguments), environment, config file, defaults."""
    env = os.environ if env is None else env
    path = file if file is not None else config_path(env)
    if file is None and env.get("HKTICKS_CONFIG") and not path.exists():
        raise ConfigError(f"HKTICKS_CONFIG names {path}, which does not exist")
    conf = load_config_file(path)

    tok, source = None, None
    if token:
        tok, source = token, "--token"
    else:
        for var in TOKEN_ENV_VARS:
            if env.get(var):
                tok, source = env[var], var
                break
        else:
            if conf.get("token"):
                tok, source = conf["token"], f"config file {path}"

    def pick(flag: str | None, var: str, key: str, default: str | None) -> str | None:
        return flag or env.get(var) or conf.get(key) or default

    def origin(flag: str | None, option: str, var: str, key: str) -> str:
        """Where a setting came from, for error messages."""
        if flag:
            return option
        if env.get(var):
            return var
        return f"{key} in {path}" if conf.get(key) else "the default"

    chosen_plan = pick(plan, "HKTICKS_PLAN", "plan", alltick.DEFAULT_PLAN) or alltick.DEFAULT_PLAN
    if chosen_plan not in alltick.PLANS:
        raise ConfigError(
            f"unknown plan {chosen_plan!r} (from {origin(plan, '--plan', 'HKTICKS_PLAN', 'plan')}); "
            f"choose one of {', '.join(alltick.PLANS)}"
        )
    ws = pick(url, "HKTICKS_URL", "url", alltick.DEFAULT_WS_URL) or alltick.DEFAULT_WS_URL
    rest = pick(rest_url, "HKTICKS_REST_URL", "rest_url", alltick.DEFAULT_REST_URL)
    for name, value, where in (
        ("url", ws, origin(url, "--url", "HKTICKS_URL", "url")),
        ("rest_url", rest, origin(rest_url, "--rest-url", "HKTICKS_REST_URL", "rest_url")),
    ):
        try:
            check_url(name, value or "")
        except ConfigError as exc:
            raise ConfigError(f"{exc} (from {where})") from None
    # AllTick's documented URL form carries the token (``...-ws-api?token=...``): the
    # lowest-priority explicit source, taken out of the URL so it is never shown
    ws, url_token = split_token(ws or "")
    if url_token and (tok is None or source == f"config file {path}"):
        where = origin(url, "--url", "HKTICKS_URL", "url")
        if tok is None or where != f"url in {path}":
            tok, source = url_token, f"the token in {where}"
    return Settings(
        token=tok,
        token_source=source,
        url=ws,
        rest_url=rest or alltick.DEFAULT_REST_URL,
        plan=chosen_plan,
        sse_url=pick(None, "HKTICKS_SSE_URL", "sse_url", None),
        szse_url=pick(None, "HKTICKS_SZSE_URL", "szse_url", None),
    )


def check_url(name: str, value: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an absolute URL of the right scheme."""
    allowed = ("ws", "wss") if name == "url" else ("http", "https")
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "wss://[bad": an unbalanced IPv6 bracket
        parts = None
    if parts is None or parts.scheme not in allowed or not parts.netloc:
        raise ConfigError(f"{name} {redact(value)!r} is not a valid {'/'.join(allowed)} URL")


# -- the board's tables ([watchlists], [board]) ----------------------------------


def watchlists(conf: Mapping[str, Any], path: Path | None = None) -> dict[str, list[str]]:
    """``[watchlists]``: name -> codes as written (the caller normalises them)."""
    table = conf.get("watchlists") or {}
    out: dict[str, list[str]] = {}
    for name, codes in table.items():
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ConfigError(
                f"config file {path or config_path()}: watchlist {name!r} must be a list of "
                'codes, e.g. tech = ["00700", "09988"]'
            )
        out[str(name)] = list(codes)
    return out


def save_table(path: Path, name: str, values: Mapping[str, str | bool | list[str]]) -> None:
    """Replace (or add) the ``[name]`` table of the config file, keeping every other line.

    Only strings, booleans and lists of strings are written. The file is
    replaced atomically and keeps its permissions (it may hold the token);
    a new one is made readable by its owner only.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    kept: list[str] = []
    inside = False
    for line in text.splitlines():
        head = line.strip()
        if head.startswith("[") and not head.startswith("[["):
            inside = head.split("#", 1)[0].strip() == f"[{name}]"
        if not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()

    def toml(v: str | bool | list[str]) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(toml(x) for x in v) + "]"
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    block = [f"[{name}]"] + [f"{k} = {toml(v)}" for k, v in values.items()]
    out = "\n".join(([*kept, ""] if kept else []) + block) + "\n"
    tomllib.loads(out)  # never write a file we could not read back
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(out)
    os.replace(tmp, path)
