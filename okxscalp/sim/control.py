"""Loopback control endpoint: `POST /sim/control/fault`, `POST /sim/control/market` and
`GET /sim/control/counters`.

The fault body is `{"kind": "<FaultInjector method>", <its keyword arguments>}`, e.g.
`{"kind": "stall", "seconds": 5, "inst_id": "XRP-USDT-SWAP"}` or
`{"kind": "refuse_subscription", "channel": "orders", "seconds": 10}`; kinds may use dashes
(`drop-connections`); `send_malformed` takes the frame kind as `frame`. The market body moves the
simulated market for tests and demos: `{"kind": "move_price", "inst_id": "...", "px": 0.5}` or
`{"kind": "force_regime", "inst_id": "...", "regime": "trending", "duration_s": 60, "direction": -1}`;
funding: `{"kind": "set_funding_rate", "inst_id": "...", "rate": 0.0005}` (`null`: the modelled rate
again) and `{"kind": "settle_funding_now", "inst_id": "..."}` (every instrument without it; the
result lists the funding bills written). Only loopback peers may use it.
"""

from __future__ import annotations

import inspect
import ipaddress
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from okxscalp.sim.counters import SimCounters
from okxscalp.sim.events import SimApiError
from okxscalp.sim.faults import FaultInjector

CONTROL_FAULT_PATH = "/sim/control/fault"
CONTROL_COUNTERS_PATH = "/sim/control/counters"
CONTROL_MARKET_PATH = "/sim/control/market"
MARKET_HOOKS = ("move_price", "force_regime", "set_funding_rate", "settle_funding_now", "set_scheduled_funding")
FAULT_KINDS = (
    "stall",
    "drop_connections",
    "refuse_connections",
    "delay_messages",
    "send_malformed",
    "rate_limit_storm",
    "busy",
    "reject_next_order",
    "skew_time",
    "notice_upgrade",
    "drop_response_after_accept",
    "timeout_after_accept",
    "drop_ws_trade_replies",
    "delay_ws_trade_replies",
    "refuse_subscription",
    "clear",
)


class FaultRequestError(ValueError):
    """A control request that names an unknown kind or wrong arguments."""


def apply_fault(faults: FaultInjector, request: dict[str, Any]) -> Any:
    """Run one fault described as `{"kind": ..., **kwargs}`; returns the method's result."""
    kind = str(request.get("kind", "")).replace("-", "_")
    if kind not in FAULT_KINDS:
        raise FaultRequestError(f"unknown fault kind {request.get('kind')!r}; kinds: {', '.join(FAULT_KINDS)}")
    method = getattr(faults, kind)
    kwargs = {k: v for k, v in request.items() if k != "kind"}
    if kind == "send_malformed" and "frame" in kwargs:
        kwargs["kind"] = kwargs.pop("frame")  # `kind` names the fault; the frame kind travels as `frame`
    try:
        inspect.signature(method).bind(**kwargs)
    except TypeError as exc:
        raise FaultRequestError(f"{kind}: {exc}") from None
    return method(**kwargs)


def apply_market_hook(exchange: Any, request: dict[str, Any]) -> Any:
    """Run one SimExchange test hook described as `{"kind": ..., **kwargs}`."""
    kind = str(request.get("kind", "")).replace("-", "_")
    if kind not in MARKET_HOOKS:
        raise FaultRequestError(f"unknown market hook {request.get('kind')!r}; hooks: {', '.join(MARKET_HOOKS)}")
    method = getattr(exchange, kind)
    kwargs = {k: v for k, v in request.items() if k != "kind"}
    try:
        inspect.signature(method).bind(**kwargs)
    except TypeError as exc:
        raise FaultRequestError(f"{kind}: {exc}") from None
    return method(**kwargs)


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


class ControlApi:
    def __init__(self, faults: FaultInjector, counters: SimCounters, exchange: Any) -> None:
        self.faults = faults
        self.counters = counters
        self.exchange = exchange

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(CONTROL_FAULT_PATH, self.fault),
            web.post(CONTROL_MARKET_PATH, self.market),
            web.get(CONTROL_COUNTERS_PATH, self.counter_values),
        ]

    async def fault(self, request: web.Request) -> web.Response:
        return await self._apply(request, lambda body: apply_fault(self.faults, body))

    async def market(self, request: web.Request) -> web.Response:
        return await self._apply(request, lambda body: apply_market_hook(self.exchange, body))

    async def _apply(self, request: web.Request, action: Callable[[dict[str, Any]], Any]) -> web.Response:
        if not _is_loopback(request.remote):
            return web.json_response({"ok": False, "error": "control endpoint is loopback-only"}, status=403)
        try:
            body = orjson.loads(await request.read())
            if not isinstance(body, dict):
                raise FaultRequestError("the body must be a JSON object")
            result = action(body)
        except (orjson.JSONDecodeError, FaultRequestError, ValueError, TypeError) as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        except SimApiError as exc:
            return web.json_response({"ok": False, "error": f"{exc.code}: {exc.msg}"}, status=400)
        return web.json_response({"ok": True, "result": result})

    async def counter_values(self, request: web.Request) -> web.Response:
        if not _is_loopback(request.remote):
            return web.json_response({"ok": False, "error": "control endpoint is loopback-only"}, status=403)
        return web.json_response(self.counters.snapshot())
