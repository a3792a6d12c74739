"""The resolution order of every trading parameter — declared once, here, in `CHAINS`.

A chain is the ordered list of key paths tried; the first one present supplies the value and is
reported as the source. There is no implicit last resort: every chain either ends on a key the
schema makes required, or (leverage) on the exchange position, or fails loudly with the chain it
tried. Account-wide settings (margin mode, orphan policy) are one key each, required.
Regime sections may name another section with `inherit: REGIME`; that is followed only when
written, and reported (the source stays the path that really holds the value).

`resolve_in(document, name, symbol, regime)` is pure; the validator (rules.py) and the
ParameterProvider both use it, so nothing resolves a parameter any other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from okxscalp.config.spec import REGIMES

_LIMIT = "order_executor.limit_order"


@dataclass(frozen=True, slots=True)
class Chain:
    paths: tuple[str, ...]  # templates: {symbol}, {regime}
    per_regime: bool = False  # needs a regime
    follows_inherit: bool = False  # the regime section may `inherit` another regime's section
    kind: type = float  # float | bool | str: the value's type after resolution
    what: str = ""  # one line for people (explain, errors)
    account_wide: bool = False  # the same for every symbol (no {symbol} in its paths)


# The one table. Order within each tuple is priority, first found wins.
CHAINS: dict[str, Chain] = {
    # Exit parameters: the regime section of the symbol, nothing else (audit failure 2).
    **{
        name: Chain(
            (f"symbol_profiles.{{symbol}}.{{regime}}.{name}",),
            per_regime=True,
            follows_inherit=True,
            what=what,
        )
        for name, what in (
            ("tp_percent", "take-profit distance, % of entry price (percent mode)"),
            ("sl_percent", "stop-loss distance, % of entry price (percent mode)"),
            ("tp_atr_multiplier", "take-profit distance in ATRs (atr mode)"),
            ("sl_atr_multiplier", "stop-loss distance in ATRs (atr mode)"),
        )
    },
    # Entry limit offset: the audit's order (failure 4); the default is positive by validation.
    "limit_offset_percent": Chain(
        (
            f"{_LIMIT}.by_symbol.{{symbol}}.by_regime.{{regime}}.limit_offset_percent",
            f"{_LIMIT}.by_symbol.{{symbol}}.limit_offset_percent",
            f"{_LIMIT}.by_regime.{{regime}}.limit_offset_percent",
            f"{_LIMIT}.default_offset_percent",
        ),
        per_regime=True,
        what="entry limit price offset from bid/ask, % of price",
    ),
    "use_market_order": Chain(
        (
            f"{_LIMIT}.by_symbol.{{symbol}}.by_regime.{{regime}}.use_market_order",
            f"{_LIMIT}.by_symbol.{{symbol}}.use_market_order",
            f"{_LIMIT}.by_regime.{{regime}}.use_market_order",
            f"{_LIMIT}.use_market_order",
        ),
        per_regime=True,
        kind=bool,
        what="enter with a market order (only where written true)",
    ),
    "entry_timeout_s": Chain(
        (f"{_LIMIT}.by_symbol.{{symbol}}.timeout_s", f"{_LIMIT}.timeout_s"),
        what="unfilled entry limit order is cancelled after this many seconds",
    ),
    "position_multiplier": Chain(
        ("symbol_profiles.{symbol}.position_multiplier", "scalping.position_multiplier"),
        what="position size multiplier",
    ),
    "tp_sl_mode": Chain(
        ("symbol_profiles.{symbol}.tp_sl_mode", "scalping.tp_sl_mode"),
        kind=str,
        what="percent: tp/sl_percent; atr: tp/sl_atr_multiplier x ATR",
    ),
    **{
        name: Chain(
            (f"symbol_profiles.{{symbol}}.exit_limits.{name}", f"scalping.exit_limits.{name}"),
            what=what,
        )
        for name, what in (
            ("tp_min_percent", "take-profit distance clamp, lower bound, % of price"),
            ("tp_max_percent", "take-profit distance clamp, upper bound, % of price"),
            ("sl_min_percent", "stop-loss distance clamp, lower bound, % of price"),
            ("sl_max_percent", "stop-loss distance clamp, upper bound, % of price"),
        )
    },
    # Leverage: config, then the open exchange position's `lever` (ParameterProvider.resolve_leverage,
    # an adoption the engine reports as an event), then a hard failure that lists every source
    # (audit failure 6). The account's leverage setting (leverage-info) is never a source.
    "leverage": Chain(
        ("symbol_profiles.{symbol}.leverage", "scalping.leverage"),
        what="leverage; after config, the open exchange position's lever (adopted, reported)",
    ),
    # Account-wide, one key each, required by the schema: no safe default exists.
    "margin_mode": Chain(
        ("scalping.margin_mode",),
        kind=str,
        account_wide=True,
        what="cross | isolated: tdMode of every order, mgnMode of leverage and closes",
    ),
    "orphan_policy": Chain(
        ("scalping.orphan_policy",),
        kind=str,
        account_wide=True,
        what="a position on the exchange with no snapshot: protect (stop) | flatten (close)",
    ),
    "orphan_sl_percent": Chain(
        ("scalping.orphan_sl_percent",),
        account_wide=True,
        what="orphan policy protect: stop distance, % of the position's avgPx",
    ),
}

ACCOUNT_WIDE: tuple[str, ...] = tuple(name for name, chain in CHAINS.items() if chain.account_wide)

# Not config keys. The one exchange source of a leverage: the open position's lever.
EXCHANGE_LEVER_SOURCE = "exchange:positions.lever"  # GET /account/positions (or the positions push)
# Where a read-back of the account's leverage setting came from: compared with the resolution
# (executor.leverage_mismatch), never adopted as one.
EXCHANGE_LEVERAGE_INFO_SOURCE = "exchange:leverage-info.lever"  # GET /account/leverage-info
EXCHANGE_SOURCE_LABELS = {
    EXCHANGE_LEVER_SOURCE: "exchange position lever",
    EXCHANGE_LEVERAGE_INFO_SOURCE: "exchange leverage setting (leverage-info), never adopted",
}

PARAMETER_NAMES: tuple[str, ...] = tuple(CHAINS)


class ChainStep(NamedTuple):
    path: str
    found: bool
    value: Any = None


@dataclass(frozen=True, slots=True)
class Resolution:
    name: str
    value: Any
    source_path: str  # the key path that holds `value` (or EXCHANGE_LEVER_SOURCE)
    chain: tuple[ChainStep, ...]
    note: str = ""  # e.g. "inherited by choppy"

    @property
    def source(self) -> str:
        """Source path with its note, for people."""
        return f"{self.source_path} ({self.note})" if self.note else self.source_path

    @property
    def from_exchange(self) -> bool:
        """The value was adopted from the exchange, not read from the config file."""
        return self.source_path.startswith("exchange:")


class ParameterUnavailable(LookupError):
    """Nothing in the chain holds a value. The message lists every step tried."""

    def __init__(
        self, name: str, symbol: str, regime: str | None, chain: tuple[ChainStep, ...], reason: str = ""
    ) -> None:
        self.name, self.symbol, self.regime, self.chain = name, symbol, regime, chain
        tried = "; ".join(f"{step.path}: {_found_text(step)}" for step in chain) or "nothing"
        scope = f"{symbol} {regime}" if regime else symbol or "the account"
        super().__init__(
            f"{name} for {scope} is not configured{f' ({reason})' if reason else ''}; tried: {tried}"
        )


class UnknownParameter(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown parameter {name!r}; known: {', '.join(PARAMETER_NAMES)}")


def _found_text(step: ChainStep) -> str:
    return f"found {step.value!r}" if step.found else "not set"


_MISSING = object()


def get_path(document: Any, path: str) -> Any:
    """The value at a dotted key path, or `_MISSING`. Symbols contain '-' only, never '.'."""
    node = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def has_path(document: Any, path: str) -> bool:
    return get_path(document, path) is not _MISSING


def value_at(document: Any, path: str) -> Any:
    """The value at `path`; KeyError when absent (tests use it to check reported sources)."""
    value = get_path(document, path)
    if value is _MISSING:
        raise KeyError(path)
    return value


def _cast(chain: Chain, value: Any) -> Any:
    if chain.kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def resolve_in(document: dict[str, Any], name: str, symbol: str, regime: str | None) -> Resolution:
    """Walk the chain of `name` for a config symbol (XRP-USDT) and regime. Raises
    UnknownParameter or ParameterUnavailable; never returns a value the document does not hold."""
    chain = CHAINS.get(name)
    if chain is None:
        raise UnknownParameter(name)
    if chain.per_regime and regime not in REGIMES:
        raise ParameterUnavailable(name, symbol, regime, (), f"needs a regime, one of {', '.join(REGIMES)}")
    steps: list[ChainStep] = []
    for template in chain.paths:
        path = template.format(symbol=symbol, regime=regime)
        value = get_path(document, path)
        if value is not _MISSING:
            steps.append(ChainStep(path, True, value))
            return Resolution(name, _cast(chain, value), path, tuple(steps))
        steps.append(ChainStep(path, False))
        if chain.follows_inherit:
            found = _follow_inherit(document, name, symbol, regime, steps)
            if found is not None:
                return found
    raise ParameterUnavailable(name, symbol, regime, tuple(steps))


def _follow_inherit(
    document: dict[str, Any], name: str, symbol: str, regime: str | None, steps: list[ChainStep]
) -> Resolution | None:
    """Follow explicit `inherit:` links from the regime section; a cycle or a dangling link ends
    the walk without a value (the validator reports both)."""
    seen = {regime}
    current = regime
    while True:
        link = f"symbol_profiles.{symbol}.{current}.inherit"
        target = get_path(document, link)
        if target is _MISSING:
            return None
        steps.append(ChainStep(link, True, target))
        if not isinstance(target, str) or target in seen or target not in REGIMES:
            return None
        seen.add(target)
        path = f"symbol_profiles.{symbol}.{target}.{name}"
        value = get_path(document, path)
        if value is not _MISSING:
            steps.append(ChainStep(path, True, value))
            return Resolution(
                name, _cast(CHAINS[name], value), path, tuple(steps), note=f"inherited by {regime}"
            )
        steps.append(ChainStep(path, False))
        current = target
