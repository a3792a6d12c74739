"""The config schema, declared in one place: every section, key, type and range.

Why hand-written and not pydantic: we need every problem at once with its exact key path and the
YAML line, unknown-key suggestions, and cross-field rules that go through the same resolver as the
engine (okxscalp.config.rules). pydantic would give types and ranges, but its error locations and
model-per-dynamic-key (symbols, regimes) would need the same glue again, plus a dependency.

`check(spec, data, path, report)` walks a document and reports type/range/unknown-key problems;
cross-field rules live in `rules.py`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from okxscalp.config.yaml_lines import join_path
from okxscalp.okx.models import Regime

Report = Callable[[str, str], None]  # (key path, message)

REGIMES: tuple[str, ...] = tuple(r.value for r in Regime)
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+$")


def is_number(value: Any) -> bool:
    """YAML ints and floats are numbers; booleans (an int subclass) and strings are not."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class Num:
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # True: value must be > lo
    hi_open: bool = False
    integer: bool = False
    required: bool = True
    why: str = ""  # appended to an out-of-range message: the reason for the range

    def describe(self) -> str:
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        return f"{'an integer' if self.integer else 'a number'} in {left}{lo}, {hi}{right}"

    def check(self, value: Any, path: str, report: Report) -> None:
        if not is_number(value) or (self.integer and not isinstance(value, int)):
            report(path, f"expected {self.describe()}, got {_shown(value)}")
            return
        too_low = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        too_high = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if too_low or too_high:
            why = f" ({self.why})" if self.why else ""
            report(path, f"{value!r} is out of range: expected {self.describe()}{why}")


@dataclass(frozen=True, slots=True)
class Bool:
    required: bool = True

    def check(self, value: Any, path: str, report: Report) -> None:
        if not isinstance(value, bool):
            report(path, f"expected true or false, got {_shown(value)}")


@dataclass(frozen=True, slots=True)
class Str:
    choices: tuple[str, ...] | None = None
    pattern: str | None = None  # regular expression the whole string must match
    hint: str = ""  # what the pattern means, for the message
    nullable: bool = False
    required: bool = True

    def check(self, value: Any, path: str, report: Report) -> None:
        if value is None and self.nullable:
            return
        if not isinstance(value, str):
            report(path, f"expected a string{' or null' if self.nullable else ''}, got {_shown(value)}")
        elif self.choices is not None and value not in self.choices:
            report(path, f"{value!r} is not one of {', '.join(self.choices)}{_suggest(value, self.choices)}")
        elif self.pattern is not None and not re.fullmatch(self.pattern, value):
            report(path, f"{value!r} is not {self.hint or 'valid'}")
        elif not value:
            report(path, "must not be empty")


@dataclass(frozen=True, slots=True)
class StrList:
    item: Str
    min_items: int = 1
    unique: bool = True
    required: bool = True

    def check(self, value: Any, path: str, report: Report) -> None:
        if not isinstance(value, list):
            report(path, f"expected a list, got {_shown(value)}")
            return
        if len(value) < self.min_items:
            report(path, f"needs at least {self.min_items} item(s)")
        seen: set[Any] = set()
        for index, item in enumerate(value):
            self.item.check(item, join_path(path, index), report)
            if self.unique and isinstance(item, str):
                if item in seen:
                    report(join_path(path, index), f"{item!r} is listed twice")
                seen.add(item)


@dataclass(frozen=True, slots=True)
class Section:
    fields: Mapping[str, Spec]
    required: bool = True
    # Keys that no longer exist → what to write instead (a clearer message than "unknown key").
    removed: Mapping[str, str] = field(default_factory=dict)

    def check(self, value: Any, path: str, report: Report) -> None:
        if not isinstance(value, dict):
            report(path, f"expected a mapping (section), got {_shown(value)}")
            return
        for key, item in value.items():
            spec = self.fields.get(key)
            if key in self.removed:
                report(join_path(path, key), f"no longer a setting: {self.removed[key]}")
            elif spec is None:
                report(join_path(path, key), f"unknown key{_suggest(key, tuple(self.fields))}")
            else:
                spec.check(item, join_path(path, key), report)
        for key, spec in self.fields.items():
            if spec.required and key not in value:
                report(join_path(path, key), "required key is missing")


@dataclass(frozen=True, slots=True)
class MapOf:
    """A mapping whose keys are data (symbols, regimes), all values of one spec."""

    value: Spec
    key: Str
    required: bool = False

    def check(self, value: Any, path: str, report: Report) -> None:
        if not isinstance(value, dict):
            report(path, f"expected a mapping, got {_shown(value)}")
            return
        for key, item in value.items():
            child = join_path(path, key)
            before = _Counter(report)
            self.key.check(key, child, before)
            if before.count == 0:
                self.value.check(item, child, report)


Spec = Num | Bool | Str | StrList | Section | MapOf


class _Counter:
    def __init__(self, report: Report) -> None:
        self.report = report
        self.count = 0

    def __call__(self, path: str, message: str) -> None:
        self.count += 1
        self.report(path, f"key {message}")


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null (nothing)"
    return f"{type(value).__name__} {value!r}"


def _suggest(word: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _opt(spec: Any) -> Any:
    """The same spec, not required."""
    return type(spec)(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "required": False})


# ---------------------------------------------------------------------------------------------
# The document. Keys marked required are the end of a resolution chain (so every resolved value
# comes from the file) or settings with no safe default.

POSITIVE = Num(0, None, lo_open=True)
PERCENT = Num(0, 100, lo_open=True)
SECONDS = Num(0, 3600, lo_open=True)
SYMBOL = Str(pattern=SYMBOL_PATTERN.pattern, hint="a symbol like XRP-USDT (not the instId XRP-USDT-SWAP)")
REGIME_KEY = Str(choices=REGIMES)
MARGIN_MODES: tuple[str, ...] = ("cross", "isolated")  # tdMode of every order, mgnMode of leverage/closes
ORPHAN_POLICIES: tuple[str, ...] = ("protect", "flatten")
ORDER_TRANSPORTS: tuple[str, ...] = ("ws", "rest")  # engine/order_route.py
LEVERAGE = Num(1, 125, required=False)  # OKX swaps: 0.01..125; below 1 is never what a scalper means
POSITION_MULTIPLIER = Num(0, 10, lo_open=True)
TP_SL_MODE = Str(choices=("percent", "atr"))
# Offsets: zero or negative passes the schema only so that rules.py can say *why* it is refused
# unless `use_market_order: true` is written in the same section (where the offset is not used).
OFFSET = Num(-5, 5, required=False)

EXIT_PARAMETERS: tuple[str, ...] = ("tp_percent", "sl_percent", "tp_atr_multiplier", "sl_atr_multiplier")
CLAMP_PARAMETERS: tuple[str, ...] = ("tp_min_percent", "tp_max_percent", "sl_min_percent", "sl_max_percent")

REGIME_SECTION = Section(
    {
        "inherit": Str(choices=REGIMES, required=False),
        "tp_percent": _opt(PERCENT),
        "sl_percent": _opt(PERCENT),
        "tp_atr_multiplier": Num(0, 100, lo_open=True, required=False),
        "sl_atr_multiplier": Num(0, 100, lo_open=True, required=False),
    },
    required=False,
)

SYMBOL_PROFILE = Section(
    {
        "position_multiplier": _opt(POSITION_MULTIPLIER),
        "leverage": LEVERAGE,
        "tp_sl_mode": _opt(TP_SL_MODE),
        "exit_limits": Section({name: _opt(PERCENT) for name in CLAMP_PARAMETERS}, required=False),
        **{regime: REGIME_SECTION for regime in REGIMES},
    }
)

OFFSET_SCOPE = Section({"limit_offset_percent": OFFSET, "use_market_order": Bool(required=False)})

DOCUMENT = Section(
    {
        "exchange": Section(
            {
                "profile": Str(choices=("sim", "okx-demo", "okx-live")),
                "rest_url": Str(pattern=r"https?://\S+", hint="an http(s):// URL", required=False),
                "ws_url": Str(pattern=r"wss?://\S+", hint="a ws(s):// URL", required=False),
                "credentials_file": Str(nullable=True, required=False),
                "sim": Section(
                    {
                        "host": Str(required=False),
                        "port": Num(0, 65535, integer=True, required=False),
                        "seed": Num(integer=True, required=False),
                        "speed": Num(0, 1000, lo_open=True, required=False),
                        "initial_equity_usdt": Num(0, 1e12, lo_open=True, required=False),
                        "volatility": Num(
                            0, 20, lo_open=True, required=False,
                            why="a factor on each instrument's typical 1-minute volatility",
                        ),
                        "swing_size": Num(0, 10, required=False, why="in units of the 1-minute volatility"),
                        "swing_half_life_s": Num(
                            0, 3600, lo_open=True, required=False, why="seconds for a swing to halve",
                        ),
                        "api_key": Str(required=False),
                        "api_secret": Str(required=False),
                        "passphrase": Str(required=False),
                    },
                    required=False,
                ),
            },
            removed={
                "td_mode": "the margin mode is written once, as scalping.margin_mode (cross | isolated); "
                "delete exchange.td_mode",
            },
        ),
        "symbols": StrList(SYMBOL),
        "freshness": Section(
            {
                "order_s": Num(0, 5, lo_open=True, why="orders are priced from data at most this old"),
                "exit_s": Num(0, 10, lo_open=True),
                "signal_s": Num(0, 30, lo_open=True),
                "general_s": Num(0, 60, lo_open=True),
                "clock_sync_interval_s": Num(
                    0.5, 60, required=False, why="/public/time allows 10 requests per 2 s; ages need a fresh clock"
                ),
                "clock_tolerance_s": Num(
                    0, 5, lo_open=True, required=False, why="a clock off by more cannot bound a 1 s ORDER budget"
                ),
            }
        ),
        "websocket": Section(
            {
                "ping_after_s": Num(
                    0, 30, lo_open=True, hi_open=True, required=False
                ),  # OKX idles out at 30 s
                "pong_timeout_s": Num(0, 30, lo_open=True, required=False),
                "symbol_silence_s": Num(0, 60, lo_open=True, required=False),
                "forced_reconnect_after_fallbacks": Num(1, 10_000, integer=True, required=False),
                "forced_reconnect_after_s": Num(0, 600, lo_open=True, required=False),
                "connect_timeout_s": Num(0, 120, lo_open=True, required=False),
                "backoff": Section(
                    {
                        "base_s": Num(0, 60, lo_open=True, required=False),
                        "max_s": Num(0, 600, lo_open=True, required=False),
                        "jitter": Num(0, 1, required=False),
                    },
                    required=False,
                ),
                "storm": Section(
                    {
                        "max_reconnects": Num(1, 10_000, integer=True, required=False),
                        "window_s": _opt(SECONDS),
                        "stable_after_s": _opt(SECONDS),
                    },
                    required=False,
                ),
            },
            required=False,
        ),
        "rest": Section(
            {
                "limit_margin": Num(0, 1, lo_open=True, required=False),
                "timeout_s": Num(0, 120, lo_open=True, required=False),
                "max_retries": Num(0, 10, integer=True, required=False),
                "retry_base_s": Num(0, 60, lo_open=True, required=False),
                "retry_max_s": Num(0, 600, lo_open=True, required=False),
                "ticker_cache_ttl_s": Num(0, 5, lo_open=True, required=False),
                "instruments_cache_ttl_s": Num(0, 86_400, lo_open=True, required=False),
            },
            required=False,
        ),
        "order_entry": Section(
            {
                # docs: WebSocket trade (op order / cancel-order / amend-order on /ws/v5/private)
                "transport": Str(choices=ORDER_TRANSPORTS, required=False),
                "rest_fallback": Bool(required=False),
            },
            required=False,
        ),
        "scalping": Section(
            {
                "leverage": LEVERAGE,
                "position_multiplier": POSITION_MULTIPLIER,
                "risk_per_trade_percent": Num(0, 10, lo_open=True),
                "max_positions": Num(1, 100, integer=True),
                "daily_loss_limit_percent": Num(0, 50, lo_open=True),
                # No safe default for any of these: each is written in the file.
                "margin_mode": Str(choices=MARGIN_MODES),
                "orphan_policy": Str(choices=ORPHAN_POLICIES),
                "orphan_sl_percent": Num(0, 50, lo_open=True),
                "tp_sl_mode": TP_SL_MODE,
                "exit_limits": Section(
                    {
                        **{name: PERCENT for name in CLAMP_PARAMETERS},
                        "tp_sl_ratio_min": Num(0, 100, lo_open=True),
                        "tp_sl_ratio_max": Num(0, 100, lo_open=True),
                        "atr_ratio_min": Num(0, 100, lo_open=True),
                        "atr_ratio_max": Num(0, 100, lo_open=True),
                    }
                ),
                "regime": Section(
                    {
                        "bar": Str(choices=("1m", "3m", "5m", "15m", "30m", "1H"), required=False),
                        "adx_period": Num(2, 1000, integer=True, required=False),
                        "atr_period": Num(2, 1000, integer=True, required=False),
                        "bollinger_period": Num(2, 1000, integer=True, required=False),
                        "bollinger_k": Num(0, 10, lo_open=True, required=False),
                        "adx_trending": Num(0, 100, lo_open=True, required=False),
                        "atr_percent_choppy": _opt(PERCENT),
                        "trend_min_band_atr_ratio": Num(0, 100, required=False),
                        "min_dwell_bars": Num(1, 1000, integer=True, required=False),
                    },
                    required=False,
                ),
                "signals": Section(
                    {
                        "ema_fast_period": Num(1, 1000, integer=True, required=False),
                        "ema_slow_period": Num(1, 1000, integer=True, required=False),
                        "rsi_period": Num(2, 1000, integer=True, required=False),
                        "pullback_atr": Num(0, 100, lo_open=True, required=False),
                        "trend_rsi_min": Num(0, 100, required=False),
                        "trend_rsi_max": Num(0, 100, required=False),
                        "reversion_rsi_low": Num(0, 100, required=False),
                        "reversion_rsi_high": Num(0, 100, required=False),
                        "band_edge_fraction": Num(0, 0.5, required=False),
                    },
                    required=False,
                ),
            }
        ),
        "symbol_profiles": MapOf(SYMBOL_PROFILE, key=SYMBOL, required=True),
        "order_executor": Section(
            {
                "limit_order": Section(
                    {
                        "default_offset_percent": Num(
                            0,
                            5,
                            lo_open=True,
                            why="the last step of the offset chain must be a real offset: a 0.0 default "
                            "turned every entry into a market order (audit failure 4)",
                        ),
                        "use_market_order": Bool(),
                        "timeout_s": Num(0, 600, lo_open=True),
                        "by_regime": MapOf(OFFSET_SCOPE, key=REGIME_KEY),
                        "by_symbol": MapOf(
                            Section(
                                {
                                    "limit_offset_percent": OFFSET,
                                    "use_market_order": Bool(required=False),
                                    "timeout_s": Num(0, 600, lo_open=True, required=False),
                                    "by_regime": MapOf(OFFSET_SCOPE, key=REGIME_KEY),
                                }
                            ),
                            key=SYMBOL,
                        ),
                    }
                )
            }
        ),
        "journal": Section({"path": Str()}),
    }
)


@dataclass
class Collector:
    """Collects (path, message) reports."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, path: str, message: str) -> None:
        self.items.append((path, message))


def check_document(data: Any) -> list[tuple[str, str]]:
    collect = Collector()
    DOCUMENT.check(data, "", collect)
    return collect.items
