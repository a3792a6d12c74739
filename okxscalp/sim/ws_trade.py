"""WebSocket trade operations on /ws/v5/private (reference section 3): `order`, `batch-orders`,
`cancel-order`, `amend-order`. The same exchange calls as REST, sharing the REST order budgets
(User ID + instrument) and their rate-limit / busy faults, answered
`{"id","op","code","msg","data","inTime","outTime"}`.

The instrument key is `instIdCode` (Integer, GET /public/instruments), as OKX's docs define it for
every WS order op (docs order-book-trading-trade-ws-place-order, -ws-place-multiple-orders,
-ws-cancel-order, -ws-amend-order: "instIdCode Integer Yes"). OKX delisted `instId` there (changelog
"Delist instId request parameter in WS order operation channels": place and batch from 2026-03-26,
amend and cancel from 2026-03-31, "After the delisting, any instId value provided will be ignored";
before it, "If both instId and instIdCode are provided, instIdCode takes precedence"). So here:
- `instIdCode` decides; an `instId` beside it is ignored;
- no `instIdCode` (an `instId` alone included): that item fails with sCode 50014 "Parameter
  instIdCode can not be empty" (OKX's answer to clients that still sent instId only, as reported
  by nautilus_trader issue 3507 and others; code 50014 = "Parameter {0} can not be empty");
- a code that is not an integer: sCode 51000 "Parameter instIdCode error";
- an unknown code: sCode 51001 with OKX's text "Instrument ID, Instrument ID code, or Spread ID
  doesn't exist." (the live message names no id).
Each is a per-item result (batch items are decided one by one), the envelope code 1/2 as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from okxscalp.okx.constants import (
    CODE_BUSY,
    CODE_INST_NOT_FOUND,
    CODE_PARAM_ERROR,
    CODE_RATE_LIMIT,
    TRADE_AMEND_ORDER,
    TRADE_BATCH_ORDERS,
    TRADE_CANCEL_ORDER,
    TRADE_ORDER,
    WS_CODE_INVALID_ARGS,
    Endpoint,
)
from okxscalp.sim.counters import SimCounters
from okxscalp.sim.events import SimApiError
from okxscalp.sim.faults import WS_TRADE_OP_NAMES
from okxscalp.sim.ratelimit import RestRateLimiter, limit_key
from okxscalp.sim.rest_api import MAX_BATCH_ORDERS, MSG_BUSY, MSG_RATE_LIMIT, clean, items_outcome
from okxscalp.sim.ws_session import WsSession

if TYPE_CHECKING:
    from okxscalp.sim.exchange import SimExchange

WS_TRADE_OPS: dict[str, Endpoint] = {
    "order": TRADE_ORDER,
    "batch-orders": TRADE_BATCH_ORDERS,
    "cancel-order": TRADE_CANCEL_ORDER,
    "amend-order": TRADE_AMEND_ORDER,
}
MSG_INVALID_ARGS = "Invalid args"
CODE_PARAM_EMPTY = "50014"  # OKX error table: "Parameter {0} can not be empty"
MSG_INST_ID_CODE_EMPTY = "Parameter instIdCode can not be empty"
MSG_INST_ID_CODE_ERROR = "Parameter instIdCode error"
MSG_INST_NOT_FOUND = "Instrument ID, Instrument ID code, or Spread ID doesn't exist."
assert tuple(WS_TRADE_OPS) == WS_TRADE_OP_NAMES, "faults.WS_TRADE_OP_NAMES names the same ops"

log = logging.getLogger(__name__)


class WsTradeOps:
    def __init__(
        self,
        *,
        exchange: SimExchange,
        limiter: RestRateLimiter,
        counters: SimCounters,
        before_command: Callable[[], None],
        after_command: Callable[[], None],
        server_now_s: Callable[[], float],
    ) -> None:
        self.exchange = exchange
        self.limiter = limiter
        self.counters = counters
        self._before = before_command
        self._after = after_command
        self._server_now_s = server_now_s
        self._by_code: dict[int, str] = {}  # instIdCode -> instId, rebuilt when instruments are added
        self._codes_for = -1

    def handle(self, session: WsSession, client_id: str | None, op: str, args: Any) -> None:
        """Run one op for a logged-in /private session and queue its reply (then its pushes)."""
        in_time = self._micros()
        reply: dict[str, Any] = {"id": client_id or "", "op": op}
        endpoint = WS_TRADE_OPS[op]
        well_formed = isinstance(args, list) and bool(args) and all(isinstance(a, dict) for a in args)
        if not well_formed or len(args) > (MAX_BATCH_ORDERS if endpoint is TRADE_BATCH_ORDERS else 1):
            reply.update(code=WS_CODE_INVALID_ARGS, msg=MSG_INVALID_ARGS, data=[])
            session.send_json(reply)
            return
        faults = session.faults
        if faults.storm_active(endpoint.path):  # the WS ops share the REST budget and its faults
            self.counters.http_429_injected[endpoint.path] += 1
            reply.update(code=CODE_RATE_LIMIT, msg=MSG_RATE_LIMIT, data=[])
            session.send_json(reply)
            return
        if faults.busy_active(endpoint.path):
            self.counters.busy_injected[endpoint.path] += 1
            reply.update(code=CODE_BUSY, msg=MSG_BUSY, data=[])
            session.send_json(reply)
            return
        items = [clean(a) for a in args]
        refusals = [self._key(op, item) for item in items]
        keyed = [item for item, refusal in zip(items, refusals, strict=True) if refusal is None]
        if not self._within_limit(session, endpoint, keyed):
            self.counters.http_429[endpoint.path] += 1
            reply.update(code=CODE_RATE_LIMIT, msg=MSG_RATE_LIMIT, data=[])
            session.send_json(reply)
            return
        if endpoint in (TRADE_ORDER, TRADE_BATCH_ORDERS):
            for item in items:
                if item.get("clOrdId"):
                    self.counters.orders_by_clordid[str(item["clOrdId"])] += 1
        call = {
            TRADE_ORDER: self.exchange.place_order,
            TRADE_BATCH_ORDERS: self.exchange.place_order,
            TRADE_CANCEL_ORDER: self.exchange.cancel_order,
            TRADE_AMEND_ORDER: self.exchange.amend_order,
        }[endpoint]
        self._before()
        try:
            data = [call(item) if refusal is None else refusal for item, refusal in zip(items, refusals, strict=True)]
            code, msg = items_outcome(data)
        except SimApiError as exc:
            data, code, msg = [], exc.code, exc.msg
        reply.update(code=code, msg=msg, data=data, inTime=in_time, outTime=self._micros())
        fault = faults.take_ws_trade_reply_fault(op)
        if fault is None:
            session.send_json(reply)  # the op reply first, then the orders pushes it caused
        elif fault.hold_s is not None:
            log.info("fault: holding the reply to ws %s %s for %.3gs", op, client_id, fault.hold_s)
            asyncio.get_running_loop().call_later(fault.hold_s, session.send_json, reply)
        else:
            log.info("fault: dropping the reply to ws %s %s after executing it", op, client_id)
        self._after()

    def _key(self, op: str, item: dict[str, Any]) -> dict[str, Any] | None:
        """Key `item` by its instIdCode (sets `instId` for the exchange call), or the item's
        refusal (see the module docstring). `instId` itself is ignored, as on OKX."""
        item.pop("instId", None)
        code = item.pop("instIdCode", None)
        if code is None:
            return self._refusal(op, item, CODE_PARAM_EMPTY, MSG_INST_ID_CODE_EMPTY)
        if code.__class__ is not int:  # bool is not int here either
            return self._refusal(op, item, CODE_PARAM_ERROR, MSG_INST_ID_CODE_ERROR)
        inst_id = self._inst_ids_by_code().get(code)
        if inst_id is None:
            return self._refusal(op, item, CODE_INST_NOT_FOUND, MSG_INST_NOT_FOUND)
        item["instId"] = inst_id
        return None

    def _refusal(self, op: str, item: dict[str, Any], s_code: str, s_msg: str) -> dict[str, Any]:
        """A per-item failure in the shape of that op's result item (docs ws-place-order, ...)."""
        places = op in ("order", "batch-orders")
        result: dict[str, Any] = {
            "clOrdId": str(item.get("clOrdId", "")), "ordId": "" if places else str(item.get("ordId", "")),
            "ts": str(int(self._server_now_s() * 1000)), "sCode": s_code, "sMsg": s_msg,
        }
        if places:
            result["tag"] = str(item.get("tag", ""))
            result["subCode"] = ""
        elif op == "amend-order":
            result["reqId"] = str(item.get("reqId", ""))
            result["subCode"] = ""
        return result

    def _inst_ids_by_code(self) -> dict[int, str]:
        specs = self.exchange.specs
        if len(specs) != self._codes_for:
            self._by_code = {spec.inst_id_code: inst_id for inst_id, spec in specs.items()}
            self._codes_for = len(specs)
        return self._by_code

    def _within_limit(self, session: WsSession, endpoint: Endpoint, items: list[dict[str, Any]]) -> bool:
        bucket = TRADE_ORDER if endpoint is TRADE_BATCH_ORDERS and len(items) == 1 else endpoint
        per_inst: dict[str, int] = {}
        for item in items:
            inst = str(item.get("instId", ""))
            per_inst[inst] = per_inst.get(inst, 0) + 1
        uid = self.exchange.uid
        return all(
            self.limiter.allow(bucket, limit_key(bucket, ip=session.ip, uid=uid, inst_id=inst), cost)
            for inst, cost in per_inst.items()
        )

    def _micros(self) -> str:
        return str(int(self._server_now_s() * 1_000_000))
