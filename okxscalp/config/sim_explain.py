"""The simulator settings that shape the market a symbol trades in, and the strategy thresholds
tuned to that market, for `okxscalp config explain`.

The strategy's parameters are the same for every exchange; what makes the embedded simulator's
market calm or busy is `exchange.sim.*`. `explain` shows those next to the strategy's values, with
their key paths, so a config tuned for the simulator says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as _fields
from typing import Any

from rich.table import Table

from okxscalp.config.schema import AppConfig, ExchangeProfile, SimSettings

MARKET_KEYS: tuple[str, ...] = ("volatility", "swing_size", "swing_half_life_s")


@dataclass(frozen=True, slots=True)
class SimMarketRow:
    name: str
    value: float
    key_path: str
    from_file: bool  # False: the simulator's default (the key is not in the file)
    note: str


def sim_market_rows(config: AppConfig, inst_id: str) -> list[SimMarketRow]:
    """One row per market setting of `exchange.sim`; empty unless the profile is the simulator."""
    if config.exchange.profile is not ExchangeProfile.SIM:
        return []
    from okxscalp.sim.instruments import spec_for

    sim: SimSettings = config.exchange.sim
    written: dict[str, Any] = (config.document.get("exchange") or {}).get("sim") or {}
    base = spec_for(inst_id).vol_per_min * 100.0
    notes = {
        "volatility": f"{inst_id}: typical 1-minute volatility {base:.3g} % x {sim.volatility:g} = "
        f"{base * sim.volatility:.3g} % (every regime)",
        "swing_size": "short-lived overshoots that come back, in that volatility (0 = none)",
        "swing_half_life_s": "seconds for a swing to halve",
    }
    return [
        SimMarketRow(key, float(getattr(sim, key)), f"exchange.sim.{key}", key in written, notes[key])
        for key in MARKET_KEYS
    ]


def sim_market_table(title: str, rows: list[SimMarketRow]) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("simulator market", style="bold", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("source", overflow="fold")
    for row in rows:
        source = row.key_path if row.from_file else f"{row.key_path} not set: simulator default"
        table.add_row(row.name, f"{row.value:g}", f"{source} — {row.note}")
    return table


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    key_path: str
    value: Any
    from_file: bool  # False: the built-in default (the key is not in the file)


def dataclass_fields(settings: Any) -> list[str]:
    return [f.name for f in _fields(settings)]


def strategy_threshold_rows(config: AppConfig) -> list[ThresholdRow]:
    """The regime detector's and the entry signals' thresholds (`scalping.regime`, `scalping.signals`):
    the same for every symbol, tuned per market (the shipped simulator config calibrates them to its
    lively session), so `explain` shows them with the symbol's parameters."""
    scalping: dict[str, Any] = config.document.get("scalping") or {}
    rows: list[ThresholdRow] = []
    for section, settings in (("regime", config.scalping.regime), ("signals", config.scalping.signals)):
        written: dict[str, Any] = scalping.get(section) or {}
        for field in dataclass_fields(settings):
            rows.append(ThresholdRow(f"scalping.{section}.{field}", getattr(settings, field), field in written))
    return rows


def strategy_threshold_table(title: str, rows: list[ThresholdRow]) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("threshold", style="bold", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("source", overflow="fold")
    for row in rows:
        name = row.key_path.rsplit(".", 1)[1]
        value = f"{row.value:g}" if isinstance(row.value, float) else str(row.value)
        table.add_row(name, value, row.key_path if row.from_file else f"{row.key_path} not set: built-in default")
    return table
