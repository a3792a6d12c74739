"""okxscalp: an OKX USDT-perpetual scalping engine that never acts on a silent fallback."""

__version__ = "0.1.0"
