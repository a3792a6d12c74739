"""What the inspector opens for: the selected position's entry regime, or the selected symbol's
current regime — never a guessed one (pure functions over the engine snapshot)."""

from __future__ import annotations

from okxscalp.engine.views import EngineSnapshot, PositionView

InspectTarget = tuple[str, str | None, str]  # (instId, regime or None, what the regime is)


def current_regime(snapshot: EngineSnapshot | None, inst_id: str) -> str | None:
    """The symbol's current regime; None while not detected (the inspector then says so and lets
    the operator pick one with 1/2/3)."""
    for quote in snapshot.quotes if snapshot else ():
        if quote.inst_id == inst_id and quote.regime:
            return quote.regime
    return None


def inspect_target(
    snapshot: EngineSnapshot | None, position: PositionView | None, symbol: str | None
) -> InspectTarget | None:
    """`position`: the selected position when the positions pane has the focus; `symbol`: the
    freshness pane's selected instId."""
    if snapshot is None:
        return None
    if position is not None:
        if position.entry_regime:
            return position.inst_id, position.entry_regime, "position's entry regime"
        current = current_regime(snapshot, position.inst_id)
        return position.inst_id, current, f"ORPHAN: no entry regime; showing current ({current or 'unknown'})"
    if symbol is None:
        return None
    return symbol, current_regime(snapshot, symbol), "current regime"
