"""Helpers shared by the WebSocket client tests (a unique module name, unlike conftest)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from okxscalp.okx.health import ConnectionHealth
from okxscalp.okx.messages import WsPush
from okxscalp.okx.ws import WsConnection


class Recorder:
    """Collects pushes and health reports; lets a test wait for a condition."""

    def __init__(self) -> None:
        self.pushes: list[WsPush] = []
        self.healths: list[ConnectionHealth] = []
        self._changed = asyncio.Event()

    def on_message(self, push: WsPush) -> None:
        self.pushes.append(push)
        self._changed.set()

    def on_health(self, health: ConnectionHealth) -> None:
        self.healths.append(health)
        self._changed.set()

    async def wait_for(self, condition: Callable[[], bool], within_s: float = 10.0) -> None:
        async with asyncio.timeout(within_s):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


@contextlib.asynccontextmanager
async def running(conn: WsConnection) -> AsyncIterator[WsConnection]:
    task = asyncio.create_task(conn.run())
    try:
        yield conn
    finally:
        async with asyncio.timeout(5):  # stop() must not hang (a heartbeat outliving it once did)
            await conn.stop()
            await task
