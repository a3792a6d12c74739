"""The collaborators every lifecycle of a running engine shares, built once at start-up.

The entry, close and private-event lifecycles take this one object instead of a dozen arguments;
it holds no logic.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from okxscalp.clock import Clock
from okxscalp.config import ParameterProvider
from okxscalp.config.provider import AccountSettings
from okxscalp.config.schema import AppConfig
from okxscalp.engine.account import Account
from okxscalp.engine.executor import ClOrdIds
from okxscalp.engine.journal import Journal
from okxscalp.engine.leverage import LeverageKeeper
from okxscalp.engine.notices import NoticeBoard
from okxscalp.engine.order_route import OrderRoute
from okxscalp.engine.positions import PositionManager
from okxscalp.engine.regime import RegimeDetector
from okxscalp.engine.supervisor import EntrySupervisor
from okxscalp.market.events import FallbackKind
from okxscalp.market.registry import DataRegistry
from okxscalp.okx.models import Instrument
from okxscalp.okx.rest import RestClient

SpawnFn = Callable[[Coroutine[Any, Any, Any], str], Any]  # (coroutine, task name) -> task
EmitFn = Callable[..., None]  # (kind, symbol, detail, source, component="engine")


@dataclass(slots=True)
class EngineParts:
    config: AppConfig
    provider: ParameterProvider
    rest: RestClient
    journal: Journal
    manager: PositionManager
    registry: DataRegistry
    instruments: dict[str, Instrument]
    detectors: dict[str, RegimeDetector]
    supervisor: EntrySupervisor
    account: Account
    leverage: LeverageKeeper
    spawn: SpawnFn
    emit: EmitFn
    account_settings: AccountSettings  # margin mode, orphan policy: resolved once, with their key paths
    orders: OrderRoute  # how orders go out: the WebSocket trade channel or REST (order_route.py)
    clock: Clock  # every time read and journal wait (okxscalp/clock.py): live, or a backtest's simulated time
    cl_ord_ids: ClOrdIds  # the engine's client order ids (its clock and its own counter)
    notices: NoticeBoard = field(default_factory=NoticeBoard)  # the console's toasts (fills, closes, flatten ...)

    def event(self, kind: FallbackKind, symbol: str, detail: str, source: str = "none", component: str = "engine") -> None:
        self.emit(kind, symbol, detail, source, component)
