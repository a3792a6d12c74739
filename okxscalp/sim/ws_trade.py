"""WebSocket trade operations on /ws/v5/private (reference section 3): `order`, `batch-orders`,
`cancel-order`, `amend-order`. The same exchange calls as REST, sharing the REST order budgets
(User ID + instrument), answered `{"id","op","code","msg","data","inTime","outTime"}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from okxscalp.okx.constants import (
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
from okxscalp.sim.ratelimit import RestRateLimiter, limit_key
from okxscalp.sim.rest_api import MAX_BATCH_ORDERS, MSG_RATE_LIMIT, clean, items_outcome
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
        items = [clean(a) for a in args]
        if not self._within_limit(session, endpoint, items):
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
            data = [call(item) for item in items]
            code, msg = items_outcome(data)
        except SimApiError as exc:
            data, code, msg = [], exc.code, exc.msg
        reply.update(code=code, msg=msg, data=data, inTime=in_time, outTime=self._micros())
        session.send_json(reply)  # the op reply first, then the orders pushes it caused
        self._after()

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
