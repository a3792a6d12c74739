"""/metrics over HTTP with aiohttp, on the engine's own event loop.

The engine's state is not thread-safe, so the endpoint is not prometheus_client's
`start_http_server` (a thread): a scrape runs on the loop that runs the engine (the headless
loop, or Textual's in the console) and renders the engine's own CollectorRegistry (never the
process-global one) with `generate_latest`. It binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from okxscalp.engine.account import EngineStartError
from okxscalp.logging_setup import kv
from okxscalp.metrics.collector import EngineCollector

if TYPE_CHECKING:
    from okxscalp.engine.orchestrator import Engine

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"


@dataclass(frozen=True, slots=True)
class MetricsAddress:
    host: str = "127.0.0.1"
    port: int = 0  # 0: an ephemeral port (tests); the bound URL is logged


class MetricsServer:
    """Serves one engine's metrics; `start()` binds (raises EngineStartError if it cannot), `stop()` closes."""

    def __init__(self, engine: Engine, address: MetricsAddress) -> None:
        self.address = address
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = EngineCollector(engine, clock=engine.clock.mono_s)  # the engine's clock: health ages in its time
        self.registry.register(self.collector)
        self.url: str | None = None  # http://host:port/metrics once bound
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get(METRICS_PATH, self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        host, port = self.address.host, self.address.port
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise EngineStartError(f"cannot serve metrics on {host}:{port} ({exc}): choose another --metrics-port") from exc
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}{METRICS_PATH}"
        if not _is_loopback(host):  # equity and positions readable from other machines: said once
            log.warning("metrics served beyond this machine %s", kv(host=host))
        log.info("metrics serving %s", kv(url=self.url))
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("metrics stopped %s", kv(url=self.url))

    async def _metrics(self, request: web.Request) -> web.Response:
        # The collector answers part by part (a failing part is counted and logged); this catches
        # only what would make the whole page unrenderable, and says so in the log and the reply.
        try:
            body = generate_latest(self.registry)
        except Exception:
            log.exception("metrics scrape failed %s", kv(peer=request.remote))
            return web.Response(status=500, text="metrics could not be rendered; see the okxscalp log\n")
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
