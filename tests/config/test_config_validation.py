"""Each validation rule, on a broken copy of the shipped config: the message names the key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from config_helpers import SHIPPED, delete, problems, put, write

from okxscalp.config import ConfigError, load_config, load_document

pytestmark = pytest.mark.timeout(30)

XRP = "symbol_profiles.XRP-USDT"
LIMIT = "order_executor.limit_order"


# --- unknown keys, types, ranges ------------------------------------------------------------


def test_unknown_key_is_a_typo_with_a_suggestion(doc: dict[str, Any]) -> None:
    doc["symbol_profiles"]["XRP-USDT"]["choppy"]["tp_percnt"] = 3.0
    found = problems(doc)
    assert "unknown key" in found[f"{XRP}.choppy.tp_percnt"]
    assert "tp_percent" in found[f"{XRP}.choppy.tp_percnt"]


def test_unknown_top_level_section(doc: dict[str, Any]) -> None:
    doc["scalpng"] = {}
    assert "did you mean 'scalping'" in problems(doc)["scalpng"]


def test_symbol_level_exit_parameter_is_not_a_key(doc: dict[str, Any]) -> None:
    # The audit's fallback read symbol_profiles.XRP-USDT.tp_percent; such a key does not exist here.
    doc["symbol_profiles"]["XRP-USDT"]["tp_percent"] = 4.5
    assert "unknown key" in problems(doc)[f"{XRP}.tp_percent"]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("freshness.order_s", "1", "expected a number"),
        ("scalping.max_positions", 2.5, "expected an integer"),
        ("scalping.max_positions", True, "expected an integer"),
        (f"{LIMIT}.use_market_order", "no", "expected true or false"),
        ("exchange.profile", "binance", "not one of sim, okx-demo, okx-live"),
        ("symbols", "XRP-USDT", "expected a list"),
        (f"{XRP}.choppy", [3.0, 2.0], "expected a mapping"),
        ("journal.path", 5, "expected a string"),
    ],
)
def test_wrong_types_are_reported_at_their_path(
    doc: dict[str, Any], path: str, value: Any, expected: str
) -> None:
    put(doc, path, value)
    assert expected in problems(doc)[path]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("freshness.order_s", 60.0),  # the audit's 60 s "fresh" price
        ("freshness.exit_s", 0),
        (f"{XRP}.choppy.sl_percent", -2.0),
        ("scalping.leverage", 0),
        ("scalping.leverage", 500),
        ("websocket.ping_after_s", 30.0),  # OKX drops idle connections at 30 s
        ("rest.limit_margin", 1.5),
        (f"{LIMIT}.timeout_s", 0),
    ],
)
def test_out_of_range_values(doc: dict[str, Any], path: str, value: Any) -> None:
    put(doc, path, value)
    assert "out of range" in problems(doc)[path]


def test_required_key_missing(doc: dict[str, Any]) -> None:
    delete(doc, "scalping.tp_sl_mode")
    assert problems(doc)["scalping.tp_sl_mode"] == "required key is missing"


def test_instid_in_symbols_is_refused(doc: dict[str, Any]) -> None:
    doc["symbols"][3] = "XRP-USDT-SWAP"
    assert "not the instId" in problems(doc)["symbols[3]"]


def test_duplicate_symbol(doc: dict[str, Any]) -> None:
    doc["symbols"].append("BTC-USDT")
    assert "listed twice" in problems(doc)["symbols[5]"]


def test_unknown_regime_key(doc: dict[str, Any]) -> None:
    doc["order_executor"]["limit_order"]["by_regime"]["chopy"] = {"limit_offset_percent": 0.05}
    assert "did you mean 'choppy'" in problems(doc)[f"{LIMIT}.by_regime.chopy"]


# --- regime sections (audit failure 2) -------------------------------------------------------


def test_missing_regime_section_of_an_active_symbol_is_refused(doc: dict[str, Any]) -> None:
    delete(doc, f"{XRP}.choppy")
    message = problems(doc)[f"{XRP}.choppy"]
    assert "regime section missing for active symbol XRP-USDT" in message
    assert "inherit" in message  # says how to reuse another section explicitly


def test_missing_exit_parameter(doc: dict[str, Any]) -> None:
    delete(doc, "symbol_profiles.DOGE-USDT.ranging.sl_atr_multiplier")
    assert (
        "missing for active symbol DOGE-USDT"
        in problems(doc)["symbol_profiles.DOGE-USDT.ranging.sl_atr_multiplier"]
    )


def test_active_symbol_without_profile(doc: dict[str, Any]) -> None:
    delete(doc, "symbol_profiles.SOL-USDT")
    assert "has no profile" in problems(doc)["symbol_profiles.SOL-USDT"]


def test_inactive_symbol_profile_may_be_partial(doc: dict[str, Any]) -> None:
    doc["symbols"].remove("SOL-USDT")
    delete(doc, "symbol_profiles.SOL-USDT.choppy")
    load_document(doc, "ok.yaml")


def test_explicit_inherit_is_accepted(doc: dict[str, Any]) -> None:
    doc["symbol_profiles"]["XRP-USDT"]["choppy"] = {"inherit": "ranging"}
    load_document(doc, "ok.yaml")


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"choppy": {"inherit": "choppy"}}, "cannot inherit itself"),
        ({"choppy": {"inherit": "ranging"}, "ranging": {"inherit": "choppy"}}, "inheritance cycle"),
    ],
)
def test_bad_inherit_links(doc: dict[str, Any], sections: dict[str, Any], expected: str) -> None:
    doc["symbol_profiles"]["XRP-USDT"].update(sections)
    assert expected in problems(doc)[f"{XRP}.choppy.inherit"]


def test_inherit_of_a_missing_section(doc: dict[str, Any]) -> None:
    doc["symbol_profiles"]["XRP-USDT"]["choppy"] = {"inherit": "ranging"}
    delete(doc, f"{XRP}.ranging")
    found = problems(doc)
    assert "does not exist" in found[f"{XRP}.choppy.inherit"]
    assert f"{XRP}.ranging" in found


# --- TP:SL sanity band -----------------------------------------------------------------------


def test_the_audits_tp_sl_imbalance_is_refused(doc: dict[str, Any]) -> None:
    put(doc, f"{XRP}.choppy.tp_percent", 8.8)
    put(doc, f"{XRP}.choppy.sl_percent", 2.5)
    message = problems(doc)[f"{XRP}.choppy"]
    assert "3.52" in message and "sanity band [0.5, 3.4]" in message
    assert f"{XRP}.choppy.tp_percent" in message


def test_atr_multiplier_ratio_band(doc: dict[str, Any]) -> None:
    put(doc, f"{XRP}.trending.tp_atr_multiplier", 12.0)
    message = problems(doc)[f"{XRP}.trending"]
    assert "tp_atr_multiplier 12" in message and "atr_ratio_min/atr_ratio_max" in message


def test_band_applies_to_inherited_values_too(doc: dict[str, Any]) -> None:
    doc["symbol_profiles"]["XRP-USDT"]["choppy"] = {"inherit": "ranging", "tp_percent": 9.0}
    message = problems(doc)[f"{XRP}.choppy"]
    assert f"{XRP}.ranging.sl_percent (inherited by choppy)" in message


def test_min_above_max(doc: dict[str, Any]) -> None:
    put(doc, "scalping.exit_limits.tp_sl_ratio_min", 5.0)
    assert (
        "must be at most scalping.exit_limits.tp_sl_ratio_max"
        in problems(doc)["scalping.exit_limits.tp_sl_ratio_min"]
    )


def test_ticker_cache_cannot_outlive_the_exit_budget(doc: dict[str, Any]) -> None:
    put(doc, "rest.ticker_cache_ttl_s", 3.0)
    assert "must be at most freshness.exit_s (2)" in problems(doc)["rest.ticker_cache_ttl_s"]


def test_symbol_clamp_override_min_above_max(doc: dict[str, Any]) -> None:
    put(doc, f"{XRP}.exit_limits", {"sl_min_percent": 5.0})
    assert "sl_min_percent 5" in problems(doc)[f"{XRP}.exit_limits"]


# --- limit offsets (audit failure 4) ---------------------------------------------------------


def test_every_offset_level_deleted_is_refused(doc: dict[str, Any]) -> None:
    limit = doc["order_executor"]["limit_order"]
    for key in ("default_offset_percent", "by_regime", "by_symbol"):
        del limit[key]
    assert problems(doc)[f"{LIMIT}.default_offset_percent"] == "required key is missing"


def test_zero_default_offset_is_refused(doc: dict[str, Any]) -> None:
    put(doc, f"{LIMIT}.default_offset_percent", 0.0)
    assert "out of range" in problems(doc)[f"{LIMIT}.default_offset_percent"]


def test_zero_offset_without_use_market_order_is_refused(doc: dict[str, Any]) -> None:
    put(doc, f"{LIMIT}.by_regime.trending.limit_offset_percent", 0.0)
    message = problems(doc)[f"{LIMIT}.by_regime.trending.limit_offset_percent"]
    assert "use_market_order: true" in message


def test_zero_offset_with_explicit_market_order_is_accepted(doc: dict[str, Any]) -> None:
    put(
        doc,
        f"{LIMIT}.by_symbol.DOGE-USDT.by_regime.choppy",
        {"limit_offset_percent": 0.0, "use_market_order": True},
    )
    load_document(doc, "ok.yaml")


def test_resolved_zero_offset_with_limit_order_is_refused(doc: dict[str, Any]) -> None:
    # A zero offset allowed in its own scope (market there) but reached from a more specific scope
    # that says "limit": the combination would be a limit order at the touch.
    put(doc, f"{LIMIT}.by_symbol.SOL-USDT", {"limit_offset_percent": 0.0, "use_market_order": True})
    put(doc, f"{LIMIT}.by_symbol.SOL-USDT.by_regime", {"ranging": {"use_market_order": False}})
    message = problems(doc)[f"{LIMIT}.by_symbol.SOL-USDT.limit_offset_percent"]
    assert "SOL-USDT ranging resolves to offset 0" in message


def test_negative_offset_needs_market_order_in_its_section(doc: dict[str, Any]) -> None:
    put(doc, f"{LIMIT}.by_regime.choppy.limit_offset_percent", -0.05)
    assert "use_market_order: true" in problems(doc)[f"{LIMIT}.by_regime.choppy.limit_offset_percent"]
    put(doc, f"{LIMIT}.by_regime.choppy.use_market_order", True)
    load_document(doc, "ok.yaml")


def test_offset_beyond_range(doc: dict[str, Any]) -> None:
    put(doc, f"{LIMIT}.by_symbol.XRP-USDT.by_regime.choppy.limit_offset_percent", 30)
    assert (
        "out of range" in problems(doc)[f"{LIMIT}.by_symbol.XRP-USDT.by_regime.choppy.limit_offset_percent"]
    )


# --- reporting: all at once, file and line ---------------------------------------------------


def test_all_problems_are_reported_at_once(doc: dict[str, Any]) -> None:
    delete(doc, f"{XRP}.choppy")
    put(doc, "freshness.order_s", 60)
    doc["websocket"]["pingg_after_s"] = 1
    put(doc, f"{LIMIT}.by_regime.ranging.limit_offset_percent", 0)
    with pytest.raises(ConfigError) as info:
        load_document(doc, "broken.yaml")
    paths = set(info.value.paths())
    assert {
        f"{XRP}.choppy",
        "freshness.order_s",
        "websocket.pingg_after_s",
        f"{LIMIT}.by_regime.ranging.limit_offset_percent",
    } <= paths
    text = str(info.value)
    assert text.startswith(f"{len(info.value.problems)} config problems:")
    assert all(path in text for path in paths)


def test_problems_carry_file_and_line(tmp_path: Path) -> None:
    lines = SHIPPED.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("signal_s:"))
    lines[index] = lines[index].replace("signal_s", "signal_sec")
    file = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    by_path = {p.path: p for p in info.value.problems}
    typo = by_path["freshness.signal_sec"]
    assert typo.file == str(file) and typo.line == index + 1
    missing = by_path["freshness.signal_s"]  # reported at its section's line
    assert missing.line is not None and missing.line < index + 1
    assert f"{file}:{index + 1}: freshness.signal_sec: unknown key" in str(info.value)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    file = write(tmp_path, "symbols: [BTC-USDT,\nfreshness: {order_s: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    (problem,) = info.value.problems
    assert "YAML syntax error" in problem.message and problem.line is not None


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = SHIPPED.read_text().replace("  order_s: 1.0\n", "  order_s: 1.0\n  order_s: 60.0\n", 1)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert any(p.path == "freshness.order_s" and "duplicate key" in p.message for p in info.value.problems)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "cannot read config" in str(info.value)


def test_empty_document(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "# nothing\n"))
    assert "expected a mapping" in str(info.value)


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    """Profiles may share values through anchors; an own key overrides a merged one (YAML rules)."""
    text = SHIPPED.read_text().replace(
        "  DOGE-USDT:\n    position_multiplier: 0.9\n",
        "  DOGE-USDT: &doge\n    position_multiplier: 0.9\n",
    )
    text = text.replace(
        "order_executor:\n",
        "  ADA-USDT:\n    <<: *doge\n    position_multiplier: 0.5\n  LTC-USDT: *doge\n\norder_executor:\n",
        1,
    )
    text = text.replace("symbols: [BTC-USDT,", "symbols: [ADA-USDT, LTC-USDT, BTC-USDT,")
    config = load_config(write(tmp_path, text))
    profiles = config.document["symbol_profiles"]
    assert profiles["ADA-USDT"]["position_multiplier"] == 0.5
    assert profiles["ADA-USDT"]["choppy"] == profiles["DOGE-USDT"]["choppy"] == profiles["LTC-USDT"]["choppy"]
