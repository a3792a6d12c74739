"""How the engine's HTTP and WebSocket clients reach the exchange's host: one session factory.

Over TCP (aiohttp's default connector) to OKX, and to the simulator in live and test runs. Over a
Unix stream socket to a backtest's simulator (backtest/runner.py): the same HTTP and WebSocket
bytes through the same client code, for the virtual clock's sake (backtest/clock.py). The kernel
hands a Unix-socket write to the other end's receive queue, a connect to the listener's accept
queue and a close to the peer before the call returns, so no byte is ever in flight between two of
the loop's calls and the clock jumps without reading TCP state; each send and receive also costs
about a third of a loopback TCP one.
"""

from __future__ import annotations

import aiohttp

__all__ = ["client_session"]


def client_session(unix_socket: str | None, timeout: aiohttp.ClientTimeout | None = None) -> aiohttp.ClientSession:
    """A ClientSession whose connections go to `unix_socket` when given, else over TCP to the URL's
    host. The URL's scheme, host and path still make the request (Host header, WebSocket upgrade).
    `timeout`: the session's default (None: aiohttp's)."""
    connector = aiohttp.UnixConnector(path=unix_socket) if unix_socket is not None else None
    if timeout is None:
        return aiohttp.ClientSession(connector=connector)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)
