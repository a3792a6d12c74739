"""The trading engine: indicators, regimes, signals, risk, execution, journal, orchestration."""
