"""Prometheus metrics of a running engine (`okxscalp --metrics-port`).

`collector.py` reads the engine's state when scraped (nothing on the trading path);
`server.py` serves it at /metrics with aiohttp on the engine's own event loop.
"""

from okxscalp.metrics.server import MetricsAddress, MetricsServer

__all__ = ["MetricsAddress", "MetricsServer"]
