"""The simulator's market settings (exchange.sim.volatility / swing_size / swing_half_life_s): validated
by key path, reaching the server through sim_server_options, shown by `config explain`."""

from __future__ import annotations

from typing import Any

import pytest
from config_helpers import SHIPPED, problems, shipped_doc

from okxscalp.cli import main as cli_main
from okxscalp.config import load_document
from okxscalp.config.schema import SimSettings
from okxscalp.config.sim_explain import sim_market_rows, strategy_threshold_rows
from okxscalp.sim.market import MarketDynamics
from okxscalp.sim.price_process import Swings
from okxscalp.sim.server import sim_server_options

SIM = "exchange.sim"


@pytest.mark.parametrize(
    ("key", "value"),
    [("volatility", 0), ("volatility", -1.0), ("volatility", 25), ("volatility", "lively"),
     ("swing_size", -0.5), ("swing_size", 11), ("swing_half_life_s", 0), ("swing_half_life_s", True)],
)
def test_bad_market_settings_are_refused_by_key_path(key: str, value: Any) -> None:
    doc = shipped_doc()
    doc["exchange"]["sim"][key] = value
    assert f"{SIM}.{key}" in problems(doc)


def test_shipped_market_reaches_the_server() -> None:
    config = load_document(shipped_doc(), "default.yaml")
    dynamics = sim_server_options(config.exchange.sim)["dynamics"]
    assert dynamics == MarketDynamics(3.0, Swings(1.0, 20.0))
    assert sim_server_options(SimSettings())["dynamics"] == MarketDynamics()  # not written: the table's market


def test_explain_shows_the_market_settings_with_their_key_paths(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--config", str(SHIPPED), "config", "explain", "BTC-USDT", "choppy"]) == 0
    out = capsys.readouterr().out
    for key in ("volatility", "swing_size", "swing_half_life_s"):
        assert f"{SIM}.{key}" in out
    assert "0.08 % x 3 = 0.24 %" in out


def test_explain_rows_say_when_a_market_key_is_not_in_the_file() -> None:
    doc = shipped_doc()
    del doc["exchange"]["sim"]["swing_size"]
    rows = {row.name: row for row in sim_market_rows(load_document(doc, "x.yaml"), "BTC-USDT-SWAP")}
    assert rows["volatility"].from_file and rows["volatility"].value == 3.0
    assert not rows["swing_size"].from_file and rows["swing_size"].value == 0.0
    doc["exchange"]["profile"] = "okx-demo"
    assert sim_market_rows(load_document(doc, "x.yaml"), "BTC-USDT-SWAP") == []


def test_explain_shows_the_regime_and_signal_thresholds_with_their_key_paths(capsys: pytest.CaptureFixture[str]) -> None:
    # The shipped simulator config calibrates them to its lively market: explain must say so.
    assert cli_main(["--config", str(SHIPPED), "config", "explain", "XRP-USDT", "ranging"]) == 0
    out = capsys.readouterr().out
    assert "regime and signal thresholds" in out
    for key_path, value in (
        ("scalping.regime.atr_percent_choppy", "0.6"),
        ("scalping.regime.trend_min_band_atr_ratio", "3"),
        ("scalping.signals.reversion_rsi_low", "45"),
        ("scalping.signals.band_edge_fraction", "0.2"),
    ):
        line = next(line for line in out.splitlines() if key_path in line)
        assert f" {value} " in line, line


def test_threshold_rows_say_when_a_key_is_not_in_the_file() -> None:
    doc = shipped_doc()
    del doc["scalping"]["signals"]["rsi_period"]
    config = load_document(doc, "x.yaml")
    rows = {row.key_path: row for row in strategy_threshold_rows(config)}
    assert not rows["scalping.signals.rsi_period"].from_file
    assert rows["scalping.signals.reversion_rsi_low"].from_file
