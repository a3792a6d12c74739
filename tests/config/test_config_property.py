"""Property: for random valid configs, every resolution's source path holds the resolved value in
the loaded config, and every chain step tells the truth (found ⇔ the path exists, with that value)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from config_helpers import shipped_doc
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from okxscalp.config import (
    PARAMETER_NAMES,
    ConfigError,
    LeverageUnavailable,
    ParameterProvider,
    load_document,
)
from okxscalp.config.chains import EXCHANGE_LEVER_SOURCE, get_path, has_path, value_at
from okxscalp.config.spec import REGIMES

pytestmark = pytest.mark.timeout(120)

SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "DOGE-USDT", "ADA-USDT")
money = st.floats(min_value=0.01, max_value=4.5, allow_nan=False).map(lambda x: round(x, 3))


@st.composite
def regime_sections(draw: st.DrawFn) -> dict[str, Any]:
    """Full sections inside the TP:SL band, or explicit inheritance from a full section."""
    full = {}
    for regime in REGIMES:
        sl = draw(st.floats(0.5, 5.0).map(lambda x: round(x, 2)))
        atr_sl = draw(st.floats(0.5, 5.0).map(lambda x: round(x, 2)))
        full[regime] = {
            "tp_percent": round(sl * draw(st.floats(0.6, 3.3)), 3),
            "sl_percent": sl,
            "tp_atr_multiplier": round(atr_sl * draw(st.floats(0.5, 2.9)), 3),
            "sl_atr_multiplier": atr_sl,
        }
    base = draw(st.sampled_from(REGIMES))
    for regime in REGIMES:
        if regime != base and draw(st.booleans()):
            section: dict[str, Any] = {"inherit": base}
            if draw(st.booleans()):  # an own value beside the inheritance
                key = draw(
                    st.sampled_from(("tp_atr_multiplier", "sl_atr_multiplier", "tp_percent", "sl_percent"))
                )
                section[key] = full[base][key]
            full[regime] = section
    return full


@st.composite
def offset_scope(draw: st.DrawFn) -> dict[str, Any]:
    scope: dict[str, Any] = {}
    market = draw(st.sampled_from([None, False, True]))
    if market is not None:
        scope["use_market_order"] = market
    if draw(st.booleans()):
        scope["limit_offset_percent"] = 0.0 if market is True and draw(st.booleans()) else draw(money)
    return scope


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    doc = shipped_doc()
    active = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=len(SYMBOLS), unique=True))
    doc["symbols"] = active
    profiles: dict[str, Any] = {}
    for symbol in SYMBOLS:
        if symbol not in active and draw(st.booleans()):
            continue
        profile: dict[str, Any] = draw(regime_sections())
        if draw(st.booleans()):
            profile["position_multiplier"] = draw(st.floats(0.1, 3.0).map(lambda x: round(x, 2)))
        if draw(st.booleans()):
            profile["leverage"] = draw(st.integers(1, 50))
        if draw(st.booleans()):
            profile["tp_sl_mode"] = draw(st.sampled_from(("percent", "atr")))
        if draw(st.booleans()):
            profile["exit_limits"] = {"tp_min_percent": draw(money), "tp_max_percent": 9.0}
        profiles[symbol] = profile
    doc["symbol_profiles"] = profiles
    if draw(st.booleans()):
        doc["scalping"]["leverage"] = draw(st.integers(1, 125))
    else:
        doc["scalping"].pop("leverage", None)
    limit = doc["order_executor"]["limit_order"]
    limit["default_offset_percent"] = draw(money)
    limit["use_market_order"] = draw(st.booleans())
    limit["by_regime"] = {r: draw(offset_scope()) for r in REGIMES if draw(st.booleans())}
    by_symbol: dict[str, Any] = {}
    for symbol in draw(st.lists(st.sampled_from(SYMBOLS), unique=True)):
        scope = draw(offset_scope())
        if draw(st.booleans()):
            scope["timeout_s"] = draw(st.floats(0.5, 60.0).map(lambda x: round(x, 1)))
        if draw(st.booleans()):
            scope["by_regime"] = {r: draw(offset_scope()) for r in REGIMES if draw(st.booleans())}
        by_symbol[symbol] = scope
    limit["by_symbol"] = by_symbol
    return doc


def _check(config_doc: dict[str, Any], name: str, res: Any) -> None:
    if res.source_path == EXCHANGE_LEVER_SOURCE:
        pytest.fail("no exchange lever was given, yet one was reported")
    assert value_at(config_doc, res.source_path) == res.value, (name, res)
    assert res.chain[-1].path == res.source_path and res.chain[-1].found
    for step in res.chain:
        assert has_path(config_doc, step.path) == step.found, step
        if step.found:
            assert get_path(config_doc, step.path) == step.value


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow]
)
@given(configs())
def test_resolutions_come_from_where_they_say(document: dict[str, Any]) -> None:
    original = copy.deepcopy(document)
    try:
        config = load_document(document, "generated.yaml")
    except ConfigError:
        assume(False)  # the generator aims at valid configs; the rare invalid mix is skipped
        return
    provider = ParameterProvider(config)
    for symbol in config.symbols:
        for regime in REGIMES:
            for name in PARAMETER_NAMES:
                try:
                    res = provider.resolve(name, f"{symbol}-SWAP", regime)
                except LeverageUnavailable as exc:
                    assert name == "leverage" and not any(step.found for step in exc.chain)
                    continue
                _check(config.document, name, res)
            offset = provider.resolve("limit_offset_percent", symbol, regime).value
            market = provider.resolve("use_market_order", symbol, regime).value
            assert offset > 0 or market is True  # a market entry only where written
    assert config.document == original  # loading neither changes nor shares the caller's document
    document.clear()
    assert config.document == original


def _all_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _all_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _all_paths(value, (*prefix, index))
    return out


_SHIPPED_PATHS = _all_paths(shipped_doc())
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(
        st.sampled_from(["inherit", "tp_percent", "x", "by_regime", "choppy"]),
        st.sampled_from([None, 1, "ranging", [1]]),
        max_size=3,
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_SHIPPED_PATHS), junk), min_size=1, max_size=6))
def test_any_junk_is_a_config_error_never_a_crash(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    document = shipped_doc()
    for path, value in mutations:
        node: Any = document
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced a parent
    try:
        load_document(document, "junk.yaml")
    except ConfigError as exc:
        assert all(p.path is not None and p.message for p in exc.problems)
