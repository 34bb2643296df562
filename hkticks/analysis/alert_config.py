"""What the anomaly engine (:mod:`hkticks.analysis.anomaly`) is told: the alert
kinds, its thresholds (:class:`AlertConfig`, ``[alerts]`` in the config file
and the ``alerts`` command's flags) and what previous days say about each
symbol (:class:`SymbolBaseline`). Pure values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from hkticks.errors import ConfigError

KINDS = ("volume_spike", "rvol", "block_trade", "price_move", "breakout")
HOURS = ("hk", "always")


@dataclass(frozen=True)
class AlertConfig:
    """Thresholds; every field may be set in ``[alerts]`` of the config file."""

    kinds: tuple[str, ...] = KINDS
    hours: str = "hk"
    cooldown_s: float = 60.0
    warmup_s: float = 120.0
    warmup_trades: int = 30
    spike_windows: tuple[int, ...] = (10, 30, 60)
    spike_ratio: float = 3.0
    spike_volume_ratio: float = 2.0
    spike_z: float = 6.0
    spike_min_trades: int = 20
    rvol_threshold: float = 3.0
    rvol_min_s: float = 300.0
    rvol_cooldown_s: float = 600.0
    block_floor: float = 20_000_000.0
    block_percentile: float = 95.0
    block_x: float = 50.0
    block_min_trades: int = 100
    block_adv_pct: float = 1.0
    block_cap_bp: float = 0.4
    move_pct: float = 10.0
    move_window_s: int = 300
    move_min_price: float = 1.0
    breakout_rvol: float = 2.0

    def __post_init__(self) -> None:
        bad = [k for k in self.kinds if k not in KINDS]
        if bad:
            raise ConfigError(f"unknown alert kind {bad[0]!r}; choose from {', '.join(KINDS)}")
        if self.hours not in HOURS:
            raise ConfigError(f"alerts hours must be one of {', '.join(HOURS)}, not {self.hours!r}")
        if not self.spike_windows or any(w <= 0 or w > 600 for w in self.spike_windows):
            raise ConfigError("alerts spike_windows must be seconds between 1 and 600")
        if not 50.0 <= self.block_percentile < 100.0:
            raise ConfigError("alerts block_percentile must be in [50, 100)")
        for name in (
            "cooldown_s",
            "warmup_s",
            "spike_ratio",
            "spike_z",
            "rvol_threshold",
            "block_floor",
            "block_x",
            "block_adv_pct",
            "block_cap_bp",
            "move_pct",
            "move_min_price",
            "move_window_s",
            "breakout_rvol",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"alerts {name} must not be negative")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str = "[alerts]") -> AlertConfig:
        """Build from a config-file table; unknown keys and wrong types are refused by name."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in table.items():
            f = known.get(key)
            if f is None:
                raise ConfigError(
                    f"{where} has an unknown key {key!r}; known keys: {', '.join(sorted(known))}"
                )
            default = getattr(cls(), key)
            try:
                values[key] = _coerce(default, raw)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"{where} {key} = {raw!r} is not a valid {type(default).__name__}"
                ) from None
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> AlertConfig:
        """A copy with the given (non-None) fields replaced: flags over the config file."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _coerce(default: Any, raw: Any) -> Any:
    if isinstance(default, bool) or isinstance(raw, bool):
        raise TypeError("bool")
    if isinstance(default, tuple):
        if isinstance(raw, str):
            raw = [p for p in raw.replace(",", " ").split() if p]
        if not isinstance(raw, (list, tuple)):
            raise TypeError("not a list")
        kind = type(default[0]) if default else str
        return tuple(kind(x) if kind is not str else str(x) for x in raw)
    if isinstance(default, float):
        if not isinstance(raw, (int, float)):
            raise TypeError("not a number")
        return float(raw)
    if isinstance(default, int):
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if not isinstance(raw, int):
            raise TypeError("not an integer")
        return raw
    if not isinstance(raw, str):
        raise TypeError("not a string")
    return raw


@dataclass(frozen=True)
class SymbolBaseline:
    """What previous days say about one symbol (see :mod:`hkticks.analysis.baselines`).

    ``cum[m]`` is the average cumulative continuous-session volume at the end
    of minute ``m`` of the session (0..329); ``minute_n``/``minute_v`` the
    average trades and volume in that minute (empty when unknown, e.g. from
    daily bars); ``block`` the ``block_percentile`` of one trade's turnover
    (0: unknown); ``day_turnover`` the average turnover of a day, HK$ (0: unknown);
    ``hk_shares`` its shares listed in Hong Kong (0: unknown; market cap = x price).
    """

    days: int
    cum: Sequence[float]
    minute_n: Sequence[float] = ()
    minute_v: Sequence[float] = ()
    block: float = 0.0
    day_turnover: float = 0.0
    hk_shares: float = 0.0
