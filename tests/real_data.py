"""Real market data the tests replay (tests/data/README.md)."""

from pathlib import Path

REAL_XRP = Path(__file__).resolve().parent / "data" / "xrp-usdt-swap-5m-2021-11-15_18.csv"
