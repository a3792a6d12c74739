"""ParameterProvider: the only way a component reads a trading parameter.

`resolve(name, symbol, regime)` walks the chain declared for `name` in `chains.CHAINS` and
returns the value, the key path that holds it and every step tried. Leverage continues past the
config to the exchange position's `lever`, and fails with a diagnostic naming every source.

The loaded config is immutable (AppConfig is frozen, its document is treated read-only), so
resolutions are cached by (name, symbol, regime).
"""

from __future__ import annotations

from functools import lru_cache

from okxscalp.config.chains import (
    CHAINS,
    EXCHANGE_LEVER_SOURCE,
    EXCHANGE_SOURCE_LABELS,
    PARAMETER_NAMES,
    ChainStep,
    ParameterUnavailable,
    Resolution,
    resolve_in,
)
from okxscalp.config.schema import AppConfig
from okxscalp.okx.models import Regime, inst_id_of, symbol_of


class LeverageUnavailable(RuntimeError):
    """No source gives a usable leverage. The message lists each source, its value, and what to check."""

    def __init__(self, symbol: str, chain: tuple[ChainStep, ...], config_file: str) -> None:
        self.symbol = symbol
        self.chain = chain
        self.config_file = config_file
        inst_id = inst_id_of(symbol)
        lines = [f"leverage unavailable for {symbol} ({inst_id}); sources consulted, in order:"]
        for number, step in enumerate(chain, start=1):
            shown = repr(step.value) if step.found else "not set"
            if step.path.startswith("exchange:"):
                shown = (
                    "nothing reported"
                    if step.value is None
                    else f"lever={step.value!r} (not a positive number)"
                )
                label = EXCHANGE_SOURCE_LABELS.get(step.path, step.path)
                lines.append(f"  {number}. {label} for {inst_id}: {shown}")
            else:
                lines.append(f"  {number}. {step.path} in {config_file}: {shown}")
        lines += [
            "check:",
            f"  - set scalping.leverage (all symbols) or symbol_profiles.{symbol}.leverage in {config_file};",
            f"  - or make sure the exchange reports it: an open {inst_id} position carries `lever` "
            f"(GET /api/v5/account/positions), and GET /api/v5/account/leverage-info?instId={inst_id} "
            "shows the account's setting for the margin mode;",
            "  - a leverage is never assumed: no entry is made for this symbol until one source gives it.",
        ]
        super().__init__("\n".join(lines))


def _regime_text(regime: Regime | str | None) -> str | None:
    if regime is None:
        return None
    return regime.value if isinstance(regime, Regime) else str(regime)


def _positive_lever(value: float | str | None) -> float | None:
    """The exchange's lever as a number when usable: OKX sends "" when it has none."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class ParameterProvider:
    """Resolves trading parameters with provenance. Symbols may be config symbols (XRP-USDT) or
    instIds (XRP-USDT-SWAP); regimes a `Regime` or its value."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self._document = config.document
        self._resolve_cached = lru_cache(maxsize=4096)(self._resolve_uncached)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return PARAMETER_NAMES

    def resolve(self, name: str, symbol: str, regime: Regime | str | None = None) -> Resolution:
        """Value, source path and chain of `name`; raises ParameterUnavailable / UnknownParameter,
        and LeverageUnavailable for `leverage` when the config has none (the exchange's lever is
        not known here: use `resolve_leverage`)."""
        if name == "leverage":
            return self.resolve_leverage(symbol, None)
        chain = CHAINS.get(name)
        regime_key = _regime_text(regime) if chain is not None and chain.per_regime else None
        return self._resolve_cached(name, symbol_of(symbol), regime_key)

    def _resolve_uncached(self, name: str, symbol: str, regime: str | None) -> Resolution:
        return resolve_in(self._document, name, symbol, regime)

    def resolve_leverage(
        self,
        symbol: str,
        exchange_lever: float | str | None,
        *,
        exchange_source: str = EXCHANGE_LEVER_SOURCE,
    ) -> Resolution:
        """symbol_profiles.SYM.leverage → scalping.leverage → the lever the exchange reports for
        this instrument (None if nothing; `exchange_source` says where it was read:
        EXCHANGE_LEVER_SOURCE for an open position, EXCHANGE_LEVERAGE_INFO_SOURCE for the account
        setting) → LeverageUnavailable."""
        config_symbol = symbol_of(symbol)
        try:
            return self._resolve_cached("leverage", config_symbol, None)
        except ParameterUnavailable as exc:
            config_steps = exc.chain
        lever = _positive_lever(exchange_lever)
        if lever is not None:
            step = ChainStep(exchange_source, True, lever)
            label = EXCHANGE_SOURCE_LABELS.get(exchange_source, exchange_source)
            return Resolution(
                "leverage",
                lever,
                exchange_source,
                (*config_steps, step),
                note=f"{label}, {inst_id_of(config_symbol)}",
            )
        step = ChainStep(exchange_source, False, exchange_lever)
        raise LeverageUnavailable(config_symbol, (*config_steps, step), self.config.source_file)

    def explain(
        self, symbol: str, regime: Regime | str | None, exchange_lever: float | str | None = None
    ) -> list[Resolution]:
        """Every parameter for one symbol and regime, in table order. A parameter that cannot be
        resolved appears with value None, an empty source and the reason in `note` (explain
        shows problems; it never hides a row)."""
        out: list[Resolution] = []
        for name in PARAMETER_NAMES:
            try:
                if name == "leverage":
                    out.append(self.resolve_leverage(symbol, exchange_lever))
                else:
                    out.append(self.resolve(name, symbol, regime))
            except LeverageUnavailable as exc:
                out.append(Resolution(name, None, "", exc.chain, note=str(exc)))
            except ParameterUnavailable as exc:
                out.append(Resolution(name, None, "", exc.chain, note=str(exc)))
        return out

    def describe(self, name: str) -> str:
        """One line for people: what the parameter is."""
        return CHAINS[name].what
