"""The shipped configs validate and carry the audit's values."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import DEMO_EXAMPLE, SHIPPED

from okxscalp.config import default_config_path, load_config
from okxscalp.config.schema import ExchangeProfile, FreshnessSettings, Purpose

pytestmark = pytest.mark.timeout(30)


def test_default_config_validates_and_builds_every_section() -> None:
    config = load_config(SHIPPED)
    assert config.symbols == ("BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "DOGE-USDT")
    assert config.exchange.profile is ExchangeProfile.SIM
    assert config.freshness == FreshnessSettings(order_s=1.0, exit_s=2.0, signal_s=3.0, general_s=5.0)
    assert config.freshness.budget(Purpose.ORDER) == 1.0
    assert config.websocket.ping_after_s == 25.0 and config.websocket.backoff.max_s == 5.0
    assert config.rest.limit_margin == 0.8
    assert config.scalping.max_positions == 3
    assert config.scalping.regime.trend_min_band_atr_ratio == 3.0  # calibrated to the lively simulator
    assert config.scalping.signals.ema_slow_period == 13
    assert config.journal_path == "okxscalp-journal.sqlite"
    assert config.source_file == str(SHIPPED)
    assert config.document["symbol_profiles"]["XRP-USDT"]["choppy"]["tp_percent"] == 3.0


def test_okx_demo_example_validates() -> None:
    config = load_config(DEMO_EXAMPLE)
    assert config.exchange.profile is ExchangeProfile.OKX_DEMO
    assert config.exchange.ws_url.startswith("wss://wspap.okx.com")
    assert config.exchange.credentials_file is None


def test_audit_values_are_shipped() -> None:
    limit = load_config(SHIPPED).document["order_executor"]["limit_order"]
    assert limit["default_offset_percent"] == 0.05
    assert {r: s["limit_offset_percent"] for r, s in limit["by_regime"].items()} == {
        "trending": 0.10,
        "choppy": 0.05,
        "ranging": 0.08,
    }
    assert all(s["use_market_order"] is False for s in limit["by_regime"].values())
    assert limit["by_symbol"]["XRP-USDT"]["by_regime"]["choppy"]["limit_offset_percent"] == 0.03
    assert limit["by_symbol"]["XRP-USDT"]["by_regime"]["trending"]["limit_offset_percent"] == 0.12
    assert limit["by_symbol"]["DOGE-USDT"]["by_regime"]["choppy"]["limit_offset_percent"] == 0.04


def test_default_config_path_prefers_the_working_directory(tmp_path: Path) -> None:
    assert default_config_path(tmp_path) == SHIPPED  # nothing in tmp_path: the repository's file
    local = tmp_path / "config" / "default.yaml"
    local.parent.mkdir()
    local.write_text("x: 1\n")
    assert default_config_path(tmp_path) == local
