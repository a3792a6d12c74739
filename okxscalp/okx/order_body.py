"""An order's fields as OKX v5 takes them: the same on REST `POST /api/v5/trade/order` (keyed by
`instId`) and on the WebSocket trade op `order` (keyed by `instIdCode`; docs "WebSocket trade /
Place order"). One builder, so the two transports cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from okxscalp.okx.models import OrderRequest

# Attached TP/SL `ordPx` -1: execute at market when triggered (docs "Place order", attachAlgoOrds).
MARKET_ORDER_PX = "-1"


def order_fields(request: OrderRequest, cl_ord_id: str, key: str, instrument: str | int) -> dict[str, Any]:
    """The body (REST) or `args` item (WebSocket) of one order; `key` is "instId" or "instIdCode"."""
    fields: dict[str, Any] = {
        key: instrument,
        "tdMode": request.td_mode,
        "side": getattr(request.side, "value", request.side),
        "ordType": request.ord_type,
        "sz": request.sz,
        "clOrdId": cl_ord_id,
    }
    if request.pos_side is not None:
        fields["posSide"] = getattr(request.pos_side, "value", request.pos_side)
    if request.px is not None:
        fields["px"] = request.px
    if request.reduce_only:
        fields["reduceOnly"] = True
    if request.tag:
        fields["tag"] = request.tag
    if request.attach_tp_trigger_px or request.attach_sl_trigger_px:
        attach: dict[str, str] = {}
        if request.attach_tp_trigger_px:
            attach["tpTriggerPx"] = request.attach_tp_trigger_px
            attach["tpOrdPx"] = MARKET_ORDER_PX
        if request.attach_sl_trigger_px:
            attach["slTriggerPx"] = request.attach_sl_trigger_px
            attach["slOrdPx"] = MARKET_ORDER_PX
        fields["attachAlgoOrds"] = [attach]
    return fields


def add_amendment(fields: dict[str, Any], new_sz: str | None, new_px: str | None, cxl_on_fail: bool) -> None:
    """An amend's changes on top of its order reference (docs "Amend order", REST and WebSocket)."""
    if new_sz is None and new_px is None:
        raise ValueError("amend needs new_sz or new_px")
    if new_sz is not None:
        fields["newSz"] = new_sz
    if new_px is not None:
        fields["newPx"] = new_px
    if cxl_on_fail:
        fields["cxlOnFail"] = True
