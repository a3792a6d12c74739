"""The strategy thresholds that fit the simulator's calm market.

`SimServer(...)` with no market settings builds a calm market (volatility 1, no swings): what the
engine tests and the soak run against. The shipped config (config/default.yaml) calibrates the
regime and signal thresholds to its lively session instead, so a config derived from it for a calm
simulator puts these back (the same values as config/okx-demo.example.yaml).
"""

from __future__ import annotations

from typing import Any

CALM_MARKET_REGIME: dict[str, float] = {"atr_percent_choppy": 0.2, "trend_min_band_atr_ratio": 4.0}
CALM_MARKET_SIGNALS: dict[str, float] = {"reversion_rsi_low": 35.0, "reversion_rsi_high": 65.0, "band_edge_fraction": 0.1}


def use_calm_market_thresholds(doc: dict[str, Any]) -> None:
    """Set `scalping.regime` / `scalping.signals` of a config document to the calm market's values."""
    doc["scalping"]["regime"].update(CALM_MARKET_REGIME)
    doc["scalping"]["signals"].update(CALM_MARKET_SIGNALS)
