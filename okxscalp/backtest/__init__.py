"""Backtest: recorded or downloaded market data through the engine (issue 14)."""
