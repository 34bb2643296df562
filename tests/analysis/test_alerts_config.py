"""``[alerts]`` in the config file: read by config.config_table, checked by AlertConfig."""

from __future__ import annotations

from pathlib import Path

import pytest

from hkticks import config
from hkticks.analysis.alert_config import AlertConfig
from hkticks.errors import ConfigError


def test_alerts_table_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('plan = "premium"\n[alerts]\ncooldown_s = 30\nspike_windows = [30, 60]\n')
    env = {"HKTICKS_CONFIG": str(path)}
    table, where = config.config_table("alerts", env)
    assert table == {"cooldown_s": 30, "spike_windows": [30, 60]} and str(path) in where
    cfg = AlertConfig.from_mapping(table, where)
    assert cfg.cooldown_s == 30.0 and cfg.spike_windows == (30, 60)
    assert config.resolve(env=env).plan == "premium"  # the other settings still resolve


def test_alerts_must_be_a_table_and_strings_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('alerts = "loud"\n')
    with pytest.raises(ConfigError, match=r"\[alerts\] must be a table"):
        config.load_config_file(path)
    path.write_text("plan = 3\n")
    with pytest.raises(ConfigError, match="plan must be a string"):
        config.load_config_file(path)


def test_no_config_file_no_alerts_table(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert config.config_table("alerts", env)[0] == {}
