"""The current market regime of every symbol: warmed up from REST candle history, then fed by
the candle stream. A symbol whose warm-up failed has no regime (shown as unknown) and takes no
entries until its candles arrive; no regime is ever assumed."""

from __future__ import annotations

import logging
from collections.abc import Callable

from okxscalp.config.schema import RegimeSettings, SignalSettings
from okxscalp.engine.regime import RegimeDetector
from okxscalp.engine.signals import detector_for
from okxscalp.logging_setup import kv
from okxscalp.market.registry import DataRegistry
from okxscalp.okx.errors import OkxError
from okxscalp.okx.models import Candle
from okxscalp.okx.rest import RestClient

log = logging.getLogger(__name__)

WARMUP_CANDLES = 100


class RegimeTracker:
    def __init__(self, settings: RegimeSettings, signal_rules: SignalSettings, detectors: dict[str, RegimeDetector]) -> None:
        self.settings = settings
        self.signal_rules = signal_rules
        self.detectors = detectors  # shared with the entry lifecycle (EngineParts.detectors)
        self.registry: DataRegistry | None = None

    async def warm_up(self, rest: RestClient, inst_ids: tuple[str, ...],
                      on_history: Callable[[list[Candle]], None] | None = None) -> None:
        """`on_history`: each instrument's candle reply as received (`--record`: a replay serves it)."""
        for inst_id in inst_ids:
            detector = detector_for(inst_id, self.settings, self.signal_rules)
            self.detectors[inst_id] = detector
            try:
                history = await rest.candles(inst_id, self.settings.bar, WARMUP_CANDLES)
            except OkxError as exc:
                log.warning("warm-up candles failed %s", kv(inst=inst_id, error=exc, regime="unknown until candles arrive"))
                continue
            if on_history is not None:
                on_history(history)
            for candle in sorted(history, key=lambda c: c.ts_ms):
                detector.on_candle(candle)
            log.info("warm-up %s", kv(inst=inst_id, bars=len(history), regime=detector.regime.value if detector.regime else "unknown"))

    def on_candle(self, candle: Candle) -> None:
        detector = self.detectors.get(candle.inst_id)
        if detector is None or candle.bar != self.settings.bar:
            return
        decision = detector.on_candle(candle)
        if decision is not None and self.registry is not None:
            self.registry.set_regime(candle.inst_id, decision.regime, decision.inputs())
        if decision is not None and decision.changed:
            log.info("regime %s", kv(inst=candle.inst_id, regime=decision.regime.value if decision.regime else "?",
                                     adx=decision.adx, atr_pct=decision.atr_pct, bw_pct=decision.band_width_pct))
