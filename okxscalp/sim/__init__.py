"""Embedded OKX v5 simulator: a sans-I/O exchange core (`exchange.SimExchange`) under an aiohttp shell."""
