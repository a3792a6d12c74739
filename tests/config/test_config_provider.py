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
from okxscalp.config.provider import leverage_adoption
from okxscalp.okx.models import Instrument, Regime

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


# --- leverage (failure 6; issue 10 defect 11) -----------------------------------------------

XRP_INST = Instrument(
    "XRP-USDT-SWAP", ct_val=100.0, tick_sz="0.0001", lot_sz="0.01", min_sz="0.01", max_leverage=50
)


def no_leverage_in_config(doc: dict[str, Any]) -> ParameterProvider:
    del doc["scalping"]["leverage"], doc["symbol_profiles"]["BTC-USDT"]["leverage"]
    return provider_for(doc)


def test_leverage_from_config(provider: ParameterProvider) -> None:
    btc = provider.resolve_leverage("BTC-USDT-SWAP", "3")
    assert (btc.value, btc.source_path) == (10.0, "symbol_profiles.BTC-USDT.leverage")
    assert not btc.from_exchange and leverage_adoption(btc, "BTC-USDT-SWAP") is None
    xrp = provider.resolve("leverage", "XRP-USDT")
    assert (xrp.value, xrp.source_path) == (5.0, "scalping.leverage")
    assert [s.found for s in xrp.chain] == [False, True]
    assert provider.resolve_leverage("XRP-USDT", None, instrument=XRP_INST) == xrp


def test_leverage_adopted_from_the_open_position_is_reported_as_such(doc: dict[str, Any]) -> None:
    provider = no_leverage_in_config(doc)
    res = provider.resolve_leverage("XRP-USDT", "7", instrument=XRP_INST)
    assert (res.value, res.source_path, res.from_exchange) == (7.0, EXCHANGE_LEVER_SOURCE, True)
    assert res.chain[-1] == ChainStep(EXCHANGE_LEVER_SOURCE, True, 7.0)
    assert "adopted" in res.note and "XRP-USDT-SWAP" in res.note and "config sets none" in res.note
    event = leverage_adoption(res, "XRP-USDT-SWAP")
    assert event is not None and event.startswith(
        "XRP-USDT-SWAP: leverage 7 adopted from the open position's lever"
    )
    assert "symbol_profiles.XRP-USDT.leverage, scalping.leverage" in event
    # Long and short positions that agree, as the positions query reports them.
    both = provider.resolve_leverage("XRP-USDT", ["7", 7.0], instrument=XRP_INST)
    assert both.value == 7.0


def test_leverage_failure_lists_every_source_and_what_to_check(doc: dict[str, Any]) -> None:
    provider = no_leverage_in_config(doc)
    with pytest.raises(LeverageUnavailable) as info:
        provider.resolve_leverage("XRP-USDT-SWAP", "", instrument=XRP_INST)
    message = str(info.value)
    assert message.startswith("leverage unavailable for XRP-USDT (XRP-USDT-SWAP)")
    assert "1. symbol_profiles.XRP-USDT.leverage in test.yaml: not set" in message
    assert "2. scalping.leverage in test.yaml: not set" in message
    assert "3. exchange position lever for XRP-USDT-SWAP: lever='' (not a positive number)" in message
    assert "set scalping.leverage" in message and "symbol_profiles.XRP-USDT.leverage" in message
    assert "/api/v5/account/positions" in message and "/api/v5/public/instruments" in message
    assert "never assumed" in message
    assert [step.path for step in info.value.chain][-1] == EXCHANGE_LEVER_SOURCE

    with pytest.raises(LeverageUnavailable) as none_info:
        provider.resolve("leverage", "DOGE-USDT")
    assert "exchange position lever for DOGE-USDT-SWAP: nothing reported (no open position)" in str(
        none_info.value
    )


def test_the_account_leverage_setting_is_never_adopted(doc: dict[str, Any]) -> None:
    """Defect 11: leverage-info's value (0.01 passed) was adopted silently, so the hard fail could
    never fire. Now only an open position's lever is a source, and only inside the range."""
    provider = no_leverage_in_config(doc)
    for lever in (8.0, 0.01):
        with pytest.raises(LeverageUnavailable) as info:
            provider.resolve_leverage(
                "SOL-USDT-SWAP", lever, instrument=XRP_INST, exchange_source=EXCHANGE_LEVERAGE_INFO_SOURCE
            )
        assert "the account's leverage setting is not a leverage source" in str(info.value)
        assert info.value.chain[-1] == ChainStep(EXCHANGE_LEVERAGE_INFO_SOURCE, False, lever)


def test_an_exchange_lever_outside_the_instrument_range_is_refused(doc: dict[str, Any]) -> None:
    provider = no_leverage_in_config(doc)
    for lever in ("0.01", "0.5", "51", "125"):
        with pytest.raises(LeverageUnavailable) as info:
            provider.resolve_leverage("XRP-USDT", lever, instrument=XRP_INST)
        assert "refused: exchange position lever: leverage" in str(info.value)
        assert "outside XRP-USDT-SWAP's range [1, 50]" in str(info.value)
    with pytest.raises(LeverageUnavailable, match="no instrument was given"):
        provider.resolve_leverage("XRP-USDT", "7")  # the range unknown: nothing is adopted
    with pytest.raises(LeverageUnavailable, match="report different levers 5, 7"):
        provider.resolve_leverage("XRP-USDT", ["7", "5"], instrument=XRP_INST)
    with pytest.raises(LeverageUnavailable, match="nothing reported"):
        provider.resolve_leverage("XRP-USDT", [], instrument=XRP_INST)


def test_a_configured_leverage_above_the_instrument_maximum_is_refused_not_replaced(
    doc: dict[str, Any],
) -> None:
    doc["symbol_profiles"]["XRP-USDT"]["leverage"] = 75
    provider = provider_for(doc)
    with pytest.raises(LeverageUnavailable) as info:
        provider.resolve_leverage(
            "XRP-USDT-SWAP", "10", instrument=XRP_INST
        )  # the exchange's 10 is not taken
    message = str(info.value)
    assert (
        "refused: symbol_profiles.XRP-USDT.leverage: leverage 75 is outside XRP-USDT-SWAP's range [1, 50]"
        in message
    )
    assert info.value.chain == (ChainStep("symbol_profiles.XRP-USDT.leverage", True, 75),)


def test_explain_shows_unavailable_leverage_instead_of_hiding_it(doc: dict[str, Any]) -> None:
    del doc["scalping"]["leverage"]
    rows = {r.name: r for r in provider_for(doc).explain("XRP-USDT", "choppy")}
    assert rows["leverage"].value is None and rows["leverage"].source_path == ""
    assert "leverage unavailable" in rows["leverage"].note
    with_exchange = {
        r.name: r
        for r in provider_for(doc).explain("XRP-USDT", "choppy", exchange_lever=4, instrument=XRP_INST)
    }
    assert with_exchange["leverage"].value == 4.0 and with_exchange["leverage"].from_exchange
    adopted = with_exchange["leverage"]
    engine_view = {r.name: r for r in provider_for(doc).explain("XRP-USDT", "choppy", leverage=adopted)}
    assert engine_view["leverage"] is adopted  # the engine's own resolution, shown as is


# --- account-wide settings: one key each, required, with their source (defect 10) ------------


def test_account_settings_come_from_their_one_key(provider: ParameterProvider) -> None:
    assert (provider.margin_mode().value, provider.margin_mode().source_path) == (
        "cross",
        "scalping.margin_mode",
    )
    assert (provider.orphan_policy().value, provider.orphan_policy().source_path) == (
        "protect",
        "scalping.orphan_policy",
    )
    sl = provider.orphan_sl_percent()
    assert (sl.value, sl.source_path, sl.chain) == (2.0, "scalping.orphan_sl_percent", (sl.chain[0],))
    rows = {r.name: r for r in provider.explain("XRP-USDT", "choppy")}
    for name in ("margin_mode", "orphan_policy", "orphan_sl_percent"):
        assert rows[name].source_path == f"scalping.{name}" and rows[name].value == value_at(
            provider.config.document, f"scalping.{name}"
        )
        assert provider.resolve(name, "BTC-USDT") == rows[name]  # the same for every symbol
    settings = provider.account_settings()
    assert (settings.margin_mode, settings.orphan_policy, settings.orphan_sl_percent) == (
        "cross",
        "protect",
        2.0,
    )
    assert [r.source_path for r in settings.resolutions] == [
        "scalping.margin_mode",
        "scalping.orphan_policy",
        "scalping.orphan_sl_percent",
    ]


@pytest.mark.parametrize("name", ["margin_mode", "orphan_policy", "orphan_sl_percent"])
def test_account_settings_are_required(doc: dict[str, Any], name: str) -> None:
    delete(doc, f"scalping.{name}")
    assert problems(doc)[f"scalping.{name}"] == "required key is missing"


def test_exchange_td_mode_is_refused_naming_its_replacement(doc: dict[str, Any]) -> None:
    doc["exchange"]["td_mode"] = "isolated"
    found = problems(doc)
    assert "exchange.td_mode" in found and "scalping.margin_mode" in found["exchange.td_mode"]
    assert "unknown key" not in found["exchange.td_mode"]
