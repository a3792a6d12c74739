"""ParameterProvider: the only way a component reads a trading parameter.

`resolve(name, symbol, regime)` walks the chain declared for `name` in `chains.CHAINS` and
returns the value, the key path that holds it and every step tried. Account-wide settings have
their own accessors (`margin_mode()`, `orphan_policy()`, `orphan_sl_percent()`).

Leverage (`resolve_leverage`): config → the lever of the open exchange position → a hard failure
naming every source. A lever taken from the exchange is an *adoption*: its Resolution says so
(`from_exchange`, source EXCHANGE_LEVER_SOURCE) and `leverage_adoption()` gives the event text.
Every leverage, from the file or the exchange, must lie in [1, the instrument's maximum].

The loaded config is immutable (AppConfig is frozen, its document is treated read-only), so
resolutions are cached by (name, symbol, regime).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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
from okxscalp.okx.models import Instrument, Regime, inst_id_of, leverage_range_problem, symbol_of

# What the exchange may report as an open position's lever: one value, or one per open position.
ExchangeLevers = float | str | Sequence[float | str | None] | None


class LeverageUnavailable(RuntimeError):
    """No usable leverage: nothing in the chain, or the value found is refused (`problem`).
    The message lists each source, its value, and what to check."""

    def __init__(
        self, symbol: str, chain: tuple[ChainStep, ...], config_file: str, problem: str = ""
    ) -> None:
        self.symbol = symbol
        self.chain = chain
        self.config_file = config_file
        self.problem = problem
        inst_id = inst_id_of(symbol)
        lines = [f"leverage unavailable for {symbol} ({inst_id}); sources consulted, in order:"]
        for number, step in enumerate(chain, start=1):
            if step.path.startswith("exchange:"):
                label = EXCHANGE_SOURCE_LABELS.get(step.path, step.path)
                lines.append(f"  {number}. {label} for {inst_id}: {_exchange_text(step)}")
            else:
                shown = repr(step.value) if step.found else "not set"
                lines.append(f"  {number}. {step.path} in {config_file}: {shown}")
        if problem:
            lines.append(f"refused: {problem}")
        lines += [
            "check:",
            f"  - set scalping.leverage (all symbols) or symbol_profiles.{symbol}.leverage in {config_file}, "
            f"within 1 and {inst_id}'s maximum leverage (GET /api/v5/public/instruments lever);",
            f"  - without one, only the lever of an open {inst_id} position is adopted "
            "(GET /api/v5/account/positions); the account's leverage setting is not;",
            "  - a leverage is never assumed: no entry is made for this symbol until one source gives it.",
        ]
        super().__init__("\n".join(lines))


def _exchange_text(step: ChainStep) -> str:
    if step.found:
        return f"lever={step.value!r}"
    if step.value is None or step.value == ():
        return "nothing reported (no open position)"
    return f"lever={step.value!r} (not a positive number)"


def _regime_text(regime: Regime | str | None) -> str | None:
    if regime is None:
        return None
    return regime.value if isinstance(regime, Regime) else str(regime)


def _lever_number(value: float | str | None) -> float | None:
    """An exchange lever as a number when usable: OKX sends "" when it has none."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _as_levers(levers: ExchangeLevers) -> tuple[float | str | None, ...]:
    if levers is None:
        return ()
    if isinstance(levers, str | int | float):
        return (levers,)
    return tuple(levers)


def leverage_adoption(resolution: Resolution, inst_id: str) -> str | None:
    """The event text when `resolution` was adopted from the exchange, None when it came from the
    config. The engine emits it once per adoption (console, journal) beside `explain`."""
    if not resolution.from_exchange:
        return None
    tried = ", ".join(
        step.path for step in resolution.chain if not step.found and not step.path.startswith("exchange:")
    )
    return (
        f"{inst_id}: leverage {resolution.value:g} adopted from the open position's lever "
        f"({resolution.source_path}, GET /api/v5/account/positions): the config sets none "
        f"({tried or 'no leverage key'} not set)"
    )


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """The account-wide settings as plain values for their readers (reconciliation, orders,
    closes), resolved once by the provider; `resolutions` says where each came from."""

    margin_mode: str  # cross | isolated
    orphan_policy: str  # protect | flatten
    orphan_sl_percent: float
    resolutions: tuple[Resolution, ...]


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
        symbol_key = "" if chain is not None and chain.account_wide else symbol_of(symbol)
        return self._resolve_cached(name, symbol_key, regime_key)

    def _resolve_uncached(self, name: str, symbol: str, regime: str | None) -> Resolution:
        return resolve_in(self._document, name, symbol, regime)

    # --- account-wide settings: one required key each ---------------------------------------

    def margin_mode(self) -> Resolution:
        """scalping.margin_mode: cross | isolated (tdMode of orders, mgnMode of leverage/closes)."""
        return self._resolve_cached("margin_mode", "", None)

    def orphan_policy(self) -> Resolution:
        """scalping.orphan_policy: protect | flatten."""
        return self._resolve_cached("orphan_policy", "", None)

    def orphan_sl_percent(self) -> Resolution:
        """scalping.orphan_sl_percent: the orphan stop's distance, % of its avgPx."""
        return self._resolve_cached("orphan_sl_percent", "", None)

    def account_settings(self) -> AccountSettings:
        """All three at once (each a required key: ParameterUnavailable only for a config that
        was never validated)."""
        mode, policy, stop = self.margin_mode(), self.orphan_policy(), self.orphan_sl_percent()
        return AccountSettings(str(mode.value), str(policy.value), float(stop.value), (mode, policy, stop))

    # --- leverage ---------------------------------------------------------------------------

    def resolve_leverage(
        self,
        symbol: str,
        position_levers: ExchangeLevers = None,
        *,
        instrument: Instrument | None = None,
        exchange_source: str = EXCHANGE_LEVER_SOURCE,
    ) -> Resolution:
        """symbol_profiles.SYM.leverage → scalping.leverage → the lever of the open exchange
        position(s) of this instrument (`position_levers`: one value or one per open position,
        all equal) → LeverageUnavailable.

        `instrument` gives the range [1, its max_leverage] every value must lie in; a config value
        outside it is refused (never replaced by the exchange's), and an exchange lever is adopted
        only when the range is known. `exchange_source` must be EXCHANGE_LEVER_SOURCE: anything
        else (the account's leverage-info setting) is refused as a source."""
        config_symbol = symbol_of(symbol)
        file = self.config.source_file
        try:
            configured = self._resolve_cached("leverage", config_symbol, None)
        except ParameterUnavailable as exc:
            config_steps = exc.chain
        else:
            problem = _range_problem(configured.value, instrument)
            if problem is not None:
                raise LeverageUnavailable(
                    config_symbol, configured.chain, file, f"{configured.source_path}: {problem}"
                )
            return configured
        levers = _as_levers(position_levers)
        shown: float | str | tuple[float | str | None, ...] | None = (
            None if not levers else levers[0] if len(levers) == 1 else levers
        )
        if exchange_source != EXCHANGE_LEVER_SOURCE:
            refused = ChainStep(exchange_source, False, shown)
            raise LeverageUnavailable(
                config_symbol,
                (*config_steps, refused),
                file,
                "the account's leverage setting is not a leverage source; only an open position's lever is adopted",
            )
        numbers = [_lever_number(value) for value in levers]
        if not levers or any(number is None for number in numbers):
            raise LeverageUnavailable(
                config_symbol, (*config_steps, ChainStep(exchange_source, False, shown)), file
            )
        distinct = sorted({number for number in numbers if number is not None})
        if len(distinct) != 1:
            step = ChainStep(exchange_source, False, shown)
            raise LeverageUnavailable(
                config_symbol,
                (*config_steps, step),
                file,
                f"the open positions report different levers {', '.join(f'{n:g}' for n in distinct)}",
            )
        lever = distinct[0]
        step = ChainStep(exchange_source, True, lever)
        chain = (*config_steps, step)
        if instrument is None:
            raise LeverageUnavailable(
                config_symbol,
                chain,
                file,
                "an exchange lever is adopted only within the instrument's range, and no instrument was given",
            )
        problem = leverage_range_problem(lever, instrument)
        if problem is not None:
            raise LeverageUnavailable(config_symbol, chain, file, f"exchange position lever: {problem}")
        label = EXCHANGE_SOURCE_LABELS.get(exchange_source, exchange_source)
        return Resolution(
            "leverage",
            lever,
            exchange_source,
            chain,
            note=f"adopted: {label}, {inst_id_of(config_symbol)}; the config sets none",
        )

    def explain(
        self,
        symbol: str,
        regime: Regime | str | None,
        exchange_lever: ExchangeLevers = None,
        *,
        instrument: Instrument | None = None,
        leverage: Resolution | None = None,
    ) -> list[Resolution]:
        """Every parameter for one symbol and regime, in table order. A parameter that cannot be
        resolved appears with value None, an empty source and the reason in `note` (explain
        shows problems; it never hides a row). `leverage`: the engine's own resolution (an
        adoption included), shown as is; else it is resolved from the config and
        `exchange_lever` (the open position's lever) against `instrument`."""
        out: list[Resolution] = []
        for name in PARAMETER_NAMES:
            try:
                if name == "leverage":
                    out.append(
                        leverage
                        if leverage is not None
                        else self.resolve_leverage(symbol, exchange_lever, instrument=instrument)
                    )
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


def _range_problem(value: float, instrument: Instrument | None) -> str | None:
    """A configured leverage against the instrument's range (the schema already bounds it to
    [1, 125] when the instrument is not known yet)."""
    if instrument is None:
        return None
    return leverage_range_problem(float(value), instrument)
