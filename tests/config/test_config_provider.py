"""ParameterProvider: values, the exact source path, the chain tried; the audit's cases."""

from __future__ import annotations

from typing import Any

import pytest
from config_helpers import SHIPPED, delete, problems

from okxscalp.config import (
    CHAINS,
    PARAMETER_NAMES,
    ChainStep,
    LeverageUnavailable,
    ParameterProvider,
    ParameterUnavailable,
    UnknownParameter,
    load_config,
    load_document,
)
from okxscalp.config.chains import EXCHANGE_LEVER_SOURCE, EXCHANGE_LEVERAGE_INFO_SOURCE, value_at
from okxscalp.okx.models import Regime

pytestmark = pytest.mark.timeout(30)

LIMIT = "order_executor.limit_order"


@pytest.fixture(scope="module")
def provider() -> ParameterProvider:
    return ParameterProvider(load_config(SHIPPED))


def provider_for(document: dict[str, Any]) -> ParameterProvider:
    return ParameterProvider(load_document(document, "test.yaml"))


# --- the audit's XRP-USDT choppy case (failure 2) --------------------------------------------


def test_xrp_choppy_tp_sl_come_from_the_choppy_section(provider: ParameterProvider) -> None:
    expected = {"tp_percent": 3.0, "sl_percent": 2.0, "tp_atr_multiplier": 1.5, "sl_atr_multiplier": 3.5}
    for name, value in expected.items():
        res = provider.resolve(name, "XRP-USDT", "choppy")
        assert res.value == value
        assert res.source_path == f"symbol_profiles.XRP-USDT.choppy.{name}"
        assert res.chain == (ChainStep(res.source_path, True, value),)
        assert res.note == ""


def test_xrp_without_choppy_section_is_rejected_not_resolved(doc: dict[str, Any]) -> None:
    delete(doc, "symbol_profiles.XRP-USDT.choppy")
    assert "symbol_profiles.XRP-USDT.choppy" in problems(doc)
    # Even for a symbol nobody validated (inactive), the resolver never picks symbol-level or
    # another regime's values: it reports what it tried and fails.
    doc["symbols"].remove("XRP-USDT")
    provider = provider_for(doc)
    with pytest.raises(ParameterUnavailable) as info:
        provider.resolve("tp_percent", "XRP-USDT", "choppy")
    assert info.value.chain == (ChainStep("symbol_profiles.XRP-USDT.choppy.tp_percent", False),)
    assert "symbol_profiles.XRP-USDT.choppy.tp_percent: not set" in str(info.value)
    assert provider.resolve("tp_percent", "XRP-USDT", "ranging").value == 3.5


def test_explicit_inherit_reports_the_real_source(doc: dict[str, Any]) -> None:
    doc["symbol_profiles"]["XRP-USDT"]["choppy"] = {"inherit": "ranging", "sl_percent": 1.8}
    provider = provider_for(doc)
    tp = provider.resolve("tp_percent", "XRP-USDT", "choppy")
    assert (tp.value, tp.source_path, tp.note) == (
        3.5,
        "symbol_profiles.XRP-USDT.ranging.tp_percent",
        "inherited by choppy",
    )
    assert tp.source == "symbol_profiles.XRP-USDT.ranging.tp_percent (inherited by choppy)"
    assert tp.chain == (
        ChainStep("symbol_profiles.XRP-USDT.choppy.tp_percent", False),
        ChainStep("symbol_profiles.XRP-USDT.choppy.inherit", True, "ranging"),
        ChainStep("symbol_profiles.XRP-USDT.ranging.tp_percent", True, 3.5),
    )
    sl = provider.resolve("sl_percent", "XRP-USDT", "choppy")  # the section's own value wins
    assert (sl.value, sl.source_path, sl.note) == (1.8, "symbol_profiles.XRP-USDT.choppy.sl_percent", "")


# --- the offset chain (failure 4) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "regime", "value", "source"),
    [
        ("XRP-USDT", "choppy", 0.03, f"{LIMIT}.by_symbol.XRP-USDT.by_regime.choppy.limit_offset_percent"),
        ("XRP-USDT", "trending", 0.12, f"{LIMIT}.by_symbol.XRP-USDT.by_regime.trending.limit_offset_percent"),
        ("DOGE-USDT", "choppy", 0.04, f"{LIMIT}.by_symbol.DOGE-USDT.by_regime.choppy.limit_offset_percent"),
        ("SOL-USDT", "trending", 0.10, f"{LIMIT}.by_regime.trending.limit_offset_percent"),
        ("BTC-USDT", "ranging", 0.08, f"{LIMIT}.by_regime.ranging.limit_offset_percent"),
    ],
)
def test_offset_reports_the_exact_level_used(
    provider: ParameterProvider, symbol: str, regime: str, value: float, source: str
) -> None:
    res = provider.resolve("limit_offset_percent", symbol, regime)
    assert (res.value, res.source_path) == (value, source)
    assert res.chain[-1] == ChainStep(source, True, value)
    assert all(not step.found for step in res.chain[:-1])


def test_sol_trending_offset_chain_lists_every_level_tried(provider: ParameterProvider) -> None:
    res = provider.resolve("limit_offset_percent", "SOL-USDT-SWAP", Regime.TRENDING)
    assert [step.path for step in res.chain] == [
        f"{LIMIT}.by_symbol.SOL-USDT.by_regime.trending.limit_offset_percent",
        f"{LIMIT}.by_symbol.SOL-USDT.limit_offset_percent",
        f"{LIMIT}.by_regime.trending.limit_offset_percent",
    ]
    assert [step.found for step in res.chain] == [False, False, True]


def test_default_offset_ends_the_chain(doc: dict[str, Any]) -> None:
    limit = doc["order_executor"]["limit_order"]
    del limit["by_regime"], limit["by_symbol"]
    res = provider_for(doc).resolve("limit_offset_percent", "XRP-USDT", "choppy")
    assert (res.value, res.source_path) == (0.05, f"{LIMIT}.default_offset_percent")
    assert len(res.chain) == 4


def test_market_order_only_where_written(doc: dict[str, Any]) -> None:
    doc["order_executor"]["limit_order"]["by_symbol"]["DOGE-USDT"]["by_regime"]["trending"] = {
        "limit_offset_percent": 0.0,
        "use_market_order": True,
    }
    provider = provider_for(doc)
    market = provider.resolve("use_market_order", "DOGE-USDT", "trending")
    assert market.value is True
    assert market.source_path == f"{LIMIT}.by_symbol.DOGE-USDT.by_regime.trending.use_market_order"
    for symbol in ("DOGE-USDT", "XRP-USDT"):
        assert provider.resolve("use_market_order", symbol, "choppy").value is False


# --- other families --------------------------------------------------------------------------


def test_symbol_level_families(provider: ParameterProvider) -> None:
    pm = provider.resolve("position_multiplier", "XRP-USDT")
    assert (pm.value, pm.source_path) == (1.1, "symbol_profiles.XRP-USDT.position_multiplier")
    mode = provider.resolve("tp_sl_mode", "ETH-USDT", "trending")
    assert (mode.value, mode.source_path) == ("percent", "scalping.tp_sl_mode")
    timeout = provider.resolve("entry_timeout_s", "DOGE-USDT")
    assert (timeout.value, timeout.source_path) == (10.0, f"{LIMIT}.timeout_s")
    clamp = provider.resolve("sl_max_percent", "BTC-USDT")
    assert (clamp.value, clamp.source_path) == (4.0, "scalping.exit_limits.sl_max_percent")


def test_regime_families_need_a_regime(provider: ParameterProvider) -> None:
    with pytest.raises(ParameterUnavailable, match="needs a regime"):
        provider.resolve("tp_percent", "XRP-USDT", None)
    with pytest.raises(ParameterUnavailable, match="needs a regime"):
        provider.resolve("limit_offset_percent", "XRP-USDT", "sideways")


def test_unknown_parameter(provider: ParameterProvider) -> None:
    with pytest.raises(UnknownParameter, match="tp_percnt"):
        provider.resolve("tp_percnt", "XRP-USDT", "choppy")


def test_every_declared_parameter_resolves_for_every_shipped_symbol(provider: ParameterProvider) -> None:
    config = provider.config
    for symbol in config.symbols:
        for regime in Regime:
            for name in PARAMETER_NAMES:
                res = provider.resolve(name, symbol, regime)
                assert res.value == value_at(config.document, res.source_path)
                assert isinstance(res.value, CHAINS[name].kind)


def test_explain_lists_every_parameter(provider: ParameterProvider) -> None:
    rows = provider.explain("XRP-USDT-SWAP", "choppy")
    assert [r.name for r in rows] == list(PARAMETER_NAMES)
    assert all(r.source_path for r in rows)


# --- leverage (failure 6) --------------------------------------------------------------------


def test_leverage_from_config(provider: ParameterProvider) -> None:
    btc = provider.resolve_leverage("BTC-USDT-SWAP", "3")
    assert (btc.value, btc.source_path) == (10.0, "symbol_profiles.BTC-USDT.leverage")
    xrp = provider.resolve("leverage", "XRP-USDT")
    assert (xrp.value, xrp.source_path) == (5.0, "scalping.leverage")
    assert [s.found for s in xrp.chain] == [False, True]


def test_leverage_from_the_exchange_when_config_has_none(doc: dict[str, Any]) -> None:
    del doc["scalping"]["leverage"], doc["symbol_profiles"]["BTC-USDT"]["leverage"]
    provider = provider_for(doc)
    res = provider.resolve_leverage("XRP-USDT", "7")
    assert (res.value, res.source_path) == (7.0, EXCHANGE_LEVER_SOURCE)
    assert res.chain[-1] == ChainStep(EXCHANGE_LEVER_SOURCE, True, 7.0)
    assert res.note == "exchange position lever, XRP-USDT-SWAP"


def test_leverage_failure_lists_every_source_and_what_to_check(doc: dict[str, Any]) -> None:
    del doc["scalping"]["leverage"], doc["symbol_profiles"]["BTC-USDT"]["leverage"]
    provider = provider_for(doc)
    with pytest.raises(LeverageUnavailable) as info:
        provider.resolve_leverage("XRP-USDT-SWAP", "")
    message = str(info.value)
    assert message.startswith("leverage unavailable for XRP-USDT (XRP-USDT-SWAP)")
    assert "1. symbol_profiles.XRP-USDT.leverage in test.yaml: not set" in message
    assert "2. scalping.leverage in test.yaml: not set" in message
    assert "3. exchange position lever for XRP-USDT-SWAP: lever='' (not a positive number)" in message
    assert "set scalping.leverage" in message and "symbol_profiles.XRP-USDT.leverage" in message
    assert "/api/v5/account/positions" in message and "leverage-info?instId=XRP-USDT-SWAP" in message
    assert "never assumed" in message
    assert [step.path for step in info.value.chain][-1] == EXCHANGE_LEVER_SOURCE

    with pytest.raises(LeverageUnavailable) as none_info:
        provider.resolve("leverage", "DOGE-USDT")
    assert "exchange position lever for DOGE-USDT-SWAP: nothing reported" in str(none_info.value)
    with pytest.raises(LeverageUnavailable) as info_setting:
        provider.resolve_leverage("DOGE-USDT", "0", exchange_source=EXCHANGE_LEVERAGE_INFO_SOURCE)
    assert "3. exchange leverage setting (leverage-info) for DOGE-USDT-SWAP: lever='0'" in str(
        info_setting.value
    )


def test_leverage_from_the_account_setting_names_it(doc: dict[str, Any]) -> None:
    del doc["scalping"]["leverage"]
    res = provider_for(doc).resolve_leverage(
        "SOL-USDT-SWAP", 8.0, exchange_source=EXCHANGE_LEVERAGE_INFO_SOURCE
    )
    assert (res.value, res.source_path) == (8.0, EXCHANGE_LEVERAGE_INFO_SOURCE)
    assert res.note == "exchange leverage setting (leverage-info), SOL-USDT-SWAP"


def test_explain_shows_unavailable_leverage_instead_of_hiding_it(doc: dict[str, Any]) -> None:
    del doc["scalping"]["leverage"]
    rows = {r.name: r for r in provider_for(doc).explain("XRP-USDT", "choppy")}
    assert rows["leverage"].value is None and rows["leverage"].source_path == ""
    assert "leverage unavailable" in rows["leverage"].note
    with_exchange = {r.name: r for r in provider_for(doc).explain("XRP-USDT", "choppy", exchange_lever=4)}
    assert with_exchange["leverage"].value == 4.0
