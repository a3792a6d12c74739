"""Cost of SimExchange.advance: market steps per second for the 5 shipped instruments.

    python3 bench/sim_core_step.py [--quick]

Four cases: no public listeners (the floor), only `tickers` wanted (sim-server's throughput bench),
every public channel wanted on every instrument (wire dicts built for all), and every channel plus
an account with resting orders and TP/SL algos on every instrument (the per-step checks). One "step" moves all 5 instruments by
`tick_interval_s`; `us_per_symbol_step` is the cost of one instrument's step.
"""

from __future__ import annotations

import argparse
import json
import time

from okxscalp.sim.exchange import DEFAULT_INST_IDS, SimExchange
from okxscalp.sim.market import SIM_BARS

PUBLIC = ("tickers", "books5", "bbo-tbt", "trades", "mark-price", "price-limit")


def build(listen: tuple[str, ...], trading: bool) -> SimExchange:
    ex = SimExchange(seed=7, start_wall_s=0.0, start_sim_ms=1_732_435_200_000, history_minutes=60,
                     initial_equity=10_000_000.0)
    ex.set_channel_interest("tickers", DEFAULT_INST_IDS[0], False)  # filtering on, nothing wanted
    for inst_id in DEFAULT_INST_IDS:
        for channel in listen:
            ex.set_channel_interest(channel, inst_id, True)
    if trading:
        ex.advance_steps(10)
        for inst_id in DEFAULT_INST_IDS:
            bid = float(ex.books_wire(inst_id, 1)["bids"][0][0])
            tick = float(ex.specs[inst_id].tick_sz)
            for i in range(4):  # far from the market: checked every step, never filled
                ex.place_order({"instId": inst_id, "tdMode": "cross", "side": "buy", "posSide": "long",
                                "ordType": "limit", "px": f"{bid * 0.985 - i * tick:.8f}".rstrip("0"),
                                "sz": "1"})
            ex.place_order({"instId": inst_id, "tdMode": "cross", "side": "buy", "posSide": "long",
                            "ordType": "market", "sz": "1",
                            "attachAlgoOrds": [{"slTriggerPx": f"{bid * 0.9:.8f}", "tpTriggerPx": f"{bid * 1.1:.8f}"}]})
    ex.drain_events()
    return ex


def measure(ex: SimExchange, seconds: float) -> tuple[float, float]:
    steps = 0
    events = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        ex.advance_steps(200)
        steps += 200
        events += len(ex.drain_events())
    elapsed = time.perf_counter() - start
    return steps / elapsed, events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s per case instead of 5 s")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else 5.0
    symbols = len(DEFAULT_INST_IDS)
    result: dict[str, float] = {}
    every = PUBLIC + tuple("candle" + b for b in SIM_BARS)
    for name, listen, trading in (("quiet", (), False), ("tickers_only", ("tickers",), False),
                                  ("all_channels", every, False), ("all_channels_trading", every, True)):
        steps_per_s, events_per_s = measure(build(listen, trading), seconds)
        us = 1e6 / (steps_per_s * symbols)
        print(f"{name:22s} {steps_per_s:10.0f} steps/s  {us:6.1f} us/symbol-step  {events_per_s:10.0f} events/s")
        result[f"{name}_steps_per_s"] = round(steps_per_s, 1)
        result[f"{name}_us_per_symbol_step"] = round(us, 2)
        if listen:
            result[f"{name}_events_per_s"] = round(events_per_s, 1)
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
