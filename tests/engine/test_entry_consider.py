"""EntryLifecycle.consider's order of work (screen the ticker's prices, the gates, then the Quote and
the decision): the same entries as deciding every fresh ticker first and asking the gates after."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from okxscalp.config.schema import Purpose, RegimeSettings
from okxscalp.engine.entries import EntryLifecycle
from okxscalp.engine.positions import PositionBook
from okxscalp.engine.signals import SignalRules, detector_for, evaluate_signal
from okxscalp.market.registry import DataRegistry, StaleData
from okxscalp.okx.models import Candle, Ticker
from okxscalp.sim.instruments import SHIPPED
from okxscalp.sim.price_process import PriceProcess

pytestmark = pytest.mark.timeout(60)

INST = "BTC-USDT-SWAP"


@pytest.mark.parametrize("kind", ["ranging", "trending", "choppy"])
def test_consider_enters_on_the_signals_the_reference_order_would(kind: str) -> None:
    rules = SignalRules(band_edge_fraction=0.4, pullback_atr=1.5)
    det = detector_for(INST, RegimeSettings(adx_period=7, atr_period=7, bollinger_period=10, atr_percent_choppy=0.2),
                       rules)
    rng = random.Random(11)
    pp = PriceProcess(random.Random(5), SHIPPED[INST].start_px, SHIPPED[INST].vol_per_min, 1.0)
    now = [1000.0]
    registry = DataRegistry(inst_ids=[INST], clock=lambda: now[0])
    gates = {"open": True}
    gate_calls = []

    def entries_open(inst_id: str) -> bool:
        gate_calls.append(inst_id)
        return gates["open"]

    parts = SimpleNamespace(
        supervisor=SimpleNamespace(halted_for_all=False, entries_open=entries_open),
        clock=SimpleNamespace(mono_s=lambda: now[0]), detectors={INST: det}, manager=SimpleNamespace(book=PositionBook()),
        registry=registry, config=SimpleNamespace(scalping=SimpleNamespace(signals=rules, max_positions=3)),
    )
    flow = EntryLifecycle.__new__(EntryLifecycle)
    flow.parts, flow.auto_entries, flow.entries, flow.cooldown_until, flow._signal_rules = parts, True, {}, {}, rules
    entered: list[tuple[object, ...]] = []
    flow._enter = lambda signal, mono: entered.append((signal.side, signal.reason, signal.inputs, mono))  # type: ignore[method-assign]
    expected: list[tuple[object, ...]] = []
    checked = 0
    for minute in range(70):
        if minute % 10 == 0:
            pp.force(kind, 600)
        o = h = lo = c = pp.price
        for s in range(60):
            c = pp.step()
            h, lo = max(h, c), min(lo, c)
            for px in (c, c * (1 + rng.uniform(-0.003, 0.003))):
                now[0] += 0.5 if rng.random() < 0.9 else 4.0  # now and then a ticker that is stale by its read
                gates["open"] = rng.random() < 0.5
                flow.cooldown_until.clear()
                ticker = Ticker(INST, px, px * (1 - 1e-5), px * (1 + 1e-5), 1.0, 1.0, minute * 60_000 + s * 1000,
                                now[0] - (3.5 if rng.random() < 0.1 else 0.0))
                registry.on_ticker(ticker)
                # the reference: read, decide, then the gate
                try:
                    quote = registry.read(INST, Purpose.SIGNAL, report=False)
                except StaleData:
                    quote = None
                if quote is not None and det.regime is not None:
                    signal = evaluate_signal(det.decision, det.indicators, quote, rules)
                    if signal is not None and gates["open"]:
                        expected.append((signal.side, signal.reason, signal.inputs, quote.recv_mono))
                flow.consider(INST)
                checked += 1
        det.on_candle(Candle(INST, "1m", minute * 60_000, o, h, lo, c, 1.0, True))
    assert entered == expected
    assert checked > 0 and entered and len(gate_calls) < checked / 2  # the gates only for prices that may signal
