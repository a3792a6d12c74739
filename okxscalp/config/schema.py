"""Typed settings sections. The loader (`okxscalp.config.loader`) builds these from validated
YAML; components receive the section they need, never the raw YAML.

Trading parameters that vary by symbol and regime (TP/SL, offsets, leverage, multipliers) are not
read from here directly: they go through `ParameterProvider.resolve`, which reports the key path
each value came from. The raw validated document is kept on `AppConfig.document` for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Purpose(str, Enum):
    """What a price is read for; each purpose has its own freshness budget."""

    ORDER = "order"
    EXIT = "exit"
    SIGNAL = "signal"
    GENERAL = "general"


class ExchangeProfile(str, Enum):
    SIM = "sim"
    OKX_DEMO = "okx-demo"
    OKX_LIVE = "okx-live"


@dataclass(frozen=True, slots=True)
class SimSettings:
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 7
    speed: float = 1.0
    api_key: str = "okxscalp-sim-key"
    api_secret: str = "okxscalp-sim-secret"
    passphrase: str = "okxscalp-sim-pass"
    initial_equity_usdt: float = 10_000.0
    # How lively the simulated market is (okxscalp.sim.market.MarketDynamics). The defaults are the
    # instrument table's own market; config/default.yaml asks for a busy session.
    volatility: float = 1.0  # x each instrument's typical 1-minute volatility, every regime
    swing_size: float = 0.0  # short-lived overshoot-and-return moves, in that volatility (0 = none)
    swing_half_life_s: float = 20.0  # how fast a swing fades


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    profile: ExchangeProfile = ExchangeProfile.SIM
    # For okx-demo / okx-live; the simulator's URLs are known only once it listens.
    rest_url: str = "https://www.okx.com"
    ws_url: str = "wss://wspap.okx.com:8443"  # + /ws/v5/public|private|business
    credentials_file: str | None = None  # else OKX_API_KEY / OKX_API_SECRET / OKX_API_PASSPHRASE
    sim: SimSettings = field(default_factory=SimSettings)


@dataclass(frozen=True, slots=True)
class FreshnessSettings:
    """Budgets in seconds per purpose (SPEC 3.3)."""

    order_s: float = 1.0
    exit_s: float = 2.0
    signal_s: float = 3.0
    general_s: float = 5.0
    # The exchange clock ages are measured against (market/exchange_clock.py): /public/time is
    # sampled this often (local seconds), and its offset may move by at most this much (exchange
    # seconds) before entries halt; no usable sample for 3 intervals also halts them.
    clock_sync_interval_s: float = 1.0
    clock_tolerance_s: float = 0.25

    def budget(self, purpose: Purpose) -> float:
        return {
            Purpose.ORDER: self.order_s,
            Purpose.EXIT: self.exit_s,
            Purpose.SIGNAL: self.signal_s,
            Purpose.GENERAL: self.general_s,
        }[purpose]


@dataclass(frozen=True, slots=True)
class BackoffSettings:
    base_s: float = 0.25  # the first retry is immediate; then base * 2^n
    max_s: float = 5.0
    jitter: float = 0.2  # +- fraction


@dataclass(frozen=True, slots=True)
class StormSettings:
    """Reconnect storm circuit breaker."""

    max_reconnects: int = 5  # more than this many in the window trips it
    window_s: float = 60.0
    stable_after_s: float = 30.0  # connection up this long resets it


@dataclass(frozen=True, slots=True)
class WebSocketSettings:
    ping_after_s: float = 25.0  # send text ping after this much silence
    pong_timeout_s: float = 5.0
    symbol_silence_s: float = 2.0  # connection up, a subscribed symbol silent longer -> lagging
    forced_reconnect_after_fallbacks: int = 10  # more than this many consecutive fallbacks ...
    forced_reconnect_after_s: float = 5.0  # ... or lagging this long -> forced reconnect
    connect_timeout_s: float = 5.0
    backoff: BackoffSettings = field(default_factory=BackoffSettings)
    storm: StormSettings = field(default_factory=StormSettings)


@dataclass(frozen=True, slots=True)
class RestSettings:
    limit_margin: float = 0.8  # fraction of each documented budget the client allows itself
    timeout_s: float = 5.0
    max_retries: int = 4
    retry_base_s: float = 0.2
    retry_max_s: float = 3.0
    ticker_cache_ttl_s: float = 1.0
    instruments_cache_ttl_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class OrderEntrySettings:
    """How orders go out (engine/order_route.py). `ws`: the private WebSocket's trade channel (OKX v5
    "WebSocket trade": op order / cancel-order / amend-order), REST while it is down, each REST use
    an event; `rest`: REST only. `rest_fallback: false` halts entries while the channel is down
    (cancels and closes still go out over REST, with an event)."""

    transport: str = "ws"  # ws | rest
    rest_fallback: bool = True


@dataclass(frozen=True, slots=True)
class RegimeSettings:
    """Regime detector thresholds (SPEC 3.5)."""

    bar: str = "1m"
    adx_period: int = 14
    atr_period: int = 14
    bollinger_period: int = 20
    bollinger_k: float = 2.0
    adx_trending: float = 25.0  # ADX above -> trending
    atr_percent_choppy: float = 0.15  # ATR % of price above (and not trending) -> choppy
    min_dwell_bars: int = 3  # hysteresis: a new regime must hold this many bars
    # Trending needs ADX >= adx_trending AND a Bollinger width of at least this many ATRs (both in %
    # of price): ADX alone runs high in choppy stretches.
    trend_min_band_atr_ratio: float = 4.0


@dataclass(frozen=True, slots=True)
class SignalSettings:
    """Signal thresholds (YAML `scalping.signals`); same names as `okxscalp.engine.signals.SignalRules`.
    Defaults measured on the simulator's price process by the engine."""

    ema_fast_period: int = 5
    ema_slow_period: int = 13
    rsi_period: int = 14
    pullback_atr: float = 1.0  # trend pullback: price within this many ATRs of the fast EMA
    trend_rsi_min: float = 40.0  # long band; short is mirrored (100 - x)
    trend_rsi_max: float = 80.0
    reversion_rsi_low: float = 35.0
    reversion_rsi_high: float = 65.0
    band_edge_fraction: float = (
        0.1  # mean reversion fires within this fraction of the band width from an edge
    )


@dataclass(frozen=True, slots=True)
class ScalpingSettings:
    # scalping.margin_mode, orphan_policy and orphan_sl_percent are required keys with no field
    # here: they are read only through ParameterProvider.margin_mode() / orphan_policy() /
    # orphan_sl_percent() (or account_settings()), which also give their key paths.
    risk_per_trade_percent: float = 0.5
    max_positions: int = 3
    daily_loss_limit_percent: float = 3.0
    tp_sl_mode: str = "percent"  # percent | atr
    regime: RegimeSettings = field(default_factory=RegimeSettings)
    signals: SignalSettings = field(default_factory=SignalSettings)


@dataclass(frozen=True, slots=True)
class AppConfig:
    source_file: str
    exchange: ExchangeSettings
    symbols: tuple[str, ...]  # config-style symbols: XRP-USDT
    freshness: FreshnessSettings
    websocket: WebSocketSettings
    rest: RestSettings
    scalping: ScalpingSettings
    journal_path: str
    order_entry: OrderEntrySettings = field(default_factory=OrderEntrySettings)
    # The whole validated document, for ParameterProvider (it reports key paths into it).
    document: dict[str, Any] = field(repr=False, default_factory=dict)
