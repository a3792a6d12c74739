"""Cross-field rules: what the schema cannot say key by key.

They run on the same document as the schema check, after it, and tolerate values the schema has
already refused (a value of the wrong type is skipped here, not reported twice). Every resolved
value is obtained through `chains.resolve_in`, the resolver the engine uses.
"""

from __future__ import annotations

from typing import Any

from okxscalp.config.chains import ParameterUnavailable, Resolution, get_path, has_path, resolve_in
from okxscalp.config.spec import EXIT_PARAMETERS, REGIMES, SYMBOL_PATTERN, Report, is_number

_LIMIT = "order_executor.limit_order"


def check_rules(document: Any, report: Report) -> None:
    if not isinstance(document, dict):
        return
    symbols = _active_symbols(document)
    _check_inherit_links(document, report)
    for symbol in symbols:
        _check_profile_complete(document, symbol, report)
    _check_offset_scopes(document, report)
    for symbol in symbols:
        for regime in REGIMES:
            _check_resolved_offset(document, symbol, regime, report)
            _check_tp_sl_band(document, symbol, regime, report)
        _check_symbol_clamps(document, symbol, report)
    _check_ordered_pairs(document, report)


def _active_symbols(document: dict[str, Any]) -> list[str]:
    symbols = document.get("symbols")
    if not isinstance(symbols, list):
        return []
    out: list[str] = []
    for symbol in symbols:
        if isinstance(symbol, str) and SYMBOL_PATTERN.fullmatch(symbol) and symbol not in out:
            out.append(symbol)
    return out


def _number(document: Any, path: str) -> float | None:
    value = get_path(document, path)
    return float(value) if is_number(value) else None


def _try(document: Any, name: str, symbol: str, regime: str | None) -> Resolution | None:
    try:
        return resolve_in(document, name, symbol, regime)
    except ParameterUnavailable:
        return None


def _check_inherit_links(document: dict[str, Any], report: Report) -> None:
    profiles = document.get("symbol_profiles")
    if not isinstance(profiles, dict):
        return
    for symbol, profile in profiles.items():
        if not isinstance(profile, dict):
            continue
        for regime in REGIMES:
            section = profile.get(regime)
            if not isinstance(section, dict) or not isinstance(section.get("inherit"), str):
                continue
            path = f"symbol_profiles.{symbol}.{regime}.inherit"
            target = section["inherit"]
            if target not in REGIMES:
                continue  # the schema reported it
            if target == regime:
                report(path, f"a section cannot inherit itself ({regime})")
                continue
            if not isinstance(profile.get(target), dict):
                report(path, f"inherits symbol_profiles.{symbol}.{target}, which does not exist")
                continue
            # Walk the links: a cycle means no value would ever be found.
            seen, current = [regime], target
            while isinstance(profile.get(current), dict) and isinstance(profile[current].get("inherit"), str):
                seen.append(current)
                current = profile[current]["inherit"]
                if current in seen:
                    report(path, f"inheritance cycle: {' -> '.join([*seen, current])}")
                    break


def _check_profile_complete(document: dict[str, Any], symbol: str, report: Report) -> None:
    profile_path = f"symbol_profiles.{symbol}"
    profile = get_path(document, profile_path)
    if not isinstance(profile, dict):
        if not has_path(document, profile_path):
            report(
                profile_path,
                f"{symbol} is in `symbols` but has no profile: add {profile_path} with "
                f"{', '.join(REGIMES)} sections ({', '.join(EXIT_PARAMETERS)} in each)",
            )
        return
    for regime in REGIMES:
        section_path = f"{profile_path}.{regime}"
        if not has_path(document, section_path):
            others = [r for r in REGIMES if r != regime and isinstance(profile.get(r), dict)]
            hint = (
                f", or `{regime}: {{inherit: {others[0]}}}` to reuse that section explicitly"
                if others
                else ""
            )
            report(
                section_path,
                f"regime section missing for active symbol {symbol}: write {', '.join(EXIT_PARAMETERS)} "
                f"for {regime}{hint}. Symbol-level or other regimes' values are never used in its place",
            )
            continue
        if not isinstance(profile.get(regime), dict):
            continue  # the schema reported the type
        for name in EXIT_PARAMETERS:
            if _try(document, name, symbol, regime) is None:
                report(f"{section_path}.{name}", f"missing for active symbol {symbol} in {regime}")


def _check_offset_scopes(document: dict[str, Any], report: Report) -> None:
    """A zero or negative offset is allowed only where `use_market_order: true` is written in the
    same section."""
    scopes: list[str] = []
    by_regime = get_path(document, f"{_LIMIT}.by_regime")
    if isinstance(by_regime, dict):
        scopes += [f"{_LIMIT}.by_regime.{r}" for r in by_regime]
    by_symbol = get_path(document, f"{_LIMIT}.by_symbol")
    if isinstance(by_symbol, dict):
        for symbol, scope in by_symbol.items():
            scopes.append(f"{_LIMIT}.by_symbol.{symbol}")
            inner = scope.get("by_regime") if isinstance(scope, dict) else None
            if isinstance(inner, dict):
                scopes += [f"{_LIMIT}.by_symbol.{symbol}.by_regime.{r}" for r in inner]
    for scope in scopes:
        offset = _number(document, f"{scope}.limit_offset_percent")
        if offset is not None and offset <= 0 and get_path(document, f"{scope}.use_market_order") is not True:
            report(
                f"{scope}.limit_offset_percent",
                f"offset {offset:g} would price the limit order at the touch or through it; use a positive "
                f"offset, or write `use_market_order: true` in {scope} if a market entry is really meant",
            )


def _check_resolved_offset(document: dict[str, Any], symbol: str, regime: str, report: Report) -> None:
    offset = _try(document, "limit_offset_percent", symbol, regime)
    market = _try(document, "use_market_order", symbol, regime)
    if offset is None or market is None or market.value is True:
        return
    scope = offset.source_path.rsplit(".", 1)[0]
    if not is_number(offset.value) or offset.value > 0:
        return
    if get_path(document, f"{scope}.use_market_order") is True:
        # Allowed in its own scope (market there), but this symbol/regime resolves to a limit order.
        # (Without market in its own scope, _check_offset_scopes has reported it already.)
        report(
            offset.source_path,
            f"{symbol} {regime} resolves to offset {offset.value:g} with use_market_order false "
            f"(from {market.source_path}): a limit entry needs a positive offset",
        )


def _check_tp_sl_band(document: dict[str, Any], symbol: str, regime: str, report: Report) -> None:
    section = f"symbol_profiles.{symbol}.{regime}"
    for tp_name, sl_name, lo_key, hi_key in (
        ("tp_percent", "sl_percent", "tp_sl_ratio_min", "tp_sl_ratio_max"),
        ("tp_atr_multiplier", "sl_atr_multiplier", "atr_ratio_min", "atr_ratio_max"),
    ):
        lo = _number(document, f"scalping.exit_limits.{lo_key}")
        hi = _number(document, f"scalping.exit_limits.{hi_key}")
        tp = _try(document, tp_name, symbol, regime)
        sl = _try(document, sl_name, symbol, regime)
        if lo is None or hi is None or tp is None or sl is None:
            continue
        if not (is_number(tp.value) and is_number(sl.value)) or sl.value <= 0 or tp.value <= 0:
            continue
        ratio = tp.value / sl.value
        if not lo <= ratio <= hi:
            report(
                section,
                f"{tp_name} {tp.value:g} ({tp.source}) : {sl_name} {sl.value:g} ({sl.source}) = {ratio:.2f}, "
                f"outside the sanity band [{lo:g}, {hi:g}] (scalping.exit_limits.{lo_key}/{hi_key})",
            )


def _check_symbol_clamps(document: dict[str, Any], symbol: str, report: Report) -> None:
    for side in ("tp", "sl"):
        lo = _try(document, f"{side}_min_percent", symbol, None)
        hi = _try(document, f"{side}_max_percent", symbol, None)
        if lo is None or hi is None or not (is_number(lo.value) and is_number(hi.value)):
            continue
        overridden = lo.source_path.startswith("symbol_profiles.") or hi.source_path.startswith(
            "symbol_profiles."
        )
        if lo.value > hi.value and overridden:  # the global pair is checked once, in _check_ordered_pairs
            report(
                f"symbol_profiles.{symbol}.exit_limits",
                f"{side}_min_percent {lo.value:g} ({lo.source_path}) > {side}_max_percent {hi.value:g} ({hi.source_path})",
            )


_ORDERED_PAIRS: tuple[tuple[str, str, bool, str], ...] = (
    # (lower, upper, strict, why)
    ("scalping.exit_limits.tp_min_percent", "scalping.exit_limits.tp_max_percent", False, ""),
    ("scalping.exit_limits.sl_min_percent", "scalping.exit_limits.sl_max_percent", False, ""),
    ("scalping.exit_limits.tp_sl_ratio_min", "scalping.exit_limits.tp_sl_ratio_max", False, ""),
    ("scalping.exit_limits.atr_ratio_min", "scalping.exit_limits.atr_ratio_max", False, ""),
    ("websocket.backoff.base_s", "websocket.backoff.max_s", False, ""),
    ("rest.retry_base_s", "rest.retry_max_s", False, ""),
    (
        "rest.ticker_cache_ttl_s",
        "freshness.exit_s",
        False,
        "a cached REST ticker older than the EXIT budget could never serve the exit fallback",
    ),
    ("scalping.signals.ema_fast_period", "scalping.signals.ema_slow_period", True, ""),
    ("scalping.signals.trend_rsi_min", "scalping.signals.trend_rsi_max", True, ""),
    ("scalping.signals.reversion_rsi_low", "scalping.signals.reversion_rsi_high", True, ""),
)


def _check_ordered_pairs(document: dict[str, Any], report: Report) -> None:
    for low_path, high_path, strict, why in _ORDERED_PAIRS:
        low, high = _number(document, low_path), _number(document, high_path)
        if low is None or high is None:
            continue
        if low > high or (strict and low == high):
            relation = "below" if strict else "at most"
            reason = f": {why}" if why else ""
            report(low_path, f"{low:g} must be {relation} {high_path} ({high:g}){reason}")
