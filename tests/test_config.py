"""Tests of settings resolution and token redaction (hkticks.config).

Every test passes ``env=`` and ``file=`` explicitly (or a temporary
XDG/HKTICKS_CONFIG location), so nothing here reads the real home directory
or the developer's environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hkticks import config
from hkticks.alltick import protocol as alltick
from hkticks.alltick.urls import redact, with_token
from hkticks.config import Settings, resolve
from hkticks.errors import ConfigError, HkticksError

SECRET = "s3cr3t-T0KEN-value"


@pytest.fixture
def no_file(tmp_path: Path) -> Path:
    return tmp_path / "absent" / "config.toml"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    return message


# ---------------------------------------------------------------------------
# Defaults and precedence


def test_defaults(no_file: Path) -> None:
    s = resolve(env={}, file=no_file)
    assert s == Settings(
        token=None,
        token_source=None,
        url=alltick.DEFAULT_WS_URL,
        rest_url=alltick.DEFAULT_REST_URL,
        plan=alltick.DEFAULT_PLAN,
        sse_url=None,
        szse_url=None,
        demo=False,
    )


@pytest.fixture
def full_file(tmp_path: Path) -> Path:
    return write(
        tmp_path / "conf" / "config.toml",
        'token = "from-file"\n'
        'url = "wss://file.example/ws"\n'
        'rest_url = "https://file.example/rest/"\n'
        'plan = "premium"\n'
        'sse_url = "http://file.example/sse"\n'
        'szse_url = "http://file.example/szse"\n',
    )


FULL_ENV = {
    "HKTICKS_TOKEN": "from-hkticks-env",
    "ALLTICK_TOKEN": "from-alltick-env",
    "HKTICKS_URL": "ws://env.example/ws",
    "HKTICKS_REST_URL": "http://env.example/rest/",
    "HKTICKS_PLAN": "professional",
    "HKTICKS_SSE_URL": "http://env.example/sse",
    "HKTICKS_SZSE_URL": "http://env.example/szse",
}


def test_flags_beat_everything(full_file: Path) -> None:
    s = resolve(
        token="from-flag",
        url="wss://flag.example/ws",
        rest_url="https://flag.example/rest/",
        plan="free",
        env=FULL_ENV,
        file=full_file,
    )
    assert (s.token, s.token_source) == ("from-flag", "--token")
    assert (s.url, s.rest_url, s.plan) == (
        "wss://flag.example/ws",
        "https://flag.example/rest/",
        "free",
    )


def test_environment_beats_file(full_file: Path) -> None:
    s = resolve(env=FULL_ENV, file=full_file)
    assert (s.token, s.token_source) == ("from-hkticks-env", "HKTICKS_TOKEN")
    assert (s.url, s.rest_url, s.plan) == (
        "ws://env.example/ws",
        "http://env.example/rest/",
        "professional",
    )
    assert (s.sse_url, s.szse_url) == ("http://env.example/sse", "http://env.example/szse")


def test_alltick_token_is_the_second_variable(full_file: Path) -> None:
    env = {"ALLTICK_TOKEN": "from-alltick-env"}
    s = resolve(env=env, file=full_file)
    assert (s.token, s.token_source) == ("from-alltick-env", "ALLTICK_TOKEN")
    # an empty HKTICKS_TOKEN does not hide ALLTICK_TOKEN
    s = resolve(env={"HKTICKS_TOKEN": "", **env}, file=full_file)
    assert s.token_source == "ALLTICK_TOKEN"
    assert config.TOKEN_ENV_VARS == ("HKTICKS_TOKEN", "ALLTICK_TOKEN")


def test_file_beats_defaults(full_file: Path) -> None:
    s = resolve(env={}, file=full_file)
    assert s.token == "from-file"
    assert s.token_source == f"config file {full_file}"
    assert (s.url, s.rest_url, s.plan, s.sse_url, s.szse_url) == (
        "wss://file.example/ws",
        "https://file.example/rest/",
        "premium",
        "http://file.example/sse",
        "http://file.example/szse",
    )


def test_empty_flag_falls_through(full_file: Path) -> None:
    s = resolve(token="", url="", plan="", env={}, file=full_file)
    assert (s.token, s.url, s.plan) == ("from-file", "wss://file.example/ws", "premium")


def test_partial_file_keeps_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'plan = "free"\n')
    s = resolve(env={}, file=path)
    assert (s.plan, s.url, s.token) == ("free", alltick.DEFAULT_WS_URL, None)


# ---------------------------------------------------------------------------
# Where the config file lives


def test_config_path_xdg_and_override(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    assert config.config_path({"XDG_CONFIG_HOME": str(xdg)}) == xdg / "hkticks" / "config.toml"
    explicit = tmp_path / "elsewhere.toml"
    env = {"XDG_CONFIG_HOME": str(xdg), "HKTICKS_CONFIG": str(explicit)}
    assert config.config_path(env) == explicit
    assert config.config_dir({"XDG_CONFIG_HOME": str(xdg)}) == xdg / "hkticks"
    # without XDG_CONFIG_HOME: ~/.config (only the path is computed, nothing is read)
    assert config.config_path({}) == Path.home() / ".config" / "hkticks" / "config.toml"


def test_cache_dir(tmp_path: Path) -> None:
    assert config.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "hkticks"
    assert config.cache_dir({}) == Path.home() / ".cache" / "hkticks"


def test_resolve_reads_the_xdg_config_file(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    write(tmp_path / "xdg" / "hkticks" / "config.toml", 'token = "xdg-token"\n')
    s = resolve(env=env, file=config.config_path(env))
    assert (s.token, s.token_source) == (
        "xdg-token",
        f"config file {tmp_path / 'xdg' / 'hkticks' / 'config.toml'}",
    )


def test_resolve_reads_hkticks_config(tmp_path: Path) -> None:
    path = write(tmp_path / "mine.toml", 'token = "mine"\nplan = "free"\n')
    env = {"HKTICKS_CONFIG": str(path), "XDG_CONFIG_HOME": str(tmp_path / "unused")}
    s = resolve(env=env, file=config.config_path(env))
    assert (s.token, s.plan) == ("mine", "free")


def test_missing_file_is_empty(no_file: Path) -> None:
    assert config.load_config_file(no_file) == {}


# ---------------------------------------------------------------------------
# Bad config files


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("token = ", "not valid TOML"),
        ("token = 'unterminated\n", "not valid TOML"),
        ("[plan\n", "not valid TOML"),
        (b"token = '\xff\xfe'\n", "not valid TOML"),
        ('tokn = "x"\n', "unknown keys tokn"),
        ('token = "x"\nzeta = 1\nalpha = 2\n', "unknown keys alpha, zeta"),
        ("[section]\nx = 1\n", "unknown keys section"),
        ("plan = 3\n", "plan must be a string"),
        ("token = true\n", "token must be a string"),
        ('url = ["wss://x"]\n', "url must be a string"),
        ("rest_url = { a = 1 }\n", "rest_url must be a string"),
    ],
)
def test_bad_config_file(tmp_path: Path, content: str | bytes, expected: str) -> None:
    path = write(tmp_path / "bad.toml", content)
    with pytest.raises(ConfigError) as exc:
        resolve(env={}, file=path)
    message = one_line(exc)
    assert expected in message
    assert str(path) in message


def test_unknown_keys_message_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", 'tokn = "x"\n')
    with pytest.raises(ConfigError) as exc:
        config.load_config_file(path)
    assert "known keys: alerts, plan, rest_url, sse_url, szse_url, token, url" in str(exc.value)


def test_config_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve(env={}, file=tmp_path)
    assert f"cannot read config file {tmp_path}" in one_line(exc)


def test_config_error_is_a_usage_class_error() -> None:
    assert issubclass(ConfigError, HkticksError)
    assert ConfigError.exit_code == 2


@pytest.mark.parametrize(
    ("kwargs", "env", "file_text"),
    [
        ({"plan": "gold"}, {}, ""),
        ({}, {"HKTICKS_PLAN": "Basic"}, ""),
        ({}, {}, 'plan = "enterprise"\n'),
    ],
)
def test_unknown_plan(
    tmp_path: Path, kwargs: dict[str, Any], env: dict[str, str], file_text: str
) -> None:
    path = write(tmp_path / "c.toml", file_text)
    with pytest.raises(ConfigError) as exc:
        resolve(env=env, file=path, **kwargs)
    message = one_line(exc)
    assert "unknown plan" in message
    assert all(name in message for name in alltick.PLANS)


# ---------------------------------------------------------------------------
# URL checks


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("url", "ws://127.0.0.1:8765/quote-stock-b-ws-api"),
        ("url", "wss://quote.alltick.co/quote-stock-b-ws-api"),
        ("url", "WSS://QUOTE.ALLTICK.CO/x"),
        ("rest_url", "http://127.0.0.1:8766/quote-stock-b-api/"),
        ("rest_url", "https://quote.alltick.co/quote-stock-b-api/"),
    ],
)
def test_valid_urls(no_file: Path, name: str, value: str) -> None:
    s = resolve(env={}, file=no_file, **{name: value})
    assert getattr(s, name) == value


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("url", "http://quote.alltick.co/ws"),
        ("url", "https://quote.alltick.co/ws"),
        ("url", "ftp://host/x"),
        ("url", "wss://"),
        ("url", "quote.alltick.co/ws"),
        ("url", "localhost:8765"),
        ("url", "wss://[::1"),
        ("rest_url", "ws://host/x"),
        ("rest_url", "file:///etc/passwd"),
        ("rest_url", "https://"),
        ("rest_url", "javascript:alert(1)"),
    ],
)
def test_invalid_urls_rejected(no_file: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve(env={}, file=no_file, **{name: value})
    assert one_line(exc).startswith(f"{name} ")


@pytest.mark.parametrize("name", ["url", "rest_url"])
def test_check_url_refuses_empty(name: str) -> None:
    # resolve() never passes "" (an empty flag falls through to the default)
    with pytest.raises(ConfigError):
        config.check_url(name, "")


@pytest.mark.parametrize("source", ["flag", "env", "file"])
def test_invalid_url_from_any_source(tmp_path: Path, source: str) -> None:
    bad = "http://host/x"
    path = write(tmp_path / "c.toml", f'url = "{bad}"\n' if source == "file" else "")
    env = {"HKTICKS_URL": bad} if source == "env" else {}
    kwargs = {"url": bad} if source == "flag" else {}
    with pytest.raises(ConfigError, match="not a valid ws/wss URL"):
        resolve(env=env, file=path, **kwargs)


def test_invalid_url_message_redacts_the_token(no_file: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve(url=f"ftp://host/ws?token={SECRET}", env={}, file=no_file)
    message = one_line(exc)
    assert SECRET not in message
    assert "token=***" in message


# ---------------------------------------------------------------------------
# Redaction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wss://h/p?token=abc", "wss://h/p?token=***"),
        ("wss://h/p?token=abc&x=1", "wss://h/p?token=***&x=***"),
        ("wss://h/p?x=1&token=abc", "wss://h/p?x=***&token=***"),
        ("wss://h/p?token=abc#frag", "wss://h/p?token=***#frag"),
        ("wss://h/p?TOKEN=abc", "wss://h/p?TOKEN=***"),
        ("wss://h/p?Token=abc&b=2", "wss://h/p?Token=***&b=***"),
        ("a?token=one and b?token=two&c=3", "a?token=*** and b?token=***&c=***"),
        ("connect to wss://h/ws?token=abc failed", "connect to wss://h/ws?token=*** failed"),
        ("token=", "token=***"),
        ("no secret here", "no secret here"),
        ("postgresql://u:pw@h/db?table=ticks", "postgresql://u:***@h/db?table=ticks"),
        ("postgresql://u:p@w@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("nats://s3cret@h:4222/hk?stream=HK", "nats://***@h:4222/hk?stream=HK"),
        ("tls://u:pw@h:4222/hk", "tls://u:***@h:4222/hk"),
        ("http://h/hook?key=K&x=1", "http://h/hook?key=***&x=***"),
        ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
        ("http://h:8080/a/b@c", "http://h:8080/a/b@c"),
        ("user@example.com", "user@example.com"),
        ("", ""),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


@settings(max_examples=200, deadline=None)
@given(
    token=st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="&#"),
        min_size=12,
        max_size=40,
    )
    .filter(lambda t: not any(c.isspace() for c in t))
    .map(lambda t: "Z" + t),  # "Z" occurs nowhere else in the texts below
    extra=st.sampled_from(["", "&a=1", "#frag", "&token=again"]),
)
def test_property_redact_hides_any_token(token: str, extra: str) -> None:
    raw = f"wss://h.example/ws?token={token}{extra}"
    assert token not in redact(raw)
    encoded = with_token("wss://h.example/ws?a=1", token)
    assert token not in redact(encoded) and quote_plus(token) not in redact(encoded)
    assert redact(f"error: {raw} (retrying)").endswith(" (retrying)")


# ---------------------------------------------------------------------------
# with_token


def test_with_token_adds_and_replaces() -> None:
    url = with_token("wss://h/ws", "abc")
    assert url == "wss://h/ws?token=abc"
    url = with_token("wss://h/ws?x=1&token=old&y=", "new")
    assert parse_qs(urlsplit(url).query, keep_blank_values=True) == {
        "x": ["1"],
        "y": [""],
        "token": ["new"],
    }
    assert urlsplit(url).path == "/ws" and urlsplit(url).netloc == "h"


def test_with_token_encodes_special_characters() -> None:
    token = "a b&c=d/é+%"
    url = with_token("wss://h/ws", token)
    assert parse_qs(urlsplit(url).query) == {"token": [token]}
    assert redact(url) == "wss://h/ws?token=***"


# ---------------------------------------------------------------------------
# The token never shows


def test_settings_repr_never_contains_the_token(full_file: Path) -> None:
    for s in (
        resolve(token=SECRET, env={}, file=full_file),
        resolve(env={"HKTICKS_TOKEN": SECRET}, file=full_file),
        resolve(env={"ALLTICK_TOKEN": SECRET}, file=full_file),
        resolve(
            token=SECRET,
            url=f"wss://h/ws?token={SECRET}",
            rest_url=f"https://h/r/?token={SECRET}",
            env={},
            file=full_file,
        ),
    ):
        for shown in (repr(s), str(s), f"{s}", f"{s!r}", repr([s]), repr({"s": s})):
            assert SECRET not in shown
            assert "token=***" in shown


def test_settings_repr_without_token(no_file: Path) -> None:
    shown = repr(resolve(env={}, file=no_file))
    assert "token=None" in shown and "plan='basic'" in shown


def test_require_token(no_file: Path) -> None:
    assert resolve(token=SECRET, env={}, file=no_file).require_token() == SECRET
    with pytest.raises(ConfigError) as exc:
        resolve(env={}, file=no_file).require_token()
    message = one_line(exc)
    for hint in ("HKTICKS_TOKEN", "--token", "token =", "--demo"):
        assert hint in message


def test_errors_name_where_the_bad_setting_came_from(tmp_path: Path) -> None:
    missing = tmp_path / "none.toml"
    with pytest.raises(ConfigError, match="HKTICKS_PLAN"):
        config.resolve(env={"HKTICKS_PLAN": "gold"}, file=missing)
    with pytest.raises(ConfigError, match="HKTICKS_URL"):
        config.resolve(env={"HKTICKS_URL": "http://x/y"}, file=missing)
    with pytest.raises(ConfigError, match="--rest-url"):
        config.resolve(rest_url="ftp://x/", env={}, file=missing)


def test_an_explicit_config_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="HKTICKS_CONFIG names"):
        config.resolve(env={"HKTICKS_CONFIG": str(tmp_path / "nope.toml")})
