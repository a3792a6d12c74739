"""The console's panes. Each turns its part of an `EngineSnapshot` into rows (`okxscalp.tui.rows`)
and diff-updates its table; none of them talks to the engine."""
