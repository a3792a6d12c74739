"""The simulator's instrument table: shipped USDT-margined swaps plus generated synthetic ones.

Values follow OKX's 2025-26 conventions for linear swaps (reference section 0 and the nautilus
instruments fixture: BTC ctVal 0.01 / tickSz 0.1 / lotSz 0.01 / minSz 0.01 / lever 100).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from okxscalp.okx.models import Instrument
from okxscalp.sim.wire import decimals_of, fmt_num

# GET /public/instruments `state` values for SWAP (docs public-data-rest-api-get-instruments).
INSTRUMENT_STATES: tuple[str, ...] = ("live", "suspend", "preopen", "test", "rebase", "post_only")
# The public WebSocket channel that lists the instruments of one instType (docs
# public-data-websocket-instruments-channel): the full list on subscribe, then each instrument
# whose state changes (SimExchange.set_instrument_state queues the push, keyed by instType).
INSTRUMENTS_CHANNEL = "instruments"


@dataclass(frozen=True, slots=True, kw_only=True)
class InstrumentSpec(Instrument):
    """An instrument as the engine reads it (okx.models.Instrument: instId, ctVal, tickSz, lotSz,
    minSz, lever, state, the tick/lot grid) plus what the simulator needs to make its market.

    `state` (GET /public/instruments: live, suspend, preopen, test, rebase, post_only; reference
    section 6) is changed by SimExchange.set_instrument_state (an instrument that stops trading)."""

    start_px: float  # where the simulated price starts
    vol_per_min: float  # typical 1-minute relative volatility, scales every regime
    depth_unit: float  # contracts on a typical top-of-book level
    inst_id_code: int  # always set here (an exchange's list may omit it)
    max_mkt_sz: str = "12000"

    @property
    def base_ccy(self) -> str:
        return self.inst_id.split("-", 1)[0]

    @property
    def family(self) -> str:
        return self.inst_id.rsplit("-", 1)[0]

    @property
    def max_lever(self) -> int:
        """The wire's `lever` (a whole number for these swaps); the tier tables are keyed by it."""
        return int(self.max_leverage)

    @property
    def px_decimals(self) -> int:
        return decimals_of(self.tick_sz)

    @property
    def sz_decimals(self) -> int:
        return decimals_of(self.lot_sz)


def _swap(inst_id: str, ct_val: float, tick_sz: str, lever: int, start_px: float, vol_per_min: float,
          depth_unit: float, inst_id_code: int, max_mkt_sz: str = "12000") -> InstrumentSpec:
    """A USDT linear swap with OKX's lot 0.01 and minimum size 0.01."""
    return InstrumentSpec(inst_id, ct_val, tick_sz, "0.01", "0.01", float(lever), start_px=start_px,
                          vol_per_min=vol_per_min, depth_unit=depth_unit, inst_id_code=inst_id_code,
                          max_mkt_sz=max_mkt_sz)


SHIPPED: dict[str, InstrumentSpec] = {
    s.inst_id: s
    for s in (
        _swap("BTC-USDT-SWAP", 0.01, "0.1", 100, 95_000.0, 0.0008, 40.0, 10459),
        _swap("ETH-USDT-SWAP", 0.1, "0.01", 100, 3_400.0, 0.0010, 60.0, 10461, "20000"),
        _swap("SOL-USDT-SWAP", 1.0, "0.01", 50, 180.0, 0.0014, 80.0, 10462, "30000"),
        _swap("XRP-USDT-SWAP", 100.0, "0.0001", 50, 2.2, 0.0015, 120.0, 10463, "30000"),
        _swap("DOGE-USDT-SWAP", 1000.0, "0.00001", 50, 0.35, 0.0018, 150.0, 10464, "30000"),
    )
}
DEFAULT_INST_IDS: tuple[str, ...] = tuple(SHIPPED)

# Synthetic instruments (e.g. `SYN07-USDT-SWAP`, or any `<BASE>-USDT-SWAP`) get a plausible
# profile derived from a hash of the name, so the same name always gets the same instrument.
_SYNTH_PROFILES = (
    # ct_val, tick_sz, start_px, max_lever
    (0.01, "0.1", 40_000.0, 100),
    (0.1, "0.01", 2_000.0, 75),
    (1.0, "0.001", 60.0, 50),
    (10.0, "0.0001", 4.0, 50),
    (100.0, "0.00001", 0.5, 50),
    (1000.0, "0.000001", 0.05, 20),
)


def spec_for(inst_id: str) -> InstrumentSpec:
    """The shipped spec, or a generated one for another `*-USDT-SWAP` id; ValueError otherwise."""
    shipped = SHIPPED.get(inst_id)
    if shipped is not None:
        return shipped
    parts = inst_id.split("-")
    if len(parts) != 3 or parts[1] != "USDT" or parts[2] != "SWAP" or not parts[0].isalnum():
        raise ValueError(f"simulated instruments must look like BASE-USDT-SWAP, got {inst_id!r}")
    digest = int.from_bytes(hashlib.sha256(inst_id.encode()).digest()[:8], "big")
    ct_val, tick_sz, base_px, lever = _SYNTH_PROFILES[digest % len(_SYNTH_PROFILES)]
    start_px = base_px * (0.6 + (digest >> 8) % 1000 / 1000.0)
    vol = 0.0008 + ((digest >> 20) % 100) / 100 * 0.0012
    return _swap(inst_id, ct_val, tick_sz, lever, start_px, vol, 50.0, 20000 + digest % 10000)


def instrument_wire(spec: InstrumentSpec) -> dict:
    """GET /public/instruments item, same fields and types as the nautilus SWAP fixture."""
    return {
        "alias": "",
        "auctionEndTime": "",
        "baseCcy": "",
        "category": "1",
        "contTdSwTime": "",
        "ctMult": "1",
        "ctType": spec.ct_type,
        "ctVal": fmt_num(spec.ct_val),
        "ctValCcy": spec.base_ccy,
        "expTime": "",
        "futureSettlement": False,
        "instFamily": spec.family,
        "instId": spec.inst_id,
        "instIdCode": spec.inst_id_code,
        "instType": "SWAP",
        "lever": str(spec.max_lever),
        "listTime": "1573557408000",
        "lotSz": spec.lot_sz,
        "maxIcebergSz": "100000000.0000000000000000",
        "maxLmtAmt": "20000000",
        "maxLmtSz": "100000000",
        "maxMktAmt": "",
        "maxMktSz": spec.max_mkt_sz,
        "maxPlatOILmt": "",
        "maxStopSz": spec.max_mkt_sz,
        "maxTriggerSz": "100000000.0000000000000000",
        "maxTwapSz": "100000000.0000000000000000",
        "minSz": spec.min_sz,
        "openType": "",
        "optType": "",
        "posLmtAmt": "",
        "posLmtPct": "",
        "preMktSwTime": "",
        "quoteCcy": "",
        "ruleType": "normal",
        "settleCcy": spec.settle_ccy,
        "state": spec.state,
        "stk": "",
        "tickSz": spec.tick_sz,
        "tradeQuoteCcyList": [],
        "uly": spec.family,
    }
