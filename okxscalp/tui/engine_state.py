"""Which state the engine is in, as the console sees it, and what each key can do in it.

Every key works, or says why it cannot, in every state: a key that would ask a stopped engine to
act (and either crash on its closed journal or do nothing at all) is answered here instead.
Pure functions: no textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

# The engine's halt reason while start-up is not complete (engine/supervisor.py Halt.STARTING).
STARTING_REASON = "starting"


class EngineState(StrEnum):
    STARTING = "starting"  # running, start-up not complete (no connections, no book yet)
    RUNNING = "running"
    FAILED = "failed"  # run() raised: its tasks, connections and journal are closed
    STOPPED = "stopped"  # run() returned or was cancelled


NOT_RUNNING = frozenset({EngineState.FAILED, EngineState.STOPPED})


def state_of(finished: EngineState | None, halt_reasons: Sequence[str] | None) -> EngineState:
    """`finished`: FAILED/STOPPED once the engine's run ended, else None. `halt_reasons`: the last
    snapshot's (None before the first one)."""
    if finished is not None:
        return finished
    if halt_reasons is None or any(r == STARTING_REASON or r.startswith(STARTING_REASON + ":") for r in halt_reasons):
        return EngineState.STARTING
    return EngineState.RUNNING


def _gone(state: EngineState) -> str:
    return "Engine failed" if state is EngineState.FAILED else "Engine stopped"


def refusal(action: str, state: EngineState, *, rest_flatten: bool) -> str | None:
    """Why `action` cannot be done now (shown to the operator), or None when it can.

    `rest_flatten`: the console can flatten and close through a fresh REST client when the engine
    is not running (app.py gives it one for real exchanges and the simulator)."""
    if state in NOT_RUNNING:
        gone = _gone(state)
        if action == "reconnect":
            return f"{gone}: it has no connections to reconnect. Restart okxscalp (q, then start it again)."
        if action == "toggle_entries":
            return f"{gone}: it makes no entries, so there is nothing to pause or resume. Restart okxscalp to trade."
        if action in ("flatten", "close_position") and not rest_flatten:
            return (
                f"{gone}: restart okxscalp to flatten; positions stay on the exchange with their stop-loss."
            )
        return None
    if state is EngineState.STARTING and action == "reconnect":
        return "Engine still starting: its connections open at the end of start-up; nothing to reconnect yet."
    return None


def flatten_requested_note(state: EngineState) -> str:
    """What the operator is told once the engine took a flatten request."""
    if state is EngineState.STARTING:
        return (
            "Entries halted. The engine is still starting: the flatten runs (orders cancelled, positions "
            "closed) the moment start-up completes."
        )
    return "Flatten requested: cancelling orders, closing positions; entries halted."


def rest_flatten_prompt(state: EngineState) -> str:
    return (
        f"{_gone(state)}. A fresh REST connection cancels every open order of the configured symbols, closes "
        "every position at market and cancels their stops, then lists the exchange again and reports what is "
        "left. Not journalled: the next start reconciles it."
    )
