"""A position's exchange-side protection: which listed algo order protects it, and the one way to
place a protective stop (reduce-only, the whole position, executed at market when triggered).

Attached TP/SL of an entry order are listed by GET /trade/orders-algo-pending once the entry has
filled: an attached TP+SL pair as `oco`, a single leg or a stand-alone stop as `conditional`, with
the position's side (`posSide`). Reconciliation (re-protect, orphans) and the entry lifecycle (a
position whose snapshot is not written yet) both use these.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from okxscalp.engine.executor import close_side_for
from okxscalp.engine.journal import Journal, OrderPurpose, OrderRecord
from okxscalp.logging_setup import kv
from okxscalp.okx.errors import OkxError
from okxscalp.okx.models import AlgoOrder, PosSide
from okxscalp.okx.rest import RestClient

log = logging.getLogger(__name__)

PROTECT_PREFIX = "oxp"  # algoClOrdId prefix of our protective stops
LIVE_ALGO_STATES = ("live", "effective", "partially_effective", "")


def is_stop_for(algo: AlgoOrder, inst_id: str, pos_side: PosSide) -> bool:
    """`algo` is an armed stop (attached pair or stand-alone) of the position (inst_id, pos_side)."""
    return (
        algo.inst_id == inst_id
        and algo.pos_side is pos_side
        and (algo.sl_trigger_px is not None or algo.trigger_px is not None)
        and algo.state in LIVE_ALGO_STATES
    )


def stop_of(algos: Iterable[AlgoOrder], inst_id: str, pos_side: PosSide) -> AlgoOrder | None:
    """The first armed stop of the position among `algos`, or None."""
    return next((a for a in algos if is_stop_for(a, inst_id, pos_side)), None)


def describe_stop(algo: AlgoOrder) -> str:
    sl = algo.sl_trigger_px if algo.sl_trigger_px is not None else algo.trigger_px
    return f"{algo.ord_type} {algo.algo_id} SL {sl:g}" if sl is not None else f"{algo.ord_type} {algo.algo_id}"


async def place_protective_stop(
    rest: RestClient,
    journal: Journal,
    *,
    inst_id: str,
    pos_side: PosSide,
    sl_px: str,
    td_mode: str,
    why: str,
    algo_cl_ord_id: str,
    position_cl_ord_id: str = "",
) -> str:
    """Place a reduce-only stop for the whole position at `sl_px` (a tick-grid string), journaled
    before it is sent (as `algo_cl_ord_id`: the engine's ClOrdIds.new(PROTECT_PREFIX)). Returns its
    algoId; raises OkxError (journaled as rejected) when refused."""
    algo_cl = algo_cl_ord_id
    close_side = close_side_for(pos_side)
    journal.record_order(
        OrderRecord(
            cl_ord_id=algo_cl, inst_id=inst_id, side=close_side.value, ord_type="conditional",
            sz="all", purpose=OrderPurpose.PROTECT.value, state="sent", pos_side=pos_side.value,
            px=sl_px, reduce_only=True, detail=why, position_cl_ord_id=position_cl_ord_id,
        )
    )
    try:
        ack = await rest.place_algo_order(
            inst_id, side=close_side.value, pos_side=pos_side.value, sl_trigger_px=sl_px,
            td_mode=td_mode, algo_cl_ord_id=algo_cl,
        )
    except OkxError as exc:
        journal.update_order(algo_cl, state="rejected", detail=f"{why}: {exc}")
        log.error("protective stop failed %s", kv(inst=inst_id, side=pos_side.value, sl=sl_px, error=exc))
        raise
    journal.update_order(algo_cl, state="live", ord_id=ack.algo_id)
    log.info("protective stop placed %s", kv(inst=inst_id, side=pos_side.value, sl=sl_px, algo=ack.algo_id, why=why))
    return ack.algo_id
